"""HospitalRegistry: apply, verify, suspend, operators, layouts."""

from __future__ import annotations

from sim.protocol import Hospital, Regulator
from sim.protocol.deployment import REGULATOR_ROLE

from .conftest import World, hospital_profile


def test_verify_issues_sequential_hospital_ids(world: World) -> None:
    """A regulator's verification issues the next Hospital-ID and marks it verified."""
    h = Hospital(world.p, "h-new")
    h.apply(hospital_profile(50)).require()
    out = world.regulator.verify(h).require()
    assert out.issued == 3
    assert world.p.view("HospitalRegistry", "is_verified", 3) is True


def test_only_regulators_verify(world: World) -> None:
    """An account without REGULATOR_ROLE cannot verify a hospital."""
    out = world.p.execute(world.h1.account, "HospitalRegistry", "verify",
                          (world.pending.address, world.regulator.review(world.pending)),
                          writes=world.p_writes())
    assert not out.ok and "missing role" in out.reason


def test_several_regulators_may_verify(world: World) -> None:
    """The deployer may grant REGULATOR_ROLE to several regulators."""
    second = Regulator(world.p, "second-regulator")
    world.p.grant_regulator(second.account).require()
    assert world.p.view("HospitalRegistry", "hasRole", REGULATOR_ROLE, second.address)
    assert second.verify(world.pending).ok


def test_verify_needs_an_application(world: World) -> None:
    """A hospital that never applied cannot be verified."""
    out = world.regulator.verify(Hospital(world.p, "never-applied"))
    assert out.reason == "hospital_registry: no application"


def test_registration_id_used_once(world: World) -> None:
    """A Gov. Reg. ID already used by an application cannot be used again."""
    out = Hospital(world.p, "copycat").apply(hospital_profile(0))
    assert out.reason == "hospital_registry: registration id already used"


def test_verified_hospital_cannot_reapply(world: World) -> None:
    """A verified hospital's account cannot apply again."""
    assert world.h1.apply(hospital_profile(77)).reason == "hospital_registry: already verified"


def test_pending_hospital_cannot_act(world: World) -> None:
    """A hospital awaiting verification cannot name operators."""
    out = world.pending.add_operator(Hospital(world.p, "staff"))
    assert out.reason == "hospital_registry: hospital not verified"


def test_suspend_and_reinstate(world: World) -> None:
    """A suspended hospital is not verified; reinstating restores it."""
    world.regulator.suspend_hospital(world.h2).require()
    assert world.p.view("HospitalRegistry", "is_verified", world.h2.hospital_id) is False
    world.regulator.reinstate_hospital(world.h2).require()
    assert world.p.view("HospitalRegistry", "is_verified", world.h2.hospital_id) is True


def test_only_regulators_suspend(world: World) -> None:
    """A hospital cannot suspend another hospital."""
    out = world.p.execute(world.h1.account, "HospitalRegistry", "suspend",
                          (world.h2.hospital_id,), writes=world.p_writes())
    assert "missing role" in out.reason


def test_suspend_twice_rejected(world: World) -> None:
    """Suspending a suspended hospital is rejected."""
    world.regulator.suspend_hospital(world.h2).require()
    assert world.regulator.suspend_hospital(world.h2).reason == "hospital_registry: wrong status"


def test_suspended_hospital_desk_cannot_register(world: World) -> None:
    """The desk of a suspended hospital cannot register patients."""
    from sim.protocol import Patient

    from .conftest import details

    world.regulator.suspend_hospital(world.h1).require()
    out = world.desk.register(Patient(world.p, "late"), details("Late"))
    assert out.reason == "hospital_registry: hospital not verified"


def test_only_the_hospital_account_names_operators(world: World) -> None:
    """A desk operator cannot name further operators."""
    out = world.p.execute(world.desk.account, "HospitalRegistry", "set_operator",
                          (world.other.address, 2), writes=world.p_writes())
    assert out.reason == "hospital_registry: only the hospital account"


def test_removed_operator_cannot_act(world: World) -> None:
    """An operator removed by its hospital can no longer act for it."""
    from sim.protocol import Patient

    from .conftest import details

    world.p.execute(world.h1.account, "HospitalRegistry", "set_operator",
                    (world.desk.address, 0), writes=world.p_writes()).require()
    out = world.desk.register(Patient(world.p, "nobody"), details("N"))
    assert out.reason == "hospital_registry: not a hospital operator"


def test_paper_entry_points_closed_in_private_layout(world: World) -> None:
    """In the private layout, the string-storing paper entry point reverts."""
    out = world.p.execute(Hospital(world.p, "x").account, "HospitalRegistry", "apply_paper",
                          ("G", "N", "L", "S", "C"), writes=world.p_writes())
    assert out.reason == "hospital_registry: private layout deployed"
