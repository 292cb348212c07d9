"""PMRToken: PMR-ID token ids, versions, dates, soulbound ERC-721, tokenURI."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import TransactionReverted
from sim.protocol import Doctor, VisitRecord
from sim.protocol.offchain import cid_v1

from .conftest import RECORD, VISIT, World, on_day


def test_token_id_is_the_pmr_id(world: World) -> None:
    """Patient 85437's visit on 26 Jan 2021 is token 8543726012021, owned by the patient."""
    assert world.pmr_id == 8543726012021
    assert world.p.view("PMRToken", "ownerOf", world.pmr_id).lower() == world.patient.account.hex.lower()
    assert world.p.view("PMRToken", "balanceOf", world.patient.address) == 1


def test_same_day_visit_appends_a_version(world: World) -> None:
    """A second PMR the same day adds a version instead of failing."""
    out = world.doc1.create_pmr(world.patient.patient_id, VISIT, RECORD).require()
    assert out.op == "PMRToken.mint (same-day version)"
    assert world.p.view("PMRToken", "version_count", world.pmr_id) == 2
    assert world.p.view("PMRToken", "balanceOf", world.patient.address) == 1


def test_version_records_doctor_hospital_and_time(world: World) -> None:
    """Each version keeps the record CID, Doctor-ID, Hospital-ID and block time."""
    cid, codec, doctor, hospital, when = world.p.view("PMRToken", "version", world.pmr_id, 0)
    assert (codec, doctor, hospital) == (0x55, world.doc1.doctor_id, world.h1.hospital_id)
    assert when > 0 and len(cid) == 32


def test_token_uri_is_the_current_record_cid(world: World) -> None:
    """tokenURI is ipfs:// + the CIDv1 (base32, raw) of the latest version's record."""
    out = world.doc1.create_pmr(world.patient.patient_id, VISIT, RECORD).require()
    cid = world.p.view("PMRToken", "version", world.pmr_id, 1)[0]
    assert out.ok
    uri = world.p.view("PMRToken", "tokenURI", world.pmr_id)
    assert uri == "ipfs://" + cid_v1(cid) and uri.startswith("ipfs://bafkrei")


def test_doctor_of_another_hospital_cannot_mint_there(world: World) -> None:
    """A doctor cannot create PMRs for a hospital they are not affiliated with."""
    out = world.doc2.create_pmr(world.patient.patient_id, VISIT, RECORD,
                                hospital_id=world.h1.hospital_id)
    assert out.reason == "doctor_registry: doctor not affiliated with hospital"


def test_unregistered_doctor_cannot_mint(world: World) -> None:
    """An account that is not a registered doctor cannot create PMRs."""
    out = Doctor(world.p, "quack").create_pmr(world.patient.patient_id, VISIT, RECORD,
                                              hospital_id=world.h1.hospital_id)
    assert out.reason == "doctor_registry: not a registered doctor"


def test_suspended_hospital_doctor_cannot_mint(world: World) -> None:
    """Doctors of a suspended hospital cannot act for it."""
    world.regulator.suspend_hospital(world.h1).require()
    out = world.doc1.create_pmr(world.patient.patient_id, VISIT, RECORD)
    assert out.reason == "doctor_registry: hospital not verified"


def test_unknown_patient_rejected(world: World) -> None:
    """A PMR cannot be created for an unknown Patient-ID."""
    out = world.doc1.create_pmr(12345, VISIT, RECORD)
    assert out.reason == "patient_registry: unknown patient"


@pytest.mark.parametrize("bad", [30022021, 31042021, 29022021, 29021900, 1012021 * 0, 32012021,
                                 1132021, 100121, 1011899])
def test_impossible_dates_rejected(world: World, bad: int) -> None:
    """Dates that do not exist (30 Feb, 31 Apr, 29 Feb of non-leap years, ...) are rejected."""
    with pytest.raises(TransactionReverted, match="invalid date"):
        world.p.view("PMRToken", "pmr_id_of", 85437, bad)


def test_leap_day_accepted(world: World) -> None:
    """29 Feb exists in leap years (2020, 2000) and the encoding is exact."""
    assert world.p.view("PMRToken", "pmr_id_of", 85437, 29022020) == 8543729022020
    assert world.p.view("PMRToken", "pmr_id_of", 1, 29022000) == 129022000


@settings(max_examples=40, deadline=None)
@given(day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)),
       patient=st.integers(min_value=1, max_value=10**10 - 1))
def test_contract_and_python_agree_on_pmr_ids(_world: World, day: dt.date, patient: int) -> None:
    """For any real date and Patient-ID the contract's PMR-ID equals the Python encoding."""
    from sim.protocol import ids

    assert _world.p.view("PMRToken", "pmr_id_of", patient, ids.ddmmyyyy(day)) == ids.pmr_id(patient, day)


@pytest.mark.parametrize("fn,args", [
    ("transferFrom", "from_to"), ("safeTransferFrom", "from_to"),
    ("approve", "to"), ("setApprovalForAll", "operator"),
])
def test_tokens_are_soulbound(world: World, fn: str, args: str) -> None:
    """Transfers and approvals always revert: PMR tokens are locked (EIP-5192)."""
    a = world.patient.address
    b = world.other.address
    call_args: tuple[object, ...] = {
        "from_to": (a, b, world.pmr_id), "to": (b, world.pmr_id), "operator": (b, True)}[args]
    out = world.p.execute(world.patient.account, "PMRToken", fn, call_args, writes=world.p_writes())
    assert out.reason == "pmr_token: token is soulbound"


def test_locked_and_interfaces(world: World) -> None:
    """locked() is true, and ERC-165 reports ERC-721, metadata and EIP-5192."""
    assert world.p.view("PMRToken", "locked", world.pmr_id) is True
    for iface in ("01ffc9a7", "80ac58cd", "5b5e139f", "b45a3c0e"):
        assert world.p.view("PMRToken", "supportsInterface", bytes.fromhex(iface))
    assert not world.p.view("PMRToken", "supportsInterface", bytes.fromhex("780e9d63"))


def test_mint_emits_transfer_and_locked(world: World) -> None:
    """A new token emits ERC-721 Transfer from zero and EIP-5192 Locked."""
    on_day(world, dt.date(2021, 2, 1))
    out = world.doc1.create_pmr(world.patient.patient_id, dt.date(2021, 2, 1),
                                VisitRecord("a", "b", "c", "d")).require()
    names = [n for n, _ in out.events]
    assert names == ["PMRVersionAdded", "Transfer", "Locked"]
    assert out.event("Transfer")["token_id"] == 8543701022021


def test_a_new_version_announces_a_metadata_update(world: World) -> None:
    """A later version logs EIP-4906 MetadataUpdate for the token (tokenURI changed); the
    token reports EIP-4906 through ERC-165."""
    out = world.doc1.create_pmr(world.patient.patient_id, VISIT, RECORD).require()
    assert out.event("MetadataUpdate")["_tokenId"] == world.pmr_id
    assert world.p.view("PMRToken", "supportsInterface", bytes.fromhex("49064906"))
