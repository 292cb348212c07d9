"""Unsigned LEB128 varints, as used by multiformats, protobuf and CAR files."""

from __future__ import annotations

from storage_sim.errors import StorageError


def encode_uvarint(value: int) -> bytes:
    """Return ``value`` (>= 0) as an unsigned varint."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode a varint at ``offset``; return ``(value, offset after it)``.

    Raises :class:`StorageError` when the data ends inside the varint or the
    varint is longer than 9 bytes (multiformats' limit).
    """
    value = 0
    shift = 0
    pos = offset
    end = len(data)
    while True:
        if pos >= end:
            raise StorageError(f"truncated varint at offset {offset}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 63:
            raise StorageError(f"varint too long at offset {offset}")
