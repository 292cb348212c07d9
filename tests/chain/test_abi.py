"""ABI helpers: entry lookup by arity, selectors, log decoding."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from sim.chain.abi import decode_log, decode_output, encode_call, event_topic0, find_entry, selector
from sim.errors import InputError

ABI = [
    {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"}],
     "outputs": [{"name": "", "type": "uint256"}]},
    {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"},
                                                 {"name": "b", "type": "bool"}], "outputs": []},
    {"type": "event", "name": "E", "anonymous": False, "inputs": [
        {"name": "who", "type": "address", "indexed": True},
        {"name": "tag", "type": "string", "indexed": True},
        {"name": "v", "type": "uint256", "indexed": False}]},
]


def test_find_entry_picks_by_argument_count() -> None:
    """Same-named entries (Vyper default args) are told apart by arity."""
    assert len(find_entry(ABI, "function", "f", 2)["inputs"]) == 2
    assert selector(find_entry(ABI, "function", "f", 1)) == keccak(b"f(uint256)")[:4]
    with pytest.raises(InputError, match="known"):
        find_entry(ABI, "function", "g", 0)


def test_encode_and_decode_round_trip() -> None:
    """Calldata is selector + args; a single output decodes to a bare value."""
    entry = find_entry(ABI, "function", "f", 1)
    assert encode_call(entry, [7]) == keccak(b"f(uint256)")[:4] + encode(["uint256"], [7])
    assert decode_output(entry, encode(["uint256"], [9])) == 9


def test_decode_log_with_indexed_string() -> None:
    """Indexed dynamic values come back as their topic hash, others decoded."""
    event = find_entry(ABI, "event", "E")
    topics = [event_topic0(event), b"\x00" * 12 + b"\x11" * 20, keccak(b"hi")]
    out = decode_log(event, topics, encode(["uint256"], [5]))
    assert out == {"who": "0x" + "11" * 20, "tag": keccak(b"hi"), "v": 5}
    assert event_topic0(event) == keccak(b"E(address,string,uint256)")


def test_fast_log_decoding_equals_eth_abi() -> None:
    """Every pmrsim event, decoded word by word, gives exactly what eth_abi gives."""
    import random

    from eth_abi import encode

    from sim.chain import abi
    from sim.contracts import load_artifacts

    rng = random.Random(7)
    checked = 0
    for art in load_artifacts().values():
        for entry in art.abi:
            if entry.get("type") != "event" or abi._fast_decoder(entry) is None:
                continue
            for _ in range(20):
                values: list[object] = []
                for p in entry["inputs"]:
                    t = abi.canonical_type(p)
                    if t.startswith("uint"):
                        values.append(rng.randrange(2 ** int(t[4:] or 256)))
                    elif t.startswith("int"):
                        bits = int(t[3:] or 256)
                        values.append(rng.randrange(-(2 ** (bits - 1)), 2 ** (bits - 1)))
                    elif t == "address":
                        values.append("0x" + rng.randbytes(20).hex())
                    elif t == "bool":
                        values.append(rng.random() < 0.5)
                    else:
                        values.append(rng.randbytes(int(t[5:])))
                pairs = list(zip(entry["inputs"], values, strict=True))
                topics = [abi.event_topic0(entry)] + [
                    encode([abi.canonical_type(p)], [v]) for p, v in pairs if p.get("indexed")]
                plain = [(p, v) for p, v in pairs if not p.get("indexed")]
                data = encode([abi.canonical_type(p) for p, _ in plain], [v for _, v in plain])
                reference = {p["name"]: v for p, v in pairs}
                reference = {k: (v.lower() if isinstance(v, str) else v) for k, v in reference.items()}
                assert abi.decode_log(entry, topics, data) == reference
                checked += 1
    assert checked > 500


_STATIC = st.sampled_from(["uint256", "uint64", "uint8", "int256", "int128", "address", "bool",
                           "bytes32", "bytes4"])


def _value(typ: str) -> st.SearchStrategy[object]:
    if typ.startswith("uint"):
        return st.integers(-3, 2 ** int(typ[4:]) + 3)
    if typ.startswith("int"):
        bits = int(typ[3:])
        return st.integers(-(2 ** (bits - 1)) - 3, 2 ** (bits - 1) + 3)
    if typ == "address":
        return st.one_of(st.binary(min_size=20, max_size=20), st.binary(max_size=22))
    if typ == "bool":
        return st.one_of(st.booleans(), st.integers(0, 1))
    return st.binary(max_size=int(typ[5:]) + 2)


@given(st.lists(_STATIC, min_size=1, max_size=5).flatmap(
    lambda types: st.tuples(st.just(types), st.tuples(*[_value(t) for t in types]))))
def test_static_encoder_is_eth_abi_or_declines(case: tuple[list[str], tuple[object, ...]]) -> None:
    """The fast static encoder gives eth_abi's bytes, or None where eth_abi would differ or refuse."""
    from sim.chain.abi import static_encoder

    types, values = case
    fast = static_encoder(types)(values)
    if fast is not None:
        assert fast == encode(types, list(values))


_DECODABLE = st.sampled_from(["uint256", "uint64", "uint8", "address", "bool", "bytes32",
                              "bytes4"])


def _word(typ: str) -> st.SearchStrategy[bytes]:
    """A 32-byte word: mostly a valid encoding of ``typ``, sometimes one eth_abi refuses."""
    valid = _value(typ).filter(lambda v: static_encoder_ok(typ, v)).map(
        lambda v: encode([typ], [v]))
    return st.one_of(valid, st.binary(min_size=32, max_size=32),
                     st.integers(0, 2**256 - 1).map(lambda n: n.to_bytes(32, "big")))


def static_encoder_ok(typ: str, value: object) -> bool:
    """Whether eth_abi encodes ``value`` as ``typ``."""
    try:
        encode([typ], [value])
    except Exception:
        return False
    return True


@given(st.lists(_DECODABLE, min_size=0, max_size=4).flatmap(
    lambda types: st.tuples(st.just(types), st.tuples(*[_word(t) for t in types]),
                            st.integers(-1, 1))))
def test_static_decoder_is_eth_abi_or_declines(
        case: tuple[list[str], tuple[bytes, ...], int]) -> None:
    """The fast output decoder gives eth_abi's values, and declines what eth_abi refuses or
    what is not exactly one word per value."""
    from eth_abi import decode
    from eth_abi.exceptions import DecodingError

    from sim.chain.abi import static_decoder

    types, words, cut = case
    data = b"".join(words) + (b"\x00" * 32 if cut > 0 else b"")
    if cut < 0:
        data = data[:-1]
    fast = static_decoder(types)(data)
    try:
        reference: tuple[object, ...] | None = tuple(decode(types, data))
    except (DecodingError, ValueError, OverflowError):
        reference = None
    if fast is not None:
        assert fast == reference
    elif cut == 0 and reference is not None:
        # one word per value, accepted by eth_abi: the fast path takes it too
        raise AssertionError(f"declined {types} {data.hex()} which eth_abi reads as {reference}")


def test_static_decoder_only_for_simple_static_types() -> None:
    """Dynamic and signed outputs go to eth_abi (the decoder is None)."""
    from sim.chain.abi import static_decoder

    assert static_decoder(["string"]) is None
    assert static_decoder(["uint256", "int128"]) is None
    assert static_decoder(["uint256[]"]) is None
