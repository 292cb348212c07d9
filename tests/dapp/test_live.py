"""The live screens drive the protocol's actors: the paper's story through the pages."""

from __future__ import annotations

from sim.dapp.live import LiveWorld
from tests.dapp.conftest import Browser


def test_ids_follow_the_paper(story: dict[str, int]) -> None:
    """The first patient is 85437 and the visit of 26 Jan 2021 gets PMR-ID 8543726012021."""
    assert story["patient_id"] == 85437
    assert story["pmr_id"] == 8543726012021


def test_upload_shows_the_offchain_half(browser: Browser, story: dict[str, int]) -> None:
    """The lab's upload shows the manifest CID, the custodians, the share's fingerprint and a PNG."""
    page = browser.client.get(f"/live/action/{story['upload']}").text
    assert "Mined: succeeded" in page and "LabReports.post" in page
    assert "manifest_cid" in page and "(1, 3, 5)" in page and "sha256:" in page
    png = browser.client.get(f"/live/action/{story['upload']}.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_every_action_shows_hash_block_gas_events(browser: Browser, story: dict[str, int]) -> None:
    """An action's JSON twin gives its tx hash, block, gas against the floor and decoded events."""
    data = browser.client.get(f"/api/live/action/{story['upload']}").json()
    tx = data["tx"]
    assert tx["ok"] and tx["hash"].startswith("0x") and len(tx["hash"]) == 66
    assert tx["block"] > 0 and tx["gas"] >= tx["floor"] > 21_000
    assert [e["name"] for e in tx["events"]] == ["LabReportPosted"]
    assert data["issued"]["report_id"] == 1


def test_second_doctor_reads_while_granted_then_expiry_refuses(
        browser: Browser, world: LiveWorld, story: dict[str, int]) -> None:
    """Refused without a grant; with one the custodians release and the image is rebuilt; after
    expiry the chain refuses with the rule's reason."""
    pmr = story["pmr_id"]
    page = browser.act("read", "doctor:dr-vikram-iyer", pmr_id=pmr)
    assert "access_grants: no grant" in page and "G3 - a grant is usable only within its window" in page
    page = browser.act("grant", "patient:patient-1", doctor="dr-vikram-iyer", pmr_id=pmr, days=7)
    assert "Mined: succeeded" in page and "essential_shares_sealed_to_doctor" in page
    page = browser.act("read", "doctor:dr-vikram-iyer", pmr_id=pmr)
    assert "Mined: succeeded" in page and "rebuilt, identical to the stored study" in page
    assert "custodian-0" in page and 'id="study-image"' in page
    browser.act("clock", "patient:patient-1", days=8)
    page = browser.act("read", "doctor:dr-vikram-iyer", pmr_id=pmr)
    assert "Refused by the contract" in page and "access_grants: grant expired" in page


def test_revoke_refuses(browser: Browser, story: dict[str, int]) -> None:
    """A revoked grant refuses the next read, naming the revocation."""
    pmr = story["pmr_id"]
    browser.act("grant", "patient:patient-1", doctor="dr-anitha-rao", pmr_id=pmr, days=30)
    browser.act("revoke", "patient:patient-1", doctor="dr-anitha-rao", pmr_id=pmr)
    page = browser.act("read", "doctor:dr-anitha-rao", pmr_id=pmr)
    assert "access_grants: grant revoked" in page


def test_forbidden_action_shows_reason_and_rule(browser: Browser, story: dict[str, int]) -> None:
    """A doctor of another hospital adding a version is refused by the contract with rule P1."""
    page = browser.act("visit", "doctor:dr-vikram-iyer", patient_id=story["patient_id"],
                       visit="2021-01-26", present_illness="x", diagnosis="y", treatment="z")
    assert "Refused by the contract" in page
    assert "not the record&#39;s hospital and no write grant" in page
    assert "P1 - versions only from the record" in page


def test_page_names_the_acting_role(browser: Browser, story: dict[str, int]) -> None:
    """Every live page says which role acts and that the server signs with simulated wallets."""
    for role, shown in (("regulator", "regulator"), ("patient:patient-1", "patient 85437"),
                        ("lab:city-general-hospital", "lab: City General Hospital")):
        page = browser.client.get("/live", params={"role": role}).text
        assert f'<strong id="acting-role">{shown}' in page
        assert "signs each transaction for the role shown" in page


def test_bad_input_is_one_line_400(browser: Browser, story: dict[str, int]) -> None:
    """A malformed field gets a 400 page naming it; nothing is sent."""
    before = browser.client.get("/api/live").json()["actions_total"]
    response = browser.client.post(
        "/live/act/visit", headers={"Origin": "http://testserver"},
        data={"token": browser.token(), "role": "doctor:dr-anitha-rao", "patient_id": "abc",
              "visit": "2021-01-26", "present_illness": "x", "diagnosis": "y", "treatment": "z"})
    assert response.status_code == 400 and "patient_id: expected a whole number" in response.text
    assert browser.client.get("/api/live").json()["actions_total"] == before


def test_no_page_leaks_a_key_or_an_essential_share(browser: Browser, world: LiveWorld,
                                                   story: dict[str, int]) -> None:
    """No page or JSON twin holds any wallet's private key or an essential share's bytes."""
    browser.act("grant", "patient:patient-1", doctor="dr-vikram-iyer", pmr_id=story["pmr_id"], days=1)
    actors = [world.regulator, *world.hospitals.values(), *world.desks.values(),
              *world.labs.values(), *world.doctors.values(), *world.patients.values()]
    secrets = [a.account.private_key.hex() for a in actors]
    secrets.append(world.protocol.admin.private_key.hex())
    secrets += [s.essential.secret.reveal().hex() for s in world.studies.values()]
    assert world.studies
    urls = ["/", "/api/live"] + [f"/live?role={key}" for key, _ in world.roles()]
    urls += [f"/live/action/{a.number}" for a in world.actions]
    urls += [f"/api/live/action/{a.number}" for a in world.actions]
    for url in urls:
        text = browser.client.get(url).text.lower()
        for secret in secrets:
            assert secret not in text, f"{url} leaks a secret"


def test_break_glass_close_and_review(browser: Browser, story: dict[str, int]) -> None:
    """Break-glass opens a window the read uses; the patient closes it (E2); the hospital
    reviews it and the doctor cannot review his own (E3)."""
    pid, pmr = story["patient_id"], story["pmr_id"]
    page = browser.act("emergency", "doctor:dr-anitha-rao", patient_id=pid, reason_code=7)
    assert "Mined: succeeded" in page and "EmergencyAccess" in page
    page = browser.act("read", "doctor:dr-anitha-rao", pmr_id=pmr)
    assert "AccessGrants.use (emergency)" in page and "Mined: succeeded" in page
    browser.act("close", "patient:patient-1", doctor="dr-anitha-rao")
    page = browser.act("read", "doctor:dr-anitha-rao", pmr_id=pmr)
    assert "Refused by the contract" in page
    page = browser.act("emergency", "doctor:dr-anitha-rao", patient_id=pid, reason_code=0)
    assert "access_grants: reason required" in page and "E1 - bounded openings" in page
    page = browser.act("review", "hospital:lakeside-clinic", doctor="dr-anitha-rao", opening=0,
                       verdict="justified")
    assert "access_grants: only the hospital or a regulator reviews" in page
    page = browser.act("review", "hospital:city-general-hospital", doctor="dr-anitha-rao",
                       opening=0, verdict="justified")
    assert "Mined: succeeded" in page


def test_patient_by_id_and_bounded_lists(browser: Browser, story: dict[str, int]) -> None:
    """A patient is picked by Patient-ID; an unknown one is a 400; the log pages by 50."""
    page = browser.client.get("/live", params={"patient_id": story["patient_id"]}).text
    assert '<strong id="acting-role">patient 85437' in page
    assert "Meena Krishnan" in page.split('id="my-details"')[1]  # the patient's own off-chain view
    assert str(story["pmr_id"]) in page and "sha256:" in page
    assert browser.client.get("/live", params={"patient_id": 1}).status_code == 400
    total = browser.client.get("/api/live").json()["actions_total"]
    first = browser.client.get("/api/live/actions", params={"page": 0}).json()["actions"]
    assert first[0]["number"] == 1 and len(first) == min(total, 50)


def test_every_role_page_has_unique_ids_and_labelled_fields(browser: Browser, world: LiveWorld,
                                                            story: dict[str, int]) -> None:
    """On each role's page every element id is unique and every label points at a field: two
    forms on one page never share a field id (a label would name the wrong field)."""
    import re
    from collections import Counter

    browser.act("bind", "desk:city-general-hospital", patient_id=story["patient_id"],
                device_name="Scale")
    for role, _ in world.roles():
        page = browser.client.get("/live", params={"role": role}).text
        ids = Counter(re.findall(r'\sid="([^"]+)"', page))
        assert [i for i, n in ids.items() if n > 1] == [], role
        assert set(re.findall(r'<label for="([^"]+)"', page)) <= set(ids), role


def test_patient_sees_their_reports(browser: Browser, story: dict[str, int]) -> None:
    """The patient's records list each lab report with its findings (an off-chain view) and a
    link to the de-identified study; the findings never appear in the chain's explorer."""
    page = browser.client.get("/live", params={"role": "patient:patient-1"}).text
    assert "CT report 1" in page and "right lower lobe opacity" in page
    assert f'href="/live/action/{story["upload"]}?role=patient:patient-1"' in page
    for url in ("/explorer/txs", f"/explorer/patient/{story['patient_id']}"):
        assert "opacity" not in browser.client.get(url, params={"format": "json"}).text


def test_a_patients_name_shows_only_in_their_own_offchain_view(browser: Browser, world: LiveWorld,
                                                               story: dict[str, int]) -> None:
    """The name typed at the desk appears on no page but the patient's own off-chain details:
    not in the role picker, the action log, an action page, the JSON twins or the explorer."""
    urls = ["/api/live", "/api/live/actions", "/explorer", "/explorer/txs", "/explorer/actors",
            f"/explorer/patient/{story['patient_id']}"]
    urls += [f"/live?role={key}" for key, _ in world.roles() if key != "patient:patient-1"]
    urls += [f"/live/action/{a.number}" for a in world.actions]
    for url in urls:
        assert "Krishnan" not in browser.client.get(url).text, url
    own = browser.client.get("/live", params={"role": "patient:patient-1"}).text
    assert own.count("Meena Krishnan") == 1 and "My details (off chain)" in own


def test_action_page_banner_names_who_acted(browser: Browser, story: dict[str, int]) -> None:
    """An action page's banner names the role that signed it; its back link goes on as the
    role asked for, and a role that does not exist falls back to the actor."""
    page = browser.client.get(f"/live/action/{story['upload']}",
                              params={"role": "patient:patient-1"}).text
    assert '<strong id="acting-role">lab: City General Hospital' in page
    assert 'href="/live?role=patient:patient-1" id="back">Back to the live world as patient 85437' in page
    page = browser.client.get(f"/live/action/{story['upload']}", params={"role": "nobody"}).text
    assert 'href="/live?role=lab:city-general-hospital" id="back"' in page


def test_json_twin_of_a_role_page(browser: Browser, story: dict[str, int]) -> None:
    """/api/live?role= gives what that role's page shows (a patient's records); an unknown role
    is a one-line 400; a clock step below one second is refused, changing nothing."""
    data = browser.client.get("/api/live", params={"role": "patient:patient-1"}).json()
    assert [r["pmr_id"] for r in data["my_records"]][:1] == [story["pmr_id"]]
    assert data["my_details"]["name"] == "Meena Krishnan"
    assert browser.client.get("/api/live").json()["my_records"] == []
    bad = browser.client.get("/api/live", params={"role": "patient:nobody"})
    assert bad.status_code == 400 and "role: no role" in bad.json()["error"]
    before = browser.client.get("/api/live").json()["now"]
    r = browser.client.post("/live/act/clock", data={"token": browser.token(), "role": "regulator",
                                                     "days": "1e-9"},
                            headers={"Origin": "http://testserver"})
    assert r.status_code == 400 and "days:" in r.text
    assert browser.client.get("/api/live").json()["now"] == before
