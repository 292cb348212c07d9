"""Throughput of the ``revm`` backend vs the ``pyevm`` backend on the tour's mix, same run.

Usage: ``python benchmarks/bench_revm.py [--quick] [--cycles N] [--arrival S]
[--block-seconds S] [--repeat N] [--profile] [--json PATH]``

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
``state_roots=False``, in this one process like pyevm (no worker processes:
the engine's background roots and signing are measured by
``bench_engine.py``). Each side is warmed up once, then the sides take
``--repeat`` turns (:mod:`turns`: rotating order, medians, CPU-seconds).
``--profile`` prints the top of a cProfile of the revm ``send`` run.
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
from turns import Stopwatch, positive, take_turns

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


def run_send(factory: Factory, txs: Sequence[Tx], block_seconds: int, watch: Stopwatch
             ) -> tuple[Chain, list[bytes], list[list[bytes]]]:
    """Send (estimating) and mine the timed txs (timed by ``watch``); the chain; hashes; raw
    txs per block."""
    chain, accounts, rest = _setup(factory, txs)
    blocks = blocks_of(rest, block_seconds)
    hashes: list[bytes] = []
    with watch:
        for block in blocks:
            at = block[-1].timestamp
            for tx in block:
                hashes.append(chain.send(accounts[tx.sender], tx.to, tx.data, estimate_at=at))
            chain.mine(at)
            if chain.pending():
                raise RuntimeError(f"block at {at} left {len(chain.pending())} transactions "
                                   "pending")
    raws = [[chain.raw_transaction(r.tx_hash) for r in chain.block(n).receipts]
            for n in range(2, chain.block_number + 1)]
    return chain, hashes, raws


def run_raw(factory: Factory, txs: Sequence[Tx], raws: list[list[bytes]],
            timestamps: list[int], watch: Stopwatch) -> Chain:
    """Replay the signed transactions block by block with send_raw + mine (timed by ``watch``)."""
    chain, _, _ = _setup(factory, txs)
    with watch:
        for block, at in zip(raws, timestamps, strict=True):
            for raw in block:
                chain.send_raw(raw)
            chain.mine(at)
    return chain


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
    parser.add_argument("--cycles", type=positive, default=None, help="number of patient cycles")
    parser.add_argument("--arrival", type=int, default=30, help="seconds between patient arrivals")
    parser.add_argument("--block-seconds", type=int, default=12, help="recorded time per block")
    parser.add_argument("--profile", action="store_true", help="cProfile the revm send run")
    parser.add_argument("--repeat", type=positive, default=None,
                        help="turns per side after the warm-up (default 3, --quick 2)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    cycles = args.cycles or (20 if args.quick else 150)
    args.repeat = args.repeat or (2 if args.quick else 3)
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
    report: dict[str, Any] = {"cycles": cycles, "timed_txs": timed, "repeat": args.repeat,
                              "modes": {}}
    # the signed transactions of a pyevm send run, replayed in raw mode
    first, _, raws = run_send(sides["pyevm"], txs, args.block_seconds, Stopwatch())
    stamps = [first.block(n).timestamp for n in range(2, first.block_number + 1)]
    print(f"\n{'mode':6s} {'side':13s} {'txs':>6s} {'seconds':>8s} {'tx/s':>8s} {'x pyevm':>8s} "
          f"{'CPU-s':>7s}")
    for mode in ("send", "raw"):
        if mode == "send":
            runs = {side: (lambda w, f=f: run_send(f, txs, args.block_seconds, w)[0])
                    for side, f in sides.items()}
        else:
            runs = {side: (lambda w, f=f: run_raw(f, txs, raws, stamps, w))
                    for side, f in sides.items()}
        turns = take_turns(runs, args.repeat)
        rows: dict[str, dict[str, Any]] = {}
        base_outcomes, base_roots = _outcomes(turns["pyevm"].result), _roots(turns["pyevm"].result)
        for side, t in turns.items():
            outcomes = _outcomes(t.result)
            mismatches = sum(a != b for a, b in zip(base_outcomes, outcomes, strict=True))
            root_eq = _roots(t.result) == base_roots if side != "revm-noroots" else None
            ratio = turns["pyevm"].wall / t.wall
            rows[side] = {**t.row(timed), "x_pyevm": round(ratio, 2), "mismatches": mismatches,
                          "state_roots_equal": root_eq}
            print(f"{mode:6s} {side:13s} {timed:6d} {t.wall:8.2f} {timed / t.wall:8.1f} "
                  f"{ratio:8.2f} {t.cpu:7.2f}   mismatches {mismatches}, roots equal {root_eq}")
        report["modes"][mode] = rows
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_send(sides["revm-noroots"], txs, args.block_seconds, Stopwatch())
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats("tottime")
        stats.print_stats(25)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
