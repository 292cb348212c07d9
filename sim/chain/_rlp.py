"""A minimal RLP encoder for the revm backend's hot paths (transactions, trie nodes).

The ``rlp`` package decodes and validates; these three functions only
encode, without its type dispatch, which matters when every transaction and
every trie node of a city-sized run is encoded.
"""

from __future__ import annotations


def rlp_int(value: int) -> bytes:
    """RLP of a non-negative integer."""
    if value == 0:
        return b"\x80"
    if value < 0x80:
        return bytes((value,))
    return rlp_str(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rlp_str(value: bytes) -> bytes:
    """RLP of a byte string."""
    n = len(value)
    if n == 1 and value[0] < 0x80:
        return value
    if n < 56:
        return bytes((0x80 + n,)) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(size),)) + size + value


def rlp_list(payload: bytes) -> bytes:
    """RLP list of already encoded items."""
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size + payload
