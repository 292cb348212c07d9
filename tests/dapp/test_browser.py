"""The DApp in a real headless Chromium (Debian's, driven by Selenium): a person's clicks.

One test walks the paper's story through the live screens (register, verify, onboard,
register a patient, visit, lab upload, grant, second doctor reads, expiry refuses); another
opens a finished run in the explorer and finds a patient's accesses. Each screen is
checked for labels and headings and saved as a screenshot (the folder is printed). Without
Chromium and chromedriver these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.dapp.conftest import SHOTS, need_browser
from tests.dapp.conftest import click as _click
from tests.dapp.conftest import serve as _serve

need_browser()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


class Screens:
    """Saves a screenshot of each screen and checks its labels and headings."""

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        print(f"screenshots in {folder}")

    def check(self, name: str) -> None:
        """Every visible control has a label; one h1; the page has a language; ids are unique."""
        problems = self.driver.execute_script("""
            const out = [];
            for (const el of document.querySelectorAll('input, select, textarea')) {
              if (el.type === 'hidden') continue;
              const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]'))
                || el.closest('label') || el.getAttribute('aria-label');
              if (!labelled) out.push('unlabelled ' + el.tagName + ' ' + (el.name || ''));
            }
            if (document.querySelectorAll('h1').length !== 1) out.push('not exactly one h1');
            if (!document.documentElement.lang) out.push('no lang');
            for (const img of document.querySelectorAll('img')) if (!img.alt) out.push('img without alt');
            const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
            for (const id of new Set(ids))
              if (ids.indexOf(id) !== ids.lastIndexOf(id)) out.push('duplicate id ' + id);
            return out;""")
        assert problems == [], f"{name}: {problems}"
        self.count += 1
        self.driver.save_screenshot(str(self.folder / f"{self.count:02d}-{name}.png"))


def _role(d: Any, base: str, role: str) -> None:
    d.get(base + "/live")
    Select(d.find_element(By.ID, "role-picker")).select_by_value(role)
    _click(d, "act-as")


def _fill(d: Any, **fields: object) -> None:
    for name, value in fields.items():
        box = d.find_element(By.ID, f"f-{name}")
        if box.tag_name == "select":
            Select(box).select_by_value(str(value))
        else:
            box.clear()
            box.send_keys(str(value))


def _issued(d: Any, key: str) -> int:
    for item in d.find_elements(By.CSS_SELECTOR, "#issued li"):
        if item.text.startswith(key + ":"):
            return int(item.text.split(":")[1])
    raise AssertionError(f"no {key} issued")


def test_paper_story_through_the_screens(driver: Any) -> None:
    """Register, verify, onboard, register a patient, visit, upload, grant, read, expiry refuses."""
    proc, base = _serve()
    d, shots = driver, Screens(driver, SHOTS / "live")
    try:
        d.get(base + "/live")
        assert d.find_element(By.TAG_NAME, "h1").text == "Live world"
        assert "simulated wallet" in d.find_element(By.ID, "acting").text
        shots.check("role-picker")
        for name, reg in (("City General Hospital", "GOVREG-1"), ("Lakeside Clinic", "GOVREG-2")):
            _role(d, base, "applicant")
            _fill(d, name=name, gov_reg_id=reg, location="Coimbatore", specialization="General")
            _click(d, "f-contact", "+91 422", Keys.ENTER)  # the keyboard
            assert "Mined: succeeded" in d.find_element(By.ID, "outcome").text
            _role(d, base, "regulator")
            shots.check("regulator")
            _click(d, "do-verify") if name.startswith("City") else (
                _fill(d, hospital="lakeside-clinic"), _click(d, "do-verify"))
            assert _issued(d, "hospital_id") in (1, 2)
            shots.check("verified")
        _role(d, base, "hospital:city-general-hospital")
        for kind in ("desk", "lab"):
            _fill(d, kind=kind)
            _click(d, "do-staff")
            _click(d, "back")
        for hospital, doctor, uprn in (("city-general-hospital", "Dr. Anitha Rao", "TNMC-61234"),
                                       ("lakeside-clinic", "Dr. Vikram Iyer", "KMC-88121")):
            _role(d, base, f"hospital:{hospital}")
            _fill(d, name=doctor, registration_number=uprn, specialization="Medicine", contact="+91")
            shots.check(f"onboard-{hospital}")
            _click(d, "do-onboard")
            assert _issued(d, "doctor_id") >= 1
        _role(d, base, "desk:city-general-hospital")
        _fill(d, name="Meena Krishnan", age=46, gender="F", weight_kg=62.5, height_cm=158,
              address="12 Gandhi Road", phone="+91 90030", email="meena@example.in")
        shots.check("desk")
        _click(d, "do-register")
        patient = _issued(d, "patient_id")
        assert patient == 85437
        _fill_clock(d, base, 22)
        _role(d, base, "doctor:dr-anitha-rao")
        _fill(d, patient_id=patient, present_illness="cough", diagnosis="LRTI", treatment="X-ray")
        d.execute_script("document.getElementById('f-visit').value = '2021-01-26'")
        shots.check("doctor")
        _click(d, "do-visit")
        pmr = _issued(d, "pmr_id")
        assert pmr == 8543726012021
        _role(d, base, "lab:city-general-hospital")
        _fill(d, pmr_id=pmr, test="CT", source="CT_small.dcm", reason="pneumonia?", observations="opacity")
        shots.check("lab")
        _click(d, "do-upload")
        assert "(1, 3, 5)" in d.find_element(By.ID, "offchain").text
        assert d.execute_script("return document.getElementById('study-image').naturalWidth") > 0
        shots.check("uploaded")
        _role(d, base, "patient:patient-1")
        assert str(pmr) in d.find_element(By.ID, "my-records").text
        assert "sha256:" in d.find_element(By.ID, "my-records").text
        _fill(d, doctor="dr-vikram-iyer", pmr_id=pmr, days=7)
        shots.check("patient")
        _click(d, "do-grant")
        assert "Mined: succeeded" in d.find_element(By.ID, "outcome").text
        _role(d, base, "doctor:dr-vikram-iyer")
        _fill(d, pmr_id=pmr)
        _click(d, "do-read")
        assert "rebuilt, identical" in d.find_element(By.ID, "offchain").text
        assert d.execute_script("return document.getElementById('study-image').naturalWidth") > 0
        shots.check("second-doctor-reads")
        _fill_clock(d, base, 8)
        _role(d, base, "doctor:dr-vikram-iyer")
        _fill(d, pmr_id=pmr)
        _click(d, "do-read")
        assert d.find_element(By.ID, "reason").text == "access_grants: grant expired"
        assert d.find_element(By.ID, "rule").text.startswith("G3")
        shots.check("expired")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _fill_clock(d: Any, base: str, days: int) -> None:
    _role(d, base, "regulator")
    _fill(d, clock_days=days)
    _click(d, "advance")


def test_explorer_finds_a_patients_accesses(driver: Any, quickstart_run: Path) -> None:
    """A finished run opens in the explorer; searching a Patient-ID lists their accesses."""
    lines = [json.loads(x) for x in (quickstart_run / "trace.jsonl").read_text().splitlines()]
    patient = next(x["patient"] for x in lines if x["kind"] == "access")
    proc, base = _serve(str(quickstart_run))
    d, shots = driver, Screens(driver, SHOTS / "explorer")
    try:
        d.get(base + "/explorer")
        assert "Attack matrix" in d.page_source
        shots.check("overview")
        _click(d, "q", str(patient), Keys.ENTER)
        rows = d.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
        want = [x for x in lines if x["kind"] == "access" and x["patient"] == patient]
        assert len(rows) == len(want)
        assert all(w["event"] in r.text for w, r in zip(want, rows, strict=True))
        shots.check("patient-accesses")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_break_glass_oversight_iomt_and_the_live_explorer(driver: Any) -> None:
    """After the paper's story (played over HTTP), the later screens by clicking: break-glass
    and its review, suspension refusing a read, an IoMT device refused until the patient
    consents, then anchoring; and the live chain's explorer showing the patient's timeline and
    a transaction's decoded call and events."""
    import httpx2

    from tests.dapp.conftest import Browser, play_story

    proc, base = _serve()
    d, shots = driver, Screens(driver, SHOTS / "live-more")
    try:
        with httpx2.Client(base_url=base, timeout=120) as client:
            story = play_story(Browser(client, origin=base))
        patient, pmr = story["patient_id"], story["pmr_id"]
        _role(d, base, "doctor:dr-anitha-rao")
        _fill(d, epatient_id=patient, reason_code=7)
        _click(d, "do-emergency")
        assert "Mined: succeeded" in d.find_element(By.ID, "outcome").text
        shots.check("break-glass")
        _role(d, base, "hospital:city-general-hospital")
        _fill(d, vdoctor="dr-anitha-rao", opening=0, verdict="justified")
        shots.check("hospital-review-form")
        _click(d, "do-review")
        assert "Mined: succeeded" in d.find_element(By.ID, "outcome").text
        _role(d, base, "regulator")
        _fill(d, target="doctor:dr-anitha-rao", status="suspend")
        shots.check("regulator-oversight")
        _click(d, "do-status")
        _role(d, base, "doctor:dr-anitha-rao")
        _fill(d, pmr_id=pmr)
        _click(d, "do-read")
        assert d.find_element(By.ID, "reason").text == "doctor_registry: doctor suspended"
        shots.check("suspended-read")
        _role(d, base, "desk:city-general-hospital")
        _fill(d, patient_id=patient, device_name="Pulse Oximeter")
        _click(d, "do-bind")
        _role(d, base, "device:pulse-oximeter")
        shots.check("device")
        _click(d, "do-anchor")
        assert d.find_element(By.ID, "reason").text == ("iomt_anchor: binding not accepted by "
                                                         "the patient")
        _role(d, base, "patient:patient-1")
        _fill(d, adevice="pulse-oximeter")
        _click(d, "do-accept")
        _role(d, base, "device:pulse-oximeter")
        _click(d, "do-anchor")
        assert "merkle_root" in d.find_element(By.ID, "offchain").text
        shots.check("device-anchored")
        tx_hash = d.find_element(By.ID, "tx-hash").text
        d.get(base + "/explorer")
        assert "live world" in d.find_element(By.TAG_NAME, "h1").text
        shots.check("explorer-live")
        _click(d, "q", str(patient), Keys.ENTER)
        d.get(base + f"/explorer/patient/{patient}")
        ops = d.find_element(By.ID, "patient-txs").text
        assert "PMRToken.mint" in ops and "AccessGrants.emergency_access" in ops
        accesses = d.find_element(By.ID, "rows").text
        assert "emergency" in accesses and "doctor_registry: doctor suspended" in accesses
        shots.check("explorer-live-patient")
        d.get(base + f"/explorer/tx/{tx_hash}")
        assert d.find_element(By.ID, "call").text == "IoMTAnchor.anchor_batch"
        assert "BatchAnchored" in d.find_element(By.ID, "events").text
        shots.check("explorer-live-tx")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_explorer_actors_storage_and_events_of_a_run(driver: Any, quickstart_run: Path) -> None:
    """A finished run's actors, storage and a transaction's events (re-derived by re-executing
    its chain, shown once done) in the browser."""
    import time

    proc, base = _serve(str(quickstart_run))
    d, shots = driver, Screens(driver, SHOTS / "explorer-more")
    try:
        d.get(base + "/explorer/actors")
        assert "doctor-0-0" in d.find_element(By.ID, "rows").text
        shots.check("actors")
        d.get(base + "/explorer/storage")
        assert "custodian-0" in d.find_element(By.ID, "nodes").text
        shots.check("storage")
        lines = [json.loads(x) for x in (quickstart_run / "trace.jsonl").read_text().splitlines()]
        tx = next(x for x in lines if x["kind"] == "tx" and x["op"] == "AccessGrants.grant")
        d.get(base + f"/explorer/tx/{tx['hash']}")
        deadline = time.monotonic() + 120
        while not d.find_elements(By.ID, "events"):
            assert d.find_element(By.ID, "events-status").text, "no events and no status"
            assert time.monotonic() < deadline, "events never re-derived"
            time.sleep(1)
            d.refresh()
        assert "AccessGranted" in d.find_element(By.ID, "events").text
        shots.check("tx-events")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
