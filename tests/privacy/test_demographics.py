"""Registration demographics: identifiers, generalisation, commitment, k-anonymity."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sim.errors import InputError
from sim.privacy import demographics as dm
from sim.privacy.population import synthetic_registrations

SALT = bytes(range(32))


def _person(**changes: object) -> dm.Registration:
    base = dm.Registration(
        name="Asha Rao",
        age=34,
        gender="Female",
        weight_kg=61.25,
        height_cm=158.0,
        address=dm.Address("12 MG Road", "Kochi", "Ernakulam", "Kerala", "682001"),
        phone="+91 98470 00000",
        email="asha@example.org",
        attendant=dm.Attendant("Ravi Rao", "spouse", "+91 98470 00001"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _qi(age: str, gender: str, district: str) -> dm.QuasiIdentifiers:
    return dm.QuasiIdentifiers(age, gender, district, "60-69", "150-159")


def test_construction_normalises_and_validates() -> None:
    """Gender is lower-cased, weight rounded to 0.1; bad age, gender or weight are rejected."""
    person = _person()
    assert person.gender == "female" and person.weight_kg == 61.2
    for changes, field in [
        ({"age": 131}, "age"),
        ({"age": True}, "age"),
        ({"gender": "x"}, "gender"),
        ({"weight_kg": 0}, "weight_kg"),
        ({"name": "  "}, "name"),
    ]:
        with pytest.raises(InputError, match=field):
            _person(**changes)


def test_identifiers_hold_only_direct_identifiers() -> None:
    """The off-chain identifiers are name, address, phone, email, attendant; no age or gender."""
    data = json.loads(dm.identifiers_bytes(_person()))
    assert sorted(data) == ["address", "attendant", "email", "name", "phone"]
    assert data["address"]["street"] == "12 MG Road"


def test_canonical_encoding_is_sorted_compact_utf8() -> None:
    """The canonical bytes are sorted-key compact JSON with one-decimal number strings."""
    text = dm.canonical_bytes(_person(name="Ānanya")).decode("utf-8")
    assert text.startswith('{"address":{"city":"Kochi","district":"Ernakulam"')
    assert '"height_cm":"158.0"' in text and '"weight_kg":"61.2"' in text
    assert '"name":"Ānanya"' in text and ", " not in text


@pytest.mark.parametrize(
    ("age", "band"),
    [(0, "0-9"), (9, "0-9"), (10, "10-19"), (89, "80-89"), (90, "90+"), (120, "90+")],
)
def test_age_bands(age: int, band: str) -> None:
    """Ages fall in ten-year bands and everyone 90 or over is "90+"."""
    assert dm.age_band(age) == band


def test_generalize_keeps_only_coarse_fields() -> None:
    """Quasi-identifiers are age band, gender, district, weight and height bands."""
    qi = dm.generalize(_person(weight_kg=155, height_cm=119.9))
    assert qi == dm.QuasiIdentifiers("30-39", "female", "Ernakulam", "150+", "<120")
    assert dm.generalize(_person()).weight_band == "60-69"


def test_commitment_changes_with_salt_and_with_every_field() -> None:
    """The commitment differs for another salt and for a change in any field."""
    person = _person()
    base = dm.commitment(person, SALT)
    assert len(base) == 32 and dm.verify_commitment(person, SALT, base)
    assert dm.commitment(person, bytes(32)) != base
    variants = [
        _person(name="Asha R"),
        _person(age=35),
        _person(gender="other"),
        _person(weight_kg=61.3),
        _person(height_cm=158.1),
        _person(phone="+91 98470 00009"),
        _person(email="a@example.org"),
        _person(address=dm.Address("12 MG Road", "Kochi", "Ernakulam", "Kerala", "682002")),
        _person(attendant=dm.Attendant("Ravi Rao", "brother", "+91 98470 00001")),
    ]
    commitments = {dm.commitment(v, SALT) for v in variants}
    assert base not in commitments and len(commitments) == len(variants)
    with pytest.raises(InputError, match="salt"):
        dm.commitment(person, b"short")


def test_k_anonymity_report_on_a_hand_made_population() -> None:
    """Classes of sizes 3, 2 and 1 give k=1, three classes and 3 records below k=3."""
    population = (
        [_qi("30-39", "female", "Ernakulam")] * 3
        + [_qi("40-49", "male", "Ernakulam")] * 2
        + [_qi("90+", "female", "Thrissur")]
    )
    report = dm.k_anonymity(population, target_k=3)
    assert (report.records, report.classes, report.k) == (6, 3, 1)
    assert (report.classes_below_target, report.records_below_target) == (2, 3)
    assert not report.satisfied
    assert dm.k_anonymity(population[:5], target_k=2).satisfied
    assert dm.k_anonymity([], target_k=2).k == 0
    with pytest.raises(InputError):
        dm.k_anonymity(population, target_k=0)


def test_synthetic_population_is_deterministic_per_seed() -> None:
    """The same seed gives the same people; another seed gives others."""
    first = synthetic_registrations(30, seed=11)
    assert first == synthetic_registrations(30, seed=11)
    assert first != synthetic_registrations(30, seed=12)
    assert all(0 <= p.age <= 99 and p.weight_kg > 0 for p in first)


def test_few_districts_make_a_population_more_anonymous() -> None:
    """Restricting addresses to two districts yields larger equivalence classes."""
    people = synthetic_registrations(300, seed=3, districts=["Ernakulam", "Thrissur"])
    assert {p.address.district for p in people} == {"Ernakulam", "Thrissur"}
    report = dm.k_anonymity([dm.generalize(p) for p in people], target_k=2)
    assert report.classes < 300 and report.records == 300
