"""The report's Capacity section: this run's design, scaled to a nation with the default
assumptions of :mod:`reports.capacity` (India's ABDM), against the default chains.

``pmrsim capacity DIR`` gives the same with other assumptions; the section
shows the defaults and their sources so a reader knows what was assumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.errors import InputError

from .capacity import NATION, Assumptions, Profile, region_from_summary, what_if
from .html import fmt, no_data, si, table
from .plots import BLUE, GREY, ORANGE, WIDTH, _style, _thousands, to_svg


def national(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The default what-if for this run's summary, or None when it has no steady state."""
    try:
        region = region_from_summary(summary, "summary.json", str(summary.get("scenario", "")))
    except InputError:
        return None
    profile = Profile("run", "this run", str(summary.get("scenario", "")),
                      str(summary.get("layout", "")), (region,))
    return what_if(profile, Assumptions())


def capacity_figure(summary: Mapping[str, Any]) -> str | None:
    """Peak-day and mean-day demand of the nation against what one chain of each default
    configuration carries at the target utilisation, chains needed beside (a linear axis, or a
    log one when the values span more than 50x)."""
    result = national(summary)
    if result is None:
        return None
    target = result["assumptions"]["target_utilisation"]
    bars = [("nation, peak day", result["demand"]["peak"]["gas_per_second"], ORANGE, ""),
            ("nation, mean day", result["demand"]["mean"]["gas_per_second"], ORANGE, "")]
    for c in result["configs"]:
        bars.append((f"one {c['name']} chain at {target:.0%}", c["gas_per_second"] * target, BLUE,
                     f"{c['chains_needed']:,} chains needed"))
    with _style():
        fig = Figure(figsize=(WIDTH, 0.8 + 0.42 * len(bars)))
        ax = fig.add_subplot()
        y = np.arange(len(bars))
        values = [max(b[1], 1.0) for b in bars]
        ax.barh(y, values, color=[b[2] for b in bars])
        for yi, (_, v, _, note) in zip(y, bars, strict=True):
            ax.annotate(f"{_thousands(v)} gas/s" + (f"  ({note})" if note else ""), (max(v, 1.0), yi),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize=7,
                        color=GREY)
        ax.set_yticks(y, [b[0] for b in bars])
        ax.invert_yaxis()
        # A bar's length on a log axis depends on where the axis starts, so a log scale only
        # where the values span too much for a linear one (the quickstart's IoMT-heavy demand
        # is ~1,000 chains): then the labels carry the figures.
        if max(values) / min(values) > 50:
            ax.set_xscale("log")
            ax.set_xlim(right=max(values) * 30)
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
            ax.set_xlabel("gas per second (log scale: compare the labels, not the bars' lengths)")
        else:
            ax.set_xlim(0, max(values) * 1.6)
            ax.set_xlabel("gas per second")
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.grid(axis="y", visible=False)
        return to_svg(fig, "capacity")


def capacity_body(summary: Mapping[str, Any], svg: str | None) -> str:
    """The default national what-if: demand, chains, sensitivity, storage, and the sources."""
    result = national(summary)
    if result is None:
        return no_data("summary.json has no 'steady_state' activity to scale")
    a, per = result["assumptions"], result["per_person_year"]
    mean, peak = result["demand"]["mean"], result["demand"]["peak"]
    parts = [
        f"<p>If {fmt(a['population'])} people (India's ABHA IDs) used this design at "
        f"{fmt(a['visits_per_person_year'], 3)} visits per person-year (ABDM's health records linked "
        f"a day x 365 / ABHA IDs), with this run's gas per operation and operations per visit, and its "
        f"own rates of emergencies and IoMT devices per patient: each person costs "
        f"<strong>{fmt(per['gas'], 0)} gas a year</strong> ({fmt(per['txs'], 2)} transactions); "
        f"the nation needs {si(mean['gas_per_second'], 'gas/s')} "
        f"({fmt(mean['txs_per_second'], 0)} transactions/s) on a mean day and "
        f"{si(peak['gas_per_second'], 'gas/s')} ({fmt(peak['txs_per_second'], 0)}/s) on a "
        f"peak day ({fmt(a['peak_factor'], 2)} x the mean).</p>",
    ]
    parts.extend(f"<p><strong>Read with care:</strong> {escape(note)}.</p>"
                 for note in result["notes"])
    if svg is not None:
        parts.append(f"<figure>{svg}<figcaption>The nation's demand against what one chain of each "
                     "configuration may carry at the target utilisation "
                     f"({a['target_utilisation']:.0%} of its gas).</figcaption></figure>")
    rows = [(f"{c['name']} ({fmt(c['gas_limit'])} gas / {fmt(c['block_seconds'], 0)} s)",
             f"{c['utilisation']:,.1%}", f"{c['utilisation_mean']:,.1%}", c["chains_needed"],
             f"{c['cost_per_patient_year']:.3g} {c['unit']}", c["setup_days"], c["note"])
            for c in result["configs"]]
    parts.append(table(("chain", "peak utilisation of one chain", "mean utilisation",
                        "chains needed", f"cost per patient-year at {a['gas_price_gwei']:g} gwei",
                        "days of one chain to onboard everyone", "configuration"), rows))
    acts = [(r["activity"], r["driver"], r["per_person_year"], r["gas"], r["gas_per_person_year"])
            for r in per["activities"]]
    parts.append("<h3>Where a person's gas goes</h3>")
    parts.append(table(("activity", "driven by", "per person-year", "gas each",
                        "gas per person-year"), acts, digits=(0, 0, 3, 0, 0)))
    names = [c["name"] for c in result["configs"]]
    sens = [(row["visits_per_person_year"], row["peak"],
             *(row["chains_needed"][n] for n in names)) for row in result["sensitivity"]]
    parts.append("<h3>Sensitivity: chains needed</h3>")
    parts.append(table(("visits per person-year", "peak factor", *names), sens,
                       digits=(4, 3, *([0] * len(names)))))
    parts.append(f"<p>Storage on the swarm: {si(result['storage']['bytes_per_year'], 'B')} a "
                 f"year ({escape(result['storage']['note'])}). One-off onboarding: "
                 f"{si(result['setup']['gas'], 'gas')} ({escape(result['setup']['note'])}).</p>")
    sources = [(name.replace("_", " "), value, when, source)
               for name, (value, when, source) in NATION.items()]
    parts.append("<h3>Assumptions and their sources</h3>")
    parts.append(table(("figure", "value", "as of", "source"), sources, digits=0))
    parts.append("<p>Other assumptions: <code>pmrsim capacity DIR --population N "
                 "--visits-per-person-year X --peak-factor F --target-utilisation U --chain "
                 "NAME=GAS_LIMIT/BLOCK_SECONDS --gas-price GWEI</code> (docs/capacity.md).</p>")
    return "".join(parts)
