"""The live world on a JSON-RPC node (anvil): the same screens, no clock to move, the
explorer reading the node's blocks and receipts."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from sim.dapp.app import create_app
from sim.dapp.live import LiveWorld
from tests.dapp.conftest import Browser, issued
from tests.tools import require


@pytest.fixture(scope="module")
def node_browser() -> Iterator[tuple[Browser, LiveWorld]]:
    """A client of a live world on a fresh anvil node the backend starts (and stops)."""
    require("anvil")
    world = LiveWorld("anvil")
    try:
        with TestClient(create_app(live=world, hosts={"testserver"})) as client:
            yield Browser(client), world
    finally:
        world.close()


def test_story_on_a_node(node_browser: tuple[Browser, LiveWorld]) -> None:
    """On anvil: register, visit, upload, grant and the second doctor's read rebuild the study;
    the page offers no clock; the explorer shows the read's AccessUsed event from the node."""
    b, world = node_browser
    assert "cannot be moved from here" in b.client.get("/live", params={"role": "regulator"}).text
    b.act("apply", "applicant", name="City General Hospital", gov_reg_id="G-1", location="x",
          specialization="x", contact="x")
    b.act("verify", "regulator", hospital="city-general-hospital")
    for kind in ("desk", "lab"):
        b.act("staff", "hospital:city-general-hospital", kind=kind)
    for name, uprn in (("Dr. Rao", "U-1"), ("Dr. Iyer", "U-2")):
        b.act("onboard", "hospital:city-general-hospital", name=name, registration_number=uprn,
              specialization="x", contact="x")
    patient = issued(b.act("register", "desk:city-general-hospital", name="Meena", age=46,
                           gender="F", weight_kg=60, height_cm=158, address="x", phone="y",
                           email="z"), "patient_id")
    today = dt.datetime.fromtimestamp(world.now, dt.UTC).date().isoformat()
    pmr = issued(b.act("visit", "doctor:dr-rao", patient_id=patient, visit=today,
                       present_illness="a", diagnosis="b", treatment="c"), "pmr_id")
    b.act("upload", "lab:city-general-hospital", pmr_id=pmr, test="CT", source="CT_small.dcm",
          reason="r", observations="o")
    b.act("grant", "patient:patient-1", doctor="dr-iyer", pmr_id=pmr, days=1)
    page = b.act("read", "doctor:dr-iyer", pmr_id=pmr)
    assert "rebuilt, identical to the stored study" in page
    tx_hash = re.search(r'id="tx-hash">(0x[0-9a-f]{64})<', page).group(1)  # type: ignore[union-attr]
    data = b.client.get(f"/explorer/tx/{tx_hash}", params={"format": "json"}).json()
    assert data["call"]["function"] == "use" and [e["name"] for e in data["events"]] == ["AccessUsed"]
    assert data["rows"][0]["sender"] == "dr-iyer"
    timeline = b.client.get(f"/explorer/patient/{patient}", params={"format": "json"}).json()
    assert ("released", "dr-iyer") in [(a["event"], a["grantee"]) for a in timeline["rows"]]
