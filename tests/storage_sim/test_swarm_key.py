"""Private swarm: only nodes holding the swarm's pre-shared key may join."""

from __future__ import annotations

import random

import pytest
import simpy

from storage_sim import Node, Swarm, SwarmKeyError, format_swarm_key, parse_swarm_key


def test_node_without_the_key_is_refused(swarm: Swarm) -> None:
    """A node with another key is refused, counted, and never becomes a member."""
    outsider_key = random.Random(99).randbytes(32)
    with pytest.raises(SwarmKeyError, match="intruder refused"):
        swarm.add_node("intruder", swarm_key=outsider_key)
    assert "intruder" not in swarm.nodes and swarm.counters.joins_refused == 1


def test_node_with_the_key_joins(swarm: Swarm) -> None:
    """A separately built node holding the same key is admitted."""
    node = Node("friend", swarm.key)
    assert swarm.join(node) is node and swarm.nodes["friend"] is node


def test_refused_node_cannot_fetch_content(swarm: Swarm, env: simpy.Environment) -> None:
    """Content added to the swarm is invisible to a node outside it (it has no membership)."""
    root = swarm.add("n0", b"private record")
    with pytest.raises(SwarmKeyError):
        swarm.add_node("spy", swarm_key=bytes(32))
    assert swarm.find_providers(root) == ["n0"]


def test_keys_must_be_32_bytes(env: simpy.Environment) -> None:
    """A swarm key of the wrong length is refused up front."""
    with pytest.raises(SwarmKeyError):
        Swarm(env, random.Random(1), swarm_key=b"short")


def test_swarm_key_file_round_trip() -> None:
    """Keys print and parse in Kubo's swarm.key format; malformed files are refused."""
    key = random.Random(7).randbytes(32)
    text = format_swarm_key(key)
    assert text.splitlines()[:2] == ["/key/swarm/psk/1.0.0/", "/base16/"]
    assert parse_swarm_key(text) == key
    with pytest.raises(SwarmKeyError):
        parse_swarm_key("/key/swarm/psk/1.0.0/\n/base16/\nnot-hex\n")


def test_swarm_key_comes_from_the_seeded_rng(env: simpy.Environment) -> None:
    """Without an explicit key, the swarm draws one from its rng: same seed, same key."""
    a = Swarm(env, random.Random(5)).key
    b = Swarm(env, random.Random(5)).key
    assert a == b and len(a) == 32
