"""Shamir secret sharing over GF(2^8), byte-wise.

A secret of ``L`` bytes is split into ``n`` shares of ``L`` bytes each; any
``t`` of them rebuild it and fewer reveal nothing. Each byte position has
its own polynomial of degree ``t - 1`` whose constant term is the secret
byte and whose other coefficients are uniformly random; share ``x`` (for
``x = 1..n``) holds the polynomials' values at ``x``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from sim.errors import InputError, PrivacyError
from sim.privacy import gf256
from sim.privacy.randomness import SYSTEM_RANDOM, RandomBytes, draw_exact

#: Largest number of shares: the non-zero elements of GF(2^8).
MAX_SHARES = 255


@dataclass(frozen=True)
class Share:
    """One Shamir share: the evaluation point ``x`` and the values ``y``."""

    x: int
    y: bytes = field(repr=False)


def check_threshold(t: int, n: int, *, what: str = "shares") -> None:
    """Raise :class:`InputError` unless ``1 <= t <= n <= 255``."""
    if isinstance(t, bool) or not isinstance(t, int):
        raise InputError(f"t must be an integer, got {t!r}")
    if isinstance(n, bool) or not isinstance(n, int):
        raise InputError(f"n must be an integer, got {n!r}")
    if t < 1:
        raise InputError(f"t must be at least 1, got {t}")
    if n > MAX_SHARES:
        raise InputError(f"n must be at most {MAX_SHARES} {what}, got {n}")
    if t > n:
        raise InputError(f"t must not exceed n, got t={t} > n={n}")


def split_secret(
    secret: bytes, t: int, n: int, *, random_bytes: RandomBytes = SYSTEM_RANDOM
) -> list[Share]:
    """Split ``secret`` into ``n`` shares (x = 1..n) of which any ``t`` rebuild it."""
    check_threshold(t, n)
    if len(secret) == 0:
        raise InputError("secret must not be empty")
    length = len(secret)
    coefficients = np.frombuffer(draw_exact(random_bytes, (t - 1) * length), dtype=np.uint8)
    # Row 0 is the secret; row k is the coefficient of x^k.
    poly = np.concatenate([np.frombuffer(secret, dtype=np.uint8), coefficients]).reshape(t, length)
    shares = []
    for x in range(1, n + 1):
        value = poly[t - 1].copy()
        row = gf256.MUL[x]
        for k in range(t - 2, -1, -1):  # Horner's rule
            value = row[value] ^ poly[k]
        shares.append(Share(x=x, y=value.tobytes()))
    return shares


def lagrange_at_zero(xs: list[int]) -> list[int]:
    """Coefficients ``c_i`` with ``f(0) = sum(c_i * f(x_i))`` for distinct non-zero ``xs``."""
    coefficients = []
    for i, xi in enumerate(xs):
        numerator, denominator = 1, 1
        for j, xj in enumerate(xs):
            if i != j:
                numerator = gf256.mul(numerator, xj)
                denominator = gf256.mul(denominator, xj ^ xi)
        coefficients.append(gf256.div(numerator, denominator))
    return coefficients


def combine_shares(shares: Iterable[Share], t: int) -> bytes:
    """Rebuild the secret from at least ``t`` shares (the first ``t`` distinct ones are used).

    Raises :class:`PrivacyError` when fewer than ``t`` distinct shares are given
    and :class:`InputError` when shares are malformed.
    """
    chosen: dict[int, Share] = {}
    for share in shares:
        if not 1 <= share.x <= MAX_SHARES:
            raise InputError(f"share x must be in 1..{MAX_SHARES}, got {share.x}")
        chosen.setdefault(share.x, share)
        if len(chosen) == t:
            break
    if len(chosen) < t:
        raise PrivacyError(f"need {t} distinct shares, got {len(chosen)}")
    picked = list(chosen.values())
    length = len(picked[0].y)
    if length == 0 or any(len(share.y) != length for share in picked):
        raise InputError("shares must be non-empty and of equal length")
    xs = [share.x for share in picked]
    secret = np.zeros(length, dtype=np.uint8)
    for coefficient, share in zip(lagrange_at_zero(xs), picked, strict=True):
        secret ^= gf256.MUL[coefficient][np.frombuffer(share.y, dtype=np.uint8)]
    return secret.tobytes()
