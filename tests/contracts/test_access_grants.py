"""AccessGrants: time-limited grants, revocation, break-glass, the audit log."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.protocol import Doctor, VisitRecord

from .conftest import World, on_day

HOUR = 3600


def _now(world: World) -> int:
    return world.p.chain.timestamp


def test_grant_is_valid_until_expiry(world: World) -> None:
    """A grant is valid before its expiry and not at or after it."""
    expiry = _now(world) + 10 * HOUR
    world.patient.grant(world.doc2, expiry, pmr_id=world.pmr_id).require()
    assert world.p.view("AccessGrants", "is_valid", world.doc2.address, world.pmr_id,
                        world.h2.hospital_id)
    assert world.doc2.access(world.pmr_id).ok
    world.p.clock = expiry
    assert world.doc2.access(world.pmr_id, "pmr").reason == "access_grants: grant expired"


@settings(max_examples=12, deadline=None)
@given(duration=st.integers(min_value=2, max_value=366 * 86400), probe=st.floats(0, 2))
def test_validity_follows_block_time(_world: World, duration: int, probe: float) -> None:
    """For any duration, access works strictly before expiry and is refused from expiry on."""
    p = _world.p
    with p.chain.anchor():
        start = p.chain.timestamp + 1
        p.clock = start
        _world.patient.grant(_world.doc2, start + duration, pmr_id=_world.pmr_id).require()
        at = start + 1 + int(probe * duration)
        p.clock = at
        out = _world.doc2.access(_world.pmr_id)
        assert out.ok == (at < start + duration)
    p.clock = None


def test_access_without_grant_rejected(world: World) -> None:
    """A doctor without a grant cannot access a PMR."""
    assert world.doc2.access(world.pmr_id).reason == "access_grants: no grant"


def test_only_the_owner_grants(world: World) -> None:
    """A patient cannot grant access to another patient's PMR."""
    out = world.other.grant(world.doc2, _now(world) + HOUR, pmr_id=world.pmr_id)
    assert out.reason == "access_grants: not the record owner"


def test_non_patient_cannot_grant(world: World) -> None:
    """An account that is not a registered patient cannot grant."""
    out = world.p.execute(world.doc1.account, "AccessGrants", "grant",
                          (world.doc2.address, world.pmr_id, _now(world) + HOUR, False),
                          writes=world.p_writes())
    assert out.reason == "access_grants: caller is not a registered patient"


def test_grantee_must_be_an_active_doctor(world: World) -> None:
    """Access can only be granted to a registered, active doctor."""
    out = world.patient.grant(Doctor(world.p, "not-a-doctor"), _now(world) + HOUR)
    assert out.reason == "doctor_registry: not a registered doctor"


def test_expiry_must_be_in_the_future_and_bounded(world: World) -> None:
    """Grants ending in the past, or lasting over a year, are rejected."""
    assert world.patient.grant(world.doc2, 1).reason == "access_grants: expiry in the past"
    too_long = _now(world) + 400 * 86400
    assert world.patient.grant(world.doc2, too_long).reason == "access_grants: grant too long"


def test_all_records_grant_covers_every_pmr_of_the_patient_only(world: World) -> None:
    """An all-records grant opens any PMR of that patient and none of another patient's."""
    later_visit = dt.date(2021, 3, 3)
    now = on_day(world, later_visit)
    world.patient.grant(world.doc2, now + 10 * HOUR).require()
    later = world.doc1.create_pmr(world.patient.patient_id, later_visit,
                                  VisitRecord("a", "b", "c", "d")).require()
    assert later.issued is not None
    assert world.doc2.access(world.pmr_id).event("AccessUsed")["kind"] == 2
    assert world.doc2.access(later.issued).ok
    other_pmr = world.other.patient_id * 10**8 + 26012021
    assert world.doc2.access(other_pmr, "all").reason == "access_grants: no grant"


def test_revoke_ends_access_early(world: World) -> None:
    """After the patient revokes, the grant is over and says so."""
    world.patient.grant(world.doc2, _now(world) + 5 * HOUR, pmr_id=world.pmr_id).require()
    world.patient.revoke(world.doc2, pmr_id=world.pmr_id).require()
    assert not world.p.view("AccessGrants", "is_valid", world.doc2.address, world.pmr_id,
                            world.h2.hospital_id)
    assert world.doc2.access(world.pmr_id, "pmr").reason == "access_grants: grant revoked"


def test_revoke_needs_an_active_grant(world: World) -> None:
    """Revoking a grant that does not exist is rejected."""
    assert world.patient.revoke(world.doc2).reason == "access_grants: no active grant"


def test_suspended_doctor_loses_access(world: World) -> None:
    """A grant does not survive its doctor's suspension (the registry names the standing lost)."""
    world.patient.grant(world.doc2, _now(world) + HOUR, pmr_id=world.pmr_id).require()
    world.regulator.suspend_doctor(world.doc2).require()
    assert not world.p.view("AccessGrants", "is_valid", world.doc2.address, world.pmr_id,
                            world.h2.hospital_id)
    assert world.doc2.access(world.pmr_id, "pmr").reason == "doctor_registry: doctor suspended"


def test_break_glass_opens_four_hours_and_is_logged(world: World) -> None:
    """Emergency access lasts EMERGENCY_DURATION, is logged with its reason, then ends."""
    out = world.doc2.emergency_access(world.patient.patient_id, 7).require()
    event = out.event("EmergencyAccess")
    assert event["reason_code"] == 7 and event["expiry"] == out_time(world) + 4 * HOUR
    assert world.doc2.access(world.pmr_id).event("AccessUsed")["kind"] == 3
    world.p.clock = event["expiry"]
    out = world.doc2.access(world.pmr_id, "emergency")
    assert out.reason == "access_grants: emergency access expired"


def out_time(world: World) -> int:
    """Timestamp of the head block."""
    return world.p.chain.timestamp


def test_break_glass_needs_a_reason(world: World) -> None:
    """Emergency access without a reason code is rejected."""
    out = world.doc2.emergency_access(world.patient.patient_id, 0)
    assert out.reason == "access_grants: reason required"


def test_break_glass_needs_a_verified_hospital_doctor(world: World) -> None:
    """Only a doctor acting for a verified hospital may break the glass."""
    world.regulator.suspend_hospital(world.h2).require()
    out = world.doc2.emergency_access(world.patient.patient_id, 7)
    assert out.reason == "doctor_registry: hospital not verified"


def test_audit_log_lists_grant_use_and_revoke(world: World) -> None:
    """Grant, use and revoke each leave an event naming patient, doctor and PMR."""
    world.patient.grant(world.doc2, _now(world) + HOUR, pmr_id=world.pmr_id).require()
    world.doc2.access(world.pmr_id).require()
    world.patient.revoke(world.doc2, pmr_id=world.pmr_id).require()
    grants = world.p.system.grants
    names = []
    for log in world.p.chain.get_logs(address=grants.address):
        decoded = grants.decode_log(log)
        assert decoded is not None
        names.append(decoded[0])
        assert decoded[1]["patient_id"] == world.patient.patient_id
    assert names[-3:] == ["AccessGranted", "AccessUsed", "AccessRevoked"]
