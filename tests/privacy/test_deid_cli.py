"""``pmrsim deid``: file and directory modes, keys, logs and exit codes."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from sim.cli import main
from sim.commands.deid import key_id
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
    """A key file in hex, in a folder of its own (never beside an output)."""
    path = tmp_path / "keys" / "my.key"
    path.parent.mkdir()
    path.write_text(KEY_HEX + "\n")
    return path


def test_single_file_with_key(tmp_path: Path, key_file: Path, key_store: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """A single file is written de-identified with its JSON action log beside it; exit 0."""
    src = _file(tmp_path / "in" / "in.dcm")
    out = tmp_path / "out" / "out.dcm"
    out.parent.mkdir()
    assert main(["deid", str(src), str(out), "--key-file", str(key_file)]) == 0
    assert_deidentified(pydicom.dcmread(src), out)
    log = json.loads((out.parent / "out.dcm.deid.json").read_text())
    assert log["status"] == "ok" and log["actions"]
    assert log["key_id"] == key_id(bytes.fromhex(KEY_HEX)) and KEY_HEX not in json.dumps(log)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.dcm", "out.dcm.deid.json"]
    assert not key_store.exists()
    assert "de-identified" in capsys.readouterr().out


def test_new_key_goes_to_the_key_store(tmp_path: Path, key_store: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Without --key-file a new key goes to the owner-only key store, never beside the output."""
    src = _file(tmp_path / "in" / "in.dcm")
    out = tmp_path / "out" / "o.dcm"
    out.parent.mkdir()
    assert main(["deid", str(src), str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.dcm", "o.dcm.deid.json"]
    (key_path,) = key_store.iterdir()
    key = bytes.fromhex(key_path.read_text().strip())
    assert len(key) == 32 and key_path.name == f"{key_id(key)}.key"  # no output name in it
    assert key_path.stat().st_mode & 0o077 == 0 and key_store.stat().st_mode & 0o077 == 0
    err = capsys.readouterr().err
    assert str(key_path) in err and "undo" in err and "link the pseudonyms" in err
    assert json.loads((out.parent / "o.dcm.deid.json").read_text())["key_id"] == key_id(key)
    again = tmp_path / "out2"
    assert main(["deid", str(src.parent), str(again), "--key-file", str(key_path)]) == 0
    assert (pydicom.dcmread(again / "in.dcm").SOPInstanceUID
            == pydicom.dcmread(out).SOPInstanceUID)


def test_key_out_written_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--key-out names where a new key goes; an existing key is never overwritten."""
    src = _file(tmp_path / "in" / "in.dcm")
    key_path = tmp_path / "keys" / "study.key"
    key_path.parent.mkdir()
    assert main(["deid", str(src.parent), str(tmp_path / "out"), "--key-out",
                 str(key_path)]) == 0
    first = key_path.read_text()
    assert key_path.stat().st_mode & 0o077 == 0
    assert main(["deid", str(src.parent), str(tmp_path / "out2"), "--key-out",
                 str(key_path)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert key_path.read_text() == first and not (tmp_path / "out2").exists()


@pytest.mark.parametrize("flag", ["--key-file", "--key-out"])
def test_key_inside_out_refused(tmp_path: Path, flag: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """A key path inside OUT (folder mode) or beside a file output is refused, exit 2."""
    src = _file(tmp_path / "in" / "in.dcm")
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "sub" / "k.key"
    if flag == "--key-file":
        inside.parent.mkdir()
        inside.write_text(KEY_HEX)
    assert main(["deid", str(src.parent), str(out), flag, str(inside), "--force"]) == 2
    assert "inside OUT" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == (["k.key", "sub"] if flag == "--key-file"
                                                      else [])
    beside = tmp_path / "b.key"
    if flag == "--key-file":
        beside.write_text(KEY_HEX)
    assert main(["deid", str(src), str(tmp_path / "o.dcm"), flag, str(beside)]) == 2
    assert "beside the output file" in capsys.readouterr().err
    assert not (tmp_path / "o.dcm").exists()


def test_existing_output_needs_force(tmp_path: Path, key_file: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """An existing output (file or folder) is never replaced without --force; a folder that is
    not a deid output is not replaced even with it."""
    src = _file(tmp_path / "in" / "in.dcm")
    out_file = tmp_path / "o.dcm"
    out_file.write_bytes(b"precious")
    assert main(["deid", str(src), str(out_file), "--key-file", str(key_file)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out_file.read_bytes() == b"precious"
    assert main(["deid", str(src), str(out_file), "--key-file", str(key_file), "--force"]) == 0
    assert pydicom.dcmread(out_file).PatientIdentityRemoved == "YES"
    out_dir = tmp_path / "out"
    (out_dir / "old").mkdir(parents=True)
    (out_dir / "old" / "keep.txt").write_text("precious")
    assert main(["deid", str(src.parent), str(out_dir), "--key-file", str(key_file)]) == 2
    assert (out_dir / "old" / "keep.txt").read_text() == "precious"
    assert main(["deid", str(src.parent), str(out_dir), "--key-file", str(key_file),
                 "--force"]) == 2
    assert "not an output of pmrsim deid" in capsys.readouterr().err
    assert (out_dir / "old" / "keep.txt").read_text() == "precious"
    shutil.rmtree(out_dir)
    assert main(["deid", str(src.parent), str(out_dir), "--key-file", str(key_file)]) == 0
    assert main(["deid", str(src.parent), str(out_dir), "--key-file", str(key_file)]) == 2
    assert main(["deid", str(src.parent), str(out_dir), "--key-file", str(key_file),
                 "--force"]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["deid-log.json", "in.dcm"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_tree_mode_refusals_exit_1(tmp_path: Path, key_file: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Directory mode writes the good files, lists refused and skipped ones and exits 1."""
    _file(tmp_path / "in" / "a" / "good.dcm")
    _file(tmp_path / "in" / "b" / "good2.dcm", sop="1.2.3.9.2")
    write_special(tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("not dicom")
    code = main(["deid", str(tmp_path / "in"), str(tmp_path / "out"), "--key-file", str(key_file)])
    assert code == 1
    captured = capsys.readouterr()
    assert "burned.dcm" in captured.err and "nosop.dcm" in captured.err
    assert "skipped" in captured.err and "notes.txt" in captured.err
    last = captured.out.strip().splitlines()[-1]
    assert "de-identified 2 instance(s)" in last and "skipped 2 file(s)" in last
    assert "refused 1" in last and "failed 0" in last
    assert (tmp_path / "out" / "a" / "good.dcm").exists()
    assert (tmp_path / "out" / "b" / "good2.dcm").exists()
    assert not (tmp_path / "out" / "burned.dcm").exists()
    log = json.loads((tmp_path / "out" / "deid-log.json").read_text())
    assert (log["processed"], log["skipped"], log["refused"], log["failed"]) == (2, 2, 1, 0)
    a = pydicom.dcmread(tmp_path / "out" / "a" / "good.dcm")
    b = pydicom.dcmread(tmp_path / "out" / "b" / "good2.dcm")
    assert a.StudyInstanceUID == b.StudyInstanceUID


def test_tree_mode_all_good_exit_0(tmp_path: Path, key_store: Path) -> None:
    """Directory mode with only good files exits 0; the new key is in the store, not in OUT."""
    _file(tmp_path / "in" / "x.dcm")
    assert main(["deid", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--option", "retain-uids", "--option", "cleanDescOpt"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deid-log.json", "x.dcm"]
    assert len(list(key_store.iterdir())) == 1
    out = pydicom.dcmread(tmp_path / "out" / "x.dcm")
    assert out.SOPInstanceUID == "1.2.3.9.1"


def test_tree_mode_skips_what_is_not_an_instance(tmp_path: Path, key_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """README, .icc, .json and DICOMDIR files are skipped and listed, not refused: exit 0."""
    _file(tmp_path / "in" / "x.dcm")
    for name in ("README.txt", "crayons.icc", "test1.json", "DICOMDIR"):
        source = get_testdata_file(name, download=False)
        assert source is not None
        (tmp_path / "in" / name).write_bytes(Path(source).read_bytes())
    assert main(["deid", str(tmp_path / "in"), str(tmp_path / "out"), "--key-file",
                 str(key_file)]) == 0
    captured = capsys.readouterr()
    for name in ("README.txt", "crayons.icc", "test1.json", "DICOMDIR"):
        assert f"skipped {tmp_path / 'in' / name}" in captured.err
    assert "de-identified 1 instance(s)" in captured.out and "skipped 4" in captured.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deid-log.json", "x.dcm"]


def test_interrupt_leaves_the_target_as_it_was(tmp_path: Path, key_file: Path) -> None:
    """SIGTERM or SIGHUP while a folder is de-identified leaves OUT as it was, no partial."""
    first = _file(tmp_path / "in" / "f000.dcm")
    for i in range(1, 150):
        shutil.copyfile(first, tmp_path / "in" / f"f{i:03d}.dcm")
    out = tmp_path / "out"
    shutil.copytree(tmp_path / "in", tmp_path / "small", ignore=lambda d, names: names[1:])
    assert main(["deid", str(tmp_path / "small"), str(out), "--key-file", str(key_file)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "deid", str(tmp_path / "in"), str(out),
             "--key-file", str(key_file), "--force"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        partial: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in tmp_path.glob(".out.pmrsim-deid-*.partial")
                       if any(p.glob("f0*.dcm"))]
            if partial:
                break
            time.sleep(0.01)
        assert partial, "the run never started writing"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + sig, err
        assert "interrupted" in err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "xdg-data"]
    assert not list((tmp_path / "xdg-data").rglob("*.key"))


def test_refused_single_file_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A single burned-in file is refused (exit 1) naming it; nothing is written, no key kept."""
    special = write_special(tmp_path / "in")
    assert main(["deid", str(special["burned"]), str(tmp_path / "o.dcm")]) == 1
    assert "burned.dcm" in capsys.readouterr().err
    assert not any(p.name.startswith(("o.dcm", ".o.dcm")) for p in tmp_path.iterdir())
    assert not list((tmp_path / "xdg-data").rglob("*.key"))


def test_clean_region_on_cli(tmp_path: Path, key_file: Path) -> None:
    """--clean-region lets a burned-in file through with the region blacked out."""
    special = write_special(tmp_path / "in")
    out = tmp_path / "o.dcm"
    assert main(["deid", str(special["burned"]), str(out), "--key-file", str(key_file),
                 "--clean-region", "0,0,4,4"]) == 0
    ds = pydicom.dcmread(out)
    assert not ds.pixel_array[:4, :4].any()
    assert ds.BurnedInAnnotation == "NO"
