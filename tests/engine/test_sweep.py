"""Sweeps: the file schema, a grid run on a Dask LocalCluster, failed points, determinism, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import sim.chain
import sim.cli
from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario
from sim.engine.sweep import load_sweep, override_value, pick, run_sweep
from sim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
#: Each point of the tiny scenario runs in 1-2 s.
TINY = {"duration_days": 0.5, "population.patients": 4, "population.devices": 1, "adversaries": {}}


def _write(folder: Path, body: dict[str, Any], name: str = "s.yaml") -> Path:
    """A sweep file in ``folder`` over the quickstart scenario (absolute path) with ``body``."""
    data = {"name": "t", "description": "a test sweep", "scenario": str(QUICKSTART), "seeds": [1],
            "fixed": dict(TINY), **body}
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``sim.cli.main`` with the sweep command registered."""
    if "sweep" not in sim.cli.COMMAND_MODULES:
        monkeypatch.setattr(sim.cli, "COMMAND_MODULES", (*sim.cli.COMMAND_MODULES, "sweep"))
    return sim.cli.main


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# --- a grid on a LocalCluster ----------------------------------------------------------------------


def test_sweep_of_eight_runs_on_a_local_cluster_is_deterministic(tmp_path: Path) -> None:
    """4 points x 2 seeds on 2 workers: 8 rows, all ok, and a row's state root is a direct run's."""
    path = _write(tmp_path, {
        "seeds": [1, 2],
        "grid": {"storage.nodes": [3, 5], "workload.lab_order_probability": [0.2, 0.9]},
        "metrics": ["gas_per_patient_year", "txs.total", "latency.PMRToken.mint.p95", "counts.nothing"],
        "plots": [{"x": "storage.nodes", "y": "txs.total", "by": "workload.lab_order_probability"}],
        "workers": 2,
    })
    sweep = load_sweep(path)
    seen: list[int] = []
    result = run_sweep(sweep, tmp_path / "out", on_row=lambda row, done, total: seen.append(done),
                       progress=False)
    assert result.ok, result.failed
    assert seen == list(range(1, 9))
    rows = _csv(tmp_path / "out" / "sweep.csv")
    assert len(rows) == 8
    assert list(rows[0]) == ["index", "seed", "storage.nodes", "workload.lab_order_probability", "ok",
                             "error", "gas_per_patient_year", "txs.total", "latency.PMRToken.mint.p95",
                             "counts.nothing", "state_root", "wall_seconds", "report"]
    assert [(r["index"], r["seed"]) for r in rows] == [(str(i), str(s)) for i in range(4) for s in (1, 2)]
    assert all(r["ok"] == "true" and r["error"] == "" for r in rows)
    assert all(float(r["latency.PMRToken.mint.p95"]) > 0 and int(r["txs.total"]) > 0 for r in rows)
    assert all(r["counts.nothing"] == "" for r in rows)  # a metric absent from summary.json is empty
    assert {r["state_root"] for r in rows if r["index"] == "0"} != {rows[0]["state_root"]}  # seeds differ
    document = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert document["ok"] is True and document["runs"] == 8 and len(document["rows"]) == 8
    html = (tmp_path / "out" / "sweep.html").read_text()
    assert "<svg" in html and "<script" not in html and "All 8 runs completed" in html
    for r in rows:
        assert (tmp_path / "out" / "points" / f"{r['index']}-seed{r['seed']}" / "summary.json").is_file()
        assert r["report"] == f"points/{r['index']}-seed{r['seed']}/report.html"
        assert f'<a href="{r["report"]}">report</a>' in html  # each run's report is linked
    assert "storage.nodes (nodes)" not in html and "latency.PMRToken.mint.p95 (simulated s)" in html
    assert document["units"]["latency.PMRToken.mint.p95"] == "simulated s"
    # the same overrides and seed, run directly, reach the same state root
    point = sweep.points[3]
    direct = run_scenario(load_scenario(QUICKSTART, point.overrides(sweep.spec.fixed), seed=2),
                          tmp_path / "direct", progress=False)
    assert direct.summary["state_root"] == next(
        r["state_root"] for r in rows if r["index"] == "3" and r["seed"] == "2")


def test_a_sweep_on_revm_runs_in_the_dask_workers(tmp_path: Path) -> None:
    """Points on the revm backend run inside Dask's (daemonic) workers: no worker processes of
    their own, the same state root as a direct run with them."""
    pytest.importorskip("pyrevm")
    path = _write(tmp_path, {"grid": {"storage.nodes": [3, 5]},
                             "fixed": {**TINY, "chain.backend": "revm"}, "workers": 2})
    sweep = load_sweep(path)
    result = run_sweep(sweep, tmp_path / "out", progress=False)
    assert result.ok, result.failed
    point = sweep.points[1]
    direct = run_scenario(load_scenario(QUICKSTART, point.overrides(sweep.spec.fixed), seed=1),
                          tmp_path / "direct", progress=False)
    assert direct.summary["state_root"] == next(
        r["state_root"] for r in result.rows if r["index"] == 1)


def test_run_folders_list_in_point_order(tmp_path: Path) -> None:
    """Point indexes in folder names are zero-padded to the widest (00 ... 11), so they sort."""
    path = _write(tmp_path, {"seeds": [1, 2], "grid": {"storage.nodes": list(range(3, 15))}})
    tasks = load_sweep(path).tasks(tmp_path / "out")
    names = [Path(t.out_dir).name for t in tasks]
    assert names[:3] == ["00-seed1", "00-seed2", "01-seed1"] and names[-1] == "11-seed2"
    assert names == sorted(names)


def test_a_point_that_fails_at_run_time_is_reported_and_the_others_complete(
        tmp_path: Path, cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A DICOM source that validates but is not on the machine fails its point only; exit 1."""
    path = _write(tmp_path, {
        "grid": {"workload.dicom_sources": [["CT_small.dcm"], ["nonexistent.dcm"], ["MR_small.dcm"]]},
        "metrics": ["txs.total"],
        "workers": 2,
    })
    assert cli(["sweep", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 runs failed: point 1 seed 1: InputError:" in err and "nonexistent.dcm" in err
    rows = _csv(tmp_path / "out" / "sweep.csv")
    assert [r["ok"] for r in rows] == ["true", "false", "true"]
    assert rows[1]["error"].startswith("InputError: workload.dicom_sources: 'nonexistent.dcm'")
    assert rows[1]["state_root"] == "" and rows[1]["txs.total"] == ""
    assert rows[0]["state_root"].startswith("0x") and rows[2]["state_root"].startswith("0x")
    assert "1 of 3 runs failed" in (tmp_path / "out" / "sweep.html").read_text()


# --- the file schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ({"gird": {}}, r"s\.yaml: gird: unknown key \(known: schema, name, "),
    ({"grid": {"workload.nope": [1]}}, r"s\.yaml: grid\.workload\.nope: workload\.nope: unknown key"),
    ({"grid": {"storage.nodes": [5, 0]}},
     r"s\.yaml: grid\.storage\.nodes\[1\]: .*quickstart\.yaml: storage\.nodes: expected an integer >= 1, "
     r"got 0 \(from --set storage\.nodes=0\)"),
    ({"grid": {"storage.nodes": []}}, r"s\.yaml: grid\.storage\.nodes: expected a non-empty list"),
    ({"grid": {"storage.nodes": 5}}, r"s\.yaml: grid\.storage\.nodes: expected a list, got 5"),
    ({"grid": {"storage.nodes": [3, 3]}}, r"s\.yaml: grid\.storage\.nodes\[1\]: expected each value once"),
    ({"grid": {"seed": [1, 2]}}, r"s\.yaml: grid\.seed: give seeds in `seeds:`"),
    ({"grid": {"storage.nodes": [2, 5]}},
     r"s\.yaml: grid\.storage\.nodes\[0\]: .*sharing\.n: expected an integer <= storage\.nodes \(2\)"),
    ({"grid": {"storage.nodes": [3], "sharing.n": [3, 4]}},
     r"s\.yaml: grid point 1 \(storage\.nodes=3, sharing\.n=4\): .*sharing\.n: expected an integer <= "),
    ({"fixed": {"storage.nodez": 3}}, r"s\.yaml: fixed\.storage\.nodez: storage\.nodez: unknown key"),
    ({"seeds": {"count": 0}}, r"s\.yaml: seeds\.count: expected an integer from 1 to 10000, got 0"),
    ({"seeds": [1, True]}, r"s\.yaml: seeds\[1\]: expected an integer >= 0, got true"),
    ({"metrics": ["gaz.total"]}, r"s\.yaml: metrics\[0\]: unknown summary\.json key 'gaz'"),
    ({"grid": {"storage.nodes": [3]}, "plots": [{"x": "storage.nodes", "y": "txs.total"}],
      "metrics": ["gas_per_patient_year"]},
     r"s\.yaml: plots\[0\]\.y: expected one of the metrics \(gas_per_patient_year\), got 'txs\.total'"),
    ({"grid": {"storage.nodes": [3]}, "plots": [{"x": "storage.nodes", "y": "txs.total", "z": 1}],
      "metrics": ["txs.total"]}, r"s\.yaml: plots\[0\]\.z: unknown key \(known: x, y, by\)"),
    ({"workers": 0}, r"s\.yaml: workers: expected an integer >= 1, got 0"),
    ({"scenario": "nowhere.yaml"}, r"s\.yaml: scenario: .*nowhere\.yaml: no such file"),
])
def test_bad_sweep_files_name_the_file_and_the_key(tmp_path: Path, body: dict[str, Any],
                                                    message: str) -> None:
    """Unknown keys, bad grid paths and bad values fail up front, naming the sweep file and key."""
    with pytest.raises(InputError, match=message):
        load_sweep(_write(tmp_path, body))


def test_a_backend_that_is_not_built_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the chain backends of `sim.chain.BACKENDS` can run."""
    monkeypatch.setattr(sim.chain, "BACKENDS", {"pyevm": sim.chain.BACKENDS["pyevm"]})
    with pytest.raises(InputError, match=r"s\.yaml: fixed: chain\.backend 'revm' is not built yet "
                                         r"\(available: pyevm\)"):
        load_sweep(_write(tmp_path, {"fixed": {**TINY, "chain.backend": "revm"}}))
    with pytest.raises(InputError, match=r"s\.yaml: grid\.chain\.backend\[1\]: chain\.backend 'rpc' "):
        load_sweep(_write(tmp_path, {"grid": {"chain.backend": ["pyevm", "rpc"]}}))


def test_bad_sweep_exits_2_and_leaves_nothing(tmp_path: Path, cli: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim sweep` on a bad file exits 2 with one line and creates no output folder."""
    path = _write(tmp_path, {"grid": {"storage.nodes": [0]}})
    assert cli(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pmrsim: error: {path}: grid.storage.nodes[0]: ") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_duplicate_keys_and_yaml_errors(tmp_path: Path) -> None:
    """A key given twice and broken YAML are errors with the file named."""
    path = tmp_path / "d.yaml"
    path.write_text("name: a\nname: b\n")
    with pytest.raises(InputError, match=r"d\.yaml: invalid YAML at line 2.*duplicate key 'name'"):
        load_sweep(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(InputError, match=r"d\.yaml: expected a mapping of sweep keys"):
        load_sweep(path)


def test_relative_scenario_path_seed_count_and_default_plot(tmp_path: Path) -> None:
    """`scenario:` is relative to the sweep file; {count: N} is seeds 1..N; one default figure."""
    (tmp_path / "sc").mkdir()
    (tmp_path / "sw").mkdir()
    (tmp_path / "sc" / "q.yaml").write_text(QUICKSTART.read_text())
    path = _write(tmp_path / "sw", {"scenario": "../sc/q.yaml", "seeds": {"count": 3},
                                    "grid": {"storage.nodes": [3, 4], "chain.block_time": [6, 12]}})
    sweep = load_sweep(path)
    assert sweep.spec.seeds == [1, 2, 3] and sweep.runs == 12
    assert sweep.scenario_path.resolve() == (tmp_path / "sc" / "q.yaml").resolve()
    assert [p.values for p in sweep.points[:2]] == [{"storage.nodes": 3, "chain.block_time": 6},
                                                    {"storage.nodes": 3, "chain.block_time": 12}]
    (plot,) = sweep.spec.plot_specs()
    assert (plot.x, plot.y, plot.by) == ("storage.nodes", "gas_per_patient_year", "chain.block_time")


def test_values_that_fit_only_together_are_accepted(tmp_path: Path) -> None:
    """storage.nodes=2 fails alone (quickstart's sharing.n is 3) but fits with sharing.n=2."""
    sweep = load_sweep(_write(tmp_path, {"grid": {"storage.nodes": [2, 4], "sharing.n": [2]}}))
    assert len(sweep.points) == 2


@pytest.mark.parametrize("name", ["iomt-batching", "capacity"])
def test_shipped_sweeps_validate(name: str) -> None:
    """The shipped sweeps load and check every point."""
    sweep = load_sweep(ROOT / "sweeps" / f"{name}.yaml")
    assert 8 <= sweep.runs <= 16


def test_override_values_round_trip_and_pick_reads_dotted_names() -> None:
    """Grid values go through `--set` unchanged; metrics may name operations with dots."""
    for value in (15, 0.25, "per_reading", ["private", "paper"], {"xray": 1}, None, "2021-01-25", "a: b"):
        assert yaml.safe_load(override_value(value)) == value
    summary = {"latency": {"PMRToken.mint": {"p95": 12.0}}, "txs": {"total": 3}}
    assert pick(summary, "latency.PMRToken.mint.p95") == 12.0
    assert pick(summary, "txs") == '{"total":3}'
    assert pick(summary, "txs.total.x") is None


def test_a_point_over_the_work_limit_fails_without_running_and_the_others_complete(
        tmp_path: Path, cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """With --max-work, a point whose estimate passes it is a failed row, never started; exit 1."""
    path = _write(tmp_path, {"seeds": [1, 2], "grid": {"population.hospitals": [2, 1000]},
                             "metrics": ["txs.total"], "workers": 2})
    assert cli(["sweep", str(path), "--out", str(tmp_path / "out"), "--no-progress",
                "--max-work", "2000"]) == 1
    err = capsys.readouterr().err
    assert "2 of 4 runs failed: point 1 seed 1: InputError: estimated" in err
    rows = _csv(tmp_path / "out" / "sweep.csv")
    assert [r["ok"] for r in rows] == ["true", "true", "false", "false"]
    assert "population.hospitals" in rows[2]["error"] and "--max-work 2,000" in rows[2]["error"]
    assert not (tmp_path / "out" / "points" / "1-seed1").exists()
    assert (tmp_path / "out" / "points" / "0-seed1" / "summary.json").is_file()


def test_every_point_over_the_limits_starts_no_cluster(tmp_path: Path) -> None:
    """When every point is refused by its estimate, the rows say why and no run starts."""
    from sim.engine.bounds import Limits

    sweep = load_sweep(_write(tmp_path, {"grid": {"storage.nodes": [3, 5]}}))
    result = run_sweep(sweep, tmp_path / "out", progress=False, limits=Limits(max_memory=1 << 20,
                                                                               max_work=None))
    assert not result.ok and len(result.failed) == 2
    assert all("--max-memory 1.0 MiB" in r["error"] for r in result.rows)
    assert not any((tmp_path / "out" / "points").glob("*"))  # no point's folder
