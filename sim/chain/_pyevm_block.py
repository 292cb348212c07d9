"""Build one block on a py-evm VM: funding writes, then transactions in order, then seal.

Inclusion rule (the one geth's miner uses for a single ordered queue): a
transaction is included when its gas limit fits the gas the block has left
(``limit - gas used so far``) and its fee cap covers the block's base fee.
The first transaction that does not fit stops the block, so arrival order
(and each sender's nonce order) is kept; it and everything after it wait for
the next block. A transaction py-evm rejects (bad nonce, funds) is dropped,
with the later transactions of its sender in this block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth.vm.base import VM
from eth_typing import Address
from eth_utils import ValidationError

from sim.chain._pyevm_support import make_receipt
from sim.chain.base import Receipt


@dataclass(frozen=True)
class BuiltBlock:
    """A sealed block with what happened to the transactions offered to it."""

    block: BlockAPI
    included: tuple[SignedTransactionAPI, ...]
    receipts: tuple[Receipt, ...]
    dropped: tuple[tuple[SignedTransactionAPI, str], ...]


def build_block(
    vm: VM,
    funds: Sequence[tuple[bytes, int]],
    txs: Sequence[SignedTransactionAPI],
    gas_limit: int,
) -> BuiltBlock:
    """Apply ``funds`` then as many of ``txs`` as fit to ``vm``'s block and seal it."""
    state = vm.state
    for address, wei in funds:
        state.set_balance(Address(address), wei)
    base_block = vm.get_block()
    vm.block_preprocessing(base_block)
    header = base_block.header
    base_fee = header.base_fee_per_gas or 0
    block_number = header.block_number
    included: list[SignedTransactionAPI] = []
    evm_receipts: list[ReceiptAPI] = []
    receipts: list[Receipt] = []
    dropped: list[tuple[SignedTransactionAPI, str]] = []
    dropped_senders: set[bytes] = set()
    log_index = 0
    for tx in txs:
        if tx.gas > gas_limit - header.gas_used or tx.max_fee_per_gas < base_fee:
            break
        sender = tx.sender
        if sender in dropped_senders:
            dropped.append((tx, "an earlier transaction of its sender was dropped"))
            continue
        try:
            evm_receipt, computation = vm.apply_transaction(header, tx)
        except ValidationError as exc:
            dropped.append((tx, str(exc)))
            dropped_senders.add(sender)
            continue
        gas_used = evm_receipt.gas_used - header.gas_used
        header = vm.add_receipt_to_header(header, evm_receipt)
        header = vm.increment_blob_gas_used(header, tx)
        receipts.append(
            make_receipt(
                tx,
                evm_receipt,
                computation,
                block_number=block_number,
                tx_index=len(included),
                gas_used=gas_used,
                first_log_index=log_index,
            )
        )
        log_index += len(evm_receipt.logs)
        included.append(tx)
        evm_receipts.append(evm_receipt)
    filled = vm.set_block_transactions_and_withdrawals(base_block, header, included, evm_receipts)
    sealed = vm.mine_block(filled).block
    return BuiltBlock(sealed, tuple(included), tuple(receipts), tuple(dropped))
