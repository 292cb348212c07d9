"""The pack file gives back every blob it was given, before and after its write-behind flushes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_sim import pack
from storage_sim.pack import PackFile


@settings(max_examples=60, deadline=None)
@given(blobs=st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=40),
       flush_at=st.integers(min_value=1, max_value=700))
def test_blobs_read_back_across_flushes(tmp_path_factory: pytest.TempPathFactory,
                                        blobs: list[bytes], flush_at: int) -> None:
    """Whatever the write-behind size, handles and offsets read back the blobs appended."""
    path = tmp_path_factory.mktemp("pack") / "p.pack"
    saved = pack._WRITE_BEHIND
    pack._WRITE_BEHIND = flush_at
    try:
        f = PackFile(path)
        handles = [f.put(blob) for blob in blobs]
        assert [f.get(h) for h in handles] == blobs  # some in memory, some on disk
        assert [PackFile.length(h) for h in handles] == [len(b) for b in blobs]
        f.close()
        assert path.read_bytes() == b"".join(blobs)  # close writes the rest
    finally:
        pack._WRITE_BEHIND = saved


def test_closed_pack_refuses(tmp_path: Path) -> None:
    """A closed pack file says so instead of reading a stale descriptor."""
    f = PackFile(tmp_path / "p.pack")
    handle = f.put(b"abc")
    f.close()
    with pytest.raises(ValueError, match="closed"):
        f.get(handle)
