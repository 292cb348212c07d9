"""Network model: retrievals take simulated time; partitions and churn change reachability."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from storage_sim import ContentUnavailableError, ImportParams, NodeOfflineError, Swarm


def _run(swarm: Swarm, body):  # type: ignore[no-untyped-def]
    return swarm.env.run(until=swarm.env.process(body))


def test_retrieval_time_follows_latency_and_bandwidth(env: simpy.Environment) -> None:
    """One block costs one round trip plus its size over the slower link."""
    swarm = Swarm(env, random.Random(1))
    swarm.add_node("a", bandwidth=1000.0, latency=0.5)
    swarm.add_node("b", bandwidth=4000.0, latency=0.25)
    data = b"q" * 1000
    root = swarm.add("a", data, cid_version=1)  # one raw block of 1000 bytes
    assert _run(swarm, swarm.retrieve("b", root)) == data
    assert env.now == pytest.approx(2 * (0.5 + 0.25) + 1000 / 1000.0)
    assert swarm.counters.bytes_transferred == 1000 and swarm.counters.blocks_fetched == 1


def test_uplink_is_shared_between_concurrent_transfers(env: simpy.Environment) -> None:
    """Two blocks from one provider are sent one after the other over its uplink."""
    swarm = Swarm(env, random.Random(1))
    swarm.add_node("a", bandwidth=1000.0, latency=0.0)
    swarm.add_node("b", bandwidth=1000.0, latency=0.0)
    root = swarm.add(
        "a", b"r" * 1000 + b"s" * 1000, params=ImportParams(cid_version=1, chunk_size=1000)
    )
    _run(swarm, swarm.retrieve("b", root))
    root_block = len(swarm.nodes["a"].blockstore.get(root))
    assert env.now == pytest.approx((root_block + 2000) / 1000.0)


def test_partition_blocks_and_heal_restores(swarm: Swarm) -> None:
    """Nodes across a partition cannot fetch from each other until it heals."""
    root = swarm.add("n0", b"across" * 100)
    swarm.partition({"n0", "n1"}, {"n2", "n3", "n4", "n5"})
    with pytest.raises(ContentUnavailableError):
        _run(swarm, swarm.retrieve("n4", root))
    assert _run(swarm, swarm.retrieve("n1", root)) == b"across" * 100
    swarm.heal()
    assert _run(swarm, swarm.retrieve("n4", root)) == b"across" * 100


def test_offline_nodes_neither_serve_nor_request(swarm: Swarm) -> None:
    """An offline provider is skipped; an offline requester is refused."""
    root = swarm.add("n0", b"gone for lunch")
    swarm.leave("n0")
    with pytest.raises(ContentUnavailableError):
        _run(swarm, swarm.retrieve("n1", root))
    with pytest.raises(NodeOfflineError):
        _run(swarm, swarm.retrieve("n0", root))
    swarm.rejoin("n0")
    assert _run(swarm, swarm.retrieve("n1", root)) == b"gone for lunch"


def _churn_run(seed: int) -> dict[str, object]:
    env = simpy.Environment()
    rng = random.Random(seed)
    swarm = Swarm(env, rng, replication=(2, 3))
    for i in range(8):
        swarm.add_node(f"n{i}", latency=0.01 * (i + 1))
    roots = [swarm.add(f"n{i}", rng.randbytes(3000)) for i in range(4)]
    for root in roots:
        env.process(swarm.pin(root))
    env.run(until=5)
    swarm.start_repair(interval=30.0)
    swarm.start_churn(mean_uptime=200.0, mean_downtime=50.0)
    swarm.set_byzantine("n7", 0.5)

    def reader() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(1 / 20.0))
            online = [n.node_id for n in swarm.online_nodes()]
            with contextlib.suppress(ContentUnavailableError, NodeOfflineError):
                yield env.process(swarm.retrieve(rng.choice(online), rng.choice(roots)))

    env.process(reader())
    env.run(until=2000)
    return swarm.report()


def test_churn_is_deterministic_for_a_seed() -> None:
    """The same seed gives the same report under churn, repair, byzantine nodes and reads."""
    first = _churn_run(11)
    assert json.dumps(first, sort_keys=True) == json.dumps(_churn_run(11), sort_keys=True)
    counters = first["counters"]
    assert isinstance(counters, dict)
    assert counters["departures"] > 0 and counters["rejoins"] > 0
    assert counters["retrievals"] > 0 and counters["retrievals_ok"] > 0
    assert json.dumps(first, sort_keys=True) != json.dumps(_churn_run(12), sort_keys=True)
