"""Synthetic DICOM files with identifying information planted everywhere.

:func:`write_study_set` writes CR, DX, CT (two slices of one series), MR, US,
MG and a 12-lead ECG (Waveform Sequence) for two patients into a directory,
with PHI in the patient module, physicians, institution, UIDs, dates and
times, free text, nested sequences several levels deep (Referenced Study,
Request Attributes, Procedure Code, Content Sequence), a private block,
an overlay plane (60xx), curve data (50xx) and the file meta. Nothing here
is committed as binary: tests write the files to a temporary directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.charset import convert_encodings, encode_string
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from sim.privacy.deid_actions import dummy_value
from sim.privacy.deid_table import load_table
from sim.privacy.synthetic import SOP_CLASSES

#: Private creator of the planted private block.
PRIVATE_CREATOR = "ACME PHI 1.0"


@dataclass
class Patient:
    """The identifying values of one synthetic patient."""

    name: str
    patient_id: str
    birth_date: str
    address: str
    other_id: str
    alt_id: str
    phone: str


PATIENTS = (
    Patient("DOEWICZ^JOHNATHAN^QUINCY", "PID884213", "19610412",
            "12 ELMWOOD STREET SPRINGFIELD", "MRN5512077", "ALT9981234", "5551239876"),
    Patient("ROEBUCKLE^MARGARETA", "PID771045", "19790923",
            "99 BIRCHLANE AVENUE SHELBYVILLE", "MRN6620451", "ALT7712093", "5554561122"),
)


@dataclass
class Planted:
    """What a written set contains: files, their original UIDs and identifying values."""

    files: list[Path] = field(default_factory=list)
    uids: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    study_uids: dict[str, str] = field(default_factory=dict)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _content_item(p: Patient, study_uid: str, depth: int) -> Dataset:
    """A CONTAINER content item nesting PNAME, TEXT, DATE and UIDREF items ``depth`` deep."""
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "CONTAINER"
    item.ConceptNameCodeSequence = Sequence([_code("121070", "DCM", "Findings")])
    pname = Dataset()
    pname.RelationshipType = "HAS OBS CONTEXT"
    pname.ValueType = "PNAME"
    pname.ConceptNameCodeSequence = Sequence([_code("121008", "DCM", "Person Observer Name")])
    pname.PersonName = "HOUSEWRIGHT^GREGORY"
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    text.TextValue = f"Patient {p.name} ({p.patient_id}) seen at home {p.address}"
    date = Dataset()
    date.RelationshipType = "CONTAINS"
    date.ValueType = "DATE"
    date.Date = "20240611"
    date.DateTime = "20240611093015"
    uidref = Dataset()
    uidref.RelationshipType = "CONTAINS"
    uidref.ValueType = "UIDREF"
    uidref.UID = study_uid
    plain = Dataset()
    plain.RelationshipType = "CONTAINS"
    plain.ValueType = "TEXT"
    plain.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    plain.TextValue = "No acute findings."
    children = [pname, text, plain, date, uidref]
    if depth > 1:
        children.append(_content_item(p, study_uid, depth - 1))
    item.ContentSequence = Sequence(children)
    return item


def _patient_module(ds: Dataset, p: Patient) -> None:
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = "SPRINGFIELD GENERAL MPI"
    ds.PatientBirthDate = p.birth_date
    ds.PatientBirthTime = "063000"
    ds.PatientSex = "M"
    ds.PatientAge = "063Y"
    ds.PatientWeight = "81.5"
    ds.PatientAddress = p.address
    ds.PatientTelephoneNumbers = p.phone
    ds.OtherPatientIDs = p.other_id
    other = Dataset()
    other.PatientID = p.alt_id
    other.IssuerOfPatientID = "SHELBYVILLE CLINIC"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.OtherPatientNames = p.name.split("^")[0] + "^JACK"
    ds.PatientBirthName = p.name.split("^")[0] + "^BORN"
    ds.PatientMotherBirthName = "MOTHERSBY^ANNA"
    ds.MedicalRecordLocator = "SHELF 7 " + p.other_id
    ds.PatientComments = f"Lives at {p.address}; call {p.phone}"
    ds.AdditionalPatientHistory = f"Brother of {p.name}"
    ds.EthnicGroup = "NORDIC"
    ds.Occupation = "KEEPER"


def _study_module(ds: Dataset, p: Patient, study_uid: str, accession: str) -> None:
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20240611"
    ds.StudyTime = "091500"
    ds.StudyID = "ST4471"
    ds.AccessionNumber = accession
    ds.StudyDescription = f"Routine study for {p.name}"
    ds.ReferringPhysicianName = "SMITHERSON^ALICE^DR"
    ds.ReferringPhysicianAddress = "4 CLINIC ROAD SPRINGFIELD"
    ds.PhysiciansOfRecord = "NAKAMURA^KENJI"
    ds.NameOfPhysiciansReadingStudy = "OKONKWO^CHIDI"
    ds.PerformingPhysicianName = "LINDQVIST^ERIK"
    ds.OperatorsName = "TECHNICIAN^TOBIAS"
    ds.InstitutionName = "SPRINGFIELD GENERAL HOSPITAL"
    ds.InstitutionAddress = "1 HOSPITAL PLAZA SPRINGFIELD"
    ds.InstitutionalDepartmentName = "RADIOLOGY WEST"
    ds.StationName = "SPGH-CT-01"
    ds.DeviceSerialNumber = "SN00447193"
    ds.Manufacturer = "ACME MEDICAL"
    # A standard attribute the table does not list, carrying the patient's ID:
    ds.ManufacturerModelName = p.patient_id
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = study_uid
    ds.ReferencedStudySequence = Sequence([ref])
    req = Dataset()
    req.RequestedProcedureID = "RP" + accession
    req.ScheduledProcedureStepID = "SPS" + accession
    req.RequestedProcedureDescription = f"Exam for {p.name}"
    req.ScheduledProcedureStepDescription = "Outpatient exam"
    req.ReasonForTheRequestedProcedure = f"Follow-up of {p.patient_id}"
    inner_ref = Dataset()
    inner_ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    inner_ref.ReferencedSOPInstanceUID = study_uid
    req.ReferencedStudySequence = Sequence([inner_ref])
    ds.RequestAttributesSequence = Sequence([req])
    proc = _code("IMG1234", "99LOCAL", f"Imaging for {p.name}")
    proc.ContextIdentifier = "99"
    deeper = Dataset()
    deeper.PersonName = "DEEPNESTED^PERSONA"
    deeper.PatientID = p.patient_id
    proc.ContributingEquipmentSequence = Sequence([deeper])
    ds.ProcedureCodeSequence = Sequence([proc])


def _private_block(ds: Dataset, p: Patient) -> None:
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", p.name.replace("^", " "))
    block.add_new(0x02, "DA", p.birth_date)
    block.add_new(0x03, "LO", p.patient_id)
    inner = Dataset()
    inner.PatientName = p.name
    block.add_new(0x04, "SQ", Sequence([inner]))
    block.add_new(0x05, "LO", "PROTOCOL SEVEN")


def _overlay_and_curve(ds: Dataset, p: Patient) -> None:
    ds.add_new(0x60000010, "US", 16)
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", f"ID {p.patient_id}")
    ds.add_new(0x60003000, "OW", bytes(32))
    ds.add_new(0x60004000, "LT", f"Annotated for {p.name}")
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50000010, "US", 4)
    ds.add_new(0x50000020, "CS", "ECG")
    ds.add_new(0x50002500, "LO", p.name)
    ds.add_new(0x50003000, "OB", b"\x01\x02\x03\x04")


def _pixels(ds: Dataset, modality: str, rng: np.random.Generator) -> None:
    if modality == "US":
        arr = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
    else:
        arr = rng.integers(0, 4095, size=(16, 16), dtype=np.uint16)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
    ds.Rows, ds.Columns = 16, 16
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()


def _waveform(ds: Dataset, p: Patient, rng: np.random.Generator) -> None:
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(leads)
    group.NumberOfWaveformSamples = 50
    group.SamplingFrequency = "500"
    group.MultiplexGroupLabel = "REST ECG"
    channels = []
    for i, lead in enumerate(leads):
        ch = Dataset()
        ch.ChannelSourceSequence = Sequence([_code(f"5.6.3-9-{i + 1}", "SCPECG", f"Lead {lead}")])
        ch.ChannelSensitivity = "1"
        ch.ChannelSensitivityUnitsSequence = Sequence([_code("uV", "UCUM", "microvolt")])
        ch.WaveformBitsStored = 16
        ch.ChannelLabel = lead
        channels.append(ch)
    group.ChannelDefinitionSequence = Sequence(channels)
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = rng.integers(-500, 500, size=50 * len(leads), dtype=np.int16).tobytes()
    ds.WaveformSequence = Sequence([group])
    note = Dataset()
    note.UnformattedTextValue = f"Read by HOUSEWRIGHT^GREGORY for {p.patient_id}"
    note.ReferencedWaveformChannels = [1, 1]
    ds.WaveformAnnotationSequence = Sequence([note])
    ds.AcquisitionDateTime = "20240611091733"


def make_dataset(
    modality: str,
    patient: Patient,
    *,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    accession: str = "ACC20240611",
    referenced_sop: str | None = None,
    frame_uid: str | None = None,
    seed: int = 0,
    burned_in: bool = False,
    implicit: bool = False,
) -> Dataset:
    """One synthetic instance of ``modality`` (CR, DX, CT, MR, US, MG or ECG) full of PHI."""
    rng = np.random.default_rng(seed)
    sop_class = SOP_CLASSES[modality]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.8.498.1")
    meta.SourceApplicationEntityTitle = "SPGH_PACS"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "ECG" if modality == "ECG" else modality
    ds.InstanceCreationDate = "20240611"
    ds.InstanceCreationTime = "091502"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDate = "20240611"
    ds.SeriesTime = "091600"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.ContentDate = "20240611"
    ds.ContentTime = "091700"
    ds.AcquisitionDate = "20240611"
    ds.AcquisitionTime = "091650"
    ds.SeriesDescription = f"Series of {p_short(patient)}"
    ds.ImageComments = f"Patient {patient.name} born {patient.birth_date} id {patient.patient_id}"
    ds.FrameOfReferenceUID = frame_uid or generate_uid()
    ds.ProtocolName = "CHEST PA"
    _patient_module(ds, patient)
    _study_module(ds, patient, study_uid, accession)
    ds.ContentSequence = Sequence([_content_item(patient, study_uid, depth=3)])
    if referenced_sop is not None:
        src = Dataset()
        src.ReferencedSOPClassUID = sop_class
        src.ReferencedSOPInstanceUID = referenced_sop
        ds.SourceImageSequence = Sequence([src])
    _private_block(ds, patient)
    if modality == "ECG":
        _waveform(ds, patient, rng)
    else:
        _pixels(ds, modality, rng)
        _overlay_and_curve(ds, patient)
        ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    if modality in ("CR", "DX", "MG"):
        ds.DateOfLastDetectorCalibration = "20240101"
        ds.DetectorID = "DET-77120"
    return ds


def _uid(*parts: str) -> str:
    """A deterministic test UID (pydicom's root, hashed from ``parts``)."""
    return generate_uid(entropy_srcs=["pmrsim-deid-test", *parts])


def write(ds: Dataset, path: Path) -> None:
    """Write ``ds`` as a DICOM file (preamble, file meta) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fds = FileDataset(str(path), ds, file_meta=ds.file_meta, preamble=b"\x00" * 128)
    fds.save_as(path, enforce_file_format=False, little_endian=True,
                implicit_vr=ds.file_meta.TransferSyntaxUID.is_implicit_VR)


def p_short(patient: Patient) -> str:
    """The family name of ``patient`` (planted in descriptions)."""
    return patient.name.split("^")[0]


def write_study_set(directory: Path) -> Planted:
    """Write the CR, DX, CT x2, MR, US, MG and ECG files of two patients under ``directory``."""
    planted = Planted()
    plan = [
        ("p1/cr.dcm", "CR", 0, "A"), ("p1/dx.dcm", "DX", 0, "A"),
        ("p1/ct1.dcm", "CT", 0, "A"), ("p1/ct2.dcm", "CT", 0, "A"),
        ("p1/mr.dcm", "MR", 0, "B"), ("p2/us.dcm", "US", 1, "C"),
        ("p2/mg.dcm", "MG", 1, "C"), ("p2/ecg.dcm", "ECG", 1, "D"),
    ]
    studies: dict[str, str] = {}
    series: dict[tuple[str, str], str] = {}
    previous: str | None = None
    for i, (rel, modality, who, study) in enumerate(plan):
        study_uid = studies.setdefault(study, _uid("study", study))
        series_uid = series.setdefault((study, modality), _uid("series", study, modality))
        sop_uid = _uid("sop", rel)
        frame_uid = _uid("frame", study, modality)
        ds = make_dataset(
            modality, PATIENTS[who], study_uid=study_uid, series_uid=series_uid,
            sop_uid=sop_uid, referenced_sop=previous, frame_uid=frame_uid, seed=i,
            implicit=(modality == "MR"),
        )
        previous = sop_uid
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write(ds, path)
        planted.files.append(path)
        planted.uids |= {study_uid, series_uid, sop_uid, frame_uid}
        planted.study_uids[rel] = study_uid
    for p in PATIENTS:
        planted.texts |= {p.name, p.patient_id, p.address, p.other_id, p.alt_id, p.phone}
        planted.dates.add(p.birth_date)
    planted.texts |= {
        "SMITHERSON^ALICE^DR", "HOUSEWRIGHT^GREGORY", "DEEPNESTED^PERSONA",
        "SPRINGFIELD GENERAL HOSPITAL", "1 HOSPITAL PLAZA SPRINGFIELD", "ACC20240611",
        "NAKAMURA^KENJI", "OKONKWO^CHIDI", "LINDQVIST^ERIK", "TECHNICIAN^TOBIAS",
        "MOTHERSBY^ANNA", "SN00447193",
    }
    planted.dates |= {"20240611"}
    return planted


def write_special(directory: Path) -> dict[str, Path]:
    """Write files that must be refused (burned-in annotation, no SOP Instance UID)."""
    out: dict[str, Path] = {}
    burned = make_dataset("CR", PATIENTS[0], study_uid=_uid("b-study"),
                          series_uid=_uid("b-series"), sop_uid=_uid("b-sop"), burned_in=True)
    out["burned"] = directory / "burned.dcm"
    write(burned, out["burned"])
    nosop = make_dataset("CT", PATIENTS[0], study_uid=_uid("n-study"),
                         series_uid=_uid("n-series"), sop_uid=_uid("n-sop"))
    del nosop.SOPInstanceUID
    out["nosop"] = directory / "nosop.dcm"
    write(nosop, out["nosop"])
    return out


# -- checks shared by the de-identification tests ---------------------------------

#: Text VRs whose values are compared with the original identifying values.
CHECK_TEXT_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_IDENTITY_SUFFIXES = ("ID", "IDs", "Name", "Names", "Address", "Number", "Numbers", "Locator")
#: Attributes the profile itself sets (not subject to the table's actions).
MARK_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303, 0x00280301})


def walk(ds: Dataset, prefix: str = "", meta: bool = True) -> Iterator[tuple[str, DataElement]]:
    """Every element of ``ds`` at every depth (file meta first), with its tag path."""
    file_meta = getattr(ds, "file_meta", None) if meta else None
    if file_meta is not None:
        yield from walk(file_meta, prefix, meta=False)
    for elem in ds:
        path = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
        yield path, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or ()):
                yield from walk(item, f"{path}[{i}]", meta=False)


def values_of(elem: DataElement) -> list[str]:
    """String values of ``elem`` (multi-values split, PN as text); none for binary VRs."""
    value = elem.value
    if value is None or isinstance(value, bytes | Dataset) or elem.VR == "SQ":
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v).strip() for v in items if not isinstance(v, bytes) and str(v).strip()]


@dataclass
class Identifiers:
    """Identifying values of an original file (the test oracle, from Table E.1-1)."""

    uids: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    encodings: list[str] = field(default_factory=list)

    def all(self) -> set[str]:
        """Every identifying value."""
        return self.uids | self.texts | self.dates


def _identity_text(tag: int, vr: str, keyword: str) -> bool:
    if vr == "PN":
        return True
    identity = (tag >> 16) == 0x0010 or keyword.endswith(_IDENTITY_SUFFIXES)
    return vr in CHECK_TEXT_VRS and identity


def _meaningful(value: str) -> bool:
    """Long enough to identify someone, and not already a dummy."""
    return len(value) >= 3 and value.upper() != "ANONYMIZED"


def original_identifiers(ds: Dataset, options: frozenset[str] = frozenset()) -> Identifiers:
    """UIDs, names, IDs and dates of ``ds`` that the profile must not let through."""
    table = load_table()
    found = Identifiers()
    charset = ds.get("SpecificCharacterSet", "ISO_IR 6")
    found.encodings = convert_encodings(charset)
    for _, elem in walk(ds):
        if elem.tag.is_private or elem.tag.element == 0:
            continue
        rule = table.lookup(elem.tag)
        if rule is None or rule.action(options)[0] in ("K", "C"):
            continue
        vr = elem.VR
        keyword = keyword_for_tag(elem.tag) or ""
        for v in values_of(elem):
            if vr == "UI" and not v.startswith("1.2.840.10008."):
                found.uids.add(v)
            elif vr in ("DA", "DT") and len(v) >= 8 and v[:8].isdigit():
                found.dates.add(v[:8])
            elif _identity_text(elem.tag, vr, keyword) and _meaningful(v):
                found.texts.add(v)
                if vr == "PN":  # each representation of a multi-byte name on its own
                    found.texts.update(g for g in v.split("=") if _meaningful(g))
    return found


def _encoded(value: str, encodings: list[str]) -> set[bytes]:
    forms = {value.encode("utf-8")}
    with contextlib.suppress(Exception):
        forms.add(encode_string(value, encodings))
    return forms


def assert_deidentified(
    original: Dataset, out_path: Path, options: frozenset[str] = frozenset()
) -> Dataset:
    """Check everything the profile promises about ``out_path``; return the re-read output."""
    table = load_table()
    ids = original_identifiers(original, options)
    out = dcmread(out_path)
    upper_texts = {t.upper() for t in ids.texts}
    for path, elem in walk(out):  # re-parses every element, file meta included
        tag = elem.tag
        if tag.is_private:
            assert "rtnSafePrivOpt" in options, f"private element {path} survived"
            continue
        if (tag.group & 0xFF01) == 0x6000:
            assert "cleanGraphOpt" in options, f"overlay element {path} survived"
        rule = table.lookup(tag)
        if rule is not None and tag not in MARK_TAGS:
            # X, Z, D and their combinations: gone, empty, or a dummy where the IOD needs
            # a value (the Type decides which); never an original value.
            action = rule.action(options)[0]
            if action in ("X", "Z", "D") and elem.VR not in ("SQ", "UI") and tag != 0x00100020:
                dummy = str(dummy_value(elem.VR))
                assert all(v == dummy for v in values_of(elem)), f"{path} is not a dummy"
                if isinstance(elem.value, bytes):
                    assert not elem.value.strip(b"\x00"), f"{path} is not a dummy"
        for v in values_of(elem):
            if elem.VR == "UI":
                assert v not in ids.uids, f"original UID survived at {path}"
            elif elem.VR in ("DA", "DT"):
                assert v[:8] not in ids.dates, f"original date survived at {path}"
            elif elem.VR in CHECK_TEXT_VRS:
                assert v.upper() not in upper_texts, f"original name/ID survived at {path}"
    raw = out_path.read_bytes()
    for value in ids.all():
        if len(value) >= 6:
            for form in _encoded(value, ids.encodings):
                assert form not in raw, f"an original value ({len(value)} chars) is in the bytes"
    assert out.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes[0] == "113100"
    if "PixelData" in original and original.get("BurnedInAnnotation") != "YES":
        assert out.PixelData == original.PixelData, "pixel data changed"
    meta = getattr(out, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        assert meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    return out
