"""Accounted runs: failed operations and attacks that did not run as configured fail the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main
from sim.engine.accounting import Accounts
from sim.engine.runner import is_expected, run_scenario
from sim.engine.scenario import load_scenario
from sim.protocol import Lab

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
QUICK = str(SCENARIOS / "quickstart.yaml")
SMALL = ["--set", "population.patients=6", "--set", "duration_days=2",
         "--set", "population.devices=0", "--no-progress"]


def test_a_reverted_ordinary_transaction_is_a_violation_of_its_kind() -> None:
    """An ordinary operation that reverts is named operations:<operation> with its first cause."""
    accounts = Accounts({})
    accounts.tx("LabReports.post", True, "")
    accounts.tx("LabReports.post", False, "block 9: lab_reports: unknown PMR")
    assert accounts.violations() == [
        ("operations:LabReports.post", "1 of 2 reverted (first: block 9: lab_reports: unknown PMR)")]


def test_an_offchain_failure_explained_by_a_configured_fault_is_not_a_violation() -> None:
    """A storage step failed while churn had nodes down is counted by_fault, not violated."""
    accounts = Accounts({})
    accounts.offchain("record.rebuild", False, "x", fault="3 of 6 nodes down (churn)")
    accounts.offchain("record.rebuild", False, "study-1: rebuilt bytes differ")
    tally = accounts.as_dict()["operations"]["record.rebuild"]
    assert tally == {"attempted": 2, "confirmed": 0, "reverted": 0, "failed": 1, "by_fault": 1}
    assert [name for name, _ in accounts.violations()] == ["operations:record.rebuild"]


def test_an_attack_made_fewer_times_than_configured_says_why() -> None:
    """Configured 3, attempted 1, one missed with a reason, one still under way at the end."""
    accounts = Accounts({"expired_grant": 3, "foreign_doctor": 0})
    accounts.attempted("expired_grant", [(("access_grants: grant expired",),
                                          "access_grants: grant expired")], "t=5")
    accounts.missed("expired_grant", "no lab report was stored before the run ended")
    [(name, detail)] = accounts.violations()
    assert name == "attacks:expired_grant"
    assert detail == ("1 of 3 configured attempts made (no lab report was stored before the run "
                      "ended; 1 still under way when the run ended)")
    assert "foreign_doctor" not in accounts.as_dict()["attacks"]  # configured 0: no row


def test_an_attempt_that_went_through_is_a_denials_violation() -> None:
    """A step that succeeded, or was refused for another reason, is denials:<kind>."""
    accounts = Accounts({"replayed_transaction": 1, "non_owner_grant": 1})
    accounts.attempted("replayed_transaction", [(("replay rejected",), "accepted")], "t=1")
    accounts.attempted("non_owner_grant", [(("access_grants: not the record owner",),
                                            "access_grants: no such PMR")], "t=2")
    found = dict(accounts.violations())
    assert found["denials:replayed_transaction"].startswith("1 succeeded, 0 denied")
    assert found["denials:non_owner_grant"].startswith("0 succeeded, 1 denied for another")


def test_expected_violations_match_by_name_or_family() -> None:
    """expect_violations lists a kind (operations:X) or a whole family (operations)."""
    assert is_expected("operations:LabReports.post", ["operations:LabReports.post"])
    assert is_expected("operations:LabReports.post", ["operations"])
    assert not is_expected("operations:LabReports.post", ["operations:PMRToken.mint"])
    assert not is_expected("attacks:expired_grant", ["operations"])


def _reverting_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every LabReports.post names a PMR that was never minted, so it reverts."""
    original = Lab.post_report_call

    def post(self: Lab, pmr_id: int, *args: Any, **kwargs: Any) -> Any:
        return original(self, pmr_id + 1, *args, **kwargs)

    monkeypatch.setattr(Lab, "post_report_call", post)


def test_a_failing_ordinary_operation_fails_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """With every lab report post reverting, the run exits 1 naming the operation, and the
    attacks that needed a stored report say they could not be made."""
    _reverting_posts(monkeypatch)
    code = main(["run", QUICK, "--out", str(tmp_path / "out"), *SMALL,
                 "--set", "workload.lab_order_probability=1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "operations:LabReports.post:" in err and "reverted" in err
    assert "attacks:expired_grant:" in err and "no lab report was stored" in err


def test_a_declared_failure_is_expected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A scenario that declares the failure (and its consequence) in expect_violations passes."""
    _reverting_posts(monkeypatch)
    scenario = load_scenario(Path(QUICK), [
        "population.patients=6", "duration_days=2", "population.devices=0",
        "workload.lab_order_probability=1",
        # the trust model's lab attacks then name an unminted PMR too: denied for another reason
        "expect_violations.private=[operations:LabReports.post, attacks, "
        "denials:foreign_lab_report, denials:bogus_capture_date]"])
    result = run_scenario(scenario, tmp_path / "out", progress=False, render=False)
    assert result.ok, result.unexpected
    ops = result.summary["operations"]["LabReports.post"]
    assert ops["attempted"] == ops["reverted"] > 0 and ops["confirmed"] == 0


def test_an_attack_without_a_target_fails_the_run(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """With no lab order ever placed, the attacks on stored reports cannot be made: exit 1,
    saying why for each."""
    code = main(["run", QUICK, "--out", str(tmp_path / "out"), *SMALL,
                 "--set", "workload.lab_order_probability=0"])
    err = capsys.readouterr().err
    assert code == 1
    for kind in ("expired_grant", "forged_essential_share", "tampered_fragment"):
        assert f"attacks:{kind}: 0 of 1 configured attempts made (no lab report was stored" in err


def test_an_attack_the_population_cannot_serve_is_bad_input(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    """A foreign-doctor attack with one hospital is refused before the run (exit 2)."""
    code = main(["run", QUICK, "--out", str(tmp_path / "out"), "--set", "population.hospitals=1"])
    assert code == 2
    assert "adversaries.foreign_doctor: expected 0 with a single hospital" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_summary_accounts_for_every_operation_and_attack(tmp_path: Path) -> None:
    """Every operation kind has attempted = confirmed + reverted + failed + by_fault, and every
    configured attack kind of quickstart was attempted as often as configured and denied."""
    result = run_scenario(load_scenario(Path(QUICK)), tmp_path / "out", progress=False,
                          render=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert result.ok, result.unexpected
    for name, op in summary["operations"].items():
        assert op["attempted"] == (op["confirmed"] + op["reverted"] + op["failed"]
                                   + op["by_fault"]), name
    configured = {k: v for k, v in load_scenario(Path(QUICK)).adversaries.model_dump().items() if v}
    for kind, n in configured.items():
        attack = summary["attacks"][kind]
        assert attack["configured"] == attack["attempted"] == attack["denied"] == n, kind
    assert {"LabReports.post", "storage.store", "custodian.release",
            "record.rebuild"} <= set(summary["operations"])
