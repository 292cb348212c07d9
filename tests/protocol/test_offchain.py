"""Off-chain object stores: memory and pack file keep and verify sealed objects alike."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sim.errors import IntegrityError
from sim.protocol.offchain import MemoryStore, PackStore, Sealer


@pytest.fixture(params=["memory", "pack"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryStore | PackStore:
    """Each object store kind, empty."""
    return MemoryStore() if request.param == "memory" else PackStore(tmp_path / "objects.pack")


def test_sealed_objects_round_trip(store: MemoryStore | PackStore) -> None:
    """A sealed record opens to its plaintext; the same bytes are stored once."""
    sealer = Sealer(store, random.Random(1))
    sealed = [sealer.seal(f"record {i}".encode() * 50, aad=b"pmr") for i in range(20)]
    assert [sealer.open(s, aad=b"pmr") for s in sealed] == [f"record {i}".encode() * 50
                                                           for i in range(20)]
    assert store.put(b"same") == store.put(b"same") and len(store) == 21


def test_missing_object_is_an_integrity_error(store: MemoryStore | PackStore) -> None:
    """Asking for a digest that was never stored raises IntegrityError naming its CID."""
    with pytest.raises(IntegrityError, match="missing or altered"):
        store.get(bytes(32))


def test_altered_pack_bytes_are_detected(tmp_path: Path) -> None:
    """A byte changed in the pack file on disk makes get() fail rather than return it."""
    store = PackStore(tmp_path / "objects.pack")
    digest = store.put(b"x" * 100)
    store.flush()
    with (tmp_path / "objects.pack").open("r+b") as fh:
        fh.seek(10)
        fh.write(b"y")
    with pytest.raises(IntegrityError):
        store.get(digest)
