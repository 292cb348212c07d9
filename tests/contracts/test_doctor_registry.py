"""DoctorRegistry: onboarding, one Doctor-ID per registration number, affiliations, suspension."""

from __future__ import annotations

from sim.protocol import Doctor, DoctorProfile

from .conftest import RECORD, VISIT, World


def test_onboarding_issues_a_doctor_id(world: World) -> None:
    """A verified hospital onboards a doctor and a new Doctor-ID is issued."""
    doc = Doctor(world.p, "doc-new")
    out = world.h1.onboard(doc, DoctorProfile("UPRN-9", "Dr Nine", "ENT", "9")).require()
    assert out.issued == 3
    assert out.event("DoctorOnboarded")["new_doctor"] is True


def test_unverified_hospital_cannot_onboard(world: World) -> None:
    """A hospital awaiting verification cannot onboard doctors."""
    out = world.pending.onboard(Doctor(world.p, "d"), DoctorProfile("U-x", "D", "S", "C"))
    assert out.reason == "hospital_registry: hospital not verified"


def test_same_registration_number_keeps_its_doctor_id(world: World) -> None:
    """Onboarding a known registration number at a second hospital adds an affiliation."""
    doc = Doctor(world.p, "doc1")  # same label -> same account as world.doc1
    doc.doctor_id = world.doc1.doctor_id
    out = world.h2.onboard(doc, DoctorProfile("UPRN-1", "Dr One", "GP", "1")).require()
    assert out.issued == world.doc1.doctor_id
    assert world.p.view("DoctorRegistry", "affiliated", world.doc1.doctor_id, world.h2.hospital_id)


def test_registration_number_bound_to_one_account(world: World) -> None:
    """A registration number cannot be onboarded under a second account."""
    out = world.h2.onboard(Doctor(world.p, "thief"), DoctorProfile("UPRN-1", "Dr One", "GP", "1"))
    assert out.reason == "doctor_registry: registration number bound to another account"


def test_account_holds_one_registration_number(world: World) -> None:
    """An account already registered as a doctor cannot take a second registration number."""
    doc = Doctor(world.p, "doc2")
    out = world.h1.onboard(doc, DoctorProfile("UPRN-other", "Dr Two", "GP", "2"))
    assert out.reason == "doctor_registry: account already a doctor"


def test_double_affiliation_rejected(world: World) -> None:
    """A doctor cannot be onboarded twice at the same hospital."""
    doc = Doctor(world.p, "doc1")
    doc.doctor_id = world.doc1.doctor_id
    out = world.h1.onboard(doc, DoctorProfile("UPRN-1", "Dr One", "GP", "1"))
    assert out.reason == "doctor_registry: already affiliated"


def test_regulator_suspends_and_reinstates(world: World) -> None:
    """A suspended doctor cannot create PMRs; reinstated, the doctor can again."""
    world.regulator.suspend_doctor(world.doc1).require()
    out = world.doc1.create_pmr(world.patient.patient_id, VISIT, RECORD)
    assert out.reason == "doctor_registry: doctor suspended"
    world.regulator.reinstate_doctor(world.doc1).require()
    assert world.doc1.create_pmr(world.patient.patient_id, VISIT, RECORD).ok


def test_only_regulators_suspend_doctors(world: World) -> None:
    """A hospital cannot suspend a doctor."""
    out = world.p.execute(world.h1.account, "DoctorRegistry", "suspend",
                          (world.doc1.doctor_id,), writes=world.p_writes())
    assert out.reason == "doctor_registry: caller is not a regulator"


def test_ended_affiliation_stops_minting(world: World) -> None:
    """After its hospital ends the affiliation, a doctor cannot act for that hospital."""
    world.h1.end_affiliation(world.doc1).require()
    out = world.doc1.create_pmr(world.patient.patient_id, VISIT, RECORD)
    assert out.reason == "doctor_registry: doctor not affiliated with hospital"


def test_end_affiliation_needs_affiliation(world: World) -> None:
    """A hospital cannot end an affiliation it does not have."""
    assert world.h1.end_affiliation(world.doc2).reason == (
        "doctor_registry: doctor not affiliated with hospital")
