"""PatientRegistry: the desk registers patients; Patient-IDs bound to accounts."""

from __future__ import annotations

import pytest

from sim.errors import TransactionReverted
from sim.protocol import Desk, Patient

from .conftest import World, details


def test_patient_ids_start_at_the_configured_first_id(world: World) -> None:
    """Patient-IDs are issued from first_patient_id upward (85437 is the paper's)."""
    assert world.patient.patient_id == 85437
    assert world.other.patient_id == 85438
    out = world.desk.register(Patient(world.p, "third"), details("Third")).require()
    assert out.issued == 85439


def test_account_is_bound_to_the_patient_id(world: World) -> None:
    """The registry maps the Patient-ID to the patient's account and back."""
    assert world.p.view("PatientRegistry", "account_of", 85437).lower() == world.patient.account.hex.lower()
    assert world.p.view("PatientRegistry", "patient_id_of", world.patient.address) == 85437


def test_only_hospital_operators_register(world: World) -> None:
    """An account that is not a hospital operator cannot register patients."""
    out = Desk(world.p, "fake-desk").register(Patient(world.p, "p"), details("P"))
    assert out.reason == "hospital_registry: not a hospital operator"


def test_account_registered_once(world: World) -> None:
    """An account already bound to a Patient-ID cannot be registered again."""
    out = world.desk.register(Patient(world.p, "patient"), details("Again"))
    assert out.reason == "patient_registry: account already registered"


def test_unknown_patient_has_no_account(world: World) -> None:
    """Asking for an unknown Patient-ID reverts with a clear reason."""
    with pytest.raises(TransactionReverted, match="unknown patient"):
        world.p.view("PatientRegistry", "account_of", 99)


def test_commitment_and_record_cid_on_chain(world: World) -> None:
    """The private layout stores a commitment and a CID digest, never the details."""
    commitment, cid = world.p.view("PatientRegistry", "records", 85437)
    assert len(commitment) == 32 and commitment != b"\0" * 32
    blob = world.p.sealer.store.get(cid)
    assert b"Pat" not in blob  # encrypted off chain
