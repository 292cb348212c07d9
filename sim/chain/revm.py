"""The scale backend: revm (Rust) through pyrevm, with py-evm's transactions, fees and gas.

Same contract as :class:`sim.chain.pyevm.PyEVMChain` (see its module
docstring); what differs is how:

* **Transactions** are EIP-1559, signed with coincurve into the same bytes
  and hashes as the pyevm backend's (:mod:`sim.chain._revm_tx`, checked
  against py-evm in the tests); :meth:`RevmChain.send_raw` decodes them and
  recovers the sender (py-evm decodes any other transaction type). revm
  executes the decoded fields (recovered sender, gas, value, data).
* **Execution**: pyrevm 0.3 keeps one revm journal open across calls, so each
  transaction runs in a journal snapshot whose effects are read back and
  settled into revm's database (:mod:`sim.chain._revm_exec`): warm/cold
  access and SSTORE original values are per transaction, and gas equals
  py-evm's.
* **Fees** are charged here, not by revm (pyrevm forces a zero base fee): the
  sender pays ``gas_used * min(max_fee, base_fee + tip)``, the coinbase (the
  zero address, as in the pyevm backend) gets ``gas_used * tip``; the upfront
  ``gas * price`` is held during execution, as py-evm does. Base fees follow
  EIP-1559 from a 1 gwei genesis, as py-evm's; validity (fee cap, balance at
  the effective price, nonce) is py-evm's.
* **Pending state**: trial executions of queued transactions (gas estimation)
  are an undo layer on top of the head state; reads and calls see the head
  (the layer is undone and redone by writes when they alternate). An
  estimate runs the transaction with the largest affordable gas limit (a
  trial, forgotten). When every contract it touched is gas-oblivious (no
  BALANCE, no GAS but as a call's gas argument, no CREATE or SELFDESTRUCT)
  and the signed limit leaves the estimate's headroom, the trial is
  settled as the run at the signed limit (:meth:`State.settle_trial`, which
  says why that is exact); otherwise it runs again with the limit it is
  signed with, and that second run is kept when it provably did the same
  (same outcome, same journal but for the upfront gas payment,
  :meth:`State.replay`), else the trial's effects are kept. When every
  queued transaction ran on the pending state with its own limit, for the
  very block :meth:`RevmChain.mine` then mines (number,
  time, base fee), valid and within the block gas limit, ``mine`` adopts
  the pending state and the recorded outcomes instead of executing the
  mempool again; otherwise it executes it on the head state, as always.
* **State roots** (``state_roots=True``, the default) are real
  Merkle-Patricia roots, maintained incrementally from the accounts and
  slots each block wrote (:mod:`sim.chain._revm_trie`), equal to the pyevm
  backend's; they cost a quarter to a third of the chain's own throughput
  on the tour's mix (``benchmarks/bench_revm.py``), little of a simulation's.
  With ``state_roots=False`` a block's ``state_root`` is a chained
  digest of what it wrote (deterministic, not a trie root) and
  :meth:`RevmChain.state_root` raises :class:`~sim.errors.ChainError`.
  With ``background_roots=True`` the trie lives in a worker process
  (:mod:`sim.chain._revm_roots`): ``mine`` returns a block whose root and
  hash are filled in later (``defers_roots``), :meth:`RevmChain.block` and
  :meth:`RevmChain.state_root` wait for them; the roots are the same.
  Call :meth:`RevmChain.close` to stop the worker.
* **Signing in the background** (``background_signing=True``): a
  transaction sent with ``later=True`` is queued under a provisional handle
  while a worker process signs it (:mod:`sim.chain._revm_signer`); the
  chain takes the signatures, in order, before it mines, lists pending
  transactions or takes a snapshot, and :meth:`RevmChain.signed` maps the
  handles to the hashes. The bytes and hashes are those of signing at once.
* **Block hashes** are a digest of the block (parent hash, number, time, gas,
  state root, transaction hashes), not an RLP header hash.
* **State** is mirrored in Python (accounts, slots, code): balances, nonces,
  storage and code reads, state roots and :meth:`RevmChain.state_blobs` use
  the mirror, so reads never touch revm's journal.

Known differences from py-evm inside contracts (pmrsim's contracts use none
of them): ``BASEFEE`` and ``GASPRICE`` read 0 and ``BLOCKHASH`` gives revm's
stand-in hashes, because pyrevm's ``message_call`` fixes them; a
SELFDESTRUCT of a contract created in the same transaction clears it, as
Cancun says, but is untested. Transactions with an access list are refused.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyrevm import EVM, BlockEnv, CfgEnv, Env

from sim.chain._mempool import GAS_MARGIN, PRIORITY_FEE, Mempool, PoolSnapshot, hex_addr
from sim.chain._revm_exec import (
    EMPTY_CODE_HASH,
    DictStore,
    InvalidTransaction,
    Layer,
    Outcome,
    State,
    Trial,
)
from sim.chain._revm_roots import RemoteStore, RootWorker
from sim.chain._revm_signer import Signer
from sim.chain._revm_tx import (
    SignedTx,
    create_address,
    decode,
    intrinsic_gas,
    sign,
    unsigned,
)
from sim.chain.abi import decode_revert_reason
from sim.chain.base import (
    CHAIN_ID,
    DEFAULT_BLOCK_GAS_LIMIT,
    DEFAULT_FUNDING_WEI,
    DEFAULT_GENESIS_TIMESTAMP,
    Account,
    Block,
    Chain,
    Log,
    Receipt,
)
from sim.chain.records import MinedRecords
from sim.errors import ChainError, InputError, TransactionReverted
from sim.hashing import keccak256 as keccak

#: revm's name of the pinned fork (:data:`sim.chain.base.FORK`).
SPEC_ID = "CANCUN"
#: Base fee of the genesis block (py-evm's London default, the pyevm backend's genesis).
GENESIS_BASE_FEE = 1_000_000_000
#: The coinbase of every block (the pyevm backend's).
COINBASE = b"\x00" * 20
_ZERO32 = b"\x00" * 32
#: keccak(rlp(b"")): the root of an empty state.
_EMPTY_TRIE_ROOT = keccak(b"\x80")
_ELASTICITY = 2
_BASE_FEE_DENOMINATOR = 8
#: What a provisional handle of a transaction signed later starts with (then a counter).
_HANDLE_PREFIX = b"pmrsim:unsigned:"


def expected_base_fee(gas_used: int, gas_limit: int, base_fee: int) -> int:
    """EIP-1559 base fee of a child block (py-evm's ``calculate_expected_base_fee_per_gas``)."""
    target = gas_limit // _ELASTICITY
    if gas_used == target:
        return base_fee
    if gas_used > target:
        delta = max(base_fee * (gas_used - target) // target // _BASE_FEE_DENOMINATOR, 1)
        return base_fee + delta
    delta = base_fee * (target - gas_used) // target // _BASE_FEE_DENOMINATOR
    return max(base_fee - delta, 0)


@dataclass(frozen=True, slots=True)
class _Head:
    """What this backend keeps of a block header."""

    number: int
    timestamp: int
    gas_used: int
    gas_limit: int
    base_fee: int
    state_root: bytes
    block_hash: bytes


class _Snapshot(PoolSnapshot):
    """What :meth:`RevmChain.revert` restores (weak-referenced: undo is kept while one lives)."""


class RevmChain(MinedRecords, Mempool[SignedTx], Chain):
    """A deterministic revm chain with the pyevm backend's semantics; see the module docstring.

    ``dropped`` maps the hash of each queued transaction refused when mining
    (bad nonce, funds lowered by :meth:`fund`) to the reason. Keys, sending
    and the queue checks: :class:`~sim.chain._mempool.Mempool`.
    """

    name = "revm"

    def __init__(
        self,
        seed: int | bytes,
        *,
        block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
        genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
        state_roots: bool = True,
        background_roots: bool = False,
        background_signing: bool = False,
    ) -> None:
        self._init_chain(seed, block_gas_limit, genesis_timestamp)
        self._state_roots = state_roots
        evm = EVM(env=Env(cfg=CfgEnv(chain_id=CHAIN_ID)), gas_limit=block_gas_limit,
                  spec_id=SPEC_ID)
        self._trie: Any = None
        self._roots: RootWorker | None = None
        # blocks mined whose root the worker has not given yet: (placeholder head, tx hashes)
        self._unrooted: deque[tuple[_Head, list[bytes]]] = deque()
        if state_roots and background_roots:
            self._roots = RootWorker()
            self.defers_roots = True
            self._state = State(evm, RemoteStore(self._roots))
            root = _EMPTY_TRIE_ROOT
        elif state_roots:
            from sim.chain._revm_trie import StateTrie

            self._trie = StateTrie()
            self._state = State(evm, self._trie)
            root = self._trie.root
        else:
            self._state = State(evm, DictStore())
            root = keccak(b"pmrsim revm genesis")
        genesis = _Head(0, genesis_timestamp, 0, block_gas_limit, GENESIS_BASE_FEE, root,
                        _block_hash(b"", 0, genesis_timestamp, 0, root, []))
        self._rooted_hash = genesis.block_hash  # hash of the newest block whose root is known
        #: Headers by number; those before ``oldest_block`` are dropped (None) by forget_history.
        self._heads: list[_Head | None] = [genesis]
        self._blocks: list[Block | None] = [self._record(genesis, ())]
        self._receipts: dict[bytes, Receipt] = {}
        self._funds: list[tuple[bytes, int]] = []
        self._funds_layer = Layer()  # undo of unmined funding
        # pending state: a layer of trial executions over the head (None = not built)
        self._pending: Layer | None = None
        self._pending_redo: Layer | None = None  # set while the layer is undone for a read
        self._pending_ts: int | None = None
        self._pending_env: tuple[int, int, int] | None = None  # (number, timestamp, base fee)
        # what each queued transaction did in the pending state, in mempool order, when every
        # one ran there with its own gas limit and was valid (None = not so): mine() adopts it
        self._pending_runs: list[tuple[bytes | None, Outcome]] | None = None
        self._block_env: tuple[int, int] | None = None
        # per-block undo layers, kept while a snapshot is alive
        self._snaps: weakref.WeakSet[_Snapshot] = weakref.WeakSet()
        self._undo: dict[int, Layer] = {}
        # transactions sent with later=True whose signatures the worker has not given yet
        self._signer = Signer() if background_signing else None
        self._unsigned: list[SignedTx] = []
        self._handles = 0
        self._signed: dict[bytes, bytes] = {}  # handle -> hash, until signed() is called

    @property
    def _head(self) -> _Head:
        """The head's header."""
        head = self._heads[-1]
        assert head is not None  # the head is never forgotten
        return head

    def _settle_roots(self, upto: int | None = None) -> None:
        """Complete the blocks up to ``upto`` (all when None) whose roots the worker computes.

        Takes their roots in mining order and chains their hashes; waits for
        the worker only for a root it has not finished.
        """
        unrooted = self._unrooted
        if not unrooted:
            return
        assert self._roots is not None
        heads, blocks = self._heads, self._blocks
        while unrooted and (upto is None or unrooted[0][0].number <= upto):
            head, tx_hashes = unrooted.popleft()
            root = self._roots.next_root()
            block_hash = _block_hash(self._rooted_hash, head.number, head.timestamp,
                                     head.gas_used, root, tx_hashes)
            self._rooted_hash = block_hash
            number = head.number
            done = _Head(number, head.timestamp, head.gas_used, head.gas_limit, head.base_fee,
                         root, block_hash)
            if heads[number] is not None:
                heads[number] = done
            block = blocks[number]
            if block is not None:
                blocks[number] = self._record(done, block.receipts)

    def block(self, number: int) -> Block:
        """The mined block ``number``, its root and hash known (waits for the worker if needed)."""
        self._settle_roots(number)
        return super().block(number)

    def close(self) -> None:
        """Stop the state-root and signing workers, if any."""
        if self._roots is not None:
            self._roots.close()
        if self._signer is not None:
            self._signer.close()
        super().close()

    def forget_history(self, before: int) -> None:
        """Drop old receipts and transactions (:class:`MinedRecords`) and the old headers."""
        start = self.oldest_block
        super().forget_history(before)
        heads = self._heads
        for number in range(start, self.oldest_block):
            heads[number] = None

    # -- accounts ---------------------------------------------------------
    def fund(self, address: bytes, wei: int = DEFAULT_FUNDING_WEI) -> None:
        """Set the balance now; the write belongs to the next mined block."""
        if wei < 0:
            raise InputError(f"balance must be >= 0, got {wei}")
        address = bytes(address)
        self._drop_pending()
        _, nonce, code_hash = self._state.account(address)
        self._state.set_account(address, (wei, nonce, code_hash), self._funds_layer)
        self._funds.append((address, wei))

    def balance(self, address: bytes) -> int:
        """The balance at the head, including funding not yet mined."""
        return self._head_account(bytes(address))[0]

    def _head_nonce(self, address: bytes) -> int:
        """The nonce of ``address`` at the head."""
        return self._head_account(bytes(address))[1]

    def _head_account(self, address: bytes) -> tuple[int, int, bytes]:
        """An account at the head (looking under the pending layer)."""
        layer = self._pending
        if layer is not None and self._pending_redo is None and address in layer.accounts:
            return layer.accounts[address] or (0, 0, EMPTY_CODE_HASH)
        return self._state.account(address)

    # -- execution --------------------------------------------------------
    def _sign(
        self, sender: Account, nonce: int, max_fee: int, gas: int, to: bytes | None, value: int,
        data: bytes,
    ) -> tuple[SignedTx, bytes]:
        """Sign with coincurve (:func:`sim.chain._revm_tx.sign`); return the transaction and its bytes."""
        _check_signable(value, gas)
        tx = sign(sender.private_key, unsigned(sender.address, nonce, PRIORITY_FEE, max_fee, gas,
                                               b"" if to is None else bytes(to), value, bytes(data)))
        return tx, tx.raw

    def _sign_later(
        self, sender: Account, nonce: int, max_fee: int, gas: int, to: bytes | None, value: int,
        data: bytes,
    ) -> tuple[SignedTx, bytes]:
        """A transaction under a provisional handle, its signature asked of the worker."""
        signer = self._signer
        if signer is None:
            return self._sign(sender, nonce, max_fee, gas, to, value, data)
        _check_signable(value, gas)
        self._handles += 1
        tx = unsigned(sender.address, nonce, PRIORITY_FEE, max_fee, gas,
                      b"" if to is None else bytes(to), value, bytes(data),
                      _HANDLE_PREFIX + self._handles.to_bytes(16, "big"))
        signer.add(sender.private_key, tx.raw)
        self._unsigned.append(tx)
        return tx, tx.raw

    def _sign_queued(self) -> None:
        """Give every transaction sent with ``later=True`` its signature, bytes and hash.

        Re-keys what the chain keeps under the handles (transactions, mempool,
        pending runs) and notes each handle's hash for :meth:`signed`.
        """
        queued = self._unsigned
        if not queued:
            return
        assert self._signer is not None
        self._unsigned = []
        renamed: dict[bytes, bytes] = {}
        txs = self._txs
        for tx, (raw, tx_hash) in zip(queued, self._signer.collect(), strict=True):
            handle = tx.hash
            tx.raw, tx.hash = raw, tx_hash
            if txs.pop(handle, None) is not None:  # else refused when queued
                txs[tx.hash] = tx
                renamed[handle] = tx.hash
        self._mempool = [renamed.get(h, h) for h in self._mempool]
        if self._pending_runs is not None:
            self._pending_runs = [(renamed.get(h, h) if h is not None else None, outcome)
                                  for h, outcome in self._pending_runs]
        self._signed.update(renamed)

    def signed(self) -> dict[bytes, bytes]:
        """Handles of ``send(later=True)`` signed since the last call, mapped to their hashes."""
        signed, self._signed = self._signed, {}
        return signed

    def pending(self) -> tuple[bytes, ...]:
        """Hashes of queued transactions, in arrival order (signing any sent ``later``)."""
        self._sign_queued()
        return tuple(self._mempool)

    def send_raw(self, raw_tx: bytes) -> bytes:
        """Decode, check and queue a signed transaction (replay)."""
        tx = decode(bytes(raw_tx))
        return self._queue(tx, tx.raw, already_applied=False)

    def _identify(self, tx: SignedTx) -> tuple[bytes, bytes]:
        """The sender and hash of ``tx`` (known since it was signed or decoded)."""
        return tx.sender, tx.hash

    def _funds_of(self, sender: bytes) -> int:
        """``sender``'s balance in the pending state, if built, else at the head."""
        if self._pending is not None:
            self._enter_pending()
            return self._state.account(sender)[0]
        return self._head_account(sender)[0]

    def _queue_pending(self, tx: SignedTx) -> None:
        """Apply ``tx`` to the pending state, if built."""
        if self._pending is not None:
            self._apply_to_pending(tx)

    def _store(self, tx: SignedTx, tx_hash: bytes, raw: bytes, already_applied: bool) -> None:
        """Keep ``tx``; name the pending run an estimate kept for it, if adoptable."""
        self._txs[tx_hash] = tx
        runs = self._pending_runs
        if already_applied and runs is not None:
            if runs and runs[-1][0] is None:  # the run _estimate kept is this transaction's
                runs[-1] = (tx_hash, runs[-1][1])
            else:
                self._pending_runs = None

    def call(self, to: bytes, data: bytes, *, sender: bytes | None = None) -> bytes:
        """Run a read-only call on the head view; nothing persists."""
        self._enter_head()
        head = self._head
        self._set_block_env(head.number, head.timestamp)
        origin = COINBASE if sender is None else bytes(sender)
        outcome = self._state.call(origin, bytes(to), bytes(data), self._gas_limit)
        reason = _reason(outcome)
        if reason is not None:
            raise TransactionReverted(reason, gas_used=outcome.gas_used)
        return outcome.output

    def _estimate(
        self, sender: bytes, nonce: int, to: bytes | None, data: bytes, value: int, max_fee: int,
        at: int | None,
    ) -> int:
        """Gas limit from one trial run on the pending state (whose effects are kept)."""
        to = b"" if to is None else bytes(to)
        layer, base_fee = self._enter_pending()
        state = self._state
        price = min(max_fee, PRIORITY_FEE + base_fee)
        spendable = max(0, state.account(sender)[0] - value)
        cap = min(self._gas_limit, spendable // max(price, 1))
        if cap < intrinsic_gas(to, data):
            raise ChainError(
                f"insufficient funds: {hex_addr(sender)} cannot pay for the intrinsic gas"
            )
        if state.account(sender)[1] != nonce:
            raise ChainError(f"cannot estimate gas: nonce {nonce} of {hex_addr(sender)}")
        try:
            if self._pending_runs is None:  # nothing to adopt: keep the run's effects
                outcome = state.execute(sender, nonce, to or None, data, value, cap, price,
                                        price - base_fee, COINBASE, layer)
                trial = None
            else:
                trial = state.trial(sender, to or None, data, value, cap, price)
                outcome = trial.outcome
        except InvalidTransaction as exc:
            raise ChainError(f"cannot estimate gas: {exc}") from exc
        consumed = outcome.gas_used + outcome.gas_refunded
        gas = min(self._gas_limit, consumed + consumed // 4 + GAS_MARGIN)
        if trial is not None:
            self._keep(trial, nonce, to, data, value, gas, max_fee, base_fee, layer)
        return gas

    def _keep(self, trial: Trial, nonce: int, to: bytes, data: bytes, value: int, gas: int,
              max_fee: int, base_fee: int, layer: Layer) -> None:
        """Keep the effects of an estimate's trial run in the pending state.

        The trial ran with the largest affordable gas limit; the transaction
        is signed with ``gas``. The pending state gets the run at ``gas``
        when it provably did what the trial did (the trial's code cannot
        tell the limits apart, :meth:`State.settle_trial`, or a second run
        gave the same outcome and journal, :meth:`State.replay`) and mining
        would accept it; that run is recorded for :meth:`mine` to adopt.
        Otherwise it gets the trial's run, as the estimate saw it, and the
        pending state is no longer adoptable.
        """
        state = self._state
        sender, price = trial.sender, trial.price
        runs = self._pending_runs
        assert runs is not None
        outcome: Outcome | None = None
        if self._problem(sender, nonce, max_fee, PRIORITY_FEE, gas, value, base_fee) is None:
            outcome = state.settle_trial(trial, nonce, gas, price - base_fee, COINBASE, layer)
            if outcome is None:  # the code could tell the limits apart: run it again
                try:
                    outcome = state.replay(trial, nonce, to or None, data, value, gas,
                                           price - base_fee, COINBASE, layer)
                except InvalidTransaction:
                    outcome = None
        if outcome is not None:
            runs.append((None, outcome))  # _queue fills in the hash
            return
        self._pending_runs = None
        try:
            state.execute(sender, nonce, to or None, data, value, trial.gas, price,
                          price - base_fee, COINBASE, layer)
        except InvalidTransaction as exc:  # pragma: no cover - the trial ran on this very state
            raise ChainError(f"cannot estimate gas: {exc}") from exc

    def _max_fee(self) -> int:
        """Fee cap: twice the next base fee, grown 12.5% per block of backlog, plus the tip."""
        head = self._head
        fee = 2 * expected_base_fee(head.gas_used, head.gas_limit, head.base_fee)
        backlog = self._mempool_gas // self._gas_limit
        for _ in range(backlog):
            fee = fee * 9 // 8 + 1
        return fee + PRIORITY_FEE

    # -- pending state ----------------------------------------------------
    def _set_block_env(self, number: int, timestamp: int) -> None:
        """Point revm's block environment at block ``number`` stamped ``timestamp``."""
        if self._block_env != (number, timestamp):
            self._block_env = (number, timestamp)
            self._state.evm.set_block_env(BlockEnv(
                number=number, coinbase="0x" + COINBASE.hex(), timestamp=timestamp,
                difficulty=0, prevrandao=_ZERO32, basefee=0, gas_limit=self._gas_limit,
                excess_blob_gas=0,
            ))

    def _set_pending_timestamp(self, timestamp: int) -> None:
        """Estimate in a next block stamped ``timestamp`` (rebuilding the pending state)."""
        super()._set_pending_timestamp(timestamp)
        if timestamp != self._pending_ts:
            self._drop_pending()
            self._pending_ts = timestamp

    def _next_block(self, timestamp: int | None) -> tuple[int, int, int]:
        """(number, timestamp, base fee) of the next block."""
        head = self._head
        when = head.timestamp + 1 if timestamp is None else timestamp
        return head.number + 1, when, expected_base_fee(head.gas_used, head.gas_limit,
                                                         head.base_fee)

    def _enter_pending(self) -> tuple[Layer, int]:
        """Make the state the pending state (building it if needed); return its layer and base fee."""
        if self._pending_ts is not None and self._pending_ts <= self.timestamp:
            self._pending_ts = None
        number, when, base_fee = self._next_block(self._pending_ts)
        if self._pending is None:
            self._pending = Layer()
            self._pending_redo = None
            self._pending_env = (number, when, base_fee)
            self._pending_runs = []
            self._set_block_env(number, when)
            for tx_hash in self._mempool:
                try:
                    self._apply_to_pending(self._txs[tx_hash])
                except ChainError:
                    self._pending_runs = None  # mine() will drop it: nothing to adopt
                    continue  # no longer valid (funding changed): mine() will drop it
        elif self._pending_redo is not None:
            self._state.undo(self._pending_redo)
            self._pending_redo = None
        self._set_block_env(number, when)
        return self._pending, base_fee

    def _enter_head(self) -> None:
        """Make the state the head state (undoing the pending layer, kept for redo)."""
        if self._pending is not None and self._pending_redo is None:
            self._pending_redo = self._state.undo(self._pending)

    def _drop_pending(self) -> None:
        """Forget the pending state (the head state is restored)."""
        if self._pending is not None:
            self._enter_head()
            self._pending = None
            self._pending_redo = None
        self._pending_env = None
        self._pending_runs = None

    def _apply_to_pending(self, tx: SignedTx) -> None:
        """Apply ``tx`` to the pending state (a ChainError leaves the state unchanged)."""
        layer, base_fee = self._enter_pending()
        sender = tx.sender
        problem = self._invalid(tx, sender, base_fee)
        if problem is not None:
            raise ChainError(f"transaction cannot be applied: {problem}")
        price = min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)
        try:
            outcome = self._state.execute(sender, tx.nonce, tx.to or None, tx.data, tx.value,
                                          tx.gas, price, price - base_fee, COINBASE, layer)
        except InvalidTransaction as exc:
            raise ChainError(f"transaction cannot be applied: {exc}") from exc
        if self._pending_runs is not None:
            self._pending_runs.append((tx.hash, outcome))

    def _invalid(self, tx: SignedTx, sender: bytes, base_fee: int) -> str | None:
        """Why py-evm would refuse ``tx`` on the current state (None when valid)."""
        return self._problem(sender, tx.nonce, tx.max_fee_per_gas, tx.max_priority_fee_per_gas,
                             tx.gas, tx.value, base_fee)

    def _problem(self, sender: bytes, nonce: int, max_fee: int, tip: int, gas: int, value: int,
                 base_fee: int) -> str | None:
        """Why py-evm would refuse a transaction of these fields on the current state (None when valid)."""
        balance, expected, _ = self._state.account(sender)
        if max_fee < base_fee:
            return (f"Sender's max fee per gas ({max_fee}) is lower than block's "
                    f"base fee per gas ({base_fee})")
        # py-evm checks the gas at the effective price, not at the fee cap
        price = min(max_fee, base_fee + tip)
        cost = gas * price + value
        if balance < cost:
            return (f"Sender {hex_addr(sender)} cannot afford txn gas and value {cost} "
                    f"with account balance {balance}")
        if nonce != expected:
            return f"Invalid transaction nonce: Expected {expected}, but got {nonce}"
        return None

    # -- blocks -----------------------------------------------------------
    def mine(self, timestamp: int | None = None) -> Block:
        """Mine the next block: funding, then pending transactions in order up to the gas limit."""
        head = self._head
        self._check_block_timestamp(timestamp, head.timestamp)
        self._sign_queued()
        number, when, base_fee = self._next_block(timestamp)
        # undo records are only needed while a snapshot may come back past this block
        layer = self._funds_layer if self._snaps else None
        runs = self._adoptable(number, when, base_fee)
        if runs is not None:
            receipts, gas_used = self._adopt(runs, number, layer)
        else:
            self._drop_pending()
            receipts, gas_used = self._execute_mempool(number, when, base_fee, layer)
        self._pending_ts = None
        for receipt in receipts:
            self._receipts[receipt.tx_hash] = receipt
        root = self._commit_root(head.state_root)
        if layer is not None:
            self._undo[number] = layer
        else:
            self._undo.clear()
        self._funds_layer = Layer()
        self._funds = []
        tx_hashes = [r.tx_hash for r in receipts]
        if self._roots is not None:  # root and hash come when the worker has the root
            new = _Head(number, when, gas_used, self._gas_limit, base_fee, b"", b"")
            self._unrooted.append((new, tx_hashes))
        else:
            block_hash = _block_hash(head.block_hash, number, when, gas_used, root, tx_hashes)
            new = _Head(number, when, gas_used, self._gas_limit, base_fee, root, block_hash)
            self._rooted_hash = block_hash
        self._heads.append(new)
        record = self._record(new, tuple(receipts))
        self._blocks.append(record)
        return record

    def _adoptable(self, number: int, when: int, base_fee: int
                   ) -> list[tuple[bytes | None, Outcome]] | None:
        """The pending runs when mining block ``number`` at ``when`` would redo them exactly.

        That is: the pending state was built for this very block (number,
        timestamp, base fee), every queued transaction ran there in mempool
        order with its own gas limit and was valid, and all of them fit in
        the block (so mining would include each and drop none).
        """
        runs = self._pending_runs
        mempool = self._mempool
        if (self._pending is None or runs is None or self._pending_env != (number, when, base_fee)
                or len(runs) != len(mempool)):
            return None
        gas_used = 0
        limit = self._gas_limit
        txs = self._txs
        for (tx_hash, outcome), queued in zip(runs, mempool, strict=True):
            if tx_hash != queued:
                return None
            tx = txs[queued]
            if tx.gas > limit - gas_used or tx.max_fee_per_gas < base_fee:
                return None
            gas_used += outcome.gas_used
        return runs

    def _adopt(self, runs: list[tuple[bytes | None, Outcome]], number: int, layer: Layer | None
               ) -> tuple[list[Receipt], int]:
        """Make the pending state the block's (see :meth:`_adoptable`); its receipts and gas."""
        pending = self._pending
        assert pending is not None
        if self._pending_redo is not None:  # a read left the head state in place
            self._state.undo(self._pending_redo)
        self._pending = None
        self._pending_redo = None
        self._pending_env = None
        self._pending_runs = None
        if layer is not None:
            self._state.merge_into(pending, layer)
        gas_used = 0
        receipts: list[Receipt] = []
        log_index = 0
        txs = self._txs
        for tx_hash, outcome in runs:
            assert tx_hash is not None
            tx = txs[tx_hash]
            gas_used += outcome.gas_used
            receipt = _receipt(tx_hash, tx, tx.sender, tx.to, outcome, number, len(receipts),
                               log_index)
            log_index += len(receipt.logs)
            receipts.append(receipt)
        self._mempool = []
        self._mempool_gas = 0
        return receipts, gas_used

    def _execute_mempool(self, number: int, when: int, base_fee: int, layer: Layer | None
                         ) -> tuple[list[Receipt], int]:
        """Execute the queued transactions on the head state, in order, up to the gas limit."""
        self._set_block_env(number, when)
        state = self._state
        gas_used = 0
        receipts: list[Receipt] = []
        included: set[bytes] = set()
        dropped_senders: set[bytes] = set()
        log_index = 0
        for tx_hash in self._mempool:
            tx = self._txs[tx_hash]
            if tx.gas > self._gas_limit - gas_used or tx.max_fee_per_gas < base_fee:
                break
            sender = tx.sender
            included.add(tx_hash)
            if sender in dropped_senders:
                self._drop(tx_hash, sender, "an earlier transaction of its sender was dropped")
                continue
            problem = self._invalid(tx, sender, base_fee)
            if problem is None:
                price = min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)
                to = tx.to
                try:
                    outcome = state.execute(sender, tx.nonce, to or None, tx.data,
                                            tx.value, tx.gas, price, price - base_fee, COINBASE,
                                            layer)
                except InvalidTransaction as exc:
                    problem = str(exc)
            if problem is not None:
                self._drop(tx_hash, sender, problem)
                dropped_senders.add(sender)
                continue
            gas_used += outcome.gas_used
            receipt = _receipt(tx_hash, tx, sender, to, outcome, number, len(receipts), log_index)
            log_index += len(receipt.logs)
            receipts.append(receipt)
        self._remove(included)
        return receipts, gas_used

    def _commit_root(self, parent_root: bytes) -> bytes:
        """The state root after a block (from the accounts and slots written since the last)."""
        state = self._state
        dirty, dirty_slots = state.dirty, state.dirty_slots
        state.dirty, state.dirty_slots = set(), {}
        if self._trie is not None:
            return bytes(self._trie.update(state, dirty, dirty_slots))
        if self._roots is not None:
            self._roots.update({address: state.account(address) for address in dirty}, dirty_slots)
            return b""  # see _settle_roots
        store = state.store
        assert isinstance(store, DictStore)
        store.commit(dirty_slots)
        # stand-in: digest of the parent's and of every written account and slot
        parts = [parent_root]
        for address in sorted(dirty):
            balance, nonce, code_hash = state.account(address)
            parts.append(address + balance.to_bytes(32, "big") + nonce.to_bytes(8, "big")
                         + code_hash)
            written = dirty_slots.get(address, {})
            for slot in sorted(written):
                parts.append(slot.to_bytes(32, "big") + written[slot].to_bytes(32, "big"))
        return keccak(b"".join(parts))

    @staticmethod
    def _record(head: _Head, receipts: tuple[Receipt, ...]) -> Block:
        """Our :class:`Block` for a mined head."""
        return Block(
            number=head.number,
            timestamp=head.timestamp,
            gas_used=head.gas_used,
            gas_limit=head.gas_limit,
            state_root=head.state_root,
            block_hash=head.block_hash,
            receipts=receipts,
        )

    def raw_transaction(self, tx_hash: bytes) -> bytes:
        """The signed bytes of a transaction this chain has seen."""
        if tx_hash.startswith(_HANDLE_PREFIX):
            raise ChainError("a handle of send(later=True) is not a transaction hash: "
                             "signed() maps it to its hash")
        try:
            return self._txs[tx_hash].raw
        except KeyError:
            raise ChainError(f"unknown transaction 0x{tx_hash.hex()}") from None

    def _forget_transaction(self, tx_hash: bytes) -> None:
        """Drop a mined transaction from the index (history forgotten)."""
        self._txs.pop(tx_hash, None)

    def state_blobs(self) -> Iterator[bytes]:
        """Every contract's code and every storage value (32 bytes), for privacy scans.

        The equivalent of scanning the pyevm backend's database: what the
        chain's state holds, without trie nodes or headers. A generator: a
        city's state is millions of values.
        """
        yield from (code for code in self._state.codes.values() if code)
        for value in self._state.store.values():
            yield value.to_bytes(32, "big")

    # -- state (head number, time and gas limit: MinedRecords) ------------
    def state_root(self) -> bytes:
        """State root of the head block (needs ``state_roots=True``)."""
        if not self._state_roots:
            raise ChainError("state roots are not computed by the revm backend (state_roots=False)")
        self._settle_roots()
        return self._head.state_root

    def storage_at(self, address: bytes, slot: int) -> int:
        """Storage ``slot`` of ``address`` at the head."""
        address = bytes(address)
        layer = self._pending
        if layer is not None and self._pending_redo is None and (address, slot) in layer.slots:
            return layer.slots[(address, slot)]
        return self._state.slot(address, slot)

    def code_at(self, address: bytes) -> bytes:
        """Runtime code of ``address`` at the head."""
        return self._state.codes.get(self._head_account(bytes(address))[2], b"")

    def snapshot(self) -> object:
        """A handle to the head, mempool, nonces and unmined funding."""
        self._settle_roots()
        self._sign_queued()
        head = self._head
        snap = _Snapshot(
            head_number=head.number,
            head_hash=head.block_hash,
            mempool=tuple(self._mempool),
            nonces=tuple(self._nonces.items()),
            funds=tuple(self._funds),
        )
        if not self._snaps:
            self._undo.clear()
        self._snaps.add(snap)
        return snap

    def revert(self, snapshot: object) -> None:
        """Drop blocks mined after ``snapshot`` and restore its mempool and funding."""
        if not isinstance(snapshot, _Snapshot):
            raise InputError(f"not a snapshot of this chain: {snapshot!r}")
        self._settle_roots()
        self._sign_queued()
        n = snapshot.head_number
        target = self._heads[n] if n < len(self._heads) else None
        if target is None and n < self.oldest_block:
            raise ChainError(f"snapshot at block {n} can no longer be restored: blocks before "
                             f"{self.oldest_block} were forgotten (forget_history)")
        if target is None or target.block_hash != snapshot.head_hash:
            raise ChainError("snapshot is not on this chain's history (reverted past it?)")
        if any(b not in self._undo for b in range(n + 1, len(self._heads))):
            raise ChainError("snapshot can no longer be restored (undo records were dropped)")
        self._drop_pending()
        state = self._state
        state.undo(self._funds_layer)
        for number in range(len(self._heads) - 1, n, -1):
            state.undo(self._undo.pop(number))
        for block in self._blocks[n + 1 :]:
            for receipt in block.receipts if block is not None else ():
                self._receipts.pop(receipt.tx_hash, None)
        del self._heads[n + 1 :]
        del self._blocks[n + 1 :]
        self._commit_root(target.state_root)  # the undone writes, into the store
        if self._roots is not None:
            root = self._roots.next_root()  # the worker's trie is back at the target's
            if root != target.state_root:  # pragma: no cover - a bug, not a user error
                raise ChainError(f"revert reached state root 0x{root.hex()}, expected "
                                 f"0x{target.state_root.hex()}")
        self._rooted_hash = target.block_hash
        self._funds_layer = Layer()
        self._funds = []
        for address, wei in snapshot.funds:
            self.fund(address, wei)
        self._restore_mempool(snapshot.mempool, snapshot.nonces)
        self._pending_ts = None
        self._block_env = None


def _check_signable(value: int, gas: int) -> None:
    """Refuse a value or gas limit an EIP-1559 transaction cannot carry."""
    if not 0 <= value < 2**256 or not 0 <= gas < 2**64:
        raise ChainError(f"cannot sign transaction: value {value} or gas {gas} out of range")


def _block_hash(parent: bytes, number: int, timestamp: int, gas_used: int, root: bytes,
                tx_hashes: list[bytes]) -> bytes:
    """This backend's block hash: a digest of the block (not an RLP header hash)."""
    return keccak(parent + number.to_bytes(8, "big") + timestamp.to_bytes(8, "big")
                  + gas_used.to_bytes(8, "big") + root + b"".join(tx_hashes))


def _reason(outcome: Outcome) -> str | None:
    """The revert reason of an outcome, as :func:`sim.chain._pyevm_support.revert_reason`."""
    if outcome.success:
        return None
    if outcome.halt is not None:
        return f"halt: {outcome.halt}"
    return decode_revert_reason(outcome.output)


def _receipt(
    tx_hash: bytes,
    tx: SignedTx,
    sender: bytes,
    to: bytes,
    outcome: Outcome,
    block_number: int,
    tx_index: int,
    first_log_index: int,
) -> Receipt:
    """Our :class:`Receipt` for one executed transaction."""
    is_create = not to
    logs = tuple(
        Log(address=address, topics=topics, data=data, block_number=block_number,
            tx_hash=tx_hash, log_index=first_log_index + i)
        for i, (address, topics, data) in enumerate(outcome.logs)
    )
    return Receipt(
        tx_hash=tx_hash,
        block_number=block_number,
        tx_index=tx_index,
        sender=sender,
        to=None if is_create else to,
        status=1 if outcome.success else 0,
        gas_used=outcome.gas_used,
        logs=logs,
        contract_address=create_address(sender, tx.nonce) if is_create else None,
        revert_reason=_reason(outcome),
        return_data=b"" if is_create and outcome.success else outcome.output,
    )

