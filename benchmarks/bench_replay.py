"""Replay against the run it verifies: wall seconds of `pmrsim replay` (both modes) / `pmrsim run`.

Usage: ``python benchmarks/bench_replay.py [--quick] [--repeat N] [--cases a,b] [--json PATH]``

Each case runs ``pmrsim run`` once to warm up (compiled contracts, caches),
then takes N turns of: ``pmrsim run`` into a fresh folder, ``pmrsim replay``
(rerun and byte-for-byte comparison) and ``pmrsim replay --chain-only`` of
the first run's folder, each a fresh process on the same backend, the
order rotating every turn so a host's drift falls on all three. Each figure
is the median of its N turns, wall seconds and CPU-seconds (the process and
its workers) beside it; the ratios are medians over medians. Targets: the
default replay at most 1.3x the run, the chain-only replay at most 0.5x.

Cases: ``quickstart``, ``paper`` and ``iomt`` as shipped (pyevm), and
``city-slice``: the city scenario with 20,000 patients, 10 hospitals and 30
days (revm; left out by ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES: dict[str, list[str]] = {
    "quickstart": [str(ROOT / "scenarios" / "quickstart.yaml")],
    "paper": [str(ROOT / "scenarios" / "paper.yaml")],
    "iomt": [str(ROOT / "scenarios" / "iomt.yaml")],
    "city-slice": [str(ROOT / "scenarios" / "city.yaml"), "--set", "population.patients=20000",
                   "--set", "population.hospitals=10", "--set", "duration_days=30"],
}
TARGETS = {"replay": 1.3, "chain_only": 0.5}


def _timed(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (with its child processes) of ``pmrsim args`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"pmrsim {' '.join(args)}: exit {proc.returncode}: "
                         f"{proc.stderr.strip()[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _case(name: str, repeat: int, tmp: Path) -> dict[str, Any]:
    scenario = CASES[name]
    first = tmp / f"{name}-0"
    _timed(["run", *scenario, "--out", str(first), "--no-progress"])  # warm-up, and the folder
    steps = {
        "run": lambda turn: ["run", *scenario, "--out", str(tmp / f"{name}-{turn + 1}"),
                             "--no-progress"],
        "replay": lambda turn: ["replay", str(first)],
        "chain_only": lambda turn: ["replay", str(first), "--chain-only"],
    }
    order = list(steps)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in steps}
    for turn in range(repeat):
        for step in order[turn % 3:] + order[: turn % 3]:
            times[step].append(_timed(steps[step](turn)))
        shutil.rmtree(tmp / f"{name}-{turn + 1}", ignore_errors=True)
    out: dict[str, Any] = {}
    for step, pairs in times.items():
        walls = [w for w, _ in pairs]
        out[step] = {"wall_s": round(statistics.median(walls), 2),
                     "cpu_s": round(statistics.median(c for _, c in pairs), 2),
                     "fastest_s": round(min(walls), 2), "slowest_s": round(max(walls), 2)}
    for step in ("replay", "chain_only"):
        ratio = out[step]["wall_s"] / out["run"]["wall_s"]
        out[step]["x_run"] = round(ratio, 3)
        out[step]["target"] = TARGETS[step]
        out[step]["ok"] = ratio <= TARGETS[step]
    shutil.rmtree(first, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure the cases; print a table; write JSON when asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quickstart and paper, 1 turn")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=None, help="comma-separated case names")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    names = (args.cases.split(",") if args.cases
             else ["quickstart", "paper"] if args.quick else list(CASES))
    unknown = [n for n in names if n not in CASES]
    if unknown or args.repeat < 1:
        what = (f"unknown case {unknown[0]!r} (known: {', '.join(CASES)})" if unknown
                else f"--repeat {args.repeat}: expected an integer >= 1")
        print(f"bench_replay: {what}", file=sys.stderr)
        return 2
    repeat = 1 if args.quick else args.repeat
    report: dict[str, Any] = {"repeat": repeat, "cases": {}}
    print(f"{'case':12s} {'run s':>8s} {'replay s':>9s} {'x run':>6s} {'chain-only s':>13s} "
          f"{'x run':>6s}")
    with tempfile.TemporaryDirectory(prefix="pmrsim-bench-replay-") as tmp:
        for name in names:
            res = _case(name, repeat, Path(tmp))
            report["cases"][name] = res
            print(f"{name:12s} {res['run']['wall_s']:8.2f} {res['replay']['wall_s']:9.2f} "
                  f"{res['replay']['x_run']:6.2f} {res['chain_only']['wall_s']:13.2f} "
                  f"{res['chain_only']['x_run']:6.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
