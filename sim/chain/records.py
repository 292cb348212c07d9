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

    _blocks: list[Block]
    _receipts: dict[bytes, Receipt]
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
        return self._blocks[-1].timestamp

    def state_root(self) -> bytes:
        """State root of the head block."""
        return self._blocks[-1].state_root

    def receipt(self, tx_hash: bytes) -> Receipt:
        """The receipt of a mined transaction."""
        receipt = self._receipts.get(tx_hash)
        if receipt is not None:
            return receipt
        if tx_hash in self.dropped:
            raise ChainError(f"transaction 0x{tx_hash.hex()} was dropped: {self.dropped[tx_hash]}")
        if tx_hash in self._mempool:
            raise ChainError(f"transaction 0x{tx_hash.hex()} is pending, not mined yet")
        raise ChainError(f"unknown transaction 0x{tx_hash.hex()}")

    def block(self, number: int) -> Block:
        """The mined block ``number`` (genesis is 0)."""
        if not 0 <= number < len(self._blocks):
            raise ChainError(f"no block {number}: the head is {len(self._blocks) - 1}")
        return self._blocks[number]

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
        out: list[Log] = []
        for block in self._blocks[max(from_block, 0) : last + 1]:
            for receipt in block.receipts:
                for log in receipt.logs:
                    if address is not None and log.address != address:
                        continue
                    if topic0 is not None and (not log.topics or log.topics[0] != topic0):
                        continue
                    out.append(log)
        return out
