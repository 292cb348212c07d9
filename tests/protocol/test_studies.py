"""The off-chain half of a study: stored, sealed to a granted doctor, rebuilt only for a mined use."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.chain import make_chain
from sim.protocol.custodian import ANSWERED, NO_USE, WINDOW_OVER, WRONG_USE
from sim.protocol.protocol import Protocol
from sim.protocol.story import (
    DAY,
    PAPER_PATIENT_ID,
    PATIENT_NAME,
    Cast,
    OffChainHalf,
    Step,
    make_cast,
    paper_story,
)
from sim.protocol.studies import StudyStore, Upload, fingerprint
from storage_sim import Cid

IDENTITY = {"PatientName": PATIENT_NAME.replace(" ", "^"), "PatientID": "MRN-00085437",
            "InstitutionName": "City General Hospital"}


@dataclass
class Played:
    """The story played up to Dr. Iyer's first read, with its off-chain half."""

    p: Protocol
    cast: Cast
    half: OffChainHalf
    upload: Step
    read: Step


@pytest.fixture(scope="module")
def played() -> Played:
    """The story (private layout) up to the second doctor's first read, off-chain half included."""
    p = Protocol.deploy(make_chain("pyevm", seed=2), layout="private", seed=2,
                        first_patient_id=PAPER_PATIENT_ID)
    cast = make_cast(p)
    half = OffChainHalf.seeded(p, 2)
    upload = read = None
    for step in paper_story(p, cast, offchain=half):
        if step.action == "posts the X-ray report with the manifest CID":
            upload = step
        if step.action == "opens the PMR (logged on chain)":
            read = step
            break
    assert upload is not None and read is not None
    return Played(p, cast, half, upload, read)


def test_the_posted_manifest_is_the_stored_studys(played: Played) -> None:
    """The lab's report on chain names the manifest CID of the study stored on the swarm."""
    study = played.half.studies[0]
    assert played.p.view("LabReports", "manifest_uri", 1) == f"ipfs://{study.manifest_cid}"
    doc = json.loads(played.half.store.run(
        played.half.store.swarm.retrieve("gateway", study.manifest_cid, store=False)))
    assert [(f["index"], f["node"], f["cid"]) for f in doc["fragments"]] == study.fragments
    assert len(study.pinned_on) >= 2


def test_a_mined_read_rebuilds_the_study_byte_identical(played: Played) -> None:
    """The custodians release for the mined use and the rebuilt bytes are the de-identified study."""
    uploaded = dict(played.upload.studies)
    rebuilt = dict(played.read.studies)
    (name, data), = uploaded.items()
    (_, again), = rebuilt.items()
    assert name.startswith("deidentified-") and again == data
    assert hashlib.sha256(again).digest() == played.half.studies[0].digest
    assert any("byte-identical" in line for line in played.read.offchain)


def test_custodians_refuse_a_use_that_was_not_mined(played: Played) -> None:
    """A made-up transaction hash is no mined access: every custodian asked refuses."""
    study, iyer = played.half.studies[0], played.cast.dr_iyer
    result = played.half.store.rebuild(study, iyer, iyer.label, b"\x42" * 32)
    assert result.data is None and {r for _, r in result.refusals} == {NO_USE}
    assert len(result.refusals) == study.t


def test_custodians_answer_a_use_once(played: Played) -> None:
    """Replaying the read's use transaction gets the shares no second time."""
    study, iyer = played.half.studies[0], played.cast.dr_iyer
    tx = played.read.outcome.receipt.tx_hash
    result = played.half.store.rebuild(study, iyer, iyer.label, tx)
    assert result.data is None and {r for _, r in result.refusals} == {ANSWERED}


def test_another_doctor_cannot_present_someone_elses_use(played: Played) -> None:
    """A doctor holding the essential share still gets no key share for another doctor's use."""
    study, rao, iyer = played.half.studies[0], played.cast.dr_rao, played.cast.dr_iyer
    use = iyer.access(study.pmr_id)  # mined, not yet answered
    assert use.ok
    played.half.store.seal_to(study, rao.label, rao)
    result = played.half.store.rebuild(study, rao, rao.label, use.receipt.tx_hash)
    assert {r for _, r in result.refusals} == {WRONG_USE}
    del study.sent[rao.label]


def test_custodians_refuse_after_the_grant_expired(played: Played) -> None:
    """A use mined while the grant held, presented after its expiry, is refused: window over."""
    study, iyer = played.half.studies[0], played.cast.dr_iyer
    use = iyer.access(study.pmr_id)
    assert use.ok
    played.p.clock = played.p.chain.timestamp + 8 * DAY  # the 7-day grant is over
    moved = iyer.access((1 << 255) | played.cast.patient.patient_id, "all")  # a block at that time
    assert not moved.ok and played.p.chain.timestamp == played.p.clock
    result = played.half.store.rebuild(study, iyer, iyer.label, use.receipt.tx_hash)
    assert result.data is None and {r for _, r in result.refusals} == {WINDOW_OVER}
    assert "refuse" in result.lines()[0] and WINDOW_OVER in result.lines()[0]


def test_no_share_without_the_patients_sealed_essential_share(played: Played) -> None:
    """A doctor the patient never sealed the essential share to rebuilds nothing."""
    study, rao = played.half.studies[0], played.cast.dr_rao
    result = played.half.store.rebuild(study, rao, rao.label, played.read.outcome.receipt.tx_hash)
    assert result.data is None and result.result == "no essential share from the patient"


def test_offchain_lines_hold_no_secret_and_no_identity(played: Played) -> None:
    """The lines the tour prints carry fingerprints and CIDs, never the share, a blob or the name."""
    study = played.half.studies[0]
    secret = study.essential.secret.reveal()
    printed = "\n".join(played.upload.offchain + played.read.offchain).lower()
    forms = [secret.hex(), base64.b64encode(secret).decode().lower(),
             base64.urlsafe_b64encode(secret).decode().lower().rstrip("="),
             *(blob.hex() for blob in study.sent.values())]
    assert [f for f in forms if f in printed] == []
    assert fingerprint(secret) in printed
    assert "krishnan" not in printed and "mrn-" not in printed


@pytest.fixture(scope="module")
def store() -> StudyStore:
    """A study store on a bare deployment (storing needs no transaction)."""
    p = Protocol.deploy(make_chain("pyevm", seed=9), layout="private", seed=9)
    return StudyStore.seeded(p, 9, name="test")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(["CT_small.dcm", "MR_small.dcm"]), pmr=st.integers(1, 10**6))
def test_a_stored_study_keeps_no_identity_and_its_parts_add_up(
        store: StudyStore, source: str, pmr: int) -> None:
    """Whatever the study, the stored bytes hold none of the planted identity, the n fragments sit
    on n nodes under their CIDs, and t custodians' shares + the essential share rebuild it."""
    from sim.privacy.manifest import Manifest
    from sim.privacy.sharing import Custodian, combine_report

    up: Upload = store.store(source, record_id=f"r-{pmr}-{source}", pmr_id=pmr, patient_id=1,
                             identity=IDENTITY, modality="CT")
    s = up.study
    for value in IDENTITY.values():
        assert value.encode() not in up.data
    assert up.identity_actions().keys() == set(IDENTITY)
    assert len({node for _, node, _ in s.fragments}) == s.n == len(s.fragments)
    doc = json.loads(store.run(store.swarm.retrieve("gateway", s.manifest_cid, store=False)))
    parts = []
    for entry in doc["fragments"][: s.t]:
        fragment = store.run(store.swarm.retrieve("gateway", Cid.parse(entry["cid"]), store=False))
        share = store.custodians[entry["node"]].held(s.record_id)
        parts.append(Custodian(entry["index"], fragment, share))
    manifest = Manifest.from_json(json.dumps(doc["sharing"]))
    assert combine_report(manifest, s.essential, parts).data == up.data


def test_the_same_seed_stores_the_same_study() -> None:
    """Two stores seeded alike give the same CIDs and the same essential share fingerprint."""
    p = Protocol.deploy(make_chain("pyevm", seed=1), layout="private", seed=1)
    a, b = (StudyStore.seeded(p, 1).store("MR_small.dcm", record_id="r", pmr_id=5, patient_id=1,
                                          identity=IDENTITY, modality="MR").study
            for _ in range(2))
    assert (a.manifest_cid, a.fragments, a.essential_fingerprint, a.digest) == \
           (b.manifest_cid, b.fragments, b.essential_fingerprint, b.digest)
