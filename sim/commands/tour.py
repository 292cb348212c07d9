"""``pmrsim tour``: a guided walk through the paper's use cases on a fresh chain.

Each step prints who acts, the simulated time its block was mined at, the
contract function called, the transaction hash, the gas, the IDs issued,
and for the attempts the contracts must reject, the revert reason. Nothing
personal is printed beyond the story's own synthetic names (the private
layout puts none of them on chain).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

from sim.errors import CheckFailed

if TYPE_CHECKING:
    from sim.protocol.story import Step


def register(sub: Any) -> None:
    """Add the ``tour`` sub-command."""
    p = sub.add_parser("tour", help="walk through the paper's use cases step by step")
    p.add_argument("--layout", choices=["private", "paper"], default="private")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Play the story, printing each step as it is mined."""
    from rich.console import Console

    from sim.chain import make_chain
    from sim.protocol.protocol import Protocol
    from sim.protocol.story import PAPER_PATIENT_ID, paper_story

    console = Console(highlight=False, soft_wrap=False, width=110 if not sys.stdout.isatty() else None)
    console.print(
        f"[bold]pmrsim tour[/] - the paper's use cases as signed transactions on an in-process "
        f"py-evm chain ({args.layout} layout, seed {args.seed}).\n"
        f"Patient-IDs start at {PAPER_PATIENT_ID}, so the first visit is the paper's example.\n"
    )
    section = ""
    steps: list[Step] = []

    def show(step: Step, when: int) -> None:
        nonlocal section
        steps.append(step)
        if step.section != section:
            section = step.section
            console.rule(f"[bold]{section}")
        o = step.outcome
        mark = "[green]ok[/]" if o.ok else "[red]rejected[/]"
        if not step.as_expected:
            mark += " [bold red](unexpected!)[/]"
        console.print(f"[bold]{step.actor}[/] {step.action}")
        stamp = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%d %b %Y %H:%M")
        detail = f"  {stamp}  {o.op}  tx 0x{o.receipt.tx_hash.hex()[:16]}...  block {o.receipt.block_number}"
        detail += f"  gas {o.gas:,}  {mark}"
        console.print(detail)
        if o.issued is not None:
            console.print(f"  issued: [cyan]{o.issued}[/]")
        if not o.ok:
            note = f"  ({step.note})" if step.note else ""
            console.print(f"  revert reason: [yellow]{o.reason}[/]{note}")
        if not step.as_expected and not step.expect_ok:
            console.print(f"  expected: [yellow]{step.expect_reason}[/]")

    # the story played as play_story does, each step shown with its block's simulated time
    chain = make_chain("pyevm", seed=args.seed)
    protocol = Protocol.deploy(chain, layout=args.layout, seed=args.seed,
                               first_patient_id=PAPER_PATIENT_ID)
    for step in paper_story(protocol):
        show(step, chain.timestamp)
    ok = sum(1 for s in steps if s.outcome.ok)
    rejected = len(steps) - ok
    total = sum(s.outcome.gas for s in steps)
    console.rule("[bold]Summary")
    console.print(
        f"{len(steps)} transactions: {ok} succeeded, {rejected} rejected by the contracts "
        f"as the trust model requires, each for its rule's reason; {total:,} gas in all."
    )
    bad = [s for s in steps if not s.as_expected]
    if bad:
        raise CheckFailed(f"{len(bad)} step(s) did not behave as expected: " +
                          "; ".join(f"{s.actor} {s.action}: {s.outcome.reason or 'succeeded'}"
                                    + (f" (expected {s.expect_reason})" if not s.expect_ok else "")
                                    for s in bad))
    console.print("Every step behaved as the paper describes.")
    return 0
