"""ABI helpers: selectors, call encoding, output and log decoding, revert reasons.

Works on the JSON ABI the Vyper compiler emits (a list of dict entries).
Struct arguments (``"type": "tuple"`` with ``components``) are supported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError

from sim.errors import InputError
from sim.hashing import keccak256

#: An ABI entry as emitted by the compiler.
AbiEntry = Mapping[str, Any]

#: Selector of ``Error(string)``, the revert payload of ``assert x, "reason"``.
ERROR_SELECTOR = keccak256(b"Error(string)")[:4]
#: Selector of ``Panic(uint256)`` (Solidity-style panics; Vyper does not emit them).
PANIC_SELECTOR = keccak256(b"Panic(uint256)")[:4]


def canonical_type(param: AbiEntry) -> str:
    """The canonical type string of one ABI parameter (tuples expanded)."""
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param.get("components", ()))
        return f"({inner}){typ[len('tuple'):]}"
    return typ


def input_types(entry: AbiEntry) -> list[str]:
    """Canonical types of an entry's inputs."""
    return [canonical_type(p) for p in entry.get("inputs", ())]


def output_types(entry: AbiEntry) -> list[str]:
    """Canonical types of a function's outputs."""
    return [canonical_type(p) for p in entry.get("outputs", ())]


def signature(entry: AbiEntry) -> str:
    """The text signature, e.g. ``transfer(address,uint256)``."""
    return f"{entry['name']}({','.join(input_types(entry))})"


def selector(entry: AbiEntry) -> bytes:
    """The 4-byte function selector of ``entry``."""
    return keccak256(signature(entry).encode())[:4]


def event_topic0(entry: AbiEntry) -> bytes:
    """The first topic (keccak of the signature) of an event entry."""
    return keccak256(signature(entry).encode())


def find_entry(
    abi: Sequence[AbiEntry], kind: str, name: str, n_args: int | None = None
) -> AbiEntry:
    """The ``kind`` (``function``/``event``) entry called ``name``.

    When several entries share the name (Vyper default arguments), the one
    with ``n_args`` inputs is chosen.
    """
    matches = [e for e in abi if e.get("type") == kind and e.get("name") == name]
    if n_args is not None and len(matches) > 1:
        matches = [e for e in matches if len(e.get("inputs", ())) == n_args]
    if not matches:
        known = sorted({str(e["name"]) for e in abi if e.get("type") == kind})
        raise InputError(f"no {kind} {name!r} with {n_args} arguments in ABI; known: {known}")
    return matches[0]


def encode_args(entry: AbiEntry, args: Sequence[Any]) -> bytes:
    """ABI-encode ``args`` for ``entry``'s inputs (no selector)."""
    types = input_types(entry)
    if len(args) != len(types):
        raise InputError(f"{signature(entry)} takes {len(types)} arguments, got {len(args)}")
    return bytes(encode(types, list(args)))


def encode_call(entry: AbiEntry, args: Sequence[Any]) -> bytes:
    """Calldata for calling function ``entry`` with ``args``."""
    return selector(entry) + encode_args(entry, args)


def decode_output(entry: AbiEntry, data: bytes) -> Any:
    """Decode a function's return data: one value, a tuple of values, or None."""
    types = output_types(entry)
    if not types:
        return None
    values = decode(types, data)
    return values[0] if len(values) == 1 else tuple(values)


def _static_word(typ: str) -> Any:
    """A decoder of one 32-byte word of static type ``typ`` (None if not a simple static type)."""
    if typ.startswith("uint"):
        return lambda w: int.from_bytes(w, "big")
    if typ.startswith("int"):
        return lambda w: int.from_bytes(w, "big", signed=True)
    if typ == "address":
        return lambda w: "0x" + w[12:].hex()
    if typ == "bool":
        return lambda w: w != bytes(32)
    if typ.startswith("bytes") and typ[5:].isdigit():
        size = int(typ[5:])
        return lambda w: bytes(w[:size])
    return None


def _strict_word(typ: str) -> Any:
    """A decoder of one 32-byte word of simple static type ``typ`` that eth_abi would accept.

    Returns None for other types; the decoder returns :data:`_REFUSED` for a
    word eth_abi would refuse (bad padding, a bool other than 0 or 1), which
    the caller then hands to eth_abi for its error.
    """
    if typ.startswith("uint") and typ[4:].isdigit():
        bound = 1 << int(typ[4:])

        def uint(w: bytes) -> Any:
            v = int.from_bytes(w, "big")
            return v if v < bound else _REFUSED
        return uint
    if typ == "address":
        return lambda w: "0x" + w[12:].hex() if not any(w[:12]) else _REFUSED
    if typ == "bool":
        return lambda w: (w[31] == 1) if not any(w[:31]) and w[31] < 2 else _REFUSED
    if typ.startswith("bytes") and typ[5:].isdigit():
        size = int(typ[5:])
        return lambda w: bytes(w[:size]) if not any(w[size:]) else _REFUSED
    return None


#: What a strict word decoder returns for a word eth_abi would refuse.
_REFUSED = object()


def static_decoder(types: Sequence[str]) -> Any:
    """``decode(data) -> tuple | None`` when every type is a simple static one (uint, address,
    bool, bytesN), else None.

    Gives what eth_abi's ``decode`` gives; returns None for data it would
    refuse or read otherwise (wrong length, bad padding), so the caller can
    let eth_abi decode it, or explain why not.
    """
    words = [_strict_word(t) for t in types]
    if any(w is None for w in words):
        return None
    size = 32 * len(words)

    def decode_static(data: bytes) -> tuple[Any, ...] | None:
        if len(data) != size:
            return None
        values = tuple(w(data[32 * i : 32 * i + 32]) for i, w in enumerate(words))
        return None if _REFUSED in values else values
    return decode_static


def _word_encoder(typ: str) -> Any:
    """An encoder of one value of simple static type ``typ`` into its 32-byte word.

    Returns None for other types; the encoder returns None for a value it
    does not take as is (the caller then lets eth_abi encode, or explain, it).
    """
    if typ.startswith("uint") and typ[4:].isdigit():
        bound = 1 << int(typ[4:])

        def uint(v: Any) -> bytes | None:
            if type(v) is int and 0 <= v < bound:
                return v.to_bytes(32, "big")
            return None
        return uint
    if typ.startswith("int") and typ[3:].isdigit():
        half = 1 << (int(typ[3:]) - 1)

        def sint(v: Any) -> bytes | None:
            if type(v) is int and -half <= v < half:
                return v.to_bytes(32, "big", signed=True)
            return None
        return sint
    if typ == "address":
        def address(v: Any) -> bytes | None:
            if type(v) is bytes and len(v) == 20:
                return bytes(12) + v
            return None
        return address
    if typ == "bool":
        return lambda v: (bytes(31) + (b"\x01" if v else b"\x00")) if type(v) is bool else None
    if typ.startswith("bytes") and typ[5:].isdigit():
        size = int(typ[5:])

        def fixed(v: Any) -> bytes | None:
            if type(v) is bytes and len(v) <= size:
                return v + bytes(32 - len(v))
            return None
        return fixed
    return None


def static_encoder(types: Sequence[str]) -> Any:
    """``encode(values) -> bytes | None`` when every type is a simple static one, else None.

    The encoding is eth_abi's; a value the fast path does not take as is (a
    hex-string address, an out-of-range integer) makes it return None.
    """
    encoders = [_word_encoder(t) for t in types]
    if any(e is None for e in encoders):
        return None

    def encode_static(values: Sequence[Any]) -> bytes | None:
        words = [e(v) for e, v in zip(encoders, values, strict=True)]
        if None in words:
            return None
        return b"".join(words)
    return encode_static


_FAST_EVENTS: dict[int, Any] = {}


def _fast_decoder(entry: AbiEntry) -> Any:
    """(indexed names + decoders, plain names + decoders) when every input is a simple static type."""
    key = id(entry)
    if key not in _FAST_EVENTS:
        inputs = list(entry.get("inputs", ()))
        decoders = [_static_word(canonical_type(p)) for p in inputs]
        if entry.get("anonymous") or any(d is None for d in decoders):
            _FAST_EVENTS[key] = (entry, None)
        else:
            indexed = [(p["name"], d) for p, d in zip(inputs, decoders, strict=True)
                       if p.get("indexed")]
            plain = [(p["name"], d) for p, d in zip(inputs, decoders, strict=True)
                     if not p.get("indexed")]
            order = [p["name"] for p in inputs]
            _FAST_EVENTS[key] = (entry, (indexed, plain, order))
    return _FAST_EVENTS[key][1]


def decode_log(entry: AbiEntry, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
    """Decode one log emitted by event ``entry`` into ``{argument name: value}``.

    Indexed dynamic values (strings, bytes, arrays) appear as their 32-byte hash.
    Events made only of simple static types (all of pmrsim's) are decoded word
    by word, which gives what ``eth_abi`` gives at a fraction of the cost.
    """
    fast = _fast_decoder(entry)
    if fast is not None:
        indexed, plain, order = fast
        if len(topics) - 1 == len(indexed) and len(data) == 32 * len(plain):
            fields = {name: dec(topic)
                      for (name, dec), topic in zip(indexed, topics[1:], strict=True)}
            for i, (name, dec) in enumerate(plain):
                fields[name] = dec(data[32 * i : 32 * i + 32])
            return {name: fields[name] for name in order}
    inputs = list(entry.get("inputs", ()))
    indexed = [p for p in inputs if p.get("indexed")]
    plain = [p for p in inputs if not p.get("indexed")]
    offset = 0 if entry.get("anonymous") else 1
    if len(topics) - offset != len(indexed):
        raise InputError(f"log has {len(topics)} topics, event {signature(entry)} expects "
                         f"{len(indexed) + offset}")
    out: dict[str, Any] = {}
    for param, topic in zip(indexed, topics[offset:], strict=True):
        typ = canonical_type(param)
        if typ in ("string", "bytes") or typ.endswith("]") or typ.startswith("("):
            out[param["name"]] = bytes(topic)
        else:
            out[param["name"]] = decode([typ], topic)[0]
    values = decode([canonical_type(p) for p in plain], data) if plain else ()
    for param, value in zip(plain, values, strict=True):
        out[param["name"]] = value
    return {p["name"]: out[p["name"]] for p in inputs}


def decode_revert_reason(data: bytes) -> str:
    """The human reason in revert data: ``Error(string)`` text, ``Panic(0x..)``, or ``""``."""
    try:
        if data[:4] == ERROR_SELECTOR:
            return str(decode(["string"], data[4:])[0])
        if data[:4] == PANIC_SELECTOR:
            return f"Panic(0x{decode(['uint256'], data[4:])[0]:x})"
    except (DecodingError, ValueError, OverflowError):
        return f"0x{data.hex()}"
    if not data:
        return ""
    return f"0x{data.hex()}"
