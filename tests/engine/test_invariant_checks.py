"""Each invariant reports a fault planted into a real run, and states what it could not check."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

import sim.gas
from sim.engine import invariants
from sim.engine.accounting import Accounts
from sim.engine.invariants import Checks, check_all
from sim.errors import ChainError, StateUnavailable
from tests.engine.conftest import SHORT_NAME, Simulated, simulated

#: A tiny paper-layout quickstart: the layout that stores names as strings on chain.
PAPER = ["layouts=[paper]", "population.patients=3", "duration_days=1"]


@pytest.fixture(scope="module", params=["pyevm", "revm"])
def paper(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulated]:
    """A tiny paper-layout run whose first patient is named :data:`SHORT_NAME`, per backend."""
    with simulated(tmp_path_factory.mktemp("paper"), PAPER, backend=request.param,
                   first_name=SHORT_NAME) as run:
        yield run


def _check(run: Simulated, trace: Path | None = None) -> Checks:
    return check_all(run.world, trace or run.trace)


def _details(checks: Checks, name: str) -> list[str]:
    return [v.detail for v in checks.violations if v.name == name]


def _skips(checks: Checks, name: str) -> list[str]:
    return [s.reason for s in checks.skipped if s.name == name]


def test_quickstart_holds_and_skips_nothing(quickstart: Simulated) -> None:
    """The untouched quickstart (short name included) violates nothing and has nothing unchecked."""
    assert SHORT_NAME in quickstart.world.ledger.personal
    checks = _check(quickstart)
    assert checks.checked == ["operations", "attacks", "denials", "tokens_valid",
                              "access_had_valid_grant", "record_rebuilds", "pii_on_chain",
                              "gas_matches_table", "pii_in_trace"]
    assert (checks.violations, checks.skipped) == ([], [])


# -- tokens_valid ---------------------------------------------------------------------------------

def test_token_credited_to_an_unregistered_patient_is_reported(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A minted version credited to a patient the desk never registered is a tokens_valid violation."""
    ledger = quickstart.world.ledger
    pmr_id, _, doctor_id, hospital_id = ledger.minted[0]
    stranger = 99_999
    forged = stranger * 10**8 + pmr_id % 10**8
    monkeypatch.setattr(ledger, "minted", [*ledger.minted, (forged, stranger, doctor_id, hospital_id)])
    found = _details(_check(quickstart), "tokens_valid")
    assert f"PMR {forged}: patient {stranger} was not registered" in found
    assert any(d.startswith(f"PMR {forged}: ownerOf failed on chain") for d in found)


def test_token_minted_for_a_hospital_the_doctor_does_not_work_at_is_reported(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version minted by a doctor for a verified hospital he is not affiliated with is a violation."""
    world = quickstart.world
    verified = [h.hospital_id for h in world.hospitals if h.hospital_id]
    doctor, hospital_id = next((d, h) for ds in world.doctors for d in ds for h in verified
                               if d.doctor_id and h not in d.hospitals)
    pmr_id, patient_id, _, _ = world.ledger.minted[0]
    monkeypatch.setattr(world.ledger, "minted", [(pmr_id, patient_id, doctor.doctor_id, hospital_id),
                                                 *world.ledger.minted[1:]])
    assert _details(_check(quickstart), "tokens_valid") == [
        f"PMR {pmr_id}: doctor {doctor.doctor_id} is not affiliated with hospital {hospital_id}"]


def test_no_token_minted_is_a_stated_skip(quickstart: Simulated,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With no PMR minted, tokens_valid says it had nothing to check."""
    monkeypatch.setattr(quickstart.world.ledger, "minted", [])
    checks = _check(quickstart)
    assert _skips(checks, "tokens_valid") == ["no PMR was minted: nothing to check"]
    assert _details(checks, "tokens_valid") == []


def test_owners_read_for_a_sample_is_a_stated_skip(quickstart: Simulated,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SAMPLE tokens, the owners not read on chain are counted in a skip."""
    monkeypatch.setattr(invariants, "SAMPLE", 3)
    tokens = len({(pmr, patient) for pmr, patient, _, _ in quickstart.world.ledger.minted})
    assert _skips(_check(quickstart), "tokens_valid") == [
        f"owner read on chain for a seeded sample of 3 of {tokens} tokens ({tokens - 3} not read)"]


# -- access_had_valid_grant -----------------------------------------------------------------------

def test_record_served_outside_any_grant_window_is_reported(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record released to a doctor long after every window closed is a violation."""
    ledger = quickstart.world.ledger
    # answering a use of its own (a reused use is the next test's violation)
    late = dataclasses.replace(ledger.served[0], block_time=ledger.served[0].block_time + 400 * 86_400,
                               use_tx=b"\x01" * 32)
    monkeypatch.setattr(ledger, "served", [*ledger.served, late])
    assert _details(_check(quickstart), "access_had_valid_grant") == [
        f"{late.record_id} released to {late.grantee} at {late.block_time} without a valid grant"]


def test_record_released_twice_for_one_use_is_reported(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second release answering an already answered use (one read, two releases) is a
    violation, as is a release answering no use at all."""
    ledger = quickstart.world.ledger
    again = ledger.served[0]
    unasked = dataclasses.replace(ledger.served[0], use_tx=b"")
    monkeypatch.setattr(ledger, "served", [*ledger.served, again, unasked])
    expected = [f"{s.record_id} released to {s.grantee} at {s.block_time} without a use of its "
                f"own on chain" for s in (again, unasked)]
    assert _details(_check(quickstart), "access_had_valid_grant") == expected


def test_no_record_released_is_a_stated_skip(quickstart: Simulated,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With no record released, access_had_valid_grant says it had nothing to check."""
    monkeypatch.setattr(quickstart.world.ledger, "served", [])
    assert _skips(_check(quickstart), "access_had_valid_grant") == [
        "no record was released to a doctor: nothing to check"]


# -- operations, attacks, denials (the engine's accounts) ------------------------------------------

def _accounts_with(run: Simulated, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    """A copy of the run's accounts, put in their place, to record a planted fault in."""
    planted = copy.deepcopy(run.world.accounts)
    monkeypatch.setattr(run.world, "accounts", planted)
    return planted


def test_ordinary_operation_that_reverted_is_reported(quickstart: Simulated,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab report that reverted for no configured reason is an operations violation of its kind."""
    _accounts_with(quickstart, monkeypatch).tx("LabReports.post", False, "lab_reports: not a lab")
    checks = _check(quickstart)
    [found] = [v for v in checks.violations if v.name == "operations:LabReports.post"]
    assert found.detail.endswith("reverted (first: lab_reports: not a lab)")


def test_configured_attack_not_made_is_reported(quickstart: Simulated,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An attack the scenario configured twice but made once is an attacks violation saying why."""
    accounts = Accounts({"expired_grant": 2})
    accounts.attempted("expired_grant", [(("denied",), "denied")], "custodians")
    accounts.missed("expired_grant", "no stored study to attack")
    monkeypatch.setattr(quickstart.world, "accounts", accounts)
    assert [(v.name, v.detail) for v in _check(quickstart).violations] == [
        ("attacks:expired_grant", "1 of 2 configured attempts made (no stored study to attack)")]


def test_attempt_denied_for_the_wrong_reason_is_reported(quickstart: Simulated,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A forbidden access refused for another reason than the grant's expiry is a denials violation."""
    _accounts_with(quickstart, monkeypatch).attempted(
        "expired_grant", [(("access_grants: grant expired",), "out of gas")], "chain")
    [found] = [v for v in _check(quickstart).violations if v.name == "denials:expired_grant"]
    assert found.detail == ("0 succeeded, 1 denied for another reason (first: chain: expected "
                            "access_grants: grant expired, got out of gas)")


def test_run_without_attacks_or_forbidden_attempts_states_the_skips(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no attack configured and no forbidden attempt, attacks and denials say so."""
    accounts = Accounts({})
    accounts.ops = quickstart.world.accounts.ops
    monkeypatch.setattr(quickstart.world, "accounts", accounts)
    checks = _check(quickstart)
    assert _skips(checks, "attacks") == ["no attack configured: nothing to check"]
    assert _skips(checks, "denials") == ["no forbidden attempt was made: nothing to check"]
    assert checks.violations == []


# -- record_rebuilds ------------------------------------------------------------------------------

def test_stored_study_that_rebuilds_to_other_bytes_is_reported(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A study whose custodians give back other bytes than were stored is a violation."""
    study = quickstart.world.studies[0]
    monkeypatch.setattr(quickstart.world, "studies",
                        [dataclasses.replace(study, digest=bytes(32)), *quickstart.world.studies[1:]])
    assert _details(_check(quickstart), "record_rebuilds") == [
        f"{study.record_id}: rebuilt bytes differ"]


def test_rebuild_that_differed_during_the_run_is_reported(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A doctor's rebuild that gave other bytes during the run is a violation at the end."""
    monkeypatch.setattr(quickstart.world.ledger, "rebuild_failures", ["study-x"])
    assert _details(_check(quickstart), "record_rebuilds") == ["study-x: rebuilt bytes differ"]


def test_manifest_deleted_from_every_node_is_reported(fresh_quickstart: Simulated) -> None:
    """A stored study whose manifest no node holds any more is a violation, not a storage excuse."""
    world = fresh_quickstart.world
    study = world.studies[0]
    for node in world.swarm.nodes.values():
        if node.blockstore.has(study.manifest_cid):
            node.blockstore.delete(study.manifest_cid)
    assert _details(_check(fresh_quickstart), "record_rebuilds") == [
        f"{study.record_id}: its manifest {study.manifest_cid} cannot be read from any node"]


def test_custodian_up_without_its_fragment_is_reported(fresh_quickstart: Simulated) -> None:
    """A custodian whose node is up but lost its fragment is a violation, not a node counted down."""
    world = fresh_quickstart.world
    study = world.studies[0]
    index, node_id, cid = study.fragments[0]
    node = world.swarm.node(node_id)
    assert node.online and not node.lost
    node.blockstore.delete(cid)
    found = _details(_check(fresh_quickstart), "record_rebuilds")
    assert (f"{study.record_id}: custodian {index} ({node_id}) is up but its fragment does not "
            "export (BlockNotFoundError)") in found


def test_studies_with_too_many_custodians_down_are_a_stated_skip(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """Studies with more than n - t custodians offline are counted in a skip, not rebuilt."""
    world = quickstart.world
    study = world.studies[0]
    for _, node_id, _ in study.fragments[:2]:  # n - t = 1 for the quickstart's (2, 3)
        monkeypatch.setattr(world.swarm.node(node_id), "online", False)
    checks = _check(quickstart)
    assert _details(checks, "record_rebuilds") == []
    [skip] = _skips(checks, "record_rebuilds")
    assert skip.endswith(f"of {len(world.studies)} studies not rebuilt: more than n - t of their "
                         "custodians are down, where the guarantee does not apply")


def test_nothing_stored_is_a_stated_skip(quickstart: Simulated,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With no study stored or rebuilt, record_rebuilds says it had nothing to check."""
    monkeypatch.setattr(quickstart.world, "studies", [])
    monkeypatch.setattr(quickstart.world.ledger, "rebuilds", type(quickstart.world.ledger.rebuilds)())
    assert _skips(_check(quickstart), "record_rebuilds") == [
        "no study was stored or rebuilt: nothing to check"]


# -- pii_on_chain and pii_in_trace ----------------------------------------------------------------

def test_short_name_stored_by_the_paper_layout_is_found_on_chain(
        paper: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A five-character name is found ABI-encoded in its transaction and as a word of the state."""
    monkeypatch.setattr(paper.world.ledger, "personal", {SHORT_NAME})
    assert _details(_check(paper), "pii_on_chain") == [
        "1 generated personal/clinical values found in transaction input or logs",
        "1 generated personal/clinical values found in the chain's state"]


def test_short_name_written_into_the_trace_is_found(
        paper: Simulated, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The short name as a JSON string of a trace line is a pii_in_trace violation."""
    monkeypatch.setattr(paper.world.ledger, "personal", {SHORT_NAME})
    trace = tmp_path / "trace.jsonl"
    assert _details(_check(paper), "pii_in_trace") == []
    shutil.copy(paper.trace, trace)
    with trace.open("a") as fh:
        fh.write(json.dumps({"kind": "note", "t": 0.0, "who": SHORT_NAME}) + "\n")
    assert _details(_check(paper, trace), "pii_in_trace") == [
        "1 generated personal/clinical values found in the trace"]


def test_one_character_values_are_counted_in_a_stated_skip(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values too short to tell from chance are not searched, and both PII checks say how many."""
    ledger = quickstart.world.ledger
    monkeypatch.setattr(ledger, "personal", {*ledger.personal, "X", "Y"})
    checks = _check(quickstart)
    reason = "2 generated value(s) of one character not searched (too short to tell from chance)"
    assert _skips(checks, "pii_on_chain") == _skips(checks, "pii_in_trace") == [reason]


def test_state_that_cannot_be_read_is_a_violation(quickstart: Simulated,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend whose state_blobs raises a ChainError fails pii_on_chain, naming the reason."""
    def unreachable() -> list[bytes]:
        raise ChainError("the pyevm backend cannot read py-evm's database")

    monkeypatch.setattr(quickstart.world.chain, "state_blobs", unreachable)
    assert _details(_check(quickstart), "pii_on_chain") == [
        "the chain's state could not be searched: the pyevm backend cannot read py-evm's database"]


def test_state_that_lists_nothing_is_a_violation(quickstart: Simulated,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A state that yields no values at all is not taken as a clean state."""
    monkeypatch.setattr(quickstart.world.chain, "state_blobs", lambda: [])
    assert _details(_check(quickstart), "pii_on_chain") == ["the chain's state gave nothing to search"]


def test_empty_trace_is_a_violation(quickstart: Simulated, tmp_path: Path) -> None:
    """An empty trace is not a clean trace: pii_in_trace reports it."""
    empty = tmp_path / "trace.jsonl"
    empty.write_bytes(b"")
    assert _details(_check(quickstart, empty), "pii_in_trace") == ["the trace gave nothing to search"]


def test_node_without_a_state_dump_is_a_stated_skip_and_transactions_are_still_searched(
        paper: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """An rpc-like chain with no state dump: the state part is a skip, the inputs still flag PII."""
    def no_dump() -> list[bytes]:
        raise StateUnavailable("http://127.0.0.1:8545 does not dump its state")

    monkeypatch.setattr(paper.world.chain, "state_blobs", no_dump)
    monkeypatch.setattr(paper.world.ledger, "personal", {SHORT_NAME})
    checks = _check(paper)
    assert _details(checks, "pii_on_chain") == [
        "1 generated personal/clinical values found in transaction input or logs"]
    assert _skips(checks, "pii_on_chain") == [
        "the chain's state was not searched, transactions and logs were: "
        "http://127.0.0.1:8545 does not dump its state"]


def test_run_without_personal_values_states_the_skip(quickstart: Simulated,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing to search for, both PII checks say so rather than pass."""
    monkeypatch.setattr(quickstart.world.ledger, "personal", set())
    checks = _check(quickstart)
    reason = ["no generated personal value to search for"]
    assert _skips(checks, "pii_on_chain") == _skips(checks, "pii_in_trace") == reason


# -- gas_matches_table ----------------------------------------------------------------------------

def test_one_overhead_outside_the_table_among_many_is_reported(
        quickstart: Simulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """One call 17,100 gas off the table among dozens that match is a violation."""
    op = "IoMTAnchor.anchor_batch"
    stats = quickstart.world.driver.ops[op]
    assert len(stats.overhead) > 10 and len(set(stats.overhead)) == 1
    planted = array("q", [*stats.overhead, stats.overhead[0] + 17_100])
    monkeypatch.setattr(stats, "overhead", planted)
    [found] = _details(_check(quickstart), "gas_matches_table")
    assert found.startswith(f"{op}: 1 of {len(planted)} calls {stats.overhead[0] + 17_100}..")


def test_operation_without_a_table_row_is_reported(quickstart: Simulated, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An operation the run made that the gas table lacks is a violation (the table is stale)."""
    table = json.loads(sim.gas.BASELINE_PATH.read_text())
    table["operations"] = [r for r in table["operations"] if r["operation"] != "AccessGrants.use"]
    (tmp_path / "gas.json").write_text(json.dumps(table))
    monkeypatch.setattr(sim.gas, "BASELINE_PATH", tmp_path / "gas.json")
    [found] = _details(_check(quickstart), "gas_matches_table")
    assert found.startswith("AccessGrants.use: no row for private/erc721 in the gas table")


def test_missing_gas_table_is_reported(quickstart: Simulated, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Without its table the gas check fails; it does not pass for want of figures."""
    monkeypatch.setattr(sim.gas, "BASELINE_PATH", tmp_path / "absent.json")
    assert _details(_check(quickstart), "gas_matches_table") == [
        "gas table reports/baseline/gas.json is missing or unreadable"]


def test_no_operation_succeeded_is_a_stated_skip(quickstart: Simulated,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With no successful operation there is no gas to compare, and the check says so."""
    monkeypatch.setattr(quickstart.world.driver, "ops", {})
    assert _skips(_check(quickstart), "gas_matches_table") == [
        "no operation succeeded: nothing to compare"]
