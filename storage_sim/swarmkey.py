"""Private-swarm pre-shared keys (PSK), in Kubo's ``swarm.key`` file format.

A Kubo private network admits only peers holding the same 32-byte key,
stored as three lines: ``/key/swarm/psk/1.0.0/``, ``/base16/`` and the hex key.
"""

from __future__ import annotations

import random

from storage_sim.errors import SwarmKeyError

#: Length of a swarm key in bytes.
SWARM_KEY_LEN = 32
_HEADER = "/key/swarm/psk/1.0.0/"


def new_swarm_key(rng: random.Random) -> bytes:
    """Draw a fresh 32-byte swarm key from ``rng`` (deterministic for a seed)."""
    return rng.randbytes(SWARM_KEY_LEN)


def check_swarm_key(key: bytes) -> bytes:
    """Return ``key`` if it is 32 bytes; raise :class:`SwarmKeyError` otherwise."""
    if not isinstance(key, bytes | bytearray) or len(key) != SWARM_KEY_LEN:
        size = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise SwarmKeyError(f"a swarm key must be {SWARM_KEY_LEN} bytes, got {size}")
    return bytes(key)


def format_swarm_key(key: bytes) -> str:
    """The ``swarm.key`` file text for ``key``."""
    return f"{_HEADER}\n/base16/\n{check_swarm_key(key).hex()}\n"


def parse_swarm_key(text: str) -> bytes:
    """Parse ``swarm.key`` file text; raise :class:`SwarmKeyError` if malformed."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) != 3 or lines[0] != _HEADER or lines[1] != "/base16/":
        raise SwarmKeyError("swarm.key must be '/key/swarm/psk/1.0.0/', '/base16/', hex key")
    try:
        return check_swarm_key(bytes.fromhex(lines[2]))
    except ValueError:
        raise SwarmKeyError("swarm.key: the key line is not hex") from None
