"""The run's trace: one JSON object per line, in simulated-time order.

Every transaction (with its signed raw bytes, so ``pmrsim replay`` can
re-execute it), every block (with its state root), every privileged funding
write, and the storage and privacy events of the run. Keys and personal
values never go in: transactions are signed bytes whose calldata holds, in
the private layout, only IDs, commitments and CID digests. The record kinds
are documented in ``reports/FORMATS.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
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


_string = json.encoder.encode_basestring  # the encoder's own string escaping (C in CPython)
_NUMBERS = (int, float)


def logs_hash(receipt: Receipt) -> bytes:
    """keccak256 over the receipt's logs (address, topics, data): a receipt fingerprint."""
    blob = b"".join(
        log.address + b"".join(log.topics) + len(log.data).to_bytes(4, "big") + log.data
        for log in receipt.logs
    )
    return keccak(blob)


def logs_digest(receipt: Receipt) -> str:
    """:func:`logs_hash` as ``0x`` hex (the trace's ``logs`` field)."""
    return "0x" + logs_hash(receipt).hex()


def tx_line(t: float, *, block: int, op: str, sender: str, status: int, gas: int,
            reason: str | None, tx_hash: bytes, submitted: float, latency: float, logs: bytes,
            raw: bytes) -> str:
    """A ``tx`` record's line, the same bytes as :func:`_line` gives (tested), ~5x faster.

    A city-year writes over a million of these, each with ~1 KB of hex that
    the general encoder scans character by character for escapes; hex never
    needs one, and the byte fields are made hex here. Values of another type
    than annotated go through the general encoder.
    """
    t = round(t, 3)
    if not (type(block) is type(status) is type(gas) is int
            and type(t) in _NUMBERS and type(submitted) in _NUMBERS and type(latency) in _NUMBERS
            and t - t == submitted - submitted == latency - latency == 0  # finite
            and type(op) is type(sender) is str and (reason is None or type(reason) is str)):
        return _line("tx", t, {"block": block, "op": op, "sender": sender, "status": status,
                               "gas": gas, "reason": reason, "hash": "0x" + tx_hash.hex(),
                               "submitted": submitted, "latency": latency,
                               "logs": "0x" + logs.hex(), "raw": "0x" + raw.hex()})
    return (f'{{"block":{block},"gas":{gas},"hash":"0x{tx_hash.hex()}","kind":"tx",'
            f'"latency":{latency!r},"logs":"0x{logs.hex()}","op":{_string(op)},'
            f'"raw":"0x{raw.hex()}","reason":{"null" if reason is None else _string(reason)},'
            f'"sender":{_string(sender)},"status":{status},"submitted":{submitted!r},'
            f'"t":{t!r}}}\n')


class TraceWriter:
    """Appends records to ``trace.jsonl`` (compact, key-sorted, UTF-8).

    Every line written is also hashed (sha256, in file order): :meth:`finish`
    closes the trace with an ``end`` record carrying that digest and the
    number of lines before it, so a trace that was cut short, or whose lines
    were changed, dropped, added or reordered afterwards, no longer matches
    its own end record.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8", newline="\n")
        self._digest = hashlib.sha256()
        self._written = 0  # lines in the file (and in the digest) so far
        self.ended = False
        self.lines = 0
        #: Held records, oldest first: (kind, t, fields, the lines written after it).
        self._held: deque[tuple[str, float, Callable[[], dict[str, Any]], list[str]]] = deque()
        self._waiting = 0  # lines written behind held records
        #: Records written through :meth:`write` by (kind, ``event`` field or ""), so the
        #: summary's counts are the trace's (``tx`` and held ``block`` records are not tallied).
        self.tally: Counter[tuple[str, str]] = Counter()

    def write(self, kind: str, t: float, **fields: Any) -> None:
        """Write one record of ``kind`` at simulated time ``t`` (seconds since the start)."""
        self._put(_line(kind, t, fields))
        self.tally[kind, fields.get("event", "")] += 1

    def tx(self, t: float, *, block: int, op: str, sender: str, status: int, gas: int,
           reason: str | None, tx_hash: bytes, submitted: float, latency: float, logs: bytes,
           raw: bytes) -> None:
        """Write a ``tx`` record (see :func:`tx_line`): ``write("tx", ...)`` with the hash, logs
        digest and raw bytes given as bytes."""
        self._put(tx_line(t, block=block, op=op, sender=sender, status=status, gas=gas,
                          reason=reason, tx_hash=tx_hash, submitted=submitted, latency=latency,
                          logs=logs, raw=raw))

    def _put(self, line: str) -> None:
        if self.ended:
            raise RuntimeError("nothing may be written after the trace's end record")
        if self._held:
            self._held[-1][3].append(line)
            self._waiting += 1
        else:
            self._emit(line)
        self.lines += 1

    def _emit(self, line: str) -> None:
        """Write one line to the file and to the running digest."""
        self._fh.write(line)
        self._digest.update(line.encode())
        self._written += 1

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
        held, emit = self._held, self._emit
        while len(held) > keep:
            kind, t, fields, after = held.popleft()
            emit(_line(kind, t, fields()))
            for line in after:
                emit(line)
            self._waiting -= len(after)

    def finish(self, t: float, **fields: Any) -> None:
        """Write the ``end`` record: ``fields`` plus the line count and sha256 of every line
        before it. Nothing may be written after it."""
        self.release()
        if self.ended:
            raise RuntimeError("the trace already has its end record")
        self._emit(_line("end", t, {**fields, "lines": self._written,
                                    "sha256": self._digest.hexdigest()}))
        self.lines += 1
        self.ended = True

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
