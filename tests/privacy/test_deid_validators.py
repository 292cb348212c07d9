"""Every pydicom test file through pmrsim deid, checked by tools no one here wrote.

dciodvfy (dicom3tools) must find no error in an output that it did not find
in the input; dcmtk's dcmftest must say every output is a DICOM Part 10 file;
where pydicom's handlers (and the pylibjpeg plugins) decode an input's
pixels, the output's ``pixel_array`` must be equal. ``scripts/setup.sh``
installs the tools; where they are missing the validator tests skip, except
under ``PMRSIM_REQUIRE_DICOM_TOOLS=1`` (set by ``.ci/run``), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_files

from sim.privacy.deid import (
    NOT_INSTANCE,
    DeidConfig,
    DeidRefused,
    UidMap,
    deidentify_file,
)

KEY = bytes(range(32))
#: Refusals that are right for some pydicom test files (broken, not instances).
EXPECTED_REFUSALS = NOT_INSTANCE | {"truncated", "broken-pixel-data"}


def _tool(name: str) -> str:
    """Path of a validator, or skip (fail under PMRSIM_REQUIRE_DICOM_TOOLS=1) when missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/setup.sh installs dcmtk and dicom3tools)"
        if os.environ.get("PMRSIM_REQUIRE_DICOM_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _files() -> list[str]:
    return sorted(p for p in {*get_testdata_files(), *get_charset_files()} if Path(p).is_file())


@dataclass
class Outcome:
    """What pmrsim did with one input: its output, or the reason it refused."""

    source: Path
    output: Path | None
    reason: str | None


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every pydicom test file de-identified once (one key, one UID map)."""
    out_dir = tmp_path_factory.mktemp("validated")
    config = DeidConfig(key=KEY)
    uid_map = UidMap(KEY)
    result: dict[str, Outcome] = {}
    for i, name in enumerate(_files()):
        out = out_dir / f"{i:03d}.dcm"
        try:
            deidentify_file(name, out, config, uid_map=uid_map)
            result[name] = Outcome(Path(name), out, None)
        except DeidRefused as exc:
            assert not out.exists()
            result[name] = Outcome(Path(name), None, exc.reason)
    return result


_READ_FAILED = re.compile(r"read failed|^Abort", re.MULTILINE)


def _dciodvfy(path: Path) -> tuple[bool, set[str]]:
    """(readable, normalised error lines) of dciodvfy on ``path``."""
    proc = subprocess.run([_tool("dciodvfy"), str(path)], capture_output=True, text=True,
                          errors="replace", check=False, timeout=60)
    text = proc.stdout + proc.stderr
    errors = {re.sub(r"\d+(\.\d+)*", "#", re.sub(r"'[^']*'", "'#'", line.strip()))
              for line in text.splitlines() if "Error - " in line}
    return _READ_FAILED.search(text) is None, errors


@pytest.mark.parametrize("name", _files(), ids=lambda p: Path(p).name)
def test_output_valid_where_input_was(name: str, outcomes: dict[str, Outcome]) -> None:
    """dciodvfy finds no new error in the output; dcmftest says it is a Part 10 file."""
    dcmftest = _tool("dcmftest")
    readable, before = _dciodvfy(Path(name))
    outcome = outcomes[name]
    if outcome.output is None:
        assert outcome.reason in EXPECTED_REFUSALS, outcome.reason
        if outcome.reason not in NOT_INSTANCE and readable:
            # refused as broken: dcmtk must not read it whole either, or its pixels are short
            assert outcome.reason == "broken-pixel-data" or not _dcmdump_reads(Path(name))
        pytest.skip(f"refused: {outcome.reason}")
    if not readable:
        pytest.skip("dciodvfy cannot read the input")
    _, after = _dciodvfy(outcome.output)
    assert not after - before, f"new dciodvfy errors: {sorted(after - before)}"
    proc = subprocess.run([dcmftest, str(outcome.output)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.stdout.startswith("yes:"), proc.stdout


def _dcmdump_reads(path: Path) -> bool:
    """True when dcmtk's dcmdump reads the whole file without an error."""
    proc = subprocess.run([_tool("dcmdump"), "+E", str(path)], capture_output=True, text=True,
                          errors="replace", check=False, timeout=60)
    return proc.returncode == 0 and "E: " not in proc.stderr


def test_most_files_validated(outcomes: dict[str, Outcome]) -> None:
    """The comparison is not vacuous: most test files come out, the three without preamble too."""
    written = [o for o in outcomes.values() if o.output is not None]
    assert len(written) >= 140
    names = {o.source.name for o in written}
    assert {"ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm", "rtstruct.dcm"} <= names
    refused = {o.source.name: o.reason for o in outcomes.values() if o.reason}
    assert refused["MR_truncated.dcm"] == "truncated"
    assert refused["rtplan_truncated.dcm"] == "truncated"


@pytest.mark.parametrize("name", _files(), ids=lambda p: Path(p).name)
def test_pixels_unchanged(name: str, outcomes: dict[str, Outcome]) -> None:
    """Where the input's pixels decode here, the output's pixel_array is equal."""
    outcome = outcomes[name]
    if outcome.output is None:
        pytest.skip(f"refused: {outcome.reason}")
    original = pydicom.dcmread(name, force=True)
    if "PixelData" not in original:
        pytest.skip("no Pixel Data")
    try:
        expected = original.pixel_array
    except Exception as exc:  # no installed handler decodes this transfer syntax
        pytest.skip(f"pixels not decodable here: {type(exc).__name__}")
    out = pydicom.dcmread(outcome.output)
    assert out.PixelData == original.PixelData
    assert np.array_equal(out.pixel_array, expected)


def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a validator the tests skip, but under PMRSIM_REQUIRE_DICOM_TOOLS=1 they fail."""
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.delenv("PMRSIM_REQUIRE_DICOM_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _tool("dciodvfy")
    monkeypatch.setenv("PMRSIM_REQUIRE_DICOM_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="dciodvfy is not installed"):
        _tool("dciodvfy")
