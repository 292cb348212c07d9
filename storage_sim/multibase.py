"""The two multibase encodings Kubo prints: base58btc (CIDv0) and base32 lower (CIDv1).

Hand-rolled because they are a few lines each and run on every CID the
swarm prints; ``tests/storage_sim/test_cid.py`` cross-checks them against
the ``multiformats`` library.
"""

from __future__ import annotations

import base64

from storage_sim.errors import InvalidCidError

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: i for i, char in enumerate(_B58_ALPHABET)}


def b58encode(data: bytes) -> str:
    """Encode bytes as base58btc (Bitcoin alphabet, leading zero bytes as ``1``)."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    """Decode base58btc text; raise :class:`InvalidCidError` on a foreign character."""
    number = 0
    for char in text:
        try:
            number = number * 58 + _B58_INDEX[char]
        except KeyError:
            raise InvalidCidError(f"invalid base58btc character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def b32encode_lower(data: bytes) -> str:
    """Encode bytes as RFC 4648 base32, lower case, without padding."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode_lower(text: str) -> bytes:
    """Decode unpadded base32 (either case); raise :class:`InvalidCidError` if invalid."""
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except ValueError as exc:
        raise InvalidCidError(f"invalid base32 text: {exc}") from None
