"""Essential secret sharing: split, combine, integrity, rotation, shredding, guardians."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError, IntegrityError, PrivacyError
from sim.privacy import guardians, lifecycle, sharing
from sim.privacy.manifest import Manifest
from sim.privacy.material import EssentialShare, KeyShare, SecretBytes
from sim.privacy.randomness import seeded_random_bytes

RECORD = seeded_random_bytes("record")(10_000)


def _split(data: bytes = RECORD, t: int = 3, n: int = 5, **kw: int) -> sharing.SplitResult:
    return sharing.split(
        data, record_id="xray-1", t=t, n=n, random_bytes=seeded_random_bytes(7), **kw
    )


def _with_shares(result: sharing.SplitResult, shares: list[KeyShare]) -> list[sharing.Custodian]:
    return [
        sharing.Custodian(c.index, c.fragment, s)
        for c, s in zip(result.custodians, shares, strict=True)
    ]


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 1500),
    n=st.integers(1, 255),
    segment_size=st.sampled_from([1, 100, 4096]),
    data=st.data(),
)
def test_any_t_custodians_and_the_essential_share_rebuild(
    size: int, n: int, segment_size: int, data: st.DataObject
) -> None:
    """Any t custodians plus the essential share rebuild the exact bytes (1 <= t <= n <= 255)."""
    t = data.draw(st.integers(1, n))
    if n > 40:  # keep the many-segment case cheap for wide codes
        segment_size = 4096
    record = seeded_random_bytes(size)(size)
    result = _split(record, t=t, n=n, segment_size=segment_size)
    chosen = data.draw(st.permutations(result.custodians))[:t]
    assert sharing.combine(result.manifest, result.essential, chosen) == record


@pytest.mark.parametrize(("t", "n"), [(1, 1), (255, 255), (1, 255), (3, 5)])
def test_edge_thresholds_and_empty_record(t: int, n: int) -> None:
    """Extreme t, n and a 0-byte record rebuild from the last t custodians."""
    for record in (b"", b"x", RECORD[:999]):
        result = _split(record, t=t, n=n)
        assert sharing.combine(result.manifest, result.essential, result.custodians[-t:]) == record


def test_t_minus_one_custodians_fail() -> None:
    """t-1 custodians with the essential share cannot rebuild."""
    result = _split()
    with pytest.raises(PrivacyError, match="needs 3 good"):
        sharing.combine(result.manifest, result.essential, result.custodians[:2])


def test_all_custodians_without_the_essential_share_fail() -> None:
    """All n custodians with a forged essential share (zeros or random) cannot rebuild."""
    result = _split()
    for forged in (bytes(32), seeded_random_bytes(99)(32)):
        fake = EssentialShare("xray-1", 1, 0, SecretBytes(forged))
        with pytest.raises(PrivacyError, match="does not open"):
            sharing.combine(result.manifest, fake, result.custodians)


def test_essential_share_of_another_record_is_refused() -> None:
    """An essential share for another record id is refused by name."""
    result = _split()
    other = sharing.split(b"y", record_id="other", t=1, n=1).essential
    with pytest.raises(PrivacyError, match="'other'"):
        sharing.combine(result.manifest, other, result.custodians)


def test_tampered_fragment_is_detected_and_rebuild_uses_good_ones() -> None:
    """A flipped byte in fragment 1 is reported and the record rebuilds from others."""
    result = _split()
    first = result.custodians[0]
    assert first.fragment is not None
    bad = bytearray(first.fragment)
    bad[10] ^= 1
    custodians = [sharing.Custodian(1, bytes(bad), first.key_share), *result.custodians[1:]]
    rebuilt = sharing.combine_report(result.manifest, result.essential, custodians)
    assert rebuilt.data == RECORD
    assert rebuilt.rejected_fragments == (1,)
    with pytest.raises(IntegrityError, match=r"fragments \[1\]"):
        sharing.combine(result.manifest, result.essential, custodians[:3])


def test_tampered_or_foreign_share_is_detected() -> None:
    """A modified key share is set aside by index; too few good ones raise IntegrityError."""
    result = _split()
    share = result.custodians[1].key_share
    assert share is not None
    value = bytearray(share.secret.reveal())
    value[0] ^= 0xFF
    forged = KeyShare(share.record_id, share.version, share.key_epoch, 2, SecretBytes(value))
    custodians = list(result.custodians)
    custodians[1] = sharing.Custodian(2, custodians[1].fragment, forged)
    rebuilt = sharing.combine_report(result.manifest, result.essential, custodians)
    assert rebuilt.data == RECORD and rebuilt.rejected_shares == (2,)
    with pytest.raises(IntegrityError, match=r"key shares \[2\]"):
        sharing.combine(result.manifest, result.essential, custodians[:3])


def test_truncated_fragment_is_rejected() -> None:
    """A fragment of the wrong size is treated as tampered."""
    result = _split()
    custodians = list(result.custodians)
    fragment = custodians[0].fragment or b""
    custodians[0] = sharing.Custodian(1, fragment[:-1], custodians[0].key_share)
    assert sharing.combine_report(result.manifest, result.essential, custodians).rejected_fragments


def test_altered_manifest_is_refused() -> None:
    """Changing t in a public manifest is refused (the fragment layout no longer fits)."""
    result = _split()
    data = json.loads(result.manifest.to_json())
    data["t"] = 2
    altered = Manifest.from_json(json.dumps(data))
    with pytest.raises(IntegrityError, match="failed their integrity check"):
        sharing.combine(altered, result.essential, result.custodians)


def test_reordered_segments_fail_authentication_even_with_a_forged_manifest() -> None:
    """Swapping two segments in every fragment, digests recomputed, fails GCM by segment."""
    result = _split(segment_size=1000)
    piece = result.manifest.segment_piece_size(0)
    forged = []
    for custodian in result.custodians:
        fragment = custodian.fragment or b""
        swapped = fragment[piece : 2 * piece] + fragment[:piece] + fragment[2 * piece :]
        forged.append(sharing.Custodian(custodian.index, swapped, custodian.key_share))
    digests = tuple(hashlib.sha256(c.fragment or b"").hexdigest() for c in forged)
    manifest = dataclasses.replace(result.manifest, fragment_digests=digests)
    with pytest.raises(IntegrityError, match="segment 0 failed authentication"):
        sharing.combine(manifest, result.essential, forged)


def test_manifest_round_trips_and_holds_no_secrets() -> None:
    """The manifest JSON parses back equal and contains no key material."""
    result = _split()
    text = result.manifest.to_json()
    assert Manifest.from_json(text) == result.manifest
    assert result.essential.secret.reveal().hex() not in text
    for custodian in result.custodians:
        assert custodian.key_share is not None
        assert custodian.key_share.secret.reveal().hex() not in text
    assert "secret" not in repr(result.essential).lower().replace("secretbytes", "")


def test_split_is_deterministic_for_a_seeded_source() -> None:
    """The same seed gives the same manifest; fragments hold n/t of the ciphertext."""
    first, second = _split(), _split()
    assert first.manifest == second.manifest
    stored = sum(len(c.fragment or b"") for c in first.custodians)
    assert stored <= (len(RECORD) + 16) * 5 / 3 + 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"t": 4, "n": 3}, "must not exceed"),
        ({"t": 0, "n": 3}, "at least 1"),
        ({"t": 1, "n": 256}, "at most 255"),
        ({"t": 1, "n": 1, "segment_size": 0}, "segment_size"),
        ({"t": 1, "n": 1, "record_id": ""}, "record_id"),
        ({"t": 1, "n": 1, "version": -1}, "version"),
    ],
)
def test_out_of_range_inputs_are_rejected(kwargs: dict[str, object], message: str) -> None:
    """Bad t, n, segment size, record id or version raise InputError naming the field."""
    args: dict[str, object] = {"record_id": "r", **kwargs}
    with pytest.raises(InputError, match=message):
        sharing.split(b"data", **args)  # type: ignore[arg-type]


def test_rotated_out_essential_share_fails_and_new_one_works() -> None:
    """After rotation the old essential share no longer opens the new shares; fragments stay."""
    result = _split()
    old_value = result.essential.secret.reveal()
    shares = [c.key_share for c in result.custodians if c.key_share]
    rotated = lifecycle.rotate(
        result.manifest, result.essential, shares, random_bytes=seeded_random_bytes(8)
    )
    assert rotated.manifest.fragment_digests == result.manifest.fragment_digests
    assert rotated.manifest.key_epoch == 1
    custodians = _with_shares(result, rotated.key_shares)
    assert sharing.combine(rotated.manifest, rotated.essential, custodians[2:]) == RECORD
    stale = EssentialShare("xray-1", 1, 0, SecretBytes(old_value))
    with pytest.raises(PrivacyError, match="rotated-out"):
        sharing.combine(rotated.manifest, stale, custodians)
    assert result.essential.secret.destroyed  # rotate discards the old material


def test_shred_destroys_everything_and_rebuild_becomes_impossible() -> None:
    """Crypto-shredding reports what it destroyed and every later rebuild fails."""
    result = _split()
    shares = [c.key_share for c in result.custodians if c.key_share]
    report = lifecycle.shred(result.essential, shares)
    assert report.essential_destroyed and report.shares_destroyed == (1, 2, 3, 4, 5)
    assert report.bytes_destroyed == 32 * 6
    with pytest.raises(PrivacyError, match="destroyed"):
        sharing.combine(result.manifest, result.essential, result.custodians)
    with pytest.raises(PrivacyError):
        result.essential.secret.reveal()
    assert lifecycle.shred(result.essential, shares).bytes_destroyed == 0


def test_guardians_recover_the_essential_share() -> None:
    """Any t_g guardians recover K_e; a tampered guardian share is skipped; t_g-1 fail."""
    result = _split()
    backup = guardians.backup_essential(result.essential, 2, 4, random_bytes=seeded_random_bytes(9))
    recovered = guardians.recover_essential(backup[2:])
    assert recovered.secret.reveal() == result.essential.secret.reveal()
    assert sharing.combine(result.manifest, recovered, result.custodians) == RECORD
    backup[0].secret = SecretBytes(bytes(32))
    assert guardians.recover_essential(backup[:3]).secret.reveal() == recovered.secret.reveal()
    with pytest.raises(PrivacyError, match="need 2"):
        guardians.recover_essential(backup[3:])
    with pytest.raises(IntegrityError):
        guardians.recover_essential(backup[:2])
    with pytest.raises(InputError, match="must not exceed"):
        guardians.backup_essential(result.essential, 5, 4)


def test_secret_files_round_trip_and_reject_bad_input() -> None:
    """Essential and key share JSON round-trips; a wrong-length value is an InputError."""
    result = _split()
    text = result.essential.to_json()
    assert EssentialShare.from_json(text).secret.reveal() == result.essential.secret.reveal()
    share = result.custodians[0].key_share
    assert share is not None
    assert KeyShare.from_json(share.to_json()).index == 1
    broken = json.loads(text)
    broken["value"] = "abcd"
    with pytest.raises(InputError, match="32 bytes"):
        EssentialShare.from_json(json.dumps(broken), what="essential.key")


def test_essential_share_of_wrong_length_is_an_input_error() -> None:
    """An essential share that is not 32 bytes is rejected as bad input."""
    result = _split()
    short = EssentialShare("xray-1", 1, 0, SecretBytes(bytes(31)))
    with pytest.raises(InputError, match="32 bytes"):
        sharing.combine(result.manifest, short, result.custodians)


@settings(max_examples=200, deadline=None)
@given(record_size=st.integers(0, 5000), segment_size=st.integers(1, 700), t=st.integers(1, 9))
def test_fragment_size_is_the_sum_of_its_segments(record_size: int, segment_size: int, t: int) -> None:
    """The closed-form fragment size equals the segment-by-segment sum it replaced."""
    manifest = Manifest("r", 1, 0, t, t, record_size, segment_size, "0" * 64, ("0" * 64,) * t,
                        ("0" * 64,) * t)
    assert manifest.fragment_size == sum(manifest.segment_piece_size(i)
                                         for i in range(manifest.segment_count))


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("record_size", 10**15, "record_size: expected 0 to"),
    ("record_size", True, "record_size: expected an integer, got bool"),
    ("segment_size", 2.5, "segment_size: expected an integer, got float"),
    ("version", -1, "version: expected an integer from 0"),
    ("key_check", "zz", "key_check: expected 64 lower-case hex digits"),
    ("share_digests", ["x"] * 3, "share_digests[0]: expected 64 lower-case hex digits"),
    ("fragment_digests", ["0" * 64], "fragment_digests: expected 3 digests"),
])
def test_manifest_fields_are_checked_before_use(field: str, value: object, expected: str) -> None:
    """Each manifest field's type and range is checked, the error naming the field."""
    data = {"schema": "pmrsim.sharing.manifest/1", "record_id": "r", "version": 1, "key_epoch": 0,
            "t": 2, "n": 3, "record_size": 10, "segment_size": 4, "key_check": "0" * 64,
            "fragment_digests": ["0" * 64] * 3, "share_digests": ["0" * 64] * 3, field: value}
    with pytest.raises(InputError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        Manifest.from_json(json.dumps(data), what="m.json")


def test_deeply_nested_manifest_json_is_an_input_error() -> None:
    """JSON nested past the parser's recursion limit is refused as input, not a crash."""
    with pytest.raises(InputError, match="nested too deep"):
        Manifest.from_json("[" * 200_000 + "]" * 200_000, what="m.json")


def test_nesting_is_refused_before_the_parser_whatever_the_recursion_limit() -> None:
    """Deep JSON is refused before json.loads runs even when the recursion limit is high (py-evm
    raises it to 12,288), where the C parser could overflow the stack; brackets in strings do
    not count."""
    import sys

    from sim.privacy.material import too_deep

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)
    try:
        with pytest.raises(InputError, match="nested too deep"):
            Manifest.from_json("[" * 100_000 + "]" * 100_000, what="m.json")
    finally:
        sys.setrecursionlimit(limit)
    assert not too_deep('{"a": "' + "[" * 100 + '", "b": [[1]]}')
    assert too_deep("[" * 33) and not too_deep("[" * 32)
