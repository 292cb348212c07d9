# pragma version ~=0.4.3
"""
@title HospitalRegistry
@custom:contract-name HospitalRegistry
@license MIT
@notice Fig. 2 of the paper: a hospital applies, a regulator verifies it
        and a Hospital-ID is issued; regulators may suspend and reinstate.
        Regulators hold REGULATOR_ROLE (snekmate access control; several
        allowed, granted by the deployer). A verified hospital names desk
        and lab operators, who act for it in the other contracts.

        Private layout (default): only a blinded Gov. Reg. ID tag (HMAC
        by the regulator, so one application per registration number
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

REGULATOR_ROLE: public(constant(bytes32)) = keccak256("REGULATOR_ROLE")

STATUS_VERIFIED: constant(uint256) = 1
STATUS_SUSPENDED: constant(uint256) = 2
_ADDRESS_MASK: constant(uint256) = (1 << 160) - 1


struct Application:
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
    active: bool


PAPER_LAYOUT: public(immutable(bool))

hospital_count: public(uint256)
applications: public(HashMap[address, Application])
paper_profiles: public(HashMap[address, PaperProfile])
gov_tag_owner: public(HashMap[bytes32, address])
operator_hospital: public(HashMap[address, uint256])
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
def apply(gov_tag: bytes32, profile_commitment: bytes32, profile_cid: bytes32):
    """
    @dev A hospital applies for registration (private layout).
    @param gov_tag Blinded Gov. Reg. ID (HMAC under the regulator's key).
    @param profile_commitment Salted commitment to the hospital's profile.
    @param profile_cid sha2-256 digest of the encrypted profile (CIDv1, raw).
    """
    assert not PAPER_LAYOUT, "hospital_registry: paper layout deployed"
    assert profile_commitment != empty(bytes32), "hospital_registry: empty commitment"
    self._record_application(gov_tag)
    self.applications[msg.sender] = Application(
        profile_commitment=profile_commitment, profile_cid=profile_cid
    )
    log HospitalApplied(
        applicant=msg.sender,
        gov_tag=gov_tag,
        profile_commitment=profile_commitment,
        profile_cid=profile_cid,
    )


@external
def apply_paper(
    gov_reg_id: String[32],
    name: String[64],
    location: String[64],
    specialization: String[64],
    contact: String[64],
):
    """
    @dev A hospital applies with its profile in clear (paper layout).
    @param gov_reg_id Government registration ID.
    @param name Hospital name.
    @param location Location.
    @param specialization Specialization.
    @param contact Contact details.
    """
    assert PAPER_LAYOUT, "hospital_registry: private layout deployed"
    assert len(name) != 0, "hospital_registry: empty name"
    tag: bytes32 = keccak256(gov_reg_id)
    self._record_application(tag)
    self.paper_profiles[msg.sender] = PaperProfile(
        gov_reg_id=gov_reg_id,
        name=name,
        location=location,
        specialization=specialization,
        contact=contact,
    )
    log HospitalApplied(
        applicant=msg.sender, gov_tag=tag, profile_commitment=empty(bytes32), profile_cid=empty(bytes32)
    )


@external
def verify(applicant: address) -> uint256:
    """
    @dev A regulator verifies an application and issues the Hospital-ID.
    @param applicant The applying hospital's account.
    @return uint256 The new Hospital-ID.
    """
    access_control._check_role(REGULATOR_ROLE, msg.sender)
    assert self.operator_hospital[applicant] == 0, "hospital_registry: already verified"
    if PAPER_LAYOUT:
        assert len(self.paper_profiles[applicant].name) != 0, "hospital_registry: no application"
    else:
        assert self.applications[applicant].profile_commitment != empty(bytes32), "hospital_registry: no application"
    hospital_id: uint256 = self.hospital_count + 1
    self.hospital_count = hospital_id
    self._hospitals[hospital_id] = (STATUS_VERIFIED << 160) | convert(applicant, uint256)
    self.operator_hospital[applicant] = hospital_id
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
def set_operator(operator: address, active: bool):
    """
    @dev The hospital's own account adds or removes a desk or lab operator.
    @param operator The staff account.
    @param active True to add, False to remove.
    """
    hospital_id: uint256 = self._verified_hospital_of(msg.sender)
    assert self._account_of(hospital_id) == msg.sender, "hospital_registry: only the hospital account"
    assert operator != msg.sender, "hospital_registry: cannot change the hospital account"
    if active:
        assert self.operator_hospital[operator] == 0, "hospital_registry: operator already assigned"
        self.operator_hospital[operator] = hospital_id
    else:
        assert self.operator_hospital[operator] == hospital_id, "hospital_registry: not an operator of this hospital"
        self.operator_hospital[operator] = 0
    log OperatorChanged(hospital_id=hospital_id, operator=operator, active=active)


@external
@view
def verified_hospital_of(account: address) -> uint256:
    """
    @dev Hospital-ID for which `account` acts; reverts unless that hospital is verified.
    @param account A hospital account or one of its operators.
    @return uint256 The Hospital-ID.
    """
    return self._verified_hospital_of(account)


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
def _record_application(tag: bytes32):
    assert self.operator_hospital[msg.sender] == 0, "hospital_registry: already verified"
    assert tag != empty(bytes32), "hospital_registry: empty registration id"
    assert self.gov_tag_owner[tag] == empty(address), "hospital_registry: registration id already used"
    self.gov_tag_owner[tag] = msg.sender


@internal
def _set_status(hospital_id: uint256, expected: uint256, status: uint256):
    access_control._check_role(REGULATOR_ROLE, msg.sender)
    packed: uint256 = self._hospitals[hospital_id]
    assert packed != 0, "hospital_registry: unknown hospital"
    assert packed >> 160 == expected, "hospital_registry: wrong status"
    self._hospitals[hospital_id] = (status << 160) | (packed & _ADDRESS_MASK)
    log HospitalStatusChanged(hospital_id=hospital_id, status=status, regulator=msg.sender)


@internal
@view
def _account_of(hospital_id: uint256) -> address:
    return convert(convert(self._hospitals[hospital_id] & _ADDRESS_MASK, uint160), address)


@internal
@view
def _verified_hospital_of(account: address) -> uint256:
    hospital_id: uint256 = self.operator_hospital[account]
    if hospital_id == 0:
        # a hospital still waiting for verification gets the more helpful reason
        assert (
            self.applications[account].profile_commitment == empty(bytes32)
            and len(self.paper_profiles[account].name) == 0
        ), "hospital_registry: hospital not verified"
        raise "hospital_registry: not a hospital operator"
    assert self._hospitals[hospital_id] >> 160 == STATUS_VERIFIED, "hospital_registry: hospital not verified"
    return hospital_id
