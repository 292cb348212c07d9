"""Taking turns: how every benchmark here times two or more sides of a ratio.

A shared host's speed drifts by tens of percent within minutes, and the
first run in a process pays for imports, compilation and cold caches. So
each side first runs once untimed (the warm-up), then the sides take
``repeat`` turns, the first side rotating each turn (A B, B A, A B, ...)
so that drift falls on every side alike, and each figure is the median of
its turns with the fastest and slowest beside it.

Each turn times its measured region (a :class:`Stopwatch`) twice: wall
seconds (``time.perf_counter``) and CPU-seconds (this process's user +
system time plus that of the child processes that ended meanwhile: a side
that uses worker processes pays for them here, once they are joined). The
CPU-seconds say what a wall-clock ratio hides when one side uses more
cores than the other.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def positive(text: str) -> int:
    """An argparse type: an integer of 1 or more (a count of turns, transactions, cycles)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _cpu() -> float:
    """CPU-seconds of this process and of its children that have ended."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Timed:
    """The turns of one side: wall and CPU seconds of each, and what the last turn returned."""

    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    result: Any = None

    @property
    def wall(self) -> float:
        """Median wall seconds."""
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        """Median CPU-seconds."""
        return statistics.median(self.cpus)

    def row(self, work: int | None = None) -> dict[str, Any]:
        """The side's figures for a report (``work``: transactions, for a per-second rate)."""
        out: dict[str, Any] = {"seconds": round(self.wall, 3), "cpu_s": round(self.cpu, 3),
                               "fastest_s": round(min(self.walls), 3),
                               "slowest_s": round(max(self.walls), 3), "turns": len(self.walls)}
        if work is not None:
            out["txs_per_s"] = round(work / self.wall, 1)
        return out


class Stopwatch:
    """Times the region of a side inside ``with stopwatch:`` (wall and CPU seconds); a side's
    setup outside it is not counted. Several regions add up."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self._start = (0.0, 0.0)

    def __enter__(self) -> Stopwatch:
        self._start = (time.perf_counter(), _cpu())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._start[0]
        self.cpu += _cpu() - self._start[1]


Side = Callable[[Stopwatch], Any]


def take_turns(sides: Mapping[str, Side], repeat: int, *, warmup: bool = True,
               echo: Callable[[str], None] | None = None) -> dict[str, Timed]:
    """Warm each side up (unless not ``warmup``), then ``repeat`` rotating turns; see above.

    A side is called with a :class:`Stopwatch` and times its measured region
    with it; what it returns is kept (the last turn's) as ``Timed.result``.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be 1 or more, got {repeat}")
    names = list(sides)
    if warmup:
        for name in names:
            sides[name](Stopwatch())
    out = {name: Timed() for name in names}
    for turn in range(repeat):
        start = turn % len(names)
        for name in names[start:] + names[:start]:
            watch = Stopwatch()
            out[name].result = sides[name](watch)
            out[name].walls.append(watch.wall)
            out[name].cpus.append(watch.cpu)
            if echo is not None:
                echo(f"  turn {turn + 1}/{repeat} {name}: {watch.wall:.2f} s wall, "
                     f"{watch.cpu:.2f} CPU-s")
    return out
