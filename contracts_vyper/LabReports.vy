# pragma version ~=0.4.3
"""
@title LabReports
@custom:contract-name LabReports
@license MIT
@notice Fig. 5 of the paper: a lab of a verified hospital posts the
        report of a PMR: test type, date of capture, reason, observations
        and the IPFS reference. The study itself is de-identified, split
        by the (1, t, n) essential secret sharing scheme and stored off
        chain; on chain goes the CID digest of its manifest.

        Trust model rules L1-L2: only an operator holding the lab role
        of the record's hospital posts, or of a hospital a doctor of the
        record's hospital referred the test to (`refer`); the capture
        date lies between the visit date and one day after the block's.

        Private layout: test type (enum), capture date, a reason code,
        a salted commitment to the observations and the manifest CID.
        Paper layout: the reason, observations and IPFS hash as strings.
"""

from interfaces import IDoctorRegistry
from interfaces import IHospitalRegistry
from interfaces import IPMRToken
import modules.pmr_ids as pmr_ids
import modules.cids as cids

# Test types, in this order: blood, urine, ECG, X-ray, MRI, CT,
# ultrasound, mammography, general examination.
TEST_TYPE_COUNT: public(constant(uint256)) = 9
_U64: constant(uint256) = (1 << 64) - 1
ROLE_LAB: constant(uint256) = 4


struct PaperReport:
    reason: String[128]
    observations: String[256]
    ipfs_hash: String[64]


event LabReportPosted:
    report_id: indexed(uint256)
    pmr_id: indexed(uint256)
    patient_id: indexed(uint256)
    hospital_id: uint256
    test_type: uint256
    capture_date: uint256
    reason_code: uint256
    observations_commitment: bytes32
    manifest_cid: bytes32


event LabReferral:
    pmr_id: indexed(uint256)
    patient_id: indexed(uint256)
    hospital_id: indexed(uint256)
    doctor_id: uint256


HOSPITALS: public(immutable(IHospitalRegistry))
PMRS: public(immutable(IPMRToken))
DOCTORS: public(immutable(IDoctorRegistry))
PAPER_LAYOUT: public(immutable(bool))

report_count: public(uint256)
# report -> codec << 184 | hospital << 120 | reason << 104 | capture_date << 72 | type << 64 | pmr_id
_meta: HashMap[uint256, uint256]
observations_commitment: public(HashMap[uint256, bytes32])
manifest_cid: public(HashMap[uint256, bytes32])
paper_reports: public(HashMap[uint256, PaperReport])
referred: public(HashMap[uint256, HashMap[uint256, bool]])


@deploy
def __init__(hospitals: IHospitalRegistry, pmrs: IPMRToken, doctors: IDoctorRegistry, paper_layout: bool):
    """
    @dev Wire the contract to the registries and the PMR token.
    @param hospitals The HospitalRegistry.
    @param pmrs The PMR token (PMRToken or PMRMulti).
    @param doctors The DoctorRegistry (who may refer a test).
    @param paper_layout True to store reason and observations as strings.
    """
    HOSPITALS = hospitals
    PMRS = pmrs
    DOCTORS = doctors
    PAPER_LAYOUT = paper_layout


@external
def refer(pmr_id: uint256, hospital_id: uint256):
    """
    @dev A doctor of the record's hospital refers the record's tests to another verified hospital's lab.
    @param pmr_id The PMR.
    @param hospital_id The hospital whose lab may then post reports of it.
    """
    owner: address = empty(address)
    record_hospital: uint256 = 0
    owner, record_hospital = staticcall PMRS.record_of(pmr_id)
    assert owner != empty(address), "lab_reports: unknown PMR"
    doctor_id: uint256 = staticcall DOCTORS.check_doctor(msg.sender, record_hospital)
    assert hospital_id != record_hospital, "lab_reports: already the record's hospital"
    assert staticcall HOSPITALS.is_verified(hospital_id), "lab_reports: hospital not verified"
    self.referred[pmr_id][hospital_id] = True
    log LabReferral(pmr_id=pmr_id, patient_id=pmr_ids._patient_of(pmr_id), hospital_id=hospital_id, doctor_id=doctor_id)


@external
def post(
    pmr_id: uint256,
    test_type: uint256,
    capture_date: uint256,
    reason_code: uint256,
    observations_commitment: bytes32,
    manifest_cid: bytes32,
    codec: uint8,
) -> uint256:
    """
    @dev A lab operator of a verified hospital posts a report of a PMR (private layout).
    @param pmr_id The PMR the report belongs to.
    @param test_type 0 blood, 1 urine, 2 ECG, 3 X-ray, 4 MRI, 5 CT, 6 ultrasound, 7 mammography, 8 general exam.
    @param capture_date The date of capture written DDMMYYYY.
    @param reason_code Coded reason for the test (e.g. an ICD-10 chapter code), below 2**16.
    @param observations_commitment Salted commitment to the observations.
    @param manifest_cid sha2-256 digest of the sharing manifest (CIDv1).
    @param codec The manifest CID's multicodec: 0x55 raw or 0x70 dag-pb.
    @return uint256 The report number.
    """
    assert not PAPER_LAYOUT, "lab_reports: paper layout deployed"
    assert manifest_cid != empty(bytes32), "lab_reports: empty manifest cid"
    assert cids._is_codec(codec), "lab_reports: unsupported cid codec"
    assert reason_code < 2**16, "lab_reports: reason code out of range"
    report_id: uint256 = self._post(pmr_id, test_type, capture_date, reason_code, codec)
    self.observations_commitment[report_id] = observations_commitment
    self.manifest_cid[report_id] = manifest_cid
    self._log(report_id, observations_commitment, manifest_cid)
    return report_id


@external
def post_paper(
    pmr_id: uint256,
    test_type: uint256,
    capture_date: uint256,
    details: PaperReport,
) -> uint256:
    """
    @dev The same as `post`, storing reason, observations and IPFS hash as strings (paper layout).
    @param pmr_id The PMR the report belongs to.
    @param test_type The test type (see `post`).
    @param capture_date The date of capture written DDMMYYYY.
    @param details Reason, observations and the IPFS hash.
    @return uint256 The report number.
    """
    assert PAPER_LAYOUT, "lab_reports: private layout deployed"
    report_id: uint256 = self._post(pmr_id, test_type, capture_date, 0, 0)
    self.paper_reports[report_id] = details
    self._log(report_id, empty(bytes32), empty(bytes32))
    return report_id


@external
@view
def report(report_id: uint256) -> (uint256, uint256, uint256, uint256, uint256, uint256):
    """
    @dev The fixed fields of a report.
    @param report_id The report number.
    @return uint256 PMR-ID.
    @return uint256 Test type.
    @return uint256 Capture date (DDMMYYYY).
    @return uint256 Reason code.
    @return uint256 Hospital-ID of the lab.
    @return uint256 Manifest CID codec.
    """
    meta: uint256 = self._meta[report_id]
    assert meta != 0, "lab_reports: unknown report"
    return (
        meta & _U64,
        (meta >> 64) & 255,
        (meta >> 72) & (2**32 - 1),
        (meta >> 104) & (2**16 - 1),
        (meta >> 120) & _U64,
        meta >> 184,
    )


@external
@view
def manifest_uri(report_id: uint256) -> String[66]:
    """
    @dev `ipfs://` URI (CIDv1, base32) of a report's sharing manifest.
    @param report_id The report number.
    @return String The URI.
    """
    return cids._to_uri(convert(self._meta[report_id] >> 184, uint8), self.manifest_cid[report_id])


@internal
def _post(pmr_id: uint256, test_type: uint256, capture_date: uint256, reason_code: uint256, codec: uint8) -> uint256:
    """
    @dev Check the lab, the PMR and the dates, store the packed fields, return the report number.
    @param pmr_id The PMR.
    @param test_type The test type.
    @param capture_date The date of capture written DDMMYYYY.
    @param reason_code The reason code (0 in the paper layout).
    @param codec The manifest CID's multicodec (0 in the paper layout).
    @return uint256 The report number.
    """
    assert test_type < TEST_TYPE_COUNT, "lab_reports: unknown test type"
    assert pmr_ids._is_valid_date(capture_date), "lab_reports: invalid capture date"
    hospital_id: uint256 = staticcall HOSPITALS.hospital_for(msg.sender, ROLE_LAB)
    owner: address = empty(address)
    record_hospital: uint256 = 0
    owner, record_hospital = staticcall PMRS.record_of(pmr_id)
    assert owner != empty(address), "lab_reports: unknown PMR"
    assert (
        hospital_id == record_hospital or self.referred[pmr_id][hospital_id]
    ), "lab_reports: not the record's hospital and not referred"
    captured: uint256 = pmr_ids._civil_day(capture_date)
    assert captured >= pmr_ids._civil_day(pmr_id % pmr_ids.DATE_BASE), "lab_reports: capture date before the visit"
    assert captured <= pmr_ids._today() + 1, "lab_reports: capture date in the future"
    report_id: uint256 = self.report_count + 1
    self.report_count = report_id
    self._meta[report_id] = (
        (convert(codec, uint256) << 184)
        | (hospital_id << 120)
        | (reason_code << 104)
        | (capture_date << 72)
        | (test_type << 64)
        | pmr_id
    )
    return report_id


@internal
def _log(report_id: uint256, observations_commitment: bytes32, manifest_cid: bytes32):
    """
    @dev Emit LabReportPosted from the stored fields.
    @param report_id The report number.
    @param observations_commitment The observations commitment (empty in the paper layout).
    @param manifest_cid The manifest CID digest (empty in the paper layout).
    """
    meta: uint256 = self._meta[report_id]
    pmr_id: uint256 = meta & _U64
    log LabReportPosted(
        report_id=report_id,
        pmr_id=pmr_id,
        patient_id=pmr_ids._patient_of(pmr_id),
        hospital_id=(meta >> 120) & _U64,
        test_type=(meta >> 64) & 255,
        capture_date=(meta >> 72) & (2**32 - 1),
        reason_code=(meta >> 104) & (2**16 - 1),
        observations_commitment=observations_commitment,
        manifest_cid=manifest_cid,
    )
