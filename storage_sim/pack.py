"""An append-only pack file: many small blobs in one file, read back by offset.

Large runs keep their blocks and sealed objects on disk rather than in
memory. One file per store (not one per block) keeps that cheap: appends
are written a quarter megabyte at a time, a get is one ``pread`` (or a
slice of what is not written yet), and the index in memory costs one int
per blob (:meth:`PackFile.put` handles).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Appends are gathered in memory and written in pieces of about this size (one
#: system call per many small blocks instead of one per block).
_WRITE_BEHIND = 1 << 18
_LENGTH_BITS = 32
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1


class PackFile:
    """Blobs appended to one file; ``append`` returns the offset to ``read`` them back."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Create (or truncate) the pack file at ``path``."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._end = 0
        self._pending = bytearray()  # appended, not yet written: the file's tail from _written
        self._written = 0

    def append(self, data: bytes) -> int:
        """Add ``data`` at the end; return its offset."""
        self._require()
        offset = self._end
        self._pending += data
        self._end += len(data)
        if len(self._pending) >= _WRITE_BEHIND:
            self.flush()
        return offset

    def flush(self) -> None:
        """Write what was appended since the last flush to the file."""
        fd = self._require()
        view = memoryview(self._pending)
        while view:
            written = os.pwrite(fd, view, self._written)
            view = view[written:]
            self._written += written
        view.release()
        self._pending = bytearray()

    def put(self, data: bytes) -> int:
        """Append ``data``; return its handle for :meth:`get` (one int: offset and length).

        An index of handles costs one small int per blob where an
        ``(offset, length)`` tuple costs three objects (millions of blocks
        at city scale).
        """
        if len(data) > _LENGTH_MASK:
            raise ValueError(f"{self.path}: blob of {len(data)} bytes is too large for one handle")
        return self.append(data) << _LENGTH_BITS | len(data)

    def get(self, handle: int) -> bytes:
        """The blob of a :meth:`put` handle."""
        return self.read(handle >> _LENGTH_BITS, handle & _LENGTH_MASK)

    @staticmethod
    def length(handle: int) -> int:
        """The length of the blob of a :meth:`put` handle."""
        return handle & _LENGTH_MASK

    def read(self, offset: int, length: int) -> bytes:
        """The ``length`` bytes at ``offset``."""
        fd = self._require()
        if offset >= self._written:  # still in memory (a blob is never split by a flush)
            start = offset - self._written
            data = bytes(self._pending[start : start + length])
        else:
            data = os.pread(fd, length, offset)
        if len(data) != length:
            raise OSError(f"{self.path}: short read at {offset} ({len(data)} of {length} bytes)")
        return data

    @property
    def size(self) -> int:
        """Bytes written so far (deleted blobs included)."""
        return self._end

    def close(self) -> None:
        """Write what is pending and close the file (it stays on disk)."""
        if self._fd is not None:
            self.flush()
            os.close(self._fd)
            self._fd = None

    def _require(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path}: pack file is closed")
        return self._fd


__all__ = ["PackFile"]
