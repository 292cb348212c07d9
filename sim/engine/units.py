"""Units of summary metrics and scenario keys, for sweep axes, tables and ``sweep.json``.

A figure without its unit is a guess for its reader: ``latency.X.p95`` is
simulated seconds, ``gas_per_patient_year`` gas per patient-year,
``workload.iomt_window_minutes`` minutes. The unit of a metric follows from
its place in ``summary.json`` (``reports/FORMATS.md``); a scenario key's from
its name (``docs/scenarios.md``).
"""

from __future__ import annotations

#: Exact metric paths (first) and prefixes of ``summary.json`` paths -> unit.
METRICS: tuple[tuple[str, str], ...] = (
    ("gas_per_patient_year", "gas per patient-year"),
    ("steady_state.gas_per_patient_year", "gas per patient-year"),
    ("steady_state.txs_per_patient_year", "transactions per patient-year"),
    ("steady_state.gas_per_visit", "gas per visit"),
    ("steady_state.txs_per_visit", "transactions per visit"),
    ("steady_state.visits_per_patient_year", "visits per patient-year"),
    ("capacity.gas_per_visit", "gas per visit"),
    ("capacity.visits_per_day", "visits per day"),
    ("capacity.block_time", "s"),
    ("capacity.block_gas_limit", "gas per block"),
    ("capacity.gas_per_second", "gas/s"),
    ("txs.per_s_wall", "transactions per wall-clock s"),
    ("txs.", "transactions"),
    ("gas_setup.", "gas"),
    ("counts.", "count"),
    ("sim_seconds", "simulated s"),
    ("wall_seconds", "wall-clock s"),
    ("storage.nodes.", "bytes"),
    ("storage.bytes_", "bytes"),
    ("storage.", "count"),
    ("operations.", "operations"),
    ("attacks.", "attempts"),
)


def metric_unit(path: str) -> str:
    """The unit of the ``summary.json`` value at dotted ``path`` (``""`` when unknown)."""
    head, _, _ = path.partition(".")
    last = path.rpartition(".")[2]
    if head == "latency":
        return "transactions" if last == "count" else "simulated s"
    if head == "gas":
        return "transactions" if last == "count" else "gas"
    if head == "steady_state" and ".activities." in f".{path}.":
        return {"gas": "gas", "gas_per_patient_year": "gas per patient-year",
                "per_patient_year": "per patient-year", "per_visit": "per visit"}.get(last, "")
    for key, unit in METRICS:
        if path == key or (key.endswith(".") and path.startswith(key)):
            return unit
    return ""


#: Suffixes of scenario key names -> unit.
KEY_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_minutes", "minutes"), ("_hours", "hours"), ("_days", "days"), ("_ms", "ms"),
    ("_mbps", "Mbit/s"), ("_s", "s"), ("_probability", "probability"),
    ("_per_patient_year", "per patient-year"), ("block_gas_limit", "gas per block"),
    ("block_time", "s between blocks"), ("segment_size", "bytes"),
)


def key_unit(key: str) -> str:
    """The unit of scenario key ``key`` (``""`` for counts, names and choices)."""
    name = key.rpartition(".")[2]
    for suffix, unit in KEY_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return ""


def labelled(name: str, unit: str) -> str:
    """``name (unit)``, or ``name`` when the unit is unknown."""
    return f"{name} ({unit})" if unit else name
