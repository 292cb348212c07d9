"""One exception hierarchy for :mod:`storage_sim`.

Every error raised by the simulated IPFS layer derives from
:class:`StorageError`; callers in higher layers (``sim``) translate these at
their boundary. ``storage_sim`` never imports ``sim``.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every storage_sim error."""


class InvalidCidError(StorageError, ValueError):
    """Raised when a CID string or binary CID cannot be parsed or is unsupported."""


class IntegrityError(StorageError):
    """Raised when a block's bytes do not hash to its CID; ``cid`` names the block."""

    def __init__(self, cid: object, detail: str = "") -> None:
        message = f"block {cid} failed its integrity check"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.cid = cid


class DagFormatError(StorageError):
    """Raised when a block is not valid dag-pb/UnixFS, or a DAG is inconsistent."""


class BlockNotFoundError(StorageError, KeyError):
    """Raised when a blockstore does not hold the requested block."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "block not found"


class CarFormatError(StorageError):
    """Raised when a CAR file is malformed; the message names the file and byte offset."""


class SwarmKeyError(StorageError):
    """Raised when a node without the swarm's pre-shared key tries to join it."""


class UnknownNodeError(StorageError, KeyError):
    """Raised when a node id is not (or no longer) part of the swarm."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown node"


class NodeOfflineError(StorageError):
    """Raised when an operation needs a node that is offline or was lost."""


class ContentUnavailableError(StorageError):
    """Raised when no reachable, honest provider can serve a block of the content."""


class ReplicationError(StorageError):
    """Raised when a replication factor is invalid or cannot be met at all."""
