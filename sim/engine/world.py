"""The simulated world: every stakeholder of the paper as a SimPy process.

:class:`World` builds the chain (through the protocol layer), the storage
swarm and the privacy machinery for one scenario and one layout, then
starts the actors: hospitals apply and are verified, onboard doctors and
name their desk and lab; patients register and visit; doctors create PMR
tokens; labs de-identify, split and store real DICOM studies and post the
report; patients seeking a second opinion grant a doctor access and send
the essential share to them; the doctor records each read on chain
(``AccessGrants.use``) and the custodians (:class:`~sim.protocol.KeyCustodian`)
release key shares only for such a mined use, once each; break-glass
openings are reviewed by the doctor's hospital; IoMT devices anchor their
readings once the patient accepted them; adversaries try every forbidden
path.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import random
import tempfile
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from sim.chain import make_chain
from sim.engine.accounting import Accounts, Step
from sim.engine.calendar import genesis_timestamp
from sim.engine.driver import ChainDriver, table_gas_limits
from sim.engine.ledger import Ledger, Served
from sim.engine.offload import (
    BIG_RUN_PATIENTS,
    CHUNK,
    Offload,
    Pending,
    default_workers,
    spare_core,
)
from sim.engine.studies import (
    StoredStudy,
    deidentify_order,
    dicom_source,
    sha256,
    split_study,
    study_manifest,
)
from sim.engine.texts import lab_findings, visit_record
from sim.engine.trace import TraceWriter
from sim.errors import PrivacyError
from sim.privacy.deid import DeidConfig
from sim.privacy.keys import AccessDenied, open_sealed, public_key_of, seal
from sim.privacy.manifest import Manifest
from sim.privacy.material import EssentialShare
from sim.privacy.population import synthetic_registrations
from sim.privacy.sharing import Custodian, combine_report
from sim.protocol import (
    Desk,
    Device,
    Doctor,
    DoctorProfile,
    Hospital,
    HospitalProfile,
    KeyCustodian,
    Lab,
    Patient,
    PatientDetails,
    Protocol,
    ReadingBatch,
    Regulator,
    TestType,
    ids,
)
from sim.protocol.merkle import merkle_root
from sim.protocol.offchain import PackStore
from sim.protocol.outcome import Outcome
from sim.protocol.protocol import Call
from storage_sim import (
    Cid,
    ContentUnavailableError,
    PackBlockstore,
    ReplicationError,
    StorageError,
    Swarm,
)

Proc = Generator[simpy.Event, Any, Any]
#: Blocks of receipts a big run's chain keeps (the engine reads each block once, as it is
#: mined; the replay adversary takes transactions from the last REPLAY_WINDOW blocks).
HISTORY_BLOCKS = 2048
HOUR = 3600.0
DAY = 86400.0
#: What :meth:`World._rebuild` returns when the record was handed out.
SERVED = ("ok", "tampered-detected", "mismatch")
IMAGING = {TestType.XRAY: "XRAY", TestType.CT: "CT", TestType.MRI: "MR",
           TestType.ULTRASOUND: "US", TestType.MAMMOGRAPHY: "MG"}


class World:
    """One scenario, one layout, one chain; see the module docstring."""

    def __init__(self, scenario: Any, layout: str, trace: TraceWriter, *,
                 backend: str | None = None) -> None:
        self.sc = scenario
        self.layout = layout
        self.trace = trace
        self.env = simpy.Environment()
        self.duration = float(scenario.duration_days) * DAY
        self.start_ts = int(dt.datetime.combine(scenario.start_date, dt.time(),
                                                tzinfo=dt.UTC).timestamp())
        self.backend = backend or scenario.chain.backend
        self.ledger = Ledger()
        self.accounts = Accounts(scenario.adversaries.model_dump())
        self.counts: Counter[str] = Counter()
        self.studies: list[StoredStudy] = []
        #: Each hospital's onboarded doctors, listed when setup is over (no doctor joins
        #: later: patients come after it), and for each hospital the other hospitals'
        #: (a second opinion's pool: ~2,000).
        self._onboarded: list[list[Doctor]] = []
        self._others: dict[int, list[Doctor]] = {}
        #: Custodian node -> the custodian holding its key shares (made with the swarm).
        self.custodians: dict[str, KeyCustodian[Any]] = {}
        #: (doctor address, PMR-ID) -> the doctor's last mined use of it (its access ticket).
        self.tickets: dict[tuple[bytes, int], bytes] = {}
        self._packs: list[Any] = []
        # started first, while this process is small (the worker is a fork of it)
        self.offload = Offload(default_workers(scenario.population.patients))
        # big runs keep sealed objects and swarm blocks in pack files, not in memory
        self._scratch = (tempfile.TemporaryDirectory(prefix="pmrsim-")
                         if scenario.population.patients >= BIG_RUN_PATIENTS else None)
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        """Start the chain, deploy the contracts, build the swarm and the cast."""
        scenario = self.sc
        trace = self.trace
        genesis = genesis_timestamp(scenario.start_date)
        chain = make_chain(self.backend, seed=scenario.seed,
                           block_gas_limit=scenario.chain.block_gas_limit,
                           genesis_timestamp=genesis, rpc_url=scenario.chain.rpc_url,
                           background=spare_core())
        self.chain = chain  # for close(), should the deployment fail
        if self.backend == "rpc" and chain.timestamp > genesis:  # a node past the calendar
            from sim.engine.calendar import clock_error

            raise clock_error(str(scenario.chain.rpc_url), chain.timestamp, scenario,
                              later_layout=self.layout != scenario.layouts[0])
        trace.write("chain", 0.0, backend=self.backend, seed=scenario.seed, layout=self.layout,
                    genesis_timestamp=genesis, block_gas_limit=scenario.chain.block_gas_limit,
                    block_time=scenario.chain.block_time, start_timestamp=self.start_ts,
                    scenario=scenario.name)
        self._trace_funding(chain)
        self.protocol = Protocol.deploy(chain, layout=self.layout, seed=scenario.seed,
                                        first_patient_id=scenario.population.first_patient_id,
                                        token=scenario.token, store=self._pack(PackStore, "objects"))
        self._trace_accounts()
        system = self.protocol.system
        trace.write("contracts", 0.0, **{system.label(name): "0x" + c.address.hex()
                                         for name, c in system.by_name().items()})
        self.driver = ChainDriver(self.env, self.protocol, trace, start_timestamp=self.start_ts,
                                  block_time=scenario.chain.block_time,
                                  history=HISTORY_BLOCKS if self._scratch is not None else None,
                                  gas_limits=(table_gas_limits(self.layout, scenario.token,
                                                               scenario.chain.block_gas_limit)
                                              if scenario.chain.gas_limits == "table" else None),
                                  accounts=self.accounts)
        self.driver.record_setup_blocks()
        for source in scenario.workload.dicom_sources:
            if not source.startswith("synthetic:"):
                dicom_source(source)  # a missing file is bad input, found before the run
        self.deid = DeidConfig(key=self.rng("deid-key").randbytes(32))
        self._split_rng = self.rng("sharing")
        self._build_swarm()
        self._build_cast()

    def close(self) -> None:
        """Stop the background workers and delete the scratch stores, if any."""
        self.offload.close()
        chain = getattr(self, "chain", None)
        if chain is not None:
            chain.close()
        driver = getattr(self, "driver", None)
        if driver is not None:
            driver.close()
        if self._scratch is not None:
            for closable in self._packs:
                closable.close()
            self._scratch.cleanup()
            self._scratch = None

    def _pack(self, kind: type[PackStore] | type[PackBlockstore], name: str) -> Any:
        """A pack-file store of ``kind`` in the scratch directory, or None for an in-memory run."""
        if self._scratch is None:
            return None
        store = kind(Path(self._scratch.name) / f"{name}.pack")
        self._packs.append(store)
        return store

    # -- plumbing -----------------------------------------------------------
    def rng(self, name: str) -> random.Random:
        """A generator of its own for ``name``, derived from the scenario seed (not the layout:
        every layout of a run draws the same arrivals and actions, so only the layout differs)."""
        return random.Random(f"pmrsim:{self.sc.seed}:{name}")

    def random_bytes(self, n: int) -> bytes:
        """Bytes for secret sharing, deterministic per run (a simulation, not a vault)."""
        return self._split_rng.randbytes(n)

    def _trace_funding(self, chain: Any) -> None:
        fund = chain.fund

        def traced(address: bytes, wei: int = 1_000 * 10**18) -> None:
            fund(address, wei)
            self.trace.write("fund", self.env.now, address="0x" + address.hex(), wei=str(wei))

        chain.fund = traced

    def _trace_accounts(self) -> None:
        account = self.protocol.account

        def traced(label: str) -> Any:
            acct = account(label)
            self.trace.write("account", self.env.now, label=label, address="0x" + acct.address.hex())
            return acct

        self.protocol.account = traced  # type: ignore[method-assign]

    def patient_of(self, patient_id: int) -> Patient:
        """The patient actor holding ``patient_id``."""
        return next(p for p in self.patients if p.patient_id == patient_id)

    def now_ts(self) -> int:
        """The head block's timestamp (what contracts and custodians see now)."""
        return self.chain.timestamp

    def today(self) -> dt.date:
        """The simulated calendar date."""
        return self.sc.start_date + dt.timedelta(seconds=self.env.now)

    def open_for_work(self) -> bool:
        """True while the scenario's duration lasts."""
        return self.env.now < self.duration

    def tx(self, call: Call, *, attack: str | None = None) -> Generator[simpy.Event, Any, Outcome]:
        """Submit a call and wait for its block.

        An ordinary call is accounted by the driver (a revert is a failed operation);
        with ``attack``, the call is that attack's forbidden step, judged by the attack.
        """
        outcome: Outcome = yield from self.driver.transact(call, attack=attack)
        if outcome.ok:
            self._note(outcome)
        return outcome

    def _note(self, out: Outcome) -> None:
        op = out.op
        ts = self.now_ts()  # outcomes arrive right after their block is mined
        if op.startswith(("PMRToken.mint", "PMRMulti.mint")):
            args = out.event("PMRVersionAdded")
            self.ledger.minted.append((args["pmr_id"], args["patient_id"], args["doctor_id"],
                                       args["hospital_id"]))
            if "same-day" not in op:
                self.counts["pmr_tokens"] += 1
        elif op.startswith("AccessGrants.grant"):
            a = out.event("AccessGranted")
            scope = a["pmr_id"] or ((1 << 255) | a["patient_id"])
            self.ledger.grants.record(ts, "grant", (a["grantee"].lower(), scope), a["expiry"])
            self.counts["grants"] += 1
        elif op == "AccessGrants.revoke":
            a = out.event("AccessRevoked")
            scope = a["pmr_id"] or ((1 << 255) | a["patient_id"])
            self.ledger.grants.record(ts, "grant", (a["grantee"].lower(), scope), 1)
        elif op == "AccessGrants.emergency_access":
            a = out.event("EmergencyAccess")
            self.ledger.grants.record(ts, "emergency", (a["doctor"].lower(), a["patient_id"]),
                                      a["expiry"])
            self.counts["emergency_accesses"] += 1
        elif op.startswith("AccessGrants.use"):
            self.counts["accesses"] += 1
            a = out.event("AccessUsed")
            self.tickets[(out.receipt.sender, a["pmr_id"])] = out.receipt.tx_hash
        elif op.startswith("LabReports.post"):
            self.counts["lab_reports"] += 1

    # -- construction -------------------------------------------------------
    def _build_swarm(self) -> None:
        s = self.sc.storage
        low = s.replication if s.replication_min is None else s.replication_min
        self.swarm = Swarm(self.env, self.rng("swarm"), replication=(low, s.replication))
        self.swarm.observe(self._storage_event)
        bandwidth = s.bandwidth_mbps * 1e6 / 8
        latency = s.latency_ms / 1000
        self.custodian_nodes = [
            self.swarm.add_node(f"custodian-{i}", bandwidth=bandwidth, latency=latency,
                                blockstore=self._pack(PackBlockstore, f"custodian-{i}")).node_id
            for i in range(s.nodes)
        ]
        self.custodians = {node: KeyCustodian(self.protocol, node, view=self.driver.view)
                           for node in self.custodian_nodes}
        self.swarm.add_node("gateway", bandwidth=bandwidth * 4, latency=latency,
                            blockstore=self._pack(PackBlockstore, "gateway"))
        for node_id in self.custodian_nodes[: s.byzantine]:
            self.swarm.set_byzantine(node_id, 1.0)
        self.swarm.start_repair(s.repair_interval_minutes * 60)
        if s.churn is not None:
            honest = self.custodian_nodes[s.byzantine:]
            self.swarm.start_churn(s.churn.mean_uptime_hours * HOUR,
                                   s.churn.mean_downtime_hours * HOUR, node_ids=honest)

    def _storage_event(self, event: str, fields: dict[str, Any]) -> None:
        """Trace a storage event of the swarm (retrievals, corrupt blocks, repairs, nodes
        going down and coming back)."""
        self.trace.write("storage", self.env.now, event=event, **fields)

    def _build_cast(self) -> None:
        pop = self.sc.population
        p = self.protocol
        self.regulators = [Regulator(p, f"regulator-{i}") for i in range(pop.regulators)]
        self.hospitals: list[Hospital] = []
        self.desks: list[Desk] = []
        self.labs: list[Lab] = []
        self.doctors: list[list[Doctor]] = []
        for h in range(pop.hospitals):
            self.hospitals.append(Hospital(p, f"hospital-{h}"))
            self.desks.append(Desk(p, f"hospital-{h}-desk"))
            self.labs.append(Lab(p, f"hospital-{h}-lab"))
            self.doctors.append([Doctor(p, f"doctor-{h}-{d}")
                                 for d in range(pop.doctors_per_hospital)])
        self.patients: list[Patient] = []
        self.home: dict[int, int] = {}  # patient index -> hospital index
        self.pmrs: dict[int, list[int]] = {}  # patient id -> PMR-IDs
        self.names: dict[int, str] = {}  # patient id -> name (planted in studies as a PACS would)

    # -- setup ----------------------------------------------------------------
    def start(self) -> None:
        """Start every actor process."""
        self.env.process(self._setup())

    def _setup(self) -> Proc:
        for reg in self.regulators:
            yield from self.tx(self.protocol.grant_regulator_call(reg.account))
        yield self.env.all_of([self.env.process(self._hospital(h)) for h in
                               range(len(self.hospitals))])
        self.counts["hospitals"] = sum(1 for h in self.hospitals if h.hospital_id)
        self._onboarded = [[d for d in ds if d.doctor_id] for ds in self.doctors]
        self.counts["doctors"] = sum(map(len, self._onboarded))
        self.setup_done = self.env.now
        self._start_patients()
        self._start_adversaries()

    def _hospital(self, h: int) -> Proc:
        rng = self.rng(f"hospital-{h}")
        hospital = self.hospitals[h]
        profile = HospitalProfile(f"GOVREG-{h:04d}-{rng.randrange(10**6):06d}",
                                  f"{rng.choice(['City', 'General', 'Mission', 'Care'])} Hospital {h}",
                                  f"District {rng.randrange(40)}", "Multi-speciality",
                                  f"+91 {rng.randrange(10**9, 10**10)}")
        self.ledger.remember(profile.gov_reg_id, profile.name, profile.contact)
        yield from self.tx(hospital.apply_call(profile))
        regulator = rng.choice(self.regulators)
        out = yield from self.tx(regulator.verify_call(hospital))
        if not out.ok:
            return  # accounted as a failed operation
        yield self.env.all_of([self.driver.submit(hospital.add_operator_call(self.desks[h])),
                               self.driver.submit(hospital.add_operator_call(self.labs[h]))])
        events = []
        for d, doctor in enumerate(self.doctors[h]):
            prof = DoctorProfile(f"MCI-{h:03d}{d:03d}-{rng.randrange(10**5):05d}",
                                 f"Dr. {rng.choice(['Rao', 'Iyer', 'Nair', 'Shah', 'Das'])} {h}-{d}",
                                 rng.choice(["General Medicine", "Radiology", "Cardiology"]),
                                 f"+91 {rng.randrange(10**9, 10**10)}")
            self.ledger.remember(prof.registration_number, prof.name, prof.contact)
            events.append(self.driver.submit(hospital.onboard_call(doctor, prof)))
        yield self.env.all_of(events)

    # -- patients -----------------------------------------------------------
    def _start_patients(self) -> None:
        pop = self.sc.population
        rng = self.rng("arrivals")
        window = min(DAY, self.duration / 4)
        rate = self.sc.workload.visits_per_patient_year / (365 * DAY)
        steady = self.sc.workload.arrivals == "first_visit"
        arrivals: list[tuple[float, int]] = []
        for i in range(pop.patients):
            if i == 0:
                arrival = 0.0
            elif steady:
                arrival = rng.expovariate(rate) if rate > 0 else self.duration
            else:
                arrival = rng.uniform(0, window)
            self.home[i] = rng.randrange(len(self.hospitals))
            if arrival < self.duration:  # else: no visit this run, the patient never comes
                arrivals.append((arrival, i))
        arrivals.sort()
        # people are handed out in arrival order, so they can be made in chunks, ahead
        chunks = -(-len(arrivals) // CHUNK)
        self._people = self.offload.stream(
            functools.partial(people_chunk, self.sc.seed, min(CHUNK, len(arrivals))), chunks)
        self.env.process(self._arrivals(arrivals))

    def _arrivals(self, arrivals: list[tuple[float, int]]) -> Proc:
        devices = self.sc.population.devices
        for arrival, i in arrivals:
            if arrival > self.env.now:
                yield self.env.timeout(arrival - self.env.now)
            self.env.process(self._patient(i, next(self._people), device=i < devices))

    def _patient(self, i: int, person: Any, *, device: bool) -> Proc:
        h = self.home[i]
        # registration in a frame of its own: the person's details and the receipt are not
        # kept for the patient's year (200,000 patients x a few KB)
        patient = yield from self._register(i, person, h)
        del person
        if patient is None:
            return
        if device:
            self.env.process(self._device(patient, h))
        if self.sc.workload.break_glass_per_patient_year > 0:
            self.env.process(self._glass_arrivals(patient, h))
        rate = self.sc.workload.visits_per_patient_year / (365 * DAY)
        visit = 0
        while self.open_for_work():
            # a generator per visit, not one kept for the run (2.5 KB each)
            rng = self.rng(f"patient-{i}-visit-{visit}")
            yield from self._visit(patient, h, rng)
            if rate <= 0:
                break
            wait = rng.expovariate(rate)
            del rng
            if self.env.now + wait >= self.duration:
                break
            yield self.env.timeout(wait)
            visit += 1

    def _register(self, i: int, person: Any, h: int) -> Generator[simpy.Event, Any, Patient | None]:
        """The desk registers the person (Fig. 3); None if the registration failed."""
        patient = Patient(self.protocol, f"patient-{i}")
        self.patients.append(patient)
        a = person.address
        details = PatientDetails(person.name, person.age, person.gender, person.weight_kg,
                                 person.height_cm, f"{a.street}, {a.city} {a.postcode}",
                                 person.phone, person.email, person.attendant.name,
                                 person.attendant.phone, person.attendant.relation)
        self.ledger.remember(person.name, person.phone, person.email, a.street,
                             person.attendant.name, person.attendant.phone)
        out = yield from self.tx(self.desks[h].register_call(patient, details))
        if not out.ok:
            return None  # accounted as a failed operation
        self.counts["patients"] += 1
        self.pmrs[patient.patient_id] = []
        self.names[patient.patient_id] = person.name
        return patient

    def _visit(self, patient: Patient, h: int, rng: random.Random) -> Proc:
        doctor = rng.choice(self._onboarded[h] or self.doctors[h])
        record = visit_record(rng)
        self.ledger.remember(record.present_illness, record.provisional_diagnosis,
                             record.treatment_summary, record.past_illness)
        out = yield from self.tx(doctor.create_pmr_call(patient.patient_id, self.today(), record,
                                                        hospital_id=self.hospitals[h].hospital_id))
        if not out.ok:
            return  # accounted as a failed operation
        self.counts["visits"] += 1
        pmr_id = out.issued
        assert pmr_id is not None
        if pmr_id not in self.pmrs[patient.patient_id]:
            self.pmrs[patient.patient_id].append(pmr_id)
        w = self.sc.workload
        if rng.random() < w.lab_order_probability:
            study = yield from self._lab(patient, h, pmr_id, rng)
            if study is not None and rng.random() < w.second_opinion_probability:
                self.env.process(self._second_opinion(patient, h, study))

    # -- lab ----------------------------------------------------------------
    def _test_type(self, rng: random.Random) -> TestType:
        mix = self.sc.workload.lab_mix
        names = sorted(mix)
        choice = rng.choices(names, weights=[mix[n] for n in names])[0]
        return TestType[choice.upper()]

    def _lab(self, patient: Patient, h: int, pmr_id: int, rng: random.Random, *,
             lab: Lab | None = None) -> Generator[simpy.Event, Any, StoredStudy | None]:
        """A study of the visit, de-identified, split, stored, reported by hospital ``h``'s lab
        (or by ``lab``: an adversary's own clinic makes its target this way)."""
        test = self._test_type(rng)
        study_data: Pending[bytes] | None = None
        if test in IMAGING:
            # the PACS copy carries the patient's identity; de-identification starts now
            # (on the second core when there is one) and is needed once the study is read
            source = rng.choice(self.sc.workload.dicom_sources)
            name = self.names.get(patient.patient_id, patient.label)
            identity = {"PatientName": name.replace(" ", "^"),
                        "PatientID": f"MRN-{patient.patient_id:08d}",
                        "InstitutionName": f"Hospital {h}",
                        "AccessionNumber": f"ACC{rng.randrange(10**12):012d}"}
            study_data = self.offload.submit(deidentify_order, source, identity, self.deid,
                                             rng.randrange(2**32))
        yield self.env.timeout(rng.uniform(0.5, 3) * HOUR)  # the study is taken and read
        record_id = f"study-{pmr_id}-{len(self.studies)}"
        if study_data is not None:
            data = study_data.result()
            modality = IMAGING[test]
        else:
            findings_doc = {"test": test.name, "values": [rng.randint(1, 300) for _ in range(8)]}
            data = json.dumps(findings_doc).encode()
            modality = test.name
        sc = self.sc.sharing
        custodians, essential, sharing = split_study(
            data, record_id=record_id, pmr_id=pmr_id, patient_id=patient.patient_id,
            t=sc.t, n=sc.n, segment_size=sc.segment_size, random_bytes=self.random_bytes)
        online = [n for n in self.custodian_nodes if self.swarm.node(n).online]
        if len(online) < sc.n:
            self.counts["storage_deferred"] += 1
            self.accounts.offchain("storage.store", False,
                                   f"{record_id} at t={self.env.now:.0f}: {len(online)} custodians "
                                   f"online, {sc.n} needed", fault=self.storage_fault())
            self.trace.write("storage", self.env.now, event="failure", node="",
                             cid="", bytes=len(data), reason="fewer than n custodians online")
            return None
        chosen = rng.sample(online, sc.n)
        fragments: list[tuple[int, str, Cid]] = []
        named: list[tuple[int, str, str]] = []  # the same, the CIDs as text (made once)
        for custodian, node in zip(custodians, chosen, strict=True):
            assert custodian.fragment is not None and custodian.key_share is not None
            cid = self.swarm.add(node, custodian.fragment, cid_version=1)
            self.custodians[node].keep(record_id, pmr_id, custodian.key_share)
            fragments.append((custodian.index, node, cid))
            named.append((custodian.index, node, str(cid)))
            self.trace.write("storage", self.env.now, event="store", node=node, cid=named[-1][2],
                             bytes=len(custodian.fragment))
        yield self.env.timeout(len(data) * 8 / (self.sc.storage.bandwidth_mbps * 1e6))
        manifest = study_manifest(sharing, named, modality)
        mcid = self.swarm.add("gateway", manifest, cid_version=1)
        self.accounts.offchain("storage.store", True)
        try:
            yield from self.swarm.pin(mcid)
            self.accounts.offchain("storage.pin", True)
        except ReplicationError as exc:
            self.counts["replication_shortfalls"] += 1
            self.accounts.offchain("storage.pin", False, f"{record_id} at t={self.env.now:.0f}: "
                                   f"{exc}", fault=self.storage_fault())
        findings = lab_findings(rng, test, self.today())
        self.ledger.remember(findings.reason, findings.observations)
        reporter = lab or self.labs[h]
        out = yield from self.tx(reporter.post_report_call(pmr_id, findings, mcid.digest,
                                                           codec=mcid.codec))
        if not out.ok:
            return None  # accounted as a failed operation
        study = StoredStudy(record_id, pmr_id, patient.patient_id, mcid, fragments,
                            sha256(data), len(data), essential)
        self.studies.append(study)
        self.counts["studies_stored"] += 1
        return study

    # -- second opinion -------------------------------------------------------
    def _other_doctor(self, h: int, rng: random.Random) -> Doctor | None:
        others = self._others.get(h)
        if others is None:
            others = self._others[h] = ([d for k, ds in enumerate(self._onboarded) if k != h
                                         for d in ds] or self._onboarded[h])
        return rng.choice(others) if others else None

    def _second_opinion(self, patient: Patient, h: int, study: StoredStudy) -> Proc:
        rng = self.rng(f"opinion-{study.record_id}")
        doctor = self._other_doctor(h, rng)
        if doctor is None:
            return
        yield self.env.timeout(rng.uniform(1, 24) * HOUR)
        w = self.sc.workload
        until = self.driver.next_slot() + int(w.grant_duration_days * DAY)
        # the patient lets the second doctor read the record and add an opinion to it
        out = yield from self.tx(patient.grant_call(doctor, until, pmr_id=study.pmr_id, write=True))
        if not out.ok:
            return  # accounted as a failed operation
        sealed = self._send_essential(study, doctor, patient)
        yield self.env.timeout(rng.uniform(0.5, 6) * HOUR)
        result = yield from self._read(doctor, study, sealed)
        if result == "ok":
            opinion = visit_record(rng)
            self.ledger.remember(opinion.present_illness, opinion.provisional_diagnosis)
            visit = ids.split_pmr_id(study.pmr_id)[1]
            yield from self.tx(doctor.create_pmr_call(patient.patient_id, visit, opinion,
                                                      hospital_id=doctor.hospitals[0]))
        revoked = rng.random() < w.revoke_probability
        if revoked:
            yield from self.tx(patient.revoke_call(doctor, pmr_id=study.pmr_id))
        if rng.random() < w.late_access_probability:
            wait = until - self.now_ts() + rng.uniform(1, 24) * HOUR
            if revoked:
                wait = rng.uniform(1, 6) * HOUR
            if self.env.now + wait >= self.duration:
                return
            yield self.env.timeout(wait)
            steps = yield from self._forbidden_access(doctor, study, sealed, "late_access")
            if steps is not None:
                self.accounts.attempted("late_access", steps, f"t={self.env.now:.0f}")

    def _send_essential(self, study: StoredStudy, doctor: Doctor, patient: Patient) -> bytes:
        """The patient seals the essential share to the doctor's key (ECIES on secp256k1)."""
        blob = seal(public_key_of(doctor.account.private_key),
                    study.essential.to_json().encode(), study.record_id.encode(),
                    random_bytes=self.random_bytes)
        self.trace.write("privacy", self.env.now, event="essential_share_sent",
                         record=study.record_id, to=doctor.label, bytes=len(blob))
        return blob

    def _read(self, doctor: Doctor, study: StoredStudy, sealed: bytes, kind: str = "pmr"
              ) -> Generator[simpy.Event, Any, str]:
        """One read: the doctor records it on chain (``use``), then rebuilds the study.

        Returns "ok", the revert reason of the ``use`` (a failed operation), or
        :meth:`_rebuild`'s result.
        """
        use = yield from self.tx(doctor.access_call(study.pmr_id, kind,
                                                    hospital_id=doctor.hospitals[0]))
        if not use.ok:
            return use.reason
        essential = EssentialShare.from_json(
            open_sealed(doctor.account.private_key, sealed, study.record_id.encode()))
        result: str = yield from self._rebuild(doctor, study, essential, use.receipt.tx_hash)
        return result

    def storage_fault(self) -> str | None:
        """The configured storage fault that can explain a failure now, or None.

        Nodes go down only by the scenario's churn, and serve tampered blocks
        only when it configures byzantine nodes; a failure with neither is no
        fault's doing.
        """
        s = self.sc.storage
        down = sum(1 for n in self.custodian_nodes if not self.swarm.node(n).online)
        if down and s.churn is not None:
            return f"{down} of {len(self.custodian_nodes)} storage nodes down (churn)"
        if s.byzantine:
            return f"{s.byzantine} byzantine storage nodes"
        return None

    def _rebuild(self, doctor: Doctor, study: StoredStudy, essential: EssentialShare,
                 use_tx: bytes, *, tamper: bool = False, attack: str | None = None
                 ) -> Generator[simpy.Event, Any, str]:
        """Rebuild ``study`` for ``doctor`` with the custodians' key shares released for the
        mined ``use_tx``: "ok", "tampered-detected", "denied" (a custodian refused),
        "unavailable" (the manifest or too few fragments could be fetched), or the name of the
        error the sharing scheme raised.

        An ordinary rebuild (no ``attack``) is accounted: each custodian's release and the
        rebuild itself; one done as an attack's step is judged by the attack.
        """
        ordinary = attack is None
        where = f"{study.record_id} for {doctor.label} at t={self.env.now:.0f}"
        try:
            raw = yield from self.swarm.retrieve("gateway", study.manifest_cid, store=False)
        except StorageError:
            self.counts["retrieval_failures"] += 1
            if ordinary:
                self.accounts.offchain("record.rebuild", False, f"{where}: manifest unavailable",
                                       fault=self.storage_fault())
            return "unavailable"
        doc = json.loads(raw)
        manifest = Manifest.from_json(json.dumps(doc["sharing"]))
        grantee = "0x" + doctor.address.hex()
        custodians: list[Custodian] = []
        need = manifest.t + (1 if tamper else 0)
        for entry in doc["fragments"]:
            if len(custodians) >= need:
                break
            node = self.swarm.node(entry["node"])
            if not node.online:
                continue
            try:
                released = self.custodians[entry["node"]].release(study.record_id, doctor.address,
                                                                  use_tx)
            except AccessDenied as exc:
                if ordinary:
                    self.accounts.offchain("custodian.release", False,
                                           f"{where}: custodian {entry['index']} refused: {exc}")
                    self.accounts.offchain("record.rebuild", False, f"{where}: a custodian refused")
                self.trace.write("access", self.env.now, event="denied", patient=study.patient_id,
                                 pmr=study.pmr_id, grantee=doctor.label,
                                 reason=str(exc).split(": ", 1)[-1], mode="custodian")
                return "denied"
            if ordinary:
                self.accounts.offchain("custodian.release", True)
            try:
                fragment = yield from self.swarm.retrieve("gateway", Cid.parse(entry["cid"]),
                                                          store=False)
            except (ContentUnavailableError, StorageError):
                continue
            if tamper and not custodians:
                fragment = bytes([fragment[0] ^ 0xFF]) + fragment[1:]
            custodians.append(Custodian(entry["index"], fragment, released))
        if len(custodians) < need:
            if ordinary:
                self.accounts.offchain("record.rebuild", False,
                                       f"{where}: {len(custodians)} fragments fetched, {need} needed",
                                       fault=self.storage_fault())
            self.trace.write("storage", self.env.now, event="failure", node="", cid="", bytes=0,
                             reason=f"{len(custodians)} of {need} fragments available")
            return "unavailable"
        try:
            rebuilt = combine_report(manifest, essential, custodians)
        except PrivacyError as exc:
            if ordinary:
                self.accounts.offchain("record.rebuild", False, f"{where}: {type(exc).__name__}")
            self.trace.write("access", self.env.now, event="denied", patient=study.patient_id,
                             pmr=study.pmr_id, grantee=doctor.label, reason=type(exc).__name__,
                             mode="rebuild")
            return type(exc).__name__
        ok = sha256(rebuilt.data) == study.digest
        self.ledger.rebuilds["ok" if ok else "mismatch"] += 1
        if not ok:
            self.ledger.rebuild_failures.append(study.record_id)
        if ordinary:
            self.accounts.offchain("record.rebuild", ok, f"{where}: rebuilt bytes differ")
        if rebuilt.rejected_fragments:
            self.counts["tampered_fragments_detected"] += len(rebuilt.rejected_fragments)
        self.ledger.served.append(Served(grantee, study.pmr_id, self.now_ts(), study.record_id,
                                         use_tx))
        self.trace.write("access", self.env.now, event="released", patient=study.patient_id,
                         pmr=study.pmr_id, grantee=doctor.label, reason="", mode="grant")
        if not ok:
            return "mismatch"
        return "ok" if not rebuilt.rejected_fragments else "tampered-detected"

    def _forbidden_access(self, doctor: Doctor, study: StoredStudy, sealed: bytes,
                          kind: str) -> Generator[simpy.Event, Any, list[Step] | None]:
        """A read after the grant ended: the custodians and AccessGrants.use must both refuse.

        The custodians are shown the doctor's last recorded read (already
        answered), or none; then the doctor tries a new ``use`` under the
        grant for the PMR. What must happen is the engine's own reading of the
        grant history (another grant may since have opened a window; then it
        is no attack, and None is returned). Otherwise the steps tried: the
        custodians' answer, then the chain's.
        """
        self.driver.ensure_fresh_head()
        grantee = "0x" + doctor.address.hex()
        if self.ledger.grants.denial_at(grantee, study.pmr_id, self.now_ts(), "pmr") is None:
            return None
        essential = EssentialShare.from_json(
            open_sealed(doctor.account.private_key, sealed, study.record_id.encode()))
        ticket = self.tickets.get((doctor.address, study.pmr_id), bytes(32))
        result = yield from self._rebuild(doctor, study, essential, ticket, attack=kind)
        # the custodians are asked once the manifest and fragments are within reach
        steps: list[Step] = ([] if result == "unavailable" else
                             [(("denied",), "served" if result in SERVED else result)])
        expected = self.ledger.grants.denial_at(grantee, study.pmr_id, self.driver.next_slot(),
                                                "pmr")
        read = doctor.access_call(study.pmr_id, "pmr", hospital_id=doctor.hospitals[0])
        if expected is None:  # a window opens in the block the use would land in
            yield from self.tx(read)
            return steps
        out = yield from self.tx(read, attack=kind)
        steps.append(((expected,), out.reason or "succeeded"))
        if not out.ok:
            self.trace.write("access", self.env.now, event="denied", patient=study.patient_id,
                             pmr=study.pmr_id, grantee=doctor.label, reason=out.reason,
                             mode="chain")
        return steps

    # -- break glass, IoMT ----------------------------------------------------
    def _glass_arrivals(self, patient: Patient, h: int) -> Proc:
        rate = self.sc.workload.break_glass_per_patient_year / (365 * DAY)
        k = 0
        while True:
            # a generator per gap, not one kept for the run: 200,000 patients x 2.5 KB
            wait = self.rng(f"glass-arrivals-{patient.patient_id}-{k}").expovariate(rate)
            if self.env.now + wait >= self.duration:
                return  # no (further) emergency this run
            yield self.env.timeout(wait)
            k += 1
            self.env.process(self._break_glass(patient, h))

    def _break_glass(self, patient: Patient, h: int) -> Proc:
        rng = self.rng(f"glass-{patient.patient_id}-{self.env.now}")
        doctor = self._other_doctor(h, rng)
        if doctor is None:
            return
        yield self.env.timeout(rng.uniform(0, 12) * HOUR)
        if not self._glass_allowed(doctor, patient.patient_id):
            # the doctor's DApp shows the bound (3 openings a week per patient, reviews within
            # 72 h) before anything is sent
            self.counts["break_glass_withheld"] += 1
            return
        out = yield from self.tx(doctor.emergency_access_call(patient.patient_id,
                                                              rng.randint(1, 99)))
        if not out.ok:
            return  # accounted as a failed operation
        self.env.process(self._review_opening(doctor, rng.uniform(1, 48) * HOUR))
        if self.pmrs.get(patient.patient_id):
            yield from self.tx(doctor.access_call(self.pmrs[patient.patient_id][-1], "emergency"))

    def _glass_allowed(self, doctor: Doctor, patient_id: int) -> bool:
        """Whether AccessGrants would let ``doctor`` open break-glass on the patient now."""
        recent = self.driver.view("AccessGrants", "emergency_of", doctor.address, patient_id)[3]
        count, oldest = self.driver.view("AccessGrants", "review_queue", doctor.address)
        if recent >= 3:
            return False
        if oldest < count:
            opened = self.driver.view("AccessGrants", "opening_of", doctor.address, oldest)[2]
            return bool(opened + 72 * 3600 > self.driver.next_slot())
        return True

    def _review_opening(self, doctor: Doctor, delay: float) -> Proc:
        """After ``delay``, the hospital the doctor acted for reviews the doctor's oldest
        unreviewed break-glass opening (reviews go oldest first: one per opening)."""
        yield self.env.timeout(delay)
        count, oldest = self.driver.view("AccessGrants", "review_queue", doctor.address)
        if oldest >= count:
            return
        hospital_id = self.driver.view("AccessGrants", "opening_of", doctor.address, oldest)[1]
        hospital = next(x for x in self.hospitals if x.hospital_id == hospital_id)
        out = yield from self.tx(hospital.review_emergency_call(doctor, oldest))
        if out.ok:
            self.counts["break_glass_reviews"] += 1

    def _device(self, patient: Patient, h: int) -> Proc:
        device = Device(self.protocol, f"device-{patient.label}")
        out = yield from self.tx(self.desks[h].bind_device_call(device, patient))
        if out.ok:  # the patient consents to the device
            out = yield from self.tx(patient.accept_device_call(device))
        if not out.ok:
            return
        w = self.sc.workload
        rng = np.random.default_rng(self.rng(f"device-{patient.patient_id}").getrandbits(128))
        window = w.iomt_window_minutes * 60
        n = max(1, int(window // w.iomt_reading_interval_s))
        offsets = (np.arange(n) * w.iomt_reading_interval_s).astype(np.uint64)
        while self.env.now + window < self.duration:
            start = self.start_ts + int(self.env.now)
            # SpO2 in percent, one reading per interval (drawn now from the device's own
            # generator, so the window's Merkle tree is hashed while the window passes)
            readings = ReadingBatch(1, 94 + rng.integers(0, 6, n), start + offsets)
            root = self.offload.submit(merkle_root, readings) if w.iomt_mode == "batch" else None
            yield self.env.timeout(window)
            if root is not None:
                yield from self.tx(device.anchor_call(readings, start, start + int(window),
                                                      root=root.result()))
                self.counts["iomt_batches"] += 1
            else:
                events = [self.driver.submit(device.record_call(readings[k])) for k in range(n)]
                yield self.env.all_of(events)
            self.counts["iomt_readings"] += n

    # -- adversaries ----------------------------------------------------------
    def _start_adversaries(self) -> None:
        from sim.engine.adversaries import start_adversaries

        start_adversaries(self)


def people_chunk(seed: int, size: int, chunk: int) -> list[Any]:
    """The ``chunk``-th block of ``size`` synthetic people of a run seeded ``seed``.

    Faker draws people one after another, so a smaller ``size`` gives a prefix
    of the same block: a run of 12 patients meets the first 12 of a city's.
    """
    sub = int.from_bytes(hashlib.sha256(f"pmrsim-people:{seed}:{chunk}".encode()).digest()[:8], "big")
    return synthetic_registrations(size, sub)
