"""The steady state of a scenario: gas per patient-year at its rates, and one-off setup gas apart.

A run's total gas divided by its patients and scaled by its length is no
figure an architect can use: a three-day run's deployment and onboarding
would be spread over three days and then multiplied by 120, and a run whose
patients all come on the first day counts their first visits as if every
day were like it. So the summary splits the gas the run measured:

* **recurring activities**, each with a driver and a rate per patient-year
  taken from the scenario (not from what the run happened to draw):

  =================  =========================================  ==========================
  activity           operations                                 per patient-year
  =================  =========================================  ==========================
  visit record       ``PMRToken.mint*``, ``PMRMulti.mint*``     V x (1 + p_lab x p_2nd)
  lab report         ``LabReports.post*``                       V x p_lab
  grant              ``AccessGrants.grant*``                    V x p_lab x p_2nd
  record read        ``AccessGrants.use`` (not emergency)       V x p_lab x p_2nd
  revoke             ``AccessGrants.revoke*``                   V x p_lab x p_2nd x p_revoke
  emergency access   ``AccessGrants.emergency_access*``         B
  emergency read     ``AccessGrants.use (emergency)``           B
  IoMT anchor        ``IoMTAnchor.anchor_batch``                d x year / window (batch)
  IoMT reading       ``IoMTAnchor.record_reading``              d x year / interval
  =================  =========================================  ==========================

  where V is ``visits_per_patient_year``, p_lab ``lab_order_probability``,
  p_2nd ``second_opinion_probability`` (a second opinion reads the record
  and writes a PMR of its own), p_revoke ``revoke_probability``, B
  ``break_glass_per_patient_year`` and d the share of patients with a
  device. Each activity's gas is the mean the run measured for its
  operations (a visit's PMR in steady state is a later visit's or a
  same-day version, so first mints count only when nothing else was
  measured); an activity the run never performed takes its gas from the
  committed gas table (``reports/baseline/gas.json``), and says so.
  Activities linked to visits are marked ``driver: visit``, so a what-if
  can scale them with another visit rate (``pmrsim capacity``).

* **one-off setup** (``gas_setup``): deployment, regulators, hospitals
  (application, verification, desk and lab operators), doctors, patients'
  registrations and devices' bindings, as totals of the run and per unit.

An adversary's transactions are not part of the steady state: the rates
come from the scenario's workload, the gas per operation from the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Seconds in a (365-day) year.
YEAR = 365 * 86_400.0


@dataclass(frozen=True)
class Activity:
    """A recurring activity: which operations it is, what drives it and how often."""

    name: str
    prefixes: tuple[str, ...]
    driver: str  # "visit", "break_glass" or "iomt"
    rate: Callable[[Any], float]  # workload and population -> events per driver unit
    basis: str
    exclude: tuple[str, ...] = ()


def _opinion(w: Any) -> float:
    return float(w.lab_order_probability * w.second_opinion_probability)


def _iomt(mode: str) -> Callable[[Any], float]:
    def rate(sc: Any) -> float:
        w, pop = sc.workload, sc.population
        if w.iomt_mode != mode or not pop.devices:
            return 0.0
        share = min(pop.devices, pop.patients) / pop.patients
        period = w.iomt_window_minutes * 60 if mode == "batch" else w.iomt_reading_interval_s
        return share * YEAR / period
    return rate


#: The recurring activities (see the module docstring). ``rate`` takes the scenario; for
#: driver "visit" it is per visit, otherwise per patient-year.
ACTIVITIES: tuple[Activity, ...] = (
    Activity("visit record", ("PMRToken.mint", "PMRMulti.mint"), "visit",
             lambda sc: 1.0 + _opinion(sc.workload),
             "1 per visit + 1 per second opinion (lab_order_probability x "
             "second_opinion_probability)"),
    Activity("lab report", ("LabReports.post",), "visit",
             lambda sc: float(sc.workload.lab_order_probability), "lab_order_probability per visit"),
    Activity("grant", ("AccessGrants.grant",), "visit", lambda sc: _opinion(sc.workload),
             "1 per second opinion"),
    Activity("record read", ("AccessGrants.use",), "visit", lambda sc: _opinion(sc.workload),
             "1 per second opinion", exclude=("AccessGrants.use (emergency)",)),
    Activity("revoke", ("AccessGrants.revoke",), "visit",
             lambda sc: _opinion(sc.workload) * sc.workload.revoke_probability,
             "revoke_probability per second opinion"),
    Activity("emergency access", ("AccessGrants.emergency_access",), "break_glass",
             lambda sc: float(sc.workload.break_glass_per_patient_year),
             "break_glass_per_patient_year"),
    Activity("emergency read", ("AccessGrants.use (emergency)",), "break_glass",
             lambda sc: float(sc.workload.break_glass_per_patient_year),
             "1 per emergency access"),
    Activity("IoMT anchor", ("IoMTAnchor.anchor_batch",), "iomt", _iomt("batch"),
             "devices / patients x windows per year (batch mode)"),
    Activity("IoMT reading", ("IoMTAnchor.record_reading",), "iomt", _iomt("per_reading"),
             "devices / patients x readings per year (per_reading mode)"),
)

#: One-off operations: unit -> (operation prefixes, operations per unit).
SETUP_UNITS: dict[str, tuple[tuple[str, int], ...]] = {
    "regulator": (("HospitalRegistry.grantRole", 1),),
    "hospital": (("HospitalRegistry.apply", 1), ("HospitalRegistry.verify", 1),
                 ("HospitalRegistry.set_operator", 2)),
    "doctor": (("DoctorRegistry.onboard", 1),),
    "patient": (("PatientRegistry.register", 1),),
    "device": (("IoMTAnchor.bind_device", 1),),
}

#: A first mint of a patient's first token: one-off per patient, not a steady-state visit.
FIRST_MINTS = ("PMRToken.mint", "PMRMulti.mint", "PMRToken.mint_paper", "PMRMulti.mint_paper")


def _matches(op: str, prefixes: Sequence[str], exclude: Sequence[str] = ()) -> bool:
    return op not in exclude and any(op == p or op.startswith((p + " ", p + "_")) for p in prefixes)


def _mean(gas: Mapping[str, Mapping[str, float]], ops: Sequence[str]) -> tuple[float, int]:
    """Count-weighted mean gas over ``ops`` and their total count."""
    count = sum(int(gas[o]["count"]) for o in ops)
    if not count:
        return 0.0, 0
    return sum(float(gas[o]["total"]) for o in ops) / count, count


def _table_gas(table: Mapping[tuple[str, str, str], int], layout: str, token: str,
               prefixes: Sequence[str], exclude: Sequence[str]) -> tuple[float, list[str]]:
    """The gas table's mean for an activity's operations in this layout and token."""
    rows = {op: g for (lay, tok, op), g in table.items()
            if lay == layout and tok == token and _matches(op, prefixes, exclude)}
    steady = {op: g for op, g in rows.items() if op not in FIRST_MINTS} or rows
    if not steady:
        return 0.0, []
    return sum(steady.values()) / len(steady), sorted(steady)


def activity_gas(activity: Activity, gas: Mapping[str, Mapping[str, float]], *,
                 table: Mapping[tuple[str, str, str], int], layout: str, token: str
                 ) -> tuple[float, list[str], str]:
    """Gas of one occurrence of ``activity``: the run's mean over its operations (first
    mints left out when a later one was measured), else the gas table's; with the
    operations used and where the figure comes from (``run`` or ``gas table``)."""
    ops = sorted(op for op in gas if _matches(op, activity.prefixes, activity.exclude))
    steady = [op for op in ops if op not in FIRST_MINTS] or ops
    mean, count = _mean(gas, steady)
    if count:
        return mean, steady, "run"
    mean, names = _table_gas(table, layout, token, activity.prefixes, activity.exclude)
    return mean, names, "gas table" if names else "none"


def steady_state(scenario: Any, gas: Mapping[str, Mapping[str, float]], *, layout: str,
                 table: Mapping[tuple[str, str, str], int]) -> dict[str, Any]:
    """The ``steady_state`` section of ``summary.json`` (see the module docstring).

    ``gas``: the run's gas per operation (``summary.json["gas"]``); ``table``: the
    committed gas table (:func:`sim.gas.load_baseline`).
    """
    visits = float(scenario.workload.visits_per_patient_year)
    activities: dict[str, dict[str, Any]] = {}
    per_visit_gas = per_visit_txs = 0.0
    year_gas = year_txs = 0.0
    for a in ACTIVITIES:
        rate = float(a.rate(scenario))
        if rate <= 0:
            continue
        mean, ops, source = activity_gas(a, gas, table=table, layout=layout, token=scenario.token)
        per_year = rate * visits if a.driver == "visit" else rate
        row: dict[str, Any] = {"driver": a.driver, "basis": a.basis, "operations": ops,
                               "gas": round(mean, 1), "gas_source": source,
                               "per_patient_year": _round(per_year),
                               "gas_per_patient_year": round(per_year * mean, 1)}
        if a.driver == "visit":
            row["per_visit"] = _round(rate)
            per_visit_gas += rate * mean
            per_visit_txs += rate
        activities[a.name] = row
        year_gas += per_year * mean
        year_txs += per_year
    recurring = year_gas > 0
    return {
        "patients": scenario.population.patients,
        "visits_per_patient_year": visits,
        "activities": activities,
        "gas_per_visit": round(per_visit_gas, 1),
        "txs_per_visit": _round(per_visit_txs),
        "gas_per_patient_year": round(year_gas, 1) if recurring else None,
        "txs_per_patient_year": _round(year_txs) if recurring else None,
        "note": "" if recurring else (
            "the scenario sets no recurring activity (no visits, emergencies or devices per "
            "patient-year): the steady state is not defined; gas_per_visit is one visit's"),
    }


def gas_setup(scenario: Any, gas: Mapping[str, Mapping[str, float]], *, deployment: int,
              layout: str, table: Mapping[tuple[str, str, str], int]) -> dict[str, Any]:
    """The ``gas_setup`` section: the run's one-off gas (deployment and every onboarding
    transaction) and the gas of onboarding one unit of each kind."""
    total = deployment
    per_unit: dict[str, float] = {}
    for unit, parts in SETUP_UNITS.items():
        unit_gas = 0.0
        for prefix, times in parts:
            ops = [op for op in gas if _matches(op, (prefix,))]
            total += sum(int(gas[op]["total"]) for op in ops)
            mean, count = _mean(gas, ops)
            if not count:
                mean, _ = _table_gas(table, layout, scenario.token, (prefix,), ())
            unit_gas += times * mean
        per_unit[f"per_{unit}"] = round(unit_gas, 1)
    first = [op for op in gas if op in FIRST_MINTS]
    total += sum(int(gas[op]["total"]) for op in first)  # a patient's first token: one-off
    return {"total": total, "deployment": deployment, **per_unit}


def _round(value: float) -> float:
    """A rate to 6 significant digits (stable in JSON, exact enough for any figure)."""
    return float(f"{value:.6g}")
