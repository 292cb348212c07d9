"""A scenario's calendar against a node's clock (the ``rpc`` backend on a node you started).

A run's blocks are stamped from the scenario's ``start_date`` (genesis ten
minutes before it). A node's clock only moves forward: anvil started without
``--timestamp`` is at the wall clock, years after a scenario dated 2021, and
no JSON-RPC call moves it back. So, before a run on such a node, either:

* refuse it (exit 2) with the anvil flags that start a node at the
  scenario's genesis (or ``--backend anvil``, which starts one itself); or
* with ``pmrsim run --shift-calendar``, move ``start_date`` to the first
  day whose genesis is after the node's head, and record the original date
  in the scenario (``shifted_from``, embedded in the trace, so a rerun makes
  the same run) and the shift in ``summary.json`` (``calendar_shift``).

Dates are part of PMR-IDs (Patient-ID + DDMMYYYY), so a shifted run's
calldata differs from the unshifted scenario's, and so may its gas by a few
units per zero byte: the differential test (same gas on every backend) does
not apply to it.
"""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any
from urllib.parse import urlsplit

from sim.errors import ChainError, InputError

#: Seconds between genesis and the start of the scenario's first day.
GENESIS_LEAD = 600


def genesis_timestamp(start_date: dt.date) -> int:
    """The genesis timestamp of a run starting on ``start_date`` (ten minutes before it)."""
    return int(dt.datetime.combine(start_date, dt.time(), tzinfo=dt.UTC).timestamp()) - GENESIS_LEAD


def _utc(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock_error(url: str, head: int, scenario: Any, *, later_layout: bool = False) -> InputError:
    """The one-line refusal of a node whose head block is past the scenario's genesis."""
    from sim.chain.anvil import pmrsim_flags

    genesis = genesis_timestamp(scenario.start_date)
    port = urlsplit(url).port
    flags = " ".join(shlex.quote(f) for f in [*(["--port", str(port)] if port else []),
                                              *pmrsim_flags(scenario.chain.block_gas_limit, genesis)])
    if later_layout:
        return InputError(
            f"--rpc-url {url}: the node's head block is at {_utc(head)}, past the genesis of "
            f"layout runs after the first ({_utc(genesis)}): each layout needs a node at its "
            "start; run one layout per node (--set 'layouts=[paper]') or use --backend anvil")
    return InputError(
        f"--rpc-url {url}: the node's head block is at {_utc(head)}, past the scenario's genesis "
        f"({_utc(genesis)}), and a node's clock cannot be moved back; start the node with "
        f"`anvil {flags}`, or use --backend anvil (pmrsim starts that node itself), or pass "
        "--shift-calendar to move the scenario to the node's time")


def shifted_start(head: int) -> dt.date:
    """The first start date whose genesis is after a node head at ``head``."""
    day = dt.datetime.fromtimestamp(head, dt.UTC).date() + dt.timedelta(days=1)
    while genesis_timestamp(day) <= head:
        day += dt.timedelta(days=1)
    return day


def fit_node_clock(scenario: Any, *, shift: bool) -> Any:
    """``scenario`` ready for the rpc node at ``chain.rpc_url``: as it is when the node's head is
    at or before its genesis; else moved to the node's time (``shift``) or refused."""
    from sim.chain.rpc import node_head_timestamp

    url = scenario.chain.rpc_url
    try:
        head = node_head_timestamp(url)
    except ChainError as exc:
        raise InputError(f"--rpc-url {url}: {exc}") from None
    if head <= genesis_timestamp(scenario.start_date):
        return scenario
    if not shift:
        raise clock_error(url, head, scenario)
    start = shifted_start(head)
    return scenario.model_copy(update={"start_date": start,
                                       "shifted_from": scenario.shifted_from or scenario.start_date})


def calendar_shift(scenario: Any) -> dict[str, Any] | None:
    """``summary.json``'s ``calendar_shift`` (from, to, days), or None for an unshifted run."""
    if scenario.shifted_from is None:
        return None
    return {"from": scenario.shifted_from.isoformat(), "to": scenario.start_date.isoformat(),
            "days": (scenario.start_date - scenario.shifted_from).days}
