"""The report's Gas section: per operation, the steady state per patient-year, one-off setup,
and the two layouts side by side.

Every figure says what it counts, over what, and in which unit; the steady
state is explained row by row (how often each activity happens per
patient-year, from which scenario rate, and whether its gas was measured in
this run or taken from the gas table).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from . import plots
from .html import figure, fmt, no_data, table

#: What each one-off figure covers.
SETUP_ROWS = (
    ("deployment", "the contracts' deployment and wiring (the run's first blocks)"),
    ("per_regulator", "granting one regulator its role"),
    ("per_hospital", "a hospital's application, its verification, its desk and lab operators"),
    ("per_doctor", "onboarding one doctor"),
    ("per_patient", "registering one patient"),
    ("per_device", "binding one IoMT device to its patient"),
    ("total", "everything one-off this run spent: the above as done (adversaries' included) "
              "and every patient's first PMR token"),
)


def gas_body(summary: Mapping[str, Any], drawn: Mapping[str, str | None]) -> str:
    """Gas per operation, per patient-year in steady state, one-off, and per layout
    (``drawn``: the report's figures, drawn from ``summary``)."""
    gas = summary.get("gas") or {}
    parts = ["<h3>Per operation</h3>",
             figure(drawn["gas"], "Mean gas of a successful transaction of each operation, over "
                    "every transaction of the run (setup and attacks' included).",
                    "summary.json has no 'gas'")]
    if gas:
        rows = [(op, r.get("count"), r.get("mean"), r.get("min"), r.get("max"), r.get("total"))
                for op, r in sorted(gas.items())]
        parts.append(table(("operation", "transactions", "mean gas", "min", "max", "total gas"),
                           rows))
    parts.append("<h3>Per patient-year, in steady state</h3>")
    parts.append(steady_body(summary, drawn["steady_state"]))
    parts.append("<h3>One-off setup</h3>")
    parts.append(setup_body(summary))
    parts.append("<h3>Paper layout against private layout</h3>")
    parts.append(layouts_body(summary, drawn["layouts"]))
    return "".join(parts)


def steady_body(summary: Mapping[str, Any], svg: str | None) -> str:
    """The steady-state gas per patient-year, activity by activity."""
    steady = summary.get("steady_state")
    if not isinstance(steady, Mapping):
        return no_data("summary.json has no 'steady_state'")
    visits = steady.get("visits_per_patient_year")
    total = steady.get("gas_per_patient_year")
    intro = (f"<p>What one patient costs a year once the network runs: each activity at the "
             f"scenario's rate ({fmt(visits)} visits per patient-year; lab orders, second "
             f"opinions, revokes, emergencies and devices as the scenario sets them) times its "
             f"mean gas. One-off setup (deployment, onboarding, registration) is apart, below. "
             f"A visit with its share of lab reports, grants, reads and revokes costs "
             f"<strong>{fmt(steady.get('gas_per_visit'), 0)} gas</strong>"
             f" ({fmt(steady.get('txs_per_visit'), 2)} transactions).</p>")
    if total is None:
        note = steady.get("note") or "the steady state is not defined"
        return intro + f'<p class="nodata">No figure per patient-year: {escape(note)}.</p>'
    parts = [intro,
             f"<p><strong>{fmt(total, 0)} gas per patient-year</strong> "
             f"({fmt(steady.get('txs_per_patient_year'), 1)} transactions).</p>",
             figure(svg, "Gas per patient-year in steady state, by activity, with its share of "
                    "the total.", "summary.json 'steady_state' has no activity")]
    rows = []
    for name, a in sorted((steady.get("activities") or {}).items(),
                          key=lambda kv: -float(kv[1].get("gas_per_patient_year", 0.0))):
        how = a.get("basis", "")
        if a.get("per_visit") is not None:
            how = f"{fmt(a['per_visit'], 3)} per visit: {how}"
        source = a.get("gas_source", "")
        rows.append((name, ", ".join(a.get("operations", [])) or "—",
                     a.get("per_patient_year"), a.get("gas"), a.get("gas_per_patient_year"),
                     how, "this run" if source == "run" else source))
    parts.append(table(("activity", "operations", "per patient-year", "gas each",
                        "gas per patient-year", "how often", "gas from"), rows,
                       digits=(0, 0, 2, 0, 0, 0, 0)))
    return "".join(parts)


def setup_body(summary: Mapping[str, Any]) -> str:
    """One-off gas: deployment, per unit onboarded, and the run's total."""
    setup = summary.get("gas_setup")
    if not isinstance(setup, Mapping):
        return no_data("summary.json has no 'gas_setup'")
    rows = [(key.replace("_", " "), setup[key], what) for key, what in SETUP_ROWS if key in setup]
    return ("<p>Gas spent once, not every year: a nation onboards its facilities, "
            "professionals and people once (<code>pmrsim capacity</code> counts it apart).</p>"
            + table(("one-off", "gas", "what it covers"), rows, digits=0))


def layouts_body(summary: Mapping[str, Any], svg: str | None) -> str:
    """Mean gas per operation in both layouts, or why there is no comparison."""
    layouts = summary.get("layouts") or {}
    if svg is None:
        ran = ", ".join(sorted(layouts)) or str(summary.get("layout", "one layout"))
        return (f"<p>This run used one layout ({escape(ran)}). <code>scenarios/layouts.yaml"
                "</code> runs both on the same workload and compares them here.</p>")
    parts = [figure(svg, "Mean gas per operation in both layouts (same workload, same draws); "
                    "the label is paper / private.", "")]
    rows = [(op, a, b, round(b / a, 2) if a and b else None)
            for op, a, b in plots.paired_layouts(layouts)]
    parts.append(table(("operation", "private mean gas", "paper mean gas", "paper / private"),
                       rows, digits=(0, 1, 1, 2)))
    per_year = [(name, layout.get("gas_per_patient_year")) for name, layout in
                sorted(layouts.items())]
    parts.append(table(("layout", "gas per patient-year (steady state)"), per_year, digits=0))
    return "".join(parts)
