"""``pmrsim compile --out DIR [--format pmrsim|foundry|hardhat]``: artifacts per contract.

The layouts are those of :mod:`sim.artifacts`: pmrsim's own, a Foundry
``out/`` folder or a Hardhat ``artifacts/`` folder, each readable as is by
that tool. The folder is written whole or not at all (:mod:`sim.outputs`): a
previous ``compile`` output in ``DIR`` (of any layout) is replaced, any
other non-empty folder refused. In the Foundry and Hardhat layouts the
marker file is ``.pmrsim-output`` (no ``.json``: those tools read every
JSON file of the folder as an artifact).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.outputs import BARE_MARKER, MARKER, staged_output

#: The layouts ``--format`` accepts (:data:`sim.artifacts.FORMATS`, kept here so that
#: building the parser does not import the artifact writers).
FORMATS = ("pmrsim", "foundry", "hardhat")


def register(sub: Any) -> None:
    """Add the ``compile`` sub-command."""
    p = sub.add_parser("compile", help="compile the Vyper contracts to artifacts (pmrsim, Foundry "
                                       "or Hardhat layout)")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder (created, or replaced when it holds an earlier compile)")
    p.add_argument("--format", choices=FORMATS, default="pmrsim",
                   help="pmrsim: DIR/<Name>.json; foundry: a Foundry out/ folder "
                        "(DIR/<Name>.vy/<Name>.json); hardhat: a Hardhat artifacts/ folder "
                        "(DIR/contracts_vyper/<Name>.vy/<Name>.json, hh-vyper-artifact-1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compile (or take from the cache) and write one JSON file per contract."""
    from sim.contracts import write_artifacts

    out: Path = args.out
    # Foundry and Hardhat take every *.json file of their folder as an artifact: the marker
    # there has no .json suffix
    marker = MARKER if args.format == "pmrsim" else BARE_MARKER
    with staged_output(out, command="compile", legacy=_older_compile, marker=marker) as stage:
        written = write_artifacts(stage.path, args.format)
    for path in written:
        print(out / path.relative_to(stage.path))
    return 0


def _older_compile(folder: Path) -> bool:
    """Whether ``folder`` looks like a compile output written before outputs had their marker."""
    from sim.contracts import CONTRACT_NAMES

    return any((folder / f"{name}.json").is_file() for name in CONTRACT_NAMES)
