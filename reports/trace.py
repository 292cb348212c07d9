"""Stream ``trace.jsonl`` once into a bounded digest for the report's plots.

The trace of a city-sized run has millions of lines, so nothing here keeps
one entry per line: latencies go into fixed-size reservoir samples (drawn
with a fixed seed, so the same trace always gives the same sample), block
fullness and cumulative accesses go into series that halve their resolution
whenever they outgrow :data:`MAX_POINTS`. Lines of unknown ``kind`` are
counted and otherwise ignored; a line that is not a JSON object with a
numeric ``t`` and a string ``kind``, or a known kind whose fields have the
wrong type, raises :class:`sim.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from sim.errors import InputError

from .load import describe, is_int, is_number

#: Most points a time series keeps (block fullness, cumulative accesses).
MAX_POINTS = 2_000
#: Most latencies sampled over all operations.
MAX_SAMPLE = 20_000
#: Most latencies sampled for one operation.
MAX_SAMPLE_PER_OP = 5_000
#: Most distinct revert or denial reasons kept; the rest are counted as "(other)".
MAX_REASONS = 200
#: Most (block fullness, latency) pairs sampled for the latency-against-load figure.
MAX_LOAD_SAMPLE = 2_000

T = TypeVar("T")


class Reservoir(Generic[T]):
    """A uniform sample of at most ``size`` values from a stream (Algorithm R, fixed seed)."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seen = 0
        self.values: list[T] = []
        self._rng = random.Random(seed)

    def add(self, value: T) -> None:
        """Offer one value to the sample."""
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = int(self._rng.random() * self.seen)
        if slot < self.size:
            self.values[slot] = value

    @property
    def sampled(self) -> bool:
        """True when the sample holds fewer values than were offered."""
        return self.seen > len(self.values)


@dataclass
class BinnedSeries:
    """Mean and max of ``y`` over consecutive groups of ``width`` points, at most ``limit`` groups.

    When the groups outgrow ``limit``, neighbours are merged and ``width``
    doubles, so memory stays bounded whatever the stream length.
    """

    limit: int = MAX_POINTS
    width: int = 1
    t: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    peak: list[float] = field(default_factory=list)
    _n: list[int] = field(default_factory=list)

    def add(self, t: float, y: float) -> None:
        """Add one point (``t`` non-decreasing)."""
        if self._n and self._n[-1] < self.width:
            n = self._n[-1]
            self.t[-1] = (self.t[-1] * n + t) / (n + 1)
            self.mean[-1] = (self.mean[-1] * n + y) / (n + 1)
            self.peak[-1] = max(self.peak[-1], y)
            self._n[-1] = n + 1
            return
        if len(self._n) == self.limit:
            self._halve()
            self.add(t, y)
            return
        self.t.append(t)
        self.mean.append(y)
        self.peak.append(y)
        self._n.append(1)

    def _halve(self) -> None:
        t: list[float] = []
        mean: list[float] = []
        peak: list[float] = []
        counts: list[int] = []
        for i in range(0, len(self._n), 2):
            j = slice(i, i + 2)
            n = sum(self._n[j])
            t.append(sum(a * b for a, b in zip(self.t[j], self._n[j], strict=True)) / n)
            mean.append(sum(a * b for a, b in zip(self.mean[j], self._n[j], strict=True)) / n)
            peak.append(max(self.peak[j]))
            counts.append(n)
        self.t, self.mean, self.peak, self._n = t, mean, peak, counts
        self.width *= 2


@dataclass
class StepSeries:
    """Every ``stride``-th point of a cumulative series, at most ``limit`` points plus the last."""

    limit: int = MAX_POINTS
    stride: int = 1
    points: list[tuple[float, ...]] = field(default_factory=list)
    last: tuple[float, ...] | None = None
    _seen: int = 0

    def add(self, point: tuple[float, ...]) -> None:
        """Add one point ``(t, a, b, ...)``."""
        if self._seen % self.stride == 0:
            if len(self.points) == self.limit:
                self.points = self.points[::2]
                self.stride *= 2
            if self._seen % self.stride == 0:
                self.points.append(point)
        self._seen += 1
        self.last = point

    def series(self) -> list[tuple[float, ...]]:
        """The kept points with the last point appended if it was skipped."""
        if self.last is not None and (not self.points or self.points[-1] is not self.last):
            return [*self.points, self.last]
        return list(self.points)


@dataclass
class StorageTimeline:
    """Storage events over time: nodes down, and running totals of repairs (and their bytes),
    corrupt blocks and failures (failed retrievals and failed storage steps)."""

    series: StepSeries = field(default_factory=StepSeries)
    down: set[str] = field(default_factory=set)
    repairs: int = 0
    bytes_repaired: int = 0
    corrupt: int = 0
    failures: int = 0
    most_down: int = 0

    def add(self, t: float, event: str, node: str, size: int) -> None:
        """Count one storage event at ``t``."""
        if event in ("node_down", "node_lost"):
            self.down.add(node)
            self.most_down = max(self.most_down, len(self.down))
        elif event == "node_up":
            self.down.discard(node)
        elif event == "repair":
            self.repairs += 1
            self.bytes_repaired += size
        elif event == "corrupt":
            self.corrupt += 1
        elif event in ("retrieve_failed", "failure"):
            self.failures += 1
        else:
            return
        self.series.add((t, len(self.down), self.repairs, self.bytes_repaired, self.corrupt,
                         self.failures))


@dataclass
class TraceDigest:
    """What the report needs from a trace, in memory bounded by the constants above."""

    lines: int = 0
    t_max: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    block_time: float | None = None
    #: Custodian nodes of the run's swarm (from the scenario in the ``run`` record).
    storage_nodes: int | None = None
    #: Of them, byzantine (serving tampered blocks), from the same record.
    byzantine_nodes: int | None = None
    latency_all: Reservoir[float] = field(default_factory=lambda: Reservoir(MAX_SAMPLE))
    latency_by_op: dict[str, Reservoir[float]] = field(default_factory=dict)
    #: (fullness of the block a transaction landed in, its latency), sampled.
    latency_load: Reservoir[tuple[float, float]] = field(
        default_factory=lambda: Reservoir(MAX_LOAD_SAMPLE, seed=99))
    #: Latencies of transactions whose block record has not been read yet.
    pending_latency: list[float] = field(default_factory=list)
    #: Transactions that waited longer than one block time.
    late: int = 0
    storage: StorageTimeline = field(default_factory=StorageTimeline)
    reverts: Counter[str] = field(default_factory=Counter)
    blocks: BinnedSeries = field(default_factory=BinnedSeries)
    block_count: int = 0
    fullness_sum: float = 0.0
    fullness_max: float = 0.0
    full_blocks: int = 0
    access: StepSeries = field(default_factory=StepSeries)
    released: int = 0
    denied: int = 0
    access_modes: Counter[str] = field(default_factory=Counter)
    denials: Counter[str] = field(default_factory=Counter)
    storage_events: Counter[str] = field(default_factory=Counter)


def _bump(counter: Counter[str], key: str) -> None:
    """Count ``key``, folding new keys into "(other)" once :data:`MAX_REASONS` are kept."""
    if key in counter or len(counter) < MAX_REASONS:
        counter[key] += 1
    else:
        counter["(other)"] += 1


class _Line:
    """Typed access to the fields of one trace record, naming file and line in errors."""

    __slots__ = ("lineno", "path", "record")

    def __init__(self, path: Path, number: int, record: dict[str, Any]) -> None:
        self.path = path
        self.lineno = number
        self.record = record

    def fail(self, key: str, expected: str) -> InputError:
        if key not in self.record:
            return InputError(f"{self.path}: line {self.lineno}: field {key!r} missing "
                              f"(expected {expected})")
        value = describe(self.record[key])
        return InputError(f"{self.path}: line {self.lineno}: field {key!r}: "
                          f"expected {expected}, got {value}")

    def number(self, key: str, default: float | None = None) -> float:
        value = self.record.get(key, default)
        if not is_number(value):
            raise self.fail(key, "a number")
        return float(value)  # type: ignore[arg-type]

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.record.get(key, default)
        if not is_int(value):
            raise self.fail(key, "an integer")
        return value  # type: ignore[return-value]

    def text(self, key: str, default: str | None = None) -> str:
        value = self.record.get(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value


def read_trace(path: Path) -> TraceDigest:
    """Stream ``trace.jsonl`` at ``path`` into a :class:`TraceDigest`.

    Blank lines are skipped. Raises :class:`InputError` naming the file and
    line for a line that is not valid JSON or has a field of the wrong type.
    """
    digest = TraceDigest()
    number = 0
    try:
        with path.open("r", encoding="utf-8") as stream:
            for number, raw in enumerate(stream, start=1):
                if raw.strip():
                    _digest_line(digest, path, number, raw)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a JSON-lines file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: line {number + 1}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return digest


_decode = json.JSONDecoder().decode


def _digest_line(digest: TraceDigest, path: Path, number: int, raw: str) -> None:
    try:
        record = _decode(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {number}: invalid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: line {number}: expected a JSON object")
    line = _Line(path, number, record)
    t = line.number("t")
    kind = line.text("kind")
    digest.lines += 1
    digest.t_max = max(digest.t_max, t)
    digest.kinds[kind] += 1
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(digest, line, t)


def _on_tx(digest: TraceDigest, line: _Line, t: float) -> None:
    op = line.text("op")
    status = line.integer("status")
    if status not in (0, 1):
        raise line.fail("status", "0 or 1")
    if status == 0:
        _bump(digest.reverts, line.text("reason", "") or "(no reason)")
        return
    if line.record.get("latency") is None:
        return
    latency = line.number("latency")
    digest.latency_all.add(latency)
    digest.pending_latency.append(latency)
    if digest.block_time is not None and latency > digest.block_time:
        digest.late += 1
    sample = digest.latency_by_op.get(op)
    if sample is None:
        sample = digest.latency_by_op[op] = Reservoir(MAX_SAMPLE_PER_OP, seed=len(digest.latency_by_op) + 1)
    sample.add(latency)


def _on_block(digest: TraceDigest, line: _Line, t: float) -> None:
    used = line.integer("gas_used")
    limit = line.integer("gas_limit")
    if limit <= 0:
        raise line.fail("gas_limit", "a positive integer")
    fullness = used / limit
    for latency in digest.pending_latency:
        digest.latency_load.add((fullness, latency))
    digest.pending_latency.clear()
    digest.block_count += 1
    digest.fullness_sum += fullness
    digest.fullness_max = max(digest.fullness_max, fullness)
    if fullness >= 0.95:
        digest.full_blocks += 1
    digest.blocks.add(t, fullness)


def _on_access(digest: TraceDigest, line: _Line, t: float) -> None:
    event = line.text("event")
    digest.access_modes[line.text("mode", "grant")] += 1
    if event == "released":
        digest.released += 1
    elif event == "denied":
        digest.denied += 1
        _bump(digest.denials, line.text("reason", "") or "(no reason)")
    else:
        return
    digest.access.add((t, digest.released, digest.denied))


def _on_storage(digest: TraceDigest, line: _Line, t: float) -> None:
    event = line.text("event")
    _bump(digest.storage_events, event)
    size = line.record.get("bytes", 0)
    digest.storage.add(t, event, line.text("node", ""), size if is_int(size) else 0)


def _on_chain(digest: TraceDigest, line: _Line, t: float) -> None:
    digest.block_time = line.number("block_time")


def _on_run(digest: TraceDigest, line: _Line, t: float) -> None:
    scenario = line.record.get("scenario")
    storage = scenario.get("storage") if isinstance(scenario, dict) else None
    nodes = storage.get("nodes") if isinstance(storage, dict) else None
    if is_int(nodes):
        digest.storage_nodes = nodes
    byzantine = storage.get("byzantine") if isinstance(storage, dict) else None
    if is_int(byzantine):
        digest.byzantine_nodes = byzantine


_HANDLERS = {
    "run": _on_run,
    "chain": _on_chain,
    "tx": _on_tx,
    "block": _on_block,
    "access": _on_access,
    "storage": _on_storage,
}
