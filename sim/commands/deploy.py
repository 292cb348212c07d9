"""``pmrsim deploy --rpc-url URL``: deploy the pmrsim contracts to a node over JSON-RPC."""

from __future__ import annotations

import argparse
from typing import Any

from sim.errors import ChainError, InputError


def register(sub: Any) -> None:
    """Add the ``deploy`` sub-command."""
    p = sub.add_parser("deploy", help="deploy the pmrsim contracts to a node over JSON-RPC")
    p.add_argument("--rpc-url", required=True, help="the node's JSON-RPC URL (http:// or https://)")
    p.add_argument("--seed", type=int, default=0, help="seed of the admin account's key (default 0)")
    p.add_argument("--layout", choices=("private", "paper"), default="private", help="contract layout")
    p.add_argument("--first-patient-id", type=int, default=1, help="first Patient-ID issued (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Deploy from the seeded ``admin`` account; print each contract's address.

    The admin is funded with ``anvil_setBalance`` (or ``hardhat_setBalance``)
    when the node has it; otherwise it must already hold funds. A bad or
    unreachable URL, or a node that cannot be used, is bad input (exit 2).
    """
    from eth_utils import to_checksum_address

    from sim.chain import DEFAULT_FUNDING_WEI
    from sim.chain.rpc import RpcChain
    from sim.protocol.deployment import deploy_system

    url: str = args.rpc_url
    try:
        chain = RpcChain(url, args.seed)
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
                    f"{admin.hex} (seed {args.seed}) and try again"
                ) from None
        system = deploy_system(chain, admin, layout=args.layout, first_patient_id=args.first_patient_id)
    finally:
        chain.set_automine(True)  # hand the node back mining on its own
    print(f"admin {admin.hex}")
    for name, contract in system.by_name().items():
        print(f"{name} {to_checksum_address(contract.address)}")
    return 0
