"""Benchmark: UnixFS CID import throughput vs. plain sha256, and peak RSS of a streamed import.

Usage::

    python benchmarks/bench_cid.py [--quick] [--json PATH]

* Throughput: import a 64 MiB seeded-random buffer (no blockstore, as
  ``ipfs add --only-hash``) under CIDv0 and CIDv1 and compare with
  ``hashlib.sha256`` over the same bytes in the same run (target >= 0.7x).
* Memory: in a fresh subprocess, stream 1 GiB generated on the fly through
  the importer and report ``ru_maxrss`` (target < 200 MiB).

``--quick`` uses 16 MiB and a 128 MiB stream. Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from storage_sim.unixfs import ImportParams, import_bytes, import_stream

MIB = 1 << 20


class PatternStream:
    """A read-only stream of ``size`` bytes cycling a seeded 4 MiB random block.

    The block length is not a multiple of the chunk size, so consecutive
    chunks differ; nothing but the current read is held in memory.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.remaining = size
        self.block = random.Random(seed).randbytes(4 * MIB + 7919)
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes of the pattern."""
        size = self.remaining if size < 0 else min(size, self.remaining)
        out = bytearray()
        while len(out) < size:
            take = min(size - len(out), len(self.block) - self.pos)
            out += self.block[self.pos : self.pos + take]
            self.pos = (self.pos + take) % len(self.block)
        self.remaining -= size
        return bytes(out)


def throughput(size: int, repeat: int) -> dict[str, float]:
    """Seconds and MiB/s for sha256 and for CIDv0/CIDv1 imports of ``size`` random bytes.

    The three measurements are interleaved and the best of ``repeat`` rounds
    kept, so load from other processes on a shared machine affects all alike.
    """
    data = random.Random(42).randbytes(size)
    cases: dict[str, Callable[[], object]] = {
        "sha256": lambda: hashlib.sha256(data).digest(),
        "cidv0": lambda: import_bytes(data, None, ImportParams(cid_version=0)),
        "cidv1": lambda: import_bytes(data, None, ImportParams(cid_version=1)),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    mib = size / MIB
    result = {"mib": mib}
    for name, seconds in best.items():
        result[f"{name}_s"] = seconds
        result[f"{name}_mib_s"] = mib / seconds
    result["cidv0_ratio"] = best["sha256"] / best["cidv0"]
    result["cidv1_ratio"] = best["sha256"] / best["cidv1"]
    return result


def _vm_hwm_mib() -> float | None:
    """Peak RSS of this process image from /proc (Linux), which execve resets."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_child(size: int) -> None:
    """Run in a subprocess: stream ``size`` bytes through the importer, print JSON."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = import_stream(PatternStream(size), None, ImportParams())
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "bytes": size, "cid": str(result.cid), "blocks": result.blocks,
        "seconds": elapsed, "mib_s": size / MIB / elapsed,
        "rss_before_mib": before, "peak_rss_mib": peak, "vm_hwm_mib": _vm_hwm_mib(),
    }))  # fmt: skip


def streamed_rss(size: int) -> dict[str, object]:
    """Peak RSS of a fresh interpreter streaming ``size`` bytes through the importer."""
    proc = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(size)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table; write JSON if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--json", metavar="PATH", help="also write results as JSON")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return 0
    size = (16 if args.quick else 64) * MIB
    stream_size = (128 if args.quick else 1024) * MIB
    # The streamed run goes first: ru_maxrss survives execve on Linux, so a
    # child started after the 64 MiB buffer exists would inherit its peak.
    rss = streamed_rss(stream_size)
    tp = throughput(size, repeat=3 if args.quick else 5)
    print(f"{'measure':<34}{'value':>14}  target")
    print(f"{'sha256 (MiB/s)':<34}{tp['sha256_mib_s']:>14.1f}")
    print(f"{'CIDv0 import (MiB/s)':<34}{tp['cidv0_mib_s']:>14.1f}")
    print(f"{'CIDv1 import (MiB/s)':<34}{tp['cidv1_mib_s']:>14.1f}")
    print(f"{'CIDv0 / sha256':<34}{tp['cidv0_ratio']:>14.2f}  >= 0.70")
    print(f"{'CIDv1 / sha256':<34}{tp['cidv1_ratio']:>14.2f}  >= 0.70")
    print(f"{'streamed import size (MiB)':<34}{stream_size / MIB:>14.0f}")
    print(f"{'streamed import (MiB/s)':<34}{rss['mib_s']:>14.1f}")
    print(f"{'streamed import peak RSS (MiB)':<34}{rss['peak_rss_mib']:>14.1f}  < 200")
    print(f"{'  of which before the import (MiB)':<34}{rss['rss_before_mib']:>14.1f}")
    print(f"{'streamed root CID':<34}{rss['cid']!s:>14}")
    if args.json:
        payload = {"throughput": tp, "streamed": rss, "quick": args.quick}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
