"""The revm backend's state trie in a process of its own: block writes go in, roots come back.

At city load a block holds about one transaction, and re-encoding the trie
paths it wrote (some 80 nodes, each hashed) took a fifth of the main
process's time. :class:`RootWorker` moves that work to a second process:
:meth:`~RootWorker.update` sends a block's written accounts and slots and
returns at once; the block's root is read later with
:meth:`~RootWorker.next_root`, in order, by when the worker has long
computed it. The worker's :class:`~sim.chain._revm_trie.StateTrie` is also
the committed storage, so :class:`RemoteStore` answers the main process's
(rare) reads of it by asking the worker.

Replies come back in the order of the requests; a query first moves the
roots not yet read into a queue. Nothing random or timed crosses the pipe,
so the roots are those of the in-process trie, bit for bit.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import traceback
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from sim.chain._revm_exec import EMPTY_CODE_HASH, AccountTuple
from sim.errors import ChainError

#: Values per message when the worker streams the committed storage back.
_VALUES_PER_MESSAGE = 1 << 16


class _Accounts:
    """The written accounts of one block, as :meth:`StateTrie.update` reads them."""

    def __init__(self, accounts: Mapping[bytes, AccountTuple]) -> None:
        self._accounts = accounts

    def account(self, address: bytes) -> AccountTuple:
        return self._accounts.get(address) or (0, 0, EMPTY_CODE_HASH)


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """The worker: apply updates and answer queries, in order, until told to stop."""
    # a fork inherits the engine's paused collector (sim.engine.runner) and the parent's
    # objects, which its collections should not touch (copy-on-write)
    gc.freeze()
    gc.enable()
    from sim.chain._revm_trie import StateTrie

    trie = StateTrie()
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        op = request[0]
        try:
            if op == "updates":  # blocks in order: their roots
                reply: Any = [trie.update(_Accounts(accounts), set(accounts), slots)  # type: ignore[arg-type]
                              for accounts, slots in request[1]]
            elif op == "get":
                reply = trie.get(request[1], request[2])
            elif op == "has_storage":
                reply = trie.has_storage(request[1])
            elif op == "values":
                batch: list[int] = []
                for value in trie.values():
                    batch.append(value)
                    if len(batch) == _VALUES_PER_MESSAGE:
                        conn.send(("more", batch))
                        batch = []
                reply = batch
            elif op == "close":
                conn.send(("ok", None))
                return
            else:  # pragma: no cover - a programming error
                raise ValueError(f"unknown request {op!r}")
        except Exception:  # reported to the main process, which raises it there
            conn.send(("error", traceback.format_exc()))
            continue
        conn.send(("ok", reply))


class RootWorker:
    """A forked process holding the state trie (see the module docstring)."""

    #: Blocks sent to the worker in one message (a message costs more than a block's writes).
    BATCH = 16
    #: Messages of roots the worker may have unread before an update waits for the oldest
    #: (its replies must never fill the pipe while the main process is sending).
    MAX_UNREAD = 16

    def __init__(self) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        ours, theirs = ctx.Pipe(duplex=True)
        self._process = ctx.Process(  # type: ignore[attr-defined]
            target=_serve, args=(theirs,), daemon=True, name="pmrsim-roots")
        self._process.start()
        theirs.close()
        self._conn = ours
        self._outbox: list[tuple[Mapping[bytes, AccountTuple],
                                 Mapping[bytes, Mapping[int, int]]]] = []
        self._unread = 0  # messages of roots the worker has sent (or will send), not received
        self._ready: deque[bytes] = deque()  # roots received, not yet taken

    def update(self, accounts: Mapping[bytes, AccountTuple],
               slots: Mapping[bytes, Mapping[int, int]]) -> None:
        """Queue a block's written accounts (all of them) and slots; its root comes later.

        The mappings are the caller's to give away: they are sent as they
        are when the batch goes (:data:`BATCH` blocks, or a root is asked for).
        """
        self._outbox.append((accounts, slots))
        if len(self._outbox) >= self.BATCH:
            self._flush()

    def next_root(self) -> bytes:
        """The root after the oldest update not yet taken (waits for the worker if needed)."""
        if not self._ready:
            if not self._unread:
                if not self._outbox:
                    raise ChainError("no state root is pending")
                self._flush()
            self._take()
        return self._ready.popleft()

    def _flush(self) -> None:
        """Send the queued blocks (one message)."""
        if self._unread >= self.MAX_UNREAD:
            self._take()
        self._send(("updates", self._outbox))
        self._outbox = []
        self._unread += 1

    def _take(self) -> None:
        """Receive the oldest unread message of roots."""
        self._ready.extend(bytes(root) for root in self._receive())
        self._unread -= 1

    def query(self, op: str, *args: Any) -> Any:
        """Ask the worker ``op`` (``get`` or ``has_storage``) and wait."""
        self._drain()
        self._send((op, *args))
        return self._receive()

    def values(self) -> Iterator[int]:
        """Every committed non-zero storage value, streamed from the worker."""
        self._drain()
        self._send(("values",))
        while True:
            kind, payload = self._receive_raw()
            if kind == "error":
                raise ChainError(f"the state-root worker failed:\n{payload}")
            yield from payload
            if kind == "ok":
                return

    def close(self) -> None:
        """Stop the worker (pending roots are dropped)."""
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(("close",))
            self._process.join(timeout=5)
            if self._process.is_alive():  # pragma: no cover - a stuck worker
                self._process.terminate()
        self._conn.close()

    def _drain(self) -> None:
        """Send the queued blocks and receive every root (so a query's reply is next)."""
        if self._outbox:
            self._flush()
        while self._unread:
            self._take()

    def _send(self, request: tuple[Any, ...]) -> None:
        try:
            self._conn.send(request)
        except OSError:  # a broken pipe: the worker is gone
            raise ChainError("the state-root worker stopped unexpectedly") from None

    def _receive(self) -> Any:
        kind, payload = self._receive_raw()
        if kind == "error":
            raise ChainError(f"the state-root worker failed:\n{payload}")
        return payload

    def _receive_raw(self) -> tuple[str, Any]:
        try:
            reply: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError):
            raise ChainError("the state-root worker stopped unexpectedly") from None
        return reply


class RemoteStore:
    """The committed storage held by a :class:`RootWorker` (a :class:`SlotStore`)."""

    def __init__(self, worker: RootWorker) -> None:
        self._worker = worker

    def get(self, address: bytes, slot: int) -> int:
        """Committed value of ``slot`` of ``address`` (0 when unset)."""
        return int(self._worker.query("get", address, slot))

    def has_storage(self, address: bytes) -> bool:
        """Whether ``address`` has any committed non-zero slot."""
        return bool(self._worker.query("has_storage", address))

    def values(self) -> Iterator[int]:
        """Every committed non-zero value."""
        return self._worker.values()
