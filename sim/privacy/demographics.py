"""Patient registration data: identifiers off chain, generalised quasi-identifiers, commitment.

A :class:`Registration` is split three ways:

* :func:`identifiers` - the direct identifiers (name, full address, phone,
  email, attendant), serialised canonically by :func:`identifiers_bytes`
  to be encrypted and stored off chain;
* :func:`generalize` - quasi-identifiers coarse enough to share: 10-year age
  bands with ``"90+"``, gender, district only, 10 kg / 10 cm bands (top-
  and bottom-coded), checked with :func:`k_anonymity`;
* :func:`commitment` - a salted keccak256 commitment to the whole record,
  for the chain.

Canonical encoding (:func:`canonical_bytes`): the record as a JSON object
(nested objects for ``address`` and ``attendant``), keys sorted, separators
``","`` and ``":"``, ``ensure_ascii=False``, UTF-8; strings NFC-normalised
and stripped at construction; ``age`` a JSON integer; ``weight_kg`` and
``height_cm`` rounded to one decimal at construction and written as JSON
strings with exactly one decimal (``"72.5"``) so no float formatting enters
the encoding. The commitment is
``keccak256(b"pmrsim/demographics/v1" || 0x00 || salt || canonical_bytes)``
with a 32-byte salt.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from sim.errors import InputError
from sim.hashing import keccak256
from sim.privacy.randomness import SYSTEM_RANDOM, RandomBytes, draw_exact

COMMITMENT_DOMAIN = b"pmrsim/demographics/v1\x00"
SALT_SIZE = 32
GENDERS = ("female", "male", "other", "unknown")


def _clean(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    return unicodedata.normalize("NFC", value).strip()


def _normalise_strings(instance: Any) -> None:
    for item in fields(instance):
        value = getattr(instance, item.name)
        if isinstance(value, str):
            object.__setattr__(instance, item.name, _clean(value, item.name))


@dataclass(frozen=True)
class Address:
    """A postal address; only ``district`` survives generalisation."""

    street: str
    city: str
    district: str
    state: str
    postcode: str

    def __post_init__(self) -> None:
        _normalise_strings(self)
        if not self.district:
            raise InputError("address.district must not be empty")


@dataclass(frozen=True)
class Attendant:
    """The person accompanying the patient at registration."""

    name: str
    relation: str
    phone: str

    def __post_init__(self) -> None:
        _normalise_strings(self)


@dataclass(frozen=True)
class Registration:
    """A patient's registration record, validated and normalised at construction."""

    name: str
    age: int
    gender: str
    weight_kg: float
    height_cm: float
    address: Address
    phone: str
    email: str
    attendant: Attendant

    def __post_init__(self) -> None:
        _normalise_strings(self)
        if isinstance(self.age, bool) or not isinstance(self.age, int) or not 0 <= self.age <= 130:
            raise InputError(f"age must be an integer in 0..130, got {self.age!r}")
        gender = self.gender.lower()
        if gender not in GENDERS:
            raise InputError(f"gender must be one of {', '.join(GENDERS)}, got {self.gender!r}")
        object.__setattr__(self, "gender", gender)
        for name, upper in (("weight_kg", 500.0), ("height_cm", 300.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{name} must be a number, got {value!r}")
            if not 0 < value <= upper:
                raise InputError(f"{name} must be in (0, {upper:g}], got {value!r}")
            object.__setattr__(self, name, round(float(value), 1))
        if not self.name:
            raise InputError("name must not be empty")


@dataclass(frozen=True, order=True)
class QuasiIdentifiers:
    """Generalised quasi-identifiers of one registration."""

    age_band: str
    gender: str
    district: str
    weight_band: str
    height_band: str


def _encodable(registration: Registration) -> dict[str, Any]:
    data = asdict(registration)
    data["weight_kg"] = f"{registration.weight_kg:.1f}"
    data["height_cm"] = f"{registration.height_cm:.1f}"
    return data


def _canonical_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_bytes(registration: Registration) -> bytes:
    """The canonical encoding of the whole registration (see the module docstring)."""
    return _canonical_json(_encodable(registration))


def identifiers(registration: Registration) -> dict[str, Any]:
    """The direct identifiers: name, full address, phone, email and attendant."""
    data = _encodable(registration)
    return {key: data[key] for key in ("name", "address", "phone", "email", "attendant")}


def identifiers_bytes(registration: Registration) -> bytes:
    """The direct identifiers, canonically encoded, ready to be encrypted off chain."""
    return _canonical_json(identifiers(registration))


def age_band(age: int) -> str:
    """Ten-year band: ``"0-9"``, ..., ``"80-89"``, then ``"90+"``."""
    if age >= 90:
        return "90+"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def _band(value: float, width: int, low_cap: int, high_cap: int) -> str:
    if value < low_cap:
        return f"<{low_cap}"
    if value >= high_cap:
        return f"{high_cap}+"
    low = int(value // width * width)
    return f"{low}-{low + width - 1}"


def generalize(registration: Registration) -> QuasiIdentifiers:
    """Generalise the quasi-identifiers: age band, gender, district, weight and height bands.

    Weight bands are 10 kg wide from 30 to 150 (``"<30"``, ``"150+"``),
    height bands 10 cm wide from 120 to 200 (``"<120"``, ``"200+"``).
    """
    return QuasiIdentifiers(
        age_band=age_band(registration.age),
        gender=registration.gender,
        district=registration.address.district,
        weight_band=_band(registration.weight_kg, 10, 30, 150),
        height_band=_band(registration.height_cm, 10, 120, 200),
    )


def new_salt(random_bytes: RandomBytes = SYSTEM_RANDOM) -> bytes:
    """Draw a fresh 32-byte salt."""
    return draw_exact(random_bytes, SALT_SIZE)


def commitment(registration: Registration, salt: bytes) -> bytes:
    """The 32-byte salted keccak256 commitment to the registration."""
    if len(salt) != SALT_SIZE:
        raise InputError(f"salt must be {SALT_SIZE} bytes, got {len(salt)}")
    return keccak256(COMMITMENT_DOMAIN + salt + canonical_bytes(registration))


def verify_commitment(registration: Registration, salt: bytes, expected: bytes) -> bool:
    """Whether ``expected`` is the commitment of ``registration`` under ``salt``."""
    return commitment(registration, salt) == expected


@dataclass(frozen=True)
class KAnonymityReport:
    """k-anonymity of a population's quasi-identifiers, for a target ``target_k``."""

    records: int
    classes: int
    k: int
    target_k: int
    classes_below_target: int
    records_below_target: int

    @property
    def satisfied(self) -> bool:
        """Whether every equivalence class has at least ``target_k`` records."""
        return self.records_below_target == 0


def k_anonymity(population: Iterable[QuasiIdentifiers], target_k: int = 5) -> KAnonymityReport:
    """Report k (the smallest equivalence class) and the classes and records below ``target_k``.

    An empty population has ``k = 0`` and no classes.
    """
    if isinstance(target_k, bool) or not isinstance(target_k, int) or target_k < 1:
        raise InputError(f"target k must be an integer >= 1, got {target_k!r}")
    sizes = Counter(population)
    small = [size for size in sizes.values() if size < target_k]
    return KAnonymityReport(
        records=sum(sizes.values()),
        classes=len(sizes),
        k=min(sizes.values(), default=0),
        target_k=target_k,
        classes_below_target=len(small),
        records_below_target=sum(small),
    )
