"""Gas floors: what each operation must write, so gas above the floor is one figure per kind."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from sim.chain import make_chain
from sim.protocol.outcome import SlotWrites
from sim.protocol.protocol import Protocol
from sim.protocol.story import PAPER_PATIENT_ID, Cast, make_cast, paper_story
from sim.protocol.story import _at as at_day


@pytest.fixture(scope="module", params=["private", "paper"])
def story(request: pytest.FixtureRequest) -> tuple[Protocol, Cast, dict[str, list[int]]]:
    """The story played once per layout: its protocol, cast, and gas above the floor per op."""
    p = Protocol.deploy(make_chain("pyevm", seed=0), layout=request.param, seed=0,
                        first_patient_id=PAPER_PATIENT_ID)
    cast = make_cast(p)
    above: dict[str, list[int]] = defaultdict(list)
    for step in paper_story(p, cast):
        if step.outcome.ok:
            above[step.outcome.op].append(step.outcome.gas - step.outcome.floor)
    return p, cast, above


@pytest.mark.parametrize("op", ["HospitalRegistry.verify", "DoctorRegistry.onboard",
                                "LabReports.post", "IoMTAnchor.anchor_batch",
                                "IoMTAnchor.record_reading"])
def test_first_of_its_kind_is_as_far_above_its_floor_as_the_next(
        story: tuple[Protocol, Cast, dict[str, list[int]]], op: str) -> None:
    """The first Hospital-ID, Doctor-ID, report, batch or reading writes its counter from zero,
    and its floor counts that: the same gas above the floor as the second call."""
    p, _, above = story
    if not p.private:
        op = op.replace("onboard", "onboard_paper").replace("post", "post_paper")
    first, *rest = above[op]
    assert rest and set(rest) == {first}


def test_grant_and_emergency_opened_again_count_a_changed_slot(
        story: tuple[Protocol, Cast, dict[str, list[int]]]) -> None:
    """A grant or emergency window opened again for the same doctor and scope rewrites its slot:
    its floor counts a change, so it is as far above it as the first one."""
    p, c, above = story
    pmr = c.patient.patient_id * 10**8 + 26012021
    now = at_day(p, dt.date(2021, 4, 1))
    again = c.patient.grant(c.dr_iyer, now + 86_400, pmr_id=pmr)  # the story granted it in February
    assert again.ok and again.writes == SlotWrites(updated=1)
    assert again.gas - again.floor == above["AccessGrants.grant"][0]
    glass = c.dr_rao.emergency_access(c.other_patient.patient_id, 7)  # opened in February too
    # the trust model: a new opening record, the doctor's review queue and the window changed
    assert glass.ok and glass.writes == SlotWrites(new=1, updated=2)
    assert glass.gas - glass.floor == above["AccessGrants.emergency_access"][0]


def test_paper_registration_without_an_attendant_is_a_variant_of_its_own(
        story: tuple[Protocol, Cast, dict[str, list[int]]]) -> None:
    """In the paper layout, a registration without an attendant (three empty strings, whose no-op
    writes the floor counts at 2,200 gas each) still has its own label and figure, ~4,400 gas
    above a full one's; the private layout's cost does not depend on it."""
    p, _, above = story
    if p.private:
        assert len(above["PatientRegistry.register"]) == 2
        return
    [full] = above["PatientRegistry.register_paper"]
    [bare] = above["PatientRegistry.register_paper (no attendant)"]
    assert bare - full > 3_000
