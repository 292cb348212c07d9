"""The explorer of the live chain: every transaction mined, each patient's timeline, actors,
storage; the same pages and JSON twins as a finished run's."""

from __future__ import annotations

from sim.dapp.live import LiveWorld
from tests.dapp.conftest import Browser


def test_every_mined_transaction_is_listed(browser: Browser, world: LiveWorld,
                                           story: dict[str, int]) -> None:
    """The live explorer lists one row per transaction on the chain, deployment included,
    and each action's transaction with its operation."""
    data = browser.client.get("/explorer", params={"format": "json"}).json()
    assert data["source"] == "live" and data["blocks"] == world.protocol.chain.block_number
    txs = []
    page = 0
    while rows := browser.client.get("/explorer/txs", params={"format": "json",
                                                              "page": page}).json()["rows"]:
        txs += rows
        page += 1
    mined = sum(len(world.protocol.chain.block(n).receipts)
                for n in range(1, world.protocol.chain.block_number + 1))
    assert len(txs) == mined and txs[0]["op"] == "deploy"
    ops = {t["hash"]: t["op"] for t in txs}
    for action in world.actions:
        if action.outcome is not None:
            assert ops["0x" + action.outcome.receipt.tx_hash.hex()] == action.outcome.op


def test_patient_timeline_holds_visit_report_grant_and_reads(
        browser: Browser, story: dict[str, int]) -> None:
    """A patient's live timeline names the visit, the lab report and the grant, and lists the
    second doctor's released read and the refused one after expiry."""
    pmr = story["pmr_id"]
    browser.act("grant", "patient:patient-1", doctor="dr-vikram-iyer", pmr_id=pmr, days=2)
    browser.act("read", "doctor:dr-vikram-iyer", pmr_id=pmr)
    browser.act("clock", "regulator", days=3)
    browser.act("read", "doctor:dr-vikram-iyer", pmr_id=pmr)
    data = browser.client.get(f"/explorer/patient/{story['patient_id']}",
                              params={"format": "json"}).json()
    ops = [t["op"] for t in data["transactions"]]
    assert "PMRToken.mint" in ops and "LabReports.post" in ops and "AccessGrants.grant" in ops
    events = [(a["event"], a["grantee"], a["reason"]) for a in data["rows"]]
    assert ("released", "dr-vikram-iyer", "") in events
    assert ("denied", "dr-vikram-iyer", "access_grants: grant expired") in events
    assert all(a["patient"] == story["patient_id"] for a in data["rows"])
    page = browser.client.get(f"/explorer/patient/{story['patient_id']}").text
    assert "Transactions naming this patient" in page and "released" in page


def test_actors_storage_block_and_search(browser: Browser, world: LiveWorld,
                                         story: dict[str, int]) -> None:
    """Actors count the transactions each wallet sent; storage shows the bytes each swarm node
    holds; a block lists its transactions; search finds a tx by hash."""
    actors = browser.client.get("/explorer/actors", params={"format": "json"}).json()["rows"]
    by_label = {a["label"]: a for a in actors}
    assert by_label["dr-anitha-rao"]["txs"] >= 1
    assert by_label["dr-anitha-rao"]["address"] == "0x" + world.doctors["dr-anitha-rao"].address.hex()
    sent = browser.client.get("/explorer/actor/dr-anitha-rao", params={"format": "json"}).json()
    assert len(sent["rows"]) == by_label["dr-anitha-rao"]["txs"]
    assert browser.client.get("/explorer/actor/nobody").status_code == 400
    storage = browser.client.get("/explorer/storage", params={"format": "json"}).json()
    assert sum(storage["nodes"].values()) > 0
    (pin,) = storage["pins"]
    study = next(iter(world.studies.values()))
    assert pin["manifest_cid"] == str(study.manifest_cid)
    assert pin["pinned_on"].split(", ") == world.swarm.holders(study.manifest_cid)
    assert len(world.swarm.holders(study.manifest_cid)) >= 2
    tx_hash = "0x" + world.actions[-1].outcome.receipt.tx_hash.hex()  # type: ignore[union-attr]
    block = world.actions[-1].outcome.receipt.block_number  # type: ignore[union-attr]
    rows = browser.client.get(f"/explorer/block/{block}", params={"format": "json"}).json()["rows"]
    assert tx_hash in [r["hash"] for r in rows]
    found = browser.client.get("/explorer/search", params={"q": tx_hash, "format": "json"}).json()
    assert found["rows"][0]["hash"] == tx_hash
    call = browser.client.get(f"/explorer/tx/{tx_hash}", params={"format": "json"}).json()["call"]
    assert call["contract"] and call["function"]


def test_live_explorer_leaks_no_key_or_share(browser: Browser, world: LiveWorld,
                                             story: dict[str, int]) -> None:
    """No explorer page of the live chain holds a private key or an essential share's bytes."""
    secrets = [a.private_key.hex() for a in (world.protocol.admin, world.regulator.account)]
    secrets += [d.account.private_key.hex() for d in world.doctors.values()]
    secrets += [p.account.private_key.hex() for p in world.patients.values()]
    secrets += [s.essential.secret.reveal().hex() for s in world.studies.values()]
    urls = ["/explorer", "/explorer/actors", "/explorer/storage", "/explorer/txs",
            f"/explorer/patient/{story['patient_id']}"]
    for url in urls:
        for fmt in ({}, {"format": "json"}):
            text = browser.client.get(url, params=fmt).text.lower()
            assert not any(s in text for s in secrets), url


def test_new_actors_appear_after_the_first_page(browser: Browser, world: LiveWorld,
                                                story: dict[str, int]) -> None:
    """An actor added after the explorer was first read is listed on the next read, once."""
    browser.client.get("/explorer/actors")
    browser.act("register", "desk:city-general-hospital", name="Late Patient", age=30, gender="M",
                weight_kg=70, height_cm=170, address="x", phone="y", email="z")
    newest = list(world.patients.values())[-1]
    rows = browser.client.get("/explorer/actors", params={"format": "json"}).json()["rows"]
    labels = [r["label"] for r in rows]
    assert labels.count(newest.label) == 1 and len(labels) == len(set(labels))
    assert next(r for r in rows if r["label"] == newest.label)["address"] == "0x" + newest.address.hex()


def test_live_transaction_shows_its_events(browser: Browser, world: LiveWorld,
                                           story: dict[str, int]) -> None:
    """A live transaction's explorer page shows the events its receipt holds, decoded; the same
    as the action page showed."""
    action = world.action(story["upload"])
    assert action.outcome is not None
    tx_hash = "0x" + action.outcome.receipt.tx_hash.hex()
    data = browser.client.get(f"/explorer/tx/{tx_hash}", params={"format": "json"}).json()
    assert [e["name"] for e in data["events"]] == [n for n, _ in action.outcome.events]
    assert data["events"][0]["args"]["pmr_id"] == story["pmr_id"]
