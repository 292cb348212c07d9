# pragma version ~=0.4.3
"""
@title AccessGrants
@custom:contract-name AccessGrants
@license MIT
@notice The paper's "patient visits a different practitioner": the
        patient grants a registered doctor access to one minted PMR, or
        to all their records, until an expiry time, optionally allowing
        the doctor to add versions; access ends by itself at expiry and
        the patient may revoke early (trust model rules G1-G3).

        Every read is on chain (rule A1): a doctor records each access
        with `use`, naming the record, the window it reads under (grant
        for the PMR, grant for all records, or emergency) and the
        hospital it acts for; `use` succeeds only while that window is
        open and the doctor stands at that hospital (active, affiliated,
        hospital verified). Custodians release key shares only for a
        mined `use`, one release per `use`, so the audit log is complete
        by construction.

        Break-glass (rules E1-E5): a doctor standing at a verified
        hospital opens emergency access to a patient's records for at
        most EMERGENCY_DURATION, at most EMERGENCY_LIMIT times per
        patient in EMERGENCY_PERIOD, with a reason code; the patient or a
        regulator may close it; the hospital's admin or a regulator
        reviews each opening, oldest first, and a doctor with an opening
        unreviewed for REVIEW_PERIOD opens no more until it is reviewed. Every grant,
        revoke, use, opening, closing and review is an event: the chain's
        audit log.
"""

from interfaces import IDoctorRegistry
from interfaces import IHospitalRegistry
from interfaces import IPatientRegistry
from interfaces import IPMRToken
import modules.pmr_ids as pmr_ids

#: Scope key for "all records of a patient": SCOPE_ALL | patient_id.
SCOPE_ALL: public(constant(uint256)) = 1 << 255
MAX_GRANT_DURATION: public(constant(uint256)) = 366 * 86400
#: Break-glass: window length, openings allowed per doctor and patient per period, review deadline.
EMERGENCY_DURATION: public(constant(uint256)) = 4 * 3600
EMERGENCY_LIMIT: public(constant(uint256)) = 3
EMERGENCY_PERIOD: public(constant(uint256)) = 7 * 86400
REVIEW_PERIOD: public(constant(uint256)) = 72 * 3600

#: Kinds of access window, as `use` names them and AccessUsed logs them.
KIND_PMR: public(constant(uint256)) = 1
KIND_ALL: public(constant(uint256)) = 2
KIND_EMERGENCY: public(constant(uint256)) = 3
#: Review verdicts.
VERDICT_JUSTIFIED: public(constant(uint256)) = 1
VERDICT_UNJUSTIFIED: public(constant(uint256)) = 2

REGULATOR_ROLE: constant(bytes32) = keccak256("REGULATOR_ROLE")
ROLE_ADMIN: constant(uint256) = 1
_REVOKED: constant(uint256) = 1
_U40: constant(uint256) = (1 << 40) - 1
_U64: constant(uint256) = (1 << 64) - 1
_U128: constant(uint256) = (1 << 128) - 1
_CLOSED: constant(uint256) = 1 << 255


event AccessGranted:
    patient_id: indexed(uint256)
    grantee: indexed(address)
    pmr_id: indexed(uint256)
    expiry: uint256
    can_write: bool


event AccessRevoked:
    patient_id: indexed(uint256)
    grantee: indexed(address)
    pmr_id: indexed(uint256)


event AccessUsed:
    patient_id: indexed(uint256)
    grantee: indexed(address)
    pmr_id: indexed(uint256)
    kind: uint256
    expiry: uint256
    hospital_id: uint256


event EmergencyAccess:
    patient_id: indexed(uint256)
    doctor: indexed(address)
    hospital_id: indexed(uint256)
    reason_code: uint256
    expiry: uint256
    opening: uint256


event EmergencyClosed:
    patient_id: indexed(uint256)
    doctor: indexed(address)
    closed_by: indexed(address)


event EmergencyReviewed:
    patient_id: indexed(uint256)
    doctor: indexed(address)
    reviewer: indexed(address)
    opening: uint256
    hospital_id: uint256
    verdict: uint256


HOSPITALS: public(immutable(IHospitalRegistry))
DOCTORS: public(immutable(IDoctorRegistry))
PATIENTS: public(immutable(IPatientRegistry))
PMRS: public(immutable(IPMRToken))

# grantee -> scope key (PMR-ID, or SCOPE_ALL | Patient-ID) -> can_write << 64 | expiry (1 = revoked)
_grants: HashMap[address, HashMap[uint256, uint256]]
# doctor -> Patient-ID -> closed << 255 | hospital << 128 | last three opening times (40 bits each, newest lowest)
_glass: HashMap[address, HashMap[uint256, uint256]]
# doctor -> opening number -> verdict << 192 | hospital << 128 | patient << 64 | opened at
_openings: HashMap[address, HashMap[uint256, uint256]]
# doctor -> opening time of the oldest unreviewed opening (0: none) << 128
#           | index of the oldest unreviewed opening << 64 | number of openings
# (reviews go oldest first; the time kept here spares a read of the opening)
_queue: HashMap[address, uint256]


@deploy
def __init__(hospitals: IHospitalRegistry, doctors: IDoctorRegistry, patients: IPatientRegistry, pmrs: IPMRToken):
    """
    @dev Wire the contract to the registries and the PMR token.
    @param hospitals The HospitalRegistry (regulators, hospital admins).
    @param doctors The DoctorRegistry (doctors' standing).
    @param patients The PatientRegistry.
    @param pmrs The PMR token (PMRToken or PMRMulti).
    """
    HOSPITALS = hospitals
    DOCTORS = doctors
    PATIENTS = patients
    PMRS = pmrs


@external
def grant(grantee: address, pmr_id: uint256, expiry: uint256, can_write: bool):
    """
    @dev The patient grants a registered, active doctor access until `expiry`.
    @param grantee The doctor's account.
    @param pmr_id A minted PMR of the caller, or 0 for all of the patient's records.
    @param expiry Block time (seconds) at which the access ends by itself.
    @param can_write True to let the doctor add versions to the record(s) too.
    """
    patient_id: uint256 = 0
    if pmr_id == 0:
        patient_id = self._caller_patient()
    else:
        owner: address = empty(address)
        record_hospital: uint256 = 0
        owner, record_hospital = staticcall PMRS.record_of(pmr_id)
        if owner != msg.sender:
            assert owner != empty(address), "access_grants: unknown PMR"
            patient_id = self._caller_patient()
            raise "access_grants: not the record owner"
        patient_id = pmr_id // pmr_ids.DATE_BASE
    assert expiry > block.timestamp, "access_grants: expiry in the past"
    assert expiry <= block.timestamp + MAX_GRANT_DURATION, "access_grants: grant too long"
    doctor_id: uint256 = staticcall DOCTORS.active_doctor(grantee)
    key: uint256 = pmr_id
    if pmr_id == 0:
        key = SCOPE_ALL | patient_id
    self._grants[grantee][key] = (convert(can_write, uint256) << 64) | expiry
    log AccessGranted(patient_id=patient_id, grantee=grantee, pmr_id=pmr_id, expiry=expiry, can_write=can_write)


@external
def revoke(grantee: address, pmr_id: uint256):
    """
    @dev The patient ends a grant before its expiry.
    @param grantee The doctor's account.
    @param pmr_id The PMR of the grant, or 0 for the all-records grant.
    """
    patient_id: uint256 = self._caller_patient()
    key: uint256 = SCOPE_ALL | patient_id
    if pmr_id != 0:
        assert pmr_id // pmr_ids.DATE_BASE == patient_id, "access_grants: not the record owner"
        key = pmr_id
    assert self._grants[grantee][key] & _U64 > block.timestamp, "access_grants: no active grant"
    self._grants[grantee][key] = _REVOKED
    log AccessRevoked(patient_id=patient_id, grantee=grantee, pmr_id=pmr_id)


@external
def use(pmr_id: uint256, kind: uint256, hospital_id: uint256):
    """
    @dev A doctor records one access to a PMR; reverts unless the named window is open now
         and the doctor stands at the named hospital. Custodians answer each `use` once.
    @param pmr_id The PMR accessed (a well-formed PMR-ID, dated no later than tomorrow).
    @param kind KIND_PMR, KIND_ALL or KIND_EMERGENCY: the window the doctor reads under.
    @param hospital_id The hospital the doctor acts for.
    """
    patient_id: uint256 = self._patient_of_record(pmr_id)
    expiry: uint256 = 0
    if kind == KIND_EMERGENCY:
        expiry = self._emergency_window(msg.sender, patient_id, hospital_id)
    else:
        key: uint256 = pmr_id
        if kind == KIND_ALL:
            key = SCOPE_ALL | patient_id
        else:
            assert kind == KIND_PMR, "access_grants: unknown access kind"
        expiry = self._grants[msg.sender][key] & _U64
        if expiry <= block.timestamp:
            assert expiry != _REVOKED, "access_grants: grant revoked"
            assert expiry == 0, "access_grants: grant expired"
            raise "access_grants: no grant"
    doctor_id: uint256 = staticcall DOCTORS.check_doctor(msg.sender, hospital_id)
    log AccessUsed(
        patient_id=patient_id, grantee=msg.sender, pmr_id=pmr_id, kind=kind, expiry=expiry, hospital_id=hospital_id
    )


@external
def emergency_access(patient_id: uint256, hospital_id: uint256, reason_code: uint256):
    """
    @dev Break-glass: a doctor standing at a verified hospital opens access to a patient's
         records for EMERGENCY_DURATION (at most EMERGENCY_LIMIT openings per patient per
         EMERGENCY_PERIOD; none while an opening of the doctor is unreviewed past REVIEW_PERIOD).
    @param patient_id The patient.
    @param hospital_id The hospital the doctor acts for (its admin reviews the opening).
    @param reason_code Coded reason (non-zero), kept in the audit log.
    """
    assert reason_code != 0, "access_grants: reason required"
    doctor_id: uint256 = staticcall DOCTORS.check_doctor(msg.sender, hospital_id)
    patient: address = staticcall PATIENTS.account_of(patient_id)
    now: uint256 = block.timestamp
    queue: uint256 = self._queue[msg.sender]
    count: uint256 = queue & _U64
    pending_since: uint256 = queue >> 128
    assert pending_since == 0 or pending_since + REVIEW_PERIOD > now, "access_grants: break-glass review overdue"
    glass: uint256 = self._glass[msg.sender][patient_id]
    # (no third opening reads as time zero, long past: one test, the same gas either way)
    third: uint256 = (glass >> 80) & _U40
    assert third + EMERGENCY_PERIOD <= now, "access_grants: break-glass limit reached"
    self._glass[msg.sender][patient_id] = (hospital_id << 128) | ((glass & ((1 << 80) - 1)) << 40) | now
    self._openings[msg.sender][count] = (hospital_id << 128) | (patient_id << 64) | now
    if pending_since == 0:
        pending_since = now  # this opening is now the oldest unreviewed
    self._queue[msg.sender] = (pending_since << 128) | (queue & ((1 << 128) - (1 << 64))) | (count + 1)
    log EmergencyAccess(
        patient_id=patient_id,
        doctor=msg.sender,
        hospital_id=hospital_id,
        reason_code=reason_code,
        expiry=now + EMERGENCY_DURATION,
        opening=count,
    )


@external
def close_emergency(doctor: address, patient_id: uint256):
    """
    @dev The patient, or a regulator, closes a doctor's open emergency access early.
    @param doctor The doctor's account.
    @param patient_id The patient.
    """
    if staticcall PATIENTS.patient_id_of(msg.sender) != patient_id:
        assert staticcall HOSPITALS.hasRole(REGULATOR_ROLE, msg.sender), "access_grants: only the patient or a regulator closes"
    glass: uint256 = self._glass[doctor][patient_id]
    assert glass & _CLOSED == 0 and (glass & _U40) + EMERGENCY_DURATION > block.timestamp, "access_grants: no open emergency access"
    self._glass[doctor][patient_id] = glass | _CLOSED
    log EmergencyClosed(patient_id=patient_id, doctor=doctor, closed_by=msg.sender)


@external
def review_emergency(doctor: address, opening: uint256, verdict: uint256):
    """
    @dev The admin of the hospital the doctor acted for, or a regulator, reviews a doctor's
         oldest unreviewed break-glass opening.
    @param doctor The doctor's account.
    @param opening The opening's number (EmergencyAccess.opening): the oldest not reviewed yet.
    @param verdict VERDICT_JUSTIFIED or VERDICT_UNJUSTIFIED.
    """
    assert verdict == VERDICT_JUSTIFIED or verdict == VERDICT_UNJUSTIFIED, "access_grants: unknown verdict"
    assert msg.sender != doctor, "access_grants: a doctor cannot review its own opening"
    queue: uint256 = self._queue[doctor]
    count: uint256 = queue & _U64
    oldest: uint256 = (queue >> 64) & _U64
    assert opening < count, "access_grants: no such opening"
    assert opening >= oldest, "access_grants: opening already reviewed"
    assert opening == oldest, "access_grants: review the oldest opening first"
    record: uint256 = self._openings[doctor][opening]
    hospital_id: uint256 = (record >> 128) & _U64
    if not staticcall HOSPITALS.hasRole(REGULATOR_ROLE, msg.sender):
        staff: uint256 = 0
        role: uint256 = 0
        staff, role = staticcall HOSPITALS.staff_of(msg.sender)
        assert (
            staff == hospital_id and role == ROLE_ADMIN and staticcall HOSPITALS.is_verified(hospital_id)
        ), "access_grants: only the hospital or a regulator reviews"
    self._openings[doctor][opening] = record | (verdict << 192)
    # the next opening (an empty slot when there is none) becomes the oldest unreviewed
    following: uint256 = self._openings[doctor][opening + 1] & _U64
    self._queue[doctor] = (following << 128) | ((opening + 1) << 64) | count
    log EmergencyReviewed(
        patient_id=(record >> 64) & _U64,
        doctor=doctor,
        reviewer=msg.sender,
        opening=opening,
        hospital_id=hospital_id,
        verdict=verdict,
    )


@external
@view
def can_write(doctor: address, pmr_id: uint256) -> bool:
    """
    @dev True while `doctor` holds an unexpired grant for `pmr_id` (or all its patient's records) that allows writing.
    @param doctor The doctor's account.
    @param pmr_id The PMR-ID.
    @return bool Whether the grant allows adding a version now.
    """
    now: uint256 = block.timestamp
    packed: uint256 = self._grants[doctor][pmr_id]
    if packed >> 64 == 1 and packed & _U64 > now:
        return True
    packed = self._grants[doctor][SCOPE_ALL | pmr_id // pmr_ids.DATE_BASE]
    return packed >> 64 == 1 and packed & _U64 > now


@external
@view
def is_valid(grantee: address, pmr_id: uint256, hospital_id: uint256) -> bool:
    """
    @dev Whether `use(pmr_id, kind, hospital_id)` would succeed now for some kind.
    @param grantee The doctor's account.
    @param pmr_id The PMR-ID.
    @param hospital_id The hospital the doctor acts for.
    @return bool True while a window is open and the doctor stands at the hospital.
    """
    return self._window_kind(grantee, pmr_id, hospital_id) != 0 and staticcall DOCTORS.in_standing(grantee, hospital_id)


@external
@view
def window_of(grantee: address, pmr_id: uint256, hospital_id: uint256) -> uint256:
    """
    @dev The first open window (KIND_PMR, KIND_ALL, KIND_EMERGENCY) covering the PMR now, 0 if none (standing not checked).
    @param grantee The doctor's account.
    @param pmr_id The PMR-ID.
    @param hospital_id The hospital the doctor acts for (emergency windows are per hospital).
    @return uint256 The kind, or 0.
    """
    return self._window_kind(grantee, pmr_id, hospital_id)


@external
@view
def expiry_of(grantee: address, pmr_id: uint256) -> uint256:
    """
    @dev The stored expiry of a grant (0 never granted, 1 revoked).
    @param grantee The doctor's account.
    @param pmr_id The PMR-ID, or SCOPE_ALL | Patient-ID for an all-records grant.
    @return uint256 The expiry time.
    """
    return self._grants[grantee][pmr_id] & _U64


@external
@view
def emergency_of(doctor: address, patient_id: uint256) -> (uint256, uint256, bool, uint256):
    """
    @dev A doctor's emergency access to a patient.
    @param doctor The doctor's account.
    @param patient_id The patient.
    @return uint256 Expiry of the latest opening (0 if none).
    @return uint256 The hospital it was opened for.
    @return bool Whether it was closed early.
    @return uint256 Openings within the last EMERGENCY_PERIOD.
    """
    glass: uint256 = self._glass[doctor][patient_id]
    if glass == 0:
        return 0, 0, False, 0
    recent: uint256 = 0
    for i: uint256 in range(EMERGENCY_LIMIT):
        opened: uint256 = (glass >> (40 * i)) & _U40
        if opened != 0 and opened + EMERGENCY_PERIOD > block.timestamp:
            recent += 1
    return (glass & _U40) + EMERGENCY_DURATION, (glass >> 128) & _U64, glass & _CLOSED != 0, recent


@external
@view
def opening_of(doctor: address, opening: uint256) -> (uint256, uint256, uint256, uint256):
    """
    @dev One break-glass opening of a doctor.
    @param doctor The doctor's account.
    @param opening The opening's number.
    @return uint256 The Patient-ID.
    @return uint256 The Hospital-ID.
    @return uint256 When it was opened.
    @return uint256 The review verdict (0 not reviewed yet).
    """
    assert opening < self._queue[doctor] & _U64, "access_grants: no such opening"
    record: uint256 = self._openings[doctor][opening]
    return (record >> 64) & _U64, (record >> 128) & _U64, record & _U64, record >> 192


@external
@view
def review_queue(doctor: address) -> (uint256, uint256):
    """
    @dev A doctor's break-glass openings: how many, and the first one possibly unreviewed.
    @param doctor The doctor's account.
    @return uint256 The number of openings.
    @return uint256 The index of the oldest unreviewed opening (= the number when all are).
    """
    queue: uint256 = self._queue[doctor]
    return queue & _U64, (queue >> 64) & _U64


@internal
@view
def _caller_patient() -> uint256:
    """
    @dev The caller's Patient-ID; reverts unless the caller is a registered patient.
    @return uint256 The Patient-ID.
    """
    patient_id: uint256 = staticcall PATIENTS.patient_id_of(msg.sender)
    assert patient_id != 0, "access_grants: caller is not a registered patient"
    return patient_id


@internal
@view
def _patient_of_record(pmr_id: uint256) -> uint256:
    """
    @dev The Patient-ID of a well-formed PMR-ID whose date is not after tomorrow; reverts otherwise.
    @param pmr_id The PMR-ID.
    @return uint256 The Patient-ID.
    """
    patient_id: uint256 = pmr_id // pmr_ids.DATE_BASE
    date: uint256 = pmr_id % pmr_ids.DATE_BASE
    assert (
        patient_id != 0
        and patient_id <= pmr_ids.MAX_PATIENT_ID
        and pmr_ids._is_valid_date(date)
        and pmr_ids._civil_day(date) <= pmr_ids._today() + 1
    ), "access_grants: not a PMR-ID"
    return patient_id


@internal
@view
def _emergency_window(doctor: address, patient_id: uint256, hospital_id: uint256) -> uint256:
    """
    @dev Expiry of the doctor's open emergency window on the patient for the hospital; reverts naming why none is.
    @param doctor The doctor's account.
    @param patient_id The patient.
    @param hospital_id The hospital the doctor acts for.
    @return uint256 The expiry.
    """
    glass: uint256 = self._glass[doctor][patient_id]
    assert glass != 0, "access_grants: no emergency access"
    assert glass & _CLOSED == 0, "access_grants: emergency access closed"
    expiry: uint256 = (glass & _U40) + EMERGENCY_DURATION
    assert expiry > block.timestamp, "access_grants: emergency access expired"
    assert (glass >> 128) & _U64 == hospital_id, "access_grants: emergency access opened for another hospital"
    return expiry


@internal
@view
def _window_kind(grantee: address, pmr_id: uint256, hospital_id: uint256) -> uint256:
    """
    @dev The first open window covering the PMR now (0 if none); never reverts.
    @param grantee The doctor's account.
    @param pmr_id The PMR-ID.
    @param hospital_id The hospital the doctor acts for.
    @return uint256 The kind, or 0.
    """
    now: uint256 = block.timestamp
    patient_id: uint256 = pmr_id // pmr_ids.DATE_BASE
    date: uint256 = pmr_id % pmr_ids.DATE_BASE
    if patient_id == 0 or patient_id > pmr_ids.MAX_PATIENT_ID or not pmr_ids._is_valid_date(date):
        return 0
    if pmr_ids._civil_day(date) > pmr_ids._today() + 1:
        return 0
    if self._grants[grantee][pmr_id] & _U64 > now:
        return KIND_PMR
    if self._grants[grantee][SCOPE_ALL | patient_id] & _U64 > now:
        return KIND_ALL
    glass: uint256 = self._glass[grantee][patient_id]
    if (
        glass != 0
        and glass & _CLOSED == 0
        and (glass & _U40) + EMERGENCY_DURATION > now
        and (glass >> 128) & _U64 == hospital_id
    ):
        return KIND_EMERGENCY
    return 0
