"""The profile's options, Retain Safe Private and Clean Pixel Data on synthetic files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from sim.privacy.deid import (
    DeidConfig,
    DeidRefused,
    Region,
    UidMap,
    deidentify_bytes,
    deidentify_dataset,
    deidentify_file,
    deidentify_tree,
)
from sim.privacy.deid_actions import date_offset_days, derive_uid
from tests.privacy.dicom_factory import (
    PATIENTS,
    PRIVATE_CREATOR,
    assert_deidentified,
    make_dataset,
    walk,
    write,
)

KEY = b"options-test-key-0123456789abcdef"


def _dataset(modality: str = "CT", who: int = 0, **kw: object) -> Dataset:
    return make_dataset(modality, PATIENTS[who], study_uid="1.2.3.4.100", series_uid="1.2.3.4.101",
                        sop_uid=f"1.2.3.4.{102 + who}", **kw)  # type: ignore[arg-type]


def _run(options: set[str], ds: Dataset | None = None, **kw: object) -> Dataset:
    ds = ds if ds is not None else _dataset()
    config = DeidConfig(key=KEY, options=frozenset(options), **kw)  # type: ignore[arg-type]
    deidentify_dataset(ds, config, uid_map=UidMap(KEY))
    return ds


def _codes(ds: Dataset) -> list[str]:
    return [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]


def test_retain_uids() -> None:
    """Retain UIDs keeps every UID and lists code 113110."""
    ds = _run({"rtnUIDsOpt"})
    assert ds.StudyInstanceUID == "1.2.3.4.100"
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4.102"
    assert _codes(ds) == ["113100", "113110"]


def test_modified_dates_shift_per_patient() -> None:
    """Modified Dates shifts every date of a patient by one keyed offset, times unchanged."""
    shifted = []
    for sop in ("1.2.3.4.102", "1.2.3.4.109"):
        ds = make_dataset("CT", PATIENTS[0], study_uid="1.2.3.4.100",
                          series_uid="1.2.3.4.101", sop_uid=sop)
        _run({"rtnLongModifDatesOpt"}, ds)
        shifted.append(ds)
    days = date_offset_days(KEY, PATIENTS[0].patient_id)
    expected = (dt.date(2024, 6, 11) + dt.timedelta(days=days)).strftime("%Y%m%d")
    for ds in shifted:
        assert ds.StudyDate == ds.SeriesDate == ds.ContentDate == expected
        assert ds.StudyTime == "091500"
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert "113107" in _codes(ds)
        assert ds.PatientBirthDate == ""  # the birth date is Z under every option
    ecg = _run({"rtnLongModifDatesOpt"}, _dataset("ECG", who=1))
    days1 = date_offset_days(KEY, PATIENTS[1].patient_id)
    day1 = (dt.date(2024, 6, 11) + dt.timedelta(days=days1)).strftime("%Y%m%d")
    assert ecg.StudyDate == day1
    assert ecg.AcquisitionDateTime == day1 + "091733"  # DT: date shifted, time kept


def test_full_dates_retained() -> None:
    """Full Dates keeps dates and times as they were."""
    ds = _run({"rtnLongFullDatesOpt"})
    assert ds.StudyDate == "20240611" and ds.StudyTime == "091500"
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_retain_institution_device_and_patient_characteristics() -> None:
    """Institution, device and patient-characteristics options keep their attributes."""
    ds = _run({"rtnInstIdOpt", "rtnDevIdOpt", "rtnPatCharsOpt"})
    assert ds.InstitutionName == "SPRINGFIELD GENERAL HOSPITAL"
    assert ds.StationName == "SPGH-CT-01" and ds.DeviceSerialNumber == "SN00447193"
    assert ds.PatientSex == "M" and ds.PatientAge == "063Y" and ds.PatientWeight == 81.5
    assert set(_codes(ds)) == {"113100", "113112", "113109", "113108"}


def test_clean_descriptors_keeps_clean_text_only() -> None:
    """Clean Descriptors keeps descriptions without PHI and replaces those that carry some."""
    ds = _run({"cleanDescOpt"})
    assert ds.ProtocolName == "CHEST PA"
    assert ds.StudyDescription == "ANONYMIZED"  # "Routine study for <name>"
    assert ds.ImageComments == "ANONYMIZED"
    assert "PatientComments" in ds and ds.PatientComments == "ANONYMIZED"
    basic = _run(set())  # X/D, Type 3 in the CT Image IOD: removed
    assert "ProtocolName" not in basic and "StudyDescription" not in basic


def test_clean_structured_content() -> None:
    """Clean Structured Content keeps the tree and standard codes; text, names, dates go."""
    ds = _run({"cleanStructContOpt"})
    items = [(p, e) for p, e in walk(ds) if p.startswith("(0040,A730)")]
    texts = {str(e.value) for _, e in items if e.keyword in ("TextValue", "PersonName")}
    assert texts == {"ANONYMIZED"}
    assert {e.value for _, e in items if e.keyword == "Date"} == {"19000101"}
    assert "CONTAINER" in {e.value for _, e in items if e.keyword == "ValueType"}
    assert "121071" in {e.value for _, e in items if e.keyword == "CodeValue"}  # DCM code kept
    assert len([e for _, e in items if e.keyword == "ContentSequence"]) == 4
    basic = _run(set())  # D, and the CT Image IOD has no Content Sequence: removed
    assert "ContentSequence" not in basic


def test_clean_graphics_keeps_overlay() -> None:
    """Clean Graphics keeps overlay and curve data but cleans their text."""
    ds = _run({"cleanGraphOpt"})
    assert ds[0x60003000].value == bytes(32)
    assert ds[0x60004000].value == "ANONYMIZED"
    assert ds[0x50002500].value == "ANONYMIZED"
    assert ds[0x50003000].value == b"\x01\x02\x03\x04"
    assert not any(e.tag.group in (0x5000, 0x6000) for _, e in walk(_run(set())))


def test_safe_private_allow_list() -> None:
    """Retain Safe Private keeps only allow-listed private elements, with their creator."""
    ds = _run({"rtnSafePrivOpt"}, safe_private=frozenset({(PRIVATE_CREATOR, 0x05),
                                                          (PRIVATE_CREATOR, 0x03)}))
    private = {e.tag: e.value for _, e in walk(ds) if e.tag.is_private}
    assert private == {0x00090010: PRIVATE_CREATOR, 0x00091005: "PROTOCOL SEVEN"}
    assert "113111" in _codes(ds)
    none_kept = _run({"rtnSafePrivOpt"})
    assert not any(e.tag.is_private for _, e in walk(none_kept))


def test_clean_pixel_regions(tmp_path: Path) -> None:
    """Clean Pixel Data blacks out the configured region only and sets Burned In Annotation NO."""
    ds = _dataset("US", burned_in=True)
    before = ds.pixel_array.copy()
    src = tmp_path / "burned.dcm"
    write(ds, src)
    config = DeidConfig(key=KEY, options=frozenset({"cleanPixelOpt"}),
                        clean_regions=(Region(2, 3, 5, 4),))
    deidentify_file(src, tmp_path / "out.dcm", config)
    out = pydicom.dcmread(tmp_path / "out.dcm")
    after = out.pixel_array
    assert not after[3:7, 2:7].any()
    mask = np.ones(after.shape[:2], dtype=bool)
    mask[3:7, 2:7] = False
    assert (after[mask] == before[mask]).all()
    assert out.BurnedInAnnotation == "NO"
    assert "113101" in _codes(out)
    assert_deidentified(pydicom.dcmread(src), tmp_path / "out.dcm",
                        frozenset({"cleanPixelOpt"}))


def test_burned_in_refused_without_regions(tmp_path: Path) -> None:
    """Burned-in annotation without cleaning regions is refused naming the file."""
    src = tmp_path / "burned.dcm"
    write(_dataset("CR", burned_in=True), src)
    with pytest.raises(DeidRefused, match=r"burned\.dcm.*Burned In Annotation") as info:
        deidentify_file(src, tmp_path / "out.dcm", DeidConfig(key=KEY))
    assert info.value.reason == "burned-in-annotation"
    assert not (tmp_path / "out.dcm").exists()


def test_burned_in_compressed_refused(tmp_path: Path) -> None:
    """Burned-in annotation in compressed pixel data is refused: it cannot be re-encoded here."""
    ds = pydicom.dcmread(str(get_testdata_file("JPEG2000.dcm")))
    ds.BurnedInAnnotation = "YES"
    src = tmp_path / "j2k.dcm"
    ds.save_as(src)
    config = DeidConfig(key=KEY, options=frozenset({"cleanPixelOpt"}),
                        clean_regions=(Region(0, 0, 4, 4),))
    with pytest.raises(DeidRefused) as info:
        deidentify_file(src, tmp_path / "out.dcm", config)
    assert info.value.reason == "cannot-clean-pixels"
    assert "j2k.dcm" in str(info.value)


def test_config_validation() -> None:
    """Short keys, unknown options and regions without the option are rejected."""
    with pytest.raises(ValueError, match="16 bytes"):
        DeidConfig(key=b"short")
    with pytest.raises(ValueError, match="unknown"):
        DeidConfig(key=KEY, options=frozenset({"nope"}))
    with pytest.raises(ValueError, match="cleanPixelOpt"):
        DeidConfig(key=KEY, clean_regions=(Region(0, 0, 1, 1),))


def test_same_key_same_uids_across_runs(tmp_path: Path) -> None:
    """Two runs with the same key give the same new UIDs; another key gives different ones."""
    src = tmp_path / "in" / "a.dcm"
    write(_dataset(), src)
    a = deidentify_tree(tmp_path / "in", tmp_path / "a", DeidConfig(key=KEY))
    b = deidentify_tree(tmp_path / "in", tmp_path / "b", DeidConfig(key=KEY))
    c = deidentify_tree(tmp_path / "in", tmp_path / "c", DeidConfig(key=KEY[::-1]))
    uids = [pydicom.dcmread(str(r.files[0].out_path)).SOPInstanceUID for r in (a, b, c)]
    assert uids[0] == uids[1] != uids[2]


def test_deidentify_bytes_in_memory(tmp_path: Path) -> None:
    """In-memory de-identification gives a parseable file with keyed UIDs, or a named refusal."""
    src = tmp_path / "in.dcm"
    write(_dataset(), src)
    data, log = deidentify_bytes(src.read_bytes(), DeidConfig(key=KEY), name="record-7")
    out = tmp_path / "out.dcm"
    out.write_bytes(data)
    assert_deidentified(pydicom.dcmread(src), out)
    assert pydicom.dcmread(out).SOPInstanceUID == derive_uid(KEY, "1.2.3.4.102")
    assert log.actions()["(0010,0010)"] == "Z"
    with pytest.raises(DeidRefused, match=r"record-8.*not a DICOM") as info:
        deidentify_bytes(b"hello", DeidConfig(key=KEY), name="record-8")
    assert info.value.reason == "not-dicom"
