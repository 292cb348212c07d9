"""Replay: every class of change to a run folder is rejected, naming the file and the line."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.engine import replay
from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"
#: Scaled down so a rerun costs a second or two; still two hospitals and every attack kind.
SMALL = ["population.patients=6", "duration_days=2", "population.devices=0",
         "workload.lab_order_probability=0.6"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small quickstart run, verified by a real rerun once (the other tests reuse it)."""
    folder = tmp_path_factory.mktemp("run") / "out"
    result = run_scenario(load_scenario(SCENARIO, SMALL), folder, progress=False)
    assert result.ok, result.unexpected
    return folder


@pytest.fixture(scope="module")
def rerun_of(made: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a rerun of ``made`` writes (made once by the real rerun function)."""
    folder = tmp_path_factory.mktemp("rerun") / "out"
    header = replay.read_header(made / "trace.jsonl")
    from sim.engine.scenario import Scenario

    replay._rerun(Scenario.model_validate(header["scenario"]), header["backend"], folder)
    return folder


@pytest.fixture
def cached(monkeypatch: pytest.MonkeyPatch, made: Path, rerun_of: Path) -> None:
    """Reruns of ``made``'s own scenario are copied from the one made already; any other
    scenario (an edited header) is really rerun."""
    real = replay._rerun
    original = replay.read_header(made / "trace.jsonl")["scenario"]

    def rerun(scenario: Any, backend: str, out: Path) -> None:
        if scenario.to_public_dict() == original:
            shutil.copytree(rerun_of, out)
        else:
            real(scenario, backend, out)

    monkeypatch.setattr(replay, "_rerun", rerun)


def _copy(made: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(made, out)
    return out


def _lines(folder: Path) -> list[str]:
    return (folder / "trace.jsonl").read_text().splitlines(keepends=True)


def _write(folder: Path, lines: list[str]) -> None:
    (folder / "trace.jsonl").write_text("".join(lines))


def _encode(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _index(lines: list[str], predicate: Callable[[dict[str, Any]], bool]) -> int:
    return next(i for i, line in enumerate(lines) if predicate(json.loads(line)))


def _verdict(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["replay", str(folder), *extra])
    return code, capsys.readouterr().err


# --- edits: (name, edit of the copied folder) -------------------------------------------------

def _swap_in_block(folder: Path) -> None:
    lines = _lines(folder)
    i = _index(lines, lambda r: r["kind"] == "block" and r["txs"] >= 2 and r["number"] > 8)
    # two transactions of one block from different senders (same-sender swaps break nonces)
    txs = [j for j in range(i - json.loads(lines[i])["txs"], i)]
    a = txs[0]
    b = next(j for j in txs[1:] if json.loads(lines[j])["sender"] != json.loads(lines[a])["sender"])
    lines[a], lines[b] = lines[b], lines[a]
    _write(folder, lines)


def _forged_block(folder: Path) -> None:
    lines = _lines(folder)
    last = json.loads(next(line for line in reversed(lines) if '"kind":"block"' in line))
    forged = {**last, "number": last["number"] + 1, "timestamp": last["timestamp"] + 12,
              "txs": 0, "gas_used": 0}
    _write(folder, [*lines[:-1], _encode(forged), *lines[-1:]])


def _field(kind: str, key: str, change: Callable[[Any], Any],
           where: Callable[[dict[str, Any]], bool] = lambda r: True) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        lines = _lines(folder)
        i = _index(lines, lambda r: r["kind"] == kind and where(r))
        record = json.loads(lines[i])
        record[key] = change(record[key])
        lines[i] = _encode(record)
        _write(folder, lines)
    return edit


def _access(edit: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        lines = _lines(folder)
        i = _index(lines, lambda r: r["kind"] == "access" and r["event"] == "denied")
        if edit == "released":
            lines[i] = lines[i].replace('"denied"', '"released"')
        elif edit == "dropped":
            del lines[i]
        elif edit == "swapped":
            j = _index(lines, lambda r: r["kind"] == "access" and r["event"] == "released")
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "appended":
            lines.insert(len(lines) - 1, lines[i].replace(
                f'"t":{json.loads(lines[i])["t"]}', f'"t":{json.loads(lines[-1])["t"]}'))
        _write(folder, lines)
    return apply


def _summary(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        summary = json.loads((folder / "summary.json").read_text())
        change(summary)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return edit


def _cut_at_block(folder: Path) -> None:
    lines = _lines(folder)
    last = max(i for i, line in enumerate(lines[:-3]) if '"kind":"block"' in line)
    _write(folder, lines[: last + 1])
    (folder / "summary.json").unlink()


def _stale_layout(folder: Path) -> None:
    shutil.copytree(folder, folder.parent / "stale")
    (folder / "layouts").mkdir()
    shutil.move(folder.parent / "stale", folder / "layouts" / "paper")


def _bump(key: str) -> Callable[[dict[str, Any]], None]:
    def change(summary: dict[str, Any]) -> None:
        section, name = key.split(".")
        summary[section][name] += 1
    return change


EDITS: dict[str, Callable[[Path], None]] = {
    "two transactions swapped in a block": _swap_in_block,
    "a forged empty block appended": _forged_block,
    "a block's gas_used": _field("block", "gas_used", lambda v: v + 1, lambda r: r["txs"] > 0),
    "an access denied -> released": _access("released"),
    "an access line dropped": _access("dropped"),
    "two access lines swapped": _access("swapped"),
    "an access line appended": _access("appended"),
    "a tx's op": _field("tx", "op", lambda v: "LabReports.post",
                        lambda r: r["op"] == "PMRToken.mint"),
    "a tx's sender": _field("tx", "sender", lambda v: "doctor-1-1",
                            lambda r: r["sender"] == "doctor-0-0"),
    "a tx's latency": _field("tx", "latency", lambda v: v + 1, lambda r: r["op"] != "deploy"),
    "summary.json missing": lambda f: (f / "summary.json").unlink(),
    "summary.json txs.total": _summary(_bump("txs.total")),
    "summary.json counts": _summary(_bump("counts.visits")),
    "trace cut at a block, no summary": _cut_at_block,
    "a stale layouts/paper folder": lambda f: _stale_layout(f),
}
NAMES = sorted(EDITS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.usefixtures("cached")
def test_rerun_rejects_each_class_of_change(name: str, made: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Every class of change an auditor could make is exit 1, naming the file (and line)."""
    folder = _copy(made, tmp_path)
    EDITS[name](folder)
    code, err = _verdict(folder, capsys)
    assert code == 1, err
    assert str(folder) in err and "Traceback" not in err
    if "missing" not in name and "no summary" not in name and "stale" not in name:
        assert re.search(r"(trace\.jsonl|summary\.json):\d+: ", err) or "ends after line" in err


@pytest.mark.parametrize("name", NAMES)
def test_chain_only_rejects_each_class_of_change(name: str, made: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--chain-only rejects each change too: on chain by re-execution, off chain by the end
    record's digest."""
    folder = _copy(made, tmp_path)
    EDITS[name](folder)
    code, err = _verdict(folder, capsys, "--chain-only")
    assert code == 1, err
    assert str(folder) in err and "Traceback" not in err


@pytest.mark.parametrize(("edit", "message"), [
    (_field("block", "timestamp", str), "field 'timestamp' of a block record: expected an integer"),
    (_field("tx", "raw", lambda v: None), "field 'raw' of a tx record"),
    (_field("chain", "seed", lambda v: "1"), "field 'seed' of a chain record"),
    (lambda f: (f / "summary.json").write_text("[1, 2]"), "summary.json: expected a JSON object"),
    (lambda f: (f / "summary.json").write_text('{"x": '), "summary.json: line 1: invalid JSON"),
    (lambda f: (f / "trace.jsonl").write_text("not json\n"), "trace.jsonl:1: not a JSON record"),
])
@pytest.mark.parametrize("mode", [[], ["--chain-only"]])
@pytest.mark.usefixtures("cached")
def test_malformed_input_is_exit_2_naming_it(edit: Callable[[Path], None], message: str,
                                             mode: list[str], made: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A field of the wrong type, a missing field or a summary that is not an object is exit 2
    with one line naming the file, line and field, never a traceback."""
    folder = _copy(made, tmp_path)
    edit(folder)
    code, err = _verdict(folder, capsys, *mode)
    assert code == 2, err
    assert message in err and err.count("\n") == 1


def test_wall_clock_fields_are_not_compared(made: Path, tmp_path: Path, cached: None,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """wall_seconds and txs.per_s_wall may differ (no rerun can re-derive them); nothing else."""
    folder = _copy(made, tmp_path)

    def change(s: dict[str, Any]) -> None:
        s["wall_seconds"] = 123.45
        s["txs"]["per_s_wall"] = 9.5
    _summary(change)(folder)
    assert _verdict(folder, capsys) == (0, "")


def test_another_build_is_exit_2_pointing_to_chain_only(made: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A run made by other source files or contracts cannot be rerun: exit 2 saying so."""
    folder = _copy(made, tmp_path)
    _field("run", "contracts", lambda v: "0" * 64)(folder)
    code, err = _verdict(folder, capsys)
    assert code == 2 and "other contract bytecode" in err and "--chain-only" in err


def test_audit_refuses_a_half_run(made: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim audit` reads only a whole run: a trace cut at a block boundary is exit 1."""
    folder = _copy(made, tmp_path)
    _cut_at_block(folder)
    assert main(["audit", str(folder), "--patient", "1"]) == 1
    assert "without its end record" in capsys.readouterr().err


def test_json_verdict_says_what_was_checked(made: Path, tmp_path: Path, cached: None,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """--format json gives the mode, the files checked and how, and the first mismatch."""
    assert main(["replay", str(made), "--format", "json"]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok["verdict"] == "verified" and ok["mode"] == "rerun" and ok["first_mismatch"] is None
    assert {Path(c["file"]).name for c in ok["checked"]} == {"trace.jsonl", "summary.json",
                                                             "gas.csv"}
    folder = _copy(made, tmp_path)
    _access("released")(folder)
    assert main(["replay", str(folder), "--format", "json"]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert bad["verdict"] == "mismatch" and "trace.jsonl:" in bad["first_mismatch"]


def test_a_real_rerun_verifies_the_run(made: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default mode really makes the run again and finds every byte equal."""
    assert main(["replay", str(made)]) == 0
    assert "verified (rerun and compared byte for byte)" in capsys.readouterr().out


def _wall_spans(text: str) -> list[range]:
    return [range(m.start(1), m.end(1)) for m in
            re.finditer(r'"(?:wall_seconds|per_s_wall)": ([-+0-9.eE]+)', text)]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_flip_is_rejected(made: Path, tmp_path: Path, cached: None,
                                          data: st.DataObject,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Flipping any one byte of trace.jsonl or summary.json (outside the wall-clock figures)
    is rejected (exit 1, or 2 where it breaks the format), never with a traceback."""
    name = data.draw(st.sampled_from(["trace.jsonl", "summary.json"]))
    blob = bytearray((made / name).read_bytes())
    skip = _wall_spans(blob.decode()) if name == "summary.json" else []
    position = data.draw(st.integers(0, len(blob) - 1).filter(
        lambda p: not any(p in span for span in skip)))
    blob[position] ^= data.draw(st.integers(1, 255))
    folder = tmp_path / f"flip-{position}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(made, folder)
    (folder / name).write_bytes(bytes(blob))
    code = main(["replay", str(folder)])
    err = capsys.readouterr().err
    assert code in (1, 2), f"{name} byte {position} flipped: exit {code}"
    assert err.startswith("pmrsim: ") and err.count("\n") == 1


def test_an_rpc_run_reruns_on_a_fresh_anvil(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A run on one anvil node is rerun on another and verified, the nodes' block hashes
    aside (and said so)."""
    import datetime as dt

    from sim.chain.anvil import start_anvil
    from tests.tools import require

    require("anvil")
    scenario = load_scenario(SCENARIO.parent / "paper.yaml")
    start = int(dt.datetime.combine(scenario.start_date, dt.time(), tzinfo=dt.UTC).timestamp())
    first, second = (start_anvil(genesis_timestamp=start - 600) for _ in range(2))
    try:
        out = tmp_path / "run"
        assert main(["run", str(SCENARIO.parent / "paper.yaml"), "--backend", "rpc",
                     "--rpc-url", first.url, "--out", str(out), "--no-progress"]) == 0
        assert main(["replay", str(out)]) == 2  # an rpc run needs a fresh node to rerun on
        assert "--rpc-url" in capsys.readouterr().err
        assert main(["replay", str(out), "--rpc-url", second.url]) == 0
        assert "block hashes" in capsys.readouterr().out
    finally:
        first.stop()
        second.stop()
