"""The whole engine on each chain backend: the same scenario and seed, transactions per second.

Usage: ``python benchmarks/bench_engine.py [--quick] [--backends pyevm,revm,ethtester]
[--repeat N] [--json PATH]``

Runs each case (a shipped scenario with overrides) once per backend, one
after the other in this process, and reports wall seconds, transactions per
second and the ratio to pyevm. With ``--repeat N`` the backends take turns N
times (pyevm, revm, pyevm, revm, ...) and each figure is the median of its N
runs, with the fastest and slowest beside it: a shared host's speed drifts
by tens of percent within minutes, and taking turns spreads the drift over
both sides. Everything the engine does is in the figure:
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
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def run_case(name: str, backends: list[str], *, quick: bool, repeat: int = 1) -> dict[str, Any]:
    """Run one case on every backend ``repeat`` times, taking turns; return the median wall
    time (and the fastest and slowest), tx/s and ratios to pyevm."""
    file, full, fast = CASES[name]
    scenario = load_scenario(SCENARIOS / f"{file}.yaml", fast if quick else full)
    walls: dict[str, list[float]] = {backend: [] for backend in backends}
    rows: dict[str, Any] = {}
    for _ in range(repeat):
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                result = run_scenario(scenario, Path(tmp), backend=backend, progress=False)
                walls[backend].append(time.perf_counter() - start)
            txs = result.summary["txs"]["total"]
            row = rows.setdefault(backend, {"txs": txs, "state_root": result.summary["state_root"],
                                            "ok": True, "runs": 0})
            row["ok"] = row["ok"] and result.ok and (txs, result.summary["state_root"]) == (
                row["txs"], row["state_root"])
            row["runs"] += 1
    for backend, row in rows.items():
        wall = statistics.median(walls[backend])
        row.update(wall_s=round(wall, 2), tx_per_s=round(row["txs"] / wall, 1),
                   wall_min_s=round(min(walls[backend]), 2),
                   wall_max_s=round(max(walls[backend]), 2))
    base = rows.get("pyevm")
    if base:
        for row in rows.values():
            row["x_pyevm"] = round(base["wall_s"] / row["wall_s"], 2)
    roots = {row["state_root"] for row in rows.values()}
    counts = {row["txs"] for row in rows.values()}
    return {"overrides": fast if quick else full, "backends": rows,
            "agree": len(roots) == 1 and len(counts) == 1}


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases")
    parser.add_argument("--backends", default="pyevm,revm",
                        help="comma-separated backends, pyevm first (default pyevm,revm)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per backend, taking turns; figures are medians (default 1)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
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
    print(f"{'case':18s} {'backend':10s} {'txs':>7s} {'wall s':>8s} {'tx/s':>8s} {'x pyevm':>8s}"
          + spread)
    bad = 0
    for name in cases:
        res = run_case(name, backends, quick=args.quick, repeat=args.repeat)
        report["cases"][name] = res
        for backend, row in res["backends"].items():
            extra = (f" {row['wall_min_s']:8.2f} {row['wall_max_s']:8.2f}" if args.repeat > 1
                     else "")
            print(f"{name:18s} {backend:10s} {row['txs']:7d} {row['wall_s']:8.2f} "
                  f"{row['tx_per_s']:8.1f} {row.get('x_pyevm', 0):8.2f}" + extra)
        if not res["agree"] or not all(r["ok"] for r in res["backends"].values()):
            print(f"{name}: backends disagree or a run failed its checks", file=sys.stderr)
            bad += 1
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
