# pragma version ~=0.4.3
"""
@title PatientRegistry
@custom:contract-name PatientRegistry
@license MIT
@notice Fig. 3 of the paper: a verified hospital's registration desk
        registers a patient (and attendant) on the first visit; a
        Patient-ID is issued and bound to the patient's account, which
        owns the patient's PMR tokens and signs access grants. Only an
        operator holding the desk role may register (trust model rule H3).

        Private layout: a salted commitment to the demographics and
        attendant, and the CID digest of the encrypted registration
        record. Paper layout: the fields as strings and numbers.
"""

from interfaces import IHospitalRegistry
import modules.pmr_ids as pmr_ids

_ADDRESS_MASK: constant(uint256) = (1 << 160) - 1
ROLE_DESK: constant(uint256) = 2


struct Record:
    commitment: bytes32
    cid: bytes32


struct PaperRecord:
    name: String[64]
    age: uint256
    gender: String[16]
    weight_grams: uint256
    height_mm: uint256
    contact: String[96]
    attendant_name: String[64]
    attendant_phone: String[20]
    attendant_relation: String[20]


event PatientRegistered:
    patient_id: indexed(uint256)
    hospital_id: indexed(uint256)
    account: indexed(address)
    commitment: bytes32
    record_cid: bytes32


HOSPITALS: public(immutable(IHospitalRegistry))
PAPER_LAYOUT: public(immutable(bool))

next_patient_id: public(uint256)
patient_id_of: public(HashMap[address, uint256])
records: public(HashMap[uint256, Record])
paper_records: public(HashMap[uint256, PaperRecord])
# Patient-ID -> registering Hospital-ID << 160 | account
_patients: HashMap[uint256, uint256]


@deploy
def __init__(hospitals: IHospitalRegistry, paper_layout: bool, first_patient_id: uint256):
    """
    @dev Wire the registry; Patient-IDs are issued from `first_patient_id` upward.
    @param hospitals The HospitalRegistry.
    @param paper_layout True to store registration fields on chain.
    @param first_patient_id The first Patient-ID to issue (e.g. 85437 for the paper's example).
    """
    assert first_patient_id != 0 and first_patient_id <= pmr_ids.MAX_PATIENT_ID, "patient_registry: bad first id"
    HOSPITALS = hospitals
    PAPER_LAYOUT = paper_layout
    self.next_patient_id = first_patient_id


@external
def register(patient: address, commitment: bytes32, record_cid: bytes32) -> uint256:
    """
    @dev A verified hospital's desk registers a patient (private layout).
    @param patient The patient's account.
    @param commitment Salted commitment to the demographics and attendant details.
    @param record_cid sha2-256 digest of the encrypted registration record (CIDv1, raw).
    @return uint256 The new Patient-ID.
    """
    assert not PAPER_LAYOUT, "patient_registry: paper layout deployed"
    assert commitment != empty(bytes32), "patient_registry: empty commitment"
    patient_id: uint256 = self._register(patient)
    self.records[patient_id] = Record(commitment=commitment, cid=record_cid)
    log PatientRegistered(
        patient_id=patient_id,
        hospital_id=self._patients[patient_id] >> 160,
        account=patient,
        commitment=commitment,
        record_cid=record_cid,
    )
    return patient_id


@external
def register_paper(patient: address, details: PaperRecord) -> uint256:
    """
    @dev A verified hospital's desk registers a patient with the details in clear (paper layout).
    @param patient The patient's account.
    @param details Name, age, gender, weight, height, contact and attendant details.
    @return uint256 The new Patient-ID.
    """
    assert PAPER_LAYOUT, "patient_registry: private layout deployed"
    patient_id: uint256 = self._register(patient)
    self.paper_records[patient_id] = details
    log PatientRegistered(
        patient_id=patient_id,
        hospital_id=self._patients[patient_id] >> 160,
        account=patient,
        commitment=empty(bytes32),
        record_cid=empty(bytes32),
    )
    return patient_id


@external
@view
def account_of(patient_id: uint256) -> address:
    """
    @dev The account bound to a Patient-ID; reverts for an unknown patient.
    @param patient_id The Patient-ID.
    @return address The patient's account.
    """
    packed: uint256 = self._patients[patient_id]
    assert packed != 0, "patient_registry: unknown patient"
    return convert(convert(packed & _ADDRESS_MASK, uint160), address)


@external
@view
def registered_at(patient_id: uint256) -> uint256:
    """
    @dev The Hospital-ID whose desk registered the patient (0 if unknown).
    @param patient_id The Patient-ID.
    @return uint256 The Hospital-ID.
    """
    return self._patients[patient_id] >> 160


@internal
def _register(patient: address) -> uint256:
    """
    @dev Issue the next Patient-ID to `patient` for the caller's verified hospital (desk role).
    @param patient The patient's account.
    @return uint256 The new Patient-ID.
    """
    hospital_id: uint256 = staticcall HOSPITALS.hospital_for(msg.sender, ROLE_DESK)
    assert patient != empty(address), "patient_registry: empty account"
    assert self.patient_id_of[patient] == 0, "patient_registry: account already registered"
    patient_id: uint256 = self.next_patient_id
    assert patient_id <= pmr_ids.MAX_PATIENT_ID, "patient_registry: id space exhausted"
    self.next_patient_id = patient_id + 1
    self.patient_id_of[patient] = patient_id
    self._patients[patient_id] = (hospital_id << 160) | convert(patient, uint256)
    return patient_id
