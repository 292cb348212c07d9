"""The outcome of one protocol step: receipt, decoded events, issued ID, gas floor inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.chain import Receipt
from sim.errors import TransactionReverted

#: Gas of one storage slot written from zero (20,000) in a cold slot (+2,100).
SSTORE_NEW = 22_100
#: Gas of one storage slot changed from non-zero in a cold slot (2,900 + 2,100).
SSTORE_UPDATE = 5_000
TX_BASE = 21_000


@dataclass(frozen=True)
class SlotWrites:
    """Storage slots an operation must write: set from zero, or changed."""

    new: int = 0
    updated: int = 0

    def __add__(self, other: SlotWrites) -> SlotWrites:
        return SlotWrites(self.new + other.new, self.updated + other.updated)

    def first_count(self) -> SlotWrites:
        """These writes when a counter the operation increments goes from zero (the first
        Hospital-ID, Doctor-ID, report, or a device's first batch): one changed slot is new."""
        return SlotWrites(self.new + 1, self.updated - 1)

    def rewrite(self) -> SlotWrites:
        """These writes when a slot they count as new already holds a value (a grant or an
        emergency window opened again for the same doctor and scope): it is a change."""
        return SlotWrites(self.new - 1, self.updated + 1)


def string_slots(*values: str) -> int:
    """Slots Vyper writes to store these strings: a length word plus 32-byte words each."""
    total = 0
    for value in values:
        size = len(value.encode())
        if size:
            total += 1 + (size + 31) // 32
    return total


def calldata_gas(data: bytes) -> int:
    """Intrinsic calldata gas: 4 per zero byte, 16 per non-zero byte."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def log_gas(receipt: Receipt) -> int:
    """Gas of the receipt's logs: 375 + 375 per topic + 8 per data byte each."""
    return sum(375 + 375 * len(log.topics) + 8 * len(log.data) for log in receipt.logs)


@dataclass(frozen=True)
class Outcome:
    """What one protocol step did on chain."""

    op: str
    receipt: Receipt
    calldata: bytes
    writes: SlotWrites
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    issued: int | None = None
    sender: str = ""

    @property
    def ok(self) -> bool:
        """True when the transaction succeeded."""
        return self.receipt.ok

    @property
    def reason(self) -> str:
        """The revert reason ("" when it succeeded)."""
        return "" if self.receipt.ok else (self.receipt.revert_reason or "")

    @property
    def gas(self) -> int:
        """Gas used by the transaction."""
        return self.receipt.gas_used

    @property
    def floor(self) -> int:
        """21,000 + calldata + the slots the operation must write + its logs."""
        return (
            TX_BASE
            + calldata_gas(self.calldata)
            + SSTORE_NEW * self.writes.new
            + SSTORE_UPDATE * self.writes.updated
            + log_gas(self.receipt)
        )

    def event(self, name: str) -> dict[str, Any]:
        """Arguments of the first event called ``name`` (KeyError if absent)."""
        for event_name, args in self.events:
            if event_name == name:
                return args
        raise KeyError(name)

    def require(self) -> Outcome:
        """Return self, or raise :class:`TransactionReverted` when it reverted."""
        if not self.ok:
            raise TransactionReverted(
                self.reason, tx_hash=self.receipt.tx_hash, gas_used=self.receipt.gas_used
            )
        return self
