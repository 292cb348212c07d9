"""A scenario's calendar against a node's clock: refused with the flags to use, or shifted.

Runs against anvil as users start it (no flags: the wall clock, its own
hardfork, automine) and as the refusal says to start it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.cli import main
from sim.engine.calendar import genesis_timestamp, shifted_start
from tests.tools import require

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "scenarios" / "paper.yaml"


@given(st.integers(min_value=0, max_value=250_000_000_000))
def test_shifted_start_is_the_first_day_after_the_head(head: int) -> None:
    """The shifted start's genesis is after the node's head; the day before's is not."""
    day = shifted_start(head)
    assert genesis_timestamp(day) > head >= genesis_timestamp(day - dt.timedelta(days=1)) - 86_400


@pytest.fixture(scope="module")
def plain_anvil() -> Iterator[str]:
    """An anvil started with no flags, as a user starts it."""
    require("anvil")
    from sim.chain.anvil import start_plain_anvil

    with start_plain_anvil() as node:
        yield node.url


def test_rpc_on_a_node_past_the_calendar_names_the_flags(
        plain_anvil: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On a plain anvil (its clock at today) `run --backend rpc` exits 2 with one line naming
    the anvil command to use, --backend anvil and --shift-calendar; it writes nothing."""
    out = tmp_path / "run"
    assert main(["run", str(PAPER), "--backend", "rpc", "--rpc-url", plain_anvil,
                 "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be moved back" in err
    genesis = genesis_timestamp(dt.date(2021, 1, 26))
    assert f"--timestamp {genesis}" in err and "--hardfork cancun" in err
    assert "--backend anvil" in err and "--shift-calendar" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_the_named_flags_make_a_node_the_run_accepts(
        plain_anvil: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An anvil started with exactly the flags of the refusal runs the scenario with pyevm's gas."""
    assert main(["run", str(PAPER), "--backend", "rpc", "--rpc-url", plain_anvil,
                 "--out", str(tmp_path / "refused"), "--no-progress"]) == 2
    command = re.search(r"`anvil ([^`]*)`", capsys.readouterr().err)
    assert command is not None
    from sim.chain.anvil import find_anvil, free_port

    port = free_port()
    flags = [f if f != plain_anvil.rsplit(":", 1)[1] else str(port)
             for f in shlex.split(command.group(1))]
    node = subprocess.Popen([str(find_anvil()), *flags, "--silent"], stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        from sim.chain.anvil import _answers

        for _ in range(400):
            if _answers(url):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert main(["run", str(PAPER), "--backend", "rpc", "--rpc-url", url,
                     "--out", str(tmp_path / "rpc"), "--no-progress"]) == 0
    finally:
        node.terminate()
        node.wait(10)
    assert main(["run", str(PAPER), "--out", str(tmp_path / "pyevm"), "--no-progress"]) == 0
    assert (tmp_path / "rpc" / "gas.csv").read_bytes() == (tmp_path / "pyevm" / "gas.csv").read_bytes()


def test_shift_calendar_runs_at_the_nodes_time(plain_anvil: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """With --shift-calendar the run passes its invariants at the node's time, the summary
    records the shift and the PMR-IDs carry the shifted date."""
    out = tmp_path / "run"
    assert main(["run", str(PAPER), "--backend", "rpc", "--rpc-url", plain_anvil,
                 "--shift-calendar", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    shift = summary["calendar_shift"]
    start = dt.date.fromisoformat(shift["to"])
    assert shift["from"] == "2021-01-26" and shift["days"] == (start - dt.date(2021, 1, 26)).days
    assert start > dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    assert "calendar shifted" in printed and summary["invariants"]["violations"] == []
    minted = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()
              if '"PMRToken.mint' in line]
    assert minted and all(str(rec["args"]["pmr_id"]).endswith(start.strftime("%d%m%Y"))
                          for rec in minted if "args" in rec)


def test_shift_calendar_is_for_the_rpc_backend_only(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    """--shift-calendar on another backend is bad input (exit 2), before any run."""
    assert main(["run", str(PAPER), "--shift-calendar", "--out", str(tmp_path / "x")]) == 2
    assert "only for --backend rpc" in capsys.readouterr().err


def test_deploy_of_a_scenario_is_what_its_run_deploys(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim deploy SCENARIO` on a fresh node uses the accounts and contract addresses that
    `pmrsim run SCENARIO` uses on another fresh node."""
    require("anvil")
    from sim.chain.anvil import start_anvil

    genesis = genesis_timestamp(dt.date(2021, 1, 26))
    with start_anvil(genesis_timestamp=genesis) as node:
        assert main(["deploy", str(PAPER), "--rpc-url", node.url]) == 0
    deployed = dict(line.split()[:2] for line in capsys.readouterr().out.splitlines())
    assert main(["run", str(PAPER), "--backend", "anvil", "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "trace.jsonl").read_text()
               .splitlines()[:40]]
    contracts = next(r for r in records if r["kind"] == "contracts")
    admin = next(r for r in records if r["kind"] == "fund")  # the deployer, funded first
    assert deployed["admin"].lower() == admin["address"]
    for name in ("HospitalRegistry", "PMRToken", "AccessGrants", "IoMTAnchor"):
        assert deployed[name].lower() == contracts[name], name
