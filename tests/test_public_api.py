"""The public API: every exported name loads, and docs/api.md lists exactly those names."""

from __future__ import annotations

import re
from pathlib import Path

import sim

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_every_exported_name_loads() -> None:
    """Each name in sim.__all__ resolves to an object."""
    for name in sim.__all__:
        assert getattr(sim, name) is not None


def test_docs_list_exactly_the_exports() -> None:
    """docs/api.md's table names the same set as sim.__all__."""
    documented = set()
    for line in DOCS.read_text().splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1]
            documented.update(re.findall(r"`([A-Za-z_]+)", cell))
    assert documented == set(sim.__all__)
