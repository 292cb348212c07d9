"""The DApp layer: sends the paper's use cases to the chain as signed transactions.

:class:`Protocol` owns one deployed :class:`~sim.protocol.deployment.System`
on a :class:`~sim.chain.Chain`, the off-chain object store, and the
authorities' blinding key. The actors in :mod:`sim.protocol.actors` call
:meth:`Protocol.execute`; each call is one signed transaction, mined at the
protocol's clock, and comes back as an :class:`~sim.protocol.outcome.Outcome`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sim.chain import Account, Chain, Receipt
from sim.protocol.deployment import REGULATOR_ROLE, System, deploy_system
from sim.protocol.offchain import MemoryStore, ObjectStore, Sealer
from sim.protocol.outcome import Outcome, SlotWrites


class Protocol:
    """The paper's use cases over one chain; see the module docstring."""

    def __init__(
        self,
        chain: Chain,
        system: System,
        *,
        admin: Account,
        rng: random.Random,
        store: ObjectStore | None = None,
    ) -> None:
        self.chain = chain
        self.system = system
        self.admin = admin
        self.rng = rng
        self.sealer = Sealer(store if store is not None else MemoryStore(), rng)
        #: Key the regulator / medical council uses to blind registration numbers.
        self.authority_key = rng.randbytes(32)
        #: Next block timestamp; None = one second after the head.
        self.clock: int | None = None
        self._tokens: dict[int, int] = {}
        self._written: set[tuple[object, ...]] = set()

    def count_token(self, patient_id: int) -> int:
        """Note one more PMR token minted to ``patient_id``; return how many it now has."""
        self._tokens[patient_id] = self._tokens.get(patient_id, 0) + 1
        return self._tokens[patient_id]

    def first_write(self, *slot: object) -> bool:
        """Note a mined write of the storage slot ``slot`` names (e.g. a grant's expiry); True
        the first time (the slot held zero), False afterwards. Called in chain order."""
        if slot in self._written:
            return False
        self._written.add(slot)
        return True

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        *,
        layout: str = "private",
        seed: int = 0,
        first_patient_id: int = 1,
        store: ObjectStore | None = None,
        token: str = "erc721",
    ) -> Protocol:
        """Deploy a fresh system on ``chain`` from a funded ``admin`` account."""
        admin = chain.account("admin")
        chain.fund(admin.address)
        system = deploy_system(chain, admin, layout=layout, first_patient_id=first_patient_id,
                               token=token)
        return cls(chain, system, admin=admin, rng=random.Random(seed), store=store)

    @property
    def layout(self) -> str:
        """"private" or "paper"."""
        return self.system.layout

    @property
    def private(self) -> bool:
        """True for the private layout."""
        return self.system.layout == "private"

    def account(self, label: str) -> Account:
        """A funded account for ``label``."""
        account = self.chain.account(label)
        self.chain.fund(account.address)
        return account

    def grant_regulator_call(self, regulator: Account) -> Call:
        """The deployer grants REGULATOR_ROLE (several regulators are allowed)."""
        return self.prepare(
            self.admin, "HospitalRegistry", "grantRole", (REGULATOR_ROLE, regulator.address),
            writes=SlotWrites(new=1),
        )

    def grant_regulator(self, regulator: Account) -> Outcome:
        """Run :meth:`grant_regulator_call`."""
        return self.run(self.grant_regulator_call(regulator))

    def next_timestamp(self) -> int:
        """Timestamp of the next block: the clock, or one second after the head."""
        head = self.chain.timestamp
        if self.clock is None or self.clock <= head:
            return head + 1
        return self.clock

    def prepare(
        self,
        sender: Account,
        contract: str,
        fn: str,
        args: Sequence[Any],
        *,
        writes: SlotWrites,
        op: str | None = None,
        issued_from: tuple[str, str] | None = None,
        classify: Classifier | None = None,
        on_mined: Callable[[Outcome], None] | None = None,
    ) -> Call:
        """A signed-to-be transaction ``contract.fn(*args)`` from ``sender``, not yet sent.

        ``issued_from`` = (event, field) names the event argument carrying the ID
        the call issues; ``classify`` may refine the operation label and the
        slots it must write from the events; ``on_mined`` runs once it is mined.
        """
        target = self.system.by_name()[contract]
        return Call(
            sender=sender, contract=contract, fn=fn, args=tuple(args), to=target.address,
            calldata=target.calldata(fn, *args), op=op or f"{self.system.label(contract)}.{fn}",
            writes=writes,
            issued_from=issued_from, classify=classify, on_mined=on_mined,
        )

    def run(self, call: Call) -> Outcome:
        """Send ``call`` and mine it at once at the protocol clock; never raises on revert."""
        receipt = self.chain.transact(
            call.sender, call.to, call.calldata, timestamp=self.next_timestamp()
        )
        return self.finish(call, receipt)

    def finish(self, call: Call, receipt: Receipt) -> Outcome:
        """Read a mined call's receipt into an :class:`Outcome` and run its hooks."""
        target = self.system.by_name().get(call.contract)  # None: a deployment of another contract
        events = target.decode_logs(receipt) if receipt.ok and target is not None else []
        op, writes = call.op, call.writes
        if call.classify is not None and receipt.ok:
            op, writes = call.classify(events)
        issued = None
        if call.issued_from is not None and receipt.ok:
            for name, values in events:
                if name == call.issued_from[0]:
                    issued = int(values[call.issued_from[1]])
                    break
        outcome = Outcome(op=op, receipt=receipt, calldata=call.calldata, writes=writes,
                          events=events, issued=issued, sender=call.sender.label)
        if call.on_mined is not None:
            call.on_mined(outcome)
        return outcome

    def execute(
        self,
        sender: Account,
        contract: str,
        fn: str,
        args: Sequence[Any],
        *,
        writes: SlotWrites,
        op: str | None = None,
        issued_from: tuple[str, str] | None = None,
    ) -> Outcome:
        """Prepare and run one call (see :meth:`prepare`)."""
        return self.run(self.prepare(sender, contract, fn, args, writes=writes, op=op,
                                     issued_from=issued_from))

    def view(self, contract: str, fn: str, *args: Any) -> Any:
        """Read-only call at the head."""
        return self.system.by_name()[contract].call(fn, *args)


Classifier = Callable[[list[tuple[str, dict[str, Any]]]], tuple[str, SlotWrites]]


@dataclass(frozen=True)
class Call:
    """One use-case step prepared as a transaction: what to send and how to read it back."""

    sender: Account
    contract: str
    fn: str
    args: tuple[Any, ...]
    to: bytes | None  # None: a contract creation
    calldata: bytes
    op: str
    writes: SlotWrites
    issued_from: tuple[str, str] | None = None
    classify: Classifier | None = None
    on_mined: Callable[[Outcome], None] | None = None
