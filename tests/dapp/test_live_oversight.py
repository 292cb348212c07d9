"""The live screens for IoMT devices, the regulator's suspension and a doctor's referral."""

from __future__ import annotations

import re

from sim.dapp.live import LiveWorld
from sim.protocol.custodian import ANSWERED
from tests.dapp.conftest import Browser


def test_device_needs_consent_then_anchors_off_chain_readings(
        browser: Browser, world: LiveWorld, story: dict[str, int]) -> None:
    """A device bound by the desk anchors nothing until the patient accepts; then a window's
    readings go off chain and the chain gets their Merkle root and the batch's CID; once
    unbound it is refused again."""
    page = browser.act("bind", "desk:city-general-hospital", patient_id=story["patient_id"],
                       device_name="Pulse Oximeter")
    assert "Mined: succeeded" in page and "IoMTAnchor.bind_device" in page
    page = browser.act("anchor", "device:pulse-oximeter", readings=30, minutes=60)
    assert "iomt_anchor: binding not accepted by the patient" in page
    page = browser.act("accept", "patient:patient-1", device="pulse-oximeter")
    assert "Mined: succeeded" in page
    page = browser.act("anchor", "device:pulse-oximeter", readings=30, minutes=60)
    assert "Mined: succeeded" in page and "IoMTAnchor.anchor_batch" in page
    number = int(re.search(r"<h1>Action (\d+)", page).group(1))  # type: ignore[union-attr]
    data = browser.client.get(f"/api/live/action/{number}").json()
    assert data["offchain"]["readings"] == 30 and data["offchain"]["merkle_root"].startswith("0x")
    assert data["offchain"]["encrypted_batch_cid"].startswith("bafkrei")
    event = dict(data["tx"]["events"][0]["args"])
    assert event["merkle_root"] == data["offchain"]["merkle_root"]
    assert world.role_name("device:pulse-oximeter").endswith(f"(bound to patient {story['patient_id']})")
    page = browser.act("unbind", "patient:patient-1", device="pulse-oximeter")
    assert "Mined: succeeded" in page
    page = browser.act("anchor", "device:pulse-oximeter", readings=5, minutes=10)
    assert "iomt_anchor: unknown device" in page


def test_device_input_is_checked(browser: Browser, story: dict[str, int]) -> None:
    """A window of no readings, or a desk binding for an unknown patient, is a one-line 400."""
    browser.act("bind", "desk:city-general-hospital", patient_id=story["patient_id"],
                device_name="Glucose Meter")
    data = {"token": browser.token(), "role": "device:glucose-meter", "readings": "0",
            "minutes": "5"}
    r = browser.client.post("/live/act/anchor", data=data, headers={"Origin": "http://testserver"})
    assert r.status_code == 400 and "readings: expected 1 to 1440" in r.text
    data = {"token": browser.token(), "role": "desk:city-general-hospital", "patient_id": "1",
            "device_name": "x"}
    r = browser.client.post("/live/act/bind", data=data, headers={"Origin": "http://testserver"})
    assert r.status_code == 400 and "patient_id: no patient 1" in r.text


def test_suspended_doctor_is_refused_until_reinstated(browser: Browser,
                                                      story: dict[str, int]) -> None:
    """The regulator suspends a doctor: his next visit is refused for the suspension; once
    reinstated it succeeds. Only the regulator suspends."""
    pid = story["patient_id"]
    page = browser.act("status", "regulator", target="doctor:dr-anitha-rao", status="suspend")
    assert "Mined: succeeded" in page and "DoctorRegistry.suspend" in page
    page = browser.act("visit", "doctor:dr-anitha-rao", patient_id=pid, visit="2021-01-26",
                       present_illness="follow-up", diagnosis="LRTI", treatment="antibiotics")
    assert "doctor_registry: doctor suspended" in page
    browser.act("status", "regulator", target="doctor:dr-anitha-rao", status="reinstate")
    page = browser.act("visit", "doctor:dr-anitha-rao", patient_id=pid, visit="2021-01-26",
                       present_illness="follow-up", diagnosis="LRTI", treatment="antibiotics")
    assert "Mined: succeeded" in page
    data = {"token": browser.token(), "role": "doctor:dr-anitha-rao",
            "target": "doctor:dr-vikram-iyer", "status": "suspend"}
    r = browser.client.post("/live/act/status", data=data, headers={"Origin": "http://testserver"})
    assert r.status_code == 400 and "only the regulator suspends" in r.text


def test_suspended_hospital_cannot_have_its_doctor_act(browser: Browser,
                                                       story: dict[str, int]) -> None:
    """A suspended hospital's doctor cannot record a visit for it (D-rule reason shown)."""
    browser.act("status", "regulator", target="hospital:city-general-hospital", status="suspend")
    page = browser.act("visit", "doctor:dr-anitha-rao", patient_id=story["patient_id"],
                       visit="2021-01-27", present_illness="x", diagnosis="y", treatment="z")
    assert "doctor_registry: hospital not verified" in page
    page = browser.act("status", "regulator", target="hospital:city-general-hospital",
                       status="reinstate")
    assert "Mined: succeeded" in page


def test_referral_by_the_records_hospital_only(browser: Browser, story: dict[str, int]) -> None:
    """The record's doctor refers its tests to the clinic; a doctor of another hospital cannot."""
    page = browser.act("refer", "doctor:dr-anitha-rao", pmr_id=story["pmr_id"],
                       hospital="lakeside-clinic")
    assert "Mined: succeeded" in page and "LabReports.refer" in page
    page = browser.act("refer", "doctor:dr-vikram-iyer", pmr_id=story["pmr_id"],
                       hospital="lakeside-clinic")
    assert "Refused by the contract" in page


def test_no_page_leaks_a_device_key(browser: Browser, world: LiveWorld,
                                    story: dict[str, int]) -> None:
    """After binding and anchoring, no live or explorer page (HTML or JSON) holds a device's
    private key or any other wallet's."""
    browser.act("bind", "desk:city-general-hospital", patient_id=story["patient_id"],
                device_name="Thermometer")
    browser.act("accept", "patient:patient-1", device="thermometer")
    browser.act("anchor", "device:thermometer", readings=10, minutes=10)
    actors = [world.regulator, *world.hospitals.values(), *world.desks.values(),
              *world.labs.values(), *world.doctors.values(), *world.patients.values(),
              *world.devices.values()]
    secrets = {a.account.private_key.hex() for a in actors}
    secrets.add(world.protocol.admin.private_key.hex())
    urls = ["/api/live", "/explorer", "/explorer/actors", "/explorer/txs", "/explorer/storage"]
    urls += [f"/live?role={key}" for key, _ in world.roles()]
    urls += [f"/api/live/action/{a.number}" for a in world.actions]
    urls += [f"/explorer/tx/0x{a.outcome.receipt.tx_hash.hex()}" for a in world.actions
             if a.outcome is not None][-10:]
    for url in urls:
        text = browser.client.get(url).text.lower()
        assert not any(s in text for s in secrets), url


def test_one_read_opens_every_study_of_the_record(browser: Browser, world: LiveWorld,
                                                  story: dict[str, int]) -> None:
    """A PMR with two studies: one mined use has the custodians release for both (once each),
    and both are rebuilt byte-identical; each custodian that released refuses the same use
    for that study again."""
    pmr = story["pmr_id"]
    browser.act("upload", "lab:city-general-hospital", pmr_id=pmr, test="MRI",
                source="MR_small.dcm", reason="follow-up", observations="none")
    browser.act("grant", "patient:patient-1", doctor="dr-vikram-iyer", pmr_id=pmr, days=3)
    page = browser.act("read", "doctor:dr-vikram-iyer", pmr_id=pmr)
    number = int(re.search(r"<h1>Action (\d+)", page).group(1))  # type: ignore[union-attr]
    studies = browser.client.get(f"/api/live/action/{number}").json()["offchain"]["studies"]
    assert len(studies) == 2
    assert all(s["result"] == "rebuilt, identical to the stored study" for s in studies)
    action = world.action(number)
    assert action.outcome is not None
    iyer = world.doctors["dr-vikram-iyer"]
    for released in studies:
        assert len(released["released_by"]) == 3
        for node in released["released_by"]:
            assert world.custodians[node].refusal(released["record_id"], iyer.address,
                                                  action.outcome.receipt.tx_hash) == ANSWERED


def test_a_refused_upload_leaves_nothing_stored(browser: Browser, world: LiveWorld,
                                                story: dict[str, int]) -> None:
    """A lab upload for a PMR that was never minted is refused on chain; the study it stored is
    unpinned and collected again and no custodian keeps a share of it."""
    before = dict(world.swarm.bytes_stored())
    page = browser.act("upload", "lab:city-general-hospital", pmr_id=story["pmr_id"] + 10**8,
                       test="CT", source="CT_small.dcm", reason="x", observations="y")
    assert "Refused by the contract" in page and "bytes freed" in page
    assert dict(world.swarm.bytes_stored()) == before
    number = int(re.search(r"<h1>Action (\d+)", page).group(1))  # type: ignore[union-attr]
    record_id = browser.client.get(f"/api/live/action/{number}").json()["offchain"]["record_id"]
    assert all(c.held(record_id) is None for c in world.custodians.values())
    assert record_id not in world.studies
