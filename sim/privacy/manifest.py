"""The manifest of a shared record: everything needed to rebuild it except secrets.

A manifest is public: it names the record, the parameters, the segment
layout, the algorithms, and the SHA-256 digest of every fragment and key
share, so custodians' material can be checked before it is used. Its JSON
form is canonical (sorted keys, compact, UTF-8) so its own digest can be
recorded elsewhere (e.g. on chain).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from sim.errors import InputError
from sim.privacy import erasure
from sim.privacy.material import KEY_SIZE
from sim.privacy.shamir import check_threshold

SCHEMA = "pmrsim.sharing.manifest/1"
#: Bytes of the GCM tag appended to every encrypted segment.
TAG_SIZE = 16
ALGORITHMS = {
    "cipher": "AES-256-GCM",
    "nonce": "segment index, 96-bit big-endian",
    "aad": "pmrsim/sharing/v1|canonical JSON {n, record_id, segment, segments, t, version}",
    "erasure": erasure.ALGORITHM,
    "key_split": "K = K_e XOR K_s; K_s Shamir (t, n) over GF(2^8) byte-wise, x = 1..n",
    "digest": "SHA-256",
    "key_check": "HMAC-SHA256(K, 'pmrsim/sharing/key-check/v1')",
}


@dataclass(frozen=True)
class Manifest:
    """Public description of one shared record at one key epoch."""

    record_id: str
    version: int
    key_epoch: int
    t: int
    n: int
    record_size: int
    segment_size: int
    key_check: str
    fragment_digests: tuple[str, ...]
    share_digests: tuple[str, ...]
    schema: str = SCHEMA

    @property
    def segment_count(self) -> int:
        """Number of segments (at least 1: an empty record is one empty segment)."""
        return max(1, -(-self.record_size // self.segment_size))

    def segment_plain_size(self, index: int) -> int:
        """Plaintext bytes in segment ``index`` (0-based)."""
        return min(self.segment_size, self.record_size - index * self.segment_size)

    def segment_piece_size(self, index: int) -> int:
        """Bytes that segment ``index`` contributes to every fragment."""
        return erasure.piece_size(self.segment_plain_size(index) + TAG_SIZE, self.t)

    @property
    def fragment_size(self) -> int:
        """Bytes in every fragment."""
        return sum(self.segment_piece_size(i) for i in range(self.segment_count))

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON data, with the layout and algorithm names spelt out."""
        data = asdict(self)
        data["fragment_digests"] = list(self.fragment_digests)
        data["share_digests"] = list(self.share_digests)
        data["segment_count"] = self.segment_count
        data["fragment_size"] = self.fragment_size
        data["key_size"] = KEY_SIZE
        data["algorithms"] = dict(ALGORITHMS)
        return data

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, compact separators."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def digest(self) -> bytes:
        """SHA-256 of :meth:`to_json` (UTF-8), e.g. to anchor the manifest on chain."""
        return hashlib.sha256(self.to_json().encode()).digest()

    @classmethod
    def from_json(cls, text: str | bytes, *, what: str = "manifest") -> Manifest:
        """Parse and validate a manifest; raise :class:`InputError` naming ``what``."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{what}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise InputError(f"{what}: expected schema {SCHEMA!r}")
        try:
            manifest = cls(
                record_id=str(data["record_id"]),
                version=int(data["version"]),
                key_epoch=int(data["key_epoch"]),
                t=int(data["t"]),
                n=int(data["n"]),
                record_size=int(data["record_size"]),
                segment_size=int(data["segment_size"]),
                key_check=str(data["key_check"]),
                fragment_digests=tuple(str(d) for d in data["fragment_digests"]),
                share_digests=tuple(str(d) for d in data["share_digests"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{what}: missing or malformed field {exc}") from None
        manifest.validate(what=what)
        return manifest

    def validate(self, *, what: str = "manifest") -> None:
        """Check the fields agree with each other; raise :class:`InputError` if not."""
        try:
            check_threshold(self.t, self.n)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
        if self.record_size < 0 or self.segment_size < 1:
            raise InputError(f"{what}: record_size must be >= 0 and segment_size >= 1")
        if len(self.fragment_digests) != self.n or len(self.share_digests) != self.n:
            raise InputError(f"{what}: expected {self.n} fragment and share digests")
