"""py-evm plumbing for :mod:`sim.chain.pyevm`: the chain class, error translation, receipts.

Kept apart so :class:`sim.chain.pyevm.PyEVMChain` reads as the Chain contract;
:class:`PyEvmPool` is what it and :mod:`sim.chain.ethtester` keep alike
(signing, fee cap, queue, pending state, funding, snapshots).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import MiningChain
from eth.exceptions import PyEVMError, Revert
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeysValidationError
from eth_typing import Address, BlockNumber
from eth_utils import ValidationError

from sim.chain._mempool import GAS_MARGIN, PRIORITY_FEE, Mempool, PoolSnapshot, hex_addr
from sim.chain.abi import decode_revert_reason
from sim.chain.base import (
    CHAIN_ID,
    DEFAULT_BLOCK_GAS_LIMIT,
    DEFAULT_FUNDING_WEI,
    DEFAULT_GENESIS_TIMESTAMP,
    Account,
    Block,
    Log,
    Receipt,
)
from sim.chain.keys import private_key_object
from sim.chain.records import MinedRecords
from sim.errors import ChainError, InputError

#: The one VM of every block.
VM_CLASS = CancunVM
#: Builds and decodes Cancun transactions.
TX_BUILDER = CancunTransactionBuilder

_PY_EVM_ERRORS: tuple[type[BaseException], ...] = (
    PyEVMError,
    ValidationError,
    BadSignature,
    KeysValidationError,
    rlp.exceptions.RLPException,
)


def database_values(db: Any, backend: str) -> list[bytes]:
    """Every value in py-evm's in-memory database ``db`` (an ``AtomicDB``): trie nodes, code,
    headers; for privacy scans.

    Raises :class:`ChainError` when py-evm no longer keeps them where this
    reads them (``AtomicDB.wrapped_db.kv_store``): a scan must never pass
    because it was handed nothing.
    """
    kv = getattr(getattr(db, "wrapped_db", None), "kv_store", None)
    if not isinstance(kv, dict):
        raise ChainError(f"the {backend} backend cannot read py-evm's database "
                         "(AtomicDB.wrapped_db.kv_store is gone): its state cannot be listed")
    return list(kv.values())


class CancunChain(MiningChain):
    """A py-evm mining chain running Cancun from genesis, chain id :data:`CHAIN_ID`."""

    vm_configuration = ((BlockNumber(0), CancunVM),)
    chain_id = CHAIN_ID


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise py-evm, eth-keys and rlp errors raised in the body as :class:`ChainError`."""
    try:
        yield
    except _PY_EVM_ERRORS as exc:
        raise ChainError(f"{what}: {exc}") from exc


def revert_reason(computation: ComputationAPI) -> str | None:
    """The revert reason of a failed computation (``None`` when it succeeded).

    ``REVERT`` payloads are decoded (``Error(string)``, ``Panic(uint256)``,
    ``""`` for a bare revert); other halts (out of gas, invalid opcode) give
    ``"halt: <ErrorName>"``.
    """
    if computation.is_success:
        return None
    error = computation.error
    if isinstance(error, Revert):
        return decode_revert_reason(computation.output)
    return f"halt: {type(error).__name__}"


def make_receipt(
    tx: SignedTransactionAPI,
    evm_receipt: ReceiptAPI,
    computation: ComputationAPI,
    *,
    block_number: int,
    tx_index: int,
    gas_used: int,
    first_log_index: int,
) -> Receipt:
    """Our :class:`Receipt` for one applied transaction."""
    tx_hash = bytes(tx.hash)
    logs = tuple(
        Log(
            address=bytes(entry.address),
            topics=tuple(t.to_bytes(32, "big") for t in entry.topics),
            data=bytes(entry.data),
            block_number=block_number,
            tx_hash=tx_hash,
            log_index=first_log_index + i,
        )
        for i, entry in enumerate(evm_receipt.logs)
    )
    is_create = tx.to == b""
    msg: Any = computation.msg
    return Receipt(
        tx_hash=tx_hash,
        block_number=block_number,
        tx_index=tx_index,
        sender=bytes(tx.sender),
        to=None if is_create else bytes(tx.to),
        status=0 if computation.is_error else 1,
        gas_used=gas_used,
        logs=logs,
        contract_address=bytes(msg.storage_address) if is_create else None,
        revert_reason=revert_reason(computation),
        # a deploy's output is the runtime code: readable with code_at, not repeated here
        return_data=b"" if is_create and computation.is_success else bytes(computation.output),
    )


def raise_for_call(computation: ComputationAPI) -> bytes:
    """The output of a read-only call, or :class:`TransactionReverted` with its reason."""
    from sim.errors import TransactionReverted

    reason = revert_reason(computation)
    if reason is not None:
        raise TransactionReverted(reason, gas_used=computation.get_gas_used())
    return bytes(computation.output)


def spoof(unsigned: Any, sender: bytes) -> Any:
    """``unsigned`` posing as signed by ``sender`` (trial runs and calls need no signature)."""
    from eth.vm.spoof import SpoofTransaction
    from eth_typing import Address

    return SpoofTransaction(unsigned, from_=Address(sender))


def trial_gas_limit(
    state: Any, *, sender: bytes, nonce: int, to: bytes, data: bytes, value: int, max_fee: int,
    block_gas_limit: int, translate: Any = None,
) -> int:
    """The gas limit pmrsim gives a transaction: one trial run on ``state`` (its effects kept).

    Used gas + 25% + :data:`GAS_MARGIN`, capped at the block gas limit; the
    same rule on every py-evm-based backend, so blocks pack identically.
    """
    from eth_typing import Address

    price = min(max_fee, PRIORITY_FEE + (state.execution_context.base_fee_per_gas or 0))
    spendable = max(0, state.get_balance(Address(sender)) - value)
    cap = min(block_gas_limit, spendable // max(price, 1))
    unsigned = TX_BUILDER.new_unsigned_dynamic_fee_transaction(
        CHAIN_ID, nonce, PRIORITY_FEE, max_fee, cap, Address(to), value, data, ()
    )
    if cap < unsigned.intrinsic_gas:
        raise ChainError(f"insufficient funds: {hex_addr(sender)} cannot pay for the intrinsic gas")
    snap = state.snapshot()
    try:
        with (translate or translated)("cannot estimate gas"):
            computation = state.apply_transaction(spoof(unsigned, sender))
    except ChainError:
        state.revert(snap)
        raise
    state.commit(snap)
    state.lock_changes()
    consumed = cap - computation.get_gas_remaining()
    return int(min(block_gas_limit, consumed + consumed // 4 + GAS_MARGIN))


class PyEvmRecords(MinedRecords):
    """:class:`MinedRecords` plus what the two py-evm based backends keep alike.

    Raw transactions by hash (``_raw``, next to the py-evm objects in
    ``_txs``), and py-evm headers turned into our :class:`Block`.
    """

    _raw: dict[bytes, bytes]
    _txs: dict[bytes, SignedTransactionAPI]

    @staticmethod
    def _block_record(header: BlockHeaderAPI, receipts: tuple[Receipt, ...]) -> Block:
        """Our :class:`Block` for a mined header."""
        return Block(
            number=header.block_number,
            timestamp=header.timestamp,
            gas_used=header.gas_used,
            gas_limit=header.gas_limit,
            state_root=bytes(header.state_root),
            block_hash=bytes(header.hash),
            receipts=receipts,
        )

    def raw_transaction(self, tx_hash: bytes) -> bytes:
        """The signed bytes of a transaction this chain has seen."""
        try:
            return self._raw[tx_hash]
        except KeyError:
            raise ChainError(f"unknown transaction 0x{tx_hash.hex()}") from None

    def _forget_transaction(self, tx_hash: bytes) -> None:
        """Drop a mined transaction from the indexes (history forgotten)."""
        self._txs.pop(tx_hash, None)
        self._raw.pop(tx_hash, None)


def sign_transaction(
    account: Account,
    *,
    nonce: int,
    max_fee: int,
    gas: int,
    to: bytes | None,
    value: int = 0,
    data: bytes = b"",
) -> tuple[SignedTransactionAPI, bytes]:
    """Sign an EIP-1559 transaction as every py-evm based backend does; return it and its bytes.

    Chain id :data:`CHAIN_ID`, priority fee :data:`PRIORITY_FEE`, no access
    list; ``to=None`` deploys ``data``.
    """
    target = b"" if to is None else bytes(to)
    unsigned = TX_BUILDER.new_unsigned_dynamic_fee_transaction(
        CHAIN_ID, nonce, PRIORITY_FEE, max_fee, gas, Address(target), value, data, ()
    )
    with translated("cannot sign transaction"):
        unsigned.validate()
        tx = unsigned.as_signed_transaction(private_key_object(account.private_key))
    # We signed it, so the sender is known: seed py-evm's cached property rather than
    # recover it from the signature (the signature is still checked when mined).
    vars(tx)["sender"] = Address(account.address)
    return tx, bytes(tx.encode())


def next_max_fee(head: BlockHeaderAPI, backlog_gas: int, gas_limit: int) -> int:
    """Fee cap: twice the next base fee, grown 12.5% per block of backlog, plus the tip.

    The growth keeps a transaction valid while a saturated mempool drains
    (the base fee can rise 12.5% per full block).
    """
    fee = 2 * calculate_expected_base_fee_per_gas(head)
    for _ in range(backlog_gas // gas_limit):
        fee = fee * 9 // 8 + 1
    return fee + PRIORITY_FEE


def decode_signed(
    raw_tx: bytes, builder: Any = TX_BUILDER, translate: Any = translated
) -> SignedTransactionAPI:
    """Decode and validate a signed transaction on :data:`CHAIN_ID` (ChainError if not)."""
    with translate("invalid raw transaction"):
        tx = builder.decode(raw_tx)
        tx.validate()
    if tx.chain_id != CHAIN_ID:
        raise ChainError(f"transaction chain id {tx.chain_id} is not {CHAIN_ID}")
    return tx


class PyEvmTxs(Mempool[SignedTransactionAPI]):
    """:class:`Mempool` hooks for py-evm transactions: signing and reading the sender and hash."""

    def _translated(self, what: str) -> AbstractContextManager[None]:
        """Hook: re-raise the backend's library errors in the body as ChainError (``what: ...``)."""
        return translated(what)

    def _sign(
        self, sender: Account, nonce: int, max_fee: int, gas: int, to: bytes | None, value: int,
        data: bytes,
    ) -> tuple[SignedTransactionAPI, bytes]:
        """:func:`sign_transaction`."""
        return sign_transaction(
            sender, nonce=nonce, max_fee=max_fee, gas=gas, to=to, value=value, data=data
        )

    def _identify(self, tx: SignedTransactionAPI) -> tuple[bytes, bytes]:
        """The sender (recovered, if not known) and hash of ``tx``."""
        with self._translated("invalid transaction"):
            sender = bytes(tx.sender)
        return sender, bytes(tx.hash)


class PyEvmPool(PyEvmRecords, PyEvmTxs):
    """:class:`PyEvmRecords` and :class:`Mempool` over py-evm states, as pyevm and ethtester keep them.

    The fee cap, signing and queue hooks; funding (replayed at the start of
    the next block); the *head view* (head state + unmined funding, base fee
    0) and the *pending state* (head view + every queued transaction, in a
    provisional next block's context) gas estimates run on; snapshots. A
    backend gives how its errors translate, the states and next header.
    """

    _headers: list[BlockHeaderAPI]
    _funds: list[tuple[bytes, int]]
    _view_state: StateAPI | None
    _pending_state: StateAPI | None
    _pending_ts: int | None  # timestamp the pending state assumes
    #: The backend's own snapshot class (a snapshot of another chain is refused).
    _snapshot_type: type[PoolSnapshot] = PoolSnapshot

    def __init__(
        self,
        seed: int | bytes,
        *,
        block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
        genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
    ) -> None:
        self._init_chain(seed, block_gas_limit, genesis_timestamp)
        self._init_head(self._genesis(block_gas_limit, genesis_timestamp))

    def _genesis(self, block_gas_limit: int, genesis_timestamp: int) -> BlockHeaderAPI:
        """Hook: build the backend's chain from genesis; return the genesis header."""
        raise NotImplementedError

    def _init_head(self, head: BlockHeaderAPI) -> None:
        """Start the records at the genesis ``head``, with no funding and no states built."""
        self._headers = [head]
        self._blocks = [self._block_record(head, ())]
        self._receipts = {}
        self._raw = {}
        self._funds = []
        self._view_state = None
        self._pending_state = None
        self._pending_ts = None

    # -- accounts ---------------------------------------------------------
    def fund(self, address: bytes, wei: int = DEFAULT_FUNDING_WEI) -> None:
        """Set the balance now for reads; the write is replayed at the start of the next block."""
        if wei < 0:
            raise InputError(f"balance must be >= 0, got {wei}")
        self._funds.append((bytes(address), wei))
        self._view_state = None
        self._pending_state = None

    # -- execution (Mempool's hooks) --------------------------------------
    def send_raw(self, raw_tx: bytes) -> bytes:
        """Decode, check and queue a signed transaction (replay)."""
        return self._queue(self._decode(raw_tx), bytes(raw_tx), already_applied=False)

    def _decode(self, raw_tx: bytes) -> SignedTransactionAPI:
        """Hook: decode and check a signed transaction (:func:`decode_signed`)."""
        return decode_signed(raw_tx)

    def _max_fee(self) -> int:
        """:func:`next_max_fee` on the head and the mempool's backlog."""
        return next_max_fee(self._headers[-1], self._mempool_gas, self._gas_limit)

    def _estimate(
        self, sender: bytes, nonce: int, to: bytes | None, data: bytes, value: int, max_fee: int,
        at: int | None,
    ) -> int:
        """Gas limit from one trial run on the pending state (whose effects are kept)."""
        target = b"" if to is None else bytes(to)
        return trial_gas_limit(
            self._pending(), sender=sender, nonce=nonce, to=target, data=data, value=value,
            max_fee=max_fee, block_gas_limit=self._gas_limit, translate=self._translated,
        )

    def _funds_of(self, sender: bytes) -> int:
        """``sender``'s balance in the pending state, if built, else in the head view."""
        state = self._pending_state or self._view()
        return state.get_balance(Address(sender))

    def _queue_pending(self, tx: SignedTransactionAPI) -> None:
        """Apply ``tx`` to the pending state, if built."""
        if self._pending_state is not None:
            self._apply_to_pending(tx)

    def _store(self, tx: SignedTransactionAPI, tx_hash: bytes, raw: bytes, already_applied: bool) -> None:
        """Keep ``tx`` and its signed bytes."""
        self._txs[tx_hash] = tx
        self._raw[tx_hash] = raw

    # -- state views ------------------------------------------------------
    def _state_for(self, header: BlockHeaderAPI) -> StateAPI:
        """Hook: a state in ``header``'s context on its root, with the unmined funding applied."""
        raise NotImplementedError

    def _next_header(self, timestamp: int | None) -> BlockHeaderAPI:
        """Hook: the header of the next block on the head (timestamp default: head + 1)."""
        raise NotImplementedError

    def _view(self) -> StateAPI:
        """Head state + unmined funding, in the head block's context, base fee 0."""
        if self._view_state is None:
            self._view_state = self._state_for(self._headers[-1].copy(base_fee_per_gas=0))
        return self._view_state

    def _set_pending_timestamp(self, timestamp: int) -> None:
        """Estimate in a next block stamped ``timestamp`` (rebuilding the pending state)."""
        super()._set_pending_timestamp(timestamp)
        if timestamp != self._pending_ts:
            self._pending_ts = timestamp
            self._pending_state = None

    def _pending(self) -> StateAPI:
        """Head view + every queued transaction, in a provisional next block's context."""
        if self._pending_state is None:
            if self._pending_ts is not None and self._pending_ts <= self.timestamp:
                self._pending_ts = None
            self._pending_state = self._state_for(self._next_header(self._pending_ts))
            for tx_hash in self._mempool:
                try:
                    self._apply_to_pending(self._txs[tx_hash])
                except ChainError:
                    continue  # no longer valid (funding changed): mine() will drop it
        return self._pending_state

    def _apply_to_pending(self, tx: SignedTransactionAPI) -> None:
        """Apply ``tx`` to the pending state (a ChainError leaves the state unchanged)."""
        assert self._pending_state is not None
        state = self._pending_state
        snap = state.snapshot()
        try:
            with self._translated("transaction cannot be applied"):
                state.apply_transaction(tx)
        except ChainError:
            state.revert(snap)
            raise
        state.commit(snap)
        state.lock_changes()

    # -- blocks -----------------------------------------------------------
    def _settle(self, header: BlockHeaderAPI, receipts: tuple[Receipt, ...], done: set[bytes]) -> Block:
        """Record a mined ``header`` and its receipts; ``done`` (mined or dropped) leave the mempool."""
        self._remove(done)
        for receipt in receipts:
            self._receipts[receipt.tx_hash] = receipt
        self._funds = []
        self._headers.append(header)
        record = self._block_record(header, receipts)
        self._blocks.append(record)
        self._view_state = None
        self._pending_state = None
        self._pending_ts = None
        return record

    # -- state ------------------------------------------------------------
    def snapshot(self) -> object:
        """A handle to the head, mempool, nonces and unmined funding."""
        head = self._headers[-1]
        return self._snapshot_type(
            head_number=head.block_number,
            head_hash=bytes(head.hash),
            mempool=tuple(self._mempool),
            nonces=tuple(self._nonces.items()),
            funds=tuple(self._funds),
        )

    def revert(self, snapshot: object) -> None:
        """Drop blocks mined after ``snapshot`` and restore its mempool and funding."""
        if not isinstance(snapshot, self._snapshot_type):
            raise InputError(f"not a snapshot of this chain: {snapshot!r}")
        n = snapshot.head_number
        if n >= len(self._headers) or bytes(self._headers[n].hash) != snapshot.head_hash:
            raise ChainError("snapshot is not on this chain's history (reverted past it?)")
        self._rewind(self._headers[n])
        for block in self._blocks[n + 1 :]:
            for receipt in block.receipts if block is not None else ():
                self._receipts.pop(receipt.tx_hash, None)
        del self._headers[n + 1 :]
        del self._blocks[n + 1 :]
        self._restore_mempool(snapshot.mempool, snapshot.nonces)
        self._funds = list(snapshot.funds)
        self._view_state = None
        self._pending_state = None
        self._pending_ts = None

    def _rewind(self, header: BlockHeaderAPI) -> None:
        """Hook: make ``header`` the head of the backend's own chain (nothing by default)."""
