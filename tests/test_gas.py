"""The gas table's floors stay honest: each operation's declared slot writes are the EVM's.

The floor of an operation counts the storage slots it must write
(``SlotWrites(new=..., updated=...)``, declared by the protocol layer). For
every row of the gas table (each layout and token standard: the story's
last successful call of each operation) the declaration is compared with
the storage the transaction really changed, as anvil's prestate tracer
reports it in diff mode (a second EVM, revm, not py-evm): a slot with no
value before is new, a slot whose value changed (or was cleared) is updated.
"""

from __future__ import annotations

from typing import Any

import pytest

from sim.protocol.outcome import SlotWrites
from tests.tools import require


def actual_writes(diff: dict[str, Any]) -> SlotWrites:
    """Slots set from zero and slots changed, from a prestateTracer diff (every account)."""
    new = updated = 0
    for address in set(diff["pre"]) | set(diff["post"]):
        before = diff["pre"].get(address, {}).get("storage", {}) or {}
        after = diff["post"].get(address, {}).get("storage", {}) or {}
        for slot in set(before) | set(after):
            old = int(before.get(slot, "0x0"), 16)
            value = int(after.get(slot, "0x0"), 16)
            if old == value:
                continue
            if old == 0:
                new += 1
            else:
                updated += 1
    return SlotWrites(new=new, updated=updated)


@pytest.mark.parametrize("token", ["erc721", "erc1155"])
@pytest.mark.parametrize("layout", ["private", "paper"])
def test_declared_slot_writes_are_the_evms(layout: str, token: str) -> None:
    """Every gas-table row's declared slot writes equal the storage writes its transaction made."""
    require("anvil")
    from sim.protocol.story import play_story

    protocol, steps = play_story(layout, token=token, backend="anvil")
    chain: Any = protocol.chain
    try:
        last = {s.outcome.op: s.outcome for s in steps if s.outcome.ok}
        wrong = []
        for op, outcome in last.items():
            diff = chain._rpc("debug_traceTransaction", [
                "0x" + outcome.receipt.tx_hash.hex(),
                {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}])
            made = actual_writes(diff)
            declared = outcome.writes  # an unchanged rewrite leaves no trace in the state
            if (made.new, made.updated) != (declared.new, declared.updated):
                wrong.append(f"{op}: declared {declared}, the EVM wrote {made}")
        assert not wrong, "; ".join(wrong)
        assert len(last) > 15
    finally:
        chain.close()


def test_a_diff_is_counted_as_the_floor_counts_writes() -> None:
    """Zero to value is new; value to another value, or to zero, is updated; unchanged is none."""
    diff = {"pre": {"0xa": {"storage": {"0x1": "0x5", "0x2": "0x7", "0x3": "0x9"}}},
            "post": {"0xa": {"storage": {"0x1": "0x6", "0x3": "0x9", "0x4": "0x1"}},
                     "0xb": {"balance": "0x1"}}}
    assert actual_writes(diff) == SlotWrites(new=1, updated=2)
