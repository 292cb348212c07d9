"""Hand-written protobuf for dag-pb ``PBNode`` and UnixFS ``Data`` messages.

Field order follows Kubo (boxo/go-codec-dagpb) byte for byte:

* ``PBNode``: every ``Links`` entry (field 2) first, then ``Data`` (field 1).
* ``PBLink``: ``Hash`` (1), ``Name`` (2, written even when empty), ``Tsize`` (3).
* UnixFS ``Data``: ``Type`` (1), ``Data`` (2, only when present),
  ``filesize`` (3, always written for files, 0 for the empty file),
  ``blocksizes`` (4, one unpacked varint per child, parents only).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from storage_sim.cid import Cid
from storage_sim.errors import DagFormatError, InvalidCidError, StorageError
from storage_sim.varint import decode_uvarint, encode_uvarint

#: UnixFS ``DataType`` values.
UNIXFS_RAW = 0
UNIXFS_DIRECTORY = 1
UNIXFS_FILE = 2
UNIXFS_METADATA = 3
UNIXFS_SYMLINK = 4
UNIXFS_HAMT_SHARD = 5

_VARINT = 0
_LEN = 2


@dataclass(frozen=True, slots=True)
class PBLink:
    """A dag-pb link: the child's CID, its name and its cumulative size (``Tsize``)."""

    cid: Cid
    tsize: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class PBNode:
    """A decoded dag-pb node: ordered links and the optional opaque ``Data``."""

    links: tuple[PBLink, ...]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    """A decoded UnixFS ``Data`` message (files, directories and HAMT shards; mode and mtime
    are read past)."""

    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default=())
    hash_type: int | None = None
    fanout: int | None = None


def _len_field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + encode_uvarint(len(payload)) + payload


def encode_link(link: PBLink) -> bytes:
    """Encode one ``PBLink`` message (without the enclosing field tag)."""
    name = link.name.encode("utf-8")
    return (
        _len_field(0x0A, link.cid.binary)
        + _len_field(0x12, name)
        + b"\x18"
        + encode_uvarint(link.tsize)
    )


def encode_node(links: Sequence[PBLink], data: bytes | None) -> bytes:
    """Encode a ``PBNode``: links (field 2) before data (field 1), as Kubo does."""
    parts = [_len_field(0x12, encode_link(link)) for link in links]
    if data is not None:
        parts.append(_len_field(0x0A, data))
    return b"".join(parts)


def encode_unixfs_file(data: bytes | None, filesize: int, blocksizes: Sequence[int] = ()) -> bytes:
    """Encode a UnixFS ``File`` message (``Type``, ``Data``?, ``filesize``, ``blocksizes``*)."""
    parts = [b"\x08\x02"]
    if data is not None:
        parts.append(_len_field(0x12, data))
    parts.append(b"\x18" + encode_uvarint(filesize))
    parts.extend(b"\x20" + encode_uvarint(size) for size in blocksizes)
    return b"".join(parts)


def encode_unixfs_directory() -> bytes:
    """A basic UnixFS ``Directory`` message (``Type`` only: no mode, no mtime, as Kubo writes)."""
    return b"\x08\x01"


def encode_unixfs_hamt(bitfield: bytes, fanout: int, hash_type: int) -> bytes:
    """A UnixFS ``HAMTShard`` message: ``Type``, ``Data`` (the bitfield), ``hashType``, ``fanout``."""
    return (b"\x08\x05" + _len_field(0x12, bitfield) + b"\x28" + encode_uvarint(hash_type)
            + b"\x30" + encode_uvarint(fanout))


def _fields(buf: bytes, what: str) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)`` for each field of a protobuf message."""
    pos = 0
    end = len(buf)
    try:
        while pos < end:
            key, pos = decode_uvarint(buf, pos)
            number, wire = key >> 3, key & 7
            if wire == _VARINT:
                value, pos = decode_uvarint(buf, pos)
                yield number, wire, value
            elif wire == _LEN:
                length, pos = decode_uvarint(buf, pos)
                if pos + length > end:
                    raise DagFormatError(f"{what}: field {number} runs past the end")
                yield number, wire, buf[pos : pos + length]
                pos += length
            else:
                raise DagFormatError(f"{what}: unsupported wire type {wire}")
    except DagFormatError:
        raise
    except StorageError as exc:
        raise DagFormatError(f"{what}: {exc}") from None


def _decode_link(buf: bytes) -> PBLink:
    cid: Cid | None = None
    name = ""
    tsize = 0
    for number, wire, value in _fields(buf, "PBLink"):
        if number == 1 and isinstance(value, bytes):
            try:
                cid = Cid.from_bytes(value)
            except InvalidCidError as exc:
                raise DagFormatError(f"PBLink: {exc}") from None
        elif number == 2 and isinstance(value, bytes):
            name = value.decode("utf-8", "replace")
        elif number == 3 and wire == _VARINT and isinstance(value, int):
            tsize = value
        else:
            raise DagFormatError(f"PBLink: unexpected field {number}")
    if cid is None:
        raise DagFormatError("PBLink: missing Hash")
    return PBLink(cid, tsize, name)


def decode_node(block: bytes) -> PBNode:
    """Decode a dag-pb block; raise :class:`DagFormatError` if it is not one."""
    links: list[PBLink] = []
    data: bytes | None = None
    for number, _wire, value in _fields(block, "PBNode"):
        if number == 2 and isinstance(value, bytes):
            links.append(_decode_link(value))
        elif number == 1 and isinstance(value, bytes):
            data = value
        else:
            raise DagFormatError(f"PBNode: unexpected field {number}")
    return PBNode(tuple(links), data)


def decode_unixfs(buf: bytes) -> UnixFSData:
    """Decode a UnixFS ``Data`` message; raise :class:`DagFormatError` if malformed."""
    kind: int | None = None
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    hash_type: int | None = None
    fanout: int | None = None
    for number, wire, value in _fields(buf, "UnixFS Data"):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, bytes):
            data = value
        elif number == 3 and isinstance(value, int):
            filesize = value
        elif number == 4 and wire == _VARINT and isinstance(value, int):
            blocksizes.append(value)
        elif number == 4 and isinstance(value, bytes):  # packed form, tolerated on read
            pos = 0
            while pos < len(value):
                size, pos = decode_uvarint(value, pos)
                blocksizes.append(size)
        elif number == 5 and isinstance(value, int):
            hash_type = value
        elif number == 6 and isinstance(value, int):
            fanout = value
        elif number in (7, 8):  # mode, mtime: metadata pmrsim neither writes nor restores
            continue
        else:
            raise DagFormatError(f"UnixFS Data: unexpected field {number}")
    if kind is None:
        raise DagFormatError("UnixFS Data: missing Type")
    return UnixFSData(kind, data, filesize, tuple(blocksizes), hash_type, fanout)
