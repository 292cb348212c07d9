"""The whole engine on each chain backend: the same scenario and seed, transactions per second.

Usage: ``python benchmarks/bench_engine.py [--quick] [--backends pyevm,revm,revm+workers]
[--repeat N] [--json PATH]``

Runs each case (a shipped scenario with overrides) on each side in this
process and reports wall seconds, CPU-seconds, transactions per second and
the ratio to pyevm. Each side is warmed up on a small run first, then the
sides take ``--repeat`` turns, the first side rotating each turn
(:mod:`turns`), and each figure is the median of its turns, with the
fastest and slowest beside it: a shared host's speed drifts by tens of
percent within minutes, and taking turns spreads the drift over every side.

Sides: ``pyevm`` and ``revm`` run in one process each (the like-for-like
ratio: the engine's worker processes are turned off, as they are on a
one-core machine); ``revm+workers`` is revm as ``pmrsim run`` uses it on a
machine with a core to spare (state roots and signatures in two worker
processes, and for big runs the engine's own worker). CPU-seconds count
the workers too, so the table shows what the second core buys. Any other
backend name (``ethtester``) runs in one process. Everything the engine
does is in the figure:
actors, signing, the chain, storage, sharing, de-identification, the trace,
the invariants and the report. The runs must agree on the state root and
the transaction count (they do; the benchmark fails if not).

Cases:

* ``iomt-per-reading``: the IoMT scenario with one transaction per reading
  (chain-bound: almost no off-chain work per transaction);
* ``iomt``: the IoMT scenario as shipped (batched readings, labs, grants);
* ``city-slice``: the city scenario cut to 1,500 patients, 5 hospitals and
  20 days, all patients arriving on the first day.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from turns import Side, Stopwatch, take_turns

from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

#: name -> (scenario file, overrides, quick overrides)
CASES: dict[str, tuple[str, list[str], list[str]]] = {
    "iomt-per-reading": ("iomt", ["workload.iomt_mode=per_reading", "duration_days=2"],
                         ["workload.iomt_mode=per_reading", "duration_days=1"]),
    "iomt": ("iomt", ["duration_days=6"], ["duration_days=2"]),
    "city-slice": ("city", ["population.patients=1500", "population.hospitals=5",
                            "population.devices=5", "duration_days=20",
                            "workload.arrivals=first_day"],
                   ["population.patients=300", "population.hospitals=3",
                    "population.devices=2", "duration_days=10", "workload.arrivals=first_day"]),
}


@contextlib.contextmanager
def one_process() -> Iterator[None]:
    """The engine as on a one-core machine: no worker processes (chain or engine)."""
    from sim.engine import offload, runner, world

    saved = (offload.spare_core, runner.spare_core, world.spare_core)
    offload.spare_core = runner.spare_core = world.spare_core = lambda: False
    try:
        yield
    finally:
        offload.spare_core, runner.spare_core, world.spare_core = saved


def _side(backend: str, scenario: Any) -> Side:
    """A turn of ``backend`` (``revm+workers``: revm with its workers) on ``scenario``."""
    def turn(watch: Stopwatch) -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            if backend.endswith("+workers"):
                with watch:
                    return run_scenario(scenario, Path(tmp), backend=backend.split("+")[0],
                                        progress=False)
            with one_process(), watch:
                return run_scenario(scenario, Path(tmp), backend=backend, progress=False)
    return turn


def run_case(name: str, backends: list[str], *, quick: bool, repeat: int = 1) -> dict[str, Any]:
    """Run one case on every side: a warm-up, then ``repeat`` rotating turns; return the median
    wall and CPU seconds (and the fastest and slowest), tx/s and ratios to pyevm."""
    file, full, fast = CASES[name]
    scenario = load_scenario(SCENARIOS / f"{file}.yaml", fast if quick else full)
    warm = load_scenario(SCENARIOS / "quickstart.yaml", ["duration_days=0.2"])
    for backend in backends:  # imports, compiled contracts, caches
        _side(backend, warm)(Stopwatch())
    turns = take_turns({backend: _side(backend, scenario) for backend in backends}, repeat,
                       warmup=False)
    rows: dict[str, Any] = {}
    for backend, timed in turns.items():
        result = timed.result
        txs = result.summary["txs"]["total"]
        rows[backend] = {"txs": txs, "state_root": result.summary["state_root"], "ok": result.ok,
                         "runs": len(timed.walls), "wall_s": round(timed.wall, 2),
                         "cpu_s": round(timed.cpu, 2), "tx_per_s": round(txs / timed.wall, 1),
                         "wall_min_s": round(min(timed.walls), 2),
                         "wall_max_s": round(max(timed.walls), 2),
                         "processes": "main + workers" if backend.endswith("+workers")
                         else "one"}
    base = rows.get("pyevm")
    if base:
        for row in rows.values():
            row["x_pyevm"] = round(base["wall_s"] / row["wall_s"], 2)
            row["cpu_x_pyevm"] = round(base["cpu_s"] / row["cpu_s"], 2)
    roots = {row["state_root"] for row in rows.values()}
    counts = {row["txs"] for row in rows.values()}
    return {"overrides": fast if quick else full, "backends": rows,
            "agree": len(roots) == 1 and len(counts) == 1}


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases")
    parser.add_argument("--backends", default="pyevm,revm,revm+workers",
                        help="comma-separated sides, pyevm first (default pyevm,revm,revm+workers)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--repeat", type=int, default=None,
                        help="turns per side after the warm-up; figures are medians (default 3, "
                             "--quick 1)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        print(f"--repeat must be 1 or more, got {args.repeat}", file=sys.stderr)
        return 2
    backends = [b for b in args.backends.split(",") if b]
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        print(f"unknown case {unknown[0]!r} (known: {', '.join(CASES)})", file=sys.stderr)
        return 2
    if args.json and not args.json.parent.is_dir():
        print(f"--json {args.json}: no folder {args.json.parent}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"quick": args.quick, "repeat": args.repeat, "cases": {}}
    spread = f" {'fastest':>8s} {'slowest':>8s}" if args.repeat > 1 else ""
    print(f"{'case':18s} {'side':13s} {'txs':>7s} {'wall s':>8s} {'CPU-s':>8s} {'tx/s':>8s} "
          f"{'x pyevm':>8s}" + spread)
    bad = 0
    for name in cases:
        res = run_case(name, backends, quick=args.quick, repeat=args.repeat)
        report["cases"][name] = res
        for backend, row in res["backends"].items():
            extra = (f" {row['wall_min_s']:8.2f} {row['wall_max_s']:8.2f}" if args.repeat > 1
                     else "")
            print(f"{name:18s} {backend:13s} {row['txs']:7d} {row['wall_s']:8.2f} "
                  f"{row['cpu_s']:8.2f} {row['tx_per_s']:8.1f} {row.get('x_pyevm', 0):8.2f}"
                  + extra)
        if not res["agree"] or not all(r["ok"] for r in res["backends"].values()):
            print(f"{name}: backends disagree or a run failed its checks", file=sys.stderr)
            bad += 1
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
