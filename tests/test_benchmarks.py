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


def test_turns_warm_up_rotate_and_take_medians() -> None:
    """Each side is warmed up once untimed, then the first side rotates each turn (A B, B A,
    A B) and the figure is the median of the timed turns only."""
    turns = _load("turns")
    calls: list[str] = []
    walls = {"A": iter([9.0, 1.0, 3.0, 2.0]), "B": iter([9.0, 5.0, 4.0, 6.0])}

    def side(name: str):  # type: ignore[no-untyped-def]
        def run(watch):  # type: ignore[no-untyped-def]
            calls.append(name)
            with watch:
                pass
            watch.wall = next(walls[name])
            return name
        return run

    out = turns.take_turns({"A": side("A"), "B": side("B")}, 3)
    assert calls == ["A", "B", "A", "B", "B", "A", "A", "B"]
    assert out["A"].walls == [1.0, 3.0, 2.0] and out["A"].wall == 2.0
    assert out["B"].wall == 5.0 and out["B"].result == "B"
    assert out["A"].row(10)["txs_per_s"] == 5.0 and out["A"].row()["turns"] == 3


def test_stopwatch_counts_cpu_of_ended_children() -> None:
    """CPU-seconds include a worker process that ran and ended inside the timed region."""
    import subprocess

    turns = _load("turns")
    watch = turns.Stopwatch()
    with watch:
        subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"],
                       check=True)
    assert watch.cpu > 0.05 and watch.wall >= watch.cpu * 0.2


def test_bench_exits_1_naming_each_missed_target(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim bench` exits 1 when a target is missed and names it; a missing figure fails only
    `--check`; with every target met and every figure there it exits 0."""
    import sim.bench
    from sim.bench import Figure
    from sim.cli import main

    met = Figure("chain", "pyevm / eth-tester", 3.5, ">= 3", True)
    miss = Figure("engine", "revm with workers / pyevm", 17.9, ">= 20", False)
    absent = Figure("deid", "deid files/s", float("nan"), "unavailable: not installed", None)
    for figures, plain, check in (([met], 0, 0), ([met, absent], 0, 1), ([met, miss], 1, 1)):
        monkeypatch.setattr(sim.bench, "run_suite", lambda f=figures, **_kw: list(f))
        assert main(["bench"]) == plain
        assert main(["bench", "--check"]) == check
        err = capsys.readouterr().err
        if miss in figures:
            assert "engine: revm with workers / pyevm = 17.9, target >= 20" in err
        if absent in figures:
            assert "deid files/s: unavailable: not installed" in err


def test_every_extractor_shows_its_baseline() -> None:
    """The chain, engine and sharing rows include the baselines' own figures (or why missing)."""
    from sim.bench import _chain, _engine, _sharing

    chain = _chain({"modes": {"fixed-gas": {
        "ratio": 1.2, "pyevm": {"txs_per_s": 60.0, "cpu_s": 1.0},
        "eth_tester": {"txs_per_s": 50.0, "cpu_s": 1.2}}}}, "chain")
    assert any(f.measure == "eth-tester tx/s (fixed-gas)" and f.target == "baseline"
               for f in chain)
    assert any(f.ok is False for f in chain)
    engine = _engine({"cases": {"iomt": {"agree": True, "backends": {
        "pyevm": {"tx_per_s": 70.0, "cpu_s": 100.0, "x_pyevm": 1.0},
        "revm": {"x_pyevm": 9.0, "cpu_s": 11.0},
        "revm+workers": {"x_pyevm": 14.0, "cpu_s": 12.0}}}}})
    by_measure = {f.measure: f for f in engine}
    assert by_measure["iomt: whole engine revm with its 2 workers / pyevm"].ok is False
    assert by_measure["iomt: whole engine revm / pyevm, one process each"].ok is None
    assert by_measure["iomt: pyevm tx/s (one process)"].target == "baseline"
    sharing = _sharing({"throughput_ratio_vs_aes": {"split": 0.6, "combine_with_parity": 0.4,
                                                    "target": 0.5},
                        "storage": {"ratio_to_record": 1.67, "target_ratio": 1.68},
                        "mib_per_s": {}})
    assert [f.ok for f in sharing if f.target.startswith(">=")] == [True, False]
    assert all(f.target.startswith("missing") for f in sharing if "AES" in f.measure
               and "MiB/s" in f.measure)


def test_dapp_figures_hold_every_screen_to_100_ms() -> None:
    """Every screen the DApp bench timed, live and in a run's explorer, is a row held to a p95
    under 100 ms, beside the sizes of the worlds it was timed on."""
    from sim.bench import _dapp

    rows = _dapp({"live_world": {"patients": 20000, "actions": 25316}, "run_txs": 12160,
                  "run_index_s": 2.0,
                  "live": {"doctor": {"p95_ms": 20.0}, "explorer (live) actors": {"p95_ms": 140}},
                  "run": {"explorer overview": {"p95_ms": 3.0}}})
    held = {f.measure: f.ok for f in rows if f.target == "< 100"}
    assert held == {"doctor: p95 ms": True, "explorer (live) actors: p95 ms": False,
                    "explorer overview: p95 ms": True}
    assert any(f.measure == "live world: patients registered" and f.value == 20000 for f in rows)


BENCH_JSON = {
    "schema": "pmrsim.bench/1", "quick": True, "measured_at": "2026-12-06 15:00 UTC",
    "machine": {"cpus": 2, "python": "3.11.7", "system": "Linux x86_64"},
    "figures": [
        {"benchmark": "trie", "measure": "block root / py-trie's", "value": 6.25,
         "target": ">= 5", "ok": True},
        {"benchmark": "trie", "measure": "bytes per storage slot", "value": 1205.0,
         "target": "< 300", "ok": False},
        {"benchmark": "cid", "measure": "sha256 MiB/s", "value": float("nan"),
         "target": "missing: not measured", "ok": None},
    ]}

EXPECTED_TABLES = """\
Measured 2026-12-06 15:00 UTC (quick sizes; cpus 2, python 3.11.7, system Linux x86_64).

## trie

| measure | value | target | |
|---|---:|---|---|
| block root / py-trie's | 6.25 | >= 5 | ok |
| bytes per storage slot | 1,205 | < 300 | **missed** |

## cid

| measure | value | target | |
|---|---:|---|---|
| sha256 MiB/s | - | missing: not measured | |
"""


def test_results_file_is_regenerated_from_a_bench_json(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim bench --from-json F --write-results R` writes R's tables from F, keeps R's
    hand-kept part below the marker, and gives the same file when run again."""
    from sim.bench import KEPT_MARK
    from sim.cli import main

    source = tmp_path / "bench.json"
    source.write_text(json.dumps(BENCH_JSON))
    results = tmp_path / "results.md"
    results.write_text(f"# stale tables\n| x | 1 |\n{KEPT_MARK}\n\n## By hand\n\n17:30 on 2 cores.\n")
    assert main(["bench", "--from-json", str(source), "--write-results", str(results)]) == 1
    assert "trie: bytes per storage slot = 1205, target < 300" in capsys.readouterr().err
    text = results.read_text()
    assert EXPECTED_TABLES in text and "stale" not in text
    assert text.endswith(f"{KEPT_MARK}\n\n## By hand\n\n17:30 on 2 cores.\n")
    assert main(["bench", "--from-json", str(source), "--write-results", str(results)]) == 1
    assert results.read_text() == text


def test_the_shipped_results_file_is_what_regeneration_gives(tmp_path: Path) -> None:
    """docs/results.md is in the generated form: regenerating it from the figures it was made from
    (docs/results.json, the `--json` file of that run) changes nothing, so a hand edit above the
    marker is caught here."""
    from sim.bench import KEPT_MARK, results_markdown

    docs = BENCHMARKS.parent / "docs"
    shipped = (docs / "results.md").read_text()
    assert KEPT_MARK in shipped
    data = json.loads((docs / "results.json").read_text())
    assert data["figures"], "docs/results.json holds no figures"
    assert results_markdown(data, shipped.split(KEPT_MARK, 1)[1]) == shipped


def test_bench_json_records_when_and_where(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """`pmrsim bench --json` writes the figures with the time and machine they were measured on,
    and `--from-json` reads that file back to the same figures."""
    import sim.bench
    from sim.bench import Figure, figures_from
    from sim.cli import main

    figures = [Figure("trie", "block root / py-trie's", 6.0, ">= 5", True)]
    monkeypatch.setattr(sim.bench, "run_suite", lambda **_kw: list(figures))
    out = tmp_path / "b.json"
    assert main(["bench", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == "pmrsim.bench/1" and data["measured_at"].endswith("UTC")
    assert data["machine"]["cpus"] >= 1
    assert figures_from(data, "b.json") == figures


@pytest.mark.parametrize("content, words", [
    ("not json", "not readable JSON"), ('{"figures": 3}', "key 'figures'"),
    ('{"figures": [{"benchmark": "x"}]}', "figures[0]"),
])
def test_from_json_refuses_a_bad_file(content: str, words: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --from-json file: exit 2, one line naming the file and what is wrong."""
    from sim.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["bench", "--from-json", str(bad), "--write-results", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and str(bad) in err
    assert not (tmp_path / "r.md").exists()
