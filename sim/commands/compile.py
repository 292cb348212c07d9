"""``pmrsim compile --out DIR``: write abi + bytecode JSON per contract.

The folder is written whole or not at all (:mod:`sim.outputs`): a previous
``compile`` output in ``DIR`` is replaced, any other non-empty folder refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.outputs import staged_output


def register(sub: Any) -> None:
    """Add the ``compile`` sub-command."""
    p = sub.add_parser("compile", help="compile the Vyper contracts to abi + bytecode JSON")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder (created, or replaced when it holds an earlier compile)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compile (or take from the cache) and write one JSON file per contract."""
    from sim.contracts import write_artifacts

    out: Path = args.out
    with staged_output(out, command="compile", legacy=_older_compile) as stage:
        written = write_artifacts(stage.path)
    for path in written:
        print(out / path.name)
    return 0


def _older_compile(folder: Path) -> bool:
    """Whether ``folder`` looks like a compile output written before outputs had their marker."""
    from sim.contracts import CONTRACT_NAMES

    return any((folder / f"{name}.json").is_file() for name in CONTRACT_NAMES)
