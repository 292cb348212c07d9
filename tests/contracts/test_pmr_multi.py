"""PMRMulti: the same PMR life cycle on ERC-1155 (snekmate's erc1155 module)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.protocol import VisitRecord
from sim.protocol.offchain import cid_v1

from .conftest import RECORD, VISIT, World, build_world


@pytest.fixture(scope="module")
def multi() -> World:
    """A private-layout world whose PMRs are ERC-1155 ids."""
    return build_world(token="erc1155")


def test_one_unit_of_the_pmr_id_goes_to_the_patient(multi: World) -> None:
    """A visit mints one unit of id = PMR-ID to the patient; the supply is one."""
    assert multi.pmr_id == 8543726012021
    assert multi.p.view("PMRToken", "balanceOf", multi.patient.address, multi.pmr_id) == 1
    assert multi.p.view("PMRToken", "total_supply", multi.pmr_id) == 1
    assert multi.p.system.label("PMRToken") == "PMRMulti"


def test_same_day_version_mints_nothing_more(multi: World) -> None:
    """A second PMR the same day adds a version; the balance stays one."""
    with multi.p.chain.anchor():
        out = multi.doc1.create_pmr(multi.patient.patient_id, VISIT, RECORD).require()
        assert out.op == "PMRMulti.mint (same-day version)"
        assert multi.p.view("PMRToken", "version_count", multi.pmr_id) == 2
        assert multi.p.view("PMRToken", "balanceOf", multi.patient.address, multi.pmr_id) == 1


def test_uri_is_the_record_cid(multi: World) -> None:
    """uri(id) is ipfs:// + the CIDv1 of the current record."""
    cid = multi.p.view("PMRToken", "version", multi.pmr_id, 0)[0]
    assert multi.p.view("PMRToken", "uri", multi.pmr_id) == "ipfs://" + cid_v1(cid)


def test_transfers_revert(multi: World) -> None:
    """ERC-1155 transfers and approvals revert: a PMR stays with its patient."""
    a, b = multi.patient.address, multi.other.address
    for fn, args in (("safeTransferFrom", (a, b, multi.pmr_id, 1, b"")),
                     ("setApprovalForAll", (b, True))):
        out = multi.p.execute(multi.patient.account, "PMRToken", fn, args, writes=multi.p_writes())
        assert out.reason == "pmr_token: token is soulbound"


def test_rules_are_the_same_as_the_erc721_token(multi: World) -> None:
    """A doctor of another hospital is rejected exactly as with PMRToken."""
    with multi.p.chain.anchor():
        out = multi.doc2.create_pmr(multi.patient.patient_id, dt.date(2021, 2, 2),
                                    VisitRecord("a", "b", "c", "d"),
                                    hospital_id=multi.h1.hospital_id)
        assert out.reason == "doctor_registry: doctor not affiliated with hospital"


def test_interfaces(multi: World) -> None:
    """ERC-165 reports ERC-1155 and its metadata URI extension."""
    for iface in ("01ffc9a7", "d9b67a26", "0e89341c"):
        assert multi.p.view("PMRToken", "supportsInterface", bytes.fromhex(iface))


def test_a_new_version_announces_its_uri(multi: World) -> None:
    """A later version logs ERC-1155's URI event with the new uri(id); a new PMR does not."""
    with multi.p.chain.anchor():
        out = multi.doc1.create_pmr(multi.patient.patient_id, VISIT, RECORD).require()
        uri = out.event("URI")
        assert uri["_id"] == multi.pmr_id
        assert uri["_value"] == multi.p.view("PMRToken", "uri", multi.pmr_id)
        cid = multi.p.view("PMRToken", "version", multi.pmr_id, 1)[0]
        assert uri["_value"] == "ipfs://" + cid_v1(cid)


@settings(max_examples=25, deadline=None)
@given(digest=st.binary(min_size=32, max_size=32), dag_pb=st.booleans())
def test_on_chain_uri_matches_python_for_any_digest(multi: World, digest: bytes,
                                                    dag_pb: bool) -> None:
    """The contract's base32 CIDv1 equals the Python rendering for any digest and codec."""
    if digest == bytes(32):
        return
    codec = 0x70 if dag_pb else 0x55
    with multi.p.chain.anchor():
        multi.p.execute(multi.doc1.account, "PMRToken", "mint",
                        (multi.patient.patient_id, 26012021, multi.h1.hospital_id, digest, codec),
                        writes=multi.p_writes()).require()
        assert multi.p.view("PMRToken", "uri", multi.pmr_id) == "ipfs://" + cid_v1(digest, codec)
