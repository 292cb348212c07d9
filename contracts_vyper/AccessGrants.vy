# pragma version ~=0.4.3
"""
@title AccessGrants
@custom:contract-name AccessGrants
@license MIT
@notice The paper's "patient visits a different practitioner": the
        patient grants a registered doctor access to one PMR, or to all
        their records, until an expiry time; access ends by itself at
        expiry (custodians release key shares only while `is_valid`
        holds at the current block time). The patient may revoke early.
        Break-glass: a verified doctor of a verified hospital may open
        emergency access to a patient's records for a short fixed time,
        with a reason code, always logged. Every grant, revoke, use and
        emergency access is an event: the chain's audit log.
"""

from interfaces import IDoctorRegistry
from interfaces import IPatientRegistry
import modules.pmr_ids as pmr_ids

#: Scope key for "all records of a patient": SCOPE_ALL | patient_id.
SCOPE_ALL: public(constant(uint256)) = 1 << 255
EMERGENCY_DURATION: public(constant(uint256)) = 4 * 3600
MAX_GRANT_DURATION: public(constant(uint256)) = 366 * 86400
_REVOKED: constant(uint256) = 1

KIND_PMR: constant(uint256) = 1
KIND_ALL: constant(uint256) = 2
KIND_EMERGENCY: constant(uint256) = 3


event AccessGranted:
    patient_id: indexed(uint256)
    grantee: indexed(address)
    pmr_id: indexed(uint256)
    expiry: uint256


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


event EmergencyAccess:
    patient_id: indexed(uint256)
    doctor: indexed(address)
    hospital_id: indexed(uint256)
    reason_code: uint256
    expiry: uint256


DOCTORS: public(immutable(IDoctorRegistry))
PATIENTS: public(immutable(IPatientRegistry))

# grantee -> scope key (PMR-ID, or SCOPE_ALL | Patient-ID) -> expiry (1 = revoked)
_expiry: HashMap[address, HashMap[uint256, uint256]]
# doctor -> Patient-ID -> emergency access expiry
_emergency: HashMap[address, HashMap[uint256, uint256]]


@deploy
def __init__(doctors: IDoctorRegistry, patients: IPatientRegistry):
    """
    @dev Wire the contract to the doctor and patient registries.
    @param doctors The DoctorRegistry.
    @param patients The PatientRegistry.
    """
    DOCTORS = doctors
    PATIENTS = patients


@external
def grant(grantee: address, pmr_id: uint256, expiry: uint256):
    """
    @dev The patient grants a registered, active doctor access until `expiry`.
    @param grantee The doctor's account.
    @param pmr_id The PMR to share, or 0 for all of the patient's records.
    @param expiry Block time (seconds) at which the access ends by itself.
    """
    patient_id: uint256 = self._caller_patient()
    assert expiry > block.timestamp, "access_grants: expiry in the past"
    assert expiry <= block.timestamp + MAX_GRANT_DURATION, "access_grants: grant too long"
    doctor_id: uint256 = staticcall DOCTORS.active_doctor(grantee)
    self._expiry[grantee][self._scope(patient_id, pmr_id)] = expiry
    log AccessGranted(patient_id=patient_id, grantee=grantee, pmr_id=pmr_id, expiry=expiry)


@external
def revoke(grantee: address, pmr_id: uint256):
    """
    @dev The patient ends a grant before its expiry.
    @param grantee The doctor's account.
    @param pmr_id The PMR of the grant, or 0 for the all-records grant.
    """
    patient_id: uint256 = self._caller_patient()
    key: uint256 = self._scope(patient_id, pmr_id)
    assert self._expiry[grantee][key] > block.timestamp, "access_grants: no active grant"
    self._expiry[grantee][key] = _REVOKED
    log AccessRevoked(patient_id=patient_id, grantee=grantee, pmr_id=pmr_id)


@external
def use(pmr_id: uint256):
    """
    @dev A doctor records an access to a PMR; reverts unless a grant or emergency access is valid now.
    @param pmr_id The PMR accessed.
    """
    assert staticcall DOCTORS.is_active(msg.sender), "access_grants: doctor not active"
    patient_id: uint256 = pmr_ids._patient_of(pmr_id)
    kind: uint256 = 0
    expiry: uint256 = 0
    kind, expiry = self._valid_window(msg.sender, patient_id, pmr_id)
    log AccessUsed(patient_id=patient_id, grantee=msg.sender, pmr_id=pmr_id, kind=kind, expiry=expiry)


@external
def emergency_access(patient_id: uint256, hospital_id: uint256, reason_code: uint256):
    """
    @dev Break-glass: a doctor of a verified hospital opens access to a patient's records for EMERGENCY_DURATION.
    @param patient_id The patient.
    @param hospital_id The hospital the doctor acts for.
    @param reason_code Coded reason (non-zero), kept in the audit log.
    """
    assert reason_code != 0, "access_grants: reason required"
    doctor_id: uint256 = staticcall DOCTORS.check_doctor(msg.sender, hospital_id)
    patient: address = staticcall PATIENTS.account_of(patient_id)
    expiry: uint256 = block.timestamp + EMERGENCY_DURATION
    self._emergency[msg.sender][patient_id] = expiry
    log EmergencyAccess(
        patient_id=patient_id, doctor=msg.sender, hospital_id=hospital_id, reason_code=reason_code, expiry=expiry
    )


@external
@view
def is_valid(grantee: address, pmr_id: uint256) -> bool:
    """
    @dev Whether `grantee` may access `pmr_id` at the current block time.
    @param grantee The doctor's account.
    @param pmr_id The PMR-ID.
    @return bool True while a PMR, all-records or emergency grant is open and the doctor is active.
    """
    if not staticcall DOCTORS.is_active(grantee):
        return False
    now: uint256 = block.timestamp
    patient_id: uint256 = pmr_ids._patient_of(pmr_id)
    return (
        self._expiry[grantee][pmr_id] > now
        or self._expiry[grantee][SCOPE_ALL | patient_id] > now
        or self._emergency[grantee][patient_id] > now
    )


@external
@view
def expiry_of(grantee: address, pmr_id: uint256) -> uint256:
    """
    @dev The stored expiry of a grant (0 never granted, 1 revoked).
    @param grantee The doctor's account.
    @param pmr_id The PMR-ID, or SCOPE_ALL | Patient-ID for an all-records grant.
    @return uint256 The expiry time.
    """
    return self._expiry[grantee][pmr_id]


@internal
@view
def _caller_patient() -> uint256:
    """
    @dev The caller's Patient-ID; reverts unless the caller is a registered patient.
    """
    patient_id: uint256 = staticcall PATIENTS.patient_id_of(msg.sender)
    assert patient_id != 0, "access_grants: caller is not a registered patient"
    return patient_id


@internal
@pure
def _scope(patient_id: uint256, pmr_id: uint256) -> uint256:
    """
    @dev Storage key of a grant; the PMR must belong to the granting patient.
    """
    if pmr_id == 0:
        return SCOPE_ALL | patient_id
    assert pmr_ids._patient_of(pmr_id) == patient_id, "access_grants: not the record owner"
    return pmr_id


@internal
@view
def _valid_window(grantee: address, patient_id: uint256, pmr_id: uint256) -> (uint256, uint256):
    """
    @dev The kind and expiry of the first open window; reverts naming why none is.
    """
    now: uint256 = block.timestamp
    by_pmr: uint256 = self._expiry[grantee][pmr_id]
    if by_pmr > now:
        return KIND_PMR, by_pmr
    by_all: uint256 = self._expiry[grantee][SCOPE_ALL | patient_id]
    if by_all > now:
        return KIND_ALL, by_all
    by_emergency: uint256 = self._emergency[grantee][patient_id]
    if by_emergency > now:
        return KIND_EMERGENCY, by_emergency
    assert by_pmr != _REVOKED and by_all != _REVOKED, "access_grants: grant revoked"
    assert by_pmr == 0 and by_all == 0 and by_emergency == 0, "access_grants: grant expired"
    raise "access_grants: no grant"
