"""Conformance tests every Chain backend must pass (eth-tester style).

A backend's test module subclasses :class:`ChainConformance` and provides the
``chain_factory`` fixture; capability flags switch off what a backend lacks.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import pytest

from sim.chain import Chain, Contract, make_chain
from sim.chain.abi import event_topic0, find_entry
from sim.errors import ChainError, InputError, OutOfGas, TransactionReverted
from tests.chain.contracts import counter

#: ``factory(seed, block_gas_limit)`` -> a fresh chain.
ChainFactory = Callable[[int | bytes, int], Chain]

T0 = 1_609_459_200  # the default genesis timestamp


def deploy_counter(chain: Chain, label: str = "alice", x0: int = 5) -> Contract:
    """Fund ``label`` and deploy the counter from it."""
    acct = chain.account(label)
    chain.fund(acct.address)
    bytecode, abi = counter()
    return Contract.deploy(chain, acct, bytecode, abi, x0)


def chain_blocks(chain: Chain, *, with_hash: bool = False) -> list[tuple[object, ...]]:
    """Every block of ``chain`` with its receipts, as comparable tuples (for backend comparisons)."""
    out: list[tuple[object, ...]] = []
    for n in range(chain.block_number + 1):
        b = chain.block(n)
        receipts = [
            (r.tx_hash, r.tx_index, r.sender, r.to, r.status, r.gas_used, r.logs,
             r.contract_address, r.revert_reason, r.return_data)
            for r in b.receipts
        ]
        out.append((b.number, b.timestamp, b.gas_used, b.gas_limit, b.state_root, receipts)
                   + ((b.block_hash,) if with_hash else ()))
    return out


class ChainConformance:
    """The behaviour of :class:`sim.chain.Chain`, backend independent."""

    #: The backend can roll back to a snapshot.
    supports_snapshot = True
    #: The backend accepts raw signed transactions (replay).
    supports_send_raw = True
    #: Receipts carry the decoded revert reason.
    supports_receipt_revert_reason = True

    @pytest.fixture
    def chain_factory(self) -> ChainFactory:
        """Subclasses return a factory for their backend."""
        raise NotImplementedError

    @pytest.fixture
    def chain(self, chain_factory: ChainFactory) -> Chain:
        """A fresh chain from seed 1 with the default block gas limit."""
        return chain_factory(1, 30_000_000)

    # -- accounts ---------------------------------------------------------
    def test_forgotten_history_raises_and_leaves_the_head(self, chain: Chain) -> None:
        """forget_history drops old blocks and receipts (or a backend keeps all); head and state go on."""
        c = deploy_counter(chain)
        alice = chain.account("alice")
        first = c.transact(alice, "set", 1)
        c.transact(alice, "set", 2)
        head, root = chain.block_number, chain.state_root()
        chain.forget_history(head)
        assert chain.block_number == head and chain.state_root() == root
        if chain.oldest_block:  # a backend that let go (rpc keeps everything)
            assert chain.oldest_block == head
            with pytest.raises(ChainError, match="forgotten"):
                chain.block(first.block_number)
            with pytest.raises(ChainError, match="forgotten"):
                chain.receipt(first.tx_hash)
        assert chain.block(head).number == head
        assert c.transact(alice, "set", 3).ok and c.call("x") == 3

    def test_close_lets_go_of_the_mined_records(self, chain: Chain) -> None:
        """Once closed, a chain holds none of its receipts (freed without a cyclic collection)."""
        c = deploy_counter(chain)
        receipt = c.transact(chain.account("alice"), "set", 1)
        held = weakref.ref(chain.receipt(receipt.tx_hash))
        del receipt
        chain.close()
        assert held() is None

    def test_accounts_are_deterministic(self, chain_factory: ChainFactory) -> None:
        """The same seed and label give the same key; another label or seed another."""
        a, b = chain_factory(1, 30_000_000), chain_factory(1, 30_000_000)
        c = chain_factory(2, 30_000_000)
        assert a.account("alice") == b.account("alice")
        assert a.account("alice").address != a.account("bob").address
        assert a.account("alice").address != c.account("alice").address
        assert len(a.account("alice").address) == 20
        assert "private_key" not in repr(a.account("alice"))

    def test_fund_sets_balance(self, chain: Chain) -> None:
        """fund() sets a balance at once and it survives mining."""
        alice = chain.account("alice")
        assert chain.balance(alice.address) == 0
        chain.fund(alice.address, 123)
        assert chain.balance(alice.address) == 123
        chain.fund(alice.address)
        assert chain.balance(alice.address) == 1_000 * 10**18
        chain.mine()
        assert chain.balance(alice.address) == 1_000 * 10**18

    def test_fund_changes_state_root_when_mined(self, chain: Chain) -> None:
        """A funding write is part of the next block's state root."""
        root0 = chain.state_root()
        chain.fund(chain.account("alice").address, 7)
        assert chain.state_root() == root0
        chain.mine()
        assert chain.state_root() != root0

    def test_unfunded_sender_is_a_chain_error(self, chain: Chain) -> None:
        """Sending without funds raises ChainError, not a py-evm exception."""
        with pytest.raises(ChainError, match="insufficient funds"):
            chain.send(chain.account("pauper"), chain.account("bob").address, value=1)

    # -- execution --------------------------------------------------------
    def test_deploy_call_transact(self, chain: Chain) -> None:
        """A deployed contract answers calls and changes state through transactions."""
        c = deploy_counter(chain)
        assert c.call("x") == 5
        assert c.call("owner").lower() == chain.account("alice").hex.lower()
        receipt = c.transact(chain.account("alice"), "set", 42)
        assert receipt.ok and receipt.revert_reason is None
        assert c.call("x") == 42
        assert c.decode_logs(receipt) == [
            ("Set", {"who": chain.account("alice").hex.lower(), "old": 5, "new": 42})
        ]
        assert len(chain.code_at(c.address)) > 0
        assert chain.storage_at(c.address, 0) == 42

    def test_state_blobs_hold_a_stored_value(self, chain: Chain) -> None:
        """state_blobs() lists the state (a distinctive stored value is in it) for the PII scan."""
        c = deploy_counter(chain, x0=0xC0FFEE5EED)
        chain.mine()
        assert any(b"\xc0\xff\xee\x5e\xed" in blob for blob in chain.state_blobs())
        assert c.call("x") == 0xC0FFEE5EED

    def test_estimate_sees_pending_transactions(self, chain: Chain) -> None:
        """A call queued after an unmined deploy is estimated against it and succeeds."""
        alice = chain.account("alice")
        chain.fund(alice.address)
        bytecode, abi = counter()
        deploy_hash = chain.send(alice, None, bytecode + (5).to_bytes(32, "big"))
        assert chain.nonce(alice.address) == 1
        block = chain.mine()
        address = chain.receipt(deploy_hash).contract_address
        assert address is not None and block.number == 1
        c = Contract(chain, address, abi)
        h1 = c.send(alice, "bump")
        h2 = c.send(alice, "bump")
        assert chain.pending() == (h1, h2)
        chain.mine()
        assert chain.receipt(h1).ok and chain.receipt(h2).ok
        assert chain.receipt(h2).return_data == (7).to_bytes(32, "big")

    def test_revert_reason_in_receipt(self, chain: Chain) -> None:
        """A reverted transaction is mined with status 0 and its decoded reason."""
        if not self.supports_receipt_revert_reason:
            pytest.skip("backend has no revert reasons in receipts")
        c = deploy_counter(chain)
        receipt = c.transact(chain.account("alice"), "set", 100)
        assert receipt.status == 0 and not receipt.ok
        assert receipt.revert_reason == "counter: too big"
        assert receipt.gas_used > 21_000
        plain = c.transact(chain.account("alice"), "plain_revert")
        assert plain.status == 0 and plain.revert_reason == ""
        assert c.call("x") == 5

    def test_revert_reason_in_call(self, chain: Chain) -> None:
        """call() raises TransactionReverted carrying the reason."""
        c = deploy_counter(chain)
        with pytest.raises(TransactionReverted) as info:
            c.call("set", 100)
        assert info.value.reason == "counter: too big"
        with pytest.raises(TransactionReverted) as plain:
            c.call("plain_revert")
        assert plain.value.reason == ""

    # -- blocks -----------------------------------------------------------
    def test_block_gas_limit_packing(self, chain: Chain) -> None:
        """Of three 12M-gas transactions under a 30M limit two fit; the third waits."""
        c = deploy_counter(chain)
        alice = chain.account("alice")
        hashes = [c.send(alice, "sink", gas=12_000_000) for _ in range(3)]
        first = chain.mine()
        assert [r.tx_hash for r in first.receipts] == hashes[:2]
        assert first.gas_used == 24_000_000
        assert chain.pending() == (hashes[2],)
        second = chain.mine()
        assert [r.tx_hash for r in second.receipts] == hashes[2:]
        assert second.number == first.number + 1
        assert all(r.status == 0 for r in first.receipts + second.receipts)

    def test_gas_limit_above_block_limit_is_rejected(self, chain: Chain) -> None:
        """A transaction that can never fit a block is refused at send()."""
        c = deploy_counter(chain)
        with pytest.raises(OutOfGas):
            c.send(chain.account("alice"), "bump", gas=chain.block_gas_limit + 1)

    def test_timestamps_set_by_caller(self, chain: Chain) -> None:
        """mine() takes the caller's timestamp, defaults to +1 and refuses going back."""
        assert chain.timestamp == T0
        assert chain.mine(T0 + 100).timestamp == T0 + 100
        assert chain.timestamp == T0 + 100
        assert chain.mine().timestamp == T0 + 101
        for bad in (T0 + 101, T0 + 50):
            with pytest.raises(ChainError):
                chain.mine(bad)
        assert chain.block_number == 2

    def test_receipt_gas_adds_up_to_block_gas(self, chain: Chain) -> None:
        """Per-transaction gas_used adds up to the block's and matches solo mining."""
        c = deploy_counter(chain)
        alice = chain.account("alice")
        hashes = [c.send(alice, "set", v) for v in (1, 2, 150)]
        block = chain.mine()
        assert [r.tx_hash for r in block.receipts] == hashes
        assert sum(r.gas_used for r in block.receipts) == block.gas_used
        assert [r.tx_index for r in block.receipts] == [0, 1, 2]
        solo = [c.transact(alice, "set", v).gas_used for v in (3, 4, 150)]
        assert solo == [r.gas_used for r in block.receipts]

    def test_logs_filtering(self, chain: Chain) -> None:
        """get_logs filters by emitter, first topic and block range."""
        c = deploy_counter(chain)
        d = deploy_counter(chain, "bob")
        r1 = c.transact(chain.account("alice"), "set", 1)
        r2 = d.transact(chain.account("bob"), "set", 2)
        r3 = c.transact(chain.account("alice"), "set", 3)
        topic = c.topic0("Set")
        assert topic == event_topic0(find_entry(c.abi, "event", "Set"))
        assert len(chain.get_logs(topic0=topic)) == 3
        mine = chain.get_logs(address=c.address)
        assert [log.tx_hash for log in mine] == [r1.tx_hash, r3.tx_hash]
        assert chain.get_logs(address=c.address, from_block=r2.block_number) == list(r3.logs)
        assert chain.get_logs(to_block=r1.block_number) == list(r1.logs)
        assert chain.get_logs(topic0=b"\x00" * 32) == []
        assert r1.logs[0].block_number == r1.block_number and r1.logs[0].log_index == 0

    def test_unknown_receipt_and_raw(self, chain: Chain) -> None:
        """Unknown hashes raise ChainError."""
        with pytest.raises(ChainError):
            chain.receipt(b"\x01" * 32)
        with pytest.raises(ChainError):
            chain.raw_transaction(b"\x01" * 32)

    # -- state ------------------------------------------------------------
    def test_snapshot_revert(self, chain: Chain) -> None:
        """revert() drops later blocks, receipts and queued transactions."""
        if not self.supports_snapshot:
            pytest.skip("backend has no snapshots")
        c = deploy_counter(chain)
        acct = chain.account("alice")
        snap = chain.snapshot()
        root, number, nonce = chain.state_root(), chain.block_number, chain.nonce(acct.address)
        r = c.transact(acct, "set", 9)
        late_snap = chain.snapshot()
        c.send(acct, "set", 10)
        chain.revert(snap)
        assert (chain.state_root(), chain.block_number) == (root, number)
        assert chain.nonce(acct.address) == nonce and chain.pending() == ()
        assert c.call("x") == 5
        with pytest.raises(ChainError):
            chain.receipt(r.tx_hash)
        again = c.transact(acct, "set", 11)
        assert again.block_number == number + 1 and c.call("x") == 11
        with pytest.raises(ChainError):
            chain.revert(late_snap)  # taken on the abandoned branch
        with chain.anchor():
            c.transact(acct, "set", 12)
        assert c.call("x") == 11

    def test_state_root_deterministic(self, chain_factory: ChainFactory) -> None:
        """Same seed and transactions give the same roots; another seed another root."""

        def run(seed: int) -> list[bytes]:
            ch = chain_factory(seed, 30_000_000)
            c = deploy_counter(ch)
            c.transact(ch.account("alice"), "set", 8, timestamp=T0 + 30)
            return [ch.block(n).state_root for n in range(ch.block_number + 1)]

        assert run(3) == run(3)
        assert run(3)[-1] != run(4)[-1]

    def test_replay_with_send_raw(self, chain_factory: ChainFactory) -> None:
        """Raw transactions replayed on a fresh chain give identical receipts and roots."""
        if not self.supports_send_raw:
            pytest.skip("backend cannot take raw transactions")
        a = chain_factory(5, 30_000_000)
        c = deploy_counter(a)
        c.send(a.account("alice"), "set", 1)
        c.send(a.account("alice"), "set", 500)
        a.mine(T0 + 60)
        b = chain_factory(5, 30_000_000)
        for n in range(1, a.block_number + 1):
            block = a.block(n)
            if n == 1:
                b.fund(a.account("alice").address)
            for r in block.receipts:
                b.send_raw(a.raw_transaction(r.tx_hash))
            assert b.block(b.mine(block.timestamp).number) == block
        assert b.state_root() == a.state_root()

    def test_nonce_errors_are_chain_errors(self, chain: Chain) -> None:
        """A replayed or out-of-order raw transaction raises ChainError."""
        if not self.supports_send_raw:
            pytest.skip("backend cannot take raw transactions")
        c = deploy_counter(chain)
        h = c.send(chain.account("alice"), "bump")
        raw = chain.raw_transaction(h)
        with pytest.raises(ChainError, match="nonce"):
            chain.send_raw(raw)
        chain.mine()
        with pytest.raises(ChainError, match="nonce"):
            chain.send_raw(raw)
        with pytest.raises(ChainError):
            chain.send_raw(b"\x02garbage")

    def test_make_chain_rejects_unknown_backend(self) -> None:
        """An unknown backend name is an InputError naming the known ones."""
        with pytest.raises(InputError, match="pyevm"):
            make_chain("nope", seed=1)

    def test_estimate_at_the_mining_timestamp(self, chain: Chain) -> None:
        """A path that depends on block.timestamp is estimated at the given timestamp."""
        from tests.chain.contracts import TIMELOCK_SRC, compile_vyper

        acct = chain.account("alice")
        chain.fund(acct.address)
        bytecode, abi = compile_vyper(TIMELOCK_SRC)
        lock = Contract.deploy(chain, acct, bytecode, abi, T0 + 1_000)
        early = lock.transact(acct, "work")  # before the unlock time: cheap revert
        assert early.revert_reason == "timelock: locked"
        late = lock.transact(acct, "work", timestamp=T0 + 2_000)
        assert late.ok and lock.call("done") == 20
