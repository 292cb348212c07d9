"""What every in-process backend keeps of the blocks it mined, and how it is read.

:class:`MinedRecords` implements :meth:`Chain.receipt`, :meth:`Chain.block`,
:meth:`Chain.get_logs` and the head properties (number, timestamp, state
root, gas limit) over what a backend maintains as it mines: ``_blocks``
(every :class:`Block`, genesis first), ``_receipts`` (by transaction hash),
``_mempool`` (hashes still pending), ``dropped`` (hashes refused at mining,
with the reason) and ``_gas_limit``.
"""

from __future__ import annotations

from sim.chain.base import Block, Log, Receipt
from sim.errors import ChainError


class MinedRecords:
    """Receipt, block and log look-ups over a backend's own records (see the module)."""

    _blocks: list[Block | None]  # None: a forgotten block
    _receipts: dict[bytes, Receipt]
    oldest_block: int = 0
    _mempool: list[bytes]
    dropped: dict[bytes, str]
    _gas_limit: int

    @property
    def block_number(self) -> int:
        """Number of the head block (genesis is 0)."""
        return len(self._blocks) - 1

    @property
    def block_gas_limit(self) -> int:
        """The gas limit of every block."""
        return self._gas_limit

    @property
    def timestamp(self) -> int:
        """Timestamp of the head block."""
        return self._head_block.timestamp

    def state_root(self) -> bytes:
        """State root of the head block."""
        return self._head_block.state_root

    @property
    def _head_block(self) -> Block:
        head = self._blocks[-1]
        assert head is not None  # the head is never forgotten
        return head

    def forget_history(self, before: int) -> None:
        """Drop the records of blocks before ``before`` (never the head); see :meth:`Chain.forget_history`."""
        stop = min(before, len(self._blocks) - 1)
        for number in range(self.oldest_block, stop):
            block = self._blocks[number]
            if block is None:
                continue
            for receipt in block.receipts:
                self._receipts.pop(receipt.tx_hash, None)
                self._forget_transaction(receipt.tx_hash)
            self._blocks[number] = None
        self.oldest_block = max(self.oldest_block, stop)

    def close(self) -> None:
        """Let go of every mined record: after :meth:`Chain.close` the chain is unusable.

        A run's chain holds a transaction, a receipt and its logs for each
        transaction it mined, and the world holding the chain is freed only
        by a full cyclic collection (its simulation processes refer back to
        it). Dropped here, the records are freed at once, and that
        collection has about half the objects to look at (the chain-bound
        IoMT case: 0.24 s -> 0.07 s).
        """
        self._blocks = []
        self._receipts = {}
        getattr(self, "_txs", {}).clear()  # the backend's transactions, where it keeps them

    def _forget_transaction(self, tx_hash: bytes) -> None:
        """Hook: drop what the backend keeps of a mined transaction (nothing by default)."""

    def receipt(self, tx_hash: bytes) -> Receipt:
        """The receipt of a mined transaction."""
        receipt = self._receipts.get(tx_hash)
        if receipt is not None:
            return receipt
        if tx_hash in self.dropped:
            raise ChainError(f"transaction 0x{tx_hash.hex()} was dropped: {self.dropped[tx_hash]}")
        if self.oldest_block:
            raise ChainError(f"unknown transaction 0x{tx_hash.hex()} (history before block "
                             f"{self.oldest_block} was forgotten)")
        if tx_hash in self._mempool:
            raise ChainError(f"transaction 0x{tx_hash.hex()} is pending, not mined yet")
        raise ChainError(f"unknown transaction 0x{tx_hash.hex()}")

    def block(self, number: int) -> Block:
        """The mined block ``number`` (genesis is 0)."""
        if not 0 <= number < len(self._blocks):
            raise ChainError(f"no block {number}: the head is {len(self._blocks) - 1}")
        block = self._blocks[number]
        if block is None:
            raise ChainError(f"block {number} was forgotten (history kept from block "
                             f"{self.oldest_block})")
        return block

    def get_logs(
        self,
        *,
        address: bytes | None = None,
        topic0: bytes | None = None,
        from_block: int = 0,
        to_block: int | None = None,
    ) -> list[Log]:
        """Logs of mined blocks, filtered by emitter and first topic, in chain order."""
        head = len(self._blocks) - 1
        last = head if to_block is None else min(to_block, head)
        if from_block < self.oldest_block:
            raise ChainError(f"logs from block {from_block} were forgotten (history kept from "
                             f"block {self.oldest_block})")
        out: list[Log] = []
        for block in self._blocks[max(from_block, 0) : last + 1]:
            assert block is not None
            for receipt in block.receipts:
                for log in receipt.logs:
                    if address is not None and log.address != address:
                        continue
                    if topic0 is not None and (not log.topics or log.topics[0] != topic0):
                        continue
                    out.append(log)
        return out
