"""sim.hashing: keccak256 and EIP-55 addresses agree with eth_utils."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from sim.hashing import checksum_address, keccak256


@given(st.binary(max_size=300))
def test_keccak256_is_eth_utils(data: bytes) -> None:
    """Our keccak256 gives eth_utils' digest for any input."""
    assert keccak256(data) == keccak(data)


@given(st.binary(min_size=20, max_size=20))
def test_checksum_address_is_eth_utils(address: bytes) -> None:
    """The EIP-55 form is eth_utils' for every address."""
    assert checksum_address(address) == to_checksum_address(address)


def test_checksum_address_known_vector() -> None:
    """EIP-55's own example, and a refusal for a wrong length."""
    raw = bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    assert checksum_address(raw) == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    with pytest.raises(ValueError, match="20 bytes"):
        checksum_address(b"\x01" * 19)
