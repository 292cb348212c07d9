"""PS3.15 Annex E Table E.1-1, loaded from package data, and its option columns.

The table (``data/ps3.15-table-E.1-1.json``, 621 rows, DICOM edition 2024b as
published by innolitics/dicom-standard) is the single source of truth for the
action applied to each attribute. This module only parses it, matches tags
(including ``XX`` wildcards such as ``(50XX,XXXX)`` and ``(60XX,3000)``) and
resolves the action of a row under a set of selected options.

**Combined actions.** The standard lets ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D`` and
``X/Z/U*`` depend on the attribute's Type in the IOD. The profile resolves them
with the IOD's Types (:func:`resolve_for_type`, Types from
:mod:`sim.privacy.deid_iod`); :func:`resolve_simple` is the Type-blind
resolution (used to decide what is identifying, and by :meth:`Rule.action`),
chosen so that the attribute is never *less* protected whatever the Type:

* ``X/Z`` and ``X/Z/D`` -> ``Z`` (kept present with an empty value, an empty
  sequence for SQ: a Type 2 attribute stays present, a Type 3 one is harmless
  empty, and nothing original survives);
* ``X/D`` and ``Z/D`` -> ``D`` (a non-empty dummy, valid even for Type 1);
* ``X/Z/U*`` -> ``U`` (the sequence is kept and every UID inside its items is
  replaced, the profile being applied to each item).

**Options.** When an option is selected and its column has an action for the
row, that action overrides the basic one. When several selected options give
an action for the same row, ``C`` (clean) wins over ``K`` (keep): the more
protective of the two. The two longitudinal-date options are mutually
exclusive (see :func:`validate_options`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

#: Table key of each option column -> (CID 7050 code, code meaning).
OPTION_CODES: dict[str, tuple[str, str]] = {
    "rtnSafePrivOpt": ("113111", "Retain Safe Private Option"),
    "rtnUIDsOpt": ("113110", "Retain UIDs Option"),
    "rtnDevIdOpt": ("113109", "Retain Device Identity Option"),
    "rtnInstIdOpt": ("113112", "Retain Institution Identity Option"),
    "rtnPatCharsOpt": ("113108", "Retain Patient Characteristics Option"),
    "rtnLongFullDatesOpt": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "rtnLongModifDatesOpt": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "cleanDescOpt": ("113105", "Clean Descriptors Option"),
    "cleanStructContOpt": ("113104", "Clean Structured Content Option"),
    "cleanGraphOpt": ("113103", "Clean Graphics Option"),
    # Not a table column: drives the burned-in annotation handling.
    "cleanPixelOpt": ("113101", "Clean Pixel Data Option"),
}

#: Code of the Basic Application Level Confidentiality Profile itself.
BASIC_PROFILE_CODE: tuple[str, str] = ("113100", "Basic Application Confidentiality Profile")

#: Friendly spellings accepted on the command line -> table key.
OPTION_ALIASES: dict[str, str] = {
    "retain-safe-private": "rtnSafePrivOpt",
    "retain-uids": "rtnUIDsOpt",
    "retain-device-identity": "rtnDevIdOpt",
    "retain-institution-identity": "rtnInstIdOpt",
    "retain-patient-characteristics": "rtnPatCharsOpt",
    "retain-long-full-dates": "rtnLongFullDatesOpt",
    "retain-long-modified-dates": "rtnLongModifDatesOpt",
    "clean-descriptors": "cleanDescOpt",
    "clean-structured-content": "cleanStructContOpt",
    "clean-graphics": "cleanGraphOpt",
    "clean-pixel-data": "cleanPixelOpt",
}

#: Option columns of the table (every option except Clean Pixel Data).
TABLE_OPTIONS: tuple[str, ...] = tuple(k for k in OPTION_CODES if k != "cleanPixelOpt")

#: Resolution of the combined actions (see the module docstring).
COMBINED_ACTIONS: dict[str, str] = {
    "X/Z": "Z",
    "X/Z/D": "Z",
    "X/D": "D",
    "Z/D": "D",
    "X/Z/U*": "U",
}

_SIMPLE_ACTIONS = frozenset("XZDKCU")
_TAG_RE = re.compile(r"^\(([0-9A-FX]{4}),([0-9A-FX]{4})\)$")


def canonical_option(name: str) -> str:
    """Return the table key of option ``name`` (a key or an alias); ``ValueError`` if unknown."""
    if name in OPTION_CODES:
        return name
    if name in OPTION_ALIASES:
        return OPTION_ALIASES[name]
    known = ", ".join(sorted([*OPTION_CODES, *OPTION_ALIASES]))
    raise ValueError(f"unknown de-identification option {name!r} (known: {known})")


def validate_options(options: frozenset[str]) -> frozenset[str]:
    """Canonicalise ``options`` and reject contradictory combinations (``ValueError``)."""
    canon = frozenset(canonical_option(o) for o in options)
    if {"rtnLongFullDatesOpt", "rtnLongModifDatesOpt"} <= canon:
        raise ValueError(
            "options rtnLongFullDatesOpt and rtnLongModifDatesOpt are mutually exclusive"
        )
    return canon


def resolve_for_type(action: str, required: str | None) -> str:
    """Map a (possibly combined) table action to X, Z, D, K, C or U for an attribute whose
    IOD requires ``"value"`` (Type 1, 1C), ``"present"`` (Type 2, 2C) or nothing (``None``).

    The action never leaves the original value and never drops what the IOD needs:
    ``X`` becomes ``Z`` or ``D``, ``Z`` becomes ``D`` where a value is required; a
    combined action takes its first part that fits (``X`` for Type 3, ``Z`` for
    Type 2, ``D`` for Type 1). ``X/Z/U*`` is always ``U``: keeping the references with
    replaced UIDs is conformant whatever the Type.
    """
    if action == "X/Z/U*":
        return "U"
    parts = action.split("/")
    for part in parts:
        if part not in _SIMPLE_ACTIONS:
            raise ValueError(f"unsupported action {action!r} in Table E.1-1")
    if len(parts) == 1:
        if required == "value" and action in ("X", "Z"):
            return "D"
        if required == "present" and action == "X":
            return "Z"
        return action
    if required == "value":
        return "D"
    if required == "present":
        return "Z" if "Z" in parts else "D"
    return parts[0]


def resolve_simple(action: str) -> str:
    """Map a (possibly combined) table action to one of X, Z, D, K, C, U."""
    resolved = COMBINED_ACTIONS.get(action, action)
    if resolved not in _SIMPLE_ACTIONS:
        raise ValueError(f"unsupported action {action!r} in Table E.1-1")
    return resolved


@dataclass(frozen=True)
class TagPattern:
    """A tag with optional ``X`` nibbles: matches when ``tag & mask == value``."""

    mask: int
    value: int

    @classmethod
    def parse(cls, text: str) -> TagPattern:
        """Parse ``(gggg,eeee)`` where any hex digit may be ``X`` (a wildcard nibble)."""
        m = _TAG_RE.match(text.strip().upper())
        if m is None:
            raise ValueError(f"not a tag pattern: {text!r}")
        digits = m.group(1) + m.group(2)
        mask = value = 0
        for ch in digits:
            mask <<= 4
            value <<= 4
            if ch != "X":
                mask |= 0xF
                value |= int(ch, 16)
        return cls(mask=mask, value=value)

    @property
    def is_wildcard(self) -> bool:
        """True when at least one nibble is a wildcard."""
        return self.mask != 0xFFFFFFFF

    def matches(self, tag: int) -> bool:
        """True when ``tag`` (a 32-bit group/element number) matches the pattern."""
        return (tag & self.mask) == self.value


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1: its tag pattern, name, basic action and option actions."""

    pattern: TagPattern
    tag_text: str
    name: str
    basic: str
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def raw_action(self, selected: frozenset[str]) -> tuple[str, str | None]:
        """Return ``(action, option)``: the table's action under ``selected``, combined
        actions such as ``X/Z`` left as they are, and the option that decided it
        (``None`` when the basic profile did)."""
        chosen: tuple[str, str | None] = (self.basic, None)
        for opt in TABLE_OPTIONS:  # fixed order: deterministic choice among equals
            if opt in selected and opt in self.options:
                act = self.options[opt]
                if chosen[1] is None or (act == "C" and chosen[0] != "C"):
                    chosen = (act, opt)
        return chosen

    def action(self, selected: frozenset[str]) -> tuple[str, str | None]:
        """Like :meth:`raw_action` with combined actions resolved by :func:`resolve_simple`
        (the resolution used when the attribute's Type is not known)."""
        act, opt = self.raw_action(selected)
        return resolve_simple(act), opt


class ProfileTable:
    """The rows of Table E.1-1 indexed for lookup by tag.

    ``lookup`` answers exact tags from a dict and wildcard rows from a short
    list; the private-attributes row is kept apart (:attr:`private_rule`).
    """

    def __init__(self, rows: list[dict[str, str]]) -> None:
        """Index ``rows`` (the JSON objects of the table)."""
        self.rows = rows
        self.exact: dict[int, Rule] = {}
        self.wildcards: list[Rule] = []
        self.private_rule: Rule | None = None
        for row in rows:
            opts = {k: row[k] for k in TABLE_OPTIONS if row.get(k)}
            tag_text = row["tag"]
            if "GGGG" in tag_text.upper():  # "(GGGG,EEEE) WHERE GGGG IS ODD"
                self.private_rule = Rule(TagPattern(0, 0), tag_text, row["name"],
                                         row["basicProfile"], opts)
                continue
            pattern = TagPattern.parse(tag_text)
            rule = Rule(pattern, tag_text, row["name"], row["basicProfile"], opts)
            if pattern.is_wildcard:
                self.wildcards.append(rule)
            else:
                self.exact[pattern.value] = rule

    def __len__(self) -> int:
        """Number of rows (621 for the shipped table)."""
        return len(self.rows)

    def lookup(self, tag: int) -> Rule | None:
        """Return the rule for a public ``tag``, or ``None`` when the table does not list it."""
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        for wild in self.wildcards:
            if wild.pattern.matches(tag):
                return wild
        return None


@cache
def load_table() -> ProfileTable:
    """Load Table E.1-1 from the package data (cached)."""
    text = (resources.files("sim.privacy") / "data" / "ps3.15-table-E.1-1.json").read_text(
        encoding="utf-8"
    )
    rows: list[dict[str, str]] = json.loads(text)
    return ProfileTable(rows)
