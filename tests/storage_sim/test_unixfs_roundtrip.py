"""UnixFS export: any imported file comes back byte for byte, and tampering is always caught."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_sim import (
    DagFormatError,
    ImportParams,
    IntegrityError,
    MemoryBlockstore,
    export_bytes,
    export_to,
    import_bytes,
    import_stream,
)
from storage_sim.cid import DAG_PB, Cid
from storage_sim.dagpb import PBLink, encode_node, encode_unixfs_file
from storage_sim.node import corrupt
from storage_sim.unixfs import child_cids

params_strategy = st.builds(
    ImportParams,
    cid_version=st.sampled_from([0, 1]),
    chunk_size=st.integers(min_value=1, max_value=64),
    max_links=st.integers(min_value=2, max_value=6),
)


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=2000), params_strategy)
def test_import_export_round_trip(data: bytes, params: ImportParams) -> None:
    """Exporting an imported DAG (multi-level with small chunks) returns the same bytes."""
    store = MemoryBlockstore()
    result = import_bytes(data, store, params)
    assert result.size == len(data)
    assert export_bytes(result.cid, store.get) == data


@settings(max_examples=80, deadline=None)
@given(st.binary(min_size=1, max_size=600), params_strategy, st.randoms(use_true_random=False))
def test_a_corrupted_block_is_always_detected(
    data: bytes, params: ImportParams, rnd: random.Random
) -> None:
    """Flipping any bit of any block makes export fail with IntegrityError naming that block."""
    store = MemoryBlockstore()
    root = import_bytes(data, store, params).cid
    victim = rnd.choice(sorted(store.cids()))
    store.put(victim, corrupt(store.get(victim), rnd))
    with pytest.raises(IntegrityError) as info:
        export_bytes(root, store.get)
    assert info.value.cid == victim and str(victim) in str(info.value)


class _Trickle(io.RawIOBase):
    """A stream that returns at most 7 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self.buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.buf.read(min(size if size >= 0 else 7, 7))


def test_short_reads_do_not_change_the_cid() -> None:
    """Chunks are filled completely even when the stream returns short reads (io.ReadFull)."""
    data = bytes(range(256)) * 40
    params = ImportParams(chunk_size=1000)
    assert import_stream(_Trickle(data), None, params).cid == import_bytes(data, None, params).cid


def test_export_to_stream() -> None:
    """export_to writes the file to a binary stream and returns its length."""
    store = MemoryBlockstore()
    root = import_bytes(b"abc" * 1000, store, ImportParams(chunk_size=100)).cid
    out = io.BytesIO()
    assert export_to(root, store.get, out) == 3000 and out.getvalue() == b"abc" * 1000


def test_null_sink_counts_blocks_without_storing() -> None:
    """With no sink the importer still reports the block count and DAG size."""
    stored = MemoryBlockstore()
    a = import_bytes(b"x" * 1000, stored, ImportParams(chunk_size=100, max_links=3))
    b = import_bytes(b"x" * 1000, None, ImportParams(chunk_size=100, max_links=3))
    assert a == b and a.blocks == 10 + 4 + 2 + 1

    def tree_bytes(cid: Cid) -> int:
        block = stored.get(cid)
        return len(block) + sum(tree_bytes(child) for child in child_cids(cid, block))

    assert a.dag_size == tree_bytes(a.cid)


def test_inconsistent_sizes_are_rejected() -> None:
    """A parent whose blocksizes disagree with its children is a DagFormatError."""
    store = MemoryBlockstore()
    leaf = import_bytes(b"abcd", store).cid
    bad = encode_node([PBLink(leaf, 14)], encode_unixfs_file(None, 5, [5]))
    root = Cid.of_block(bad, version=0, codec=DAG_PB)
    store.put(root, bad)
    with pytest.raises(DagFormatError):
        export_bytes(root, store.get)
