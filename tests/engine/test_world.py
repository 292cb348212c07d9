"""The world's actors: who a visit or a second opinion can go to."""

from __future__ import annotations

import random
from pathlib import Path

from sim.engine.scenario import load_scenario
from sim.engine.trace import TraceWriter
from sim.engine.world import World

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_a_second_opinion_goes_to_an_onboarded_doctor_of_another_hospital(tmp_path: Path) -> None:
    """After setup, each hospital's pool of second doctors is every other hospital's onboarded
    doctors (kept from the first second opinion on), and a draw picks from it."""
    scenario = load_scenario(SCENARIOS / "paper.yaml",
                             ["population.hospitals=3", "population.doctors_per_hospital=2",
                              "population.patients=1"])
    trace = TraceWriter(tmp_path / "trace.jsonl")
    world = World(scenario, "private", trace, backend="revm")
    try:
        world.start()
        world.env.run(until=3600)
        assert world.counts["doctors"] == 6
        for h in range(3):
            pool = [d for k, ds in enumerate(world.doctors) if k != h for d in ds if d.doctor_id]
            assert len(pool) == 4
            for seed in range(3):
                picked = world._other_doctor(h, random.Random(seed))
                assert picked is random.Random(seed).choice(pool)
                assert picked not in world.doctors[h]
            assert world._others[h] == pool
    finally:
        trace.close()
        world.close()
