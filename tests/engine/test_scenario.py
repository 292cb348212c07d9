"""Scenarios: the schema, the YAML loader, ``--set`` overrides and the shipped files."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.engine.scenario import (
    SCHEMA,
    Scenario,
    apply_override,
    load_scenario,
    parse_dicom_source,
    scenario_digest,
)
from sim.errors import InputError
from sim.protocol.records import TestType

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SHIPPED = {"quickstart", "paper", "adversarial", "churn", "iomt", "layouts", "city"}
MINIMAL = "name: x\ndescription: a test scenario\n"


def write(tmp_path: Path, text: str) -> Path:
    """Write ``text`` to ``tmp_path/x.yaml`` and return the path."""
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, overrides: tuple[str, ...] = (), seed: int | None = None) -> str:
    """The one-line message of the InputError that loading ``path`` raises."""
    with pytest.raises(InputError) as info:
        load_scenario(path, overrides, seed=seed)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


# --- shipped scenarios -----------------------------------------------------------------------------


def test_every_shipped_scenario_is_present() -> None:
    """scenarios/ holds the documented scenario files."""
    assert {p.stem for p in SCENARIOS} >= SHIPPED


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_loads(path: Path) -> None:
    """Every shipped scenario validates, is named after its file and sets its schema, description and seed."""
    scenario = load_scenario(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert scenario.name == path.stem
    assert raw["schema"] == SCHEMA
    assert isinstance(raw["description"], str) and len(raw["description"]) > 40
    assert isinstance(raw["seed"], int)
    assert scenario.seed == raw["seed"]


def test_paper_scenario_is_the_papers_story() -> None:
    """paper.yaml: one patient 85437 from 26 January 2021, an X-ray, a 7-day grant tried after expiry."""
    s = load_scenario(ROOT / "scenarios" / "paper.yaml")
    assert (s.population.regulators, s.population.hospitals, s.population.doctors_per_hospital) == (1, 2, 1)
    assert (s.population.patients, s.population.first_patient_id) == (1, 85437)
    assert s.start_date == datetime.date(2021, 1, 26)
    assert s.duration_days == 14
    assert s.workload.lab_weights() == {TestType.XRAY: 1}
    assert s.workload.lab_order_probability == s.workload.second_opinion_probability == 1
    assert s.workload.grant_duration_days == 7 and s.workload.late_access_probability == 1
    assert s.duration_days > s.workload.grant_duration_days
    assert all(v == 0 for v in s.adversaries.model_dump().values())


def test_quickstart_is_small() -> None:
    """quickstart.yaml expects roughly 15-25 visits and tries each forbidden action once."""
    s = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    # every patient visits once at the start, then at the Poisson rate
    visits = s.population.patients * (1 + s.duration_days / 365 * s.workload.visits_per_patient_year)
    assert 15 <= visits <= 25
    assert all(v >= 1 for v in s.adversaries.model_dump().values())


def test_adversarial_tries_everything_twice() -> None:
    """adversarial.yaml makes at least two attempts of every adversary kind."""
    s = load_scenario(ROOT / "scenarios" / "adversarial.yaml")
    assert all(v >= 2 for v in s.adversaries.model_dump().values())


def test_layouts_scenario_expects_pii_on_the_paper_layout() -> None:
    """layouts.yaml runs both layouts and expects pii_on_chain on the paper one only."""
    s = load_scenario(ROOT / "scenarios" / "layouts.yaml")
    assert s.layouts == ["private", "paper"]
    assert s.expect_violations == {"paper": ["pii_on_chain"]}


# --- defaults --------------------------------------------------------------------------------------


def test_defaults_are_sane(tmp_path: Path) -> None:
    """A file with only name and description validates with the documented defaults."""
    s = load_scenario(write(tmp_path, MINIMAL))
    assert s.schema_ == SCHEMA and s.seed == 0 and s.layouts == ["private"] and s.token == "erc721"
    assert s.start_date == datetime.date(2021, 1, 25)
    assert s.chain.backend == "pyevm" and s.storage.churn is None
    assert s.sharing.n <= s.storage.nodes and s.storage.replication <= s.storage.nodes
    assert s.population.devices <= s.population.patients
    assert sum(s.workload.lab_weights().values()) == 10
    assert [parse_dicom_source(d)[0] for d in s.workload.dicom_sources] == ["pydicom"] * 3


def test_defaults_are_not_shared_between_scenarios() -> None:
    """Mutable defaults (lab mix, layouts) are fresh for each scenario."""
    a = Scenario(name="a", description="a")
    a.workload.lab_mix["xray"] = 99
    a.layouts.append("paper")
    b = Scenario(name="b", description="b")
    assert b.workload.lab_mix["xray"] == 3 and b.layouts == ["private"]


def test_scenario_is_frozen() -> None:
    """Fields of a validated scenario cannot be reassigned."""
    s = Scenario(name="a", description="a")
    with pytest.raises(Exception, match="frozen"):
        s.seed = 3  # type: ignore[misc]


# --- unknown keys and bad values -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "path", "known"), [
    ("nodes: 3\n", "nodes", "known: schema, name, description, seed"),
    ("storage:\n  nodez: 3\n", "storage.nodez", "known: nodes, bandwidth_mbps, latency_ms"),
    ("storage:\n  churn:\n    uptime: 3\n", "storage.churn.uptime", "known: mean_uptime_hours"),
    ("adversaries: {replay: 1}\n", "adversaries.replay", "known: unregistered_hospital"),
    ("schema_: pmrsim.scenario/1\n", "schema_", "known: schema, name"),
])
def test_unknown_key_is_rejected_naming_its_path(tmp_path: Path, text: str, path: str, known: str) -> None:
    """An unknown key, at the top or nested, is an error naming its path and the known keys."""
    message = error_of(write(tmp_path, MINIMAL + text))
    assert f": {path}: unknown key ({known}" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("workload:\n  visits_per_patient_year: -1\n",
     "workload.visits_per_patient_year: expected a number >= 0, got -1"),
    ("storage:\n  nodes: 0\n", "storage.nodes: expected an integer >= 1, got 0"),
    ("storage:\n  nodes: 2.5\n", "storage.nodes: expected an integer, got 2.5"),
    ("storage:\n  nodes: yes\n", "storage.nodes: expected an integer, got true"),
    ("workload:\n  lab_order_probability: 1.5\n",
     "workload.lab_order_probability: expected a number <= 1, got 1.5"),
    ("duration_days: .inf\n", "duration_days: expected a finite number, got inf"),
    ("chain:\n  backend: geth\n",
     "chain.backend: expected one of 'pyevm', 'ethtester', 'revm', 'rpc' or 'anvil'"),
    ("chain: fast\n", "chain: expected a mapping, got 'fast'"),
    ("storage:\n  churn: 5\n", "storage.churn: expected a mapping or null, got 5"),
    ("layouts: [private, papr]\n", "layouts[1]: expected one of 'private' or 'paper', got 'papr'"),
    ("layouts: []\n", "layouts: expected at least 1 item"),
    ("layouts: [paper, paper]\n", "layouts[1]: expected each layout once, got 'paper'"),
    ("start_date: 2021-13-01\n", "start_date: expected a date (YYYY-MM-DD), got '2021-13-01'"),
    ("workload:\n  lab_mix: {xrya: 1}\n", "workload.lab_mix.xrya: unknown test type (known: blood, urine"),
    ("workload:\n  lab_mix: {}\n", "workload.lab_mix: expected at least one test type"),
    ("workload:\n  lab_mix: {xray: 0}\n", "workload.lab_mix.xray: expected a number > 0, got 0"),
    ("workload:\n  lab_mix: {xray: 1, XRay: 2}\n", "workload.lab_mix.XRay: duplicate test type"),
    ("workload:\n  dicom_sources: [../secret.dcm]\n", "workload.dicom_sources[0]: expected a pydicom test"),
    ("workload:\n  dicom_sources: ['synthetic:PET']\n", "workload.dicom_sources[0]: expected synthetic:"),
    ("workload:\n  iomt_mode: stream\n", "workload.iomt_mode: expected one of 'batch' or 'per_reading'"),
    ("workload:\n  grant_duration_days: 400\n", "workload.grant_duration_days: expected a number <= 366"),
    ("expect_violations: {papr: [x]}\n", "expect_violations.papr: expected one of 'private' or 'paper'"),
    ("expect_violations: {paper: [Bad Name]}\n", "expect_violations.paper[0]: expected a string matching"),
    ("sharing: {t: 3, n: 256}\n", "sharing.n: expected an integer <= 255, got 256"),
])
def test_bad_value_is_rejected_naming_its_path(tmp_path: Path, text: str, expected: str) -> None:
    """A bad value is an error naming the key path, what was expected and what was given."""
    assert f": {expected}" in error_of(write(tmp_path, MINIMAL + text))


def test_bad_name_is_rejected(tmp_path: Path) -> None:
    """A name with capitals or spaces is rejected naming the pattern it must match."""
    message = error_of(write(tmp_path, "name: My Scenario\ndescription: d\n"))
    assert message.endswith(": name: expected a string matching ^[a-z0-9_-]+$, got 'My Scenario'")


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    """A scenario without a name is an error naming the key."""
    assert error_of(write(tmp_path, "description: d\n")).endswith(": name: missing (required)")


def test_several_errors_fit_one_line(tmp_path: Path) -> None:
    """Several bad values are reported together on one line, at most three, with a count of the rest."""
    text = MINIMAL + "storage: {nodes: 0, bandwidth_mbps: 0, latency_ms: -1, repair_interval_minutes: 0}\n"
    message = error_of(write(tmp_path, text))
    assert message.count("; ") == 2 and message.endswith("(and 1 more)")


# --- cross-field checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("storage: {nodes: 4}\nsharing: {t: 2, n: 5}\n",
     "sharing.n: expected an integer <= storage.nodes (4), got 5"),
    ("sharing: {t: 4, n: 3}\n", "sharing.n: expected an integer >= t (4), got 3"),
    ("storage: {nodes: 6, replication: 7}\n", "storage.replication: expected an integer <= nodes (6), got 7"),
    ("storage: {nodes: 6, byzantine: 6}\n", "storage.byzantine: expected an integer < nodes (6), got 6"),
    ("population: {patients: 3, devices: 4}\n",
     "population.devices: expected an integer <= patients (3), got 4"),
    ("population: {patients: 10, first_patient_id: 9999999991}\n",
     "population.first_patient_id: expected an integer <= 9999999990"),
])
def test_cross_field_check(tmp_path: Path, text: str, expected: str) -> None:
    """Values that do not fit together are rejected naming the offending key."""
    assert f": {expected}" in error_of(write(tmp_path, MINIMAL + text))


def test_largest_patient_ids_fit(tmp_path: Path) -> None:
    """The last patient may have the largest ten-digit Patient-ID."""
    s = load_scenario(write(tmp_path, MINIMAL + "population: {patients: 10, first_patient_id: 9999999990}\n"))
    assert s.population.first_patient_id + s.population.patients - 1 == 10**10 - 1


# --- the file itself -------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    """A YAML syntax error names the file and the line."""
    message = error_of(write(tmp_path, MINIMAL + "storage:\n  nodes: [1, 2\nseed: 3\n"))
    assert re.search(r": invalid YAML at line \d+, column \d+: ", message)


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    """A key given twice in one mapping is an error naming the line (YAML would keep the last silently)."""
    message = error_of(write(tmp_path, MINIMAL + "seed: 1\nseed: 2\n"))
    assert "line 4" in message and "duplicate key 'seed'" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("", "expected a mapping of scenario keys at the top level, got an empty file"),
    ("- a\n- b\n", 'expected a mapping of scenario keys at the top level, got ["a", "b"]'),
    ("just words\n", "expected a mapping of scenario keys at the top level, got 'just words'"),
])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, expected: str) -> None:
    """A file whose top level is not a mapping is an error naming the file."""
    assert error_of(write(tmp_path, text)).endswith(expected)


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A missing scenario file is an error naming it."""
    assert error_of(tmp_path / "none.yaml").endswith(": no such file")


def test_directory_and_binary_files_are_rejected(tmp_path: Path) -> None:
    """A directory or a file that is not UTF-8 text is an error naming it."""
    assert "is a directory" in error_of(tmp_path)
    path = tmp_path / "x.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    assert error_of(path).endswith("not UTF-8 text")


# --- overrides -------------------------------------------------------------------------------------


def test_override_nested_value(tmp_path: Path) -> None:
    """`--set storage.nodes=8` sets a nested value; the value is read as YAML (an integer here)."""
    s = load_scenario(write(tmp_path, MINIMAL), ["storage.nodes=8", "workload.lab_order_probability=0.5"])
    assert s.storage.nodes == 8 and s.workload.lab_order_probability == 0.5


def test_override_list_and_mapping(tmp_path: Path) -> None:
    """Flow YAML sets lists and mappings; a key of a mapping field can be set on its own."""
    s = load_scenario(write(tmp_path, MINIMAL), [
        "layouts=[private, paper]", "workload.lab_mix={xray: 1}", "workload.lab_mix.ct=2",
        "expect_violations.paper=[pii_on_chain]"])
    assert s.layouts == ["private", "paper"]
    assert s.workload.lab_mix == {"xray": 1, "ct": 2}
    assert s.expect_violations == {"paper": ["pii_on_chain"]}


def test_layout_alias(tmp_path: Path) -> None:
    """`--set layout=paper` is short for `--set layouts=[paper]`."""
    assert load_scenario(write(tmp_path, MINIMAL), ["layout=paper"]).layouts == ["paper"]
    data: dict[str, Any] = {"layouts": ["private", "paper"]}
    apply_override(data, "layout=private")
    assert data == {"layouts": ["private"]}


def test_override_of_key_absent_from_file(tmp_path: Path) -> None:
    """A key absent from the file but known to the schema can be set (intermediate mappings are created)."""
    s = load_scenario(write(tmp_path, MINIMAL), ["storage.churn.mean_uptime_hours=6"])
    assert s.storage.churn is not None
    assert (s.storage.churn.mean_uptime_hours, s.storage.churn.mean_downtime_hours) == (6, 2)


def test_override_null_turns_a_section_off(tmp_path: Path) -> None:
    """`--set storage.churn=null` turns churn off."""
    path = write(tmp_path, MINIMAL + "storage:\n  churn: {mean_uptime_hours: 5}\n")
    assert load_scenario(path, ["storage.churn=null"]).storage.churn is None


def test_override_unknown_path_is_rejected(tmp_path: Path) -> None:
    """An override naming an unknown key is an error naming the path and the known keys at that level."""
    message = error_of(write(tmp_path, MINIMAL), ("storage.nodez=8",))
    assert "--set storage.nodez=8: storage.nodez: unknown key (known: nodes, bandwidth_mbps" in message
    message = error_of(write(tmp_path, MINIMAL), ("stroage.nodes=8",))
    assert "stroage: unknown key (known: schema, name" in message


def test_override_into_a_scalar_is_rejected(tmp_path: Path) -> None:
    """An override that goes below a value without keys is an error."""
    message = error_of(write(tmp_path, MINIMAL), ("storage.nodes.count=8",))
    assert "storage.nodes.count: storage.nodes is an integer, it has no keys" in message


@pytest.mark.parametrize("assignment", ["storage.nodes", "=3", "storage..nodes=3", ".nodes=3"])
def test_malformed_override_is_rejected(assignment: str) -> None:
    """An assignment without `=` or with an empty key is an error saying what to pass."""
    with pytest.raises(InputError, match=r"expected key\.path=value"):
        apply_override({}, assignment)


def test_override_value_that_is_not_yaml_is_rejected() -> None:
    """A value that is not valid YAML is an error naming the assignment."""
    with pytest.raises(InputError, match=r"--set layouts=\[private: value is invalid YAML"):
        apply_override({}, "layouts=[private")


def test_bad_override_value_is_attributed_to_the_override(tmp_path: Path) -> None:
    """A value set by `--set` or `--seed` that fails validation is reported as coming from there."""
    path = write(tmp_path, MINIMAL)
    assert error_of(path, ("storage.nodes=0",)).endswith("got 0 (from --set storage.nodes=0)")
    assert error_of(path, ("layout=papr",)).endswith("got 'papr' (from --set layout=papr)")
    assert error_of(path, seed=-1).endswith("seed: expected an integer >= 0, got -1 (from --seed -1)")


def test_override_cannot_descend_into_a_non_mapping(tmp_path: Path) -> None:
    """An override below a key whose file value is not a mapping is an error."""
    message = error_of(write(tmp_path, MINIMAL + "storage: 5\n"), ("storage.nodes=3",))
    assert "storage is 5 in the scenario, not a mapping" in message


def test_seed_argument_wins(tmp_path: Path) -> None:
    """The `seed` argument (`pmrsim run --seed`) replaces the file's seed, after overrides."""
    path = write(tmp_path, MINIMAL + "seed: 4\n")
    assert load_scenario(path, ["seed=5"], seed=6).seed == 6
    assert load_scenario(path, ["seed=5"]).seed == 5


# Leaf paths with valid values, for the round-trip property below.
LEAVES: dict[str, st.SearchStrategy[Any]] = {
    "seed": st.integers(0, 2**63),
    "duration_days": st.floats(0.05, 1e4),  # at least one block of chain.block_time <= 3600
    "token": st.sampled_from(["erc721", "erc1155"]),
    "layouts": st.sampled_from([["private"], ["paper"], ["private", "paper"], ["paper", "private"]]),
    "chain.backend": st.sampled_from(["pyevm", "ethtester", "revm", "rpc", "anvil"]),
    "chain.block_time": st.integers(1, 3600),
    "chain.rpc_url": st.sampled_from([None, "http://127.0.0.1:8545"]),
    "storage.nodes": st.integers(5, 200),
    "storage.latency_ms": st.floats(0, 1e3),
    "storage.churn.mean_downtime_hours": st.floats(0.01, 100),
    "sharing.t": st.integers(1, 3),
    "sharing.segment_size": st.integers(2**10, 2**30),
    "population.patients": st.integers(1, 10**6),
    "workload.lab_order_probability": st.floats(0, 1),
    "workload.lab_mix.mammography": st.floats(0.01, 100),
    "workload.iomt_mode": st.sampled_from(["batch", "per_reading"]),
    "adversaries.replayed_transaction": st.integers(0, 1000),
    "expect_violations.paper": st.lists(st.sampled_from(["pii_on_chain", "grant_expiry"]), max_size=2),
}


def value_at(scenario: Scenario, path: str) -> Any:
    """The value at dotted ``path`` in ``scenario`` (mapping fields indexed by key)."""
    value: Any = scenario
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def flow(value: Any) -> str:
    """``value`` as one line of flow YAML."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_overrides_round_trip(tmp_path: Path, data: st.DataObject) -> None:
    """Any set of valid `--set path=value` overrides yields a scenario holding exactly those values."""
    paths = data.draw(st.lists(st.sampled_from(sorted(LEAVES)), unique=True, min_size=1, max_size=6))
    values = {p: data.draw(LEAVES[p], label=p) for p in paths}
    s = load_scenario(write(tmp_path, MINIMAL), [f"{p}={flow(v)}" for p, v in values.items()])
    for p, v in values.items():
        assert value_at(s, p) == v


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(sorted(LEAVES)),
       junk=st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.booleans(), st.none(),
                      st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                           max_size=2)))
def test_any_override_value_loads_or_fails_on_one_line(tmp_path: Path, path: str, junk: Any) -> None:
    """Whatever value an override gives, loading either succeeds or raises a one-line InputError."""
    assignment = f"{path}={flow(junk)}"
    try:
        load_scenario(write(tmp_path, MINIMAL), [assignment])
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(tmp_path / "x.yaml"))


@settings(max_examples=100, deadline=None)
@given(name=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
       section=st.sampled_from(["", "chain.", "storage.", "sharing.", "population.", "workload.",
                                "adversaries.", "storage.churn."]))
def test_unknown_override_paths_are_always_rejected(name: str, section: str) -> None:
    """An override whose last key is not in the schema is rejected naming that path."""
    model: Any = Scenario
    for part in section.strip(".").split(".") if section else []:
        model = model_of(model.model_fields[part].annotation)
    known = {info.alias or key for key, info in model.model_fields.items()}
    if name in known or (name == "layout" and not section):
        return
    with pytest.raises(InputError, match=re.escape(f"{section}{name}: unknown key (known: ")):
        apply_override({}, f"{section}{name}=1")


def model_of(annotation: Any) -> Any:
    """The model class in ``annotation`` (``X`` or ``X | None``), or None."""
    inner = [a for a in getattr(annotation, "__args__", (annotation,)) if a is not type(None)]
    return inner[0] if len(inner) == 1 and hasattr(inner[0], "model_fields") else None


# --- public form -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_public_dict_round_trips(path: Path) -> None:
    """`to_public_dict` is plain JSON data with the schema key, and validates back to an equal scenario."""
    s = load_scenario(path)
    public = s.to_public_dict()
    assert public["schema"] == SCHEMA
    assert yaml.safe_load(yaml.safe_dump(public)) == public
    assert Scenario.model_validate(public) == s
    assert scenario_digest(Scenario.model_validate(public)) == scenario_digest(s)


def test_digest_changes_with_any_value(tmp_path: Path) -> None:
    """The digest is a sha256 hex string that changes when any value changes."""
    path = write(tmp_path, MINIMAL)
    base = scenario_digest(load_scenario(path))
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert scenario_digest(load_scenario(path)) == base
    assert scenario_digest(load_scenario(path, ["workload.revoke_probability=0.2"])) != base


def test_lab_mix_keys_are_case_insensitive(tmp_path: Path) -> None:
    """Lab mix keys are matched to test types without regard to case and stored in lower case."""
    s = load_scenario(write(tmp_path, MINIMAL + "workload:\n  lab_mix: {XRay: 2, General_Exam: 1}\n"))
    assert s.workload.lab_mix == {"xray": 2, "general_exam": 1}
    assert s.workload.lab_weights() == {TestType.XRAY: 2, TestType.GENERAL_EXAM: 1}


def test_synthetic_sources_are_normalised(tmp_path: Path) -> None:
    """`synthetic:<modality>` sources are accepted in any case and stored upper-case."""
    s = load_scenario(write(tmp_path, MINIMAL + "workload:\n  dicom_sources: ['synthetic:cr', IM000001]\n"))
    assert s.workload.dicom_sources == ["synthetic:CR", "IM000001"]
    assert parse_dicom_source(s.workload.dicom_sources[0]) == ("synthetic", "CR")


def test_docs_describe_every_field() -> None:
    """docs/scenarios.md names every field of every section with its default."""
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    sections: list[tuple[str, Any]] = [("", Scenario)]
    while sections:
        prefix, model = sections.pop()
        for key, info in model.model_fields.items():
            name = prefix + (info.alias or key)
            assert f"`{name}`" in text, name
            if model_of(info.annotation) is not None:
                sections.append((name + ".", model_of(info.annotation)))


# --- YAML budgets -------------------------------------------------------------------------------


def test_ordinary_anchors_and_aliases_still_work(tmp_path: Path) -> None:
    """An anchored value reused through an alias loads as written."""
    path = write(tmp_path, MINIMAL + "population: {patients: &n 30, devices: *n}\n"
                 "workload: {dicom_sources: &src [CT_small.dcm], lab_mix: &mix {xray: 1}}\n")
    s = load_scenario(path)
    assert (s.population.patients, s.population.devices) == (30, 30)


@pytest.mark.parametrize(("text", "expected"), [
    ("a0: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"a{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 10)}]\n" for i in range(1, 7)),
     "expands to more than 100,000 nodes"),
    ("workload: &w {lab_mix: *w}\n", "holds itself through an alias"),
    ("z: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than"),
    ("z: " + "[" * 70 + "]" * 70 + "\n", "nested deeper than 64 levels"),
])
def test_yaml_past_its_budget_is_refused_naming_the_file(tmp_path: Path, text: str, expected: str) -> None:
    """Alias bombs, recursive aliases and deep nesting are refused before the document is built."""
    path = write(tmp_path, MINIMAL + text)
    message = error_of(path)
    assert message.startswith(f"{path}: YAML document ") and expected in message


def test_a_file_over_a_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    """A scenario file larger than 1 MiB is refused (only the first MiB and a byte are read)."""
    path = write(tmp_path, MINIMAL + "#" * (1 << 20) + "\n")
    assert "expected a scenario YAML file of at most 1,048,576 bytes" in error_of(path)


def test_an_override_value_past_the_budget_is_refused() -> None:
    """A --set value is parsed with the same budget as a file."""
    bomb = "[" + ", ".join(["[" + ", ".join(["x"] * 400) + "]"] * 400) + "]"
    with pytest.raises(InputError, match="expands to more than"):
        apply_override({}, f"workload.dicom_sources={bomb}")
