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
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .trace import TraceDigest

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


def plot_steady_state(summary: Mapping[str, Any]) -> str | None:
    """Gas per patient-year in steady state, by activity (one bar group per layout when both
    layouts ran)."""
    order = {"private": 0, "paper": 1}
    layouts = summary.get("layouts") or {}
    runs = [(name, layout.get("steady_state") or {}) for name, layout in
            sorted(layouts.items(), key=lambda kv: (order.get(kv[0], 2), kv[0]))]
    if not any(steady.get("activities") for _, steady in runs):
        runs = [(str(summary.get("layout", "run")), summary.get("steady_state") or {})]
    runs = [(n, st) for n, st in runs if st.get("activities") and st.get("gas_per_patient_year")]
    if not runs:
        return None
    names = sorted({a for _, st in runs for a in st["activities"]},
                   key=lambda a: -max(float(st["activities"].get(a, {}).get(
                       "gas_per_patient_year", 0.0)) for _, st in runs))
    with _style():
        fig = Figure(figsize=(WIDTH, max(1.8, 0.7 + 0.3 * len(names) * len(runs))))
        ax = fig.add_subplot()
        y = np.arange(len(names))
        h = 0.8 / len(runs)
        colours = {"private": BLUE, "paper": ORANGE}
        for k, (layout, steady) in enumerate(runs):
            total = float(steady["gas_per_patient_year"])
            values = [float(steady["activities"].get(a, {}).get("gas_per_patient_year", 0.0))
                      for a in names]
            offset = (k - (len(runs) - 1) / 2) * h
            ax.barh(y + offset, values, h, color=colours.get(layout, CYCLE[(k + 2) % len(CYCLE)]),
                    label=f"{layout}: {_thousands(total)} gas per patient-year")
            for yi, v in zip(y, values, strict=True):
                if v > 0:
                    ax.annotate(f"{_thousands(v)} ({v / total:.0%})", (v, yi + offset),
                                xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        _log_if_wide(ax, [float(a.get("gas_per_patient_year", 0.0)) for _, st in runs
                          for a in st["activities"].values()])
        ax.set_xlabel("gas per patient-year in steady state (at the scenario's rates)")
        ax.grid(axis="y", visible=False)
        ax.legend(fontsize=7, loc="lower right")
        return to_svg(fig, "steady")


def plot_latency_ops(latency: Mapping[str, Mapping[str, float]],
                     block_time: float | None) -> str | None:
    """p50, p95 and max confirmation latency of each operation, against one block time."""
    rows = sorted(((op, r) for op, r in latency.items() if "p50" in r and "max" in r),
                  key=lambda kv: (-float(kv[1]["max"]), kv[0]))
    if not rows:
        return None
    with _style():
        fig = Figure(figsize=(WIDTH, _bar_height(len(rows)) + 0.4))
        ax = fig.add_subplot()
        y = np.arange(len(rows))
        for key, marker, colour, label in (("p50", "o", BLUE, "p50"), ("p95", "^", ORANGE, "p95"),
                                           ("max", "x", GREY, "max")):
            ax.scatter([float(r.get(key, np.nan)) for _, r in rows], y, marker=marker,
                       color=colour, label=label, zorder=3, s=22)
        for yi, (_, r) in zip(y, rows, strict=True):
            ax.plot([float(r["p50"]), float(r["max"])], [yi, yi], color=GREY, linewidth=0.6,
                    zorder=2)
        if block_time:
            ax.axvline(block_time, color=GREY, linestyle="--", linewidth=0.8)
            ax.text(block_time, 1.01, f"one block ({block_time:g} s)",
                    transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7,
                    color=GREY)
        ax.set_yticks(y, [op for op, _ in rows])
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_xlabel("confirmation latency, submission to inclusion (simulated seconds)")
        ax.grid(axis="y", visible=False)
        # above the axes, left: inside, it covered the markers of the last rows
        ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3,
                  frameon=False, borderaxespad=0.2)
        return to_svg(fig, "latops")


def plot_latency_load(digest: TraceDigest) -> str | None:
    """Each sampled transaction's latency against the fullness of the block it landed in."""
    pairs = digest.latency_load.values
    if not pairs:
        return None
    fullness = np.asarray([p[0] for p in pairs]) * 100
    latency = np.asarray([p[1] for p in pairs])
    with _style():
        fig = Figure(figsize=(WIDTH, 3.0))
        ax = fig.add_subplot()
        ax.scatter(fullness, latency, s=10, alpha=0.5, color=BLUE, linewidths=0)
        if digest.block_time:
            ax.axhline(digest.block_time, color=GREY, linestyle="--", linewidth=0.8)
            # at the right end, where loaded blocks are rare: at the left it sat on the points
            ax.text(0.99, digest.block_time, f"one block ({digest.block_time:g} s)",
                    transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=7,
                    color=GREY)
        positive = fullness[fullness > 0]
        if positive.size and positive.max() / positive.min() > 30:
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}%"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
        ax.set_xlabel("gas used by the block it landed in (% of the block gas limit)")
        ax.set_ylabel("latency (simulated s)")
        ax.set_ylim(0, max(float(latency.max()), digest.block_time or 0.0) * 1.15)
        return to_svg(fig, "latload")


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
                label=f"records released to a doctor ({digest.released:,})")
        ax.plot(t / div, [p[2] for p in points], drawstyle="steps-post", color=ORANGE,
                label=f"access attempts denied ({digest.denied:,})")
        ax.set_xlabel(f"simulated time ({unit})")
        ax.set_ylabel("running total")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
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


def plot_storage_timeline(digest: TraceDigest, custodians: int) -> str | None:
    """Storage over simulated time: custodian nodes online; running totals of repairs,
    failures and corrupt blocks; bytes copied by repairs."""
    points = digest.storage.series.series()
    if not points:
        return None
    t = np.asarray([p[0] for p in points] + [digest.t_max])
    last = points[-1]
    rows = [*points, (digest.t_max, *last[1:])]  # each line runs to the end of the run
    div, unit = time_unit(float(t.max()))
    x = t / div
    with _style():
        fig = Figure(figsize=(WIDTH, 5.4))
        axes = fig.subplots(3, 1, sharex=True, height_ratios=(1.0, 1.1, 0.9))
        axes[0].plot(x, [custodians - r[1] for r in rows], drawstyle="steps-post", color=BLUE)
        axes[0].set_ylim(-0.3, custodians + 0.5)
        axes[0].set_ylabel("custodians\nonline")
        axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].plot(x, [r[2] for r in rows], drawstyle="steps-post", color=BLUE,
                     label=f"replicas re-created ({int(last[2]):,})")
        axes[1].set_ylabel("repairs\n(running total)")
        axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
        moved = axes[1].twinx()
        bdiv, bunit = _byte_unit(max(float(last[3]), 1.0))
        moved.plot(x, [r[3] / bdiv for r in rows], drawstyle="steps-post", color=ORANGE,
                   linestyle="--", label=f"bytes copied ({last[3] / bdiv:,.3g} {bunit})")
        moved.set_ylabel(f"copied ({bunit})")
        moved.grid(visible=False)
        moved.spines["right"].set_visible(True)
        handles = axes[1].get_legend_handles_labels()[0] + moved.get_legend_handles_labels()[0]
        axes[1].legend(handles, [str(h.get_label()) for h in handles], fontsize=7,
                       loc="upper left")
        axes[2].plot(x, [r[4] for r in rows], drawstyle="steps-post", color=ORANGE,
                     label=f"corrupt blocks detected ({int(last[4]):,})")
        axes[2].plot(x, [r[5] for r in rows], drawstyle="steps-post", color=GREY,
                     label=f"failed retrievals and storage steps ({int(last[5]):,})")
        axes[2].set_ylabel("running total")
        axes[2].yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[2].legend(fontsize=7, loc="upper left")
        axes[2].set_xlabel(f"simulated time ({unit})")
        return to_svg(fig, "stortime")
