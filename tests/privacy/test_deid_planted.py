"""Property: a value planted in any attribute of Table E.1-1 whose action is D, X, Z or U
(all 621 rows, wildcards and private ones included), at any depth from 0 to 3 inside
sequences the table does not list, is found nowhere in the de-identified output."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from sim.privacy.deid import DeidConfig, UidMap, deidentify_dataset, deidentify_file
from sim.privacy.deid_table import Rule, load_table
from tests.privacy.dicom_factory import values_of, walk

KEY = b"planted-test-key-0123456789abcdef"
#: Sequences that Table E.1-1 does not list: their items are kept, so they carry the plants.
CONTAINERS = ("ReferencedSeriesSequence", "AnatomicRegionSequence", "DerivationCodeSequence")
#: A concrete tag for each wildcard row.
WILDCARD_TAGS = {"(50XX,XXXX)": 0x50022500, "(60XX,4000)": 0x60024000, "(60XX,3000)": 0x60023000}
#: Rows planted only at the top level: the file meta, the padding that must come last, and
#: the SOP Instance UID (without it at the top the dataset is not an instance).
TOP_ONLY = {0x00020003, 0xFFFCFFFC, 0x00080018}
SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage


def _rows() -> list[tuple[int, Rule]]:
    """(concrete tag, rule) of every row whose Basic Profile action is not K or C."""
    table = load_table()
    out = []
    for rule in [*table.exact.values(), *table.wildcards]:
        if rule.action(frozenset())[0] in ("K", "C"):
            continue
        tag = WILDCARD_TAGS.get(rule.tag_text, rule.pattern.value)
        out.append((tag, rule))
    return sorted(out, key=lambda r: r[0])


ROWS = _rows()


@dataclass
class Plants:
    """What was planted: text tokens searched in the bytes, and (tag, value) pairs."""

    tokens: set[str] = field(default_factory=set)
    values: dict[int, Any] = field(default_factory=dict)
    rows: int = 0
    command: int = 0  # rows of the command group (0000,eeee) come first


def _value(tag: int, vr: str, index: int, rng: random.Random, plants: Plants) -> Any:
    """A unique identifying value for ``vr``; recorded in ``plants``."""
    token = f"QZ{index:03d}" + "".join(rng.choice("BCDFGHJKLMNPRSTVWX") for _ in range(6))
    value: Any
    if vr in ("AE", "CS", "SH", "LO", "ST", "LT", "UT", "UC", "UR"):
        value = token
        plants.tokens.add(token)
    elif vr == "PN":
        value = f"{token}^{token[::-1]}"
        plants.tokens |= {token, token[::-1]}
    elif vr == "UI":
        value = f"1.2.826.0.1.3680043.99.{index}.{rng.randrange(10**9)}"
        plants.tokens.add(value)
    elif vr == "DA":
        value = f"{rng.randrange(1901, 2030)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    elif vr == "DT":
        value = f"{rng.randrange(1901, 2030)}0{rng.randrange(1, 10)}1{rng.randrange(10)}" \
                f"{rng.randrange(10, 24)}{rng.randrange(10, 60)}{rng.randrange(10, 60)}"
        plants.tokens.add(value)
    elif vr == "TM":
        value = f"{rng.randrange(10, 24)}{rng.randrange(10, 60)}{rng.randrange(10, 60)}.{index:03d}"
        plants.tokens.add(value)
    elif vr == "AS":
        value = f"{rng.randrange(1, 999):03d}Y"
    elif vr in ("DS", "IS"):
        value = str(rng.randrange(1, 10**6))
    elif vr in ("US", "SS"):
        value = rng.randrange(1, 30000)
    elif vr in ("OB", "UN", "OW"):
        value = b"\x01" + token.encode() + b"\x02"
        plants.tokens.add(token)
    else:
        raise AssertionError(f"no plant for VR {vr}")
    plants.values.setdefault(tag, value)
    return value


def _plant_sequence(index: int, rng: random.Random, plants: Plants, *,
                    unlisted: bool) -> Sequence:
    """One item holding listed attributes (a name and a UID) with unique values and, where
    ``unlisted``, a code whose value and meaning identify someone (the table lists neither:
    only the sequence's own action can remove them)."""
    item = Dataset()
    item.PatientName = _value(0x00100010, "PN", index, rng, plants)
    item.ReferencedSOPInstanceUID = _value(0x00081155, "UI", index, rng, plants)
    if unlisted:
        item.CodeValue = _value(0x00080100, "SH", index, rng, plants)
        item.CodingSchemeDesignator = "99HOSP"
        item.CodeMeaning = _value(0x00080104, "LO", index, rng, plants)
    return Sequence([item])


def _element(ds: Dataset, tag: int, rule: Rule | None, index: int, rng: random.Random,
             plants: Plants) -> None:
    """Put the plant of row ``tag`` into ``ds``."""
    if tag == 0xFFFFFFFF:  # the private row: a private block with a creator
        block = ds.private_block(0x0011, "PLANTED PHI", create=True)
        block.add_new(0x01, "LO", _value(0x00111001, "LO", index, rng, plants))
        return
    vr = dictionary_VR(tag).split(" or ")[0]
    if vr == "SQ":
        # X/Z/U* keeps the items and replaces UIDs only: plant what the items' rows remove
        unlisted = rule is not None and rule.basic != "X/Z/U*"
        ds.add_new(tag, "SQ", _plant_sequence(index, rng, plants, unlisted=unlisted))
    else:
        ds.add_new(tag, vr, _value(tag, vr, index, rng, plants))


def _dataset(depths: list[int], seed: int) -> tuple[Dataset, Plants]:
    """A Secondary Capture with every row planted at its depth (0 to 3)."""
    rng = random.Random(seed)
    plants = Plants()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASS
    ds.SOPClassUID = SOP_CLASS
    ds.SpecificCharacterSet = "ISO_IR 100"
    levels = [ds]
    for depth in range(1, 4):  # one chain of unlisted sequences, 3 deep
        item = Dataset()
        setattr(levels[-1], CONTAINERS[depth - 1], Sequence([item]))
        levels.append(item)
    rows: list[tuple[int, Rule | None]] = [*ROWS, (0xFFFFFFFF, None)]
    for index, ((tag, rule), depth) in enumerate(zip(rows, depths, strict=True)):
        plants.rows += 1
        plants.command += tag >> 16 == 0
        if tag == 0x00020003:
            ds.file_meta.MediaStorageSOPInstanceUID = _value(tag, "UI", index, rng, plants)
            continue
        _element(ds if tag in TOP_ONLY else levels[depth], tag, rule, index, rng, plants)
    if "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds, plants


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=3), min_size=len(ROWS) + 1,
                max_size=len(ROWS) + 1), st.integers(min_value=0, max_value=2**32))
def test_planted_values_never_survive(depths: list[int], seed: int) -> None:
    """No planted text, name, UID, date, time, number or byte string survives, at any depth."""
    ds, plants = _dataset(depths, seed)
    # In memory: the command group (0000,eeee) rows cannot be written to a Part 10 file.
    deidentify_dataset(ds, DeidConfig(key=KEY), uid_map=UidMap(KEY))
    for path, elem in walk(ds):
        value = elem.value
        if isinstance(value, bytes):
            assert not any(t.encode() in value for t in plants.tokens), f"plant in {path}"
            continue
        texts = values_of(elem)
        assert not any(t in v for v in texts for t in plants.tokens), f"plant in {path}"
        planted = plants.values.get(int(elem.tag))
        if planted is not None and not isinstance(planted, bytes):
            assert str(planted) not in texts, f"planted value survived at {path}"


def test_planted_file_round_trip(tmp_path: Path) -> None:
    """The same plants (but the command group) written as a file come out of deid_file clean."""
    ds, plants = _dataset([d % 4 for d in range(len(ROWS) + 1)], 7)
    for tag in [e.tag for e in ds if e.tag.group == 0]:
        del ds[tag]
    src, out = tmp_path / "in.dcm", tmp_path / "out.dcm"
    ds.save_as(src, enforce_file_format=True)
    deidentify_file(src, out, DeidConfig(key=KEY))
    raw = out.read_bytes()
    command = {t for t in plants.tokens if t[2:5].isdigit() and int(t[2:5]) < plants.command}
    for token in plants.tokens - command:
        assert token.encode() not in raw, f"planted {token} survived"
    assert pydicom.dcmread(out).PatientIdentityRemoved == "YES"


def test_every_row_is_planted() -> None:
    """The plants cover all 621 rows but the K/C ones: wildcards, file meta and private."""
    table = load_table()
    assert len(table) == 621
    assert len(ROWS) + 1 == len(table)  # + the private row, planted as a block
    ds, plants = _dataset([3] * (len(ROWS) + 1), 1)
    assert plants.rows == len(table) and plants.command > 0
    depth3 = ds.ReferencedSeriesSequence[0].AnatomicRegionSequence[0].DerivationCodeSequence[0]
    assert "PatientName" in depth3 and "ContentSequence" in depth3
