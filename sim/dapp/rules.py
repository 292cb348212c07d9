"""Which rule of ``docs/trust-model.md`` a revert reason enforces, for the DApp's pages.

The contracts enforce the rules; the DApp only names them next to a refused
action. The table ships as ``rules.json`` (package data, since the docs are
not installed) and is generated from the trust model's "Reasons:" lists by
:func:`parse_rules`; a test keeps it equal to the document.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

_RULE = re.compile(r"^- \*\*([A-Z]\d?) - (.+?)\*\*(.*?)(?=^- \*\*|^#|\Z)", re.S | re.M)
_REASONS = re.compile(r"Reasons?(?: after a close)?: (.*?)(?:\. [A-Z]|\.$)")


def parse_rules(markdown: str) -> dict[str, str]:
    """Map each revert reason the trust model lists to "<rule id> - <rule title>"."""
    rules: dict[str, str] = {}
    for match in _RULE.finditer(markdown):
        rule_id, title, body = match.group(1), " ".join(match.group(2).split()), match.group(3)
        listed = _REASONS.search(" ".join(body.split()))
        if listed is None:
            continue
        for reason in re.findall(r"`([^`]+)`", listed.group(1)):
            rules.setdefault(reason, f"{rule_id} - {title.rstrip('.')}")
    return rules


@functools.cache
def table() -> dict[str, str]:
    """The shipped reason -> rule table."""
    text = resources.files("sim.dapp").joinpath("rules.json").read_text(encoding="utf-8")
    loaded: dict[str, str] = json.loads(text)
    return loaded


def rule_of(reason: str) -> str:
    """The rule a revert reason enforces, or "" when the trust model does not list it."""
    return table().get(reason, "")
