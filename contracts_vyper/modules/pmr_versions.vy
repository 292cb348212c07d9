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

        Trust model rules P1-P3: the doctor must stand at the hospital it
        names; the hospital of a PMR's first version is the record's
        hospital, and a later version comes from a doctor of that
        hospital or one holding the patient's grant to write
        (AccessGrants, wired once after deployment); a new PMR's visit
        date lies between MAX_VISIT_AGE_DAYS before the block's date and
        one day after it (time zones east of UTC).
"""

from interfaces import IAccessGrants
from interfaces import IDoctorRegistry
from interfaces import IPatientRegistry
import modules.pmr_ids as pmr_ids
import modules.cids as cids

_ADDRESS_MASK: constant(uint256) = (1 << 160) - 1
_U64: constant(uint256) = (1 << 64) - 1
#: How many days after a visit its PMR may still be created.
MAX_VISIT_AGE_DAYS: public(constant(uint256)) = 30


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

# PMR-ID -> version count << 224 | record's Hospital-ID << 160 | owner (one slot per token)
_state: HashMap[uint256, uint256]
# PMR-ID -> version -> record CID digest
_cids: HashMap[uint256, HashMap[uint256, bytes32]]
# PMR-ID -> version -> codec << 192 | timestamp << 128 | hospital_id << 64 | doctor_id
_meta: HashMap[uint256, HashMap[uint256, uint256]]
paper_records: public(HashMap[uint256, HashMap[uint256, PaperRecord]])
access_grants: public(IAccessGrants)
_wirer: address


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
    self._wirer = msg.sender


@internal
def _set_access_grants(grants: IAccessGrants):
    """
    @dev The deployer wires AccessGrants once (it is deployed after the token).
    @param grants The AccessGrants contract.
    """
    assert msg.sender == self._wirer, "pmr_token: only the deployer wires"
    assert self.access_grants.address == empty(address), "pmr_token: already wired"
    self.access_grants = grants


@internal
def _add_version(
    patient_id: uint256, visit_date: uint256, hospital_id: uint256, record_cid: bytes32, codec: uint8
) -> (uint256, uint256, address):
    """
    @dev Check the doctor, the patient and the date, record the version; the owner is
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
    state: uint256 = self._state[pmr_id]
    owner: address = empty(address)
    record_hospital: uint256 = hospital_id
    if state == 0:
        day: uint256 = pmr_ids._civil_day(visit_date)
        today: uint256 = pmr_ids._today()
        assert day <= today + 1, "pmr_token: visit date in the future"
        assert day + MAX_VISIT_AGE_DAYS >= today, "pmr_token: visit date too old"
        owner = staticcall PATIENTS.account_of(patient_id)
    else:
        owner = convert(convert(state & _ADDRESS_MASK, uint160), address)
        record_hospital = (state >> 160) & _U64
        if record_hospital != hospital_id:
            assert staticcall self.access_grants.can_write(
                msg.sender, pmr_id
            ), "pmr_token: not the record's hospital and no write grant"
    version: uint256 = state >> 224
    self._state[pmr_id] = ((version + 1) << 224) | (record_hospital << 160) | convert(owner, uint256)
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
def _record_of(pmr_id: uint256) -> (address, uint256):
    """
    @dev The patient holding a PMR and the record's hospital; zeros for an unknown PMR.
    @param pmr_id The PMR-ID.
    @return address The owner.
    @return uint256 The Hospital-ID of the first version.
    """
    state: uint256 = self._state[pmr_id]
    return convert(convert(state & _ADDRESS_MASK, uint160), address), (state >> 160) & _U64


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
    return self._state[pmr_id] >> 224


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
    assert index < self._state[pmr_id] >> 224, "pmr_token: unknown version"
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
    count: uint256 = self._state[pmr_id] >> 224
    assert count != 0, "pmr_token: unknown token"
    return cids._to_uri(convert(self._meta[pmr_id][count - 1] >> 192, uint8), self._cids[pmr_id][count - 1])
