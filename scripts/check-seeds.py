"""Run every shipped scenario (the city aside) on several seeds and report the verdicts.

    .venv/bin/python scripts/check-seeds.py [--seeds 10] [--backend revm]

Each run must meet its scenario's expectations with every configured attack
attempted as often as configured and denied; the table shows, per scenario,
the runs that passed, the attacks configured / attempted / denied over all
seeds, and the wall time. Exit 1 when any run failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHIPPED = ["quickstart", "paper", "adversarial", "churn", "iomt", "layouts"]


def main() -> int:
    """Run the grid; print one line per scenario; exit 1 on any failed run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--backend", default="revm")
    args = parser.parse_args()
    failed = 0
    print(f"{'scenario':12} {'passed':>7} {'configured':>10} {'attempted':>9} {'denied':>6} "
          f"{'wall s':>7}")
    for name in SHIPPED:
        passed = configured = attempted = denied = 0
        started = time.perf_counter()
        for seed in range(1, args.seeds + 1):
            scenario = load_scenario(SCENARIOS / f"{name}.yaml",
                                     [f"chain.backend={args.backend}"], seed=seed)
            with tempfile.TemporaryDirectory() as tmp:
                result = run_scenario(scenario, Path(tmp) / "run", progress=False, render=False)
            for attack in result.summary["attacks"].values():
                if attack["configured"] is not None:
                    configured += attack["configured"]
                    attempted += attack["attempted"]
                    denied += attack["denied"]
            if result.ok:
                passed += 1
            else:
                failed += 1
                print(f"  {name} seed {seed}: {'; '.join(result.unexpected)}", file=sys.stderr)
        print(f"{name:12} {passed:>4}/{args.seeds:<2} {configured:>10} {attempted:>9} {denied:>6} "
              f"{time.perf_counter() - started:>7.1f}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
