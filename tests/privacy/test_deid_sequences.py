"""Sequences with action D (dummy items or removal) and Clean Structured Content."""

from __future__ import annotations

from collections.abc import Iterator

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sim.privacy.deid import DeidConfig, UidMap, deidentify_dataset
from sim.privacy.deid_profile import STANDARD_SCHEMES
from tests.privacy.dicom_factory import PATIENTS, make_dataset, values_of, walk

KEY = b"sequence-test-key-0123456789abcd"
EMPLOYEE = "EMP0042917"
OPERATOR = "OPERATORSON^WILHELMINA"
SR_FILES = ("test-SR.dcm", "reportsi.dcm", "reportsi_with_empty_number_tags.dcm")


def _run(ds: Dataset, *options: str) -> Dataset:
    deidentify_dataset(ds, DeidConfig(key=KEY, options=frozenset(options)), uid_map=UidMap(KEY))
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _ecg_with_operator() -> Dataset:
    """The issue's ECG: an Operator Identification Sequence naming the operator by code."""
    ds = make_dataset("ECG", PATIENTS[0], study_uid="1.2.3.7.1", series_uid="1.2.3.7.2",
                      sop_uid="1.2.3.7.3")
    op = Dataset()
    op.PersonIdentificationCodeSequence = Sequence([_code(EMPLOYEE, "99HOSP", OPERATOR)])
    op.InstitutionName = "SPRINGFIELD GENERAL HOSPITAL"
    ds.OperatorIdentificationSequence = Sequence([op])
    return ds


def _content_values(ds: Dataset) -> Iterator[tuple[str, DataElement]]:
    for path, elem in walk(ds, meta=False):
        if path.startswith("(0040,A730)"):
            yield path, elem


def test_operator_identification_leaks_nothing() -> None:
    """The operator's employee number and name (a D code sequence) survive nowhere."""
    out = _run(_ecg_with_operator())
    values = {v for _, e in walk(out) for v in values_of(e)}
    assert EMPLOYEE not in values and OPERATOR not in values
    assert "OperatorIdentificationSequence" not in out  # Type 3 in the ECG IOD: removed


def test_d_sequence_gets_a_dummy_item_where_required() -> None:
    """Where the IOD needs the sequence (SR Verifying Observer), one dummy item replaces it."""
    ds = pydicom.dcmread(get_testdata_file("test-SR.dcm", download=False))
    original = ds.VerifyingObserverSequence[0]
    names = {str(original.VerifyingObserverName), str(original.VerifyingOrganization)}
    out = _run(ds)
    assert len(out.VerifyingObserverSequence) == 1
    item = out.VerifyingObserverSequence[0]
    assert str(item.VerifyingObserverName) == "ANONYMIZED"
    assert item.VerifyingOrganization == "ANONYMIZED"
    assert item.VerificationDateTime == "19000101000000"
    assert "VerifyingObserverIdentificationCodeSequence" in item  # Type 2: present, empty
    assert not item.VerifyingObserverIdentificationCodeSequence
    assert not names & {v for _, e in walk(out) for v in values_of(e)}


def test_sr_content_replaced_by_dummy_in_basic_profile() -> None:
    """Basic Profile: no text, name, date, code or UID of an SR content tree survives."""
    for name in SR_FILES:
        ds = pydicom.dcmread(get_testdata_file(name, download=False))
        before = {v for _, e in _content_values(ds) for v in values_of(e)
                  if e.VR != "CS" and not v.startswith("1.2.840.10008.")}
        out = _run(ds)
        assert out.ContentSequence, name  # Type 1C in the SR IODs: kept, as a dummy
        for path, elem in _content_values(out):
            for v in values_of(elem):
                if elem.VR == "UI":
                    assert v.startswith("2.25.") or v.startswith("1.2.840.10008."), path
                elif elem.VR != "CS":
                    assert v == "ANONYMIZED", (name, path)
        after = {v for _, e in _content_values(out) for v in values_of(e)}
        assert not before & after, name


def test_sr_clean_structured_content_keeps_tree() -> None:
    """Clean Structured Content: same tree, standard codes kept, text, names, dates replaced."""
    kept = 0
    for name in SR_FILES:
        ds = pydicom.dcmread(get_testdata_file(name, download=False))
        # the files use a private scheme only: give one item a code of DCM
        ds.ContentSequence[0].ConceptNameCodeSequence = Sequence([_code("121071", "DCM",
                                                                        "Finding")])
        shape = [p for p, e in _content_values(ds) if e.VR == "SQ"]
        schemes = {p: e.value for p, e in _content_values(ds)
                   if e.keyword == "CodingSchemeDesignator"}
        out = _run(ds, "cleanStructContOpt")
        assert [p for p, e in _content_values(out) if e.VR == "SQ"] == shape
        for path, elem in _content_values(out):
            if elem.keyword in ("TextValue", "PersonName"):
                assert str(elem.value) == "ANONYMIZED", path
            if elem.keyword in ("Date", "DateTime") and elem.value:
                assert str(elem.value).startswith("1900"), path
            if elem.keyword == "CodingSchemeDesignator":
                standard = schemes[path].upper() in STANDARD_SCHEMES
                assert elem.value == (schemes[path] if standard else "ANONYMIZED"), path
                kept += standard
    assert kept == len(SR_FILES)  # the DCM codes were kept
