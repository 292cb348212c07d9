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
#: Gas of one storage slot rewritten with the value it holds, in a cold slot (100 + 2,100):
#: what any implementation pays to learn that a field it is given has not changed.
SSTORE_UNCHANGED = 2_200
TX_BASE = 21_000


@dataclass(frozen=True)
class SlotWrites:
    """Storage slots an operation must write: set from zero, changed, or given again unchanged.

    ``unchanged`` counts the slots of a replaced value that keep their word (a revised
    application's fields the applicant did not change): the EVM writes no state for them,
    but any implementation pays a cold access to find that out.
    """

    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: SlotWrites) -> SlotWrites:
        return SlotWrites(self.new + other.new, self.updated + other.updated,
                          self.unchanged + other.unchanged)

    def first_count(self) -> SlotWrites:
        """These writes when a counter the operation increments goes from zero (the first
        Hospital-ID, Doctor-ID, report, or a device's first batch): one changed slot is new."""
        return SlotWrites(self.new + 1, self.updated - 1, self.unchanged)

    def rewrite(self) -> SlotWrites:
        """These writes when a slot they count as new already holds a value (a grant or an
        emergency window opened again for the same doctor and scope): it is a change."""
        return SlotWrites(self.new - 1, self.updated + 1, self.unchanged)


def string_slots(*values: str) -> int:
    """Slots Vyper writes to store these strings: a length word plus 32-byte words each."""
    total = 0
    for value in values:
        size = len(value.encode())
        if size:
            total += 1 + (size + 31) // 32
    return total


def stored_writes(*values: str | int) -> SlotWrites:
    """The slots a fresh record of these strings and integers writes.

    A non-empty string sets its length word and 32-byte words from zero, a
    non-zero integer its slot; an empty string or a zero leaves its slot as
    it was (``unchanged``: a no-op write whose cold access the floor counts,
    so an uninsured patient's record or an infant's age zero costs no more
    above the floor than any other).
    """
    writes = SlotWrites()
    for value in values:
        slots = string_slots(value) if isinstance(value, str) else int(value != 0)
        writes += SlotWrites(new=slots) if slots else SlotWrites(unchanged=1)
    return writes


def string_words(value: str) -> list[bytes]:
    """The storage words Vyper writes for a string: its length word, then its 32-byte words."""
    raw = value.encode()
    if not raw:
        return [bytes(32)]
    return [len(raw).to_bytes(32, "big")] + [raw[i:i + 32].ljust(32, b"\0")
                                            for i in range(0, len(raw), 32)]


def string_rewrites(old: str, new: str) -> SlotWrites:
    """The slots written when a stored string ``old`` is replaced by ``new``: changed or not.

    Words past the old string's end are taken as zero: a string field rewritten
    more than once, longer after shorter, may hold older words there, which this
    cannot see (the story and the engine revise an application at most once).
    """
    before, after = string_words(old), string_words(new)
    before += [bytes(32)] * (len(after) - len(before))
    changed = sum(a != b for a, b in zip(after, before, strict=False))
    return SlotWrites(updated=changed, unchanged=len(after) - changed)


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
        """21,000 + calldata + the slots the operation must write (or rewrite unchanged) + its logs."""
        return (
            TX_BASE
            + calldata_gas(self.calldata)
            + SSTORE_NEW * self.writes.new
            + SSTORE_UPDATE * self.writes.updated
            + SSTORE_UNCHANGED * self.writes.unchanged
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
