"""The form dispatch of the DApp's app: hostile field values are a one-line 400 naming the
field, never a 500, and change nothing (no action, no block)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from sim.dapp.app import create_app
from sim.dapp.live import LiveWorld
from tests.dapp.conftest import ORIGIN, Browser, play_story

VISIT = {"visit": "2021-01-27", "present_illness": "x", "diagnosis": "y", "treatment": "z"}
PATIENT = {"name": "A", "age": "40", "gender": "F", "weight_kg": "60", "height_cm": "160",
           "address": "a", "phone": "p", "email": "e"}


@pytest.fixture(scope="module")
def hostile() -> tuple[Browser, LiveWorld, dict[str, int]]:
    """A played story behind a client that answers a server error with a 500, not a raise."""
    world = LiveWorld()
    client = TestClient(create_app(live=world, hosts={"testserver"}), raise_server_exceptions=False)
    browser = Browser(client)
    return browser, world, play_story(browser)


def _refused(hostile: tuple[Browser, LiveWorld, dict[str, int]], action: str, role: str,
             fields: dict[str, str], expected: str) -> None:
    """Post ``fields`` to ``action`` as ``role``: a 400 saying ``expected``, nothing sent."""
    browser, world, _ = hostile
    before = (len(world.actions), world.protocol.chain.block_number)
    response = browser.client.post(f"/live/act/{action}", headers={"Origin": ORIGIN},
                                   data={"token": browser.token(), "role": role, **fields})
    assert response.status_code == 400, (action, fields, response.status_code)
    assert expected in response.text, response.text[-600:]
    assert (len(world.actions), world.protocol.chain.block_number) == before


@pytest.mark.parametrize("value", ["-1", "-0", str(2**256), "1" * 200, "1_0", "\u0661\u0662", "+3",
                                   " 1 2 "])
def test_ids_out_of_range_or_not_plain_digits_are_400(
        hostile: tuple[Browser, LiveWorld, dict[str, int]], value: str) -> None:
    """Negative, huge, underscored or non-ASCII numbers in an ID field are refused by name."""
    patient = str(hostile[2]["patient_id"])
    cases = [
        ("visit", "doctor:dr-anitha-rao", {"patient_id": value, **VISIT}, "patient_id"),
        ("read", "doctor:dr-vikram-iyer", {"pmr_id": value}, "pmr_id"),
        ("grant", "patient:patient-1", {"doctor": "dr-vikram-iyer", "pmr_id": value, "days": "1"},
         "pmr_id"),
        ("revoke", "patient:patient-1", {"doctor": "dr-vikram-iyer", "pmr_id": value}, "pmr_id"),
        ("upload", "lab:city-general-hospital", {"pmr_id": value, "test": "CT",
                                                 "source": "CT_small.dcm", "reason": "r",
                                                 "observations": "o"}, "pmr_id"),
        ("refer", "doctor:dr-anitha-rao", {"pmr_id": value, "hospital": "lakeside-clinic"},
         "pmr_id"),
        ("emergency", "doctor:dr-vikram-iyer", {"patient_id": patient, "reason_code": value},
         "reason_code"),
        ("emergency", "doctor:dr-vikram-iyer", {"patient_id": value, "reason_code": "1"},
         "patient_id"),
        ("review", "regulator", {"doctor": "dr-vikram-iyer", "opening": value,
                                 "verdict": "justified"}, "opening"),
    ]
    for action, role, fields, key in cases:
        _refused(hostile, action, role, fields, f"{key}: expected a whole number")


@pytest.mark.parametrize("days", ["1e300", "-1", "0", "-1e12", "3651", "nan", "inf"])
def test_grant_days_out_of_range_are_400(hostile: tuple[Browser, LiveWorld, dict[str, int]],
                                         days: str) -> None:
    """A grant of no time, negative time or centuries is refused by field, not a 500."""
    _refused(hostile, "grant", "patient:patient-1",
             {"doctor": "dr-vikram-iyer", "pmr_id": str(hostile[2]["pmr_id"]), "days": days},
             "days: expected")


@pytest.mark.parametrize("verdict", ["", "Justified", "bogus", "not justified"])
def test_unknown_review_verdict_is_400(hostile: tuple[Browser, LiveWorld, dict[str, int]],
                                       verdict: str) -> None:
    """A verdict other than the form's two choices is refused, not sent as 'not justified'."""
    _refused(hostile, "review", "regulator",
             {"doctor": "dr-vikram-iyer", "opening": "1", "verdict": verdict}, "verdict")


@pytest.mark.parametrize(("key", "value"), [("age", "151"), ("age", str(2**64 - 1)),
                                            ("weight_kg", "-1e308"), ("weight_kg", "0"),
                                            ("height_cm", "1e308"), ("height_cm", "-5")])
def test_patient_measures_out_of_range_are_400(
        hostile: tuple[Browser, LiveWorld, dict[str, int]], key: str, value: str) -> None:
    """An age, weight or height no person has is refused by field at the desk."""
    _refused(hostile, "register", "desk:city-general-hospital", {**PATIENT, key: value},
             f"{key}: expected")


@pytest.mark.parametrize("name", ["A\x00B", "A\nB", "A\x1b[31mB", "A\x7fB"])
def test_control_characters_in_text_are_400(hostile: tuple[Browser, LiveWorld, dict[str, int]],
                                            name: str) -> None:
    """A text field with a control character (NUL, newline, escape) is refused by name."""
    _refused(hostile, "register", "desk:city-general-hospital", {**PATIENT, "name": name},
             "name: no control characters")
