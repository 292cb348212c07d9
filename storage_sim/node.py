"""A simulated IPFS node: a blockstore, a pin set, a link to the network, fault flags.

A node knows nothing of other nodes; :class:`~storage_sim.swarm.Swarm` moves
blocks between nodes, keeps provider records and drives churn and faults.
"""

from __future__ import annotations

import random

from storage_sim.blockstore import Blockstore, MemoryBlockstore
from storage_sim.cid import Cid
from storage_sim.errors import BlockNotFoundError
from storage_sim.swarmkey import check_swarm_key
from storage_sim.unixfs import (
    ByteStream,
    ImportParams,
    ImportResult,
    child_cids,
    import_bytes,
    import_stream,
)

#: Default per-node bandwidth: 100 Mbit/s, in bytes per simulated second.
DEFAULT_BANDWIDTH = 12_500_000.0
#: Default one-way latency from a node to the network core, in simulated seconds.
DEFAULT_LATENCY = 0.02


class Node:
    """One swarm member.

    ``bandwidth`` is bytes per simulated second of its link, ``latency`` its
    one-way delay to the network core; a block fetch between two nodes costs
    one round trip plus the block size over the slower link. ``corrupt_rate``
    is the probability that a block it serves is corrupted (0: honest).
    """

    def __init__(
        self,
        node_id: str,
        swarm_key: bytes,
        *,
        blockstore: Blockstore | None = None,
        bandwidth: float = DEFAULT_BANDWIDTH,
        latency: float = DEFAULT_LATENCY,
    ) -> None:
        if bandwidth <= 0:
            raise ValueError(f"node {node_id}: bandwidth must be positive, got {bandwidth}")
        if latency < 0:
            raise ValueError(f"node {node_id}: latency must be >= 0, got {latency}")
        self.node_id = node_id
        self.swarm_key = check_swarm_key(swarm_key)
        self.blockstore: Blockstore = blockstore if blockstore is not None else MemoryBlockstore()
        self.bandwidth = float(bandwidth)
        self.latency = float(latency)
        self.online = True
        self.lost = False
        self.corrupt_rate = 0.0
        self.pins: dict[Cid, None] = {}
        #: The index of the swarm this node joined (root -> the nodes pinning it), kept
        #: up to date by :meth:`pin` and :meth:`unpin`; None while the node is on its own.
        #: Tuples: a city pins a million roots, most on one node.
        self.pin_index: dict[Cid, tuple[Node, ...]] | None = None

    def __repr__(self) -> str:
        state = "lost" if self.lost else ("online" if self.online else "offline")
        return f"Node({self.node_id!r}, {state}, {self.blockstore.size_bytes} B)"

    @property
    def byzantine(self) -> bool:
        """Whether this node may serve corrupted blocks."""
        return self.corrupt_rate > 0

    @property
    def bytes_stored(self) -> int:
        """Bytes of blocks in this node's blockstore."""
        return self.blockstore.size_bytes

    def add(self, data: bytes | ByteStream, params: ImportParams | None = None) -> ImportResult:
        """Import ``data`` as UnixFS into this node's blockstore (no pin, no network)."""
        if isinstance(data, bytes | bytearray | memoryview):
            return import_bytes(bytes(data), self.blockstore, params)
        return import_stream(data, self.blockstore, params)

    def missing_blocks(self, root: Cid) -> list[Cid]:
        """CIDs under ``root`` this node lacks (children of missing blocks are not known)."""
        missing: list[Cid] = []
        stack = [root]
        seen: set[Cid] = set()
        while stack:
            cid = stack.pop()
            if cid in seen:
                continue
            seen.add(cid)
            try:
                block = self.blockstore.get(cid)
            except BlockNotFoundError:
                missing.append(cid)
                continue
            stack.extend(child_cids(cid, block))
        return missing

    def has_dag(self, root: Cid) -> bool:
        """Whether every block under ``root`` is in this node's blockstore."""
        return not self.missing_blocks(root)

    def pin(self, root: Cid) -> None:
        """Pin ``root`` recursively; every block must already be stored locally."""
        missing = self.missing_blocks(root)
        if missing:
            raise BlockNotFoundError(f"{self.node_id}: cannot pin {root}: missing {missing[0]}")
        if root in self.pins:
            return
        self.pins[root] = None
        if self.pin_index is not None:
            self._index(root)

    def keep_index(self, index: dict[Cid, tuple[Node, ...]]) -> None:
        """Record this node's pins, now and from now on, in ``index`` (its swarm's)."""
        self.pin_index = index
        for root in self.pins:
            self._index(root)

    def _index(self, root: Cid) -> None:
        assert self.pin_index is not None
        self.pin_index[root] = (*self.pin_index.get(root, ()), self)

    def unpin(self, root: Cid) -> bool:
        """Drop the pin on ``root``; return whether it was pinned. Blocks stay until GC."""
        if root not in self.pins:
            return False
        del self.pins[root]
        if self.pin_index is not None:
            rest = tuple(n for n in self.pin_index[root] if n is not self)
            if rest:
                self.pin_index[root] = rest
            else:
                del self.pin_index[root]
        return True

    def dag_cids(self, root: Cid) -> set[Cid]:
        """Every locally stored CID reachable from ``root``."""
        reachable: set[Cid] = set()
        stack = [root]
        while stack:
            cid = stack.pop()
            if cid in reachable or not self.blockstore.has(cid):
                continue
            reachable.add(cid)
            stack.extend(child_cids(cid, self.blockstore.get(cid)))
        return reachable

    def gc(self) -> list[tuple[Cid, int]]:
        """Delete every block not reachable from a pin; return ``(cid, bytes)`` removed."""
        keep: set[Cid] = set()
        for root in self.pins:
            keep |= self.dag_cids(root)
        removed: list[tuple[Cid, int]] = []
        for cid in list(self.blockstore.cids()):
            if cid not in keep:
                removed.append((cid, self.blockstore.delete(cid)))
        return removed

    def serve(self, cid: Cid, rng: random.Random) -> bytes:
        """Return the block under ``cid`` as sent to a peer (corrupted if byzantine)."""
        data = self.blockstore.get(cid)
        if self.corrupt_rate > 0 and rng.random() < self.corrupt_rate:
            return corrupt(data, rng)
        return data


def corrupt(data: bytes, rng: random.Random) -> bytes:
    """Return ``data`` with one byte flipped at an ``rng``-chosen place (or a byte added)."""
    if not data:
        return b"\xff"
    pos = rng.randrange(len(data))
    flipped = data[pos] ^ (1 << rng.randrange(8))
    return data[:pos] + bytes((flipped,)) + data[pos + 1 :]
