# pragma version ~=0.4.3
"""
@title DoctorRegistry
@custom:contract-name DoctorRegistry
@license MIT
@notice Fig. 2 of the paper: a verified hospital's admin onboards a
        medical practitioner and a Doctor-ID is issued. One Doctor-ID
        per registration number (the paper's UPRN future work):
        onboarding the same registration number at a second hospital
        adds an affiliation to the existing Doctor-ID. Regulators suspend
        and reinstate doctors and may rebind a registration number to
        its rightful account (trust model rule D2); a hospital ends its
        own affiliations.

        A doctor's standing at a hospital (rule D1: registered, not
        suspended, affiliated with that hospital, the hospital verified)
        is what every other contract asks before a doctor acts; it is
        kept in one slot per (account, hospital) plus the hospital's
        status, which the HospitalRegistry pushes here, so the question
        costs one call and two reads.

        Private layout: a blinded registration-number tag (HMAC under the
        medical council's key), a salted profile commitment and the CID
        digest of the encrypted profile. Paper layout: fields as strings.
"""

from interfaces import IHospitalRegistry

STATUS_ACTIVE: constant(uint256) = 1
STATUS_SUSPENDED: constant(uint256) = 2
_ID_MASK: constant(uint256) = (1 << 128) - 1
REGULATOR_ROLE: constant(bytes32) = keccak256("REGULATOR_ROLE")
ROLE_ADMIN: constant(uint256) = 1
#: Hospitals one doctor may be affiliated with at once.
MAX_AFFILIATIONS: public(constant(uint256)) = 8


struct Profile:
    commitment: bytes32
    cid: bytes32


struct PaperProfile:
    registration_number: String[32]
    name: String[64]
    specialization: String[64]
    contact: String[64]


event DoctorOnboarded:
    doctor_id: indexed(uint256)
    hospital_id: indexed(uint256)
    account: indexed(address)
    new_doctor: bool


event DoctorStatusChanged:
    doctor_id: indexed(uint256)
    status: uint256
    regulator: indexed(address)


event AffiliationEnded:
    doctor_id: indexed(uint256)
    hospital_id: indexed(uint256)


event DoctorRebound:
    doctor_id: indexed(uint256)
    old_account: indexed(address)
    new_account: indexed(address)


HOSPITALS: public(immutable(IHospitalRegistry))
PAPER_LAYOUT: public(immutable(bool))

doctor_count: public(uint256)
doctor_of_tag: public(HashMap[bytes32, uint256])
profiles: public(HashMap[uint256, Profile])
paper_profiles: public(HashMap[uint256, PaperProfile])
# Hospital-ID -> STATUS_ACTIVE (verified) or STATUS_SUSPENDED, as the HospitalRegistry pushes it
# (never reset to zero, so a status change rewrites a warm non-zero slot)
_hospital_status: HashMap[uint256, uint256]
# account -> status << 128 | Doctor-ID: one read tells who and whether active
_by_account: HashMap[address, uint256]
# Doctor-ID -> account
_accounts: HashMap[uint256, address]
# account -> Hospital-ID -> status << 128 | Doctor-ID while affiliated (0 otherwise)
_standing: HashMap[address, HashMap[uint256, uint256]]
# Doctor-ID -> the hospitals it is affiliated with
_affiliations: HashMap[uint256, DynArray[uint256, MAX_AFFILIATIONS]]


@deploy
def __init__(hospitals: IHospitalRegistry, paper_layout: bool):
    """
    @dev Wire the registry to the hospital registry.
    @param hospitals The HospitalRegistry.
    @param paper_layout True to store profile fields as strings.
    """
    HOSPITALS = hospitals
    PAPER_LAYOUT = paper_layout


@external
def set_hospital_status(hospital_id: uint256, verified: bool):
    """
    @dev The HospitalRegistry tells whether a hospital is verified (on verify, suspend, reinstate).
    @param hospital_id The Hospital-ID.
    @param verified True while the hospital is verified and not suspended.
    """
    assert msg.sender == HOSPITALS.address, "doctor_registry: only the hospital registry"
    status: uint256 = STATUS_SUSPENDED
    if verified:
        status = STATUS_ACTIVE
    self._hospital_status[hospital_id] = status


@external
def onboard(doctor: address, uprn_tag: bytes32, profile_commitment: bytes32, profile_cid: bytes32) -> uint256:
    """
    @dev A verified hospital's admin onboards a doctor (private layout).
    @param doctor The doctor's account.
    @param uprn_tag Blinded registration number (HMAC under the council's key).
    @param profile_commitment Salted commitment to the doctor's profile.
    @param profile_cid sha2-256 digest of the encrypted profile (CIDv1, raw).
    @return uint256 The Doctor-ID (existing one for a known registration number).
    """
    assert not PAPER_LAYOUT, "doctor_registry: paper layout deployed"
    assert profile_commitment != empty(bytes32), "doctor_registry: empty commitment"
    hospital_id: uint256 = staticcall HOSPITALS.hospital_for(msg.sender, ROLE_ADMIN)
    doctor_id: uint256 = self._doctor_for(doctor, uprn_tag)
    if doctor_id == 0:
        doctor_id = self._new_doctor(doctor, uprn_tag)
        self.profiles[doctor_id] = Profile(commitment=profile_commitment, cid=profile_cid)
        return self._affiliate(doctor_id, hospital_id, doctor, True)
    return self._affiliate(doctor_id, hospital_id, doctor, False)


@external
def onboard_paper(
    doctor: address,
    registration_number: String[32],
    name: String[64],
    specialization: String[64],
    contact: String[64],
) -> uint256:
    """
    @dev A verified hospital's admin onboards a doctor with fields in clear (paper layout).
    @param doctor The doctor's account.
    @param registration_number The medical registration number.
    @param name The doctor's name.
    @param specialization Specialization.
    @param contact Contact details.
    @return uint256 The Doctor-ID.
    """
    assert PAPER_LAYOUT, "doctor_registry: private layout deployed"
    hospital_id: uint256 = staticcall HOSPITALS.hospital_for(msg.sender, ROLE_ADMIN)
    tag: bytes32 = keccak256(registration_number)
    doctor_id: uint256 = self._doctor_for(doctor, tag)
    if doctor_id == 0:
        doctor_id = self._new_doctor(doctor, tag)
        self.paper_profiles[doctor_id] = PaperProfile(
            registration_number=registration_number,
            name=name,
            specialization=specialization,
            contact=contact,
        )
        return self._affiliate(doctor_id, hospital_id, doctor, True)
    return self._affiliate(doctor_id, hospital_id, doctor, False)


@external
def end_affiliation(doctor_id: uint256):
    """
    @dev A hospital's admin ends a doctor's affiliation with that hospital.
    @param doctor_id The Doctor-ID.
    """
    hospital_id: uint256 = staticcall HOSPITALS.hospital_for(msg.sender, ROLE_ADMIN)
    account: address = self._accounts[doctor_id]
    assert self._standing[account][hospital_id] != 0, "doctor_registry: doctor not affiliated with hospital"
    self._standing[account][hospital_id] = 0
    last: uint256 = len(self._affiliations[doctor_id]) - 1
    for i: uint256 in range(MAX_AFFILIATIONS):
        if i >= last:
            break
        if self._affiliations[doctor_id][i] == hospital_id:  # move the last one here
            self._affiliations[doctor_id][i] = self._affiliations[doctor_id][last]
            break
    self._affiliations[doctor_id].pop()
    log AffiliationEnded(doctor_id=doctor_id, hospital_id=hospital_id)


@external
def suspend(doctor_id: uint256):
    """
    @dev A regulator suspends a doctor everywhere.
    @param doctor_id The Doctor-ID.
    """
    self._set_status(doctor_id, STATUS_ACTIVE, STATUS_SUSPENDED)


@external
def reinstate(doctor_id: uint256):
    """
    @dev A regulator reinstates a suspended doctor.
    @param doctor_id The Doctor-ID.
    """
    self._set_status(doctor_id, STATUS_SUSPENDED, STATUS_ACTIVE)


@external
def rebind(doctor_id: uint256, account: address):
    """
    @dev A regulator moves a Doctor-ID (and its registration number) to its rightful account.
    @param doctor_id The Doctor-ID.
    @param account The new account; it must not be a doctor already.
    """
    self._check_regulator()
    old: address = self._accounts[doctor_id]
    assert old != empty(address), "doctor_registry: unknown doctor"
    assert account != empty(address), "doctor_registry: empty account"
    assert self._by_account[account] == 0, "doctor_registry: account already a doctor"
    self._by_account[account] = self._by_account[old]
    self._by_account[old] = 0
    self._accounts[doctor_id] = account
    for hospital_id: uint256 in self._affiliations[doctor_id]:
        self._standing[account][hospital_id] = self._standing[old][hospital_id]
        self._standing[old][hospital_id] = 0
    log DoctorRebound(doctor_id=doctor_id, old_account=old, new_account=account)


@external
@view
def check_doctor(account: address, hospital_id: uint256) -> uint256:
    """
    @dev Doctor-ID of an active doctor affiliated with a verified hospital; reverts naming what is missing.
    @param account The doctor's account.
    @param hospital_id The hospital the doctor acts for.
    @return uint256 The Doctor-ID.
    """
    standing: uint256 = self._standing[account][hospital_id]
    if standing >> 128 == STATUS_ACTIVE and self._hospital_status[hospital_id] == STATUS_ACTIVE:
        return standing & _ID_MASK
    self._active_doctor(account)
    assert standing != 0, "doctor_registry: doctor not affiliated with hospital"
    raise "doctor_registry: hospital not verified"


@external
@view
def in_standing(account: address, hospital_id: uint256) -> bool:
    """
    @dev Whether `account` may act as a doctor for `hospital_id` now (never reverts).
    @param account The doctor's account.
    @param hospital_id The Hospital-ID.
    @return bool True for an active doctor affiliated with that verified hospital.
    """
    return (
        self._standing[account][hospital_id] >> 128 == STATUS_ACTIVE
        and self._hospital_status[hospital_id] == STATUS_ACTIVE
    )


@external
@view
def hospital_verified(hospital_id: uint256) -> bool:
    """
    @dev The hospital's status as the HospitalRegistry last pushed it.
    @param hospital_id The Hospital-ID.
    @return bool True while verified and not suspended.
    """
    return self._hospital_status[hospital_id] == STATUS_ACTIVE


@external
@view
def active_doctor(account: address) -> uint256:
    """
    @dev Doctor-ID of a registered doctor who is not suspended; reverts otherwise.
    @param account The doctor's account.
    @return uint256 The Doctor-ID.
    """
    return self._active_doctor(account)


@external
@view
def is_active(account: address) -> bool:
    """
    @dev True when `account` is a registered doctor who is not suspended.
    @param account The account.
    @return bool Whether it is an active doctor.
    """
    return self._by_account[account] >> 128 == STATUS_ACTIVE


@external
@view
def affiliated(doctor_id: uint256, hospital_id: uint256) -> bool:
    """
    @dev Whether the doctor is affiliated with the hospital (whatever either's status).
    @param doctor_id The Doctor-ID.
    @param hospital_id The Hospital-ID.
    @return bool True while affiliated.
    """
    return self._standing[self._accounts[doctor_id]][hospital_id] != 0


@external
@view
def affiliations(doctor_id: uint256) -> DynArray[uint256, MAX_AFFILIATIONS]:
    """
    @dev The hospitals a doctor is affiliated with.
    @param doctor_id The Doctor-ID.
    @return DynArray The Hospital-IDs.
    """
    return self._affiliations[doctor_id]


@external
@view
def doctor(doctor_id: uint256) -> (address, uint256):
    """
    @dev The account and status (0 none, 1 active, 2 suspended) of a doctor.
    @param doctor_id The Doctor-ID.
    @return address The doctor's account.
    @return uint256 The status.
    """
    account: address = self._accounts[doctor_id]
    return account, self._by_account[account] >> 128


@external
@view
def doctor_id_of(account: address) -> uint256:
    """
    @dev The Doctor-ID of an account (0 if it is not a doctor), whatever its status.
    @param account The account.
    @return uint256 The Doctor-ID.
    """
    return self._by_account[account] & _ID_MASK


@internal
@view
def _doctor_for(account: address, tag: bytes32) -> uint256:
    """
    @dev The Doctor-ID already bound to `tag` (0 if none); the account must match.
    @param account The doctor's account.
    @param tag The registration-number tag.
    @return uint256 The Doctor-ID or 0.
    """
    assert tag != empty(bytes32), "doctor_registry: empty registration number"
    assert account != empty(address), "doctor_registry: empty account"
    doctor_id: uint256 = self.doctor_of_tag[tag]
    if doctor_id != 0:
        assert self._accounts[doctor_id] == account, "doctor_registry: registration number bound to another account"
    return doctor_id


@internal
def _new_doctor(account: address, tag: bytes32) -> uint256:
    """
    @dev Issue a Doctor-ID for `account` and registration tag `tag`.
    @param account The doctor's account.
    @param tag The registration-number tag.
    @return uint256 The new Doctor-ID.
    """
    assert self._by_account[account] == 0, "doctor_registry: account already a doctor"
    doctor_id: uint256 = self.doctor_count + 1
    self.doctor_count = doctor_id
    self.doctor_of_tag[tag] = doctor_id
    self._by_account[account] = (STATUS_ACTIVE << 128) | doctor_id
    self._accounts[doctor_id] = account
    return doctor_id


@internal
def _affiliate(doctor_id: uint256, hospital_id: uint256, account: address, new_doctor: bool) -> uint256:
    """
    @dev Record the doctor's affiliation with the hospital and log the onboarding.
    @param doctor_id The Doctor-ID.
    @param hospital_id The Hospital-ID.
    @param account The doctor's account.
    @param new_doctor True when the Doctor-ID was just issued.
    @return uint256 The Doctor-ID.
    """
    assert self._standing[account][hospital_id] == 0, "doctor_registry: already affiliated"
    assert len(self._affiliations[doctor_id]) < MAX_AFFILIATIONS, "doctor_registry: too many affiliations"
    self._standing[account][hospital_id] = self._by_account[account]
    self._affiliations[doctor_id].append(hospital_id)
    log DoctorOnboarded(
        doctor_id=doctor_id, hospital_id=hospital_id, account=account, new_doctor=new_doctor
    )
    return doctor_id


@internal
def _set_status(doctor_id: uint256, expected: uint256, status: uint256):
    """
    @dev Regulator-only status change, copied into every affiliation's standing.
    @param doctor_id The Doctor-ID.
    @param expected The status it must have now.
    @param status The new status.
    """
    self._check_regulator()
    account: address = self._accounts[doctor_id]
    assert account != empty(address), "doctor_registry: unknown doctor"
    assert self._by_account[account] >> 128 == expected, "doctor_registry: wrong status"
    packed: uint256 = (status << 128) | doctor_id
    self._by_account[account] = packed
    for hospital_id: uint256 in self._affiliations[doctor_id]:
        self._standing[account][hospital_id] = packed
    log DoctorStatusChanged(doctor_id=doctor_id, status=status, regulator=msg.sender)


@internal
@view
def _check_regulator():
    """
    @dev Revert unless the caller holds REGULATOR_ROLE in the HospitalRegistry.
    """
    assert staticcall HOSPITALS.hasRole(REGULATOR_ROLE, msg.sender), "doctor_registry: caller is not a regulator"


@internal
@view
def _active_doctor(account: address) -> uint256:
    """
    @dev Doctor-ID of an active doctor; reverts with the reason otherwise.
    @param account The account.
    @return uint256 The Doctor-ID.
    """
    packed: uint256 = self._by_account[account]
    assert packed != 0, "doctor_registry: not a registered doctor"
    assert packed >> 128 == STATUS_ACTIVE, "doctor_registry: doctor suspended"
    return packed & _ID_MASK
