"""UnixFS directories, byte-identical to Kubo's ``ipfs add -r`` (and ``-w``), and their export.

A directory is a dag-pb node whose links name its entries (files, folders),
sorted by the names' bytes, over the UnixFS message ``{Type: Directory}``
(no mode, no mtime: Kubo's default). Each link's ``Tsize`` is the child's
cumulative size. Kubo turns a directory into a HAMT-sharded one
(``Import.UnixFSHAMTDirectorySizeThreshold``, 256 KiB) when the estimate of
its node's size, the sum over entries of the name's bytes plus the CID's
bytes, reaches the threshold (boxo's ``needsToSwitchToHAMTDir``: ``>=``;
the js importer switches only past it, ``>``). A shard is a
``{Type: HAMTShard, Data: bitfield, hashType: murmur3-x64-64, fanout: 256}``
node: an entry goes to slot ``byte d`` of the big-endian murmur3-x64-64 hash
of its name at depth ``d``; a slot with one entry links it as
``"%02X" % slot + name``, a slot with several links a sub-shard named by
the slot alone; the bitfield has bit ``slot`` set for each used slot
(big-endian, leading zero bytes dropped).

Trees come from a folder on disk (:func:`import_path`: hidden entries left
out unless asked, as ``ipfs add -r`` without ``--hidden``; symbolic links
and special files refused) or from memory (:func:`import_tree`: a mapping
from names to bytes or to nested mappings). :func:`export_tree` and
:func:`export_path` rebuild them, verifying every block, refusing a name
that could escape the output folder (``""``, ``.``, ``..``, ``/``, NUL) or
appears twice, and a shard whose slots do not match its entries' hashes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import mmh3

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
    encode_unixfs_directory,
    encode_unixfs_hamt,
)
from storage_sim.errors import DagFormatError, StorageError
from storage_sim.unixfs import (
    BlockGetter,
    BlockSink,
    ImportParams,
    ImportResult,
    export_chunks,
    fetch_verified,
    import_bytes,
    import_stream,
)

#: Kubo's ``Import.UnixFSHAMTDirectorySizeThreshold`` (256 KiB).
HAMT_THRESHOLD = 262_144
#: Slots per HAMT shard (Kubo's and the js importer's default).
HAMT_FANOUT = 256
#: Multicodec of murmur3-x64-64, the hash of HAMT directory entries' names.
HAMT_HASH = 0x22
#: Deepest folder nesting (and HAMT nesting) the exporter follows.
MAX_DIR_DEPTH = 256

#: An in-memory tree: names to file contents or to nested trees.
Tree = Mapping[str, Union[bytes, "Tree"]]


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One entry of a directory: its name, its root CID and its cumulative size (``Tsize``)."""

    name: str
    cid: Cid
    tsize: int


@dataclass(frozen=True, slots=True)
class TreeResult:
    """What importing a tree produced: the root, the bytes of its files, blocks, DAG size."""

    cid: Cid
    size: int
    blocks: int
    dag_size: int


class _Counter:
    """A sink that counts blocks on their way to another sink (or to none)."""

    def __init__(self, sink: BlockSink | None) -> None:
        self.sink = sink
        self.blocks = 0

    def put(self, cid: Cid, data: bytes) -> None:
        self.blocks += 1
        if self.sink is not None:
            self.sink.put(cid, data)


def check_name(name: str, where: str = "") -> str:
    """``name`` if it may name a directory entry, else :class:`DagFormatError`."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise DagFormatError(f"{where}bad entry name {name!r}")
    return name


def estimated_size(entries: list[DirEntry]) -> int:
    """Kubo's estimate of a directory node's size: name bytes plus CID bytes, per entry."""
    return sum(len(e.name.encode("utf-8")) + len(e.cid.binary) for e in entries)


def _slot(name: bytes, depth: int) -> int:
    """The HAMT slot of an entry name at ``depth`` (8 bits of murmur3-x64-64 per level;
    past the first 64 bits the name is hashed again with the level count appended)."""
    rehash, byte = divmod(depth, 8)
    key = name if rehash == 0 else name + bytes((rehash,))
    h1 = mmh3.hash64(key, seed=0, x64arch=True, signed=False)[0]
    return (h1 >> (56 - 8 * byte)) & 0xFF


def _node(links: list[PBLink], data: bytes, version: int, sink: _Counter) -> DirEntry:
    """Encode a dag-pb node (links sorted by name bytes), store it; its link as a nameless entry."""
    links = sorted(links, key=lambda link: link.name.encode("utf-8"))
    block = encode_node(links, data)
    cid = Cid(version, DAG_PB, hashlib.sha256(block).digest())
    sink.put(cid, block)
    return DirEntry("", cid, len(block) + sum(link.tsize for link in links))


def _shard(entries: list[DirEntry], version: int, sink: _Counter, depth: int) -> DirEntry:
    if depth > MAX_DIR_DEPTH:
        raise StorageError("HAMT deeper than any name hash allows")
    slots: dict[int, list[DirEntry]] = {}
    for entry in entries:
        slots.setdefault(_slot(entry.name.encode("utf-8"), depth), []).append(entry)
    links = []
    for slot, group in slots.items():
        prefix = f"{slot:02X}"
        if len(group) == 1:
            links.append(PBLink(group[0].cid, group[0].tsize, prefix + group[0].name))
        else:
            child = _shard(group, version, sink, depth + 1)
            links.append(PBLink(child.cid, child.tsize, prefix))
    bits = sum(1 << slot for slot in slots)
    bitfield = bits.to_bytes((bits.bit_length() + 7) // 8, "big")
    return _node(links, encode_unixfs_hamt(bitfield, HAMT_FANOUT, HAMT_HASH), version, sink)


def directory(entries: list[DirEntry], params: ImportParams, sink: BlockSink | None = None,
              *, threshold: int = HAMT_THRESHOLD) -> DirEntry:
    """The directory over ``entries`` (basic, or HAMT-sharded as Kubo shards it); blocks to
    ``sink``; its link as a nameless :class:`DirEntry`."""
    counter = sink if isinstance(sink, _Counter) else _Counter(sink)
    names = [check_name(e.name) for e in entries]
    if len(set(names)) != len(names):
        raise DagFormatError("a directory names an entry twice")
    if estimated_size(entries) >= threshold:
        return _shard(entries, params.cid_version, counter, 0)
    links = [PBLink(e.cid, e.tsize, e.name) for e in entries]
    return _node(links, encode_unixfs_directory(), params.cid_version, counter)


def _file_entry(name: str, result: ImportResult) -> DirEntry:
    return DirEntry(name, result.cid, result.dag_size)


def import_tree(tree: Tree, sink: BlockSink | None = None, params: ImportParams | None = None,
                *, threshold: int = HAMT_THRESHOLD) -> TreeResult:
    """Import an in-memory tree as ``ipfs add -r`` imports the folder it describes."""
    params = params or ImportParams()
    counter = _Counter(sink)
    size = 0

    def build(node: Tree, depth: int) -> DirEntry:
        nonlocal size
        if depth > MAX_DIR_DEPTH:
            raise StorageError(f"folders nested deeper than {MAX_DIR_DEPTH}")
        entries = []
        for name, value in node.items():
            if isinstance(value, bytes | bytearray):
                size += len(value)
                entries.append(_file_entry(name, import_bytes(bytes(value), counter, params)))
            else:
                sub = build(value, depth + 1)
                entries.append(DirEntry(name, sub.cid, sub.tsize))
        return directory(entries, params, counter, threshold=threshold)

    root = build(tree, 0)
    return TreeResult(root.cid, size, counter.blocks, root.tsize)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def import_path(path: str | os.PathLike[str], sink: BlockSink | None = None,
                params: ImportParams | None = None, *, hidden: bool = False, wrap: bool = False,
                threshold: int = HAMT_THRESHOLD) -> TreeResult:
    """Import a file or a folder as ``ipfs add [-r] [-w] [--hidden]`` does; return its root.

    Hidden entries (names starting with ``.``) inside a folder are left out
    unless ``hidden``; ``wrap`` puts the result in a directory naming it by
    its base name (``-w``). Symbolic links and special files are refused
    (:class:`StorageError` naming the path): Kubo would store a link's target
    path, which is not the content the caller means.
    """
    params = params or ImportParams()
    counter = _Counter(sink)
    size = 0
    root_path = Path(path)

    def build(at: Path, depth: int) -> DirEntry:
        nonlocal size
        info = os.lstat(at)
        if stat.S_ISREG(info.st_mode):
            with open(at, "rb") as stream:
                result = import_stream(stream, counter, params)
            size += result.size
            return _file_entry(at.name, result)
        if not stat.S_ISDIR(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a file or folder"
            raise StorageError(f"{at}: {kind} (only files and folders are imported)")
        if depth > MAX_DIR_DEPTH:
            raise StorageError(f"{at}: folders nested deeper than {MAX_DIR_DEPTH}")
        entries = []
        for child in sorted(os.listdir(at)):
            if hidden or not _hidden(child):
                sub = build(at / child, depth + 1)
                entries.append(DirEntry(child, sub.cid, sub.tsize))
        made = directory(entries, params, counter, threshold=threshold)
        return DirEntry(at.name, made.cid, made.tsize)

    top = build(root_path, 0)
    if wrap:
        name = root_path.resolve().name
        top = directory([DirEntry(name, top.cid, top.tsize)], params, counter, threshold=threshold)
    return TreeResult(top.cid, size, counter.blocks, top.tsize)


# --- export ----------------------------------------------------------------------------------


def node_kind(cid: Cid, block: bytes) -> int:
    """The UnixFS type of a verified block: raw leaves are files (``UNIXFS_FILE``)."""
    if cid.codec == RAW:
        return UNIXFS_FILE
    node = decode_node(block)
    if node.data is None:
        raise DagFormatError(f"{cid}: dag-pb node without UnixFS data")
    kind = decode_unixfs(node.data).type
    return UNIXFS_FILE if kind == UNIXFS_RAW else kind


def list_directory(cid: Cid, get: BlockGetter) -> list[DirEntry]:
    """The entries of the directory at ``cid`` (basic or HAMT-sharded), in name order."""
    block = fetch_verified(cid, get)
    node = decode_node(block) if cid.codec == DAG_PB else None
    if node is None or node.data is None:
        raise DagFormatError(f"{cid}: not a UnixFS directory")
    meta = decode_unixfs(node.data)
    if meta.type == UNIXFS_DIRECTORY:
        entries = [DirEntry(check_name(link.name, f"{cid}: "), link.cid, link.tsize)
                   for link in node.links]
    elif meta.type == UNIXFS_HAMT_SHARD:
        entries = list(_shard_entries(cid, block, get, 0))
    else:
        raise DagFormatError(f"{cid}: UnixFS type {meta.type} is not a directory")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise DagFormatError(f"{cid}: a directory names an entry twice")
    return sorted(entries, key=lambda e: e.name.encode("utf-8"))


def _shard_entries(cid: Cid, block: bytes, get: BlockGetter, depth: int) -> Iterator[DirEntry]:
    """The entries under one HAMT shard node, checked against its bitfield and the hashes."""
    if depth > MAX_DIR_DEPTH:
        raise DagFormatError(f"{cid}: HAMT deeper than {MAX_DIR_DEPTH} levels")
    node = decode_node(block)
    meta = decode_unixfs(node.data or b"")
    if meta.type != UNIXFS_HAMT_SHARD or meta.fanout != HAMT_FANOUT or meta.hash_type != HAMT_HASH:
        raise DagFormatError(f"{cid}: not a HAMT shard of fanout {HAMT_FANOUT} over "
                             "murmur3-x64-64")
    bits = int.from_bytes(meta.data or b"", "big")
    seen = 0
    for link in node.links:
        prefix, name = link.name[:2], link.name[2:]
        if len(prefix) != 2 or prefix.upper() != prefix or any(c not in "0123456789ABCDEF"
                                                                 for c in prefix):
            raise DagFormatError(f"{cid}: shard link {link.name!r} has no slot prefix")
        slot = int(prefix, 16)
        if not bits >> slot & 1 or seen >> slot & 1:
            raise DagFormatError(f"{cid}: shard slot {prefix} not in its bitfield, or used twice")
        seen |= 1 << slot
        if name:
            check_name(name, f"{cid}: ")
            if _slot(name.encode("utf-8"), depth) != slot:
                raise DagFormatError(f"{cid}: entry {name!r} is in slot {prefix}, its hash says "
                                     f"{_slot(name.encode('utf-8'), depth):02X}")
            yield DirEntry(name, link.cid, link.tsize)
        else:
            yield from _shard_entries(link.cid, fetch_verified(link.cid, get), get, depth + 1)
    if seen != bits:
        raise DagFormatError(f"{cid}: the shard's bitfield names slots it has no link for")


def walk_tree(root: Cid, get: BlockGetter) -> Iterator[tuple[str, str, Cid]]:
    """``(path, "file" | "dir", cid)`` for the root (path ``""``) and everything under it,
    depth first, entries in name order."""
    stack: list[tuple[str, Cid, int]] = [("", root, 0)]
    while stack:
        path, cid, depth = stack.pop()
        kind = node_kind(cid, fetch_verified(cid, get))
        if kind == UNIXFS_FILE:
            yield path, "file", cid
        elif kind in (UNIXFS_DIRECTORY, UNIXFS_HAMT_SHARD):
            if depth > MAX_DIR_DEPTH:
                raise DagFormatError(f"{cid}: folders nested deeper than {MAX_DIR_DEPTH}")
            yield path, "dir", cid
            entries = list_directory(cid, get)
            for entry in reversed(entries):
                stack.append((f"{path}/{entry.name}" if path else entry.name, entry.cid,
                              depth + 1))
        else:
            raise DagFormatError(f"{cid}: UnixFS type {kind} is neither a file nor a directory")


def export_tree(root: Cid, get: BlockGetter) -> bytes | dict[str, object]:
    """The file (bytes) or folder (nested dict of names) under ``root``, in memory, verified."""
    made: dict[str, object] = {}
    top: bytes | dict[str, object] | None = None
    for path, kind, cid in walk_tree(root, get):
        value: bytes | dict[str, object] = (b"".join(export_chunks(cid, get)) if kind == "file"
                                            else {})
        if not path:
            top = value if kind == "file" else made
            continue
        *parents, name = path.split("/")
        folder = made
        for part in parents:
            folder = folder[part]  # type: ignore[assignment]
        folder[name] = value
    assert top is not None
    return top


def export_path(root: Cid, get: BlockGetter, out: str | os.PathLike[str]) -> int:
    """Write the file or folder under ``root`` at ``out`` (which must not exist); return bytes
    of file content written. Files are streamed; every name is checked before it is used (none
    leaves ``out``); on any error what was written is removed again."""
    target = Path(out)
    if os.path.lexists(target):
        raise StorageError(f"{target}: exists (export writes a new file or folder)")
    written = 0
    try:
        for path, kind, cid in walk_tree(root, get):
            at = target / path if path else target
            if kind == "dir":
                at.mkdir()
                continue
            with open(at, "xb") as out_file:
                for piece in export_chunks(cid, get):
                    out_file.write(piece)
                    written += len(piece)
    except BaseException:
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif os.path.lexists(target):
            target.unlink()
        raise
    return written
