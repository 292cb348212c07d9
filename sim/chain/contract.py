"""A deployed contract bound to a chain and its ABI: call, send, transact, decode logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sim.chain import abi as abi_mod
from sim.chain.base import Account, Chain, Log, Receipt
from sim.errors import InputError, TransactionReverted


class Contract:
    """Functions and events of the contract at ``address`` on ``chain``.

    Function arguments are positional, in ABI order; when a name has several
    entries (Vyper default arguments) the one taking that many arguments is used.
    """

    def __init__(self, chain: Chain, address: bytes, abi: Sequence[Mapping[str, Any]]) -> None:
        self.chain = chain
        self.address = bytes(address)
        self.abi = list(abi)
        #: (name, arguments) -> (entry, selector, input types, fast encoder, fast output decoder)
        self._functions: dict[tuple[str, int], tuple[Mapping[str, Any], bytes, list[str], Any, Any]] = {}
        self._events = {
            abi_mod.event_topic0(e): e
            for e in self.abi
            if e.get("type") == "event" and not e.get("anonymous")
        }

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        sender: Account,
        bytecode: bytes,
        abi: Sequence[Mapping[str, Any]],
        *args: Any,
        gas: int | None = None,
        value: int = 0,
    ) -> Contract:
        """Deploy ``bytecode`` with constructor ``args``, mine it, and bind the result.

        Raises :class:`TransactionReverted` when the constructor fails.
        """
        ctors = [e for e in abi if e.get("type") == "constructor"]
        ctor: Mapping[str, Any] = ctors[0] if ctors else {"inputs": []}
        init = bytes(bytecode) + abi_mod.encode_args(ctor, args)
        receipt = chain.transact(sender, None, init, value=value, gas=gas)
        if not receipt.ok or receipt.contract_address is None:
            raise TransactionReverted(
                receipt.revert_reason or "", tx_hash=receipt.tx_hash, gas_used=receipt.gas_used
            )
        return cls(chain, receipt.contract_address, abi)

    def function(self, name: str, n_args: int) -> Mapping[str, Any]:
        """The ABI entry of function ``name`` taking ``n_args`` arguments."""
        return abi_mod.find_entry(self.abi, "function", name, n_args)

    def _function(self, fn_name: str, n_args: int
                  ) -> tuple[Mapping[str, Any], bytes, list[str], Any, Any]:
        """What calling ``fn_name`` with ``n_args`` arguments needs (looked up once)."""
        key = (fn_name, n_args)
        found = self._functions.get(key)
        if found is None:
            entry = self.function(fn_name, n_args)
            types = abi_mod.input_types(entry)
            if len(types) != n_args:
                raise InputError(f"{abi_mod.signature(entry)} takes {len(types)} arguments, "
                                 f"got {n_args}")
            found = self._functions[key] = (
                entry, abi_mod.selector(entry), types, abi_mod.static_encoder(types),
                abi_mod.static_decoder(abi_mod.output_types(entry)))
        return found

    def calldata(self, fn_name: str, *args: Any) -> bytes:
        """Encoded calldata for ``fn_name(*args)`` (selector and types looked up once)."""
        _, selector, types, fast, _ = self._function(fn_name, len(args))
        if fast is not None:
            encoded = fast(args)
            if encoded is not None:
                return selector + encoded
        return selector + bytes(abi_mod.encode(types, list(args)))

    def call(self, fn_name: str, *args: Any, sender: bytes | None = None) -> Any:
        """Run ``fn_name(*args)`` read-only at the head; return the decoded output.

        Raises :class:`TransactionReverted` with the reason on revert.
        """
        data = self.calldata(fn_name, *args)
        entry, _, _, _, fast = self._function(fn_name, len(args))
        out = self.chain.call(self.address, data, sender=sender)
        if fast is not None:
            values = fast(out)
            if values is not None:
                return values[0] if len(values) == 1 else (values or None)
        return abi_mod.decode_output(entry, out)

    def send(
        self,
        account: Account,
        fn_name: str,
        *args: Any,
        gas: int | None = None,
        value: int = 0,
        estimate_at: int | None = None,
    ) -> bytes:
        """Queue a signed transaction calling ``fn_name(*args)``; return its hash.

        ``estimate_at``: see :meth:`Chain.send`.
        """
        data = self.calldata(fn_name, *args)
        return self.chain.send(
            account, self.address, data, value=value, gas=gas, estimate_at=estimate_at
        )

    def transact(
        self,
        account: Account,
        fn_name: str,
        *args: Any,
        gas: int | None = None,
        value: int = 0,
        timestamp: int | None = None,
    ) -> Receipt:
        """Send ``fn_name(*args)`` and mine it at once; return the receipt (status may be 0)."""
        data = self.calldata(fn_name, *args)
        return self.chain.transact(
            account, self.address, data, value=value, gas=gas, timestamp=timestamp
        )

    def decode_log(self, log: Log) -> tuple[str, dict[str, Any]] | None:
        """``(event name, arguments)`` of one log of this contract, or None if unknown."""
        if log.address != self.address or not log.topics:
            return None
        entry = self._events.get(log.topics[0])
        if entry is None:
            return None
        return str(entry["name"]), abi_mod.decode_log(entry, log.topics, log.data)

    def decode_logs(self, receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
        """The events this contract emitted in ``receipt``, in order."""
        out = []
        for log in receipt.logs:
            decoded = self.decode_log(log)
            if decoded is not None:
                out.append(decoded)
        return out

    def topic0(self, event_name: str) -> bytes:
        """The first topic of event ``event_name`` (for :meth:`Chain.get_logs`)."""
        return abi_mod.event_topic0(abi_mod.find_entry(self.abi, "event", event_name))
