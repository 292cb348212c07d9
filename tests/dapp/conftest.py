"""Shared fixtures of the DApp tests: one live world played through the pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from sim.dapp.app import create_app
from sim.dapp.live import LiveWorld

ORIGIN = "http://testserver"


class Browser:
    """A TestClient that posts forms as the pages do (same origin, the page's token)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def token(self, role: str = "applicant") -> str:
        """The session token the live page embeds in its forms."""
        page = self.client.get("/live", params={"role": role})
        found = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
        assert found, page.text[:500]
        return found.group(1)

    def act(self, action: str, role: str, **fields: object) -> str:
        """Submit the form of ``action`` as ``role``; return the result page's text."""
        data = {"token": self.token(role), "role": role, **{k: str(v) for k, v in fields.items()}}
        response = self.client.post(f"/live/act/{action}", data=data,
                                    headers={"Origin": ORIGIN}, follow_redirects=True)
        assert response.status_code == 200, response.text[:500]
        return response.text


@pytest.fixture(scope="module")
def world() -> LiveWorld:
    """A fresh live world (pyevm)."""
    return LiveWorld()


@pytest.fixture(scope="module")
def browser(world: LiveWorld) -> Iterator[Browser]:
    """A client of the app serving ``world`` under the name testserver."""
    with TestClient(create_app(live=world, hosts={"testserver"})) as client:
        yield Browser(client)


def issued(page: str, key: str) -> int:
    """The ID ``key`` an action page says was issued."""
    found = re.search(rf"<li>{key}: <strong>(\d+)</strong>", page)
    assert found, f"no {key} on the page"
    return int(found.group(1))


@pytest.fixture(scope="module")
def story(browser: Browser) -> dict[str, int]:
    """The paper's story played through the pages up to the second doctor's read."""
    b = browser
    b.act("apply", "applicant", name="City General Hospital", gov_reg_id="GOVREG-TN-2009-0042",
          location="Coimbatore", specialization="Multi-speciality", contact="+91 422 555 0100")
    issued(b.act("verify", "regulator", hospital="city-general-hospital"), "hospital_id")
    b.act("apply", "applicant", name="Lakeside Clinic", gov_reg_id="GOVREG-KL-2014-0917",
          location="Kochi", specialization="Radiology", contact="+91 484 555 0199")
    b.act("verify", "regulator", hospital="lakeside-clinic")
    b.act("staff", "hospital:city-general-hospital", kind="desk")
    b.act("staff", "hospital:city-general-hospital", kind="lab")
    b.act("onboard", "hospital:city-general-hospital", name="Dr. Anitha Rao",
          registration_number="TNMC-61234", specialization="General Medicine", contact="+91 98400")
    b.act("onboard", "hospital:lakeside-clinic", name="Dr. Vikram Iyer",
          registration_number="KMC-88121", specialization="Radiology", contact="+91 98470")
    page = b.act("register", "desk:city-general-hospital", name="Meena Krishnan", age=46,
                 gender="F", weight_kg=62.5, height_cm=158, address="12 Gandhi Road, Coimbatore",
                 phone="+91 90030 12345", email="meena.k@example.in", attendant_name="Ravi",
                 attendant_phone="+91 90030 54321", attendant_relation="spouse")
    patient_id = issued(page, "patient_id")
    b.act("clock", "regulator", days=22)
    pmr = issued(b.act("visit", "doctor:dr-anitha-rao", patient_id=patient_id, visit="2021-01-26",
                       present_illness="persistent cough", diagnosis="suspected LRTI",
                       treatment="chest X-ray ordered"), "pmr_id")
    upload = b.act("upload", "lab:city-general-hospital", pmr_id=pmr, test="CT",
                   source="CT_small.dcm", reason="suspected pneumonia",
                   observations="right lower lobe opacity")
    return {"patient_id": patient_id, "pmr_id": pmr,
            "upload": int(re.search(r"<h1>Action (\d+)", upload).group(1))}  # type: ignore[union-attr]


SCENARIOS = __import__("pathlib").Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A finished quickstart run folder (``pmrsim run``), shared by the session."""
    from sim.cli import main

    out = tmp_path_factory.mktemp("dapp") / "quickstart-1"
    assert main(["run", str(SCENARIOS / "quickstart.yaml"), "--out", str(out)]) == 0
    return out
