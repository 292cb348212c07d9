"""``pmrsim deploy [SCENARIO] --rpc-url URL``: deploy the pmrsim contracts to a node over JSON-RPC.

With a scenario, the deployment is the one ``pmrsim run SCENARIO`` makes
(:meth:`sim.protocol.Protocol.deploy`'s contracts, in the same order): the
admin account derived from the scenario's seed (``--seed`` overrides it, as
for ``run``), its first layout, token standard and first Patient-ID. So on a
node in the same state, ``deploy`` and ``run`` use the same accounts and
put the contracts at the same addresses. (A run deploys a system of its
own each time, and records the addresses in ``trace.jsonl``'s ``contracts``
record.) Without a scenario: seed 0, the private layout, ERC-721,
Patient-IDs from 1, or what ``--seed``, ``--layout``, ``--token`` and
``--first-patient-id`` say.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import ChainError, InputError


def register(sub: Any) -> None:
    """Add the ``deploy`` sub-command."""
    p = sub.add_parser("deploy", help="deploy the pmrsim contracts to a node over JSON-RPC")
    p.add_argument("scenario", type=Path, nargs="?", default=None,
                   help="deploy what `pmrsim run SCENARIO` deploys (its seed, layout, token, "
                        "first Patient-ID)")
    p.add_argument("--rpc-url", required=True, help="the node's JSON-RPC URL (http:// or https://)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the admin account's key (default: the scenario's, else 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value, as for run (repeatable)")
    p.add_argument("--layout", choices=("private", "paper"), default=None,
                   help="contract layout (default: the scenario's first, else private)")
    p.add_argument("--token", choices=("erc721", "erc1155"), default=None,
                   help="PMR token standard (default: the scenario's, else erc721)")
    p.add_argument("--first-patient-id", type=int, default=None,
                   help="first Patient-ID issued (default: the scenario's, else 1)")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> tuple[int, str, str, int]:
    """Seed, layout, token and first Patient-ID: the options, else the scenario's, else defaults."""
    seed, layout, token, first = 0, "private", "erc721", 1
    if args.scenario is not None:
        from sim.engine.scenario import load_scenario

        scenario = load_scenario(args.scenario, args.overrides, seed=args.seed)
        seed, layout, token = scenario.seed, scenario.layouts[0], scenario.token
        first = scenario.population.first_patient_id
    elif args.overrides:
        raise InputError("--set: needs a scenario (pmrsim deploy SCENARIO --set KEY=VALUE ...)")
    return (seed if args.seed is None else args.seed, args.layout or layout, args.token or token,
            first if args.first_patient_id is None else args.first_patient_id)


def run(args: argparse.Namespace) -> int:
    """Deploy from the seeded ``admin`` account; print it and each contract's address.

    The admin is funded with ``anvil_setBalance`` (or ``hardhat_setBalance``)
    when the node has it; otherwise it must already hold funds. A bad or
    unreachable URL, or a node that cannot be used, is bad input (exit 2).
    """
    from eth_utils import to_checksum_address

    from sim.chain import DEFAULT_FUNDING_WEI
    from sim.chain.rpc import RpcChain
    from sim.protocol.deployment import deploy_system

    seed, layout, token, first = _settings(args)
    url: str = args.rpc_url
    try:
        chain = RpcChain(url, seed)
    except ChainError as exc:
        raise InputError(f"--rpc-url {url}: {exc}") from exc
    admin = chain.account("admin")
    try:
        try:
            chain.fund(admin.address, max(DEFAULT_FUNDING_WEI, chain.balance(admin.address)))
        except ChainError:
            if chain.balance(admin.address) == 0:
                raise InputError(
                    f"--rpc-url {url}: the node cannot set balances; fund the admin account "
                    f"{admin.hex} (seed {seed}) and try again"
                ) from None
        system = deploy_system(chain, admin, layout=layout, first_patient_id=first, token=token)
    finally:
        chain.set_automine(True)  # hand the node back mining on its own
    print(f"admin {admin.hex} (seed {seed}; {layout} layout, {token})")
    for name, contract in system.by_name().items():
        print(f"{name} {to_checksum_address(contract.address)}")
    return 0
