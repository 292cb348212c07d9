"""Counters the swarm keeps for reports: storage, retrievals, failures, repairs, faults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SwarmCounters:
    """Running totals of what happened in a swarm; every field starts at zero."""

    retrievals: int = 0
    """Retrievals started (one per :meth:`Swarm.retrieve` call)."""
    retrievals_ok: int = 0
    """Retrievals that returned the content."""
    retrieval_failures: int = 0
    """Retrievals that ended with :class:`ContentUnavailableError`."""
    blocks_fetched: int = 0
    """Blocks received over the network and verified."""
    blocks_local: int = 0
    """Blocks a retrieval found, verified, in the requester's own blockstore."""
    bytes_transferred: int = 0
    """Bytes of verified blocks received over the network."""
    fetch_attempts_failed: int = 0
    """Block requests lost because the provider left or was partitioned mid-transfer."""
    corrupt_blocks_detected: int = 0
    """Blocks whose bytes did not hash to their CID (served or stored corrupt)."""
    blamed: dict[str, int] = field(default_factory=dict)
    """Corrupt blocks per serving node."""
    pins: int = 0
    """Replicas placed by :meth:`Swarm.pin` (including the origin's own pin)."""
    repairs: int = 0
    """Replicas re-created by the repair process to restore replication."""
    bytes_repaired: int = 0
    """Bytes of the replicas the repair process re-created (the DAGs copied)."""
    repair_failures: int = 0
    """Repair attempts that could not place a replica."""
    under_replicated: int = 0
    """Times the repair process found content below its minimum replication."""
    unpins_excess: int = 0
    """Replicas dropped because content was above its maximum replication."""
    joins: int = 0
    """Nodes admitted to the swarm."""
    joins_refused: int = 0
    """Nodes refused because their swarm key did not match."""
    departures: int = 0
    """Times a node went offline (churn)."""
    rejoins: int = 0
    """Times a node came back online."""
    nodes_lost: int = 0
    """Nodes lost for good (their blocks gone)."""
    gc_bytes_freed: int = 0
    """Bytes of unpinned blocks removed by garbage collection."""

    def blame(self, node_id: str) -> None:
        """Record that ``node_id`` served a corrupt block."""
        self.corrupt_blocks_detected += 1
        self.blamed[node_id] = self.blamed.get(node_id, 0) + 1

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy of every counter."""
        return asdict(self)
