"""The run's summary figures and the texts of its files, shared by the runner and replay.

Kept apart from :mod:`sim.engine.runner` (which loads the whole engine) so a
replay re-deriving ``summary.json`` and ``gas.csv`` from a trace loads none of it.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from typing import Any

#: The ``schema`` value of ``summary.json``.
SUMMARY_SCHEMA = "pmrsim.summary/2"
#: The ``format`` of a trace's opening ``run`` record.
TRACE_FORMAT = "pmrsim.trace/2"


def gas_stats(values: Sequence[int] | Sequence[float]) -> dict[str, float]:
    """count, mean (to 0.1), min, max and total of an operation's gas figures."""
    ordered = sorted(values)
    return {"count": len(ordered), "mean": round(statistics.fmean(ordered), 1),
            "min": ordered[0], "max": ordered[-1], "total": sum(ordered)}


def latency_stats(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p95 and max of an operation's confirmation latencies."""
    ordered = sorted(values)
    return {"count": len(ordered), "p50": _quantile(ordered, 0.5),
            "p95": _quantile(ordered, 0.95), "max": ordered[-1]}


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_text(summary: dict[str, Any]) -> str:
    """``summary.json``'s text: indented, key-sorted JSON and a newline."""
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"


def gas_csv_text(gas: dict[str, dict[str, float]]) -> str:
    """``gas.csv``'s text for ``summary.json``'s ``gas`` section."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["operation", "count", "mean", "min", "max", "total"])
    for op, s in gas.items():
        writer.writerow([op, s["count"], s["mean"], s["min"], s["max"], s["total"]])
    return out.getvalue()
