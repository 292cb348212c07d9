"""Value-level building blocks of de-identification: dummies, UIDs, date shifts, PHI needles.

* :func:`dummy_value` gives the non-empty dummy of action ``D`` for a VR.
* :class:`UidMap` replaces UIDs (action ``U``) by ``2.25.<decimal>`` UIDs
  derived with HMAC-SHA256 under the de-identification key: the same input
  UID and key always give the same new UID (consistent across a study and a
  whole directory set), and without the key the new UID cannot be linked to
  the old one.
* :func:`date_offset_days` and :func:`shift_date_value` implement the
  Modified Dates option: one keyed offset per patient, in whole days, so that
  intervals between dates of the same patient are preserved and times of day
  (TM) stay consistent unchanged.
* :class:`PhiNeedles` holds the identifying values found in a dataset before
  it is changed, so that copies of them in attributes the table does not list
  (free text, private-looking standard attributes, other IDs) can be caught.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from pydicom.multival import MultiValue

#: Text of every string dummy (action D): upper case, fits SH (16) and CS.
DUMMY_TEXT = "ANONYMIZED"
DUMMY_DATE = "19000101"
DUMMY_DATETIME = "19000101000000"
DUMMY_TIME = "000000"

#: VRs whose values are text that may carry names, IDs or addresses.
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: VRs whose values are raw bytes.
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_INT_VRS = frozenset({"AT", "SL", "SS", "SV", "UL", "US", "UV"})
_FLOAT_VRS = frozenset({"FD", "FL"})
_BINARY_DUMMY_LEN = {"OD": 8, "OV": 8, "OF": 4, "OL": 4}

#: Shortest identifying value searched for inside longer text.
MIN_SUBSTRING = 4
#: Shortest identifying value searched for in raw bytes of binary values.
MIN_BYTES = 6


def base_vr(vr: str) -> str:
    """First VR of an ambiguous VR such as ``"US or SS"``."""
    return vr.split(" or ")[0].strip()


def derive_uid(key: bytes, uid: str) -> str:
    """Keyed ``2.25.<decimal>`` UID for ``uid`` (at most 44 characters)."""
    digest = hmac.new(key, b"pmrsim-deid-uid\x00" + uid.encode("ascii", "replace"), hashlib.sha256)
    return "2.25." + str(int.from_bytes(digest.digest()[:16], "big"))


def pseudonym(key: bytes, purpose: str, value: str, length: int = 12) -> str:
    """A keyed, upper-case hex pseudonym of ``value`` (for IDs that action D replaces)."""
    msg = purpose.encode() + b"\x00" + value.encode("utf-8", "replace")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:length].upper()


class UidMap:
    """Consistent keyed replacement of UIDs; remembers every pair it produced.

    One instance may be shared by every file of a directory set; the mapping
    is a pure function of the key, so separate instances with the same key
    agree too.
    """

    def __init__(self, key: bytes) -> None:
        """Create a map for ``key``."""
        self._key = key
        self.mapping: dict[str, str] = {}

    def map(self, uid: str) -> str:
        """Return the new UID for ``uid`` (empty stays empty)."""
        uid = uid.strip().rstrip("\x00")
        if not uid:
            return uid
        new = self.mapping.get(uid)
        if new is None:
            new = derive_uid(self._key, uid)
            self.mapping[uid] = new
        return new


def dummy_value(vr: str) -> Any:
    """The non-empty dummy of action D for ``vr`` (UIDs and sequences are handled by callers)."""
    vr = base_vr(vr)
    if vr == "DA":
        return DUMMY_DATE
    if vr == "DT":
        return DUMMY_DATETIME
    if vr == "TM":
        return DUMMY_TIME
    if vr == "AS":
        return "000Y"
    if vr in ("DS", "IS"):
        return "0"
    if vr in _INT_VRS:
        return 0
    if vr in _FLOAT_VRS:
        return 0.0
    if vr in BINARY_VRS:
        return b"\x00" * _BINARY_DUMMY_LEN.get(vr, 2)
    return DUMMY_TEXT


def date_offset_days(key: bytes, patient_id: str, span: int = 365) -> int:
    """Keyed per-patient date shift in days: non-zero, within ``[-span, span]``."""
    digest = hmac.new(key, b"pmrsim-deid-date\x00" + patient_id.encode("utf-8", "replace"),
                      hashlib.sha256).digest()
    n = int.from_bytes(digest[:8], "big") % (2 * span)
    return n - span if n < span else n - span + 1


_DT_WITH_ZONE = re.compile(r"\d{4,14}(\.\d{1,6})?[+-]\d{4}")


def _shift_yyyymmdd(text: str, days: int) -> str | None:
    """Shift the leading YYYYMMDD of ``text`` by ``days``; ``None`` if it is not a date."""
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])) + _dt.timedelta(days=days)
        # strftime does not zero-pad years below 1000 on every platform
        return f"{day.year:04d}{day.month:02d}{day.day:02d}" + text[8:]
    except (ValueError, OverflowError):
        return None


def shift_date_value(vr: str, value: str, days: int) -> str | None:
    """Shift one DA or DT value (or a ``-`` range of them) by ``days``; ``None`` if unparseable."""
    value = value.strip()
    if not value:
        return value
    # In a DT, a trailing "-hhmm" is a UTC offset, not a range separator.
    zoned = base_vr(vr) == "DT" and _DT_WITH_ZONE.fullmatch(value) is not None
    parts = [value] if zoned else value.split("-")
    out: list[str] = []
    for part in parts:
        if not part:
            out.append(part)
            continue
        shifted = _shift_yyyymmdd(part, days)
        if shifted is None:
            return None
        out.append(shifted)
    return "-".join(out)


def as_strings(value: Any) -> list[str]:
    """Values of an element as a list of strings (multi-valued, PN and None handled)."""
    if value is None:
        return []
    values: list[Any] = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    out = []
    for v in values:
        if isinstance(v, bytes):
            continue
        out.append(str(v))
    return out


@dataclass
class PhiNeedles:
    """Identifying values of one dataset, collected before it is changed."""

    uids: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    substrings: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)

    def add_text(self, value: str, *, identity: bool, person: bool = False) -> None:
        """Record a text value.

        ``identity`` values (names, IDs, addresses) are also searched for inside
        longer text; for a ``person`` name each component (family, given, ...)
        is searched for too, and written with spaces instead of ``^``.
        """
        norm = value.strip().upper()
        if len(norm) < 2 or norm == DUMMY_TEXT:
            return
        self.texts.add(norm)
        if not identity:
            return
        pieces = {norm}
        if person:
            pieces.add(" ".join(p for p in norm.replace("=", "^").split("^") if p))
            pieces.update(p.strip() for p in norm.replace("=", "^").split("^"))
        for piece in pieces:
            if len(piece) >= MIN_SUBSTRING and piece != DUMMY_TEXT:
                self.substrings.add(piece)

    def add_date(self, value: str) -> None:
        """Record a DA or DT value (its date part, ranges split)."""
        for part in value.strip().split("-"):
            if len(part) >= 8 and part[:8].isdigit() and part[:8] not in (DUMMY_DATE,):
                self.dates.add(part[:8])

    def leaks_text(self, value: str) -> bool:
        """True when ``value`` equals a recorded text or contains an identity value."""
        norm = value.strip().upper()
        if not norm:
            return False
        if norm in self.texts or norm in self.uids:
            return True
        if any(s in norm for s in self.substrings):
            return True
        return any(u in norm for u in self.uids if len(u) >= MIN_BYTES)

    def leaks_date(self, value: str) -> bool:
        """True when a DA/DT ``value`` carries a recorded date."""
        return any(
            len(p) >= 8 and p[:8] in self.dates for p in value.strip().split("-")
        )

    def leaks_bytes(self, data: bytes) -> bool:
        """True when raw ``data`` contains a recorded value of at least :data:`MIN_BYTES` chars."""
        if not data:
            return False
        upper = data.upper()
        for needle in (*self.texts, *self.substrings, *self.uids):
            if len(needle) >= MIN_BYTES:
                enc = needle.encode("utf-8", "ignore")
                if enc in upper or enc in data:
                    return True
        return False
