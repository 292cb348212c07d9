"""Assemble the self-contained ``report.html``: inline CSS, inline SVG, no scripts.

Every value taken from the run is escaped; nothing outside the run folder is
linked, so the page can be mailed or archived as one file. Text built here
uses only what ``summary.json`` and ``trace.jsonl`` contain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from .trace import TraceDigest

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
 margin:0;background:#fafafa}
main{max-width:60rem;margin:0 auto;padding:1rem 1.5rem 3rem;background:#fff}
h1{font-size:1.6rem;margin:.2rem 0}h2{border-bottom:2px solid #3465a4;padding-bottom:.2rem;
 margin-top:2.2rem}h3{margin-bottom:.3rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.8rem 0}
dl.meta dt{font-weight:600;color:#555}dl.meta dd{margin:0}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.92em}
th,td{border-bottom:1px solid #ddd;padding:.2rem .7rem;text-align:left;vertical-align:top}
th{background:#f0f3f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.nodata{color:#777;font-style:italic;border:1px dashed #bbb;padding:.6rem;border-radius:4px}
.banner{padding:.6rem .9rem;border-radius:4px;margin:.8rem 0;font-weight:600}
.ok{background:#e6f4ea;color:#1e5631}.bad{background:#fde7e7;color:#8a1010}
.warn{background:#fff4d6;color:#6b4e00}
tr.bad td{background:#fde7e7}tr.warn td{background:#fff4d6}
figure{margin:.6rem 0 1rem}figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}
nav ol{columns:2;margin:.3rem 0}footer{color:#777;font-size:.85em;margin-top:3rem}
"""

SECTIONS = (
    ("counts", "Counts"),
    ("invariants", "Invariants"),
    ("accounts", "Operations and attacks"),
    ("gas", "Gas"),
    ("latency", "Confirmation latency"),
    ("blocks", "Blocks and capacity"),
    ("capacity", "Capacity: can one chain serve a nation?"),
    ("storage", "Storage"),
    ("accesses", "Accesses"),
    ("reverts", "Reverted transactions"),
    ("trace", "Trace"),
)

class Markup(str):
    """Text that is HTML already (built here from escaped parts): a table shows it as is."""


Cell = str | int | float | None


def fmt(value: Cell, digits: int = 1) -> str:
    """A number with thousands separators (``digits`` decimals for floats); text escaped
    (:class:`Markup` is shown as is)."""
    if value is None:
        return "—"
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, bool | str):
        return escape(str(value))
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def si(value: float | None, unit: str = "") -> str:
    """``value`` to three significant digits with an SI prefix: ``2.24 TB``, ``1.06 Ggas/s``."""
    if value is None:
        return "—"
    for div, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"),
                        (1e3, "k")):
        if abs(value) >= div:
            return escape(f"{value / div:,.3g} {prefix}{unit}")
    return escape(f"{value:,.3g} {unit}".rstrip())


def duration(seconds: float) -> str:
    """Simulated seconds as days/hours/minutes plus the raw seconds."""
    s = round(seconds)
    d, rest = divmod(s, 86_400)
    h, rest = divmod(rest, 3_600)
    m = rest // 60
    parts = [f"{d} d"] if d else []
    parts += [f"{h} h"] if d or h else []
    parts += [f"{m} min"]
    return f"{' '.join(parts)} ({fmt(seconds, 0)} s)"


def table(head: Sequence[str], rows: Iterable[Sequence[Cell]], *,
          row_class: Sequence[str] | None = None, digits: int | Sequence[int] = 1) -> str:
    """An HTML table; numeric cells are right-aligned, floats get ``digits`` decimals.

    ``digits`` is one count for every column or one per column.
    """
    places = [digits] * len(head) if isinstance(digits, int) else list(digits)
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = row_class[i] if row_class else ""
        out.append(f'<tr class="{cls}">' if cls else "<tr>")
        for cell, n in zip(row, places, strict=True):
            numeric = isinstance(cell, int | float) and not isinstance(cell, bool)
            out.append(f'<td class="n">{fmt(cell, n)}</td>' if numeric
                       else f"<td>{fmt(cell, n)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def no_data(what: str) -> str:
    """The note shown in place of a plot or table whose data is absent."""
    return f'<p class="nodata">No data: {escape(what)}.</p>'


def figure(svg: str | None, caption: str, missing: str) -> str:
    """A figure with its caption, or the no-data note."""
    if svg is None:
        return no_data(missing)
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def header(summary: Mapping[str, Any], digest: TraceDigest | None) -> str:
    """Title, description and the run's identity (seed, backend, layout, ... state root)."""
    txs = summary.get("txs", {})
    sim_seconds = summary.get("sim_seconds")
    if sim_seconds is None and digest is not None and digest.lines:
        sim_seconds = digest.t_max
    meta: list[tuple[str, str]] = [
        ("seed", fmt(summary.get("seed"))),
        ("backend", fmt(summary.get("backend"))),
        ("layout", fmt(summary.get("layout"))),
        ("token", fmt(summary.get("token"))),
        ("simulated time", duration(sim_seconds) if sim_seconds is not None else "—"),
        ("wall time", "—" if summary.get("wall_seconds") is None
         else f"{fmt(summary['wall_seconds'], 2)} s"),
        ("transactions / wall second", fmt(txs.get("per_s_wall"))),
        ("state root", f'<span class="mono">{fmt(summary.get("state_root"))}</span>'),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in meta)
    desc = summary.get("description")
    return (f"<header><h1>pmrsim run: {escape(summary['scenario'])}</h1>"
            + (f"<p>{escape(desc)}</p>" if desc else "")
            + f'<dl class="meta">{items}</dl>{invariant_banner(summary)}</header>'
            + "<nav><strong>Contents</strong><ol>"
            + "".join(f'<li><a href="#{k}">{escape(t)}</a></li>' for k, t in SECTIONS)
            + "</ol></nav>")


def _expected_names(summary: Mapping[str, Any]) -> set[str]:
    return set((summary.get("invariants") or {}).get("expected", []))


def _listed(name: str, expected: set[str]) -> bool:
    """``name`` is listed itself or by its family (``operations`` for ``operations:X``)."""
    return name in expected or name.partition(":")[0] in expected


def _is_expected(violation: Mapping[str, Any], expected: set[str]) -> bool:
    return bool(violation.get("expected", _listed(violation["name"], expected)))


def invariant_banner(summary: Mapping[str, Any]) -> str:
    """The verdict: one line for a run of one layout; when several layouts ran, one line per
    layout, this page's first, each other one linking to its report."""
    layouts = summary.get("layouts") or {}
    if len(layouts) < 2:
        return _verdict(summary)
    here = summary.get("layout")
    lines = []
    for name, layout in sorted(layouts.items(), key=lambda kv: (kv[0] != here, kv[0])):
        link = layout.get("report")
        if name == here:
            where, skips = " (this page)", "stated below"
        else:
            where = f' <a href="{escape(link)}">{escape(name)} layout report</a>' if link else ""
            skips = "stated in its report"
        inv = summary.get("invariants") if name == here else layout.get("invariants")
        verdict = _verdict({"invariants": inv}, skips=skips)
        lines.append(verdict.replace('">', f'"><strong>{escape(name)} layout:</strong> ', 1)
                     .replace("</p>", f"{where}</p>"))
    return "".join(lines)


def _verdict(summary: Mapping[str, Any], *, skips: str = "stated below") -> str:
    """A one-line verdict: all invariants held, only expected violations (named), or
    unexpected ones (named)."""
    inv = summary.get("invariants")
    if inv is None:
        return '<p class="banner warn">No invariant results in summary.json.</p>'
    violations = inv.get("violations", [])
    expected = _expected_names(summary)
    unexpected = [v for v in violations if not _is_expected(v, expected)]
    if unexpected:
        names = ", ".join(sorted({v["name"] for v in unexpected}))
        also = sorted({v["name"] for v in violations if _is_expected(v, expected)})
        besides = (f"; besides, {len(violations) - len(unexpected)} expected by the scenario: "
                   f"{escape(', '.join(also))}" if also else "")
        return (f'<p class="banner bad">{len(unexpected)} unexpected invariant violation(s): '
                f"{escape(names)}{besides}.</p>")
    skipped = inv.get("skipped", [])
    partly = f" ({len(skipped)} skip(s) {skips})" if skipped else ""
    if violations:
        names = ", ".join(sorted({v["name"] for v in violations}))
        return (f'<p class="banner warn">{len(violations)} violation(s) of {escape(names)}, all '
                f"expected by the scenario{partly}.</p>")
    return (f'<p class="banner ok">All {fmt(inv.get("checked", 0))} invariant checks held'
            f"{partly}.</p>")


def invariants_section(summary: Mapping[str, Any], digest: TraceDigest | None) -> str:
    """Checked count, violations (unexpected red, expected amber), stated skips, failed checks
    in the trace."""
    inv = summary.get("invariants")
    if inv is None:
        return no_data("summary.json has no 'invariants'")
    expected = _expected_names(summary)
    violations = inv.get("violations", [])
    skipped = inv.get("skipped", [])
    parts = [f"<p>{fmt(inv.get('checked'))} invariant checks; {len(violations)} violation(s); "
             f"{len(skipped)} stated skip(s).</p>"]
    if violations:
        rows = [(v["name"], v.get("detail", ""),
                 "expected" if _is_expected(v, expected) else "UNEXPECTED") for v in violations]
        classes = ["warn" if r[2] == "expected" else "bad" for r in rows]
        parts.append(table(("invariant", "detail", "status"), rows, row_class=classes))
    if skipped:
        parts.append(f"<h3>Not checked ({len(skipped)} stated skip(s))</h3>")
        parts.append(table(("invariant", "what was not checked, and why"),
                           [(s["name"], s["reason"]) for s in skipped]))
    seen = {v["name"] for v in violations} | {v["name"].partition(":")[0] for v in violations}
    missing = sorted(expected - seen)
    if missing:
        parts.append('<p class="banner warn">Expected to be violated but held: '
                     f"{escape(', '.join(missing))}.</p>")
    return "".join(parts)


def accounts_section(summary: Mapping[str, Any]) -> str:
    """The attack matrix (configured against attempted, and how each attempt ended) and the
    operation table (attempted against how each ended); rows that fail the run in red."""
    parts = []
    attacks = summary.get("attacks")
    if attacks is None:
        parts.append(no_data("summary.json has no 'attacks'"))
    elif not attacks:
        parts.append("<p>No attack was configured, and no access was tried after its grant "
                     "ended.</p>")
    else:
        rows: list[tuple[Cell, ...]] = []
        classes: list[str] = []
        for kind, a in sorted(attacks.items()):
            configured = a.get("configured")
            short = configured is not None and a.get("attempted", 0) < configured
            through = a.get("succeeded", 0) or a.get("wrong_reason", 0)
            rows.append((kind.replace("_", " "),
                         "by the workload" if configured is None else configured,
                         a.get("attempted"), a.get("denied"), a.get("succeeded"),
                         a.get("wrong_reason"), "; ".join(a.get("not_attempted", []))))
            classes.append("bad" if short or through else "")
        parts.append("<h3>Attacks: configured, attempted, and how each ended</h3>")
        parts.append(table(("attack", "configured", "attempted", "denied", "succeeded",
                            "wrong reason", "not attempted because"), rows, row_class=classes))
    ops = summary.get("operations")
    if ops is None:
        parts.append(no_data("summary.json has no 'operations'"))
    else:
        rows, classes = [], []
        for name, o in sorted(ops.items()):
            rows.append((name, o.get("attempted"), o.get("confirmed"), o.get("reverted"),
                         o.get("failed"), o.get("by_fault")))
            classes.append("bad" if o.get("reverted") or o.get("failed") else
                           "warn" if o.get("by_fault") else "")
        parts.append("<h3>Operations: attempted, and how each ended</h3>")
        parts.append("<p>Ordinary operations only (an attack's forbidden step is counted with "
                     "its attack). <em>By fault</em>: not done because of a fault the scenario "
                     "configured (storage churn, byzantine nodes).</p>")
        parts.append(table(("operation", "attempted", "confirmed", "reverted", "failed",
                            "by fault"), rows, row_class=classes))
    return "".join(parts)


def counter_table(head: tuple[str, str], counter: Counter[str], limit: int = 20) -> str:
    """The ``limit`` most common entries of ``counter`` (ties by name), as a table."""
    rows = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    text = table(head, rows[:limit])
    if len(rows) > limit:
        text += f"<p>… and {len(rows) - limit} more.</p>"
    return text


def section(key: str, body: str) -> str:
    """A titled section with the anchor used by the contents list."""
    title = dict(SECTIONS)[key]
    return f'<section id="{key}"><h2>{escape(title)}</h2>{body}</section>'


def page(summary: Mapping[str, Any], digest: TraceDigest | None, body: str) -> str:
    """The full HTML document around the header and ``body``."""
    title = f"pmrsim run: {summary['scenario']}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
            f"{header(summary, digest)}{body}"
            "<footer>Rendered by pmrsim (<code>pmrsim report DIR</code>) from summary.json and "
            "trace.jsonl; formats in reports/FORMATS.md. Open this run in the explorer "
            "(blocks, transactions, each patient's accesses, search by Patient-ID, PMR-ID, "
            "tx hash or CID) with <code>pmrsim serve DIR</code>.</footer></main></body></html>\n")
