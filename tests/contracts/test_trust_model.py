"""docs/trust-model.md against the compiled contracts: every external function serves a rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.contracts import CONTRACT_NAMES, load_artifacts

DOC = Path(__file__).resolve().parents[2] / "docs" / "trust-model.md"
RULE = re.compile(r"^- \*\*([A-Z][0-9]?) - ")
ROW = re.compile(r"^\| `([A-Za-z_0-9]+)` \| ([A-Z][0-9]?(?:, [A-Z][0-9]?)*) \|$")


def rules(text: str) -> dict[str, str]:
    """Rule ID -> its bullet's text (up to the next bullet or heading)."""
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = RULE.match(line)
        if m:
            current = m.group(1)
            found[current] = line
        elif current is not None and line.startswith("  "):
            found[current] += " " + line.strip()
        else:
            current = None
    return found


def function_map(text: str) -> dict[str, dict[str, list[str]]]:
    """Contract -> function -> rule IDs, from the tables under "## Function map"."""
    tables: dict[str, dict[str, list[str]]] = {}
    section = text.split("## Function map", 1)[1]
    contract = None
    for line in section.splitlines():
        if line.startswith("### "):
            contract = line[4:].strip()
            tables[contract] = {}
        m = ROW.match(line)
        if m and contract is not None:
            tables[contract][m.group(1)] = m.group(2).split(", ")
    return tables


def abi_functions(name: str) -> set[str]:
    """The external functions (and public getters) of a compiled contract."""
    return {e["name"] for e in load_artifacts()[name].abi if e["type"] == "function"}


@pytest.mark.parametrize("contract", CONTRACT_NAMES)
def test_every_external_function_maps_to_a_defined_rule(contract: str) -> None:
    """Each function of the contract's ABI has a row in the document, naming a rule it defines."""
    text = DOC.read_text()
    defined = rules(text)
    table = function_map(text).get(contract, {})
    missing = sorted(abi_functions(contract) - set(table))
    assert missing == [], f"{contract}: functions not in docs/trust-model.md: {missing}"
    undefined = sorted(f"{fn} -> {rule}" for fn, names in table.items() for rule in names
                       if rule != "V" and rule not in defined)
    assert undefined == []


@pytest.mark.parametrize("contract", CONTRACT_NAMES)
def test_the_document_lists_no_function_the_contract_lacks(contract: str) -> None:
    """No row of the document names a function the compiled contract does not have."""
    table = function_map(DOC.read_text()).get(contract, {})
    assert sorted(set(table) - abi_functions(contract)) == []


def test_every_rule_serves_some_function_or_off_chain_step() -> None:
    """Each on-chain rule is the rule of at least one function in the map."""
    text = DOC.read_text()
    used = {rule for table in function_map(text).values() for names in table.values()
            for rule in names}
    off_chain = {"S1", "S2", "C1"}
    assert sorted(set(rules(text)) - used - off_chain) == []


def test_the_parser_fails_on_an_unmapped_function() -> None:
    """The check is real: a document without a function's row is caught."""
    text = DOC.read_text()
    assert "use" in function_map(text)["AccessGrants"]
    text = re.sub(r"\| `use` \|[^\n]*\n", "", text)
    assert "use" not in function_map(text)["AccessGrants"]


def test_every_rule_names_an_adversary_the_adversarial_scenario_runs() -> None:
    """Each rule but the public reads names an adversary kind adversarial.yaml configures."""
    from sim.engine.scenario import load_scenario

    scenario = load_scenario(DOC.parents[1] / "scenarios" / "adversarial.yaml")
    configured = {k for k, v in scenario.adversaries.model_dump().items() if v >= 1}
    named = {}
    for rule, text in rules(DOC.read_text()).items():
        if rule == "V":
            continue  # public reads refuse nothing
        m = re.search(r"Adversary: `([a-z_]+)`", text)
        named[rule] = m.group(1) if m else None
    assert sorted(r for r, kind in named.items() if kind is None) == []
    assert sorted(f"{r}: {kind}" for r, kind in named.items() if kind not in configured) == []
    assert sorted(set(named.values())) == sorted(configured)
