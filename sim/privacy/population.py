"""Synthetic patients for simulations: seeded Faker registrations (Indian locale by default).

The same seed, count and locale give the same people (with one installed
Faker version: Faker's data sets change between releases).
"""

from __future__ import annotations

from collections.abc import Sequence

from faker import Faker

from sim.errors import InputError
from sim.privacy.demographics import Address, Attendant, Registration

RELATIONS = ("spouse", "parent", "child", "sibling", "friend", "guardian")


def _body(fake: Faker, age: int) -> tuple[float, float]:
    """A plausible (weight kg, height cm) for an age, drawn from the Faker instance's generator."""
    rng = fake.random
    if age < 18:
        height = 50.0 + age * 6.5 + rng.uniform(-8.0, 8.0)
        weight = 3.5 + age * 3.2 + rng.uniform(-3.0, 6.0)
    else:
        height = rng.gauss(162.0, 9.0)
        weight = rng.gauss(65.0, 12.0)
    return round(max(weight, 2.0), 1), round(min(max(height, 45.0), 230.0), 1)


def synthetic_registrations(
    count: int, seed: int, *, locale: str = "en_IN", districts: Sequence[str] | None = None
) -> list[Registration]:
    """Return ``count`` synthetic registrations, deterministic for ``seed``.

    ``districts`` restricts addresses to a few districts (a city-sized
    population); by default each address gets a Faker city as its district.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"count must be an integer >= 0, got {count!r}")
    fake = Faker(locale)
    fake.seed_instance(seed)
    people = []
    for _ in range(count):
        gender = fake.random.choice(("female", "male", "female", "male", "other"))
        name = fake.name_female() if gender == "female" else fake.name_male()
        age = fake.random.randint(0, 99)
        weight, height = _body(fake, age)
        city = fake.random.choice(list(districts)) if districts else fake.city()
        people.append(
            Registration(
                name=name,
                age=age,
                gender=gender,
                weight_kg=weight,
                height_cm=height,
                address=Address(
                    street=fake.street_address(),
                    city=city,
                    district=city,  # Faker has no districts: the city stands in for one
                    state=fake.state(),
                    postcode=fake.postcode(),
                ),
                phone=fake.phone_number(),
                email=fake.email(),
                attendant=Attendant(
                    name=fake.name(),
                    relation=fake.random.choice(RELATIONS),
                    phone=fake.phone_number(),
                ),
            )
        )
    return people
