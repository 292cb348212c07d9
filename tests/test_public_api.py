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


#: The heading of docs/api.md's storage_sim section (the sim section comes before it).
STORAGE = "## Storage:"


def _documented(text: str) -> set[str]:
    """Names in the first cells of the table rows of ``text``."""
    documented = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1]
            documented.update(re.findall(r"`([A-Za-z_0-9]+)", cell))
    return documented


def test_docs_list_exactly_the_exports() -> None:
    """docs/api.md's first table names the same set as sim.__all__."""
    assert _documented(DOCS.read_text().split(STORAGE)[0]) == set(sim.__all__)


def test_docs_list_exactly_the_storage_exports() -> None:
    """docs/api.md's storage section names the same set as storage_sim.__all__ (the CAR API
    included)."""
    import storage_sim

    assert _documented(DOCS.read_text().split(STORAGE)[1]) == set(storage_sim.__all__)
