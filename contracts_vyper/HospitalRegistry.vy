# pragma version ~=0.4.3
"""
@title HospitalRegistry
@custom:contract-name HospitalRegistry
@license MIT
@notice Fig. 2 of the paper: a hospital applies, a regulator verifies it
        and a Hospital-ID is issued; regulators may suspend and reinstate.
        Regulators hold REGULATOR_ROLE (snekmate access control; several
        allowed, granted by the deployer). A verified hospital's own
        account is its admin; it names desk and lab operators, each with
        one role, who act for it in the other contracts (trust model
        rule H3: a desk registers patients and binds devices, a lab posts
        reports, only the admin onboards doctors and manages staff).

        Applications cannot be squatted (rule H1): a Gov. Reg. tag is
        claimed when a regulator verifies the application, not when it
        is filed, so copying a tag from a pending transaction gains
        nothing. `verify` names the digest of the application the
        regulator reviewed (rule H2): an application changed after the
        review is not verified. Hospital status is pushed to the
        DoctorRegistry, which checks a doctor's standing in one call.

        Private layout (default): only a blinded Gov. Reg. ID tag (HMAC
        by the regulator, so one hospital per registration number
        without revealing it), a salted commitment to the profile and
        the CID digest of the encrypted profile go on chain.
        Paper layout: the profile fields are stored as strings, as the
        paper's screens show (to measure the gas and privacy cost).
"""

from ethereum.ercs import IERC165
implements: IERC165

from snekmate.auth.interfaces import IAccessControl
implements: IAccessControl

from snekmate.auth import access_control
initializes: access_control

exports: access_control.__interface__

from interfaces import IDoctorRegistry

REGULATOR_ROLE: public(constant(bytes32)) = keccak256("REGULATOR_ROLE")

#: Staff roles (one per operator; the hospital's own account is the admin).
ROLE_ADMIN: public(constant(uint256)) = 1
ROLE_DESK: public(constant(uint256)) = 2
ROLE_LAB: public(constant(uint256)) = 4

STATUS_VERIFIED: constant(uint256) = 1
STATUS_SUSPENDED: constant(uint256) = 2
_ADDRESS_MASK: constant(uint256) = (1 << 160) - 1
_ID_MASK: constant(uint256) = (1 << 128) - 1


struct Application:
    gov_tag: bytes32
    profile_commitment: bytes32
    profile_cid: bytes32


struct PaperProfile:
    gov_reg_id: String[32]
    name: String[64]
    location: String[64]
    specialization: String[64]
    contact: String[64]


event HospitalApplied:
    applicant: indexed(address)
    gov_tag: bytes32
    profile_commitment: bytes32
    profile_cid: bytes32


event HospitalVerified:
    hospital_id: indexed(uint256)
    account: indexed(address)
    regulator: indexed(address)


event HospitalStatusChanged:
    hospital_id: indexed(uint256)
    status: uint256
    regulator: indexed(address)


event OperatorChanged:
    hospital_id: indexed(uint256)
    operator: indexed(address)
    role: uint256


PAPER_LAYOUT: public(immutable(bool))

hospital_count: public(uint256)
applications: public(HashMap[address, Application])
paper_profiles: public(HashMap[address, PaperProfile])
gov_tag_owner: public(HashMap[bytes32, address])
doctor_registry: public(IDoctorRegistry)
# account -> role << 128 | Hospital-ID (the hospital's own account holds ROLE_ADMIN)
_staff: HashMap[address, uint256]
# Hospital-ID -> status << 160 | hospital account (one slot per hospital)
_hospitals: HashMap[uint256, uint256]


@deploy
def __init__(paper_layout: bool):
    """
    @dev The deployer becomes DEFAULT_ADMIN_ROLE and may grant REGULATOR_ROLE.
    @param paper_layout True to store profile fields as strings (paper layout).
    """
    access_control.__init__()
    PAPER_LAYOUT = paper_layout


@external
def set_doctor_registry(doctors: IDoctorRegistry):
    """
    @dev The deployer wires the DoctorRegistry once; hospital status is pushed to it.
    @param doctors The DoctorRegistry.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    assert self.doctor_registry.address == empty(address), "hospital_registry: already wired"
    self.doctor_registry = doctors


@external
def apply(gov_tag: bytes32, profile_commitment: bytes32, profile_cid: bytes32):
    """
    @dev A hospital applies for registration (private layout); a new application replaces a pending one.
    @param gov_tag Blinded Gov. Reg. ID (HMAC under the regulator's key).
    @param profile_commitment Salted commitment to the hospital's profile.
    @param profile_cid sha2-256 digest of the encrypted profile (CIDv1, raw).
    """
    assert not PAPER_LAYOUT, "hospital_registry: paper layout deployed"
    assert profile_commitment != empty(bytes32), "hospital_registry: empty commitment"
    self._record_application(gov_tag, profile_commitment, profile_cid)


@external
def apply_paper(
    gov_reg_id: String[32],
    name: String[64],
    location: String[64],
    specialization: String[64],
    contact: String[64],
):
    """
    @dev A hospital applies with its profile in clear (paper layout); the commitment is the profile's hash.
    @param gov_reg_id Government registration ID.
    @param name Hospital name.
    @param location Location.
    @param specialization Specialization.
    @param contact Contact details.
    """
    assert PAPER_LAYOUT, "hospital_registry: private layout deployed"
    assert len(name) != 0, "hospital_registry: empty name"
    self._record_application(
        keccak256(gov_reg_id),
        keccak256(abi_encode(gov_reg_id, name, location, specialization, contact)),
        empty(bytes32),
    )
    self.paper_profiles[msg.sender] = PaperProfile(
        gov_reg_id=gov_reg_id,
        name=name,
        location=location,
        specialization=specialization,
        contact=contact,
    )


@external
def verify(applicant: address, reviewed: bytes32) -> uint256:
    """
    @dev A regulator verifies the application it reviewed; the Gov. Reg. tag is claimed and the Hospital-ID issued.
    @param applicant The applying hospital's account.
    @param reviewed The `application_digest` of the application the regulator reviewed.
    @return uint256 The new Hospital-ID.
    """
    access_control._check_role(REGULATOR_ROLE, msg.sender)
    assert self._staff[applicant] == 0, "hospital_registry: already verified"
    tag: bytes32 = self.applications[applicant].gov_tag
    assert tag != empty(bytes32), "hospital_registry: no application"
    assert self._digest(applicant) == reviewed, "hospital_registry: application changed since review"
    assert self.gov_tag_owner[tag] == empty(address), "hospital_registry: registration id already used"
    doctors: IDoctorRegistry = self.doctor_registry
    assert doctors.address != empty(address), "hospital_registry: not wired"
    self.gov_tag_owner[tag] = applicant
    hospital_id: uint256 = self.hospital_count + 1
    self.hospital_count = hospital_id
    self._hospitals[hospital_id] = (STATUS_VERIFIED << 160) | convert(applicant, uint256)
    self._staff[applicant] = (ROLE_ADMIN << 128) | hospital_id
    extcall doctors.set_hospital_status(hospital_id, True)
    log HospitalVerified(hospital_id=hospital_id, account=applicant, regulator=msg.sender)
    return hospital_id


@external
def suspend(hospital_id: uint256):
    """
    @dev A regulator suspends a verified hospital: its operators and doctors stop acting for it.
    @param hospital_id The Hospital-ID.
    """
    self._set_status(hospital_id, STATUS_VERIFIED, STATUS_SUSPENDED)


@external
def reinstate(hospital_id: uint256):
    """
    @dev A regulator reinstates a suspended hospital.
    @param hospital_id The Hospital-ID.
    """
    self._set_status(hospital_id, STATUS_SUSPENDED, STATUS_VERIFIED)


@external
def set_operator(operator: address, role: uint256):
    """
    @dev The hospital's admin account names a desk or lab operator (role 0 removes one).
    @param operator The staff account.
    @param role ROLE_DESK, ROLE_LAB, or 0 to remove the operator.
    """
    hospital_id: uint256 = self._hospital_for(msg.sender, ROLE_ADMIN)
    assert operator != msg.sender, "hospital_registry: cannot change the hospital account"
    assert operator != empty(address), "hospital_registry: empty operator"
    current: uint256 = self._staff[operator]
    if role == 0:
        assert current != 0 and current & _ID_MASK == hospital_id, "hospital_registry: not an operator of this hospital"
        self._staff[operator] = 0
    else:
        assert role == ROLE_DESK or role == ROLE_LAB, "hospital_registry: unknown role"
        assert current == 0 or current & _ID_MASK == hospital_id, "hospital_registry: operator already assigned"
        assert self.applications[operator].gov_tag == empty(bytes32), "hospital_registry: account is an applicant"
        self._staff[operator] = (role << 128) | hospital_id
    log OperatorChanged(hospital_id=hospital_id, operator=operator, role=role)


@external
@view
def hospital_for(account: address, role: uint256) -> uint256:
    """
    @dev Hospital-ID for which `account` acts in `role`; reverts unless it holds it at a verified hospital.
    @param account A hospital account or one of its operators.
    @param role ROLE_ADMIN, ROLE_DESK or ROLE_LAB.
    @return uint256 The Hospital-ID.
    """
    return self._hospital_for(account, role)


@external
@view
def staff_of(account: address) -> (uint256, uint256):
    """
    @dev The hospital an account acts for and its role (0, 0 for none), whatever the hospital's status.
    @param account The account.
    @return uint256 The Hospital-ID.
    @return uint256 The role.
    """
    packed: uint256 = self._staff[account]
    return packed & _ID_MASK, packed >> 128


@external
@view
def application_digest(applicant: address) -> bytes32:
    """
    @dev The digest a regulator reviews and passes to `verify` (empty when there is no application).
    @param applicant The applying account.
    @return bytes32 keccak256 of the ABI-encoded (tag, commitment, cid).
    """
    if self.applications[applicant].gov_tag == empty(bytes32):
        return empty(bytes32)
    return self._digest(applicant)


@external
@view
def is_verified(hospital_id: uint256) -> bool:
    """
    @dev True when the hospital is verified and not suspended.
    @param hospital_id The Hospital-ID.
    @return bool Whether it may act.
    """
    return self._hospitals[hospital_id] >> 160 == STATUS_VERIFIED


@external
@view
def hospital(hospital_id: uint256) -> (address, uint256):
    """
    @dev The account and status (0 none, 1 verified, 2 suspended) of a hospital.
    @param hospital_id The Hospital-ID.
    @return address The hospital's account.
    @return uint256 The status.
    """
    packed: uint256 = self._hospitals[hospital_id]
    return convert(convert(packed & _ADDRESS_MASK, uint160), address), packed >> 160


@internal
def _record_application(tag: bytes32, profile_commitment: bytes32, profile_cid: bytes32):
    """
    @dev Store (or replace) the caller's pending application; the tag is claimed only by `verify`.
    @param tag The Gov. Reg. tag.
    @param profile_commitment Commitment to (or, paper layout, hash of) the profile.
    @param profile_cid Digest of the encrypted profile (empty in the paper layout).
    """
    staff: uint256 = self._staff[msg.sender]
    if staff != 0:
        assert staff >> 128 != ROLE_ADMIN, "hospital_registry: already verified"
        raise "hospital_registry: account is a hospital operator"
    assert tag != empty(bytes32), "hospital_registry: empty registration id"
    assert self.gov_tag_owner[tag] == empty(address), "hospital_registry: registration id already used"
    self.applications[msg.sender] = Application(
        gov_tag=tag, profile_commitment=profile_commitment, profile_cid=profile_cid
    )
    log HospitalApplied(
        applicant=msg.sender, gov_tag=tag, profile_commitment=profile_commitment, profile_cid=profile_cid
    )


@internal
@view
def _digest(applicant: address) -> bytes32:
    """
    @dev keccak256 of the ABI-encoded stored application.
    @param applicant The applying account.
    @return bytes32 The digest.
    """
    a: Application = self.applications[applicant]
    return keccak256(abi_encode(a.gov_tag, a.profile_commitment, a.profile_cid))


@internal
def _set_status(hospital_id: uint256, expected: uint256, status: uint256):
    """
    @dev Regulator-only status change, pushed to the DoctorRegistry.
    @param hospital_id The Hospital-ID.
    @param expected The status it must have now.
    @param status The new status.
    """
    access_control._check_role(REGULATOR_ROLE, msg.sender)
    packed: uint256 = self._hospitals[hospital_id]
    assert packed != 0, "hospital_registry: unknown hospital"
    assert packed >> 160 == expected, "hospital_registry: wrong status"
    self._hospitals[hospital_id] = (status << 160) | (packed & _ADDRESS_MASK)
    extcall self.doctor_registry.set_hospital_status(hospital_id, status == STATUS_VERIFIED)
    log HospitalStatusChanged(hospital_id=hospital_id, status=status, regulator=msg.sender)


@internal
@view
def _hospital_for(account: address, role: uint256) -> uint256:
    """
    @dev The Hospital-ID `account` acts for in `role`; reverts naming what is missing.
    @param account The account.
    @param role The role required.
    @return uint256 The Hospital-ID.
    """
    packed: uint256 = self._staff[account]
    if packed == 0:
        # a hospital still waiting for verification gets the more helpful reason
        assert self.applications[account].gov_tag == empty(bytes32), "hospital_registry: hospital not verified"
        raise "hospital_registry: not a hospital operator"
    hospital_id: uint256 = packed & _ID_MASK
    assert self._hospitals[hospital_id] >> 160 == STATUS_VERIFIED, "hospital_registry: hospital not verified"
    if packed >> 128 != role:
        assert role != ROLE_ADMIN, "hospital_registry: only the hospital account"
        assert role != ROLE_DESK, "hospital_registry: not a desk operator"
        raise "hospital_registry: not a lab operator"
    return hospital_id
