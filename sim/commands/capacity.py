"""``pmrsim capacity RUN_DIR|SWEEP_DIR``: can one chain serve a nation? (``docs/capacity.md``).

Reads what a run measured (``summary.json``: gas per operation, operations
per visit and per patient-year, bytes per record, one-off gas), or every
point of a sweep of regions, and holds a population's demand against chain
configurations: gas and transactions per second on a mean and a peak day,
utilisation, chains needed, storage per year, cost per patient-year, and a
sensitivity table. Defaults describe India's ABDM. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from sim.errors import InputError


def register(sub: Any) -> None:
    """Add the ``capacity`` sub-command."""
    from reports.capacity import (
        DEFAULT_GAS_PRICE_GWEI,
        DEFAULT_PEAK_FACTOR,
        DEFAULT_POPULATION,
        DEFAULT_TARGET,
        DEFAULT_VISITS,
    )

    p = sub.add_parser(
        "capacity", help="the national what-if: a population's demand against chains",
        description="From a run's (or a sweep's) measured gas per operation and rates, the demand "
                    "of a population against chain configurations. Defaults: India's ABDM "
                    "(docs/capacity.md).")
    p.add_argument("dir", type=Path, metavar="RUN_DIR|SWEEP_DIR",
                   help="a run folder (summary.json) or a sweep folder (sweep.json, points/)")
    p.add_argument("--population", default=None, metavar="N",
                   help=f"people served (default {DEFAULT_POPULATION:,}: ABHA IDs)")
    p.add_argument("--visits-per-person-year", default=None, metavar="X",
                   help=f"visits (health records) per person-year; scales every visit-linked "
                        f"operation in proportion (default {DEFAULT_VISITS}: records linked a "
                        "day x 365 / ABHA IDs)")
    p.add_argument("--peak-factor", default=None, metavar="F",
                   help=f"peak day / mean day (default {DEFAULT_PEAK_FACTOR}: ABDM's peak day / "
                        "mean day)")
    p.add_argument("--target-utilisation", default=None, metavar="U",
                   help=f"share of a chain's gas one may plan to use, in (0, 1] (default "
                        f"{DEFAULT_TARGET}: EIP-1559's target)")
    p.add_argument("--chain", action="append", default=[], metavar="NAME=GAS_LIMIT/BLOCK_SECONDS",
                   help="a chain configuration (repeatable; replaces a default of the same name; "
                        "defaults ethereum-l1=60000000/12, private-poa=30000000/2)")
    p.add_argument("--gas-price", default=None, metavar="GWEI",
                   help=f"gas price for the cost per patient-year (default "
                        f"{DEFAULT_GAS_PRICE_GWEI:g} gwei)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or json")
    p.set_defaults(func=run)


def _number(text: str | None, flag: str, *, integer: bool = False, low: float = 0.0,
            high: float = math.inf, low_open: bool = True) -> float | None:
    """A flag's number, or an :class:`InputError` naming the flag and what was expected."""
    if text is None:
        return None
    bound = f"> {low:g}" if low_open else f">= {low:g}"
    if high != math.inf:
        bound += f" and <= {high:g}"
    kind = "an integer" if integer else "a number"
    try:
        value = float(int(text.replace("_", "").replace(",", ""))) if integer else float(text)
    except ValueError:
        raise InputError(f"{flag} {text}: expected {kind} {bound}") from None
    if not math.isfinite(value) or value > high or (value <= low if low_open else value < low):
        raise InputError(f"{flag} {text}: expected {kind} {bound}")
    return value


def assumptions_from(args: argparse.Namespace) -> Any:
    """The :class:`reports.capacity.Assumptions` the flags give (defaults where absent)."""
    from reports.capacity import Assumptions

    given: dict[str, Any] = {}
    population = _number(args.population, "--population", integer=True, high=1e11)
    if population is not None:
        given["population"] = int(population)
    visits = _number(args.visits_per_person_year, "--visits-per-person-year", low=0.0,
                     low_open=False, high=10_000)
    if visits is not None:
        given["visits_per_person_year"] = visits
    peak = _number(args.peak_factor, "--peak-factor", high=1_000)
    if peak is not None:
        given["peak_factor"] = peak
    target = _number(args.target_utilisation, "--target-utilisation", high=1.0)
    if target is not None:
        given["target_utilisation"] = target
    price = _number(args.gas_price, "--gas-price", low=0.0, low_open=False, high=1e6)
    if price is not None:
        given["gas_price_gwei"] = price
    return Assumptions(**given)


def run(args: argparse.Namespace) -> int:
    """Print the what-if as a table or JSON; exit 0."""
    from reports.capacity import chains_with, load_profile, parse_chain, what_if

    assumptions = assumptions_from(args)
    chains = chains_with([parse_chain(text) for text in args.chain])
    result = what_if(load_profile(args.dir), assumptions, chains)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print_table(result)
    return 0


def _si(value: float, unit: str = "") -> str:
    """``1.23 G``, ``456 k``: a number scaled to three significant digits."""
    for div, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:,.3g} {prefix}{unit}"
    return f"{value:,.3g} {unit}".rstrip()


def print_table(result: dict[str, Any]) -> None:
    """The what-if as rich tables on stdout (every column shown; long text wraps)."""
    import sys

    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 120)
    a, src, per = result["assumptions"], result["source"], result["per_person_year"]
    mean, peak = result["demand"]["mean"], result["demand"]["peak"]
    what = (f"{src['kind']} {src['path']} ({src['scenario']}"
            + (f", {src['regions']} regions, {src['runs']} runs" if src["kind"] == "sweep" else "")
            + f"; its own rate {src['visits_per_patient_year']:.3g} visits per patient-year)")
    console.print(f"[bold]Can one chain serve {a['population']:,} people?[/bold] Measured by {what}.")
    console.print(f"Assumed: {a['visits_per_person_year']:g} visits per person-year, peak day "
                  f"{a['peak_factor']:g} x the mean, target utilisation {a['target_utilisation']:g}, "
                  f"gas price {a['gas_price_gwei']:g} gwei.")
    console.print(f"Demand per person-year: {_si(per['gas'], 'gas')}, {per['txs']:.3g} "
                  f"transactions. Mean day: {_si(mean['gas_per_second'], 'gas/s')}, "
                  f"{mean['txs_per_second']:,.1f} tx/s; peak day: "
                  f"{_si(peak['gas_per_second'], 'gas/s')}, {peak['txs_per_second']:,.1f} tx/s.")
    table = Table(title="Chains", title_justify="left")
    for col in ("chain", "capacity", "peak utilisation", "mean utilisation", "chains needed",
                "cost per patient-year", "onboarding (days)"):
        table.add_column(col, justify="left" if col == "chain" else "right")
    for c in result["configs"]:
        table.add_row(c["name"], f"{_si(c['gas_per_second'], 'gas/s')} ({_si(c['gas_limit'])} "
                      f"/ {c['block_seconds']:g} s)", f"{c['utilisation']:.1%}",
                      f"{c['utilisation_mean']:.1%}", f"{c['chains_needed']:,}",
                      f"{c['cost_per_patient_year']:.3g} {c['unit']}", f"{c['setup_days']:,.1f}")
    console.print(table)
    acts = Table(title="Where the gas goes (per person-year)", title_justify="left")
    for col in ("activity", "driver", "per person-year", "gas each", "gas per person-year", "share"):
        acts.add_column(col, justify="left" if col in ("activity", "driver") else "right")
    total = per["gas"] or 1.0
    for row in per["activities"]:
        acts.add_row(row["activity"], row["driver"], f"{row['per_person_year']:.4g}",
                     f"{row['gas']:,.0f}", f"{row['gas_per_person_year']:,.0f}",
                     f"{row['gas_per_person_year'] / total:.1%}")
    console.print(acts)
    sens = Table(title="Chains needed: visits per person-year x peak factor", title_justify="left")
    names = [c["name"] for c in result["configs"]]
    for col in ("visits per person-year", "peak factor", *names):
        sens.add_column(col, justify="right")
    for row in result["sensitivity"]:
        sens.add_row(f"{row['visits_per_person_year']:g} ({row['visits_factor']:g}x)",
                     f"{row['peak']:g} ({row['peak_factor']:g}x)",
                     *(f"{row['chains_needed'][n]:,}" for n in names))
    console.print(sens)
    setup = result["setup"]
    console.print(f"Storage on the swarm: {_si(result['storage']['bytes_per_year'], 'B')} a year "
                  f"({result['storage']['note']}). One-off onboarding: {_si(setup['gas'], 'gas')} "
                  f"({setup['note']}).")
    for note in [*result["notes"], *src["notes"]]:
        console.print(f"Note: {note}")
