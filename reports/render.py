"""Render a run folder (``summary.json`` + ``trace.jsonl``) into ``report.html``.

Everything is read and drawn in memory first; the page is then written to a
temporary file beside the target and renamed over it, so a failure never
leaves a partial report behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import InputError

from . import plots
from .html import (
    accounts_section,
    counter_table,
    figure,
    fmt,
    invariants_section,
    no_data,
    page,
    section,
    table,
)
from .load import load_summary
from .trace import TraceDigest, read_trace

SUMMARY_NAME = "summary.json"
TRACE_NAME = "trace.jsonl"
REPORT_NAME = "report.html"


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@dataclass
class PreparedTrace:
    """A trace's digest and the figures drawn from the trace alone (:data:`TRACE_FIGURES`)."""

    digest: TraceDigest
    figures: dict[str, str | None]


#: The figures drawn from the trace's digest alone, without the summary: name -> drawing.
TRACE_FIGURES: dict[str, Callable[[TraceDigest], str | None]] = {
    "latency": plots.plot_latency_cdf,
    "blocks": plots.plot_block_fullness,
    "accesses": plots.plot_accesses,
}


#: The figures drawn from the summary alone: name -> drawing.
SUMMARY_FIGURES: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "gas": lambda summary: plots.plot_gas(summary.get("gas") or {}),
    "gas_per_patient_year": plots.plot_gas_per_patient_year,
    "layouts": lambda summary: plots.plot_layouts(summary.get("layouts") or {}),
    "storage": lambda summary: plots.plot_storage_nodes(summary.get("storage") or {}),
}


def summary_figures(summary: Mapping[str, Any]) -> dict[str, str | None]:
    """:data:`SUMMARY_FIGURES` drawn from ``summary`` as ``summary.json`` will hold it (keys
    sorted, values through JSON), for :func:`render_report`'s ``figures``."""
    stored = json.loads(json.dumps(summary, sort_keys=True))
    return {name: draw(stored) for name, draw in SUMMARY_FIGURES.items()}


def prepare_trace(path: Path) -> PreparedTrace:
    """:func:`read_trace` of ``path`` with :data:`TRACE_FIGURES` drawn: the part of a report
    that needs no summary (the engine prepares it in a worker while it checks the run)."""
    digest = read_trace(path)
    return PreparedTrace(digest, {name: draw(digest) for name, draw in TRACE_FIGURES.items()})


def render_report(run_dir: Path | str, out: Path | str | None = None, *,
                  prepared: PreparedTrace | None = None,
                  figures: Mapping[str, str | None] | None = None) -> Path:
    """Render ``run_dir`` into ``out`` (default ``run_dir/report.html``); return the path written.

    ``summary.json`` is required; ``trace.jsonl`` is optional (its plots then
    say "no data"). ``prepared``: :func:`prepare_trace` of the folder's
    trace, when the caller has it already; ``figures``: :func:`summary_figures`
    of the folder's summary, likewise. Raises
    :class:`sim.errors.InputError` naming the file (and line or key) for a
    missing folder or malformed input; no output is left.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / REPORT_NAME
    if run_dir.is_dir() and not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise InputError(f"{out}: is a folder, expected the path of the HTML file to write")
    text = report_page(run_dir, prepared=prepared, figures=figures)
    try:
        write_atomically(out, text)
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out


def report_page(run_dir: Path, *, prepared: PreparedTrace | None = None,
                figures: Mapping[str, str | None] | None = None) -> str:
    """The page :func:`render_report` writes for ``run_dir`` (same arguments, same errors)."""
    if not run_dir.exists():
        raise InputError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a folder (expected a run folder with {SUMMARY_NAME})")
    summary = load_summary(run_dir / SUMMARY_NAME)
    trace_path = run_dir / TRACE_NAME
    drawn = dict(figures or {})
    if prepared is not None:
        drawn.update(prepared.figures)
        return render_html(summary, prepared.digest, figures=drawn)
    return render_html(summary, read_trace(trace_path) if trace_path.exists() else None,
                       figures=drawn)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_html(summary: Mapping[str, Any], digest: TraceDigest | None, *,
                figures: Mapping[str, str | None] | None = None) -> str:
    """The report page for a checked summary and an optional trace digest.

    ``figures``: those of :data:`TRACE_FIGURES` already drawn from ``digest``
    and of :data:`SUMMARY_FIGURES` from ``summary``.
    """
    trace_note = f"{TRACE_NAME} is absent" if digest is None else None
    d = digest if digest is not None else TraceDigest()
    drawn = dict(figures or {})
    for name, draw in TRACE_FIGURES.items():
        if name not in drawn:
            drawn[name] = draw(d)
    for name, draw_summary in SUMMARY_FIGURES.items():
        if name not in drawn:
            drawn[name] = draw_summary(summary)
    body = "".join((
        section("counts", counts_body(summary)),
        section("invariants", invariants_section(summary, digest)),
        section("accounts", accounts_section(summary)),
        section("gas", gas_body(summary, drawn)),
        section("latency", latency_body(summary, d, trace_note, drawn["latency"])),
        section("blocks", blocks_body(summary, d, trace_note, drawn["blocks"])),
        section("storage", storage_body(summary, d, drawn["storage"])),
        section("accesses", accesses_body(d, trace_note, drawn["accesses"])),
        section("reverts", reverts_body(summary, d, trace_note)),
        section("trace", trace_body(d, trace_note)),
    ))
    return page(summary, digest, body)


def counts_body(summary: Mapping[str, Any]) -> str:
    """The counts table and the transaction totals."""
    counts = summary.get("counts") or {}
    txs = summary.get("txs") or {}
    parts = [table(("what", "count"), [(k.replace("_", " "), v) for k, v in counts.items()])
             if counts
             else no_data("summary.json has no 'counts'")]
    if txs:
        names = {"per_s_wall": "per wall-clock second"}
        parts.append(table(("transactions", "value"),
                           [(names.get(k, k.replace("_", " ")), v) for k, v in txs.items()]))
    return "".join(parts)


def gas_body(summary: Mapping[str, Any], drawn: Mapping[str, str | None]) -> str:
    """Gas per operation (figure + table), per patient-year, and the layout comparison
    (``drawn``: :data:`SUMMARY_FIGURES`, drawn from ``summary``)."""
    gas = summary.get("gas") or {}
    parts = [figure(drawn["gas"], "Mean gas per transaction of each operation.",
                    "summary.json has no 'gas'")]
    if gas:
        rows = [(op, r.get("count"), r.get("mean"), r.get("min"), r.get("max"), r.get("total"))
                for op, r in sorted(gas.items())]
        parts.append(table(("operation", "count", "mean", "min", "max", "total"), rows))
    parts.append("<h3>Gas per patient-year</h3>")
    parts.append(figure(drawn["gas_per_patient_year"],
                        "Gas spent per patient per simulated year.",
                        "summary.json has no 'gas_per_patient_year'"))
    parts.append("<h3>Paper layout against private layout</h3>")
    layouts = summary.get("layouts") or {}
    svg = drawn["layouts"]
    parts.append(figure(svg, "Mean gas per operation in both layouts; the label is paper/private.",
                        "only one layout ran (summary.json 'layouts' needs 'private' and 'paper')"))
    if svg is not None:
        rows2 = [(op, a, b, round(b / a, 2) if a and b else None)
                 for op, a, b in plots.paired_layouts(layouts)]
        parts.append(table(("operation", "private mean", "paper mean", "paper / private"),
                           rows2, digits=(0, 1, 1, 2)))
    return "".join(parts)


def latency_body(summary: Mapping[str, Any], d: TraceDigest, trace_note: str | None,
                 svg: str | None) -> str:
    """The confirmation latency CDF (``svg``, drawn from ``d``) and the per-operation table."""
    sample = d.latency_all
    caption = "Confirmation latency (simulated seconds from submission to inclusion)"
    if sample.sampled:
        caption += f", from a fixed-seed sample of {len(sample.values):,} of {sample.seen:,}"
    parts = [figure(svg, caption + ".",
                    trace_note or "no transaction in trace.jsonl has a 'latency'")]
    latency = summary.get("latency") or {}
    if latency:
        rows = [(op, r.get("count"), r.get("p50"), r.get("p95"), r.get("max"))
                for op, r in sorted(latency.items())]
        parts.append(table(("operation", "count", "p50 (s)", "p95 (s)", "max (s)"), rows))
    else:
        parts.append(no_data("summary.json has no 'latency' table"))
    return "".join(parts)


def blocks_body(summary: Mapping[str, Any], d: TraceDigest, trace_note: str | None,
                svg: str | None) -> str:
    """Block fullness over time (``svg``, drawn from ``d``) and the capacity figures."""
    caption = "Block gas used as a share of the block gas limit over simulated time"
    if d.blocks.width > 1:
        caption += f" (binned by {d.blocks.width} blocks)"
    parts = [figure(svg, caption + ".",
                    trace_note or "trace.jsonl has no 'block' records")]
    if d.block_count:
        parts.append(f"<p>{fmt(d.block_count)} blocks; {fmt(d.full_blocks)} at least 95% full.</p>")
    capacity = summary.get("capacity") or {}
    parts.append(table(("capacity", "value"), [(k.replace("_", " "), v) for k, v in
                                                capacity.items()])
                 if capacity else no_data("summary.json has no 'capacity'"))
    return "".join(parts)


def storage_body(summary: Mapping[str, Any], d: TraceDigest, svg: str | None) -> str:
    """Bytes per storage node (``svg``, drawn from the summary), the storage totals and
    storage events of the trace."""
    storage = summary.get("storage") or {}
    parts = [figure(svg, "Bytes held by each storage node.",
                    "summary.json has no 'storage.nodes'")]
    totals = [(k.replace("_", " "), v) for k, v in storage.items() if k != "nodes"]
    if storage.get("bytes_logical") and storage.get("bytes_stored") is not None:
        totals.append(("stored / logical", round(storage["bytes_stored"] / storage["bytes_logical"], 3)))
    if totals:
        parts.append(table(("storage", "value"), totals, digits=2))
    if d.storage_events:
        parts.append("<h3>Storage events in the trace</h3>")
        parts.append(counter_table(("event", "count"), d.storage_events))
    return "".join(parts)


def accesses_body(d: TraceDigest, trace_note: str | None, svg: str | None) -> str:
    """Cumulative released/denied accesses (``svg``, drawn from ``d``), access modes and
    denial reasons."""
    parts = [figure(svg, "Cumulative records released and accesses denied.",
                    trace_note or "trace.jsonl has no 'access' records")]
    if d.access_modes:
        parts.append(counter_table(("mode", "access attempts"), d.access_modes))
    if d.denials:
        parts.append("<h3>Why accesses were denied</h3>")
        parts.append(counter_table(("reason", "denied"), d.denials))
    return "".join(parts)


def reverts_body(summary: Mapping[str, Any], d: TraceDigest, trace_note: str | None) -> str:
    """Revert reasons of the trace's failed transactions."""
    if not d.reverts:
        reverted = (summary.get("txs") or {}).get("reverted")
        if trace_note is None and d.kinds.get("tx"):
            return "<p>No transaction reverted.</p>"
        return no_data(trace_note or "trace.jsonl has no 'tx' records") + (
            f"<p>summary.json counts {fmt(reverted)} reverted.</p>" if reverted else "")
    return counter_table(("revert reason", "transactions"), d.reverts)


def trace_body(d: TraceDigest, trace_note: str | None) -> str:
    """Lines per record kind in the trace."""
    if trace_note is not None:
        return no_data(trace_note)
    if not d.lines:
        return no_data("trace.jsonl is empty")
    return (f"<p>{fmt(d.lines)} records over {fmt(d.t_max)} simulated seconds.</p>"
            + counter_table(("kind", "records"), d.kinds))
