"""The engine end to end: shipped scenarios, determinism, replay, audit, the PII invariant."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from reports.capacity import Assumptions
from sim.cli import main
from sim.engine.replay import replay_folder
from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario
from sim.errors import CheckFailed
from tests.engine.test_differential import NAMES as DIFFERENTIAL
from tests.engine.test_differential import _history
from tests.tools import require

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = ["quickstart", "paper", "adversarial", "churn", "iomt", "layouts"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every shipped scenario (but the city) run once with its own seed."""
    out = {}
    for name in SHIPPED:
        folder = tmp_path_factory.mktemp(name)
        result = run_scenario(load_scenario(SCENARIOS / f"{name}.yaml"), folder, progress=False)
        assert result.ok, result.unexpected
        out[name] = folder
    return out


@pytest.mark.parametrize("name", sorted(set(SHIPPED) - set(DIFFERENTIAL)))
def test_shipped_scenario_on_anvil_has_pyevm_gas(runs: dict[str, Path], name: str,
                                                 tmp_path: Path) -> None:
    """`--backend anvil` (a node pmrsim starts) meets the scenario's invariants with the same
    transactions, gas and outcomes as pyevm (paper, adversarial and iomt: test_differential)."""
    require("anvil")
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", ["chain.backend=anvil"])
    result = run_scenario(scenario, tmp_path, progress=False)
    assert result.ok, result.unexpected
    for folder in ["."] + [f"layouts/{lay}" for lay in scenario.layouts[1:]]:
        mine, theirs = _history(tmp_path / folder), _history(runs[name] / folder)
        assert mine[:2] == theirs[:2], f"{folder}: transactions or blocks differ from pyevm"
        assert (tmp_path / folder / "gas.csv").read_bytes() == (
            runs[name] / folder / "gas.csv").read_bytes()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_meets_its_invariants(runs: dict[str, Path], name: str) -> None:
    """Each shipped scenario runs with no unexpected invariant violation."""
    summary = json.loads((runs[name] / "summary.json").read_text())
    unexpected = [v for v in summary["invariants"]["violations"] if not v["expected"]]
    assert unexpected == []
    assert {"summary.json", "trace.jsonl", "gas.csv"} <= {p.name for p in runs[name].iterdir()}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_outputs_match_their_schemas(runs: dict[str, Path], name: str) -> None:
    """summary.json, every trace record and gas.csv of each shipped scenario (and of each of its
    layouts) validate against the JSON Schemas in reports/schemas/."""
    from reports.schemas import validate_run

    assert validate_run(runs[name]) == []


def test_city_slice_outputs_match_their_schemas(tmp_path: Path) -> None:
    """The city as a 20,000-patient slice (10 hospitals, 3 days, revm) writes outputs that
    validate against the schemas, and `pmrsim capacity` reads it."""
    from reports.capacity import load_profile, what_if
    from reports.schemas import validate_json, validate_run

    overrides = ["population.patients=20000", "population.hospitals=10", "duration_days=3",
                 "chain.backend=revm"]
    result = run_scenario(load_scenario(SCENARIOS / "city.yaml", overrides), tmp_path,
                          progress=False)
    assert result.ok, result.unexpected
    assert validate_run(tmp_path) == []
    capacity = what_if(load_profile(tmp_path), Assumptions())
    assert validate_json(capacity, "capacity", "capacity") == []
    assert all(c["chains_needed"] >= 1 for c in capacity["configs"])


def _table_count(html: str, label: str) -> int | None:
    """The number in a report table's row ``label`` (Counts, Storage)."""
    m = re.search(rf'<td>{re.escape(label)}</td><td class="n">([0-9,]+)<', html)
    return None if m is None else int(m.group(1).replace(",", ""))


def _legend_count(html: str, label: str) -> int | None:
    """The count a chart's legend gives as ``label (N)``."""
    m = re.search(rf"{re.escape(label)} \(([0-9,]+)\)", html)
    return None if m is None else int(m.group(1).replace(",", ""))


#: A report table's row -> the legend of the chart that draws the same count.
CHART_COUNTS = {"records released": "records released to a doctor",
                "access denied": "access attempts denied",
                "repairs": "replicas re-created",
                "corrupt blocks": "corrupt blocks detected"}


@pytest.mark.parametrize("name", SHIPPED)
def test_report_counts_and_charts_agree(runs: dict[str, Path], name: str) -> None:
    """Each count a report's tables give is the count its charts draw, and summary.json's."""
    html = (runs[name] / "report.html").read_text()
    summary = json.loads((runs[name] / "summary.json").read_text())
    drawn = 0
    for row, legend in CHART_COUNTS.items():
        shown = _legend_count(html, legend)
        if shown is None:
            continue  # no chart: nothing happened to draw
        assert _table_count(html, row) == shown, (row, legend)
        drawn += 1
    assert _table_count(html, "records released") == summary["counts"]["records_released"]
    assert _table_count(html, "access denied") == summary["counts"]["access_denied"]
    failed = _legend_count(html, "failed retrievals and storage steps")
    if failed is not None:
        storage = summary["storage"]
        assert failed == storage["retrieval_failures"] + storage["failures"]
        assert _table_count(html, "repairs") == storage["repairs"]
    assert drawn >= (4 if name == "churn" else 2)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_attempts_every_configured_attack(runs: dict[str, Path],
                                                           name: str) -> None:
    """Each configured attack kind was attempted as often as configured, and denied each time."""
    summary = json.loads((runs[name] / "summary.json").read_text())
    configured = {k: v for k, v in load_scenario(SCENARIOS / f"{name}.yaml")
                  .adversaries.model_dump().items() if v}
    got = {k: (a["attempted"], a["denied"]) for k, a in summary["attacks"].items()
           if a["configured"] is not None}
    assert got == {k: (v, v) for k, v in configured.items()}


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("seed", [11, 12])
def test_shipped_scenario_holds_on_other_seeds_on_revm(name: str, seed: int,
                                                       tmp_path: Path) -> None:
    """On other seeds (revm), each shipped scenario still meets its expectations, every
    configured attack attempted (`benchmarks/bench_scenarios.py --backend revm
    --seeds 10` runs ten seeds of each)."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", ["chain.backend=revm"], seed=seed)
    result = run_scenario(scenario, tmp_path, progress=False, render=False)
    assert result.ok, result.unexpected


@pytest.mark.parametrize("name", SHIPPED)
def test_replay_verifies_every_shipped_scenario(runs: dict[str, Path], name: str) -> None:
    """`pmrsim replay` reruns the run and finds every byte; --chain-only re-executes it."""
    assert main(["replay", str(runs[name])]) == 0
    assert main(["replay", str(runs[name]), "--chain-only"]) == 0


def test_replay_fails_on_one_changed_receipt_byte(runs: dict[str, Path], tmp_path: Path) -> None:
    """Changing one byte of one receipt in the trace makes replay exit 1 naming it."""
    copy = tmp_path / "run"
    shutil.copytree(runs["quickstart"], copy)
    lines = (copy / "trace.jsonl").read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if '"op":"PMRToken.mint"' in line)
    record = json.loads(lines[i])
    digest = record["logs"]
    record["logs"] = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    lines[i] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    (copy / "trace.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckFailed, match=r"logs is .* in the trace"):
        replay_folder(copy)
    assert main(["replay", str(copy), "--chain-only"]) == 1
    assert main(["replay", str(copy)]) == 1


def test_same_seed_same_trace_and_state_root(tmp_path: Path) -> None:
    """Two runs of one scenario and seed write identical traces and state roots."""
    scenario = load_scenario(SCENARIOS / "quickstart.yaml")
    a = run_scenario(scenario, tmp_path / "a", progress=False)
    b = run_scenario(scenario, tmp_path / "b", progress=False)
    assert (tmp_path / "a" / "trace.jsonl").read_bytes() == (tmp_path / "b" / "trace.jsonl").read_bytes()
    assert a.summary["state_root"] == b.summary["state_root"]


@pytest.mark.parametrize("seed", [2, 3])
def test_adversarial_every_attempt_denied_for_its_reason(tmp_path: Path, seed: int) -> None:
    """Over several seeds, every forbidden attempt is denied, counted and logged."""
    scenario = load_scenario(SCENARIOS / "adversarial.yaml", seed=seed)
    result = run_scenario(scenario, tmp_path, progress=False)
    assert result.ok, result.unexpected
    attacks = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()
               if '"kind":"attack"' in line]
    assert attacks and all(a["actual"] in a["expected"] for a in attacks)
    # an attempt may take several steps (one trace record each): count attempts, per kind
    configured = {k: v for k, v in scenario.adversaries.model_dump().items() if v}
    matrix = result.summary["attacks"]
    assert {k: (matrix[k]["attempted"], matrix[k]["denied"]) for k in configured} == {
        k: (v, v) for k, v in configured.items()}
    assert result.summary["counts"]["denied"] >= sum(configured.values())
    assert {a["attack"] for a in attacks} >= set(configured)


def test_paper_scenario_is_the_papers_story(runs: dict[str, Path]) -> None:
    """Patient 85437's visit on 26 Jan 2021 is PMR 8543726012021, with an X-ray, and access ends."""
    trace = (runs["paper"] / "trace.jsonl").read_text()
    summary = json.loads((runs["paper"] / "summary.json").read_text())
    assert summary["counts"]["lab_reports"] == 1 and summary["counts"]["grants"] == 1
    from sim.engine.audit import audit

    _, entries = audit(runs["paper"], 85437)
    assert any(e.event == "PMR version" and e.pmr_id == 8543726012021 for e in entries)
    assert any(e.event == "lab report" and "test type 3" in e.detail for e in entries)
    assert any(e.event == "access" for e in entries)
    refused = [e for e in entries if e.event == "refused access"]
    assert refused and refused[0].detail == "access_grants: grant expired"
    assert all(not e.actor.startswith("0x") for e in entries)  # accounts shown by their labels
    assert '"reason":"access_grants: grant expired"' in trace


def test_paper_layout_violates_pii_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim run scenarios/paper.yaml --set layout=paper` exits 1 naming the PII violation."""
    code = main(["run", str(SCENARIOS / "paper.yaml"), "--set", "layout=paper",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 1
    assert "pii_on_chain" in capsys.readouterr().err


def test_stated_skips_are_in_the_summary_and_on_the_last_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A check with nothing to check is a skip with its reason in summary.json and on the CLI's
    last line; the run still passes."""
    code = main(["run", str(SCENARIOS / "iomt.yaml"), "--backend", "revm",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    skipped = json.loads((tmp_path / "out" / "summary.json").read_text())["invariants"]["skipped"]
    assert {"name": "attacks", "reason": "no attack configured: nothing to check"} in skipped
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("invariants: ") and f"all as expected ({len(skipped)} skipped: " in last
    assert "attacks: no attack configured" in last


def test_layouts_flags_paper_and_passes_private(runs: dict[str, Path]) -> None:
    """The layouts scenario finds PII on chain in the paper layout only."""
    summary = json.loads((runs["layouts"] / "summary.json").read_text())
    found = {layout: [v["name"] for v in data["invariants"]["violations"]]
             for layout, data in summary["layouts"].items()}
    assert "pii_on_chain" in found["paper"] and "pii_on_chain" not in found["private"]


def test_audit_lists_accesses(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim audit` prints the patient's grants and accesses from chain events."""
    assert main(["audit", str(runs["paper"]), "--patient", "85437"]) == 0
    out = capsys.readouterr().out
    assert "grant" in out and "access" in out and "8543726012021" in out


def test_bad_scenario_key_is_exit_2_and_leaves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --set key exits 2 naming it, and no run folder is created."""
    out = tmp_path / "never"
    code = main(["run", str(SCENARIOS / "quickstart.yaml"), "--set", "storage.nodez=3",
                 "--out", str(out), "--no-progress"])
    assert code == 2
    assert "storage.nodez" in capsys.readouterr().err
    assert not out.exists()


def test_replay_of_a_missing_folder_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Replaying a folder without a trace exits 2 naming it."""
    assert main(["replay", str(tmp_path)]) == 2
    assert "trace.jsonl" in capsys.readouterr().err


def test_big_run_machinery_changes_no_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker process, pack-file stores and forgotten chain history give the same trace and root."""
    import sim.engine.world as world

    scenario = load_scenario(SCENARIOS / "quickstart.yaml")
    small = run_scenario(scenario, tmp_path / "small", progress=False)
    monkeypatch.setattr(world, "BIG_RUN_PATIENTS", 1)
    monkeypatch.setattr(world, "HISTORY_BLOCKS", 16)  # the replay adversary's window
    monkeypatch.setattr(world, "default_workers", lambda patients: 1)
    big = run_scenario(scenario, tmp_path / "big", progress=False)
    assert big.ok and big.summary["state_root"] == small.summary["state_root"]
    assert (tmp_path / "big" / "trace.jsonl").read_bytes() == (
        tmp_path / "small" / "trace.jsonl").read_bytes()


def test_long_runs_into_a_log_report_progress_by_tenths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A big run whose stderr is not a terminal writes ten plain progress lines; same trace."""
    from sim.engine import runner

    scenario = load_scenario(SCENARIOS / "quickstart.yaml", ["duration_days=1"])
    quiet = run_scenario(scenario, tmp_path / "quiet", progress=False)
    assert quiet.ok
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(runner, "BIG_RUN_PATIENTS", 1)
    logged = run_scenario(scenario, tmp_path / "logged")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[0].startswith("quickstart (private): day ")
    assert lines[-1].split(", ")[1] == f"{logged.summary['txs']['total']:,} txs"
    assert (tmp_path / "logged" / "trace.jsonl").read_bytes() == (
        tmp_path / "quiet" / "trace.jsonl").read_bytes()


def test_background_state_roots_change_nothing(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """revm with its state trie in a worker process writes the same trace as with it inline
    (its block lines held and released often here)."""
    from sim.engine import driver, world

    pytest.importorskip("pyrevm")
    monkeypatch.setattr(driver, "HELD_BLOCKS", 5)
    monkeypatch.setattr(driver, "HELD_LINES", 3)
    scenario = load_scenario(SCENARIOS / "adversarial.yaml")
    runs = {}
    for background in (False, True):
        monkeypatch.setattr(world, "spare_core", lambda background=background: background)
        folder = tmp_path / str(background)
        runs[background] = run_scenario(scenario, folder, backend="revm", progress=False)
        assert runs[background].ok
    assert runs[True].summary["state_root"] == runs[False].summary["state_root"]
    assert (tmp_path / "True" / "trace.jsonl").read_bytes() == (
        tmp_path / "False" / "trace.jsonl").read_bytes()


def test_gas_limits_from_the_table_change_only_the_signed_limits(tmp_path: Path) -> None:
    """chain.gas_limits=table uses the same gas per operation and reaches the same state root."""
    estimate = run_scenario(load_scenario(SCENARIOS / "adversarial.yaml"), tmp_path / "e",
                            progress=False)
    table = run_scenario(load_scenario(SCENARIOS / "adversarial.yaml", ["chain.gas_limits=table"]),
                         tmp_path / "t", progress=False)
    assert estimate.ok and table.ok
    assert table.summary["state_root"] == estimate.summary["state_root"]
    assert table.summary["gas"] == estimate.summary["gas"]

    def first_mint(folder: str) -> str:
        for line in (tmp_path / folder / "trace.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record["kind"] == "tx" and record["op"] == "PMRToken.mint":
                return str(record["raw"])
        raise AssertionError("no mint")
    assert first_mint("t") != first_mint("e")  # signed with the table's limit, not the estimate


@pytest.mark.parametrize("big", [False, True])
def test_report_prepared_aside_is_the_same_report(tmp_path: Path, big: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The trace read and drawn for the report by a worker while the run is checked (the
    world's worker, or one started for it), and the summary's figures drawn meanwhile, give
    the report that drawing it afterwards gives."""
    import sim.engine.world as world
    from reports import render_report
    from sim.engine import runner

    monkeypatch.setattr(runner, "PREPARE_ASIDE_BYTES", 0)
    monkeypatch.setattr(runner, "spare_core", lambda: True)
    if big:
        monkeypatch.setattr(world, "default_workers", lambda patients: 1)
    run = run_scenario(load_scenario(SCENARIOS / "quickstart.yaml", ["duration_days=1"]),
                       tmp_path / "run", progress=False)
    assert run.ok
    again = render_report(run.out_dir, tmp_path / "again.html")
    assert again.read_bytes() == (run.out_dir / "report.html").read_bytes()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_pauses_automatic_collection_and_restores_it(tmp_path: Path, enabled: bool,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a run the collector does only the young-generation collections it is asked for;
    afterwards it is as the caller left it."""
    import gc

    import sim.engine.runner as runner

    seen: list[bool] = []
    asked: list[int] = []
    simulate = runner._simulate

    def watched(world: object, progress: bool | None) -> None:
        seen.append(gc.isenabled())
        simulate(world, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "_simulate", watched)
    monkeypatch.setattr(runner, "YOUNG_OBJECTS", 0)  # every block's hook collects

    def collect(generation: int = 2) -> int:
        asked.append(generation)
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    (gc.enable if enabled else gc.disable)()
    try:
        run_scenario(load_scenario(SCENARIOS / "quickstart.yaml"), tmp_path)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
    assert seen == [False]
    assert asked and set(asked) == {1}


def _first_args(run: Path, sender: str, op: str) -> list[tuple[int, int]]:
    """(status, first argument) of every ``op`` transaction ``sender`` sent, in order."""
    import rlp

    found = []
    for line in (run / "trace.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "tx" and record["sender"] == sender and record["op"].startswith(op):
            data = bytes(rlp.decode(bytes.fromhex(record["raw"][4:]))[7])
            found.append((record["status"], int.from_bytes(data[4:36], "big")))
    assert found, f"no {op} from {sender}"
    return found


def test_audit_lists_all_records_and_break_glass_reads_with_reviews(runs: dict[str, Path]) -> None:
    """The audit files reads under an all-records grant and under break-glass, the openings and
    their reviews, under the real Patient-ID (the adversarial run's clinics)."""
    from sim.engine.audit import audit

    run = runs["adversarial"]
    patient = _first_args(run, "flood-0-doctor", "AccessGrants.emergency_access")[0][1]
    _, entries = audit(run, patient)
    events = [e.event for e in entries]
    assert events.count("break-glass") == 3 and events.count("break-glass review") == 3
    assert any(e.event == "access" and "emergency" in e.detail for e in entries)
    assert any(e.event == "refused break-glass" and "limit reached" in e.detail for e in entries)
    assert all(e.pmr_id is None or e.pmr_id // 10**8 == patient for e in entries)
    reads = _first_args(run, "adversaries-doctor", "AccessGrants.use")  # the shared clinic
    pmr = next(arg for status, arg in reads if status == 1)
    _, entries = audit(run, pmr // 10**8)
    assert any(e.event == "grant" and "(all records)" in e.detail for e in entries)
    assert any(e.event == "access" and "all records" in e.detail and e.pmr_id == pmr
               for e in entries)
    assert any(e.event == "refused access" and e.detail == "access_grants: not a PMR-ID"
               for e in entries)
