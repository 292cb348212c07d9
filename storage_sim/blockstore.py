"""Blockstores: where a node keeps its blocks (in memory by default, or on disk).

A blockstore stores bytes under a :class:`~storage_sim.cid.Cid` without
checking them; whoever fetches a block verifies it against its CID (that is
what makes a tampered store detectable). Both stores keep a running byte
count so the swarm can report bytes stored per node cheaply.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from storage_sim.cid import Cid
from storage_sim.errors import BlockNotFoundError
from storage_sim.multibase import b32encode_lower
from storage_sim.pack import PackFile


class Blockstore(ABC):
    """A mapping from CID to block bytes."""

    @abstractmethod
    def put(self, cid: Cid, data: bytes) -> None:
        """Store ``data`` under ``cid`` (replacing what was there)."""

    @abstractmethod
    def get(self, cid: Cid) -> bytes:
        """Return the block under ``cid``; raise :class:`BlockNotFoundError` if absent."""

    @abstractmethod
    def has(self, cid: Cid) -> bool:
        """Whether a block is stored under ``cid``."""

    @abstractmethod
    def delete(self, cid: Cid) -> int:
        """Remove the block under ``cid`` if present; return the bytes freed."""

    @abstractmethod
    def cids(self) -> Iterator[Cid]:
        """Iterate over the stored CIDs (order unspecified but deterministic)."""

    @property
    @abstractmethod
    def size_bytes(self) -> int:
        """Total bytes of stored blocks."""

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, Cid) and self.has(cid)

    def __len__(self) -> int:
        return sum(1 for _ in self.cids())


class MemoryBlockstore(Blockstore):
    """A blockstore in a dict (insertion-ordered, so iteration is deterministic)."""

    def __init__(self) -> None:
        self._blocks: dict[Cid, bytes] = {}
        self._size = 0

    def put(self, cid: Cid, data: bytes) -> None:
        """Store ``data`` under ``cid``."""
        old = self._blocks.get(cid)
        if old is not None:
            self._size -= len(old)
        self._blocks[cid] = bytes(data)
        self._size += len(data)

    def get(self, cid: Cid) -> bytes:
        """Return the block under ``cid``."""
        try:
            return self._blocks[cid]
        except KeyError:
            raise BlockNotFoundError(f"block {cid} not in blockstore") from None

    def has(self, cid: Cid) -> bool:
        """Whether ``cid`` is stored."""
        return cid in self._blocks

    def delete(self, cid: Cid) -> int:
        """Remove ``cid``; return the bytes freed."""
        data = self._blocks.pop(cid, None)
        if data is None:
            return 0
        self._size -= len(data)
        return len(data)

    def cids(self) -> Iterator[Cid]:
        """Iterate over stored CIDs in insertion order."""
        return iter(list(self._blocks))

    @property
    def size_bytes(self) -> int:
        """Total bytes stored."""
        return self._size

    def __len__(self) -> int:
        return len(self._blocks)


class FileBlockstore(Blockstore):
    """A flat on-disk blockstore: one file per block, named by the base32 binary CID."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._size = sum(path.stat().st_size for path in self.directory.glob("b*"))

    def _path(self, cid: Cid) -> Path:
        return self.directory / ("b" + b32encode_lower(cid.binary))

    def put(self, cid: Cid, data: bytes) -> None:
        """Store ``data`` under ``cid`` atomically (write then rename)."""
        path = self._path(cid)
        self._size -= path.stat().st_size if path.exists() else 0
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self._size += len(data)

    def get(self, cid: Cid) -> bytes:
        """Return the block under ``cid``."""
        try:
            return self._path(cid).read_bytes()
        except FileNotFoundError:
            raise BlockNotFoundError(f"block {cid} not in {self.directory}") from None

    def has(self, cid: Cid) -> bool:
        """Whether ``cid`` is stored."""
        return self._path(cid).exists()

    def delete(self, cid: Cid) -> int:
        """Remove ``cid``; return the bytes freed."""
        path = self._path(cid)
        try:
            freed = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        self._size -= freed
        return freed

    def cids(self) -> Iterator[Cid]:
        """Iterate over stored CIDs in file-name order."""
        for path in sorted(self.directory.glob("b*")):
            if path.suffix != ".tmp":
                yield Cid.parse(path.name)

    @property
    def size_bytes(self) -> int:
        """Total bytes stored."""
        return self._size


class PackBlockstore(Blockstore):
    """Blocks appended to one pack file on disk, indexed in memory (insertion-ordered).

    Behaves exactly like :class:`MemoryBlockstore` (same iteration order),
    holding only offsets in memory: what big runs use. Deleted blocks leave
    their bytes in the file; ``size_bytes`` counts live blocks only.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """A new, empty store in the pack file ``path``."""
        self._pack = PackFile(path)
        self._index: dict[Cid, int] = {}  # PackFile handles
        self._size = 0

    def put(self, cid: Cid, data: bytes) -> None:
        """Store ``data`` under ``cid``."""
        old = self._index.get(cid)
        if old is not None:
            self._size -= PackFile.length(old)
        self._index[cid] = self._pack.put(data)
        self._size += len(data)

    def get(self, cid: Cid) -> bytes:
        """Return the block under ``cid``."""
        try:
            handle = self._index[cid]
        except KeyError:
            raise BlockNotFoundError(f"block {cid} not in {self._pack.path}") from None
        return self._pack.get(handle)

    def has(self, cid: Cid) -> bool:
        """Whether ``cid`` is stored."""
        return cid in self._index

    def delete(self, cid: Cid) -> int:
        """Remove ``cid``; return the bytes freed."""
        handle = self._index.pop(cid, None)
        if handle is None:
            return 0
        freed = PackFile.length(handle)
        self._size -= freed
        return freed

    def cids(self) -> Iterator[Cid]:
        """Iterate over stored CIDs in insertion order."""
        return iter(list(self._index))

    @property
    def size_bytes(self) -> int:
        """Total bytes of live blocks."""
        return self._size

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        """Close the pack file."""
        self._pack.close()
