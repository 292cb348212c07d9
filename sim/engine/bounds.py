"""What a run will cost, estimated from its scenario before anything is built, and the limits.

The scenario schema (:mod:`sim.engine.scenario`) puts a ceiling on every
value on its own; this module judges them together. :func:`estimate` reads
a validated :class:`~sim.engine.scenario.Scenario` and returns an
:class:`Estimate`: the transactions and simulated (SimPy) events of the run,
summed over its layouts, and its peak memory, summed over its processes
(the run and the workers it forks). :func:`check` compares an estimate with
:class:`Limits` and raises :class:`~sim.errors.InputError` (exit 2) with one
line naming the scenario keys that drive the figure, the figure, the limit
and the flag that lifts it. ``pmrsim run`` calls it before it creates its
output folder; ``pmrsim sweep`` calls it for every point before the first
runs, and reports a point over a limit as a failed run.

The model (``docs/scenarios.md``, "How big a run may be", has the
calibration table):

* **Transactions** are counted from the workload's expectations: setup
  (a regulator role each, four per hospital and one per doctor), one
  registration per patient who comes (all of them with ``first_day``
  arrivals; with ``first_visit`` those whose first Poisson visit falls in
  the run), one PMR mint per visit, a lab report per lab order, a second
  opinion's grant, access, opinion, revocation and late try, two per
  break-glass access, a binding per device plus one anchor per window
  (batch) or one transaction per reading (per-reading mode), and at most
  three per adversary attempt. This is the count ``txs.total`` reports.
* **Events** are those transactions at :data:`EVENTS_PER_TX` each, plus
  the swarm's repair rounds, churn's comings and goings (with the repair
  traffic each sets off), each patient's arrival and each device window.
* **Memory** is a fixed part per backend and run size (the interpreter,
  the compiled contracts, the chain; big runs of
  :data:`~sim.engine.offload.BIG_RUN_PATIENTS` patients or more start
  worker processes and keep stores on disk) plus a part per transaction
  (the chain's state, and below the big-run size its whole history),
  per stored lab study (in memory below the big-run size), per patient,
  per doctor, per storage node, per device window held and per adversary
  attempt. Layouts run one after the other, so the peak is the largest
  layout's, not their sum.

The coefficients were fitted to measured runs (``benchmarks/calibrate_bounds.py``)
and rounded up: the estimate is meant to be a little high, never far low.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sim.engine.offload import BIG_RUN_PATIENTS
from sim.errors import InputError

DAY = 86_400.0
YEAR_DAYS = 365.0
KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

# --- the model's coefficients (fitted in docs/scenarios.md, "How big a run may be") ---------------

#: SimPy events per transaction (submission, block slot, the actor waiting and resuming).
EVENTS_PER_TX = 3.0
#: Events per transaction of an IoMT burst (one reading each, sent together: no actor resumes).
EVENTS_PER_READING_TX = 1.2
#: Events per lab order besides its transactions (the study's storage: adds, pins, fetches).
EVENTS_PER_LAB = 20.0
#: Events per repair round with nothing to repair (a timeout).
EVENTS_PER_REPAIR = 1.0
#: Events per node departure or return under churn (the repair traffic it sets off).
EVENTS_PER_CHURN = 25.0
#: Events per arriving patient besides its transactions (arrival, process start, waits).
EVENTS_PER_PATIENT = 3.0
#: Events per device window besides its transactions.
EVENTS_PER_WINDOW = 2.0

#: Memory of a run before its workload: the interpreter, the libraries, the compiled contracts
#: and a deployed chain, by chain backend family and run size ("small" or "big"). Big runs add
#: the worker processes (people and studies ahead; revm's state roots and signatures).
BASE_MEMORY = {("pyevm", "small"): 140 * MIB, ("pyevm", "big"): 420 * MIB,
               ("revm", "small"): 250 * MIB, ("revm", "big"): 380 * MIB}
#: Memory per transaction, by backend family and run size: below the big-run size the chain keeps
#: every block, receipt and transaction (py-evm also every trie node it wrote).
TX_MEMORY = {("pyevm", "small"): 20 * KIB, ("pyevm", "big"): 20 * KIB,
             ("revm", "small"): 23 * KIB, ("revm", "big"): 2560}
#: Memory per stored lab study (in a small run its encrypted fragments sit in the swarm's
#: memory: a pathology result is ~200 bytes, an imaging study the DICOM file times n/t).
STUDY_MEMORY = {"small": 16 * KIB, "big": 1 * KIB}
#: Memory per patient of the scenario (arrival time, home hospital, actor, PII kept to check);
#: on py-evm each patient's accounts, registration and tokens also grow the state trie, whose
#: replaced nodes py-evm's in-memory database keeps.
PATIENT_MEMORY = {("pyevm", "small"): 272 * KIB, ("pyevm", "big"): 272 * KIB,
                  ("revm", "small"): 2 * KIB, ("revm", "big"): 2 * KIB}
#: Memory per doctor, desk and lab (an actor with its account and key).
ACTOR_MEMORY = 8 * KIB
#: Memory per storage node (its stores, pins and processes).
NODE_MEMORY = 256 * KIB
#: Memory per IoMT reading of a window held by its device while the window passes (two
#: 8-byte arrays, and the 96-byte encoding and 32-byte leaf while it is hashed).
READING_MEMORY = 160
#: Memory per device besides its window (actor, process, generator).
DEVICE_MEMORY = 8 * KIB
#: Memory per adversary attempt (a process scheduled from the start).
ATTEMPT_MEMORY = 2 * KIB

# --- the limits -------------------------------------------------------------------------------------

#: Default ceiling on the estimated transactions of a run: ~9x the city-year's 1.13 million
#: (about 3 hours on revm, 10 on py-evm on the 2-core reference machine).
DEFAULT_MAX_WORK = 10_000_000
#: Simulated events allowed per transaction of the work ceiling (a city run has ~8 a transaction;
#: the headroom admits storage-heavy scenarios, not a repair round every second for a century).
EVENTS_PER_WORK = 20
#: Share of the machine's available memory a run may plan to use by default.
MEMORY_FRACTION = 0.8

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": KIB, "m": MIB, "g": GIB, "t": 1 << 40}


@dataclass(frozen=True)
class Term:
    """One part of an estimate: how much, and the scenario keys that make it."""

    amount: float
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Estimate:
    """What a run is expected to cost: transactions and events (all layouts), peak memory (bytes).

    ``*_terms`` hold the parts each figure is the sum of (memory: the
    largest layout's), so a refusal can name the keys behind the largest.
    """

    transactions: float
    events: float
    memory: float
    transaction_terms: tuple[Term, ...] = field(default=(), repr=False)
    event_terms: tuple[Term, ...] = field(default=(), repr=False)
    memory_terms: tuple[Term, ...] = field(default=(), repr=False)

    def drivers(self, which: str) -> tuple[str, ...]:
        """The keys of the largest part of ``which`` ("transactions", "events" or "memory")."""
        terms = {"transactions": self.transaction_terms, "events": self.event_terms,
                 "memory": self.memory_terms}[which]
        if not terms:
            return ()
        return max(terms, key=lambda t: t.amount).keys


@dataclass(frozen=True)
class Limits:
    """Ceilings a run's estimate must stay under; None lifts one."""

    max_memory: int | None
    max_work: int | None

    @property
    def max_events(self) -> float | None:
        """Events allowed: :data:`EVENTS_PER_WORK` per transaction of the work ceiling."""
        return None if self.max_work is None else float(self.max_work) * EVENTS_PER_WORK


# --- the estimate -----------------------------------------------------------------------------------


def estimate(scenario: Any) -> Estimate:
    """The :class:`Estimate` of ``scenario`` (a validated :class:`~sim.engine.scenario.Scenario`).

    Pure arithmetic on the scenario's values: nothing is allocated that grows
    with them, so it is as cheap for an absurd scenario as for a small one.
    """
    w = _Workload(scenario)
    layouts = len(scenario.layouts)
    txs = tuple(Term(t.amount * layouts, t.keys) for t in w.transaction_terms())
    events = tuple(Term(t.amount * layouts, t.keys) for t in w.event_terms())
    memory = w.memory_terms()
    return Estimate(transactions=sum(t.amount for t in txs), events=sum(t.amount for t in events),
                    memory=sum(t.amount for t in memory), transaction_terms=txs, event_terms=events,
                    memory_terms=memory)


class _Workload:
    """The expected counts of one layout's run, from the scenario (see the module docstring)."""

    def __init__(self, sc: Any) -> None:
        self.sc = sc
        pop, wl = sc.population, sc.workload
        self.days = float(sc.duration_days)
        self.seconds = self.days * DAY
        # the run goes on after the duration for pending blocks and an hour of tail (runner)
        self.span = self.seconds + 2 * sc.chain.block_time + 3600
        rate = wl.visits_per_patient_year / YEAR_DAYS  # per day
        self.rate = rate
        n = pop.patients
        if wl.arrivals == "first_day":
            window = min(1.0, self.days / 4)
            self.arrived = float(n)
            self.visits = n * (1 + rate * max(self.days - window / 2, 0.0))
            self.stay = self.days - window / 2  # days an arrived patient is in the run
        else:
            come = -math.expm1(-rate * self.days)  # P(first visit within the run)
            self.arrived = 1 + (n - 1) * come
            self.visits = 1 + rate * self.days + (n - 1) * rate * self.days
            self.stay = self.days - _mean_arrival(rate, self.days)
        self.labs = self.visits * wl.lab_order_probability
        self.opinions = self.labs * wl.second_opinion_probability
        devices = pop.devices
        self.devices = float(devices) if wl.arrivals == "first_day" or devices == 0 else \
            1 + (devices - 1) * -math.expm1(-rate * self.days)
        self.window_s = wl.iomt_window_minutes * 60
        self.readings = max(1, int(self.window_s // wl.iomt_reading_interval_s))
        self.windows = self.devices * max(self.stay, 0.0) * DAY / self.window_s
        self.attempts = sum(getattr(sc.adversaries, k) for k in type(sc.adversaries).model_fields)
        self.doctors = pop.hospitals * pop.doctors_per_hospital

    def transaction_terms(self) -> list[Term]:
        """Transactions of one layout, by what makes them."""
        sc, wl, pop = self.sc, self.sc.workload, self.sc.population
        per_opinion = 3 + wl.revoke_probability + wl.late_access_probability
        per_window = 1 if wl.iomt_mode == "batch" else self.readings
        visit_keys = ("population.patients", "workload.visits_per_patient_year", "duration_days")
        return [
            Term(pop.regulators + pop.hospitals * 4 + self.doctors,
                 ("population.hospitals", "population.doctors_per_hospital", "population.regulators")),
            Term(self.arrived, ("population.patients",)),
            Term(self.visits, visit_keys),
            Term(self.labs + self.opinions * per_opinion, (*visit_keys, "workload.lab_order_probability")),
            Term(2 * self.arrived * wl.break_glass_per_patient_year * max(self.stay, 0.0) / YEAR_DAYS,
                 ("population.patients", "workload.break_glass_per_patient_year", "duration_days")),
            Term(self.devices + self.windows * per_window,
                 ("population.devices", "duration_days", "workload.iomt_window_minutes")
                 + (("workload.iomt_reading_interval_s",) if wl.iomt_mode == "per_reading" else ())),
            Term(3 * self.attempts, tuple(f"adversaries.{k}" for k, v in
                                          sc.adversaries.model_dump().items() if v) or ("adversaries",)),
        ]

    def event_terms(self) -> list[Term]:
        """Simulated events of one layout, by what makes them."""
        st, wl = self.sc.storage, self.sc.workload
        txs = sum(t.amount for t in self.transaction_terms())
        bursts = self.windows * self.readings if wl.iomt_mode == "per_reading" else 0.0
        terms = [
            Term((txs - bursts) * EVENTS_PER_TX, self.drivers(self.transaction_terms())),
            Term(bursts * EVENTS_PER_READING_TX, ("population.devices", "workload.iomt_reading_interval_s",
                                                  "duration_days")),
            Term(self.labs * EVENTS_PER_LAB, ("population.patients", "workload.visits_per_patient_year",
                                              "duration_days", "workload.lab_order_probability")),
            Term(self.span / (st.repair_interval_minutes * 60) * EVENTS_PER_REPAIR,
                 ("storage.repair_interval_minutes", "duration_days")),
            Term(self.arrived * EVENTS_PER_PATIENT, ("population.patients",)),
            Term(self.windows * EVENTS_PER_WINDOW, ("population.devices", "workload.iomt_window_minutes",
                                                    "duration_days")),
        ]
        if st.churn is not None:
            cycle = (st.churn.mean_uptime_hours + st.churn.mean_downtime_hours) * 3600
            honest = st.nodes - st.byzantine
            terms.append(Term(honest * 2 * self.span / cycle * EVENTS_PER_CHURN,
                              ("storage.nodes", "storage.churn.mean_uptime_hours",
                               "storage.churn.mean_downtime_hours", "duration_days")))
        return terms

    def memory_terms(self) -> tuple[Term, ...]:
        """Peak bytes of one layout's run (the largest layout's: they run one after another)."""
        sc = self.sc
        family = "revm" if sc.chain.backend in ("revm", "rpc", "anvil") else "pyevm"
        size = "big" if sc.population.patients >= BIG_RUN_PATIENTS else "small"
        txs = sum(t.amount for t in self.transaction_terms())
        paper = 1.5 if "paper" in sc.layouts else 1.0  # the paper layout stores strings on chain
        pop, st = sc.population, sc.storage
        return (
            Term(BASE_MEMORY[family, size], ("chain.backend", "population.patients")),
            Term(txs * TX_MEMORY[family, size] * paper, self.drivers(self.transaction_terms())),
            Term(self.labs * STUDY_MEMORY[size], ("population.patients", "workload.visits_per_patient_year",
                                                  "duration_days", "workload.lab_order_probability")),
            Term(pop.patients * PATIENT_MEMORY[family, size], ("population.patients",)),
            Term((self.doctors + 2 * pop.hospitals + pop.regulators) * ACTOR_MEMORY,
                 ("population.hospitals", "population.doctors_per_hospital")),
            Term(st.nodes * NODE_MEMORY, ("storage.nodes",)),
            Term(self.devices * (DEVICE_MEMORY + self.readings * READING_MEMORY),
                 ("population.devices", "workload.iomt_window_minutes", "workload.iomt_reading_interval_s")),
            Term(self.attempts * ATTEMPT_MEMORY, ("adversaries",)),
        )

    @staticmethod
    def drivers(terms: Iterable[Term]) -> tuple[str, ...]:
        """The keys of the largest of ``terms``."""
        return max(terms, key=lambda t: t.amount).keys


def _mean_arrival(rate: float, days: float) -> float:
    """Mean day of a first Poisson visit (``rate`` a day), given that it falls within ``days``."""
    x = rate * days
    if x < 1e-6:
        return days / 2
    return 1 / rate - days * math.exp(-x) / -math.expm1(-x)


# --- the check --------------------------------------------------------------------------------------


def check(scenario: Any, limits: Limits, *, source: str = "") -> Estimate:
    """Estimate ``scenario`` and raise :class:`InputError` if the estimate passes ``limits``.

    The message is one line: ``source``, what passes which limit, the keys
    that drive it and the flag that lifts it::

        x.yaml: estimated 4.1e+10 transactions (population.patients, ...) > --max-work 10,000,000; ...
    """
    est = estimate(scenario)
    prefix = f"{source}: " if source else ""
    if limits.max_work is not None and est.transactions > limits.max_work:
        raise InputError(
            f"{prefix}estimated {_count(est.transactions)} transactions, driven by "
            f"{', '.join(est.drivers('transactions'))}, exceed --max-work {limits.max_work:,}; "
            "lower them, or raise the ceiling with --max-work N (--max-work none lifts it)")
    max_events = limits.max_events
    if max_events is not None and est.events > max_events:
        raise InputError(
            f"{prefix}estimated {_count(est.events)} simulated events, driven by "
            f"{', '.join(est.drivers('events'))}, exceed {EVENTS_PER_WORK} per transaction of "
            f"--max-work {limits.max_work:,} ({_count(max_events)}); lower them, or raise the "
            "ceiling with --max-work N (--max-work none lifts it)")
    if limits.max_memory is not None and est.memory > limits.max_memory:
        raise InputError(
            f"{prefix}estimated peak memory {format_size(est.memory)}, driven by "
            f"{', '.join(est.drivers('memory'))}, exceeds --max-memory {format_size(limits.max_memory)}; "
            "lower them, or raise the limit with --max-memory SIZE (e.g. 16G)")
    return est


def _count(value: float) -> str:
    """A count for messages: ``1,234,567`` up to a trillion, ``4.1e+15`` beyond."""
    return f"{value:,.0f}" if value < 1e12 else f"{value:.2g}"


# --- sizes and defaults -----------------------------------------------------------------------------


def parse_size(text: str) -> int | None:
    """Bytes from ``4G``, ``512M``, ``1.5GiB``, ``800000`` (binary units); ``none`` is None.

    >>> parse_size("4G"), parse_size("512m"), parse_size("none")
    (4294967296, 536870912, None)
    """
    if text.strip().lower() == "none":
        return None
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"expected a size such as 4G, 512M or 800000 (bytes), got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not 1 <= value <= 1 << 60:
        raise ValueError(f"expected a size between 1 byte and 1 EiB, got {text!r}")
    return int(value)


def parse_work(text: str) -> int | None:
    """A transaction count from ``10000000`` or ``10_000_000``; ``none`` is None."""
    if text.strip().lower() == "none":
        return None
    digits = text.strip().replace("_", "").replace(",", "")
    if not digits.isdigit() or len(digits) > 18 or int(digits) < 1:
        raise ValueError(f"expected a number of transactions >= 1 or none, got {text!r}")
    return int(digits)


def format_size(value: float) -> str:
    """``4294967296`` -> ``4.0 GiB``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:.0f} B"


def available_memory() -> int:
    """Bytes this process may still take: the machine's available memory, or its cgroup's room."""
    import psutil

    available = int(psutil.virtual_memory().available)
    room = _cgroup_room()
    return min(available, room) if room is not None else available


def _cgroup_room() -> int | None:
    """What the cgroup (v2) memory limit leaves, when there is one (Linux containers)."""
    base = "/sys/fs/cgroup"
    try:
        with open(os.path.join(base, "memory.max")) as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(base, "memory.current")) as fh:
            current = int(fh.read().strip())
        return max(int(limit) - current, 0)
    except (OSError, ValueError):
        return None


def default_max_memory() -> int:
    """The default ``--max-memory``: :data:`MEMORY_FRACTION` of :func:`available_memory`.

    Not all of it: the estimate is fitted within about a quarter of the
    measured peaks, and a run also fills the page cache with its trace and
    pack files; a run that would take the last fifth pushes the machine
    into swap or the OOM killer, which is what this check prevents.
    """
    return int(available_memory() * MEMORY_FRACTION)


def limits_from(max_memory: str | None, max_work: str | None, *, parallel: int = 1) -> Limits:
    """:class:`Limits` from the flags' texts (None: the defaults); InputError names a bad flag.

    ``parallel``: runs that will share the machine at once (a sweep's local
    workers); the default memory limit is split between them.
    """
    try:
        memory = (default_max_memory() // max(parallel, 1) if max_memory is None
                  else parse_size(max_memory))
    except ValueError as exc:
        raise InputError(f"--max-memory {max_memory}: {exc}") from None
    try:
        work = DEFAULT_MAX_WORK if max_work is None else parse_work(max_work)
    except ValueError as exc:
        raise InputError(f"--max-work {max_work}: {exc}") from None
    return Limits(max_memory=memory, max_work=work)


def check_run(args: Any) -> Estimate:
    """The check of ``pmrsim run``: load the scenario as ``run`` does (file, ``--set``,
    ``--backend``, ``--rpc-url``, ``--seed``) and :func:`check` it against ``--max-memory``
    and ``--max-work``; InputError (exit 2) for a bad scenario or a run past a limit.
    """
    import json

    from sim.engine.scenario import load_scenario

    overrides = list(args.overrides)
    if args.backend:
        overrides.append(f"chain.backend={args.backend}")
    if args.rpc_url:
        overrides.append(f"chain.rpc_url={json.dumps(args.rpc_url)}")
    scenario = load_scenario(args.scenario, overrides, seed=args.seed)
    return check(scenario, limits_from(args.max_memory, args.max_work), source=str(args.scenario))
