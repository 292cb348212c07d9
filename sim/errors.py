"""One exception hierarchy for pmrsim.

Every error a user of :mod:`sim` can see derives from :class:`PmrsimError`.
Backends (py-evm, pyrevm, web3, pydicom, ...) raise their own exceptions;
they are translated into these at the boundary of the layer that calls them.
The command line maps :class:`InputError` to exit code 2 and
:class:`CheckFailed` to exit code 1, printing one line and no traceback.
"""

from __future__ import annotations


class PmrsimError(Exception):
    """Base class of every pmrsim error."""


class InputError(PmrsimError):
    """Raised when user input (a file, a key, a field, an argument) is invalid.

    The message names the file, key or field and what was expected.
    """


class CheckFailed(PmrsimError):
    """Raised when a check fails: an invariant, a replay mismatch, a gas regression."""


class ChainError(PmrsimError):
    """Raised when the chain cannot do what was asked (bad nonce, unknown block, ...)."""


class StateUnavailable(ChainError):
    """Raised when a node does not expose its state for reading (an RPC node without
    ``anvil_dumpState``): a property of the node, not a fault of pmrsim's backend."""


class TransactionReverted(ChainError):
    """Raised when a transaction or call reverts; ``reason`` is the revert string."""

    def __init__(self, reason: str, *, tx_hash: bytes | None = None, gas_used: int = 0) -> None:
        super().__init__(reason or "reverted without a reason")
        self.reason = reason
        self.tx_hash = tx_hash
        self.gas_used = gas_used


class OutOfGas(ChainError):
    """Raised when a transaction does not fit the gas it was given or the block gas limit."""


class CompileError(PmrsimError):
    """Raised when a Vyper contract fails to compile."""


class PrivacyError(PmrsimError):
    """Raised when a privacy operation cannot be done safely (de-identification, sharing)."""


class IntegrityError(PrivacyError):
    """Raised when a fragment, share or block fails its integrity check."""
