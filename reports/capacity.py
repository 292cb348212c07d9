"""The national what-if: can one chain serve a country? (``pmrsim capacity``, ``docs/capacity.md``).

From what a run measured (gas per operation, operations per visit and per
patient-year: ``summary.json["steady_state"]``; bytes stored per lab
record; one-off gas per hospital, doctor and patient: ``gas_setup``) and a
population's assumptions, this module computes the demand on the chain and
holds it against chain configurations:

* demand per person-year: every visit-linked activity at ``per_visit`` x
  the visits per person-year, the others (emergencies, IoMT) at the run's
  own rate per patient-year; gas and transactions;
* mean load: population x demand / year (gas/s, transactions/s); peak load:
  the mean x the peak factor (a peak day);
* per chain configuration (``gas limit / block seconds`` of gas per
  second): utilisation (peak load / capacity, and the mean's), chains
  needed ``ceil(peak / (capacity x target utilisation))``, cost per
  patient-year at a gas price (in the chain's native unit), and the days
  the one-off onboarding of the population would fill one chain;
* storage per year on the swarm: lab records per year x bytes the swarm
  held per record (fragments n/t of the encrypted record, the manifest
  times its replication, as measured);
* a sensitivity table: visits per person-year and the peak factor at
  0.5x, 1x and 2x.

A sweep folder whose points are regions (``sweeps/nation.yaml``) is read
as one nation: each point is weighted by its population, its seeds
averaged, and a different visit rate scales every region's visits by the
same factor.

Defaults describe India's ABDM (figures with dates and sources in
``docs/capacity.md`` and :data:`NATION`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sim.errors import InputError

from .load import load_summary

#: The ``schema`` of ``pmrsim capacity --format json``.
CAPACITY_SCHEMA = "pmrsim.capacity/1"
#: Seconds in a (365-day) year.
YEAR = 365 * 86_400.0
DAY = 86_400.0

#: ABDM figures behind the defaults: name -> (value, as of, source). ``docs/capacity.md``
#: gives the same, with how each default follows.
NATION: dict[str, tuple[float, str, str]] = {
    "abha_ids": (800_000_000, "2026",
                 "about 80 crore ABHA IDs; 73.98 crore on 6 Feb 2025 (Rajya Sabha written "
                 "reply, MoS Health), 76 crore on 19 Mar 2025 (NHA via News18)"),
    "records_linked_per_day": (1_300_000, "2026",
                               "about 1-1.6 million health records linked a day: 'nearly 10 crore "
                               "records every two to three months' (PIB, 22 May 2026: ABDM "
                               "crosses 100 crore linked records, from 50 crore in Feb 2025)"),
    "records_linked_peak_day": (2_700_000, "24 Sep 2022",
                                "over 27 lakh records linked in one day (Union Health Minister, "
                                "24 Sep 2022, as ABDM crossed 1 crore linked records)"),
    "facilities": (420_000, "2026",
                   "about 4.2 lakh facilities on the Health Facility Registry; 3.63 lakh on "
                   "6 Feb 2025 (Rajya Sabha written reply)"),
    "professionals": (680_000, "2026",
                      "about 6.8 lakh professionals on the Healthcare Professional Registry; "
                      "5.64 lakh on 6 Feb 2025 (Rajya Sabha written reply)"),
}

#: A visit here is one health record linked to an ABHA ID.
DEFAULT_POPULATION = int(NATION["abha_ids"][0])
DEFAULT_VISITS = round(NATION["records_linked_per_day"][0] * 365 / NATION["abha_ids"][0], 4)
DEFAULT_PEAK_FACTOR = round(NATION["records_linked_peak_day"][0]
                            / NATION["records_linked_per_day"][0], 3)
DEFAULT_TARGET = 0.5
DEFAULT_GAS_PRICE_GWEI = 1.0
#: Most chain configurations one command takes.
MAX_CHAINS = 20
#: Sensitivity factors applied to the visits per person-year and to the peak factor.
FACTORS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ChainConfig:
    """A chain's capacity: ``gas_limit`` gas every ``block_seconds``; fees in ``unit``."""

    name: str
    gas_limit: int
    block_seconds: float
    unit: str = "native coin"
    note: str = ""

    @property
    def gas_per_second(self) -> float:
        """Gas the chain can carry per second."""
        return self.gas_limit / self.block_seconds


#: The default configurations: Ethereum L1 as of late 2025, and a private PoA chain.
DEFAULT_CHAINS = (
    ChainConfig("ethereum-l1", 60_000_000, 12, "ETH",
                "60 M gas per 12-s slot since 25 Nov 2025 (validators raised the limit from "
                "45 M); EIP-1559 targets half of it, and fees rise above the target"),
    ChainConfig("private-poa", 30_000_000, 2, "native coin",
                "a QBFT/IBFT 2.0 chain with Besu's documented 2-s block period and a 30 M gas "
                "limit (Ethereum's before 2025); measure your own nodes before relying on it"),
)


@dataclass(frozen=True)
class Assumptions:
    """A population's assumptions (defaults: India's ABDM, :data:`NATION`)."""

    population: int = DEFAULT_POPULATION
    visits_per_person_year: float = DEFAULT_VISITS
    peak_factor: float = DEFAULT_PEAK_FACTOR
    target_utilisation: float = DEFAULT_TARGET
    gas_price_gwei: float = DEFAULT_GAS_PRICE_GWEI
    facilities: int = int(NATION["facilities"][0])
    professionals: int = int(NATION["professionals"][0])


@dataclass(frozen=True)
class Activity:
    """One recurring activity as measured: gas each, and how often."""

    name: str
    driver: str
    gas: float
    per_visit: float | None  # visit-linked: occurrences per visit
    per_patient_year: float  # at the run's own rates


@dataclass(frozen=True)
class Region:
    """What one run measured, weighted by the population it stands for."""

    label: str
    weight: float
    visits_per_patient_year: float
    activities: tuple[Activity, ...]
    records_per_visit: float
    bytes_stored_per_record: float
    bytes_per_record: float
    setup: Mapping[str, float]

    def per_person_year(self, scale: float | None, visits: float) -> tuple[float, float, float]:
        """Gas, transactions and swarm bytes per person-year, visits scaled by ``scale`` (or
        set to ``visits`` when the run's own rate is 0)."""
        v = self.visits_per_patient_year * scale if scale is not None else visits
        gas = txs = 0.0
        for a in self.activities:
            n = a.per_visit * v if a.per_visit is not None else a.per_patient_year
            gas += n * a.gas
            txs += n
        return gas, txs, v * self.records_per_visit * self.bytes_stored_per_record


@dataclass(frozen=True)
class Profile:
    """The measured demand of one run, or of a sweep's regions (weighted)."""

    kind: str  # "run" or "sweep"
    path: str
    scenario: str
    layout: str
    regions: tuple[Region, ...]
    runs: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def visits_per_patient_year(self) -> float:
        """The regions' own visit rate, weighted by population."""
        total = sum(r.weight for r in self.regions)
        return sum(r.weight * r.visits_per_patient_year for r in self.regions) / total

    def per_person_year(self, visits: float) -> tuple[float, float, float]:
        """Weighted gas, transactions and swarm bytes per person-year at ``visits`` a year."""
        own = self.visits_per_patient_year
        scale = visits / own if own > 0 else None
        total = sum(r.weight for r in self.regions)
        sums = [0.0, 0.0, 0.0]
        for r in self.regions:
            for i, value in enumerate(r.per_person_year(scale, visits)):
                sums[i] += r.weight * value
        return sums[0] / total, sums[1] / total, sums[2] / total

    def setup_per_unit(self) -> dict[str, float]:
        """One-off gas per unit (hospital, doctor, patient, ...), weighted by population."""
        total = sum(r.weight for r in self.regions)
        keys = sorted({k for r in self.regions for k in r.setup})
        return {k: sum(r.weight * float(r.setup.get(k, 0.0)) for r in self.regions) / total
                for k in keys}

    def activities(self, visits: float) -> list[dict[str, Any]]:
        """Each activity's gas and occurrences per person-year at ``visits`` (weighted)."""
        own = self.visits_per_patient_year
        scale = visits / own if own > 0 else None
        total = sum(r.weight for r in self.regions)
        rows: dict[str, dict[str, Any]] = {}
        for r in self.regions:
            v = r.visits_per_patient_year * scale if scale is not None else visits
            for a in r.activities:
                n = a.per_visit * v if a.per_visit is not None else a.per_patient_year
                row = rows.setdefault(a.name, {"activity": a.name, "driver": a.driver,
                                               "per_person_year": 0.0, "gas_per_person_year": 0.0})
                row["per_person_year"] += r.weight * n / total
                row["gas_per_person_year"] += r.weight * n * a.gas / total
        out = sorted(rows.values(), key=lambda row: -row["gas_per_person_year"])
        for row in out:
            n = row["per_person_year"]
            row["gas"] = round(row["gas_per_person_year"] / n, 1) if n else 0.0
            row["per_person_year"] = _sig(n)
            row["gas_per_person_year"] = round(row["gas_per_person_year"], 1)
        return out


def parse_chain(text: str) -> ChainConfig:
    """``NAME=GAS_LIMIT/BLOCK_SECONDS`` (e.g. ``besu=50000000/2``) as a :class:`ChainConfig`."""
    name, eq, rest = text.partition("=")
    gas_text, slash, seconds_text = rest.partition("/")
    if not (eq and slash and name.strip()):
        raise InputError(f"--chain {text}: expected NAME=GAS_LIMIT/BLOCK_SECONDS, "
                         "e.g. besu=50000000/2")
    try:
        gas = int(gas_text.replace("_", ""))
        seconds = float(seconds_text)
    except ValueError:
        raise InputError(f"--chain {text}: expected an integer gas limit and a number of "
                         "seconds, e.g. besu=50000000/2") from None
    if gas <= 0 or not (seconds > 0 and math.isfinite(seconds)):
        raise InputError(f"--chain {text}: expected a gas limit > 0 and block seconds > 0")
    return ChainConfig(name.strip(), gas, seconds, "ETH" if name.strip() == "ethereum-l1"
                       else "native coin", "given on the command line")


def chains_with(extra: Sequence[ChainConfig]) -> list[ChainConfig]:
    """The default configurations, each replaced by a given one of the same name, then the
    other given ones in order."""
    given = {c.name: c for c in extra}
    out = [given.pop(c.name, c) for c in DEFAULT_CHAINS]
    out += [c for c in extra if c.name in given]
    if len(out) > MAX_CHAINS:
        raise InputError(f"--chain: {len(out)} chain configurations, at most {MAX_CHAINS}")
    return out


# --- reading what was measured ------------------------------------------------------------


def region_from_summary(summary: Mapping[str, Any], where: str, label: str) -> Region:
    """The measured demand of one run's ``summary.json`` (read by :func:`load_summary`)."""
    steady = summary.get("steady_state")
    if not isinstance(steady, Mapping):
        raise InputError(f"{where}: no 'steady_state' (written by an older pmrsim? run it again)")
    acts = []
    for name, row in sorted((steady.get("activities") or {}).items()):
        per_visit = row.get("per_visit") if row.get("driver") == "visit" else None
        acts.append(Activity(name, str(row.get("driver", "")), float(row.get("gas", 0.0)),
                             None if per_visit is None else float(per_visit),
                             float(row.get("per_patient_year", 0.0))))
    if not acts:
        raise InputError(f"{where}: 'steady_state' has no activity (the scenario has no visits, "
                         "emergencies or devices): nothing to scale")
    storage = summary.get("storage") or {}
    records = storage.get("records") or 0
    lab = next((a for a in acts if a.name == "lab report" and a.per_visit is not None), None)
    return Region(
        label=label,
        weight=float(steady.get("patients") or (summary.get("counts") or {}).get("patients") or 1),
        visits_per_patient_year=float(steady.get("visits_per_patient_year", 0.0)),
        activities=tuple(acts),
        records_per_visit=lab.per_visit if lab is not None and lab.per_visit else 0.0,
        bytes_stored_per_record=(storage.get("bytes_stored", 0) / records) if records else 0.0,
        bytes_per_record=(storage.get("bytes_logical", 0) / records) if records else 0.0,
        setup={k: float(v) for k, v in (summary.get("gas_setup") or {}).items()
               if k.startswith("per_") or k == "deployment"},
    )


def load_profile(path: Path) -> Profile:
    """A run folder (``summary.json``) or a sweep folder (``sweep.json`` and ``points/``)."""
    if not path.exists():
        raise InputError(f"{path}: no such folder (expected a run or sweep folder)")
    if not path.is_dir():
        raise InputError(f"{path}: not a folder (expected a run or sweep folder)")
    if (path / "summary.json").is_file():
        summary = load_summary(path / "summary.json")
        region = region_from_summary(summary, str(path / "summary.json"), str(summary["scenario"]))
        return Profile("run", str(path), str(summary["scenario"]), str(summary.get("layout", "")),
                       (region,))
    if (path / "sweep.json").is_file():
        return _sweep_profile(path)
    raise InputError(f"{path}: neither a run folder (summary.json) nor a sweep folder "
                     "(sweep.json)")


def _sweep_profile(path: Path) -> Profile:
    """Each point of a sweep as a region, its seeds averaged, weighted by its population."""
    try:
        sweep = json.loads((path / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path / 'sweep.json'}: not readable JSON ({exc})") from None
    if not isinstance(sweep, dict) or not isinstance(sweep.get("rows"), list):
        raise InputError(f"{path / 'sweep.json'}: key 'rows': expected a list")
    folders = sorted(p for p in (path / "points").glob("*-seed*") if p.is_dir())
    by_point: dict[str, list[Region]] = {}
    skipped = []
    for folder in folders:
        point = folder.name.partition("-seed")[0]
        summary_path = folder / "summary.json"
        if not summary_path.is_file():
            skipped.append(folder.name)
            continue
        summary = load_summary(summary_path)
        by_point.setdefault(point, []).append(
            region_from_summary(summary, str(summary_path), f"point {int(point)}"))
    if not by_point:
        raise InputError(f"{path}: no point folder with a summary.json under points/")
    regions: list[Region] = []
    for _point, runs in sorted(by_point.items()):
        regions.extend(replace(r, weight=r.weight / len(runs)) for r in runs)
    notes = tuple(f"{name}: no summary.json (a failed run), left out" for name in skipped)
    return Profile("sweep", str(path), str(sweep.get("scenario", "")), "", tuple(regions),
                   runs=len(regions), notes=notes)


# --- the what-if ----------------------------------------------------------------------------


def _sig(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def _chains_needed(peak: float, chain: ChainConfig, target: float) -> int:
    return math.ceil(peak / (chain.gas_per_second * target) - 1e-9) if peak > 0 else 0


def rate_notes(activities: Sequence[Mapping[str, Any]], gas_per_person_year: float) -> list[str]:
    """What a reader must know of the activities not driven by visits: they stay at the run's
    own rate per patient-year (devices per patient, emergencies), whatever the visit rate, so a
    scenario with many monitored patients speaks for its own population, not a nation's."""
    if gas_per_person_year <= 0:
        return []
    fixed = [r for r in activities if r["driver"] != "visit"
             and r["gas_per_person_year"] / gas_per_person_year >= 0.01]
    if not fixed:
        return []
    share = sum(r["gas_per_person_year"] for r in fixed) / gas_per_person_year
    text = (f"{share:.0%} of the gas is at the run's own rate per patient-year, not scaled by "
            "the visits: " + ", ".join(
                f"{r['activity']} {r['per_person_year']:g} a person-year "
                f"({r['gas_per_person_year'] / gas_per_person_year:.0%})" for r in fixed))
    if share > 0.5:
        text += ("; most of the demand is this scenario's own rate of devices and emergencies "
                 "per patient, not the population's: measure a scenario with the population's "
                 "rates (population.devices, workload.break_glass_per_patient_year)")
    return [text]


def what_if(profile: Profile, assumptions: Assumptions,
            chains: Iterable[ChainConfig] = DEFAULT_CHAINS) -> dict[str, Any]:
    """The whole answer as a JSON-ready mapping (``pmrsim capacity --format json``)."""
    a = assumptions
    configs = list(chains)
    gas_ppy, txs_ppy, bytes_ppy = profile.per_person_year(a.visits_per_person_year)
    mean_gas = a.population * gas_ppy / YEAR
    mean_txs = a.population * txs_ppy / YEAR
    peak_gas, peak_txs = mean_gas * a.peak_factor, mean_txs * a.peak_factor
    setup = profile.setup_per_unit()
    setup_gas = (setup.get("deployment", 0.0) + a.facilities * setup.get("per_hospital", 0.0)
                 + a.professionals * setup.get("per_doctor", 0.0)
                 + a.population * setup.get("per_patient", 0.0))
    rows = []
    for c in configs:
        rows.append({
            "name": c.name, "gas_limit": c.gas_limit, "block_seconds": c.block_seconds,
            "gas_per_second": _sig(c.gas_per_second),
            "utilisation": _sig(peak_gas / c.gas_per_second),
            "utilisation_mean": _sig(mean_gas / c.gas_per_second),
            "chains_needed": _chains_needed(peak_gas, c, a.target_utilisation),
            "cost_per_patient_year": _sig(gas_ppy * a.gas_price_gwei * 1e-9),
            "unit": c.unit,
            "setup_days": _sig(setup_gas / (c.gas_per_second * a.target_utilisation) / DAY),
            "note": c.note,
        })
    own = profile.visits_per_patient_year
    sensitivity = []
    for fv in FACTORS:
        for fp in FACTORS:
            g, _, _ = profile.per_person_year(a.visits_per_person_year * fv)
            peak = a.population * g / YEAR * a.peak_factor * fp
            sensitivity.append({"visits_factor": fv, "peak_factor": fp,
                                "visits_per_person_year": _sig(a.visits_per_person_year * fv),
                                "peak": _sig(a.peak_factor * fp),
                                "chains_needed": {c.name: _chains_needed(peak, c,
                                                                         a.target_utilisation)
                                                  for c in configs}})
    activities = profile.activities(a.visits_per_person_year)
    return {
        "schema": CAPACITY_SCHEMA,
        "notes": rate_notes(activities, gas_ppy),
        "source": {"kind": profile.kind, "path": profile.path, "scenario": profile.scenario,
                   "layout": profile.layout, "runs": profile.runs,
                   "regions": len({r.label for r in profile.regions}),
                   "visits_per_patient_year": _sig(own), "notes": list(profile.notes)},
        "assumptions": {"population": a.population,
                        "visits_per_person_year": a.visits_per_person_year,
                        "peak_factor": a.peak_factor,
                        "target_utilisation": a.target_utilisation,
                        "gas_price_gwei": a.gas_price_gwei, "facilities": a.facilities,
                        "professionals": a.professionals},
        "per_person_year": {"gas": round(gas_ppy, 1), "txs": _sig(txs_ppy),
                            "swarm_bytes": round(bytes_ppy, 1),
                            "activities": activities},
        "demand": {"mean": {"gas_per_second": _sig(mean_gas), "txs_per_second": _sig(mean_txs),
                            "gas_per_day": _sig(mean_gas * DAY)},
                   "peak": {"gas_per_second": _sig(peak_gas), "txs_per_second": _sig(peak_txs),
                            "gas_per_day": _sig(peak_gas * DAY)}},
        "configs": rows,
        "storage": {"bytes_per_year": _sig(a.population * bytes_ppy),
                    "note": "lab records' fragments and manifests on the swarm, as measured "
                            "(replication and the n/t expansion included); visit records, "
                            "sealed off the swarm, are not counted"},
        "setup": {"gas": _sig(setup_gas), "per_unit": {k: round(v, 1) for k, v in setup.items()},
                  "note": "one-off: deployment, every facility and professional onboarded, "
                          "every person registered"},
        "sensitivity": sensitivity,
    }
