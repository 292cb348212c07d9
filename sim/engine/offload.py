"""Deterministic work done ahead of time on the machine's second core.

The chain is serial, so a run keeps one core busy. Some of the world's work
does not depend on the chain at all: the synthetic people who will come to
the desks, and the de-identified DICOM study a lab will store hours of
simulated time after the order. Those are pure functions of seeds, so they
can be computed in a worker process while the main process runs the chain,
and the run stays byte-identical whether they are (``workers=1``) or not
(``workers=0``, everything inline).

:class:`Offload` hands out :class:`Pending` results: ``submit`` starts the
work (in the worker, or not at all yet when inline) and ``result()`` returns
it, computing it there and then when inline.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Patients per registration chunk (one Faker instance, seeded per chunk).
CHUNK = 2_000
#: From this many patients a run is "big": a worker process prepares people and
#: studies ahead, and sealed objects and swarm blocks go to pack files on disk.
BIG_RUN_PATIENTS = 5_000


class Pending(Generic[T]):
    """A result that will be there: from the worker, or computed on first ``result()``."""

    __slots__ = ("_args", "_fn", "_job", "_offload", "_value")

    def __init__(self, fn: Callable[..., T] | None, args: tuple[Any, ...],
                 offload: Offload | None = None, job: int = -1) -> None:
        self._fn = fn
        self._args = args
        self._offload = offload
        self._job = job
        self._value: T | None = None

    def result(self) -> T:
        """The value (waiting for the worker, or computing it inline)."""
        if self._offload is not None:
            self._value = self._offload._collect(self._job)
            self._offload = None
        elif self._fn is not None:
            self._value = self._fn(*self._args)
            self._fn = None
            self._args = ()
        return self._value  # type: ignore[return-value]


def _serve(jobs: Connection, results: Connection) -> None:
    """The worker: run each job it is sent, send back (job id, ok, value or error text)."""
    # a fork inherits the engine's paused collector (sim.engine.runner) and the parent's
    # objects, which its collections should not touch (copy-on-write)
    gc.freeze()
    gc.enable()
    while True:
        try:
            message = jobs.recv()
        except EOFError:
            return
        if message is None:
            return
        job, fn, args = message
        try:
            reply = (job, True, fn(*args))
        except Exception as exc:  # reported to the main process, which raises it there
            reply = (job, False, f"{type(exc).__name__}: {exc}")
        try:
            results.send(reply)
        except OSError:  # the main process closed its end: the run is over
            return


class Offload:
    """A worker process for seed-determined work (none when ``workers`` is 0).

    The worker is fed and read through two pipes by the main thread itself,
    with no helper threads: a CPU-bound simulation holds the GIL, and the
    threads of a ``ProcessPoolExecutor`` would only get it every switch
    interval, starving the worker.
    """

    #: Jobs in flight at most (so neither pipe can fill up with both sides waiting).
    MAX_IN_FLIGHT = 64

    def __init__(self, workers: int) -> None:
        """Start a worker process when ``workers`` > 0 (0: run everything inline, on demand)."""
        self.workers = min(workers, 1)
        self._process: multiprocessing.process.BaseProcess | None = None
        self._next = 0
        self._done: dict[int, tuple[bool, Any]] = {}
        self._in_flight: list[int] = []
        if self.workers:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            ctx = multiprocessing.get_context(method)
            job_reader, job_writer = ctx.Pipe(duplex=False)
            result_reader, result_writer = ctx.Pipe(duplex=False)
            self._process = ctx.Process(  # type: ignore[attr-defined]
                target=_serve, args=(job_reader, result_writer), daemon=True,
                name="pmrsim-offload")
            self._process.start()
            job_reader.close()
            result_writer.close()
            self._jobs, self._results = job_writer, result_reader

    def submit(self, fn: Callable[..., T], *args: Any) -> Pending[T]:
        """Start ``fn(*args)`` (a module-level function of picklable arguments)."""
        if self._process is None:
            return Pending(fn, args)
        self._drain(block=False)
        while len(self._in_flight) >= self.MAX_IN_FLIGHT:
            self._drain(block=True)
        job = self._next
        self._next += 1
        self._jobs.send((job, fn, args))
        self._in_flight.append(job)
        return Pending(None, (), self, job)

    def _drain(self, *, block: bool) -> None:
        """Read finished results (at least one when ``block``)."""
        while block or self._results.poll(0):
            try:
                job, ok, value = self._results.recv()
            except EOFError:
                raise RuntimeError("the pmrsim offload worker stopped unexpectedly") from None
            self._done[job] = (ok, value)
            self._in_flight.remove(job)
            block = False

    def _collect(self, job: int) -> Any:
        while job not in self._done:
            self._drain(block=True)
        ok, value = self._done.pop(job)
        if not ok:
            raise RuntimeError(f"offloaded work failed: {value}")
        return value

    def stream(self, fn: Callable[[int], list[T]], chunks: int, *, ahead: int = 2) -> Iterator[T]:
        """Items of ``fn(0)``, ``fn(1)``, ... ``fn(chunks - 1)`` in order, ``ahead`` chunks prepared."""
        queue = [self.submit(fn, j) for j in range(min(ahead, chunks))]
        for j in range(chunks):
            current = queue.pop(0)
            if j + ahead < chunks:
                queue.append(self.submit(fn, j + ahead))
            yield from current.result()

    def close(self) -> None:
        """Stop the worker (work in flight is dropped)."""
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._jobs.send(None)
            self._results.close()  # a worker blocked sending a result sees the pipe closed
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._jobs.close()
            self._process = None


def spare_core() -> bool:
    """Whether this process may use a second core (a worker process is worth starting).

    Never in a daemonic process, which may not start children: a Dask
    worker running a sweep's points is one.
    """
    if multiprocessing.current_process().daemon:
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores >= 2


def default_workers(patients: int) -> int:
    """One worker for runs big enough to repay starting it, on a machine with a core to spare."""
    return 1 if patients >= BIG_RUN_PATIENTS and spare_core() else 0


__all__ = ["BIG_RUN_PATIENTS", "CHUNK", "Offload", "Pending", "default_workers", "spare_core"]
