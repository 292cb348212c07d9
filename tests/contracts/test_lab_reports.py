"""LabReports: a hospital's lab posts reports of existing PMRs."""

from __future__ import annotations

import datetime as dt

from sim.protocol import Lab, LabFindings, TestType
from sim.protocol.offchain import cid_v1

from .conftest import VISIT, World

XRAY = LabFindings(TestType.XRAY, VISIT, 1000, "suspected pneumonia", "opacity right lower lobe")


def test_lab_posts_a_report(world: World) -> None:
    """The lab of a verified hospital posts a report; its fields are stored packed."""
    manifest = b"\x42" * 32
    out = world.lab.post_report(world.pmr_id, XRAY, manifest).require()
    assert out.issued == 1
    pmr, test, date, reason, hospital, codec = world.p.view("LabReports", "report", 1)
    assert (pmr, test, date, reason, hospital, codec) == (
        world.pmr_id, 3, 26012021, 1000, world.h1.hospital_id, 0x55)
    assert world.p.view("LabReports", "manifest_uri", 1) == "ipfs://" + cid_v1(manifest)
    assert out.event("LabReportPosted")["patient_id"] == 85437


def test_only_hospital_operators_post(world: World) -> None:
    """An account that is not an operator of a verified hospital cannot post reports."""
    out = Lab(world.p, "rogue-lab").post_report(world.pmr_id, XRAY, b"\x01" * 32)
    assert out.reason == "hospital_registry: not a hospital operator"


def test_report_needs_an_existing_pmr(world: World) -> None:
    """A report must belong to a minted PMR."""
    out = world.lab.post_report(world.pmr_id + 1, XRAY, b"\x01" * 32)
    assert out.reason == "lab_reports: unknown PMR"


def test_unknown_test_type_rejected(world: World) -> None:
    """Only the nine test types exist."""
    out = world.p.execute(world.lab.account, "LabReports", "post",
                          (world.pmr_id, 9, 26012021, 1, b"\1" * 32, b"\2" * 32, 0x55),
                          writes=world.p_writes())
    assert out.reason == "lab_reports: unknown test type"


def test_impossible_capture_date_rejected(world: World) -> None:
    """The date of capture must be a real date."""
    out = world.p.execute(world.lab.account, "LabReports", "post",
                          (world.pmr_id, 3, 31062021, 1, b"\1" * 32, b"\2" * 32, 0x55),
                          writes=world.p_writes())
    assert out.reason == "lab_reports: invalid capture date"


def test_every_test_type_accepted(world: World) -> None:
    """Blood, urine, ECG, X-ray, MRI, CT, ultrasound, mammography and general exam all post."""
    for t in TestType:
        findings = LabFindings(t, dt.date(2021, 1, 27), 1, "r", "o")
        assert world.lab.post_report(world.pmr_id, findings, bytes([t + 1]) * 32).ok
