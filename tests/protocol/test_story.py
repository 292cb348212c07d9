"""The tour's story, end to end: every use case of the paper on a fresh chain."""

from __future__ import annotations

import pytest

from sim.protocol.story import PAPER_PMR_ID, run_story


@pytest.fixture(scope="module", params=["private", "paper"])
def steps(request: pytest.FixtureRequest) -> list:
    return run_story(request.param, seed=3)


def test_every_step_behaves_as_the_paper_says(steps: list) -> None:
    """Every use case succeeds and every forbidden attempt is rejected."""
    bad = [(s.actor, s.action, s.outcome.reason) for s in steps if not s.as_expected]
    assert bad == []


def test_a_rejection_for_another_reason_is_not_as_expected(steps: list) -> None:
    """as_expected checks the revert reason: the same rejection expected for another rule fails."""
    import dataclasses

    rejected = next(s for s in steps if not s.expect_ok)
    assert rejected.as_expected
    assert not dataclasses.replace(rejected, expect_reason="some other rule").as_expected
    with pytest.raises(ValueError, match="expect_reason"):
        dataclasses.replace(rejected, expect_reason="")


def test_the_papers_pmr_id_is_minted(steps: list) -> None:
    """The first visit's PMR-ID is the paper's 8543726012021."""
    minted = [s.outcome.issued for s in steps if s.outcome.op.startswith("PMRToken.mint")]
    assert minted[0] == PAPER_PMR_ID


def test_rejections_carry_their_reasons(steps: list) -> None:
    """Each rejected step names the rule that stopped it."""
    reasons = {s.outcome.reason for s in steps if not s.expect_ok}
    assert {
        "hospital_registry: hospital not verified",
        "doctor_registry: doctor not affiliated with hospital",
        "access_grants: grant expired",
        "access_grants: not the record owner",
        "access_grants: grant revoked",
        "doctor_registry: doctor suspended",
    } <= reasons


def test_story_is_deterministic() -> None:
    """The same seed gives the same transactions, gas and state root."""
    a = run_story("private", seed=5)
    b = run_story("private", seed=5)
    assert [s.outcome.receipt.tx_hash for s in a] == [s.outcome.receipt.tx_hash for s in b]
    assert [s.outcome.gas for s in a] == [s.outcome.gas for s in b]


PERSONAL = ["Meena Krishnan", "Anitha Rao", "Gandhi Road", "90030 12345", "meena.k@example.in",
            "City General Hospital", "TNMC-61234", "persistent cough", "right lower lobe opacity",
            "GOVREG-TN-2009-0042"]


def _chain_bytes(layout: str, offchain: bool = False) -> bytes:
    from sim.protocol.story import play_story

    p, steps = play_story(layout, seed=4, offchain=offchain)
    blob = bytearray()
    for s in steps:
        blob += p.chain.raw_transaction(s.outcome.receipt.tx_hash)
        for log in s.outcome.receipt.logs:
            blob += log.data + b"".join(log.topics)
    return bytes(blob)


def test_private_layout_puts_no_personal_value_on_chain() -> None:
    """No name, address, phone, email, registration number or finding is in any input or log."""
    blob = _chain_bytes("private")
    assert [v for v in PERSONAL if v.encode() in blob] == []


def test_the_offchain_half_puts_only_the_manifest_cid_on_chain() -> None:
    """With the study stored off chain, the chain still holds no personal value, no essential
    share and no image byte; the lab's report holds the study manifest's CID digest."""
    from sim.chain import make_chain
    from sim.protocol.protocol import Protocol
    from sim.protocol.story import PAPER_PATIENT_ID, OffChainHalf, paper_story

    p = Protocol.deploy(make_chain("pyevm", seed=4), layout="private", seed=4,
                        first_patient_id=PAPER_PATIENT_ID)
    half = OffChainHalf.seeded(p, 4)
    steps = list(paper_story(p, offchain=half))
    blob = bytearray()
    for s in steps:
        blob += p.chain.raw_transaction(s.outcome.receipt.tx_hash)
        for log in s.outcome.receipt.logs:
            blob += log.data + b"".join(log.topics)
    assert [v for v in PERSONAL if v.encode() in blob] == []
    upload = next(s for s in steps if s.action == "posts the X-ray report with the manifest CID")
    (_, dicom), = upload.studies
    assert dicom[1000:1032] not in blob and dicom[-32:] not in blob
    assert half.studies[0].essential.secret.reveal() not in blob
    cid = next(line for line in upload.offchain if line.startswith("manifest CID -> chain"))
    assert p.view("LabReports", "manifest_uri", 1) == "ipfs://" + cid.split()[-1]
    assert all(s.as_expected for s in steps)


def test_paper_layout_does_put_them_on_chain() -> None:
    """The paper layout stores the fields in clear: the same search finds them."""
    blob = _chain_bytes("paper")
    assert b"Meena Krishnan" in blob and b"persistent cough" in blob
