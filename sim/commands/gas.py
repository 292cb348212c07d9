"""``pmrsim gas``: gas per operation for each layout, with floors, ratios and a baseline check."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from sim.gas import (
    BASELINE_PATH,
    OZ_ENUMERABLE_MINT,
    GasRow,
    check,
    load_baseline,
    measure,
    to_json,
    write_baseline,
)


def register(sub: Any) -> None:
    """Add the ``gas`` sub-command."""
    p = sub.add_parser("gas", help="gas per operation of the paper's use cases, per layout")
    p.add_argument("--layout", choices=["private", "paper", "both"], default="both")
    p.add_argument("--token", choices=["erc721", "erc1155", "both"], default="erc721")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true",
                   help="exit 1 when any operation uses more gas than the baseline")
    p.add_argument("--baseline", type=Path, default=BASELINE_PATH, help="baseline JSON file")
    p.add_argument("--update-baseline", action="store_true", help="write the baseline file")
    p.add_argument("--profile", metavar="OPERATION", default=None,
                   help="where OPERATION's gas goes, by Vyper source line (e.g. PMRToken.mint; "
                        "layout: --layout, private when both; token: --token)")
    p.add_argument("--top", type=int, default=25, metavar="N",
                   help="--profile: the N lines that use the most gas (default 25; 0: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure, print, and optionally check or update the baseline (or ``--profile`` one
    operation)."""
    if args.profile:
        return _profile(args)
    layouts = ("private", "paper") if args.layout == "both" else (args.layout,)
    tokens = ("erc721", "erc1155") if args.token == "both" else (args.token,)
    rows = [row for token in tokens for row in measure(layouts, token=token, seed=args.seed)]
    print(render(rows, args.format), end="")
    if args.update_baseline:
        write_baseline(args.baseline, rows)
    if args.check:
        check(rows, load_baseline(args.baseline))
        if args.format == "table":
            print(f"gas check: no operation above {args.baseline}")
    return 0


def render(rows: list[GasRow], fmt: str) -> str:
    """The rows as a table, CSV or JSON."""
    if fmt == "json":
        return to_json(rows)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["layout", "token", "operation", "gas", "floor", "ratio"])
        for r in rows:
            writer.writerow([r.layout, r.token, r.operation, r.gas, r.floor, f"{r.ratio:.3f}"])
        return buf.getvalue()
    return _table(rows)


def _table(rows: list[GasRow]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Gas per operation (steady state)", title_justify="left")
    for col, justify in (("layout", "left"), ("token", "left"), ("operation", "left"), ("gas", "right"),
                         ("floor", "right"), ("gas/floor", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio <= 1.3 else f"[yellow]{r.ratio:.2f}[/]"
        table.add_row(r.layout, r.token, r.operation, f"{r.gas:,}", f"{r.floor:,}", ratio)
    console = Console(file=io.StringIO(), width=100, force_terminal=False)
    console.print(table)
    for mint in (r for r in rows if r.layout == "private"
                 and r.operation in ("PMRToken.mint", "PMRMulti.mint")):
        console.print(
            f"{mint.operation} without the 21,000 base: {mint.gas - 21_000:,} gas "
            f"(OpenZeppelin ERC721Enumerable mint: {OZ_ENUMERABLE_MINT:,})"
        )
    console.print("floor = 21,000 + calldata + slots written (22,100 new, 5,000 changed, 2,200 given "
                  "again unchanged) + logs")
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)


def _profile(args: argparse.Namespace) -> int:
    """``--profile OPERATION``: the operation's gas by source line."""
    import json
    from dataclasses import asdict

    from sim.errors import InputError
    from sim.gasprofile import profile

    if args.check or args.update_baseline or args.format == "csv":
        raise InputError("--profile: prints a table or JSON; not with --check, "
                         "--update-baseline or --format csv")
    if args.top < 0:
        raise InputError(f"--top {args.top}: expected 0 (all lines) or more")
    layout = "private" if args.layout == "both" else args.layout
    token = "erc721" if args.token == "both" else args.token
    result = profile(args.profile, layout=layout, token=token, seed=args.seed)
    if args.format == "json":
        print(json.dumps({"operation": result.operation, "layout": layout, "token": token,
                          "gas_used": result.gas_used, "intrinsic": result.intrinsic,
                          "execution": result.execution, "refund": result.refund,
                          "lines": [asdict(line) for line in result.lines]}, indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    shown = result.lines if args.top == 0 else result.lines[:args.top]
    table = Table(title=f"{result.operation} ({layout}, {token}): {result.gas_used:,} gas used",
                  title_justify="left")
    for col, justify in (("gas", "right"), ("%", "right"), ("where", "left"), ("source", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for line in shown:
        where = f"{line.file}:{line.line}" if line.line else f"{line.contract} <dispatch>"
        table.add_row(f"{line.gas:,}", f"{100 * line.gas / result.gas_used:.1f}", escape(where),
                      escape(line.text))
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(table)
    rest = result.execution - sum(line.gas for line in shown)
    console.print(f"execution {result.execution:,} (shown {result.execution - rest:,}, "
                  f"{len(result.lines) - len(shown)} more lines {rest:,}) + intrinsic "
                  f"{result.intrinsic:,} (21,000 + calldata) - refund {result.refund:,} = "
                  f"{result.gas_used:,} gas used")
    return 0
