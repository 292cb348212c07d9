"""``pmrsim report DIR [--out FILE]``: re-render a run folder's ``report.html``.

Reads ``DIR/summary.json`` and ``DIR/trace.jsonl`` (formats in
``reports/FORMATS.md``) and writes the self-contained page to ``FILE``
(default ``DIR/report.html``) whole or not at all (:mod:`sim.outputs`), so
bad input (exit 2, one line naming the file and line or key) leaves nothing
behind. ``DIR`` must be a complete run folder (the marker ``pmrsim run``
writes last, ``summary.json`` and ``trace.jsonl``); it is locked while it is
read, so a run cannot replace it halfway. An existing ``FILE`` is replaced
only when it is a page this command wrote.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import InputError
from sim.outputs import MARKER, read_marker, reading, staged_output


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "report",
        help="re-render a run folder's report.html",
        description="Render DIR/summary.json and DIR/trace.jsonl into one self-contained HTML "
        "page (inline CSS and SVG, no scripts, no external links).",
    )
    parser.add_argument("dir", metavar="DIR", help="run folder written by `pmrsim run --out DIR`")
    parser.add_argument("--out", metavar="FILE", default=None,
                        help="where to write the page (default: DIR/report.html)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render ``args.dir`` and print the path written; return the exit code."""
    from reports.render import REPORT_NAME, report_page  # matplotlib loads only when drawn

    run_dir = Path(args.dir)
    out = Path(args.out) if args.out else run_dir / REPORT_NAME
    with reading(run_dir, "report"):
        check_complete_run(run_dir)
        with staged_output(out, command="report", kind="file",
                           option="--out" if args.out else None,
                           recognise=is_report) as stage:
            text = report_page(run_dir)
            with open(stage.path, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(text)
    print(out)
    return 0


def check_complete_run(run_dir: Path) -> None:
    """:class:`InputError` unless ``run_dir`` is a complete run folder (see the module docstring)."""
    if not run_dir.exists():
        raise InputError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a folder (expected a run folder written by pmrsim run)")
    marker = read_marker(run_dir)
    if marker is None:
        raise InputError(f"{run_dir}: not a complete run folder (no {MARKER}: not written by "
                         "pmrsim run, or by an older pmrsim; run it again)")
    if marker["command"] != "run":
        raise InputError(f"{run_dir}: holds the output of pmrsim {marker['command']}, not a run")
    for name in ("summary.json", "trace.jsonl"):
        if not (run_dir / name).is_file():
            raise InputError(f"{run_dir}: not a complete run folder (no {name})")


def is_report(path: Path) -> bool:
    """Whether the file at ``path`` is a page written by ``pmrsim report`` (or a run)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
            stream.seek(max(0, path.stat().st_size - 512))
            tail = stream.read()
    except OSError:
        return False
    return head == b"<!DOCTYPE html>\n" and b"Rendered by pmrsim" in tail
