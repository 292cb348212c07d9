"""PMR-ID encoding: Patient-ID followed by the visit date as DDMMYYYY."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import InputError
from sim.protocol import ids

dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31))
patients = st.integers(min_value=1, max_value=ids.MAX_PATIENT_ID)


def test_the_papers_example() -> None:
    """Patient 85437 visiting on 26 Jan 2021 has PMR-ID 8543726012021."""
    assert ids.pmr_id(85437, dt.date(2021, 1, 26)) == 8543726012021


@given(patients, dates)
def test_round_trip(patient: int, day: dt.date) -> None:
    """Splitting a PMR-ID gives back the Patient-ID and the visit date."""
    assert ids.split_pmr_id(ids.pmr_id(patient, day)) == (patient, day)


@given(patients, dates, dates)
def test_distinct_visits_distinct_ids(patient: int, a: dt.date, b: dt.date) -> None:
    """Two different visit dates of one patient never share a PMR-ID."""
    assert (ids.pmr_id(patient, a) == ids.pmr_id(patient, b)) == (a == b)


@given(st.integers(min_value=0, max_value=99_999_999))
def test_parse_accepts_exactly_the_real_dates(value: int) -> None:
    """parse_ddmmyyyy accepts a number iff it spells a real date from 1900 on."""
    day, month, year = value // 10**6, (value // 10**4) % 100, value % 10**4
    try:
        real = dt.date(year, month, day) if year >= 1900 else None
    except ValueError:
        real = None
    if real is None:
        with pytest.raises(InputError):
            ids.parse_ddmmyyyy(value)
    else:
        assert ids.parse_ddmmyyyy(value) == real


def test_out_of_range_patient_rejected() -> None:
    """Patient-IDs outside 1 .. 10**10-1 are rejected with a clear message."""
    with pytest.raises(InputError, match="patient id"):
        ids.pmr_id(0, dt.date(2021, 1, 1))
    with pytest.raises(InputError, match="patient id"):
        ids.pmr_id(10**10, dt.date(2021, 1, 1))
