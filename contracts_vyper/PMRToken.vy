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
        `tokenURI` is the current version's record CID, and a new
        version announces the change with EIP-4906 `MetadataUpdate`.
        Who may add a version is the trust model's rules P1-P3 (see
        modules/pmr_versions.vy); the token calls no untrusted code.

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

from interfaces import IAccessGrants
from interfaces import IDoctorRegistry
from interfaces import IPatientRegistry
import modules.pmr_ids as pmr_ids
import modules.cids as cids
import modules.pmr_versions as versions

initializes: versions

exports: (
    versions.DOCTORS,
    versions.PATIENTS,
    versions.PAPER_LAYOUT,
    versions.paper_records,
    versions.access_grants,
    versions.MAX_VISIT_AGE_DAYS,
)

_SUPPORTED_INTERFACES: constant(bytes4[5]) = [
    0x01FFC9A7,  # ERC-165
    0x80AC58CD,  # ERC-721
    0x5B5E139F,  # ERC-721 metadata
    0xB45A3C0E,  # EIP-5192 minimal soulbound
    0x49064906,  # EIP-4906 metadata update
]


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


event MetadataUpdate:
    _tokenId: uint256


name: public(constant(String[25])) = "Patient Medical Record"
symbol: public(constant(String[5])) = "PMR"

_balances: HashMap[address, uint256]


@deploy
def __init__(doctors: IDoctorRegistry, patients: IPatientRegistry, paper_layout: bool):
    """
    @dev Wire the token to the doctor and patient registries.
    @param doctors The DoctorRegistry.
    @param patients The PatientRegistry.
    @param paper_layout True to store the record fields as strings.
    """
    versions.__init__(doctors, patients, paper_layout)


@external
def set_access_grants(grants: IAccessGrants):
    """
    @dev The deployer wires AccessGrants once (write grants for later versions).
    @param grants The AccessGrants contract.
    """
    versions._set_access_grants(grants)


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
    assert not versions.PAPER_LAYOUT, "pmr_token: paper layout deployed"
    assert record_cid != empty(bytes32), "pmr_token: empty record cid"
    assert cids._is_codec(codec), "pmr_token: unsupported cid codec"
    return self._mint(patient_id, visit_date, hospital_id, record_cid, codec)


@external
def mint_paper(
    patient_id: uint256, visit_date: uint256, hospital_id: uint256, details: versions.PaperRecord
) -> uint256:
    """
    @dev The same as `mint`, storing the record's fields as strings (paper layout).
    @param patient_id The Patient-ID.
    @param visit_date The visit date written DDMMYYYY.
    @param hospital_id The hospital the doctor acts for.
    @param details Present and past illness, provisional diagnosis, treatment, insurance.
    @return uint256 The PMR-ID.
    """
    assert versions.PAPER_LAYOUT, "pmr_token: private layout deployed"
    pmr_id: uint256 = self._mint(patient_id, visit_date, hospital_id, empty(bytes32), 0)
    versions.paper_records[pmr_id][versions._version_count(pmr_id) - 1] = details
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
    return versions._exists(pmr_id)


@external
@view
def record_of(pmr_id: uint256) -> (address, uint256):
    """
    @dev The patient holding a PMR and the record's hospital (first version's); zeros if unknown.
    @param pmr_id The PMR-ID.
    @return address The patient's account.
    @return uint256 The record's Hospital-ID.
    """
    return versions._record_of(pmr_id)


@external
@view
def version_count(pmr_id: uint256) -> uint256:
    """
    @dev How many versions the PMR has (0 for an unknown token).
    @param pmr_id The PMR-ID.
    @return uint256 The number of versions.
    """
    return versions._version_count(pmr_id)


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
    return versions._version(pmr_id, index)


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @dev ERC-165: ERC-165, ERC-721, ERC-721 metadata, EIP-5192 and EIP-4906.
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
    return versions._owner_of(_tokenId)


@external
@view
def tokenURI(token_id: uint256) -> String[66]:
    """
    @dev `ipfs://` URI (CIDv1, base32) of the current version's record.
    @param token_id The PMR-ID.
    @return String The URI (empty for a paper-layout record).
    """
    return versions._uri(token_id)


@external
@view
def locked(tokenId: uint256) -> bool:
    """
    @dev EIP-5192: every PMR token is locked to its patient.
    @param tokenId The PMR-ID.
    @return bool Always True for an existing token.
    """
    versions._owner_of(tokenId)
    return True


@external
@view
def getApproved(_tokenId: uint256) -> address:
    """
    @dev No approvals exist for soulbound tokens.
    @param _tokenId The PMR-ID.
    @return address Always the zero address.
    """
    versions._owner_of(_tokenId)
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
def _mint(patient_id: uint256, visit_date: uint256, hospital_id: uint256, record_cid: bytes32, codec: uint8) -> uint256:
    """
    @dev Add the version; on a new token count it and log the ERC-721 and EIP-5192 events,
         on a later version log EIP-4906 `MetadataUpdate` (tokenURI changed).
    @param patient_id The Patient-ID.
    @param visit_date The visit date written DDMMYYYY.
    @param hospital_id The hospital the doctor acts for.
    @param record_cid The record CID digest (empty in the paper layout).
    @param codec The CID's multicodec.
    @return uint256 The PMR-ID.
    """
    pmr_id: uint256 = 0
    version: uint256 = 0
    owner: address = empty(address)
    pmr_id, version, owner = versions._add_version(patient_id, visit_date, hospital_id, record_cid, codec)
    if owner != empty(address):
        self._balances[owner] += 1
        log Transfer(sender=empty(address), receiver=owner, token_id=pmr_id)
        log Locked(tokenId=pmr_id)
    else:
        log MetadataUpdate(_tokenId=pmr_id)
    return pmr_id
