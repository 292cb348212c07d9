"""A patient whose account is a contract wallet (the ``PatientWallet`` mock).

Patients may hold smart-contract wallets; under ERC-1155 the PMR token then
calls the wallet's receiver hook, which is untrusted code. The wallet's
owner signs, the wallet forwards each call (``execute``), so every use case
of :class:`~sim.protocol.Patient` works unchanged. The wallet's ``mode``
says how its hook answers: accept, refuse, or re-enter the token (trust
model rules T2 and T3). Tests and adversaries use it; the system never
deploys it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sim.chain import Contract
from sim.chain import abi as abi_mod
from sim.contracts import load_mock
from sim.protocol.actors import Patient
from sim.protocol.outcome import Outcome, SlotWrites
from sim.protocol.protocol import Call, Protocol

ACCEPT = 0
REFUSE = 1
REENTER = 2


class ContractPatient(Patient):
    """A patient holding a ``PatientWallet``; deploy it with :meth:`deploy_call` first."""

    def __init__(self, protocol: Protocol, label: str) -> None:
        super().__init__(protocol, label)
        art = load_mock("PatientWallet")
        self._art = art
        self.wallet: Contract | None = None

    @property
    def address(self) -> bytes:
        """The wallet's address (the patient's account on chain)."""
        if self.wallet is None:
            raise RuntimeError(f"{self.label}: wallet not deployed yet")
        return self.wallet.address

    def deploy_call(self, mode: int) -> Call:
        """Deploy the wallet, owned by this patient's key, answering the hook by ``mode``."""
        ctor = next(e for e in self._art.abi if e.get("type") == "constructor")
        init = self._art.bytecode + abi_mod.encode_args(ctor, (mode,))

        def deployed(out: Outcome) -> None:
            if out.ok and out.receipt.contract_address is not None:
                self.wallet = Contract(self.protocol.chain, out.receipt.contract_address,
                                       self._art.abi)

        return Call(sender=self.account, contract="", fn="constructor", args=(mode,), to=None,
                    calldata=init, op="PatientWallet.deploy", writes=SlotWrites(new=2),
                    on_mined=deployed)

    def deploy(self, mode: int) -> Outcome:
        """Run :meth:`deploy_call`."""
        return self.protocol.run(self.deploy_call(mode))

    def wallet_call(self, fn: str, *args: Any) -> Call:
        """A call of the wallet's own function (``set_reentry``) from its owner."""
        assert self.wallet is not None
        return Call(sender=self.account, contract="", fn=fn, args=args, to=self.wallet.address,
                    calldata=self.wallet.calldata(fn, *args), op=f"PatientWallet.{fn}",
                    writes=SlotWrites())

    def _call(self, contract: str, fn: str, args: tuple[Any, ...], writes: SlotWrites,
              **kwargs: Any) -> Call:
        inner = super()._call(contract, fn, args, writes, **kwargs)
        assert self.wallet is not None
        return replace(inner, to=self.wallet.address,
                       calldata=self.wallet.calldata("execute", inner.to, inner.calldata))
