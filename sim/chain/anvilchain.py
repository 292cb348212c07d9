"""The ``anvil`` backend: an :class:`~sim.chain.rpc.RpcChain` on an anvil node of its own.

The node is started from ``.tools/`` (:func:`sim.chain.anvil.find_anvil`) with
the flags pmrsim's chain needs (:func:`sim.chain.anvil.pmrsim_flags`: Cancun,
chain id 31337, the block gas limit, the 1 gwei genesis base fee, the run's
genesis timestamp, no automatic mining, first-in-first-out order) and
stopped by :meth:`AnvilChain.close`. So a run on ``anvil`` needs no node
started by hand and gives the same gas, outcomes and events as every other
backend (the differential test runs the shipped scenarios on it).
"""

from __future__ import annotations

from sim.chain.anvil import start_anvil
from sim.chain.base import DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_GENESIS_TIMESTAMP
from sim.chain.rpc import RpcChain


class AnvilChain(RpcChain):
    """An rpc chain on a fresh anvil started for it; :meth:`close` stops the node."""

    name = "anvil"

    def __init__(
        self,
        seed: int | bytes,
        *,
        block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
        genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
    ) -> None:
        self.node = start_anvil(block_gas_limit=block_gas_limit,
                                genesis_timestamp=genesis_timestamp)
        try:
            super().__init__(self.node.url, seed, block_gas_limit=block_gas_limit,
                             genesis_timestamp=genesis_timestamp)
        except BaseException:
            self.node.stop()
            raise

    def close(self) -> None:
        """Let go of what was read and stop the node."""
        super().close()
        self.node.stop()
