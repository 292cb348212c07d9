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

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Patients per registration chunk (one Faker instance, seeded per chunk).
CHUNK = 2_000
#: From this many patients a run is "big": a worker process prepares people and
#: studies ahead, and sealed objects and swarm blocks go to pack files on disk.
BIG_RUN_PATIENTS = 5_000


class Pending(Generic[T]):
    """A result that will be there: from the worker, or computed on first ``result()``."""

    __slots__ = ("_args", "_fn", "_future", "_value")

    def __init__(self, fn: Callable[..., T] | None, args: tuple[Any, ...],
                 future: Future[T] | None = None) -> None:
        self._fn = fn
        self._args = args
        self._future = future
        self._value: T | None = None

    def result(self) -> T:
        """The value (waiting for the worker, or computing it inline)."""
        if self._future is not None:
            return self._future.result()
        if self._fn is not None:
            self._value = self._fn(*self._args)
            self._fn = None
            self._args = ()
        return self._value  # type: ignore[return-value]


class Offload:
    """A worker process for seed-determined work (none when ``workers`` is 0)."""

    def __init__(self, workers: int) -> None:
        """Start ``workers`` processes (0: run everything inline, on demand)."""
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))

    def submit(self, fn: Callable[..., T], *args: Any) -> Pending[T]:
        """Start ``fn(*args)`` (a module-level function of picklable arguments)."""
        if self._pool is None:
            return Pending(fn, args)
        return Pending(None, (), self._pool.submit(fn, *args))

    def stream(self, fn: Callable[[int], list[T]], chunks: int, *, ahead: int = 2) -> Iterator[T]:
        """Items of ``fn(0)``, ``fn(1)``, ... ``fn(chunks - 1)`` in order, ``ahead`` chunks prepared."""
        queue = [self.submit(fn, j) for j in range(min(ahead, chunks))]
        for j in range(chunks):
            current = queue.pop(0)
            if j + ahead < chunks:
                queue.append(self.submit(fn, j + ahead))
            yield from current.result()

    def close(self) -> None:
        """Stop the worker (pending work is dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def default_workers(patients: int) -> int:
    """One worker for runs big enough to repay starting it, on a machine with a core to spare."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1 if patients >= BIG_RUN_PATIENTS and cores >= 2 else 0


__all__ = ["BIG_RUN_PATIENTS", "CHUNK", "Offload", "Pending", "default_workers"]
