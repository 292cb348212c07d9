"""CARv1: export a DAG, import it back verified; malformed archives are named and located."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_sim import (
    CarFormatError,
    Cid,
    ImportParams,
    MemoryBlockstore,
    export_bytes,
    export_car,
    import_bytes,
    import_car,
    read_car,
)
from storage_sim.car import decode_header, encode_header
from storage_sim.varint import encode_uvarint


def _car_of(data: bytes, params: ImportParams | None = None) -> tuple[Cid, bytes]:
    store = MemoryBlockstore()
    root = import_bytes(data, store, params).cid
    out = io.BytesIO()
    export_car(root, store.get, out)
    return root, out.getvalue()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=1500), st.sampled_from([0, 1]), st.integers(1, 64))
def test_car_round_trip(data: bytes, version: int, chunk: int) -> None:
    """A DAG exported to a CAR and imported elsewhere exports to the same bytes."""
    params = ImportParams(cid_version=version, chunk_size=chunk, max_links=4)
    root, car = _car_of(data, params)
    target = MemoryBlockstore()
    assert import_car(io.BytesIO(car), target) == [root]
    assert export_bytes(root, target.get) == data


def test_header_is_canonical_dag_cbor() -> None:
    """The header is {"roots": [tag42(0x00 + cid)], "version": 1} in canonical dag-cbor."""
    root = Cid.parse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")
    header = encode_header([root])
    expected = (
        bytes.fromhex("a2") + b"\x65roots" + bytes.fromhex("81d82a5825") + b"\x00" + root.binary
        + b"\x67version" + b"\x01"
    )  # fmt: skip
    assert header == expected
    assert decode_header(header) == [root]


def test_hello_world_car_layout() -> None:
    """A one-block CAR is varint(header), header, varint(cid+data), cid, data."""
    root, car = _car_of(b"hello world", ImportParams(cid_version=1))
    header = encode_header([root])
    section = root.binary + b"hello world"
    assert car == encode_uvarint(len(header)) + header + encode_uvarint(len(section)) + section


def test_blocks_are_written_once_depth_first() -> None:
    """Blocks appear once each, root first, in depth-first order, duplicates skipped."""
    root, car = _car_of(bytes(1000), ImportParams(chunk_size=100, max_links=3))
    roots, blocks = read_car(io.BytesIO(car))
    cids = [cid for cid, _ in blocks]
    assert roots == [root] and cids[0] == root and len(cids) == len(set(cids))


def test_tampered_block_names_file_and_offset() -> None:
    """A block whose bytes do not match its CID is refused with the file name and offset."""
    _root, car = _car_of(b"hello world" * 10)
    bad = car[:-1] + bytes([car[-1] ^ 1])
    with pytest.raises(CarFormatError, match=r"records\.car: offset \d+: block Qm"):
        import_car(io.BytesIO(bad), MemoryBlockstore(), "records.car")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda car: b"", "header length: missing"),
        (lambda car: car[:5], r"header length \d+ but only 4 bytes follow"),
        (lambda car: car[:-3], r"block section length \d+ but only \d+ bytes follow"),
        (lambda car: car + b"\x80", "stream ends inside a varint"),
        (lambda car: car + b"\x00", "bad block section length 0"),
        (lambda car: car.replace(b"version\x01", b"version\x02"), "unsupported CAR version 2"),
    ],
)
def test_malformed_cars_are_refused(mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    """Truncated or malformed CARs raise CarFormatError naming the problem."""
    _root, car = _car_of(b"some record")
    with pytest.raises(CarFormatError, match=message):
        import_car(io.BytesIO(mangle(car)), MemoryBlockstore(), "x.car")


class _Pipe(io.RawIOBase):
    """A readable stream over bytes that cannot seek (as a pipe or a socket)."""

    def __init__(self, data: bytes) -> None:
        """Serve ``data``."""
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        """It can be read."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the data."""
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_truncated_section_of_an_unseekable_stream_is_refused() -> None:
    """Without a length to check against up front, a truncated section still fails as truncated."""
    header = encode_header([Cid.parse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e")])
    data = encode_uvarint(len(header)) + header + encode_uvarint(100) + b"\x01"
    with pytest.raises(CarFormatError, match="block section truncated"):
        import_car(io.BufferedReader(_Pipe(data)), MemoryBlockstore(), "pipe.car")


@pytest.mark.parametrize(("header", "message"), [
    (b"\x81" * 8 + b"\x01", "nested deeper than 4"),
    (b"\xa1\x01\x01", "key is not a text string"),
    (b"\xa2\x67version\x01\x67version\x01", "given twice"),
    (b"\x9b" + b"\xff" * 8, "items in"),
    (b"\xbb" + b"\x7f" + b"\xff" * 7, "items in"),
])
def test_hostile_headers_are_refused_before_building_them(header: bytes, message: str) -> None:
    """Deep nesting, non-text or repeated keys and absurd item counts in a header are named."""
    with pytest.raises(CarFormatError, match=message):
        read_car(io.BytesIO(encode_uvarint(len(header)) + header), "x.car")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_any_bytes_are_read_or_refused_as_car_format_errors(data: bytes, seekable: bool) -> None:
    """Arbitrary bytes are a CAR or a CarFormatError, never another exception."""
    stream: Any = io.BytesIO(data) if seekable else io.BufferedReader(_Pipe(data))
    try:
        _roots, blocks = read_car(stream, "fuzz.car")
        for _ in blocks:
            pass
    except CarFormatError:
        pass
