"""Sources of random bytes for the privacy module.

Every function here that needs randomness takes a ``random_bytes`` callable
(``n -> n bytes``) defaulting to :func:`os.urandom`, so the engine can make a
whole run reproducible from its seed with :func:`seeded_random_bytes`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

#: A source of random bytes: called with a length, returns that many bytes.
RandomBytes = Callable[[int], bytes]

#: The default source: the operating system's CSPRNG.
SYSTEM_RANDOM: RandomBytes = os.urandom


def seeded_random_bytes(seed: int | str | bytes) -> RandomBytes:
    """Return a deterministic source of bytes for ``seed``.

    For reproducible simulations only: a seeded Mersenne Twister is not a
    cryptographic generator, so keys drawn from it protect nothing real.
    """
    generator = random.Random(seed)

    def draw(length: int) -> bytes:
        return generator.randbytes(length)

    return draw


def draw_exact(random_bytes: RandomBytes, length: int) -> bytes:
    """Draw ``length`` bytes and check the source returned exactly that many."""
    data = random_bytes(length)
    if len(data) != length:
        raise ValueError(f"random source returned {len(data)} bytes, expected {length}")
    return bytes(data)
