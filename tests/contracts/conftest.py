"""A deployed private-layout system with the story's cast, rolled back after every test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sim.chain import make_chain
from sim.protocol import (
    Desk,
    Doctor,
    DoctorProfile,
    Hospital,
    HospitalProfile,
    Lab,
    Patient,
    PatientDetails,
    Protocol,
    Regulator,
    SlotWrites,
    VisitRecord,
)

VISIT = dt.date(2021, 1, 26)
RECORD = VisitRecord("cough", "none", "bronchitis", "rest")


@dataclass
class World:
    """Actors of a small deployment: two verified hospitals, one pending, doctors, patients."""

    p: Protocol
    regulator: Regulator
    h1: Hospital
    h2: Hospital
    pending: Hospital
    desk: Desk
    lab: Lab
    doc1: Doctor  # at h1
    doc2: Doctor  # at h2
    patient: Patient
    other: Patient
    pmr_id: int  # patient's PMR of VISIT, minted by doc1 at h1

    @staticmethod
    def p_writes() -> SlotWrites:
        """No declared writes (for raw calls made only to see them rejected)."""
        return SlotWrites()


def on_day(world: World, day: dt.date, hour: int = 9) -> int:
    """Set the protocol clock to ``day`` at ``hour`` UTC (not before the head); return it."""
    ts = int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC).timestamp())
    world.p.clock = max(ts, world.p.chain.timestamp + 1)
    return world.p.clock


def hospital_profile(n: int) -> HospitalProfile:
    """A distinct synthetic hospital profile."""
    return HospitalProfile(f"GOV-{n}", f"Hospital {n}", "Town", "General", "000")


def details(name: str) -> PatientDetails:
    """Synthetic patient details."""
    return PatientDetails(name, 40, "F", 60.0, 160.0, "1 Road", "+91 1", "x@example.in")


def build_world(layout: str = "private", token: str = "erc721") -> World:
    """Deploy and populate a world in ``layout`` with the ``token`` standard."""
    p = Protocol.deploy(make_chain(seed=11), layout=layout, seed=11, first_patient_id=85437,
                        token=token)
    reg = Regulator(p, "reg")
    p.grant_regulator(reg.account).require()
    h1, h2, pending = Hospital(p, "h1"), Hospital(p, "h2"), Hospital(p, "pending")
    for i, h in enumerate((h1, h2, pending)):
        h.apply(hospital_profile(i)).require()
    reg.verify(h1).require()
    reg.verify(h2).require()
    desk, lab = Desk(p, "desk"), Lab(p, "lab")
    h1.add_operator(desk).require()
    h1.add_operator(lab).require()
    doc1, doc2 = Doctor(p, "doc1"), Doctor(p, "doc2")
    h1.onboard(doc1, DoctorProfile("UPRN-1", "Dr One", "GP", "1")).require()
    h2.onboard(doc2, DoctorProfile("UPRN-2", "Dr Two", "GP", "2")).require()
    patient, other = Patient(p, "patient"), Patient(p, "other")
    desk.register(patient, details("Pat")).require()
    desk.register(other, details("Oth")).require()
    # the visit happens on its day (visit dates are bounded by the block time)
    p.clock = int(dt.datetime(VISIT.year, VISIT.month, VISIT.day, 10, tzinfo=dt.UTC).timestamp())
    out = doc1.create_pmr(patient.patient_id, VISIT, RECORD).require()
    assert out.issued is not None
    p.clock = None
    return World(p, reg, h1, h2, pending, desk, lab, doc1, doc2, patient, other, out.issued)


@pytest.fixture(scope="session")
def _world() -> World:
    return build_world()


@pytest.fixture()
def world(_world: World) -> Iterator[World]:
    """The shared world; chain state is rolled back after the test."""
    clock = _world.p.clock
    with _world.p.chain.anchor():
        yield _world
    _world.p.clock = clock
