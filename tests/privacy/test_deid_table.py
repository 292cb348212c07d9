"""Table E.1-1 loading, wildcard matching, action resolution and keyed value derivations."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.privacy.deid_actions import (
    date_offset_days,
    derive_uid,
    dummy_value,
    shift_date_value,
)
from sim.privacy.deid_table import (
    COMBINED_ACTIONS,
    OPTION_CODES,
    Rule,
    TagPattern,
    canonical_option,
    load_table,
    validate_options,
)

UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")
tags = st.integers(min_value=0, max_value=0xFFFFFFFF)
keys = st.binary(min_size=16, max_size=64)


def _rule(tag: int) -> Rule:
    rule = load_table().lookup(tag)
    assert rule is not None
    return rule


def test_table_has_all_rows() -> None:
    """The packaged table has all 621 rows, three wildcard rows and the private row."""
    table = load_table()
    assert len(table) == 621
    assert len(table.wildcards) == 3
    assert table.private_rule is not None
    assert len(table.exact) == 621 - 3 - 1


def test_every_action_resolves() -> None:
    """Every basic and option action of every row resolves to one of X, Z, D, K, C, U."""
    for rule in [*load_table().exact.values(), *load_table().wildcards]:
        for opts in [frozenset(), frozenset(OPTION_CODES) - {"rtnLongFullDatesOpt"}]:
            assert rule.action(opts)[0] in set("XZDKCU")


def test_combined_action_rule() -> None:
    """Combined actions resolve as documented: X/Z, X/Z/D -> Z; X/D, Z/D -> D; X/Z/U* -> U."""
    assert COMBINED_ACTIONS == {"X/Z": "Z", "X/Z/D": "Z", "X/D": "D", "Z/D": "D", "X/Z/U*": "U"}
    assert _rule(0x00100020).action(frozenset())[0] == "D"  # Patient ID, Z/D
    assert _rule(0x00081110).action(frozenset())[0] == "Z"  # Referenced Study Seq, X/Z
    assert _rule(0x00082112).action(frozenset())[0] == "U"  # Source Image Seq, X/Z/U*


@given(tags, st.sets(st.integers(min_value=0, max_value=7)))
def test_wildcard_pattern_matches_its_tag(tag: int, wild: set[int]) -> None:
    """A pattern made from a tag by turning any nibbles into X matches that tag."""
    digits = list(f"{tag:08X}")
    for i in wild:
        digits[i] = "X"
    text = f"({''.join(digits[:4])},{''.join(digits[4:])})"
    assert TagPattern.parse(text).matches(tag)


@given(tags, st.integers(min_value=0, max_value=7), st.integers(min_value=1, max_value=15))
def test_pattern_rejects_changed_fixed_nibble(tag: int, pos: int, delta: int) -> None:
    """Changing a nibble that is not a wildcard makes the pattern stop matching."""
    pattern = TagPattern.parse(f"({tag >> 16:04X},{tag & 0xFFFF:04X})")
    shift = (7 - pos) * 4
    nibble = (tag >> shift) & 0xF
    other = (tag & ~(0xF << shift)) | (((nibble + delta) & 0xF) << shift)
    assert not pattern.matches(other)


@given(st.integers(min_value=0, max_value=0x7F), st.integers(min_value=0, max_value=0xFFFF))
def test_curve_and_overlay_wildcards(half_group: int, element: int) -> None:
    """Every element of a 50xx group is Curve Data; 60xx,3000 and 60xx,4000 are overlay rows."""
    table = load_table()
    curve = table.lookup(((0x5000 | (half_group * 2)) << 16) | element)
    assert curve is not None and curve.name == "Curve Data"
    group = 0x6000 | (half_group * 2)
    overlay = table.lookup((group << 16) | 0x3000)
    comments = table.lookup((group << 16) | 0x4000)
    assert overlay is not None and overlay.name == "Overlay Data"
    assert comments is not None and comments.name == "Overlay Comments"


def test_option_overrides_basic() -> None:
    """A selected option's column overrides the basic action; C beats K when options disagree."""
    study_date = _rule(0x00080020)
    assert study_date.action(frozenset())[0] == "Z"
    assert study_date.action(frozenset({"rtnLongFullDatesOpt"})) == ("K", "rtnLongFullDatesOpt")
    assert study_date.action(frozenset({"rtnLongModifDatesOpt"}))[0] == "C"
    allergies = _rule(0x00102110)
    assert allergies.action(frozenset({"rtnPatCharsOpt", "cleanDescOpt"}))[0] == "C"
    calib = _rule(0x0018700C)  # Date of Last Detector Calibration: DevId K, ModifDates C
    assert calib.action(frozenset({"rtnDevIdOpt", "rtnLongModifDatesOpt"}))[0] == "C"


def test_option_names_validated() -> None:
    """Unknown option names and the two contradictory date options are rejected."""
    assert canonical_option("retain-uids") == "rtnUIDsOpt"
    with pytest.raises(ValueError, match="unknown"):
        canonical_option("retainEverything")
    with pytest.raises(ValueError, match="mutually exclusive"):
        validate_options(frozenset({"rtnLongFullDatesOpt", "retain-long-modified-dates"}))


@given(keys, st.text(alphabet="0123456789.", min_size=1, max_size=64))
def test_derived_uid_is_valid_and_deterministic(key: bytes, uid: str) -> None:
    """A derived UID is a valid 2.25 UID of at most 64 characters, the same for the same input."""
    new = derive_uid(key, uid)
    assert UID_RE.match(new) and len(new) <= 64
    assert derive_uid(key, uid) == new


@given(keys, keys, st.text(alphabet="0123456789.", min_size=1, max_size=64))
def test_derived_uid_depends_on_key(key1: bytes, key2: bytes, uid: str) -> None:
    """Different keys give unrelated UIDs for the same input (unlinkable without the key)."""
    if key1 != key2:
        assert derive_uid(key1, uid) != derive_uid(key2, uid)


@given(keys, st.text(alphabet="0123456789.", min_size=1), st.text(alphabet="0123456789.",
                                                                  min_size=1))
def test_derived_uid_injective_in_practice(key: bytes, a: str, b: str) -> None:
    """Different input UIDs give different new UIDs."""
    if a != b:
        assert derive_uid(key, a) != derive_uid(key, b)


@given(keys, st.text(max_size=20), st.integers(min_value=1, max_value=3650))
def test_date_offset_nonzero_within_span(key: bytes, patient: str, span: int) -> None:
    """The per-patient offset is keyed, deterministic, non-zero and within the span."""
    days = date_offset_days(key, patient, span)
    assert days != 0 and -span <= days <= span
    assert date_offset_days(key, patient, span) == days


@given(st.dates(), st.integers(min_value=-365, max_value=365))
def test_date_shift_round_trips(day: object, days: int) -> None:
    """Shifting a DA by d days then by -d days gives the original date back."""
    value = day.strftime("%Y%m%d")  # type: ignore[attr-defined]
    shifted = shift_date_value("DA", value, days)
    if shifted is not None:  # None only past year 9999 or before year 1
        assert shift_date_value("DA", shifted, -days) == value


def test_date_shift_keeps_time_part_and_rejects_garbage() -> None:
    """DT keeps its time of day; unparseable values are reported (None) for a dummy."""
    assert shift_date_value("DT", "20240611093015.123", 1) == "20240612093015.123"
    assert shift_date_value("DA", "20240101-20240131", -1) == "20231231-20240130"
    assert shift_date_value("DA", "2024xx01", 3) is None


def test_dummies_fit_their_vr() -> None:
    """Dummies are non-empty and of the right kind for each VR."""
    assert dummy_value("DA") == "19000101"
    assert dummy_value("US or SS") == 0
    assert dummy_value("OB") == b"\x00\x00"
    assert len(dummy_value("SH")) <= 16


@pytest.mark.parametrize(
    ("action", "required", "expected"),
    [
        ("X", None, "X"), ("X", "present", "Z"), ("X", "value", "D"),
        ("Z", None, "Z"), ("Z", "value", "D"), ("D", None, "D"),
        ("X/Z", None, "X"), ("X/Z", "present", "Z"), ("X/Z", "value", "D"),
        ("X/D", "present", "D"), ("Z/D", "present", "Z"), ("X/Z/D", None, "X"),
        ("X/Z/U*", None, "U"), ("X/Z/U*", "value", "U"), ("K", "value", "K"),
    ],
)
def test_resolve_for_type(action: str, required: str | None, expected: str) -> None:
    """Actions are fitted to the Type: never the original, never less than the IOD needs."""
    from sim.privacy.deid_table import resolve_for_type

    assert resolve_for_type(action, required) == expected


def test_iod_types_from_highdicom_tables() -> None:
    """Types come from the PS3.3 tables: strictest across modules, suffix paths for SR trees."""
    from sim.privacy.deid_iod import iod_types

    ecg = iod_types("1.2.840.10008.5.1.4.1.1.9.1.1")
    assert ecg.required((), "AcquisitionDateTime") == "value"
    assert ecg.required((), "PatientName") == "present"
    assert ecg.required((), "OperatorIdentificationSequence") is None
    sr = iod_types("1.2.840.10008.5.1.4.1.1.88.33")
    assert sr.required(("ContentSequence", "ContentSequence"), "RelationshipType") == "value"
    assert iod_types("1.2.3.4.unknown").required((), "SOPInstanceUID") == "value"
