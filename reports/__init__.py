"""Render a pmrsim run folder into one self-contained ``report.html``.

A run folder holds ``summary.json``, ``trace.jsonl`` and ``gas.csv`` (their
formats are in ``reports/FORMATS.md``). The public API:

- :func:`render_report` — render ``run_dir`` into ``report.html`` (atomically).
- :func:`report_page` — the page text of ``run_dir`` (what :func:`render_report` writes).
- :func:`render_html` — the page text for an already loaded summary and trace digest.
- :func:`load_summary` — read and type-check ``summary.json``.
- :func:`read_trace` — stream ``trace.jsonl`` into a bounded :class:`TraceDigest`.
- :class:`TraceDigest` — what the report keeps of a trace (samples, binned series, counters).
- :func:`write_gas_csv` / :func:`read_gas_csv` — write and read ``gas.csv``.
- :data:`SUMMARY_SCHEMA` — the ``schema`` value of ``summary.json`` understood here.

Malformed input raises :class:`sim.errors.InputError` naming the file and
the line or key.
"""

from __future__ import annotations

from .gascsv import read_gas_csv, write_gas_csv
from .load import SUMMARY_SCHEMA, load_summary
from .render import render_html, render_report, report_page
from .trace import TraceDigest, read_trace

__all__ = [
    "SUMMARY_SCHEMA",
    "TraceDigest",
    "load_summary",
    "read_gas_csv",
    "read_trace",
    "render_html",
    "render_report",
    "report_page",
    "write_gas_csv",
]
