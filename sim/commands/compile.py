"""``pmrsim compile --out DIR``: write abi + bytecode JSON per contract."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import InputError


def register(sub: Any) -> None:
    """Add the ``compile`` sub-command."""
    p = sub.add_parser("compile", help="compile the Vyper contracts to abi + bytecode JSON")
    p.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compile (or take from the cache) and write one JSON file per contract."""
    from sim.contracts import write_artifacts

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    for path in write_artifacts(out):
        print(path)
    return 0
