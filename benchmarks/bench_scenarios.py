"""Every shipped scenario over many seeds: unexpected violations, attacks made, wall time.

Usage: ``python benchmarks/bench_scenarios.py [--seeds 20] [--quick] [--backend B] [--json PATH]``

For each shipped scenario but ``city`` (sized for the revm backend), runs
its own seed and seeds 1..N-1 (on the scenario's backend, or ``--backend``)
and reports the number of runs with an unexpected violation (must be 0:
this includes an ordinary operation that failed and a configured attack not
made as configured), the attacks configured, attempted and denied over all
runs, and the wall time of the scenario's own seed against its target
(quickstart < 30 s, paper < 60 s on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
NAMES = ["quickstart", "paper", "adversarial", "churn", "iomt", "layouts"]
TARGETS = {"quickstart": 30.0, "paper": 60.0}


def main(argv: list[str] | None = None) -> int:
    """Run the grid and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 seeds")
    parser.add_argument("--backend", default=None, help="run every seed on this backend")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    overrides = [f"chain.backend={args.backend}"] if args.backend else []
    seeds = 3 if args.quick else args.seeds
    report: dict[str, Any] = {"seeds": seeds, "scenarios": {}}
    print(f"{'scenario':12s} {'runs':>5s} {'bad':>4s} {'attacks c/a/d':>14s} {'own seed s':>11s} "
          f"{'mean s':>7s}  target")
    failures = 0
    for name in NAMES:
        base = load_scenario(SCENARIOS / f"{name}.yaml")
        walls, bad = [], []
        attacks = [0, 0, 0]  # configured, attempted, denied
        for seed in [base.seed, *range(1, seeds)]:
            scenario = load_scenario(SCENARIOS / f"{name}.yaml", overrides, seed=seed)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                result = run_scenario(scenario, Path(tmp), progress=False)
                walls.append(time.perf_counter() - start)
            for attack in result.summary["attacks"].values():
                if attack["configured"] is not None:
                    attacks[0] += attack["configured"]
                    attacks[1] += attack["attempted"]
                    attacks[2] += attack["denied"]
            if not result.ok:
                bad.append({"seed": seed, "unexpected": result.unexpected})
        target = TARGETS.get(name)
        verdict = "" if target is None else (f"< {target:.0f} s " +
                                             ("ok" if walls[0] < target else "MISSED"))
        print(f"{name:12s} {len(walls):5d} {len(bad):4d} {'/'.join(map(str, attacks)):>14s} "
              f"{walls[0]:11.2f} "
              f"{sum(walls) / len(walls):7.2f}  {verdict}")
        failures += len(bad)
        report["scenarios"][name] = {"runs": len(walls), "unexpected_runs": bad,
                                     "attacks": dict(zip(("configured", "attempted",
                                                          "denied"), attacks, strict=True)),
                                     "own_seed_wall_s": round(walls[0], 2),
                                     "mean_wall_s": round(sum(walls) / len(walls), 2),
                                     "target_s": target}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    for name, data in report["scenarios"].items():
        for run in data["unexpected_runs"]:
            print(f"{name} seed {run['seed']}: {run['unexpected']}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
