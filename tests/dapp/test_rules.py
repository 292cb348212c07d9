"""The revert-reason -> rule table shipped with the DApp is the trust model's."""

from __future__ import annotations

from pathlib import Path

from sim.dapp.rules import parse_rules, rule_of, table

DOC = Path(__file__).resolve().parents[2] / "docs" / "trust-model.md"


def test_table_matches_the_trust_model() -> None:
    """rules.json equals what docs/trust-model.md's "Reasons:" lists say (regenerate it if not)."""
    assert table() == parse_rules(DOC.read_text(encoding="utf-8"))


def test_known_and_unknown_reasons() -> None:
    """A listed reason names its rule; an unlisted one names none."""
    assert rule_of("access_grants: grant expired").startswith("G3 - ")
    assert rule_of("hospital_registry: registration id already used").startswith("H1 - ")
    assert rule_of("no such reason") == ""
