"""An append-only pack file: many small blobs in one file, read back by offset.

Large runs keep their blocks and sealed objects on disk rather than in
memory. One file per store (not one per block) keeps that cheap: a put is
one ``write``, a get one ``pread``, and the index in memory costs a few
dozen bytes per blob.
"""

from __future__ import annotations

import os
from pathlib import Path


class PackFile:
    """Blobs appended to one file; ``append`` returns the offset to ``read`` them back."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Create (or truncate) the pack file at ``path``."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._end = 0

    def append(self, data: bytes) -> int:
        """Write ``data`` at the end; return its offset."""
        fd = self._require()
        offset = self._end
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, self._end)
            view = view[written:]
            self._end += written
        return offset

    def read(self, offset: int, length: int) -> bytes:
        """The ``length`` bytes at ``offset``."""
        data = os.pread(self._require(), length, offset)
        if len(data) != length:
            raise OSError(f"{self.path}: short read at {offset} ({len(data)} of {length} bytes)")
        return data

    @property
    def size(self) -> int:
        """Bytes written so far (deleted blobs included)."""
        return self._end

    def close(self) -> None:
        """Close the file (it stays on disk)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path}: pack file is closed")
        return self._fd


__all__ = ["PackFile"]
