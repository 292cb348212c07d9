"""The ``pmrsim share split`` / ``pmrsim share combine`` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sim.cli import main

RECORD = bytes(range(256)) * 400


@pytest.fixture
def record(tmp_path: Path) -> Path:
    path = tmp_path / "xray.dcm"
    path.write_bytes(RECORD)
    return path


def _split(record: Path, out: Path, t: int = 3, n: int = 5, *extra: str) -> int:
    return main(
        [
            "share",
            "split",
            str(record),
            "--t",
            str(t),
            "--n",
            str(n),
            "--out",
            str(out),
            "--segment-size",
            "10000",
            *extra,
        ]
    )


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_split_writes_the_documented_layout(record: Path, tmp_path: Path) -> None:
    """split writes manifest.json, essential.key and custodians/<i>/ with fragment and share."""
    out = tmp_path / "shares"
    assert _split(record, out) == 0
    assert (out / "manifest.json").is_file() and (out / "essential.key").is_file()
    assert sorted(p.name for p in (out / "custodians").iterdir()) == ["1", "2", "3", "4", "5"]
    assert sorted(p.name for p in (out / "custodians" / "2").iterdir()) == [
        "fragment.bin",
        "key.share",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    essential = json.loads((out / "essential.key").read_text())["value"]
    assert essential not in (out / "manifest.json").read_text()
    assert manifest["t"] == 3 and manifest["n"] == 5 and manifest["record_size"] == len(RECORD)


def test_combine_survives_the_loss_of_n_minus_t_custodians(record: Path, tmp_path: Path) -> None:
    """Deleting two of five custodian folders still rebuilds the exact file."""
    out = tmp_path / "shares"
    _split(record, out)
    shutil.rmtree(out / "custodians" / "1")
    shutil.rmtree(out / "custodians" / "3")
    rebuilt = tmp_path / "back.dcm"
    code = main(
        [
            "share",
            "combine",
            str(out),
            "--essential",
            str(out / "essential.key"),
            "--out",
            str(rebuilt),
        ]
    )
    assert code == 0 and rebuilt.read_bytes() == RECORD


def test_tampered_fragment_is_reported_and_skipped(
    record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A modified fragment file is set aside and named; the file still rebuilds."""
    out = tmp_path / "shares"
    _split(record, out)
    fragment = out / "custodians" / "2" / "fragment.bin"
    data = bytearray(fragment.read_bytes())
    data[0] ^= 1
    fragment.write_bytes(bytes(data))
    rebuilt = tmp_path / "back.dcm"
    code = main(
        [
            "share",
            "combine",
            str(out),
            "--essential",
            str(out / "essential.key"),
            "--out",
            str(rebuilt),
        ]
    )
    assert code == 0 and rebuilt.read_bytes() == RECORD
    assert "set aside fragments [2]" in capsys.readouterr().out


def test_too_few_custodians_exit_2_and_leave_nothing(
    record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With t-1 custodians combine exits 2 with one line and writes no output file."""
    out = tmp_path / "shares"
    _split(record, out)
    for i in ("1", "2", "3"):
        shutil.rmtree(out / "custodians" / i)
    rebuilt = tmp_path / "back.dcm"
    code = main(
        [
            "share",
            "combine",
            str(out),
            "--essential",
            str(out / "essential.key"),
            "--out",
            str(rebuilt),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "needs 3 good" in err and len(err.strip().splitlines()) == 1
    assert not rebuilt.exists() and _leftovers(tmp_path) == []


def test_wrong_essential_share_exit_2_naming_the_file(
    record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The essential share of another split of the same file is refused by file name."""
    first, second = tmp_path / "a", tmp_path / "b"
    _split(record, first)
    _split(record, second)
    rebuilt = tmp_path / "back.dcm"
    code = main(
        [
            "share",
            "combine",
            str(first),
            "--essential",
            str(second / "essential.key"),
            "--out",
            str(rebuilt),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"--essential {second / 'essential.key'}" in err
    assert not rebuilt.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--t", "6", "--n", "5"], "t must not exceed n"),
        (["--t", "0", "--n", "5"], "at least 1"),
        (["--t", "1", "--n", "256"], "at most 255"),
    ],
)
def test_split_rejects_bad_thresholds(
    record: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    """Out-of-range --t/--n exit 2 with one line and create no output directory."""
    out = tmp_path / "shares"
    code = main(["share", "split", str(record), *args, "--out", str(out)])
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists() and _leftovers(tmp_path) == []


def test_split_rejects_missing_file_and_non_empty_out(
    record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing input file or a non-empty --out exits 2 naming the path."""
    assert _split(tmp_path / "missing.dcm", tmp_path / "s") == 2
    assert "missing.dcm: no such file" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    assert _split(record, busy) == 2
    assert "--out" in capsys.readouterr().err and (busy / "keep.txt").exists()
    assert _leftovers(tmp_path) == []


def test_combine_rejects_missing_manifest_and_essential(
    record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder without manifest.json or a missing --essential file exits 2 naming it."""
    out = tmp_path / "shares"
    _split(record, out)
    code = main(
        [
            "share",
            "combine",
            str(tmp_path),
            "--essential",
            str(out / "essential.key"),
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2 and "manifest.json: no such file" in capsys.readouterr().err
    code = main(
        [
            "share",
            "combine",
            str(out),
            "--essential",
            str(tmp_path / "nokey"),
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2 and "nokey: no such file" in capsys.readouterr().err


def test_seeded_split_is_reproducible(record: Path, tmp_path: Path) -> None:
    """--seed gives byte-identical manifests across runs."""
    _split(record, tmp_path / "a", 2, 3, "--seed", "5")
    _split(record, tmp_path / "b", 2, 3, "--seed", "5")
    a = (tmp_path / "a" / "manifest.json").read_text()
    assert a == (tmp_path / "b" / "manifest.json").read_text()
