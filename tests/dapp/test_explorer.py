"""The explorer of a finished run: overview, lists, a patient's timeline, search, JSON twins."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sim.dapp.app import create_app
from sim.dapp.explorer import Explorer
from sim.errors import InputError


@pytest.fixture(scope="module")
def client(quickstart_run: Path) -> Iterator[TestClient]:
    """A client of the explorer of the quickstart run."""
    with TestClient(create_app(explorer=Explorer(quickstart_run), hosts={"testserver"})) as c:
        yield c


def _accesses(run: Path) -> list[dict[str, object]]:
    lines = (run / "trace.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if '"kind":"access"' in x]


def test_overview_shows_invariants_and_attacks(client: TestClient, quickstart_run: Path) -> None:
    """The overview lists the summary's invariants and attack matrix; its JSON twin equals them."""
    summary = json.loads((quickstart_run / "summary.json").read_text())
    page = client.get("/explorer").text
    assert "Attack matrix" in page and "registration_squatting" in page and "pii_on_chain" in page
    data = client.get("/explorer", params={"format": "json"}).json()
    assert data["invariants"] == summary["invariants"] and data["attacks"] == summary["attacks"]


def test_patient_timeline_finds_accesses(client: TestClient, quickstart_run: Path) -> None:
    """A patient's timeline holds exactly the trace's accesses to that patient."""
    accesses = _accesses(quickstart_run)
    patient = accesses[0]["patient"]
    want = [a for a in accesses if a["patient"] == patient]
    data = client.get(f"/explorer/patient/{patient}", params={"format": "json"}).json()
    assert data["rows"] == want and want
    page = client.get(f"/explorer/patient/{patient}").text
    assert "released" in page or "denied" in page


def test_search_by_tx_hash_pmr_and_cid(client: TestClient, quickstart_run: Path) -> None:
    """Search finds a transaction by hash, accesses by PMR-ID and storage events by CID."""
    lines = [json.loads(x) for x in (quickstart_run / "trace.jsonl").read_text().splitlines()]
    tx = next(x for x in lines if x["kind"] == "tx" and x["op"] == "AccessGrants.use")
    found = client.get("/explorer/search", params={"q": tx["hash"], "format": "json"}).json()
    assert found["rows"][0]["op"] == "AccessGrants.use" and "raw" not in found["rows"][0]
    pmr = _accesses(quickstart_run)[0]["pmr"]
    found = client.get("/explorer/search", params={"q": str(pmr), "format": "json"}).json()
    assert found["what"] == "pmr" and all(r["pmr"] == pmr for r in found["rows"])
    cid = next(x["cid"] for x in lines if x["kind"] == "storage" and x.get("cid"))
    found = client.get("/explorer/search", params={"q": cid, "format": "json"}).json()
    assert found["what"] == "cid" and found["rows"]
    assert client.get("/explorer/search", params={"q": "nonsense!"}).status_code == 400


def test_lists_page(client: TestClient) -> None:
    """Blocks and transactions are listed a page at a time; a bad page number is a 400."""
    blocks = client.get("/explorer/blocks", params={"format": "json"}).json()["rows"]
    assert blocks[0]["number"] == 1 and len(blocks) == 100
    assert client.get("/explorer/txs", params={"page": "-1"}).status_code == 400


def test_not_a_run(tmp_path: Path) -> None:
    """A folder without summary.json is refused naming the file."""
    with pytest.raises(InputError, match=r"summary\.json"):
        Explorer(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serves_a_run_over_http(quickstart_run: Path) -> None:
    """The real server answers on loopback, refuses a foreign Host, and stops on SIGTERM."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim", "serve", str(quickstart_run),
                             "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"http://127.0.0.1:{port}/" in line
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/explorer") as r:
                    assert "Attack matrix" in r.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        bad = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "evil:1"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(bad)
        assert exc.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_transaction_call_is_decoded(client: TestClient, quickstart_run: Path) -> None:
    """A transaction's page decodes its call from the signed bytes: contract, function, args."""
    lines = [json.loads(x) for x in (quickstart_run / "trace.jsonl").read_text().splitlines()]
    tx = next(x for x in lines if x["kind"] == "tx" and x["op"] == "AccessGrants.grant")
    data = client.get(f"/explorer/tx/{tx['hash']}", params={"format": "json"}).json()
    assert data["call"]["contract"] == "AccessGrants" and data["call"]["function"] == "grant"
    assert set(data["call"]["args"]) == {"grantee", "pmr_id", "expiry", "can_write"}
    accounts = {x["address"]: x["label"] for x in lines if x["kind"] == "account"}
    grantee = data["call"]["args"]["grantee"].lower()
    assert data["names"] == {grantee: accounts[grantee]}  # the grantee named by its label
    assert "Decoded call" in client.get(f"/explorer/tx/{tx['hash']}").text


def test_patient_timeline_names_visits_reports_and_grants(client: TestClient,
                                                          quickstart_run: Path) -> None:
    """A patient's timeline lists the run's transactions whose decoded call names that patient:
    their PMR mints, lab reports and grants, and no other patient's."""
    patient = _accesses(quickstart_run)[0]["patient"]
    data = client.get(f"/explorer/patient/{patient}", params={"format": "json"}).json()
    ops = {t["op"].split(" ")[0] for t in data["transactions"]}
    assert {"PMRToken.mint", "LabReports.post", "AccessGrants.grant"} <= ops
    for row in data["transactions"]:
        call = client.get(f"/explorer/tx/{row['hash']}", params={"format": "json"}).json()["call"]
        args = call["args"]
        named = args.get("patient_id") or int(args["pmr_id"]) % (1 << 255) // 10**8
        assert named == patient, row


def test_actors_blocks_and_storage_of_a_run(client: TestClient, quickstart_run: Path) -> None:
    """Actors are the trace's accounts with the transactions each sent; a block lists its
    transactions; storage shows the summary's bytes per node and the trace's events by kind."""
    lines = [json.loads(x) for x in (quickstart_run / "trace.jsonl").read_text().splitlines()]
    accounts = {x["label"] for x in lines if x["kind"] == "account"}
    actors = client.get("/explorer/actors", params={"format": "json"}).json()["rows"]
    assert {a["label"] for a in actors} == accounts
    sent = sum(1 for x in lines if x["kind"] == "tx" and x["sender"] == "doctor-0-0")
    assert next(a for a in actors if a["label"] == "doctor-0-0")["txs"] == sent > 0
    tx = next(x for x in lines if x["kind"] == "tx" and x["op"] == "PMRToken.mint")
    rows = client.get(f"/explorer/block/{tx['block']}", params={"format": "json"}).json()["rows"]
    assert tx["hash"] in [r["hash"] for r in rows]
    assert client.get("/explorer/block/999999").status_code == 400
    summary = json.loads((quickstart_run / "summary.json").read_text())
    storage = client.get("/explorer/storage", params={"format": "json"}).json()
    assert storage["nodes"] == summary["storage"]["nodes"]
    kinds = [x["event"] for x in lines if x["kind"] == "storage"]
    assert storage["events"] == {k: kinds.count(k) for k in set(kinds)}
    assert "Nodes" in client.get("/explorer/storage").text


def test_events_are_re_derived_by_re_executing_the_run(quickstart_run: Path) -> None:
    """A run's transaction page shows its events once the explorer has re-executed the chain
    from the trace (each receipt's logs checked against the trace's digest); before, it says
    they are being re-derived."""
    explorer = Explorer(quickstart_run)
    tx = next(t for t in explorer.txs if t["op"] == "AccessGrants.grant" and t["status"] == 1)
    with TestClient(create_app(explorer=explorer, hosts={"testserver"})) as client:
        first = client.get(f"/explorer/tx/{tx['hash']}", params={"format": "json"}).json()
        assert first["events"] is None and "re-executed" in first["events_status"]
        explorer.wait_for_events(timeout=300)
        data = client.get(f"/explorer/tx/{tx['hash']}", params={"format": "json"}).json()
        assert [e["name"] for e in data["events"]] == ["AccessGranted"]
        assert data["events"][0]["args"]["pmr_id"] == data["call"]["args"]["pmr_id"]
        assert "AccessGranted" in client.get(f"/explorer/tx/{tx['hash']}").text


def test_events_of_an_edited_trace_are_not_shown(quickstart_run: Path, tmp_path: Path) -> None:
    """A trace whose logs digest was edited (and its end digest recomputed) does not replay:
    the explorer shows no events and says where the trace and the chain disagree."""
    import hashlib
    import shutil

    run = tmp_path / "edited"
    shutil.copytree(quickstart_run, run)
    lines = (run / "trace.jsonl").read_bytes().splitlines(keepends=True)
    k = next(i for i, x in enumerate(lines) if b'"op":"AccessGrants.grant"' in x)
    record = json.loads(lines[k])
    record["logs"] = "0x" + "ab" * 32
    lines[k] = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
    end = json.loads(lines[-1])
    end["sha256"] = hashlib.sha256(b"".join(lines[:-1])).hexdigest()
    lines[-1] = (json.dumps(end, separators=(",", ":"), sort_keys=True) + "\n").encode()
    (run / "trace.jsonl").write_bytes(b"".join(lines))
    explorer = Explorer(run)
    explorer.wait_for_events(timeout=300)
    events, why = explorer.events(record["hash"])
    assert events is None and "does not replay" in why and f"trace.jsonl:{k + 1}" in why


def _edit_tx_raw(quickstart_run: Path, run: Path, raw: str) -> int:
    """Copy the run to ``run`` with the first signed transaction's ``raw`` replaced by ``raw``
    (the trace's end digest recomputed, as a careful forger would); the edited line's number."""
    import hashlib
    import shutil

    shutil.copytree(quickstart_run, run)
    lines = (run / "trace.jsonl").read_bytes().splitlines(keepends=True)
    k = next(i for i, x in enumerate(lines) if b'"raw":"0x' in x and b'"kind":"tx"' in x)
    record = json.loads(lines[k])
    record["raw"] = raw
    lines[k] = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
    end = json.loads(lines[-1])
    end["sha256"] = hashlib.sha256(b"".join(lines[:-1])).hexdigest()
    lines[-1] = (json.dumps(end, separators=(",", ":"), sort_keys=True) + "\n").encode()
    (run / "trace.jsonl").write_bytes(b"".join(lines))
    return k + 1


@pytest.mark.parametrize("raw", ["0x" + "ff" * 10, "zz", "0x02", "0xnothex", "0x"])
def test_a_trace_whose_signed_bytes_are_not_a_transaction_is_one_line_error(
        quickstart_run: Path, tmp_path: Path, raw: str) -> None:
    """A tx line whose ``raw`` is not a signed transaction is an InputError naming the trace
    and the line at startup, not a traceback."""
    line = _edit_tx_raw(quickstart_run, tmp_path / "forged", raw)
    with pytest.raises(InputError, match=rf"trace\.jsonl: line {line}: .*raw"):
        Explorer(tmp_path / "forged")


@pytest.mark.parametrize("q", ["\u00b2", "9" * 5000, "\u0661\u0662"])
def test_search_odd_digits_are_400(client: TestClient, q: str) -> None:
    """A query of digits Python cannot read as a whole number, or non-ASCII digits, is a
    one-line 400 naming q, not a 500."""
    response = client.get("/explorer/search", params={"q": q})
    assert response.status_code == 400 and "q: expected" in response.text
