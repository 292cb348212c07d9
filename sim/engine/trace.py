"""The run's trace: one JSON object per line, in simulated-time order.

Every transaction (with its signed raw bytes, so ``pmrsim replay`` can
re-execute it), every block (with its state root), every privileged funding
write, and the storage and privacy events of the run. Keys and personal
values never go in: transactions are signed bytes whose calldata holds, in
the private layout, only IDs, commitments and CID digests. The record kinds
are documented in ``reports/FORMATS.md``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sim.chain import Receipt
from sim.hashing import keccak256 as keccak

#: One encoder for every record (``json.dumps`` with options builds a new one per call).
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _line(kind: str, t: float, fields: dict[str, Any]) -> str:
    """One record's line: compact key-sorted JSON, the time rounded to milliseconds."""
    return _encode({"kind": kind, "t": round(t, 3), **fields}) + "\n"


def logs_digest(receipt: Receipt) -> str:
    """keccak256 over the receipt's logs (address, topics, data): a receipt fingerprint."""
    blob = b"".join(
        log.address + b"".join(log.topics) + len(log.data).to_bytes(4, "big") + log.data
        for log in receipt.logs
    )
    return "0x" + keccak(blob).hex()


class TraceWriter:
    """Appends records to ``trace.jsonl`` (compact, key-sorted, UTF-8)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self.lines = 0
        #: Held records, oldest first: (kind, t, fields, the lines written after it).
        self._held: deque[tuple[str, float, Callable[[], dict[str, Any]], list[str]]] = deque()
        self._waiting = 0  # lines written behind held records

    def write(self, kind: str, t: float, **fields: Any) -> None:
        """Write one record of ``kind`` at simulated time ``t`` (seconds since the start)."""
        line = _line(kind, t, fields)
        if self._held:
            self._held[-1][3].append(line)
            self._waiting += 1
        else:
            self._fh.write(line)
        self.lines += 1

    def hold(self, kind: str, t: float, fields: Callable[[], dict[str, Any]]) -> None:
        """Write a record whose fields are not known yet: ``fields()`` gives them later.

        The record keeps its place: what is written after it waits in memory
        until :meth:`release` (or :meth:`close`) asks ``fields()`` and writes
        the record and then them. A block whose state root a worker process
        is still computing is traced this way.
        """
        self._held.append((kind, t, fields, []))
        self.lines += 1

    @property
    def held(self) -> int:
        """Records held (see :meth:`hold`)."""
        return len(self._held)

    @property
    def waiting(self) -> int:
        """Lines written after a held record, waiting for it in memory."""
        return self._waiting

    def release(self, keep: int = 0) -> None:
        """Write the oldest held records, now complete, and what was written after each,
        until ``keep`` remain held."""
        held, fh = self._held, self._fh
        while len(held) > keep:
            kind, t, fields, after = held.popleft()
            fh.write(_line(kind, t, fields()))
            fh.writelines(after)
            self._waiting -= len(after)

    def close(self) -> None:
        """Write any held record, flush and close the file."""
        try:
            self.release()
        finally:
            self._fh.close()


def read_trace(path: Path) -> list[dict[str, Any]]:
    """All records of a trace (small traces; replay streams instead)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
