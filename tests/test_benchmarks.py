"""The benchmark scripts' own logic (their figures are measured, not tested)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_engine_bench_repeats_take_turns_and_report_medians(tmp_path: Path) -> None:
    """``--repeat`` runs each backend that many times; the figure lies within its runs."""
    bench = _load("bench_engine")
    out = tmp_path / "engine.json"
    assert bench.main(["--quick", "--cases", "iomt-per-reading", "--backends", "revm",
                       "--repeat", "2", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["cases"]["iomt-per-reading"]["backends"]["revm"]
    assert row["runs"] == 2 and row["ok"]
    assert row["wall_min_s"] <= row["wall_s"] <= row["wall_max_s"]


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--cases", "nope"]])
def test_engine_bench_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A bad ``--repeat`` or case is exit 2 with a one-line message."""
    assert _load("bench_engine").main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--cases", "nope"]])
def test_replay_bench_refuses_bad_arguments(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A bad ``--repeat`` or case is exit 2 with a one-line message, before anything runs."""
    assert _load("bench_replay").main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_deid_figures_never_drop_a_peer() -> None:
    """pmrsim bench shows each de-identifier's files/s and leaks, or why it is missing."""
    from sim.bench import _deid

    data = {"tools": {
        "pmrsim": {"available": True, "files_per_s": 50.0, "outputs_with_original_identifiers": 0},
        "dicognito": {"available": True, "files_per_s": 40.0,
                      "outputs_with_original_identifiers": 3},
        "deid": {"available": False, "error": "ModuleNotFoundError: No module named 'deid'"},
    }, "note": "no peer leaks nothing"}
    figures = {f.measure: f for f in _deid(data)}
    assert figures["pmrsim files/s"].value == 50.0
    assert figures["pmrsim outputs with original identifiers"].ok is True
    assert figures["dicognito outputs with original identifiers"].value == 3
    assert "No module named 'deid'" in figures["deid files/s"].target
    assert figures["vs fastest leak-free peer"].target == "no peer leaks nothing"


def test_deid_leak_checker_sees_codes_in_dummy_sequences(tmp_path: Path) -> None:
    """The benchmark's checker counts an operator's code kept in a D sequence as a leak."""
    import pydicom

    from sim.privacy.deid import DeidConfig, deidentify_file
    from tests.privacy.dicom_factory import write
    from tests.privacy.test_deid_sequences import _ecg_with_operator

    bench = _load("bench_deid")
    src = tmp_path / "ecg.dcm"
    original = _ecg_with_operator()
    write(original, src)
    done = tmp_path / "done" / "0000" / "ecg.dcm"
    deidentify_file(src, done, DeidConfig(key=bytes(32)))
    assert bench.residual_files([src], tmp_path / "done") == 0
    # the same output with the operator's sequence put back, its institution blanked:
    leaky = pydicom.dcmread(done)
    leaky.OperatorIdentificationSequence = original.OperatorIdentificationSequence
    leaky.OperatorIdentificationSequence[0].InstitutionName = ""
    kept = tmp_path / "kept" / "0000" / "ecg.dcm"
    kept.parent.mkdir(parents=True)
    leaky.save_as(kept)
    assert bench.residual_files([src], tmp_path / "kept") == 1
