"""CIDs: binary and string forms, parsing, and agreement with the multiformats library."""

from __future__ import annotations

import copy
import hashlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multiformats import CID, multihash

from storage_sim import DAG_PB, RAW, Cid, IntegrityError, InvalidCidError
from storage_sim.multibase import b32decode_lower, b32encode_lower, b58decode, b58encode

HELLO_V0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
HELLO_V1 = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


def test_parse_round_trips_v0_and_v1() -> None:
    """Parsing a CID string and printing it gives the same string, for v0 and v1."""
    assert str(Cid.parse(HELLO_V0)) == HELLO_V0
    assert str(Cid.parse(HELLO_V1)) == HELLO_V1
    assert Cid.parse(HELLO_V1).codec == RAW
    assert Cid.parse(HELLO_V0).codec == DAG_PB


def test_raw_cid_is_sha256_of_the_bytes() -> None:
    """A raw CIDv1 carries the sha2-256 digest of the block itself."""
    assert Cid.parse(HELLO_V1).digest == hashlib.sha256(b"hello world").digest()


def test_base58_v1_form_parses() -> None:
    """A base58btc CIDv1 (``z...``, as printed by old go-ipfs) parses to the same CID."""
    z = Cid.parse("zb2rhj7crUKTQYRGCRATFaQ6YFLTde2YzdqbbhAASkL9uRDXn")
    assert z == Cid.parse(HELLO_V1)


@given(st.binary(min_size=32, max_size=32), st.sampled_from([DAG_PB, RAW]))
def test_strings_agree_with_multiformats(digest: bytes, codec: int) -> None:
    """Our hand-rolled base58btc/base32 strings equal multiformats' for any digest."""
    mh = multihash.wrap(digest, "sha2-256")
    name = "dag-pb" if codec == DAG_PB else "raw"
    v1 = Cid(1, codec, digest)
    assert str(v1) == str(CID("base32", 1, name, mh))
    assert bytes(v1) == bytes(CID("base32", 1, name, mh))
    if codec == DAG_PB:
        v0 = Cid(0, DAG_PB, digest)
        assert str(v0) == str(CID("base58btc", 0, "dag-pb", mh))
        assert Cid.from_bytes(v0.binary) == v0


@given(st.binary(max_size=64))
def test_multibase_round_trip(data: bytes) -> None:
    """base58btc and base32 decode what they encode, leading zero bytes included."""
    assert b58decode(b58encode(data)) == data
    assert b32decode_lower(b32encode_lower(data)) == data


@pytest.mark.parametrize(
    "text",
    ["", "hello", "Qm" + "0" * 44, "bafy!!", "zzz", "f01551220"],
)
def test_bad_strings_are_rejected(text: str) -> None:
    """Malformed or unsupported CID strings raise InvalidCidError."""
    with pytest.raises(InvalidCidError):
        Cid.parse(text)


def test_unsupported_forms_are_rejected() -> None:
    """CIDv0 cannot name raw blocks; other versions, codecs and digest sizes are refused."""
    with pytest.raises(InvalidCidError):
        Cid(0, RAW, bytes(32))
    with pytest.raises(InvalidCidError):
        Cid(2, DAG_PB, bytes(32))
    with pytest.raises(InvalidCidError):
        Cid(1, 0x71, bytes(32))
    with pytest.raises(InvalidCidError):
        Cid(1, RAW, bytes(31))


def test_verify_names_the_cid() -> None:
    """Verifying wrong bytes raises IntegrityError naming the CID."""
    cid = Cid.parse(HELLO_V1)
    cid.verify(b"hello world")
    with pytest.raises(IntegrityError, match=HELLO_V1):
        cid.verify(b"hello world!")


def test_cids_are_values() -> None:
    """Equal CIDs hash equal and are immutable; v0 and v1 of one block differ."""
    a, b = Cid.parse(HELLO_V0), Cid.parse(HELLO_V0)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.to_v1() != a and a.to_v1().digest == a.digest
    with pytest.raises(AttributeError):
        a.version = 1


@given(st.binary(min_size=32, max_size=32), st.sampled_from([(0, DAG_PB), (1, DAG_PB), (1, RAW)]))
def test_cids_pickle_and_copy_as_values(digest: bytes, form: tuple[int, int]) -> None:
    """A CID survives pickle and deepcopy (for worker processes) as the same value."""
    cid = Cid(form[0], form[1], digest)
    text = str(cid)
    for other in (pickle.loads(pickle.dumps(cid)), copy.deepcopy(cid)):
        assert other == cid and hash(other) == hash(cid) and str(other) == text
        assert Cid.parse(str(other)) == cid
