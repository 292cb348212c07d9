"""Blockstores: memory and on-disk stores keep blocks, sizes and deletions consistently."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_sim import (
    BlockNotFoundError,
    Blockstore,
    FileBlockstore,
    MemoryBlockstore,
    PackBlockstore,
    export_bytes,
    import_bytes,
)
from storage_sim.unixfs import ImportParams


@pytest.fixture(params=["memory", "file", "pack"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Blockstore:
    """Each blockstore kind, empty."""
    if request.param == "pack":
        return PackBlockstore(tmp_path / "bs.pack")
    return MemoryBlockstore() if request.param == "memory" else FileBlockstore(tmp_path / "bs")


def test_put_get_delete_and_size(store: Blockstore) -> None:
    """Blocks come back as stored; size_bytes follows puts and deletes."""
    result = import_bytes(b"a" * 500 + b"b" * 500, store, ImportParams(chunk_size=100))
    assert export_bytes(result.cid, store.get) == b"a" * 500 + b"b" * 500
    total = store.size_bytes
    assert total == sum(len(store.get(c)) for c in store.cids())
    assert store.has(result.cid) and result.cid in store
    freed = store.delete(result.cid)
    assert freed > 0 and store.size_bytes == total - freed and not store.has(result.cid)
    assert store.delete(result.cid) == 0
    with pytest.raises(BlockNotFoundError):
        store.get(result.cid)


def test_file_store_survives_reopen(tmp_path: Path) -> None:
    """An on-disk store reopened on the same directory still holds its blocks and size."""
    first = FileBlockstore(tmp_path / "node")
    root = import_bytes(b"persist me" * 100, first, ImportParams(chunk_size=64)).cid
    again = FileBlockstore(tmp_path / "node")
    assert again.size_bytes == first.size_bytes
    assert sorted(again.cids()) == sorted(first.cids())
    assert export_bytes(root, again.get) == b"persist me" * 100


@given(st.lists(st.tuples(st.sampled_from(["put", "delete"]), st.integers(0, 7),
                          st.binary(max_size=64)), max_size=40))
@settings(max_examples=60, deadline=None)
def test_pack_store_behaves_like_the_memory_store(ops: list[tuple[str, int, bytes]]) -> None:
    """Any sequence of puts and deletes leaves a pack store equal to a memory store, order included."""
    import tempfile

    from storage_sim import Cid

    cids = [Cid.of_block(bytes([i]), version=1, codec=0x55) for i in range(8)]
    with tempfile.TemporaryDirectory() as tmp:
        pack, memory = PackBlockstore(Path(tmp) / "p.pack"), MemoryBlockstore()
        for op, i, data in ops:
            if op == "put":
                pack.put(cids[i], data)
                memory.put(cids[i], data)
            else:
                assert pack.delete(cids[i]) == memory.delete(cids[i])
        assert list(pack.cids()) == list(memory.cids())
        assert [pack.get(c) for c in pack.cids()] == [memory.get(c) for c in memory.cids()]
        assert pack.size_bytes == memory.size_bytes and len(pack) == len(memory)
        pack.close()
