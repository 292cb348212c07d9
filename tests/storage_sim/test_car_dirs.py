"""CARs of folders and complete archives: pmrsim's against ipfs-car's (3.1.0, from npm)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest

from storage_sim import (
    CarFormatError,
    MemoryBlockstore,
    export_car,
    export_tree,
    import_car,
    import_path,
    import_tree,
    read_car,
    write_car,
)
from storage_sim.unixfs import ImportParams
from tests.tools import NODE_MODULES, require

TREE: dict[str, Any] = {"study": {"ct.dcm": bytes(range(256)) * 3000, "empty": {}},
                        "report.json": b'{"ok": true}', "zero.bin": b""}


def _write(root: Path, tree: dict[str, Any]) -> None:
    root.mkdir()
    for name, value in tree.items():
        if isinstance(value, bytes):
            (root / name).write_bytes(value)
        else:
            _write(root / name, value)


def _ipfs_car(*args: str) -> str:
    require("ipfs-car")
    proc = subprocess.run([str(NODE_MODULES / ".bin" / "ipfs-car"), *args], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-600:]
    return proc.stdout


def _car_of(tree: dict[str, Any]) -> tuple[bytes, Any]:
    store = MemoryBlockstore()
    root = import_tree(tree, store, ImportParams(cid_version=1)).cid
    out = io.BytesIO()
    export_car(root, store.get, out)
    return out.getvalue(), root


def test_ipfs_car_folder_cars_import_and_export(tmp_path: Path) -> None:
    """A CAR ipfs-car packs from a folder imports complete and exports to the same files
    (ipfs-car leaves empty folders out)."""
    tree = {"study": {"ct.dcm": TREE["study"]["ct.dcm"]}, "report.json": TREE["report.json"],
            "zero.bin": b""}
    _write(tmp_path / "in", tree)
    car = tmp_path / "in.car"
    _ipfs_car("pack", str(tmp_path / "in"), "--output", str(car))
    store = MemoryBlockstore()
    with open(car, "rb") as stream:
        roots = import_car(stream, store, str(car))
    assert len(roots) == 1 and export_tree(roots[0], store.get) == tree


@pytest.mark.parametrize("wrap", [True, False])
def test_ipfs_car_file_cars_import_and_export(tmp_path: Path, wrap: bool) -> None:
    """A file ipfs-car packs wrapped in a folder (its default) exports as that folder (the
    root that used to raise "UnixFS type 1 is not a file"); unwrapped, as the file."""
    (tmp_path / "ct.dcm").write_bytes(TREE["study"]["ct.dcm"])
    car = tmp_path / "ct.car"
    _ipfs_car("pack", str(tmp_path / "ct.dcm"), "--output", str(car),
              *([] if wrap else ["--no-wrap"]))
    store = MemoryBlockstore()
    with open(car, "rb") as stream:
        roots = import_car(stream, store, str(car))
    expected = {"ct.dcm": TREE["study"]["ct.dcm"]} if wrap else TREE["study"]["ct.dcm"]
    assert export_tree(roots[0], store.get) == expected


def test_ipfs_car_unpacks_pmrsims_folder_car(tmp_path: Path) -> None:
    """ipfs-car lists and unpacks a folder CAR pmrsim wrote, to the same files."""
    data, root = _car_of(TREE)
    car = tmp_path / "tree.car"
    car.write_bytes(data)
    assert _ipfs_car("roots", str(car)).split() == [str(root)]
    listed = set(_ipfs_car("ls", str(car)).split())
    assert {"./study/ct.dcm", "./report.json", "./zero.bin"} <= listed
    _ipfs_car("unpack", str(car), "--output", str(tmp_path / "out"))
    out = tmp_path / "out"
    assert (out / "study" / "ct.dcm").read_bytes() == TREE["study"]["ct.dcm"]
    assert (out / "report.json").read_bytes() == TREE["report.json"]
    assert (out / "zero.bin").read_bytes() == b"" and (out / "study" / "empty").is_dir()


def test_pmrsim_and_ipfs_car_agree_on_a_hashed_folder(tmp_path: Path) -> None:
    """pmrsim's import of a folder written to disk and back gives the CAR's root again."""
    _write(tmp_path / "in", TREE)
    data, root = _car_of(TREE)
    assert import_path(tmp_path / "in", params=ImportParams(cid_version=1)).cid == root
    store = MemoryBlockstore()
    assert import_car(io.BytesIO(data), store) == [root]
    assert export_tree(root, store.get) == TREE


def test_a_car_missing_a_block_is_refused_and_nothing_kept() -> None:
    """Dropping any one block of a folder CAR makes import fail naming it; the store stays empty."""
    data, root = _car_of(TREE)
    _, blocks = read_car(io.BytesIO(data))
    every = list(blocks)
    assert len(every) > 4
    for dropped in range(len(every)):
        out = io.BytesIO()
        write_car(out, [root], every[:dropped] + every[dropped + 1:])
        store = MemoryBlockstore()
        with pytest.raises(CarFormatError, match=f"incomplete: block {every[dropped][0]}"):
            import_car(io.BytesIO(out.getvalue()), store, "cut.car")
        assert len(store) == 0


def test_a_header_only_car_is_refused() -> None:
    """A CAR holding only its header (no block, not even the root) is refused."""
    _, root = _car_of(TREE)
    out = io.BytesIO()
    write_car(out, [root], [])
    store = MemoryBlockstore()
    with pytest.raises(CarFormatError, match=r"incomplete: block .* \(a root\)"):
        import_car(io.BytesIO(out.getvalue()), store)
    assert len(store) == 0


def test_blocks_no_root_reaches_are_kept() -> None:
    """Extra blocks the roots do not reach are allowed (the CAR format permits them) and kept."""
    data, root = _car_of(TREE)
    extra_store = MemoryBlockstore()
    extra = import_tree({"other": b"x" * 10}, extra_store).cid
    _, blocks = read_car(io.BytesIO(data))
    out = io.BytesIO()
    write_car(out, [root], [*blocks, *((c, extra_store.get(c)) for c in extra_store.cids())])
    store = MemoryBlockstore()
    assert import_car(io.BytesIO(out.getvalue()), store) == [root]
    assert extra in store and export_tree(root, store.get) == TREE
