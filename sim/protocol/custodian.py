"""Key custodians: the storage nodes holding the (t, n) key shares of a record.

A custodian answers one rule (``docs/trust-model.md``, rule A1): it
releases its share of a record only for an access recorded on chain, that
is, a mined ``AccessGrants.use`` by the requesting doctor for that
record's PMR, while that doctor's window on the record is still open and
the doctor still stands at the hospital it acted for; and it answers each
``use`` once per record (a ``use`` opens the PMR: each of its studies once;
a second read is a second ``use``). The chain therefore
holds every read: the audit log is complete by construction.

The custodian reads the chain only (the receipt of the ``use``, and
``AccessGrants.is_valid`` at the head block); it never trusts the
requester's word. The engine, the DApp and the tests share this one
implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sim.errors import ChainError
from sim.privacy.keys import AccessDenied, release_share
from sim.protocol.protocol import Protocol

T = TypeVar("T")

#: Why a custodian refuses (its AccessDenied messages end with one of these).
NO_SHARE = "holds no share of the record"
NO_USE = "no mined access on chain"
WRONG_USE = "access recorded for another doctor or record"
ANSWERED = "access already answered"
WINDOW_OVER = "access window over"


class KeyCustodian(Generic[T]):
    """One custodian node: keeps key shares, releases one per recorded access.

    ``view`` reads a contract at the head the custodian sees (default: the
    protocol's head; the engine passes one that first brings the head up
    to the current block slot).
    """

    def __init__(self, protocol: Protocol, name: str, *,
                 view: Callable[..., Any] | None = None) -> None:
        self.protocol = protocol
        self.name = name
        self._view = view or protocol.view
        self._shares: dict[str, tuple[int, T]] = {}
        self._answered: set[tuple[bytes, str]] = set()  # (use tx, record) answered

    def keep(self, record_id: str, pmr_id: int, share: T) -> None:
        """Hold ``share`` of ``record_id``, a record of PMR ``pmr_id``."""
        self._shares[record_id] = (pmr_id, share)

    def forget(self, record_id: str) -> None:
        """Drop the share of ``record_id`` (a record whose report the chain refused)."""
        self._shares.pop(record_id, None)

    def held(self, record_id: str) -> T | None:
        """The share held for ``record_id`` (for auditors' checks; no release, nothing logged)."""
        entry = self._shares.get(record_id)
        return None if entry is None else entry[1]

    def refusal(self, record_id: str, requester: bytes, use_tx: bytes) -> str | None:
        """Why a release to ``requester`` answering the ``use`` mined as ``use_tx`` is refused.

        None when it is allowed. The checks, in order: a share is held; the
        ``use`` was not answered yet for this record; it is a mined, successful AccessGrants
        transaction; its AccessUsed event names the requester and the
        record's PMR; the window is open and the doctor stands at the
        event's hospital at the head block (``is_valid``).
        """
        entry = self._shares.get(record_id)
        if entry is None:
            return NO_SHARE
        if (use_tx, record_id) in self._answered:
            return ANSWERED
        pmr_id = entry[0]
        grants = self.protocol.system.grants
        try:
            receipt = self.protocol.chain.receipt(use_tx)
        except ChainError:
            return NO_USE
        if not receipt.ok or receipt.to != grants.address:
            return NO_USE
        used = [args for name, args in grants.decode_logs(receipt) if name == "AccessUsed"]
        if not used:
            return NO_USE
        event = used[0]
        if (str(event["grantee"]).lower() != "0x" + requester.hex()
                or int(event["pmr_id"]) != pmr_id):
            return WRONG_USE
        if not self._view("AccessGrants", "is_valid", requester, pmr_id,
                          int(event["hospital_id"])):
            return WINDOW_OVER
        return None

    def release(self, record_id: str, requester: bytes, use_tx: bytes) -> T:
        """The share of ``record_id`` for ``requester``, answering the ``use`` mined as ``use_tx``.

        Raises :class:`~sim.privacy.keys.AccessDenied` naming the reason when
        the rule refuses; an allowed release marks the ``use`` answered for this record.
        """
        reason = self.refusal(record_id, requester, use_tx)
        if reason is not None:
            raise AccessDenied(f"custodian {self.name}: {reason}")
        self._answered.add((use_tx, record_id))
        return release_share(self._shares[record_id][1], grant_is_valid=True,
                             requester="0x" + requester.hex(), custodian=None,
                             record_id=record_id)


__all__ = ["ANSWERED", "NO_SHARE", "NO_USE", "WINDOW_OVER", "WRONG_USE", "KeyCustodian"]
