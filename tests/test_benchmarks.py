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
