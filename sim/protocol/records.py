"""What each stakeholder tells the system, and how it is committed to.

The dataclasses hold the fields the paper's screens ask for (Figs. 2-5).
In the private layout none of them reaches the chain: the protocol stores
an encrypted copy off chain and puts on chain only a salted commitment
(:func:`commitment`) and, for registration numbers, a keyed blind tag
(:func:`blind_tag`) that enforces uniqueness without revealing the number.
In the paper layout the same fields are stored on chain as strings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import hmac
import json
from typing import Any

from sim.hashing import keccak256

COMMITMENT_DOMAIN = b"pmrsim.commitment/1"


class TestType(enum.IntEnum):
    """Lab test types, numbered as in ``LabReports.vy``."""

    __test__ = False  # not a pytest class

    BLOOD = 0
    URINE = 1
    ECG = 2
    XRAY = 3
    MRI = 4
    CT = 5
    ULTRASOUND = 6
    MAMMOGRAPHY = 7
    GENERAL_EXAM = 8


@dataclasses.dataclass(frozen=True)
class HospitalProfile:
    """Fig. 2: what a hospital gives when it applies."""

    gov_reg_id: str
    name: str
    location: str
    specialization: str
    contact: str


@dataclasses.dataclass(frozen=True)
class DoctorProfile:
    """Fig. 2: what a hospital gives when it onboards a medical practitioner."""

    registration_number: str
    name: str
    specialization: str
    contact: str


@dataclasses.dataclass(frozen=True)
class PatientDetails:
    """Fig. 3: what the registration desk captures about a patient and attendant."""

    name: str
    age: int
    gender: str
    weight_kg: float
    height_cm: float
    address: str
    phone: str
    email: str
    attendant_name: str = ""
    attendant_phone: str = ""
    attendant_relation: str = ""


@dataclasses.dataclass(frozen=True)
class VisitRecord:
    """Fig. 4: what the medical practitioner records for a visit."""

    present_illness: str
    past_illness: str
    provisional_diagnosis: str
    treatment_summary: str
    insurance: str = ""


@dataclasses.dataclass(frozen=True)
class LabFindings:
    """Fig. 5: what the lab reports about a test (the study itself goes off chain)."""

    test_type: TestType
    capture_date: dt.date
    reason_code: int
    reason: str
    observations: str


def canonical(record: Any) -> bytes:
    """Canonical bytes of a record: compact, key-sorted UTF-8 JSON of its fields."""
    fields = _fields(record) if _is_record(record) else dict(record)
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable
    ).encode()


def _is_record(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields, one level deep (nested records are expanded by ``_jsonable``)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _jsonable(value: Any) -> Any:
    if _is_record(value):
        return _fields(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def commitment(record: Any, salt: bytes) -> bytes:
    """keccak256(domain || canonical(record) || salt): hides the record, binds to it."""
    if len(salt) != 32:
        raise ValueError("commitment salt must be 32 bytes")
    return keccak256(COMMITMENT_DOMAIN + canonical(record) + salt)


def blind_tag(key: bytes, domain: str, value: str) -> bytes:
    """HMAC-SHA256 tag of ``value`` under an authority's key (unique per value, unguessable)."""
    return hmac.new(key, f"{domain}\0{value}".encode(), hashlib.sha256).digest()
