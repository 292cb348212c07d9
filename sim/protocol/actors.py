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

from eth_abi import encode as abi_encode

from sim.chain import Account
from sim.hashing import keccak256 as keccak
from sim.protocol import ids
from sim.protocol.merkle import Reading, Readings, encode_readings, merkle_root
from sim.protocol.offchain import CODEC_RAW, cid_v1
from sim.protocol.outcome import Outcome, SlotWrites, stored_writes, string_rewrites
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
#: Kinds of access window AccessGrants.use names (KIND_PMR, KIND_ALL, KIND_EMERGENCY).
KINDS = {"pmr": 1, "all": 2, "emergency": 3}
#: Labels of AccessGrants.use by the kind of window that allowed it.
_USE_KINDS = {1: "", 2: " (all records)", 3: " (emergency)"}
#: Staff roles of HospitalRegistry.set_operator.
ROLE_DESK = 2
ROLE_LAB = 4
#: Break-glass review verdicts (AccessGrants.VERDICT_*).
JUSTIFIED = 1
UNJUSTIFIED = 2
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

    def review(self, hospital: Hospital) -> bytes:
        """The digest of the hospital's application as it stands now (what the regulator reviewed)."""
        return bytes(self.protocol.view("HospitalRegistry", "application_digest", hospital.address))

    def verify_call(self, hospital: Hospital, reviewed: bytes | None = None) -> Call:
        """Verify the application the regulator ``reviewed`` (by default: as it stands now).

        The Gov. Reg. tag is claimed and the hospital receives its Hospital-ID.
        """
        digest = self.review(hospital) if reviewed is None else reviewed

        def issued(out: Outcome) -> None:
            if out.issued is not None:
                hospital.hospital_id = out.issued

        # tag owner, hospital, its admin's staff slot, the DoctorRegistry's status copy; the count
        writes = SlotWrites(new=4, updated=1)
        return self._call("HospitalRegistry", "verify", (hospital.address, digest), writes,
                          classify=_first_count("HospitalRegistry.verify", writes,
                                                "HospitalVerified", "hospital_id", 1),
                          issued_from=("HospitalVerified", "hospital_id"), on_mined=issued)

    def verify(self, hospital: Hospital, reviewed: bytes | None = None) -> Outcome:
        """Run :meth:`verify_call`."""
        return self.protocol.run(self.verify_call(hospital, reviewed))

    def status_call(self, target: Hospital | Doctor, action: str) -> Call:
        """Suspend or reinstate (``action``) a hospital or a doctor."""
        if isinstance(target, Hospital):
            # the hospital and the DoctorRegistry's copy of its status
            return self._call("HospitalRegistry", action, (target.hospital_id,),
                              SlotWrites(updated=2))
        # the doctor and its standing at each affiliated hospital
        return self._call("DoctorRegistry", action, (target.doctor_id,),
                          SlotWrites(updated=1 + len(target.affiliations())))

    def rebind_call(self, doctor: Doctor, account: Actor) -> Call:
        """Move a Doctor-ID (and its registration number) to its rightful account."""
        moved = len(doctor.affiliations())

        def rebound(out: Outcome) -> None:
            if out.ok:
                doctor.account = account.account
                doctor.label = account.label

        return self._call("DoctorRegistry", "rebind", (doctor.doctor_id, account.address),
                          SlotWrites(new=1 + moved, updated=2 + moved), on_mined=rebound)

    def rebind(self, doctor: Doctor, account: Actor) -> Outcome:
        """Run :meth:`rebind_call`."""
        return self.protocol.run(self.rebind_call(doctor, account))

    def close_emergency_call(self, doctor: Doctor, patient_id: int) -> Call:
        """Close a doctor's open emergency access to a patient."""
        return self._call("AccessGrants", "close_emergency", (doctor.address, patient_id),
                          SlotWrites(updated=1), op="AccessGrants.close_emergency (regulator)")

    def close_emergency(self, doctor: Doctor, patient_id: int) -> Outcome:
        """Run :meth:`close_emergency_call`."""
        return self.protocol.run(self.close_emergency_call(doctor, patient_id))

    def review_emergency_call(self, doctor: Doctor, opening: int, verdict: int = JUSTIFIED) -> Call:
        """Review a doctor's break-glass opening (any hospital's; oldest first)."""
        return _review_call(self, doctor, opening, verdict, " (regulator)")

    def review_emergency(self, doctor: Doctor, opening: int, verdict: int = JUSTIFIED) -> Outcome:
        """Run :meth:`review_emergency_call`."""
        return self.protocol.run(self.review_emergency_call(doctor, opening, verdict))

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
        """Apply with the profile; a regulator must verify it before the hospital may act.

        Applying again before verification replaces the pending application
        (and the regulator must review it again).
        """
        p = self.protocol
        pending = [bytes(v) for v in p.view("HospitalRegistry", "applications", self.address)]
        revised = pending[0] != bytes(32)
        if p.private:
            tag = blind_tag(p.authority_key, "gov-reg-id", profile.gov_reg_id)
            commit, digest = self._commit(profile)
            changed = sum(a != b for a, b in zip(pending, (tag, commit, digest), strict=True))
            writes = SlotWrites(updated=changed, unchanged=3 - changed) if revised else SlotWrites(new=3)
            return self._call("HospitalRegistry", "apply", (tag, commit, digest), writes,
                              op="HospitalRegistry.apply" + (" (revised)" if revised else ""))
        fields = (profile.gov_reg_id, profile.name, profile.location,
                  profile.specialization, profile.contact)
        if revised:  # only the slots whose value changes are written
            tag = keccak(profile.gov_reg_id.encode())
            digest = keccak(abi_encode(["string"] * 5, list(fields)))
            before = p.view("HospitalRegistry", "paper_profiles", self.address)
            same = sum(a == b for a, b in zip(pending[:2], (tag, digest), strict=True))
            writes = SlotWrites(updated=2 - same, unchanged=same)
            for old, text in zip(before, fields, strict=True):
                writes += string_rewrites(str(old), text)
        else:  # the tag and the profile's hash, then the strings
            writes = SlotWrites(new=2) + stored_writes(*fields)
        return self._call("HospitalRegistry", "apply_paper", fields, writes,
                          op="HospitalRegistry.apply_paper" + (" (revised)" if revised else ""))

    def apply(self, profile: HospitalProfile) -> Outcome:
        """Run :meth:`apply_call`."""
        return self.protocol.run(self.apply_call(profile))

    def add_operator_call(self, staff: Actor, role: int | None = None) -> Call:
        """Name a desk or lab operator who acts for this hospital (role from its class by default)."""
        if role is None:
            role = ROLE_LAB if isinstance(staff, Lab) else ROLE_DESK
        return self._call("HospitalRegistry", "set_operator", (staff.address, role),
                          SlotWrites(new=1))

    def add_operator(self, staff: Actor, role: int | None = None) -> Outcome:
        """Run :meth:`add_operator_call`."""
        return self.protocol.run(self.add_operator_call(staff, role))

    def remove_operator(self, staff: Actor) -> Outcome:
        """Remove a desk or lab operator."""
        return self.protocol.run(self._call("HospitalRegistry", "set_operator", (staff.address, 0),
                                            SlotWrites(updated=1)))

    def review_emergency_call(self, doctor: Doctor, opening: int, verdict: int = JUSTIFIED) -> Call:
        """Review a break-glass opening a doctor made acting for this hospital (oldest first)."""
        return _review_call(self, doctor, opening, verdict)

    def review_emergency(self, doctor: Doctor, opening: int, verdict: int = JUSTIFIED) -> Outcome:
        """Run :meth:`review_emergency_call`."""
        return self.protocol.run(self.review_emergency_call(doctor, opening, verdict))

    def onboard_call(self, doctor: Doctor, profile: DoctorProfile) -> Call:
        """Onboard a medical practitioner; a new registration number gets a Doctor-ID."""
        p = self.protocol
        if p.private:
            tag = blind_tag(p.authority_key, "registration-number", profile.registration_number)
            commit, digest = self._commit(profile)
            fn = "onboard"
            args: tuple[Any, ...] = (doctor.address, tag, commit, digest)
            # account, Doctor-ID's account, tag, profile (2), standing, affiliation list (2)
            fresh = SlotWrites(new=8, updated=1)
        else:
            fn = "onboard_paper"
            texts = (profile.registration_number, profile.name, profile.specialization,
                     profile.contact)
            args = (doctor.address, *texts)
            fresh = SlotWrites(new=6, updated=1) + stored_writes(*texts)

        def classify(events: Events) -> tuple[str, SlotWrites]:
            new = next((a for n, a in events if n == "DoctorOnboarded" and a["new_doctor"]), None)
            if new is None:  # a further affiliation: its standing and list entry, the length
                return f"DoctorRegistry.{fn} (affiliation)", SlotWrites(new=2, updated=1)
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
        hospitals = doctor.affiliations()
        moved = (self.hospital_id in hospitals[:-1])  # the last entry moves into its place
        variant = " (last affiliation)" if len(hospitals) == 1 else ""
        # the standing and the list's length (cleared, and refunded, for the last affiliation)
        return self._call("DoctorRegistry", "end_affiliation", (doctor.doctor_id,),
                          SlotWrites(updated=2 + moved),
                          op=f"DoctorRegistry.end_affiliation{variant}")

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
            writes = SlotWrites(new=2, updated=1) + stored_writes(*record)
        # without an attendant the paper layout stores three empty strings: no-op writes that
        # cost more than the 2,200 gas each the floor counts for them (copying and encoding the
        # struct around them: ~4,400 gas more above the floor than a full registration), so
        # the gas table has a row of its own for it
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
        """Propose binding an IoMT device to a patient (the patient accepts it)."""
        return self._call("IoMTAnchor", "bind_device", (device.address, patient.patient_id),
                          SlotWrites(new=1))

    def bind_device(self, device: Device, patient: Patient) -> Outcome:
        """Run :meth:`bind_device_call`."""
        return self.protocol.run(self.bind_device_call(device, patient))

    def unbind_device(self, device: Device) -> Outcome:
        """End a device's binding made by this hospital."""
        return self.protocol.run(_unbind_call(self, device))


class Doctor(Actor):
    """A medical practitioner (Fig. 4 and the second-opinion use case)."""

    def __init__(self, protocol: Protocol, label: str) -> None:
        super().__init__(protocol, label)
        self.doctor_id = 0
        self.hospitals: list[int] = []

    def affiliations(self) -> list[int]:
        """The hospitals this doctor is affiliated with now (from the DoctorRegistry)."""
        return [int(h) for h in self.protocol.view("DoctorRegistry", "affiliations", self.doctor_id)]

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
            record_writes = SlotWrites(new=1)
        else:
            fields = (record.present_illness, record.past_illness, record.provisional_diagnosis,
                      record.treatment_summary, record.insurance)
            fn, args = "mint_paper", (patient_id, date, hid, fields)
            record_writes = stored_writes(*fields)

        name = p.system.label("PMRToken")
        multi = name == "PMRMulti"

        def classify(events: Events) -> tuple[str, SlotWrites]:
            # state, meta and the record; a new ERC-721 token also writes the owner's
            # balance, a new ERC-1155 id its holder's balance and its total supply
            if not any(n in ("Transfer", "TransferSingle") for n, _ in events):
                added = next(a for n, a in events if n == "PMRVersionAdded")
                record_hospital = p.view("PMRToken", "record_of", added["pmr_id"])[1]
                how = ("same-day version" if added["hospital_id"] == record_hospital
                       else "version under a write grant")
                return f"{name}.{fn} ({how})", SlotWrites(new=1, updated=1) + record_writes
            first = p.count_token(patient_id) == 1
            label = f"{name}.{fn}" + ("" if first else " (later visit)")
            if multi:
                return label, SlotWrites(new=4) + record_writes
            if first:
                return label, SlotWrites(new=3) + record_writes
            return label, SlotWrites(new=2, updated=1) + record_writes

        return self._call("PMRToken", fn, args, SlotWrites(new=3) + record_writes,
                          classify=classify, issued_from=("PMRVersionAdded", "pmr_id"))

    def create_pmr(
        self, patient_id: int, visit: dt.date, record: VisitRecord, *,
        hospital_id: int | None = None,
    ) -> Outcome:
        """Run :meth:`create_pmr_call`."""
        return self.protocol.run(self.create_pmr_call(patient_id, visit, record,
                                                      hospital_id=hospital_id))

    def window(self, pmr_id: int, *, hospital_id: int | None = None) -> str | None:
        """The kind of window ("pmr", "all", "emergency") open for this doctor on ``pmr_id`` now."""
        kind = self.protocol.view("AccessGrants", "window_of", self.address, pmr_id,
                                  self._hospital(hospital_id))
        return {v: k for k, v in KINDS.items()}.get(int(kind))

    def access_call(self, pmr_id: int, kind: str | None = None, *,
                    hospital_id: int | None = None) -> Call:
        """Record one access to a PMR under the named window (audit log; custodians answer it once).

        ``kind`` is "pmr", "all" or "emergency"; by default the window open now (or "pmr").
        """
        hid = self._hospital(hospital_id)
        chosen = kind or self.window(pmr_id, hospital_id=hid) or "pmr"

        def classify(events: Events) -> tuple[str, SlotWrites]:
            used = next((a["kind"] for n, a in events if n == "AccessUsed"), 1)
            return "AccessGrants.use" + _USE_KINDS.get(used, ""), SlotWrites()

        return self._call("AccessGrants", "use", (pmr_id, KINDS[chosen], hid), SlotWrites(),
                          classify=classify)

    def access(self, pmr_id: int, kind: str | None = None, *,
               hospital_id: int | None = None) -> Outcome:
        """Run :meth:`access_call`."""
        return self.protocol.run(self.access_call(pmr_id, kind, hospital_id=hospital_id))

    def emergency_access_call(
        self, patient_id: int, reason_code: int, *, hospital_id: int | None = None
    ) -> Call:
        """Break-glass access to a patient's records for a short fixed time, with a reason."""

        p = self.protocol

        def classify(events: Events) -> tuple[str, SlotWrites]:
            a = next(a for n, a in events if n == "EmergencyAccess")
            first = a["opening"] == 0
            window = p.first_write("emergency", a["doctor"].lower(), a["patient_id"])
            # the opening; the doctor's queue (new on its first opening); the window on the patient
            return "AccessGrants.emergency_access", SlotWrites(
                new=1 + first + window, updated=(not first) + (not window))

        return self._call("AccessGrants", "emergency_access",
                          (patient_id, self._hospital(hospital_id), reason_code),
                          SlotWrites(new=3), classify=classify)

    def emergency_access(
        self, patient_id: int, reason_code: int, *, hospital_id: int | None = None
    ) -> Outcome:
        """Run :meth:`emergency_access_call`."""
        return self.protocol.run(self.emergency_access_call(patient_id, reason_code,
                                                            hospital_id=hospital_id))


    def refer_call(self, pmr_id: int, hospital: Hospital) -> Call:
        """Refer a record's tests to another hospital's lab (a doctor of the record's hospital)."""
        return self._call("LabReports", "refer", (pmr_id, hospital.hospital_id), SlotWrites(new=1))

    def refer(self, pmr_id: int, hospital: Hospital) -> Outcome:
        """Run :meth:`refer_call`."""
        return self.protocol.run(self.refer_call(pmr_id, hospital))


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
            writes = SlotWrites(new=1, updated=1) + stored_writes(*details)
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

    def grant_call(self, doctor: Doctor, until: int, *, pmr_id: int | None = None,
                   write: bool = False) -> Call:
        """Grant ``doctor`` access to one PMR (or all records) until block time ``until``.

        ``write``: the doctor may also add versions to the record(s).
        """
        op = "AccessGrants.grant" + ("" if pmr_id else " (all records)")
        p = self.protocol

        def classify(events: Events) -> tuple[str, SlotWrites]:
            # the slot of (grantee, scope) is new only the first time it is granted
            a = next(a for n, a in events if n == "AccessGranted")
            first = p.first_write("grant", a["grantee"].lower(), a["patient_id"], a["pmr_id"])
            return op, SlotWrites(new=1) if first else SlotWrites(updated=1)

        return self._call("AccessGrants", "grant", (doctor.address, pmr_id or 0, until, write),
                          SlotWrites(new=1), op=op, classify=classify)

    def grant(self, doctor: Doctor, until: int, *, pmr_id: int | None = None,
              write: bool = False) -> Outcome:
        """Run :meth:`grant_call`."""
        return self.protocol.run(self.grant_call(doctor, until, pmr_id=pmr_id, write=write))

    def close_emergency_call(self, doctor: Doctor) -> Call:
        """Close a doctor's open emergency access to this patient's records."""
        return self._call("AccessGrants", "close_emergency", (doctor.address, self.patient_id),
                          SlotWrites(updated=1))

    def close_emergency(self, doctor: Doctor) -> Outcome:
        """Run :meth:`close_emergency_call`."""
        return self.protocol.run(self.close_emergency_call(doctor))

    def accept_device_call(self, device: Device) -> Call:
        """Consent to a device a hospital's desk proposed to bind to this patient."""
        patient_id = self.patient_id

        def bound(out: Outcome) -> None:
            if out.ok:
                device.patient_id = patient_id

        return self._call("IoMTAnchor", "accept_device", (device.address,), SlotWrites(updated=1),
                          on_mined=bound)

    def accept_device(self, device: Device) -> Outcome:
        """Run :meth:`accept_device_call`."""
        return self.protocol.run(self.accept_device_call(device))

    def unbind_device(self, device: Device) -> Outcome:
        """End a device's binding to this patient."""
        return self.protocol.run(_unbind_call(self, device))

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


def _review_call(reviewer: Actor, doctor: Doctor, opening: int, verdict: int,
                 variant: str = "") -> Call:
    """AccessGrants.review_emergency from a hospital admin or (``variant``) a regulator."""
    # the opening's verdict and the doctor's queue
    return reviewer._call("AccessGrants", "review_emergency", (doctor.address, opening, verdict),
                          SlotWrites(updated=2), op=f"AccessGrants.review_emergency{variant}")


def _unbind_call(actor: Actor, device: Device) -> Call:
    """IoMTAnchor.unbind_device from the patient, the binding hospital's desk or a regulator."""

    def unbound(out: Outcome) -> None:
        if out.ok:
            device.patient_id = 0

    return actor._call("IoMTAnchor", "unbind_device", (device.address,), SlotWrites(updated=1),
                       on_mined=unbound)
