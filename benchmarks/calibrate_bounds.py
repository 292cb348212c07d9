"""Calibrate the run-size model of :mod:`sim.engine.bounds` against real runs.

Usage: ``python benchmarks/calibrate_bounds.py [--json PATH] [CASE ...]``

For each case (a shipped scenario with overrides) this starts one child
process that runs the scenario as ``pmrsim run`` would (with SimPy's
``Environment.step`` counted), and polls the child's process tree (the run
and the workers it forks) every 50 ms, summing their resident sets. It
prints, per case, the model's estimate beside what was measured:

* peak memory: the largest sum of the tree's resident sets seen (RSS: a
  page shared copy-on-write between a run and a worker it forked counts in
  each, so this is what the machine has to find at worst, and what the
  model is fitted to); the largest sum of proportional set sizes (PSS,
  where such a page counts half in each) is printed beside it;
* transactions: ``txs.total`` of every layout's summary, setup included;
* simulated events: SimPy events processed.

The estimate comes from :func:`sim.engine.bounds.estimate` and needs no run.
Cases: ``quickstart``, ``paper``, ``iomt``, ``churn``, ``adversarial``,
``layouts``, ``city-slice`` (``scenarios/city.yaml`` with 20,000 patients,
10 hospitals and 30 days) and ``iomt-per-reading``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.engine.bounds import estimate  # noqa: E402
from sim.engine.scenario import load_scenario  # noqa: E402

CASES: dict[str, tuple[str, list[str]]] = {
    "quickstart": ("scenarios/quickstart.yaml", []),
    "paper": ("scenarios/paper.yaml", []),
    "iomt": ("scenarios/iomt.yaml", []),
    "churn": ("scenarios/churn.yaml", []),
    "adversarial": ("scenarios/adversarial.yaml", []),
    "layouts": ("scenarios/layouts.yaml", []),
    "iomt-per-reading": ("scenarios/iomt.yaml", ["workload.iomt_mode=per_reading"]),
    "city-slice": ("scenarios/city.yaml", ["population.patients=20000", "population.hospitals=10",
                                           "duration_days=30"]),
    "city-5k": ("scenarios/city.yaml", ["population.patients=5000", "population.hospitals=10",
                                        "duration_days=30"]),
    "small-revm": ("scenarios/quickstart.yaml", ["chain.backend=revm", "population.patients=3000",
                                                 "population.devices=0", "duration_days=3"]),
    "small-revm-nolab": ("scenarios/quickstart.yaml", ["chain.backend=revm", "population.patients=3000",
                                                       "population.devices=0", "duration_days=3",
                                                       "workload.lab_order_probability=0"]),
    "small-pyevm": ("scenarios/quickstart.yaml", ["population.patients=1000", "population.devices=0",
                                                  "duration_days=3"]),
    "city-200k-30d": ("scenarios/city.yaml", ["duration_days=30"]),
    "quickstart-revm": ("scenarios/quickstart.yaml", ["chain.backend=revm"]),
}

_CHILD = r"""
import json, sys
from pathlib import Path
import simpy
from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario

steps = 0
_step = simpy.Environment.step
def counted(self):
    global steps
    steps += 1
    return _step(self)
simpy.Environment.step = counted
path, out, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
scenario = load_scenario(Path(path), overrides)
result = run_scenario(scenario, Path(out), progress=False)
folders = [Path(out)] + sorted((Path(out) / "layouts").glob("*"))
txs = sum(json.loads((f / "summary.json").read_text())["txs"]["total"] for f in folders)
print(json.dumps({"txs": txs, "events": steps, "wall": result.summary["wall_seconds"]}))
"""


def _tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """Resident and proportional (PSS) bytes of ``proc`` and its descendants now, summed."""
    rss = pss = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for member in members:
        try:
            info = member.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += info.pss
    return rss, pss


def measure(case: str) -> dict[str, Any]:
    """Run ``case`` in a child process; return its estimate and its measured figures."""
    path, overrides = CASES[case]
    scenario = load_scenario(ROOT / path, overrides)
    est = estimate(scenario)
    with tempfile.TemporaryDirectory(prefix="pmrsim-calibrate-") as tmp:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(ROOT / path), str(Path(tmp) / "run"),
             json.dumps(overrides)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        proc = psutil.Process(child.pid)
        peak = peak_rss = 0
        while child.poll() is None:
            rss, pss = _tree_memory(proc)
            peak, peak_rss = max(peak, pss), max(peak_rss, rss)
            time.sleep(0.05)
        out = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"{case}: the run failed (exit {child.returncode})")
    got = json.loads(out.strip().splitlines()[-1])
    return {"case": case, "estimate_memory_mib": round(est.memory / 2**20),
            "measured_peak_mib": round(peak_rss / 2**20), "measured_peak_pss_mib": round(peak / 2**20),
            "estimate_txs": round(est.transactions), "measured_txs": got["txs"],
            "estimate_events": round(est.events), "measured_events": got["events"],
            "wall_seconds": got["wall"]}


def main() -> None:
    """Measure the cases named (default: all) and print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", choices=[*CASES, []], default=list(CASES))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    print(f"{'case':18} {'mem est':>8} {'mem got':>8} {'pss':>6} {'txs est':>9} {'txs got':>9} "
          f"{'ev est':>10} {'ev got':>10} {'wall s':>7}")
    for case in args.cases:
        row = measure(case)
        rows.append(row)
        print(f"{case:18} {row['estimate_memory_mib']:>8} {row['measured_peak_mib']:>8} "
              f"{row['measured_peak_pss_mib']:>6} "
              f"{row['estimate_txs']:>9} {row['measured_txs']:>9} {row['estimate_events']:>10} "
              f"{row['measured_events']:>10} {row['wall_seconds']:>7}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
