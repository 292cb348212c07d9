"""Key lifecycle of a shared record: rotating the essential share, crypto-shredding.

Rotation draws a new essential share K_e' and re-splits ``K_s' = K XOR K_e'``
among the same custodians; the key K, the ciphertext and the fragments stay
as they are, so nothing bulky is re-encrypted or re-uploaded. The old K_e
does not open the new shares. (Old K_e together with ``t`` *old* shares
would still give K: custodians must discard their old shares, which
:func:`rotate` does for the share objects it is handed.)

Shredding destroys K_e and every key share: without them K cannot be
rebuilt, so the fragments are noise (GDPR erasure by crypto-shredding).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sim.errors import InputError
from sim.privacy.manifest import Manifest
from sim.privacy.material import EssentialShare, KeyShare
from sim.privacy.randomness import SYSTEM_RANDOM, RandomBytes
from sim.privacy.sharing import good_shares, recover_key, share_digest, split_key


@dataclass(eq=False)
class Rotation:
    """The outcome of :func:`rotate`: the new manifest, essential share and key shares."""

    manifest: Manifest
    essential: EssentialShare
    key_shares: list[KeyShare]


@dataclass(frozen=True)
class ShredReport:
    """What :func:`shred` destroyed."""

    record_id: str
    essential_destroyed: bool
    shares_destroyed: tuple[int, ...]
    bytes_destroyed: int


def rotate(
    manifest: Manifest,
    essential: EssentialShare,
    key_shares: Iterable[KeyShare],
    *,
    random_bytes: RandomBytes = SYSTEM_RANDOM,
    discard_old: bool = True,
) -> Rotation:
    """Replace the essential share and all ``n`` key shares, keeping K and the fragments.

    Needs the current essential share and ``t`` good key shares. With
    ``discard_old`` (default) the old essential share and the shares handed
    in are destroyed once the new ones exist.
    """
    shares = list(key_shares)
    key = recover_key(manifest, essential, good_shares(manifest, shares))
    epoch = manifest.key_epoch + 1
    new_essential, new_shares = split_key(
        key, (manifest.record_id, manifest.version, epoch), manifest.t, manifest.n, random_bytes
    )
    new_manifest = replace(
        manifest, key_epoch=epoch, share_digests=tuple(share_digest(s) for s in new_shares)
    )
    if discard_old:
        essential.secret.destroy()
        for share in shares:
            share.secret.destroy()
    return Rotation(new_manifest, new_essential, new_shares)


def shred(essential: EssentialShare | None, key_shares: Iterable[KeyShare]) -> ShredReport:
    """Destroy the essential share and the key shares; report what was destroyed.

    After this, :func:`sim.privacy.sharing.combine` cannot rebuild the record
    from any set of custodians.
    """
    shares = list(key_shares)
    records = {s.record_id for s in shares} | ({essential.record_id} if essential else set())
    if len(records) > 1:
        raise InputError(f"shred: material of several records given: {sorted(records)}")
    total = 0
    essential_destroyed = False
    if essential is not None:
        destroyed = essential.secret.destroy()
        essential_destroyed = destroyed > 0
        total += destroyed
    indices = []
    for share in shares:
        destroyed = share.secret.destroy()
        if destroyed:
            indices.append(share.index)
            total += destroyed
    return ShredReport(
        record_id=next(iter(records), ""),
        essential_destroyed=essential_destroyed,
        shares_destroyed=tuple(sorted(indices)),
        bytes_destroyed=total,
    )
