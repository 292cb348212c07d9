"""Benchmark essential secret sharing against plain AES-256-GCM in the same run.

Measures :func:`sim.privacy.sharing.split` and :func:`~sim.privacy.sharing.combine`
(from the data fragments, and from a set that forces parity decoding) of a
record of random bytes with ``t = 3, n = 5``, against one-shot AES-256-GCM
encryption and decryption of the same bytes, and reports throughput ratios
and storage: all fragments versus the record (target <= n/t + 1 %), and the
figure whole-file Shamir would need (every share as large as the record, n x).

Usage: ``python benchmarks/bench_sharing.py [--quick] [--json PATH] [--repeat N]``.
Runs on a fixed seed so the record and keys are the same every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sim.privacy import sharing
from sim.privacy.randomness import seeded_random_bytes

MIB = 1 << 20
#: Split and combine each at half AES-256-GCM's throughput or better (issue 23's target).
TARGET = 0.5


def erasure_peers(segment: int, t: int, n: int, repeat: int) -> dict[str, Any]:
    """MiB/s of one segment's erasure coding alone: pmrsim's (numpy, systematic Cauchy over
    GF(2^8)) and zfec's (Tahoe-LAFS's C coder, systematic Vandermonde), beside AES-256-GCM of
    the same bytes: the code's share of split and combine, and whether the C library is faster."""
    from sim.privacy import erasure

    block = seeded_random_bytes(7)(segment)
    size = erasure.piece_size(segment, t)
    stripes = [block[i * size:(i + 1) * size].ljust(size, b"\0") for i in range(t)]
    aead = AESGCM(bytes(32))
    ours = erasure.encode(block, t, n)
    parity = {1: ours[0], **{i + 1: ours[i] for i in range(t, n)}}
    out: dict[str, Any] = {"segment_bytes": segment, "mib_per_s": {}}
    rate = out["mib_per_s"]
    mib = segment / MIB
    rate["aes_gcm_encrypt"] = mib / _best(repeat, lambda: aead.encrypt(bytes(12), block, None))
    rate["pmrsim_encode"] = mib / _best(repeat, lambda: erasure.encode_arrays(block, t, n))
    rate["pmrsim_decode_parity"] = mib / _best(
        repeat, lambda: erasure.decode(parity, t, n, segment))
    try:
        import zfec
    except ImportError as exc:
        out["zfec"] = f"unavailable: {exc}"
        return out
    encoder, decoder = zfec.Encoder(t, n), zfec.Decoder(t, n)
    blocks = encoder.encode(stripes)
    chosen = [0, *range(t, n)][:t]
    rate["zfec_encode"] = mib / _best(repeat, lambda: encoder.encode(stripes))
    rate["zfec_decode_parity"] = mib / _best(
        repeat, lambda: decoder.decode([blocks[i] for i in chosen], chosen))
    out["zfec"] = f"zfec {getattr(zfec, '__version__', '?')}"
    return out


def _best(repeat: int, action: Callable[[], object]) -> float:
    """Best wall time of ``repeat`` runs (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def run(size: int, t: int, n: int, repeat: int) -> dict[str, Any]:
    """Run every measurement once per repeat and return the figures."""
    random_bytes = seeded_random_bytes(20210101)
    record = random_bytes(size)
    key = random_bytes(32)
    nonce = random_bytes(12)
    aead = AESGCM(key)
    ciphertext = aead.encrypt(nonce, record, None)
    aes_encrypt = _best(repeat, lambda: aead.encrypt(nonce, record, None))
    aes_decrypt = _best(repeat, lambda: aead.decrypt(nonce, ciphertext, None))

    result = sharing.split(record, record_id="bench", t=t, n=n, random_bytes=random_bytes)
    split_time = _best(
        repeat,
        lambda: sharing.split(record, record_id="bench", t=t, n=n, random_bytes=random_bytes),
    )
    data_custodians = result.custodians[:t]
    parity_custodians = result.custodians[n - t :]
    rebuilt = sharing.combine(result.manifest, result.essential, parity_custodians)
    if rebuilt != record:
        raise SystemExit("combine returned different bytes")
    combine_data = _best(
        repeat, lambda: sharing.combine(result.manifest, result.essential, data_custodians)
    )
    combine_parity = _best(
        repeat, lambda: sharing.combine(result.manifest, result.essential, parity_custodians)
    )

    stored = sum(len(c.fragment or b"") for c in result.custodians)
    mib = size / MIB
    return {
        "record_bytes": size,
        "t": t,
        "n": n,
        "repeat": repeat,
        "segment_size": result.manifest.segment_size,
        "seconds": {
            "aes_gcm_encrypt": aes_encrypt,
            "aes_gcm_decrypt": aes_decrypt,
            "split": split_time,
            "combine_data_fragments": combine_data,
            "combine_with_parity": combine_parity,
        },
        "mib_per_s": {
            "aes_gcm_encrypt": mib / aes_encrypt,
            "aes_gcm_decrypt": mib / aes_decrypt,
            "split": mib / split_time,
            "combine_data_fragments": mib / combine_data,
            "combine_with_parity": mib / combine_parity,
        },
        "throughput_ratio_vs_aes": {
            "split": aes_encrypt / split_time,
            "combine_data_fragments": aes_decrypt / combine_data,
            "combine_with_parity": aes_decrypt / combine_parity,
            "target": TARGET,
        },
        "storage": {
            "fragments_total_bytes": stored,
            "ratio_to_record": stored / size if size else None,
            "target_ratio": n / t * 1.01,
            "whole_file_shamir_bytes": n * size,
            "whole_file_shamir_ratio": float(n),
            "key_shares_bytes": 32 * n,
            "essential_share_bytes": 32,
        },
    }


def _print(figures: dict[str, Any]) -> None:
    seconds, rate = figures["seconds"], figures["mib_per_s"]
    ratio, storage = figures["throughput_ratio_vs_aes"], figures["storage"]
    print(
        f"record {figures['record_bytes'] / MIB:.1f} MiB, t={figures['t']} n={figures['n']}, "
        f"best of {figures['repeat']}"
    )
    for name in seconds:
        extra = f"  ({ratio[name]:.2f}x AES)" if name in ratio else ""
        print(f"  {name:24s} {seconds[name] * 1000:8.1f} ms {rate[name]:8.1f} MiB/s{extra}")
    print(
        f"  storage: fragments {storage['fragments_total_bytes']} B = "
        f"{storage['ratio_to_record']:.4f}x record (target <= {storage['target_ratio']:.4f}); "
        f"whole-file Shamir would be {storage['whole_file_shamir_ratio']:.1f}x"
    )
    print(
        f"  speed target: {ratio['target']}x AES; median ratio "
        f"{statistics.median([ratio['split'], ratio['combine_data_fragments']]):.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 MiB instead of 64 MiB")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    args = parser.parse_args(argv)
    size = (8 if args.quick else 64) * MIB
    figures = run(size, t=3, n=5, repeat=args.repeat)
    figures["erasure_alone"] = erasure_peers(figures["segment_size"], 3, 5, args.repeat)
    _print(figures)
    for name, value in figures["erasure_alone"]["mib_per_s"].items():
        print(f"  erasure alone, one segment: {name:22s} {value:8.1f} MiB/s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
