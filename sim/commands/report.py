"""``pmrsim report DIR [--out FILE]``: re-render a run folder's ``report.html``.

Reads ``DIR/summary.json`` and ``DIR/trace.jsonl`` (formats in
``reports/FORMATS.md``) and writes the self-contained page to ``FILE``
(default ``DIR/report.html``) through a temporary file, so bad input (exit 2,
one line naming the file and line or key) leaves nothing behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


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
    from reports import render_report  # matplotlib loads only when a report is drawn

    out = Path(args.out) if args.out else None
    print(render_report(Path(args.dir), out))
    return 0
