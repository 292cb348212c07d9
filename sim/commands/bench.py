"""``pmrsim bench [--quick] [--check] [--json FILE] [--write-results PATH]``: run the benchmarks
and print their headline figures; ``--write-results`` regenerates the results file
(``docs/results.md``), also from figures ``--json`` wrote before (``--from-json``).

Exit 1 when a figure misses its target (each one named on stderr); with
``--check``, also when a figure could not be measured (a baseline or peer
unavailable, a benchmark that failed), so a run that measured less cannot
pass for one that met every target.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sim.errors import CheckFailed, InputError


def register(sub: Any) -> None:
    """Add the ``bench`` sub-command."""
    p = sub.add_parser("bench", help="run the benchmarks (ratios against same-run baselines)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer seeds")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help="run only benchmarks whose script name contains NAME (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--write-results", type=Path, default=None, metavar="PATH",
                   help="regenerate the results file PATH (docs/results.md) from the figures, "
                        "keeping its hand-kept text below the marker line")
    p.add_argument("--from-json", type=Path, default=None, metavar="FILE",
                   help="take the figures from FILE (written by --json) instead of running the "
                        "benchmarks")
    p.add_argument("--check", action="store_true",
                   help="exit 1 also when a figure could not be measured (a missed target "
                        "always exits 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run, print the table, write JSON; exit 1 on a missed target (or, with --check, a
    missing figure)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from sim.bench import bench_data, figures_from, missed, missing, run_suite, write_results

    if args.from_json is not None:
        if args.quick or args.only:
            raise InputError("--from-json: the figures are the file's; --quick and --only run "
                             "benchmarks, so they do not go with it")
        try:
            data = json.loads(args.from_json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"--from-json {args.from_json}: not readable JSON ({exc})") from None
        figures = figures_from(data, f"--from-json {args.from_json}")
        quick = bool(data.get("quick")) if isinstance(data, dict) else False
    else:
        figures = run_suite(quick=args.quick, only=args.only,
                            echo=lambda line: print(line, file=sys.stderr))
        data = bench_data(figures, quick=args.quick)
        quick = args.quick
    table = Table(title="pmrsim benchmarks" + (" (quick)" if quick else ""),
                  title_justify="left")
    for col in ("benchmark", "measure", "value", "target", ""):
        table.add_column(col)
    for f in figures:
        mark = "" if f.ok is None else ("ok" if f.ok else "[red]missed[/]")
        value = "-" if f.value != f.value else f"{f.value:g}"  # NaN: no figure (see target)
        table.add_row(escape(f.benchmark), escape(f.measure), value, escape(f.target), mark)
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if args.write_results:
        write_results(data, args.write_results)
    problems = [f"{f.benchmark}: {f.measure} = {f.value:g}, target {f.target}"
                for f in missed(figures)]
    if args.check:
        problems += [f"{f.benchmark}: {f.measure}: {f.target}" for f in missing(figures)
                     if f.ok is not False]
    if problems:
        raise CheckFailed(f"{len(problems)} benchmark figure(s) "
                          f"{'missed or missing' if args.check else 'missed their target'}: "
                          + "; ".join(problems))
    return 0
