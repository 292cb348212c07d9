"""The trust model as a state machine: the contracts and the custodian against a plain model.

Hypothesis drives grants, revocations, break-glass openings, closings and
reviews, suspensions and reinstatements of hospitals and doctors, ended and
restored affiliations, and the passing of time, on one deployment (rolled
back after each example). After every step ``AccessGrants.is_valid`` must
agree with the model; every ``use`` must succeed or revert exactly as the
model says (with its reason); every successful ``use`` must get a key share
from the custodian once, and only once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sim.chain import make_chain
from sim.protocol import (
    Desk,
    Doctor,
    DoctorProfile,
    Hospital,
    KeyCustodian,
    Patient,
    Protocol,
    Regulator,
)
from sim.protocol.custodian import ANSWERED

from .conftest import RECORD, VISIT, details, hospital_profile

HOUR = 3600
DAY = 86400
EMERGENCY = 4 * HOUR
PERIOD = 7 * DAY
REVIEW = 72 * HOUR
KINDS = ("pmr", "all", "emergency")
PROFILES = [DoctorProfile("UPRN-S1", "Dr S1", "GP", "1"), DoctorProfile("UPRN-S2", "Dr S2", "GP", "2")]


@dataclass
class Deployment:
    """One private-layout deployment: two hospitals, a doctor at each, a patient with a PMR."""

    p: Protocol
    regulator: Regulator
    hospitals: list[Hospital]
    doctors: list[Doctor]
    patient: Patient
    pmr_id: int


def deploy() -> Deployment:
    """Build the deployment the machine runs on."""
    p = Protocol.deploy(make_chain(seed=21), seed=21, first_patient_id=500)
    regulator = Regulator(p, "reg")
    p.grant_regulator(regulator.account).require()
    hospitals = [Hospital(p, f"h{i}") for i in range(2)]
    for i, h in enumerate(hospitals):
        h.apply(hospital_profile(100 + i)).require()
        regulator.verify(h).require()
    desk = Desk(p, "desk")
    hospitals[0].add_operator(desk).require()
    doctors = [Doctor(p, f"d{i}") for i in range(2)]
    for h, d, profile in zip(hospitals, doctors, PROFILES, strict=True):
        h.onboard(d, profile).require()
    patient = Patient(p, "patient")
    desk.register(patient, details("Stateful")).require()
    p.clock = int(dt.datetime(VISIT.year, VISIT.month, VISIT.day, 10, tzinfo=dt.UTC).timestamp())
    out = doctors[0].create_pmr(patient.patient_id, VISIT, RECORD).require()
    assert out.issued is not None
    p.clock = None
    return Deployment(p, regulator, hospitals, doctors, patient, out.issued)


_DEPLOYMENT: list[Deployment] = []


def deployment() -> Deployment:
    """The deployment, built once per test session."""
    if not _DEPLOYMENT:
        _DEPLOYMENT.append(deploy())
    return _DEPLOYMENT[0]


@dataclass
class DoctorModel:
    """What the model knows of one doctor (affiliated with one hospital)."""

    active: bool = True
    affiliated: bool = True
    grants: dict[str, int] = field(default_factory=dict)  # "pmr"/"all" -> expiry (1 revoked)
    openings: list[int] = field(default_factory=list)  # times, in order
    reviewed: list[bool] = field(default_factory=list)
    closed: bool = False


class TrustMachine(RuleBasedStateMachine):
    """Drive the contracts and a plain model side by side; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.d = deployment()
        self._anchor = self.d.p.chain.anchor()
        self._anchor.__enter__()
        self.now = self.d.p.chain.timestamp
        self.verified = [True, True]
        self.model = [DoctorModel(), DoctorModel()]
        self.custodian: KeyCustodian[bytes] = KeyCustodian(self.d.p, "custodian")
        self.custodian.keep("record", self.d.pmr_id, b"share")
        self.pending_uses: list[tuple[int, bytes]] = []  # (doctor, tx hash) not yet answered

    def teardown(self) -> None:
        """Roll the chain back for the next example."""
        self._anchor.__exit__(None, None, None)
        self.d.p.clock = None

    # -- the model ------------------------------------------------------------
    def _tick(self) -> None:
        """The next transaction's block time (one second later, or after a time jump)."""
        self.now = max(self.now + 1, self.d.p.chain.timestamp + 1)
        self.d.p.clock = self.now

    def standing_reason(self, i: int) -> str | None:
        """Why doctor ``i`` does not stand at its hospital (None if it does), in check order."""
        m = self.model[i]
        if not m.active:
            return "doctor_registry: doctor suspended"
        if not m.affiliated:
            return "doctor_registry: doctor not affiliated with hospital"
        if not self.verified[i]:
            return "doctor_registry: hospital not verified"
        return None

    def window_reason(self, i: int, kind: str, t: int) -> str | None:
        """Why doctor ``i``'s ``kind`` window is shut at ``t`` (None when open)."""
        m = self.model[i]
        if kind == "emergency":
            if not m.openings:
                return "access_grants: no emergency access"
            if m.closed:
                return "access_grants: emergency access closed"
            if m.openings[-1] + EMERGENCY <= t:
                return "access_grants: emergency access expired"
            return None
        expiry = m.grants.get(kind, 0)
        if expiry > t:
            return None
        if expiry == 1:
            return "access_grants: grant revoked"
        return "access_grants: grant expired" if expiry else "access_grants: no grant"

    def valid(self, i: int, t: int) -> bool:
        """The model's is_valid for doctor ``i`` at its hospital at time ``t``."""
        return self.standing_reason(i) is None and any(
            self.window_reason(i, k, t) is None for k in KINDS)

    def glass_reason(self, i: int, t: int) -> str | None:
        """Why doctor ``i`` may not open break-glass at ``t`` (None when it may)."""
        standing = self.standing_reason(i)
        if standing is not None:
            return standing
        m = self.model[i]
        unreviewed = [o for o, r in zip(m.openings, m.reviewed, strict=True) if not r]
        if unreviewed and unreviewed[0] + REVIEW <= t:
            return "access_grants: break-glass review overdue"
        if len(m.openings) >= 3 and m.openings[-3] + PERIOD > t:
            return "access_grants: break-glass limit reached"
        return None

    # -- rules ----------------------------------------------------------------
    @initialize()
    def start(self) -> None:
        """Nothing granted, everyone in standing."""

    @rule(i=st.integers(0, 1), kind=st.sampled_from(["pmr", "all"]),
          hours=st.integers(1, 240))
    def grant(self, i: int, kind: str, hours: int) -> None:
        """The patient grants doctor ``i`` a window of ``hours``."""
        self._tick()
        until = self.now + hours * HOUR
        out = self.d.patient.grant(self.d.doctors[i], until,
                                   pmr_id=self.d.pmr_id if kind == "pmr" else None)
        expected = None if self.model[i].active else "doctor_registry: doctor suspended"
        assert (out.reason or None) == expected
        if out.ok:
            self.model[i].grants[kind] = until

    @rule(i=st.integers(0, 1), kind=st.sampled_from(["pmr", "all"]))
    def revoke(self, i: int, kind: str) -> None:
        """The patient revokes doctor ``i``'s window."""
        self._tick()
        out = self.d.patient.revoke(self.d.doctors[i],
                                    pmr_id=self.d.pmr_id if kind == "pmr" else None)
        active = self.model[i].grants.get(kind, 0) > self.now
        assert out.ok == active, out.reason
        if out.ok:
            self.model[i].grants[kind] = 1

    @rule(i=st.integers(0, 1))
    def break_glass(self, i: int) -> None:
        """Doctor ``i`` opens emergency access for its hospital."""
        self._tick()
        out = self.d.doctors[i].emergency_access(self.d.patient.patient_id, 3)
        assert (out.reason or None) == self.glass_reason(i, self.now)
        if out.ok:
            m = self.model[i]
            m.openings.append(self.now)
            m.reviewed.append(False)
            m.closed = False

    @rule(i=st.integers(0, 1), by_patient=st.booleans())
    def close(self, i: int, by_patient: bool) -> None:
        """The patient or the regulator closes doctor ``i``'s emergency access."""
        self._tick()
        doctor = self.d.doctors[i]
        out = (self.d.patient.close_emergency(doctor) if by_patient
               else self.d.regulator.close_emergency(doctor, self.d.patient.patient_id))
        assert out.ok == (self.window_reason(i, "emergency", self.now) is None), out.reason
        if out.ok:
            self.model[i].closed = True

    @rule(i=st.integers(0, 1), data=st.data())
    def review(self, i: int, data: st.DataObject) -> None:
        """Doctor ``i``'s hospital reviews one of its openings."""
        m = self.model[i]
        if not m.openings:
            return
        opening = data.draw(st.integers(0, len(m.openings) - 1))
        self._tick()
        out = self.d.hospitals[i].review_emergency(self.d.doctors[i], opening)
        oldest = m.reviewed.index(False) if False in m.reviewed else len(m.reviewed)
        allowed = opening == oldest and self.verified[i]  # oldest first
        assert out.ok == allowed, out.reason
        if out.ok:
            m.reviewed[opening] = True

    @rule(i=st.integers(0, 1))
    def toggle_hospital(self, i: int) -> None:
        """The regulator suspends hospital ``i``, or reinstates it."""
        self._tick()
        action = "suspend" if self.verified[i] else "reinstate"
        self.d.p.run(self.d.regulator.status_call(self.d.hospitals[i], action)).require()
        self.verified[i] = not self.verified[i]

    @rule(i=st.integers(0, 1))
    def toggle_doctor(self, i: int) -> None:
        """The regulator suspends doctor ``i``, or reinstates it."""
        self._tick()
        action = "suspend" if self.model[i].active else "reinstate"
        self.d.p.run(self.d.regulator.status_call(self.d.doctors[i], action)).require()
        self.model[i].active = not self.model[i].active

    @rule(i=st.integers(0, 1))
    def toggle_affiliation(self, i: int) -> None:
        """Hospital ``i`` ends doctor ``i``'s affiliation, or onboards the doctor again."""
        if not self.verified[i]:
            return  # a suspended hospital does neither
        self._tick()
        if self.model[i].affiliated:
            self.d.hospitals[i].end_affiliation(self.d.doctors[i]).require()
        else:
            self.d.hospitals[i].onboard(self.d.doctors[i], PROFILES[i]).require()
        self.model[i].affiliated = not self.model[i].affiliated

    @rule(minutes=st.integers(1, 7 * 24 * 60))
    def wait(self, minutes: int) -> None:
        """Time passes."""
        self.now += minutes * 60

    @rule(i=st.integers(0, 1), kind=st.sampled_from(KINDS))
    def read(self, i: int, kind: str) -> None:
        """Doctor ``i`` records a read under ``kind``; the custodian answers it once."""
        self._tick()
        out = self.d.doctors[i].access(self.d.pmr_id, kind)
        expected = self.window_reason(i, kind, self.now) or self.standing_reason(i)
        assert (out.reason or None) == expected
        if out.ok:
            use = out.receipt.tx_hash
            assert self.custodian.release("record", self.d.doctors[i].address, use) == b"share"
            assert self.custodian.refusal("record", self.d.doctors[i].address, use) == ANSWERED
            self.pending_uses.append((i, use))

    @rule(i=st.integers(0, 1), kind=st.sampled_from(KINDS))
    def read_unanswered(self, i: int, kind: str) -> None:
        """Doctor ``i`` records a read and asks the custodian later (an invariant answers it)."""
        self._tick()
        out = self.d.doctors[i].access(self.d.pmr_id, kind)
        if out.ok:
            self.pending_uses.append((-1 - i, out.receipt.tx_hash))

    # -- invariants -------------------------------------------------------------
    @invariant()
    def views_agree(self) -> None:
        """is_valid of both doctors agrees with the model at the head's time."""
        t = self.d.p.chain.timestamp
        for i, (doctor, hospital) in enumerate(zip(self.d.doctors, self.d.hospitals, strict=True)):
            got = self.d.p.view("AccessGrants", "is_valid", doctor.address, self.d.pmr_id,
                                hospital.hospital_id)
            assert got == self.valid(i, t), (i, t)

    @invariant()
    def custodian_agrees(self) -> None:
        """An unanswered read gets a share iff its doctor's window is open now; never twice."""
        t = self.d.p.chain.timestamp
        keep: list[tuple[int, bytes]] = []
        for tag, use in self.pending_uses:
            if tag >= 0:
                continue  # answered when it was recorded
            i = -1 - tag
            address = self.d.doctors[i].address
            reason = self.custodian.refusal("record", address, use)
            assert (reason is None) == self.valid(i, t), (i, t, reason)
            if reason is None:
                self.custodian.release("record", address, use)
                assert self.custodian.refusal("record", address, use) == ANSWERED
            else:
                keep.append((tag, use))
        self.pending_uses = keep


TrustMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_trust_model_state_machine = TrustMachine.TestCase


def test_the_model_catches_a_wrong_answer() -> None:
    """The machine fails when the contract and the model disagree (here: a model that forgets
    a suspension)."""
    machine = TrustMachine()
    try:
        machine.model[0].grants["pmr"] = 0
        machine.toggle_hospital(0)
        machine.verified[0] = True  # the model now wrongly believes the hospital verified
        machine.grant(0, "pmr", 5)
        with pytest.raises(AssertionError):
            machine.read(0, "pmr")
    finally:
        machine.teardown()
