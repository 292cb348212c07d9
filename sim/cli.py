"""The ``pmrsim`` command line.

Sub-commands live in :mod:`sim.commands`; this module only assembles them
and translates errors into exit codes: 0 success, 1 a check failed,
2 bad input (one line naming the file, key or field; no traceback),
128 + N when the command is stopped by signal N (SIGINT 130, SIGTERM 143,
SIGHUP 129; one line saying what became of the output, see
:mod:`sim.outputs`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sim.errors import CheckFailed, InputError, PmrsimError
from sim.interrupts import Interrupted, interrupts

#: Modules of :mod:`sim.commands` that contribute sub-commands, in help order.
COMMAND_MODULES = (
    "run",
    "sweep",
    "capacity",
    "report",
    "tour",
    "serve",
    "gas",
    "compile",
    "deploy",
    "cid",
    "share",
    "deid",
    "bench",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 2 with one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``pmrsim`` parser with every available sub-command."""
    from sim import __version__

    parser = _Parser(
        prog="pmrsim",
        description="Deterministic blockchain testbed for patient medical records.",
        epilog="Run `pmrsim COMMAND --help` for a command's options; README.md lists them all.",
    )
    parser.add_argument("--version", action="version", version=f"pmrsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"sim.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not there yet
            if exc.name == f"sim.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pmrsim`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `pmrsim`: the commands, not only "arguments are required"
        parser.print_help(sys.stderr)
        return 2
    try:
        with interrupts():
            code: int = args.func(args)
    except InputError as exc:
        print(f"pmrsim: error: {exc}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"pmrsim: check failed: {exc}", file=sys.stderr)
        return 1
    except PmrsimError as exc:
        print(f"pmrsim: error: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"pmrsim: interrupted by {exc.name}" + (f"; {exc.outcome}" if exc.outcome else ""),
              file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("pmrsim: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
