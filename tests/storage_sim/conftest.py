"""Tiny fixtures for storage_sim tests: a SimPy environment, a seeded rng, a small swarm."""

from __future__ import annotations

import random

import pytest
import simpy

from storage_sim import Swarm


@pytest.fixture
def env() -> simpy.Environment:
    """A fresh SimPy environment at time 0."""
    return simpy.Environment()


@pytest.fixture
def rng() -> random.Random:
    """A seeded random source (never the module-level one)."""
    return random.Random(1234)


@pytest.fixture
def swarm(env: simpy.Environment, rng: random.Random) -> Swarm:
    """Six honest nodes n0..n5 with replication 3."""
    s = Swarm(env, rng, replication=3)
    for i in range(6):
        s.add_node(f"n{i}")
    return s
