"""Benchmark: the revm backend's state trie vs py-trie's HexaryTrie on the same storage writes.

Usage::

    python benchmarks/bench_trie.py [--quick] [--json PATH]

Fills one contract's storage trie with ``--slots`` random slots (blocks of
1,000 writes), then times ``--blocks`` blocks of 8 new slots each with a
root per block: what a city-scale run does at about one transaction per
block. The same writes go through ``trie.HexaryTrie`` (py-evm's trie, over
a dict database) in the same process, timed alike, and the roots must
agree at the end (the exit code says so). Also reports the traced memory per slot of
our trie (tracemalloc, after the fill). Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trie import HexaryTrie

from sim.chain._revm_exec import EMPTY_CODE_HASH
from sim.chain._revm_trie import StateTrie
from sim.chain._rlp import rlp_int
from sim.hashing import keccak256

ADDRESS = b"\x01" * 20


class _EmptyAccounts:
    """The account reads StateTrie.update makes: every account empty."""

    def account(self, address: bytes) -> tuple[int, int, bytes]:
        """(balance, nonce, code hash) of an empty account."""
        del address
        return (0, 0, EMPTY_CODE_HASH)


def _blocks(seed: int, count: int, size: int) -> list[dict[int, int]]:
    """``count`` blocks of ``size`` random slot writes (non-zero values)."""
    rng = random.Random(seed)
    return [{rng.getrandbits(256): rng.getrandbits(160) | 1 for _ in range(size)}
            for _ in range(count)]


def run(slots: int, blocks: int) -> dict[str, Any]:
    """Fill both tries, then time blocks of 8 writes plus a root on each."""
    fill = _blocks(1, slots // 1000, 1000)
    timed = _blocks(2, blocks, 8)
    accounts: Any = _EmptyAccounts()

    ours = StateTrie()
    tracemalloc.start()
    for written in fill:
        ours.update(accounts, {ADDRESS}, {ADDRESS: written})
    per_slot = tracemalloc.get_traced_memory()[0] / slots
    tracemalloc.stop()
    ref = HexaryTrie({})
    for written in fill:
        with ref.squash_changes() as batch:
            for slot, value in written.items():
                batch.set(keccak256(slot.to_bytes(32, "big")), rlp_int(value))

    start = time.perf_counter()
    for written in timed:
        ours.update(accounts, {ADDRESS}, {ADDRESS: written})
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    ref_roots = []
    for written in timed:
        with ref.squash_changes() as batch:
            for slot, value in written.items():
                batch.set(keccak256(slot.to_bytes(32, "big")), rlp_int(value))
        ref_roots.append(ref.root_hash)
    ref_s = time.perf_counter() - start
    agree = ours.storage_root(ADDRESS) == ref_roots[-1]
    return {"slots": slots, "blocks": blocks, "bytes_per_slot": round(per_slot),
            "ours_us_per_block": round(ours_s / blocks * 1e6, 1),
            "py_trie_us_per_block": round(ref_s / blocks * 1e6, 1),
            "x_py_trie": round(ref_s / ours_s, 2), "roots_agree": agree}


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 slots, 500 blocks")
    parser.add_argument("--slots", type=int, default=300_000)
    parser.add_argument("--blocks", type=int, default=3_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    slots, blocks = (50_000, 500) if args.quick else (args.slots, args.blocks)
    if slots < 1000 or blocks < 1:
        parser.error("--slots must be >= 1000 and --blocks >= 1")
    if args.json and not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: no folder {args.json.parent}")
    result = run(slots, blocks)
    print(f"{'slots':>9} {'B/slot':>7} {'ours us/block':>14} {'py-trie us/block':>17} {'x':>6} roots")
    print(f"{result['slots']:>9} {result['bytes_per_slot']:>7} {result['ours_us_per_block']:>14} "
          f"{result['py_trie_us_per_block']:>17} {result['x_py_trie']:>6} "
          f"{'agree' if result['roots_agree'] else 'DIFFER'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["roots_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
