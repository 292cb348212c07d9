"""Balanced layout: the streaming builder matches Kubo's recursive algorithm at every shape."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from storage_sim import DAG_PB, Cid, ImportParams, MemoryBlockstore, import_bytes
from storage_sim.dagpb import PBLink, decode_node, encode_node, encode_unixfs_file


def _kubo_balanced(data: bytes, chunk: int, width: int) -> Cid:
    """A direct transcription of boxo's balanced ``Layout``/``fillNodeRec`` (v0, dag-pb leaves)."""
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    pos = 0

    def leaf() -> tuple[Cid, int, int]:
        nonlocal pos
        piece = chunks[pos]
        pos += 1
        block = encode_node([], encode_unixfs_file(piece, len(piece)))
        return Cid(0, DAG_PB, hashlib.sha256(block).digest()), len(block), len(piece)

    def node(children: list[tuple[Cid, int, int]]) -> tuple[Cid, int, int]:
        sizes = [c[2] for c in children]
        block = encode_node(
            [PBLink(c[0], c[1]) for c in children], encode_unixfs_file(None, sum(sizes), sizes)
        )
        tsize = len(block) + sum(c[1] for c in children)
        return Cid(0, DAG_PB, hashlib.sha256(block).digest()), tsize, sum(sizes)

    def fill(children: list[tuple[Cid, int, int]], depth: int) -> tuple[Cid, int, int]:
        while len(children) < width and pos < len(chunks):
            children.append(leaf() if depth == 1 else fill([], depth - 1))
        return node(children)

    root = leaf()
    depth = 1
    while pos < len(chunks):
        root = fill([root], depth)
        depth += 1
    return root[0]


def _depth(store: MemoryBlockstore, cid: Cid) -> int:
    links = decode_node(store.get(cid)).links
    return 0 if not links else 1 + _depth(store, links[0].cid)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=1, max_value=400),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=2, max_value=5),
)
def test_streaming_builder_equals_recursive_layout(size: int, chunk: int, width: int) -> None:
    """For any size, chunk size and fan-out, the streaming builder's root equals Kubo's."""
    data = bytes(range(256)) * 2
    data = data[:size]
    params = ImportParams(chunk_size=chunk, max_links=width)
    assert import_bytes(data, None, params).cid == _kubo_balanced(data, chunk, width)


def test_fanout_174_squared_plus_one_adds_a_level() -> None:
    """174*174 chunks fit in two levels; one more chunk makes a third, as a one-link chain."""
    chunk = 1
    full = bytes(174 * 174)
    store = MemoryBlockstore()
    params = ImportParams(chunk_size=chunk)
    two = import_bytes(full, store, params).cid
    assert _depth(store, two) == 2
    assert len(decode_node(store.get(two)).links) == 174
    three = import_bytes(full + b"\x01", store, params).cid
    assert _depth(store, three) == 3
    top = decode_node(store.get(three)).links
    assert next(link.cid for link in top) == two and len(top) == 2
    chain = decode_node(store.get(top[1].cid)).links
    assert len(chain) == 1 and len(decode_node(store.get(chain[0].cid)).links) == 1
    assert three == _kubo_balanced(full + b"\x01", chunk, 174)


def test_175_chunks_make_two_level_root() -> None:
    """175 chunks: a root over a full 174-leaf node and a one-leaf node."""
    store = MemoryBlockstore()
    root = import_bytes(bytes(range(175)), store, ImportParams(chunk_size=1)).cid
    links = decode_node(store.get(root)).links
    assert len(links) == 2
    assert len(decode_node(store.get(links[0].cid)).links) == 174
    assert len(decode_node(store.get(links[1].cid)).links) == 1
