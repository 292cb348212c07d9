"""``pmrsim sweep``: a grid of scenario overrides times seeds, run on Dask (``docs/sweeps.md``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import CheckFailed, InputError
from sim.outputs import staged_output


def register(sub: Any) -> None:
    """Add the ``sweep`` sub-command."""
    p = sub.add_parser("sweep", help="run a grid of scenario overrides x seeds on Dask")
    p.add_argument("sweep", type=Path, help="sweep YAML file")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler to use, e.g. tcp://127.0.0.1:8786 (default: a local cluster "
                        "on 127.0.0.1)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local cluster workers (default: the file's `workers`, else the cores)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/sweep-<name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="a point whose estimated peak memory passes SIZE (e.g. 4G) fails without "
                        "running (default: 80%% of the available memory, shared by the local "
                        "workers; none lifts it)")
    p.add_argument("--max-work", default=None, metavar="N",
                   help="a point of more than N estimated transactions fails without running "
                        "(default 10,000,000; none lifts it)")
    p.set_defaults(func=sweep)


def sweep(args: argparse.Namespace) -> int:
    """Validate the sweep, run every (point, seed), write the table; exit 1 if a run failed."""
    from sim.engine.bounds import limits_from
    from sim.engine.sweep import load_sweep, local_workers, run_sweep

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers}: expected an integer >= 1")
    loaded = load_sweep(args.sweep)
    parallel = 1 if args.scheduler else local_workers(args.workers or loaded.spec.workers, loaded.runs)
    limits = limits_from(args.max_memory, args.max_work, parallel=parallel)
    out: Path = args.out or Path("runs") / f"sweep-{loaded.spec.name}"
    with staged_output(out, command="sweep", legacy=_older_sweep) as stage:  # whole or absent
        print(f"sweep {loaded.spec.name}: {len(loaded.points)} points x {len(loaded.spec.seeds)} "
              f"seeds = {loaded.runs} runs of {loaded.scenario_path}", flush=True)
        result = run_sweep(loaded, stage.path, scheduler=args.scheduler, workers=args.workers,
                           progress=False if args.no_progress else None, limits=limits)
    _print_table(result)
    print(f"{len(result.rows)} runs in {result.wall_seconds} s; sweep.csv, sweep.json, sweep.html "
          f"in {out}")
    if not result.ok:
        which = "; ".join(f"point {r['index']} seed {r['seed']}: {r['error']}" for r in result.failed[:3])
        more = f" (and {len(result.failed) - 3} more)" if len(result.failed) > 3 else ""
        raise CheckFailed(f"{len(result.failed)} of {len(result.rows)} runs failed: {which}{more}")
    return 0


def _older_sweep(folder: Path) -> bool:
    """Whether ``folder`` looks like a sweep folder written before outputs had their marker."""
    return any((folder / name).exists() for name in ("sweep.json", "sweep.csv", "points"))


def _print_table(result: Any) -> None:
    """The rows as a rich table on stdout: every grid key and metric, with its unit; long
    headers and values wrap rather than being cut."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from sim.engine.sweep import override_value
    from sim.engine.units import key_unit, labelled, metric_unit

    spec = result.sweep.spec
    metrics = list(spec.metrics)
    table = Table(title=f"sweep {spec.name}", title_justify="left")
    for col in ("point", "seed"):
        table.add_column(col, justify="right")
    for key in spec.grid:
        table.add_column(labelled(key, key_unit(key)), justify="right", overflow="fold")
    table.add_column("ok")
    for metric in metrics:
        table.add_column(labelled(metric, metric_unit(metric)), justify="right", overflow="fold")
    cut = False
    for r in result.rows:
        values = [override_value(r["values"][k]) for k in spec.grid]
        shown = [v if len(v) <= MAX_VALUE else v[:MAX_VALUE - 1] + "…" for v in values]
        cut = cut or shown != values
        cells = [str(r["index"]), str(r["seed"]), *shown, "yes" if r["ok"] else "[red]FAILED[/red]"]
        cells += [_fmt(r["metrics"].get(m)) for m in metrics]
        table.add_row(*cells)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    if cut:
        console.print(f"(grid values longer than {MAX_VALUE} characters are cut here; sweep.csv and "
                      "sweep.json have them whole)")


#: Longest grid value the terminal table shows whole.
MAX_VALUE = 40


def _fmt(value: Any) -> str:
    """A metric for the terminal table."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
