# pragma version ~=0.4.3
"""
@title PMR-ID encoding and visit-date validation
@custom:contract-name pmr_ids
@license MIT
@notice The paper's PMR-ID is the Patient-ID followed by the visit date
        written DDMMYYYY: patient 85437 on 26 Jan 2021 -> 8543726012021,
        i.e. `patient_id * 10**8 + DDMMYYYY`. Dates are checked against
        the Gregorian calendar (leap years included); years 1900..9999.
        `_civil_day` turns a date into a day number so that contracts can
        bound visit and capture dates by the block time (trust model rule
        P3). Stateless: import it and call its internal functions.
"""

# @dev Patient-IDs are below 10**10 so a PMR-ID stays below 10**18 and
# fits the 64-bit fields packed elsewhere.
MAX_PATIENT_ID: constant(uint256) = 10**10 - 1
DATE_BASE: constant(uint256) = 10**8
# @dev Day number of 1970-01-01 counted from 0000-03-01 (proleptic Gregorian).
_EPOCH_DAY: constant(uint256) = 719_468


@internal
@pure
def _is_leap(year: uint256) -> bool:
    """
    @dev True when `year` is a Gregorian leap year.
    @param year The four-digit year.
    @return bool Whether February has 29 days.
    """
    return (year % 4 == 0 and year % 100 != 0) or year % 400 == 0


@internal
@pure
def _is_valid_date(ddmmyyyy: uint256) -> bool:
    """
    @dev True when `ddmmyyyy` is a real calendar date written DDMMYYYY.
    @param ddmmyyyy The date, e.g. 26012021 for 26 Jan 2021.
    @return bool Whether the day exists in that month and year.
    """
    if ddmmyyyy >= DATE_BASE:
        return False
    day: uint256 = ddmmyyyy // 10**6
    month: uint256 = (ddmmyyyy // 10**4) % 100
    year: uint256 = ddmmyyyy % 10**4
    if year < 1900 or month < 1 or month > 12 or day < 1:
        return False
    days: uint256 = 31
    if month == 2:
        days = 28
        if self._is_leap(year):
            days = 29
    elif month == 4 or month == 6 or month == 9 or month == 11:
        days = 30
    return day <= days


@internal
@pure
def _encode(patient_id: uint256, ddmmyyyy: uint256) -> uint256:
    """
    @dev The PMR-ID of a visit; reverts on an impossible date or Patient-ID.
    @param patient_id The Patient-ID (1 .. 10**10 - 1).
    @param ddmmyyyy The visit date written DDMMYYYY.
    @return uint256 `patient_id * 10**8 + ddmmyyyy`.
    """
    assert patient_id != 0 and patient_id <= MAX_PATIENT_ID, "pmr_ids: bad patient id"
    assert self._is_valid_date(ddmmyyyy), "pmr_ids: invalid date"
    return patient_id * DATE_BASE + ddmmyyyy


@internal
@pure
def _patient_of(pmr_id: uint256) -> uint256:
    """
    @dev The Patient-ID inside a PMR-ID.
    @param pmr_id The PMR-ID.
    @return uint256 `pmr_id // 10**8`.
    """
    return pmr_id // DATE_BASE


@internal
@pure
def _civil_day(ddmmyyyy: uint256) -> uint256:
    """
    @dev Day number (days since 0000-03-01) of a valid date written DDMMYYYY
         (H. Hinnant's days_from_civil, shifted so every year >= 1 is positive).
    @param ddmmyyyy A date that passed `_is_valid_date`.
    @return uint256 The day number.
    """
    day: uint256 = ddmmyyyy // 10**6
    month: uint256 = (ddmmyyyy // 10**4) % 100
    year: uint256 = ddmmyyyy % 10**4
    shifted: uint256 = month + 9
    if month <= 2:
        year -= 1
    else:
        shifted = month - 3
    era: uint256 = year // 400
    yoe: uint256 = year - era * 400
    doy: uint256 = (153 * shifted + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy


@internal
@view
def _today() -> uint256:
    """
    @dev Day number (see `_civil_day`) of the current block's UTC date.
    @return uint256 The day number.
    """
    return block.timestamp // 86_400 + _EPOCH_DAY
