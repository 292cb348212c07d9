"""Adversaries: every forbidden path of the protocol, tried and expected to fail.

Each attempt records the reason it must fail for; the ``denials`` invariant
checks that it failed, and for that reason. On-chain attempts are real
signed transactions (so their reverts are in the trace and the audit log);
off-chain ones go through the custodians and the sharing scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine import trust_attacks as trust
from sim.engine.ledger import Attempt
from sim.engine.studies import StoredStudy
from sim.errors import ChainError
from sim.privacy.material import EssentialShare, SecretBytes
from sim.protocol import Doctor, DoctorProfile, Hospital, HospitalProfile, VisitRecord

if TYPE_CHECKING:
    from sim.engine.world import World

Proc = Generator[simpy.Event, Any, None]
HOUR = 3600.0


def start_adversaries(world: World) -> None:
    """Schedule the scenario's adversarial attempts at random times after setup."""
    config = world.sc.adversaries
    attacks: dict[str, Callable[[World, int], Proc]] = {
        "unregistered_hospital": _unregistered_hospital,
        "foreign_doctor": _foreign_doctor,
        "non_owner_grant": _non_owner_grant,
        "expired_grant": _expired_grant,
        "forged_essential_share": _forged_essential,
        "tampered_fragment": _tampered_fragment,
        "replayed_transaction": _replay,
        # the trust model's rules (docs/trust-model.md), each attack on a clinic of its own
        "role_grab": trust.role_grab,
        "registration_squatting": trust.registration_squatting,
        "application_swap": trust.application_swap,
        "operator_role_abuse": trust.operator_role_abuse,
        "operator_hijack": trust.operator_hijack,
        "lost_standing": trust.lost_standing,
        "uprn_squatting": trust.uprn_squatting,
        "foreign_version": trust.foreign_version,
        "bogus_visit_date": trust.bogus_visit_date,
        "token_transfer": trust.token_transfer,
        "reentrant_receiver": trust.reentrant_receiver,
        "refusing_receiver": trust.refusing_receiver,
        "unminted_grant": trust.unminted_grant,
        "custodian_replay": trust.custodian_replay,
        "scope_key_use": trust.scope_key_use,
        "break_glass_flood": trust.break_glass_flood,
        "break_glass_after_close": trust.break_glass_after_close,
        "break_glass_unreviewed": trust.break_glass_unreviewed,
        "foreign_lab_report": trust.foreign_lab_report,
        "bogus_capture_date": trust.bogus_capture_date,
        "device_without_consent": trust.device_without_consent,
        "device_unbind_by_stranger": trust.device_unbind_by_stranger,
        "suspended_device": trust.suspended_device,
    }
    rng = world.rng("adversaries")
    span = max(world.duration - world.env.now, 1.0)
    for kind, attack in attacks.items():
        for k in range(getattr(config, kind)):
            delay = rng.uniform(0.25, 0.6) * span

            def run(attack: Callable[[World, int], Proc] = attack, k: int = k,
                    delay: float = delay, kind: str = kind) -> Proc:
                yield world.env.timeout(delay)
                try:
                    yield from attack(world, k)
                except trust.AttackSetupFailed as exc:  # no target: the attempt shows as failed
                    _expect(world, kind, ("attempted",), f"setup failed: {exc}")

            world.env.process(run())


def _expect(world: World, kind: str, expected: tuple[str, ...], actual: str) -> None:
    world.ledger.attempts.append(Attempt(kind, expected, actual, world.env.now))
    if actual in expected:
        world.counts["denied"] += 1
    world.trace.write("attack", world.env.now, attack=kind, expected=list(expected), actual=actual)


def _unregistered_hospital(world: World, k: int) -> Proc:
    rogue = Hospital(world.protocol, f"rogue-hospital-{k}")
    if k % 2 == 0:  # half of them applied but were never verified
        yield from world.tx(rogue.apply_call(HospitalProfile(
            f"ROGUE-{k}", f"Rogue Clinic {k}", "unknown", "general", "none")))
    victim = Doctor(world.protocol, f"rogue-doctor-{k}")
    out = yield from world.tx(rogue.onboard_call(victim, DoctorProfile(
        f"FAKE-{k:05d}", f"Dr. Fake {k}", "general", "none")))
    _expect(world, "unregistered_hospital",
            ("hospital_registry: hospital not verified", "hospital_registry: not a hospital operator"),
            out.reason or "succeeded")


def _foreign_doctor(world: World, k: int) -> Proc:
    rng = world.rng(f"foreign-{k}")
    if len(world.hospitals) < 2 or not world.patients:
        return
    h = rng.randrange(len(world.hospitals))
    other = (h + 1 + rng.randrange(len(world.hospitals) - 1)) % len(world.hospitals)
    doctor = rng.choice(world.doctors[h])
    patient = rng.choice([p for p in world.patients if p.patient_id])
    out = yield from world.tx(doctor.create_pmr_call(
        patient.patient_id, world.today(), VisitRecord("x", "x", "x", "x"),
        hospital_id=world.hospitals[other].hospital_id))
    _expect(world, "foreign_doctor", ("doctor_registry: doctor not affiliated with hospital",),
            out.reason or "succeeded")


def _non_owner_grant(world: World, k: int) -> Proc:
    rng = world.rng(f"non-owner-{k}")
    owners = [p for p in world.patients if world.pmrs.get(p.patient_id)]
    others = [p for p in world.patients if p.patient_id]
    if not owners or len(others) < 2:
        return
    owner = rng.choice(owners)
    thief = rng.choice([p for p in others if p is not owner])
    doctor = rng.choice([d for ds in world.doctors for d in ds if d.doctor_id])
    out = yield from world.tx(thief.grant_call(doctor, world.now_ts() + 86400,
                                               pmr_id=world.pmrs[owner.patient_id][0]))
    _expect(world, "non_owner_grant", ("access_grants: not the record owner",),
            out.reason or "succeeded")


def _granted(world: World, rng: Any, seconds: int) -> Generator[
        simpy.Event, Any, tuple[StoredStudy, Doctor] | None]:
    """A stored study and a doctor its patient has just granted access to, for ``seconds``."""
    if not world.studies:
        return None
    study = rng.choice(world.studies)
    doctor = world._other_doctor(0, rng)
    if doctor is None:
        return None
    owner = world.patient_of(study.patient_id)
    out = yield from world.tx(owner.grant_call(doctor, world.driver.next_slot() + seconds,
                                               pmr_id=study.pmr_id))
    return (study, doctor) if out.ok else None


def _expired_grant(world: World, k: int) -> Proc:
    rng = world.rng(f"expired-{k}")
    granted = yield from _granted(world, rng, 3600)
    if granted is None:
        return
    study, doctor = granted
    sealed = world._send_essential(study, doctor, world.patient_of(study.patient_id))
    yield world.env.timeout(2 * HOUR)
    yield from world._forbidden_access(doctor, study, sealed, "expired_grant")


def _recorded_read(world: World, doctor: Doctor, study: StoredStudy) -> Generator[
        simpy.Event, Any, bytes | None]:
    """The doctor records a read of the study's PMR on chain; the mined use's hash, or None."""
    out = yield from world.tx(doctor.access_call(study.pmr_id, "pmr",
                                                 hospital_id=doctor.hospitals[0]))
    return out.receipt.tx_hash if out.ok else None


def _forged_essential(world: World, k: int) -> Proc:
    rng = world.rng(f"forged-{k}")
    granted = yield from _granted(world, rng, 86400)
    if granted is None:
        return
    study, doctor = granted
    use = yield from _recorded_read(world, doctor, study)
    if use is None:
        return
    forged = EssentialShare(study.record_id, study.essential.version, study.essential.key_epoch,
                            SecretBytes(rng.randbytes(32)))
    result = yield from world._rebuild(doctor, study, forged, use)
    _expect(world, "forged_essential_share", ("WrongEssentialShare",), result)


def _tampered_fragment(world: World, k: int) -> Proc:
    rng = world.rng(f"tampered-{k}")
    granted = yield from _granted(world, rng, 86400)
    if granted is None:
        return
    study, doctor = granted
    use = yield from _recorded_read(world, doctor, study)
    if use is None:
        return
    result = yield from world._rebuild(doctor, study, study.essential, use, tamper=True)
    _expect(world, "tampered_fragment", ("tampered-detected",), result)


#: Blocks back from the head that a replayed transaction is taken from.
REPLAY_WINDOW = 16


def _replay(world: World, k: int) -> Proc:
    rng = world.rng(f"replay-{k}")
    yield world.env.timeout(0)
    # a transaction seen recently (big runs keep only the chain's recent history)
    head = world.chain.block_number
    number = rng.randint(max(1, head - REPLAY_WINDOW + 1), head)
    receipts = world.chain.block(number).receipts
    if not receipts:
        return
    raw = world.chain.raw_transaction(rng.choice(receipts).tx_hash)
    try:
        world.chain.send_raw(raw)
        actual = "accepted"
    except ChainError:
        actual = "replay rejected"
    _expect(world, "replayed_transaction", ("replay rejected",), actual)


__all__ = ["start_adversaries"]
