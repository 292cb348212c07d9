"""Content identifiers (CIDs) for sha2-256 blocks, as Kubo makes them.

A :class:`Cid` is a small immutable value: version (0 or 1), codec
(:data:`DAG_PB` or :data:`RAW`) and the 32-byte sha2-256 digest. Equality
and hashing use the binary form, so CIDs are cheap dictionary keys.
Strings are base58btc for CIDv0 (``Qm...``) and base32 lower for CIDv1
(``bafy...`` for dag-pb, ``bafk...`` for raw).
"""

from __future__ import annotations

import hashlib

from storage_sim.errors import IntegrityError, InvalidCidError
from storage_sim.multibase import b32decode_lower, b32encode_lower, b58decode, b58encode
from storage_sim.varint import decode_uvarint, encode_uvarint

#: Multicodec of dag-pb (protobuf Merkle DAG) blocks.
DAG_PB = 0x70
#: Multicodec of raw blocks (leaves under ``--cid-version 1``).
RAW = 0x55
#: Multihash code of sha2-256, the only hash Kubo uses by default.
SHA2_256 = 0x12
_DIGEST_LEN = 32
_V0_PREFIX = bytes((SHA2_256, _DIGEST_LEN))
_CODEC_NAMES = {DAG_PB: "dag-pb", RAW: "raw"}


class Cid:
    """An immutable sha2-256 CID (version 0 or 1, codec dag-pb or raw)."""

    __slots__ = ("_bytes", "_hash", "codec", "version")

    version: int
    codec: int
    _bytes: bytes
    _hash: int

    def __init__(self, version: int, codec: int, digest: bytes) -> None:
        if version not in (0, 1):
            raise InvalidCidError(f"unsupported CID version {version}")
        if codec not in _CODEC_NAMES:
            raise InvalidCidError(f"unsupported codec 0x{codec:x}")
        if version == 0 and codec != DAG_PB:
            raise InvalidCidError("CIDv0 can only name dag-pb blocks")
        if len(digest) != _DIGEST_LEN:
            raise InvalidCidError(f"sha2-256 digest must be 32 bytes, got {len(digest)}")
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "codec", codec)
        digest = bytes(digest)
        if version == 0:
            raw = _V0_PREFIX + digest
        else:
            raw = b"\x01" + encode_uvarint(codec) + _V0_PREFIX + digest
        object.__setattr__(self, "_bytes", raw)
        object.__setattr__(self, "_hash", hash(raw))  # CIDs key every index of the swarm

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Cid is immutable")

    def __reduce__(self) -> tuple[type[Cid], tuple[int, int, bytes]]:
        # pickle and copy rebuild it from its parts (the default would set its slots)
        return (Cid, (self.version, self.codec, self.digest))

    @classmethod
    def of_block(cls, data: bytes | memoryview, *, version: int = 0, codec: int = DAG_PB) -> Cid:
        """Return the CID of ``data`` hashed with sha2-256."""
        return cls(version, codec, hashlib.sha256(data).digest())

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> Cid:
        """Parse a binary CID (the form stored in dag-pb links and CAR files)."""
        raw = bytes(raw)
        if len(raw) == 34 and raw[:2] == _V0_PREFIX:
            return cls(0, DAG_PB, raw[2:])
        try:
            version, pos = decode_uvarint(raw)
            codec, pos = decode_uvarint(raw, pos)
            hash_code, pos = decode_uvarint(raw, pos)
            length, pos = decode_uvarint(raw, pos)
        except Exception as exc:
            raise InvalidCidError(f"malformed binary CID {raw.hex()}") from exc
        if version != 1:
            raise InvalidCidError(f"unsupported CID version {version}")
        if hash_code != SHA2_256 or length != _DIGEST_LEN or len(raw) != pos + length:
            raise InvalidCidError(f"unsupported multihash in CID {raw.hex()}")
        return cls(1, codec, raw[pos:])

    @classmethod
    def parse(cls, text: str) -> Cid:
        """Parse a CID string: ``Qm...`` (v0), ``b...`` (base32) or ``z...`` (base58btc) v1."""
        text = text.strip()
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(b58decode(text))
        if text[:1] in ("b", "B"):
            return cls.from_bytes(b32decode_lower(text[1:]))
        if text[:1] == "z":
            return cls.from_bytes(b58decode(text[1:]))
        raise InvalidCidError(f"not a CID: {text!r}")

    @property
    def digest(self) -> bytes:
        """The 32-byte sha2-256 digest (the binary form's tail: not kept twice)."""
        return self._bytes[-_DIGEST_LEN:]

    @property
    def binary(self) -> bytes:
        """The binary CID (the form stored in dag-pb links and CAR files)."""
        return self._bytes

    def __bytes__(self) -> bytes:
        return self._bytes

    @property
    def codec_name(self) -> str:
        """``"dag-pb"`` or ``"raw"``."""
        return _CODEC_NAMES[self.codec]

    def matches(self, data: bytes | memoryview) -> bool:
        """Return whether ``data`` hashes to this CID's digest."""
        return hashlib.sha256(data).digest() == self.digest

    def verify(self, data: bytes | memoryview) -> None:
        """Raise :class:`IntegrityError` naming this CID unless ``data`` hashes to it."""
        if not self.matches(data):
            raise IntegrityError(self, f"{len(data)} bytes do not hash to its sha2-256 digest")

    def to_v1(self) -> Cid:
        """The same block named by a CIDv1."""
        return Cid(1, self.codec, self.digest)

    def __str__(self) -> str:
        # not cached: a city keeps about a million CIDs, and their text would be 100 MB more
        if self.version == 0:
            return b58encode(self._bytes)
        return "b" + b32encode_lower(self._bytes)

    def __repr__(self) -> str:
        return f"Cid({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cid) and other._bytes == self._bytes

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: Cid) -> bool:
        return self._bytes < other._bytes
