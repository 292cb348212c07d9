"""The revm backend's signatures made in a process of its own, while the chain goes on.

A transaction's signature decides only its hash and raw bytes, and nothing
reads those before the block holding it is mined. So with
``background_signing`` the chain queues a transaction under a provisional
handle and gives :class:`Signer` its key and the RLP of its fields; the
worker signs it (:func:`sim.chain._revm_tx.signed_bytes`: secp256k1 with
RFC 6979 nonces, so the bytes are those of signing at once, bit for bit)
and :meth:`Signer.collect` returns the bytes and hashes, in order, when the
chain mines.

Transactions go to the worker :attr:`Signer.CHUNK` at a time: waking the
other process costs tens of microseconds, as much as a signature, so
one at a time would gain nothing. What is not sent when the chain mines
is signed in the main process while the worker finishes: waiting for one
more round trip would cost more.

Two plain pipes carry bytes, read and written with single system calls
(``multiprocessing.Connection`` costs several).
A request is a private key (32 bytes), a length (4 bytes) and that many
bytes of fields, or a length of ``0xFFFFFFFF`` alone to stop. A reply is a
status byte, a hash (32 bytes), a length and the raw transaction; status 1
carries the worker's traceback instead. Keys pass between the two processes
of one run only; nothing is written anywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import multiprocessing
import os
import traceback

from sim.chain._revm_tx import signed_bytes
from sim.errors import ChainError

_KEY = 32
_REQUEST_HEAD = _KEY + 4
_REPLY_HEAD = 1 + 32 + 4
_STOP = b"\x00" * _KEY + b"\xff\xff\xff\xff"
#: Pipe capacity asked for (Linux), so that neither side waits on a full pipe in practice.
_PIPE_SIZE = 1 << 20
_READ = 1 << 20


def _widen(fd: int) -> None:
    """Ask for a bigger pipe buffer where the system allows it."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setpipe, _PIPE_SIZE)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _serve(requests: int, replies: int, theirs: tuple[int, int]) -> None:
    """The worker: sign each request, in order, until told to stop."""
    # a fork inherits the engine's paused collector (sim.engine.runner) and the parent's
    # objects, which its collections should not touch (copy-on-write)
    gc.freeze()
    gc.enable()
    for fd in theirs:  # the main process's ends
        os.close(fd)
    buffer = b""
    while True:
        chunk = os.read(requests, _READ)
        if not chunk:
            return
        buffer += chunk
        out: list[bytes] = []
        i, n = 0, len(buffer)
        while i + _REQUEST_HEAD <= n:
            size = int.from_bytes(buffer[i + _KEY : i + _REQUEST_HEAD], "big")
            if size == 0xFFFFFFFF:
                _write_all(replies, b"".join(out))
                return
            end = i + _REQUEST_HEAD + size
            if end > n:
                break
            try:
                raw, tx_hash = signed_bytes(buffer[i : i + _KEY], buffer[i + _REQUEST_HEAD : end])
                out.append(b"\x00" + tx_hash + len(raw).to_bytes(4, "big") + raw)
            except Exception:  # reported to the main process, which raises it there
                text = traceback.format_exc().encode()
                out.append(b"\x01" + b"\x00" * 32 + len(text).to_bytes(4, "big") + text)
            i = end
        buffer = buffer[i:]
        if out:
            _write_all(replies, b"".join(out))


class Signer:
    """A forked process signing transactions (see the module docstring)."""

    #: Transactions sent to the worker in one write.
    CHUNK = 12

    def __init__(self) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        req_r, self._requests = os.pipe()
        self._replies, rep_w = os.pipe()
        for fd in (self._requests, self._replies):
            _widen(fd)
        self._process = ctx.Process(  # type: ignore[attr-defined]
            target=_serve, args=(req_r, rep_w, (self._requests, self._replies)), daemon=True,
            name="pmrsim-signer")
        self._process.start()
        os.close(req_r)
        os.close(rep_w)
        self._outbox: list[tuple[bytes, bytes]] = []  # (private key, fields) not sent yet
        self._sent = 0  # transactions sent whose replies were not read
        self._inbox = b""  # reply bytes read, not yet parsed
        self._ready: list[tuple[bytes, bytes]] = []  # (raw, hash) read, not yet collected
        self._closed = False

    def add(self, private_key: bytes, fields: bytes) -> None:
        """Queue the signing of a transaction (``fields``: :func:`~sim.chain._revm_tx.unsigned`'s raw)."""
        self._outbox.append((private_key, fields))
        if len(self._outbox) >= self.CHUNK:
            self._flush()

    def collect(self) -> list[tuple[bytes, bytes]]:
        """(raw bytes, hash) of every transaction queued since the last call, in order."""
        outbox, self._outbox = self._outbox, []
        rest = [signed_bytes(key, fields) for key, fields in outbox]
        while self._sent:
            self._read()
        ready, self._ready = self._ready, []
        ready.extend(rest)
        return ready

    def close(self) -> None:
        """Stop the worker (signatures not collected are dropped)."""
        if self._closed:
            return
        self._closed = True
        if self._process.is_alive():
            with contextlib.suppress(OSError):
                _write_all(self._requests, _STOP)
            self._process.join(timeout=5)
            if self._process.is_alive():  # pragma: no cover - a stuck worker
                self._process.terminate()
        os.close(self._requests)
        os.close(self._replies)

    def _flush(self) -> None:
        """Send the queued requests."""
        try:
            _write_all(self._requests, b"".join(key + len(fields).to_bytes(4, "big") + fields
                                                for key, fields in self._outbox))
        except OSError:  # a broken pipe: the worker is gone
            raise ChainError("the signing worker stopped unexpectedly") from None
        self._sent += len(self._outbox)
        self._outbox = []

    def _read(self) -> None:
        """Read the replies that have come (waiting for some)."""
        chunk = os.read(self._replies, _READ)
        if not chunk:
            raise ChainError("the signing worker stopped unexpectedly")
        data = self._inbox + chunk if self._inbox else chunk
        ready = self._ready
        i, n = 0, len(data)
        while i + _REPLY_HEAD <= n:
            end = i + _REPLY_HEAD + int.from_bytes(data[i + 33 : i + _REPLY_HEAD], "big")
            if end > n:
                break
            if data[i] != 0:
                raise ChainError("the signing worker failed:\n"
                                 + data[i + _REPLY_HEAD : end].decode(errors="replace"))
            ready.append((data[i + _REPLY_HEAD : end], data[i + 1 : i + 33]))
            self._sent -= 1
            i = end
        self._inbox = data[i:]
