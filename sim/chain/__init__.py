"""The chain layer: one :class:`Chain` interface, backends chosen by name.

>>> from sim.chain import make_chain
>>> chain = make_chain("pyevm", seed=7)
>>> alice = chain.account("alice")
>>> chain.fund(alice.address)

Backends: ``pyevm`` (default, :class:`sim.chain.pyevm.PyEVMChain`). Others
(``ethtester``, ``revm``, ``rpc``) register in :data:`BACKENDS` when written.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.chain.base import (
    CHAIN_ID,
    DEFAULT_BLOCK_GAS_LIMIT,
    DEFAULT_FUNDING_WEI,
    DEFAULT_GENESIS_TIMESTAMP,
    FORK,
    Account,
    Block,
    Chain,
    Log,
    Receipt,
)
from sim.chain.contract import Contract
from sim.errors import InputError

__all__ = [
    "BACKENDS",
    "CHAIN_ID",
    "DEFAULT_BLOCK_GAS_LIMIT",
    "DEFAULT_FUNDING_WEI",
    "DEFAULT_GENESIS_TIMESTAMP",
    "FORK",
    "Account",
    "Block",
    "Chain",
    "Contract",
    "Log",
    "Receipt",
    "make_chain",
]


def _pyevm(seed: int | bytes, block_gas_limit: int, genesis_timestamp: int) -> Chain:
    """Build the py-evm backend (imported lazily: py-evm is slow to import)."""
    from sim.chain.pyevm import PyEVMChain

    return PyEVMChain(seed, block_gas_limit=block_gas_limit, genesis_timestamp=genesis_timestamp)


#: Backend name -> factory ``(seed, block_gas_limit, genesis_timestamp) -> Chain``.
BACKENDS: dict[str, Callable[[int | bytes, int, int], Chain]] = {"pyevm": _pyevm}


def make_chain(
    backend: str = "pyevm",
    *,
    seed: int | bytes,
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
    genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
) -> Chain:
    """A new chain of the named backend, its accounts derived from ``seed``."""
    factory = BACKENDS.get(backend)
    if factory is None:
        raise InputError(f"unknown chain backend {backend!r}; known: {', '.join(sorted(BACKENDS))}")
    return factory(seed, block_gas_limit, genesis_timestamp)
