# pragma version ~=0.4.3
"""
@title PMRMulti
@custom:contract-name PMRMulti
@license MIT
@notice The paper's future work: the same PMR life cycle as PMRToken on
        one ERC-1155 multi-token contract (snekmate's erc1155 module):
        token id = PMR-ID, one unit minted to the patient on the first
        version of a visit, further versions appended; `uri(id)` is the
        current record's CID, announced by the ERC-1155 `URI` event
        when a later version changes it. PMRs stay with their patient:
        transfers and approvals revert. Deployed in place of PMRToken
        when a scenario says `token: erc1155`, so the two can be compared.

        The mint calls untrusted code when the patient's account is a
        contract (`onERC1155Received`), so every entry point that can
        reach it is non-reentrant (trust model rule T1), and a receiver
        that refuses does not block its own records (rule T2): the
        version is recorded, the unit is held back (`MintDeferred`) and
        the patient claims it later with `claim`.
"""

from ethereum.ercs import IERC165
implements: IERC165

from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc1155
initializes: erc1155[ownable := ownable]

from snekmate.tokens.interfaces import IERC1155

from interfaces import IAccessGrants
from interfaces import IDoctorRegistry
from interfaces import IPatientRegistry
import modules.pmr_ids as pmr_ids
import modules.cids as cids
import modules.pmr_versions as versions

initializes: versions

exports: (
    erc1155.balanceOf,
    erc1155.balanceOfBatch,
    erc1155.isApprovedForAll,
    erc1155.total_supply,
    versions.DOCTORS,
    versions.PATIENTS,
    versions.PAPER_LAYOUT,
    versions.paper_records,
    versions.access_grants,
    versions.MAX_VISIT_AGE_DAYS,
)

#: Gas a patient contract's `onERC1155Received` may use (bounds the doctor's cost).
RECEIVER_GAS: public(constant(uint256)) = 200_000

_SUPPORTED_INTERFACES: constant(bytes4[3]) = [
    0x01FFC9A7,  # ERC-165
    0xD9B67A26,  # ERC-1155
    0x0E89341C,  # ERC-1155 metadata URI
]


event MintDeferred:
    pmr_id: indexed(uint256)
    owner: indexed(address)


@deploy
def __init__(doctors: IDoctorRegistry, patients: IPatientRegistry, paper_layout: bool):
    """
    @dev Wire the token to the doctor and patient registries.
    @param doctors The DoctorRegistry.
    @param patients The PatientRegistry.
    @param paper_layout True to store the record fields as strings.
    """
    ownable.__init__()
    erc1155.__init__("")
    versions.__init__(doctors, patients, paper_layout)


@external
def set_access_grants(grants: IAccessGrants):
    """
    @dev The deployer wires AccessGrants once (write grants for later versions).
    @param grants The AccessGrants contract.
    """
    versions._set_access_grants(grants)


@external
@nonreentrant
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
@nonreentrant
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
@nonreentrant
def claim(pmr_id: uint256):
    """
    @dev The patient takes the unit of a PMR its contract account refused at mint time.
    @param pmr_id The PMR-ID.
    """
    owner: address = versions._record_of(pmr_id)[0]
    assert owner != empty(address), "pmr_token: unknown token"
    assert msg.sender == owner, "pmr_token: not the record owner"
    assert erc1155.balanceOf[owner][pmr_id] == 0, "pmr_token: already held"
    erc1155._safe_mint(owner, pmr_id, 1, b"")


@external
def mint_unit(owner: address, pmr_id: uint256):
    """
    @dev Internal step of `mint` for a contract patient, called by this contract only
         so that a refusing receiver reverts this call and not the whole mint.
    @param owner The patient's contract account.
    @param pmr_id The PMR-ID.
    """
    assert msg.sender == self, "pmr_token: internal"
    erc1155._safe_mint(owner, pmr_id, 1, b"")


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
    @dev True when this PMR was minted.
    @param pmr_id The PMR-ID.
    @return bool Whether it exists.
    """
    return versions._exists(pmr_id)


@external
@view
def ownerOf(pmr_id: uint256) -> address:
    """
    @dev The patient holding a PMR (ERC-1155 has no owner query; PMRs have exactly one holder).
    @param pmr_id The PMR-ID.
    @return address The patient's account.
    """
    return versions._owner_of(pmr_id)


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
    @dev How many versions the PMR has (0 for an unknown PMR).
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
def uri(id: uint256) -> String[66]:
    """
    @dev ERC-1155 metadata: `ipfs://` URI of the current version's record.
    @param id The PMR-ID.
    @return String The URI.
    """
    return versions._uri(id)


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @dev ERC-165: ERC-165, ERC-1155 and its metadata URI extension.
    @param interface_id The 4-byte interface identifier.
    @return bool Whether it is supported.
    """
    return interface_id in _SUPPORTED_INTERFACES


@external
def safeTransferFrom(owner: address, to: address, id: uint256, amount: uint256, data: Bytes[1_024]):
    """
    @dev Always reverts: a PMR stays with its patient.
    @param owner Unused.
    @param to Unused.
    @param id Unused.
    @param amount Unused.
    @param data Unused.
    """
    raise "pmr_token: token is soulbound"


@external
def safeBatchTransferFrom(
    owner: address, to: address, ids: DynArray[uint256, 128], amounts: DynArray[uint256, 128], data: Bytes[1_024]
):
    """
    @dev Always reverts: a PMR stays with its patient.
    @param owner Unused.
    @param to Unused.
    @param ids Unused.
    @param amounts Unused.
    @param data Unused.
    """
    raise "pmr_token: token is soulbound"


@external
def setApprovalForAll(operator: address, approved: bool):
    """
    @dev Always reverts: a PMR stays with its patient.
    @param operator Unused.
    @param approved Unused.
    """
    raise "pmr_token: token is soulbound"


@internal
def _mint(patient_id: uint256, visit_date: uint256, hospital_id: uint256, record_cid: bytes32, codec: uint8) -> uint256:
    """
    @dev Add the version; on a new PMR issue its unit to the patient, on a later version log the new URI.
         The unit is minted by a call to `mint_unit` on this contract: a contract patient that
         refuses it (or spends more than RECEIVER_GAS) reverts only that call and gets the unit
         later through `claim`; and snekmate's transfer frames (kilobytes of batch buffers) live
         in that call's memory, not in this function's, which every version pays for.
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
    if owner == empty(address):
        log IERC1155.URI(_value=versions._uri(pmr_id), _id=pmr_id)
        return pmr_id
    # a fixed gas argument (no GAS opcode): the outcome does not depend on the signed gas limit
    minted: bool = raw_call(
        self,
        abi_encode(owner, pmr_id, method_id=method_id("mint_unit(address,uint256)")),
        gas=RECEIVER_GAS,
        revert_on_failure=False,
    )
    if not minted:
        assert owner.is_contract, "pmr_token: mint failed"
        log MintDeferred(pmr_id=pmr_id, owner=owner)
    return pmr_id
