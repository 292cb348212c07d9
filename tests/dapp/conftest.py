"""Shared fixtures of the DApp tests: one live world played through the pages, and the
headless Chromium (Debian's, driven by Selenium) with the helpers of the browser tests."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from sim.dapp.app import create_app
from sim.dapp.live import LiveWorld

ORIGIN = "http://testserver"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
SHOTS = Path(os.environ.get("PMRSIM_SCREENSHOTS", Path(tempfile.gettempdir()) / "pmrsim-screenshots"))


class Browser:
    """An HTTP client that posts forms as the pages do (same origin, the page's token): a
    TestClient of the app, or an ``httpx2.Client`` of a running ``pmrsim serve``."""

    def __init__(self, client: httpx2.Client, origin: str = ORIGIN) -> None:
        self.client = client
        self.origin = origin

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
                                    headers={"Origin": self.origin}, follow_redirects=True)
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
    """The paper's story played through the pages up to the lab's upload."""
    return play_story(browser)


def play_story(b: Browser) -> dict[str, int]:
    """Play the paper's story through the pages of ``b``: two hospitals registered and
    verified, staff named, two doctors onboarded, a patient registered, a visit, a lab upload.
    Returns the Patient-ID, the PMR-ID and the upload's action number."""
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


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A finished quickstart run folder (``pmrsim run``), shared by the session."""
    from sim.cli import main

    out = tmp_path_factory.mktemp("dapp") / "quickstart-1"
    assert main(["run", str(SCENARIOS / "quickstart.yaml"), "--out", str(out)]) == 0
    return out


def need_browser() -> None:
    """Skip the calling test module without Chromium and chromedriver (fail it under CI=true)."""
    if CHROMIUM and DRIVER:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("chromium and chromedriver are required in CI (scripts/install-browser.sh)",
                    pytrace=False)
    pytest.skip("chromium or chromedriver missing (scripts/install-browser.sh)",
                allow_module_level=True)


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``pmrsim serve`` on a free loopback port; return it and its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim", "serve", *args, "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/").close()
            return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(f"pmrsim serve did not start: {err}") from None
            time.sleep(0.2)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, no network beyond the loopback server."""
    need_browser()
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1200,1600",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(DRIVER)))
    browser.implicitly_wait(2)
    yield browser
    browser.quit()


def click(d: Any, element_id: str, *keys: str) -> None:
    """Click a control (or type ``keys`` into it) and wait until the next page replaced this one."""
    from selenium.webdriver.common.by import By

    old = d.find_element(By.TAG_NAME, "html")
    target = d.find_element(By.ID, element_id)
    if keys:
        target.send_keys(*keys)
    else:
        target.click()
    wait_gone(d, old)


def wait_gone(d: Any, old: Any) -> None:
    """Wait until element ``old`` of the previous page left the document (a navigation ended)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 60).until(lambda _: gone(old))


def gone(element: Any) -> bool:
    """Whether ``element`` left the document. Chromium answers a node of a page being replaced
    either as stale or, mid-navigation, as "does not belong to the document"."""
    from selenium.common.exceptions import WebDriverException

    try:
        element.is_enabled()
    except WebDriverException:  # StaleElementReferenceException included
        return True
    return False
