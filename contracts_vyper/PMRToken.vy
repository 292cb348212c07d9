# pragma version ~=0.4.3
"""
@title PMRToken
@custom:contract-name PMRToken
@license MIT
@notice Fig. 4 of the paper: one ERC-721 token per patient per visit
        date, token id = PMR-ID = Patient-ID * 10**8 + DDMMYYYY (patient
        85437 on 26 Jan 2021 -> 8543726012021), minted to the patient by
        a doctor of a verified hospital. A second visit on the same date
        appends a version (record CID, doctor, hospital, time) instead of
        failing. Tokens are non-transferable (EIP-5192 `locked`);
        `tokenURI` is the current version's record CID.

        Why not snekmate's erc721 module: it is ERC721Enumerable with
        permits, so every mint writes five enumeration slots (~110k gas)
        and carries transfer/approval/permit code a soulbound record can
        never use. PMR tokens are enumerated per patient from events and
        from the PMR-ID structure, so this contract implements the
        ERC-721 interface directly with transfers disabled.
"""

from ethereum.ercs import IERC165
implements: IERC165

from ethereum.ercs import IERC721
implements: IERC721

from interfaces import IDoctorRegistry
from interfaces import IPatientRegistry
import modules.pmr_ids as pmr_ids
import modules.cids as cids

_ADDRESS_MASK: constant(uint256) = (1 << 160) - 1
_U64: constant(uint256) = (1 << 64) - 1
_SUPPORTED_INTERFACES: constant(bytes4[4]) = [
    0x01FFC9A7,  # ERC-165
    0x80AC58CD,  # ERC-721
    0x5B5E139F,  # ERC-721 metadata
    0xB45A3C0E,  # EIP-5192 minimal soulbound
]


struct PaperRecord:
    present_illness: String[128]
    past_illness: String[128]
    provisional_diagnosis: String[128]
    treatment_summary: String[128]
    insurance: String[64]


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    token_id: indexed(uint256)


event Approval:
    owner: indexed(address)
    approved: indexed(address)
    token_id: indexed(uint256)


event ApprovalForAll:
    owner: indexed(address)
    operator: indexed(address)
    approved: bool


event Locked:
    tokenId: uint256


event PMRVersionAdded:
    pmr_id: indexed(uint256)
    patient_id: indexed(uint256)
    doctor_id: indexed(uint256)
    hospital_id: uint256
    version: uint256
    record_cid: bytes32


DOCTORS: public(immutable(IDoctorRegistry))
PATIENTS: public(immutable(IPatientRegistry))
PAPER_LAYOUT: public(immutable(bool))
name: public(constant(String[25])) = "Patient Medical Record"
symbol: public(constant(String[5])) = "PMR"

# PMR-ID -> version count << 160 | owner (one slot per token)
_state: HashMap[uint256, uint256]
_balances: HashMap[address, uint256]
# PMR-ID -> version -> record CID digest
_cids: HashMap[uint256, HashMap[uint256, bytes32]]
# PMR-ID -> version -> codec << 192 | timestamp << 128 | hospital_id << 64 | doctor_id
_meta: HashMap[uint256, HashMap[uint256, uint256]]
paper_records: public(HashMap[uint256, HashMap[uint256, PaperRecord]])


@deploy
def __init__(doctors: IDoctorRegistry, patients: IPatientRegistry, paper_layout: bool):
    """
    @dev Wire the token to the doctor and patient registries.
    @param doctors The DoctorRegistry.
    @param patients The PatientRegistry.
    @param paper_layout True to store the record fields as strings.
    """
    DOCTORS = doctors
    PATIENTS = patients
    PAPER_LAYOUT = paper_layout


@external
def mint(patient_id: uint256, visit_date: uint256, hospital_id: uint256, record_cid: bytes32, codec: uint8) -> uint256:
    """
    @dev A doctor of a verified hospital creates the PMR of a visit (or adds a version to it).
    @param patient_id The Patient-ID.
    @param visit_date The visit date written DDMMYYYY.
    @param hospital_id The hospital the doctor acts for.
    @param record_cid sha2-256 digest of the encrypted record (CIDv1).
    @param codec The CID's multicodec: 0x55 raw or 0x70 dag-pb.
    @return uint256 The PMR-ID.
    """
    assert not PAPER_LAYOUT, "pmr_token: paper layout deployed"
    assert record_cid != empty(bytes32), "pmr_token: empty record cid"
    assert cids._is_codec(codec), "pmr_token: unsupported cid codec"
    pmr_id: uint256 = 0
    version: uint256 = 0
    pmr_id, version = self._add_version(patient_id, visit_date, hospital_id, record_cid, codec)
    return pmr_id


@external
def mint_paper(patient_id: uint256, visit_date: uint256, hospital_id: uint256, details: PaperRecord) -> uint256:
    """
    @dev The same as `mint`, storing the record's fields as strings (paper layout).
    @param patient_id The Patient-ID.
    @param visit_date The visit date written DDMMYYYY.
    @param hospital_id The hospital the doctor acts for.
    @param details Present and past illness, provisional diagnosis, treatment, insurance.
    @return uint256 The PMR-ID.
    """
    assert PAPER_LAYOUT, "pmr_token: private layout deployed"
    pmr_id: uint256 = 0
    version: uint256 = 0
    pmr_id, version = self._add_version(patient_id, visit_date, hospital_id, empty(bytes32), 0)
    self.paper_records[pmr_id][version] = details
    return pmr_id


@external
@view
def pmr_id_of(patient_id: uint256, visit_date: uint256) -> uint256:
    """
    @dev The PMR-ID of a visit; reverts on an impossible date.
    @param patient_id The Patient-ID.
    @param visit_date The visit date written DDMMYYYY.
    @return uint256 The PMR-ID.
    """
    return pmr_ids._encode(patient_id, visit_date)


@external
@view
def exists(pmr_id: uint256) -> bool:
    """
    @dev True when this PMR token was minted.
    @param pmr_id The PMR-ID.
    @return bool Whether it exists.
    """
    return self._state[pmr_id] != 0


@external
@view
def version_count(pmr_id: uint256) -> uint256:
    """
    @dev How many versions the PMR has (0 for an unknown token).
    @param pmr_id The PMR-ID.
    @return uint256 The number of versions.
    """
    return self._state[pmr_id] >> 160


@external
@view
def version(pmr_id: uint256, index: uint256) -> (bytes32, uint256, uint256, uint256, uint256):
    """
    @dev One version of a PMR.
    @param pmr_id The PMR-ID.
    @param index The version index (0 = first).
    @return bytes32 The record CID digest.
    @return uint256 The codec.
    @return uint256 The Doctor-ID.
    @return uint256 The Hospital-ID.
    @return uint256 The block timestamp it was added at.
    """
    assert index < self._state[pmr_id] >> 160, "pmr_token: unknown version"
    meta: uint256 = self._meta[pmr_id][index]
    return self._cids[pmr_id][index], meta >> 192, meta & _U64, (meta >> 64) & _U64, (meta >> 128) & _U64


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @dev ERC-165: ERC-165, ERC-721, ERC-721 metadata and EIP-5192.
    @param interface_id The 4-byte interface identifier.
    @return bool Whether it is supported.
    """
    return interface_id in _SUPPORTED_INTERFACES


@external
@view
def balanceOf(_owner: address) -> uint256:
    """
    @dev Number of PMR tokens a patient owns.
    @param _owner The patient's account.
    @return uint256 The count.
    """
    assert _owner != empty(address), "pmr_token: zero address"
    return self._balances[_owner]


@external
@view
def ownerOf(_tokenId: uint256) -> address:
    """
    @dev The patient owning a PMR token.
    @param _tokenId The PMR-ID.
    @return address The patient's account.
    """
    return self._owner_of(_tokenId)


@external
@view
def tokenURI(token_id: uint256) -> String[66]:
    """
    @dev `ipfs://` URI (CIDv1, base32) of the current version's record.
    @param token_id The PMR-ID.
    @return String The URI (empty for a paper-layout record).
    """
    count: uint256 = self._state[token_id] >> 160
    assert count != 0, "pmr_token: unknown token"
    return cids._to_uri(convert(self._meta[token_id][count - 1] >> 192, uint8), self._cids[token_id][count - 1])


@external
@view
def locked(tokenId: uint256) -> bool:
    """
    @dev EIP-5192: every PMR token is locked to its patient.
    @param tokenId The PMR-ID.
    @return bool Always True for an existing token.
    """
    self._owner_of(tokenId)
    return True


@external
@view
def getApproved(_tokenId: uint256) -> address:
    """
    @dev No approvals exist for soulbound tokens.
    @param _tokenId The PMR-ID.
    @return address Always the zero address.
    """
    self._owner_of(_tokenId)
    return empty(address)


@external
@view
def isApprovedForAll(_owner: address, _operator: address) -> bool:
    """
    @dev No operators exist for soulbound tokens.
    @param _owner The owner.
    @param _operator The operator.
    @return bool Always False.
    """
    return False


@external
@payable
def transferFrom(_from: address, _to: address, _tokenId: uint256):
    """
    @dev Always reverts: PMR tokens are locked (EIP-5192).
    @param _from Unused.
    @param _to Unused.
    @param _tokenId Unused.
    """
    raise "pmr_token: token is soulbound"


@external
@payable
def safeTransferFrom(_from: address, _to: address, _tokenId: uint256, _data: Bytes[1024] = b""):
    """
    @dev Always reverts: PMR tokens are locked (EIP-5192).
    @param _from Unused.
    @param _to Unused.
    @param _tokenId Unused.
    @param _data Unused.
    """
    raise "pmr_token: token is soulbound"


@external
@payable
def approve(_approved: address, _tokenId: uint256):
    """
    @dev Always reverts: PMR tokens are locked (EIP-5192).
    @param _approved Unused.
    @param _tokenId Unused.
    """
    raise "pmr_token: token is soulbound"


@external
def setApprovalForAll(_operator: address, _approved: bool):
    """
    @dev Always reverts: PMR tokens are locked (EIP-5192).
    @param _operator Unused.
    @param _approved Unused.
    """
    raise "pmr_token: token is soulbound"


@internal
@view
def _owner_of(token_id: uint256) -> address:
    """
    @dev The owner of a token; reverts for an unknown token.
    """
    state: uint256 = self._state[token_id]
    assert state != 0, "pmr_token: unknown token"
    return convert(convert(state & _ADDRESS_MASK, uint160), address)


@internal
def _add_version(
    patient_id: uint256, visit_date: uint256, hospital_id: uint256, record_cid: bytes32, codec: uint8
) -> (uint256, uint256):
    """
    @dev Check the doctor and patient, mint the token on its first version, record the version.
    """
    pmr_id: uint256 = pmr_ids._encode(patient_id, visit_date)
    doctor_id: uint256 = staticcall DOCTORS.check_doctor(msg.sender, hospital_id)
    owner: address = staticcall PATIENTS.account_of(patient_id)
    state: uint256 = self._state[pmr_id]
    version: uint256 = state >> 160
    if state == 0:
        self._balances[owner] += 1
        log Transfer(sender=empty(address), receiver=owner, token_id=pmr_id)
        log Locked(tokenId=pmr_id)
    self._state[pmr_id] = ((version + 1) << 160) | convert(owner, uint256)
    self._meta[pmr_id][version] = (
        (convert(codec, uint256) << 192) | (block.timestamp << 128) | (hospital_id << 64) | doctor_id
    )
    if record_cid != empty(bytes32):
        self._cids[pmr_id][version] = record_cid
    log PMRVersionAdded(
        pmr_id=pmr_id,
        patient_id=patient_id,
        doctor_id=doctor_id,
        hospital_id=hospital_id,
        version=version,
        record_cid=record_cid,
    )
    return pmr_id, version
