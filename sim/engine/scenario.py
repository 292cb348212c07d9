"""Scenarios: the typed configuration of one simulation run, loaded from YAML.

A scenario file is a YAML mapping validated into :class:`Scenario`. Unknown
keys and bad values are errors (:class:`~sim.errors.InputError`) whose one-line
message names the file, the key path and what was expected::

    scenarios/x.yaml: workload.visits_per_patient_year: expected a number >= 0, got -1
    scenarios/x.yaml: storage.nodez: unknown key (known: nodes, bandwidth_mbps, ...)

``pmrsim run --set key.path=value`` overrides one value; the value is read as
YAML, so ``--set storage.nodes=8`` and ``--set layouts=[private,paper]`` both
work, and ``--set layout=paper`` is short for ``--set layouts=[paper]``. Like
py-evm's configuration helpers, an override naming a key that the schema does
not know is rejected rather than silently ignored.

Example::

    >>> from pathlib import Path
    >>> s = load_scenario(Path("scenarios/quickstart.yaml"), ["storage.nodes=7"], seed=3)
    >>> (s.storage.nodes, s.seed)
    (7, 3)

The field reference for users is ``docs/scenarios.md``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from sim.errors import InputError

if typing.TYPE_CHECKING:
    from sim.protocol.records import TestType

#: The ``schema`` value of scenario files (and of ``Scenario.to_public_dict()``).
SCHEMA: Literal["pmrsim.scenario/1"] = "pmrsim.scenario/1"

#: Patient-IDs have at most ten digits (the PMR-ID appends DDMMYYYY to them).
MAX_PATIENT_ID = 10**10 - 1

# --- ceilings --------------------------------------------------------------------------------------
# Every count, duration and rate has one (docs/scenarios.md gives each its reason). They stop
# absurd values at validation; what a run would cost within them is judged by sim.engine.bounds.

#: Simulated days: a century (a lifetime of records) at most.
MAX_DURATION_DAYS = 36_525
#: The first calendar day: block timestamps are Unix seconds and genesis is 10 minutes earlier.
MIN_START_DATE = datetime.date(1970, 1, 2)
#: The last calendar day a run may reach: PMR-IDs write the year with four digits.
MAX_END_DATE = datetime.date(9999, 12, 31)
#: Seeds are unsigned 64-bit integers (as JSON readers and numpy generators take them).
MAX_SEED = 2**64 - 1
#: Seconds between blocks: an hour (Bitcoin, the slowest chain in wide use, takes ten minutes).
MAX_BLOCK_TIME = 3_600
#: Block gas limit: a billion, ~30x Ethereum's today (revm keeps gas in 64 bits).
MAX_BLOCK_GAS_LIMIT = 1_000_000_000
#: Storage nodes in the swarm: a thousand (IPFS Cluster deployments run to hundreds of peers).
MAX_STORAGE_NODES = 1_000
#: Patients: 100 million, ten times a ten-million-person nation run on one machine.
MAX_PATIENTS = 100_000_000
#: Hospitals: 100,000 (India, the country with the most, has about 70,000).
MAX_HOSPITALS = 100_000
#: Doctors onboarded by one hospital: 10,000 (the largest hospitals employ a few thousand).
MAX_DOCTORS_PER_HOSPITAL = 10_000
#: Doctors in all: two million (India has about 1.3 million registered doctors).
MAX_DOCTORS = 2_000_000
#: Regulators: a thousand (a national body and one per state or district).
MAX_REGULATORS = 1_000
#: IoMT devices: a million (England's virtual wards have about 12,000 beds).
MAX_DEVICES = 1_000_000
#: Visits per patient-year: ten a day, every day (an inpatient's daily rounds are one).
MAX_VISITS_PER_PATIENT_YEAR = 3_650
#: Break-glass accesses per patient-year: one a day.
MAX_BREAK_GLASS_PER_PATIENT_YEAR = 365
#: IoMT window: a week, in minutes (a weekly anchor already defeats monitoring).
MAX_IOMT_WINDOW_MINUTES = 10_080
#: Seconds between readings: reading times are whole seconds, so at least one; at most a day.
MIN_IOMT_READING_INTERVAL_S = 1
MAX_IOMT_READING_INTERVAL_S = 86_400
#: Readings in one window of one device: one a second for a day (each window is held in memory).
MAX_READINGS_PER_WINDOW = 86_400
#: Attempts of each adversary kind: ten thousand (each is one test of one forbidden path).
MAX_ATTEMPTS = 10_000
#: Minutes between repair rounds: at least one (each round is simulated work), at most a year.
MIN_REPAIR_INTERVAL_MINUTES = 1
MAX_REPAIR_INTERVAL_MINUTES = 525_600
#: Mean churn up and down times, in hours: 36 seconds to ten years.
MIN_CHURN_HOURS = 0.01
MAX_CHURN_HOURS = 87_600
#: Bandwidth of a node, in Mb/s: 1 kb/s to 1 Tb/s.
MIN_BANDWIDTH_MBPS = 0.001
MAX_BANDWIDTH_MBPS = 1_000_000
#: One-way latency, in ms: a minute at most (a geostationary hop is ~600 ms).
MAX_LATENCY_MS = 60_000
#: Bytes per encrypted segment: 1 KiB (a record of 1 MB is then 1,000 segments) to 1 GiB
#: (one segment and its n pieces are held in memory at once).
MIN_SEGMENT_SIZE = 1 << 10
MAX_SEGMENT_SIZE = 1 << 30
#: Relative weight of one lab test type.
MAX_LAB_WEIGHT = 1_000_000
#: DICOM sources listed: a hundred.
MAX_DICOM_SOURCES = 100
#: Characters of a scenario name (it names the run folder) and of its description.
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 10_000
#: Characters of an RPC URL.
MAX_URL_LENGTH = 2_048

#: Modalities that ``synthetic:<modality>`` DICOM sources may name.
SYNTHETIC_MODALITIES = ("CR", "DX", "CT", "MR", "US", "MG", "ECG")

#: Layouts of the contracts: personal fields kept off chain, or stored as the paper's screens suggest.
Layout = Literal["private", "paper"]

_PYDICOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
#: An invariant (``pii_on_chain``), or one kind of an accounted family
#: (``operations:LabReports.post``, ``attacks:replayed_transaction``, ``denials:late_access``).
InvariantName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.() -]+)?$")]


def _custom(path: str, expected: str, got: Any) -> PydanticCustomError:
    """An error at ``path`` (relative to the model being validated), translated by :func:`_explain`."""
    return PydanticCustomError(
        "pmrsim", "{path}: {expected}", {"path": path, "expected": expected, "got": got})


class Strict(BaseModel):
    """Base of every scenario section: unknown keys are errors, instances are immutable.

    Booleans are refused where a number or a string is expected (YAML 1.1 reads
    ``yes``, ``no``, ``on`` and ``off`` as booleans, and pydantic would take
    ``True`` for ``1``), and so are infinities and NaN.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _reject_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        """No scenario field is a boolean: refuse ``true``/``false`` (and ``yes``/``no``)."""
        if info.field_name is None or _is_model(_unwrap(cls.model_fields[info.field_name].annotation)):
            return value
        for path, item in _shallow_items(value):
            if isinstance(item, bool):
                raise _custom(path, "expected " + _kind(_annotation_below(
                    cls.model_fields[info.field_name].annotation, path)), item)
        return value


def _shallow_items(value: Any) -> Iterator[tuple[str, Any]]:
    """``value`` itself, then the values of a mapping or the items of a list, with relative paths."""
    yield "", value
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield str(index), item


class ChainConfig(Strict):
    """The chain the contracts run on."""

    backend: Literal["pyevm", "ethtester", "revm", "rpc", "anvil"] = Field(
        default="pyevm",
        description="Chain backend: in-process py-evm, eth-tester, revm (fast), a node over JSON-RPC "
                    "(rpc, at rpc_url), or an anvil node pmrsim starts and stops (anvil).")
    block_time: int = Field(default=12, ge=1, le=MAX_BLOCK_TIME, description="Seconds between blocks.")
    block_gas_limit: int = Field(default=30_000_000, ge=1_000_000, le=MAX_BLOCK_GAS_LIMIT,
                                 description="Gas limit of every block.")
    rpc_url: str | None = Field(default=None, max_length=MAX_URL_LENGTH,
                                description="JSON-RPC endpoint of the node (backend rpc only).")
    gas_limits: Literal["estimate", "table"] = Field(
        default="estimate",
        description="How transactions get their gas limit: estimated on the pending block (`estimate`, "
                    "a dry run each), or from the committed gas table with a margin (`table`, as a dApp "
                    "that hard-codes its limits; operations not in the table are still estimated).")


class ChurnConfig(Strict):
    """Storage nodes going down and coming back (exponentially distributed up and down times)."""

    mean_uptime_hours: float = Field(
        default=72.0, ge=MIN_CHURN_HOURS, le=MAX_CHURN_HOURS,
        description="Mean time a storage node stays up, in hours.")
    mean_downtime_hours: float = Field(
        default=2.0, ge=MIN_CHURN_HOURS, le=MAX_CHURN_HOURS,
        description="Mean time a storage node stays down, in hours.")


class StorageConfig(Strict):
    """The private IPFS swarm that holds encrypted fragments and manifests."""

    nodes: int = Field(default=6, ge=1, le=MAX_STORAGE_NODES,
                       description="Number of storage nodes in the swarm.")
    bandwidth_mbps: float = Field(
        default=100.0, ge=MIN_BANDWIDTH_MBPS, le=MAX_BANDWIDTH_MBPS,
        description="Bandwidth of each node, in megabits per second.")
    latency_ms: float = Field(
        default=20.0, ge=0, le=MAX_LATENCY_MS,
        description="One-way network latency between nodes, in milliseconds.")
    replication: int = Field(default=2, ge=1, le=MAX_STORAGE_NODES,
                             description="Copies kept of each manifest (at most `nodes`).")
    replication_min: int | None = Field(
        default=None, ge=1, le=MAX_STORAGE_NODES,
        description="Copies below which the repair re-replicates a manifest (IPFS Cluster's "
                    "replication_factor_min); null means `replication`.")
    churn: ChurnConfig | None = Field(
        default=None, description="Node churn; null (the default) keeps every node up.")
    byzantine: int = Field(
        default=0, ge=0, le=MAX_STORAGE_NODES,
        description="Nodes that serve tampered blocks (fewer than `nodes`).")
    repair_interval_minutes: float = Field(
        default=30.0, ge=MIN_REPAIR_INTERVAL_MINUTES, le=MAX_REPAIR_INTERVAL_MINUTES,
        description="Minutes between repair rounds that restore lost fragments and copies.")

    @model_validator(mode="after")
    def _fits_the_swarm(self) -> StorageConfig:
        """Replication and byzantine nodes cannot exceed the swarm."""
        if self.replication > self.nodes:
            raise _custom("replication", f"expected an integer <= nodes ({self.nodes})", self.replication)
        if self.byzantine >= self.nodes:
            raise _custom("byzantine", f"expected an integer < nodes ({self.nodes})", self.byzantine)
        if self.replication_min is not None and self.replication_min > self.replication:
            raise _custom("replication_min", f"expected an integer <= replication ({self.replication})",
                          self.replication_min)
        return self


class SharingConfig(Strict):
    """The (1, t, n) essential secret sharing of each lab report."""

    t: int = Field(
        default=3, ge=1, le=255,
        description="Custodian shares needed, with the patient's essential share, to recover.")
    n: int = Field(
        default=5, le=255, description="Custodian shares made (t <= n <= 255), one per storage node.")
    segment_size: int = Field(
        default=4 * 1024 * 1024, ge=MIN_SEGMENT_SIZE, le=MAX_SEGMENT_SIZE,
        description="Bytes per encrypted segment of a record.")

    @model_validator(mode="after")
    def _threshold_fits(self) -> SharingConfig:
        """The threshold cannot exceed the number of shares."""
        if self.n < self.t:
            raise _custom("n", f"expected an integer >= t ({self.t})", self.n)
        return self


class PopulationConfig(Strict):
    """Who takes part: regulators, hospitals, doctors, patients and IoMT devices."""

    regulators: int = Field(default=1, ge=1, le=MAX_REGULATORS,
                            description="Regulators that verify hospitals.")
    hospitals: int = Field(
        default=2, ge=1, le=MAX_HOSPITALS, description="Hospitals (each with a registration desk and a lab).")
    doctors_per_hospital: int = Field(default=3, ge=1, le=MAX_DOCTORS_PER_HOSPITAL,
                                      description="Doctors onboarded by each hospital.")
    patients: int = Field(default=20, ge=1, le=MAX_PATIENTS, description="Patients registered at the start.")
    first_patient_id: int = Field(
        default=1, ge=1, le=MAX_PATIENT_ID,
        description="Patient-ID of the first patient; the others follow consecutively (at most ten digits).")
    devices: int = Field(
        default=0, ge=0, le=MAX_DEVICES,
        description="IoMT devices, each bound to a distinct patient (at most `patients`).")

    @model_validator(mode="after")
    def _ids_and_devices_fit(self) -> PopulationConfig:
        """Patient-IDs stay within ten digits; each device has its own patient."""
        last_first = MAX_PATIENT_ID + 1 - self.patients
        if self.first_patient_id > last_first:
            raise _custom("first_patient_id",
                          f"expected an integer <= {last_first} (10**10 - patients)", self.first_patient_id)
        if self.devices > self.patients:
            raise _custom("devices", f"expected an integer <= patients ({self.patients})", self.devices)
        if self.hospitals * self.doctors_per_hospital > MAX_DOCTORS:
            raise _custom("doctors_per_hospital", f"expected hospitals x doctors_per_hospital <= "
                          f"{MAX_DOCTORS:,} ({self.hospitals} hospitals)", self.doctors_per_hospital)
        return self


def _default_lab_mix() -> dict[str, float]:
    """The default relative weights of lab test types."""
    return {"xray": 3, "blood": 4, "ct": 1, "mri": 1, "ultrasound": 1}


def _default_dicom_sources() -> list[str]:
    """The default DICOM files that lab reports are made from."""
    return ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]


def parse_dicom_source(source: str) -> tuple[Literal["pydicom", "synthetic"], str]:
    """Split a validated ``dicom_sources`` entry into its kind and name.

    >>> parse_dicom_source("synthetic:CR")
    ('synthetic', 'CR')
    >>> parse_dicom_source("CT_small.dcm")
    ('pydicom', 'CT_small.dcm')
    """
    if source.startswith("synthetic:"):
        return "synthetic", source.removeprefix("synthetic:")
    return "pydicom", source


class WorkloadConfig(Strict):
    """What the actors do and how often."""

    visits_per_patient_year: float = Field(
        default=4.0, ge=0, le=MAX_VISITS_PER_PATIENT_YEAR,
        description="Mean visits per patient per year (Poisson arrivals); each visit mints a PMR token.")
    arrivals: Literal["first_day", "first_visit"] = Field(
        default="first_day",
        description="When patients come: all register and have a first visit within the first day "
                    "(`first_day`), or each registers at the first visit of its Poisson visit process, "
                    "so patients with no visit in the run never come (`first_visit`).")
    lab_order_probability: float = Field(
        default=0.3, ge=0, le=1, description="Probability that a visit orders a lab test.")
    lab_mix: dict[str, float] = Field(
        default_factory=_default_lab_mix,
        description="Relative weights of lab test types; keys are test type names (case-insensitive).")
    dicom_sources: list[str] = Field(
        default_factory=_default_dicom_sources, min_length=1, max_length=MAX_DICOM_SOURCES,
        description="DICOM inputs of lab reports: pydicom test file names, or `synthetic:<modality>`.")
    second_opinion_probability: float = Field(
        default=0.2, ge=0, le=1,
        description="Probability that a lab report leads to a second opinion (an access grant).")
    grant_duration_days: float = Field(
        default=7.0, gt=0, le=366, description="How long a grant to a second doctor lasts, in days.")
    late_access_probability: float = Field(
        default=0.2, ge=0, le=1,
        description="Probability that the second doctor tries again after the grant expired.")
    revoke_probability: float = Field(
        default=0.1, ge=0, le=1,
        description="Probability that the patient revokes a grant before it expires.")
    break_glass_per_patient_year: float = Field(
        default=0.05, ge=0, le=MAX_BREAK_GLASS_PER_PATIENT_YEAR,
        description="Mean emergency (break-glass) accesses per patient per year.")
    iomt_window_minutes: float = Field(
        default=60.0, ge=1, le=MAX_IOMT_WINDOW_MINUTES,
        description="Minutes of IoMT readings committed together (batch mode).")
    iomt_reading_interval_s: float = Field(
        default=60.0, ge=MIN_IOMT_READING_INTERVAL_S, le=MAX_IOMT_READING_INTERVAL_S,
        description="Seconds between readings of a device.")
    iomt_mode: Literal["batch", "per_reading"] = Field(
        default="batch", description="Commit one digest per window (batch) or one transaction per reading.")

    @field_validator("lab_mix")
    @classmethod
    def _known_test_types(cls, mix: dict[str, float]) -> dict[str, float]:
        """Keys are test type names (normalised to lower case); weights are positive."""
        if not mix:
            raise _custom("", "expected at least one test type", mix)
        # imported here: sim.protocol loads the chain's ABI codecs (~1 s), which loading a
        # scenario (and refusing a bad one) does not need
        from sim.protocol.records import TestType

        names = ", ".join(t.name.lower() for t in TestType)
        normalised: dict[str, float] = {}
        for key, weight in mix.items():
            name = key.lower()
            if name.upper() not in TestType.__members__:
                raise _custom(key, f"unknown test type (known: {names})", key)
            if name in normalised:
                raise _custom(key, f"duplicate test type ({name} appears twice)", key)
            if not weight > 0:
                raise _custom(key, "expected a number > 0", weight)
            if weight > MAX_LAB_WEIGHT:
                raise _custom(key, f"expected a number <= {MAX_LAB_WEIGHT}", weight)
            normalised[name] = weight
        return normalised

    @field_validator("dicom_sources")
    @classmethod
    def _source_names(cls, sources: list[str]) -> list[str]:
        """Each source is a bare pydicom test file name or ``synthetic:<modality>``."""
        checked = []
        for index, source in enumerate(sources):
            if source.lower().startswith("synthetic:"):
                modality = source.split(":", 1)[1].upper()
                if modality not in SYNTHETIC_MODALITIES:
                    raise _custom(str(index), "expected synthetic:<modality> with a modality in "
                                  + ", ".join(SYNTHETIC_MODALITIES), source)
                checked.append("synthetic:" + modality)
            elif _PYDICOM_NAME.fullmatch(source):
                checked.append(source)
            else:
                raise _custom(str(index), "expected a pydicom test file name (no directory) "
                              "or synthetic:<modality>", source)
        return checked

    @model_validator(mode="after")
    def _windows_fit(self) -> WorkloadConfig:
        """A device's window of readings (held in memory while it passes) has a ceiling."""
        readings = int(self.iomt_window_minutes * 60 // self.iomt_reading_interval_s)
        if readings > MAX_READINGS_PER_WINDOW:
            raise _custom("iomt_reading_interval_s", "expected at most "
                          f"{MAX_READINGS_PER_WINDOW:,} readings per window (iomt_window_minutes x 60 / "
                          f"iomt_reading_interval_s is {readings:,})", self.iomt_reading_interval_s)
        return self

    def lab_weights(self) -> dict[TestType, float]:
        """The lab mix keyed by :class:`~sim.protocol.records.TestType`."""
        from sim.protocol.records import TestType

        return {TestType[name.upper()]: weight for name, weight in self.lab_mix.items()}


class AdversaryConfig(Strict):
    """How many attempts of each forbidden kind the run makes (each must be rejected)."""

    unregistered_hospital: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A hospital the regulator never verified acts.")
    foreign_doctor: int = Field(default=0, ge=0, le=MAX_ATTEMPTS,
                                description="A doctor of another hospital writes a PMR.")
    non_owner_grant: int = Field(default=0, ge=0, le=MAX_ATTEMPTS,
                                 description="Someone other than the patient grants access.")
    expired_grant: int = Field(default=0, ge=0, le=MAX_ATTEMPTS,
                               description="A doctor reads after the grant expired.")
    forged_essential_share: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A record is recovered with a forged essential share.")
    tampered_fragment: int = Field(default=0, ge=0, le=MAX_ATTEMPTS,
                                   description="A storage node serves a tampered fragment.")
    replayed_transaction: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS, description="A signed transaction is sent a second time.")
    # the trust model (docs/trust-model.md): one kind per rule, each on a clinic of its own
    role_grab: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A hospital grants itself the regulator role or rewires (R1).")
    registration_squatting: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A copycat files a pending applicant's Gov. Reg. ID (H1).")
    application_swap: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="An applicant revises its application after review (H2).")
    operator_role_abuse: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS, description="A lab or desk acts outside its role (H4).")
    operator_hijack: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A hospital names a pending applicant its operator (H5).")
    lost_standing: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A doctor reads after its hospital's suspension or its affiliation's end (D2).")
    uprn_squatting: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A hospital binds a real doctor's UPRN to a puppet (D3).")
    foreign_version: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="Another hospital's doctor adds a version without a grant to write (P1).")
    bogus_visit_date: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS, description="A PMR dated 2099 or 1900 (P2).")
    token_transfer: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A patient transfers its PMR (T1).")
    reentrant_receiver: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A contract patient re-enters mint from its hook (T2).")
    refusing_receiver: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A contract patient refuses its PMR unit (T3).")
    unminted_grant: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A patient grants access to a visit with no PMR (G2).")
    custodian_replay: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="One recorded read is presented to the custodians twice (A1).")
    scope_key_use: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A read is logged under a scope key, not a PMR-ID (A2).")
    break_glass_flood: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A fourth break-glass opening on a patient in a week (E1).")
    break_glass_after_close: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A break-glass read after the patient closed it (E2).")
    break_glass_unreviewed: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A foreign or self review of an opening; a new one while overdue (E3).")
    foreign_lab_report: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="Another hospital's lab reports on a record, unreferred (L1).")
    bogus_capture_date: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A lab report captured in 2099 or before the visit (L2).")
    device_without_consent: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A device anchors for a patient who never accepted it (I1).")
    device_unbind_by_stranger: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="Another hospital's desk unbinds a patient's device (I2).")
    suspended_device: int = Field(
        default=0, ge=0, le=MAX_ATTEMPTS,
        description="A device of a suspended hospital anchors (I3).")


def _default_layouts() -> list[Layout]:
    """The default layouts: the private one only."""
    return ["private"]


class Scenario(Strict):
    """One simulation run: who takes part, what they do, on which chain and storage, for how long."""

    schema_: Literal["pmrsim.scenario/1"] = Field(
        default=SCHEMA, alias="schema", description="Format of the file (optional in files).")
    name: str = Field(
        pattern=r"^[a-z0-9_-]+$", max_length=MAX_NAME_LENGTH,
        description="Short name: lower-case letters, digits, _ and -.")
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION_LENGTH,
                             description="What the scenario shows, in a sentence or two.")
    seed: int = Field(
        default=0, ge=0, le=MAX_SEED,
        description="Seed of the run's random generator (`pmrsim run --seed` overrides it).")
    duration_days: float = Field(default=7.0, gt=0, le=MAX_DURATION_DAYS,
                                 description="Simulated time, in days.")
    start_date: datetime.date = Field(
        default=datetime.date(2021, 1, 25), ge=MIN_START_DATE,
        description="Calendar date of simulated time zero (visit dates in PMR-IDs).")
    shifted_from: datetime.date | None = Field(
        default=None,
        description="The start_date before `pmrsim run --shift-calendar` moved the calendar to a "
                    "node's time (set by pmrsim; recorded in summary.json as calendar_shift).")
    layouts: list[Layout] = Field(
        default_factory=_default_layouts, min_length=1,
        description="Contract layouts to run; with both, the run compares them.")
    token: Literal["erc721", "erc1155"] = Field(default="erc721", description="Token standard of PMR tokens.")
    chain: ChainConfig = Field(default_factory=ChainConfig, description="The chain.")
    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="The storage swarm.")
    sharing: SharingConfig = Field(
        default_factory=SharingConfig, description="Secret sharing of lab reports.")
    population: PopulationConfig = Field(
        default_factory=PopulationConfig, description="The participants.")
    workload: WorkloadConfig = Field(
        default_factory=WorkloadConfig, description="What the participants do.")
    adversaries: AdversaryConfig = Field(
        default_factory=AdversaryConfig, description="Forbidden attempts.")
    expect_violations: dict[Layout, list[InvariantName]] = Field(
        default_factory=dict,
        description="Invariant names a layout is expected to violate, e.g. {paper: [pii_on_chain]}.")

    @field_validator("layouts")
    @classmethod
    def _unique_layouts(cls, layouts: list[str]) -> list[str]:
        """A layout is run once."""
        for index, layout in enumerate(layouts):
            if layout in layouts[:index]:
                raise _custom(str(index), "expected each layout once", layout)
        return layouts

    @model_validator(mode="after")
    def _shares_fit_the_swarm(self) -> Scenario:
        """Each custodian share goes to a different storage node."""
        if self.sharing.n > self.storage.nodes:
            raise _custom("sharing.n", f"expected an integer <= storage.nodes ({self.storage.nodes})",
                          self.sharing.n)
        return self

    @model_validator(mode="after")
    def _attacks_have_targets(self) -> Scenario:
        """An attack the population cannot give a target is refused before the run.

        A doctor of one hospital writing at another needs two hospitals; a
        grant by someone other than the record's owner needs two patients.
        (Targets the workload may or may not produce, such as a stored lab
        report, are looked for during the run; an attack that finds none is
        reported by the ``attacks`` check.)
        """
        if self.adversaries.foreign_doctor and self.population.hospitals < 2:
            raise _custom("adversaries.foreign_doctor",
                          "expected 0 with a single hospital (population.hospitals: the attack "
                          "needs a second hospital)", self.adversaries.foreign_doctor)
        if self.adversaries.non_owner_grant and self.population.patients < 2:
            raise _custom("adversaries.non_owner_grant",
                          "expected 0 with a single patient (population.patients: the attack "
                          "needs a second patient)", self.adversaries.non_owner_grant)
        return self

    @model_validator(mode="after")
    def _time_fits(self) -> Scenario:
        """The run lasts at least one block and ends by 9999-12-31 (four-digit years in PMR-IDs)."""
        if self.duration_days * 86_400 < self.chain.block_time:
            raise _custom("duration_days", "expected at least one block time "
                          f"(chain.block_time {self.chain.block_time} s)", self.duration_days)
        last = (MAX_END_DATE - self.start_date).days
        if self.duration_days > last:
            raise _custom("duration_days", f"expected a run ending by {MAX_END_DATE} "
                          f"(at most {last} days from start_date {self.start_date})", self.duration_days)
        return self

    def to_public_dict(self) -> dict[str, Any]:
        """The validated scenario as plain JSON-able data (every field, the ``schema`` key
        included; ``shifted_from`` only when set, so an unshifted run's trace is as before)."""
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("shifted_from") is None:
            data.pop("shifted_from", None)
        return data


def scenario_digest(scenario: Scenario) -> str:
    """The sha256 (hex) of the scenario's canonical JSON: sorted keys, no spaces, ASCII."""
    canonical = json.dumps(scenario.to_public_dict(), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _input_error(message: str) -> InputError:
    """An :class:`InputError` whose message is one printable line (control characters escaped)."""
    return InputError("".join(c if c.isprintable() else repr(c)[1:-1] for c in message))


# --- loading ---------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML would keep the last)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Build a mapping, refusing duplicate keys with the line of the second one."""
    seen: set[Any] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}",
                key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A date or time, or the plain string when it looks like one but is not (``2021-13-01``).

    PyYAML raises a bare ``ValueError`` there; as a string it reaches validation,
    which names the key.
    """
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)

#: Bytes of a scenario or sweep file read at most (a shipped one is ~2 KB).
MAX_YAML_BYTES = 1 << 20
#: Nodes a YAML document may expand to, every alias counted as a copy of what it names (a
#: scenario is ~150; a "billion laughs" bomb of 900 bytes is 10**9).
MAX_YAML_NODES = 100_000
#: Nesting depth of a YAML document (a scenario's is 4).
MAX_YAML_DEPTH = 64


class YamlBudgetError(yaml.YAMLError):
    """Raised when a YAML document would expand past :data:`MAX_YAML_NODES` or nest too deep."""


def load_yaml(text: str) -> Any:
    """Parse one YAML document with :class:`_Loader`, refusing alias bombs before building it.

    The document is first composed into its node graph, in which an alias is
    a second reference to the anchored node (no copy yet). Its expanded size
    (each alias counted as a full copy, as validation would walk it) is
    counted over that graph in one pass, each node's size computed once, and
    a document past :data:`MAX_YAML_NODES` nodes, nested deeper than
    :data:`MAX_YAML_DEPTH` or holding itself (a recursive alias) raises
    :class:`YamlBudgetError` before any Python object is made. Ordinary
    anchors and aliases (``<<: *defaults``) are within the budget.
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # the composer recurses once per nesting level
            raise YamlBudgetError(f"nested deeper than {MAX_YAML_DEPTH} levels") from None
        if node is None:
            return None
        expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def expanded_size(root: yaml.Node, *, budget: int = MAX_YAML_NODES, depth: int = MAX_YAML_DEPTH) -> int:
    """Nodes in the tree ``root`` stands for, aliases expanded; raise past ``budget`` or ``depth``.

    Iterative (no Python recursion), linear in the distinct nodes and edges of
    the graph: a node reached again through an alias adds its size, counted once.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > budget:
                raise YamlBudgetError(f"expands to more than {budget:,} nodes (through aliases); "
                                      "refused")
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YamlBudgetError("holds itself through an alias (a recursive structure); refused")
        if len(on_path) >= depth:
            raise YamlBudgetError(f"nested deeper than {depth} levels")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes directly inside ``node`` (a mapping's keys and values, a sequence's items)."""
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A one-line description of a YAML error, with its line and column when known."""
    if isinstance(exc, YamlBudgetError):
        return f"YAML document {exc}"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return f"invalid YAML: {exc}".replace("\n", " ")


def load_scenario(path: Path, overrides: Sequence[str] = (), *, seed: int | None = None) -> Scenario:
    """Read the scenario at ``path``, apply ``--set`` overrides and ``seed``, and validate it.

    Raises :class:`~sim.errors.InputError` (one line naming the file and the
    key path) when the file cannot be read, is not YAML, is not a mapping, or
    does not validate; errors caused by an override or by ``seed`` say so.
    """
    path = Path(path)
    data = _read_mapping(path)
    origins: dict[str, str] = {}
    for assignment in overrides:
        try:
            origins[_apply(data, assignment)] = f"--set {assignment}"
        except InputError as exc:
            raise _input_error(f"{path}: {exc}") from None
    if seed is not None:
        data["seed"] = seed
        origins["seed"] = f"--seed {seed}"
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _input_error(_explain(str(path), exc, origins)) from None


def read_yaml_text(path: Path, kind: str) -> str:
    """The text of the YAML file at ``path`` (``kind`` says what it should be, for messages).

    At most :data:`MAX_YAML_BYTES` are read (a file, or a device or pipe that
    never ends): a longer one is refused.
    """
    try:
        if path.is_dir():
            raise IsADirectoryError
        with path.open("rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            raise _input_error(f"{path}: expected {kind} of at most {MAX_YAML_BYTES:,} bytes")
        return raw.decode("utf-8")
    except FileNotFoundError:
        raise _input_error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise _input_error(f"{path}: is a directory, expected {kind}") from None
    except UnicodeDecodeError:
        raise _input_error(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise _input_error(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of the YAML file at ``path``."""
    text = read_yaml_text(path, "a scenario YAML file")
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise _input_error(f"{path}: {_yaml_problem(exc)}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise _input_error(f"{path}: invalid value: {exc}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _show(data)
        raise _input_error(f"{path}: expected a mapping of scenario keys at the top level, got {got}")
    return data


# --- overrides -------------------------------------------------------------------------------------


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set key.path=value`` to the raw scenario ``data`` (in place).

    The value is read as YAML (``8``, ``0.5``, ``paper``, ``[private, paper]``,
    ``{xray: 1}``, ``null``); missing intermediate mappings are created, so
    ``storage.churn.mean_uptime_hours=6`` turns churn on with the other churn
    defaults. ``layout=X`` is short for ``layouts=[X]``. The key path is checked
    against the :class:`Scenario` schema (not against ``data``): an unknown key,
    a path into a value that has no keys, or an assignment without ``=`` raises
    :class:`~sim.errors.InputError`. Values are checked later, by validation.

    >>> data = {"name": "x", "description": "y"}
    >>> apply_override(data, "storage.nodes=8"); apply_override(data, "layout=paper")
    >>> data["storage"], data["layouts"]
    ({'nodes': 8}, ['paper'])
    """
    _apply(data, assignment)


def _apply(data: dict[str, Any], assignment: str) -> str:
    """Apply ``assignment`` to ``data``; return the dotted key path it set."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not all(parts):
        raise _input_error(f"--set {assignment}: expected key.path=value, e.g. storage.nodes=8")
    try:
        value = load_yaml(text)
    except yaml.YAMLError as exc:
        raise _input_error(f"--set {assignment}: value is {_yaml_problem(exc)}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise _input_error(f"--set {assignment}: invalid value: {exc}") from None
    if parts == ["layout"]:  # compatibility alias: --set layout=paper
        parts = ["layouts"]
        value = value if isinstance(value, list) else [value]
    _check_path(parts, assignment)
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise _input_error(
                f"--set {assignment}: {where} is {_show(child)} in the scenario, not a mapping")
        node = child
    node[parts[-1]] = value
    return ".".join(parts)


def _check_path(parts: list[str], assignment: str) -> None:
    """Raise unless ``parts`` names a key of the :class:`Scenario` schema (or a key of a mapping field)."""
    annotation: Any = Scenario
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        if _is_model(annotation):
            fields = _fields(annotation)
            if part not in fields:
                raise _input_error(f"--set {assignment}: {where}: unknown key (known: {', '.join(fields)})")
            annotation = _unwrap(fields[part].annotation)
        elif typing.get_origin(annotation) is dict:
            annotation = _unwrap(typing.get_args(annotation)[1])
        else:
            parent = ".".join(parts[:depth])
            raise _input_error(f"--set {assignment}: {where}: {parent} is {_kind(annotation)}, "
                               f"it has no keys; set it whole ({parent}=...)")


# --- schema helpers --------------------------------------------------------------------------------


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The fields of ``model`` keyed as they are written in files (alias or name)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _is_model(annotation: Any) -> bool:
    """Whether ``annotation`` is a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _unwrap(annotation: Any) -> Any:
    """``annotation`` without ``Annotated[...]`` and without ``| None``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def _nullable(annotation: Any) -> bool:
    """Whether ``annotation`` admits ``None``."""
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _kind(annotation: Any) -> str:
    """What ``annotation`` expects, in words: "an integer", "one of 'a' or 'b'", "a mapping", ..."""
    base = _unwrap(annotation)
    origin = typing.get_origin(base)
    if base is int:
        kind = "an integer"
    elif base is float:
        kind = "a number"
    elif base is str:
        kind = "a string"
    elif base is datetime.date:
        kind = "a date (YYYY-MM-DD)"
    elif origin is Literal:
        options = [repr(a) for a in typing.get_args(base)]
        kind = options[0] if len(options) == 1 else f"one of {', '.join(options[:-1])} or {options[-1]}"
    elif origin is dict or _is_model(base):
        kind = "a mapping"
    elif origin is list:
        kind = "a list"
    else:
        kind = "a value"
    return kind + " or null" if _nullable(annotation) else kind


def _annotation_below(annotation: Any, path: str) -> Any:
    """The annotation of the item at relative ``path`` ("" for ``annotation`` itself, else a key or index)."""
    if not path:
        return annotation
    base = _unwrap(annotation)
    args = typing.get_args(base)
    if typing.get_origin(base) is dict:
        return args[1]
    if typing.get_origin(base) is list:
        return args[0]
    return None


def _annotation_at(loc: Sequence[str | int]) -> Any:
    """The annotation of the value at ``loc`` in a :class:`Scenario`, or None when unknown."""
    annotation: Any = Scenario
    for part in loc:
        base = _unwrap(annotation)
        if _is_model(base):
            info = _fields(base).get(str(part))
            if info is None:
                return None
            annotation = info.annotation
        elif typing.get_origin(base) in (dict, list):
            annotation = typing.get_args(base)[-1]
        else:
            return None
    return annotation


# --- error messages --------------------------------------------------------------------------------


_TYPE_ERRORS = {
    "int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "string_type",
    "date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact",
    "date_future", "date_past", "model_type", "model_attributes_type", "dict_type", "list_type",
    "literal_error", "none_required", "string_sub_type",
}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
_MAX_ERRORS = 3


def _explain(source: str, exc: ValidationError, origins: Mapping[str, str]) -> str:
    """One line for a validation error: ``source: key.path: expected ..., got ...`` (up to three)."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [part for part in err["loc"] if part != "[key]"]
        ctx = err.get("ctx") or {}
        if err["type"] == "pmrsim":
            loc += [int(p) if p.isdigit() else p for p in str(ctx["path"]).split(".") if p]
            text, got = str(ctx["expected"]), ctx["got"]
            show_got = True
        else:
            annotation = _annotation_at(loc)
            if err["loc"][-1:] == ("[key]",):  # a bad key of a mapping: what keys it takes
                mapping = _unwrap(_annotation_at(loc[:-1]))
                annotation = typing.get_args(mapping)[0] if typing.get_origin(mapping) is dict else None
            text, show_got = _expectation(err["type"], loc, annotation, ctx, str(err["msg"]))
            got = err.get("input")
        where = _dotted(loc)
        line = f"{where}: {text}" if where else text
        if show_got:
            line += f", got {_show(got)}"
        origin = next((o for p, o in origins.items()
                       if where == p or where.startswith((p + ".", p + "[")) or p.startswith(where + ".")),
                      None)
        if origin:
            line += f" (from {origin})"
        lines.append(line)
    more = len(lines) - _MAX_ERRORS
    summary = "; ".join(lines[:_MAX_ERRORS]) + (f" (and {more} more)" if more > 0 else "")
    return f"{source}: {summary}"


def _expectation(kind: str, loc: list[str | int], annotation: Any, ctx: Mapping[str, Any],
                 msg: str) -> tuple[str, bool]:
    """The "expected ..." text of a pydantic error at ``loc``; whether the offending input should follow."""
    if kind == "extra_forbidden":
        parent = _unwrap(_annotation_at(loc[:-1]))
        known = ", ".join(_fields(parent)) if _is_model(parent) else "none"
        return f"unknown key (known: {known})", False
    if kind == "missing":
        return "missing (required)", False
    if kind in _TYPE_ERRORS:
        return f"expected {_kind(annotation)}", True
    if kind in _BOUNDS:
        op, name = _BOUNDS[kind]
        bound = ctx.get(name)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # pydantic reports the bound of a float field as 0.0
        return f"expected {_kind(annotation)} {op} {bound}", True
    if kind == "finite_number":
        return "expected a finite number", True
    if kind == "string_pattern_mismatch":
        return f"expected a string matching {ctx.get('pattern')}", True
    if kind == "string_too_short":
        return "expected a non-empty string", True
    if kind == "string_too_long":
        return f"expected a string of at most {ctx.get('max_length')} characters", False
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s)", False
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s)", True
    text = msg.removeprefix("Value error, ")
    return text[:1].lower() + text[1:], True


def _dotted(loc: Sequence[str | int]) -> str:
    """``("storage", "nodes")`` -> ``storage.nodes``; list indexes as ``[i]``."""
    out = ""
    for part in loc:
        if isinstance(part, int) and out:
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _show(value: Any, limit: int = 60) -> str:
    """A short, one-line rendering of a (YAML) value for error messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict | list):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
