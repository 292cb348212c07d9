"""Attribute Types (1, 1C, 2, 2C, 3) of PS3.3 IODs, for keeping de-identified objects valid.

The PS3.3 module tables come from the JSON that highdicom ships inside its
wheel (``highdicom/_standard/``: ``sop_class_iod_map.json``,
``iod_module_map.json``, ``module_attribute_map.json``; highdicom pinned in
``pyproject.toml``). They are read as data files, without importing
highdicom, once per process.

Why Types matter: Table E.1-1's actions ``X`` and ``Z`` (and the combined
``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``) are only correct for an
attribute the IOD lets go. A Type 1 attribute must stay with a value, a
Type 2 one must stay present (possibly empty). :meth:`IodTypes.type_of`
answers with the *strictest* Type the attribute has in any module of the
IOD at that sequence path, so an attribute never loses a place it may hold:

* Type 1, and 1C when the input has it (its condition held in the input, or
  the input was already wrong there) -> a dummy value (never the original);
* Type 2, and 2C when present -> kept present, empty;
* Type 3 or not in the IOD -> may be removed.

Conditions of 1C/2C are not evaluated: an attribute that the input carries
is taken to meet its condition. Nested paths deeper than the tables go
(recursive SR content items) fall back to the longest known suffix of the
path, so ``ContentSequence > ContentSequence > TextValue`` is typed like a
first-level content item. An unknown SOP Class is typed by every module.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

#: Where the tables live inside the highdicom distribution.
_TABLE_DIR = "highdicom/_standard"
#: Strictness order of Types: a lower index must be kept more strictly.
_ORDER = {"1": 0, "1C": 1, "2": 2, "2C": 3, "3": 4}

Path_ = tuple[str, ...]


class IodTablesMissing(RuntimeError):
    """Raised when highdicom's PS3.3 tables cannot be found (a broken installation)."""


def _table_path(name: str) -> Path:
    """Path of one of highdicom's JSON tables, found through its distribution record."""
    try:
        dist = metadata.distribution("highdicom")
    except metadata.PackageNotFoundError:
        raise IodTablesMissing("highdicom is not installed (run scripts/setup.sh)") from None
    path = Path(str(dist.locate_file(f"{_TABLE_DIR}/{name}")))
    if not path.is_file():
        raise IodTablesMissing(f"{path}: highdicom {dist.version} has no such table")
    return path


def tables_version() -> str:
    """The highdicom version whose tables are used (for logs and docs)."""
    return metadata.version("highdicom")


@cache
def _raw() -> tuple[dict[str, str], dict[str, list[dict[str, Any]]], dict[str, list[Any]]]:
    """The three tables, loaded once."""
    sop = json.loads(_table_path("sop_class_iod_map.json").read_text(encoding="utf-8"))
    iods = json.loads(_table_path("iod_module_map.json").read_text(encoding="utf-8"))
    modules = json.loads(_table_path("module_attribute_map.json").read_text(encoding="utf-8"))
    return sop, iods, modules


def _stricter(a: str | None, b: str) -> str:
    """The stricter of two Types (``None`` is weaker than any)."""
    if a is None:
        return b
    return a if _ORDER.get(a, 9) <= _ORDER.get(b, 9) else b


class IodTypes:
    """Types of the attributes of one IOD, by (sequence path, keyword)."""

    def __init__(self, module_keys: list[str]) -> None:
        """Index the attributes of ``module_keys`` (keys of the module table)."""
        _, _, modules = _raw()
        self.types: dict[tuple[Path_, str], str] = {}
        for key in module_keys:
            for attr in modules.get(key, ()):
                kind = str(attr.get("type"))
                if kind not in _ORDER:
                    kind = "3"
                where = (tuple(attr["path"]), attr["keyword"])
                self.types[where] = _stricter(self.types.get(where), kind)

    def type_of(self, path: Path_, keyword: str) -> str | None:
        """Strictest Type of ``keyword`` inside the sequences ``path``; ``None`` if not in the IOD."""
        for start in range(len(path) + 1):
            kind = self.types.get((path[start:], keyword))
            if kind is not None:
                return kind
            if start == 0 and not path:
                break
        return None

    def required(self, path: Path_, keyword: str) -> str | None:
        """``"value"`` (Type 1/1C), ``"present"`` (Type 2/2C) or ``None`` (may go)."""
        kind = self.type_of(path, keyword)
        if kind in ("1", "1C"):
            return "value"
        if kind in ("2", "2C"):
            return "present"
        return None


@cache
def iod_types(sop_class_uid: str) -> IodTypes:
    """The :class:`IodTypes` of the IOD of ``sop_class_uid`` (every module when unknown)."""
    sop, iods, modules = _raw()
    iod = sop.get(sop_class_uid.strip())
    if iod is None or iod not in iods:
        return IodTypes(sorted(modules))
    return IodTypes([m["key"] for m in iods[iod]])
