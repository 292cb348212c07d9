"""The chain layer: one :class:`Chain` interface, backends chosen by name.

>>> from sim.chain import make_chain
>>> chain = make_chain("pyevm", seed=7)
>>> alice = chain.account("alice")
>>> chain.fund(alice.address)

Backends: ``pyevm`` (default, :class:`sim.chain.pyevm.PyEVMChain`),
``ethtester`` (eth-tester's PyEVMBackend, an independent oracle), ``revm``
(pyrevm, for scale), ``rpc`` (any node over JSON-RPC; tested on anvil) and
``anvil`` (the rpc backend on an anvil node it starts and stops itself).
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


def _pyevm(seed: int | bytes, block_gas_limit: int, genesis_timestamp: int,
           rpc_url: str | None) -> Chain:
    """Build the py-evm backend (imported lazily: py-evm is slow to import)."""
    from sim.chain.pyevm import PyEVMChain

    return PyEVMChain(seed, block_gas_limit=block_gas_limit, genesis_timestamp=genesis_timestamp)


def _ethtester(seed: int | bytes, block_gas_limit: int, genesis_timestamp: int,
               rpc_url: str | None) -> Chain:
    """Build the eth-tester backend (an independent oracle over py-evm)."""
    from sim.chain.ethtester import EthTesterChain

    return EthTesterChain(seed, block_gas_limit=block_gas_limit,
                          genesis_timestamp=genesis_timestamp)


def _rpc(seed: int | bytes, block_gas_limit: int, genesis_timestamp: int,
         rpc_url: str | None) -> Chain:
    """Build the JSON-RPC backend for the node at ``rpc_url``."""
    if not rpc_url:
        raise InputError("the rpc backend needs --rpc-url (or chain.rpc_url), e.g. "
                         "http://127.0.0.1:8545")
    from sim.chain.rpc import RpcChain

    return RpcChain(rpc_url, seed, block_gas_limit=block_gas_limit,
                    genesis_timestamp=genesis_timestamp)


def _anvil(seed: int | bytes, block_gas_limit: int, genesis_timestamp: int,
           rpc_url: str | None) -> Chain:
    """Start an anvil node of its own (from ``.tools/``) and drive it as the rpc backend."""
    if rpc_url:
        raise InputError("the anvil backend starts its own node: drop --rpc-url (chain.rpc_url), "
                         "or use --backend rpc to drive a node you started")
    from sim.chain.anvilchain import AnvilChain

    return AnvilChain(seed, block_gas_limit=block_gas_limit, genesis_timestamp=genesis_timestamp)


def _revm(seed: int | bytes, block_gas_limit: int, genesis_timestamp: int,
          rpc_url: str | None, *, background: bool = False) -> Chain:
    """Build the pyrevm backend (Rust EVM, for scale); ``background``: roots and signatures
    in worker processes."""
    try:
        from sim.chain.revm import RevmChain
    except ImportError as exc:
        raise InputError(f"the revm backend needs pyrevm ({exc})") from None
    return RevmChain(seed, block_gas_limit=block_gas_limit, genesis_timestamp=genesis_timestamp,
                     background_roots=background, background_signing=background)


#: Backend name -> factory ``(seed, block_gas_limit, genesis_timestamp, rpc_url) -> Chain``.
BACKENDS: dict[str, Callable[[int | bytes, int, int, str | None], Chain]] = {
    "pyevm": _pyevm,
    "ethtester": _ethtester,
    "revm": _revm,
    "rpc": _rpc,
    "anvil": _anvil,
}


def make_chain(
    backend: str = "pyevm",
    *,
    seed: int | bytes,
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
    genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
    rpc_url: str | None = None,
    background: bool = False,
) -> Chain:
    """A new chain of the named backend, its accounts derived from ``seed``.

    ``background``: the backend may work in worker processes (ignored by all
    but revm, which then computes its state roots in one,
    :mod:`sim.chain._revm_roots`, and signs ``send(later=True)``'s
    transactions in another, :mod:`sim.chain._revm_signer`). Call
    :meth:`Chain.close` when done with such a chain.
    """
    factory = BACKENDS.get(backend)
    if factory is None:
        raise InputError(f"unknown chain backend {backend!r}; known: {', '.join(sorted(BACKENDS))}")
    if backend == "revm" and background:
        return _revm(seed, block_gas_limit, genesis_timestamp, rpc_url, background=True)
    return factory(seed, block_gas_limit, genesis_timestamp, rpc_url)
