"""Live mode of the DApp: a fresh world acted on through the protocol's own actors.

Every action a page offers calls the same actor methods the engine and the
tour use (:mod:`sim.protocol.actors`), so each is one signed transaction
and no rule is checked here a second time: a forbidden action is sent and
the chain's revert reason is shown, with the rule of ``docs/trust-model.md``
it enforces. The off-chain half is the engine's too: the lab's study is a
real pydicom test file, de-identified and split (1, t, n) with
:class:`sim.protocol.studies.StudyStore` (which the tour uses too), its
fragments stored on a simulated swarm, its key shares kept by
:class:`~sim.protocol.KeyCustodian` nodes that release only for a mined
``AccessGrants.use``; the essential share goes to the patient, who seals
it to the doctor they grant.

The server holds every role's simulated wallet and signs for it; pages
show which role acts. Keys and essential shares never leave this module
except as fingerprints.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.dapp.rules import rule_of
from sim.errors import InputError
from sim.protocol import Protocol, ids
from sim.protocol.actors import (
    JUSTIFIED,
    UNJUSTIFIED,
    Desk,
    Device,
    Doctor,
    Hospital,
    Lab,
    Patient,
    Regulator,
)
from sim.protocol.merkle import Reading, merkle_root
from sim.protocol.offchain import cid_v1
from sim.protocol.outcome import Outcome
from sim.protocol.records import (
    DoctorProfile,
    HospitalProfile,
    LabFindings,
    PatientDetails,
    TestType,
    VisitRecord,
)
from sim.protocol.story import PAPER_PATIENT_ID
from sim.protocol.studies import Study, StudyStore, fingerprint

DAY = 86_400
#: The DICOM test files pydicom ships that the lab may upload (no download).
DICOM_SOURCES = ("CT_small.dcm", "MR_small.dcm")
#: Imaging test types and the modality their study has.
IMAGING = {TestType.XRAY: "CR", TestType.CT: "CT", TestType.MRI: "MR"}
#: Backends whose block time the protocol's clock sets freely (a node's clock may not move).
CLOCK_BACKENDS = frozenset({"pyevm", "revm", "ethtester"})
#: The paper's story starts on 4 Jan 2021, 09:00 UTC.
START = int(dt.datetime(2021, 1, 4, 9, tzinfo=dt.UTC).timestamp())
_LABEL = re.compile(r"[^a-z0-9]+")
#: Most patients the role picker lists, and most actions and records a page lists at once
#: (a city slice has tens of thousands; the rest are reached by Patient-ID or by page).
LISTED = 50


def slug(text: str) -> str:
    """A wallet label made of a display name ("City General Hospital" -> "city-general-hospital")."""
    return _LABEL.sub("-", text.lower()).strip("-")[:40]


def _jsonable(value: Any) -> Any:
    """Event arguments as JSON values (bytes as 0x-hex)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class Action:
    """One action taken on a page: who, what, and what the chain (and the off-chain half) said."""

    number: int
    role: str
    title: str
    outcome: Outcome | None
    issued: dict[str, Any] = field(default_factory=dict)
    offchain: dict[str, Any] = field(default_factory=dict)
    image: bytes | None = None  # PNG shown with the action (de-identified or rebuilt study)
    refusal: str = ""  # an off-chain refusal (a custodian's), when there is one

    def as_json(self) -> dict[str, Any]:
        """The action for pages and the JSON twin (no secrets: the outcome has none)."""
        o = self.outcome
        tx: dict[str, Any] | None = None
        if o is not None:
            tx = {
                "op": o.op, "sender": o.sender, "ok": o.ok, "hash": "0x" + o.receipt.tx_hash.hex(),
                "block": o.receipt.block_number, "gas": o.gas, "floor": o.floor,
                "events": [{"name": n, "args": {k: _jsonable(v) for k, v in a.items()}}
                           for n, a in o.events],
                "reason": o.reason, "rule": rule_of(o.reason) if o.reason else "",
            }
        return {"number": self.number, "role": self.role, "title": self.title, "tx": tx,
                "issued": self.issued, "offchain": self.offchain, "refusal": self.refusal,
                "image": self.image is not None}


class LiveWorld:
    """A fresh deployment and its actors, acted on one page action at a time."""

    def __init__(self, backend: str = "pyevm", *, rpc_url: str | None = None, seed: int = 0,
                 t: int = 3, n: int = 5) -> None:
        from sim.chain import make_chain

        self.backend = backend
        self.seed = seed
        self.t, self.n = t, n
        chain = make_chain(backend, seed=seed, rpc_url=rpc_url)
        self.protocol = p = Protocol.deploy(chain, layout="private", seed=seed,
                                            first_patient_id=PAPER_PATIENT_ID)
        self.clock_moves = backend in CLOCK_BACKENDS
        if self.clock_moves:
            p.clock = max(START, chain.timestamp + 1)
        self._rng = random.Random(f"dapp-{seed}")
        # the off-chain half (swarm, custodians, de-identification key): shared with the tour
        self.study_store = store = StudyStore(
            p, rng=self._rng, swarm_rng=random.Random(f"dapp-swarm-{seed}"), t=t, n=n)
        self.deid, self.uid_map, self.env, self.swarm = store.deid, store.uid_map, store.env, store.swarm
        self.custodian_nodes, self.custodians = store.custodian_nodes, store.custodians
        self.regulator = Regulator(p, "regulator")
        self.hospitals: dict[str, Hospital] = {}
        self.profiles: dict[str, HospitalProfile] = {}
        self.desks: dict[str, Desk] = {}
        self.labs: dict[str, Lab] = {}
        self.doctors: dict[str, Doctor] = {}
        self.doctor_names: dict[str, str] = {}
        self.patients: dict[str, Patient] = {}
        self.details: dict[str, PatientDetails] = {}
        self.by_patient_id: dict[int, str] = {}
        self.pmrs_of: dict[int, list[int]] = {}
        self.pmrs: dict[int, dict[str, Any]] = {}
        self.studies: dict[str, Study] = {}
        #: record id -> the lab report as its patient sees it (off chain)
        self.reports: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, Device] = {}
        self.device_names: dict[str, str] = {}
        self.actions: list[Action] = []
        self._record(Action(0, "deployer", "grants the regulator role",
                            p.grant_regulator(self.regulator.account)))

    def close(self) -> None:
        """Release the chain (an anvil node the backend started is stopped)."""
        self.protocol.chain.close()

    # -- roles --------------------------------------------------------------
    def roles(self) -> list[tuple[str, str]]:
        """(role key, label shown) of every role a page may act as now."""
        out = [("applicant", "a new hospital (applicant)"), ("regulator", "regulator")]
        for label, h in self.hospitals.items():
            out.append((f"hospital:{label}", f"hospital admin: {self.profiles[label].name}"
                        + ("" if h.hospital_id else " (pending)")))
            if label in self.desks:
                out.append((f"desk:{label}", f"registration desk: {self.profiles[label].name}"))
            if label in self.labs:
                out.append((f"lab:{label}", f"lab: {self.profiles[label].name}"))
        out += [(f"doctor:{k}", f"doctor: {self.doctor_names[k]}") for k in self.doctors]
        out += [(f"device:{k}", self.role_name(f"device:{k}")) for k in self.devices]
        keys = list(self.patients)[-LISTED:]
        out += [(f"patient:{k}", self.role_name(f"patient:{k}")) for k in keys]
        return out

    def role_name(self, role: str) -> str:
        """The label shown for a role key ("" when there is no such role)."""
        if role in ("applicant", "regulator"):
            return "a new hospital (applicant)" if role == "applicant" else "regulator"
        kind, _, key = role.partition(":")
        if kind == "patient" and key in self.patients:
            # the Patient-ID only: a name would sit beside transaction hashes as if on chain
            return f"patient {self.patients[key].patient_id}"
        if kind == "doctor" and key in self.doctors:
            return f"doctor: {self.doctor_names[key]}"
        if kind == "device" and key in self.devices:
            owner = self.devices[key].patient_id
            return f"IoMT device: {self.device_names[key]}" + (
                f" (bound to patient {owner})" if owner else " (not bound)")
        if key in self.hospitals:
            name = self.profiles[key].name
            if kind == "hospital":
                return f"hospital admin: {name}" + ("" if self.hospitals[key].hospital_id
                                                    else " (pending)")
            if (kind == "desk" and key in self.desks) or (kind == "lab" and key in self.labs):
                return f"{'registration desk' if kind == 'desk' else 'lab'}: {name}"
        return ""

    def patient_role(self, patient_id: int) -> str:
        """The role key of the patient with ``patient_id``."""
        key = self.by_patient_id.get(patient_id)
        if key is None:
            raise InputError(f"patient_id: no patient {patient_id} in this world")
        return f"patient:{key}"

    # -- clock --------------------------------------------------------------
    @property
    def now(self) -> int:
        """The simulated time the next transaction is mined at."""
        return self.protocol.next_timestamp()

    def advance(self, days: float, role: str) -> Action:
        """Move the simulated clock ``days`` ahead (backends whose clock can move only)."""
        if not self.clock_moves:
            raise InputError(f"the clock of backend {self.backend!r} cannot be moved from here")
        if not 0 < days <= 3650 or round(days * DAY) < 1:
            raise InputError("days: expected a number of days of at least one second "
                             "(1.2e-5) and at most 3650")
        self.protocol.clock = self.now + round(days * DAY)
        return self._record(Action(0, role, f"advances the clock {days:g} day(s) to "
                                   f"{_when(self.protocol.clock)}", None))

    # -- actions ------------------------------------------------------------
    def _record(self, action: Action) -> Action:
        action.number = len(self.actions) + 1
        self.actions.append(action)
        return action

    def _act(self, role: str, title: str, outcome: Outcome, **issued: Any) -> Action:
        return self._record(Action(0, role, title, outcome,
                                   issued={k: v for k, v in issued.items() if outcome.ok}))

    def apply(self, profile: HospitalProfile) -> tuple[str, Action]:
        """A new hospital applies with its Gov. Reg. ID and profile (Fig. 2)."""
        label = slug(profile.name) or "hospital"
        hospital = self.hospitals.get(label) or Hospital(self.protocol, label)
        out = hospital.apply(profile)
        if out.ok:
            self.hospitals[label] = hospital
            self.profiles[label] = profile
        return label, self._act("applicant", f"{profile.name} applies for registration", out)

    def verify(self, label: str) -> Action:
        """The regulator verifies a hospital's application -> Hospital-ID."""
        h = self._hospital(label)
        out = self.regulator.verify(h)
        return self._act("regulator", f"verifies {self.profiles[label].name}", out,
                         hospital_id=out.issued)

    def add_staff(self, label: str, kind: str) -> Action:
        """The hospital admin names its registration desk or its lab."""
        h = self._hospital(label)
        if kind == "desk":
            desk = self.desks.get(label) or Desk(self.protocol, f"{label}-desk")
            out = h.add_operator(desk)
            if out.ok:
                self.desks[label] = desk
        elif kind == "lab":
            lab = self.labs.get(label) or Lab(self.protocol, f"{label}-lab")
            out = h.add_operator(lab)
            if out.ok:
                self.labs[label] = lab
        else:
            raise InputError("kind: expected desk or lab")
        return self._act(f"hospital:{label}", f"names its {kind}", out)

    def onboard(self, label: str, profile: DoctorProfile) -> Action:
        """The hospital admin onboards a doctor -> Doctor-ID (one per UPRN)."""
        h = self._hospital(label)
        key = slug(profile.name) or "doctor"
        doctor = self.doctors.get(key) or Doctor(self.protocol, key)
        out = h.onboard(doctor, profile)
        if out.ok:
            self.doctors[key] = doctor
            self.doctor_names[key] = profile.name
        return self._act(f"hospital:{label}", f"onboards {profile.name}", out,
                         doctor_id=out.issued)

    def _account_groups(self) -> tuple[dict[str, Any], ...]:
        return (self.hospitals, self.desks, self.labs, self.doctors, self.patients, self.devices)

    def account_counts(self) -> tuple[int, ...]:
        """How many actors of each kind there are (what :meth:`accounts` ``since`` takes)."""
        return tuple(len(group) for group in self._account_groups())

    def accounts(self, since: tuple[int, ...] = ()) -> dict[str, bytes]:
        """Label -> address of every account acting in this world (the deployer's too); with
        ``since`` (an earlier :meth:`account_counts`), only the actors added after it."""
        found: dict[str, bytes] = {} if since else {
            self.protocol.admin.label: self.protocol.admin.address,
            self.regulator.label: self.regulator.address}
        for k, group in enumerate(self._account_groups()):
            start = since[k] if since else 0
            for actor in itertools.islice(group.values(), start, None):
                found[actor.label] = actor.address
        return found

    def set_status(self, target: str, action: str) -> Action:
        """The regulator suspends or reinstates (``action``) a hospital or a doctor
        (``target`` is ``hospital:<label>`` or ``doctor:<key>``)."""
        if action not in ("suspend", "reinstate"):
            raise InputError("status: expected suspend or reinstate")
        kind, _, key = target.partition(":")
        if kind == "hospital":
            hospital = self._hospital(key)
            name = self.profiles[key].name
            out = (self.regulator.suspend_hospital(hospital) if action == "suspend"
                   else self.regulator.reinstate_hospital(hospital))
        elif kind == "doctor":
            doctor = self._doctor(key)
            name = self.doctor_names[key]
            out = (self.regulator.suspend_doctor(doctor) if action == "suspend"
                   else self.regulator.reinstate_doctor(doctor))
        else:
            raise InputError("target: expected hospital:<label> or doctor:<key>")
        return self._act("regulator", f"{action}s {name}", out)

    def refer(self, doctor_key: str, pmr_id: int, label: str) -> Action:
        """The doctor refers a record's tests to another hospital's lab."""
        out = self._doctor(doctor_key).refer(pmr_id, self._hospital(label))
        return self._act(f"doctor:{doctor_key}", f"refers PMR {pmr_id}'s tests to "
                         f"{self.profiles[label].name}", out)

    def bind_device(self, label: str, patient_id: int, name: str) -> Action:
        """The hospital's desk proposes binding an IoMT device to a patient (who must accept)."""
        desk = self.desks.get(label)
        if desk is None:
            raise InputError(f"hospital {label!r} has no registration desk")
        patient = self._patient(self.patient_role(patient_id)[8:])
        key = slug(name) or "device"
        if key in self.devices and self.devices[key].patient_id:
            raise InputError(f"name: device {name!r} is already bound; give the new one its own name")
        device = self.devices.get(key) or Device(self.protocol, f"device-{key}")
        out = desk.bind_device(device, patient)
        if out.ok:
            self.devices[key] = device
            self.device_names[key] = name
        return self._act(f"desk:{label}", f"proposes binding {name} to patient {patient_id}", out)

    def accept_device(self, patient_key: str, device_key: str) -> Action:
        """The patient consents to a device bound to them."""
        out = self._patient(patient_key).accept_device(self._device(device_key))
        return self._act(f"patient:{patient_key}", f"accepts {self.device_names[device_key]}", out)

    def unbind_device(self, role: str, device_key: str) -> Action:
        """The patient (or the binding hospital's desk) unbinds a device."""
        device = self._device(device_key)
        kind, _, key = role.partition(":")
        if kind == "patient":
            out = self._patient(key).unbind_device(device)
        elif kind == "desk" and key in self.desks:
            out = self.desks[key].unbind_device(device)
        else:
            raise InputError("role: the patient or a registration desk unbinds a device")
        return self._act(role, f"unbinds {self.device_names[device_key]}", out)

    def anchor(self, device_key: str, readings: int, minutes: float) -> Action:
        """The device anchors a window of SpO2 readings: the batch is encrypted and stored
        off chain; the chain gets the window, the count, the Merkle root and the batch's CID."""
        if not 1 <= readings <= 1440:
            raise InputError("readings: expected 1 to 1440 readings in a window")
        if not 0 < minutes <= 7 * 24 * 60:
            raise InputError("minutes: expected a window above 0 and at most a week (10080)")
        device = self._device(device_key)
        end = self.now - 1
        start = end - round(minutes * 60)
        step = max(1, (end - start) // readings)
        batch = [Reading(1, 94 + self._rng.randrange(6), start + i * step) for i in range(readings)]
        call = device.anchor_call(batch, start, end)
        out = self.protocol.run(call)
        action = self._act(f"device:{device_key}", f"anchors {readings} SpO2 readings taken "
                           f"{_when(start)} to {_when(end)}", out)
        batch_digest = call.args[4]
        action.offchain = {
            "readings": readings, "kind": "SpO2 (%)",
            "values": f"first {min(readings, 20)} of {readings}: "
                      + " ".join(str(r.value) for r in batch[:20]),
            "merkle_root": "0x" + merkle_root(batch).hex(),
            "encrypted_batch_cid": cid_v1(batch_digest),
            "note": "the readings stay off chain, encrypted; the chain holds the window, the "
                    "count, the Merkle root and the CID of the encrypted batch",
        }
        return action

    def _device(self, key: str) -> Device:
        if key not in self.devices:
            raise InputError(f"device: no device {key!r}")
        return self.devices[key]

    def register_patient(self, label: str, details: PatientDetails) -> Action:
        """The hospital's desk registers a patient and attendant -> Patient-ID (Fig. 3)."""
        desk = self.desks.get(label)
        if desk is None:
            raise InputError(f"hospital {label!r} has no registration desk")
        key = f"patient-{len(self.patients) + 1}"
        patient = Patient(self.protocol, key)
        out = desk.register(patient, details)
        if out.ok:
            self.patients[key] = patient
            self.details[key] = details
            self.by_patient_id[patient.patient_id] = key
        who = f"patient {out.issued}" if out.ok else "a patient"
        return self._act(f"desk:{label}", f"registers {who} and attendant (details off chain)", out,
                         patient_id=out.issued)

    def visit(self, doctor_key: str, patient_id: int, day: dt.date, record: VisitRecord) -> Action:
        """The doctor records the visit: the PMR token with its PMR-ID (Fig. 4)."""
        doctor = self._doctor(doctor_key)
        out = doctor.create_pmr(patient_id, day, record)
        if out.ok and out.issued is not None and out.issued not in self.pmrs:
            self.pmrs_of.setdefault(patient_id, []).append(out.issued)
            self.pmrs.setdefault(out.issued, {"patient_id": patient_id, "visit": day.isoformat(),
                                             "doctor": doctor_key, "reports": []})
        return self._act(f"doctor:{doctor_key}", f"records the visit of patient {patient_id} on "
                         f"{day.isoformat()}", out, pmr_id=out.issued)

    def upload(self, label: str, pmr_id: int, test: TestType, source: str, reason: str,
               observations: str) -> Action:
        """The lab uploads a study (Fig. 5): de-identify, split, store, post its manifest CID."""
        lab = self.labs.get(label)
        if lab is None:
            raise InputError(f"hospital {label!r} has no lab")
        if source not in DICOM_SOURCES:
            raise InputError(f"source: expected one of {', '.join(DICOM_SOURCES)}")
        patient_id = ids.split_pmr_id(pmr_id)[0] if pmr_id >= ids.DATE_BASE else 0
        owner = self.by_patient_id.get(patient_id)
        identity = {"PatientName": "", "PatientID": f"MRN-{patient_id:08d}",
                    "InstitutionName": self.profiles[label].name}
        if owner is not None:
            identity["PatientName"] = self.details[owner].name.replace(" ", "^")
        record_id = f"study-{pmr_id}-{len(self.studies) + 1}"
        upload = self.study_store.store(source, record_id=record_id, pmr_id=pmr_id,
                                        patient_id=patient_id, identity=identity,
                                        modality=IMAGING.get(test, test.name),
                                        patient_label=owner or "")
        mcid = upload.study.manifest_cid
        today = dt.datetime.fromtimestamp(self.now, dt.UTC).date()
        findings = LabFindings(test, today, 1000 + len(self.studies), reason, observations)
        out = lab.post_report(pmr_id, findings, mcid.digest, codec=mcid.codec)
        action = self._act(f"lab:{label}", f"uploads a {test.name} study for PMR {pmr_id}", out,
                           report_id=out.issued)
        action.offchain = upload.study.describe()
        action.image = render_png(upload.data)
        if not out.ok:  # nothing on chain points at it: take it off the swarm again
            freed = self.study_store.discard(upload.study)
            action.offchain["discarded"] = (f"the chain refused the report, so the study was "
                                            f"unpinned and collected ({freed:,} bytes freed) "
                                            "and the custodians dropped its shares")
        if out.ok:
            self.studies[record_id] = upload.study
            # the patient's own view of the report (off chain: the findings in the clear)
            self.reports[record_id] = {"report_id": out.issued, "test": test.name,
                                       "captured": today.isoformat(), "reason": reason,
                                       "observations": observations, "action": action.number}
            if pmr_id in self.pmrs:
                self.pmrs[pmr_id]["reports"].append(record_id)
        return action

    def grant(self, patient_key: str, doctor_key: str, pmr_id: int, days: float) -> Action:
        """The patient grants a doctor access to one PMR for ``days``, and seals them the
        essential share of its studies (ECIES to the doctor's key)."""
        if not 0 < days <= 3650:
            raise InputError("days: expected a number of days above 0 and at most 3650")
        patient, doctor = self._patient(patient_key), self._doctor(doctor_key)
        until = self.now + round(days * DAY)
        out = patient.grant(doctor, until, pmr_id=pmr_id)
        action = self._act(f"patient:{patient_key}", f"grants {self.doctor_names[doctor_key]} "
                           f"PMR {pmr_id} until {_when(until)}", out)
        if out.ok:
            sent = []
            for study in self.studies.values():
                if study.pmr_id == pmr_id and study.patient_label == patient_key:
                    sent.append({"record_id": study.record_id, "essential_share_fingerprint":
                                 self.study_store.seal_to(study, doctor_key, doctor)})
            action.offchain = {"essential_shares_sealed_to_doctor": sent}
        return action

    def revoke(self, patient_key: str, doctor_key: str, pmr_id: int) -> Action:
        """The patient ends a grant early."""
        out = self._patient(patient_key).revoke(self._doctor(doctor_key), pmr_id=pmr_id)
        return self._act(f"patient:{patient_key}",
                         f"revokes {self.doctor_names[doctor_key]}'s grant on PMR {pmr_id}", out)

    def read(self, doctor_key: str, pmr_id: int) -> Action:
        """The doctor opens a PMR: a mined ``use``, then the custodians release and the
        study is rebuilt with the essential share the patient sealed to the doctor."""
        doctor = self._doctor(doctor_key)
        out = doctor.access(pmr_id)  # under the window open now (a grant, or break-glass)
        action = self._act(f"doctor:{doctor_key}", f"opens PMR {pmr_id}", out)
        if not out.ok:
            return action
        rebuilt = []
        for study in self.studies.values():
            if study.pmr_id != pmr_id:
                continue
            result = self._rebuild(doctor, doctor_key, study, out.receipt.tx_hash)
            rebuilt.append(result)
            if result.get("png") is not None:
                action.image = result.pop("png")
            else:
                result.pop("png", None)
                action.refusal = action.refusal or result["result"]
        action.offchain = {"studies": rebuilt}
        return action

    def emergency(self, doctor_key: str, patient_id: int, reason_code: int) -> Action:
        """Break-glass: the doctor opens emergency access to a patient's records, with a reason."""
        out = self._doctor(doctor_key).emergency_access(patient_id, reason_code)
        return self._act(f"doctor:{doctor_key}", f"breaks the glass on patient {patient_id} "
                         f"(reason {reason_code})", out)

    def close_emergency(self, role: str, doctor_key: str) -> Action:
        """The patient (or the regulator) closes a doctor's emergency access."""
        doctor = self._doctor(doctor_key)
        kind, _, key = role.partition(":")
        if kind == "patient":
            out = self._patient(key).close_emergency(doctor)
        elif role == "regulator":
            out = self.regulator.close_emergency(doctor, self._emergency_patient(doctor_key))
        else:
            raise InputError("role: the patient or the regulator closes emergency access")
        return self._act(role, f"closes {self.doctor_names[doctor_key]}'s emergency access", out)

    def review(self, role: str, doctor_key: str, opening: int, justified: bool) -> Action:
        """The hospital admin (or the regulator) reviews a doctor's break-glass opening."""
        doctor = self._doctor(doctor_key)
        verdict = JUSTIFIED if justified else UNJUSTIFIED
        kind, _, key = role.partition(":")
        if kind == "hospital":
            out = self._hospital(key).review_emergency(doctor, opening, verdict)
        elif role == "regulator":
            out = self.regulator.review_emergency(doctor, opening, verdict)
        else:
            raise InputError("role: a hospital admin or the regulator reviews break-glass")
        word = "justified" if justified else "not justified"
        return self._act(role, f"reviews {self.doctor_names[doctor_key]}'s opening {opening}: "
                         f"{word}", out)

    def _emergency_patient(self, doctor_key: str) -> int:
        """The patient of the doctor's latest emergency opening (what the regulator closes)."""
        for action in reversed(self.actions):
            o = action.outcome
            if o is not None and o.ok and action.role == f"doctor:{doctor_key}":
                for name, args in o.events:
                    if name == "EmergencyAccess":
                        return int(args["patient_id"])
        raise InputError(f"doctor: {doctor_key!r} opened no emergency access")

    def _rebuild(self, doctor: Doctor, key: str, study: Study, use_tx: bytes) -> dict[str, Any]:
        """Have t custodians release for ``use_tx`` and rebuild the study (the shared store)."""
        rebuilt = self.study_store.rebuild(study, doctor, key, use_tx)
        if rebuilt.data is None:
            return {"record_id": study.record_id, "result": rebuilt.result, "png": None}
        return {"record_id": study.record_id, "released_by": rebuilt.released_by,
                "result": rebuilt.result, "png": render_png(rebuilt.data)}

    def _run(self, process: Any) -> Any:
        """Run a swarm process to completion in simulated time; its value."""
        return self.study_store.run(process)

    # -- lookups ------------------------------------------------------------
    def _hospital(self, label: str) -> Hospital:
        if label not in self.hospitals:
            raise InputError(f"hospital: no hospital {label!r}")
        return self.hospitals[label]

    def _doctor(self, key: str) -> Doctor:
        if key not in self.doctors:
            raise InputError(f"doctor: no doctor {key!r}")
        return self.doctors[key]

    def _patient(self, key: str) -> Patient:
        if key not in self.patients:
            raise InputError(f"patient: no patient {key!r}")
        return self.patients[key]

    def state(self, role: str = "") -> dict[str, Any]:
        """What the pages show of the world (the JSON twin of the live page; no secrets).

        Lists are bounded (:data:`LISTED`): the latest patients, records and actions;
        a patient's own records are listed in full for that patient's role.
        """
        p = self.protocol
        mine: list[dict[str, Any]] = []
        details: dict[str, Any] = {}
        if role.startswith("patient:") and role[8:] in self.patients:
            d = self.details[role[8:]]
            details = {"name": d.name, "age": d.age, "gender": d.gender, "phone": d.phone,
                       "email": d.email, "address": d.address,
                       "attendant": d.attendant_name or "none"}
            for pmr_id in self.pmrs_of.get(self.patients[role[8:]].patient_id, []):
                mine.append({"pmr_id": pmr_id, **self.pmrs[pmr_id], "studies": [
                    {**self._study_json(self.studies[r]), "report": self.reports[r]}
                    for r in self.pmrs[pmr_id]["reports"]]})
        return {
            "backend": self.backend, "layout": p.layout, "now": self.now, "now_text": _when(self.now),
            "clock_moves": self.clock_moves, "head": p.chain.block_number,
            "hospitals": [{"label": k, "name": self.profiles[k].name, "hospital_id": h.hospital_id,
                           "desk": k in self.desks, "lab": k in self.labs}
                          for k, h in self.hospitals.items()],
            "doctors": [{"key": k, "name": self.doctor_names[k], "doctor_id": d.doctor_id,
                         "hospitals": list(d.hospitals)} for k, d in self.doctors.items()],
            "devices": [{"key": k, "name": self.device_names[k], "patient_id": d.patient_id}
                        for k, d in self.devices.items()],
            "patients_total": len(self.patients),
            "patients": [{"key": k, "patient_id": self.patients[k].patient_id}
                         for k in list(self.patients)[-LISTED:]],
            "pmrs_total": len(self.pmrs),
            "pmrs": [{"pmr_id": i, **self.pmrs[i]} for i in list(self.pmrs)[-LISTED:]],
            "my_records": mine, "my_details": details,
            "studies": [self._study_json(s) for s in list(self.studies.values())[-LISTED:]],
            "actions_total": len(self.actions),
            "actions": [a.as_json() for a in self.actions[-LISTED:]],
        }

    def actions_page(self, page: int) -> list[dict[str, Any]]:
        """Actions ``page * LISTED + 1`` onwards, at most :data:`LISTED`."""
        return [a.as_json() for a in self.actions[page * LISTED:(page + 1) * LISTED]]

    @staticmethod
    def _study_json(s: Study) -> dict[str, Any]:
        return {"record_id": s.record_id, "pmr_id": s.pmr_id, "manifest_cid": str(s.manifest_cid),
                "essential_share_fingerprint": fingerprint(s.essential.secret.reveal()),
                "sealed_to": sorted(s.sent)}

    def action(self, number: int) -> Action:
        """Action ``number`` (1-based)."""
        if not 1 <= number <= len(self.actions):
            raise InputError(f"action: no action {number}")
        return self.actions[number - 1]


def _when(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%d %b %Y %H:%M UTC")


def render_png(dicom: bytes) -> bytes | None:
    """The first frame of a DICOM study as a greyscale PNG (None when it has no pixels)."""
    import numpy as np
    import pydicom
    from matplotlib.image import imsave

    ds = pydicom.dcmread(io.BytesIO(dicom))
    if "PixelData" not in ds:
        return None
    pixels = np.asarray(ds.pixel_array, dtype=float)
    if pixels.ndim == 3 and pixels.shape[-1] not in (3, 4):
        pixels = pixels[0]
    buf = io.BytesIO()
    imsave(buf, pixels, cmap="gray", format="png")
    return buf.getvalue()


Handler = Callable[..., Action]
