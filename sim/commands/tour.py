"""``pmrsim tour``: a guided walk through the paper's use cases on a fresh chain.

Each step prints who acts, the simulated time its block was mined at, the
contract function called, the transaction hash, the gas, the IDs issued,
and for the attempts the contracts must reject, the revert reason. Under
the steps where it happens, the off-chain half is printed too (the story's
:class:`~sim.protocol.story.OffChainHalf`): the lab's study de-identified,
split (1, t, n) onto custodian nodes with its fragments' CIDs and the
manifest CID that goes on chain, the essential share going to the patient
and sealed to a granted doctor (by fingerprint only), and at each read the
custodians releasing their key shares for the mined ``use`` (the study
rebuilt byte-identical) or refusing, with their reason. ``--images DIR``
writes the de-identified and rebuilt studies as PNGs. Nothing personal is
printed beyond the story's own synthetic names (the private layout puts
none of them on chain).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import CheckFailed

if TYPE_CHECKING:
    from rich.console import Console

    from sim.protocol.story import Step


def register(sub: Any) -> None:
    """Add the ``tour`` sub-command."""
    p = sub.add_parser("tour", help="walk through the paper's use cases step by step")
    p.add_argument("--layout", choices=["private", "paper"], default="private")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", metavar="DIR", type=Path, default=None,
                   help="write the de-identified and rebuilt studies as PNGs into DIR")
    p.set_defaults(func=run)


def _write_images(folder: Path, studies: list[tuple[str, bytes]]) -> list[str]:
    """Render each study's first frame as ``folder/<name>.png``; return the names written."""
    from sim.dapp.live import render_png

    written = []
    for name, dicom in studies:
        png = render_png(dicom)
        if png is not None:
            (folder / f"{name}.png").write_bytes(png)
            written.append(f"{name}.png")
    return written


def run(args: argparse.Namespace) -> int:
    """Play the story, printing each step as it is mined (``--images``: then write the PNGs)."""
    from rich.console import Console
    from rich.markup import escape

    from sim.outputs import staged_output

    console = Console(highlight=False, soft_wrap=False, width=110 if not sys.stdout.isatty() else None)
    # the images folder is whole or absent, and refused before anything is played (sim.outputs)
    with contextlib.ExitStack() as stack:
        stage = None if args.images is None else stack.enter_context(
            staged_output(args.images, command="tour", option="--images"))
        written = _tour(args, console, stage.path if stage is not None else None)
    for name in written:
        console.print(f"wrote {escape(str(args.images / name))}")
    return 0


def _tour(args: argparse.Namespace, console: Console, images: Path | None) -> list[str]:
    """Play and print the story; write the studies' images into ``images`` when given."""
    from rich.markup import escape

    from sim.chain import make_chain
    from sim.protocol.protocol import Protocol
    from sim.protocol.story import PAPER_PATIENT_ID, OffChainHalf, paper_story

    console.print(
        f"[bold]pmrsim tour[/] - the paper's use cases as signed transactions on an in-process "
        f"py-evm chain ({args.layout} layout, seed {args.seed}).\n"
        f"Patient-IDs start at {PAPER_PATIENT_ID}, so the first visit is the paper's example.\n"
        f"Lines marked 'off chain' happen on a simulated IPFS swarm with key custodians;\n"
        f"of them only the CIDs' digests go on chain.\n"
    )
    section = ""
    steps: list[Step] = []
    studies: list[tuple[str, bytes]] = []

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
        for line in step.offchain:
            console.print(f"  [magenta]off chain[/] {escape(line)}")
        studies.extend(step.studies)

    chain = make_chain("pyevm", seed=args.seed)
    protocol = Protocol.deploy(chain, layout=args.layout, seed=args.seed,
                               first_patient_id=PAPER_PATIENT_ID)
    for step in paper_story(protocol, offchain=OffChainHalf.seeded(protocol, args.seed)):
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
    return [] if images is None else _write_images(images, studies)
