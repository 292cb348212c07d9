# pragma version ~=0.4.3
"""
@title DoctorRegistry
@custom:contract-name DoctorRegistry
@license MIT
@notice Fig. 2 of the paper: a verified hospital onboards a medical
        practitioner and a Doctor-ID is issued. One Doctor-ID per
        registration number (the paper's UPRN future work): onboarding
        the same registration number at a second hospital adds an
        affiliation to the existing Doctor-ID. Regulators suspend and
        reinstate doctors; a hospital ends its own affiliations.

        Private layout: a blinded registration-number tag (HMAC under the
        medical council's key), a salted profile commitment and the CID
        digest of the encrypted profile. Paper layout: fields as strings.
"""

from interfaces import IHospitalRegistry

STATUS_ACTIVE: constant(uint256) = 1
STATUS_SUSPENDED: constant(uint256) = 2
_ID_MASK: constant(uint256) = (1 << 128) - 1
REGULATOR_ROLE: constant(bytes32) = keccak256("REGULATOR_ROLE")


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


HOSPITALS: public(immutable(IHospitalRegistry))
PAPER_LAYOUT: public(immutable(bool))

doctor_count: public(uint256)
doctor_of_tag: public(HashMap[bytes32, uint256])
profiles: public(HashMap[uint256, Profile])
paper_profiles: public(HashMap[uint256, PaperProfile])
affiliated: public(HashMap[uint256, HashMap[uint256, bool]])
# account -> status << 128 | Doctor-ID: one read tells who and whether active
_by_account: HashMap[address, uint256]
# Doctor-ID -> account
_accounts: HashMap[uint256, address]


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
def onboard(doctor: address, uprn_tag: bytes32, profile_commitment: bytes32, profile_cid: bytes32) -> uint256:
    """
    @dev A verified hospital's operator onboards a doctor (private layout).
    @param doctor The doctor's account.
    @param uprn_tag Blinded registration number (HMAC under the council's key).
    @param profile_commitment Salted commitment to the doctor's profile.
    @param profile_cid sha2-256 digest of the encrypted profile (CIDv1, raw).
    @return uint256 The Doctor-ID (existing one for a known registration number).
    """
    assert not PAPER_LAYOUT, "doctor_registry: paper layout deployed"
    assert profile_commitment != empty(bytes32), "doctor_registry: empty commitment"
    hospital_id: uint256 = staticcall HOSPITALS.verified_hospital_of(msg.sender)
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
    @dev A verified hospital's operator onboards a doctor with fields in clear (paper layout).
    @param doctor The doctor's account.
    @param registration_number The medical registration number.
    @param name The doctor's name.
    @param specialization Specialization.
    @param contact Contact details.
    @return uint256 The Doctor-ID.
    """
    assert PAPER_LAYOUT, "doctor_registry: private layout deployed"
    hospital_id: uint256 = staticcall HOSPITALS.verified_hospital_of(msg.sender)
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
    @dev A hospital's operator ends a doctor's affiliation with that hospital.
    @param doctor_id The Doctor-ID.
    """
    hospital_id: uint256 = staticcall HOSPITALS.verified_hospital_of(msg.sender)
    assert self.affiliated[doctor_id][hospital_id], "doctor_registry: doctor not affiliated with hospital"
    self.affiliated[doctor_id][hospital_id] = False
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
@view
def check_doctor(account: address, hospital_id: uint256) -> uint256:
    """
    @dev Doctor-ID of an active doctor affiliated with a verified hospital; reverts otherwise.
    @param account The doctor's account.
    @param hospital_id The hospital the doctor acts for.
    @return uint256 The Doctor-ID.
    """
    doctor_id: uint256 = self._active_doctor(account)
    assert self.affiliated[doctor_id][hospital_id], "doctor_registry: doctor not affiliated with hospital"
    assert staticcall HOSPITALS.is_verified(hospital_id), "doctor_registry: hospital not verified"
    return doctor_id


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
    """
    assert not self.affiliated[doctor_id][hospital_id], "doctor_registry: already affiliated"
    self.affiliated[doctor_id][hospital_id] = True
    log DoctorOnboarded(
        doctor_id=doctor_id, hospital_id=hospital_id, account=account, new_doctor=new_doctor
    )
    return doctor_id


@internal
def _set_status(doctor_id: uint256, expected: uint256, status: uint256):
    """
    @dev Regulator-only status change.
    """
    assert staticcall HOSPITALS.hasRole(REGULATOR_ROLE, msg.sender), "doctor_registry: caller is not a regulator"
    account: address = self._accounts[doctor_id]
    assert account != empty(address), "doctor_registry: unknown doctor"
    assert self._by_account[account] >> 128 == expected, "doctor_registry: wrong status"
    self._by_account[account] = (status << 128) | doctor_id
    log DoctorStatusChanged(doctor_id=doctor_id, status=status, regulator=msg.sender)


@internal
@view
def _active_doctor(account: address) -> uint256:
    """
    @dev Doctor-ID of an active doctor; reverts with the reason otherwise.
    """
    packed: uint256 = self._by_account[account]
    assert packed != 0, "doctor_registry: not a registered doctor"
    assert packed >> 128 == STATUS_ACTIVE, "doctor_registry: doctor suspended"
    return packed & _ID_MASK
