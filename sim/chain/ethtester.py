"""eth-tester's PyEVMBackend behind the :class:`~sim.chain.base.Chain` interface (an oracle).

Differential tests run the same signed transactions here and on the default
``pyevm`` backend and compare receipts and state roots, so this backend takes
as little as possible from :mod:`sim.chain.pyevm`: blocks are built by
eth-tester's own py-evm ``MiningChain`` (one ``apply_transaction`` per
transaction, then ``mine_block``), receipts come from eth-tester's receipt
serializer, and reads of balances, nonces, code and storage go through
:class:`eth_tester.EthereumTester`. What it shares with ``pyevm`` is what must
be identical for the comparison to mean anything: the seeded keys, the
transaction signing (:func:`sign_transaction`), the genesis header, and the
gas-estimation and block-packing rules.

Where eth-tester 0.14 does not fit, and what is done instead:

* **Chain id.** eth-tester hard-codes 131277322940537 on the chain class it
  creates per backend (``MainnetTesterPosChain``); there is no parameter. That
  class is private to this backend instance, so its ``chain_id`` is set to
  :data:`~sim.chain.base.CHAIN_ID` (31337): signed bytes, ``CHAINID`` and
  transaction hashes then equal pyevm's.
* **Block timestamps.** ``time_travel`` mines an extra block and cannot go
  back before the wall clock; :meth:`mine` builds the pending header from
  the head with the caller's timestamp (what ``MiningChain.set_header_timestamp``
  does) before applying the transactions.
* **prevrandao.** eth-tester's ``mine_blocks`` stamps a random ``mix_hash``
  into every block; :meth:`mine` calls the chain's ``mine_block`` with the
  post-merge constant instead, as pyevm does, so block hashes are
  reproducible (and, in practice, equal pyevm's).
* **Funding.** :meth:`fund` writes the balance directly into the state of the
  next mined block, before its transactions (as pyevm does), so state roots
  can be compared. Such a block is not re-executable by consensus rules, so
  eth-tester's ``revert_to_snapshot`` (which re-imports the snapshot block)
  cannot be used: :meth:`revert` moves the canonical head back itself.
* **Gas limits and calls.** eth-tester estimates with a binary search in a
  block stamped with the wall clock, and its ``call`` needs a funded sender
  whose fee cap covers the base fee. Estimation therefore follows pyevm's
  rule (one trial on the pending state at ``estimate_at``, used + 25% +
  :data:`~sim.chain._pyevm_support.GAS_MARGIN`) so blocks are packed the
  same, and :meth:`call` runs gas-price free on the head state, like
  ``eth_call``.
* **Return data and revert reasons** are not in eth-tester's receipts; they
  are read from the computation ``MiningChain.apply_transaction`` returns
  (eth-tester's ``send_raw_transaction`` does the same decode + apply, but
  drops the computation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from eth.abc import (
    BlockHeaderAPI,
    ComputationAPI,
    SignedTransactionAPI,
    StateAPI,
)
from eth.constants import GENESIS_PARENT_HASH, POST_MERGE_MIX_HASH, ZERO_ADDRESS, ZERO_HASH32
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester import exceptions as tester_exceptions
from eth_tester.backends.pyevm.serializers import serialize_transaction_receipt
from eth_typing import Address
from eth_utils import to_checksum_address

from sim.chain import _pyevm_support as sup
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
from sim.chain.keys import derive_account, private_key_object, seed_bytes
from sim.errors import ChainError, InputError, OutOfGas

#: The genesis header fields pyevm uses (so both genesis blocks hash the same).
GENESIS_FIELDS: dict[str, Any] = {
    "coinbase": ZERO_ADDRESS,
    "difficulty": 0,
    "extra_data": b"",
    "mix_hash": ZERO_HASH32,
    "nonce": b"\x00" * 8,
}


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
    """Sign an EIP-1559 transaction exactly as :meth:`PyEVMChain.send` does; return it and its bytes.

    Chain id :data:`CHAIN_ID`, priority fee :data:`~sim.chain._pyevm_support.PRIORITY_FEE`,
    no access list; ``to=None`` deploys ``data``.
    """
    target = b"" if to is None else bytes(to)
    unsigned = sup.TX_BUILDER.new_unsigned_dynamic_fee_transaction(
        CHAIN_ID, nonce, sup.PRIORITY_FEE, max_fee, gas, Address(target), value, data, ()
    )
    with sup.translated("cannot sign transaction"):
        unsigned.validate()
        tx = unsigned.as_signed_transaction(private_key_object(account.private_key))
    vars(tx)["sender"] = Address(account.address)  # we signed it: no need to recover
    return tx, bytes(tx.encode())


def next_max_fee(head: BlockHeaderAPI, backlog_gas: int, gas_limit: int) -> int:
    """pyevm's fee cap: twice the next base fee, +12.5% per block of backlog, plus the tip."""
    fee = 2 * calculate_expected_base_fee_per_gas(head)
    for _ in range(backlog_gas // gas_limit):
        fee = fee * 9 // 8 + 1
    return fee + sup.PRIORITY_FEE


#: eth-tester's own exceptions (it has no common base class).
_TESTER_ERRORS: tuple[type[BaseException], ...] = tuple(
    cls
    for cls in vars(tester_exceptions).values()
    if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == tester_exceptions.__name__
)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Re-raise eth-tester, py-evm, eth-keys and rlp errors as :class:`ChainError`."""
    try:
        with sup.translated(what):
            yield
    except _TESTER_ERRORS as exc:
        raise ChainError(f"{what}: {exc}") from exc


def _hex(address: bytes) -> str:
    """Checksummed address for eth-tester's inbound validators."""
    return str(to_checksum_address(address))


@dataclass(frozen=True)
class _Snapshot:
    """What :meth:`EthTesterChain.revert` restores."""

    head_number: int
    head_hash: bytes
    mempool: tuple[bytes, ...]
    nonces: tuple[tuple[bytes, int], ...]
    funds: tuple[tuple[bytes, int], ...]


class EthTesterChain(sup.PyEvmRecords, Chain):
    """eth-tester's PyEVMBackend (Cancun, chain id 31337) as a Chain; see the module docstring.

    ``tester`` is the :class:`eth_tester.EthereumTester` (auto-mining off) and
    ``dropped`` maps transactions refused at mining to the reason, as in pyevm.
    """

    name = "ethtester"

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
        params = PyEVMBackend.generate_genesis_params(
            overrides={**GENESIS_FIELDS, "gas_limit": block_gas_limit, "timestamp": genesis_timestamp}
        )
        with _translated("cannot build genesis"):
            self._backend = PyEVMBackend(
                genesis_parameters=params, genesis_state={}, vm_configuration=((0, CancunVM),)
            )
        # eth-tester has no chain-id parameter; the chain class is this backend's own.
        type(self._backend.chain).chain_id = CHAIN_ID
        self.tester = EthereumTester(self._backend, auto_mine_transactions=False)
        head = self._evm.get_canonical_head()
        self._headers: list[BlockHeaderAPI] = [head]
        self._blocks: list[Block | None] = [self._block_record(head, ())]
        self._receipts: dict[bytes, Receipt] = {}
        self._txs: dict[bytes, SignedTransactionAPI] = {}
        self._raw: dict[bytes, bytes] = {}
        self._mempool: list[bytes] = []
        self._mempool_gas = 0
        self._nonces: dict[bytes, int] = {}
        self._funds: list[tuple[bytes, int]] = []
        self._accounts: dict[str, Account] = {}
        self.dropped: dict[bytes, str] = {}
        self._view_state: StateAPI | None = None
        self._pending_state: StateAPI | None = None
        self._pending_ts: int | None = None

    @property
    def _evm(self) -> Any:
        """eth-tester's py-evm MiningChain."""
        return self._backend.chain

    # -- accounts ---------------------------------------------------------
    def account(self, label: str) -> Account:
        """The account for ``label`` (same keys as every backend: :mod:`sim.chain.keys`)."""
        acct = self._accounts.get(label)
        if acct is None:
            acct = self._accounts[label] = derive_account(self._seed, label)
        return acct

    def fund(self, address: bytes, wei: int = DEFAULT_FUNDING_WEI) -> None:
        """Set the balance for reads now; it is written into the next block's state first."""
        if wei < 0:
            raise InputError(f"balance must be >= 0, got {wei}")
        self._funds.append((bytes(address), wei))
        self._view_state = None
        self._pending_state = None

    def balance(self, address: bytes) -> int:
        """eth-tester's balance at the head, or the last unmined funding of ``address``."""
        for funded, wei in reversed(self._funds):
            if funded == address:
                return wei
        with _translated("cannot read balance"):
            return int(self.tester.get_balance(_hex(address)))

    def nonce(self, address: bytes) -> int:
        """The next nonce of ``address``, counting the mempool."""
        nonce = self._nonces.get(address)
        if nonce is None:
            with _translated("cannot read nonce"):
                nonce = int(self.tester.get_nonce(_hex(address)))
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
        """Sign as pyevm does and queue (see :meth:`Chain.send`); estimation as pyevm's."""
        nonce = self.nonce(sender.address)
        max_fee = next_max_fee(self._headers[-1], self._mempool_gas, self._gas_limit)
        target = b"" if to is None else bytes(to)
        tried = gas is None
        if gas is None:
            if estimate_at is not None:
                self._set_pending_timestamp(estimate_at)
            gas = self._estimate(sender.address, nonce, target, data, value, max_fee)
        tx, raw = sign_transaction(
            sender, nonce=nonce, max_fee=max_fee, gas=gas, to=to, value=value, data=data
        )
        return self._queue(tx, raw, already_applied=tried)

    def send_raw(self, raw_tx: bytes) -> bytes:
        """Decode a signed transaction with eth-tester's VM (as its send_raw_transaction does)."""
        with _translated("invalid raw transaction"):
            tx = self._evm.get_vm().get_transaction_builder().decode(bytes(raw_tx))
            tx.validate()
        if tx.chain_id != CHAIN_ID:
            raise ChainError(f"transaction chain id {tx.chain_id} is not {CHAIN_ID}")
        return self._queue(tx, bytes(raw_tx), already_applied=False)

    def _queue(self, tx: SignedTransactionAPI, raw: bytes, *, already_applied: bool) -> bytes:
        """Check nonce, gas and funds of ``tx`` (pyevm's rules), then append it to the mempool."""
        with _translated("invalid transaction"):
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
            have = state.get_balance(Address(sender))
            if have < cost:
                raise ChainError(
                    f"insufficient funds: {sup.hex_addr(sender)} has {have} wei, "
                    f"transaction may cost {cost}"
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
        """Run a read-only, gas-price-free call on the head state (with unmined funding)."""
        state = self._view()
        origin = Address(ZERO_ADDRESS if sender is None else bytes(sender))
        unsigned = sup.TX_BUILDER.new_unsigned_dynamic_fee_transaction(
            CHAIN_ID, state.get_nonce(origin), 0, 0, self._gas_limit, Address(to), 0, data, ()
        )
        snap = state.snapshot()
        try:
            with _translated("call failed"):
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
            max_fee=max_fee, block_gas_limit=self._gas_limit, translate=_translated,
        )

    # -- state views (estimation and calls) -------------------------------
    def _state_for(self, header: BlockHeaderAPI) -> StateAPI:
        """A state in ``header``'s context on its root, with the unmined funding applied."""
        with _translated("cannot build state"):
            state = self._evm.get_vm(header).state
            for address, wei in self._funds:
                state.set_balance(Address(address), wei)
            state.lock_changes()
        return cast(StateAPI, state)

    def _view(self) -> StateAPI:
        """Head state + unmined funding, in the head block's context, base fee 0."""
        if self._view_state is None:
            self._view_state = self._state_for(self._headers[-1].copy(base_fee_per_gas=0))
        return self._view_state

    def _set_pending_timestamp(self, timestamp: int) -> None:
        """Estimate in a next block stamped ``timestamp`` (rebuilding the pending state)."""
        if not isinstance(timestamp, int) or timestamp <= self.timestamp:
            raise InputError(f"estimate_at must be an int after the head's {self.timestamp}")
        if timestamp != self._pending_ts:
            self._pending_ts = timestamp
            self._pending_state = None

    def _next_header(self, timestamp: int | None) -> BlockHeaderAPI:
        """The header of the next block on the head (timestamp default: head + 1)."""
        head = self._headers[-1]
        when = head.timestamp + 1 if timestamp is None else timestamp
        with _translated("cannot build the next header"):
            header = self._evm.create_header_from_parent(head, timestamp=when, coinbase=ZERO_ADDRESS)
        return cast(BlockHeaderAPI, header)

    def _pending(self) -> StateAPI:
        """Head + funding + every queued transaction, in a provisional next block's context."""
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
        """Apply ``tx`` to the pending state (a ChainError leaves it unchanged)."""
        assert self._pending_state is not None
        state = self._pending_state
        snap = state.snapshot()
        try:
            with _translated("transaction cannot be applied"):
                state.apply_transaction(tx)
        except ChainError:
            state.revert(snap)
            raise
        state.commit(snap)
        state.lock_changes()

    # -- blocks -----------------------------------------------------------
    def mine(self, timestamp: int | None = None) -> Block:
        """Mine one block on eth-tester's chain: funding, then the queued txs that fit, in order.

        Inclusion rule as pyevm's: stop at the first transaction whose gas limit
        exceeds the gas the block has left (or whose fee cap is below the base
        fee); drop one py-evm refuses, with its sender's later ones.
        """
        head = self._headers[-1]
        if timestamp is not None and not isinstance(timestamp, int):
            raise InputError(f"block timestamp must be an int (seconds), got {timestamp!r}")
        if timestamp is not None and timestamp <= head.timestamp:
            raise ChainError(
                f"block timestamp {timestamp} must be greater than the head's {head.timestamp}"
            )
        chain = self._evm
        chain.header = self._next_header(timestamp)
        number = chain.header.block_number
        computations: dict[bytes, ComputationAPI] = {}
        dropped: list[tuple[bytes, str]] = []
        dropped_senders: set[bytes] = set()
        with _translated(f"cannot mine block {number}"):
            if self._funds:
                state = chain.get_vm(chain.header).state
                for address, wei in self._funds:
                    state.set_balance(Address(address), wei)
                state.persist()
                chain.header = chain.header.copy(state_root=state.state_root)
            for tx_hash in self._mempool:
                tx = self._txs[tx_hash]
                header = chain.header
                if tx.gas > header.gas_limit - header.gas_used:
                    break
                if tx.max_fee_per_gas < (header.base_fee_per_gas or 0):
                    break
                sender = bytes(tx.sender)
                if sender in dropped_senders:
                    dropped.append((tx_hash, "an earlier transaction of its sender was dropped"))
                    continue
                try:
                    with _translated("rejected"):
                        _, _, computation = chain.apply_transaction(tx)
                except ChainError as exc:
                    dropped.append((tx_hash, str(exc)))
                    dropped_senders.add(sender)
                    continue
                computations[tx_hash] = computation
            mined = chain.mine_block(coinbase=ZERO_ADDRESS, mix_hash=POST_MERGE_MIX_HASH)
            receipts = self._receipts_of(mined, computations)
        done = set(computations)
        for tx_hash, reason in dropped:
            self.dropped[tx_hash] = reason
            self._nonces.pop(bytes(self._txs[tx_hash].sender), None)
            done.add(tx_hash)
        self._mempool = [h for h in self._mempool if h not in done]
        self._mempool_gas = sum(self._txs[h].gas for h in self._mempool)
        for receipt in receipts:
            self._receipts[receipt.tx_hash] = receipt
        self._funds = []
        self._headers.append(mined.header)
        record = self._block_record(mined.header, receipts)
        self._blocks.append(record)
        self._view_state = None
        self._pending_state = None
        self._pending_ts = None
        return record

    def _receipts_of(self, block: Any, computations: dict[bytes, ComputationAPI]) -> tuple[Receipt, ...]:
        """Our receipts for a mined block, from eth-tester's receipt serializer.

        Status, gas used, logs and contract address are eth-tester's; return
        data and revert reason come from the computation (receipts lack them).
        """
        evm_receipts = block.get_receipts(self._evm.chaindb)
        vm = self._evm.get_vm(block.header)
        out: list[Receipt] = []
        log_index = 0
        for index, tx in enumerate(block.transactions):
            raw = serialize_transaction_receipt(block, evm_receipts, tx, index, False, vm)
            tx_hash = bytes(raw["transaction_hash"])
            computation = computations[tx_hash]
            logs = tuple(
                Log(
                    address=bytes(entry["address"]),
                    topics=tuple(bytes(t) for t in entry["topics"]),
                    data=bytes(entry["data"]),
                    block_number=int(raw["block_number"]),
                    tx_hash=tx_hash,
                    log_index=log_index + i,  # eth-tester numbers logs per receipt; ours per block
                )
                for i, entry in enumerate(raw["logs"])
            )
            log_index += len(logs)
            is_create = raw["contract_address"] is not None
            out.append(
                Receipt(
                    tx_hash=tx_hash,
                    block_number=int(raw["block_number"]),
                    tx_index=int(raw["transaction_index"]),
                    sender=bytes(raw["from"]),
                    to=None if is_create else bytes(raw["to"]),
                    status=int(raw["status"]),
                    gas_used=int(raw["gas_used"]),
                    logs=logs,
                    contract_address=bytes(raw["contract_address"]) if is_create else None,
                    revert_reason=sup.revert_reason(computation),
                    return_data=(
                        b"" if is_create and computation.is_success else bytes(computation.output)
                    ),
                )
            )
        return tuple(out)

    def state_blobs(self) -> list[bytes]:
        """Every value in eth-tester's chain database (trie nodes, code, headers), for privacy scans."""
        store = getattr(self._evm.chaindb.db, "wrapped_db", None)
        kv = getattr(store, "kv_store", None)
        return list(kv.values()) if kv is not None else []

    # -- state (head number, time and gas limit: MinedRecords) ------------
    def storage_at(self, address: bytes, slot: int) -> int:
        """Storage ``slot`` of ``address`` at the head, through eth-tester."""
        with _translated("cannot read storage"):
            value = self.tester.get_storage_at(_hex(address), hex(slot))
        return int(value, 16)

    def code_at(self, address: bytes) -> bytes:
        """Runtime code of ``address`` at the head, through eth-tester."""
        with _translated("cannot read code"):
            code = self.tester.get_code(_hex(address))
        return bytes.fromhex(code[2:])

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
        """Move eth-tester's canonical head back to ``snapshot``'s block; restore the mempool.

        eth-tester's ``revert_to_snapshot`` re-imports the block, re-executing it,
        which fails for a block holding funding writes; the canonical-head move
        underneath it is done here without the re-import.
        """
        if not isinstance(snapshot, _Snapshot):
            raise InputError(f"not a snapshot of this chain: {snapshot!r}")
        n = snapshot.head_number
        if n >= len(self._headers) or bytes(self._headers[n].hash) != snapshot.head_hash:
            raise ChainError("snapshot is not on this chain's history (reverted past it?)")
        header = self._headers[n]
        chaindb = self._evm.chaindb
        with _translated("cannot revert"):
            chaindb._set_as_canonical_chain_head(chaindb.db, header, GENESIS_PARENT_HASH)
            self._evm.header = self._evm.create_header_from_parent(header)
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
