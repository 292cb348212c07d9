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
