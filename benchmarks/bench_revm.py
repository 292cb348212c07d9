"""Throughput of the ``revm`` backend vs the ``pyevm`` backend on the tour's mix, same run.

Usage: ``python benchmarks/bench_revm.py [--quick] [--cycles N] [--arrival S]
[--block-seconds S] [--profile] [--json PATH]``

The workload is :func:`bench_tour_mix.build_workload` (the tour's transaction
mix, recorded on a scratch py-evm chain). Each side is a fresh chain of the
same seed, every sender funded, the deployments mined before the timer.
Timed, two ways:

* ``send``: the engine's use: ``send`` every transaction (sign, estimate gas
  at the block's timestamp) and ``mine`` one block per ``--block-seconds`` of
  recorded time. Both sides must produce the *same signed transactions*
  (identical hashes: same nonces, fees and estimated gas limits) and the same
  status and gas used per transaction, and the same state root per block.
* ``raw``: the signed bytes of the ``send`` run replayed with ``send_raw``
  and ``mine`` (no signing, no estimation): the chain's own cost per
  transaction (decode + recover + execute + receipts + state root).

revm runs with ``state_roots=True`` (real roots, equal to py-evm's) and
``state_roots=False``. ``--profile`` prints the top of a cProfile of the
revm ``send`` run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tour_mix import SEED, Tx, blocks_of, build_workload, senders_of

from sim.chain import Chain
from sim.chain.pyevm import PyEVMChain
from sim.chain.revm import RevmChain

Factory = Callable[[], Chain]


def _setup(factory: Factory, txs: Sequence[Tx]) -> tuple[Chain, dict[str, Any], list[Tx]]:
    """A funded chain with the deployments mined; the accounts; the timed transactions."""
    chain = factory()
    accounts = {label: chain.account(label) for label in senders_of(txs)}
    for account in accounts.values():
        chain.fund(account.address)
    deploys = [tx for tx in txs if tx.to is None]
    for tx in deploys:
        chain.send(accounts[tx.sender], None, tx.data, estimate_at=deploys[-1].timestamp)
    chain.mine(deploys[-1].timestamp)
    return chain, accounts, list(txs[len(deploys):])


def run_send(factory: Factory, txs: Sequence[Tx], block_seconds: int
             ) -> tuple[float, Chain, list[bytes], list[list[bytes]]]:
    """Seconds to send (estimating) and mine the timed txs; the chain; hashes; raw txs per block."""
    chain, accounts, rest = _setup(factory, txs)
    blocks = blocks_of(rest, block_seconds)
    hashes: list[bytes] = []
    start = time.perf_counter()
    for block in blocks:
        at = block[-1].timestamp
        for tx in block:
            hashes.append(chain.send(accounts[tx.sender], tx.to, tx.data, estimate_at=at))
        chain.mine(at)
        if chain.pending():
            raise RuntimeError(f"block at {at} left {len(chain.pending())} transactions pending")
    elapsed = time.perf_counter() - start
    raws = [[chain.raw_transaction(r.tx_hash) for r in chain.block(n).receipts]
            for n in range(2, chain.block_number + 1)]
    return elapsed, chain, hashes, raws


def run_raw(factory: Factory, txs: Sequence[Tx], raws: list[list[bytes]],
            timestamps: list[int]) -> tuple[float, Chain]:
    """Seconds to replay the signed transactions block by block with send_raw + mine."""
    chain, _, _ = _setup(factory, txs)
    start = time.perf_counter()
    for block, at in zip(raws, timestamps, strict=True):
        for raw in block:
            chain.send_raw(raw)
        chain.mine(at)
    return time.perf_counter() - start, chain


def _outcomes(chain: Chain) -> list[tuple[bytes, int, int]]:
    """(hash, status, gas) of every mined transaction."""
    return [(r.tx_hash, r.status, r.gas_used) for n in range(1, chain.block_number + 1)
            for r in chain.block(n).receipts]


def _roots(chain: Chain) -> list[bytes]:
    return [chain.block(n).state_root for n in range(chain.block_number + 1)]


def main(argv: list[str] | None = None) -> int:
    """Build the mix, run every side and mode, print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 patient cycles instead of 150")
    parser.add_argument("--cycles", type=int, default=None, help="number of patient cycles")
    parser.add_argument("--arrival", type=int, default=30, help="seconds between patient arrivals")
    parser.add_argument("--block-seconds", type=int, default=12, help="recorded time per block")
    parser.add_argument("--profile", action="store_true", help="cProfile the revm send run")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    cycles = args.cycles or (20 if args.quick else 150)
    t = time.perf_counter()
    txs = build_workload(cycles, args.arrival)
    timed = len([tx for tx in txs if tx.to is not None])
    print(f"workload: {cycles} patient cycles, {len(txs)} txs ({timed} timed), "
          f"{len(senders_of(txs))} senders, built in {time.perf_counter() - t:.1f} s")
    sides: dict[str, Factory] = {
        "pyevm": lambda: PyEVMChain(SEED),
        "revm": lambda: RevmChain(SEED, state_roots=True),
        "revm-noroots": lambda: RevmChain(SEED, state_roots=False),
    }
    report: dict[str, Any] = {"cycles": cycles, "timed_txs": timed, "modes": {}}
    print(f"\n{'mode':6s} {'side':13s} {'txs':>6s} {'seconds':>8s} {'tx/s':>8s} {'x pyevm':>8s}")
    raws: list[list[bytes]] = []  # signed by the pyevm send run, replayed in raw mode
    stamps: list[int] = []
    for mode in ("send", "raw"):
        rows: dict[str, dict[str, Any]] = {}
        base: tuple[list[tuple[bytes, int, int]], list[bytes]] | None = None
        for side, factory in sides.items():
            if mode == "send":
                secs, chain, _, side_raws = run_send(factory, txs, args.block_seconds)
                if side == "pyevm":
                    raws = side_raws
                    stamps = [chain.block(n).timestamp for n in range(2, chain.block_number + 1)]
            else:
                secs, chain = run_raw(factory, txs, raws, stamps)
            outcomes = _outcomes(chain)
            roots = _roots(chain)
            if base is None:
                base = (outcomes, roots)
            mismatches = sum(a != b for a, b in zip(base[0], outcomes, strict=True))
            root_eq = roots == base[1] if side != "revm-noroots" else None
            ratio = rows["pyevm"]["seconds"] / secs if "pyevm" in rows else 1.0
            rows[side] = {"seconds": round(secs, 3), "txs_per_s": round(timed / secs, 1),
                          "x_pyevm": round(ratio, 2), "mismatches": mismatches,
                          "state_roots_equal": root_eq}
            print(f"{mode:6s} {side:13s} {timed:6d} {secs:8.2f} {timed / secs:8.1f} {ratio:8.2f}"
                  f"   mismatches {mismatches}, roots equal {root_eq}")
        report["modes"][mode] = rows
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_send(sides["revm-noroots"], txs, args.block_seconds)
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats("tottime")
        stats.print_stats(25)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
