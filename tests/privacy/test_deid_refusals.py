"""Broken input is refused with the reason; inputs without a preamble are read and fixed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from sim.cli import main
from sim.privacy.deid import DeidConfig, DeidRefused, deidentify_bytes, deidentify_file
from sim.privacy.deid_checks import BrokenInput, check_pixels

CONFIG = DeidConfig(key=b"refusal-test-key-0123456789abcdef")


def _data(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    assert path is not None
    return Path(path).read_bytes()


def _refusal(data: bytes) -> DeidRefused:
    with pytest.raises(DeidRefused) as info:
        deidentify_bytes(data, CONFIG, name="cut.dcm")
    return info.value


def test_head_of_a_file_refused_on_the_command_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`head -c 2000 CT_small.dcm` is refused (exit 1), nothing is written, the log says why."""
    cut = tmp_path / "t.dcm"
    cut.write_bytes(_data("CT_small.dcm")[:2000])
    keys = tmp_path / "keys"
    keys.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    assert main(["deid", str(cut), str(out / "o.dcm"), "--key-out", str(keys / "k")]) == 1
    err = capsys.readouterr().err
    assert "t.dcm: refused: the file is truncated" in err
    assert not list(out.iterdir()) and not list(keys.iterdir())


def test_pixel_data_cut_short_refused() -> None:
    """CT_small without its last 5,000 bytes is refused, naming Pixel Data."""
    data = _data("CT_small.dcm")
    refusal = _refusal(data[:-5000])
    assert refusal.reason == "truncated" and "(7FE0,0010)" in refusal.detail
    assert "27906 remain" in refusal.detail


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_truncated_test_files_refused(name: str, tmp_path: Path) -> None:
    """pydicom's truncated MR and RT Plan are refused; nothing is written."""
    path = get_testdata_file(name, download=False)
    with pytest.raises(DeidRefused) as info:
        deidentify_file(path, tmp_path / "o.dcm", CONFIG)
    assert info.value.reason == "truncated"
    assert not list(tmp_path.iterdir())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=140, max_value=39_000))
def test_any_cut_inside_an_element_is_refused(cut: int) -> None:
    """A file cut at any byte inside an element (here CT_small) is refused, never written."""
    data = _data("CT_small.dcm")
    boundaries = _element_boundaries(data)
    if cut in boundaries or cut >= len(data):
        return  # a cut exactly between two elements leaves a whole, shorter file
    assert _refusal(data[:cut]).reason == "truncated"


def _element_boundaries(data: bytes) -> set[int]:
    """Byte offsets where a top-level element of CT_small (explicit VR LE) starts or ends."""
    import struct

    pos, out = 132, {132}
    while pos + 8 <= len(data):
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"OF"):
            pos += 12 + struct.unpack_from("<L", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
        out.add(pos)
    return out


def test_inconsistent_native_pixels_refused() -> None:
    """Rows x Columns x Bits beyond the Pixel Data length is refused, naming both."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.Rows = 200
    with pytest.raises(BrokenInput, match=r"holds 32768 bytes; .* need 51200"):
        check_pixels(ds, encapsulated=False)
    ds.Rows = 128
    ds.NumberOfFrames = 2
    with pytest.raises(BrokenInput, match="need 65536"):
        check_pixels(ds, encapsulated=False)


def test_encapsulated_fragments_that_do_not_parse_refused(tmp_path: Path) -> None:
    """Encapsulated Pixel Data whose fragments do not parse, or too few of them, is refused."""
    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm", download=False))
    good = bytes(ds.PixelData)
    check_pixels(ds, encapsulated=True)
    ds.PixelData = good[:12] + b"\x00\x00\x00\x00" + good[16:]  # first fragment tag broken
    with pytest.raises(BrokenInput, match="does not parse"):
        check_pixels(ds, encapsulated=True)
    ds.PixelData = good
    ds.NumberOfFrames = 3
    with pytest.raises(BrokenInput, match="fragment"):
        check_pixels(ds, encapsulated=True)
    ds.NumberOfFrames = 1
    ds.PixelData = good[:8] + b"\x00\x00\x00\x00" + good[8:]  # BOT claims more than it holds
    with pytest.raises(BrokenInput):
        check_pixels(ds, encapsulated=True)
    src = tmp_path / "bad.dcm"
    bad = pydicom.dcmread(get_testdata_file("JPEG2000.dcm", download=False))
    bad.NumberOfFrames = 4
    bad.save_as(src)
    with pytest.raises(DeidRefused) as info:
        deidentify_file(src, tmp_path / "o.dcm", CONFIG)
    assert info.value.reason == "broken-pixel-data"


def test_broken_sequence_refused() -> None:
    """A sequence item whose length runs past its sequence is refused (unreadable sequence)."""
    data = bytearray(_data("rtplan.dcm"))
    marker = bytes.fromhex("feff00e0")  # the first item tag
    at = data.index(marker)
    data[at + 4:at + 8] = (0x7FFFFFF0).to_bytes(4, "little")
    assert _refusal(bytes(data)).reason == "truncated"


@pytest.mark.parametrize("name", ["ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm",
                                  "rtstruct.dcm"])
def test_inputs_without_preamble_become_part10(name: str, tmp_path: Path) -> None:
    """Files with no preamble or file meta are de-identified into proper Part 10 files."""
    original = pydicom.dcmread(get_testdata_file(name, download=False), force=True)
    out = tmp_path / "o.dcm"
    deidentify_file(get_testdata_file(name, download=False), out, CONFIG)
    raw = out.read_bytes()
    assert raw[128:132] == b"DICM"
    ds = pydicom.dcmread(out)  # no force needed any more
    meta = ds.file_meta
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID != original.SOPInstanceUID
    assert meta.MediaStorageSOPClassUID == original.SOPClassUID
    implicit, little = original.original_encoding
    assert meta.TransferSyntaxUID.is_implicit_VR == implicit
    assert meta.TransferSyntaxUID.is_little_endian == little
    if shutil.which("dcmftest"):
        proc = subprocess.run(["dcmftest", str(out)], capture_output=True, text=True, check=False)
        assert proc.stdout.startswith("yes:")
