"""A private IPFS swarm simulated in SimPy: membership, content routing, retrieval, pinning.

Typical use by an engine::

    swarm = Swarm(env, random.Random(seed), replication=(2, 3))
    for i in range(10):
        swarm.add_node(f"n{i}", swarm_key=swarm.key)
    root = swarm.add("n0", record_bytes)                  # stored and pinned on n0
    env.process(swarm.pin(root))                          # replicate to 3 nodes
    swarm.start_repair(interval=60.0)
    swarm.start_churn(mean_uptime=3600.0, mean_downtime=300.0)
    data = yield env.process(swarm.retrieve("n7", root))  # inside another process

Every block received is checked against its CID; a corrupt one is counted,
blamed on the node that served it and fetched from another provider, so a
retrieval returns the exact bytes or raises :class:`ContentUnavailableError`.
All randomness comes from the ``rng`` given; all time is simulated.
"""

from __future__ import annotations

import hmac
import io
import os
import random
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

import simpy

from storage_sim.blockstore import Blockstore, FileBlockstore
from storage_sim.cid import Cid
from storage_sim.counters import SwarmCounters
from storage_sim.errors import (
    BlockNotFoundError,
    ContentUnavailableError,
    NodeOfflineError,
    ReplicationError,
    SwarmKeyError,
    UnknownNodeError,
)
from storage_sim.network import Network
from storage_sim.node import DEFAULT_BANDWIDTH, DEFAULT_LATENCY, Node
from storage_sim.swarmkey import check_swarm_key, new_swarm_key
from storage_sim.unixfs import ByteStream, ImportParams, child_cids, export_bytes, import_stream

#: A SimPy process body (a generator of events); its return value is the process's value.
Proc = Generator[simpy.Event, Any, Any]
#: Told of each storage event: its name and fields (see :meth:`Swarm.observe`).
Observer = Callable[[str, dict[str, Any]], None]


def replication_range(replication: int | tuple[int, int]) -> tuple[int, int]:
    """Normalise a replication factor ``r`` or ``(min, max)``; reject nonsense."""
    low, high = (replication, replication) if isinstance(replication, int) else replication
    if not 1 <= low <= high:
        raise ReplicationError(f"replication must satisfy 1 <= min <= max, got ({low}, {high})")
    return low, high


class _ProvidingSink:
    """Stores imported blocks on a node and announces it as their provider."""

    def __init__(self, swarm: Swarm, node: Node) -> None:
        self.swarm = swarm
        self.node = node

    def put(self, cid: Cid, data: bytes) -> None:
        """Store the block and record the node as a provider of it."""
        self.node.blockstore.put(cid, data)
        self.swarm.provide(cid, self.node.node_id)


class Swarm:
    """Nodes sharing a swarm key, the provider records between them, and their faults."""

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        swarm_key: bytes | None = None,
        replication: int | tuple[int, int] = 3,
        storage_dir: str | os.PathLike[str] | None = None,
        max_inflight: int = 16,
    ) -> None:
        self.env = env
        self.rng = rng
        self.key = check_swarm_key(swarm_key) if swarm_key is not None else new_swarm_key(rng)
        self.replication = replication_range(replication)
        self.storage_dir = Path(storage_dir) if storage_dir is not None else None
        self.max_inflight = max_inflight
        self.network = Network(env)
        self.counters = SwarmCounters()
        self.nodes: dict[str, Node] = {}
        #: Who pins what: root -> the nodes pinning it (online or not), kept by the
        #: nodes' pin and unpin. A repair pass after a node returns asks it about
        #: ~10,000 roots; looking into each node's pins for each would cost 40 times more.
        self._pinned_on: dict[Cid, tuple[Node, ...]] = {}
        #: Join order, the order :meth:`holders` gives.
        self._rank: dict[Node, int] = {}
        #: Provider records: the ids of the nodes announcing each block, sorted (a tuple:
        #: a city's swarm has millions of blocks, and a set costs 3-4 times as much).
        self.providers: dict[Cid, tuple[str, ...]] = {}
        self.pinset: dict[Cid, tuple[int, int]] = {}
        #: Bumped whenever a node joins, leaves, returns or is lost; the periodic
        #: repair skips its pass when nothing changed since the last one.
        self.membership_epoch = 0
        #: Roots whose holders changed since the periodic repair last looked at
        #: them (a holder left, returned or was lost; a pin fell short), in
        #: pinning order: the periodic repair checks only these.
        self._suspects: set[Cid] = set()
        #: Roots a repair could not bring back to their minimum: tried again
        #: once membership changes (a node joins, leaves, returns or is lost).
        self._short: set[Cid] = set()
        self._pin_order: dict[Cid, int] = {}
        self._observers: list[Observer] = []

    # -- events -------------------------------------------------------------

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` of every storage event, as it happens, with its fields:

        ``retrieve`` (a retrieval returned the content: ``node`` the requester, ``cid`` the
        root, ``bytes``), ``retrieve_failed`` (it did not: ``reason``), ``corrupt`` (a block
        failed its CID check: ``node`` that served or stored it, ``cid`` the block,
        ``bytes``), ``repair`` (the repair process placed a replica: ``node``, ``cid`` the
        root, ``bytes`` copied), ``node_down``, ``node_up``, ``node_lost`` (``node``). Every
        event has ``node``, ``cid`` and ``bytes`` (``""`` and 0 where they do not apply).
        """
        self._observers.append(observer)

    def _emit(self, event: str, node: str, cid: Cid | None = None, size: int = 0,
              **more: Any) -> None:
        if self._observers:
            fields = {"node": node, "cid": "" if cid is None else str(cid), "bytes": size, **more}
            for observer in self._observers:
                observer(event, fields)

    # -- membership ---------------------------------------------------------

    def _membership_changed(self) -> None:
        self.membership_epoch += 1
        self._suspects |= self._short
        self._short.clear()

    def add_node(
        self,
        node_id: str | None = None,
        *,
        swarm_key: bytes | None = None,
        bandwidth: float = DEFAULT_BANDWIDTH,
        latency: float = DEFAULT_LATENCY,
        blockstore: Blockstore | None = None,
    ) -> Node:
        """Create a node and join it; ``swarm_key=None`` means it holds the swarm's key."""
        node_id = node_id if node_id is not None else f"node-{len(self.nodes):03d}"
        if blockstore is None and self.storage_dir is not None:
            blockstore = FileBlockstore(self.storage_dir / node_id)
        node = Node(
            node_id,
            swarm_key if swarm_key is not None else self.key,
            blockstore=blockstore,
            bandwidth=bandwidth,
            latency=latency,
        )
        return self.join(node)

    def join(self, node: Node) -> Node:
        """Admit ``node`` if it holds the swarm key; raise :class:`SwarmKeyError` otherwise."""
        if not hmac.compare_digest(node.swarm_key, self.key):
            self.counters.joins_refused += 1
            raise SwarmKeyError(f"node {node.node_id} refused: its swarm key does not match")
        if node.node_id in self.nodes:
            raise ValueError(f"node id {node.node_id!r} is already in the swarm")
        self.nodes[node.node_id] = node
        self._rank[node] = len(self._rank)
        node.keep_index(self._pinned_on)
        self._membership_changed()
        self.network.attach(node)
        for cid in node.blockstore.cids():
            self.provide(cid, node.node_id)
        self.counters.joins += 1
        return node

    def node(self, node_id: str) -> Node:
        """The node called ``node_id``; raise :class:`UnknownNodeError` if there is none."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UnknownNodeError(f"no node {node_id!r} in the swarm") from None

    def _live(self, node_id: str) -> Node:
        node = self.node(node_id)
        if node.lost or not node.online:
            raise NodeOfflineError(f"node {node_id} is {'lost' if node.lost else 'offline'}")
        return node

    def online_nodes(self) -> list[Node]:
        """Nodes currently online, in join order."""
        return [n for n in self.nodes.values() if n.online and not n.lost]

    def leave(self, node_id: str) -> None:
        """Take a node offline (churn); its blocks and pins stay for when it returns."""
        node = self.node(node_id)
        if node.online and not node.lost:
            node.online = False
            self._membership_changed()
            self._suspects.update(node.pins)
            self.counters.departures += 1
            self._emit("node_down", node_id)

    def rejoin(self, node_id: str) -> None:
        """Bring an offline node back online."""
        node = self.node(node_id)
        if not node.online and not node.lost:
            node.online = True
            self._membership_changed()
            self._suspects.update(node.pins)
            self.counters.rejoins += 1
            self._emit("node_up", node_id)

    def lose_node(self, node_id: str) -> None:
        """Lose a node for good: its blocks, pins and provider records are gone."""
        node = self.node(node_id)
        if node.lost:
            return
        for cid in list(node.blockstore.cids()):
            node.blockstore.delete(cid)
            self._withdraw(node, cid)
        self._suspects.update(node.pins)
        for root in list(node.pins):
            node.unpin(root)
        node.lost = True
        node.online = False
        self._membership_changed()
        self.network.detach(node)
        self.counters.nodes_lost += 1
        self._emit("node_lost", node_id)

    # -- content routing ----------------------------------------------------

    def provide(self, cid: Cid, node_id: str) -> None:
        """Record ``node_id`` as a provider of ``cid``."""
        holders = self.providers.get(cid)
        if holders is None:
            self.providers[cid] = (node_id,)
        elif node_id not in holders:
            self.providers[cid] = tuple(sorted((*holders, node_id)))

    def _withdraw(self, node: Node, cid: Cid) -> None:
        holders = self.providers.get(cid)
        if holders is not None and node.node_id in holders:
            rest = tuple(h for h in holders if h != node.node_id)
            if rest:
                self.providers[cid] = rest
            else:
                del self.providers[cid]

    def find_providers(self, cid: Cid) -> list[str]:
        """Ids of nodes with a provider record for ``cid`` (online or not), sorted."""
        return list(self.providers.get(cid, ()))

    # -- adding and retrieving ------------------------------------------------

    def add(
        self,
        node_id: str,
        data: bytes | ByteStream,
        *,
        cid_version: int = 0,
        params: ImportParams | None = None,
        pin: bool = True,
    ) -> Cid:
        """Import ``data`` on ``node_id`` (no simulated time), announce it, pin it there."""
        node = self._live(node_id)
        params = params or ImportParams(cid_version=cid_version)
        stream: ByteStream
        if isinstance(data, bytes | bytearray | memoryview):
            stream = io.BytesIO(bytes(data))
        else:
            stream = data
        root = import_stream(stream, _ProvidingSink(self, node), params).cid
        if pin:
            node.pin(root)
        return root

    def _local_block(self, node: Node, cid: Cid) -> bytes | None:
        """A verified block from ``node``'s own store; a corrupt copy is dropped."""
        if not node.blockstore.has(cid):
            return None
        data = node.blockstore.get(cid)
        if cid.matches(data):
            self.counters.blocks_local += 1
            return data
        self.counters.blame(node.node_id)
        self._emit("corrupt", node.node_id, cid, len(data))
        node.blockstore.delete(cid)
        self._withdraw(node, cid)
        return None

    def _choose_provider(self, requester: Node, cid: Cid, tried: set[str]) -> Node | None:
        """A reachable provider not yet tried, preferring the least blamed; ``rng`` breaks ties."""
        candidates = [
            self.nodes[pid]
            for pid in self.providers.get(cid, ())  # sorted
            if pid not in tried
            and pid != requester.node_id
            and self.network.reachable(requester, self.nodes[pid])
        ]
        if not candidates:
            return None
        least = min(self.counters.blamed.get(n.node_id, 0) for n in candidates)
        best = [n for n in candidates if self.counters.blamed.get(n.node_id, 0) == least]
        return self.rng.choice(best)

    def _fetch_block(self, requester: Node, cid: Cid, store: bool) -> Proc:
        """Process body: get one verified block for ``requester``; ``None`` if impossible."""
        local = self._local_block(requester, cid)
        if local is not None:
            return local
        tried: set[str] = set()
        while True:
            provider = self._choose_provider(requester, cid, tried)
            if provider is None:
                return None
            tried.add(provider.node_id)
            try:
                data = provider.serve(cid, self.rng)
            except BlockNotFoundError:  # a stale provider record
                self._withdraw(provider, cid)
                continue
            delivered = yield from self.network.transfer(provider, requester, len(data))
            if not delivered:
                self.counters.fetch_attempts_failed += 1
                continue
            if not cid.matches(data):
                self.counters.blame(provider.node_id)
                self._emit("corrupt", provider.node_id, cid, len(data))
                continue
            self.counters.blocks_fetched += 1
            self.counters.bytes_transferred += len(data)
            if store and requester.online and not requester.lost:
                requester.blockstore.put(cid, data)
                self.provide(cid, requester.node_id)
            return data

    def _gather(self, requester: Node, root: Cid, store: bool) -> Proc:
        """Process body: fetch every block under ``root``, a DAG level at a time, in parallel.

        Returns ``{cid: block}`` or raises :class:`ContentUnavailableError`.
        """
        blocks: dict[Cid, bytes] = {}
        wave = [root]
        while wave:
            for start in range(0, len(wave), self.max_inflight):
                batch = wave[start : start + self.max_inflight]
                procs = [self.env.process(self._fetch_block(requester, c, store)) for c in batch]
                yield self.env.all_of(procs)
                for cid, proc in zip(batch, procs, strict=True):
                    if proc.value is None:
                        raise ContentUnavailableError(
                            f"{requester.node_id}: no reachable honest provider for block "
                            f"{cid} of {root}"
                        )
                    blocks[cid] = proc.value
            nxt: dict[Cid, None] = {}
            for cid in wave:
                for child in child_cids(cid, blocks[cid]):
                    if child not in blocks:
                        nxt[child] = None
            wave = list(nxt)
        return blocks

    def retrieve(self, node_id: str, root: Cid, *, store: bool = True) -> Proc:
        """Process body: fetch the file under ``root`` for ``node_id``; return its bytes.

        Blocks are cached (unpinned) on the requester when ``store`` is true.
        Raises :class:`ContentUnavailableError` when some block has no
        reachable honest provider.
        """
        requester = self._live(node_id)
        self.counters.retrievals += 1
        try:
            blocks = yield from self._gather(requester, root, store)
        except ContentUnavailableError as exc:
            self.counters.retrieval_failures += 1
            self._emit("retrieve_failed", node_id, root, reason=str(exc))
            raise
        data = export_bytes(root, blocks.__getitem__)
        self.counters.retrievals_ok += 1
        self._emit("retrieve", node_id, root, len(data))
        return data

    # -- pinning, repair, garbage collection ---------------------------------

    def holders(self, root: Cid) -> list[str]:
        """Online nodes that pin ``root``, in join order."""
        pinned_on = self._pinned_on.get(root)
        if not pinned_on:
            return []
        live = [n for n in pinned_on if n.online and not n.lost]
        if len(live) > 1:
            live.sort(key=self._rank.__getitem__)
        return [n.node_id for n in live]

    def _replicate_to(self, node: Node, root: Cid) -> Proc:
        """Process body: copy ``root``'s DAG to ``node`` and pin it; return the bytes of the
        DAG placed (0: not placed)."""
        try:
            blocks = yield from self._gather(node, root, True)
            node.pin(root)
        except (ContentUnavailableError, BlockNotFoundError):
            return 0
        return sum(map(len, blocks.values())) if node.online and not node.lost else 0

    def _top_up(self, root: Cid, target: int) -> Proc:
        """Process body: place replicas until ``target`` online nodes pin ``root``; return
        ``(node id, bytes placed)`` of each replica placed."""
        need = target - len(self.holders(root))
        candidates = sorted(
            (n for n in self.online_nodes() if root not in n.pins),
            key=lambda n: (n.bytes_stored, n.node_id),
        )
        placed: list[tuple[str, int]] = []
        while need > 0 and candidates:
            batch, candidates = candidates[:need], candidates[need:]
            procs = [self.env.process(self._replicate_to(n, root)) for n in batch]
            yield self.env.all_of(procs)
            for node, proc in zip(batch, procs, strict=True):
                if proc.value:
                    placed.append((node.node_id, proc.value))
                    need -= 1
        return placed

    def pin(self, root: Cid, replication: int | tuple[int, int] | None = None) -> Proc:
        """Process body: pin ``root`` on up to ``max`` online nodes; return the holders.

        Raises :class:`ReplicationError` if fewer than ``min`` could be reached.
        The replication range is remembered for the repair process.
        """
        low, high = replication_range(self.replication if replication is None else replication)
        self.pinset[root] = (low, high)
        self._pin_order.setdefault(root, len(self._pin_order))
        placed = yield from self._top_up(root, high)
        self.counters.pins += len(placed)
        holders = self.holders(root)
        if len(holders) < high:
            self._suspects.add(root)  # short of its range: the next repair pass looks at it
        if len(holders) < low:
            raise ReplicationError(f"{root}: only {len(holders)} replicas, wanted {low}")
        return holders

    def unpin(self, root: Cid) -> None:
        """Forget ``root``'s replication and unpin it everywhere (blocks go at next GC)."""
        self.pinset.pop(root, None)
        for node in self.nodes.values():
            node.unpin(root)

    def repair_once(self) -> Proc:
        """Process body: one repair pass over every pinned root; return replicas placed."""
        self._suspects.clear()
        return (yield from self._repair(list(self.pinset)))

    def _repair_suspects(self) -> Proc:
        """Process body: a repair pass over the roots whose holders changed (in pinning order).

        Every other root was within its range after the last pass and no
        holder of it has left, returned or been lost since, so a full pass
        would find nothing to do for it.
        """
        order = self._pin_order
        roots = sorted((r for r in self._suspects if r in self.pinset), key=order.__getitem__)
        self._suspects.clear()
        return (yield from self._repair(roots))

    def _repair(self, roots: list[Cid]) -> Proc:
        total = 0
        for root in roots:
            bounds = self.pinset.get(root)
            if bounds is None:
                continue  # unpinned meanwhile
            low, high = bounds
            holders = self.holders(root)
            if len(holders) < low:
                self.counters.under_replicated += 1
                placed = yield from self._top_up(root, high)
                self.counters.repairs += len(placed)
                for node_id, size in placed:
                    self.counters.bytes_repaired += size
                    self._emit("repair", node_id, root, size)
                total += len(placed)
                if len(holders) + len(placed) < low:
                    self.counters.repair_failures += 1
                    self._short.add(root)
            elif len(holders) > high:
                excess = sorted(holders, key=lambda i: (-self.nodes[i].bytes_stored, i))
                for node_id in excess[: len(holders) - high]:
                    self.nodes[node_id].unpin(root)
                    self.counters.unpins_excess += 1
        return total

    def start_repair(self, interval: float) -> simpy.Process:
        """Start a process running :meth:`repair_once` every ``interval`` simulated seconds."""
        if interval <= 0:
            raise ValueError(f"repair interval must be positive, got {interval}")

        def loop() -> Proc:
            while True:
                yield self.env.timeout(interval)
                if not self._suspects:
                    continue  # no holder came or went and no pin fell short
                yield from self._repair_suspects()

        return self.env.process(loop())

    def gc(self, node_ids: Sequence[str] | None = None) -> int:
        """Garbage-collect unpinned blocks on the given (default: all) nodes; return bytes freed."""
        freed = 0
        for node_id in node_ids if node_ids is not None else list(self.nodes):
            node = self.node(node_id)
            for cid, size in node.gc():
                self._withdraw(node, cid)
                freed += size
        self.counters.gc_bytes_freed += freed
        return freed

    # -- faults -------------------------------------------------------------

    def set_byzantine(self, node_id: str, corrupt_rate: float = 1.0) -> None:
        """Make ``node_id`` corrupt each block it serves with probability ``corrupt_rate``."""
        if not 0.0 <= corrupt_rate <= 1.0:
            raise ValueError(f"corrupt_rate must be in [0, 1], got {corrupt_rate}")
        self.node(node_id).corrupt_rate = corrupt_rate

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the network into ``groups`` (unnamed nodes form one more group)."""
        for group in groups:
            for node_id in group:
                self.node(node_id)
        self.network.partition(groups)

    def heal(self) -> None:
        """End the partition."""
        self.network.heal()

    def _churn(self, node_id: str, mean_uptime: float, mean_downtime: float) -> Proc:
        """Process body: alternate one node between online and offline until it is lost."""
        node = self.node(node_id)
        while not node.lost:
            yield self.env.timeout(self.rng.expovariate(1.0 / mean_uptime))
            if node.lost:
                return
            self.leave(node_id)
            yield self.env.timeout(self.rng.expovariate(1.0 / mean_downtime))
            self.rejoin(node_id)

    def start_churn(
        self, mean_uptime: float, mean_downtime: float, node_ids: Sequence[str] | None = None
    ) -> list[simpy.Process]:
        """Start churn: each node leaves after ~Exp(mean_uptime), returns after ~Exp(mean_downtime).

        Returns one SimPy process per node.
        """
        if mean_uptime <= 0 or mean_downtime <= 0:
            raise ValueError("mean uptime and downtime must be positive")
        ids = list(node_ids) if node_ids is not None else list(self.nodes)
        return [self.env.process(self._churn(i, mean_uptime, mean_downtime)) for i in ids]

    # -- reports ------------------------------------------------------------

    def bytes_stored(self) -> dict[str, int]:
        """Bytes in each node's blockstore, by node id."""
        return {node_id: node.bytes_stored for node_id, node in self.nodes.items()}

    def report(self) -> dict[str, object]:
        """A JSON-ready summary: time, counters, per-node storage and state, replication."""
        return {
            "time": self.env.now,
            "counters": self.counters.as_dict(),
            "nodes": {
                node_id: {
                    "online": node.online,
                    "lost": node.lost,
                    "byzantine": node.byzantine,
                    "bytes_stored": node.bytes_stored,
                    "blocks": len(node.blockstore),
                    "pins": len(node.pins),
                }
                for node_id, node in self.nodes.items()
            },
            "pinned": {
                str(root): {"min": low, "max": high, "holders": self.holders(root)}
                for root, (low, high) in self.pinset.items()
            },
        }
