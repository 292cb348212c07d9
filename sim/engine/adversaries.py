"""Adversaries: every forbidden path of the protocol, tried as configured and expected to fail.

Each configured attempt starts at a random time after setup, finds or makes
its target (a registered patient, a stored study, a grant it has the patient
make, a mined transaction), waiting for the workload to produce one while
the run lasts, and then tries the forbidden step. Its outcome goes to the
run's :class:`~sim.engine.accounting.Accounts`: attempted and denied for an
expected reason, or succeeded, or denied for another reason; an attempt that
could not be made says why, and counts against the configuration (the
``attacks`` check). On-chain steps are real signed transactions (so their
reverts are in the trace and the audit log); off-chain ones go through the
custodians and the sharing scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

import simpy

from sim.engine import trust_attacks as trust
from sim.engine.accounting import Step
from sim.engine.studies import StoredStudy
from sim.errors import ChainError
from sim.privacy.material import EssentialShare, SecretBytes
from sim.protocol import Doctor, DoctorProfile, Hospital, HospitalProfile, Patient, VisitRecord

if TYPE_CHECKING:
    from sim.engine.world import World

T = TypeVar("T")
#: An attack's end: the steps it tried, or why it could not try.
Result = list[Step] | str
Attack = Generator[simpy.Event, Any, Result]
HOUR = 3600.0
#: Tries an attack makes when the target it made turned out not to be one (another grant
#: opened a window) or the storage it needs was down.
TRIES = 5


def start_adversaries(world: World) -> None:
    """Schedule the scenario's adversarial attempts at random times after setup."""
    config = world.sc.adversaries
    rng = world.rng("adversaries")
    span = max(world.duration - world.env.now, 1.0)
    for kind, attack in ATTACKS.items():
        for k in range(getattr(config, kind)):
            delay = rng.uniform(0.25, 0.6) * span
            world.env.process(_attempt(world, kind, attack, k, delay))


def _attempt(world: World, kind: str, attack: Callable[[World, int], Attack], k: int,
             delay: float) -> Generator[simpy.Event, Any, None]:
    """Run attempt ``k`` of ``kind`` after ``delay`` and account for it."""
    yield world.env.timeout(delay)
    result = yield from attack(world, k)
    now = world.env.now
    if isinstance(result, str):
        world.accounts.missed(kind, result)
        world.trace.write("attack", now, attack=kind, expected=[], actual="not attempted",
                          reason=result)
        return
    for expected, actual in result:
        world.trace.write("attack", now, attack=kind, expected=list(expected), actual=actual)
    world.accounts.attempted(kind, result, f"attempt {k} at t={now:.0f}")


def _wait_for(world: World, find: Callable[[], T | None], *, room: float = HOUR
              ) -> Generator[simpy.Event, Any, T | None]:
    """``find()``'s first non-None answer, asked every simulated hour while at least ``room``
    seconds of the run remain; None when the run ends first."""
    while True:
        found = find()
        if found is not None:
            return found
        if world.env.now + HOUR + room >= world.duration:
            return None
        yield world.env.timeout(HOUR)


def _registered(world: World) -> list[Patient]:
    return [p for p in world.patients if p.patient_id]


def _unregistered_hospital(world: World, k: int) -> Attack:
    rogue = Hospital(world.protocol, f"rogue-hospital-{k}")
    if k % 2 == 0:  # half of them applied but were never verified
        yield from world.tx(rogue.apply_call(HospitalProfile(
            f"ROGUE-{k}", f"Rogue Clinic {k}", "unknown", "general", "none")))
    victim = Doctor(world.protocol, f"rogue-doctor-{k}")
    out = yield from world.tx(rogue.onboard_call(victim, DoctorProfile(
        f"FAKE-{k:05d}", f"Dr. Fake {k}", "general", "none")), attack="unregistered_hospital")
    return [(("hospital_registry: hospital not verified",
              "hospital_registry: not a hospital operator"), out.reason or "succeeded")]


def _foreign_doctor(world: World, k: int) -> Attack:
    rng = world.rng(f"foreign-{k}")
    staffed = [h for h, ds in enumerate(world._onboarded) if ds]
    verified = [h for h, hospital in enumerate(world.hospitals) if hospital.hospital_id]
    pairs = [(h, o) for h in staffed for o in verified if o != h]
    if not pairs:
        return (f"needs a hospital with a doctor and another verified hospital; "
                f"{len(staffed)} staffed, {len(verified)} verified")
    patients = yield from _wait_for(world, lambda: _registered(world) or None)
    if patients is None:
        return "no patient was registered before the run ended"
    h, other = rng.choice(pairs)
    doctor = rng.choice(world._onboarded[h])
    patient = rng.choice(patients)
    out = yield from world.tx(doctor.create_pmr_call(
        patient.patient_id, world.today(), VisitRecord("x", "x", "x", "x"),
        hospital_id=world.hospitals[other].hospital_id), attack="foreign_doctor")
    return [(("doctor_registry: doctor not affiliated with hospital",), out.reason or "succeeded")]


def _non_owner_grant(world: World, k: int) -> Attack:
    rng = world.rng(f"non-owner-{k}")
    doctors = [d for ds in world._onboarded for d in ds]
    if not doctors:
        return "no doctor was onboarded"

    def find() -> tuple[list[Patient], list[Patient]] | None:
        owners = [p for p in world.patients if world.pmrs.get(p.patient_id)]
        others = _registered(world)
        return (owners, others) if owners and len(others) >= 2 else None

    found = yield from _wait_for(world, find)
    if found is None:
        return "no two registered patients, one with a PMR, before the run ended"
    owners, others = found
    owner = rng.choice(owners)
    thief = rng.choice([p for p in others if p is not owner])
    doctor = rng.choice(doctors)
    out = yield from world.tx(thief.grant_call(doctor, world.now_ts() + 86400,
                                               pmr_id=world.pmrs[owner.patient_id][0]),
                              attack="non_owner_grant")
    return [(("access_grants: not the record owner",), out.reason or "succeeded")]


def _granted(world: World, rng: Any, seconds: int, *, room: float
             ) -> Generator[simpy.Event, Any, tuple[StoredStudy, Doctor] | str]:
    """A stored study and a doctor its patient has just granted access to, for ``seconds``
    (or why there is none): the attack's target, made."""
    found = yield from _wait_for(world, lambda: world.studies or None, room=room)
    if found is None:
        return "no lab report was stored before the run ended"
    study = rng.choice(found)
    doctor = world._other_doctor(0, rng)
    if doctor is None:
        return "no doctor was onboarded"
    owner = world.patient_of(study.patient_id)
    out = yield from world.tx(owner.grant_call(doctor, world.driver.next_slot() + seconds,
                                               pmr_id=study.pmr_id))
    if not out.ok:  # an ordinary grant: its failure is also a failed operation
        return f"the patient's grant reverted ({out.reason})"
    return study, doctor


def _expired_grant(world: World, k: int) -> Attack:
    rng = world.rng(f"expired-{k}")
    why = ""
    for _ in range(TRIES):
        granted = yield from _granted(world, rng, 3600, room=3 * HOUR)
        if isinstance(granted, str):
            return granted
        study, doctor = granted
        sealed = world._send_essential(study, doctor, world.patient_of(study.patient_id))
        yield world.env.timeout(2 * HOUR)
        steps = yield from world._forbidden_access(doctor, study, sealed, "expired_grant")
        if steps:
            return steps
        why = "the doctor held another valid grant on the record at every try"
    return why


def _rebuild_attack(world: World, k: int, kind: str, expected: tuple[str, ...], *,
                    forge: bool) -> Attack:
    """Rebuild a granted study with a forged essential share, or with a tampered fragment."""
    rng = world.rng(f"{'forged' if forge else 'tampered'}-{k}")
    granted = yield from _granted(world, rng, 86400, room=(TRIES + 1) * HOUR)
    if isinstance(granted, str):
        return granted
    study, doctor = granted
    essential = study.essential
    if forge:
        essential = EssentialShare(study.record_id, essential.version, essential.key_epoch,
                                   SecretBytes(rng.randbytes(32)))
    for _ in range(TRIES):  # the storage it needs may be down for a while (churn)
        # the doctor records the read on chain (an ordinary, granted read): the custodians
        # answer it once, so each try is a read of its own
        read = yield from world.tx(doctor.access_call(study.pmr_id, "pmr",
                                                      hospital_id=doctor.hospitals[0]))
        if not read.ok:
            return f"the doctor's granted read reverted ({read.reason})"
        result = yield from world._rebuild(doctor, study, essential, read.receipt.tx_hash,
                                           tamper=not forge, attack=kind)
        if result != "unavailable":
            return [(expected, result)]
        yield world.env.timeout(HOUR)
    return f"the record's storage stayed unavailable for {TRIES} hours ({world.storage_fault()})"


def _forged_essential(world: World, k: int) -> Attack:
    return (yield from _rebuild_attack(world, k, "forged_essential_share",
                                       ("WrongEssentialShare",), forge=True))


def _tampered_fragment(world: World, k: int) -> Attack:
    # with a spare custodian the tampered fragment is detected and the record rebuilt from the
    # others; with exactly t custodians it is refused
    return (yield from _rebuild_attack(world, k, "tampered_fragment",
                                       ("tampered-detected", "IntegrityError"), forge=False))


#: Blocks back from the head that a replayed transaction is taken from.
REPLAY_WINDOW = 16


def _replay(world: World, k: int) -> Attack:
    rng = world.rng(f"replay-{k}")
    yield world.env.timeout(0)
    chain = world.chain
    head = chain.block_number
    first = rng.randint(max(1, head - REPLAY_WINDOW + 1), head)
    # a transaction seen recently: the chosen block, else the nearest earlier one holding one
    # (big runs keep only the chain's recent history)
    receipts: tuple[Any, ...] = ()
    for number in range(first, 0, -1):
        try:
            receipts = chain.block(number).receipts
        except ChainError:
            break
        if receipts:
            break
    if not receipts:
        return f"no mined transaction in the chain's history at block {head}"
    raw = chain.raw_transaction(rng.choice(receipts).tx_hash)
    try:
        chain.send_raw(raw)
        actual = "accepted"
    except ChainError:
        actual = "replay rejected"
    return [(("replay rejected",), actual)]


#: Every adversary kind of :class:`~sim.engine.scenario.AdversaryConfig` and its attempt.
ATTACKS: dict[str, Callable[[World, int], Attack]] = {
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

__all__ = ["ATTACKS", "start_adversaries"]
