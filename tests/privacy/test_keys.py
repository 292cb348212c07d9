"""ECIES key delivery on secp256k1 and the custodians' release rule."""

from __future__ import annotations

import pytest
from eth_keys import keys as eth_keys
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError, PrivacyError
from sim.privacy import keys
from sim.privacy.randomness import seeded_random_bytes

DOCTOR = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OTHER = bytes(31) + b"\x07"


@settings(max_examples=25, deadline=None)
@given(plaintext=st.binary(max_size=300), aad=st.binary(max_size=40))
def test_seal_then_open_round_trips(plaintext: bytes, aad: bytes) -> None:
    """What is sealed to a public key opens with its private key and the same aad."""
    blob = keys.seal(keys.public_key_of(DOCTOR), plaintext, aad)
    assert keys.open_sealed(DOCTOR, blob, aad) == plaintext


def test_wrong_key_altered_blob_or_aad_fail_cleanly() -> None:
    """Another key, a flipped byte or another aad raise PrivacyError, never InvalidTag."""
    blob = keys.seal(keys.public_key_of(DOCTOR), b"essential share", b"grant-7")
    with pytest.raises(PrivacyError, match="does not open"):
        keys.open_sealed(OTHER, blob, b"grant-7")
    with pytest.raises(PrivacyError):
        keys.open_sealed(DOCTOR, blob, b"grant-8")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(PrivacyError):
        keys.open_sealed(DOCTOR, bytes(tampered), b"grant-7")


def test_public_key_forms_and_deterministic_sealing() -> None:
    """64-, 65- and 33-byte public keys are accepted; a seeded source seals reproducibly."""
    raw = keys.public_key_of(DOCTOR)
    full = keys.normalise_public_key(raw)
    compressed = eth_keys.PrivateKey(DOCTOR).public_key.to_compressed_bytes()
    assert keys.normalise_public_key(full) == keys.normalise_public_key(compressed) == full
    one = keys.seal(raw, b"x", random_bytes=seeded_random_bytes(1))
    two = keys.seal(compressed, b"x", random_bytes=seeded_random_bytes(1))
    assert one == two and keys.open_sealed(DOCTOR, one) == b"x"


def test_address_matches_eth_keys() -> None:
    """The derived address is Ethereum's checksummed keccak address."""
    expected = eth_keys.PrivateKey(DOCTOR).public_key.to_checksum_address()
    assert keys.address_of(keys.public_key_of(DOCTOR)) == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: keys.seal(b"\x04" * 10, b"x"), "33, 64 or 65"),
        (lambda: keys.seal(b"\x02" + b"\xff" * 32, b"x"), "not a point"),
        (lambda: keys.open_sealed(b"\x01" * 31, b"x" * 100), "32 bytes"),
        (lambda: keys.open_sealed(bytes(32), b"x" * 100), "out of range"),
        (lambda: keys.open_sealed(DOCTOR, b"\x01" * 20), "truncated"),
    ],
)
def test_malformed_keys_and_blobs_are_input_errors(call: object, message: str) -> None:
    """Bad key lengths, off-curve points, zero keys and short blobs raise InputError."""
    with pytest.raises(InputError, match=message):
        call()  # type: ignore[operator]


def test_release_rule_follows_the_grant_at_call_time() -> None:
    """A share is released while the grant is valid and refused after expiry."""
    clock = {"now": 100}
    expiry = 150

    def grant_is_valid() -> bool:
        return clock["now"] < expiry

    share = object()
    released = keys.release_share(share, grant_is_valid=grant_is_valid, requester="0xdoc")
    assert released is share
    clock["now"] = 150
    with pytest.raises(keys.AccessDenied, match="custodian 3: 0xdoc holds no valid grant"):
        keys.release_share(
            share, grant_is_valid=grant_is_valid, requester="0xdoc", custodian=3, record_id="r"
        )
    with pytest.raises(PrivacyError):
        keys.release_share(share, grant_is_valid=False, requester="0xdoc")


def test_release_sealed_only_opens_for_the_requester() -> None:
    """A released share is sealed to the requester; an expired grant seals nothing."""
    public = keys.public_key_of(DOCTOR)
    blob = keys.release_sealed(b"share-3", public, grant_is_valid=True, custodian=3)
    assert keys.open_sealed(DOCTOR, blob) == b"share-3"
    with pytest.raises(keys.AccessDenied):
        keys.release_sealed(b"share-3", public, grant_is_valid=lambda: False)
