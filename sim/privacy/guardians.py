"""Backing up the patient's essential share with guardians (Shamir ``t_g`` of ``n_g``).

A patient who loses K_e loses the record, so K_e can be split among
guardians (family, a notary, a hospital). Each guardian share also carries
a fingerprint of K_e, so a tampered guardian share is detected at recovery
and recovery retries with other subsets of the shares given.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sim.errors import InputError, IntegrityError, PrivacyError
from sim.privacy import shamir
from sim.privacy.material import KEY_SIZE, EssentialShare, SecretBytes
from sim.privacy.randomness import SYSTEM_RANDOM, RandomBytes

#: At most this many subsets are tried when some guardian shares are bad.
MAX_SUBSETS = 10_000


@dataclass(eq=False)
class GuardianShare:
    """Guardian ``index``'s share of one essential share (``t`` of ``n`` rebuild it)."""

    record_id: str
    version: int
    key_epoch: int
    t: int
    n: int
    index: int
    fingerprint: str
    secret: SecretBytes = field(repr=False)


def essential_fingerprint(essential_value: bytes, record_id: str, version: int, epoch: int) -> str:
    """Hex SHA-256 of an essential share bound to its record, version and epoch."""
    header = json.dumps(["pmrsim/essential/v1", record_id, version, epoch], separators=(",", ":"))
    return hashlib.sha256(header.encode() + b"\0" + essential_value).hexdigest()


def backup_essential(
    essential: EssentialShare,
    t: int,
    n: int,
    *,
    random_bytes: RandomBytes = SYSTEM_RANDOM,
) -> list[GuardianShare]:
    """Split the essential share among ``n`` guardians of which any ``t`` recover it."""
    shamir.check_threshold(t, n, what="guardians")
    value = essential.secret.reveal()
    fingerprint = essential_fingerprint(
        value, essential.record_id, essential.version, essential.key_epoch
    )
    return [
        GuardianShare(
            essential.record_id,
            essential.version,
            essential.key_epoch,
            t,
            n,
            share.x,
            fingerprint,
            SecretBytes(share.y),
        )
        for share in shamir.split_secret(value, t, n, random_bytes=random_bytes)
    ]


def recover_essential(shares: Iterable[GuardianShare]) -> EssentialShare:
    """Recover the essential share from at least ``t`` guardian shares.

    Raises :class:`PrivacyError` when too few shares are given and
    :class:`IntegrityError` when no ``t`` of them agree with the fingerprint.
    """
    given: dict[int, GuardianShare] = {}
    for share in shares:
        if not share.secret.destroyed and len(share.secret) == KEY_SIZE:
            given.setdefault(share.index, share)
    if not given:
        raise PrivacyError("no guardian shares given")
    first = next(iter(given.values()))
    keys = {(s.record_id, s.version, s.key_epoch, s.t, s.n, s.fingerprint) for s in given.values()}
    if len(keys) > 1:
        raise InputError("guardian shares belong to different backups")
    t = first.t
    if len(given) < t:
        raise PrivacyError(f"need {t} guardian shares to recover, got {len(given)}")
    candidates = sorted(given)
    for tried, subset in enumerate(itertools.combinations(candidates, t)):
        if tried >= MAX_SUBSETS:
            break
        points = [shamir.Share(i, given[i].secret.reveal()) for i in subset]
        value = shamir.combine_shares(points, t)
        digest = essential_fingerprint(value, first.record_id, first.version, first.key_epoch)
        if hmac.compare_digest(digest, first.fingerprint):
            return EssentialShare(
                first.record_id, first.version, first.key_epoch, SecretBytes(value)
            )
    raise IntegrityError(
        f"no {t} of guardian shares {candidates} agree with the backup's fingerprint"
    )
