"""The trace writer: records in order, held records keeping their place until released."""

from __future__ import annotations

import json
from pathlib import Path

from sim.engine.trace import TraceWriter


def _kinds(path: Path) -> list[tuple[str, object]]:
    return [(r["kind"], r.get("n")) for r in map(json.loads, path.read_text().splitlines())]


def test_held_records_keep_their_place(tmp_path: Path) -> None:
    """What is written after a held record waits for it; release(keep) leaves the newest held."""
    path = tmp_path / "trace.jsonl"
    trace = TraceWriter(path)
    late = {"block": 0}
    trace.write("a", 0.0, n=1)
    trace.hold("block", 1.0, lambda: {"n": late["block"]})
    trace.write("b", 1.5, n=2)
    trace.hold("block", 2.0, lambda: {"n": late["block"] + 1})
    trace.write("c", 2.5, n=3)
    assert trace.held == 2 and trace.lines == 5 and trace.waiting == 2
    trace._fh.flush()
    assert _kinds(path) == [("a", 1)]
    late["block"] = 10  # the fields are asked for only when released
    trace.release(keep=1)
    trace._fh.flush()
    assert _kinds(path) == [("a", 1), ("block", 10), ("b", 2)]
    assert trace.held == 1 and trace.waiting == 1
    trace.close()  # releases the rest
    assert _kinds(path) == [("a", 1), ("block", 10), ("b", 2), ("block", 11), ("c", 3)]


def test_written_records_are_compact_sorted_json(tmp_path: Path) -> None:
    """One key-sorted compact JSON object per line, time rounded to milliseconds."""
    path = tmp_path / "trace.jsonl"
    trace = TraceWriter(path)
    trace.write("tx", 1.23456, z=1, a="é")
    trace.close()
    assert path.read_text(encoding="utf-8") == '{"a":"é","kind":"tx","t":1.235,"z":1}\n'
