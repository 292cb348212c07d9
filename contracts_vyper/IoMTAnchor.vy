# pragma version ~=0.4.3
"""
@title IoMTAnchor
@custom:contract-name IoMTAnchor
@license MIT
@notice The paper's IoMT devices, "stored in the blockchain ... by
        referring to the unique Patient-ID". A verified hospital's desk
        proposes binding a device to a patient and the patient accepts
        it (trust model rule I1: consent); the patient, the hospital's
        desk or a regulator unbinds it (I2), and a device stops anchoring
        while its hospital is suspended (I3). A bound device either
        anchors a batch of
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
ROLE_DESK: constant(uint256) = 2
REGULATOR_ROLE: constant(bytes32) = keccak256("REGULATOR_ROLE")
STATE_PROPOSED: constant(uint256) = 1
STATE_BOUND: constant(uint256) = 2
_U64: constant(uint256) = (1 << 64) - 1


event DeviceBindingProposed:
    device: indexed(address)
    patient_id: indexed(uint256)
    hospital_id: indexed(uint256)


event DeviceBound:
    device: indexed(address)
    patient_id: indexed(uint256)
    hospital_id: indexed(uint256)


event DeviceUnbound:
    device: indexed(address)
    patient_id: indexed(uint256)
    by: indexed(address)


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

# device -> state << 192 | binding Hospital-ID << 128 | Patient-ID
_devices: HashMap[address, uint256]
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
    @dev A verified hospital's desk proposes binding a device to a patient; the patient must accept it.
    @param device The device's account.
    @param patient_id The patient.
    """
    hospital_id: uint256 = staticcall HOSPITALS.hospital_for(msg.sender, ROLE_DESK)
    assert device != empty(address), "iomt_anchor: empty device"
    current: uint256 = self._devices[device]
    assert current == 0 or (
        current >> 192 == STATE_PROPOSED and (current >> 128) & _U64 == hospital_id
    ), "iomt_anchor: device already bound"
    self._devices[device] = (STATE_PROPOSED << 192) | (hospital_id << 128) | patient_id
    log DeviceBindingProposed(device=device, patient_id=patient_id, hospital_id=hospital_id)


@external
def accept_device(device: address):
    """
    @dev The patient consents to a binding proposed by a hospital's desk; the device may then anchor.
    @param device The device's account.
    """
    current: uint256 = self._devices[device]
    patient_id: uint256 = current & _U64
    assert current >> 192 == STATE_PROPOSED and patient_id != 0 and staticcall PATIENTS.patient_id_of(
        msg.sender
    ) == patient_id, "iomt_anchor: no binding proposed to this patient"
    self._devices[device] = (STATE_BOUND << 192) | (current & ((1 << 192) - 1))
    log DeviceBound(device=device, patient_id=patient_id, hospital_id=(current >> 128) & _U64)


@external
def unbind_device(device: address):
    """
    @dev The patient, a desk of the binding hospital or a regulator ends a device's binding (or proposal).
    @param device The device's account.
    """
    current: uint256 = self._devices[device]
    assert current != 0, "iomt_anchor: unknown device"
    patient_id: uint256 = current & _U64
    hospital_id: uint256 = (current >> 128) & _U64
    if staticcall PATIENTS.patient_id_of(msg.sender) != patient_id:
        staff: uint256 = 0
        role: uint256 = 0
        staff, role = staticcall HOSPITALS.staff_of(msg.sender)
        assert (staff == hospital_id and role == ROLE_DESK) or staticcall HOSPITALS.hasRole(
            REGULATOR_ROLE, msg.sender
        ), "iomt_anchor: only the patient, the hospital's desk or a regulator unbinds"
    self._devices[device] = 0
    log DeviceUnbound(device=device, patient_id=patient_id, by=msg.sender)


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
def device_patient(device: address) -> uint256:
    """
    @dev The patient a device is bound to (0 when not bound, or only proposed).
    @param device The device's account.
    @return uint256 The Patient-ID.
    """
    current: uint256 = self._devices[device]
    if current >> 192 != STATE_BOUND:
        return 0
    return current & _U64


@external
@view
def device_of(device: address) -> (uint256, uint256, uint256):
    """
    @dev A device's binding: patient, hospital and state (0 none, 1 proposed, 2 bound).
    @param device The device's account.
    @return uint256 The Patient-ID.
    @return uint256 The binding Hospital-ID.
    @return uint256 The state.
    """
    current: uint256 = self._devices[device]
    return current & _U64, (current >> 128) & _U64, current >> 192


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
    @dev The patient a device may anchor for; reverts unless it is bound and its hospital verified.
    @param device The device's account.
    @return uint256 The Patient-ID.
    """
    current: uint256 = self._devices[device]
    assert current != 0, "iomt_anchor: unknown device"
    assert current >> 192 == STATE_BOUND, "iomt_anchor: binding not accepted by the patient"
    assert staticcall HOSPITALS.is_verified((current >> 128) & _U64), "iomt_anchor: binding hospital not verified"
    return current & _U64
