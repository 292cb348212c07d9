"""The paper's use cases as one scripted story (Figs. 2-5 and the second opinion).

:func:`paper_story` plays every use case on a fresh deployment, in the
paper's order, including the attempts the contracts must reject (each with
the revert reason that names the rule of ``docs/trust-model.md`` it
breaks). The tour prints it, ``pmrsim gas`` measures it, and the
end-to-end tests check it.
Patient-IDs start at 85437 so the first visit is the paper's example:
patient 85437 on 26 Jan 2021 -> PMR-ID 8543726012021.

The story is on chain only unless an :class:`OffChainHalf` is passed in
(the tour passes one): then the lab's X-ray is a real DICOM file
de-identified, split (1, t, n) and stored on a simulated swarm with key
custodians, the posted manifest digest is that study's manifest CID's,
the patient seals the essential share to each doctor granted, and every
read of the record has the custodians release (or refuse) for that read's
``use`` transaction. Each step then carries its off-chain half as lines
(fingerprints and CIDs, never secrets) for the tour to print. Without
it, ``pmrsim gas`` measures exactly the transactions it always did.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sim.protocol import ids
from sim.protocol.actors import (
    UNJUSTIFIED,
    Desk,
    Device,
    Doctor,
    Hospital,
    Lab,
    Patient,
    Regulator,
)
from sim.protocol.merkle import Reading, merkle_proof
from sim.protocol.outcome import Outcome, SlotWrites
from sim.protocol.protocol import Protocol
from sim.protocol.records import (
    DoctorProfile,
    HospitalProfile,
    LabFindings,
    PatientDetails,
    TestType,
    VisitRecord,
)

if TYPE_CHECKING:
    from sim.protocol.studies import Study, StudyStore

PAPER_PATIENT_ID = 85437
PAPER_VISIT = dt.date(2021, 1, 26)
PAPER_PMR_ID = 8543726012021
DAY = 86_400
#: The story patient's name (planted in the study as the hospital's PACS holds it).
PATIENT_NAME = "Meena Krishnan"
#: The pydicom test file the lab's X-ray study is made of (no CR file ships with pydicom).
XRAY_SOURCE = "CT_small.dcm"


@dataclass(frozen=True)
class Step:
    """One step of the story: who did what, and what the chain said."""

    section: str
    actor: str
    action: str
    outcome: Outcome
    expect_ok: bool = True
    note: str = ""
    #: The revert reason a rejected step must give (the rule it breaks).
    expect_reason: str = ""
    #: What happened off chain at this step, one line each (no secrets, no personal values).
    offchain: tuple[str, ...] = ()
    #: Studies to look at (name, DICOM bytes): de-identified at upload, rebuilt at a read.
    studies: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        """A step expected to be rejected names the reason it must be rejected for."""
        if not self.expect_ok and not self.expect_reason:
            raise ValueError(f"step {self.action!r}: a rejected step needs expect_reason")

    @property
    def as_expected(self) -> bool:
        """True when the step succeeded as expected, or was rejected for the expected reason."""
        if self.expect_ok:
            return self.outcome.ok
        return not self.outcome.ok and self.outcome.reason == self.expect_reason


def _at(protocol: Protocol, day: dt.date, seconds: int = 9 * 3600) -> int:
    """Set the protocol clock to ``day`` (09:00 UTC by default); return the timestamp."""
    ts = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + seconds
    protocol.clock = max(ts, protocol.chain.timestamp + 1)
    return protocol.clock


@dataclass
class Cast:
    """The actors of the story, for callers that look at them afterwards."""

    regulator: Regulator
    city_hospital: Hospital
    clinic: Hospital
    applicant: Hospital
    copycat: Hospital
    desk: Desk
    lab: Lab
    dr_rao: Doctor
    dr_iyer: Doctor
    patient: Patient
    other_patient: Patient
    device: Device


def make_cast(p: Protocol) -> Cast:
    """Create (and fund) every actor of the story."""
    return Cast(
        regulator=Regulator(p, "regulator"),
        city_hospital=Hospital(p, "city-hospital"),
        clinic=Hospital(p, "second-opinion-clinic"),
        applicant=Hospital(p, "unverified-hospital"),
        copycat=Hospital(p, "copycat-hospital"),
        desk=Desk(p, "city-hospital-desk"),
        lab=Lab(p, "city-hospital-lab"),
        dr_rao=Doctor(p, "dr-rao"),
        dr_iyer=Doctor(p, "dr-iyer"),
        patient=Patient(p, "patient-85437"),
        other_patient=Patient(p, "patient-85438"),
        device=Device(p, "pulse-oximeter"),
    )


class OffChainHalf:
    """The story's off-chain half on a :class:`~sim.protocol.studies.StudyStore`.

    The lab stores the X-ray study; each successful grant covering it has the
    patient seal the essential share to the doctor (once per doctor); each
    read of its PMR asks the custodians to release for the read's ``use``
    transaction: they release for a mined one and the study is rebuilt, and
    refuse otherwise (a reverted ``use``, or one already answered).
    """

    def __init__(self, store: StudyStore) -> None:
        self.store = store
        self.studies: list[Study] = []
        self._answered: dict[str, bytes] = {}  # doctor label -> the last use answered for them
        self._rebuilt = 0

    @classmethod
    def seeded(cls, p: Protocol, seed: int) -> OffChainHalf:
        """An off-chain half whose generators are seeded from ``seed``."""
        from sim.protocol.studies import StudyStore

        return cls(StudyStore.seeded(p, seed, name="story"))

    def lab_upload(self, pmr_id: int, patient: Patient, hospital: str
                   ) -> tuple[bytes, int, tuple[str, ...], tuple[tuple[str, bytes], ...]]:
        """Store the X-ray study of ``pmr_id``: (manifest digest, codec, lines, studies)."""
        record_id = f"study-{pmr_id}-{len(self.studies) + 1}"
        identity = {"PatientName": PATIENT_NAME.replace(" ", "^"),
                    "PatientID": f"MRN-{patient.patient_id:08d}", "InstitutionName": hospital}
        upload = self.store.store(XRAY_SOURCE, record_id=record_id, pmr_id=pmr_id,
                                  patient_id=patient.patient_id, identity=identity, modality="CR",
                                  patient_label=patient.label)
        self.studies.append(upload.study)
        lines = [f"(the pydicom test file {XRAY_SOURCE} stands in for the chest X-ray)",
                 *upload.lines()]
        return (upload.study.manifest_cid.digest, upload.study.manifest_cid.codec, tuple(lines),
                ((f"deidentified-{record_id}", upload.data),))

    def granted(self, patient: Patient, doctor: Doctor, name: str, outcome: Outcome,
                pmr_id: int | None) -> tuple[str, ...]:
        """After a grant: the patient seals the essential share of each study it covers."""
        if not outcome.ok:
            return ()
        lines = []
        for study in self.studies:
            if study.patient_id != patient.patient_id or pmr_id not in (None, study.pmr_id):
                continue
            if doctor.label in study.sent:
                lines.append(f"{name} already holds the essential share of {study.record_id}")
                continue
            fp = self.store.seal_to(study, doctor.label, doctor)
            lines.append(f"essential share sealed to {name}'s key (ECIES), fingerprint {fp}")
        return tuple(lines)

    def read(self, doctor: Doctor, outcome: Outcome, pmr_id: int
             ) -> tuple[tuple[str, ...], tuple[tuple[str, bytes], ...]]:
        """After a read (mined or reverted ``use``): the custodians release or refuse."""
        lines: list[str] = []
        images: list[tuple[str, bytes]] = []
        for study in self.studies:
            if study.pmr_id != pmr_id:
                continue
            tx = outcome.receipt.tx_hash
            result = self.store.rebuild(study, doctor, doctor.label, tx)
            lines += result.lines()
            if result.data is not None:
                self._rebuilt += 1
                self._answered[doctor.label] = tx
                images.append((f"rebuilt-{self._rebuilt}-{study.record_id}", result.data))
            elif not outcome.ok and doctor.label in self._answered:
                # shown once per doctor: an answered use cannot be presented again
                replay = self.store.rebuild(study, doctor, doctor.label,
                                            self._answered.pop(doctor.label))
                lines += replay.lines("his earlier use")
        return tuple(lines), tuple(images)


def paper_story(p: Protocol, cast: Cast | None = None,
                offchain: OffChainHalf | None = None) -> Iterator[Step]:
    """Play the paper's use cases on ``p`` (deployed with first_patient_id=85437).

    ``offchain``: play the off-chain half too (the steps then carry it).
    """
    c = cast or make_cast(p)
    yield from _registration(p, c)
    yield from _consultation(p, c, offchain)
    yield from _second_opinion(p, c, offchain)
    yield from _break_glass(p, c)
    yield from _iomt(p, c)
    yield from _oversight(p, c, offchain)


def _read(off: OffChainHalf | None, step: Step, doctor: Doctor, pmr_id: int) -> Step:
    """``step`` (a read of ``pmr_id``) with its off-chain half, when there is one."""
    if off is None:
        return step
    lines, images = off.read(doctor, step.outcome, pmr_id)
    return dataclasses.replace(step, offchain=lines, studies=images)


def _grant(off: OffChainHalf | None, step: Step, patient: Patient, doctor: Doctor, name: str,
           pmr_id: int | None) -> Step:
    """``step`` (a grant) with the sealing of the essential shares it covers, when any."""
    if off is None:
        return step
    return dataclasses.replace(step, offchain=off.granted(patient, doctor, name, step.outcome,
                                                         pmr_id))


def _registration(p: Protocol, c: Cast) -> Iterator[Step]:
    sec = "Fig. 2 - hospital and doctor registration"
    _at(p, dt.date(2021, 1, 4))
    yield Step(sec, "deployer", "grants the regulator role", p.grant_regulator(c.regulator.account))
    city = HospitalProfile("GOVREG-TN-2009-0042", "City General Hospital", "Coimbatore, Tamil Nadu",
                           "Multi-speciality", "+91 422 555 0100")
    yield Step(sec, "City Hospital", "applies with its Gov. Reg. ID and profile",
               c.city_hospital.apply(city))
    yield Step(sec, "copycat", "files an application with City Hospital's Gov. Reg. ID",
               c.copycat.apply(city), note="a pending tag is not claimed: filing gains nothing")
    yield Step(sec, "regulator", "reviews and verifies City Hospital -> Hospital-ID",
               c.regulator.verify(c.city_hospital))
    yield Step(sec, "regulator", "is asked to verify the copycat",
               c.regulator.verify(c.copycat), expect_ok=False,
               expect_reason="hospital_registry: registration id already used",
               note="one hospital per Gov. Reg. ID, claimed at verification")
    yield Step(sec, "Second-opinion clinic", "applies",
               c.clinic.apply(HospitalProfile(
                   "GOVREG-KL-2014-0917", "Lakeside Diagnostic Clinic", "Kochi, Kerala",
                   "Radiology", "+91 484 555 0199")))
    yield Step(sec, "regulator", "verifies the clinic -> Hospital-ID", c.regulator.verify(c.clinic))
    yield Step(sec, "unverified hospital", "applies",
               c.applicant.apply(HospitalProfile(
                   "GOVREG-XX-0000-0001", "Unlicensed Care", "Nowhere", "General", "none")))
    reviewed = c.regulator.review(c.applicant)
    yield Step(sec, "unverified hospital", "swaps its application after the regulator's review",
               c.applicant.apply(HospitalProfile(
                   "GOVREG-XX-0000-0002", "Unlicensed Care", "Elsewhere", "General", "none")))
    yield Step(sec, "regulator", "verifies the application it reviewed",
               c.regulator.verify(c.applicant, reviewed), expect_ok=False,
               expect_reason="hospital_registry: application changed since review",
               note="verify is bound to the reviewed application")
    yield Step(sec, "unverified hospital", "tries to onboard a doctor",
               c.applicant.onboard(Doctor(p, "impostor"), DoctorProfile(
                   "TN-00000", "Dr. Nobody", "General", "none")),
               expect_ok=False, expect_reason="hospital_registry: hospital not verified",
               note="only verified hospitals onboard doctors")
    yield Step(sec, "City Hospital", "names its registration desk", c.city_hospital.add_operator(c.desk))
    yield Step(sec, "City Hospital", "names its diagnostic lab", c.city_hospital.add_operator(c.lab))
    rao = DoctorProfile("TNMC-61234", "Dr. Anitha Rao", "General Medicine", "+91 98400 11111")
    iyer = DoctorProfile("KMC-88121", "Dr. Vikram Iyer", "Radiology", "+91 98470 22222")
    yield Step(sec, "City Hospital lab", "tries to onboard a doctor for its hospital",
               Hospital(p, c.lab.label).onboard(c.dr_rao, rao),
               expect_ok=False, expect_reason="hospital_registry: only the hospital account",
               note="operators have one role; only the hospital's account onboards")
    yield Step(sec, "City Hospital", "onboards Dr. Rao -> Doctor-ID", c.city_hospital.onboard(c.dr_rao, rao))
    yield Step(sec, "clinic", "onboards Dr. Iyer -> Doctor-ID", c.clinic.onboard(c.dr_iyer, iyer))
    yield Step(sec, "clinic", "adds Dr. Rao as visiting consultant (same UPRN, same Doctor-ID)",
               c.clinic.onboard(c.dr_rao, rao))
    impostor = Doctor(p, "uprn-thief")
    yield Step(sec, "clinic", "tries to onboard another account under Dr. Rao's registration number",
               c.clinic.onboard(impostor, rao), expect_ok=False,
               expect_reason="doctor_registry: registration number bound to another account",
               note="one Doctor-ID per registration number (UPRN)")
    menon = DoctorProfile("KMC-90210", "Dr. Leela Menon", "Paediatrics", "+91 98470 33333")
    yield Step(sec, "clinic", "onboards Dr. Menon's registration number to a clerk's account",
               c.clinic.onboard(impostor, menon), note="a squat, or an honest mistake")
    real = Doctor(p, "dr-menon")
    yield Step(sec, "City Hospital", "tries to onboard the real Dr. Menon",
               c.city_hospital.onboard(real, menon), expect_ok=False,
               expect_reason="doctor_registry: registration number bound to another account")
    yield Step(sec, "regulator", "rebinds Dr. Menon's Doctor-ID to her own account",
               c.regulator.rebind(impostor, real),
               note="the regulator's path to undo a squatted registration number")


def _consultation(p: Protocol, c: Cast, off: OffChainHalf | None = None) -> Iterator[Step]:
    sec = "Fig. 3-5 - registration, consultation, lab diagnostics"
    _at(p, PAPER_VISIT, 8 * 3600)
    yield Step(sec, "registration desk", "registers the patient and attendant -> Patient-ID",
               c.desk.register(c.patient, PatientDetails(
                   PATIENT_NAME, 46, "F", 62.5, 158.0, "12 Gandhi Road, Coimbatore",
                   "+91 90030 12345", "meena.k@example.in", "Ravi Krishnan", "+91 90030 54321",
                   "spouse")))
    yield Step(sec, "registration desk", "registers a second patient",
               c.desk.register(c.other_patient, PatientDetails(
                   "Arjun Menon", 71, "M", 80.0, 172.0, "4 Beach Road, Kochi",
                   "+91 90040 67890", "arjun.m@example.in")))
    _at(p, PAPER_VISIT, 10 * 3600)
    record = VisitRecord("persistent cough, 3 weeks", "type 2 diabetes since 2015",
                         "suspected lower respiratory tract infection",
                         "chest X-ray ordered; amoxicillin 500 mg", "Star Health policy on file")
    yield Step(sec, "Dr. Rao", "creates the PMR of the visit -> PMR-ID = Patient-ID + 26012021",
               c.dr_rao.create_pmr(c.patient.patient_id, PAPER_VISIT, record))
    yield Step(sec, "Dr. Rao", "creates the second patient's PMR of the same day",
               c.dr_rao.create_pmr(c.other_patient.patient_id, PAPER_VISIT, VisitRecord(
                   "chest pain on exertion", "hypertension", "stable angina", "ECG; aspirin")))
    yield Step(sec, "Dr. Iyer", "tries to create a PMR at City Hospital, where he is not affiliated",
               c.dr_iyer.create_pmr(c.patient.patient_id, PAPER_VISIT, record,
                                    hospital_id=c.city_hospital.hospital_id),
               expect_ok=False, expect_reason="doctor_registry: doctor not affiliated with hospital",
               note="doctors act only for their own hospitals")
    yield Step(sec, "Dr. Iyer", "tries to add a version to City Hospital's PMR, for his clinic",
               c.dr_iyer.create_pmr(c.patient.patient_id, PAPER_VISIT, record),
               expect_ok=False, expect_reason="pmr_token: not the record's hospital and no write grant",
               note="only the record's hospital, or a doctor the patient lets write, adds versions")
    yield Step(sec, "Dr. Rao", "tries a visit date that does not exist (30 Feb 2021)",
               p.execute(c.dr_rao.account, "PMRToken", "mint" if p.private else "mint_paper",
                         (c.patient.patient_id, 30022021, c.city_hospital.hospital_id,
                          *((b"\x11" * 32, 0x55) if p.private else (("", "", "", "", ""),))),
                         writes=SlotWrites()),
               expect_ok=False, expect_reason="pmr_ids: invalid date",
               note="PMR-IDs encode real dates only")
    yield Step(sec, "Dr. Rao", "tries a visit dated 1 Jan 2099",
               c.dr_rao.create_pmr(c.patient.patient_id, dt.date(2099, 1, 1), record),
               expect_ok=False, expect_reason="pmr_token: visit date in the future",
               note="visit dates lie within sane bounds of the block time")
    _at(p, PAPER_VISIT, 16 * 3600)
    xray = LabFindings(TestType.XRAY, PAPER_VISIT, 1000,
                       "suspected pneumonia", "right lower lobe opacity")
    manifest = p.sealer.seal(b'{"study":"chest X-ray, de-identified, split (1,3,5)"}', b"manifest")
    pmr = c.patient.patient_id * ids.DATE_BASE + ids.ddmmyyyy(PAPER_VISIT)
    if off is None:  # on chain only: the digest of a sealed stand-in document
        yield Step(sec, "City Hospital lab", "posts the X-ray report with the manifest CID",
                   c.lab.post_report(pmr, xray, manifest.digest))
        results = manifest
    else:
        digest, codec, lines, studies = off.lab_upload(pmr, c.patient, "City General Hospital")
        yield Step(sec, "City Hospital lab", "posts the X-ray report with the manifest CID",
                   c.lab.post_report(pmr, xray, digest, codec=codec), offchain=lines,
                   studies=studies)
        # a blood test has no image: its results document is sealed and stored by its CID
        results = p.sealer.seal(json.dumps({"test": "HbA1c", "value": "7.9 %"}).encode(), b"report")
    blood = LabFindings(TestType.BLOOD, PAPER_VISIT, 1001, "glycaemic control", "HbA1c 7.9 %")
    yield Step(sec, "City Hospital lab", "posts a blood test report",
               c.lab.post_report(PAPER_PMR_ID_of(c), blood, results.digest),
               offchain=() if off is None else (
                   "results document sealed (AES-256-GCM, its own key): no image, so no split",
                   f"document CID -> chain  {results.cid}"))
    yield Step(sec, "registration desk", "tries to post a lab report",
               Lab(p, c.desk.label).post_report(PAPER_PMR_ID_of(c), blood, results.digest),
               expect_ok=False, expect_reason="hospital_registry: not a lab operator",
               note="the desk registers, the lab reports")
    yield Step(sec, "Dr. Rao", "reviews the X-ray the same evening: a second version of the PMR",
               c.dr_rao.create_pmr(c.patient.patient_id, PAPER_VISIT, VisitRecord(
                   "persistent cough, 3 weeks", "type 2 diabetes since 2015",
                   "community-acquired pneumonia, right lower lobe",
                   "amoxicillin-clavulanate 625 mg, review in 7 days",
                   "Star Health policy on file")))


def PAPER_PMR_ID_of(c: Cast) -> int:
    """The PMR-ID of the story patient's visit on 26 Jan 2021."""
    return ids.pmr_id(c.patient.patient_id, PAPER_VISIT)


def _second_opinion(p: Protocol, c: Cast, off: OffChainHalf | None = None) -> Iterator[Step]:
    sec = "Patient visits a different practitioner"
    pmr = PAPER_PMR_ID_of(c)
    now = _at(p, dt.date(2021, 2, 1))
    yield _grant(off, Step(sec, "patient", "grants Dr. Iyer access to that PMR for 7 days",
                           c.patient.grant(c.dr_iyer, now + 7 * DAY, pmr_id=pmr)),
                 c.patient, c.dr_iyer, "Dr. Iyer", pmr)
    yield _read(off, Step(sec, "Dr. Iyer", "opens the PMR (logged on chain)",
                          c.dr_iyer.access(pmr)), c.dr_iyer, pmr)
    yield Step(sec, "other patient", "tries to grant access to a PMR that is not theirs",
               c.other_patient.grant(c.dr_iyer, now + DAY, pmr_id=pmr), expect_ok=False,
               expect_reason="access_grants: not the record owner", note="only the owner grants")
    yield Step(sec, "patient", "tries to grant access to a visit that has no PMR",
               c.patient.grant(c.dr_iyer, now + DAY,
                               pmr_id=ids.pmr_id(c.patient.patient_id, dt.date(2021, 1, 27))),
               expect_ok=False, expect_reason="access_grants: unknown PMR",
               note="grants only on minted records")
    second = dt.date(2021, 2, 3)
    _at(p, second)
    yield Step(sec, "Dr. Iyer", "records his second opinion as a PMR of his own visit",
               c.dr_iyer.create_pmr(c.patient.patient_id, second, VisitRecord(
                   "follow-up of pneumonia", "type 2 diabetes", "resolving consolidation",
                   "continue antibiotics; repeat X-ray in 6 weeks")))
    _at(p, dt.date(2021, 2, 9))
    yield _read(off, Step(sec, "Dr. Iyer", "tries to open the PMR after the grant expired",
                          c.dr_iyer.access(pmr, "pmr"), expect_ok=False,
                          expect_reason="access_grants: grant expired",
                          note="access ends by itself at expiry"), c.dr_iyer, pmr)
    now = _at(p, dt.date(2021, 2, 10))
    yield _grant(off, Step(sec, "patient", "grants Dr. Rao access to all records for 30 days",
                           c.patient.grant(c.dr_rao, now + 30 * DAY)),
                 c.patient, c.dr_rao, "Dr. Rao", None)
    yield _grant(off, Step(sec, "patient", "grants Dr. Iyer all records again",
                           c.patient.grant(c.dr_iyer, now + 30 * DAY)),
                 c.patient, c.dr_iyer, "Dr. Iyer", None)
    yield _read(off, Step(sec, "Dr. Iyer", "opens the PMR under the all-records grant",
                          c.dr_iyer.access(pmr)), c.dr_iyer, pmr)
    yield Step(sec, "patient", "lets Dr. Iyer add his reading to that PMR",
               c.patient.grant(c.dr_iyer, now + 30 * DAY, pmr_id=pmr, write=True))
    yield Step(sec, "Dr. Iyer", "adds his reading of the X-ray to City Hospital's PMR",
               c.dr_iyer.create_pmr(c.patient.patient_id, PAPER_VISIT, VisitRecord(
                   "second reading of the chest X-ray", "type 2 diabetes since 2015",
                   "consolidation confirmed", "agree with the treatment",
                   "Star Health policy on file")))
    yield Step(sec, "patient", "revokes Dr. Rao's grant early", c.patient.revoke(c.dr_rao))
    yield _read(off, Step(sec, "Dr. Rao", "tries to open the PMR after revocation",
                          c.dr_rao.access(pmr, "all"), expect_ok=False,
                          expect_reason="access_grants: grant revoked",
                          note="a revoked grant is over"), c.dr_rao, pmr)
    yield Step(sec, "Dr. Iyer", "tries to log a read under an all-records scope key, not a PMR-ID",
               c.dr_iyer.access((1 << 255) | c.patient.patient_id, "all"),
               expect_ok=False, expect_reason="access_grants: not a PMR-ID",
               note="every logged read names a real record of a real Patient-ID")


def _break_glass(p: Protocol, c: Cast) -> Iterator[Step]:
    sec = "Break-glass: emergency access, bounded and reviewed"
    _at(p, dt.date(2021, 2, 10), 12 * 3600)
    other = ids.pmr_id(c.other_patient.patient_id, PAPER_VISIT)
    yield Step(sec, "Dr. Rao", "break-glass: emergency access to the other patient, reason 7",
               c.dr_rao.emergency_access(c.other_patient.patient_id, 7))
    yield Step(sec, "Dr. Iyer", "break-glass at his clinic, reason 3",
               c.dr_iyer.emergency_access(c.other_patient.patient_id, 3))
    yield Step(sec, "Dr. Rao", "opens the other patient's record under emergency access",
               c.dr_rao.access(other))
    yield Step(sec, "Dr. Iyer", "opens it too", c.dr_iyer.access(other))
    yield Step(sec, "other patient", "closes Dr. Rao's emergency access",
               c.other_patient.close_emergency(c.dr_rao))
    yield Step(sec, "Dr. Rao", "tries to read again after the patient closed it",
               c.dr_rao.access(other, "emergency"), expect_ok=False,
               expect_reason="access_grants: emergency access closed",
               note="the patient and the regulator can close break-glass")
    for n in (2, 3):
        yield Step(sec, "Dr. Rao", f"opens emergency access again ({n} of 3 in 7 days)",
                   c.dr_rao.emergency_access(c.other_patient.patient_id, 7))
    yield Step(sec, "Dr. Rao", "tries a fourth opening the same week",
               c.dr_rao.emergency_access(c.other_patient.patient_id, 7), expect_ok=False,
               expect_reason="access_grants: break-glass limit reached",
               note="at most 3 openings per doctor and patient in 7 days")
    _at(p, dt.date(2021, 2, 11))
    yield Step(sec, "City Hospital", "reviews Dr. Rao's first opening: justified",
               c.city_hospital.review_emergency(c.dr_rao, 0))
    yield Step(sec, "clinic", "tries to review Dr. Rao's second opening, made for City Hospital",
               c.clinic.review_emergency(c.dr_rao, 1), expect_ok=False,
               expect_reason="access_grants: only the hospital or a regulator reviews",
               note="the hospital the doctor acted for, or a regulator, reviews")
    _at(p, dt.date(2021, 2, 14))
    yield Step(sec, "Dr. Iyer", "tries a new opening with last week's unreviewed for over 72 h",
               c.dr_iyer.emergency_access(c.patient.patient_id, 3), expect_ok=False,
               expect_reason="access_grants: break-glass review overdue",
               note="no new break-glass until the old one is reviewed")
    yield Step(sec, "regulator", "reviews Dr. Iyer's opening: not justified",
               c.regulator.review_emergency(c.dr_iyer, 0, UNJUSTIFIED))
    yield Step(sec, "Dr. Iyer", "opens emergency access to the patient, now reviewed",
               c.dr_iyer.emergency_access(c.patient.patient_id, 3))
    yield Step(sec, "regulator", "closes it", c.regulator.close_emergency(c.dr_iyer,
                                                                         c.patient.patient_id))
    for opening in (1, 2):
        yield Step(sec, "City Hospital", f"reviews Dr. Rao's opening {opening}",
                   c.city_hospital.review_emergency(c.dr_rao, opening))


def _iomt(p: Protocol, c: Cast) -> Iterator[Step]:
    sec = "IoMT device data"
    start = _at(p, dt.date(2021, 2, 15))
    yield Step(sec, "registration desk", "proposes binding a pulse oximeter to the patient",
               c.desk.bind_device(c.device, c.patient))
    yield Step(sec, "pulse oximeter", "tries to anchor before the patient consented",
               c.device.anchor([Reading(1, 95, start - 10)], start - 60, start - 1),
               expect_ok=False, expect_reason="iomt_anchor: binding not accepted by the patient",
               note="a device is bound only with the patient's consent")
    yield Step(sec, "patient", "accepts the device", c.patient.accept_device(c.device))
    for batch in range(2):
        readings = [Reading(1, 95 + (i % 4), start + batch * 3600 + 60 * i) for i in range(60)]
        _at(p, dt.date(2021, 2, 15), 9 * 3600 + (batch + 1) * 3600 + 5)
        yield Step(sec, "pulse oximeter", f"anchors batch {batch}: 60 readings as one Merkle root",
                   c.device.anchor(readings, start + batch * 3600, start + (batch + 1) * 3600))
    proof_ok = p.view("IoMTAnchor", "verify_reading", c.device.address, 1,
                      readings[17].leaf(), merkle_proof(readings, 17))
    assert proof_ok, "a reading of an anchored batch must verify on chain"
    for i in range(2):
        yield Step(sec, "pulse oximeter", "per-reading mode: one SpO2 reading on chain",
                   c.device.record(Reading(1, 97, p.chain.timestamp - i)))


def _oversight(p: Protocol, c: Cast, off: OffChainHalf | None = None) -> Iterator[Step]:
    sec = "Regulator oversight"
    now = _at(p, dt.date(2021, 3, 1))
    pmr = PAPER_PMR_ID_of(c)
    yield Step(sec, "regulator", "suspends the clinic", c.regulator.suspend_hospital(c.clinic))
    yield Step(sec, "Dr. Iyer", "tries to create a PMR for the suspended clinic",
               c.dr_iyer.create_pmr(c.patient.patient_id, dt.date(2021, 3, 1), VisitRecord(
                   "check-up", "", "", "")), expect_ok=False,
               expect_reason="doctor_registry: hospital not verified",
               note="a suspended hospital's doctors cannot act for it")
    yield _read(off, Step(
        sec, "Dr. Iyer", "tries to read under the patient's grant while his clinic is suspended",
        c.dr_iyer.access(pmr, "all"), expect_ok=False,
        expect_reason="doctor_registry: hospital not verified",
        note="grants are usable only while the doctor stands at a verified hospital"),
        c.dr_iyer, pmr)
    yield Step(sec, "pulse oximeter", "anchors while its hospital is verified",
               c.device.anchor([Reading(1, 96, now - 30)], now - 60, now - 1))
    yield Step(sec, "regulator", "reinstates the clinic", c.regulator.reinstate_hospital(c.clinic))
    yield Step(sec, "regulator", "suspends Dr. Iyer", c.regulator.suspend_doctor(c.dr_iyer))
    yield _read(off, Step(sec, "Dr. Iyer", "tries to open a PMR while suspended",
                          c.dr_iyer.access(pmr, "all"), expect_ok=False,
                          expect_reason="doctor_registry: doctor suspended",
                          note="suspension ends all access"), c.dr_iyer, pmr)
    yield Step(sec, "regulator", "reinstates Dr. Iyer", c.regulator.reinstate_doctor(c.dr_iyer))
    yield Step(sec, "clinic", "ends Dr. Rao's visiting affiliation", c.clinic.end_affiliation(c.dr_rao))
    menon = Doctor(p, "dr-menon")  # the account the regulator rebound her Doctor-ID to
    menon.doctor_id = p.view("DoctorRegistry", "doctor_id_of", menon.address)
    yield Step(sec, "clinic", "ends Dr. Menon's affiliation, her only one",
               c.clinic.end_affiliation(menon))
    yield Step(sec, "patient", "unbinds the pulse oximeter", c.patient.unbind_device(c.device))
    yield Step(sec, "pulse oximeter", "tries to anchor after it was unbound",
               c.device.anchor([Reading(1, 96, now)], now - 1, now + 1), expect_ok=False,
               expect_reason="iomt_anchor: unknown device", note="an unbound device anchors nothing")


def run_story(
    layout: str = "private", *, seed: int = 0, backend: str = "pyevm", token: str = "erc721",
    on_step: Callable[[Step], None] | None = None,
) -> list[Step]:
    """Deploy a fresh system and play the whole story; return the steps."""
    return play_story(layout, seed=seed, backend=backend, token=token, on_step=on_step)[1]


def play_story(
    layout: str = "private", *, seed: int = 0, backend: str = "pyevm", token: str = "erc721",
    on_step: Callable[[Step], None] | None = None, offchain: bool = False,
) -> tuple[Protocol, list[Step]]:
    """Like :func:`run_story`, also returning the protocol (and so the chain) it ran on.

    ``offchain``: play the off-chain half too (an :class:`OffChainHalf` seeded from ``seed``).
    """
    from sim.chain import make_chain

    chain = make_chain(backend, seed=seed)
    p = Protocol.deploy(chain, layout=layout, seed=seed, first_patient_id=PAPER_PATIENT_ID,
                        token=token)
    steps = []
    for step in paper_story(p, offchain=OffChainHalf.seeded(p, seed) if offchain else None):
        steps.append(step)
        if on_step is not None:
            on_step(step)
    return p, steps
