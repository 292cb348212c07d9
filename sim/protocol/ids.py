"""Identifiers of the paper: PMR-ID = Patient-ID followed by the visit date as DDMMYYYY.

Patient 85437 visiting on 26 Jan 2021 has PMR-ID 8543726012021, i.e.
``patient_id * 10**8 + DDMMYYYY``. The contracts compute the same encoding
(``contracts_vyper/modules/pmr_ids.vy``); this module is its Python twin,
used to predict IDs and to read them back.
"""

from __future__ import annotations

import datetime as dt

from sim.errors import InputError

DATE_BASE = 10**8
MAX_PATIENT_ID = 10**10 - 1
MIN_YEAR = 1900


def ddmmyyyy(day: dt.date) -> int:
    """The date as the number DDMMYYYY (26 Jan 2021 -> 26012021)."""
    if day.year < MIN_YEAR:
        raise InputError(f"visit date {day.isoformat()}: year before {MIN_YEAR}")
    return day.day * 10**6 + day.month * 10**4 + day.year


def parse_ddmmyyyy(value: int) -> dt.date:
    """The date written DDMMYYYY; :class:`InputError` when no such day exists."""
    if not 0 <= value < DATE_BASE:
        raise InputError(f"date {value}: expected DDMMYYYY (eight digits)")
    day, month, year = value // 10**6, (value // 10**4) % 100, value % 10**4
    if year < MIN_YEAR:
        raise InputError(f"date {value:08d}: year before {MIN_YEAR}")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise InputError(f"date {value:08d}: {exc}") from None


def pmr_id(patient_id: int, visit: dt.date) -> int:
    """The PMR-ID of ``patient_id``'s visit on ``visit``."""
    if not 1 <= patient_id <= MAX_PATIENT_ID:
        raise InputError(f"patient id {patient_id}: expected 1 .. {MAX_PATIENT_ID}")
    return patient_id * DATE_BASE + ddmmyyyy(visit)


def split_pmr_id(value: int) -> tuple[int, dt.date]:
    """``(patient_id, visit date)`` of a PMR-ID."""
    patient_id, date = divmod(value, DATE_BASE)
    if not 1 <= patient_id <= MAX_PATIENT_ID:
        raise InputError(f"PMR-ID {value}: patient id out of range")
    return patient_id, parse_ddmmyyyy(date)
