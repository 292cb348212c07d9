# pragma version ~=0.4.3
"""
@title PMR life cycle shared by the ERC-721 and ERC-1155 tokens
@custom:contract-name pmr_versions
@license MIT
@notice One PMR per patient per visit date, PMR-ID = Patient-ID * 10**8
        + DDMMYYYY, created by a doctor of a verified hospital for a
        registered patient; a second visit the same date appends a
        version (record CID, doctor, hospital, time). The token standard
        (ERC-721 in PMRToken, ERC-1155 in PMRMulti) is the parent's
        business: `_add_version` tells it when a token is new.
"""

from interfaces import IDoctorRegistry
from interfaces import IPatientRegistry
import modules.pmr_ids as pmr_ids
import modules.cids as cids

_ADDRESS_MASK: constant(uint256) = (1 << 160) - 1
_U64: constant(uint256) = (1 << 64) - 1


struct PaperRecord:
    present_illness: String[128]
    past_illness: String[128]
    provisional_diagnosis: String[128]
    treatment_summary: String[128]
    insurance: String[64]


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

# PMR-ID -> version count << 160 | owner (one slot per token)
_state: HashMap[uint256, uint256]
# PMR-ID -> version -> record CID digest
_cids: HashMap[uint256, HashMap[uint256, bytes32]]
# PMR-ID -> version -> codec << 192 | timestamp << 128 | hospital_id << 64 | doctor_id
_meta: HashMap[uint256, HashMap[uint256, uint256]]
paper_records: public(HashMap[uint256, HashMap[uint256, PaperRecord]])


@deploy
def __init__(doctors: IDoctorRegistry, patients: IPatientRegistry, paper_layout: bool):
    """
    @dev Wire the life cycle to the doctor and patient registries.
    @param doctors The DoctorRegistry.
    @param patients The PatientRegistry.
    @param paper_layout True to store the record fields as strings.
    """
    DOCTORS = doctors
    PATIENTS = patients
    PAPER_LAYOUT = paper_layout


@internal
def _add_version(
    patient_id: uint256, visit_date: uint256, hospital_id: uint256, record_cid: bytes32, codec: uint8
) -> (uint256, uint256, address):
    """
    @dev Check the doctor and the patient, record the version; the owner is
         returned for a new token (the zero address when only a version was added).
    @param patient_id The Patient-ID.
    @param visit_date The visit date written DDMMYYYY.
    @param hospital_id The hospital the doctor (msg.sender) acts for.
    @param record_cid sha2-256 digest of the record (empty in the paper layout).
    @param codec The record CID's multicodec.
    @return uint256 The PMR-ID.
    @return uint256 The version index.
    @return address The owner to mint to, or the zero address.
    """
    pmr_id: uint256 = pmr_ids._encode(patient_id, visit_date)
    doctor_id: uint256 = staticcall DOCTORS.check_doctor(msg.sender, hospital_id)
    owner: address = staticcall PATIENTS.account_of(patient_id)
    state: uint256 = self._state[pmr_id]
    version: uint256 = state >> 160
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
    if state == 0:
        return pmr_id, version, owner
    return pmr_id, version, empty(address)


@internal
@view
def _exists(pmr_id: uint256) -> bool:
    """
    @dev True when the PMR was created.
    @param pmr_id The PMR-ID.
    @return bool Whether it exists.
    """
    return self._state[pmr_id] != 0


@internal
@view
def _owner_of(pmr_id: uint256) -> address:
    """
    @dev The patient owning a PMR; reverts for an unknown one.
    @param pmr_id The PMR-ID.
    @return address The owner.
    """
    state: uint256 = self._state[pmr_id]
    assert state != 0, "pmr_token: unknown token"
    return convert(convert(state & _ADDRESS_MASK, uint160), address)


@internal
@view
def _version_count(pmr_id: uint256) -> uint256:
    """
    @dev Number of versions (0 for an unknown PMR).
    @param pmr_id The PMR-ID.
    @return uint256 The count.
    """
    return self._state[pmr_id] >> 160


@internal
@view
def _version(pmr_id: uint256, index: uint256) -> (bytes32, uint256, uint256, uint256, uint256):
    """
    @dev One version: CID digest, codec, Doctor-ID, Hospital-ID, block time.
    @param pmr_id The PMR-ID.
    @param index The version index.
    @return bytes32 The CID digest.
    @return uint256 The codec.
    @return uint256 The Doctor-ID.
    @return uint256 The Hospital-ID.
    @return uint256 The timestamp.
    """
    assert index < self._state[pmr_id] >> 160, "pmr_token: unknown version"
    meta: uint256 = self._meta[pmr_id][index]
    return self._cids[pmr_id][index], meta >> 192, meta & _U64, (meta >> 64) & _U64, (meta >> 128) & _U64


@internal
@view
def _uri(pmr_id: uint256) -> String[66]:
    """
    @dev `ipfs://` URI of the current version's record.
    @param pmr_id The PMR-ID.
    @return String The URI.
    """
    count: uint256 = self._state[pmr_id] >> 160
    assert count != 0, "pmr_token: unknown token"
    return cids._to_uri(convert(self._meta[pmr_id][count - 1] >> 192, uint8), self._cids[pmr_id][count - 1])
