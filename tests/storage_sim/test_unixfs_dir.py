"""UnixFS directories: Kubo's CIDs (checked against the js importer), round trips, HAMT shards,
and exports that refuse what could escape their folder."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage_sim import (
    Cid,
    DagFormatError,
    MemoryBlockstore,
    StorageError,
    export_bytes,
    export_path,
    export_tree,
    import_path,
    import_tree,
    list_directory,
    walk_tree,
)
from storage_sim.cid import DAG_PB
from storage_sim.dagpb import PBLink, encode_node, encode_unixfs_directory, encode_unixfs_hamt
from storage_sim.unixfs import ImportParams
from storage_sim.unixfs_dir import HAMT_THRESHOLD, DirEntry, _slot, directory, estimated_size
from tests.storage_sim.kubo_js import KuboJs

#: `ipfs add -r` of an empty folder (Kubo's published empty-directory CID).
EMPTY_DIR = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"


@pytest.fixture(scope="module")
def kubo() -> Iterator[KuboJs]:
    """The js importer set to Kubo's layout, one node process for the module."""
    js = KuboJs()
    try:
        yield js
    finally:
        js.close()


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1,
                max_size=12).filter(lambda n: n not in (".", "..") and not n.endswith("\\"))
# (a name ending in a backslash is left out: the js importer, our reference, reads "\\/" in
# a path as an escaped slash, where Kubo on Linux keeps the backslash as a character)
CONTENT = st.one_of(st.binary(max_size=64), st.integers(0, 600_000).map(
    lambda n: hashlib.shake_256(n.to_bytes(4, "big")).digest(n)))
TREES = st.recursive(st.dictionaries(NAMES, CONTENT, max_size=4),
                     lambda inner: st.dictionaries(NAMES, st.one_of(CONTENT, inner), max_size=4),
                     max_leaves=12)


def test_empty_folder_is_kubos() -> None:
    """An empty folder has Kubo's published CID."""
    assert str(import_tree({}).cid) == EMPTY_DIR


@pytest.mark.parametrize("version", [0, 1])
def test_nested_folders_match_kubos_layout(kubo: KuboJs, version: int) -> None:
    """Nested folders with empty, one-chunk and multi-chunk files, an empty folder and non-ASCII
    names get the CID the js importer computes with Kubo's settings."""
    tree: dict[str, Any] = {
        "readme.txt": b"hello world",
        "empty.bin": b"",
        "scans": {"ct-001.dcm": bytes(range(256)) * 2000, "notes é.txt": b"x" * 262_144,
                  "deeper": {"a": b"a", "b": {}}},
        "reports": {},
    }
    assert str(import_tree(tree, params=ImportParams(cid_version=version)).cid) == kubo.cid(
        tree, version)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(tree=TREES, version=st.sampled_from([0, 1]))
def test_random_trees_match_kubos_layout_and_round_trip(kubo: KuboJs, tree: dict[str, Any],
                                                        version: int) -> None:
    """Any tree gets the js importer's (Kubo's) CID and exports back to itself."""
    store = MemoryBlockstore()
    result = import_tree(tree, store, ImportParams(cid_version=version))
    assert str(result.cid) == kubo.cid(tree, version)
    assert export_tree(result.cid, store.get) == tree


def _many(count: int, name_length: int) -> dict[str, Any]:
    return {f"{i:0{name_length}d}": i.to_bytes(2, "big") for i in range(count)}


@pytest.mark.parametrize("version", [0, 1])
def test_big_folders_are_hamt_sharded_as_kubo_shards_them(kubo: KuboJs, version: int) -> None:
    """Past Kubo's 256 KiB estimate a folder is a HAMT shard with the js importer's CID, and
    lists and exports back whole."""
    tree = _many(4_000, 40)
    entries_size = 4_000 * (40 + (34 if version == 0 else 36))
    assert entries_size >= HAMT_THRESHOLD
    store = MemoryBlockstore()
    result = import_tree(tree, store, ImportParams(cid_version=version))
    assert str(result.cid) == kubo.cid(tree, version)
    block = store.get(result.cid)
    assert b"\x08\x05" in block and len(list_directory(result.cid, store.get)) == 4_000
    assert export_tree(result.cid, store.get) == tree


def test_sharding_starts_exactly_at_the_threshold(kubo: KuboJs) -> None:
    """Kubo shards a folder whose estimate equals the threshold, and not one byte below."""
    tree = _many(200, 10)
    entries = [DirEntry(name, import_tree({}).cid, 4) for name in tree]
    at = estimated_size([DirEntry(n, Cid.parse(EMPTY_DIR), 0) for n in tree])
    store = MemoryBlockstore()
    sharded = import_tree(tree, store, threshold=at)
    basic = import_tree(tree, threshold=at + 1)
    assert sharded.cid != basic.cid
    assert str(sharded.cid) == kubo.cid(tree, 0, threshold=at)
    assert str(basic.cid) == kubo.cid(tree, 0, threshold=at + 1)
    assert directory(entries, ImportParams(), threshold=10**9).cid != directory(
        entries, ImportParams(), threshold=1).cid


def test_import_path_is_ipfs_add_recursive(tmp_path: Path, kubo: KuboJs) -> None:
    """A folder on disk imports as the same tree in memory, hidden entries left out unless
    asked; -w wraps it in a folder named after it."""
    root = tmp_path / "study"
    (root / "series").mkdir(parents=True)
    (root / "series" / "1.dcm").write_bytes(b"\x01" * 300_000)
    (root / "index.json").write_bytes(b"{}")
    (root / ".DS_Store").write_bytes(b"junk")
    tree = {"series": {"1.dcm": b"\x01" * 300_000}, "index.json": b"{}"}
    assert import_path(root).cid == import_tree(tree).cid
    assert str(import_path(root).cid) == kubo.cid(tree)
    assert import_path(root, hidden=True).cid == import_tree({**tree, ".DS_Store": b"junk"}).cid
    assert import_path(root, wrap=True).cid == import_tree({"study": tree}).cid
    single = root / "index.json"
    assert import_path(single, wrap=True).cid == import_tree({"index.json": b"{}"}).cid


def test_import_path_refuses_symbolic_links(tmp_path: Path) -> None:
    """A symbolic link in the folder is refused, naming it (its target is not imported)."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "link").symlink_to("/etc/hostname")
    with pytest.raises(StorageError, match="link: a symbolic link"):
        import_path(tmp_path / "d")


def test_export_path_writes_the_tree(tmp_path: Path) -> None:
    """export_path writes files and folders (empty ones too) and refuses an existing target."""
    tree: dict[str, Any] = {"a": {"b.bin": b"\x00" * 70_000, "e": {}}, "c.txt": b"c"}
    store = MemoryBlockstore()
    root = import_tree(tree, store).cid
    written = export_path(root, store.get, tmp_path / "out")
    assert written == 70_001
    assert (tmp_path / "out" / "a" / "b.bin").read_bytes() == b"\x00" * 70_000
    assert (tmp_path / "out" / "a" / "e").is_dir() and (tmp_path / "out" / "c.txt").read_bytes() == b"c"
    assert [p for p, _, _ in walk_tree(root, store.get)] == ["", "a", "a/b.bin", "a/e", "c.txt"]
    with pytest.raises(StorageError, match="exists"):
        export_path(root, store.get, tmp_path / "out")


def test_exporting_a_folder_as_a_file_says_it_is_a_folder() -> None:
    """export_bytes of a directory root names it a directory and the function to use."""
    store = MemoryBlockstore()
    root = import_tree({"f": b"x"}, store).cid
    with pytest.raises(DagFormatError, match=r"a directory, not a file.*export_tree"):
        export_bytes(root, store.get)


def _crafted_dir(store: MemoryBlockstore, name: str) -> Cid:
    leaf = import_tree({"x": b"pwned"}, store)
    file_cid = list_directory(leaf.cid, store.get)[0].cid
    block = encode_node([PBLink(file_cid, 13, name)], encode_unixfs_directory())
    cid = Cid(0, DAG_PB, hashlib.sha256(block).digest())
    store.put(cid, block)
    return cid


@pytest.mark.parametrize("name", ["../escape", "..", ".", "", "a/b", "nul\0"])
def test_export_refuses_names_that_leave_the_folder(tmp_path: Path, name: str) -> None:
    """A directory naming an entry `..`, `a/b`, `` or with NUL is refused; nothing escapes and
    nothing is left behind."""
    store = MemoryBlockstore()
    root = _crafted_dir(store, name)
    (tmp_path / "out").mkdir()
    with pytest.raises(DagFormatError, match="bad entry name"):
        export_path(root, store.get, tmp_path / "out" / "inner")
    assert list((tmp_path / "out").iterdir()) == [] and sorted(tmp_path.iterdir()) == [
        tmp_path / "out"]


def _shard_block(store: MemoryBlockstore, links: list[PBLink], slots: list[int]) -> Cid:
    bits = sum(1 << slot for slot in slots)
    data = encode_unixfs_hamt(bits.to_bytes((bits.bit_length() + 7) // 8, "big"), 256, 0x22)
    block = encode_node(links, data)
    cid = Cid(0, DAG_PB, hashlib.sha256(block).digest())
    store.put(cid, block)
    return cid


def test_a_shard_entry_in_the_wrong_slot_is_refused() -> None:
    """A HAMT entry filed under a slot its name does not hash to, or a bitfield naming a slot
    with no link, is refused on listing; the honest shard lists."""
    store = MemoryBlockstore()
    file_cid = import_tree({"x": b"data"}, store).cid
    right = _slot(b"scan.dcm", 0)
    wrong = (right + 1) % 256
    honest = _shard_block(store, [PBLink(file_cid, 60, f"{right:02X}scan.dcm")], [right])
    assert [e.name for e in list_directory(honest, store.get)] == ["scan.dcm"]
    misfiled = _shard_block(store, [PBLink(file_cid, 60, f"{wrong:02X}scan.dcm")], [wrong])
    with pytest.raises(DagFormatError, match="its hash says"):
        list_directory(misfiled, store.get)
    extra = _shard_block(store, [PBLink(file_cid, 60, f"{right:02X}scan.dcm")], [right, wrong])
    with pytest.raises(DagFormatError, match="bitfield"):
        list_directory(extra, store.get)
