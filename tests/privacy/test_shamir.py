"""Shamir secret sharing and GF(2^8) arithmetic."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError, PrivacyError
from sim.privacy import gf256, shamir
from sim.privacy.randomness import seeded_random_bytes


def test_field_inverse_and_table_agree() -> None:
    """Every non-zero element times its inverse is 1, and the table matches scalar mul."""
    for a in range(1, 256):
        assert gf256.mul(a, gf256.inv(a)) == 1
        assert all(int(gf256.MUL[a, b]) == gf256.mul(a, b) for b in range(0, 256, 17))


def test_bulk_multiply_matches_table_on_odd_and_misaligned_arrays() -> None:
    """The paired uint16 bulk product equals the byte table, whatever length or alignment."""
    import numpy as np

    data = np.frombuffer(seeded_random_bytes(1)(50_001), dtype=np.uint8)
    for view in (data, data[1:], data[: 1 << 10]):
        assert np.array_equal(gf256.mul_bulk(29, view), gf256.MUL[29][view])


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=40),
    n=st.integers(1, 255),
    data=st.data(),
)
def test_any_t_shares_rebuild_the_secret(secret: bytes, n: int, data: st.DataObject) -> None:
    """Any t of the n shares rebuild the secret exactly."""
    t = data.draw(st.integers(1, n))
    shares = shamir.split_secret(secret, t, n, random_bytes=seeded_random_bytes(n))
    chosen = data.draw(st.permutations(shares))[:t]
    assert shamir.combine_shares(chosen, t) == secret


def test_fewer_than_t_shares_are_refused() -> None:
    """Combining t-1 distinct shares raises PrivacyError rather than guessing."""
    shares = shamir.split_secret(b"k" * 32, 3, 5, random_bytes=seeded_random_bytes(2))
    with pytest.raises(PrivacyError, match="need 3"):
        shamir.combine_shares(shares[:2], 3)
    with pytest.raises(PrivacyError):
        shamir.combine_shares([shares[0], shares[0], shares[1]], 3)


def test_t_minus_one_shares_fit_every_secret() -> None:
    """With t-1 shares every candidate secret byte stays possible (perfect secrecy, t=2)."""
    shares = shamir.split_secret(b"\x42", 2, 3, random_bytes=seeded_random_bytes(3))
    one = shares[0]
    # For each candidate s the line through (0, s) and (x1, y1) is a valid polynomial.
    candidates = {
        shamir.combine_shares([one, shamir.Share(2, bytes([y]))], 2)[0] for y in range(256)
    }
    assert candidates == set(range(256))


def test_all_pairs_of_five_rebuild() -> None:
    """Every 2-subset of a (2, 5) split rebuilds the secret."""
    secret = bytes(range(32))
    shares = shamir.split_secret(secret, 2, 5, random_bytes=seeded_random_bytes(4))
    for pair in itertools.combinations(shares, 2):
        assert shamir.combine_shares(pair, 2) == secret


@pytest.mark.parametrize(
    ("t", "n", "secret", "message"),
    [
        (0, 3, b"s", "at least 1"),
        (4, 3, b"s", "must not exceed"),
        (2, 256, b"s", "at most 255"),
        (1, 1, b"", "empty"),
    ],
)
def test_out_of_range_parameters_are_rejected(t: int, n: int, secret: bytes, message: str) -> None:
    """t < 1, t > n, n > 255 and an empty secret raise InputError with a clear message."""
    with pytest.raises(InputError, match=message):
        shamir.split_secret(secret, t, n)
