"""IoMTAnchor: device binding, batch anchoring with Merkle proofs, per-reading mode."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.protocol import Desk, Device, Reading, merkle_proof, merkle_root

from .conftest import World


def _bound_device(world: World, label: str = "oximeter") -> Device:
    device = Device(world.p, label)
    world.desk.bind_device(device, world.patient).require()
    world.patient.accept_device(device).require()
    return device


def _readings(start: int, n: int) -> list[Reading]:
    return [Reading(1, 95 + i % 5, start + i) for i in range(n)]


def test_bound_device_anchors_a_batch(world: World) -> None:
    """A bound device anchors a batch; any reading in it proves against the stored root."""
    device = _bound_device(world)
    start = world.p.chain.timestamp - 100
    readings = _readings(start, 10)
    out = device.anchor(readings, start, start + 50).require()
    assert out.event("BatchAnchored")["patient_id"] == world.patient.patient_id
    for i in (0, 5, 9):
        assert world.p.view("IoMTAnchor", "verify_reading", device.address, 0,
                            readings[i].leaf(), merkle_proof(readings, i))
    forged = Reading(1, 60, start)
    assert not world.p.view("IoMTAnchor", "verify_reading", device.address, 0,
                            forged.leaf(), merkle_proof(readings, 0))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_python_proofs_match_the_root(n: int, data: st.DataObject) -> None:
    """Every reading's proof leads to the batch root (the tree snekmate verifies)."""
    from sim.protocol.merkle import _pair

    readings = _readings(1_600_000_000, n)
    i = data.draw(st.integers(0, n - 1))
    node = readings[i].leaf()
    for sibling in merkle_proof(readings, i):
        node = _pair(node, sibling)
    assert node == merkle_root(readings)


def test_unbound_device_rejected(world: World) -> None:
    """A device not bound to a patient cannot anchor."""
    start = world.p.chain.timestamp - 100
    out = Device(world.p, "stray").anchor(_readings(start, 3), start, start + 10)
    assert out.reason == "iomt_anchor: unknown device"


def test_only_operators_bind_devices(world: World) -> None:
    """Binding needs an operator of a verified hospital."""
    out = Desk(world.p, "not-a-desk").bind_device(Device(world.p, "d"), world.patient)
    assert out.reason == "hospital_registry: not a hospital operator"


def test_device_bound_once(world: World) -> None:
    """A device already bound cannot be bound again."""
    device = _bound_device(world)
    assert world.desk.bind_device(device, world.other).reason == "iomt_anchor: device already bound"


def test_window_must_end_in_the_past(world: World) -> None:
    """A batch window must be non-empty and not end after the block time."""
    device = _bound_device(world)
    now = world.p.chain.timestamp
    assert device.anchor(_readings(now, 2), now + 10, now + 5).reason == "iomt_anchor: bad window"
    assert device.anchor(_readings(now, 2), now, now + 10**6).reason == "iomt_anchor: bad window"


def test_per_reading_mode_stores_each_reading(world: World) -> None:
    """In per-reading mode every reading is a transaction and a stored slot."""
    device = _bound_device(world)
    for i in range(3):
        device.record(Reading(2, 3650 + i, world.p.chain.timestamp)).require()
    assert world.p.view("IoMTAnchor", "reading_count", device.address) == 3
