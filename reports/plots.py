"""The report's figures, drawn with matplotlib and returned as inline SVG text.

Figures are built with :class:`matplotlib.figure.Figure` directly (no
pyplot, so no global figure registry and no GUI backend is ever touched)
and saved as SVG with a fixed hash salt, text kept as text and no date, so
the same data always gives byte-identical SVG. Each ``plot_*`` function
returns ``None`` when its data is absent; the page then shows a note.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .trace import Reservoir, TraceDigest

#: Style for every figure; ``svg.hashsalt`` and no date make the SVG reproducible.
RC: dict[Any, Any] = {
    "svg.hashsalt": "pmrsim-report",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "path.simplify": True,
    "axes.formatter.useoffset": False,
}
#: Colours: private layout / released / overall first, then paper / denied / max.
BLUE, ORANGE, GREY = "#3465a4", "#e07b00", "#555753"
CYCLE = ("#3465a4", "#e07b00", "#4e9a06", "#75507b", "#c4a000", "#06989a", "#cc0000")
WIDTH = 7.5
#: Most operations drawn in the latency CDF besides the overall line.
MAX_CDF_OPS = 6
#: Most points in a drawn CDF.
MAX_CDF_POINTS = 400


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(RC):
        yield


def to_svg(fig: Figure, name: str) -> str:
    """``fig`` as an ``<svg>`` element whose ids are prefixed with ``name`` (unique per page)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', text)


def _thousands(value: float, _pos: object = None) -> str:
    if abs(value) >= 1e9:
        return f"{value / 1e9:,.3g} G"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.3g} M"
    return f"{value:,.0f}"


def _log_if_wide(ax: Axes, values: list[float], axis: str = "x") -> None:
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 30:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    formatter = FuncFormatter(_thousands)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(formatter)
    target.set_minor_formatter(FuncFormatter(lambda v, p: ""))


def time_unit(t_max: float) -> tuple[float, str]:
    """Divisor and name of the unit to show simulated time spanning ``t_max`` seconds."""
    if t_max >= 2 * 86_400:
        return 86_400.0, "days"
    if t_max >= 2 * 3_600:
        return 3_600.0, "hours"
    if t_max >= 120:
        return 60.0, "minutes"
    return 1.0, "seconds"


def _bar_height(n: int) -> float:
    return max(1.6, 0.6 + 0.28 * n)


def plot_gas(gas: Mapping[str, Mapping[str, float]]) -> str | None:
    """Horizontal bars of mean gas per operation, largest on top."""
    rows = sorted(((float(r["mean"]), op) for op, r in gas.items() if "mean" in r), reverse=True)
    if not rows:
        return None
    with _style():
        fig = Figure(figsize=(WIDTH, _bar_height(len(rows))))
        ax = fig.add_subplot()
        means = [m for m, _ in rows]
        y = np.arange(len(rows))
        ax.barh(y, means, color=BLUE)
        ax.set_yticks(y, [op for _, op in rows])
        ax.invert_yaxis()
        _log_if_wide(ax, means)
        for yi, m in zip(y, means, strict=True):
            ax.annotate(_thousands(m), (m, yi), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
        ax.set_xlabel("mean gas per transaction")
        ax.grid(axis="y", visible=False)
        return to_svg(fig, "gas")


def plot_gas_per_patient_year(summary: Mapping[str, Any]) -> str | None:
    """One bar of gas per patient-year, or one per layout when both layouts ran."""
    bars: list[tuple[str, float]] = []
    order = {"private": 0, "paper": 1}
    for name, layout in sorted((summary.get("layouts") or {}).items(),
                               key=lambda kv: (order.get(kv[0], 2), kv[0])):
        if layout.get("gas_per_patient_year") is not None:
            bars.append((name, float(layout["gas_per_patient_year"])))
    if not bars and summary.get("gas_per_patient_year") is not None:
        bars.append((str(summary.get("layout", "run")), float(summary["gas_per_patient_year"])))
    if not bars:
        return None
    with _style():
        fig = Figure(figsize=(WIDTH, _bar_height(len(bars)) + 0.3))
        ax = fig.add_subplot()
        y = np.arange(len(bars))
        colours = {"private": BLUE, "paper": ORANGE}
        ax.barh(y, [v for _, v in bars],
                color=[colours.get(n, CYCLE[(i + 2) % len(CYCLE)]) for i, (n, _) in enumerate(bars)])
        ax.set_yticks(y, [n for n, _ in bars])
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        for yi, (_, v) in zip(y, bars, strict=True):
            ax.annotate(_thousands(v), (v, yi), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)
        ax.set_xlabel("gas per patient per simulated year")
        ax.grid(axis="y", visible=False)
        return to_svg(fig, "gpy")


def _cdf_points(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    data = np.sort(np.asarray(values, dtype=float))
    xs, counts = np.unique(data, return_counts=True)
    ys = np.cumsum(counts) / len(data)
    if len(xs) > MAX_CDF_POINTS:
        probs = np.linspace(0.0, 1.0, MAX_CDF_POINTS)
        return np.quantile(data, probs), probs
    return np.concatenate(([xs[0]], xs)), np.concatenate(([0.0], ys))


def plot_latency_cdf(digest: TraceDigest) -> str | None:
    """CDF of confirmation latency: all transactions, plus the busiest operations."""
    if not digest.latency_all.values:
        return None
    busiest = sorted(digest.latency_by_op.items(), key=lambda kv: (-kv[1].seen, kv[0]))
    lines: list[tuple[str, Reservoir]] = [("all transactions", digest.latency_all)]
    lines += busiest[:MAX_CDF_OPS] if len(busiest) > 1 else []
    with _style():
        fig = Figure(figsize=(WIDTH, 3.6))
        ax = fig.add_subplot()
        for i, (label, sample) in enumerate(lines):
            xs, ys = _cdf_points(sample.values)
            ax.plot(xs, ys, drawstyle="steps-post", label=label, color=CYCLE[i % len(CYCLE)],
                    linewidth=2.4 if i == 0 else 1.0, zorder=3 if i == 0 else 2,
                    alpha=1.0 if i == 0 else 0.8)
        overall = np.asarray(digest.latency_all.values)
        p50, p95 = (float(v) for v in np.percentile(overall, [50, 95]))
        marks = [("p50 = p95", p50)] if p50 == p95 else [("p50", p50), ("p95", p95)]
        for name, x in marks:
            ax.axvline(x, color=GREY, linestyle="--", linewidth=0.8)
            ax.text(x, 1.01, f"{name} = {x:g} s", transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=7, color=GREY)
        positive = overall[overall > 0]
        if positive.size and positive.max() / positive.min() > 100:
            ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confirmation latency (simulated seconds)")
        ax.set_ylabel("fraction of transactions")
        ax.legend(fontsize=7, loc="lower right")
        return to_svg(fig, "latency")


def plot_block_fullness(digest: TraceDigest) -> str | None:
    """Gas used / gas limit per block over simulated time (mean per bin, max shaded)."""
    series = digest.blocks
    if not series.t:
        return None
    div, unit = time_unit(max(series.t))
    t = np.asarray(series.t) / div
    mean = np.asarray(series.mean) * 100
    with _style():
        fig = Figure(figsize=(WIDTH, 3.0))
        ax = fig.add_subplot()
        if series.width > 1:
            ax.fill_between(t, mean, np.asarray(series.peak) * 100, color=ORANGE, alpha=0.3,
                            linewidth=0, label=f"max of {series.width} blocks")
            label = f"mean of {series.width} blocks"
        else:
            label = "per block"
        ax.plot(t, mean, color=BLUE, linewidth=0.9, label=label)
        ax.set_ylim(0, max(5.0, float(np.max(series.peak)) * 110))
        ax.set_xlabel(f"simulated time ({unit})")
        ax.set_ylabel("block gas used (% of limit)")
        ax.legend(fontsize=7, loc="upper right")
        return to_svg(fig, "blocks")


def _natural(name: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _byte_unit(peak: float) -> tuple[float, str]:
    for div, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if peak >= div:
            return div, unit
    return 1.0, "bytes"


def plot_storage_nodes(storage: Mapping[str, Any]) -> str | None:
    """Bars of bytes stored per storage node."""
    nodes = storage.get("nodes") or {}
    if not nodes:
        return None
    names = sorted(nodes, key=_natural)
    values = [float(nodes[n]) for n in names]
    div, unit = _byte_unit(max(values))
    with _style():
        fig = Figure(figsize=(WIDTH, 3.0))
        ax = fig.add_subplot()
        x = np.arange(len(names))
        ax.bar(x, [v / div for v in values], color=BLUE)
        ax.set_xticks(x, names, rotation=45 if len(names) > 8 else 0,
                      ha="right" if len(names) > 8 else "center", fontsize=7)
        ax.set_ylabel(f"stored ({unit})")
        ax.grid(axis="x", visible=False)
        return to_svg(fig, "storage")


def plot_accesses(digest: TraceDigest) -> str | None:
    """Cumulative records released and access attempts denied over simulated time."""
    points = digest.access.series()
    if not points:
        return None
    t = np.asarray([p[0] for p in points])
    div, unit = time_unit(float(t.max()))
    with _style():
        fig = Figure(figsize=(WIDTH, 3.0))
        ax = fig.add_subplot()
        ax.plot(t / div, [p[1] for p in points], drawstyle="steps-post", color=BLUE,
                label=f"released ({digest.released:,})")
        ax.plot(t / div, [p[2] for p in points], drawstyle="steps-post", color=ORANGE,
                label=f"denied ({digest.denied:,})")
        ax.set_xlabel(f"simulated time ({unit})")
        ax.set_ylabel("cumulative accesses")
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.legend(fontsize=7, loc="upper left")
        return to_svg(fig, "accesses")


def layout_key(operation: str) -> str:
    """The operation name shared by both layouts (``mint_paper`` pairs with ``mint``)."""
    return re.sub(r"_paper\b", "", operation)


def paired_layouts(layouts: Mapping[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """``(operation, private mean, paper mean)`` for every operation of either layout."""
    means: dict[str, dict[str, float]] = {"private": {}, "paper": {}}
    for name in means:
        for op, row in (layouts.get(name, {}).get("gas") or {}).items():
            if "mean" in row:
                means[name][layout_key(op)] = float(row["mean"])
    ops = set(means["private"]) | set(means["paper"])
    rows = [(op, means["private"].get(op), means["paper"].get(op)) for op in ops]
    return sorted(rows, key=lambda r: (-max(r[1] or 0.0, r[2] or 0.0), r[0]))


def plot_layouts(layouts: Mapping[str, Any]) -> str | None:
    """Grouped bars of mean gas per operation, private layout beside the paper's."""
    if not (layouts.get("private", {}).get("gas") and layouts.get("paper", {}).get("gas")):
        return None
    rows = paired_layouts(layouts)
    with _style():
        fig = Figure(figsize=(WIDTH, max(2.0, 0.8 + 0.42 * len(rows))))
        ax = fig.add_subplot()
        y = np.arange(len(rows))
        h = 0.4
        private = [r[1] or 0.0 for r in rows]
        paper = [r[2] or 0.0 for r in rows]
        ax.barh(y - h / 2, private, h, color=BLUE, label="private (commitments and CIDs on chain)")
        ax.barh(y + h / 2, paper, h, color=ORANGE, label="paper (fields as strings on chain)")
        ax.set_yticks(y, [r[0] for r in rows])
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        for yi, (_, a, b) in zip(y, rows, strict=True):
            if a and b:
                ax.annotate(f"x{b / a:.2f}", (max(a, b), yi), xytext=(3, 0),
                            textcoords="offset points", va="center", fontsize=7, color=GREY)
        ax.set_xlabel("mean gas per transaction")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(axis="y", visible=False)
        return to_svg(fig, "layouts")
