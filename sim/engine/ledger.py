"""What the engine knows independently of the chain, to check the chain against it.

The engine generated every person, record and grant, so it can say what
must be true: which values are personal (the PII search), which accesses
were served and when (checked against grant windows rebuilt from the
outcomes), and why a forbidden access must fail at a given time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Served:
    """A record released to a doctor by the custodians at a head block time."""

    grantee: str  # account address hex
    pmr_id: int
    block_time: int
    record_id: str
    use_tx: bytes = b""  # the mined AccessGrants.use the custodians answered


@dataclass
class GrantWindows:
    """Grant windows from mined outcomes: (grantee, scope key) -> expiry, plus emergencies."""

    expiry: dict[tuple[str, int], int] = field(default_factory=dict)
    emergency: dict[tuple[str, int], int] = field(default_factory=dict)
    #: grantee -> (block time, what, key, expiry), in chain order
    history: dict[str, list[tuple[int, str, tuple[str, int], int]]] = field(default_factory=dict)

    def record(self, block_time: int, what: str, key: tuple[str, int], expiry: int) -> None:
        """Note a grant, revoke (expiry 1) or emergency opened at ``block_time``."""
        self.history.setdefault(key[0], []).append((block_time, what, key, expiry))

    def windows_at(self, grantee: str, pmr_id: int, when: int) -> tuple[int, int, int]:
        """(PMR grant, all-records grant, emergency) expiries in force at ``when``."""
        patient = pmr_id // 10**8
        by_pmr = by_all = by_emergency = 0
        for block_time, what, key, expiry in self.history.get(grantee, ()):
            if block_time > when:
                break
            if what == "emergency" and key[1] == patient:
                by_emergency = expiry
            elif what == "grant" and key[1] == pmr_id:
                by_pmr = expiry
            elif what == "grant" and key[1] == (1 << 255) | patient:
                by_all = expiry
        return by_pmr, by_all, by_emergency

    def valid_at(self, grantee: str, pmr_id: int, when: int) -> bool:
        """Was any window covering ``pmr_id`` open for ``grantee`` at time ``when``?"""
        return any(e > when for e in self.windows_at(grantee, pmr_id, when))

    def denial_at(self, grantee: str, pmr_id: int, when: int,
                  kind: str | None = None) -> str | None:
        """The reason an access must be refused at ``when`` (None when it must be allowed).

        The engine's own statement of the rule AccessGrants enforces: an open
        window allows; otherwise a revoked grant, then an expired one, then none.
        ``kind`` "pmr" looks at the grant for the PMR only (what ``use`` under
        that kind checks); None at any window.
        """
        by_pmr, by_all, by_emergency = self.windows_at(grantee, pmr_id, when)
        if kind == "pmr":
            by_all = by_emergency = 0
        if max(by_pmr, by_all, by_emergency) > when:
            return None
        if 1 in (by_pmr, by_all):
            return "access_grants: grant revoked"
        if by_pmr or by_all or by_emergency:
            return "access_grants: grant expired"
        return "access_grants: no grant"


@dataclass
class Ledger:
    """Everything the invariants need from the engine's side."""

    personal: set[str] = field(default_factory=set)
    served: list[Served] = field(default_factory=list)
    grants: GrantWindows = field(default_factory=GrantWindows)
    rebuilds: Counter[str] = field(default_factory=Counter)
    rebuild_failures: list[str] = field(default_factory=list)
    minted: list[tuple[int, int, int, int]] = field(default_factory=list)  # pmr, patient, doctor, hospital

    def remember(self, *values: object) -> None:
        """Add generated personal or clinical values to the PII search, however short (how
        each length is searched, and which are too short: :mod:`sim.engine.invariants`)."""
        for v in values:
            text = str(v).strip()
            if text:
                self.personal.add(text)
