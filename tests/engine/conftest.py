"""Simulated worlds kept after their run, for tests that plant faults into them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sim.engine import runner
from sim.engine import world as world_module
from sim.engine.scenario import load_scenario
from sim.engine.trace import TraceWriter
from sim.engine.world import World

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@dataclass
class Simulated:
    """A world simulated to the end of its scenario (not yet checked) and its trace."""

    world: World
    trace: Path


@contextmanager
def simulated(folder: Path, overrides: Sequence[str] = (), *, backend: str = "revm",
              name: str = "quickstart", first_name: str | None = None) -> Iterator[Simulated]:
    """Run ``name`` (with ``overrides``) as the runner does, up to the checks; the first
    patient is called ``first_name`` when given. The world is closed afterwards."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", list(overrides))
    folder.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        if first_name is not None:
            patch.setattr(world_module, "people_chunk", _renaming(first_name))
        trace_path = folder / "trace.jsonl"
        trace = TraceWriter(trace_path)
        world = World(scenario, scenario.layouts[0], trace, backend=backend)
        try:
            try:
                world.start()
                runner._simulate(world, False)
            finally:
                trace.close()
            yield Simulated(world, trace_path)
        finally:
            world.close()


def _renaming(name: str) -> Callable[[int, int, int], list[Any]]:
    """``people_chunk`` with the very first person named ``name``."""
    original = world_module.people_chunk

    def chunk(seed: int, size: int, index: int) -> list[Any]:
        people = original(seed, size, index)
        if index == 0 and people:
            people[0] = dataclasses.replace(people[0], name=name)
        return people

    return chunk


#: A name too short for a raw search (see sim.engine.invariants), given to the first patient
#: of the shared runs.
SHORT_NAME = "Li Wu"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulated]:
    """The quickstart on revm (private layout; its first patient is :data:`SHORT_NAME`),
    shared by a module: tests undo what they plant."""
    with simulated(tmp_path_factory.mktemp("quickstart"), first_name=SHORT_NAME) as run:
        yield run


@pytest.fixture
def fresh_quickstart(tmp_path: Path) -> Iterator[Simulated]:
    """A quickstart of its own, for a test that plants a fault it cannot undo."""
    with simulated(tmp_path) as run:
        yield run
