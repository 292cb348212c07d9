"""Essential secret sharing: the paper's (1, t, n) scheme.

:func:`split` encrypts a record with a fresh 256-bit key K (AES-256-GCM,
segment by segment, the authenticated data binding record id, version, t,
n and segment index), erasure-codes the ciphertext into ``n`` fragments of
which any ``t`` rebuild it (storage ``n / t``), and splits the key as
``K = K_e XOR K_s``: the essential share K_e goes to the patient and K_s is
Shamir-split ``(t, n)`` among the custodians. Custodian ``i`` holds fragment
``i`` and key share ``i``.

:func:`combine` needs the essential share AND any ``t`` custodians whose
fragment and key share match the digests in the :class:`Manifest`;
tampered material is set aside and reported, and rebuilding goes on from
the good ones. Rotation, shredding and guardian backup live in
:mod:`sim.privacy.lifecycle` and :mod:`sim.privacy.guardians`.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sim.errors import InputError, IntegrityError, PrivacyError
from sim.privacy import erasure, shamir
from sim.privacy.manifest import TAG_SIZE, Manifest
from sim.privacy.material import KEY_SIZE, EssentialShare, KeyShare, SecretBytes, xor_bytes
from sim.privacy.randomness import SYSTEM_RANDOM, RandomBytes, draw_exact

#: Default plaintext bytes per segment: bounds memory, amortises numpy calls.
DEFAULT_SEGMENT_SIZE = 4 << 20
_KEY_CHECK_LABEL = b"pmrsim/sharing/key-check/v1"
_AAD_LABEL = b"pmrsim/sharing/v1|"
_HASH_CHUNK = 1 << 20


class WrongEssentialShare(PrivacyError):
    """Raised when the essential share is destroyed, for another record, or does not fit."""


@dataclass(eq=False)
class Custodian:
    """What custodian ``index`` holds: its fragment and its key share."""

    index: int
    fragment: bytes | None = field(repr=False)
    key_share: KeyShare | None


@dataclass(eq=False)
class SplitResult:
    """The outcome of :func:`split`: public manifest, patient's share, custodians' material."""

    manifest: Manifest
    essential: EssentialShare
    custodians: list[Custodian]


class _FragmentHasher:
    """SHA-256 of every fragment, updated in one worker thread.

    ``hashlib`` releases the GIL on large buffers, so hashing segment ``s``
    overlaps coding segment ``s + 1``. One worker and at most one pending
    update keep the order of updates and bound the memory held.
    """

    def __init__(self, n: int, *, threaded: bool = True) -> None:
        self._hashers = [hashlib.sha256() for _ in range(n)]
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="pmrsim-sha") if threaded else None
        )
        self._pending: Future[None] | None = None

    def _update(self, pieces: list[memoryview]) -> None:
        for hasher, piece in zip(self._hashers, pieces, strict=True):
            hasher.update(piece)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def update(self, pieces: list[memoryview]) -> None:
        """Queue one segment's pieces (one per fragment, in fragment order)."""
        self._wait()
        if self._pool is None:
            self._update(pieces)
        else:
            self._pending = self._pool.submit(self._update, pieces)

    def hexdigests(self) -> tuple[str, ...]:
        """Wait for pending updates and return the fragments' hex digests."""
        self._wait()
        return tuple(hasher.hexdigest() for hasher in self._hashers)

    def __enter__(self) -> _FragmentHasher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _Collector(io.RawIOBase):
    """A write-only sink that keeps references to the buffers written and joins them once."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[Any] = []

    def writable(self) -> bool:
        return True

    def write(self, buffer: Any) -> int:
        self._parts.append(buffer)
        return memoryview(buffer).nbytes

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


@dataclass(frozen=True)
class Rebuilt:
    """The outcome of :func:`combine_report`: the bytes and what was set aside."""

    data: bytes
    rejected_fragments: tuple[int, ...]
    rejected_shares: tuple[int, ...]


def key_check(key: bytes) -> str:
    """Public check value of a record key (hex HMAC-SHA256), to detect a wrong key early."""
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


def share_digest(share: KeyShare) -> str:
    """Hex SHA-256 binding a key share's value to its record, version, epoch and index."""
    header = json.dumps(
        [share.record_id, share.version, share.key_epoch, share.index], separators=(",", ":")
    )
    return hashlib.sha256(header.encode() + b"\0" + share.secret.reveal()).hexdigest()


def segment_aad(manifest: Manifest, segment: int) -> bytes:
    """Authenticated data of one segment (see ``ALGORITHMS['aad']``)."""
    fields = {
        "n": manifest.n,
        "record_id": manifest.record_id,
        "segment": segment,
        "segments": manifest.segment_count,
        "t": manifest.t,
        "version": manifest.version,
    }
    return _AAD_LABEL + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _nonce(segment: int) -> bytes:
    # K is fresh for every split, so a counter never repeats under one key.
    return segment.to_bytes(12, "big")


def _check_params(record_id: str, version: int, segment_size: int) -> None:
    if not isinstance(record_id, str) or not record_id:
        raise InputError("record_id must be a non-empty string")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InputError(f"version must be an integer >= 0, got {version!r}")
    if isinstance(segment_size, bool) or not isinstance(segment_size, int) or segment_size < 1:
        raise InputError(f"segment_size must be a positive integer, got {segment_size!r}")


def split_key(
    key: bytes, manifest_fields: tuple[str, int, int], t: int, n: int, random_bytes: RandomBytes
) -> tuple[EssentialShare, list[KeyShare]]:
    """Draw a fresh K_e and Shamir-split ``K_s = K XOR K_e`` into ``n`` key shares."""
    record_id, version, epoch = manifest_fields
    essential_value = draw_exact(random_bytes, KEY_SIZE)
    shares = shamir.split_secret(xor_bytes(key, essential_value), t, n, random_bytes=random_bytes)
    essential = EssentialShare(record_id, version, epoch, SecretBytes(essential_value))
    key_shares = [KeyShare(record_id, version, epoch, s.x, SecretBytes(s.y)) for s in shares]
    return essential, key_shares


def split_stream(
    source: BinaryIO,
    record_size: int,
    sinks: Sequence[BinaryIO],
    *,
    record_id: str,
    t: int,
    version: int = 1,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    random_bytes: RandomBytes = SYSTEM_RANDOM,
) -> tuple[Manifest, EssentialShare, list[KeyShare]]:
    """Split ``record_size`` bytes read from ``source`` into one fragment per sink.

    Memory stays bounded by a few segments whatever the record size.
    """
    n = len(sinks)
    shamir.check_threshold(t, n, what="custodians")
    _check_params(record_id, version, segment_size)
    key = draw_exact(random_bytes, KEY_SIZE)
    layout = Manifest(record_id, version, 0, t, n, record_size, segment_size, "", (), ())
    aead = AESGCM(key)
    with _FragmentHasher(n, threaded=layout.segment_count > 1) as hasher:
        for segment in range(layout.segment_count):
            size = layout.segment_plain_size(segment)
            plaintext = source.read(size)
            if len(plaintext) != size:
                raise InputError(
                    f"record ended after {segment * segment_size + len(plaintext)}"
                    f" bytes, expected {record_size}"
                )
            ciphertext = aead.encrypt(_nonce(segment), plaintext, segment_aad(layout, segment))
            pieces = [piece.data for piece in erasure.encode_arrays(ciphertext, t, n)]
            hasher.update(pieces)
            for piece, sink in zip(pieces, sinks, strict=True):
                sink.write(piece)
        digests = hasher.hexdigests()
    essential, key_shares = split_key(key, (record_id, version, 0), t, n, random_bytes)
    manifest = Manifest(
        record_id,
        version,
        0,
        t,
        n,
        record_size,
        segment_size,
        key_check(key),
        digests,
        tuple(share_digest(s) for s in key_shares),
    )
    return manifest, essential, key_shares


def split(
    data: bytes,
    *,
    record_id: str,
    t: int,
    n: int,
    version: int = 1,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    random_bytes: RandomBytes = SYSTEM_RANDOM,
) -> SplitResult:
    """Split ``data`` for ``n`` custodians; any ``t`` plus the essential share rebuild it."""
    shamir.check_threshold(t, n, what="custodians")
    sinks = [_Collector() for _ in range(n)]
    manifest, essential, key_shares = split_stream(
        io.BytesIO(data),
        len(data),
        [cast(BinaryIO, sink) for sink in sinks],
        record_id=record_id,
        t=t,
        version=version,
        segment_size=segment_size,
        random_bytes=random_bytes,
    )
    custodians = [
        Custodian(i + 1, sink.getvalue(), share)
        for i, (sink, share) in enumerate(zip(sinks, key_shares, strict=True))
    ]
    return SplitResult(manifest, essential, custodians)


def _stream_digest(stream: BinaryIO) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    while chunk := stream.read(_HASH_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def check_fragments(
    manifest: Manifest, fragments: Mapping[int, BinaryIO], *, enough: int | None = None
) -> tuple[list[int], list[int]]:
    """Check fragments against the manifest's sizes and SHA-256 digests.

    Returns ``(good, bad)`` indices. Fragments are checked in index order
    (data fragments first) and checking stops once ``enough`` are good, so
    a rebuild reads only what it uses; pass ``enough=None`` to audit all.
    """
    good: list[int] = []
    bad: list[int] = []
    for index in sorted(fragments):
        if enough is not None and len(good) >= enough:
            break
        if not 1 <= index <= manifest.n:
            bad.append(index)
            continue
        stream = fragments[index]
        stream.seek(0)
        digest, size = _stream_digest(stream)
        stream.seek(0)
        if size == manifest.fragment_size and hmac.compare_digest(
            digest, manifest.fragment_digests[index - 1]
        ):
            good.append(index)
        else:
            bad.append(index)
    return good, bad


def good_shares(manifest: Manifest, shares: Iterable[KeyShare]) -> list[KeyShare]:
    """Key shares that belong to this manifest's record and epoch and match its digests."""
    good: dict[int, KeyShare] = {}
    for share in shares:
        if (
            1 <= share.index <= manifest.n
            and not share.secret.destroyed
            and len(share.secret) == KEY_SIZE
            and hmac.compare_digest(share_digest(share), manifest.share_digests[share.index - 1])
        ):
            good.setdefault(share.index, share)
    return [good[i] for i in sorted(good)]


def check_essential(manifest: Manifest, essential: EssentialShare) -> None:
    """Raise :class:`WrongEssentialShare` if it is destroyed or for another record."""
    if essential.secret.destroyed:
        raise WrongEssentialShare("essential share was destroyed (crypto-shredded)")
    if len(essential.secret) != KEY_SIZE:
        raise InputError(f"essential share must be {KEY_SIZE} bytes, got {len(essential.secret)}")
    if essential.record_id != manifest.record_id or essential.version != manifest.version:
        raise WrongEssentialShare(
            f"essential share is for record {essential.record_id!r} v{essential.version}, "
            f"not {manifest.record_id!r} v{manifest.version}"
        )


def recover_key(manifest: Manifest, essential: EssentialShare, shares: Sequence[KeyShare]) -> bytes:
    """Rebuild K from the essential share and at least ``t`` verified key shares."""
    check_essential(manifest, essential)
    if len(shares) < manifest.t:
        raise PrivacyError(
            f"record {manifest.record_id!r} needs {manifest.t} good key shares, got {len(shares)}"
        )
    points = [shamir.Share(s.index, s.secret.reveal()) for s in shares]
    key = xor_bytes(essential.secret.reveal(), shamir.combine_shares(points, manifest.t))
    if not hmac.compare_digest(key_check(key), manifest.key_check):
        raise WrongEssentialShare(
            f"essential share does not open record {manifest.record_id!r} "
            f"(wrong or rotated-out essential share, epoch {essential.key_epoch} vs "
            f"{manifest.key_epoch})"
        )
    return key


def combine_stream(
    manifest: Manifest,
    essential: EssentialShare,
    fragments: Mapping[int, BinaryIO],
    shares: Iterable[KeyShare],
    sink: BinaryIO,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Rebuild the record into ``sink``; return the rejected fragment and share indices.

    Fragments are checked lazily (see :func:`check_fragments`): a tampered
    fragment is reported only if it was checked before ``t`` good ones were found.
    """
    check_essential(manifest, essential)
    # Destroyed (shredded) shares count as absent, not as tampered.
    share_list = [s for s in shares if not s.secret.destroyed]
    fragment_ok, fragment_bad = check_fragments(manifest, fragments, enough=manifest.t)
    shares_ok = good_shares(manifest, share_list)
    bad_fragments = tuple(fragment_bad)
    bad_shares = tuple(sorted({s.index for s in share_list} - {s.index for s in shares_ok}))
    for kind, ok, bad in (
        ("fragments", fragment_ok, bad_fragments),
        ("key shares", shares_ok, bad_shares),
    ):
        if len(ok) < manifest.t:
            message = f"record {manifest.record_id!r} needs {manifest.t} good {kind}, got {len(ok)}"
            if bad:
                raise IntegrityError(f"{message}; {kind} {list(bad)} failed their integrity check")
            raise PrivacyError(message)
    key = recover_key(manifest, essential, shares_ok)
    aead = AESGCM(key)
    chosen = fragment_ok[: manifest.t]
    for segment in range(manifest.segment_count):
        size = manifest.segment_piece_size(segment)
        pieces = {i: fragments[i].read(size) for i in chosen}
        block_size = manifest.segment_plain_size(segment) + TAG_SIZE
        ciphertext = erasure.decode(pieces, manifest.t, manifest.n, block_size)
        try:
            sink.write(aead.decrypt(_nonce(segment), ciphertext, segment_aad(manifest, segment)))
        except InvalidTag:
            raise IntegrityError(
                f"record {manifest.record_id!r} segment {segment} failed authentication "
                "(manifest or fragments altered)"
            ) from None
    return bad_fragments, bad_shares


def combine_report(
    manifest: Manifest, essential: EssentialShare, custodians: Iterable[Custodian]
) -> Rebuilt:
    """Rebuild the record from the custodians present; report what failed its check."""
    fragments: dict[int, BinaryIO] = {}
    shares: list[KeyShare] = []
    for custodian in custodians:
        if custodian.fragment is not None:
            fragments[custodian.index] = io.BytesIO(custodian.fragment)
        if custodian.key_share is not None:
            shares.append(custodian.key_share)
    sink = _Collector()
    bad_fragments, bad_shares = combine_stream(
        manifest, essential, fragments, shares, cast(BinaryIO, sink)
    )
    return Rebuilt(sink.getvalue(), bad_fragments, bad_shares)


def combine(
    manifest: Manifest, essential: EssentialShare, custodians: Iterable[Custodian]
) -> bytes:
    """Rebuild the exact bytes of the record (see :func:`combine_report`)."""
    return combine_report(manifest, essential, custodians).data
