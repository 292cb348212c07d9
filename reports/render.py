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
from .capacity_html import capacity_body, capacity_figure
from .gas_html import gas_body
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
    "latency_load": plots.plot_latency_load,
    "blocks": plots.plot_block_fullness,
    "accesses": plots.plot_accesses,
    "storage_timeline": lambda d: plots.plot_storage_timeline(d, d.storage_nodes or 0),
}


#: The figures drawn from the summary alone: name -> drawing.
SUMMARY_FIGURES: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "gas": lambda summary: plots.plot_gas(summary.get("gas") or {}),
    "steady_state": plots.plot_steady_state,
    "layouts": lambda summary: plots.plot_layouts(summary.get("layouts") or {}),
    "storage": lambda summary: plots.plot_storage_nodes(summary.get("storage") or {}),
    "latency_ops": lambda summary: plots.plot_latency_ops(
        summary.get("latency") or {}, (summary.get("capacity") or {}).get("block_time")),
    "capacity": capacity_figure,
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
        section("latency", latency_body(summary, d, trace_note, drawn)),
        section("blocks", blocks_body(summary, d, trace_note, drawn["blocks"])),
        section("capacity", capacity_body(summary, drawn["capacity"])),
        section("storage", storage_body(summary, d, drawn)),
        section("accesses", accesses_body(summary, d, trace_note, drawn["accesses"])),
        section("reverts", reverts_body(summary, d, trace_note)),
        section("trace", trace_body(d, trace_note)),
    ))
    return page(summary, digest, body)


#: What each count counts (the report's Counts table and FORMATS.md say the same).
COUNT_MEANINGS = {
    "hospitals": "hospitals verified by a regulator",
    "doctors": "doctors onboarded by a verified hospital",
    "patients": "patients registered at a hospital desk",
    "visits": "visits whose record was written on chain (a new PMR token, or a version of "
              "the day's token)",
    "pmr_tokens": "PMR tokens minted (one per patient and visit date)",
    "lab_reports": "lab reports posted on chain (LabReports.post)",
    "grants": "access grants recorded on chain (AccessGrants.grant)",
    "accesses": "reads recorded on chain (AccessGrants.use, under a grant or in an emergency)",
    "denied": "forbidden attempts denied for an expected reason (configured attacks and reads "
              "after a grant ended; see Operations and attacks)",
    "records_released": "records rebuilt and handed to a doctor (the Accesses chart's "
                        "'released')",
    "access_denied": "reads refused by a custodian, by the chain or by the sharing scheme (the "
                     "Accesses chart's 'denied')",
    "emergency_accesses": "break-glass windows opened (AccessGrants.emergency_access)",
    "iomt_batches": "IoMT windows anchored on chain, one transaction each",
    "iomt_readings": "IoMT readings taken",
    "studies_stored": "lab studies split and stored on the swarm",
    "tampered_fragments_detected": "fragments whose integrity tag failed at a rebuild (left out)",
    "storage_deferred": "lab studies not stored: fewer than n custodians online",
    "replication_shortfalls": "manifests pinned on fewer nodes than the replication minimum",
    "retrieval_failures": "manifests a rebuild could not fetch",
}

#: What each transaction figure counts.
TX_MEANINGS = {
    "total": "transactions mined, the deployment's excluded (attacks' included)",
    "reverted": "of them, reverted (an attack's forbidden step is meant to revert)",
    "per_s_wall": "transactions per wall-clock second of this run (not a capacity figure)",
}


def _in_order(values: Mapping[str, Any], known: Mapping[str, str]) -> list[str]:
    """``values``' keys: the known ones in their documented order, then the rest by name."""
    return [k for k in known if k in values] + sorted(k for k in values if k not in known)


def counts_body(summary: Mapping[str, Any]) -> str:
    """The counts, each with what it counts, and the transaction totals."""
    counts = summary.get("counts") or {}
    txs = summary.get("txs") or {}
    parts = [table(("what", "count", "what it counts"),
                   [(k.replace("_", " "), counts[k], COUNT_MEANINGS.get(k, ""))
                    for k in _in_order(counts, COUNT_MEANINGS)])
             if counts
             else no_data("summary.json has no 'counts'")]
    if txs:
        parts.append(table(("transactions", "value", "what it counts"),
                           [(k.replace("_", " "), txs[k], TX_MEANINGS.get(k, ""))
                            for k in _in_order(txs, TX_MEANINGS)]))
    return "".join(parts)


def latency_body(summary: Mapping[str, Any], d: TraceDigest, trace_note: str | None,
                 drawn: Mapping[str, str | None]) -> str:
    """Latency percentiles per operation against one block time, latency against the load of
    the block a transaction landed in, and the per-operation table."""
    block_time = (summary.get("capacity") or {}).get("block_time") or d.block_time
    latency = summary.get("latency") or {}
    parts = [figure(drawn["latency_ops"],
                    "Confirmation latency of each operation (simulated seconds from submission to "
                    "inclusion): p50, p95 and max; the dashed line is one block time.",
                    "summary.json has no 'latency' table")]
    seen = d.latency_all.seen
    if seen and block_time:
        share = d.late / seen
        parts.append(
            f"<p>{fmt(d.late)} of {fmt(seen)} confirmed transactions ({share:.1%}; the "
            "deployment's included) waited longer than one "
            f"block time ({fmt(block_time, 0)} s). The others were included in the first block "
            "after their submission: their latency is the wait for that block's slot, set by "
            "the block time, not by load.</p>")
    caption = ("Latency of each transaction against the gas used by the block it landed in "
               "(% of the block gas limit)")
    if d.latency_load.sampled:
        caption += (f", a fixed-seed sample of {len(d.latency_load.values):,} of "
                    f"{d.latency_load.seen:,}")
    parts.append(figure(drawn["latency_load"], caption + ": latency rises above one block "
                        "time only when blocks fill.",
                        trace_note or "no transaction in trace.jsonl has a 'latency'"))
    if latency:
        rows = [(op, r.get("count"), r.get("p50"), r.get("p95"), r.get("max"))
                for op, r in sorted(latency.items())]
        parts.append(table(("operation", "transactions", "p50 (s)", "p95 (s)", "max (s)"), rows))
    return "".join(parts)


#: What each capacity figure is.
CAPACITY_MEANINGS = {
    "block_time": "seconds between blocks",
    "block_gas_limit": "gas one block may use",
    "gas_per_second": "gas the chain can carry per second (limit / block time)",
    "gas_per_visit": "gas of one visit in steady state, with its share of lab reports, grants, "
                     "reads and revokes (Gas, steady state)",
    "visits_per_day": "visits a day the chain could carry at that gas per visit, with nothing "
                      "else on it",
}


def blocks_body(summary: Mapping[str, Any], d: TraceDigest, trace_note: str | None,
                svg: str | None) -> str:
    """Block fullness over time (``svg``, drawn from ``d``), its headroom, the capacity figures."""
    caption = "Block gas used as a share of the block gas limit over simulated time"
    if d.blocks.width > 1:
        caption += f" (binned by {d.blocks.width} blocks)"
    parts = [figure(svg, caption + ".",
                    trace_note or "trace.jsonl has no 'block' records")]
    if d.block_count:
        mean = d.fullness_sum / d.block_count
        peak = d.fullness_max
        parts.append(
            f"<p>{fmt(d.block_count)} blocks (a block is mined only in a slot with pending "
            f"transactions); they used {mean:.2%} of the limit on average and {peak:.2%} at "
            f"most; {fmt(d.full_blocks)} were at least 95% full."
            + (f" The busiest block left room for {1 / peak:,.0f} times its load: this run's "
               "load is far from what the chain can carry." if 0 < peak < 0.5 else "")
            + "</p>")
    capacity = summary.get("capacity") or {}
    parts.append(table(("capacity", "value", "what it is"),
                       [(k.replace("_", " "), capacity[k], CAPACITY_MEANINGS.get(k, ""))
                        for k in _in_order(capacity, CAPACITY_MEANINGS)])
                 if capacity else no_data("summary.json has no 'capacity'"))
    return "".join(parts)


#: What each storage total is.
STORAGE_MEANINGS = {
    "records": "lab studies stored, each encrypted and split into n fragments on n custodians",
    "bytes_logical": "bytes of those studies before encryption and splitting",
    "bytes_stored": "bytes all nodes hold at the end: fragments, manifests and their replicas",
    "retrievals": "retrievals started (a manifest or a fragment, for a rebuild)",
    "retrieval_failures": "retrievals that could not get every block from an honest node online",
    "corrupt_blocks": "blocks that failed their CID check (a byzantine node's); each was "
                      "fetched again from another node",
    "repairs": "replicas re-created by the repair process after a node went down",
    "bytes_repaired": "bytes those repairs copied between nodes",
    "node_departures": "times a custodian went down (churn)",
    "node_returns": "times a custodian came back",
    "failures": "storage steps of a record that failed: a study not stored (too few "
                "custodians online) or a rebuild short of fragments",
    "stored / logical": "bytes held per byte of study",
}


def _storage_story(summary: Mapping[str, Any], d: TraceDigest) -> str:
    """What the storage totals mean for this run, in sentences."""
    storage = summary.get("storage") or {}
    ops = summary.get("operations") or {}
    said = []
    failed = storage.get("retrieval_failures") or 0
    if failed:
        rebuild = ops.get("record.rebuild") or {}
        said.append(
            f"{fmt(failed)} of {fmt(storage.get('retrievals'))} retrievals failed. A fragment "
            "lives on one custodian only (the sharing scheme's redundancy is its n - t spare "
            "fragments, not copies), so a fragment whose custodian is down, or byzantine, "
            "cannot be fetched; the rebuild then takes another custodian's"
            + (f": {fmt(rebuild.get('confirmed'))} of {fmt(rebuild.get('attempted'))} rebuilds "
               "succeeded." if rebuild else "."))
    corrupt = storage.get("corrupt_blocks") or 0
    if corrupt:
        said.append(f"{fmt(corrupt)} blocks failed their CID check: every block a byzantine "
                    "node serves is tampered; each was detected, blamed on that node, and "
                    "fetched from another holder where there was one.")
    elif d.byzantine_nodes:
        said.append(f"{d.byzantine_nodes} byzantine node(s) configured, but no block they "
                    "served was asked for.")
    if storage.get("repairs"):
        said.append(f"{fmt(storage['repairs'])} replicas were re-created after "
                    f"{fmt(storage.get('node_departures'))} node departures, copying "
                    f"{fmt(storage.get('bytes_repaired'))} bytes; replicas above the maximum "
                    "are dropped when a node comes back.")
    return "".join(f"<p>{s}</p>" for s in said)


def storage_body(summary: Mapping[str, Any], d: TraceDigest,
                 drawn: Mapping[str, str | None]) -> str:
    """Bytes per storage node, the storage totals with what each is, what they mean, the
    timeline of nodes, repairs and failures, and the storage events of the trace."""
    storage = summary.get("storage") or {}
    parts = [figure(drawn["storage"], "Bytes each storage node holds at the end of the run.",
                    "summary.json has no 'storage.nodes'")]
    totals: list[tuple[str, Any, str]] = [
        (k.replace("_", " "), storage[k], STORAGE_MEANINGS.get(k, ""))
        for k in _in_order(storage, STORAGE_MEANINGS) if k != "nodes"]
    if storage.get("bytes_logical") and storage.get("bytes_stored") is not None:
        totals.append(("stored / logical",
                       round(storage["bytes_stored"] / storage["bytes_logical"], 3),
                       STORAGE_MEANINGS["stored / logical"]))
    if totals:
        parts.append(table(("storage", "value", "what it is"), totals, digits=2))
    parts.append(_storage_story(summary, d))
    parts.append("<h3>Timeline</h3>")
    parts.append(figure(drawn["storage_timeline"],
                        "Over simulated time: custodian nodes online (churn); replicas the repair "
                        "process re-created and the bytes it copied; corrupt blocks detected and "
                        "failed retrievals or storage steps.",
                        "no storage event in trace.jsonl besides stores and retrievals (no "
                        "churn, no byzantine node, no failure)"))
    if d.storage_events:
        parts.append("<h3>Storage events in the trace</h3>")
        parts.append(counter_table(("event", "records"), d.storage_events))
    return "".join(parts)


#: What each access mode means.
ACCESS_MODES = {
    "grant": "released under a grant (or an emergency window)",
    "custodian": "a custodian refused its key share (no valid grant on chain)",
    "chain": "AccessGrants.use reverted on chain",
    "rebuild": "the sharing scheme refused (a forged share or tampered fragment)",
}


def accesses_body(summary: Mapping[str, Any], d: TraceDigest, trace_note: str | None,
                  svg: str | None) -> str:
    """Running totals of records released and reads denied (``svg``, drawn from ``d``), how
    each ended, and why reads were denied."""
    parts = [figure(svg, "Running totals of records released to a doctor and of access "
                    "attempts denied (the counts 'records released' and 'access denied').",
                    trace_note or "trace.jsonl has no 'access' records")]
    if d.access_modes:
        rows = sorted(d.access_modes.items(), key=lambda kv: (-kv[1], kv[0]))
        parts.append(table(("mode", "access records", "meaning"),
                           [(m, n, ACCESS_MODES.get(m, "")) for m, n in rows]))
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
