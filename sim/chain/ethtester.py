"""eth-tester's PyEVMBackend behind the :class:`~sim.chain.base.Chain` interface (an oracle).

Differential tests run the same signed transactions here and on the default
``pyevm`` backend and compare receipts and state roots, so this backend takes
as little as possible from :mod:`sim.chain.pyevm`: blocks are built by
eth-tester's own py-evm ``MiningChain`` (one ``apply_transaction`` per
transaction, then ``mine_block``), receipts come from eth-tester's receipt
serializer, and reads of balances, nonces, code and storage go through
:class:`eth_tester.EthereumTester`. What it shares with ``pyevm`` is what must
be identical for the comparison to mean anything: the seeded keys, the
transaction signing (:func:`~sim.chain._pyevm_support.sign_transaction`), the genesis header, and the
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
  :data:`~sim.chain._mempool.GAS_MARGIN`) so blocks are packed the
  same, and :meth:`call` runs gas-price free on the head state, like
  ``eth_call``.
* **Return data and revert reasons** are not in eth-tester's receipts; they
  are read from the computation ``MiningChain.apply_transaction`` returns
  (eth-tester's ``send_raw_transaction`` does the same decode + apply, but
  drops the computation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

from eth.abc import (
    BlockHeaderAPI,
    ComputationAPI,
    SignedTransactionAPI,
    StateAPI,
)
from eth.constants import GENESIS_PARENT_HASH, POST_MERGE_MIX_HASH, ZERO_ADDRESS, ZERO_HASH32
from eth.vm.forks.cancun import CancunVM
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester import exceptions as tester_exceptions
from eth_tester.backends.pyevm.serializers import serialize_transaction_receipt
from eth_typing import Address
from eth_utils import to_checksum_address

from sim.chain import _pyevm_support as sup
from sim.chain._mempool import PoolSnapshot
from sim.chain._pyevm_support import next_max_fee as next_max_fee  # re-exported
from sim.chain._pyevm_support import sign_transaction as sign_transaction  # re-exported
from sim.chain.base import (
    CHAIN_ID,
    Block,
    Chain,
    Log,
    Receipt,
)
from sim.errors import ChainError

#: The genesis header fields pyevm uses (so both genesis blocks hash the same).
GENESIS_FIELDS: dict[str, Any] = {
    "coinbase": ZERO_ADDRESS,
    "difficulty": 0,
    "extra_data": b"",
    "mix_hash": ZERO_HASH32,
    "nonce": b"\x00" * 8,
}


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


class _Snapshot(PoolSnapshot):
    """What :meth:`EthTesterChain.revert` restores."""


class EthTesterChain(sup.PyEvmPool, Chain):
    """eth-tester's PyEVMBackend (Cancun, chain id 31337) as a Chain; see the module docstring.

    ``tester`` is the :class:`eth_tester.EthereumTester` (auto-mining off) and
    ``dropped`` maps transactions refused at mining to the reason, as in pyevm.
    Keys, signing, queuing, funding, the pending state and snapshots are
    pyevm's (:class:`~sim.chain._pyevm_support.PyEvmPool`).
    """

    name = "ethtester"
    _snapshot_type = _Snapshot

    def _genesis(self, block_gas_limit: int, genesis_timestamp: int) -> BlockHeaderAPI:
        """eth-tester's backend and tester from our genesis header; that header."""
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
        return cast(BlockHeaderAPI, self._evm.get_canonical_head())

    @property
    def _evm(self) -> Any:
        """eth-tester's py-evm MiningChain."""
        return self._backend.chain

    def _translated(self, what: str) -> AbstractContextManager[None]:
        """eth-tester's errors too (:func:`_translated`)."""
        return _translated(what)

    # -- accounts ---------------------------------------------------------
    def balance(self, address: bytes) -> int:
        """eth-tester's balance at the head, or the last unmined funding of ``address``."""
        for funded, wei in reversed(self._funds):
            if funded == address:
                return wei
        with _translated("cannot read balance"):
            return int(self.tester.get_balance(_hex(address)))

    def _head_nonce(self, address: bytes) -> int:
        """eth-tester's nonce of ``address`` at the head."""
        with _translated("cannot read nonce"):
            return int(self.tester.get_nonce(_hex(address)))

    # -- execution --------------------------------------------------------
    def _decode(self, raw_tx: bytes) -> SignedTransactionAPI:
        """Decode a signed transaction with eth-tester's VM (as its send_raw_transaction does)."""
        with _translated("invalid raw transaction"):
            builder = self._evm.get_vm().get_transaction_builder()
        return sup.decode_signed(bytes(raw_tx), builder, _translated)

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

    # -- state views (estimation and calls) -------------------------------
    def _state_for(self, header: BlockHeaderAPI) -> StateAPI:
        """A state in ``header``'s context on its root, with the unmined funding applied."""
        with _translated("cannot build state"):
            state = self._evm.get_vm(header).state
            for address, wei in self._funds:
                state.set_balance(Address(address), wei)
            state.lock_changes()
        return cast(StateAPI, state)

    def _next_header(self, timestamp: int | None) -> BlockHeaderAPI:
        """The header of the next block on the head (timestamp default: head + 1)."""
        head = self._headers[-1]
        when = head.timestamp + 1 if timestamp is None else timestamp
        with _translated("cannot build the next header"):
            header = self._evm.create_header_from_parent(head, timestamp=when, coinbase=ZERO_ADDRESS)
        return cast(BlockHeaderAPI, header)

    # -- blocks -----------------------------------------------------------
    def mine(self, timestamp: int | None = None) -> Block:
        """Mine one block on eth-tester's chain: funding, then the queued txs that fit, in order.

        Inclusion rule as pyevm's: stop at the first transaction whose gas limit
        exceeds the gas the block has left (or whose fee cap is below the base
        fee); drop one py-evm refuses, with its sender's later ones.
        """
        self._check_block_timestamp(timestamp, self._headers[-1].timestamp)
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
            self._drop(tx_hash, bytes(self._txs[tx_hash].sender), reason)
            done.add(tx_hash)
        return self._settle(mined.header, receipts, done)

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
        """Every value in eth-tester's chain database (trie nodes, code, headers), for privacy
        scans; a :class:`ChainError` when it is not reachable."""
        return sup.database_values(self._evm.chaindb.db, self.name)

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

    def _rewind(self, header: BlockHeaderAPI) -> None:
        """Move eth-tester's canonical head back to ``header`` (for :meth:`revert`).

        eth-tester's ``revert_to_snapshot`` re-imports the block, re-executing it,
        which fails for a block holding funding writes; the canonical-head move
        underneath it is done here without the re-import.
        """
        chaindb = self._evm.chaindb
        with _translated("cannot revert"):
            chaindb._set_as_canonical_chain_head(chaindb.db, header, GENESIS_PARENT_HASH)
            self._evm.header = self._evm.create_header_from_parent(header)
