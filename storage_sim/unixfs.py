"""UnixFS file importer and exporter, byte-identical to Kubo's ``ipfs add``.

Defaults mirror Kubo: fixed-size chunks of 262,144 bytes, the balanced
layout with at most 174 links per node, CIDv0 with leaves wrapped as
dag-pb UnixFS ``File`` nodes; ``cid_version=1`` switches to raw leaves and
CIDv1 dag-pb parents, so a one-chunk file is just its raw leaf.

The importer streams: it holds the current chunk and, per tree level, the
links still waiting for their parent (at most ``max_links`` each), so memory
is bounded whatever the file size. Blocks go to a :class:`BlockSink`; with
no sink they are hashed and dropped (``ipfs add --only-hash``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from storage_sim.cid import DAG_PB, RAW, Cid
from storage_sim.dagpb import (
    UNIXFS_DIRECTORY,
    UNIXFS_FILE,
    UNIXFS_HAMT_SHARD,
    UNIXFS_RAW,
    PBLink,
    decode_node,
    decode_unixfs,
    encode_node,
    encode_unixfs_file,
)
from storage_sim.errors import DagFormatError
from storage_sim.varint import encode_uvarint

#: Kubo's default chunk size (``size-262144``).
DEFAULT_CHUNK_SIZE = 262_144
#: Kubo's default maximum number of links per UnixFS file node.
DEFAULT_MAX_LINKS = 174


class ByteStream(Protocol):
    """Anything with ``read(n) -> bytes``: files, pipes, ``io.BytesIO``, sockets' makefile."""

    def read(self, size: int, /) -> bytes:
        """Read up to ``size`` bytes; ``b""`` at the end."""


class BlockSink(Protocol):
    """Anything that accepts blocks: blockstores, CAR writers, test lists."""

    def put(self, cid: Cid, data: bytes) -> None:
        """Store ``data`` under ``cid``."""


#: A function returning the bytes of a block (unverified; the exporter verifies).
BlockGetter = Callable[[Cid], bytes]


@dataclass(frozen=True, slots=True)
class ImportParams:
    """How to build the DAG; the defaults are ``ipfs add`` with no flags."""

    cid_version: int = 0
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_links: int = DEFAULT_MAX_LINKS
    raw_leaves: bool | None = None
    """``None`` means Kubo's default: raw leaves exactly when ``cid_version`` is 1."""

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1, got {self.cid_version}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {self.chunk_size}")
        if self.max_links < 2:
            raise ValueError(f"max_links must be at least 2, got {self.max_links}")

    @property
    def use_raw_leaves(self) -> bool:
        """Whether leaves are raw blocks rather than dag-pb UnixFS nodes."""
        return self.cid_version == 1 if self.raw_leaves is None else self.raw_leaves


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import produced: the root CID, file size, block count and DAG size."""

    cid: Cid
    size: int
    blocks: int
    dag_size: int
    """Cumulative size of all blocks (the root's ``Tsize``), as ``ipfs object stat``."""


@dataclass(frozen=True, slots=True)
class _Link:
    cid: Cid
    tsize: int
    filesize: int


class _Builder:
    """Balanced-layout DAG builder fed one chunk at a time."""

    def __init__(self, params: ImportParams, sink: BlockSink | None) -> None:
        self.params = params
        self.sink = sink
        self.levels: list[list[_Link]] = [[]]
        self.blocks = 0
        self.size = 0
        self.raw_leaves = params.use_raw_leaves

    def _emit(self, cid: Cid, block: bytes) -> None:
        self.blocks += 1
        if self.sink is not None:
            self.sink.put(cid, block)

    def leaf(self, chunk: bytes | memoryview | None) -> _Link:
        """Make a leaf block from ``chunk`` (``None``: the empty file's leaf)."""
        data = chunk if chunk is not None else b""
        self.size += len(data)
        if self.raw_leaves:
            cid = Cid(1, RAW, hashlib.sha256(data).digest())
            if self.sink is not None:
                self._emit(cid, bytes(data))
            else:
                self.blocks += 1
            return _Link(cid, len(data), len(data))
        # dag-pb leaf: PBNode{Data: UnixFS{Type: File, Data: chunk, filesize: n}},
        # hashed in three pieces so the chunk is never copied for the hash.
        n = len(data)
        if chunk is None:
            prefix, suffix = b"\x08\x02", b"\x18\x00"
        else:
            prefix = b"\x08\x02\x12" + encode_uvarint(n)
            suffix = b"\x18" + encode_uvarint(n)
        inner = len(prefix) + n + len(suffix)
        prefix = b"\x0a" + encode_uvarint(inner) + prefix
        digest = hashlib.sha256(prefix)
        digest.update(data)
        digest.update(suffix)
        cid = Cid(self.params.cid_version, DAG_PB, digest.digest())
        if self.sink is not None:
            self._emit(cid, b"".join((prefix, data, suffix)))
        else:
            self.blocks += 1
        return _Link(cid, len(prefix) + n + len(suffix), n)

    def parent(self, children: list[_Link]) -> _Link:
        """Make a UnixFS ``File`` parent over ``children``."""
        sizes = [child.filesize for child in children]
        total = sum(sizes)
        data = encode_unixfs_file(None, total, sizes)
        block = encode_node([PBLink(child.cid, child.tsize) for child in children], data)
        cid = Cid(self.params.cid_version, DAG_PB, hashlib.sha256(block).digest())
        self._emit(cid, block)
        return _Link(cid, len(block) + sum(child.tsize for child in children), total)

    def add(self, level: int, link: _Link) -> None:
        """Append ``link`` at ``level``, first closing that level's node if it is full."""
        if len(self.levels) == level:
            self.levels.append([])
        pending = self.levels[level]
        if len(pending) == self.params.max_links:
            self.add(level + 1, self.parent(pending))
            pending = self.levels[level] = []
        pending.append(link)

    def finish(self) -> _Link:
        """Close every open node bottom-up and return the root link.

        Kubo grows the tree by depth, so every leaf sits at the same depth and
        a short right edge becomes a chain of one-link nodes; closing each
        level below the top (even with one link) reproduces that.
        """
        level = 0
        while True:
            pending = self.levels[level]
            top = level == len(self.levels) - 1
            if top and len(pending) == 1:
                return pending[0]
            self.levels[level] = []
            self.add(level + 1, self.parent(pending))
            level += 1


def _read_full(stream: ByteStream, size: int) -> bytes:
    """Read exactly ``size`` bytes unless the stream ends first (Go's ``io.ReadFull``)."""
    data = stream.read(size)
    if not data or len(data) == size:
        return data or b""
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _stream_chunks(stream: ByteStream, size: int) -> Iterator[bytes]:
    while chunk := _read_full(stream, size):
        yield chunk


def _buffer_chunks(data: bytes, size: int) -> Iterator[memoryview]:
    # Slices of a memoryview: hashed in place, copied only if a sink keeps them.
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def _build(
    chunks: Iterator[bytes] | Iterator[memoryview], sink: BlockSink | None, params: ImportParams
) -> ImportResult:
    builder = _Builder(params, sink)
    chunk = next(chunks, None)
    if chunk is None:
        root = builder.leaf(None)
        return ImportResult(root.cid, 0, builder.blocks, root.tsize)
    while chunk is not None:
        nxt = next(chunks, None)  # Kubo looks ahead: a level closes only if more data follows
        builder.add(0, builder.leaf(chunk))
        chunk = nxt
    root = builder.finish()
    return ImportResult(root.cid, builder.size, builder.blocks, root.tsize)


def import_stream(
    stream: ByteStream, sink: BlockSink | None = None, params: ImportParams | None = None
) -> ImportResult:
    """Chunk ``stream`` into a UnixFS DAG, sending blocks to ``sink``; return the root."""
    params = params or ImportParams()
    return _build(_stream_chunks(stream, params.chunk_size), sink, params)


def import_bytes(
    data: bytes, sink: BlockSink | None = None, params: ImportParams | None = None
) -> ImportResult:
    """Import in-memory ``data``; see :func:`import_stream`."""
    params = params or ImportParams()
    return _build(_buffer_chunks(data, params.chunk_size), sink, params)


def compute_cid(data: bytes | ByteStream, cid_version: int = 0) -> Cid:
    """Return the CID ``ipfs add --only-hash [--cid-version 1]`` prints for ``data``."""
    params = ImportParams(cid_version=cid_version)
    if isinstance(data, bytes | bytearray | memoryview):
        return import_bytes(bytes(data), None, params).cid
    return import_stream(data, None, params).cid


def child_cids(cid: Cid, block: bytes) -> list[Cid]:
    """The CIDs a block links to, in order (none for raw blocks)."""
    if cid.codec == RAW:
        return []
    return [link.cid for link in decode_node(block).links]


def fetch_verified(cid: Cid, get: BlockGetter) -> bytes:
    """Get a block and check it against its CID (raises :class:`IntegrityError`)."""
    block = get(cid)
    cid.verify(block)
    return block


def walk_dag(root: Cid, get: BlockGetter) -> Iterator[tuple[Cid, bytes]]:
    """Yield every distinct block of the DAG under ``root``, depth-first pre-order, verified."""
    seen: set[Cid] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        block = fetch_verified(cid, get)
        yield cid, block
        stack.extend(reversed(child_cids(cid, block)))


#: Deepest DAG the exporter follows; 174**8 chunks of 256 KiB is far beyond any file.
MAX_DEPTH = 64


def _file_chunks(
    cid: Cid, get: BlockGetter, expected: int | None, depth: int = 0
) -> Iterator[bytes]:
    if depth > MAX_DEPTH:
        raise DagFormatError(f"{cid}: DAG deeper than {MAX_DEPTH} levels")
    block = fetch_verified(cid, get)
    if cid.codec == RAW:
        if expected is not None and expected != len(block):
            raise DagFormatError(f"{cid}: raw leaf has {len(block)} bytes, parent says {expected}")
        yield block
        return
    node = decode_node(block)
    if node.data is None:
        raise DagFormatError(f"{cid}: dag-pb node without UnixFS data")
    meta = decode_unixfs(node.data)
    if meta.type in (UNIXFS_DIRECTORY, UNIXFS_HAMT_SHARD):
        raise DagFormatError(f"{cid}: a directory, not a file (export it with "
                             "storage_sim.export_tree or export_path)")
    if meta.type not in (UNIXFS_FILE, UNIXFS_RAW):
        raise DagFormatError(f"{cid}: UnixFS type {meta.type} is not a file")
    own = meta.data or b""
    if node.links and len(meta.blocksizes) != len(node.links):
        raise DagFormatError(f"{cid}: {len(node.links)} links but {len(meta.blocksizes)} sizes")
    total = len(own) + sum(meta.blocksizes)
    declared = meta.filesize if meta.filesize is not None else total
    if declared != total or (expected is not None and expected != total):
        raise DagFormatError(f"{cid}: file size {declared} does not match its content {total}")
    if own:
        yield own
    for link, size in zip(node.links, meta.blocksizes, strict=True):
        yield from _file_chunks(link.cid, get, size, depth + 1)


def export_chunks(root: Cid, get: BlockGetter) -> Iterator[bytes]:
    """Yield the file under ``root`` piece by piece, verifying every block."""
    return _file_chunks(root, get, None)


def export_bytes(root: Cid, get: BlockGetter) -> bytes:
    """Rebuild the whole file under ``root`` in memory, verifying every block."""
    return b"".join(export_chunks(root, get))


def export_to(root: Cid, get: BlockGetter, out: BinaryIO) -> int:
    """Write the file under ``root`` to ``out``; return the number of bytes written."""
    written = 0
    for piece in export_chunks(root, get):
        out.write(piece)
        written += len(piece)
    return written
