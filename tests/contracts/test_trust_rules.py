"""docs/trust-model.md, one test per rule, in both layouts and both token standards.

Each test makes the forbidden call and checks the revert reason that names
the rule, then makes the permitted call and checks that it succeeds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from sim.protocol import (
    Desk,
    Device,
    Doctor,
    DoctorProfile,
    Hospital,
    KeyCustodian,
    Lab,
    LabFindings,
    Patient,
    Reading,
    TestType,
    ids,
)
from sim.protocol.custodian import ANSWERED, NO_USE, WINDOW_OVER, WRONG_USE
from sim.protocol.deployment import REGULATOR_ROLE
from sim.protocol.outcome import SlotWrites
from sim.protocol.wallet import ACCEPT, REENTER, REFUSE, ContractPatient

from .conftest import RECORD, VISIT, World, build_world, details, hospital_profile, on_day

HOUR = 3600
DAY = 86400
SETUPS = [("private", "erc721"), ("paper", "erc721"), ("private", "erc1155"), ("paper", "erc1155")]
NONE = SlotWrites()


@pytest.fixture(scope="module", params=SETUPS, ids=["-".join(s) for s in SETUPS])
def _built(request: pytest.FixtureRequest) -> World:
    layout, token = request.param
    return build_world(layout, token)


@pytest.fixture()
def w(_built: World) -> Iterator[World]:
    """A world of one layout and token standard; chain state rolled back after the test."""
    clock = _built.p.clock
    with _built.p.chain.anchor():
        yield _built
    _built.p.clock = clock


def _now(w: World) -> int:
    return w.p.chain.timestamp


def _lab_at(w: World, hospital: Hospital, label: str) -> Lab:
    lab = Lab(w.p, label)
    hospital.add_operator(lab).require()
    return lab


def _findings(day: dt.date) -> LabFindings:
    return LabFindings(TestType.BLOOD, day, 7, "routine", "normal")


# -- governance ---------------------------------------------------------------

def test_r1_only_role_admins_and_the_deployer_govern(w: World) -> None:
    """R1: a hospital cannot make itself a regulator nor rewire; the deployer grants roles."""
    out = w.p.execute(w.h1.account, "HospitalRegistry", "grantRole",
                      (REGULATOR_ROLE, w.h1.address), writes=NONE)
    assert out.reason == "access_control: account is missing role"
    out = w.p.execute(w.p.admin, "HospitalRegistry", "set_doctor_registry",
                      (w.h1.address,), writes=NONE)
    assert out.reason == "hospital_registry: already wired"
    out = w.p.execute(w.h1.account, "PMRToken", "set_access_grants", (w.h1.address,), writes=NONE)
    assert out.reason in ("pmr_token: only the deployer wires",)
    out = w.p.execute(w.h1.account, "DoctorRegistry", "set_hospital_status", (1, False),
                      writes=NONE)
    assert out.reason == "doctor_registry: only the hospital registry"
    assert w.p.grant_regulator(Hospital(w.p, "new-regulator").account).ok


# -- hospitals ----------------------------------------------------------------

def test_h1_a_gov_reg_id_is_claimed_by_verification_not_by_filing(w: World) -> None:
    """H1: a copycat's application of a pending tag is harmless: the verified one claims it."""
    real, copycat = Hospital(w.p, "real"), Hospital(w.p, "copycat")
    real.apply(hospital_profile(90)).require()
    copycat.apply(hospital_profile(90)).require()
    assert w.regulator.verify(real).ok
    assert w.regulator.verify(copycat).reason == "hospital_registry: registration id already used"
    assert copycat.apply(hospital_profile(90)).reason == "hospital_registry: registration id already used"


def test_h2_verify_is_bound_to_the_reviewed_application(w: World) -> None:
    """H2: an application revised after the review is not verified; the reviewed one is."""
    reviewed = w.regulator.review(w.pending)
    w.pending.apply(hospital_profile(91)).require()
    assert w.regulator.verify(w.pending, reviewed).reason == (
        "hospital_registry: application changed since review")
    out = w.p.execute(w.h1.account, "HospitalRegistry", "verify",
                      (w.pending.address, w.regulator.review(w.pending)), writes=NONE)
    assert out.reason == "access_control: account is missing role"
    assert w.regulator.verify(w.pending).ok


def test_h3_only_verified_hospitals_act(w: World) -> None:
    """H3: a pending or suspended hospital and its staff act for nothing."""
    assert w.pending.add_operator(Desk(w.p, "d")).reason == "hospital_registry: hospital not verified"
    w.regulator.suspend_hospital(w.h1).require()
    assert w.desk.register(Patient(w.p, "p1"), details("A")).reason == (
        "hospital_registry: hospital not verified")
    w.regulator.reinstate_hospital(w.h1).require()
    assert w.desk.register(Patient(w.p, "p1"), details("A")).ok


def test_h4_staff_roles_are_separate(w: World) -> None:
    """H4: a lab cannot onboard or register, a desk cannot post or end affiliations."""
    lab_as_admin = Hospital(w.p, w.lab.label)
    assert lab_as_admin.onboard(Doctor(w.p, "x"), DoctorProfile("U-9", "X", "GP", "9")).reason == (
        "hospital_registry: only the hospital account")
    assert Desk(w.p, w.lab.label).register(Patient(w.p, "p2"), details("B")).reason == (
        "hospital_registry: not a desk operator")
    assert Lab(w.p, w.desk.label).post_report(w.pmr_id, _findings(VISIT), b"\x01" * 32).reason == (
        "hospital_registry: not a lab operator")
    assert Hospital(w.p, w.desk.label).end_affiliation(w.doc1).reason == (
        "hospital_registry: only the hospital account")
    assert w.lab.post_report(w.pmr_id, _findings(VISIT), b"\x01" * 32).ok
    assert w.desk.register(Patient(w.p, "p2"), details("B")).ok


def test_h5_an_applicant_cannot_be_made_staff(w: World) -> None:
    """H5: naming a pending applicant an operator is refused (it could not be verified after)."""
    assert w.h1.add_operator(w.pending).reason == "hospital_registry: account is an applicant"
    assert Hospital(w.p, w.desk.label).apply(hospital_profile(92)).reason == (
        "hospital_registry: account is a hospital operator")
    assert w.regulator.verify(w.pending).ok


# -- doctors ------------------------------------------------------------------

def test_d1_doctors_act_only_where_they_stand(w: World) -> None:
    """D1: a doctor of another hospital, or no doctor, cannot write for a hospital."""
    out = w.doc2.create_pmr(w.patient.patient_id, VISIT, RECORD, hospital_id=w.h1.hospital_id)
    assert out.reason == "doctor_registry: doctor not affiliated with hospital"
    out = Doctor(w.p, "quack").create_pmr(w.patient.patient_id, VISIT, RECORD,
                                          hospital_id=w.h1.hospital_id)
    assert out.reason == "doctor_registry: not a registered doctor"
    assert w.doc1.create_pmr(w.patient.patient_id, VISIT, RECORD).ok


def test_d2_standing_ends_with_suspension_and_affiliation(w: World) -> None:
    """D2: a grant is unusable while the doctor's hospital is suspended, its affiliation ended
    or the doctor suspended; it works again once standing returns."""
    w.patient.grant(w.doc2, _now(w) + 10 * DAY, pmr_id=w.pmr_id).require()
    w.regulator.suspend_hospital(w.h2).require()
    assert w.doc2.access(w.pmr_id, "pmr").reason == "doctor_registry: hospital not verified"
    assert not w.p.view("AccessGrants", "is_valid", w.doc2.address, w.pmr_id, w.h2.hospital_id)
    w.regulator.reinstate_hospital(w.h2).require()
    assert w.doc2.access(w.pmr_id, "pmr").ok
    w.regulator.suspend_doctor(w.doc2).require()
    assert w.doc2.access(w.pmr_id, "pmr").reason == "doctor_registry: doctor suspended"
    w.regulator.reinstate_doctor(w.doc2).require()
    w.h2.end_affiliation(w.doc2).require()
    assert w.doc2.access(w.pmr_id, "pmr").reason == (
        "doctor_registry: doctor not affiliated with hospital")


def test_d3_a_regulator_rebinds_a_squatted_registration_number(w: World) -> None:
    """D3: a UPRN onboarded to the wrong account blocks the real doctor until a regulator rebinds."""
    uprn = DoctorProfile("UPRN-77", "Dr Real", "GP", "7")
    puppet, real = Doctor(w.p, "puppet"), Doctor(w.p, "real-doctor")
    w.h2.onboard(puppet, uprn).require()
    assert w.h1.onboard(real, uprn).reason == (
        "doctor_registry: registration number bound to another account")
    out = w.p.execute(w.h2.account, "DoctorRegistry", "rebind", (puppet.doctor_id, real.address),
                      writes=NONE)
    assert out.reason == "doctor_registry: caller is not a regulator"
    real.doctor_id = puppet.doctor_id
    w.regulator.rebind(real, real).require()
    assert w.p.view("DoctorRegistry", "doctor_id_of", puppet.address) == 0
    assert w.h1.onboard(real, uprn).ok
    real.hospitals = [w.h1.hospital_id]
    assert real.create_pmr(w.patient.patient_id, VISIT, RECORD).ok


# -- records --------------------------------------------------------------------

def test_p1_versions_come_from_the_record_hospital_or_a_write_grant(w: World) -> None:
    """P1: another hospital's doctor adds a version only while holding a grant to write."""
    out = w.doc2.create_pmr(w.patient.patient_id, VISIT, RECORD)
    assert out.reason == "pmr_token: not the record's hospital and no write grant"
    w.patient.grant(w.doc2, _now(w) + DAY, pmr_id=w.pmr_id).require()
    out = w.doc2.create_pmr(w.patient.patient_id, VISIT, RECORD)
    assert out.reason == "pmr_token: not the record's hospital and no write grant"
    w.patient.grant(w.doc2, _now(w) + DAY, pmr_id=w.pmr_id, write=True).require()
    out = w.doc2.create_pmr(w.patient.patient_id, VISIT, RECORD).require()
    assert out.op.endswith("(version under a write grant)")
    assert w.p.view("PMRToken", "version", w.pmr_id, 1)[3] == w.h2.hospital_id
    assert w.p.view("PMRToken", "record_of", w.pmr_id)[1] == w.h1.hospital_id


def test_p2_visit_dates_lie_within_bounds_of_the_block_time(w: World) -> None:
    """P2: a visit in 2099, 1900 or over 30 days ago is refused; a recent one is accepted."""
    pid = w.patient.patient_id
    assert w.doc1.create_pmr(pid, dt.date(2099, 1, 1), RECORD).reason == (
        "pmr_token: visit date in the future")
    assert w.doc1.create_pmr(pid, dt.date(1900, 1, 1), RECORD).reason == (
        "pmr_token: visit date too old")
    on_day(w, dt.date(2021, 3, 10))
    assert w.doc1.create_pmr(pid, dt.date(2021, 2, 1), RECORD).reason == (
        "pmr_token: visit date too old")
    assert w.doc1.create_pmr(pid, dt.date(2021, 2, 10), RECORD).ok
    assert w.doc1.create_pmr(pid, dt.date(2021, 3, 11), RECORD).ok  # tomorrow (east of UTC)


def test_t1_records_stay_with_their_patient(w: World) -> None:
    """T1: the patient cannot transfer or approve its PMR."""
    p, pmr = w.p, w.pmr_id
    if p.system.token == "erc721":
        out = p.execute(w.patient.account, "PMRToken", "transferFrom",
                        (w.patient.address, w.other.address, pmr), writes=NONE)
    else:
        out = p.execute(w.patient.account, "PMRToken", "safeTransferFrom",
                        (w.patient.address, w.other.address, pmr, 1, b""), writes=NONE)
    assert out.reason == "pmr_token: token is soulbound"
    out = p.execute(w.patient.account, "PMRToken", "setApprovalForAll", (w.other.address, True),
                    writes=NONE)
    assert out.reason == "pmr_token: token is soulbound"
    assert p.view("PMRToken", "ownerOf", pmr).lower() == w.patient.account.hex.lower()


def _wallet_patient(w: World, label: str, mode: int) -> ContractPatient:
    patient = ContractPatient(w.p, label)
    patient.deploy(mode).require()
    w.desk.register(patient, details(label)).require()
    return patient


def _mint_args(w: World, patient_id: int, day: dt.date) -> tuple[str, tuple[object, ...]]:
    if w.p.private:
        return "mint", (patient_id, ids.ddmmyyyy(day), w.h1.hospital_id, b"\x33" * 32, 0x55)
    return "mint_paper", (patient_id, ids.ddmmyyyy(day), w.h1.hospital_id, ("a", "", "", "", ""))


def test_t2_the_receiver_hook_cannot_reenter(w: World) -> None:
    """T2: a wallet patient that is also a doctor re-enters mint from its hook: refused by the
    guard (the same call outside the hook succeeds); under ERC-721 no hook runs at all."""
    wallet = _wallet_patient(w, "wallet-doctor", REENTER)
    assert wallet.wallet is not None
    w.p.execute(w.h1.account, "DoctorRegistry", "onboard" if w.p.private else "onboard_paper",
                (wallet.address, b"\x55" * 32, b"\x56" * 32, b"\x57" * 32) if w.p.private
                else (wallet.address, "U-WALLET", "W", "GP", "0"), writes=NONE).require()
    fn, args = _mint_args(w, w.other.patient_id, VISIT)
    reentry = w.p.system.pmrs.calldata(fn, *args)
    w.p.run(wallet.wallet_call("set_reentry", w.p.system.pmrs.address, reentry)).require()
    out = w.doc1.create_pmr(wallet.patient_id, VISIT, RECORD).require()
    view = wallet.wallet.call
    if w.p.system.token == "erc1155":
        assert view("reentry_tried") is True and view("reentered") is False
        assert w.p.view("PMRToken", "balanceOf", wallet.address, out.issued) == 1
    else:
        assert view("hooks") == 0
    assert w.p.view("PMRToken", "version_count", ids.pmr_id(w.other.patient_id, VISIT)) == 0
    assert w.p.run(wallet.wallet_call("execute", w.p.system.pmrs.address, reentry)).ok


def test_t3_a_refusing_receiver_does_not_block_its_records(w: World) -> None:
    """T3: the version is recorded and the unit held back; the patient claims it later, once."""
    wallet = _wallet_patient(w, "refusing-wallet", REFUSE)
    out = w.doc1.create_pmr(wallet.patient_id, VISIT, RECORD).require()
    pmr = out.issued
    assert w.p.view("PMRToken", "version_count", pmr) == 1
    if w.p.system.token == "erc721":
        assert w.p.view("PMRToken", "ownerOf", pmr).lower() == "0x" + wallet.address.hex()
        return
    assert "MintDeferred" in [n for n, _ in out.events]
    assert w.p.view("PMRToken", "balanceOf", wallet.address, pmr) == 0
    out = w.p.execute(w.other.account, "PMRToken", "claim", (pmr,), writes=NONE)
    assert out.reason == "pmr_token: not the record owner"
    w.p.run(wallet.wallet_call("set_mode", ACCEPT)).require()
    claim = wallet._call("PMRToken", "claim", (pmr,), NONE)
    assert w.p.run(claim).ok
    assert w.p.view("PMRToken", "balanceOf", wallet.address, pmr) == 1
    assert w.p.run(wallet._call("PMRToken", "claim", (pmr,), NONE)).reason == (
        "pmr_token: already held")


# -- grants and reads -----------------------------------------------------------

def test_g1_only_the_owner_grants(w: World) -> None:
    """G1: another patient or a non-patient cannot grant; the owner can."""
    until = _now(w) + DAY
    assert w.other.grant(w.doc2, until, pmr_id=w.pmr_id).reason == (
        "access_grants: not the record owner")
    assert Patient(w.p, w.doc1.label).grant(w.doc2, until, pmr_id=w.pmr_id).reason == (
        "access_grants: caller is not a registered patient")
    assert w.other.revoke(w.doc2, pmr_id=w.pmr_id).reason == "access_grants: not the record owner"
    assert w.patient.grant(w.doc2, until, pmr_id=w.pmr_id).ok


def test_g2_grants_only_on_minted_records_to_doctors_for_a_bounded_time(w: World) -> None:
    """G2: an unminted PMR, a non-doctor, a past or over-long expiry are refused."""
    now = _now(w)
    unminted = ids.pmr_id(w.patient.patient_id, VISIT - dt.timedelta(days=1))
    assert w.patient.grant(w.doc2, now + DAY, pmr_id=unminted).reason == "access_grants: unknown PMR"
    assert w.patient.grant(Doctor(w.p, "nobody"), now + DAY).reason == (
        "doctor_registry: not a registered doctor")
    assert w.patient.grant(w.doc2, 5).reason == "access_grants: expiry in the past"
    assert w.patient.grant(w.doc2, now + 400 * DAY).reason == "access_grants: grant too long"
    assert w.patient.grant(w.doc2, now + DAY, pmr_id=w.pmr_id).ok


def test_g3_grants_are_usable_only_within_their_window(w: World) -> None:
    """G3: no grant, an expired and a revoked grant are refused; an open one is not."""
    assert w.doc2.access(w.pmr_id, "pmr").reason == "access_grants: no grant"
    expiry = _now(w) + HOUR
    w.patient.grant(w.doc2, expiry, pmr_id=w.pmr_id).require()
    assert w.doc2.access(w.pmr_id, "pmr").ok
    w.p.clock = expiry
    assert w.doc2.access(w.pmr_id, "pmr").reason == "access_grants: grant expired"
    w.patient.grant(w.doc2, expiry + DAY).require()
    w.patient.revoke(w.doc2).require()
    assert w.doc2.access(w.pmr_id, "all").reason == "access_grants: grant revoked"


def test_a1_custodians_release_once_per_mined_use(w: World) -> None:
    """A1: no use, a use of another record, an answered use and a closed window get nothing;
    a fresh mined use gets the share once."""
    custodian: KeyCustodian[bytes] = KeyCustodian(w.p, "node-1")
    custodian.keep("study-1", w.pmr_id, b"key share")
    w.patient.grant(w.doc2, _now(w) + DAY).require()
    other_pmr = w.doc1.create_pmr(w.other.patient_id, VISIT, RECORD).require().issued
    w.other.grant(w.doc2, _now(w) + DAY).require()
    assert custodian.refusal("study-1", w.doc2.address, bytes(32)) == NO_USE
    wrong = w.doc2.access(other_pmr).require().receipt.tx_hash
    assert custodian.refusal("study-1", w.doc2.address, wrong) == WRONG_USE
    use = w.doc2.access(w.pmr_id).require().receipt.tx_hash
    assert custodian.refusal("study-1", w.doc1.address, use) == WRONG_USE
    assert custodian.release("study-1", w.doc2.address, use) == b"key share"
    assert custodian.refusal("study-1", w.doc2.address, use) == ANSWERED
    second = w.doc2.access(w.pmr_id).require().receipt.tx_hash
    w.patient.revoke(w.doc2).require()
    assert custodian.refusal("study-1", w.doc2.address, second) == WINDOW_OVER


def test_a2_a_logged_read_names_a_real_record(w: World) -> None:
    """A2: a scope key or a future date is not a PMR-ID; the read is filed under the Patient-ID."""
    pid = w.patient.patient_id
    w.patient.grant(w.doc2, _now(w) + DAY).require()
    assert w.doc2.access((1 << 255) | pid, "all").reason == "access_grants: not a PMR-ID"
    assert w.doc2.access(pid * 10**8 + 1012099, "all").reason == "access_grants: not a PMR-ID"
    out = w.doc2.access(w.pmr_id, "all").require()
    assert out.event("AccessUsed")["patient_id"] == pid


# -- break-glass ----------------------------------------------------------------

def test_e1_break_glass_is_bounded(w: World) -> None:
    """E1: a reason is needed, three openings a week per patient, four hours each, for the
    hospital it was opened for."""
    pid = w.other.patient_id
    assert w.doc2.emergency_access(pid, 0).reason == "access_grants: reason required"
    start = on_day(w, dt.date(2021, 1, 27))
    for _ in range(3):
        w.doc2.emergency_access(pid, 5).require()
    assert w.doc2.emergency_access(pid, 5).reason == "access_grants: break-glass limit reached"
    other_pmr = w.doc1.create_pmr(pid, dt.date(2021, 1, 27), RECORD).require().issued
    assert w.doc2.access(other_pmr, "emergency", hospital_id=w.h1.hospital_id).reason == (
        "access_grants: emergency access opened for another hospital")
    assert w.doc2.access(other_pmr, "emergency").ok
    w.p.clock = _now(w) + 4 * HOUR
    assert w.doc2.access(other_pmr, "emergency").reason == "access_grants: emergency access expired"
    for opening in range(3):
        w.h2.review_emergency(w.doc2, opening).require()
    w.p.clock = start + 7 * DAY
    assert w.doc2.emergency_access(pid, 5).ok


def test_e2_the_patient_or_a_regulator_closes_break_glass(w: World) -> None:
    """E2: a stranger cannot close it; the patient and a regulator can, and reads then stop."""
    w.doc2.emergency_access(w.patient.patient_id, 5).require()
    out = w.p.execute(w.other.account, "AccessGrants", "close_emergency",
                      (w.doc2.address, w.patient.patient_id), writes=NONE)
    assert out.reason == "access_grants: only the patient or a regulator closes"
    w.patient.close_emergency(w.doc2).require()
    assert w.doc2.access(w.pmr_id, "emergency").reason == "access_grants: emergency access closed"
    w.doc2.emergency_access(w.patient.patient_id, 5).require()
    assert w.regulator.close_emergency(w.doc2, w.patient.patient_id).ok


def test_e3_every_opening_is_reviewed_within_72_hours(w: World) -> None:
    """E3: another hospital or the doctor cannot review; an overdue review blocks new openings
    until the doctor's hospital reviews it."""
    w.doc2.emergency_access(w.patient.patient_id, 5).require()
    assert w.h1.review_emergency(w.doc2, 0).reason == (
        "access_grants: only the hospital or a regulator reviews")
    out = w.p.execute(w.doc2.account, "AccessGrants", "review_emergency",
                      (w.doc2.address, 0, 1), writes=NONE)
    assert out.reason == "access_grants: a doctor cannot review its own opening"
    w.p.clock = _now(w) + 72 * HOUR
    assert w.doc2.emergency_access(w.other.patient_id, 5).reason == (
        "access_grants: break-glass review overdue")
    w.h2.review_emergency(w.doc2, 0).require()
    assert w.p.view("AccessGrants", "opening_of", w.doc2.address, 0)[3] == 1
    assert w.doc2.emergency_access(w.other.patient_id, 5).ok


# -- labs -----------------------------------------------------------------------

def test_l1_reports_only_by_the_record_hospital_lab_or_a_referred_one(w: World) -> None:
    """L1: another hospital's lab needs a referral by a doctor of the record's hospital."""
    lab2 = _lab_at(w, w.h2, "lab-2")
    assert lab2.post_report(w.pmr_id, _findings(VISIT), b"\x01" * 32).reason == (
        "lab_reports: not the record's hospital and not referred")
    assert w.doc2.refer(w.pmr_id, w.h2).reason == "doctor_registry: doctor not affiliated with hospital"
    w.doc1.refer(w.pmr_id, w.h2).require()
    assert lab2.post_report(w.pmr_id, _findings(VISIT), b"\x01" * 32).ok


def test_l2_capture_dates_lie_between_the_visit_and_tomorrow(w: World) -> None:
    """L2: a capture before the visit or in 2099 is refused; one on the visit day is not."""
    assert w.lab.post_report(w.pmr_id, _findings(VISIT - dt.timedelta(days=1)),
                             b"\x01" * 32).reason == "lab_reports: capture date before the visit"
    assert w.lab.post_report(w.pmr_id, _findings(dt.date(2099, 1, 1)), b"\x01" * 32).reason == (
        "lab_reports: capture date in the future")
    assert w.lab.post_report(w.pmr_id, _findings(VISIT), b"\x01" * 32).ok


# -- devices --------------------------------------------------------------------

def _readings(w: World) -> tuple[list[Reading], int, int]:
    now = _now(w)
    return [Reading(1, 97, now - 30)], now - 60, now - 1


def test_i1_a_device_is_bound_with_the_patients_consent(w: World) -> None:
    """I1: until the patient accepts, the device anchors nothing; another patient cannot accept."""
    device = Device(w.p, "oximeter")
    w.desk.bind_device(device, w.patient).require()
    assert device.anchor(*_readings(w)).reason == "iomt_anchor: binding not accepted by the patient"
    assert w.other.accept_device(device).reason == "iomt_anchor: no binding proposed to this patient"
    w.patient.accept_device(device).require()
    assert device.anchor(*_readings(w)).ok


def test_i2_only_the_patient_its_hospital_desk_or_a_regulator_unbinds(w: World) -> None:
    """I2: another patient or another hospital's desk cannot unbind; the patient can."""
    device = Device(w.p, "pump")
    w.desk.bind_device(device, w.patient).require()
    w.patient.accept_device(device).require()
    desk2 = Desk(w.p, "desk-2")
    w.h2.add_operator(desk2).require()
    reason = "iomt_anchor: only the patient, the hospital's desk or a regulator unbinds"
    assert Patient(w.p, w.other.label).unbind_device(device).reason == reason
    assert desk2.unbind_device(device).reason == reason
    assert w.patient.unbind_device(device).ok
    assert device.anchor(*_readings(w)).reason == "iomt_anchor: unknown device"


def test_i3_a_suspended_hospitals_devices_stop(w: World) -> None:
    """I3: while the binding hospital is suspended the device anchors nothing."""
    device = Device(w.p, "patch")
    w.desk.bind_device(device, w.patient).require()
    w.patient.accept_device(device).require()
    w.regulator.suspend_hospital(w.h1).require()
    assert device.anchor(*_readings(w)).reason == "iomt_anchor: binding hospital not verified"
    w.regulator.reinstate_hospital(w.h1).require()
    assert device.record(Reading(1, 96, _now(w))).ok

