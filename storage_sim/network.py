"""The simulated network between swarm nodes: reachability, partitions and transfer time.

A block transfer from ``src`` to ``dst`` holds ``src``'s uplink (one
transfer at a time, so a popular node becomes a bottleneck) for one round
trip, ``2 * (src.latency + dst.latency)``, plus the block size over the slower
of the two links. Everything is simulated time in a SimPy environment.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import simpy

from storage_sim.node import Node


class Network:
    """Reachability (online, same partition side) and timed transfers between nodes."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._uplinks: dict[str, simpy.Resource] = {}
        self._side: dict[str, int] = {}

    def attach(self, node: Node) -> None:
        """Give ``node`` an uplink; call once when it joins."""
        self._uplinks[node.node_id] = simpy.Resource(self.env, capacity=1)

    def detach(self, node: Node) -> None:
        """Forget ``node``'s partition side (it was lost for good)."""
        self._side.pop(node.node_id, None)

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Split the network: nodes reach only nodes of their own group.

        Nodes named in no group form one more group together.
        """
        self._side = {}
        for index, group in enumerate(groups, start=1):
            for node_id in group:
                self._side[node_id] = index

    def heal(self) -> None:
        """End every partition."""
        self._side = {}

    @property
    def partitioned(self) -> bool:
        """Whether a partition is in force."""
        return bool(self._side)

    def reachable(self, a: Node, b: Node) -> bool:
        """Whether ``a`` and ``b`` can exchange blocks right now."""
        if not (a.online and b.online) or a.lost or b.lost:
            return False
        return self._side.get(a.node_id, 0) == self._side.get(b.node_id, 0)

    def transfer_time(self, src: Node, dst: Node, nbytes: int) -> float:
        """Simulated seconds to move ``nbytes`` from ``src`` to ``dst`` (no queueing)."""
        rtt = 2.0 * (src.latency + dst.latency)
        return rtt + nbytes / min(src.bandwidth, dst.bandwidth)

    def transfer(self, src: Node, dst: Node, nbytes: int) -> Generator[simpy.Event, Any, bool]:
        """SimPy process body: move ``nbytes``; return whether both ends stayed reachable."""
        if not self.reachable(src, dst):
            return False
        with self._uplinks[src.node_id].request() as slot:
            yield slot
            if not self.reachable(src, dst):
                return False
            yield self.env.timeout(self.transfer_time(src, dst, nbytes))
        return self.reachable(src, dst)
