"""Property tests: identifying values planted anywhere never survive de-identification."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sim.privacy.deid import DeidConfig, UidMap, deidentify_dataset, deidentify_file
from tests.privacy.dicom_factory import PATIENTS, assert_deidentified, make_dataset, walk, write

KEY = b"property-test-key-0123456789abcd"
# Names are framed Q...Z so that they never occur by chance in the fixed vocabulary of the
# file (dummies such as ANONYMIZED, coded strings such as CONTAINER).
letters = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=10).map(
    lambda s: "Q" + s + "Z"
)
# IDs start with K: an all-digit ID such as 000000 also occurs as a dummy time, and K
# occurs in no dummy nor in the hex Patient ID pseudonym.
ids = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=5, max_size=11).map(
    lambda s: "K" + s
)
dates = st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2030, 12, 31))
uids = st.lists(st.integers(min_value=1, max_value=10**9), min_size=3, max_size=6).map(
    lambda parts: "1.2.826.0.1." + ".".join(map(str, parts))
)


def _planted(family: str, given_name: str, pid: str, birth: dt.date, sop: str) -> Dataset:
    ds = make_dataset("CT", PATIENTS[0], study_uid=sop + ".1", series_uid=sop + ".2",
                      sop_uid=sop)
    name = f"{family}^{given_name}"
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    # Copies in standard attributes the table does not list, at several depths:
    ds.ManufacturerModelName = pid
    ds.DateOfGainCalibration = birth.strftime("%Y%m%d")
    ds.ProcedureCodeSequence[0].CodeMeaning = f"Scan of {family} {given_name}"
    ds.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning = f"see {pid}"
    item = Dataset()
    item.ReferencedSOPInstanceUID = sop
    item.ReferencedSOPClassUID = ds.SOPClassUID
    ds.ReferencedInstanceSequence = Sequence([item])
    return ds


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(letters, letters, ids, dates, uids)
def test_planted_phi_never_survives(family: str, given_name: str, pid: str, birth: dt.date,
                                    sop: str) -> None:
    """A random name, ID, birth date and UID, copied into unlisted attributes, do not survive."""
    with TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        original = _planted(family, given_name, pid, birth, sop)
        write(original, src)
        deidentify_file(src, out, DeidConfig(key=KEY))
        ds = assert_deidentified(original, out)
        raw = out.read_bytes()
        for needle in (family, given_name, pid, birth.strftime("%Y%m%d"), sop):
            assert needle.encode() not in raw
        refs = [e.value for _, e in walk(ds) if e.keyword == "ReferencedSOPInstanceUID"]
        assert ds.SOPInstanceUID in refs  # the unlisted reference follows the new UID


@settings(max_examples=25, deadline=None)
@given(uids, st.binary(min_size=16, max_size=32))
def test_uid_map_consistent_between_datasets(sop: str, key: bytes) -> None:
    """Two datasets sharing a UID get the same new UID, with one map or with two maps."""
    a = _planted("ALPHA", "BETA", "ID000001", dt.date(1950, 1, 1), sop)
    b = _planted("GAMMA", "DELTA", "ID000002", dt.date(1960, 1, 1), sop)
    config = DeidConfig(key=key)
    deidentify_dataset(a, config, uid_map=UidMap(key))
    deidentify_dataset(b, config, uid_map=UidMap(key))
    assert a.SOPInstanceUID == b.SOPInstanceUID != sop
    assert a.StudyInstanceUID == b.StudyInstanceUID
    assert len(a.SOPInstanceUID) <= 64
