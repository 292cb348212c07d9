"""``pmrsim bench [--quick]``: run the benchmarks and print their headline ratios."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the ``bench`` sub-command."""
    p = sub.add_parser("bench", help="run the benchmarks (ratios against same-run baselines)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer seeds")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help="run only benchmarks whose script name contains NAME (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run, print the table, write JSON; exit 0 (benchmarks inform, they do not gate)."""
    from rich.console import Console
    from rich.table import Table

    from sim.bench import run_suite

    figures = run_suite(quick=args.quick, only=args.only,
                        echo=lambda line: print(line, file=sys.stderr))
    table = Table(title="pmrsim benchmarks" + (" (quick)" if args.quick else ""),
                  title_justify="left")
    for col in ("benchmark", "measure", "value", "target", ""):
        table.add_column(col)
    for f in figures:
        mark = "" if f.ok is None else ("ok" if f.ok else "[red]missed[/]")
        value = "-" if f.value != f.value else f"{f.value:g}"  # NaN: no figure (see target)
        table.add_row(f.benchmark, f.measure, value, f.target, mark)
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"quick": args.quick,
                                         "figures": [asdict(f) for f in figures]}, indent=2) + "\n")
    return 0
