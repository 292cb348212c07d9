"""Configuration, refusals and action log of DICOM de-identification (see :mod:`sim.privacy.deid`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import keyword_for_tag

from sim.errors import PrivacyError
from sim.privacy.deid_pixels import Region
from sim.privacy.deid_table import validate_options

#: Why a file can be refused; the keys are the ``reason`` of :class:`DeidRefused`.
REFUSAL_REASONS: dict[str, str] = {
    "not-dicom": "not a DICOM file that can be read",
    "no-sop-instance-uid": "not a DICOM instance: the dataset has no SOP Instance UID",
    "dicomdir": "a DICOMDIR (a media directory), not an instance",
    "truncated": "the file is truncated or its encoding is inconsistent",
    "broken-pixel-data": "its Pixel Data does not match the attributes that describe it",
    "burned-in-annotation": (
        "Burned In Annotation is YES and no Clean Pixel Data regions are configured"
    ),
    "cannot-clean-pixels": "Burned In Annotation is YES and its pixel data cannot be cleaned here",
    "undecodable": "an element of the dataset cannot be decoded",
    "unwritable": "the de-identified dataset cannot be encoded",
}



class DeidRefused(PrivacyError):
    """Raised when a file cannot be de-identified safely; ``reason`` is a key of
    :data:`REFUSAL_REASONS`. The message names the file, never a value in it."""

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        """Build the one-line message for ``path`` refused for ``reason``."""
        self.path = path
        self.reason = reason
        self.detail = detail
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{path}: refused: {REFUSAL_REASONS[reason]}{extra}")


@dataclass(frozen=True)
class DeidConfig:
    """What to apply: the key, the selected options and the pixel regions to clean.

    ``options`` are table keys such as ``"rtnUIDsOpt"`` (or their aliases,
    see :data:`sim.privacy.deid_table.OPTION_ALIASES`), plus ``"cleanPixelOpt"``.
    ``clean_regions`` are blacked out on files whose Burned In Annotation is
    YES when ``cleanPixelOpt`` is selected. ``safe_private`` is the allow-list
    of private elements kept under ``rtnSafePrivOpt``: ``(creator, element
    byte)`` pairs, the creator compared case-insensitively. ``date_shift_days``
    bounds the Modified Dates shift: one keyed offset per original Patient ID
    (files without a Patient ID share one offset), non-zero, within
    ``[-date_shift_days, date_shift_days]`` days.
    """

    key: bytes
    options: frozenset[str] = frozenset()
    clean_regions: tuple[Region, ...] = ()
    safe_private: frozenset[tuple[str, int]] = frozenset()
    date_shift_days: int = 365

    def __post_init__(self) -> None:
        """Validate the key and canonicalise the options (``ValueError`` when wrong)."""
        if not isinstance(self.key, bytes) or len(self.key) < 16:
            raise ValueError("de-identification key must be at least 16 bytes")
        object.__setattr__(self, "options", validate_options(frozenset(self.options)))
        if self.clean_regions and "cleanPixelOpt" not in self.options:
            raise ValueError("clean_regions need the option cleanPixelOpt")
        if self.date_shift_days < 1:
            raise ValueError("date_shift_days must be at least 1")
        allow = frozenset((c.strip().upper(), e & 0xFF) for c, e in self.safe_private)
        object.__setattr__(self, "safe_private", allow)


@dataclass(frozen=True)
class ActionEntry:
    """One action applied: where (tag path), which attribute (keyword), what (action)."""

    path: str
    keyword: str
    action: str
    option: str | None = None

    def to_json(self) -> dict[str, str]:
        """A JSON-ready dict (no values: paths, keywords and actions only)."""
        out = {"path": self.path, "keyword": self.keyword, "action": self.action}
        if self.option:
            out["option"] = self.option
        return out


@dataclass
class ActionLog:
    """The actions applied to one dataset, in the order they were applied."""

    entries: list[ActionEntry] = field(default_factory=list)
    options: tuple[str, ...] = ()

    def add(self, path: str, tag: int, action: str, option: str | None = None) -> None:
        """Record ``action`` on the element ``tag`` at ``path``."""
        if (tag >> 16) & 1:
            keyword = "private"
        elif tag & 0xFFFF == 0:
            keyword = "GroupLength"
        else:
            keyword = keyword_for_tag(tag) or "unknown"
        self.entries.append(ActionEntry(path, keyword, action, option))

    def actions(self) -> dict[str, str]:
        """Map of path -> action (the last action recorded for a path wins)."""
        return {e.path: e.action for e in self.entries}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the options and entries."""
        return {"options": list(self.options), "actions": [e.to_json() for e in self.entries]}
