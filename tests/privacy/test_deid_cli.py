"""``pmrsim deid``: file and directory modes, keys, logs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from sim.cli import main
from tests.privacy.dicom_factory import (
    PATIENTS,
    assert_deidentified,
    make_dataset,
    write,
    write_special,
)

KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def _file(path: Path, sop: str = "1.2.3.9.1") -> Path:
    write(make_dataset("MR", PATIENTS[0], study_uid="1.2.3.9", series_uid="1.2.3.9.0",
                       sop_uid=sop), path)
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A key file in hex."""
    path = tmp_path / "my.key"
    path.write_text(KEY_HEX + "\n")
    return path


def test_single_file_with_key(tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
                              ) -> None:
    """A single file is written de-identified with its JSON action log beside it; exit 0."""
    src = _file(tmp_path / "in.dcm")
    out = tmp_path / "out.dcm"
    assert main(["deid", str(src), str(out), "--key-file", str(key_file)]) == 0
    assert_deidentified(pydicom.dcmread(src), out)
    log = json.loads((tmp_path / "out.dcm.deid.json").read_text())
    assert log["status"] == "ok" and log["actions"]
    assert not (tmp_path / "out.dcm.deid.key").exists()
    assert "de-identified" in capsys.readouterr().out


def test_generated_key_written_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --key-file a new key is written (owner-only) and never overwritten."""
    src = _file(tmp_path / "in.dcm")
    assert main(["deid", str(src), str(tmp_path / "o.dcm")]) == 0
    key_path = tmp_path / "o.dcm.deid.key"
    assert len(bytes.fromhex(key_path.read_text().strip())) == 32
    assert key_path.stat().st_mode & 0o077 == 0
    assert "keep it secret" in capsys.readouterr().err
    assert main(["deid", str(src), str(tmp_path / "o.dcm")]) == 2
    assert main(["deid", str(src), str(tmp_path / "o.dcm"), "--key-file", str(key_path)]) == 0


def test_tree_mode_refusals_exit_1(tmp_path: Path, key_file: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Directory mode writes the good files, lists refused ones and exits 1."""
    _file(tmp_path / "in" / "a" / "good.dcm")
    _file(tmp_path / "in" / "b" / "good2.dcm", sop="1.2.3.9.2")
    write_special(tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("not dicom")
    code = main(["deid", str(tmp_path / "in"), str(tmp_path / "out"), "--key-file", str(key_file)])
    assert code == 1
    err = capsys.readouterr().err
    assert "burned.dcm" in err and "nosop.dcm" in err and "notes.txt" in err
    assert (tmp_path / "out" / "a" / "good.dcm").exists()
    assert (tmp_path / "out" / "b" / "good2.dcm").exists()
    assert not (tmp_path / "out" / "burned.dcm").exists()
    log = json.loads((tmp_path / "out" / "deid-log.json").read_text())
    assert log["processed"] == 2 and log["refused"] == 3
    a = pydicom.dcmread(tmp_path / "out" / "a" / "good.dcm")
    b = pydicom.dcmread(tmp_path / "out" / "b" / "good2.dcm")
    assert a.StudyInstanceUID == b.StudyInstanceUID


def test_tree_mode_all_good_exit_0(tmp_path: Path) -> None:
    """Directory mode with only good files exits 0 and writes OUT/deid.key."""
    _file(tmp_path / "in" / "x.dcm")
    assert main(["deid", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--option", "retain-uids", "--option", "cleanDescOpt"]) == 0
    assert (tmp_path / "out" / "deid.key").exists()
    out = pydicom.dcmread(tmp_path / "out" / "x.dcm")
    assert out.SOPInstanceUID == "1.2.3.9.1"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing-dir", "out"], "missing-dir"),
        (["in", "out", "--option", "retainEverything"], "retainEverything"),
        (["in", "in/sub"], "inside IN"),
        (["in", "out", "--key-file", "nokey"], "nokey"),
        (["in", "out", "--clean-region", "1,2,3"], "--clean-region"),
        (["in", "out", "--option", "rtnLongFullDatesOpt", "--option",
          "rtnLongModifDatesOpt"], "mutually exclusive"),
    ],
)
def test_bad_input_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
                          ) -> None:
    """Bad input exits 2 with one line naming the file, option or argument."""
    monkeypatch.chdir(tmp_path)
    _file(tmp_path / "in" / "x.dcm")
    assert main(["deid", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]
    assert not (tmp_path / "out").exists()


def test_non_dicom_single_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A single non-DICOM file exits 2 naming it and leaves nothing behind."""
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    assert main(["deid", str(src), str(tmp_path / "o.dcm")]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_refused_single_file_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A single burned-in file is refused (exit 1) naming it, and nothing is written."""
    special = write_special(tmp_path / "in")
    assert main(["deid", str(special["burned"]), str(tmp_path / "o.dcm")]) == 1
    assert "burned.dcm" in capsys.readouterr().err
    assert not any(p.name.startswith("o.dcm") for p in tmp_path.iterdir())


def test_clean_region_on_cli(tmp_path: Path, key_file: Path) -> None:
    """--clean-region lets a burned-in file through with the region blacked out."""
    special = write_special(tmp_path / "in")
    out = tmp_path / "o.dcm"
    assert main(["deid", str(special["burned"]), str(out), "--key-file", str(key_file),
                 "--clean-region", "0,0,4,4"]) == 0
    ds = pydicom.dcmread(out)
    assert not ds.pixel_array[:4, :4].any()
    assert ds.BurnedInAnnotation == "NO"
