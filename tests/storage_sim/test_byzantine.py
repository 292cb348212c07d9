"""Byzantine nodes: corrupt blocks are detected, blamed and refetched; no wrong byte escapes."""

from __future__ import annotations

import random

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_sim import ContentUnavailableError, ImportParams, Swarm


def _run(swarm: Swarm, body):  # type: ignore[no-untyped-def]
    return swarm.env.run(until=swarm.env.process(body))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    byzantine=st.integers(0, 4),
    rate=st.sampled_from([0.3, 0.7, 1.0]),
    size=st.integers(0, 3000),
)
def test_byzantine_nodes_never_cause_a_wrong_byte(
    seed: int, byzantine: int, rate: float, size: int
) -> None:
    """Whatever nodes lie, a retrieval returns the exact bytes or raises; never wrong data."""
    rng = random.Random(seed)
    swarm = Swarm(simpy.Environment(), rng, replication=5)
    for i in range(6):
        swarm.add_node(f"n{i}")
    data = rng.randbytes(size)
    params = ImportParams(chunk_size=256, max_links=4)
    root = swarm.add("n0", data, params=params)
    _run(swarm, swarm.pin(root))
    for node_id in rng.sample(sorted(swarm.nodes)[:5], byzantine):
        swarm.set_byzantine(node_id, rate)
    try:
        got = _run(swarm, swarm.retrieve("n5", root, store=False))
    except ContentUnavailableError:
        assert byzantine == 5  # an honest holder always exists otherwise
    else:
        assert got == data


def test_corrupt_block_is_blamed_and_fetched_elsewhere(swarm: Swarm) -> None:
    """A lying provider is blamed per corrupt block and an honest one serves the block."""
    data = random.Random(2).randbytes(20_000)
    root = swarm.add("n0", data, params=ImportParams(chunk_size=1000))
    holders = _run(swarm, swarm.pin(root))
    liar = holders[1]
    swarm.set_byzantine(liar, 1.0)
    assert _run(swarm, swarm.retrieve("n5", root)) == data
    assert swarm.counters.corrupt_blocks_detected == swarm.counters.blamed.get(liar, 0)
    assert set(swarm.counters.blamed) <= {liar}


def test_only_liars_left_means_unavailable(swarm: Swarm) -> None:
    """When every reachable provider lies, retrieval fails instead of returning bad bytes."""
    root = swarm.add("n0", b"z" * 5000)
    swarm.set_byzantine("n0", 1.0)
    with pytest.raises(ContentUnavailableError, match="no reachable honest provider"):
        _run(swarm, swarm.retrieve("n1", root))
    assert swarm.counters.blamed == {"n0": 1}


def test_tampered_local_store_is_detected(swarm: Swarm) -> None:
    """A block corrupted in the requester's own store is detected and refetched."""
    data = b"local" * 1000
    root = swarm.add("n0", data)
    _run(swarm, swarm.pin(root))
    holder = swarm.nodes[swarm.holders(root)[1]]
    holder.blockstore.put(root, b"garbage")
    assert _run(swarm, swarm.retrieve(holder.node_id, root)) == data
    assert swarm.counters.blamed.get(holder.node_id) == 1
