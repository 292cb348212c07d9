"""Off-chain objects: encrypted records stored by content address.

The private layout keeps every record off chain, encrypted with its own
AES-256-GCM key, and puts the sha2-256 digest of the ciphertext on chain:
the digest of a CIDv1 with raw leaves, which for an object under 256 KiB
is exactly what ``ipfs add --cid-version 1`` prints. The store interface
is what the engine later backs with the simulated IPFS swarm.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sim.errors import IntegrityError
from storage_sim.pack import PackFile

CODEC_RAW = 0x55
CODEC_DAG_PB = 0x70
#: Largest object a single raw block holds (Kubo's default chunk).
MAX_RAW_OBJECT = 262_144


def cid_v1(digest: bytes, codec: int = CODEC_RAW) -> str:
    """CIDv1 string (base32, ``b`` prefix) of a sha2-256 digest."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


class ObjectStore(Protocol):
    """Where encrypted objects go: ``put`` returns the sha2-256 digest, ``get`` returns bytes."""

    def put(self, data: bytes) -> bytes:
        """Store ``data``; return its sha2-256 digest."""
        ...

    def get(self, digest: bytes) -> bytes:
        """The object with this digest; :class:`IntegrityError` if missing or altered."""
        ...


class PackStore:
    """An :class:`ObjectStore` on disk: objects appended to one pack file, indexed by digest.

    What big runs use instead of :class:`MemoryStore` (same behaviour; only
    offsets stay in memory).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """A new, empty store in the pack file ``path``."""
        self._pack = PackFile(path)
        self._index: dict[bytes, int] = {}  # PackFile handles

    def put(self, data: bytes) -> bytes:
        """Store ``data``; return its sha2-256 digest."""
        if len(data) > MAX_RAW_OBJECT:
            raise ValueError(f"object of {len(data)} bytes exceeds one raw block")
        digest = hashlib.sha256(data).digest()
        if digest not in self._index:
            self._index[digest] = self._pack.put(data)
        return digest

    def get(self, digest: bytes) -> bytes:
        """The object with this digest, verified against it."""
        handle = self._index.get(digest)
        data = None if handle is None else self._pack.get(handle)
        if data is None or hashlib.sha256(data).digest() != digest:
            raise IntegrityError(f"object {cid_v1(digest)} missing or altered")
        return data

    def __len__(self) -> int:
        return len(self._index)

    def flush(self) -> None:
        """Write the objects still held in memory (the pack file writes behind) to disk."""
        self._pack.flush()

    def close(self) -> None:
        """Close the pack file."""
        self._pack.close()


class MemoryStore:
    """An in-memory :class:`ObjectStore` (the default until the swarm is plugged in)."""

    def __init__(self) -> None:
        self._objects: dict[bytes, bytes] = {}

    def put(self, data: bytes) -> bytes:
        """Store ``data``; return its sha2-256 digest."""
        if len(data) > MAX_RAW_OBJECT:
            raise ValueError(f"object of {len(data)} bytes exceeds one raw block")
        digest = hashlib.sha256(data).digest()
        self._objects[digest] = data
        return digest

    def get(self, digest: bytes) -> bytes:
        """The object with this digest, verified against it."""
        data = self._objects.get(digest)
        if data is None or hashlib.sha256(data).digest() != digest:
            raise IntegrityError(f"object {cid_v1(digest)} missing or altered")
        return data

    def __len__(self) -> int:
        return len(self._objects)


@dataclass(frozen=True)
class Sealed:
    """An encrypted object: where it is and the key that opens it (keys stay in memory)."""

    digest: bytes
    key: bytes

    @property
    def cid(self) -> str:
        """The object's CIDv1."""
        return cid_v1(self.digest)


class Sealer:
    """Encrypts records with fresh keys drawn from the run's seeded generator."""

    def __init__(self, store: ObjectStore, rng: random.Random) -> None:
        self.store = store
        self._rng = rng

    def random_bytes(self, n: int) -> bytes:
        """``n`` bytes from the run's generator (deterministic per seed)."""
        return self._rng.randbytes(n)

    def seal(self, plaintext: bytes, aad: bytes) -> Sealed:
        """Encrypt ``plaintext`` (AES-256-GCM, ``aad`` bound), store it, return its digest + key."""
        key = self.random_bytes(32)
        nonce = self.random_bytes(12)
        blob = nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
        return Sealed(self.store.put(blob), key)

    def open(self, sealed: Sealed, aad: bytes) -> bytes:
        """Fetch and decrypt a sealed object."""
        blob = self.store.get(sealed.digest)
        return AESGCM(sealed.key).decrypt(blob[:12], blob[12:], aad)
