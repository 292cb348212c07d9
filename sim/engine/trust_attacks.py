"""Adversaries of the trust model (``docs/trust-model.md``), one kind per rule.

Each attack makes its own target: a clinic (a hospital the regulator
verifies, its desk and lab, a doctor, a patient with a PMR of today), so
that suspending a hospital or ending an affiliation never disturbs the
scenario's population. Attacks whose forbidden calls change nothing the
others rely on share one clinic per run (:func:`shared_clinic`); those that
suspend, end affiliations, count break-glass openings or store a study make
their own. Every forbidden call is a real signed
transaction; each is recorded as an attempt with the reason the rule gives
and the attack returns its steps (what had to happen, what did), which the
run's accounts judge; an attack that could not make its target returns why.
"""

from __future__ import annotations

import datetime as dt
import functools
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine.accounting import Step
from sim.engine.texts import visit_record
from sim.protocol import (
    Desk,
    Device,
    Doctor,
    DoctorProfile,
    Hospital,
    HospitalProfile,
    Lab,
    LabFindings,
    Patient,
    PatientDetails,
    Reading,
    TestType,
    ids,
)
from sim.protocol.custodian import ANSWERED
from sim.protocol.deployment import REGULATOR_ROLE
from sim.protocol.outcome import Outcome, SlotWrites, stored_writes
from sim.protocol.wallet import REENTER, REFUSE, ContractPatient

if TYPE_CHECKING:
    from sim.engine.studies import StoredStudy
    from sim.engine.world import World

#: An attack's end: the steps it tried, or why it could not try.
Attack = Generator[simpy.Event, Any, list[Step] | str]
HOUR = 3600.0
DAY = 86400


class AttackSetupFailed(Exception):
    """Raised when an attack cannot make its target (a step it needs failed)."""


def attack(fn: Callable[[World, int, list[Step]], Generator[simpy.Event, Any, None]]
           ) -> Callable[[World, int], Attack]:
    """An attack: ``fn(world, k, steps)`` appends its steps; a failed setup returns why."""

    @functools.wraps(fn)
    def run(world: World, k: int) -> Attack:
        steps: list[Step] = []
        try:
            yield from fn(world, k, steps)
        except AttackSetupFailed as exc:
            return f"could not make its target: {exc}"
        return steps

    return run


def _forbidden(world: World, steps: list[Step], kind: str, reason: str, call: Any) -> Generator[
        simpy.Event, Any, Outcome]:
    """Send a forbidden ``call`` as a step of attack ``kind``; it must revert with ``reason``."""
    out: Outcome = yield from world.tx(call, attack=kind)
    steps.append(((reason,), out.reason or "succeeded"))
    return out


@dataclass
class Clinic:
    """An attack's own verified hospital with its staff, a doctor and a patient with a PMR."""

    hospital: Hospital
    desk: Desk
    lab: Lab
    doctor: Doctor
    patient: Patient
    pmr_id: int


def clinic(world: World, tag: str) -> Generator[simpy.Event, Any, Clinic]:
    """Make a :class:`Clinic` named ``tag`` (about nine transactions)."""
    p = world.protocol
    hospital = Hospital(p, f"{tag}-hospital")
    yield from _must(world, hospital.apply_call(HospitalProfile(
        f"GOVREG-{tag}", f"Clinic {tag}", "District 0", "General", "+91 0000000000")))
    yield from _must(world, world.regulators[0].verify_call(hospital))
    desk, lab = Desk(p, f"{tag}-desk"), Lab(p, f"{tag}-lab")
    yield from _must(world, hospital.add_operator_call(desk))
    yield from _must(world, hospital.add_operator_call(lab))
    doctor = Doctor(p, f"{tag}-doctor")
    yield from _must(world, hospital.onboard_call(doctor, DoctorProfile(
        f"UPRN-{tag}", f"Dr. {tag}", "General Medicine", "+91 0000000001")))
    patient = yield from register(world, desk, Patient(p, f"{tag}-patient"))
    out = yield from _must(world, doctor.create_pmr_call(
        patient.patient_id, world.today(), visit_record(world.rng(f"{tag}-visit")),
        hospital_id=hospital.hospital_id))
    assert out.issued is not None
    # the clinic joins the world's cast, so the invariants know its hospital, doctor and patient
    world.hospitals.append(hospital)
    world.desks.append(desk)
    world.labs.append(lab)
    world.doctors.append([doctor])
    world.pmrs[patient.patient_id] = [out.issued]
    return Clinic(hospital, desk, lab, doctor, patient, out.issued)


_SHARED: weakref.WeakKeyDictionary[Any, simpy.Event] = weakref.WeakKeyDictionary()


def shared_clinic(world: World) -> Generator[simpy.Event, Any, Clinic]:
    """The run's clinic for attacks that leave it as they found it (made by the first caller)."""
    made = _SHARED.get(world)
    if made is None:
        made = _SHARED[world] = world.env.event()
        try:
            c = yield from clinic(world, "adversaries")
        except AttackSetupFailed as exc:
            made.defused = True
            made.fail(exc)
            raise
        made.succeed(c)
        return c
    c = yield made
    assert isinstance(c, Clinic)
    return c


def _visit(c: Clinic) -> dt.date:
    """The date of the clinic's PMR (the day the clinic was made)."""
    return ids.split_pmr_id(c.pmr_id)[1]


def register(world: World, desk: Desk, patient: Patient) -> Generator[simpy.Event, Any, Patient]:
    """The desk registers ``patient`` with synthetic details (remembered for the PII search)."""
    name = f"Adversary Patient {patient.label}"
    world.ledger.remember(name)
    yield from _must(world, desk.register_call(patient, PatientDetails(
        name, 40, "F", 60.0, 160.0, "1 Test Road", "+91 0000000002", "adv@example.in")))
    world.patients.append(patient)
    return patient


def _must(world: World, call: Any) -> Generator[simpy.Event, Any, Outcome]:
    """Send a step the attack needs; a failure is an engine error, not an attack outcome."""
    out: Outcome = yield from world.tx(call)
    if not out.ok:  # also accounted as a failed operation
        raise AttackSetupFailed(f"{call.op}: {out.reason}")
    return out


def _raw(world: World, sender: Any, contract: str, fn: str, *args: Any) -> Any:
    """A raw call of ``contract.fn`` (no actor offers a forbidden call)."""
    return world.protocol.prepare(sender, contract, fn, args, writes=SlotWrites())


def _now(world: World) -> int:
    world.driver.ensure_fresh_head()
    return world.now_ts()


# -- governance and hospitals ---------------------------------------------------

@attack
def role_grab(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """R1: a verified hospital makes itself a regulator, rewires the registry and the token."""
    c = yield from shared_clinic(world)
    account = c.hospital.account
    missing = "access_control: account is missing role"
    yield from _forbidden(world, steps, "role_grab", missing, _raw(
        world, account, "HospitalRegistry", "grantRole", REGULATOR_ROLE, account.address))
    yield from _forbidden(world, steps, "role_grab", missing, _raw(
        world, account, "HospitalRegistry", "set_doctor_registry", account.address))
    yield from _forbidden(world, steps, "role_grab", "pmr_token: only the deployer wires", _raw(
        world, account, "PMRToken", "set_access_grants", account.address))


@attack
def registration_squatting(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """H1: a copycat files a pending applicant's Gov. Reg. ID; verifying it is refused."""
    p = world.protocol
    real, copycat = Hospital(p, f"squatted-{k}"), Hospital(p, f"squatter-{k}")
    profile = HospitalProfile(f"GOVREG-SQ-{k}", f"Squatted {k}", "District 1", "General", "none")
    yield from _must(world, real.apply_call(profile))
    yield from _must(world, copycat.apply_call(profile))
    yield from _must(world, world.regulators[0].verify_call(real))
    yield from _forbidden(world, steps, "registration_squatting",
                        "hospital_registry: registration id already used",
                        world.regulators[-1].verify_call(copycat))


@attack
def application_swap(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """H2: an applicant revises its application after the regulator's review."""
    applicant = Hospital(world.protocol, f"swapper-{k}")
    yield from _must(world, applicant.apply_call(HospitalProfile(
        f"GOVREG-SW-{k}", f"Honest Care {k}", "District 2", "General", "none")))
    reviewed = world.regulators[0].review(applicant)
    yield from _must(world, applicant.apply_call(HospitalProfile(  # another identity altogether
        f"GOVREG-SW-{k}-B", f"Other Care {k}", "District 3", "General", "none")))
    yield from _forbidden(world, steps, "application_swap",
                        "hospital_registry: application changed since review",
                        world.regulators[0].verify_call(applicant, reviewed))


@attack
def operator_role_abuse(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """H4: a lab onboards and registers, a desk posts a report and ends an affiliation."""
    c = yield from shared_clinic(world)
    p = world.protocol
    kind = "operator_role_abuse"
    yield from _forbidden(world, steps, kind, "hospital_registry: only the hospital account",
                        Hospital(p, c.lab.label).onboard_call(Doctor(p, f"roles-{k}-x"), DoctorProfile(
                            f"UPRN-roles-x-{k}", "Dr. X", "General", "none")))
    yield from _forbidden(world, steps, kind, "hospital_registry: not a desk operator",
                        Desk(p, c.lab.label).register_call(Patient(p, f"roles-{k}-y"), PatientDetails(
                            "Adversary Y", 30, "M", 70.0, 170.0, "2 Test Road", "+91 3", "y@ex.in")))
    yield from _forbidden(world, steps, kind, "hospital_registry: not a lab operator",
                        Lab(p, c.desk.label).post_report_call(c.pmr_id, _findings(world.today()),
                                                             b"\x01" * 32))
    yield from _forbidden(world, steps, kind, "hospital_registry: only the hospital account",
                        Hospital(p, c.desk.label).end_affiliation_call(c.doctor))


@attack
def operator_hijack(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """H5: a verified hospital names a pending applicant its operator to spoil its verification."""
    c = yield from shared_clinic(world)
    victim = Hospital(world.protocol, f"hijacked-{k}")
    yield from _must(world, victim.apply_call(HospitalProfile(
        f"GOVREG-HJ-{k}", f"Victim {k}", "District 4", "General", "none")))
    yield from _forbidden(world, steps, "operator_hijack", "hospital_registry: account is an applicant",
                        c.hospital.add_operator_call(victim))


# -- doctors --------------------------------------------------------------------

@attack
def lost_standing(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """D2: a doctor reads under a grant while its hospital is suspended, then after its
    affiliation ended."""
    c = yield from clinic(world, f"standing-{k}")
    kind = "lost_standing"
    yield from _must(world, c.patient.grant_call(c.doctor, _now(world) + DAY, pmr_id=c.pmr_id))
    regulator = world.regulators[0]
    yield from _must(world, regulator.status_call(c.hospital, "suspend"))
    yield from _forbidden(world, steps, kind, "doctor_registry: hospital not verified",
                        c.doctor.access_call(c.pmr_id, "pmr"))
    yield from _must(world, regulator.status_call(c.hospital, "reinstate"))
    yield from _must(world, c.hospital.end_affiliation_call(c.doctor))
    yield from _forbidden(world, steps, kind, "doctor_registry: doctor not affiliated with hospital",
                        c.doctor.access_call(c.pmr_id, "pmr"))


@attack
def uprn_squatting(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """D3: a hospital binds a real doctor's UPRN to its puppet; the regulator rebinds it, and
    the puppet is no doctor any more."""
    c = yield from shared_clinic(world)
    p = world.protocol
    kind = "uprn_squatting"
    uprn = DoctorProfile(f"UPRN-REAL-{k}", f"Dr. Real {k}", "Cardiology", "none")
    puppet, real = Doctor(p, f"uprn-{k}-puppet"), Doctor(p, f"uprn-{k}-real")
    yield from _must(world, c.hospital.onboard_call(puppet, uprn))
    yield from _forbidden(world, steps, kind, "doctor_registry: registration number bound to another account",
                        world.hospitals[0].onboard_call(real, uprn))
    yield from _forbidden(world, steps, kind, "doctor_registry: caller is not a regulator", _raw(
        world, c.hospital.account, "DoctorRegistry", "rebind", puppet.doctor_id, c.hospital.address))
    stolen = Doctor(p, puppet.label)
    stolen.doctor_id, stolen.hospitals = puppet.doctor_id, list(puppet.hospitals)
    yield from _must(world, world.regulators[0].rebind_call(puppet, real))
    yield from _forbidden(world, steps, kind, "doctor_registry: not a registered doctor",
                        stolen.create_pmr_call(c.patient.patient_id, world.today(),
                                               visit_record(world.rng(f"uprn-{k}")),
                                               hospital_id=c.hospital.hospital_id))


# -- records ----------------------------------------------------------------------

@attack
def foreign_version(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """P1: a doctor of another hospital adds a version to a record without a grant to write."""
    c = yield from shared_clinic(world)
    other = yield from clinic(world, f"version-{k}-other")
    yield from _forbidden(world, steps, "foreign_version",
                        "pmr_token: not the record's hospital and no write grant",
                        other.doctor.create_pmr_call(c.patient.patient_id, _visit(c),
                                                     visit_record(world.rng(f"version-{k}")),
                                                     hospital_id=other.hospital.hospital_id))


@attack
def bogus_visit_date(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """P2: a visit dated 2099, or 1900."""
    c = yield from shared_clinic(world)
    record = visit_record(world.rng(f"dates-{k}"))
    for day, reason in ((dt.date(2099, 1, 1), "pmr_token: visit date in the future"),
                        (dt.date(1900, 1, 1), "pmr_token: visit date too old")):
        yield from _forbidden(world, steps, "bogus_visit_date", reason, c.doctor.create_pmr_call(
            c.patient.patient_id, day, record, hospital_id=c.hospital.hospital_id))


@attack
def token_transfer(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """T1: a patient transfers its PMR to someone else."""
    c = yield from shared_clinic(world)
    to = world.protocol.account(f"transfer-{k}-buyer").address
    if world.sc.token == "erc721":
        call = _raw(world, c.patient.account, "PMRToken", "transferFrom", c.patient.address, to,
                    c.pmr_id)
    else:
        call = _raw(world, c.patient.account, "PMRToken", "safeTransferFrom", c.patient.address,
                    to, c.pmr_id, 1, b"")
    yield from _forbidden(world, steps, "token_transfer", "pmr_token: token is soulbound", call)


def _wallet_patient(world: World, c: Clinic, tag: str, mode: int) -> Generator[
        simpy.Event, Any, ContractPatient]:
    wallet = ContractPatient(world.protocol, tag)
    yield from _must(world, wallet.deploy_call(mode))
    yield from register(world, c.desk, wallet)
    return wallet


@attack
def reentrant_receiver(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """T2: a contract patient, onboarded as a doctor too, re-enters mint from its receiver hook."""
    c = yield from shared_clinic(world)
    wallet = yield from _wallet_patient(world, c, f"reenter-{k}-wallet", REENTER)
    assert wallet.wallet is not None
    p = world.protocol
    yield from _must(world, _onboard_address(world, c, wallet.address, f"UPRN-RE-{k}"))
    visit = ids.ddmmyyyy(world.today() + dt.timedelta(days=1))
    args: tuple[Any, ...] = ((c.patient.patient_id, visit, c.hospital.hospital_id, b"\x5e" * 32, 0x55)
                             if p.private else
                             (c.patient.patient_id, visit, c.hospital.hospital_id, ("r", "", "", "", "")))
    reentry = p.system.pmrs.calldata("mint" if p.private else "mint_paper", *args)
    yield from _must(world, wallet.wallet_call("set_reentry", p.system.pmrs.address, reentry))
    yield from _must(world, c.doctor.create_pmr_call(wallet.patient_id, world.today(),
                                                     visit_record(world.rng(f"re-{k}")),
                                                     hospital_id=c.hospital.hospital_id))
    reentered = bool(wallet.wallet.call("reentered"))
    steps.append((("refused",), "re-entered" if reentered else "refused"))


def _onboard_address(world: World, c: Clinic, address: bytes, uprn: str) -> Any:
    """The clinic's admin onboards ``address`` (a contract) as a new doctor."""
    p = world.protocol
    if p.private:
        fn = "onboard"
        args: tuple[Any, ...] = (address, uprn.encode().ljust(32, b"\0"), b"\x01" * 32,
                                 b"\x02" * 32)
        writes = SlotWrites(new=8, updated=1)
    else:
        fn = "onboard_paper"
        args = (address, uprn, "Dr. Wallet", "General", "none")
        writes = SlotWrites(new=6, updated=1) + stored_writes(*args[1:])
    return p.prepare(c.hospital.account, "DoctorRegistry", fn, args, writes=writes)


@attack
def refusing_receiver(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """T3: a contract patient refuses its PMR unit, hoping to block the record."""
    c = yield from shared_clinic(world)
    wallet = yield from _wallet_patient(world, c, f"refuse-{k}-wallet", REFUSE)
    out = yield from world.tx(c.doctor.create_pmr_call(
        wallet.patient_id, world.today(), visit_record(world.rng(f"refuse-{k}")),
        hospital_id=c.hospital.hospital_id), attack="refusing_receiver")
    steps.append((("recorded",), "recorded" if out.ok else "blocked"))


# -- grants and reads -------------------------------------------------------------

@attack
def unminted_grant(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """G2: a patient grants access to a visit that has no PMR."""
    c = yield from shared_clinic(world)
    missing = ids.pmr_id(c.patient.patient_id, _visit(c) - dt.timedelta(days=1))
    yield from _forbidden(world, steps, "unminted_grant", "access_grants: unknown PMR",
                        c.patient.grant_call(c.doctor, _now(world) + DAY, pmr_id=missing))


def a_study(world: World, tag: str) -> Generator[simpy.Event, Any, tuple[StoredStudy, Clinic]]:
    """A study stored with the custodians, at a clinic of the attack's own."""
    c = yield from clinic(world, tag)
    for attempt in range(3):
        study = yield from world._lab(c.patient, 0, c.pmr_id, world.rng(f"{tag}-lab-{attempt}"),
                                      lab=c.lab)
        if study is not None:
            world.studies.remove(study)  # the attack's own target, not one for other attacks
            return study, c
        yield world.env.timeout(HOUR)  # too few custodians online: try again
    raise AttackSetupFailed(f"{tag}: no study could be stored")


@attack
def custodian_replay(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """A1: a doctor presents one recorded read to the custodians twice."""
    study, c = yield from a_study(world, f"replay-read-{k}")
    yield from _must(world, c.patient.grant_call(c.doctor, _now(world) + DAY, pmr_id=c.pmr_id))
    sealed = world._send_essential(study, c.doctor, c.patient)
    first = yield from world._read(c.doctor, study, sealed)
    if first != "ok":
        raise AttackSetupFailed(f"replay-read-{k}: the honest read failed: {first}")
    use = world.tickets[(c.doctor.address, study.pmr_id)]
    reason = world.custodians[study.fragments[0][1]].refusal(study.record_id, c.doctor.address,
                                                              use)
    result = yield from world._rebuild(c.doctor, study, study.essential, use,
                                       attack="custodian_replay")
    steps.append((("denied",), "served" if result == "ok" else result))
    steps.append(((ANSWERED,), reason or "released"))


@attack
def scope_key_use(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """A2: a doctor logs a read under a scope key instead of a PMR-ID."""
    c = yield from shared_clinic(world)
    yield from _must(world, c.patient.grant_call(c.doctor, _now(world) + DAY))
    yield from _forbidden(world, steps, "scope_key_use", "access_grants: not a PMR-ID",
                        c.doctor.access_call((1 << 255) | c.patient.patient_id, "all",
                                             hospital_id=c.hospital.hospital_id))
    # the same grant used as it should be: the read is filed under the real Patient-ID
    yield from _must(world, c.doctor.access_call(c.pmr_id, "all", hospital_id=c.hospital.hospital_id))


# -- break-glass --------------------------------------------------------------------

@attack
def break_glass_flood(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """E1: a fourth break-glass opening on one patient within a week."""
    c = yield from clinic(world, f"flood-{k}")
    pid = c.patient.patient_id
    for _ in range(3):
        yield from _must(world, c.doctor.emergency_access_call(pid, 9))
    yield from _must(world, c.doctor.access_call(c.pmr_id, "emergency",
                                                 hospital_id=c.hospital.hospital_id))
    yield from _forbidden(world, steps, "break_glass_flood", "access_grants: break-glass limit reached",
                        c.doctor.emergency_access_call(pid, 9))
    for opening in range(3):
        yield from _must(world, c.hospital.review_emergency_call(c.doctor, opening))


@attack
def break_glass_after_close(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """E2: a doctor reads under break-glass after the patient closed it."""
    c = yield from clinic(world, f"closed-{k}")
    yield from _must(world, c.doctor.emergency_access_call(c.patient.patient_id, 9))
    yield from _must(world, c.patient.close_emergency_call(c.doctor))
    yield from _forbidden(world, steps, "break_glass_after_close", "access_grants: emergency access closed",
                        c.doctor.access_call(c.pmr_id, "emergency",
                                             hospital_id=c.hospital.hospital_id))
    yield from _must(world, c.hospital.review_emergency_call(c.doctor, 0))


@attack
def break_glass_unreviewed(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """E3: another hospital, then the doctor itself, review an opening; and when the run is long
    enough, the doctor opens again with the opening unreviewed for 72 hours."""
    c = yield from clinic(world, f"review-{k}")
    kind = "break_glass_unreviewed"
    yield from _must(world, c.doctor.emergency_access_call(c.patient.patient_id, 9))
    yield from _forbidden(world, steps, kind, "access_grants: only the hospital or a regulator reviews",
                        world.hospitals[0].review_emergency_call(c.doctor, 0))
    yield from _forbidden(world, steps, kind, "access_grants: a doctor cannot review its own opening", _raw(
        world, c.doctor.account, "AccessGrants", "review_emergency", c.doctor.address, 0, 1))
    if world.env.now + 73 * HOUR < world.duration:
        yield world.env.timeout(73 * HOUR)
        yield from _forbidden(world, steps, kind, "access_grants: break-glass review overdue",
                            c.doctor.emergency_access_call(c.patient.patient_id, 9))
    yield from _must(world, c.hospital.review_emergency_call(c.doctor, 0))


# -- labs ---------------------------------------------------------------------------

def _findings(day: dt.date) -> LabFindings:
    return LabFindings(TestType.BLOOD, day, 7, "routine check", "within range")


@attack
def foreign_lab_report(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """L1: another hospital's lab posts a report on a clinic's record, unreferred."""
    c = yield from shared_clinic(world)
    yield from _forbidden(world, steps, "foreign_lab_report",
                        "lab_reports: not the record's hospital and not referred",
                        world.labs[0].post_report_call(c.pmr_id, _findings(world.today()),
                                                       b"\x0f" * 32))


@attack
def bogus_capture_date(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """L2: a lab report captured in 2099, and one captured before the visit."""
    c = yield from shared_clinic(world)
    for day, reason in ((dt.date(2099, 1, 1), "lab_reports: capture date in the future"),
                        (_visit(c) - dt.timedelta(days=1),
                         "lab_reports: capture date before the visit")):
        yield from _forbidden(world, steps, "bogus_capture_date", reason,
                            c.lab.post_report_call(c.pmr_id, _findings(day), b"\x0e" * 32))


# -- devices ------------------------------------------------------------------------

def _device_proposed(world: World, c: Clinic, tag: str) -> Generator[simpy.Event, Any, Device]:
    device = Device(world.protocol, tag)
    yield from _must(world, c.desk.bind_device_call(device, c.patient))
    return device


def _anchor(world: World, device: Device) -> Any:
    now = _now(world)
    return device.anchor_call([Reading(1, 97, now - 30)], now - 60, now - 1)


@attack
def device_without_consent(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """I1: a device anchors for a patient who never accepted it."""
    c = yield from shared_clinic(world)
    device = yield from _device_proposed(world, c, f"consent-{k}-device")
    yield from _forbidden(world, steps, "device_without_consent",
                        "iomt_anchor: binding not accepted by the patient", _anchor(world, device))


@attack
def device_unbind_by_stranger(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """I2: another hospital's desk unbinds a patient's device."""
    c = yield from shared_clinic(world)
    device = yield from _device_proposed(world, c, f"unbind-{k}-device")
    yield from _must(world, c.patient.accept_device_call(device))
    call = world.desks[0]._call("IoMTAnchor", "unbind_device", (device.address,), SlotWrites())
    yield from _forbidden(world, steps, "device_unbind_by_stranger",
                        "iomt_anchor: only the patient, the hospital's desk or a regulator unbinds",
                        call)


@attack
def suspended_device(world: World, k: int, steps: list[Step]) -> Generator[simpy.Event, Any, None]:
    """I3: a device of a suspended hospital anchors."""
    c = yield from clinic(world, f"suspended-device-{k}")
    device = yield from _device_proposed(world, c, f"suspended-device-{k}-device")
    yield from _must(world, c.patient.accept_device_call(device))
    regulator = world.regulators[0]
    yield from _must(world, regulator.status_call(c.hospital, "suspend"))
    yield from _forbidden(world, steps, "suspended_device", "iomt_anchor: binding hospital not verified",
                        _anchor(world, device))
    yield from _must(world, regulator.status_call(c.hospital, "reinstate"))


__all__ = [
    "AttackSetupFailed",
    "Clinic",
    "a_study",
    "application_swap",
    "attack",
    "bogus_capture_date",
    "bogus_visit_date",
    "break_glass_after_close",
    "break_glass_flood",
    "break_glass_unreviewed",
    "clinic",
    "custodian_replay",
    "device_unbind_by_stranger",
    "device_without_consent",
    "foreign_lab_report",
    "foreign_version",
    "lost_standing",
    "operator_hijack",
    "operator_role_abuse",
    "reentrant_receiver",
    "refusing_receiver",
    "registration_squatting",
    "role_grab",
    "scope_key_use",
    "suspended_device",
    "token_transfer",
    "unminted_grant",
    "uprn_squatting",
]
