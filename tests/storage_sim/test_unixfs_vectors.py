"""UnixFS import: CIDs byte-identical to Kubo ``ipfs add`` (public check values + boundaries).

Public sources of the expected values:

* DESIGN.md (hello world, 45,900,000 zero bytes);
* Kubo's sharness fixtures README (``echo hello | ipfs add``; "Hello IPFS");
* Solidity's ``test/libsolutil/IpfsHash.cpp`` (zero-filled files at every
  chunk and fan-out boundary, checked there against ``ipfs add``).

CIDv1 values for multi-chunk files have no public source we could find; they
are pinned from this implementation after the v0 tree shapes above matched.
"""

from __future__ import annotations

import pytest

from storage_sim import Cid, ImportParams, MemoryBlockstore, compute_cid, import_bytes
from storage_sim.dagpb import decode_node, decode_unixfs

CHUNK = 262_144

PUBLIC_V0 = [
    (b"hello world", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
    (b"hello\n", "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"),
    (b"", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
    (b"x", "QmULKig5Fxrs2sC4qt9nNduucXfb92AFYQ6Hi3YRqDmrYC"),
    (b"\x00", "QmS9JArPwa55ePgDnyg6TzX24mYTS1b1vLqWNebyVotKxQ"),
    (b"Solidity\n", "QmSsm9M7PQRBnyiz1smizk8hZw3URfk8fSeHzeTo3oZidS"),
]

PUBLIC_V1 = [
    (b"hello world", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
    (b"hello\n", "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"),
    (b"Hello IPFS\n", "bafkreidfdrlkeq4m4xnxuyx6iae76fdm4wgl5d4xzsb77ixhyqwumhz244"),
    (
        b"hello application/vnd.ipld.raw\n",
        "bafkreihhpc5y2pqvl5rbe5uuyhqjouybfs3rvlmisccgzue2kkt5zq6upq",
    ),
]

# (size of a zero-filled file, CIDv0 (public), CIDv1 (public for <= 1 chunk, else pinned))
ZEROS = [
    (0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
     "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
    (1, "QmS9JArPwa55ePgDnyg6TzX24mYTS1b1vLqWNebyVotKxQ",
     "bafkreidogqfzz75tpkmjzjke425xqcrmpcib2p5tg44hnbirumdbpl5adu"),
    (200, "QmSXR1N23uWzsANi8wpxMPw5dmmhqBVUAb4hUrHVLpNaMr", None),
    (10_250, "QmVJJBB3gKKBWYC9QTywpH8ZL1bDeTDJ17B63Af5kino9i", None),
    (100_000, "QmYgKa25YqEGpQmmZtPPFMNK3kpqqneHk6nMSEUYryEX1C", None),
    (121_071, "QmdMdRshQmqvyc92N82r7AKYdUF5FRh4DJo6GtrmEk3wgj", None),
    (131_071, "QmSxYSToKHsPqqRdRnsM9gmr3EYS6dakhVaHgbFdgYQWi6", None),
    (CHUNK - 1, "QmbNDspMkzkMFKyS3eCJGedG7GWRQHSCzJCZLjxP7wyVAx",
     "bafkreic6iqyxuiad5dem4bzgyy336yoi6tegdqa4e5vt24gq3btool5cra"),
    (CHUNK, "QmRk1rduJvo5DfEYAaLobS2za9tDszk35hzaNSDCJ74DA7",
     "bafkreiekhhjkxu4ztk3tyng3er3ijhg56mb44oe3gwbgquhzu4afrg2ksa"),
    (CHUNK + 1, "QmbVuw4C4vcmVKqxoWtgDVobvcHrSn51qsmQmyxjk4sB2Q",
     "bafybeigllfqgfpqydppr6cmv56g7ax4wyhruzswvcefv6j5kj77nzttfki"),
    (1_310_710, "QmNg7BJo8gEMDK8yGQbHEwPtycesnE6FUULX5iVd5TAL9f", None),
    (174 * CHUNK, "QmY4HSz1oVGdUzb8poVYPLsoqBZjH6LZrtgnme9wWn2Qko",
     "bafybeibxsa3ioclowpaq7b6gxl65gzqneopfr3fnhedak6sqr4bjz5lnyq"),
    (174 * CHUNK + 1, "QmehMASWcBsX7VcEQqs6rpR5AHoBfKyBVEgmkJHjpPg8jq",
     "bafybeihqwzd3o6q6v3pmwhzjy22vokhr767burokmqemg63hptx2nqd7ym"),
    (175 * CHUNK, "QmaL1KiQRV8secNszpjjFPg722T53c77k2dz5UsNua59ZT",
     "bafybeigfps5vzivfspwgm3uwsfyl5s6bn3ysh7uqidgauxgopw4yi66lse"),
    (45_900_000, "QmRdPboiJQoZ5cdazR9a8vGqdJvWg6M5bfdtUSKNHpuscj",
     "bafybeihtlzunqc54oyomnooqsyzpz3z2qo3oi6f6xoqst6ciysc4bdagei"),
    (178 * CHUNK, "QmaTb1sT9hrSXJLmf8bxJ9NuwndiHuMLsgNLgkS2eXu3Xj", None),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), PUBLIC_V0)
def test_public_cidv0_values(data: bytes, expected: str) -> None:
    """Small files hash to the CIDv0 Kubo publishes for them."""
    assert str(compute_cid(data)) == expected


@pytest.mark.parametrize(("data", "expected"), PUBLIC_V1)
def test_public_cidv1_values(data: bytes, expected: str) -> None:
    """One-chunk files under --cid-version 1 are raw leaves with Kubo's published CIDs."""
    assert str(compute_cid(data, cid_version=1)) == expected


@pytest.mark.parametrize(("size", "v0", "v1"), ZEROS, ids=[str(z[0]) for z in ZEROS])
def test_zero_files_at_chunk_and_fanout_boundaries(size: int, v0: str, v1: str | None) -> None:
    """Zero-filled files at chunk/fan-out boundaries get Kubo's CIDs under v0 and v1."""
    data = bytes(size)
    assert str(compute_cid(data)) == v0
    if v1 is not None:
        assert str(compute_cid(data, cid_version=1)) == v1


def test_hello_world_leaf_bytes() -> None:
    """A one-chunk v0 file is one dag-pb node: Data{Type=File, Data, filesize}, no links."""
    store = MemoryBlockstore()
    result = import_bytes(b"hello world", store)
    block = store.get(result.cid)
    assert block == bytes.fromhex("0a110802120b") + b"hello world" + bytes.fromhex("180b")
    assert result.blocks == 1 and result.size == 11 and result.dag_size == len(block)


def test_empty_file_is_one_file_node_without_data() -> None:
    """The empty v0 file is Data{Type=File, filesize=0}; under v1 it is the empty raw block."""
    store = MemoryBlockstore()
    root = import_bytes(b"", store).cid
    assert store.get(root) == bytes.fromhex("0a0408021800")
    v1 = import_bytes(b"", None, ImportParams(cid_version=1))
    assert v1.cid.codec_name == "raw" and v1.dag_size == 0


def test_full_leaf_tsize_is_262158() -> None:
    """A full 256 KiB v0 leaf is 262,158 bytes, the Tsize Kubo shows for such links."""
    store = MemoryBlockstore()
    root = import_bytes(bytes(CHUNK + 1), store).cid
    node = decode_node(store.get(root))
    assert [link.tsize for link in node.links] == [262_158, 9]
    assert all(link.name == "" for link in node.links)
    assert node.data is not None
    meta = decode_unixfs(node.data)
    assert (meta.type, meta.data, meta.filesize) == (2, None, CHUNK + 1)
    assert meta.blocksizes == (CHUNK, 1)


def test_parent_field_order_links_before_data() -> None:
    """Parents encode every link (field 2) before Data (field 1), with Name always written."""
    store = MemoryBlockstore()
    root = import_bytes(bytes(CHUNK + 1), store).cid
    block = store.get(root)
    assert block[0] == 0x12  # first field is a link
    link = decode_node(block).links[0]
    assert block[2:4] == b"\x0a\x22" and block[4:38] == link.cid.binary
    assert block[38:40] == b"\x12\x00"  # empty Name present
    # Data last: Type=File, filesize=262145, blocksizes 262144 and 1 (unpacked).
    assert block.endswith(bytes.fromhex("0a0c080218818010208080102001"))


def test_v1_parents_link_raw_leaves() -> None:
    """Under v1 a multi-chunk root is a CIDv1 dag-pb node linking CIDv1 raw leaves."""
    store = MemoryBlockstore()
    root = import_bytes(b"ab" * CHUNK, store, ImportParams(cid_version=1)).cid
    assert str(root).startswith("bafybei")
    links = decode_node(store.get(root)).links
    assert [link.cid.codec_name for link in links] == ["raw", "raw"]
    assert [link.tsize for link in links] == [CHUNK, CHUNK]
    assert all(isinstance(link.cid, Cid) and link.cid.version == 1 for link in links)


def test_cid_version_one_without_raw_leaves() -> None:
    """--cid-version 1 --raw-leaves=false keeps dag-pb leaves: same digest as v0, v1 form."""
    params = ImportParams(cid_version=1, raw_leaves=False)
    assert compute_cid(b"hello world").to_v1() == import_bytes(b"hello world", None, params).cid
