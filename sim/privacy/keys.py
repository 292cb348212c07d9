"""Key delivery: ECIES on secp256k1 with Ethereum keys, and the custodians' release rule.

The patient sends the essential share to a doctor sealed to the doctor's
Ethereum public key, and custodians release their key shares only while
the grant recorded on chain is valid.

Sealed-box format (version 1)::

    0x01 || R (65 bytes, uncompressed ephemeral public key) || AES-256-GCM(ciphertext || tag)

with ``S = r * P`` (ECDH; ``r`` the ephemeral secret, ``P`` the recipient's
key), ``HKDF-SHA256(ikm = S compressed, salt = R, info = label || P)`` giving
a 32-byte key and a 12-byte nonce (both used once: ``r`` is fresh every
time), and the caller's ``aad`` authenticated together with ``R``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from coincurve import PrivateKey, PublicKey
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sim.errors import InputError, PrivacyError
from sim.hashing import checksum_address, keccak256
from sim.privacy.randomness import SYSTEM_RANDOM, RandomBytes, draw_exact

VERSION = b"\x01"
_INFO = b"pmrsim/ecies/secp256k1/v1|"
_POINT_SIZE = 65
#: Order of the secp256k1 group: private keys are integers in ``1 .. ORDER - 1``.
ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

T = TypeVar("T")


class AccessDenied(PrivacyError):
    """Raised when a custodian refuses to release a share: no valid grant now."""


def normalise_public_key(public_key: bytes) -> bytes:
    """Return the 65-byte uncompressed form of a 64-, 65- or 33-byte secp256k1 public key."""
    if len(public_key) == 64:  # Ethereum's raw x || y
        public_key = b"\x04" + public_key
    if len(public_key) not in (33, 65):
        raise InputError(f"public key must be 33, 64 or 65 bytes, got {len(public_key)}")
    try:
        return PublicKey(public_key).format(compressed=False)
    except (ValueError, TypeError) as exc:
        raise InputError(f"public key is not a point on secp256k1 ({exc})") from None


def _private_key(private_key: bytes) -> PrivateKey:
    if len(private_key) != 32:
        raise InputError(f"private key must be 32 bytes, got {len(private_key)}")
    if not 0 < int.from_bytes(private_key, "big") < ORDER:
        raise InputError("private key is out of range for secp256k1")
    return PrivateKey(private_key)


def public_key_of(private_key: bytes) -> bytes:
    """The 64-byte Ethereum public key (x || y) of a 32-byte private key."""
    return _private_key(private_key).public_key.format(compressed=False)[1:]


def address_of(public_key: bytes) -> str:
    """The checksummed Ethereum address of a public key: last 20 bytes of keccak256(x || y)."""
    raw = normalise_public_key(public_key)[1:]
    return checksum_address(keccak256(raw)[-20:])


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=ephemeral, info=_INFO + recipient).derive(
        shared
    )
    return okm[:32], okm[32:]


def _fresh_scalar(random_bytes: RandomBytes) -> PrivateKey:
    while True:  # rejection sampling: fails with probability ~2^-128
        candidate = draw_exact(random_bytes, 32)
        if 0 < int.from_bytes(candidate, "big") < ORDER:
            return PrivateKey(candidate)


def seal(
    recipient_public_key: bytes,
    plaintext: bytes,
    aad: bytes = b"",
    *,
    random_bytes: RandomBytes = SYSTEM_RANDOM,
) -> bytes:
    """Encrypt ``plaintext`` so only the holder of the recipient's private key can open it."""
    recipient = normalise_public_key(recipient_public_key)
    ephemeral = _fresh_scalar(random_bytes)
    ephemeral_public = ephemeral.public_key.format(compressed=False)
    shared = PublicKey(recipient).multiply(ephemeral.secret).format(compressed=True)
    key, nonce = _derive(shared, ephemeral_public, recipient)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, ephemeral_public + aad)
    return VERSION + ephemeral_public + ciphertext


def open_sealed(private_key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """Decrypt a :func:`seal` blob; raise :class:`PrivacyError` if it is not for this key."""
    secret = _private_key(private_key)
    if len(blob) < 1 + _POINT_SIZE + 16 or blob[:1] != VERSION:
        raise InputError("sealed blob is truncated or of an unknown version")
    ephemeral_public = blob[1 : 1 + _POINT_SIZE]
    try:
        ephemeral = PublicKey(ephemeral_public)
    except (ValueError, TypeError):
        raise PrivacyError("sealed blob carries an invalid ephemeral key") from None
    recipient = secret.public_key.format(compressed=False)
    shared = ephemeral.multiply(secret.secret).format(compressed=True)
    key, nonce = _derive(shared, ephemeral_public, recipient)
    try:
        return AESGCM(key).decrypt(nonce, blob[1 + _POINT_SIZE :], ephemeral_public + aad)
    except InvalidTag:
        raise PrivacyError(
            "sealed blob does not open with this key (wrong recipient, altered data or aad)"
        ) from None


def release_share(
    share: T,
    *,
    grant_is_valid: Callable[[], bool] | bool,
    requester: str,
    custodian: int | None = None,
    record_id: str | None = None,
) -> T:
    """Return ``share`` if the requester's grant is valid now; raise :class:`AccessDenied` if not.

    ``grant_is_valid`` is asked at call time (the engine answers from the
    AccessGrants contract at the current block time), so access ends by
    itself when the grant expires or is revoked.
    """
    valid = grant_is_valid() if callable(grant_is_valid) else grant_is_valid
    if valid is not True:
        who = f"custodian {custodian}" if custodian is not None else "custodian"
        what = f" to record {record_id!r}" if record_id is not None else ""
        raise AccessDenied(f"{who}: {requester} holds no valid grant{what} now")
    return share


def release_sealed(
    share_bytes: bytes,
    requester_public_key: bytes,
    *,
    grant_is_valid: Callable[[], bool] | bool,
    custodian: int | None = None,
    record_id: str | None = None,
    aad: bytes = b"",
    random_bytes: RandomBytes = SYSTEM_RANDOM,
) -> bytes:
    """Release a serialised share sealed to the requester, under the same rule as above."""
    released = release_share(
        share_bytes,
        grant_is_valid=grant_is_valid,
        requester=address_of(requester_public_key),
        custodian=custodian,
        record_id=record_id,
    )
    return seal(requester_public_key, released, aad, random_bytes=random_bytes)
