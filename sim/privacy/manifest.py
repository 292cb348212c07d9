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
import re
from dataclasses import asdict, dataclass
from typing import Any

from sim.errors import InputError
from sim.privacy import erasure
from sim.privacy.material import KEY_SIZE, too_deep
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

# Ceilings checked before anything is allocated from a manifest's figures (a manifest is
# public input: ``pmrsim share combine`` reads one from a folder it was handed).
#: Bytes of a manifest file read at most (one of 255 custodians is ~35 KB).
MAX_MANIFEST_BYTES = 1 << 20
#: Largest record a manifest may describe: 1 TiB.
MAX_RECORD_SIZE = 1 << 40
#: Largest segment: 1 GiB (one segment and its pieces are held in memory while rebuilt).
MAX_SEGMENT_SIZE = 1 << 30
#: Most segments in one record (a 1 TiB record in 4 MiB segments has 262,144).
MAX_SEGMENTS = 1 << 24
#: Versions and key epochs are unsigned 32-bit numbers.
MAX_VERSION = 2**32 - 1
#: Characters of a record id.
MAX_RECORD_ID = 1_024
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


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
        """Bytes in every fragment (computed from the layout, not segment by segment)."""
        full, rest = divmod(self.record_size, self.segment_size)
        size = full * erasure.piece_size(self.segment_size + TAG_SIZE, self.t)
        if rest or not full:  # a last, shorter segment (an empty record is one empty segment)
            size += erasure.piece_size(rest + TAG_SIZE, self.t)
        return size

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
        """Parse and validate a manifest; raise :class:`InputError` naming ``what`` and the field.

        Every field is checked for its type and range (:meth:`validate`)
        before any figure of it is used, so a hostile manifest costs no more
        than reading it.
        """
        if len(text) > MAX_MANIFEST_BYTES:
            raise InputError(f"{what}: {len(text):,} bytes; a manifest has at most "
                             f"{MAX_MANIFEST_BYTES:,}")
        if too_deep(text):
            raise InputError(f"{what}: not a manifest (JSON nested too deep)")
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{what}: not valid JSON ({exc})") from None
        except RecursionError:
            raise InputError(f"{what}: not a manifest (JSON nested too deep)") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise InputError(f"{what}: expected schema {SCHEMA!r}")
        manifest = cls(
            record_id=_typed(data, "record_id", str, what),
            version=_typed(data, "version", int, what),
            key_epoch=_typed(data, "key_epoch", int, what),
            t=_typed(data, "t", int, what),
            n=_typed(data, "n", int, what),
            record_size=_typed(data, "record_size", int, what),
            segment_size=_typed(data, "segment_size", int, what),
            key_check=_typed(data, "key_check", str, what),
            fragment_digests=tuple(_typed(data, "fragment_digests", list, what)),
            share_digests=tuple(_typed(data, "share_digests", list, what)),
        )
        manifest.validate(what=what)
        return manifest

    def validate(self, *, what: str = "manifest") -> None:
        """Check each field's range and that they agree; raise :class:`InputError` naming the field."""
        try:
            check_threshold(self.t, self.n)
        except InputError as exc:
            raise InputError(f"{what}: t/n: {exc}") from None
        if not self.record_id or len(self.record_id) > MAX_RECORD_ID:
            raise InputError(f"{what}: record_id: expected 1 to {MAX_RECORD_ID} characters")
        for name in ("version", "key_epoch"):
            if not 0 <= getattr(self, name) <= MAX_VERSION:
                raise InputError(f"{what}: {name}: expected an integer from 0 to {MAX_VERSION}")
        if not 0 <= self.record_size <= MAX_RECORD_SIZE:
            raise InputError(f"{what}: record_size: expected 0 to {MAX_RECORD_SIZE:,} bytes, "
                             f"got {self.record_size:,}")
        if not 1 <= self.segment_size <= MAX_SEGMENT_SIZE:
            raise InputError(f"{what}: segment_size: expected 1 to {MAX_SEGMENT_SIZE:,} bytes, "
                             f"got {self.segment_size:,}")
        if self.segment_count > MAX_SEGMENTS:
            raise InputError(f"{what}: segment_size: record_size / segment_size is "
                             f"{self.segment_count:,} segments; at most {MAX_SEGMENTS:,}")
        if not isinstance(self.key_check, str) or not _HEX_DIGEST.fullmatch(self.key_check):
            raise InputError(f"{what}: key_check: expected 64 lower-case hex digits")
        for name in ("fragment_digests", "share_digests"):
            digests = getattr(self, name)
            if len(digests) != self.n:
                raise InputError(f"{what}: {name}: expected {self.n} digests (n), got {len(digests)}")
            for index, digest in enumerate(digests):
                if not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest):
                    raise InputError(f"{what}: {name}[{index}]: expected 64 lower-case hex digits")


def _typed(data: dict[str, Any], name: str, kind: type, what: str) -> Any:
    """``data[name]`` if it is a ``kind`` (an integer is never a boolean or a float); else InputError."""
    if name not in data:
        raise InputError(f"{what}: {name}: missing")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(f"{what}: {name}: expected {_KINDS[kind]}, got {type(value).__name__}")
    return value


_KINDS = {str: "a string", int: "an integer", list: "a list"}
