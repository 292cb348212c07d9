"""The stakeholders of the paper, each doing what its figure shows.

Every use case comes in two forms: ``xxx_call(...)`` prepares the step as a
:class:`~sim.protocol.protocol.Call` (private layout: salted commitments,
blind tags and CIDs of encrypted copies; paper layout: the fields as
strings) for the engine to send into the mempool, and ``xxx(...)`` runs it
at once and returns the :class:`~sim.protocol.outcome.Outcome`. A rejected
step does not raise: its outcome carries the revert reason (call
:meth:`Outcome.require` to raise instead).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sim.chain import Account
from sim.protocol import ids
from sim.protocol.merkle import Reading, Readings, encode_readings, merkle_root
from sim.protocol.offchain import CODEC_RAW, cid_v1
from sim.protocol.outcome import Outcome, SlotWrites, string_slots
from sim.protocol.protocol import Call, Protocol
from sim.protocol.records import (
    DoctorProfile,
    HospitalProfile,
    LabFindings,
    PatientDetails,
    VisitRecord,
    blind_tag,
    canonical,
    commitment,
)

Events = list[tuple[str, dict[str, Any]]]
#: Labels of AccessGrants.use by the kind of window that allowed it.
_USE_KINDS = {1: "", 2: " (all records)", 3: " (emergency)"}
#: An IoMT batch or reading: the item (new) and the device's count of them (changed).
_BATCH = SlotWrites(new=1, updated=1)


def _first_count(op: str, writes: SlotWrites, event: str, field: str,
                 first: int) -> Callable[[Events], tuple[str, SlotWrites]]:
    """A classifier: ``writes``, with the counter set from zero when the ``event``'s
    ``field`` (the new count's ID or index) is ``first``.

    The gas table measures each operation in its steady state, where the
    counter exists; the first call of its kind writes it from zero, and its
    floor says so (so the gas above the floor is the same).
    """

    def classify(events: Events) -> tuple[str, SlotWrites]:
        issued = next((a[field] for n, a in events if n == event), None)
        return op, writes.first_count() if issued == first else writes

    return classify


class Actor:
    """A stakeholder with a funded account on the protocol's chain."""

    def __init__(self, protocol: Protocol, label: str) -> None:
        self.protocol = protocol
        self.label = label
        self.account: Account = protocol.account(label)

    @property
    def address(self) -> bytes:
        """The actor's account address."""
        return self.account.address

    def _call(self, contract: str, fn: str, args: tuple[Any, ...], writes: SlotWrites,
              **kwargs: Any) -> Call:
        return self.protocol.prepare(self.account, contract, fn, args, writes=writes, **kwargs)

    def _commit(self, record: object) -> tuple[bytes, bytes]:
        """(salted commitment, digest of the encrypted copy stored off chain)."""
        salt = self.protocol.sealer.random_bytes(32)
        sealed = self.protocol.sealer.seal(canonical(record), aad=type(record).__name__.encode())
        return commitment(record, salt), sealed.digest


class Regulator(Actor):
    """A regulatory body (medical association) that verifies hospitals (Fig. 2)."""

    def verify_call(self, hospital: Hospital) -> Call:
        """Verify a hospital's application; the hospital receives its Hospital-ID."""

        def issued(out: Outcome) -> None:
            if out.issued is not None:
                hospital.hospital_id = out.issued

        writes = SlotWrites(new=2, updated=1)  # the hospital, its operator; the count
        return self._call("HospitalRegistry", "verify", (hospital.address,), writes,
                          classify=_first_count("HospitalRegistry.verify", writes,
                                                "HospitalVerified", "hospital_id", 1),
                          issued_from=("HospitalVerified", "hospital_id"), on_mined=issued)

    def verify(self, hospital: Hospital) -> Outcome:
        """Run :meth:`verify_call`."""
        return self.protocol.run(self.verify_call(hospital))

    def status_call(self, target: Hospital | Doctor, action: str) -> Call:
        """Suspend or reinstate (``action``) a hospital or a doctor."""
        if isinstance(target, Hospital):
            return self._call("HospitalRegistry", action, (target.hospital_id,),
                              SlotWrites(updated=1))
        return self._call("DoctorRegistry", action, (target.doctor_id,), SlotWrites(updated=1))

    def suspend_hospital(self, hospital: Hospital) -> Outcome:
        """Suspend a verified hospital."""
        return self.protocol.run(self.status_call(hospital, "suspend"))

    def reinstate_hospital(self, hospital: Hospital) -> Outcome:
        """Reinstate a suspended hospital."""
        return self.protocol.run(self.status_call(hospital, "reinstate"))

    def suspend_doctor(self, doctor: Doctor) -> Outcome:
        """Suspend a doctor everywhere."""
        return self.protocol.run(self.status_call(doctor, "suspend"))

    def reinstate_doctor(self, doctor: Doctor) -> Outcome:
        """Reinstate a suspended doctor."""
        return self.protocol.run(self.status_call(doctor, "reinstate"))


class Hospital(Actor):
    """A hospital: applies for registration, names its staff, onboards doctors (Fig. 2)."""

    hospital_id: int = 0

    def apply_call(self, profile: HospitalProfile) -> Call:
        """Apply with the profile; a regulator must verify it before the hospital may act."""
        p = self.protocol
        if p.private:
            tag = blind_tag(p.authority_key, "gov-reg-id", profile.gov_reg_id)
            commit, digest = self._commit(profile)
            return self._call("HospitalRegistry", "apply", (tag, commit, digest),
                              SlotWrites(new=3))
        fields = (profile.gov_reg_id, profile.name, profile.location,
                  profile.specialization, profile.contact)
        return self._call("HospitalRegistry", "apply_paper", fields,
                          SlotWrites(new=1 + string_slots(*fields)))

    def apply(self, profile: HospitalProfile) -> Outcome:
        """Run :meth:`apply_call`."""
        return self.protocol.run(self.apply_call(profile))

    def add_operator_call(self, staff: Actor) -> Call:
        """Name a desk or lab operator who acts for this hospital."""
        return self._call("HospitalRegistry", "set_operator", (staff.address, True),
                          SlotWrites(new=1))

    def add_operator(self, staff: Actor) -> Outcome:
        """Run :meth:`add_operator_call`."""
        return self.protocol.run(self.add_operator_call(staff))

    def onboard_call(self, doctor: Doctor, profile: DoctorProfile) -> Call:
        """Onboard a medical practitioner; a new registration number gets a Doctor-ID."""
        p = self.protocol
        if p.private:
            tag = blind_tag(p.authority_key, "registration-number", profile.registration_number)
            commit, digest = self._commit(profile)
            fn = "onboard"
            args: tuple[Any, ...] = (doctor.address, tag, commit, digest)
            fresh = SlotWrites(new=6, updated=1)
        else:
            fn = "onboard_paper"
            texts = (profile.registration_number, profile.name, profile.specialization,
                     profile.contact)
            args = (doctor.address, *texts)
            fresh = SlotWrites(new=4 + string_slots(*texts), updated=1)

        def classify(events: Events) -> tuple[str, SlotWrites]:
            new = next((a for n, a in events if n == "DoctorOnboarded" and a["new_doctor"]), None)
            if new is None:
                return f"DoctorRegistry.{fn} (affiliation)", SlotWrites(new=1)
            # the doctor count is one of the changed slots: new for the first Doctor-ID
            return f"DoctorRegistry.{fn}", fresh.first_count() if new["doctor_id"] == 1 else fresh

        def issued(out: Outcome) -> None:
            if out.issued is not None:
                doctor.doctor_id = out.issued
                doctor.hospitals.append(self.hospital_id)

        return self._call("DoctorRegistry", fn, args, fresh, classify=classify,
                          issued_from=("DoctorOnboarded", "doctor_id"), on_mined=issued)

    def onboard(self, doctor: Doctor, profile: DoctorProfile) -> Outcome:
        """Run :meth:`onboard_call`."""
        return self.protocol.run(self.onboard_call(doctor, profile))

    def end_affiliation_call(self, doctor: Doctor) -> Call:
        """End a doctor's affiliation with this hospital."""
        return self._call("DoctorRegistry", "end_affiliation", (doctor.doctor_id,),
                          SlotWrites(updated=1))

    def end_affiliation(self, doctor: Doctor) -> Outcome:
        """Run :meth:`end_affiliation_call`."""
        return self.protocol.run(self.end_affiliation_call(doctor))


class Desk(Actor):
    """A hospital's registration desk (Fig. 3); also binds IoMT devices to patients."""

    def register_call(self, patient: Patient, details: PatientDetails) -> Call:
        """Register a patient and attendant; the patient receives a Patient-ID."""
        p = self.protocol
        if p.private:
            commit, digest = self._commit(details)
            fn = "register"
            args: tuple[Any, ...] = (patient.address, commit, digest)
            writes = SlotWrites(new=4, updated=1)
        else:
            record = (
                details.name, details.age, details.gender, round(details.weight_kg * 1000),
                round(details.height_cm * 10),
                f"{details.address}; {details.phone}; {details.email}",
                details.attendant_name, details.attendant_phone, details.attendant_relation,
            )
            fn, args = "register_paper", (patient.address, record)
            texts = [v for v in record if isinstance(v, str)]
            numbers = sum(1 for v in record if isinstance(v, int) and v)
            writes = SlotWrites(new=2 + numbers + string_slots(*texts), updated=1)
        # without an attendant the paper layout stores three empty strings: no-op writes of
        # zero words (~4,400 gas each, measured) put it ~11,000 gas above the floor of a
        # full registration, so the gas table has a row of its own for it
        variant = "" if p.private or details.attendant_name else " (no attendant)"

        def issued(out: Outcome) -> None:
            if out.issued is not None:
                patient.patient_id = out.issued

        return self._call("PatientRegistry", fn, args, writes,
                          op=f"PatientRegistry.{fn}{variant}",
                          issued_from=("PatientRegistered", "patient_id"), on_mined=issued)

    def register(self, patient: Patient, details: PatientDetails) -> Outcome:
        """Run :meth:`register_call`."""
        return self.protocol.run(self.register_call(patient, details))

    def bind_device_call(self, device: Device, patient: Patient) -> Call:
        """Bind an IoMT device to a patient."""

        def bound(out: Outcome) -> None:
            if out.ok:
                device.patient_id = patient.patient_id

        return self._call("IoMTAnchor", "bind_device", (device.address, patient.patient_id),
                          SlotWrites(new=1), on_mined=bound)

    def bind_device(self, device: Device, patient: Patient) -> Outcome:
        """Run :meth:`bind_device_call`."""
        return self.protocol.run(self.bind_device_call(device, patient))


class Doctor(Actor):
    """A medical practitioner (Fig. 4 and the second-opinion use case)."""

    def __init__(self, protocol: Protocol, label: str) -> None:
        super().__init__(protocol, label)
        self.doctor_id = 0
        self.hospitals: list[int] = []

    def _hospital(self, hospital_id: int | None) -> int:
        if hospital_id is not None:
            return hospital_id
        return self.hospitals[0] if self.hospitals else 0

    def create_pmr_call(
        self, patient_id: int, visit: dt.date, record: VisitRecord, *,
        hospital_id: int | None = None,
    ) -> Call:
        """Create the PMR token of a visit (a second visit the same day adds a version)."""
        p = self.protocol
        hid = self._hospital(hospital_id)
        date = ids.ddmmyyyy(visit)
        if p.private:
            sealed = p.sealer.seal(canonical(record), aad=str(patient_id * ids.DATE_BASE + date).encode())
            fn = "mint"
            args: tuple[Any, ...] = (patient_id, date, hid, sealed.digest, CODEC_RAW)
            record_slots = 1
        else:
            fields = (record.present_illness, record.past_illness, record.provisional_diagnosis,
                      record.treatment_summary, record.insurance)
            fn, args = "mint_paper", (patient_id, date, hid, fields)
            record_slots = string_slots(*fields)

        name = p.system.label("PMRToken")
        multi = name == "PMRMulti"

        def classify(events: Events) -> tuple[str, SlotWrites]:
            # state, meta and the record; a new ERC-721 token also writes the owner's
            # balance, a new ERC-1155 id its holder's balance and its total supply
            if not any(n in ("Transfer", "TransferSingle") for n, _ in events):
                return f"{name}.{fn} (same-day version)", SlotWrites(new=1 + record_slots, updated=1)
            first = p.count_token(patient_id) == 1
            label = f"{name}.{fn}" + ("" if first else " (later visit)")
            if multi:
                return label, SlotWrites(new=4 + record_slots)
            if first:
                return label, SlotWrites(new=3 + record_slots)
            return label, SlotWrites(new=2 + record_slots, updated=1)

        return self._call("PMRToken", fn, args, SlotWrites(new=3 + record_slots),
                          classify=classify, issued_from=("PMRVersionAdded", "pmr_id"))

    def create_pmr(
        self, patient_id: int, visit: dt.date, record: VisitRecord, *,
        hospital_id: int | None = None,
    ) -> Outcome:
        """Run :meth:`create_pmr_call`."""
        return self.protocol.run(self.create_pmr_call(patient_id, visit, record,
                                                      hospital_id=hospital_id))

    def access_call(self, pmr_id: int) -> Call:
        """Record an access to a PMR under a valid grant or emergency access (audit log)."""

        def classify(events: Events) -> tuple[str, SlotWrites]:
            kind = next((a["kind"] for n, a in events if n == "AccessUsed"), 1)
            return "AccessGrants.use" + _USE_KINDS.get(kind, ""), SlotWrites()

        return self._call("AccessGrants", "use", (pmr_id,), SlotWrites(), classify=classify)

    def access(self, pmr_id: int) -> Outcome:
        """Run :meth:`access_call`."""
        return self.protocol.run(self.access_call(pmr_id))

    def emergency_access_call(
        self, patient_id: int, reason_code: int, *, hospital_id: int | None = None
    ) -> Call:
        """Break-glass access to a patient's records for a short fixed time, with a reason."""
        p = self.protocol

        def classify(events: Events) -> tuple[str, SlotWrites]:
            a = next(a for n, a in events if n == "EmergencyAccess")
            first = p.first_write("emergency", a["doctor"].lower(), a["patient_id"])
            return ("AccessGrants.emergency_access",
                    SlotWrites(new=1) if first else SlotWrites(updated=1))

        return self._call("AccessGrants", "emergency_access",
                          (patient_id, self._hospital(hospital_id), reason_code),
                          SlotWrites(new=1), classify=classify)

    def emergency_access(
        self, patient_id: int, reason_code: int, *, hospital_id: int | None = None
    ) -> Outcome:
        """Run :meth:`emergency_access_call`."""
        return self.protocol.run(self.emergency_access_call(patient_id, reason_code,
                                                            hospital_id=hospital_id))


class Lab(Actor):
    """A hospital's diagnostic lab (Fig. 5)."""

    def post_report_call(
        self, pmr_id: int, findings: LabFindings, manifest_digest: bytes, *, codec: int = CODEC_RAW
    ) -> Call:
        """Post the report of a PMR; the study's sharing manifest is referenced by CID."""
        p = self.protocol
        capture = ids.ddmmyyyy(findings.capture_date)
        if p.private:
            salt = p.sealer.random_bytes(32)
            observed = commitment({"observations": findings.observations,
                                   "reason": findings.reason}, salt)
            fn = "post"
            args: tuple[Any, ...] = (pmr_id, int(findings.test_type), capture,
                                     findings.reason_code, observed, manifest_digest, codec)
            writes = SlotWrites(new=3, updated=1)
        else:
            details = (findings.reason, findings.observations, cid_v1(manifest_digest, codec))
            fn, args = "post_paper", (pmr_id, int(findings.test_type), capture, details)
            writes = SlotWrites(new=1 + string_slots(*details), updated=1)
        return self._call("LabReports", fn, args, writes,
                          classify=_first_count(f"LabReports.{fn}", writes, "LabReportPosted",
                                                "report_id", 1),
                          issued_from=("LabReportPosted", "report_id"))

    def post_report(
        self, pmr_id: int, findings: LabFindings, manifest_digest: bytes, *, codec: int = CODEC_RAW
    ) -> Outcome:
        """Run :meth:`post_report_call`."""
        return self.protocol.run(self.post_report_call(pmr_id, findings, manifest_digest,
                                                       codec=codec))


class Patient(Actor):
    """A patient: owns the PMR tokens, grants and revokes access (second opinion)."""

    patient_id: int = 0

    def grant_call(self, doctor: Doctor, until: int, *, pmr_id: int | None = None) -> Call:
        """Grant ``doctor`` access to one PMR (or all records) until block time ``until``."""
        p = self.protocol

        def classify(events: Events) -> tuple[str, SlotWrites]:
            # the expiry slot of (grantee, scope) is new only the first time it is granted
            a = next(a for n, a in events if n == "AccessGranted")
            first = p.first_write("grant", a["grantee"].lower(), a["patient_id"], a["pmr_id"])
            return "AccessGrants.grant", SlotWrites(new=1) if first else SlotWrites(updated=1)

        return self._call("AccessGrants", "grant", (doctor.address, pmr_id or 0, until),
                          SlotWrites(new=1), classify=classify)

    def grant(self, doctor: Doctor, until: int, *, pmr_id: int | None = None) -> Outcome:
        """Run :meth:`grant_call`."""
        return self.protocol.run(self.grant_call(doctor, until, pmr_id=pmr_id))

    def revoke_call(self, doctor: Doctor, *, pmr_id: int | None = None) -> Call:
        """End a grant before its expiry."""
        return self._call("AccessGrants", "revoke", (doctor.address, pmr_id or 0),
                          SlotWrites(updated=1))

    def revoke(self, doctor: Doctor, *, pmr_id: int | None = None) -> Outcome:
        """Run :meth:`revoke_call`."""
        return self.protocol.run(self.revoke_call(doctor, pmr_id=pmr_id))


class Device(Actor):
    """An IoMT device bound to a patient (wearable, smart pill, ...)."""

    patient_id: int = 0

    def anchor_call(self, readings: Readings, window_start: int, window_end: int,
                    root: bytes | None = None) -> Call:
        """Anchor a batch of readings as (window, Merkle root, CID of the encrypted batch).

        ``root``: the readings' :func:`merkle_root`, when already computed
        (the engine hashes a window's readings on its second core).
        """
        p = self.protocol
        batch = encode_readings(readings)
        sealed = p.sealer.seal(batch, aad=b"iomt-batch")
        return self._call(
            "IoMTAnchor", "anchor_batch",
            (window_start, window_end, len(readings),
             merkle_root(readings) if root is None else root, sealed.digest),
            _BATCH, classify=_first_count("IoMTAnchor.anchor_batch", _BATCH, "BatchAnchored",
                                          "batch_index", 0),
        )

    def anchor(self, readings: Readings, window_start: int, window_end: int) -> Outcome:
        """Run :meth:`anchor_call`."""
        return self.protocol.run(self.anchor_call(readings, window_start, window_end))

    def record_call(self, reading: Reading) -> Call:
        """Per-reading mode: store one reading on chain, as the paper literally says."""
        return self._call("IoMTAnchor", "record_reading",
                          (reading.kind, reading.value, reading.taken_at), _BATCH,
                          classify=_first_count("IoMTAnchor.record_reading", _BATCH,
                                                "ReadingRecorded", "reading_index", 0))

    def record(self, reading: Reading) -> Outcome:
        """Run :meth:`record_call`."""
        return self.protocol.run(self.record_call(reading))
