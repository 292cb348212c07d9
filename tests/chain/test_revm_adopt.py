"""The revm backend mines a block from its pending state when that is provably what mining would do.

``send`` with an estimate runs the transaction on the pending state (a
trial with the largest affordable gas limit, settled as it is when the code
it ran cannot see its gas limit, else a run with the signed limit, kept when
it did the same); ``mine`` then adopts the pending state and
its recorded outcomes instead of executing the mempool again, and falls back
to executing it otherwise. Either way the chain must be the one py-evm
builds, and the one a raw replay (no estimates, no pending state) builds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("pyrevm", reason="pyrevm is not installed (the revm backend needs it)")

from sim.chain import Chain, Contract
from sim.chain._mempool import PRIORITY_FEE
from sim.chain._revm_exec import _canonical, _comparable, _match, _walk
from sim.chain.pyevm import PyEVMChain
from sim.chain.revm import RevmChain
from tests.chain.conformance import chain_blocks, deploy_counter
from tests.chain.contracts import compile_vyper

#: A contract whose effects depend on the gas limit it runs with (``msg.gas``).
GAS_SRC = """
# pragma version ~=0.4.3
g: public(uint256)
n: public(uint256)
slots: HashMap[uint256, uint256]


@external
def note():
    self.g = msg.gas
    self.n += 1


@external
def branch():
    if msg.gas > 1_000_000:
        for i: uint256 in range(8):
            self.slots[i] = self.n + i + 1
    self.n += 1


@external
def follow():
    if self.g > 1_000_000:
        for i: uint256 in range(8):
            self.slots[100 + i] = i + 1
    self.n += 1
"""


@pytest.fixture
def adoptions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count the blocks mined by adopting the pending state ([adopted, executed])."""
    counts = [0, 0]
    adopt, execute = RevmChain._adopt, RevmChain._execute_mempool

    def spy_adopt(self: RevmChain, *args: Any) -> Any:
        counts[0] += 1
        return adopt(self, *args)

    def spy_execute(self: RevmChain, *args: Any) -> Any:
        if self.pending():
            counts[1] += 1
        return execute(self, *args)

    monkeypatch.setattr(RevmChain, "_adopt", spy_adopt)
    monkeypatch.setattr(RevmChain, "_execute_mempool", spy_execute)
    yield counts


def _replay(chain: RevmChain, seed: int, funded: dict[int, tuple[str, ...]]) -> RevmChain:
    """A fresh revm chain fed ``chain``'s blocks with ``send_raw`` (no estimates, no pending state).

    ``funded`` names the accounts funded before each block, as on ``chain``.
    """
    other = RevmChain(seed)
    for n in range(1, chain.block_number + 1):
        for label in funded.get(n, ()):
            other.fund(other.account(label).address)
        block = chain.block(n)
        for r in block.receipts:
            other.send_raw(chain.raw_transaction(r.tx_hash))
        other.mine(block.timestamp)
    return other


def _story(chain: Chain) -> Contract:
    """Several blocks of estimated sends: logs, reverts, value transfers, same-sender runs."""
    c = deploy_counter(chain)
    alice, bob, carol = chain.account("alice"), chain.account("bob"), chain.account("carol")
    chain.fund(bob.address)
    t = chain.timestamp
    for k in range(1, 5):
        at = t + 12 * k
        c.send(alice, "set", 10 + k, estimate_at=at)
        c.send(bob, "bump", estimate_at=at)
        c.send(alice, "set", 500, estimate_at=at)  # reverts with a reason
        chain.send(bob, carol.address, value=10**15 + k, estimate_at=at)
        c.send(alice, "bump", estimate_at=at)
        chain.mine(at)
    return c


def test_adopted_blocks_equal_pyevm_and_a_raw_replay(adoptions: list[int]) -> None:
    """Blocks mined from the pending state equal py-evm's and those of a send_raw replay, hash and all."""
    rv = RevmChain(5)
    _story(rv)
    assert adoptions == [5, 0]  # the deployment and the four blocks of sends
    py = PyEVMChain(5)
    _story(py)
    assert chain_blocks(rv) == chain_blocks(py)
    replayed = _replay(rv, 5, {1: ("alice",), 2: ("bob",)})
    assert adoptions == [5, 5]  # the replay executed its blocks
    assert chain_blocks(replayed, with_hash=True) == chain_blocks(rv, with_hash=True)


def _both(run: Callable[[Chain], object], seed: int = 9
          ) -> tuple[RevmChain, PyEVMChain, object, object]:
    """Play ``run`` on a revm and a py-evm chain of ``seed``: (chains, results)."""
    rv, py = RevmChain(seed), PyEVMChain(seed)
    return rv, py, run(rv), run(py)


def test_funding_between_send_and_mine(adoptions: list[int]) -> None:
    """Funding after a send drops the pending state; a later send rebuilds it and the block adopts it."""

    def run(chain: Chain) -> object:
        c = deploy_counter(chain)
        alice, bob = chain.account("alice"), chain.account("bob")
        chain.fund(bob.address)
        at = chain.timestamp + 12
        c.send(alice, "bump", estimate_at=at)
        chain.fund(bob.address, 3 * 10**18)  # funding between send and mine
        c.send(bob, "set", 42, estimate_at=at)  # rebuilds the pending state
        chain.fund(chain.account("dave").address, 7)
        chain.mine(at)  # pending state dropped by the funding: executed
        c.send(alice, "bump", estimate_at=at + 12)
        chain.fund(alice.address, 10**19)  # the sender's own balance changes
        c.send(bob, "bump", estimate_at=at + 12)
        chain.mine(at + 12)  # rebuilt from the mempool with the signed limits: adopted
        return c.call("x"), chain.balance(alice.address), chain.balance(bob.address)

    rv, py, a, b = _both(run)
    assert a == b
    assert chain_blocks(rv) == chain_blocks(py)
    assert adoptions == [2, 1]


def test_reads_between_send_and_mine(adoptions: list[int]) -> None:
    """A call or read between send and mine sees the head; the block still adopts the pending state."""

    def run(chain: Chain) -> object:
        c = deploy_counter(chain)
        alice = chain.account("alice")
        at = chain.timestamp + 12
        c.send(alice, "set", 7, estimate_at=at)
        seen = [c.call("x"), chain.storage_at(c.address, 0), chain.nonce(alice.address)]
        c.send(alice, "bump", estimate_at=at)
        seen.append(c.call("x"))  # leaves the head state in place for mine()
        chain.mine(at)
        seen.append(c.call("x"))
        return seen

    rv, py, a, b = _both(run)
    assert a == b == [5, 5, 2, 5, 8]
    assert chain_blocks(rv) == chain_blocks(py)
    assert adoptions == [2, 0]


def test_snapshot_and_revert_across_an_adopted_block(adoptions: list[int]) -> None:
    """Reverting past an adopted block restores state, root, mempool and funding; remining matches."""
    chain = RevmChain(11)
    c = deploy_counter(chain)
    alice, bob = chain.account("alice"), chain.account("bob")
    chain.fund(bob.address, 10**18)
    at = chain.timestamp + 12
    h1 = c.send(alice, "bump", estimate_at=at)
    snap = chain.snapshot()
    root, balance = chain.state_root(), chain.balance(bob.address)
    c.send(bob, "set", 3, estimate_at=at)
    first = chain.mine(at)
    c.send(alice, "bump", estimate_at=at + 12)
    chain.mine(at + 12)
    assert adoptions == [3, 0] and c.call("x") == 4
    chain.revert(snap)
    assert chain.state_root() == root and chain.pending() == (h1,)
    assert chain.balance(bob.address) == balance and c.call("x") == 5
    c.send(bob, "set", 3, estimate_at=at)
    again = chain.mine(at)
    assert again.block_hash == first.block_hash and c.call("x") == 3
    py = PyEVMChain(11)
    pc = deploy_counter(py)
    py.fund(py.account("bob").address, 10**18)
    pc.send(py.account("alice"), "bump", estimate_at=at)
    pc.send(py.account("bob"), "set", 3, estimate_at=at)
    assert py.mine(at).state_root == first.state_root


def test_blocks_that_do_not_fit_fall_back() -> None:
    """A mempool over the block gas limit is executed (packed over several blocks) as py-evm does."""

    def run(chain: Chain) -> tuple[int, int, int]:
        c = deploy_counter(chain)
        alice, bob = chain.account("alice"), chain.account("bob")
        chain.fund(bob.address)
        at = chain.timestamp + 12
        for i in range(16):
            c.send(alice if i % 2 else bob, "set", i, estimate_at=at)
        first = chain.mine(at)
        while chain.pending():
            chain.mine()
        return c.call("x"), len(first.receipts), chain.block_number

    rv, py = RevmChain(13, block_gas_limit=300_000), PyEVMChain(13, block_gas_limit=300_000)
    x, first, blocks = run(rv)
    assert run(py) == (x, first, blocks) and x == 15 and first < 16 and blocks > 2
    assert chain_blocks(rv) == chain_blocks(py)


def test_gas_dependent_runs_are_not_adopted(adoptions: list[int]) -> None:
    """A run whose effects depend on the gas limit is re-executed; later estimates see the trial's state."""
    bytecode, abi = compile_vyper(GAS_SRC)

    def run(chain: Chain) -> object:
        alice = chain.account("alice")
        chain.fund(alice.address)
        c = Contract.deploy(chain, alice, bytecode, abi)
        at = chain.timestamp + 12
        hashes = [c.send(alice, "note", estimate_at=at), c.send(alice, "follow", estimate_at=at)]
        chain.mine(at)
        hashes.append(c.send(alice, "branch", estimate_at=at + 12))
        chain.mine(at + 12)
        return hashes, c.call("g"), c.call("n")

    rv, py, a, b = _both(run)
    assert a == b  # same signed transactions: the estimates saw the same pending states
    assert chain_blocks(rv) == chain_blocks(py)
    assert adoptions == [1, 2]  # only the deployment was adopted


def test_unaffordable_signed_limit_is_dropped_as_before(adoptions: list[int]) -> None:
    """A sender who can afford the trial but not the signed gas limit: trial state kept, dropped at mining."""
    chain = RevmChain(19)
    c = deploy_counter(chain)
    carol, bob = chain.account("carol"), chain.account("bob")
    chain.fund(bob.address)
    chain.mine()
    at = chain.timestamp + 12
    price = chain._next_block(at)[2] + PRIORITY_FEE
    # enough for the trial of "bump" (26k gas), not for its signed limit (38k)
    chain.fund(carol.address, 30_000 * price)
    h = c.send(carol, "bump", estimate_at=at)
    assert chain._pending_runs is None  # the pending state holds the trial's run, not adoptable
    assert chain.storage_at(c.address, 0) == 5  # reads see the head
    h2 = c.send(bob, "set", 1, estimate_at=at)  # estimated on the trial's state, as before
    block = chain.mine(at)
    assert [r.tx_hash for r in block.receipts] == [h2] and h in chain.dropped
    assert c.call("x") == 1 and adoptions == [1, 1]


def test_send_raw_and_fixed_gas_join_the_pending_state(adoptions: list[int]) -> None:
    """Raw and fixed-gas sends queued over a pending state run there too, and the block adopts them."""
    signer = RevmChain(17)
    c0 = deploy_counter(signer)
    raw = signer.raw_transaction(c0.send(signer.account("alice"), "set", 9, gas=80_000))

    def run(chain: Chain) -> object:
        c = deploy_counter(chain)
        alice, bob = chain.account("alice"), chain.account("bob")
        chain.fund(bob.address)
        at = chain.timestamp + 12
        hashes = [c.send(bob, "bump", estimate_at=at), chain.send_raw(raw),
                  c.send(bob, "set", 1, gas=60_000), c.send(alice, "bump", estimate_at=at)]
        chain.mine(at)
        return hashes, c.call("x")

    rv, py, a, b = _both(run, 17)
    assert a == b
    assert chain_blocks(rv) == chain_blocks(py)
    assert adoptions == [3, 0]  # the signer's deployment, then the two blocks


def _journal(accounts: list[tuple[str, int, list[tuple[int, int, int]]]]) -> str:
    """A pyrevm-shaped journal text (comparable part) for :func:`_match` tests."""
    items = []
    for address, balance, slots in accounts:
        storage = ", ".join(
            f"{k}: StorageSlot {{ previous_or_original_value: {o}, present_value: {p} }}"
            for k, o, p in slots
        )
        code = ("None" if not slots else
                'Some(Bytecode { bytecode: 0x6001, state: Analysed { len: 2, jump_map: '
                'JumpMap { map: "00" } } })')
        items.append(
            f"{address}: Account {{ info: AccountInfo {{ balance: {balance}, nonce: 1, "
            f"code_hash: 0x{'ab' * 32}, code: {code} }}, storage: {{{storage}}}, "
            f"status: AccountStatus(Touched) }}"
        )
    return ("JournaledState { state: {" + ", ".join(items) + "}, transient_storage: {}, "
            "logs: [], depth: 1, journal: [[]]")


def test_journal_match_ignores_only_slot_order_and_the_upfront_payment() -> None:
    """Two runs match when their journals differ by slot order and the sender's upfront gas, only."""
    sender, other = "0x" + "11" * 20, "0x" + "22" * 20
    slots = [(1, 0, 5), (2, 7, 8), (3, 3, 3)]
    trial = _journal([(sender, 1_000, []), (other, 0, slots)])
    same = _journal([(sender, 1_250, []), (other, 0, [slots[2], slots[0], slots[1]])])
    assert _comparable(trial + ", spec: LATEST, warm: {0x01, 0x02} }") == trial
    assert _walk(same) is not None and len(_walk(same) or []) == 2
    assert _match(trial, same, sender, 250) == _walk(same)
    assert _match(trial, same, sender, 249) is None  # the upfront payments differ otherwise
    assert _match(trial, same, other, 250) is None  # not the sender's balance
    changed = _journal([(sender, 1_250, []), (other, 0, [slots[2], (1, 0, 6), slots[1]])])
    assert _match(trial, changed, sender, 250) is None  # a slot's value
    swapped = _journal([(sender, 1_250, []), (other, 0, [(1, 0, 8), (2, 7, 5), slots[2]])])
    assert _match(trial, swapped, sender, 250) is None  # values swapped between slots
    moved = _journal([(other, 0, slots), (sender, 1_250, [])])
    assert _match(trial, moved, sender, 250) == _walk(moved)  # account order: canonical compare
    assert _canonical(moved) is not None and _canonical(moved) != _canonical(changed)
    assert _match(trial, trial[:-3], sender, 0) is None


@pytest.mark.parametrize(("code", "oblivious"), [
    ("6001600055", True),            # PUSH1 1 PUSH1 0 SSTORE
    ("5a600055", False),             # GAS PUSH1 0 SSTORE: the limit is stored
    ("60006000600060006000735a5af1", True),  # PUSH20 data holding 0x5a, then GAS CALL
    ("5afa", True),                  # GAS STATICCALL: the gas argument of a call
    ("600031", False),               # BALANCE
    ("5a", False),                   # GAS at the end
    ("7f" + "31" * 32 + "00", True),  # BALANCE bytes only inside PUSH32 data
    ("6000ff", False),               # SELFDESTRUCT
    ("0031", True),                  # BALANCE after STOP: unreachable (a data section)
    ("fd5b31", False),               # ... until a JUMPDEST makes it reachable again
    ("00615b3131", True),            # a 0x5b inside push data is no JUMPDEST
    ("6000565a00", True),            # GAS after JUMP, never jumped to
])
def test_gas_oblivious_decodes_as_the_evm(code: str, oblivious: bool) -> None:
    """gas_oblivious decodes as the EVM and flags reachable BALANCE, CREATE, SELFDESTRUCT, lone GAS."""
    from sim.chain._revm_exec import gas_oblivious

    assert gas_oblivious(bytes.fromhex(code)) is oblivious


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count estimates kept from their trial alone ([settled, replayed])."""
    from sim.chain._revm_exec import State

    counts = [0, 0]
    settle, replay = State.settle_trial, State.replay

    def spy_settle(self: State, *args: Any) -> Any:
        out = settle(self, *args)
        counts[0] += out is not None
        return out

    def spy_replay(self: State, *args: Any) -> Any:
        counts[1] += 1
        return replay(self, *args)

    monkeypatch.setattr(State, "settle_trial", spy_settle)
    monkeypatch.setattr(State, "replay", spy_replay)
    yield counts


def test_gas_oblivious_trials_settle_without_a_second_run(settled: list[int]) -> None:
    """Sends to code that cannot see its gas limit skip the second run; the chain is still py-evm's."""
    rv = RevmChain(5)
    _story(rv)
    # the counter's calls and reverts and the plain transfers settle; the deployment runs again
    assert settled[0] >= 12 and settled[1] == 1
    py = PyEVMChain(5)
    _story(py)
    assert chain_blocks(rv) == chain_blocks(py)


def test_shipped_contracts_are_gas_oblivious() -> None:
    """Every shipped contract settles from its trial (Vyper's GAS feeds its calls only)."""
    from sim.chain._revm_exec import gas_oblivious
    from sim.contracts import load_artifacts

    for name, artifact in load_artifacts().items():
        assert gas_oblivious(bytes(artifact.runtime_bytecode)), name


def test_gas_reading_code_is_run_again(settled: list[int]) -> None:
    """A contract reading msg.gas is never settled from its trial: the signed limit is run."""

    def run(chain: Chain) -> object:
        bytecode, abi = compile_vyper(GAS_SRC)
        alice = chain.account("alice")
        chain.fund(alice.address)
        c = Contract.deploy(chain, alice, bytecode, abi)
        at = chain.timestamp + 12
        c.send(alice, "note", estimate_at=at)
        c.send(alice, "follow", estimate_at=at)
        chain.mine(at)
        return c.call("g"), c.call("n")

    rv, py, a, b = _both(run)
    assert a == b and settled[1] == 2 and settled[0] == 0
    assert chain_blocks(rv) == chain_blocks(py)
