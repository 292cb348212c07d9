"""``sweep.html``: one self-contained page (inline CSS and SVG, no scripts) for a sweep's rows.

It reuses the run report's style (:data:`reports.html.CSS`, :func:`reports.html.table`)
and figure helpers (:data:`reports.plots.RC`, :func:`reports.plots.to_svg`): a
verdict, the sweep's settings, the requested figures (metric ``y`` against
grid key ``x``, one line per value of ``by``, mean over seeds with bars from
min to max), the mean of each metric per point, and every run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from reports.html import CSS, Markup, figure, no_data, table
from reports.plots import CYCLE, RC, WIDTH, to_svg
from sim.engine.units import key_unit, labelled, metric_unit

if TYPE_CHECKING:
    from sim.engine.sweep import PlotSpec, Sweep


def _short(value: float, _pos: object = None) -> str:
    """Axis labels: ``1.2 G``, ``3.4 M``, ``12,345``, ``0.25``."""
    if abs(value) >= 1e9:
        return f"{value / 1e9:,.3g} G"
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.3g} M"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _cell(value: Any) -> str | int | float | None:
    """A table cell: numbers as they are, booleans as yes/no, lists and mappings as YAML text."""
    from sim.engine.sweep import override_value

    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or isinstance(value, int | float | str):
        return value
    return override_value(value)


def _label(value: Any) -> str:
    """A grid value as text for legends and tick labels."""
    from sim.engine.sweep import override_value

    return override_value(value)


def _series(rows: Sequence[Mapping[str, Any]], spec: PlotSpec, xs: list[Any], bys: list[Any],
            ) -> list[tuple[Any, list[tuple[int, float, float, float]]]]:
    """Per ``by`` value: (position of x, mean, min, max) over the rows' numeric values of ``y``."""
    from sim.engine.sweep import numeric, override_value

    out = []
    for by in bys:
        points = []
        for i, x in enumerate(xs):
            values = numeric(r["metrics"].get(spec.y) for r in rows
                             if override_value(r["values"].get(spec.x)) == override_value(x)
                             and (spec.by is None
                                  or override_value(r["values"].get(spec.by)) == override_value(by)))
            if values:
                points.append((i, float(np.mean(values)), min(values), max(values)))
        if points:
            out.append((by, points))
    return out


#: Longest grid value written on an axis; longer ones are numbered (#0, #1, ...), the caption
#: saying what each number stands for.
MAX_TICK = 24


def tick_labels(values: Sequence[Any]) -> list[str]:
    """Axis labels of grid values: the values, or #0, #1, ... when one is too long."""
    labels = [_label(v) for v in values]
    return labels if all(len(x) <= MAX_TICK for x in labels) else [f"#{i}" for i in
                                                                    range(len(labels))]


def plot_sweep(sweep: Sweep, rows: Sequence[Mapping[str, Any]], spec: PlotSpec, name: str) -> str | None:
    """Metric ``spec.y`` against grid key ``spec.x``, one line per ``spec.by`` value, as inline SVG."""
    from sim.engine.sweep import numeric

    xs = list(sweep.spec.grid[spec.x])
    bys: list[Any] = list(sweep.spec.grid[spec.by]) if spec.by else [None]
    series = _series(rows, spec, xs, bys)
    if not series:
        return None
    numeric_x = len(numeric(xs)) == len(xs)
    positions = [float(x) for x in xs] if numeric_x else [float(i) for i in range(len(xs))]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(WIDTH, 3.4))
        ax = fig.add_subplot()
        for n, (by, points) in enumerate(series):
            px = np.asarray([positions[i] for i, _, _, _ in points])
            mean = np.asarray([m for _, m, _, _ in points])
            low = mean - np.asarray([lo for _, _, lo, _ in points])
            high = np.asarray([hi for _, _, _, hi in points]) - mean
            by_unit = key_unit(spec.by) if spec.by else ""
            label = (f"{spec.by} = {_label(by)}{' ' + by_unit if by_unit else ''}" if spec.by
                     else spec.y)
            ax.errorbar(px, mean, yerr=np.vstack([low, high]), color=CYCLE[n % len(CYCLE)], marker="o",
                        markersize=4, linewidth=1.4, capsize=3, label=label)
        labels = tick_labels(xs)
        if numeric_x:
            positive = [p for p in positions if p > 0]
            if len(positive) == len(positions) and max(positive) / min(positive) > 30:
                ax.set_xscale("log")
            ax.set_xticks(positions, labels)
        else:
            ax.set_xticks(positions, labels)
            ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.yaxis.set_major_formatter(FuncFormatter(_short))
        ax.set_xlabel(labelled(spec.x, key_unit(spec.x)))
        ax.set_ylabel(labelled(spec.y, metric_unit(spec.y)))
        if spec.by:
            ax.legend(fontsize=7)
        return to_svg(fig, name)


def _points_table(sweep: Sweep, rows: Sequence[Mapping[str, Any]]) -> str:
    """One row per point: grid values, runs ok out of seeds, mean of each metric over seeds."""
    from sim.engine.sweep import numeric

    head = ["point", *(labelled(k, key_unit(k)) for k in sweep.spec.grid), "ok runs",
            *(labelled(f"{m}, mean", metric_unit(m)) for m in sweep.spec.metrics)]
    body: list[list[Any]] = []
    classes = []
    for point in sweep.points:
        mine = [r for r in rows if r["index"] == point.index]
        ok = sum(1 for r in mine if r["ok"])
        means: list[Any] = []
        for metric in sweep.spec.metrics:
            values = numeric(r["metrics"].get(metric) for r in mine)
            means.append(float(np.mean(values)) if values else None)
        body.append([point.index, *(_cell(point.values[k]) for k in sweep.spec.grid),
                     f"{ok}/{len(mine)}", *means])
        classes.append("" if ok == len(mine) else "bad")
    return table(head, body, row_class=classes)


def _runs_table(sweep: Sweep, rows: Sequence[Mapping[str, Any]],
                reports: Mapping[tuple[int, int], str | None]) -> str:
    """Every run: its report, index, seed, grid values, ok, error, metrics, state root
    (shortened), wall seconds."""
    head = ["report", "point", "seed", *(labelled(k, key_unit(k)) for k in sweep.spec.grid), "ok",
            "error", *(labelled(m, metric_unit(m)) for m in sweep.spec.metrics), "state root",
            "wall s"]
    body = []
    for r in rows:
        root = r["state_root"]
        link = reports.get((r["index"], r["seed"]))
        cell = Markup(f'<a href="{escape(link)}">report</a>') if link else "—"
        body.append([cell, r["index"], r["seed"],
                     *(_cell(r["values"].get(k)) for k in sweep.spec.grid),
                     _cell(r["ok"]), r["error"] or "",
                     *(_cell(r["metrics"].get(m)) for m in sweep.spec.metrics),
                     (root[:12] + "…") if isinstance(root, str) else None, r["wall_seconds"]])
    digits = [0, 0, 0, *([3] * len(sweep.spec.grid)), 0, 0, *([1] * len(sweep.spec.metrics)), 0,
              2]
    return table(head, body, row_class=["" if r["ok"] else "bad" for r in rows], digits=digits)


def _scroll(html: str) -> str:
    """A wide table in a horizontally scrolling box."""
    return f'<div style="overflow-x:auto">{html}</div>'


def render_sweep(sweep: Sweep, rows: Sequence[Mapping[str, Any]],
                 reports: Mapping[tuple[int, int], str | None] | None = None) -> str:
    """The whole ``sweep.html`` document (``reports``: each run's report, relative to the
    sweep folder, by (index, seed))."""
    spec = sweep.spec
    failed = [r for r in rows if not r["ok"]]
    if failed:
        which = ", ".join(f"point {r['index']} seed {r['seed']}" for r in failed[:8])
        more = f" and {len(failed) - 8} more" if len(failed) > 8 else ""
        banner = (f'<p class="banner bad">{len(failed)} of {len(rows)} runs failed or broke their '
                  f"invariants: {escape(which + more)}.</p>")
    else:
        banner = f'<p class="banner ok">All {len(rows)} runs completed and met their invariants.</p>'
    meta = [
        ("sweep file", escape(str(sweep.path))),
        ("scenario", escape(str(sweep.scenario_path))),
        ("seeds", escape(", ".join(str(s) for s in spec.seeds))),
        ("grid", escape("; ".join(f"{k}: {_label(v)}" for k, v in spec.grid.items()) or "(none)")),
        ("fixed", escape("; ".join(f"{k}={_label(v)}" for k, v in spec.fixed.items()) or "(none)")),
        ("points × seeds", f"{len(sweep.points)} × {len(spec.seeds)} = {len(rows)} runs"),
    ]
    figures = []
    for i, plot in enumerate(spec.plot_specs()):
        svg = plot_sweep(sweep, rows, plot, f"sweep{i}")
        by = f", one line per {plot.by}" if plot.by else ""
        y_label = labelled(plot.y, metric_unit(plot.y))
        x_label = labelled(plot.x, key_unit(plot.x))
        xs = list(spec.grid[plot.x])
        legend = ("" if tick_labels(xs) == [_label(x) for x in xs] else " " + "; ".join(
            f"#{i}: {plot.x} = {_label(x)}" for i, x in enumerate(xs)) + ".")
        figures.append(f"<h3>{escape(y_label)} against {escape(x_label)}</h3>" + figure(
            svg, f"{y_label} against {x_label}{by}: mean over seeds, bars from min to max."
            + legend, f"no numeric value of {plot.y} in any run"))
    body = (f"<h2>Figures</h2>{''.join(figures) or no_data('no plots requested')}"
            f"<h2>Points (mean over seeds)</h2>{_scroll(_points_table(sweep, rows))}"
            f"<h2>Runs</h2>{_scroll(_runs_table(sweep, rows, reports or {}))}"
            "<p>Each run's folder is <code>points/&lt;point&gt;-seed&lt;seed&gt;/</code> (summary.json, "
            "trace.jsonl, gas.csv, report.html: the <em>report</em> links); the same rows are in "
            "sweep.csv and sweep.json.</p>")
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in meta)
    title = f"pmrsim sweep: {spec.name}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
            f"<header><h1>{escape(title)}</h1><p>{escape(spec.description)}</p>"
            f'<dl class="meta">{items}</dl>{banner}</header>{body}'
            "<footer>Rendered by pmrsim sweep from the rows in sweep.json; formats in "
            "docs/sweeps.md.</footer></main></body></html>\n")
