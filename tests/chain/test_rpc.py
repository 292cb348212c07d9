"""The rpc backend against local anvil nodes: conformance, plus what is rpc-specific.

Anvil is started once per module (``scripts/install-tools.sh`` installs it;
``PMRSIM_ANVIL`` may name another binary); the tests skip when it is missing.
Every chain a test builds gets a node of its own, reset to genesis (a test
may hold two chains at once, e.g. to replay one on the other).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.chain import Chain
from sim.chain.anvil import AnvilProcess, start_anvil
from sim.chain.pyevm import PyEVMChain
from sim.chain.rpc import RpcChain
from sim.errors import ChainError, InputError
from tests.chain.conformance import T0, ChainConformance, ChainFactory, deploy_counter
from tests.tools import require


class AnvilPool:
    """Anvil nodes started on demand, each with a snapshot of its genesis to reset to."""

    def __init__(self, block_gas_limit: int = 30_000_000) -> None:
        self.block_gas_limit = block_gas_limit
        self.nodes: list[AnvilProcess] = []
        self.genesis: list[str] = []

    def fresh(self, index: int) -> str:
        """URL of node ``index`` (started if needed), back at its genesis with an empty pool."""
        while len(self.nodes) <= index:
            node = start_anvil(block_gas_limit=self.block_gas_limit, genesis_timestamp=T0)
            self.nodes.append(node)
            self.genesis.append(self._call(node.url, "evm_snapshot"))
        url = self.nodes[index].url
        assert self._call(url, "evm_revert", self.genesis[index]) is True
        self.genesis[index] = self._call(url, "evm_snapshot")
        self._call(url, "anvil_dropAllTransactions")
        return url

    @staticmethod
    def _call(url: str, method: str, *params: object) -> object:
        from web3 import HTTPProvider

        return HTTPProvider(url).make_request(method, list(params))["result"]  # type: ignore[arg-type]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="module")
def anvil_pool() -> Iterator[AnvilPool]:
    """Anvil nodes for this module (skips when no anvil binary is installed)."""
    require("anvil")
    pool = AnvilPool()
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def rpc_factory(anvil_pool: AnvilPool) -> ChainFactory:
    """Build RpcChains, each on its own freshly reset node."""
    used = 0

    def factory(seed: int | bytes, block_gas_limit: int) -> Chain:
        nonlocal used
        assert block_gas_limit == anvil_pool.block_gas_limit
        url = anvil_pool.fresh(used)
        used += 1
        return RpcChain(url, seed, block_gas_limit=block_gas_limit, genesis_timestamp=T0)

    return factory


class TestRpcConformance(ChainConformance):
    """Run the conformance suite on :class:`RpcChain` over anvil."""

    @pytest.fixture
    def chain_factory(self, rpc_factory: ChainFactory) -> ChainFactory:
        """Chains on anvil nodes."""
        return rpc_factory


def test_blocks_match_pyevm(rpc_factory: ChainFactory) -> None:
    """Per-transaction status, gas, logs and reasons equal pyevm's; so do the signed bytes."""
    rpc, py = rpc_factory(4, 30_000_000), PyEVMChain(4)
    for chain in (rpc, py):
        c = deploy_counter(chain)
        alice = chain.account("alice")
        for args in (("set", 7), ("bump",), ("set", 100), ("plain_revert",), ("sink",), ("bump",)):
            c.send(alice, *args, estimate_at=T0 + 60)
        chain.mine(T0 + 60)
    for n in (1, 2):
        a, b = rpc.block(n), py.block(n)
        assert [(r.status, r.gas_used, r.logs, r.revert_reason, r.return_data) for r in a.receipts] == [
            (r.status, r.gas_used, r.logs, r.revert_reason, r.return_data) for r in b.receipts
        ]
        assert (a.number, a.timestamp, a.gas_used) == (b.number, b.timestamp, b.gas_used)
        assert [rpc.raw_transaction(r.tx_hash) for r in a.receipts] == [
            py.raw_transaction(r.tx_hash) for r in b.receipts
        ]
    assert rpc.state_root() == py.state_root()
    assert rpc.block(2).block_hash != py.block(2).block_hash  # anvil: random prevrandao


def test_state_blobs_come_from_the_state_dump(rpc_factory: ChainFactory) -> None:
    """anvil's state dump gives the contracts' code and storage values, as pyevm's database does."""
    pytest.importorskip("pyrevm")
    from sim.chain.revm import RevmChain

    rpc = rpc_factory(1, 30_000_000)
    revm = RevmChain(1)  # its blobs are of the same kind: code and storage values
    for chain in (rpc, revm):
        counter = deploy_counter(chain, x0=0xC0FFEE)
        chain.mine()
    blobs = rpc.state_blobs()
    assert rpc.code_at(counter.address) in blobs
    assert (0xC0FFEE).to_bytes(32, "big") in blobs
    assert set(revm.state_blobs()) <= set(blobs)  # anvil also has its system contracts


def test_state_blobs_without_a_state_dump(rpc_factory: ChainFactory,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A node without anvil_dumpState raises StateUnavailable (its state is not readable over RPC)."""
    from sim.chain.rpc import RpcError
    from sim.errors import StateUnavailable

    rpc = rpc_factory(1, 30_000_000)
    assert isinstance(rpc, RpcChain)

    def refuse(method: str, params: list[object]) -> object:
        raise RpcError(method, -32601, "Method not found")

    monkeypatch.setattr(rpc, "_rpc", refuse)
    with pytest.raises(StateUnavailable, match="does not dump its state"):
        rpc.state_blobs()


def test_state_dump_that_fails_is_a_chain_error(rpc_factory: ChainFactory,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that has anvil_dumpState but fails it raises a ChainError, not StateUnavailable."""
    from sim.chain.rpc import RpcError
    from sim.errors import StateUnavailable

    rpc = rpc_factory(1, 30_000_000)

    def fail(method: str, params: list[object]) -> object:
        raise RpcError(method, -32603, "internal error")

    monkeypatch.setattr(rpc, "_rpc", fail)
    with pytest.raises(ChainError, match="internal error") as caught:
        rpc.state_blobs()
    assert not isinstance(caught.value, StateUnavailable)


def test_unreachable_or_bad_url() -> None:
    """A dead URL is a ChainError naming it; a non-HTTP URL is an InputError."""
    from sim.chain.anvil import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError, match=r"127\.0\.0\.1"):
        RpcChain(url, 1, timeout=2)
    with pytest.raises(InputError):
        RpcChain("ftp://example", 1)


def test_start_anvil_stops_cleanly(anvil_pool: AnvilPool) -> None:
    """start_anvil answers on loopback and is gone after the with block."""
    with start_anvil(genesis_timestamp=T0) as node:
        assert node.url.startswith("http://127.0.0.1:")
        chain = RpcChain(node.url, 1)
        assert chain.block_number == 0 and chain.timestamp == T0
    assert node.process.poll() is not None


def _deploy(argv: list[str]) -> int:
    """Run ``pmrsim deploy`` through a parser holding only that sub-command."""
    import argparse

    from sim.commands import deploy
    from sim.errors import InputError as _InputError

    parser = argparse.ArgumentParser(prog="pmrsim")
    deploy.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["deploy", *argv])
    try:
        return int(args.func(args))
    except _InputError as exc:
        print(f"pmrsim: error: {exc}")
        return 2


def test_deploy_command(anvil_pool: AnvilPool, capsys: pytest.CaptureFixture[str]) -> None:
    """``pmrsim deploy --rpc-url`` funds the admin, deploys, prints every address."""
    url = anvil_pool.fresh(0)
    assert _deploy(["--rpc-url", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == ["admin", "HospitalRegistry", "DoctorRegistry", "PatientRegistry", "PMRToken",
                     "LabReports", "AccessGrants", "IoMTAnchor"]
    chain = RpcChain(url, 0)
    for line in lines[1:]:
        address = bytes.fromhex(line.split()[1][2:])
        assert len(chain.code_at(address)) > 0


def test_deploy_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable or malformed URL exits 2 with one line."""
    from sim.chain.anvil import free_port

    assert _deploy(["--rpc-url", f"http://127.0.0.1:{free_port()}"]) == 2
    assert _deploy(["--rpc-url", "not-a-url"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith("pmrsim: error: --rpc-url") for line in out)


def test_packing_stops_at_first_misfit(rpc_factory: ChainFactory) -> None:
    """As on pyevm, a later small transaction does not jump a big one that did not fit."""
    rpc, py = rpc_factory(1, 30_000_000), PyEVMChain(1)
    packed = []
    for chain in (rpc, py):
        c = deploy_counter(chain)
        bob = chain.account("bob")
        chain.fund(bob.address)
        alice = chain.account("alice")
        hashes = [c.send(alice, "sink", gas=12_000_000) for _ in range(3)] + [c.send(bob, "bump")]
        first, second = chain.mine(), chain.mine()
        packed.append(([hashes.index(r.tx_hash) for r in first.receipts],
                       [hashes.index(r.tx_hash) for r in second.receipts], chain.state_root()))
    assert packed[0] == packed[1] and packed[0][:2] == ([0, 1], [2, 3])


def test_refused_transaction_is_dropped(rpc_factory: ChainFactory) -> None:
    """A queued transaction the node refuses at mining is dropped; the block still mines."""
    chain = rpc_factory(1, 30_000_000)
    assert isinstance(chain, RpcChain)
    c = deploy_counter(chain)
    acct = chain.account("alice")
    h = c.send(acct, "bump")
    chain.fund(acct.address, 0)  # cannot pay any more
    block = chain.mine()
    assert block.receipts == () and chain.pending() == () and h in chain.dropped
    with pytest.raises(ChainError, match="dropped"):
        chain.receipt(h)
    chain.fund(acct.address)
    assert c.transact(acct, "bump").ok
