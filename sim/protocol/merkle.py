"""IoMT readings and the Merkle tree the IoMTAnchor contract verifies.

Leaves are keccak256 of a reading's ABI encoding; parents hash the two
children in sorted order, so a proof needs no left/right flags. This is
the tree snekmate's ``merkle_proof_verification`` checks on chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.hashing import keccak256 as keccak

try:
    from sha3 import keccak_256 as _keccak_c
except ImportError:  # pragma: no cover - depends on the environment
    _keccak_c = None


@dataclass(frozen=True)
class Reading:
    """One IoMT reading: kind (0 heart rate, 1 SpO2, 2 temperature, 3 glucose), value, time."""

    kind: int
    value: int
    taken_at: int

    def encode(self) -> bytes:
        """ABI encoding (uint256 kind, int256 value, uint256 taken_at), written out directly."""
        return (self.kind.to_bytes(32, "big") + self.value.to_bytes(32, "big", signed=True)
                + self.taken_at.to_bytes(32, "big"))

    def leaf(self) -> bytes:
        """The Merkle leaf: keccak256 of the encoding."""
        return bytes(keccak(self.encode()))


class ReadingBatch:
    """A window of readings of one kind held as arrays (what a device uploads at once).

    Equal, reading for reading, to the list of :class:`Reading` it stands for
    (same encoding, leaves and root), but encoded in one numpy pass: the
    engine builds hundreds of thousands of these.
    """

    def __init__(self, kind: int, values: np.ndarray, taken_at: np.ndarray) -> None:
        """Readings ``(kind, values[i], taken_at[i])``; values fit int64, times uint64."""
        if len(values) != len(taken_at):
            raise ValueError("values and taken_at differ in length")
        self.kind = kind
        self.values = np.asarray(values, dtype=np.int64)
        self.taken_at = np.asarray(taken_at, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> Reading:
        return Reading(self.kind, int(self.values[i]), int(self.taken_at[i]))

    def encode(self) -> bytes:
        """The readings' ABI encodings, concatenated (96 bytes each)."""
        words = np.zeros((len(self), 12), dtype=">u8")
        words[:, 3] = self.kind
        negative = self.values < 0
        words[negative, 4:7] = np.uint64(2**64 - 1)  # sign extension of int256
        words[:, 7] = self.values.astype(np.uint64)
        words[:, 11] = self.taken_at
        return words.tobytes()


Readings = Sequence[Reading] | ReadingBatch


def encode_readings(readings: Readings) -> bytes:
    """The readings' ABI encodings, concatenated (what a batch's sealed object holds)."""
    if isinstance(readings, ReadingBatch):
        return readings.encode()
    return b"".join(r.encode() for r in readings)


def _leaves(readings: Readings) -> list[bytes]:
    view = memoryview(encode_readings(readings))
    if _keccak_c is None:  # pragma: no cover - depends on the environment
        return [keccak(bytes(view[i:i + 96])) for i in range(0, len(view), 96)]
    h = _keccak_c
    return [h(view[i:i + 96]).digest() for i in range(0, len(view), 96)]


def _pair(a: bytes, b: bytes) -> bytes:
    return bytes(keccak(a + b if a < b else b + a))


def _next_level(level: list[bytes]) -> list[bytes]:
    """Hash sibling pairs (sorted); an odd last node is promoted unchanged."""
    h = _keccak_c
    if h is None:  # pragma: no cover - depends on the environment
        out = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    else:
        out = [h(a + b if a < b else b + a).digest()
               for a, b in zip(level[0::2], level[1::2], strict=False)]
    if len(level) % 2:
        out.append(level[-1])
    return out


def _levels(readings: Readings) -> list[list[bytes]]:
    if not len(readings):
        raise ValueError("a batch needs at least one reading")
    level = _leaves(readings)
    levels = [level]
    while len(level) > 1:
        level = _next_level(level)
        levels.append(level)
    return levels


def merkle_root(readings: Readings) -> bytes:
    """Root of the sorted-pair keccak tree over the readings."""
    if not len(readings):
        raise ValueError("a batch needs at least one reading")
    level = _leaves(readings)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def merkle_proof(readings: Readings, index: int) -> list[bytes]:
    """Sibling hashes from reading ``index`` up to the root."""
    proof = []
    for level in _levels(readings)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof
