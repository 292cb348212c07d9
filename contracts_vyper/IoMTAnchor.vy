# pragma version ~=0.4.3
"""
@title IoMTAnchor
@custom:contract-name IoMTAnchor
@license MIT
@notice The paper's IoMT devices, "stored in the blockchain ... by
        referring to the unique Patient-ID". A verified hospital binds a
        device to a patient; the device then either anchors a batch of
        readings as (time window, Merkle root, CID of the batch), or, in
        per-reading mode, stores every reading on chain as the paper
        literally says, so the gas of the two can be compared. Any
        reading of an anchored batch is provable on chain against its
        root (snekmate's sorted-pair keccak Merkle proofs).
"""

from interfaces import IHospitalRegistry
from interfaces import IPatientRegistry
from snekmate.utils import merkle_proof_verification as merkle

_PROOF_BOUND: constant(uint8) = max_value(uint8)


event DeviceBound:
    device: indexed(address)
    patient_id: indexed(uint256)
    hospital_id: indexed(uint256)


event BatchAnchored:
    device: indexed(address)
    patient_id: indexed(uint256)
    batch_index: indexed(uint256)
    window_start: uint256
    window_end: uint256
    readings: uint256
    merkle_root: bytes32
    batch_cid: bytes32


event ReadingRecorded:
    device: indexed(address)
    patient_id: indexed(uint256)
    reading_index: indexed(uint256)
    kind: uint256
    reading: int256
    taken_at: uint256


HOSPITALS: public(immutable(IHospitalRegistry))
PATIENTS: public(immutable(IPatientRegistry))

device_patient: public(HashMap[address, uint256])
batch_count: public(HashMap[address, uint256])
batch_root: public(HashMap[address, HashMap[uint256, bytes32]])
reading_count: public(HashMap[address, uint256])
# device -> index -> taken_at << 136 | kind << 128 | uint128(value)
_readings: HashMap[address, HashMap[uint256, uint256]]


@deploy
def __init__(hospitals: IHospitalRegistry, patients: IPatientRegistry):
    """
    @dev Wire the contract to the hospital and patient registries.
    @param hospitals The HospitalRegistry.
    @param patients The PatientRegistry.
    """
    HOSPITALS = hospitals
    PATIENTS = patients


@external
def bind_device(device: address, patient_id: uint256):
    """
    @dev A verified hospital's operator binds a device to a patient.
    @param device The device's account.
    @param patient_id The patient.
    """
    hospital_id: uint256 = staticcall HOSPITALS.verified_hospital_of(msg.sender)
    patient: address = staticcall PATIENTS.account_of(patient_id)
    assert device != empty(address), "iomt_anchor: empty device"
    assert self.device_patient[device] == 0, "iomt_anchor: device already bound"
    self.device_patient[device] = patient_id
    log DeviceBound(device=device, patient_id=patient_id, hospital_id=hospital_id)


@external
def anchor_batch(window_start: uint256, window_end: uint256, readings: uint256, merkle_root: bytes32, batch_cid: bytes32):
    """
    @dev A bound device anchors a batch of readings taken in [window_start, window_end).
    @param window_start First second of the window.
    @param window_end End of the window (exclusive), not after the current block.
    @param readings Number of readings in the batch.
    @param merkle_root Root of the sorted-pair keccak Merkle tree of the readings.
    @param batch_cid sha2-256 digest of the (encrypted) batch stored off chain.
    """
    patient_id: uint256 = self._device_patient(msg.sender)
    assert window_start < window_end and window_end <= block.timestamp, "iomt_anchor: bad window"
    assert readings != 0 and merkle_root != empty(bytes32), "iomt_anchor: empty batch"
    index: uint256 = self.batch_count[msg.sender]
    self.batch_count[msg.sender] = index + 1
    self.batch_root[msg.sender][index] = merkle_root
    log BatchAnchored(
        device=msg.sender,
        patient_id=patient_id,
        batch_index=index,
        window_start=window_start,
        window_end=window_end,
        readings=readings,
        merkle_root=merkle_root,
        batch_cid=batch_cid,
    )


@external
def record_reading(kind: uint256, reading: int128, taken_at: uint256):
    """
    @dev Per-reading mode: a bound device stores one reading on chain.
    @param kind Reading kind (e.g. 0 heart rate, 1 SpO2, 2 temperature, 3 glucose), below 256.
    @param reading The reading, scaled to an integer.
    @param taken_at When it was taken (seconds), not after the current block.
    """
    patient_id: uint256 = self._device_patient(msg.sender)
    assert kind < 256 and taken_at <= block.timestamp, "iomt_anchor: bad reading"
    index: uint256 = self.reading_count[msg.sender]
    self.reading_count[msg.sender] = index + 1
    self._readings[msg.sender][index] = (
        (taken_at << 136) | (kind << 128) | convert(convert(convert(reading, int256), bytes32), uint256) & (2**128 - 1)
    )
    log ReadingRecorded(
        device=msg.sender, patient_id=patient_id, reading_index=index, kind=kind, reading=convert(reading, int256), taken_at=taken_at
    )


@external
@view
def verify_reading(device: address, batch_index: uint256, leaf: bytes32, proof: DynArray[bytes32, _PROOF_BOUND]) -> bool:
    """
    @dev Whether `leaf` (keccak of a reading) is in an anchored batch.
    @param device The device.
    @param batch_index The batch.
    @param leaf The leaf hash.
    @param proof The sibling hashes from leaf to root.
    @return bool True when the proof leads to the batch's root.
    """
    root: bytes32 = self.batch_root[device][batch_index]
    assert root != empty(bytes32), "iomt_anchor: unknown batch"
    return merkle._verify(proof, root, leaf)


@internal
@view
def _device_patient(device: address) -> uint256:
    """
    @dev The patient a device is bound to; reverts for an unknown device.
    """
    patient_id: uint256 = self.device_patient[device]
    assert patient_id != 0, "iomt_anchor: unknown device"
    return patient_id
