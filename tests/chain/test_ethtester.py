"""The ethtester backend: conformance, plus agreement with pyevm on genesis, signing and blocks."""

from __future__ import annotations

import pytest

from sim.chain import Chain, Contract
from sim.chain.ethtester import EthTesterChain
from sim.chain.pyevm import PyEVMChain
from sim.errors import ChainError
from tests.chain.conformance import T0, ChainConformance, ChainFactory, deploy_counter


class TestEthTesterConformance(ChainConformance):
    """Run the conformance suite on :class:`EthTesterChain`."""

    @pytest.fixture
    def chain_factory(self) -> ChainFactory:
        """Build eth-tester chains directly (the lead registers the backend name later)."""

        def factory(seed: int | bytes, block_gas_limit: int) -> Chain:
            return EthTesterChain(seed, block_gas_limit=block_gas_limit)

        return factory


def _counter_run(chain: Chain) -> Contract:
    """Deploy the counter and run a mixed block (ok, revert, return data) at fixed times."""
    c = deploy_counter(chain)
    alice = chain.account("alice")
    for args in (("set", 7), ("bump",), ("set", 100), ("plain_revert",), ("bump",)):
        c.send(alice, *args, estimate_at=T0 + 60)
    chain.mine(T0 + 60)
    return c


def test_genesis_and_chain_id_match_pyevm() -> None:
    """Same genesis block; transactions signed for chain id 31337 are accepted."""
    et, py = EthTesterChain(3), PyEVMChain(3)
    assert et.block(0) == py.block(0)
    assert et.tester.backend.chain.chain_id == 31337
    assert et.name == "ethtester"


def test_blocks_identical_to_pyevm() -> None:
    """Same transactions give identical blocks: receipts, gas, logs, roots and hashes."""
    et, py = EthTesterChain(4), PyEVMChain(4)
    _counter_run(et), _counter_run(py)
    assert et.block_number == py.block_number == 2
    for n in range(3):
        assert et.block(n) == py.block(n), n
    assert [r.revert_reason for r in et.block(2).receipts] == [
        None, None, "counter: too big", "", None,
    ]
    assert et.block(2).receipts[4].return_data == (9).to_bytes(32, "big")
    for n in range(1, 3):
        for r in et.block(n).receipts:
            assert et.raw_transaction(r.tx_hash) == py.raw_transaction(r.tx_hash)


def test_funding_is_a_state_write_not_a_transaction() -> None:
    """fund() adds no transaction and changes the root exactly as pyevm's does."""
    et, py = EthTesterChain(5), PyEVMChain(5)
    for chain in (et, py):
        chain.fund(chain.account("alice").address, 10**18)
        chain.fund(chain.account("bob").address, 5)
        chain.mine(T0 + 12)
    assert et.block(1) == py.block(1) and et.block(1).receipts == ()
    assert et.tester.get_balance(et.account("bob").hex) == 5


def test_eth_tester_reads_follow_reverts() -> None:
    """After revert(), eth-tester's own view of the head is the snapshot's block."""
    chain = EthTesterChain(6)
    c = deploy_counter(chain)
    snap = chain.snapshot()
    c.transact(chain.account("alice"), "set", 9)
    c.transact(chain.account("alice"), "set", 10)
    chain.revert(snap)
    assert chain.tester.get_block_by_number("latest")["number"] == chain.block_number == 1
    assert chain.storage_at(c.address, 0) == 5
    receipt = c.transact(chain.account("alice"), "set", 11)
    assert receipt.ok and receipt.block_number == 2 and chain.storage_at(c.address, 0) == 11


def test_dropped_transaction_is_not_fatal() -> None:
    """A queued transaction py-evm refuses at mining is dropped (as on pyevm)."""
    chain = EthTesterChain(1)
    c = deploy_counter(chain)
    acct = chain.account("alice")
    h = c.send(acct, "bump")
    chain.fund(acct.address, 0)
    block = chain.mine()
    assert block.receipts == () and chain.pending() == () and h in chain.dropped
    with pytest.raises(ChainError, match="dropped"):
        chain.receipt(h)
    chain.fund(acct.address)
    assert c.transact(acct, "bump").ok


def test_state_blobs_hold_storage() -> None:
    """state_blobs() exposes the database values (trie nodes) for the PII scan."""
    chain = EthTesterChain(1)
    deploy_counter(chain)
    blobs = chain.state_blobs()
    assert blobs and any(chain.account("alice").address in b for b in blobs)


def test_state_blobs_raise_when_the_database_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """If py-evm's database under eth-tester moves, state_blobs() raises a ChainError, not []."""
    from sim.errors import ChainError

    chain = EthTesterChain(1)
    deploy_counter(chain)
    monkeypatch.setattr(chain._evm.chaindb.db, "wrapped_db", object())
    with pytest.raises(ChainError, match="cannot read py-evm's database"):
        chain.state_blobs()
