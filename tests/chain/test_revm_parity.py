"""Differential test: the tour's story on pyevm and on revm gives the same chain, bit for bit.

Same signed transactions (so same gas limits, fees and hashes), and per
transaction the same status, gas used, logs, revert reason and contract
address; per block the same gas used and state root.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pyrevm", reason="pyrevm is not installed (the revm backend needs it)")

import sim.chain
from sim.chain import Chain
from sim.chain.revm import RevmChain
from sim.engine.runner import run_scenario
from sim.engine.scenario import load_scenario
from sim.protocol.story import play_story
from tests.chain.conformance import chain_blocks

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _revm(seed: int | bytes, block_gas_limit: int, genesis_timestamp: int,
          rpc_url: str | None = None) -> Chain:
    """A factory for ``sim.chain.BACKENDS["revm"]`` (whatever the registry holds)."""
    return RevmChain(seed, block_gas_limit=block_gas_limit, genesis_timestamp=genesis_timestamp)


@pytest.fixture
def with_revm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the revm backend for the duration of a test."""
    monkeypatch.setitem(sim.chain.BACKENDS, "revm", _revm)


@pytest.mark.parametrize("layout", ["private", "paper"])
def test_story_is_identical_on_pyevm_and_revm(with_revm: None, layout: str) -> None:
    """Every block and receipt of the story matches; so do the steps' outcomes."""
    p_py, steps_py = play_story(layout, seed=7, backend="pyevm")
    p_rv, steps_rv = play_story(layout, seed=7, backend="revm")
    assert isinstance(p_rv.chain, RevmChain)
    assert [s.outcome.ok for s in steps_rv] == [s.outcome.ok for s in steps_py]
    assert all(s.as_expected for s in steps_rv)
    py, rv = chain_blocks(p_py.chain), chain_blocks(p_rv.chain)
    assert len(rv) == len(py)
    for a, b in zip(py, rv, strict=True):
        assert b == a, f"block {a[0]} differs"
    assert p_rv.chain.state_root() == p_py.chain.state_root()
    for acct in ("admin", "regulator", "patient-85437", "dr-rao"):
        address = p_py.chain.account(acct).address
        assert p_rv.chain.balance(address) == p_py.chain.balance(address)
        assert p_rv.chain.nonce(address) == p_py.chain.nonce(address)


def _trace(folder: Path) -> list[dict[str, object]]:
    """The trace lines of a run, less the backend's name and what revm's own block headers
    give (block hashes, and the end record's digest over them)."""
    lines = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    for line in lines:
        if line.get("kind") in ("chain", "run"):
            line.pop("backend", None)
        if line.get("kind") == "run":
            line["scenario"]["chain"].pop("backend", None)
        line.pop({"block": "hash", "end": "sha256"}.get(str(line.get("kind")), ""), None)
    return lines


@pytest.mark.parametrize("name", ["quickstart", "adversarial"])
def test_engine_trace_is_identical_on_pyevm_and_revm(
    with_revm: None, name: str, tmp_path: Path
) -> None:
    """A whole simulation (interleaved sends, estimates, views, mining) traces identically.

    The trace holds every transaction's hash, status, gas and logs digest and
    every block's state root, so this is parity of the engine's whole chain use.
    """
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    runs = {}
    for backend in ("pyevm", "revm"):
        result = run_scenario(scenario, tmp_path / backend, backend=backend, progress=False)
        assert result.ok, (backend, result.unexpected)
        runs[backend] = result
    assert runs["revm"].summary["state_root"] == runs["pyevm"].summary["state_root"]
    assert runs["revm"].summary["txs"]["total"] == runs["pyevm"].summary["txs"]["total"]
    py, rv = _trace(tmp_path / "pyevm"), _trace(tmp_path / "revm")
    assert len(rv) == len(py)
    for a, b in zip(py, rv, strict=True):
        assert b == a


def test_saturated_blocks_are_identical() -> None:
    """A backlog over a small block gas limit: packing, rising base fees, fee caps, roots, balances."""
    from sim.chain.pyevm import PyEVMChain
    from tests.chain.conformance import deploy_counter

    def run(chain: PyEVMChain | RevmChain) -> tuple[object, ...]:
        c = deploy_counter(chain)
        alice, bob = chain.account("alice"), chain.account("bob")
        chain.fund(bob.address, 10**17)
        hashes = []
        for i in range(30):
            sender = alice if i % 3 else bob
            hashes.append(c.send(sender, "set", (i * 7) % 130))
            if i % 4 == 0:
                hashes.append(chain.send(sender, chain.account("carol").address, value=10**9 + i))
        while chain.pending():
            chain.mine()
        late = c.send(alice, "bump", gas=60_000)
        chain.fund(alice.address, 0)  # the queued bump can no longer pay: dropped by both
        chain.mine()
        return (chain_blocks(chain), chain.state_root(), chain.receipt(hashes[-1]).gas_used,
                [chain.balance(a.address) for a in (alice, bob, chain.account("carol"))],
                chain.balance(b"\x00" * 20), chain.pending(), late in chain.dropped)

    py = run(PyEVMChain(9, block_gas_limit=400_000))
    rv = run(RevmChain(9, block_gas_limit=400_000))
    assert rv == py
    blocks = py[0]
    assert isinstance(blocks, list) and len(blocks) >= 5  # genesis, deploy, then the backlog


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode:DeprecationWarning")
def test_edge_transactions_are_identical() -> None:
    """Failed deployments, halts, value transfers, a self-destructing constructor: same everywhere."""
    from sim.chain.pyevm import PyEVMChain

    def run(chain: PyEVMChain | RevmChain) -> tuple[object, ...]:
        alice, bob = chain.account("alice"), chain.account("bob")
        chain.fund(alice.address)
        fresh = chain.account("fresh").address
        revert_init = bytes.fromhex("60006000fd")  # REVERT(0, 0)
        invalid_init = bytes.fromhex("fe")  # INVALID
        reason_init = bytes.fromhex("6005600c60003960056000fd") + b"oops!"  # REVERT with data
        store_init = bytes.fromhex("602a60005560016000f3")  # SSTORE(0, 42); RETURN 1 byte
        suicide_init = bytes.fromhex("73") + bob.address + bytes.fromhex("ff")  # SELFDESTRUCT(bob)
        sends = [
            (None, revert_init, 0, None), (None, invalid_init, 0, 100_000),
            (None, reason_init, 0, None), (None, store_init, 0, None),
            (None, suicide_init, 12345, None), (fresh, b"", 0, None), (fresh, b"", 10**15, None),
            (bob.address, b"\x01\x02", 5, None), (None, store_init, 0, 53_300),
        ]
        hashes = [chain.send(alice, to, data, value=value, gas=gas)
                  for to, data, value, gas in sends]
        chain.mine()
        created = [chain.receipt(h).contract_address for h in hashes]
        return (chain_blocks(chain), chain.state_root(),
                [chain.balance(a) for a in (alice.address, bob.address, fresh)],
                [chain.code_at(a) for a in created if a is not None],
                [chain.storage_at(a, 0) for a in created if a is not None])

    py = run(PyEVMChain(12))
    rv = run(RevmChain(12))
    assert rv == py
