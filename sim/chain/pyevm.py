"""The default backend: an in-process py-evm chain (Cancun from genesis, chain id 31337).

How it works, in brief:

* Blocks are built directly on a Cancun VM (one VM per block, every pending
  transaction applied in one pass), so mining ``n`` transactions costs O(n),
  not O(n^2) as with one ``mine_block`` per transaction.
* Reads (:meth:`balance`, :meth:`call`, ...) use a *head view*: the head
  block's state plus the privileged writes of :meth:`fund` not yet mined, in
  the head block's context (number, timestamp), gas-price free.
* Gas estimation runs the transaction once with a high limit on the *pending
  state* (head view + every queued transaction) and keeps its effects there,
  so the next estimate sees it. Limit = consumption + 25% + :data:`GAS_MARGIN`.
* :meth:`fund` writes are replayed at the start of the next mined block, before
  its transactions, so they are part of that block's state root.
* py-evm's canonical-chain pointers are not used: this class keeps its own
  list of blocks, which makes :meth:`revert` a matter of truncating lists
  (state tries are content addressed, so old roots stay readable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from eth.abc import BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import ChainContext
from eth.constants import ZERO_ADDRESS, ZERO_HASH32
from eth.db.atomic import AtomicDB
from eth.vm.base import VM
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_typing import Address, Hash32

from sim.chain import _pyevm_support as sup
from sim.chain.base import (
    CHAIN_ID,
    DEFAULT_BLOCK_GAS_LIMIT,
    DEFAULT_FUNDING_WEI,
    DEFAULT_GENESIS_TIMESTAMP,
    Account,
    Block,
    Chain,
    Receipt,
)
from sim.chain.keys import derive_account, private_key_object, seed_bytes
from sim.errors import ChainError, InputError, OutOfGas


@dataclass(frozen=True)
class _Snapshot:
    """What :meth:`PyEVMChain.revert` restores."""

    head_number: int
    head_hash: bytes
    mempool: tuple[bytes, ...]
    nonces: tuple[tuple[bytes, int], ...]
    funds: tuple[tuple[bytes, int], ...]


class PyEVMChain(sup.PyEvmRecords, Chain):
    """A deterministic py-evm chain; see the module docstring.

    ``dropped`` maps the hash of each queued transaction py-evm refused when
    mining (e.g. its sender's balance was lowered by :meth:`fund`) to the reason.
    """

    name = "pyevm"

    def __init__(
        self,
        seed: int | bytes,
        *,
        block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
        genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
    ) -> None:
        self._seed = seed_bytes(seed)
        if block_gas_limit < 5_000 or genesis_timestamp < 0:
            raise InputError("block_gas_limit must be >= 5000 and genesis_timestamp >= 0")
        self._gas_limit = block_gas_limit
        self._context = ChainContext(CHAIN_ID)
        genesis: dict[str, Any] = {
            "coinbase": ZERO_ADDRESS,
            "difficulty": 0,
            "gas_limit": block_gas_limit,
            "timestamp": genesis_timestamp,
            "extra_data": b"",
            "mix_hash": ZERO_HASH32,
            "nonce": b"\x00" * 8,
        }
        with sup.translated("cannot build genesis"):
            self._evm = sup.CancunChain.from_genesis(AtomicDB(), genesis, {})
        self._db = self._evm.chaindb
        head = self._evm.get_canonical_head()
        self._headers: list[BlockHeaderAPI] = [head]
        self._blocks: list[Block | None] = [self._block_record(head, ())]
        self._receipts: dict[bytes, Receipt] = {}
        self._txs: dict[bytes, SignedTransactionAPI] = {}
        self._raw: dict[bytes, bytes] = {}
        self._mempool: list[bytes] = []
        self._mempool_gas = 0  # sum of the queued gas limits
        self._nonces: dict[bytes, int] = {}
        self._funds: list[tuple[bytes, int]] = []
        self._accounts: dict[str, Account] = {}
        self.dropped: dict[bytes, str] = {}
        self._view_state: StateAPI | None = None
        self._pending_state: StateAPI | None = None
        self._pending_ts: int | None = None  # timestamp the pending state assumes

    # -- accounts ---------------------------------------------------------
    def account(self, label: str) -> Account:
        """The account for ``label`` (cached; see :mod:`sim.chain.keys`)."""
        acct = self._accounts.get(label)
        if acct is None:
            acct = self._accounts[label] = derive_account(self._seed, label)
        return acct

    def fund(self, address: bytes, wei: int = DEFAULT_FUNDING_WEI) -> None:
        """Set the balance now for reads; the write is replayed at the start of the next block."""
        if wei < 0:
            raise InputError(f"balance must be >= 0, got {wei}")
        self._funds.append((bytes(address), wei))
        self._view_state = None
        self._pending_state = None

    def balance(self, address: bytes) -> int:
        """The balance at the head, including funding not yet mined."""
        return int(self._view().get_balance(Address(address)))

    def nonce(self, address: bytes) -> int:
        """The next nonce of ``address``, counting the mempool."""
        nonce = self._nonces.get(address)
        if nonce is None:
            nonce = int(self._view().get_nonce(Address(address)))
        return nonce

    # -- execution --------------------------------------------------------
    def send(
        self,
        sender: Account,
        to: bytes | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
        estimate_at: int | None = None,
    ) -> bytes:
        """Sign an EIP-1559 transaction and queue it (see :meth:`Chain.send`)."""
        nonce = self.nonce(sender.address)
        max_fee = self._max_fee()
        target = b"" if to is None else bytes(to)
        if gas is None:
            if estimate_at is not None:
                self._set_pending_timestamp(estimate_at)
            gas = self._estimate(sender.address, nonce, target, data, value, max_fee)
            tried = True
        else:
            tried = False
        unsigned = sup.TX_BUILDER.new_unsigned_dynamic_fee_transaction(
            CHAIN_ID, nonce, sup.PRIORITY_FEE, max_fee, gas, Address(target), value, data, ()
        )
        with sup.translated("cannot sign transaction"):
            unsigned.validate()
            tx = unsigned.as_signed_transaction(private_key_object(sender.private_key))
        # We signed it, so the sender is known: seed py-evm's cached property rather than
        # recover it from the signature (the signature is still checked when mined).
        vars(tx)["sender"] = Address(sender.address)
        return self._queue(tx, tx.encode(), already_applied=tried)

    def send_raw(self, raw_tx: bytes) -> bytes:
        """Decode, check and queue a signed transaction (replay)."""
        with sup.translated("invalid raw transaction"):
            tx = sup.TX_BUILDER.decode(raw_tx)
            tx.validate()
        if tx.chain_id != CHAIN_ID:
            raise ChainError(f"transaction chain id {tx.chain_id} is not {CHAIN_ID}")
        return self._queue(tx, bytes(raw_tx), already_applied=False)

    def _queue(self, tx: SignedTransactionAPI, raw: bytes, *, already_applied: bool) -> bytes:
        """Check nonce, gas and funds of ``tx``, then append it to the mempool."""
        with sup.translated("invalid transaction"):
            sender = bytes(tx.sender)
        tx_hash = bytes(tx.hash)
        expected = self.nonce(sender)
        if tx.nonce != expected:
            raise ChainError(
                f"nonce {tx.nonce} of {sup.hex_addr(sender)} is wrong: next nonce is {expected}"
            )
        if tx.gas > self._gas_limit:
            raise OutOfGas(f"gas limit {tx.gas} exceeds the block gas limit {self._gas_limit}")
        if tx.gas < tx.intrinsic_gas:
            raise OutOfGas(f"gas limit {tx.gas} is below the intrinsic gas {tx.intrinsic_gas}")
        if not already_applied:
            state = self._pending_state or self._view()
            cost = tx.gas * tx.max_fee_per_gas + tx.value
            if state.get_balance(Address(sender)) < cost:
                raise ChainError(
                    f"insufficient funds: {sup.hex_addr(sender)} has "
                    f"{state.get_balance(Address(sender))} wei, transaction may cost {cost}"
                )
            if self._pending_state is not None:
                self._apply_to_pending(tx)
        self._txs[tx_hash] = tx
        self._raw[tx_hash] = raw
        self._mempool.append(tx_hash)
        self._mempool_gas += tx.gas
        self._nonces[sender] = expected + 1
        return tx_hash

    def call(self, to: bytes, data: bytes, *, sender: bytes | None = None) -> bytes:
        """Run a read-only call on the head view; nothing persists."""
        state = self._view()
        origin = Address(ZERO_ADDRESS if sender is None else bytes(sender))
        nonce = state.get_nonce(origin)
        unsigned = sup.TX_BUILDER.new_unsigned_dynamic_fee_transaction(
            CHAIN_ID, nonce, 0, 0, self._gas_limit, Address(to), 0, data, ()
        )
        snap = state.snapshot()
        try:
            with sup.translated("call failed"):
                computation = state.apply_transaction(sup.spoof(unsigned, origin))
        finally:
            state.revert(snap)
        return sup.raise_for_call(computation)

    def pending(self) -> tuple[bytes, ...]:
        """Hashes of queued transactions, in arrival order."""
        return tuple(self._mempool)

    def _estimate(
        self, sender: bytes, nonce: int, to: bytes, data: bytes, value: int, max_fee: int
    ) -> int:
        """Gas limit from one trial run on the pending state (whose effects are kept)."""
        return sup.trial_gas_limit(
            self._pending(), sender=sender, nonce=nonce, to=to, data=data, value=value,
            max_fee=max_fee, block_gas_limit=self._gas_limit, translate=None,
        )

    def _max_fee(self) -> int:
        """Fee cap: twice the next base fee, grown 12.5% per block of backlog, plus the tip.

        The growth keeps a transaction valid while a saturated mempool drains
        (the base fee can rise 12.5% per full block).
        """
        fee = 2 * calculate_expected_base_fee_per_gas(self._headers[-1])
        backlog = self._mempool_gas // self._gas_limit
        for _ in range(backlog):
            fee = fee * 9 // 8 + 1
        return fee + sup.PRIORITY_FEE

    # -- state views ------------------------------------------------------
    def _view(self) -> StateAPI:
        """Head state + unmined funding, in the head block's context, gas free."""
        if self._view_state is None:
            head = self._headers[-1]
            ctx_header = head.copy(base_fee_per_gas=0)
            self._view_state = self._build_state(ctx_header, head.state_root)
        return self._view_state

    def _set_pending_timestamp(self, timestamp: int) -> None:
        """Estimate in a next block stamped ``timestamp`` (rebuilding the pending state)."""
        if not isinstance(timestamp, int) or timestamp <= self.timestamp:
            raise InputError(f"estimate_at must be an int after the head's {self.timestamp}")
        if timestamp != self._pending_ts:
            self._pending_ts = timestamp
            self._pending_state = None

    def _pending(self) -> StateAPI:
        """Head view + every queued transaction, in a provisional next block's context."""
        if self._pending_state is None:
            if self._pending_ts is not None and self._pending_ts <= self.timestamp:
                self._pending_ts = None
            header = self._next_header(self._pending_ts)
            self._pending_state = self._build_state(header, None)
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
            with sup.translated("transaction cannot be applied"):
                state.apply_transaction(tx)
        except ChainError:
            state.revert(snap)
            raise
        state.commit(snap)
        state.lock_changes()

    def _build_state(self, header: BlockHeaderAPI, root: bytes | None) -> StateAPI:
        """A state for ``header``'s context on ``root`` (default the header's), funds applied."""
        vm_class = sup.VM_CLASS
        prev = vm_class.get_prev_hashes(header.parent_hash, self._db) or ()
        ctx = vm_class.create_execution_context(header, prev, self._context)
        state = vm_class.get_state_class()(self._db.db, ctx, Hash32(root or header.state_root))
        for address, wei in self._funds:
            state.set_balance(Address(address), wei)
        state.lock_changes()
        return state

    def _next_header(self, timestamp: int | None) -> BlockHeaderAPI:
        """The header of the next block on top of the head (timestamp default: head + 1)."""
        head = self._headers[-1]
        when = head.timestamp + 1 if timestamp is None else timestamp
        return sup.VM_CLASS.create_header_from_parent(
            head, timestamp=when, gas_limit=self._gas_limit, coinbase=ZERO_ADDRESS
        )

    # -- blocks -----------------------------------------------------------
    def mine(self, timestamp: int | None = None) -> Block:
        """Mine the next block (see :meth:`Chain.mine` and :mod:`sim.chain._pyevm_block`)."""
        from sim.chain._pyevm_block import build_block

        head = self._headers[-1]
        if timestamp is not None and not isinstance(timestamp, int):
            raise InputError(f"block timestamp must be an int (seconds), got {timestamp!r}")
        if timestamp is not None and timestamp <= head.timestamp:
            raise ChainError(
                f"block timestamp {timestamp} must be greater than the head's {head.timestamp}"
            )
        header = self._next_header(timestamp)
        txs = [self._txs[h] for h in self._mempool]
        with sup.translated(f"cannot mine block {header.block_number}"):
            vm = cast(VM, self._evm.get_vm(header))
            built = build_block(vm, self._funds, txs, self._gas_limit)
            self._db.persist_block(built.block)
        included = {bytes(tx.hash) for tx in built.included}
        for tx, reason in built.dropped:
            tx_hash = bytes(tx.hash)
            self.dropped[tx_hash] = reason
            self._nonces.pop(bytes(tx.sender), None)
            included.add(tx_hash)  # leaves the mempool too
        self._mempool = [h for h in self._mempool if h not in included]
        self._mempool_gas = sum(self._txs[h].gas for h in self._mempool)
        for receipt in built.receipts:
            self._receipts[receipt.tx_hash] = receipt
        self._funds = []
        self._headers.append(built.block.header)
        record = self._block_record(built.block.header, built.receipts)
        self._blocks.append(record)
        self._view_state = None
        self._pending_state = None
        self._pending_ts = None
        return record

    def state_blobs(self) -> list[bytes]:
        """Every value in the chain's database (trie nodes, code, headers), for privacy scans."""
        store = getattr(self._db.db, "wrapped_db", None)
        kv = getattr(store, "kv_store", None)
        return list(kv.values()) if kv is not None else []

    # -- state (head number, time and gas limit: MinedRecords) ------------
    def storage_at(self, address: bytes, slot: int) -> int:
        """Storage ``slot`` of ``address`` at the head."""
        return int(self._view().get_storage(Address(address), slot))

    def code_at(self, address: bytes) -> bytes:
        """Runtime code of ``address`` at the head."""
        return bytes(self._view().get_code(Address(address)))

    def snapshot(self) -> object:
        """A handle to the head, mempool, nonces and unmined funding."""
        head = self._headers[-1]
        return _Snapshot(
            head_number=head.block_number,
            head_hash=bytes(head.hash),
            mempool=tuple(self._mempool),
            nonces=tuple(self._nonces.items()),
            funds=tuple(self._funds),
        )

    def revert(self, snapshot: object) -> None:
        """Drop blocks mined after ``snapshot`` and restore its mempool and funding."""
        if not isinstance(snapshot, _Snapshot):
            raise InputError(f"not a snapshot of this chain: {snapshot!r}")
        n = snapshot.head_number
        if n >= len(self._headers) or bytes(self._headers[n].hash) != snapshot.head_hash:
            raise ChainError("snapshot is not on this chain's history (reverted past it?)")
        for block in self._blocks[n + 1 :]:
            for receipt in block.receipts if block is not None else ():
                self._receipts.pop(receipt.tx_hash, None)
        del self._headers[n + 1 :]
        del self._blocks[n + 1 :]
        self._mempool = list(snapshot.mempool)
        self._mempool_gas = sum(self._txs[h].gas for h in self._mempool)
        self._nonces = dict(snapshot.nonces)
        self._funds = list(snapshot.funds)
        self._view_state = None
        self._pending_state = None
        self._pending_ts = None
