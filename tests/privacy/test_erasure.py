"""Systematic Reed-Solomon erasure coding over GF(2^8)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError, PrivacyError
from sim.privacy import erasure, gf256
from sim.privacy.randomness import seeded_random_bytes


def test_every_t_rows_of_the_generator_are_invertible() -> None:
    """The generator is MDS: each t-row sub-matrix is invertible (small t, n exhaustively)."""
    for t, n in [(1, 4), (2, 5), (3, 5), (4, 8), (5, 10)]:
        matrix = erasure.generator_matrix(t, n)
        for rows in itertools.combinations(range(n), t):
            gf256.invert_matrix(matrix[list(rows)])


def test_code_is_systematic_with_an_xor_parity() -> None:
    """Pieces 1..t are the data stripes and piece t+1 is their XOR."""
    block = seeded_random_bytes(5)(300)
    pieces = erasure.encode(block, 3, 5)
    assert b"".join(pieces[:3]) == block
    assert pieces[3] == bytes(a ^ b ^ c for a, b, c in zip(*pieces[:3], strict=True))


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 3000),
    n=st.integers(1, 40),
    data=st.data(),
)
def test_any_t_pieces_rebuild_the_block(size: int, n: int, data: st.DataObject) -> None:
    """Any t of n pieces rebuild the exact block, for any size including 0."""
    t = data.draw(st.integers(1, n))
    block = seeded_random_bytes(size)(size)
    pieces = erasure.encode(block, t, n)
    chosen = data.draw(st.permutations(range(1, n + 1)))[:t]
    assert erasure.decode({i: pieces[i - 1] for i in chosen}, t, n, size) == block


def test_large_threshold_near_the_field_limit() -> None:
    """t = 200 of n = 255 rebuilds from parity-heavy subsets."""
    block = seeded_random_bytes(6)(4000)
    pieces = erasure.encode(block, 200, 255)
    chosen = list(range(56, 256))
    assert erasure.decode({i: pieces[i - 1] for i in chosen}, 200, 255, 4000) == block


def test_storage_is_n_over_t() -> None:
    """All n pieces together are n/t of the block (plus padding below t bytes)."""
    pieces = erasure.encode(bytes(3000), 3, 5)
    assert sum(len(p) for p in pieces) == 5000


def test_too_few_or_malformed_pieces_are_refused() -> None:
    """t-1 pieces raise PrivacyError; a short piece or bad index raises InputError."""
    pieces = erasure.encode(b"abcdef", 3, 5)
    with pytest.raises(PrivacyError):
        erasure.decode({1: pieces[0], 2: pieces[1]}, 3, 5, 6)
    with pytest.raises(InputError, match="piece 2"):
        erasure.decode({1: pieces[0], 2: b"x", 3: pieces[2]}, 3, 5, 6)
    with pytest.raises(InputError, match="index"):
        erasure.decode({1: pieces[0], 2: pieces[1], 9: pieces[2]}, 3, 5, 6)
