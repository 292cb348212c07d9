"""Deterministic accounts: the fast address derivation agrees with eth-keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sim.chain.keys import SECP256K1_N, address_of, derive_account, private_key_object


@given(st.integers(1, SECP256K1_N - 1))
def test_address_of_is_eth_keys_address(secret: int) -> None:
    """address_of (coincurve + C keccak) gives eth-keys' canonical address for any key."""
    key = secret.to_bytes(32, "big")
    assert address_of(key) == private_key_object(key).public_key.to_canonical_address()


def test_same_seed_and_label_give_the_same_account() -> None:
    """An account is a pure function of (seed, label); another label gives another key."""
    assert derive_account(7, "alice") == derive_account(7, "alice")
    assert derive_account(7, "alice").address != derive_account(7, "bob").address
