"""IoMT readings: their encoding is the ABI's, their tree the one snekmate verifies."""

from __future__ import annotations

from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

from sim.protocol.merkle import Reading


@given(st.integers(0, 2**256 - 1), st.integers(-(2**255), 2**255 - 1), st.integers(0, 2**256 - 1))
def test_encoding_is_the_abi_encoding(kind: int, value: int, taken_at: int) -> None:
    """Reading.encode equals eth_abi's encoding of (uint256, int256, uint256)."""
    r = Reading(kind, value, taken_at)
    assert r.encode() == encode(["uint256", "int256", "uint256"], [kind, value, taken_at])


@given(st.integers(0, 2**63 - 1),
       st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**64 - 1)),
                min_size=1, max_size=40),
       st.data())
def test_reading_batch_is_the_list_of_readings(kind: int, rows: list[tuple[int, int]],
                                               data: st.DataObject) -> None:
    """A ReadingBatch encodes, roots and proves exactly like the list of Readings it stands for."""
    import numpy as np

    from sim.protocol.merkle import ReadingBatch, encode_readings, merkle_proof, merkle_root

    readings = [Reading(kind, v, t) for v, t in rows]
    batch = ReadingBatch(kind, np.array([v for v, _ in rows], dtype=np.int64),
                         np.array([t for _, t in rows], dtype=np.uint64))
    assert encode_readings(batch) == b"".join(r.encode() for r in readings)
    assert merkle_root(batch) == merkle_root(readings)
    index = data.draw(st.integers(0, len(rows) - 1))
    assert batch[index] == readings[index]
    assert merkle_proof(batch, index) == merkle_proof(readings, index)
