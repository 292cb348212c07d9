"""What a run was asked to do, set against what it did: every operation and every attack.

A verdict that counts only what happened misses what should have happened.
So the engine accounts, per operation kind, for every attempt and its end,
and per attack kind, for what the scenario configured and what was really
tried:

* **operations** - every ordinary transaction by ``Contract.function``
  (attempted, confirmed, reverted) and every off-chain step by name
  (``storage.store``, ``storage.pin``, ``custodian.release``,
  ``record.rebuild``: attempted, confirmed, failed, and ``by_fault`` when a
  fault the scenario configured - storage churn, byzantine nodes - explains
  it). An ordinary operation that reverts or fails for any other reason is a
  violation named ``operations:<operation>``.
* **attacks** - per adversary kind: configured (the scenario's count; null
  for denials the workload draws, such as ``late_access``), attempted,
  denied (for an expected reason), succeeded, wrong_reason, and why an
  attempt could not be made. An attack made fewer times than configured is a
  violation named ``attacks:<kind>``; an attempt that was not denied for an
  expected reason is ``denials:<kind>``.

A scenario that means one of these to happen lists its name (or the family,
``operations``, ``attacks``, ``denials``) in ``expect_violations``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Off-chain operations the engine accounts for (with the on-chain ``Contract.function`` ones).
OFFCHAIN = ("storage.store", "storage.pin", "custodian.release", "record.rebuild")


@dataclass
class OpTally:
    """Attempts of one operation kind and how each ended."""

    attempted: int = 0
    confirmed: int = 0
    reverted: int = 0  # on chain
    failed: int = 0  # off chain, with no configured fault to explain it
    by_fault: int = 0  # off chain, explained by a configured fault (churn, byzantine nodes)
    first_failure: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The tally for ``summary.json``."""
        return {"attempted": self.attempted, "confirmed": self.confirmed,
                "reverted": self.reverted, "failed": self.failed, "by_fault": self.by_fault}


@dataclass
class AttackTally:
    """Attempts of one attack kind: configured against attempted, and how each ended."""

    configured: int | None
    attempted: int = 0
    denied: int = 0
    succeeded: int = 0
    wrong_reason: int = 0
    missed: list[str] = field(default_factory=list)  # why a configured attempt was not made
    first_problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The tally for ``summary.json``."""
        return {"configured": self.configured, "attempted": self.attempted,
                "denied": self.denied, "succeeded": self.succeeded,
                "wrong_reason": self.wrong_reason, "not_attempted": list(self.missed)}


#: An outcome of one step of an attack: the outcomes that count as a denial, what happened.
Step = tuple[tuple[str, ...], str]


class Accounts:
    """The run's operation and attack tallies; see the module docstring."""

    def __init__(self, configured: dict[str, int]) -> None:
        self.ops: dict[str, OpTally] = {}
        self.attacks: dict[str, AttackTally] = {kind: AttackTally(n) for kind, n in
                                                configured.items() if n}

    # -- operations ---------------------------------------------------------
    def _op(self, name: str) -> OpTally:
        tally = self.ops.get(name)
        if tally is None:
            tally = self.ops[name] = OpTally()
        return tally

    def tx(self, op: str, ok: bool, detail: str) -> None:
        """An ordinary transaction of ``op`` was mined: confirmed, or reverted (``detail``)."""
        tally = self._op(op)
        tally.attempted += 1
        if ok:
            tally.confirmed += 1
        else:
            tally.reverted += 1
            tally.first_failure = tally.first_failure or detail

    def unsent(self, op: str, detail: str) -> None:
        """An ordinary transaction of ``op`` could not even be sent (the chain refused it)."""
        tally = self._op(op)
        tally.attempted += 1
        tally.failed += 1
        tally.first_failure = tally.first_failure or detail

    def offchain(self, name: str, ok: bool, detail: str = "", *, fault: str | None = None) -> None:
        """An off-chain step ended: ``ok``, or failed (``detail``), explained by ``fault`` or not."""
        tally = self._op(name)
        tally.attempted += 1
        if ok:
            tally.confirmed += 1
        elif fault is not None:
            tally.by_fault += 1
        else:
            tally.failed += 1
            tally.first_failure = tally.first_failure or detail

    # -- attacks ------------------------------------------------------------
    def _attack(self, kind: str) -> AttackTally:
        tally = self.attacks.get(kind)
        if tally is None:  # drawn by the workload (late access), not configured
            tally = self.attacks[kind] = AttackTally(None)
        return tally

    def attempted(self, kind: str, steps: list[Step], where: str) -> None:
        """One attempt of ``kind`` made of ``steps``; it is denied when every step was."""
        tally = self._attack(kind)
        tally.attempted += 1
        if all(actual in expected for expected, actual in steps):
            tally.denied += 1
            return
        through = [actual for _, actual in steps if actual in ("succeeded", "served", "accepted")]
        if through:
            tally.succeeded += 1
        else:
            tally.wrong_reason += 1
        wrong = next((expected, actual) for expected, actual in steps if actual not in expected)
        tally.first_problem = tally.first_problem or (
            f"{where}: expected {' or '.join(wrong[0])}, got {wrong[1]}")

    def missed(self, kind: str, why: str) -> None:
        """A configured attempt of ``kind`` could not be made, because ``why``."""
        self._attack(kind).missed.append(why)

    # -- verdict ------------------------------------------------------------
    def violations(self) -> list[tuple[str, str]]:
        """(name, detail) of every failed operation kind and every attack not as configured."""
        out = []
        for name, op in sorted(self.ops.items()):
            bad = op.reverted + op.failed
            if bad:
                what = "reverted" if op.reverted else "failed"
                out.append((f"operations:{name}",
                            f"{bad} of {op.attempted} {what} (first: {op.first_failure})"))
        for kind, attack in sorted(self.attacks.items()):
            if attack.configured is not None and attack.attempted < attack.configured:
                reasons = sorted(set(attack.missed))
                unfinished = attack.configured - attack.attempted - len(attack.missed)
                if unfinished > 0:
                    reasons.append(f"{unfinished} still under way when the run ended")
                why = "; ".join(reasons)
                out.append((f"attacks:{kind}",
                            f"{attack.attempted} of {attack.configured} configured attempts "
                            f"made ({why})"))
            if attack.succeeded or attack.wrong_reason:
                out.append((f"denials:{kind}",
                            f"{attack.succeeded} succeeded, {attack.wrong_reason} denied for "
                            f"another reason (first: {attack.first_problem})"))
        return out

    def as_dict(self) -> dict[str, Any]:
        """``{"operations": ..., "attacks": ...}`` for ``summary.json``."""
        return {"operations": {name: op.as_dict() for name, op in sorted(self.ops.items())},
                "attacks": {kind: a.as_dict() for kind, a in sorted(self.attacks.items())}}
