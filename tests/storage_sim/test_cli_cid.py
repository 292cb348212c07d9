"""``pmrsim cid``: prints Kubo's CID for a file or stdin; bad input exits 2 with one line."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.commands import cid as cid_command
from storage_sim.unixfs import ImportParams


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_v0_and_v1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CID is the first token of the last output line, v0 by default, v1 on request."""
    path = tmp_path / "hw.txt"
    path.write_bytes(b"hello world")
    code, out, _ = _run(["cid", str(path)], capsys)
    assert code == 0 and out.strip().splitlines()[-1].split()[0] == (
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    )
    code, out, _ = _run(["cid", str(path), "--cid-version", "1"], capsys)
    assert out.split()[0] == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


def test_dash_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FILE '-' hashes standard input."""

    class _Stdin:
        buffer = io.BytesIO(b"hello world")

    monkeypatch.setattr(sys, "stdin", _Stdin())
    code, out, _ = _run(["cid", "-"], capsys)
    assert code == 0 and out.split()[0] == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["cid", "{tmp}/missing.bin"], "missing.bin: no such file"),
        (["cid", "{tmp}/folder"], "link: a symbolic link"),
        (["cid", "{tmp}/ok.bin", "--cid-version", "2"], "--cid-version: expected 0 or 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file, a folder holding a symbolic link or an unknown CID version: exit 2, one
    line, no traceback."""
    (tmp_path / "ok.bin").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "link").symlink_to(tmp_path / "ok.bin")
    code, out, err = _run([a.format(tmp=tmp_path) for a in args], capsys)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unreadable_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that cannot be read is reported as bad input (exit 2), even when run as root."""
    path = tmp_path / "secret.bin"
    path.write_bytes(b"x")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cid_command, "open", refuse, raising=False)
    code, _, err = _run(["cid", str(path)], capsys)
    assert code == 2 and "secret.bin: permission denied" in err


def test_a_folder_hashes_as_ipfs_add_recursive(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim cid DIR` prints the folder's CID as `ipfs add -r` (an empty folder: Kubo's
    published one); --hidden and -w change it as Kubo's flags do."""
    from storage_sim import import_tree

    (tmp_path / "empty").mkdir()
    assert _run(["cid", str(tmp_path / "empty")], capsys)[1].strip() == (
        "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"a")
    (folder / ".hidden").write_bytes(b"h")
    plain = _run(["cid", str(folder)], capsys)[1].strip()
    assert plain == str(import_tree({"a.txt": b"a"}).cid)
    assert _run(["cid", str(folder), "--hidden"], capsys)[1].strip() == str(
        import_tree({"a.txt": b"a", ".hidden": b"h"}).cid)
    assert _run(["cid", str(folder), "-w", "--cid-version", "1"], capsys)[1].strip() == str(
        import_tree({"study": {"a.txt": b"a"}}, params=ImportParams(cid_version=1)).cid)
