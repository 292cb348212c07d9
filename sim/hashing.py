"""keccak-256 for pmrsim's hot paths (signing, state roots, Merkle trees).

safe-pysha3's C implementation is about 7x faster than pycryptodome's
through cffi (which ``eth_hash`` picks by default); both give the same
digests, so the fallback only costs time.
"""

from __future__ import annotations

try:
    from sha3 import keccak_256 as _fast_keccak
except ImportError:  # pragma: no cover - depends on the environment
    _fast_keccak = None


def keccak256(data: bytes) -> bytes:
    """keccak-256 of ``data``."""
    if _fast_keccak is not None:
        return bytes(_fast_keccak(data).digest())
    from Crypto.Hash import keccak

    return bytes(keccak.new(digest_bits=256, data=data).digest())


def checksum_address(address: bytes) -> str:
    """The EIP-55 mixed-case ``0x`` form of a 20-byte address (as eth_utils gives it).

    A hex digit is upper case where the matching nibble of keccak256 of the
    lower-case hex is 8 or more.
    """
    if len(address) != 20:
        raise ValueError(f"an address is 20 bytes, got {len(address)}")
    low = address.hex()
    mask = keccak256(low.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if m >= "8" else c for c, m in zip(low, mask, strict=False))
