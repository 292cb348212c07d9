"""The trace writer: records in order, held records keeping their place until released."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.trace import TraceWriter, _line, tx_line


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


_numbers = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                     st.booleans())


@settings(max_examples=300, deadline=None)
@given(t=_numbers, block=st.one_of(st.integers(0, 2**64), st.booleans()), op=st.text(),
       sender=st.text(), status=st.sampled_from([0, 1, True]), gas=st.integers(0, 2**63),
       reason=st.one_of(st.none(), st.text()), tx_hash=st.binary(max_size=32),
       submitted=_numbers, latency=_numbers, logs=st.binary(max_size=32),
       raw=st.binary(max_size=300))
def test_tx_line_is_the_general_encoders_line(t: Any, block: Any, op: str, sender: str,
                                              status: Any, gas: int, reason: str | None,
                                              tx_hash: bytes, submitted: Any, latency: Any,
                                              logs: bytes, raw: bytes) -> None:
    """The tx fast path writes exactly the bytes the general encoder writes, for any values."""
    fields = {"block": block, "op": op, "sender": sender, "status": status, "gas": gas,
              "reason": reason, "hash": "0x" + tx_hash.hex(), "submitted": submitted,
              "latency": latency, "logs": "0x" + logs.hex(), "raw": "0x" + raw.hex()}
    fast = tx_line(t, block=block, op=op, sender=sender, status=status, gas=gas, reason=reason,
                   tx_hash=tx_hash, submitted=submitted, latency=latency, logs=logs, raw=raw)
    assert fast == _line("tx", t, fields)
    if not isinstance(t, bool) and t == t and abs(t) != float("inf"):
        assert json.loads(fast)["raw"] == "0x" + raw.hex()
