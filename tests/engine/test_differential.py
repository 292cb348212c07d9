"""Differential: one scenario and seed on every backend gives the same chain history.

Per transaction: operation, status, gas used and logs digest; per block: its
number, timestamp and number of transactions. State roots must also agree
where the backend computes them the way py-evm does (ethtester; revm when
built with state roots). The ``anvil`` backend starts its own node (the
rpc backend on it); anvil keeps storage slots a transaction sets to zero, so
its state roots (and only those) differ from the others' (see
docs/design-notes.md). Without anvil the test fails in CI
(``PMRSIM_REQUIRE_TOOLS=1``) and skips that comparison elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario
from tests.tools import ENV_VAR as REQUIRE

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
NAMES = ["paper", "adversarial", "iomt"]
#: A smaller iomt keeps four backends within the suite's time budget.
OVERRIDES = {"iomt": ["duration_days=0.5"]}


def _history(folder: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    txs, blocks, roots = [], [], []
    for line in (folder / "trace.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] == "tx":
            txs.append((rec["block"], rec["op"], rec["status"], rec["gas"], rec["logs"],
                        rec["reason"]))
        elif rec["kind"] == "block":
            blocks.append((rec["number"], rec["timestamp"], rec["txs"], rec["gas_used"]))
            roots.append(rec["state_root"])
    return txs, blocks, roots


def _available() -> list[str]:
    backends = ["pyevm", "ethtester"]
    try:
        import sim.chain.revm  # noqa: F401

        backends.append("revm")
    except ImportError:
        pass
    from sim.chain.anvil import find_anvil

    if find_anvil() is not None:
        backends.append("anvil")
    elif os.environ.get(REQUIRE) == "1":
        pytest.fail("anvil is not installed (scripts/install-tools.sh installs it)")
    return backends


def _run(name: str, backend: str, folder: Path) -> Path:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml",
                             [*OVERRIDES.get(name, []), f"chain.backend={backend}"])
    result = run_scenario(scenario, folder, progress=False)
    assert result.ok, result.unexpected
    return folder


@pytest.mark.parametrize("name", NAMES)
def test_every_backend_writes_the_same_history(name: str, tmp_path: Path) -> None:
    """Same scenario + seed: same transactions, gas, outcomes and events on every backend."""
    backends = _available()
    reference = _history(_run(name, "pyevm", tmp_path / "pyevm"))
    for backend in backends[1:]:
        txs, blocks, roots = _history(_run(name, backend, tmp_path / backend))
        assert txs == reference[0], f"{backend}: transactions differ from pyevm"
        assert blocks == reference[1], f"{backend}: blocks differ from pyevm"
        if backend == "ethtester":
            assert roots == reference[2], "ethtester: state roots differ from pyevm"
