"""The offload worker: the same results, in any order asked, as running inline."""

from __future__ import annotations

import pytest

from sim.engine.offload import Offload


def _square(x: int) -> int:
    return x * x


def _chunk(j: int) -> list[int]:
    return [j * 10 + k for k in range(3)]


def _fails(x: int) -> int:
    raise ValueError(f"bad {x}")


@pytest.mark.parametrize("workers", [0, 1])
def test_results_match_inline_whatever_order_they_are_collected(workers: int) -> None:
    """Results come back right however many are in flight and in whatever order they are read."""
    offload = Offload(workers)
    try:
        pending = [offload.submit(_square, i) for i in range(200)]  # more than MAX_IN_FLIGHT
        order = list(range(200))[::7] + [i for i in range(200) if i % 7]
        assert {i: pending[i].result() for i in order} == {i: i * i for i in range(200)}
        assert list(offload.stream(_chunk, 4)) == [j * 10 + k for j in range(4) for k in range(3)]
    finally:
        offload.close()


def test_a_failure_in_the_worker_is_raised_in_the_main_process() -> None:
    """An exception in offloaded work surfaces, named, where the result is asked for."""
    offload = Offload(1)
    try:
        with pytest.raises(RuntimeError, match="ValueError: bad 3"):
            offload.submit(_fails, 3).result()
        assert offload.submit(_square, 4).result() == 16  # the worker goes on
    finally:
        offload.close()


def _report_spare_core(queue: object) -> None:
    from sim.engine.offload import default_workers, spare_core

    queue.put((spare_core(), default_workers(10**6)))  # type: ignore[attr-defined]


def test_no_worker_processes_from_a_daemonic_process() -> None:
    """A daemonic process (a Dask worker running a sweep point) may not start children: none asked."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_report_spare_core, args=(queue,), daemon=True)
    child.start()
    try:
        assert queue.get(timeout=30) == (False, 0)
    finally:
        child.join(timeout=30)
