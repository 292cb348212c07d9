"""IoMT readings and the Merkle tree the IoMTAnchor contract verifies.

Leaves are keccak256 of a reading's ABI encoding; parents hash the two
children in sorted order, so a proof needs no left/right flags. This is
the tree snekmate's ``merkle_proof_verification`` checks on chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.hashing import keccak256 as keccak


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


def _pair(a: bytes, b: bytes) -> bytes:
    return bytes(keccak(a + b if a < b else b + a))


def _levels(readings: list[Reading]) -> list[list[bytes]]:
    if not readings:
        raise ValueError("a batch needs at least one reading")
    level = [r.leaf() for r in readings]
    levels = [level]
    while len(level) > 1:
        # an odd node is promoted unchanged to the next level
        level = [_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_root(readings: list[Reading]) -> bytes:
    """Root of the sorted-pair keccak tree over the readings."""
    return _levels(readings)[-1][0]


def merkle_proof(readings: list[Reading], index: int) -> list[bytes]:
    """Sibling hashes from reading ``index`` up to the root."""
    proof = []
    for level in _levels(readings)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof
