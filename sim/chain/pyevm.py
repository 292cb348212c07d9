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

from typing import Any, cast

from eth.abc import BlockHeaderAPI, StateAPI
from eth.chains.base import ChainContext
from eth.constants import ZERO_ADDRESS, ZERO_HASH32
from eth.db.atomic import AtomicDB
from eth.vm.base import VM
from eth_typing import Address, Hash32

from sim.chain import _pyevm_support as sup
from sim.chain._mempool import PoolSnapshot
from sim.chain.base import (
    CHAIN_ID,
    Block,
    Chain,
)


class _Snapshot(PoolSnapshot):
    """What :meth:`PyEVMChain.revert` restores."""


class PyEVMChain(sup.PyEvmPool, Chain):
    """A deterministic py-evm chain; see the module docstring.

    ``dropped`` maps the hash of each queued transaction py-evm refused when
    mining (e.g. its sender's balance was lowered by :meth:`fund`) to the reason.
    Keys, sending, queuing, funding, the pending state and snapshots:
    :class:`~sim.chain._pyevm_support.PyEvmPool`.
    """

    name = "pyevm"
    _snapshot_type = _Snapshot

    def _genesis(self, block_gas_limit: int, genesis_timestamp: int) -> BlockHeaderAPI:
        """A py-evm Cancun chain from genesis, in memory; its genesis header."""
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
        return self._evm.get_canonical_head()

    # -- accounts ---------------------------------------------------------
    def balance(self, address: bytes) -> int:
        """The balance at the head, including funding not yet mined."""
        return int(self._view().get_balance(Address(address)))

    def _head_nonce(self, address: bytes) -> int:
        """The nonce of ``address`` in the head view."""
        return int(self._view().get_nonce(Address(address)))

    # -- execution --------------------------------------------------------
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

    # -- state views ------------------------------------------------------
    def _state_for(self, header: BlockHeaderAPI) -> StateAPI:
        """A state for ``header``'s context on its root, funds applied."""
        vm_class = sup.VM_CLASS
        prev = vm_class.get_prev_hashes(header.parent_hash, self._db) or ()
        ctx = vm_class.create_execution_context(header, prev, self._context)
        state = vm_class.get_state_class()(self._db.db, ctx, Hash32(header.state_root))
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

        self._check_block_timestamp(timestamp, self._headers[-1].timestamp)
        header = self._next_header(timestamp)
        txs = [self._txs[h] for h in self._mempool]
        with sup.translated(f"cannot mine block {header.block_number}"):
            vm = cast(VM, self._evm.get_vm(header))
            built = build_block(vm, self._funds, txs, self._gas_limit)
            self._db.persist_block(built.block)
        done = {bytes(tx.hash) for tx in built.included}
        for tx, reason in built.dropped:
            tx_hash = bytes(tx.hash)
            self._drop(tx_hash, bytes(tx.sender), reason)
            done.add(tx_hash)  # leaves the mempool too
        return self._settle(built.block.header, built.receipts, done)

    def state_blobs(self) -> list[bytes]:
        """Every value in the chain's database (trie nodes, code, headers), for privacy scans.

        A :class:`ChainError` when py-evm's database is not reachable
        (:func:`~sim.chain._pyevm_support.database_values`).
        """
        return sup.database_values(self._db.db, self.name)

    # -- state (head number, time and gas limit: MinedRecords) ------------
    def storage_at(self, address: bytes, slot: int) -> int:
        """Storage ``slot`` of ``address`` at the head."""
        return int(self._view().get_storage(Address(address), slot))

    def code_at(self, address: bytes) -> bytes:
        """Runtime code of ``address`` at the head."""
        return bytes(self._view().get_code(Address(address)))
