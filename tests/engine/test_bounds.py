"""Bounds that fail fast: absurd scenarios, alias bombs, hostile manifests and CARs exit 2 at once.

The CLI cases run ``python -m sim`` from this worktree in a fresh child and
bound its time (5 CPU-seconds, and 30 s of wall time against a hang) and its
peak resident memory (500 MiB): the issue these tests pin is that such input
used to run for minutes or grow until a MemoryError, so here (and only here) a
test bounds time and memory. CPU-seconds, because a loaded CI host stretches
a fresh interpreter's start-up in wall time without the refusal doing more work.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sim.engine import bounds
from sim.engine.bounds import Limits, check, estimate, limits_from, parse_size, parse_work
from sim.engine.scenario import Scenario, load_scenario
from sim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
CPU_SECONDS = 5.0
WALL_SECONDS = 30.0
PEAK_MIB = 500

#: Runs a command as its only child and prints the child's exit code, wall time, peak RSS (KiB)
#: and stderr as JSON: the child's figures alone, whatever this test process ran before.
_PROBE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(json.loads(sys.argv[1]), capture_output=True, text=True, cwd=sys.argv[2])
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": done.returncode, "wall": wall, "stderr": done.stderr, "stdout": done.stdout,
                  "cpu": usage.ru_utime + usage.ru_stime, "peak_kib": usage.ru_maxrss}))
"""


def _probe(args: list[str], cwd: Path = ROOT) -> dict[str, Any]:
    """Run ``args`` in a fresh grandchild; its exit code, wall and CPU time, peak RSS and stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args), str(cwd)],
                         capture_output=True, text=True, check=True, env=env, timeout=120)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _pmrsim(*args: str) -> list[str]:
    """The command line of ``pmrsim ARGS`` running this worktree's code."""
    return [sys.executable, "-m", "sim", *args]


def _assert_fails_fast(result: dict[str, Any], *names: str) -> None:
    """Exit 2 within the time and memory bounds, one line on stderr naming each of ``names``."""
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == 2, result
    assert len(lines) == 1, lines
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert result["cpu"] < CPU_SECONDS, result["cpu"]
    assert result["wall"] < WALL_SECONDS, result["wall"]
    assert result["peak_kib"] < PEAK_MIB * 1024, result["peak_kib"]


# --- the cases, through the CLI -------------------------------------------------------------


@pytest.mark.parametrize(("assignment", "key"), [
    ("population.patients=9999999999", "population.patients"),
    ("storage.nodes=1000000000", "storage.nodes"),
    ("adversaries.foreign_doctor=1000000000", "adversaries.foreign_doctor"),
    ("population.hospitals=1000000000", "population.hospitals"),
    ("population.hospitals=1e9", "population.hospitals"),
    ("duration_days=1000000000", "duration_days"),
    ("workload.visits_per_patient_year=1000000000000", "workload.visits_per_patient_year"),
    ("chain.block_time=1000000000000", "chain.block_time"),
    ("workload.iomt_reading_interval_s=0.000001", "workload.iomt_reading_interval_s"),
    ("start_date=1900-01-01", "start_date"),
    ("sharing.segment_size=1", "sharing.segment_size"),
])
def test_absurd_value_exits_2_at_once_naming_its_key(tmp_path: Path, assignment: str, key: str) -> None:
    """Each absurd value of the issue is refused by validation: exit 2, one line naming the key."""
    result = _probe(_pmrsim("run", str(QUICKSTART), "--set", assignment, "--out", str(tmp_path / "o"),
                            "--no-progress"))
    _assert_fails_fast(result, key)
    assert not (tmp_path / "o").exists()


def test_too_many_readings_per_window_are_refused(tmp_path: Path) -> None:
    """A week's window of readings a second (604,800 held at once) is refused naming the interval."""
    result = _probe(_pmrsim("run", str(QUICKSTART), "--set", "workload.iomt_window_minutes=10080",
                            "--set", "workload.iomt_reading_interval_s=1", "--out", str(tmp_path / "o")))
    _assert_fails_fast(result, "workload.iomt_reading_interval_s", "readings per window")


def test_valid_but_huge_run_is_refused_by_its_work_estimate(tmp_path: Path) -> None:
    """100 million patients pass the schema; the work estimate refuses them, naming the keys and flag."""
    result = _probe(_pmrsim("run", str(QUICKSTART), "--set", "population.patients=100000000",
                            "--out", str(tmp_path / "o"), "--no-progress"))
    _assert_fails_fast(result, "population.patients", "--max-work", "transactions")
    assert not (tmp_path / "o").exists()


def test_run_over_the_memory_limit_is_refused_naming_the_flag(tmp_path: Path) -> None:
    """A run whose estimated peak passes --max-memory is refused before anything is written."""
    result = _probe(_pmrsim("run", str(QUICKSTART), "--max-memory", "64M", "--out", str(tmp_path / "o"),
                            "--no-progress"))
    _assert_fails_fast(result, "--max-memory 64.0 MiB", "peak memory", "chain.backend")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("flag", "value"), [("--max-memory", "lots"), ("--max-work", "-3"),
                                             ("--max-work", "1e99")])
def test_bad_limit_flag_is_an_input_error(tmp_path: Path, flag: str, value: str) -> None:
    """A limit flag that is not a size or a count is refused naming the flag."""
    result = _probe(_pmrsim("run", str(QUICKSTART), flag, value, "--out", str(tmp_path / "o")))
    _assert_fails_fast(result, flag)


def _alias_bomb(path: Path) -> Path:
    """A 'billion laughs' scenario: nine levels of nine aliases, 9**9 strings once expanded."""
    lines = ["name: bomb", "description: alias bomb", "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 10)]
    lines.append("workload: {dicom_sources: *x9}")
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 1000
    return path


def test_yaml_alias_bomb_is_refused_naming_the_file(tmp_path: Path) -> None:
    """A 900-byte billion-laughs scenario is refused before it is expanded: exit 2, the file named."""
    bomb = _alias_bomb(tmp_path / "bomb.yaml")
    result = _probe(_pmrsim("run", str(bomb), "--out", str(tmp_path / "o")))
    _assert_fails_fast(result, str(bomb), "aliases")


def test_alias_bomb_sweep_file_is_refused(tmp_path: Path) -> None:
    """The same bomb in a sweep file is refused by `pmrsim sweep`, naming the sweep file."""
    bomb = _alias_bomb(tmp_path / "bomb.yaml")
    text = bomb.read_text().replace("name: bomb", "name: bomb\nscenario: x.yaml\nseeds: [1]")
    bomb.write_text(text.replace("workload: {dicom_sources: *x9}", "grid: {storage.nodes: *x9}"))
    result = _probe(_pmrsim("sweep", str(bomb), "--out", str(tmp_path / "o")))
    _assert_fails_fast(result, str(bomb), "aliases")


def _split(tmp_path: Path) -> Path:
    """A record split (t=2, n=3) into ``tmp_path/d`` with the CLI."""
    (tmp_path / "rec.bin").write_bytes(os.urandom(50_000))
    subprocess.run(_pmrsim("share", "split", str(tmp_path / "rec.bin"), "--t", "2", "--n", "3", "--out",
                           str(tmp_path / "d"), "--seed", "1"), check=True, capture_output=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return tmp_path / "d"


@pytest.mark.parametrize(("field", "value"), [
    ("record_size", 10**15),  # hung `share combine` at 100% CPU
    ("record_size", 2**39),  # in range, but not what the fragments present hold
    ("segment_size", 1),  # 50,000 segments: fragments would be 18 times larger
    ("segment_size", 0),
    ("t", 10**9),
    ("fragment_digests", ["00" * 32] * 10_000),
])
def test_hostile_manifest_is_refused_before_combining(tmp_path: Path, field: str, value: Any) -> None:
    """`share combine` refuses a manifest whose figures do not fit, naming the file and the field."""
    folder = _split(tmp_path)
    manifest = folder / "manifest.json"
    data = json.loads(manifest.read_text())
    data[field] = value
    manifest.write_text(json.dumps(data))
    result = _probe(_pmrsim("share", "combine", str(folder), "--essential", str(folder / "essential.key"),
                            "--out", str(tmp_path / "out.bin")))
    name = "t/n" if field == "t" else field
    _assert_fails_fast(result, str(manifest), name)
    assert not (tmp_path / "out.bin").exists()


def test_oversized_manifest_file_is_not_read(tmp_path: Path) -> None:
    """A manifest file past its size limit is refused from its size alone."""
    folder = _split(tmp_path)
    with (folder / "manifest.json").open("ab") as fh:
        fh.truncate(50 << 20)  # sparse: 50 MiB that cost no disk
    result = _probe(_pmrsim("share", "combine", str(folder), "--essential", str(folder / "essential.key"),
                            "--out", str(tmp_path / "out.bin")))
    _assert_fails_fast(result, "manifest.json", "at most")


_READ_CAR = r"""
import sys
from storage_sim import CarFormatError, MemoryBlockstore, import_car
try:
    with open(sys.argv[1], "rb") as fh:
        import_car(fh, MemoryBlockstore(), sys.argv[1])
except CarFormatError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.parametrize(("body", "message"), [
    (b"\xff\xff\xff\xff\xff\xff\xff\x7f", "header length"),  # a 2**55-byte header
    (b"\x0a" + b"\x81" * 10, "nested deeper"),
    (b"\x09\x9b" + b"\xff" * 8, "items in"),  # an array of 2**64 - 1 items
    (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "longer than 9 bytes"),
    (b"\x80\x00", "not minimally encoded"),
])
def test_hostile_car_is_refused_before_allocation(tmp_path: Path, body: bytes, message: str) -> None:
    """A CAR whose header lengths, counts, nesting or varints are hostile fails fast, naming the file."""
    car = tmp_path / "x.car"
    car.write_bytes(body)
    result = _probe([sys.executable, "-c", _READ_CAR, str(car)])
    _assert_fails_fast(result, str(car), message)


def test_car_section_longer_than_the_file_is_refused(tmp_path: Path) -> None:
    """A block section claiming 4 MiB in a file that holds a few bytes is refused without reading."""
    from storage_sim import Cid
    from storage_sim.car import encode_header
    from storage_sim.varint import encode_uvarint

    header = encode_header([Cid.parse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")])
    car = tmp_path / "x.car"
    car.write_bytes(encode_uvarint(len(header)) + header + encode_uvarint(4 << 20) + b"\x01\x55")
    result = _probe([sys.executable, "-c", _READ_CAR, str(car)])
    _assert_fails_fast(result, str(car), "block section length 4,194,304 but only 2 bytes follow")


# --- the estimate -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_passes_the_default_limits(path: Path) -> None:
    """Each scenarios/*.yaml, the city-year included, is admitted by the default limits."""
    est = check(load_scenario(path), limits_from(None, None), source=str(path))
    assert 0 < est.transactions <= bounds.DEFAULT_MAX_WORK


def test_city_estimate_is_near_its_measured_year() -> None:
    """The city-year's estimate is within 10% of its 1,127,869 transactions and near its 3.65 GiB."""
    est = estimate(load_scenario(ROOT / "scenarios" / "city.yaml"))
    assert abs(est.transactions - 1_127_869) / 1_127_869 < 0.10
    assert 3.0 * bounds.GIB < est.memory < 5.0 * bounds.GIB


def test_layouts_add_work_but_not_memory() -> None:
    """Two layouts run one after the other: twice the transactions, about the same peak."""
    one = estimate(load_scenario(QUICKSTART))
    two = estimate(load_scenario(QUICKSTART, ["layouts=[private, paper]"]))
    assert two.transactions == pytest.approx(2 * one.transactions)
    assert two.memory < 1.6 * one.memory


def test_limits_parse_and_none_lifts_them() -> None:
    """Sizes take binary units; `none` lifts either limit; the default memory is 80% of what is free."""
    assert parse_size("4G") == 4 << 30 and parse_size("512MiB") == 512 << 20 and parse_size("1000") == 1000
    assert parse_size("none") is None and parse_work("none") is None
    assert parse_work("10_000_000") == 10_000_000
    lifted = limits_from("none", "none")
    assert lifted.max_memory is None and lifted.max_work is None and lifted.max_events is None
    assert 0 < limits_from(None, None).max_memory <= bounds.available_memory()  # type: ignore[operator]
    for bad in ("", "4X", "-1G", "1e3", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_lifted_limits_admit_anything_valid() -> None:
    """With both limits lifted, the largest valid scenario is estimated but not refused."""
    huge = load_scenario(QUICKSTART, ["population.patients=100000000", "duration_days=36525",
                                      "workload.visits_per_patient_year=3650"])
    est = check(huge, Limits(max_memory=None, max_work=None))
    assert est.transactions > 1e13 and math.isfinite(est.memory)


_LIMITS = Limits(max_memory=4 << 30, max_work=bounds.DEFAULT_MAX_WORK)


@st.composite
def _scenario_data(draw: Any) -> dict[str, Any]:
    """Raw scenario data with values anywhere up to (and past) the schema's ceilings."""
    big_int = st.integers(0, 10**11)
    small = st.floats(0, 1)
    rate = st.floats(0, 10**5, allow_nan=False)
    return {
        "name": "p", "description": "property",
        "duration_days": draw(st.floats(1e-3, 40_000)),
        "layouts": draw(st.sampled_from([["private"], ["private", "paper"]])),
        "chain": {"backend": draw(st.sampled_from(["pyevm", "revm", "rpc", "ethtester"])),
                  "block_time": draw(st.integers(1, 4000))},
        "storage": {"nodes": draw(st.integers(5, 1200)),
                    "repair_interval_minutes": draw(st.floats(0.5, 10**6)),
                    "churn": draw(st.none() | st.fixed_dictionaries(
                        {"mean_uptime_hours": st.floats(0.005, 10**5),
                         "mean_downtime_hours": st.floats(0.005, 10**5)}))},
        "population": {"patients": draw(st.integers(1, 2 * 10**8)),
                       "hospitals": draw(st.integers(1, 200_000)),
                       "doctors_per_hospital": draw(st.integers(1, 20_000)),
                       "devices": draw(st.integers(0, 2 * 10**6)),
                       "regulators": draw(st.integers(1, 2000))},
        "workload": {"visits_per_patient_year": draw(rate),
                     "arrivals": draw(st.sampled_from(["first_day", "first_visit"])),
                     "lab_order_probability": draw(small),
                     "second_opinion_probability": draw(small),
                     "break_glass_per_patient_year": draw(st.floats(0, 1000)),
                     "iomt_window_minutes": draw(st.floats(0.5, 20_000)),
                     "iomt_reading_interval_s": draw(st.floats(0.5, 10**5)),
                     "iomt_mode": draw(st.sampled_from(["batch", "per_reading"]))},
        "adversaries": {"foreign_doctor": draw(big_int),
                        "replayed_transaction": draw(st.integers(0, 20_000))},
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_valid_scenario_is_within_the_limits_or_refused(data: st.DataObject) -> None:
    """Whatever passes validation has a finite estimate, and check() refuses it iff it passes a limit."""
    raw = data.draw(_scenario_data())
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError:
        return  # refused by the schema: that is the other way out
    started = time.perf_counter()
    est = estimate(scenario)
    assert time.perf_counter() - started < 0.5  # arithmetic, not a simulation
    for figure in (est.transactions, est.events, est.memory):
        assert math.isfinite(figure) and figure >= 0
    over = (est.transactions > _LIMITS.max_work or est.events > (_LIMITS.max_events or math.inf)
            or est.memory > (_LIMITS.max_memory or math.inf))
    try:
        check(scenario, _LIMITS, source="p.yaml")
    except InputError as exc:
        assert over
        message = str(exc)
        assert "\n" not in message and message.startswith("p.yaml: estimated ")
        assert "--max-work" in message or "--max-memory" in message
        assert any(part.strip(" ,") in message for part in ("population.", "workload.", "duration_days",
                                                             "storage.", "chain.", "adversaries"))
    else:
        assert not over
