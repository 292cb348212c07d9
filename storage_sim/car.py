"""CARv1 archives: export a DAG to a ``.car`` stream and import one back.

Layout (https://ipld.io/specs/transport/car/carv1/): ``varint(len(header))``,
a dag-cbor header ``{"roots": [CID, ...], "version": 1}``, then for each block
``varint(len(cid) + len(data))``, the binary CID and the block bytes.

The header is a fixed small map, so it is encoded by hand (dag-cbor's
canonical key order: ``roots`` before ``version``, CIDs as tag 42 over a byte
string starting with the 0x00 identity-multibase prefix) and decoded by a
tiny CBOR reader that accepts only what a header may contain.

A CAR is input from outside, so every length is checked before it is used:
the header's and each section's length against :data:`MAX_HEADER`,
:data:`MAX_SECTION` and, when the stream can tell, the bytes actually left
in it; varints against their 9-byte limit and minimal encoding; the header's
CBOR nesting, item counts and key types before anything is built from them.
:func:`import_car` also checks the archive is complete (every block its
roots reach is there) before it stores anything.

Files and folders alike: a directory DAG (``ipfs add -w``, ipfs-car's
default, which wraps the input in a folder) exports with
:func:`export_car` and imports with :func:`import_car` as a file does;
:func:`storage_sim.unixfs_dir.export_tree` rebuilds its contents.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from storage_sim.blockstore import Blockstore, PackBlockstore
from storage_sim.cid import Cid
from storage_sim.errors import CarFormatError, InvalidCidError, StorageError
from storage_sim.unixfs import BlockGetter, BlockSink, child_cids, walk_dag
from storage_sim.varint import decode_uvarint, encode_uvarint

_CID_TAG = 42
#: A header larger than this is refused (a real one is about 60 bytes per root).
MAX_HEADER = 1 << 20
#: A block section larger than this is refused (Kubo's hard block limit is 2 MiB).
MAX_SECTION = 4 << 20
#: CBOR nesting a header may have: map -> roots list -> CID tag -> byte string.
MAX_HEADER_DEPTH = 4


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes((major << 5 | value,))
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * width):
            return bytes((major << 5 | info,)) + value.to_bytes(width, "big")
    raise ValueError("CBOR length too large")


def encode_header(roots: Sequence[Cid]) -> bytes:
    """The dag-cbor CARv1 header ``{"roots": roots, "version": 1}``."""
    parts = [_cbor_head(5, 2), _cbor_head(3, 5), b"roots", _cbor_head(4, len(roots))]
    for root in roots:
        payload = b"\x00" + root.binary
        parts += [_cbor_head(6, _CID_TAG), _cbor_head(2, len(payload)), payload]
    parts += [_cbor_head(3, 7), b"version", _cbor_head(0, 1)]
    return b"".join(parts)


def _cbor_decode(buf: bytes, pos: int, depth: int = 0) -> tuple[object, int]:
    """Decode one CBOR item of the subset a CAR header uses (at most :data:`MAX_HEADER_DEPTH` deep)."""
    if depth >= MAX_HEADER_DEPTH:
        raise CarFormatError(f"header nested deeper than {MAX_HEADER_DEPTH} levels")
    if pos >= len(buf):
        raise CarFormatError("header ends early")
    initial = buf[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        value = info
    elif info <= 27:
        width = 1 << (info - 24)
        if pos + width > len(buf):
            raise CarFormatError("header ends early")
        value = int.from_bytes(buf[pos : pos + width], "big")
        pos += width
    else:
        raise CarFormatError(f"unsupported CBOR item 0x{initial:02x} in header")
    if major == 0:
        return value, pos
    if major in (2, 3):
        if pos + value > len(buf):
            raise CarFormatError("header ends early")
        raw = buf[pos : pos + value]
        return (raw if major == 2 else raw.decode("utf-8")), pos + value
    if major in (4, 5) and value * (major - 3) > len(buf) - pos:  # each item takes a byte at least
        raise CarFormatError(f"header claims {value} items in {len(buf) - pos} bytes")
    if major == 4:
        items = []
        for _ in range(value):
            item, pos = _cbor_decode(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        mapping: dict[object, object] = {}
        for _ in range(value):
            key, pos = _cbor_decode(buf, pos, depth + 1)
            if not isinstance(key, str):
                raise CarFormatError("header map key is not a text string")
            if key in mapping:
                raise CarFormatError(f"header map key {key!r} given twice")
            mapping[key], pos = _cbor_decode(buf, pos, depth + 1)
        return mapping, pos
    if major == 6 and value == _CID_TAG:
        payload, pos = _cbor_decode(buf, pos, depth + 1)
        if not isinstance(payload, bytes) or payload[:1] != b"\x00":
            raise CarFormatError("CID in header is not a 0x00-prefixed byte string")
        return Cid.from_bytes(payload[1:]), pos
    raise CarFormatError(f"unsupported CBOR item 0x{initial:02x} in header")


def decode_header(buf: bytes) -> list[Cid]:
    """Decode a CARv1 header; return its roots."""
    try:
        value, end = _cbor_decode(buf, 0)
    except (InvalidCidError, UnicodeDecodeError) as exc:
        raise CarFormatError(f"bad header: {exc}") from None
    if end != len(buf) or not isinstance(value, dict):
        raise CarFormatError("header is not a single CBOR map")
    if value.get("version") != 1:
        raise CarFormatError(f"unsupported CAR version {value.get('version')!r}")
    roots = value.get("roots")
    if not isinstance(roots, list) or not roots or not all(isinstance(r, Cid) for r in roots):
        raise CarFormatError("header roots must be a non-empty list of CIDs")
    return list(roots)


def write_car(out: BinaryIO, roots: Sequence[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> int:
    """Write a CARv1 with ``roots`` and ``blocks`` to ``out``; return bytes written."""
    header = encode_header(roots)
    written = out.write(encode_uvarint(len(header)) + header) or 0
    for cid, data in blocks:
        cid_bytes = cid.binary
        written += out.write(encode_uvarint(len(cid_bytes) + len(data)) + cid_bytes) or 0
        written += out.write(data) or 0
    return written


def export_car(root: Cid, get: BlockGetter, out: BinaryIO) -> int:
    """Write the DAG under ``root`` (depth-first, each block once, verified) as a CARv1."""
    return write_car(out, [root], walk_dag(root, get))


def _read_uvarint(stream: BinaryIO, offset: int, name: str) -> int | None:
    """Read a minimally encoded varint (at most 9 bytes) from ``stream``; ``None`` at a clean end."""
    raw = bytearray()
    while True:
        byte = stream.read(1)
        if not byte:
            if raw:
                raise CarFormatError(f"{name}: offset {offset}: stream ends inside a varint")
            return None
        raw += byte
        if byte[0] < 0x80:
            if byte[0] == 0 and len(raw) > 1:
                raise CarFormatError(f"{name}: offset {offset}: varint not minimally encoded")
            return decode_uvarint(bytes(raw))[0]
        if len(raw) >= 9:
            raise CarFormatError(f"{name}: offset {offset}: varint longer than 9 bytes")


def _left(stream: BinaryIO) -> int | None:
    """Bytes left in ``stream`` after its position, when it can tell (a file, a buffer), else None."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
    except (OSError, AttributeError, ValueError):
        return None
    return end - here


def _check_present(stream: BinaryIO, size: int, offset: int, name: str, what: str) -> None:
    """Refuse a length the stream cannot hold, before reading (and allocating) it."""
    left = _left(stream)
    if left is not None and size > left:
        raise CarFormatError(f"{name}: offset {offset}: {what} length {size:,} but only {left:,} "
                             "bytes follow")


def _read_exact(stream: BinaryIO, size: int, offset: int, name: str, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CarFormatError(
            f"{name}: offset {offset}: {what} truncated ({len(data)} of {size} bytes)"
        )
    return data


def _split_cid(section: bytes) -> tuple[Cid, int]:
    """Parse the CID at the start of a block section; return it and its length."""
    if section[:2] == b"\x12\x20":
        return Cid.from_bytes(section[:34]), 34
    pos = 0
    for _ in range(3):  # version, codec, multihash code
        _, pos = decode_uvarint(section, pos)
    length, pos = decode_uvarint(section, pos)
    if pos + length > len(section):
        raise InvalidCidError(f"multihash length {length} runs past the section ({len(section)} bytes)")
    return Cid.from_bytes(section[: pos + length]), pos + length


def read_car(
    stream: BinaryIO, name: str = "<car>"
) -> tuple[list[Cid], Iterator[tuple[Cid, bytes]]]:
    """Read a CARv1 header and return ``(roots, blocks)``; blocks are verified lazily.

    Every error is a :class:`CarFormatError` naming ``name`` and the byte offset.
    """
    length = _read_uvarint(stream, 0, name)
    if length is None or length == 0 or length > MAX_HEADER:
        raise CarFormatError(f"{name}: offset 0: header length: missing, zero or over "
                             f"{MAX_HEADER:,} bytes ({length})")
    start = len(encode_uvarint(length))
    _check_present(stream, length, start, name, "header")
    try:
        roots = decode_header(_read_exact(stream, length, start, name, "header"))
    except CarFormatError as exc:
        if str(exc).startswith(name):
            raise
        raise CarFormatError(f"{name}: offset {start}: {exc}") from None
    return roots, _blocks(stream, start + length, name)


def _blocks(stream: BinaryIO, offset: int, name: str) -> Iterator[tuple[Cid, bytes]]:
    while True:
        size = _read_uvarint(stream, offset, name)
        if size is None:
            return
        body = offset + len(encode_uvarint(size))
        if size == 0 or size > MAX_SECTION:
            raise CarFormatError(f"{name}: offset {offset}: bad block section length {size}")
        _check_present(stream, size, body, name, "block section")
        section = _read_exact(stream, size, body, name, "block section")
        try:
            cid, cid_len = _split_cid(section)
        except StorageError as exc:
            raise CarFormatError(f"{name}: offset {body}: bad CID: {exc}") from None
        data = section[cid_len:]
        if not cid.matches(data):
            raise CarFormatError(f"{name}: offset {body}: block {cid} does not match its CID")
        yield cid, data
        offset = body + size


def import_car(stream: BinaryIO, sink: BlockSink, name: str = "<car>") -> list[Cid]:
    """Verify a CARv1, check it is complete, then store every block into ``sink``; return the roots.

    Complete means every block reachable from the roots (through dag-pb
    links: files, folders, HAMT shards) is in the archive and matches its
    CID; blocks no root reaches are allowed (the CAR format permits them)
    and kept. The blocks are staged in a temporary pack file until the check
    passes, so an incomplete or malformed CAR (a missing block, only a
    header) is a :class:`CarFormatError` and nothing of it reaches ``sink``.
    """
    roots, blocks = read_car(stream, name)
    with tempfile.TemporaryDirectory(prefix="pmrsim-car-") as scratch:
        staged = PackBlockstore(Path(scratch) / "blocks.pack")
        try:
            for cid, data in blocks:
                staged.put(cid, data)
            check_complete(roots, staged, name)
            for cid in staged.cids():
                sink.put(cid, staged.get(cid))
        finally:
            staged.close()
    return roots


def check_complete(roots: Sequence[Cid], store: Blockstore, name: str = "<car>") -> int:
    """Check every block reachable from ``roots`` is in ``store`` and decodes; return how many.

    Raises :class:`CarFormatError` naming the first missing block and the
    block that links to it (or the root it is).
    """
    seen: set[Cid] = set()
    stack: list[tuple[Cid, Cid | None]] = [(root, None) for root in reversed(roots)]
    while stack:
        cid, parent = stack.pop()
        if cid in seen:
            continue
        if not store.has(cid):
            where = f"linked from {parent}" if parent is not None else "a root"
            raise CarFormatError(f"{name}: incomplete: block {cid} ({where}) is not in the archive")
        seen.add(cid)
        try:
            links = child_cids(cid, store.get(cid))
        except StorageError as exc:
            raise CarFormatError(f"{name}: block {cid}: {exc}") from None
        stack.extend((child, cid) for child in reversed(links))
    return len(seen)
