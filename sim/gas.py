"""The gas table: gas per operation of the paper's use cases, its floor and ratio.

The floor of an operation is what no implementation can avoid: 21,000 for
the transaction, its calldata, the storage slots it must write (22,100 for
a slot set from zero, 5,000 for one changed) and its logs. Each operation
is measured in its steady state: the last successful call of that kind in
the story (so counters already exist, as they do in a running system).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import CheckFailed, InputError

if TYPE_CHECKING:  # the story (the whole protocol layer) is imported when it is played
    from sim.protocol.story import Step

#: OpenZeppelin ERC721Enumerable `_mint` to a fresh owner, excluding the 21,000 base.
OZ_ENUMERABLE_MINT = 146_258
BASELINE_PATH = Path(__file__).resolve().parent.parent / "reports" / "baseline" / "gas.json"


@dataclass(frozen=True)
class GasRow:
    """One operation's gas in one layout."""

    layout: str
    token: str
    operation: str
    gas: int
    floor: int
    ratio: float


def measure(layouts: tuple[str, ...] = ("private", "paper"), *, token: str = "erc721",
            seed: int = 0) -> list[GasRow]:
    """Run the story once per layout and return one row per operation and layout."""
    from sim.protocol.story import run_story

    rows: list[GasRow] = []
    for layout in layouts:
        last: dict[str, Step] = {}
        for step in run_story(layout, seed=seed, token=token):
            if step.outcome.ok:
                last[step.outcome.op] = step
        for op, step in last.items():
            o = step.outcome
            rows.append(GasRow(layout, token, op, o.gas, o.floor, round(o.gas / o.floor, 3)))
    return rows


def to_json(rows: list[GasRow]) -> str:
    """``{"operations": [...]}`` as DESIGN.md fixes it."""
    return json.dumps({"operations": [asdict(r) for r in rows]}, indent=2) + "\n"


def write_baseline(path: Path, rows: list[GasRow]) -> None:
    """Write ``rows`` into the baseline, keeping rows of other layouts and tokens."""
    kept: list[GasRow] = []
    if path.is_file():
        measured = {(r.layout, r.token) for r in rows}
        data = json.loads(path.read_text())
        kept = [GasRow(**r) for r in data["operations"] if (r["layout"], r["token"]) not in measured]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(kept + rows))


def load_baseline(path: Path) -> dict[tuple[str, str, str], int]:
    """(layout, token, operation) -> gas from a baseline written by ``to_json``."""
    try:
        data = json.loads(path.read_text())
        return {(r["layout"], r["token"], r["operation"]): int(r["gas"]) for r in data["operations"]}
    except FileNotFoundError:
        raise InputError(f"{path}: baseline not found (write one with --update-baseline)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a gas baseline ({exc})") from None


def check(rows: list[GasRow], baseline: dict[tuple[str, str, str], int]) -> list[str]:
    """Operations whose gas rose above the baseline, as messages; raise if any."""
    risen = []
    for r in rows:
        before = baseline.get((r.layout, r.token, r.operation))
        if before is not None and r.gas > before:
            risen.append(f"{r.layout} {r.operation}: {before} -> {r.gas} (+{r.gas - before})")
    if risen:
        raise CheckFailed("gas rose above the baseline: " + "; ".join(risen))
    return risen
