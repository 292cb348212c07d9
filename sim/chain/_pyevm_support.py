"""py-evm plumbing for :mod:`sim.chain.pyevm`: the chain class, error translation, receipts.

Kept apart so :class:`sim.chain.pyevm.PyEVMChain` reads as the Chain contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.exceptions import PyEVMError, Revert
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeysValidationError
from eth_typing import BlockNumber
from eth_utils import ValidationError, to_checksum_address

from sim.chain.abi import decode_revert_reason
from sim.chain.base import CHAIN_ID, Block, Log, Receipt
from sim.chain.records import MinedRecords
from sim.errors import ChainError

#: The one VM of every block.
VM_CLASS = CancunVM
#: Builds and decodes Cancun transactions.
TX_BUILDER = CancunTransactionBuilder
#: Priority fee of every transaction this backend signs: 1 gwei.
PRIORITY_FEE = 10**9
#: Extra gas added to a trial execution's consumption to make a gas limit.
GAS_MARGIN = 5_000

_PY_EVM_ERRORS: tuple[type[BaseException], ...] = (
    PyEVMError,
    ValidationError,
    BadSignature,
    KeysValidationError,
    rlp.exceptions.RLPException,
)


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


def hex_addr(address: bytes) -> str:
    """Checksummed form of a 20-byte address, for messages."""
    return str(to_checksum_address(address))


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
