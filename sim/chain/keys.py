"""Deterministic accounts: private keys derived from the chain seed and a label.

A key is ``keccak256(seed_bytes || 0x00 || label_utf8)`` reduced into
``[1, n-1]`` (``n`` the secp256k1 group order), so the same seed and label
always give the same account on every backend, and different labels or seeds
give unrelated keys. Signing uses eth-keys, which picks the coincurve backend
when coincurve is installed (see :func:`signing_backend_name`).
"""

from __future__ import annotations

from functools import lru_cache

from coincurve import PublicKey
from eth_keys import KeyAPI
from eth_keys.datatypes import PrivateKey

from sim.chain.base import Account
from sim.errors import InputError
from sim.hashing import keccak256 as keccak

#: Order of the secp256k1 group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_KEYS = KeyAPI()


def seed_bytes(seed: int | bytes) -> bytes:
    """The canonical byte form of a chain seed (a non-negative int is 32 bytes big-endian)."""
    if isinstance(seed, bytes):
        return seed
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**256:
        return seed.to_bytes(32, "big")
    raise InputError(f"chain seed must be bytes or an int in [0, 2**256), got {seed!r}")


def derive_private_key(seed: int | bytes, label: str) -> bytes:
    """The 32-byte private key of ``label`` under ``seed``."""
    if not isinstance(label, str) or not label:
        raise InputError(f"account label must be a non-empty string, got {label!r}")
    digest = keccak(seed_bytes(seed) + b"\x00" + label.encode("utf-8"))
    secret = int.from_bytes(digest, "big") % (SECP256K1_N - 1) + 1
    return secret.to_bytes(32, "big")


@lru_cache(maxsize=4096)
def private_key_object(private_key: bytes) -> PrivateKey:
    """The eth-keys key object for ``private_key`` (cached: deriving the public key costs)."""
    return _KEYS.PrivateKey(private_key)


def address_of(private_key: bytes) -> bytes:
    """The 20-byte address of ``private_key``: the last 20 bytes of keccak(public key)."""
    return keccak(PublicKey.from_secret(private_key).format(compressed=False)[1:])[12:]


def derive_account(seed: int | bytes, label: str) -> Account:
    """The :class:`Account` for ``label`` under ``seed``."""
    key = derive_private_key(seed, label)
    return Account(label=label, address=address_of(key), private_key=key)


def signing_backend_name() -> str:
    """Name of the ECDSA backend eth-keys uses (``CoinCurveECCBackend`` when fast)."""
    return type(_KEYS.backend).__name__
