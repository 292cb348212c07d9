"""The national what-if (``pmrsim capacity``): its arithmetic against a hand computation, a
sweep of regions weighted by population, and how bad flags and folders are reported."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from reports.capacity import (
    DEFAULT_PEAK_FACTOR,
    DEFAULT_VISITS,
    NATION,
    Assumptions,
    load_profile,
    parse_chain,
    what_if,
)
from reports.schemas import validate_json
from sim.cli import main
from sim.errors import InputError

from .conftest import MakeRun

YEAR = 365 * 86_400


def _activity(gas: float, per_visit: float | None, per_patient_year: float,
              driver: str = "visit") -> dict[str, Any]:
    """One ``steady_state.activities`` row in the shape the engine writes."""
    row: dict[str, Any] = {"driver": driver, "basis": "hand", "operations": ["X.op"], "gas": gas,
                           "gas_source": "run", "per_patient_year": per_patient_year,
                           "gas_per_patient_year": gas * per_patient_year}
    if per_visit is not None:
        row["per_visit"] = per_visit
    return row


def _hand_run(make_fake_run: MakeRun, name: str = "run", *, patients: int = 10,
              visits: float = 4.0, visit_gas: float = 100_000) -> Path:
    """A run whose steady state, storage and one-off gas are round numbers a hand can follow."""
    folder = make_fake_run(name)
    summary = json.loads((folder / "summary.json").read_text())
    summary["steady_state"] = {
        "patients": patients, "visits_per_patient_year": visits, "note": "",
        "gas_per_visit": 0.0, "txs_per_visit": 0.0,
        "activities": {
            "visit record": _activity(visit_gas, 1.0, visits),
            "lab report": _activity(200_000, 0.5, visits * 0.5),
            "emergency access": _activity(50_000, None, 0.1, driver="break_glass"),
        }}
    summary["storage"] = dict(summary["storage"], records=5, bytes_stored=50_000,
                              bytes_logical=20_000)
    summary["gas_setup"] = {"total": 0, "deployment": 10_000_000, "per_hospital": 300_000,
                            "per_doctor": 200_000, "per_patient": 100_000}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


HAND = Assumptions(population=1_000_000, visits_per_person_year=2.0, peak_factor=3.0,
                   target_utilisation=0.5, gas_price_gwei=2.0, facilities=100, professionals=1000)


def test_the_what_if_matches_a_hand_computation(make_fake_run: MakeRun) -> None:
    """Demand, utilisation, chains needed, cost, storage and onboarding are the hand's figures."""
    result = what_if(load_profile(_hand_run(make_fake_run)), HAND,
                     [parse_chain("big=1000000/10"), parse_chain("small=100000/10")])
    # per person-year at 2 visits: 2 x 100k (visit) + 1 x 200k (lab) + 0.1 x 50k (emergency)
    assert result["per_person_year"]["gas"] == 405_000
    assert result["per_person_year"]["txs"] == pytest.approx(3.1)
    mean = 1_000_000 * 405_000 / YEAR  # 12,842.47 gas/s
    assert result["demand"]["mean"]["gas_per_second"] == pytest.approx(mean, rel=1e-5)
    assert result["demand"]["peak"]["gas_per_second"] == pytest.approx(3 * mean, rel=1e-5)
    big, small = result["configs"]
    assert big["utilisation"] == pytest.approx(3 * mean / 100_000, rel=1e-5)  # 38.5 %
    assert big["chains_needed"] == 1  # 38,527 / (100,000 x 0.5)
    assert small["utilisation"] == pytest.approx(3 * mean / 10_000, rel=1e-5)  # 385 %
    assert small["chains_needed"] == 8  # ceil(38,527 / 5,000) = ceil(7.7)
    assert big["cost_per_patient_year"] == pytest.approx(405_000 * 2e-9)  # 0.00081 coin
    # 1e6 people x 2 visits x 0.5 lab records x (50,000 B / 5 records) on the swarm
    assert result["storage"]["bytes_per_year"] == pytest.approx(1e10)
    setup = 10e6 + 100 * 300e3 + 1000 * 200e3 + 1e6 * 100e3
    assert result["setup"]["gas"] == pytest.approx(setup)
    assert big["setup_days"] == pytest.approx(setup / 50_000 / 86_400, rel=1e-5)  # 23.2 days
    cells = {(r["visits_factor"], r["peak_factor"]): r["chains_needed"]
             for r in result["sensitivity"]}
    assert len(cells) == 9
    # 1 visit: 100k + 100k + 5k = 205k gas; peak x 3 -> 19,502 gas/s -> ceil(3.9) on small
    assert cells[(0.5, 1.0)] == {"big": 1, "small": 4}
    # 4 visits: 805k gas; peak x 6 -> 153,158 gas/s -> ceil(3.06) on big, ceil(30.6) on small
    assert cells[(2.0, 2.0)] == {"big": 4, "small": 31}
    assert cells[(1.0, 1.0)] == {"big": 1, "small": 8}
    assert result["notes"] == ["1% of the gas is at the run's own rate per patient-year, not "
                               "scaled by the visits: emergency access 0.1 a person-year (1%)"]
    assert validate_json(result, "capacity", "capacity") == []


def test_a_demand_of_the_runs_own_devices_is_flagged(make_fake_run: MakeRun) -> None:
    """When activities not driven by visits make most of the gas, the answer says so."""
    profile = load_profile(_hand_run(make_fake_run))
    result = what_if(profile, Assumptions(visits_per_person_year=0.01), [parse_chain("c=1/1")])
    (note,) = result["notes"]
    assert note.startswith("71% of the gas") and "not the population's" in note


def test_chains_needed_is_exact_at_the_boundary(make_fake_run: MakeRun) -> None:
    """A peak of exactly k chains' target load needs k chains, not k + 1."""
    profile = load_profile(_hand_run(make_fake_run))
    # 1 visit a year: 205,000 gas per person-year; population so the mean is 2,050 gas/s
    people = int(2_050 * YEAR / 205_000)
    a = Assumptions(population=people, visits_per_person_year=1.0, peak_factor=1.0)
    result = what_if(profile, a, [parse_chain("c=4100/1")])
    assert result["demand"]["peak"]["gas_per_second"] == pytest.approx(2_050)
    assert result["configs"][0]["chains_needed"] == 1  # 2,050 / (4,100 x 0.5) = 1 exactly


def test_defaults_follow_from_the_dated_figures() -> None:
    """The default visits and peak factor are the ABDM figures' quotients, as docs say."""
    per_day, peak = NATION["records_linked_per_day"][0], NATION["records_linked_peak_day"][0]
    assert abs(DEFAULT_VISITS - per_day * 365 / NATION["abha_ids"][0]) < 1e-4
    assert abs(DEFAULT_PEAK_FACTOR - peak / per_day) < 1e-3
    docs = (Path(__file__).parents[2] / "docs" / "capacity.md").read_text()
    for value, when, _source in NATION.values():
        assert f"| {int(value):,} | {when} |" in docs
    assert f"{DEFAULT_VISITS}" in docs and f"{DEFAULT_PEAK_FACTOR}" in docs


def test_a_sweep_of_regions_is_weighted_by_population(tmp_path: Path,
                                                      make_fake_run: MakeRun) -> None:
    """Regions count by their patients; another national visit rate scales each by one factor."""
    sweep = tmp_path / "sweep"
    (sweep / "points").mkdir(parents=True)
    (sweep / "sweep.json").write_text(json.dumps({"scenario": "city.yaml", "rows": []}))
    for i, (patients, visits, gas) in enumerate([(10, 4.0, 100_000), (30, 1.0, 200_000)]):
        run = _hand_run(make_fake_run, f"r{i}", patients=patients, visits=visits, visit_gas=gas)
        run.rename(sweep / "points" / f"{i:03d}-seed1")
    (sweep / "points" / "002-seed1").mkdir()  # a failed point: no summary.json
    profile = load_profile(sweep)
    assert profile.visits_per_patient_year == pytest.approx((10 * 4 + 30 * 1) / 40)
    result = what_if(profile, Assumptions(visits_per_person_year=3.5), [parse_chain("c=1/1")])
    # scale 2: region 0 at 8 visits, region 1 at 2; visit records 800k and 400k gas, lab reports
    # 4 x 200k and 1 x 200k, emergencies 5k each; weighted 10:30
    expect = (10 * (800e3 + 800e3 + 5e3) + 30 * (400e3 + 200e3 + 5e3)) / 40
    assert result["per_person_year"]["gas"] == pytest.approx(expect)
    assert result["source"]["regions"] == 2
    assert result["source"]["notes"] == ["002-seed1: no summary.json (a failed run), left out"]


def test_the_command_prints_table_and_json(make_fake_run: MakeRun,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim capacity` takes every flag the issue names; JSON has the promised keys."""
    run = _hand_run(make_fake_run)
    flags = ["--population", "1000000", "--visits-per-person-year", "2", "--peak-factor", "3",
             "--target-utilisation", "0.5", "--gas-price", "2", "--chain", "small=100000/10"]
    assert main(["capacity", str(run), *flags, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in data["configs"]] == ["ethereum-l1", "private-poa", "small"]
    assert data["configs"][2]["chains_needed"] == 8
    assert all(set(c) >= {"name", "utilisation", "chains_needed"} for c in data["configs"])
    assert main(["capacity", str(run), *flags]) == 0
    out = capsys.readouterr().out
    assert "Can one chain serve 1,000,000 people?" in out and "small" in out
    assert "385.3%" in out  # the small chain's peak utilisation


@pytest.mark.parametrize("flags", [
    ["--population", "many"], ["--population", "0"], ["--visits-per-person-year", "-1"],
    ["--peak-factor", "0"], ["--peak-factor", "nan"], ["--target-utilisation", "1.5"],
    ["--gas-price", "-2"], ["--chain", "nogas"], ["--chain", "x=10/0"], ["--chain", "x=a/2"],
    ["--format", "xml"], ["--frobnicate"],
])
def test_a_bad_flag_exits_2_with_one_line(flags: list[str], make_fake_run: MakeRun,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Each bad flag: exit 2, one line on stderr naming the flag, nothing on stdout."""
    run = _hand_run(make_fake_run)
    try:
        code = main(["capacity", str(run), *flags])
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr()
    assert code == 2
    assert err.out == ""
    lines = [line for line in err.err.splitlines() if line.strip() and "usage:" not in line
             and not line.startswith(" ")]
    assert len(lines) == 1 and flags[0] in lines[0]


def test_a_folder_without_the_figures_exits_2(make_fake_run: MakeRun, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """No summary, an old summary without a steady state, or no activity: exit 2, one line."""
    run = make_fake_run("old")
    summary = json.loads((run / "summary.json").read_text())
    del summary["steady_state"]
    (run / "summary.json").write_text(json.dumps(summary))
    empty = make_fake_run("empty")
    summary["steady_state"] = {"patients": 1, "visits_per_patient_year": 0, "activities": {}}
    (empty / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "nothing").mkdir()
    for folder, words in [(run, "no 'steady_state'"), (empty, "no activity"),
                          (tmp_path / "nothing", "neither a run folder"),
                          (tmp_path / "absent", "no such folder")]:
        assert main(["capacity", str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err and str(folder) in err
    with pytest.raises(InputError):
        load_profile(tmp_path / "absent")


def test_the_report_section_uses_the_same_figures(make_fake_run: MakeRun) -> None:
    """The report's Capacity section shows the default what-if's chains needed."""
    from reports.capacity_html import national

    run = _hand_run(make_fake_run)
    result = national(json.loads((run / "summary.json").read_text()))
    assert result is not None
    direct = what_if(load_profile(run), Assumptions())
    assert [c["chains_needed"] for c in result["configs"]] == \
        [c["chains_needed"] for c in direct["configs"]]
    assert math.isclose(result["per_person_year"]["gas"], direct["per_person_year"]["gas"])
