"""``pmrsim run``, ``pmrsim replay`` and ``pmrsim audit``: the simulation and its evidence."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sim.errors import CheckFailed, InputError
from sim.outputs import reading, staged_output, write_marker

#: The chain backends (:data:`sim.chain.BACKENDS`; listed here so that building the parser
#: imports no chain code).
BACKENDS = ["pyevm", "ethtester", "revm", "rpc", "anvil"]


def register(sub: Any) -> None:
    """Add the ``run``, ``replay`` and ``audit`` sub-commands."""
    p = sub.add_parser("run", help="simulate a scenario and check its invariants")
    p.add_argument("scenario", type=Path, help="scenario YAML file")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="chain backend (default: the scenario's chain.backend, else pyevm); anvil "
                        "starts and stops a node of its own, rpc drives the node at --rpc-url")
    p.add_argument("--rpc-url", default=None, help="the node's JSON-RPC URL (backend rpc)")
    p.add_argument("--shift-calendar", action="store_true",
                   help="backend rpc, on a node whose clock is past the scenario's start: move the "
                        "scenario's calendar to the node's time (recorded in summary.json)")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/<name>-<seed>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. --set storage.nodes=8 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="refuse a run whose estimated peak memory passes SIZE, e.g. 4G (default: 80%% "
                        "of the available memory; none lifts it; docs/scenarios.md)")
    p.add_argument("--max-work", default=None, metavar="N",
                   help="refuse a run of more than N estimated transactions (default 10,000,000; "
                        "none lifts it)")
    p.set_defaults(func=run)
    r = sub.add_parser(
        "replay", help="verify a run folder: rerun it and compare every byte (or --chain-only)",
        description="By default, make the run again from the scenario, seed and backend its trace "
                    "embeds and compare trace.jsonl, summary.json and gas.csv byte for byte (the "
                    "wall-clock figures aside). --chain-only re-executes the signed transactions "
                    "on a fresh chain of any backend instead. Exit 0 verified, 1 a difference "
                    "(named by file, line and field), 2 bad input.")
    r.add_argument("run_dir", type=Path)
    r.add_argument("--chain-only", action="store_true",
                   help="re-execute the transactions only (any backend, any pmrsim build)")
    r.add_argument("--backend", choices=BACKENDS, default=None,
                   help="backend to re-execute on (--chain-only; a rerun uses the run's own)")
    r.add_argument("--rpc-url", default=None, help="node to replay on (rpc backend)")
    r.add_argument("--format", choices=["text", "json"], default="text",
                   help="json: a machine-readable verdict on stdout")
    r.set_defaults(func=replay)
    a = sub.add_parser("audit", help="who accessed a patient's records, from the chain's events")
    a.add_argument("run_dir", type=Path)
    a.add_argument("--patient", type=int, required=True, help="Patient-ID")
    a.set_defaults(func=audit)


def run(args: argparse.Namespace) -> int:
    """Load, simulate, write outputs; exit 1 when the run breaks its expectations."""
    from sim.engine.bounds import check_run

    check_run(args)  # before the engine is even imported: a refusal costs a fraction of a second
    from sim.engine.replay import run_folders
    from sim.engine.runner import run_scenario
    from sim.engine.scenario import load_scenario

    overrides = list(args.overrides)
    if args.backend:
        overrides.append(f"chain.backend={args.backend}")
    if args.rpc_url:
        overrides.append(f"chain.rpc_url={json.dumps(args.rpc_url)}")  # quoted: a URL is not YAML
    scenario = load_scenario(args.scenario, overrides, seed=args.seed)
    if scenario.chain.backend == "rpc":  # before any output: a node past the calendar is refused
        from sim.engine.calendar import fit_node_clock

        scenario = fit_node_clock(scenario, shift=args.shift_calendar)
    elif args.shift_calendar:
        raise InputError("--shift-calendar: only for --backend rpc (a node you started); the "
                         "other backends start at the scenario's own dates")
    out: Path = args.out or Path("runs") / f"{scenario.name}-{scenario.seed}"
    with staged_output(out, command="run", legacy=older_run) as stage:  # whole or absent
        result = run_scenario(scenario, stage.path, progress=False if args.no_progress else None)
        for folder in run_folders(stage.path)[1:]:
            write_marker(folder, "run")  # each layout's folder is a complete run folder too
    s = result.summary
    c = s["counts"]
    print(f"{s['scenario']} (seed {s['seed']}, {', '.join(scenario.layouts)}): "
          f"{s['txs']['total']} txs ({s['txs']['reverted']} reverted), {c['patients']} patients, "
          f"{c['visits']} visits, {c['lab_reports']} lab reports, {c['grants']} grants, "
          f"{c['accesses']} accesses, {c['denied']} denied; {s['wall_seconds']} s")
    if "calendar_shift" in s:
        shift = s["calendar_shift"]
        print(f"calendar shifted {shift['days']} days to the node's time: {shift['from']} -> "
              f"{shift['to']} (PMR-IDs carry the shifted dates)")
    print(f"state root {s['state_root']}; outputs in {out}")
    if not result.ok:
        raise CheckFailed("; ".join(result.unexpected))
    print(f"invariants: {invariants_line(s)}")
    return 0


def invariants_line(summary: dict[str, Any]) -> str:
    """"9 checked, all as expected (1 skipped: name: reason)", every layout's skips included."""
    inv = summary["invariants"]
    layouts = summary.get("layouts") or {summary["layout"]: {"invariants": inv}}
    skips = [f"{name}{f' ({layout})' if len(layouts) > 1 else ''}: {reason}"
             for layout, entry in layouts.items()
             for name, reason in ((s["name"], s["reason"])
                                  for s in entry["invariants"].get("skipped", []))]
    text = f"{inv['checked']} checked, all as expected"
    return text + (f" ({len(skips)} skipped: {'; '.join(skips)})" if skips else "")


def older_run(folder: Path) -> bool:
    """Whether ``folder`` looks like a run folder written before outputs had their marker."""
    return (folder / "summary.json").is_file() or (folder / "trace.jsonl").is_file()


def replay(args: argparse.Namespace) -> int:
    """Verify a run folder (see ``pmrsim replay --help``)."""
    from sim.engine.replay import Verdict, verdict_json, verify

    verdict = Verdict(args.run_dir, "chain-only" if args.chain_only else "rerun")
    try:
        with reading(args.run_dir, "replay"):  # no command replaces the folder meanwhile
            verify(args.run_dir, chain_only=args.chain_only, backend=args.backend,
                   rpc_url=args.rpc_url, verdict=verdict)
    except (CheckFailed, InputError) as exc:
        if args.format == "json":
            sys.stdout.write(verdict_json(verdict, exc))
            return 1 if isinstance(exc, CheckFailed) else 2
        raise
    if args.format == "json":
        sys.stdout.write(verdict_json(verdict, None))
        return 0
    how = ("rerun and compared byte for byte" if verdict.mode == "rerun"
           else "re-executed on a fresh chain")
    for item in verdict.checked:
        if item["file"].endswith("trace.jsonl"):
            extra = (f": {item['blocks']} blocks, {item['transactions']} transactions"
                     if "blocks" in item else "")
            print(f"{item['file']}{extra}")
    print(f"verified ({how}): {len(verdict.checked)} files; state root {verdict.state_root}")
    for item in verdict.not_checked:
        print(f"not checked: {item['what']} ({item['why']})")
    return 0


def audit(args: argparse.Namespace) -> int:
    """Print the patient's audit log."""
    from rich.console import Console
    from rich.table import Table

    from sim.engine.audit import audit as build

    with reading(args.run_dir, "audit"):
        replayed, entries = build(args.run_dir, args.patient)
    table = Table(title=f"Patient {args.patient}: access history (from chain events, "
                        f"{replayed.blocks} blocks replayed and verified)", title_justify="left")
    for col in ("time (UTC)", "block", "event", "who", "PMR-ID", "detail"):
        table.add_column(col)
    for e in entries:
        table.add_row(*e.row())
    Console(width=None if sys.stdout.isatty() else 140).print(table)
    if not entries:
        print(f"no events for patient {args.patient}")
    return 0
