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

import importlib
from typing import Any

#: Public name -> the module that defines it. Imports are lazy: reading a summary (replay,
#: sweeps) does not load matplotlib, which only drawing a report needs.
_EXPORTS = {
    "SUMMARY_SCHEMA": "reports.load",
    "TraceDigest": "reports.trace",
    "load_summary": "reports.load",
    "read_gas_csv": "reports.gascsv",
    "read_trace": "reports.trace",
    "render_html": "reports.render",
    "render_report": "reports.render",
    "report_page": "reports.render",
    "write_gas_csv": "reports.gascsv",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
