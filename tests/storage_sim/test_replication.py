"""Pinning with a replication factor, repair after node loss, and garbage collection."""

from __future__ import annotations

import random

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_sim import ContentUnavailableError, ReplicationError, Swarm


def _swarm(seed: int, nodes: int, replication: int | tuple[int, int]) -> Swarm:
    swarm = Swarm(simpy.Environment(), random.Random(seed), replication=replication)
    for i in range(nodes):
        swarm.add_node(f"n{i}")
    return swarm


def _run(swarm: Swarm, body):  # type: ignore[no-untyped-def]
    proc = swarm.env.process(body)
    return swarm.env.run(until=proc)


@pytest.mark.parametrize(("r", "seed"), [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)])
def test_content_survives_r_minus_1_losses_and_is_repinned(r: int, seed: int) -> None:
    """With replication r, losing any r-1 holders keeps content; repair restores r copies."""
    swarm = _swarm(seed, 2 * r + 1, r)
    data = random.Random(seed).randbytes(5000)
    root = swarm.add("n0", data, cid_version=seed % 2)
    holders = _run(swarm, swarm.pin(root))
    assert len(holders) == r
    for lost in random.Random(seed).sample(holders, r - 1):
        swarm.lose_node(lost)
    assert len(swarm.holders(root)) == 1
    survivor = next(n for n in swarm.online_nodes() if n.node_id not in holders)
    assert _run(swarm, swarm.retrieve(survivor.node_id, root)) == data
    placed = _run(swarm, swarm.repair_once())
    assert len(swarm.holders(root)) == r and placed == r - 1
    assert swarm.counters.repairs == r - 1


def test_losing_all_r_copies_makes_content_unavailable() -> None:
    """Losing every holder (and any cache) makes retrieval fail, not return wrong data."""
    swarm = _swarm(1, 5, 2)
    root = swarm.add("n0", b"x" * 3000)
    for node_id in _run(swarm, swarm.pin(root)):
        swarm.lose_node(node_id)
    requester = swarm.online_nodes()[0].node_id
    with pytest.raises(ContentUnavailableError):
        _run(swarm, swarm.retrieve(requester, root))
    assert swarm.counters.retrieval_failures == 1


def test_repair_process_runs_periodically() -> None:
    """start_repair restores replication on its own after a loss, in simulated time."""
    swarm = _swarm(3, 6, 3)
    root = swarm.add("n0", b"record" * 500)
    holders = _run(swarm, swarm.pin(root))
    swarm.start_repair(interval=10.0)
    swarm.lose_node(holders[1])
    swarm.env.run(until=swarm.env.now + 25.0)
    assert len(swarm.holders(root)) == 3 and holders[1] not in swarm.holders(root)


def test_min_max_replication() -> None:
    """Pins go to max nodes when possible; fewer than min available is a ReplicationError."""
    swarm = _swarm(4, 3, (2, 5))
    root = swarm.add("n0", b"abc")
    assert len(_run(swarm, swarm.pin(root))) == 3
    lonely = _swarm(4, 1, (2, 3))
    root = lonely.add("n0", b"abc")
    with pytest.raises(ReplicationError):
        _run(lonely, lonely.pin(root))


def test_excess_replicas_are_trimmed() -> None:
    """A node coming back after repair leaves content above max; repair unpins the excess."""
    swarm = _swarm(5, 6, 2)
    root = swarm.add("n0", b"y" * 2000)
    holders = _run(swarm, swarm.pin(root))
    swarm.leave(holders[1])
    _run(swarm, swarm.repair_once())
    swarm.rejoin(holders[1])
    assert len(swarm.holders(root)) == 3
    _run(swarm, swarm.repair_once())
    assert len(swarm.holders(root)) == 2 and swarm.counters.unpins_excess == 1


def test_gc_removes_only_unpinned_blocks() -> None:
    """GC frees cached, unpinned blocks and their provider records; pinned blocks stay."""
    swarm = _swarm(6, 4, 1)
    data = random.Random(6).randbytes(4000)
    root = swarm.add("n0", data)
    assert _run(swarm, swarm.retrieve("n3", root)) == data
    assert "n3" in swarm.find_providers(root)
    freed = swarm.gc()
    assert freed > 0 and swarm.nodes["n3"].bytes_stored == 0
    assert swarm.find_providers(root) == ["n0"] and swarm.nodes["n0"].has_dag(root)
    swarm.unpin(root)
    swarm.gc()
    assert swarm.nodes["n0"].bytes_stored == 0 and swarm.find_providers(root) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_periodic_repair_of_suspects_equals_a_full_pass(seed: int) -> None:
    """The periodic pass, checking only roots whose holders came or went, repairs as a full pass does."""
    swarms = [_swarm(seed, 9, (2, 3)) for _ in range(2)]
    rng = random.Random(seed)
    blobs = [rng.randbytes(rng.randrange(100, 3000)) for _ in range(30)]
    events = [(rng.choice(["leave", "lose", "rejoin"]), f"n{rng.randrange(9)}") for _ in range(6)]
    for incremental, swarm in zip((True, False), swarms, strict=True):
        roots = [swarm.add(f"n{i % 9}", b) for i, b in enumerate(blobs)]
        for root in roots:
            _run(swarm, swarm.pin(root))
        for event, node in events:
            {"leave": swarm.leave, "lose": swarm.lose_node, "rejoin": swarm.rejoin}[event](node)
            _run(swarm, swarm._repair_suspects() if incremental else swarm.repair_once())
        assert all(2 <= len(swarm.holders(r)) <= 3 for r in roots if swarm.holders(r))
    a, b = swarms
    assert [a.holders(r) for r in a.pinset] == [b.holders(r) for r in b.pinset]
    assert a.counters == b.counters


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["pin", "unpin", "leave", "rejoin", "lose"]),
                          st.integers(0, 5), st.integers(0, 7)), max_size=40),
       st.lists(st.integers(0, 7), max_size=8))
def test_the_pin_index_names_the_online_holders_in_join_order(
        ops: list[tuple[str, int, int]], early: list[int]) -> None:
    """``holders`` (read from the index) is the online nodes whose pins hold the root, in join order,
    whatever pins, unpins, departures, returns and losses came before (and pins made before joining)."""
    from storage_sim.node import Node

    swarm = _swarm(0, 5, 1)
    rng = random.Random(0)
    roots = [swarm.add("n0", rng.randbytes(50)) for _ in range(8)]
    blocks = {root: swarm.nodes["n0"].blockstore.get(root) for root in roots}  # one block each
    late = Node("late", swarm.key)
    for i in early:  # a node that pinned before it joined
        late.blockstore.put(roots[i], blocks[roots[i]])
        late.pin(roots[i])
    swarm.join(late)
    nodes = list(swarm.nodes.values())
    for op, n, r in ops:
        node, root = nodes[n], roots[r]
        if op == "pin" and not node.lost:
            node.blockstore.put(root, blocks[root])
            node.pin(root)
        elif op == "unpin":
            node.unpin(root)
        elif op == "leave":
            swarm.leave(node.node_id)
        elif op == "rejoin":
            swarm.rejoin(node.node_id)
        elif op == "lose":
            swarm.lose_node(node.node_id)
    for root in roots:
        assert swarm.holders(root) == [n.node_id for n in swarm.online_nodes() if root in n.pins]
