"""Systematic Reed-Solomon erasure coding over GF(2^8).

A block of bytes is cut into ``t`` equal stripes (zero-padded); pieces
``1..t`` are the stripes themselves and pieces ``t+1..n`` are parity stripes,
so storing all ``n`` pieces costs ``n / t`` times the block. Any ``t``
pieces rebuild the block.

The generator matrix is ``[I_t ; C]`` with ``C`` the ``(n - t) x t`` Cauchy
matrix ``C[r, j] = 1 / (x_r + y_j)`` for ``x_r = t + r`` and ``y_j = j``.
Every square sub-matrix of a Cauchy matrix is invertible, hence every
choice of ``t`` rows of the generator is too: that is the MDS property.
Scaling rows or columns of ``C`` by non-zero constants keeps it, so ``C``
is normalised to have ones in its first row and first column: the first
parity piece is a plain XOR and the others need ``t - 1`` multiplications.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from sim.errors import InputError, PrivacyError
from sim.privacy import gf256
from sim.privacy.gf256 import U8Array
from sim.privacy.shamir import check_threshold

#: Name of the code, recorded in manifests.
ALGORITHM = "reed-solomon/gf256-0x11d/systematic-cauchy"


def piece_size(block_size: int, t: int) -> int:
    """Size of every piece of a ``block_size``-byte block coded with threshold ``t``."""
    return -(-block_size // t)


@lru_cache(maxsize=32)
def generator_matrix(t: int, n: int) -> U8Array:
    """The ``n x t`` systematic generator matrix (identity on top of a Cauchy matrix)."""
    check_threshold(t, n, what="fragments")
    matrix = np.zeros((n, t), dtype=np.uint8)
    matrix[:t] = np.eye(t, dtype=np.uint8)
    cauchy = [[gf256.inv((t + r) ^ j) for j in range(t)] for r in range(n - t)]
    if cauchy:
        # Scale columns so parity row 1 is all ones (pure XOR), then rows so column 1 is.
        column_scale = [gf256.inv(c) for c in cauchy[0]]
        for r, row in enumerate(cauchy):
            scaled = [gf256.mul(c, s) for c, s in zip(row, column_scale, strict=True)]
            row_scale = gf256.inv(scaled[0])
            matrix[t + r] = [gf256.mul(c, row_scale) for c in scaled]
    matrix.setflags(write=False)
    return matrix


def encode_arrays(block: bytes | memoryview, t: int, n: int) -> list[U8Array]:
    """Like :func:`encode` but return ``uint8`` arrays; data pieces may be views of ``block``."""
    matrix = generator_matrix(t, n)
    size = piece_size(len(block), t)
    flat = np.frombuffer(block, dtype=np.uint8)
    rows: list[U8Array] = []
    for j in range(t):
        row = flat[j * size : (j + 1) * size]
        if row.shape[0] < size:  # only the tail stripe is zero-padded (a copy)
            padded = np.zeros(size, dtype=np.uint8)
            padded[: row.shape[0]] = row
            row = padded
        rows.append(row)
    for r in range(t, n):
        rows.append(_combine_rows([int(c) for c in matrix[r]], rows[:t], size))
    return rows


def _combine_rows(coefficients: list[int], rows: list[U8Array], size: int) -> U8Array:
    """``sum(c_j * rows[j])`` as a new array, starting from the first term (no zero fill)."""
    total: U8Array | None = None
    for coefficient, row in zip(coefficients, rows, strict=True):
        if coefficient == 0:
            continue
        if total is None:
            total = gf256.mul_bulk(coefficient, row)  # always a fresh array
        else:
            gf256.addmul(total, coefficient, row)
    return np.zeros(size, dtype=np.uint8) if total is None else total


def encode(block: bytes | memoryview, t: int, n: int) -> list[bytes]:
    """Code ``block`` into ``n`` pieces (index 0 is piece 1) of which any ``t`` rebuild it."""
    return [piece.tobytes() for piece in encode_arrays(block, t, n)]


def decode(pieces: Mapping[int, bytes], t: int, n: int, block_size: int) -> bytes:
    """Rebuild a ``block_size``-byte block from pieces keyed by their index ``1..n``.

    Uses the data pieces ``1..t`` when present and solves for the missing
    ones from parity pieces otherwise. Raises :class:`PrivacyError` when
    fewer than ``t`` pieces are given, :class:`InputError` when a piece has
    the wrong size or index.
    """
    matrix = generator_matrix(t, n)
    size = piece_size(block_size, t)
    for index, piece in pieces.items():
        if not 1 <= index <= n:
            raise InputError(f"piece index must be in 1..{n}, got {index}")
        if len(piece) != size:
            raise InputError(f"piece {index} has {len(piece)} bytes, expected {size}")
    if len(pieces) < t:
        raise PrivacyError(f"need {t} pieces to rebuild, got {len(pieces)}")
    missing = [j for j in range(1, t + 1) if j not in pieces]
    if not missing:
        return _join_trimmed([pieces[j] for j in range(1, t + 1)], block_size)
    # Prefer data pieces (identity rows) and fill up with parity pieces.
    chosen = [j for j in range(1, t + 1) if j in pieces]
    chosen += sorted(i for i in pieces if i > t)[: t - len(chosen)]
    inverse = gf256.invert_matrix(matrix[[i - 1 for i in chosen]])
    arrays = [np.frombuffer(pieces[i], dtype=np.uint8) for i in chosen]
    stripes: list[bytes] = []
    for j in range(1, t + 1):
        if j in pieces:
            stripes.append(pieces[j])
            continue
        stripe = _combine_rows([int(c) for c in inverse[j - 1]], arrays, size)
        stripes.append(stripe.tobytes())
    return _join_trimmed(stripes, block_size)


def _join_trimmed(stripes: list[bytes], block_size: int) -> bytes:
    """Concatenate stripes, dropping the zero padding, with a single copy."""
    size = len(stripes[0])
    keep = block_size - size * (len(stripes) - 1)
    if keep < 0:  # the block ends before the last stripe starts
        return b"".join(stripes)[:block_size]
    return b"".join([*stripes[:-1], memoryview(stripes[-1])[:keep]])
