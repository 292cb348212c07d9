"""De-identification of the synthetic CR/DX/CT/MR/US/MG/ECG set and of pydicom's test files."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file, get_testdata_files

from sim.privacy.deid import (
    REFUSAL_REASONS,
    DeidConfig,
    DeidRefused,
    UidMap,
    deidentify_file,
    deidentify_tree,
)
from sim.privacy.deid_actions import derive_uid
from tests.privacy.dicom_factory import (
    PATIENTS,
    Planted,
    assert_deidentified,
    walk,
    write_special,
    write_study_set,
)

KEY = bytes(range(32))
CONFIG = DeidConfig(key=KEY)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Planted]:
    """The synthetic set written once for the module."""
    root = tmp_path_factory.mktemp("synthetic")
    return root, write_study_set(root / "in")


@pytest.fixture(scope="module")
def synthetic_out(
    synthetic: tuple[Path, Planted], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The synthetic set de-identified once (Basic Profile) with a shared key."""
    root, _ = synthetic
    out = tmp_path_factory.mktemp("synthetic-out")
    result = deidentify_tree(root / "in", out, CONFIG)
    assert not result.refused
    return out


def _rel(path: Path, root: Path) -> Path:
    return path.relative_to(root)


def test_synthetic_files_are_deidentified(
    synthetic: tuple[Path, Planted], synthetic_out: Path
) -> None:
    """Every synthetic file loses its X attributes, names, IDs, dates and UIDs, at every depth."""
    root, planted = synthetic
    assert {p.name for p in planted.files} >= {"cr.dcm", "dx.dcm", "ct1.dcm", "mr.dcm",
                                               "us.dcm", "mg.dcm", "ecg.dcm"}
    for path in planted.files:
        assert_deidentified(pydicom.dcmread(path), synthetic_out / _rel(path, root / "in"))


def test_synthetic_planted_values_absent_from_bytes(
    synthetic: tuple[Path, Planted], synthetic_out: Path
) -> None:
    """No planted name, ID, address, phone, date or UID appears in any output file's bytes."""
    root, planted = synthetic
    needles = planted.texts | planted.uids | planted.dates
    needles |= {p.name.split("^")[0] for p in PATIENTS}
    for path in planted.files:
        raw = (synthetic_out / _rel(path, root / "in")).read_bytes()
        for needle in needles:
            assert needle.encode() not in raw, f"planted value leaked into {path.name}"
            assert needle.replace("^", " ").encode() not in raw


def test_uid_consistent_across_set(synthetic: tuple[Path, Planted], synthetic_out: Path) -> None:
    """One original UID maps to one new UID in every file, wherever it is referenced."""
    root, planted = synthetic
    outs = {str(_rel(p, root / "in")): pydicom.dcmread(synthetic_out / _rel(p, root / "in"))
            for p in planted.files}
    for rel, study_uid in planted.study_uids.items():
        assert outs[rel].StudyInstanceUID == derive_uid(KEY, study_uid)
    assert outs["p1/cr.dcm"].StudyInstanceUID == outs["p1/ct1.dcm"].StudyInstanceUID
    assert outs["p1/ct1.dcm"].SeriesInstanceUID == outs["p1/ct2.dcm"].SeriesInstanceUID
    ordered = [outs[str(_rel(p, root / "in"))] for p in planted.files]
    for before, after in itertools.pairwise(ordered):
        ref = after.SourceImageSequence[0].ReferencedSOPInstanceUID
        assert ref == before.SOPInstanceUID


def test_patient_pseudonym_and_method_attributes(synthetic_out: Path) -> None:
    """Patient ID becomes one keyed pseudonym per patient; the method attributes are set."""
    cr = pydicom.dcmread(synthetic_out / "p1" / "cr.dcm")
    ct = pydicom.dcmread(synthetic_out / "p1" / "ct1.dcm")
    us = pydicom.dcmread(synthetic_out / "p2" / "us.dcm")
    assert cr.PatientID == ct.PatientID != us.PatientID
    assert cr.PatientIdentityRemoved == "YES"
    assert [i.CodeValue for i in cr.DeidentificationMethodCodeSequence] == ["113100"]
    assert all(i.CodingSchemeDesignator == "DCM" for i in cr.DeidentificationMethodCodeSequence)
    assert cr.LongitudinalTemporalInformationModified == "REMOVED"


def test_ecg_waveform_kept_and_cleaned(
    synthetic: tuple[Path, Planted], synthetic_out: Path
) -> None:
    """The 12-lead ECG keeps its waveform samples and channels; free-text annotation goes."""
    root, _ = synthetic
    original = pydicom.dcmread(root / "in" / "p2" / "ecg.dcm")
    out = pydicom.dcmread(synthetic_out / "p2" / "ecg.dcm")
    assert out.WaveformSequence[0].WaveformData == original.WaveformSequence[0].WaveformData
    assert len(out.WaveformSequence[0].ChannelDefinitionSequence) == 12
    assert out.WaveformAnnotationSequence[0].UnformattedTextValue == "ANONYMIZED"


def test_nested_sequences_and_private_and_overlay(synthetic_out: Path) -> None:
    """Nested content is de-identified at depth, private blocks and overlay/curve groups go."""
    ds = pydicom.dcmread(synthetic_out / "p1" / "ct1.dcm")
    assert not any(e.tag.is_private for _, e in walk(ds))
    assert not any((e.tag.group & 0xFF00) in (0x5000, 0x6000) for _, e in walk(ds))
    assert "RequestAttributesSequence" not in ds
    # X/Z and D sequences that the CT Image IOD lets go are removed:
    assert "ReferencedStudySequence" not in ds and "ContentSequence" not in ds
    proc = ds.ProcedureCodeSequence[0]
    assert proc.CodeValue == "IMG1234"
    assert proc.ContributingEquipmentSequence[0].PersonName == "ANONYMIZED"


def test_checker_catches_a_leak(synthetic: tuple[Path, Planted], synthetic_out: Path,
                                tmp_path: Path) -> None:
    """The leak check fails when an original ID is put back into a kept attribute."""
    root, _ = synthetic
    original = pydicom.dcmread(root / "in" / "p1" / "cr.dcm")
    leaky = pydicom.dcmread(synthetic_out / "p1" / "cr.dcm")
    leaky.ProcedureCodeSequence[0].CodeMeaning = original.OtherPatientIDs
    leaky.save_as(tmp_path / "leaky.dcm")
    with pytest.raises(AssertionError, match="name/ID survived"):
        assert_deidentified(original, tmp_path / "leaky.dcm")


def test_action_log_has_no_phi(synthetic: tuple[Path, Planted], tmp_path: Path) -> None:
    """The per-file action log names tags, keywords and actions, never a value."""
    root, planted = synthetic
    result = deidentify_tree(root / "in", tmp_path, CONFIG)
    text = json.dumps(result.to_json())
    for needle in planted.texts | planted.uids | planted.dates:
        assert needle not in text
    entry = result.files[0].log
    assert entry is not None
    assert entry.actions()["(0010,0010)"] == "Z"
    assert entry.actions()["(0008,0018)"] == "U"


def test_refused_files_reported_rest_processed(
    synthetic: tuple[Path, Planted], tmp_path: Path
) -> None:
    """Burned-in annotation and a missing SOP Instance UID are refused by name; others proceed."""
    _, planted = synthetic
    special = write_special(tmp_path / "in")
    for path in planted.files[:2]:
        (tmp_path / "in" / path.name).write_bytes(path.read_bytes())
    result = deidentify_tree(tmp_path / "in", tmp_path / "out", CONFIG)
    reasons = {f.in_path.name: f.refused.reason for f in result.files if f.refused}
    assert reasons == {"burned.dcm": "burned-in-annotation", "nosop.dcm": "no-sop-instance-uid"}
    assert [f.in_path.name for f in result.refused] == ["burned.dcm"]
    assert [f.in_path.name for f in result.skipped] == ["nosop.dcm"]
    assert len(result.processed) == 2
    assert not (tmp_path / "out" / "burned.dcm").exists()
    with pytest.raises(DeidRefused, match=r"burned\.dcm"):
        deidentify_file(special["burned"], tmp_path / "x.dcm", CONFIG)
    assert not (tmp_path / "x.dcm").exists()


def _pydicom_files() -> list[str]:
    return sorted({*get_testdata_files(), *get_charset_files()})


def _id(path: str) -> str:
    return Path(path).name


@pytest.fixture(scope="module")
def corpus_map() -> UidMap:
    """One UID map for the whole pydicom corpus."""
    return UidMap(KEY)


@pytest.mark.parametrize("path", _pydicom_files(), ids=_id)
def test_pydicom_testfile(path: str, tmp_path: Path, corpus_map: UidMap) -> None:
    """A pydicom test file that parses is de-identified, or refused for a documented reason."""
    if "charset_files" not in path:
        assert get_testdata_file(Path(path).name, download=False) is not None
    try:
        original = pydicom.dcmread(path)
    except Exception:
        pytest.skip("pydicom cannot parse it")
    out = tmp_path / "out.dcm"
    try:
        deidentify_file(path, out, CONFIG, uid_map=corpus_map)
    except DeidRefused as exc:
        assert exc.reason in REFUSAL_REASONS
        assert not out.exists()
        pytest.skip(f"refused: {exc.reason}")
    out_ds = assert_deidentified(original, out)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if original.get(keyword):  # the same keyed UID in every file of the corpus
            assert out_ds[keyword].value == corpus_map.map(str(original[keyword].value))
            assert out_ds[keyword].value == derive_uid(KEY, str(original[keyword].value))


def test_pydicom_corpus_counts(tmp_path: Path) -> None:
    """Most pydicom test files are de-identified; every refusal has a documented reason."""
    counts: Counter[str] = Counter()
    for path in _pydicom_files():
        try:
            deidentify_file(path, tmp_path / "out.dcm", CONFIG)
            counts["ok"] += 1
        except DeidRefused as exc:
            counts[exc.reason] += 1
    assert set(counts) - {"ok"} <= set(REFUSAL_REASONS)
    assert counts["ok"] >= 140, counts
    charset = [p for p in _pydicom_files() if "charset_files" in p]
    assert len(charset) >= 10
