"""``pmrsim run``, ``pmrsim replay`` and ``pmrsim audit``: the simulation and its evidence."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from sim.errors import CheckFailed, InputError


def register(sub: Any) -> None:
    """Add the ``run``, ``replay`` and ``audit`` sub-commands."""
    p = sub.add_parser("run", help="simulate a scenario and check its invariants")
    p.add_argument("scenario", type=Path, help="scenario YAML file")
    p.add_argument("--backend", choices=["pyevm", "ethtester", "revm", "rpc"], default=None)
    p.add_argument("--rpc-url", default=None)
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/<name>-<seed>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, e.g. --set storage.nodes=8 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    r = sub.add_parser("replay", help="re-execute a run's trace and verify every receipt")
    r.add_argument("run_dir", type=Path)
    r.add_argument("--backend", choices=["pyevm", "ethtester", "revm", "rpc"], default=None)
    r.add_argument("--rpc-url", default=None, help="node to replay on (rpc backend)")
    r.set_defaults(func=replay)
    a = sub.add_parser("audit", help="who accessed a patient's records, from the chain's events")
    a.add_argument("run_dir", type=Path)
    a.add_argument("--patient", type=int, required=True, help="Patient-ID")
    a.set_defaults(func=audit)


def run(args: argparse.Namespace) -> int:
    """Load, simulate, write outputs; exit 1 when the run breaks its expectations."""
    from sim.engine.runner import run_scenario
    from sim.engine.scenario import load_scenario

    overrides = list(args.overrides)
    if args.backend:
        overrides.append(f"chain.backend={args.backend}")
    if args.rpc_url:
        overrides.append(f"chain.rpc_url={json.dumps(args.rpc_url)}")  # quoted: a URL is not YAML
    scenario = load_scenario(args.scenario, overrides, seed=args.seed)
    out: Path = args.out or Path("runs") / f"{scenario.name}-{scenario.seed}"
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    fresh = not out.exists()
    try:
        result = run_scenario(scenario, out, progress=False if args.no_progress else None)
    except BaseException:
        if fresh:
            shutil.rmtree(out, ignore_errors=True)  # nothing partial left behind
        raise
    s = result.summary
    c = s["counts"]
    print(f"{s['scenario']} (seed {s['seed']}, {', '.join(scenario.layouts)}): "
          f"{s['txs']['total']} txs ({s['txs']['reverted']} reverted), {c['patients']} patients, "
          f"{c['visits']} visits, {c['lab_reports']} lab reports, {c['grants']} grants, "
          f"{c['accesses']} accesses, {c['denied']} denied; {s['wall_seconds']} s")
    print(f"state root {s['state_root']}; outputs in {out}")
    if not result.ok:
        raise CheckFailed("; ".join(result.unexpected))
    print(f"invariants: {invariants_line(s)}")
    return 0


def invariants_line(summary: dict[str, Any]) -> str:
    """"7 checked, all as expected (1 skipped: name: reason)", every layout's skips included."""
    inv = summary["invariants"]
    layouts = summary.get("layouts") or {summary["layout"]: {"invariants": inv}}
    skips = [f"{name}{f' ({layout})' if len(layouts) > 1 else ''}: {reason}"
             for layout, entry in layouts.items()
             for name, reason in ((s["name"], s["reason"])
                                  for s in entry["invariants"].get("skipped", []))]
    text = f"{inv['checked']} checked, all as expected"
    return text + (f" ({len(skips)} skipped: {'; '.join(skips)})" if skips else "")


def replay(args: argparse.Namespace) -> int:
    """Replay every trace of a run folder."""
    from sim.engine.replay import check_final_root, replay_folder, run_folders

    for folder in run_folders(args.run_dir):
        replayed = replay_folder(folder, backend=args.backend, rpc_url=args.rpc_url)
        check_final_root(folder, replayed)
        print(f"{replayed.trace}: {replayed.blocks} blocks, {replayed.txs} transactions, "
              f"every receipt and state root verified; state root {replayed.state_root}")
    return 0


def audit(args: argparse.Namespace) -> int:
    """Print the patient's audit log."""
    from rich.console import Console
    from rich.table import Table

    from sim.engine.audit import audit as build

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
