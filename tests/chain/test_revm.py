"""The revm backend: conformance, plus what only it offers (dropped txs, no-trie mode)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyrevm", reason="pyrevm is not installed (the revm backend needs it)")

from sim.chain import Account, Chain
from sim.chain.revm import RevmChain
from sim.errors import ChainError, OutOfGas
from tests.chain.conformance import ChainConformance, ChainFactory, chain_blocks, deploy_counter


class TestRevmConformance(ChainConformance):
    """Run the conformance suite on :class:`RevmChain`."""

    @pytest.fixture
    def chain_factory(self) -> ChainFactory:
        """Build revm chains (state roots on)."""

        def factory(seed: int | bytes, block_gas_limit: int) -> Chain:
            return RevmChain(seed, block_gas_limit=block_gas_limit)

        return factory


class TestRevmBackgroundRootsConformance(ChainConformance):
    """The conformance suite again, with the state trie in a worker process."""

    @pytest.fixture
    def chain_factory(self) -> Iterator[ChainFactory]:
        """Build revm chains whose roots a worker computes; stop the workers afterwards."""
        made: list[Chain] = []

        def factory(seed: int | bytes, block_gas_limit: int) -> Chain:
            chain = RevmChain(seed, block_gas_limit=block_gas_limit, background_roots=True)
            made.append(chain)
            return chain

        yield factory
        for chain in made:
            chain.close()


def _story(chain: RevmChain) -> list[object]:
    """Deploy, call, mine, snapshot, revert, fund and forget history; what can be read after."""
    counter = deploy_counter(chain)
    alice = chain.account("alice")
    seen: list[object] = []
    for i in range(6):
        counter.send(alice, "set", i * 7 + 1)
        counter.send(alice, "bump")
        seen.append(chain.mine().number)
    snap = chain.snapshot()
    counter.send(alice, "set", 999)
    chain.mine()
    chain.revert(snap)
    chain.fund(chain.account("bob").address, 5 * 10**18)
    counter.send(alice, "bump")
    chain.mine()
    seen.append(chain_blocks(chain, with_hash=True))
    chain.forget_history(3)
    seen += [chain.state_root(), counter.call("x"), sorted(chain.state_blobs()),
             [chain.storage_at(counter.address, slot) for slot in range(3)]]
    return seen


def test_background_roots_give_the_same_chain() -> None:
    """Roots from the worker process: same blocks, hashes, roots, reads and blobs as inline."""
    inline = RevmChain(4)
    background = RevmChain(4, background_roots=True)
    try:
        assert background.defers_roots and not inline.defers_roots
        assert _story(background) == _story(inline)
    finally:
        background.close()


def test_background_roots_complete_blocks_on_demand() -> None:
    """mine() gives the block before its root; block(n) waits for it and chains the hashes."""
    reference = RevmChain(6)
    chain = RevmChain(6, background_roots=True)
    try:
        for c in (reference, chain):
            deploy_counter(c)
        mined = chain.mine()
        assert mined.state_root == b"" and mined.block_hash == b""
        reference.mine()
        assert chain.block(mined.number) == reference.block(mined.number)
        assert chain.block(mined.number - 1) == reference.block(mined.number - 1)
    finally:
        chain.close()


def test_background_root_worker_that_dies_is_a_chain_error() -> None:
    """A root worker killed under the chain gives a ChainError naming it, not a hang."""
    chain = RevmChain(8, background_roots=True)
    try:
        deploy_counter(chain)
        worker = chain._roots
        assert worker is not None
        worker._process.kill()
        worker._process.join()
        with pytest.raises(ChainError, match="state-root worker stopped"):
            chain.mine()
            chain.state_root()
    finally:
        chain.close()


def _signed_later_story(chain: RevmChain) -> tuple[list[object], list[bytes]]:
    """Sends with later=True across blocks, a snapshot and a revert; the chain and the hashes."""
    counter = deploy_counter(chain)
    alice, bob = chain.account("alice"), chain.account("bob")
    chain.fund(bob.address)
    chain.mine()
    sent: list[bytes] = []
    signed: dict[bytes, bytes] = {}

    def send(who: Account, fn: str, *args: int) -> None:
        sent.append(chain.send(who, counter.address, counter.calldata(fn, *args), later=True))

    for i in range(21):  # more than a chunk: some go to the worker, the rest are signed here
        send(alice if i % 3 else bob, "set", i)
    chain.mine()
    signed.update(chain.signed())
    send(alice, "bump")
    pending = chain.pending()  # signs what is queued
    signed.update(chain.signed())
    assert list(pending) == [signed.get(sent[-1], sent[-1])]
    snap = chain.snapshot()
    send(bob, "bump")
    chain.mine()
    chain.revert(snap)
    signed.update(chain.signed())
    chain.mine()
    hashes = [signed.get(h, h) for h in sent]
    raws = [chain.raw_transaction(h) for h in hashes]
    return [chain_blocks(chain, with_hash=True), chain.state_root(), raws], hashes


def test_background_signing_gives_the_same_chain() -> None:
    """Signatures from the worker process: the same bytes, hashes, blocks and roots as inline,
    and signed() maps every handle send(later=True) gave to its transaction's hash."""
    inline = RevmChain(9)
    background = RevmChain(9, background_signing=True)
    try:
        ours, our_hashes = _signed_later_story(background)
        theirs, their_hashes = _signed_later_story(inline)
        assert ours == theirs and our_hashes == their_hashes
        assert background.signed() == {} and inline.signed() == {}
    finally:
        background.close()


def test_background_signing_handles_are_not_hashes() -> None:
    """A handle is refused where a hash is expected; a refused send leaves the others whole."""
    chain = RevmChain(10, background_signing=True)
    try:
        counter = deploy_counter(chain)
        alice = chain.account("alice")
        handle = chain.send(alice, counter.address, counter.calldata("bump"), later=True)
        with pytest.raises(ChainError, match="signed\\(\\) maps it"):
            chain.raw_transaction(handle)
        with pytest.raises(OutOfGas):
            chain.send(alice, counter.address, counter.calldata("bump"), gas=10**9, later=True)
        block = chain.mine()
        (tx_hash,) = chain.signed().values()
        assert [r.tx_hash for r in block.receipts] == [tx_hash]
        assert chain.raw_transaction(tx_hash)[0] == 2
    finally:
        chain.close()


def test_signing_worker_failure_is_a_chain_error() -> None:
    """A key the worker cannot sign with gives a ChainError with its traceback, not a hang."""
    from sim.chain._revm_signer import Signer

    signer = Signer()
    try:
        for _ in range(Signer.CHUNK):  # a whole chunk: sent to the worker
            signer.add(b"\x00" * 32, b"\x01")
        with pytest.raises(ChainError, match="signing worker failed"):
            signer.collect()
    finally:
        signer.close()


def test_signing_worker_that_dies_is_a_chain_error() -> None:
    """A signing worker killed under the chain gives a ChainError naming it, not a hang."""
    from sim.chain._revm_signer import Signer

    chain = RevmChain(11, background_signing=True)
    try:
        counter = deploy_counter(chain)
        signer = chain._signer
        assert signer is not None
        signer._process.kill()
        signer._process.join()
        with pytest.raises(ChainError, match="signing worker stopped"):
            for _ in range(Signer.CHUNK):  # a whole chunk goes to the (dead) worker
                chain.send(chain.account("alice"), counter.address, counter.calldata("bump"),
                           later=True)
            chain.mine()
    finally:
        chain.close()


def test_bad_fee_transaction_is_dropped_not_fatal() -> None:
    """A queued transaction that can no longer pay is dropped at mining; the block still mines."""
    chain = RevmChain(1)
    c = deploy_counter(chain)
    acct = chain.account("alice")
    h = c.send(acct, "bump")
    chain.fund(acct.address, 0)
    block = chain.mine()
    assert block.receipts == () and chain.pending() == ()
    assert h in chain.dropped
    chain.fund(acct.address)
    assert c.transact(acct, "bump").ok


def test_without_state_roots() -> None:
    """state_roots=False: blocks carry a deterministic digest; state_root() refuses."""

    def run() -> list[bytes]:
        chain = RevmChain(3, state_roots=False)
        c = deploy_counter(chain)
        c.transact(chain.account("alice"), "set", 8)
        with pytest.raises(ChainError, match="state_roots=False"):
            chain.state_root()
        return [chain.block(n).state_root for n in range(chain.block_number + 1)]

    first = run()
    assert first == run() and len(set(first)) == len(first)


def test_signing_matches_py_evm() -> None:
    """The revm backend's hand-rolled signing gives py-evm's bytes and hash, for any shape."""
    from eth_typing import Address

    from sim.chain import _pyevm_support as sup
    from sim.chain._revm_tx import decode, intrinsic_gas, sign, unsigned
    from sim.chain.keys import derive_account, private_key_object

    acct = derive_account(1, "alice")
    cases = [
        (0, 10**9, 2 * 10**9, 21_000, b"\x11" * 20, 0, b""),
        (7, 10**9, 1_750_000_001, 500_000, b"\x22" * 20, 10**18, bytes(range(200))),
        (2**40, 1, 1, 30_000_000, b"", 5, b"\x00" * 70 + b"\x01"),
        (127, 0, 0x80, 0x7F, b"\x00" * 20, 2**255, b"\x80"),
    ]
    for nonce, tip, max_fee, gas, to, value, data in cases:
        ref = sup.TX_BUILDER.new_unsigned_dynamic_fee_transaction(
            31337, nonce, tip, max_fee, gas, Address(to), value, data, ()
        ).as_signed_transaction(private_key_object(acct.private_key))
        ours = sign(acct.private_key,
                    unsigned(acct.address, nonce, tip, max_fee, gas, to, value, data))
        assert ours.raw == ref.encode() and ours.hash == bytes(ref.hash)
        assert ours.intrinsic_gas == ref.intrinsic_gas == intrinsic_gas(to, data)
        assert decode(ours.raw) == ours


def test_trie_matches_py_trie() -> None:
    """The in-memory Merkle-Patricia trie gives py-trie's roots through inserts and deletes."""
    import random

    from eth_utils import keccak
    from trie import HexaryTrie

    from sim.chain._revm_trie import _delete, _put, root_hash

    rng = random.Random(5)
    ref = HexaryTrie({})
    ours = None
    keys = [keccak(i.to_bytes(4, "big")) for i in range(300)]
    keys += [keys[0][:31] + b"\x00", keys[0][:31] + b"\x01", keys[1][:20] + bytes(12)]
    for step in range(1_500):
        key = rng.choice(keys)
        if rng.random() < 0.3:
            ref.delete(key)
            ours = _delete(ours, key.hex())
        else:
            value = rng.randbytes(rng.choice([1, 5, 31, 40, 100]))
            ref.set(key, value)
            ours = _put(ours, key.hex(), value)
        if step % 50 == 0 or step > 1_450:
            assert root_hash(ours) == ref.root_hash
    for key in keys:
        ref.delete(key)
        ours = _delete(ours, key.hex())
    assert ours is None and root_hash(ours) == ref.root_hash


def test_raw_decoding_matches_py_evm() -> None:
    """send_raw's decoder agrees with py-evm on good transactions and refuses bad ones."""
    from sim.chain._revm_tx import _fast_decode, decode, sign, unsigned
    from sim.chain.keys import derive_account

    acct = derive_account(2, "bob")
    tx = sign(acct.private_key,
              unsigned(acct.address, 3, 10**9, 3 * 10**9, 90_000, b"\x33" * 20, 1, b"hi"))
    assert _fast_decode(tx.raw) == tx == decode(tx.raw)
    deploy = sign(acct.private_key, unsigned(acct.address, 0, 1, 1, 60_000, b"", 0, b"\x60" * 100))
    assert _fast_decode(deploy.raw) == deploy
    tampered = bytearray(tx.raw)
    tampered[-40] ^= 1  # inside r: another (or no) sender
    other = _fast_decode(bytes(tampered))
    assert other is None or other.sender != acct.address
    with pytest.raises(ChainError):
        decode(b"\x02garbage")
    with pytest.raises(ChainError):
        decode(tx.raw[:-1])


def test_reads_between_sends_see_the_head() -> None:
    """Reads and calls between queued sends see the head; the queued sends still estimate right."""
    chain = RevmChain(4)
    c = deploy_counter(chain)
    alice = chain.account("alice")
    h1 = c.send(alice, "bump")
    assert c.call("x") == 5 and chain.storage_at(c.address, 0) == 5
    h2 = c.send(alice, "bump")
    balance = chain.balance(alice.address)
    assert c.call("x") == 5 and chain.nonce(alice.address) == 3
    h3 = c.send(alice, "set", 1)
    chain.mine()
    assert [chain.receipt(h).ok for h in (h1, h2, h3)] == [True, True, True]
    assert c.call("x") == 1 and chain.balance(alice.address) < balance


def test_revert_restores_unmined_funding_and_mempool() -> None:
    """A snapshot taken with funding and transactions queued comes back whole."""
    chain = RevmChain(6)
    c = deploy_counter(chain)
    alice, bob = chain.account("alice"), chain.account("bob")
    chain.fund(bob.address, 77)
    h = c.send(alice, "bump")
    snap = chain.snapshot()
    root = chain.state_root()
    chain.fund(bob.address, 5)
    c.send(alice, "bump")
    chain.mine()
    chain.mine()
    chain.revert(snap)
    assert chain.balance(bob.address) == 77 and chain.pending() == (h,)
    assert chain.state_root() == root and c.call("x") == 5
    block = chain.mine()
    assert [r.tx_hash for r in block.receipts] == [h] and c.call("x") == 6


def test_refused_execution_leaves_no_trace() -> None:
    """A transaction revm refuses (value beyond the balance) changes nothing and breaks nothing."""
    from sim.chain._revm_exec import InvalidTransaction

    chain = RevmChain(8)
    c = deploy_counter(chain)
    alice = chain.account("alice")
    state = chain._state
    before = dict(state.accounts)
    with pytest.raises(InvalidTransaction):
        state.execute(alice.address, chain.nonce(alice.address), c.address, b"", 10**30,
                      100_000, 0, 0, b"\x00" * 20, None)
    assert state.accounts == before and state.evm.journal_depth == 0
    assert c.transact(alice, "bump").ok


class _NoAccounts:
    """The part of revm's State the trie reads for accounts: every account empty."""

    def account(self, address: bytes) -> tuple[int, int, bytes]:
        from sim.chain._revm_exec import EMPTY_CODE_HASH

        return (0, 0, EMPTY_CODE_HASH)


_ADDRS = [bytes([i]) * 20 for i in (1, 2, 3)]
_writes = st.lists(
    st.lists(st.tuples(st.sampled_from(_ADDRS),
                       st.one_of(st.integers(0, 6), st.integers(0, 2**256 - 1)),
                       st.one_of(st.just(0), st.integers(1, 300), st.integers(1, 2**256 - 1))),
             max_size=12),
    min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(blocks=_writes)
def test_trie_store_matches_dict_store(blocks: list[list[tuple[bytes, int, int]]]) -> None:
    """The state trie as the committed storage answers reads like plain dicts, block after block."""
    from sim.chain._revm_exec import DictStore
    from sim.chain._revm_trie import StateTrie

    trie, ref = StateTrie(), DictStore()
    seen: set[tuple[bytes, int]] = set()
    for writes in blocks:
        overlay: dict[bytes, dict[int, int]] = {}
        for address, slot, value in writes:
            overlay.setdefault(address, {})[slot] = value
            seen.add((address, slot))
        trie.update(_NoAccounts(), set(overlay), overlay)  # type: ignore[arg-type]
        ref.commit(overlay)
        assert all(trie.get(a, s) == ref.get(a, s) for a, s in seen)
        assert all(trie.has_storage(a) == ref.has_storage(a) for a in _ADDRS)
        assert sorted(trie.values()) == sorted(ref.values())


def test_reads_and_blobs_agree_with_and_without_state_roots() -> None:
    """With or without a state trie, the revm backend reads the same storage and the same blobs."""

    def run(roots: bool) -> tuple[list[int], list[bytes]]:
        chain = RevmChain(3, state_roots=roots)
        c = deploy_counter(chain)
        alice = chain.account("alice")
        for value in (8, 0, 11):
            c.transact(alice, "set", value)
        c.send(alice, "bump")  # pending: reads see the head
        reads = [chain.storage_at(c.address, slot) for slot in range(3)]
        chain.mine()
        reads += [chain.storage_at(c.address, slot) for slot in range(3)]
        return reads, sorted(chain.state_blobs())

    with_roots = run(True)
    assert with_roots == run(False)
    assert with_roots[0][0] == 11 and with_roots[0][3] == 12


def test_revert_to_a_forgotten_block_says_so() -> None:
    """A snapshot older than forget_history's cut is refused with a message naming the cut."""
    chain = RevmChain(9)
    counter = deploy_counter(chain)
    snap = chain.snapshot()
    for i in range(4):
        counter.send(chain.account("alice"), "set", i)
        chain.mine()
    chain.forget_history(chain.block_number - 1)
    with pytest.raises(ChainError, match="forgotten"):
        chain.revert(snap)
