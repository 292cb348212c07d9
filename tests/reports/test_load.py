"""Reading a run folder: summary.json checks, trace.jsonl streaming, gas.csv round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reports import load_summary, read_gas_csv, read_trace, write_gas_csv
from reports.trace import MAX_POINTS, BinnedSeries, Reservoir, StepSeries
from sim.errors import InputError

from .conftest import MakeRun


def _summary(path: Path, **fields: object) -> Path:
    data = {"schema": "pmrsim.summary/2", "scenario": "s", **fields}
    path.write_text(json.dumps(data))
    return path


def test_minimal_summary_loads(tmp_path: Path) -> None:
    """A summary with only schema and scenario is accepted."""
    assert load_summary(_summary(tmp_path / "summary.json"))["scenario"] == "s"


def test_missing_summary_names_the_file(tmp_path: Path) -> None:
    """A missing summary.json is an InputError naming the file."""
    with pytest.raises(InputError, match=r"summary\.json: no such file"):
        load_summary(tmp_path / "summary.json")


def test_invalid_json_summary_names_file_and_line(tmp_path: Path) -> None:
    """Invalid JSON in summary.json is an InputError naming the file and line."""
    path = tmp_path / "summary.json"
    path.write_text('{\n "schema": "pmrsim.summary/2",\n "scenario": \n}')
    with pytest.raises(InputError, match=r"summary\.json: line 4: invalid JSON"):
        load_summary(path)


def test_wrong_schema_is_rejected(tmp_path: Path) -> None:
    """Another schema value is an InputError naming the key."""
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"schema": "pmrsim.summary/9", "scenario": "s"}))
    with pytest.raises(InputError, match=r"key 'schema'"):
        load_summary(path)


@pytest.mark.parametrize(("fields", "key"), [
    ({"gas": {"PMRToken.mint": {"mean": "x"}}}, "gas.PMRToken.mint.mean"),
    ({"counts": {"patients": 1.5}}, "counts.patients"),
    ({"seed": True}, "seed"),
    ({"invariants": {"violations": [{"detail": "d"}]}}, "invariants.violations[0].name"),
    ({"invariants": {"skipped": [{"name": "denials"}]}}, "invariants.skipped[0].reason"),
    ({"invariants": {"skipped": [{"name": "denials", "reason": 3}]}}, "invariants.skipped[0].reason"),
    ({"invariants": {"skipped": "none"}}, "invariants.skipped"),
    ({"layouts": {"paper": {"gas_per_patient_year": "many"}}}, "layouts.paper.gas_per_patient_year"),
    ({"storage": {"nodes": {"node-0": None}}}, "storage.nodes.node-0"),
])
def test_mistyped_summary_field_names_the_key(tmp_path: Path, fields: dict[str, object],
                                              key: str) -> None:
    """A present field of the wrong type is an InputError naming the file and the key."""
    path = _summary(tmp_path / "summary.json", **fields)
    with pytest.raises(InputError, match=rf"summary\.json: key '{re.escape(key)}'"):
        load_summary(path)


def _trace(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


GOOD_TX = ('{"t": 12, "kind": "tx", "op": "PMRToken.mint", "status": 1, "gas": 5, '
           '"latency": 6.0}')


@pytest.mark.parametrize(("bad", "message"), [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"kind": "tx"}', "field 't' missing"),
    ('{"t": "soon", "kind": "tx"}', "field 't': expected a number"),
    ('{"t": 1, "kind": 3}', "field 'kind': expected a string"),
    ('{"t": 1, "kind": "block", "gas_used": "lots", "gas_limit": 10}', "field 'gas_used'"),
    ('{"t": 1, "kind": "block", "gas_used": 1, "gas_limit": 0}', "field 'gas_limit'"),
    ('{"t": 1, "kind": "tx", "op": "X.y", "status": 2}', "field 'status'"),
    ('{"t": 1, "kind": "tx", "op": "X.y", "status": 1, "latency": "6"}', "field 'latency'"),
    ('{"t": 1, "kind": "storage", "event": 3}', "field 'event'"),
    ('{"t": 1, "kind": "chain", "block_time": "12"}', "field 'block_time'"),
])
def test_malformed_trace_line_names_file_and_line(tmp_path: Path, bad: str,
                                                  message: str) -> None:
    """A malformed trace record is an InputError naming the file, the line number and the field."""
    path = _trace(tmp_path / "trace.jsonl", GOOD_TX, "", bad)
    with pytest.raises(InputError, match=rf"trace\.jsonl: line 3: .*{message}"):
        read_trace(path)


def test_non_utf8_trace_names_the_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are an InputError naming the trace file."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(GOOD_TX.encode() + b"\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"trace\.jsonl: line \d+: not UTF-8"):
        read_trace(path)


def test_unknown_kinds_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    """Records of unknown kind are counted but otherwise ignored; blank lines are skipped."""
    path = _trace(tmp_path / "trace.jsonl", GOOD_TX, "   ",
                  '{"t": 13, "kind": "weather", "rain": "heavy"}')
    digest = read_trace(path)
    assert digest.lines == 2
    assert digest.kinds == {"tx": 1, "weather": 1}
    assert digest.latency_all.values == [6.0]


def test_trace_digest_counts_a_fake_run(make_fake_run: MakeRun) -> None:
    """The digest of a fake run agrees with its summary (reverts, accesses, blocks)."""
    run = make_fake_run()
    summary = load_summary(run / "summary.json")
    digest = read_trace(run / "trace.jsonl")
    assert digest.kinds["tx"] == summary["txs"]["total"]
    assert sum(digest.reverts.values()) == summary["txs"]["reverted"]
    assert digest.released == summary["counts"]["records_released"]
    assert digest.denied == summary["counts"]["access_denied"]
    assert digest.block_count == digest.kinds["block"] == len(digest.blocks.t)


def test_gas_csv_round_trips(make_fake_run: MakeRun, tmp_path: Path) -> None:
    """read_gas_csv gives back exactly the table write_gas_csv was given."""
    gas = load_summary(make_fake_run() / "summary.json")["gas"]
    path = write_gas_csv(gas, tmp_path / "gas.csv")
    assert read_gas_csv(path) == gas
    assert path.read_text().splitlines()[0] == "operation,count,mean,min,max,total"


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("op,count\n", "line 1: expected the header"),
    ("operation,count,mean,min,max,total\nA.b,1,2,3,4\n", "line 2: expected 6 fields"),
    ("operation,count,mean,min,max,total\nA.b,1,2,3,4,5\nA.c,1,x,3,4,5\n",
     "line 3: column 'mean': expected a number"),
    ("operation,count,mean,min,max,total\nA.b,1,2,3,4,5\nA.b,1,2,3,4,5\n", "line 3: .*twice"),
])
def test_malformed_gas_csv_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    """A malformed gas.csv is an InputError naming the file and line."""
    path = tmp_path / "gas.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"gas\.csv: {message}"):
        read_gas_csv(path)


def test_gas_table_without_a_column_is_rejected(tmp_path: Path) -> None:
    """write_gas_csv refuses a row missing a column, naming the operation, and writes nothing."""
    with pytest.raises(InputError, match=r"gas\['A.b'\]: missing total"):
        write_gas_csv({"A.b": {"count": 1, "mean": 2.0, "min": 2, "max": 2}}, tmp_path / "g.csv")
    assert list(tmp_path.iterdir()) == []


def test_public_api_is_documented() -> None:
    """Every name in reports.__all__ is importable and listed in the package docstring."""
    import reports

    for name in reports.__all__:
        assert getattr(reports, name) is not None
        assert f"`{name}`" in (reports.__doc__ or ""), name


def test_reservoir_is_bounded_and_deterministic() -> None:
    """A reservoir keeps at most its size and draws the same sample for the same stream."""
    a, b = Reservoir(100), Reservoir(100)
    for i in range(10_000):
        a.add(float(i))
        b.add(float(i))
    assert len(a.values) == 100 and a.seen == 10_000 and a.sampled
    assert a.values == b.values


def test_series_stay_within_their_point_limit() -> None:
    """Binned and step series never hold more than MAX_POINTS points, and keep the ends."""
    binned, steps = BinnedSeries(), StepSeries()
    n = 25 * MAX_POINTS + 3
    for i in range(n):
        binned.add(float(i), 1.0 if i == n - 1 else 0.5)
        steps.add((float(i), i, 0))
    assert len(binned.t) <= MAX_POINTS and max(binned.peak) == 1.0
    assert abs(sum(binned.mean[:-1]) / (len(binned.mean) - 1) - 0.5) < 1e-9
    series = steps.series()
    assert len(series) <= MAX_POINTS + 1
    assert series[0] == (0.0, 0, 0) and series[-1] == (float(n - 1), n - 1, 0)
