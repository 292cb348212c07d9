"""pyrevm plumbing for :mod:`sim.chain.revm`: one transaction per journal, settled into the database.

pyrevm 0.3.x runs a transaction in revm's journal and never finalizes it:
accounts and slots a transaction touched stay *warm* for the next one and
SSTORE's "original value" is never reset, so gas would drift from py-evm's
after the first transaction. This module therefore runs every transaction
inside ``snapshot()``, reads the post-state of the touched accounts from the
journal (``journal_str``: balances, nonces, code hashes, created code and
every loaded slot with its original and present value), reverts the journal
and writes the changes into revm's database (``insert_account_info``,
``insert_account_storage``). The journal is empty again before each
transaction, so warm/cold and original values are per transaction, as in
py-evm. Reads go through a snapshot too (a read loads an account into the
journal).

A Python mirror of every account and slot is kept next to revm's database:
reads are answered from it, undo records are made from it, and state roots
and :meth:`state_blobs` are computed from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pyrevm import EVM, AccountInfo

#: pyrevm's AccountInfo constructor; 0.3.7 takes ``balance``, which its type stub omits.
_account_info: Any = AccountInfo

#: keccak256(b""): the code hash of an account without code.
EMPTY_CODE_HASH = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")

_HEAD = re.compile(
    r"0x([0-9a-f]{40}): Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), "
    r"code_hash: 0x([0-9a-f]{64}), code: "
)
_CODE = re.compile(r"Some\(Bytecode \{ bytecode: 0x([0-9a-f]*), state: (?:Analysed \{ len: (\d+))?")
_ACCOUNT_MARK = ": Account { info: AccountInfo { balance: "
_STORAGE_MARK = " }, storage: {"
_STATUS_MARK = "}, status: AccountStatus("
_SLOT = re.compile(r"(\d+): StorageSlot \{ previous_or_original_value: (\d+), present_value: (\d+) \}")
_REVERT = re.compile(r"^Revert \{ gas_used: (\d+), output: 0x([0-9a-f]*) \}")
_HALT = re.compile(r"^Halt \{ reason: ([A-Za-z]+)")

#: revm halt reasons -> the py-evm exception names the pyevm backend reports.
HALT_NAMES = {
    "OutOfGas": "OutOfGas",
    "OpcodeNotFound": "InvalidInstruction",
    "InvalidFEOpcode": "InvalidInstruction",
    "InvalidJump": "InvalidJumpDestination",
    "StackUnderflow": "InsufficientStack",
    "StackOverflow": "FullStack",
    "StateChangeDuringStaticCall": "WriteProtection",
    "CallNotAllowedInsideStatic": "WriteProtection",
    "CallTooDeep": "StackDepthLimit",
    "OutOfOffset": "OutOfBoundsRead",
    "CreateContractSizeLimit": "OutOfGas",
    "CreateInitCodeSizeLimit": "OutOfGas",
    "CreateContractStartingWithEF": "ReservedBytesInCode",
    "CreateCollision": "ContractCreationCollision",
    "OutOfFunds": "InsufficientFunds",
}

#: An account in the mirror: (balance, nonce, code hash).
AccountTuple = tuple[int, int, bytes]


class InvalidTransaction(Exception):
    """revm refused the transaction before executing it (nothing changed)."""


@dataclass
class Outcome:
    """What one executed transaction did."""

    success: bool
    gas_used: int  # after refunds
    gas_refunded: int
    output: bytes  # return data, revert data, or b"" on a halt / successful create
    halt: str | None  # py-evm name of the halt, None on success or revert
    logs: list[tuple[bytes, tuple[bytes, ...], bytes]]


@dataclass
class Layer:
    """Undo records of a group of writes: the value each key had before its first write."""

    accounts: dict[bytes, AccountTuple | None] = field(default_factory=dict)
    slots: dict[tuple[bytes, int], int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.slots)


def hexaddr(address: bytes) -> str:
    """pyrevm's address form."""
    return "0x" + address.hex()


class State:
    """revm's database plus its Python mirror; every write goes through here."""

    def __init__(self, evm: EVM) -> None:
        self.evm = evm
        self.accounts: dict[bytes, AccountTuple] = {}
        self.storage: dict[bytes, dict[int, int]] = {}
        self.codes: dict[bytes, bytes] = {EMPTY_CODE_HASH: b""}
        #: Accounts and slots written since the last :meth:`take_dirty` (for state roots).
        self.dirty: set[bytes] = set()
        self.dirty_slots: dict[bytes, set[int]] = {}
        self._hex: dict[bytes, str] = {}
        self._out_accounts: dict[bytes, AccountTuple] = {}
        self._out_slots: dict[tuple[bytes, int], int] = {}
        self._given_codes: set[bytes] = {EMPTY_CODE_HASH}
        self._analysed: dict[bytes, AccountInfo] = {}

    def hx(self, address: bytes) -> str:
        """Cached hex form of ``address``."""
        h = self._hex.get(address)
        if h is None:
            h = self._hex[address] = hexaddr(address)
        return h

    # -- reads ----------------------------------------------------------
    def account(self, address: bytes) -> AccountTuple:
        """(balance, nonce, code hash) of ``address``."""
        return self.accounts.get(address) or (0, 0, EMPTY_CODE_HASH)

    def slot(self, address: bytes, slot: int) -> int:
        """Storage ``slot`` of ``address``."""
        st = self.storage.get(address)
        return st.get(slot, 0) if st else 0

    def code(self, address: bytes) -> bytes:
        """Runtime code of ``address``."""
        return self.codes.get(self.account(address)[2], b"")

    # -- writes ---------------------------------------------------------
    def set_account(self, address: bytes, value: AccountTuple, layer: Layer | None) -> None:
        """Write an account (balance, nonce, code hash) to revm and the mirror."""
        old = self.accounts.get(address)
        if old == value:
            return
        if layer is not None and address not in layer.accounts:
            layer.accounts[address] = old
        self._write_account(address, value)

    def _write_account(self, address: bytes, value: AccountTuple | None) -> None:
        balance, nonce, code_hash = value or (0, 0, EMPTY_CODE_HASH)
        if value is None:
            self.accounts.pop(address, None)
        else:
            self.accounts[address] = value
        self.dirty.add(address)
        self._out_accounts[address] = (balance, nonce, code_hash)

    def set_slot(self, address: bytes, slot: int, value: int, layer: Layer | None) -> None:
        """Write a storage slot to revm and the mirror."""
        st = self.storage.get(address)
        if st is None:
            st = self.storage[address] = {}
        old = st.get(slot, 0)
        if old == value:
            return
        if layer is not None and (address, slot) not in layer.slots:
            layer.slots[(address, slot)] = old
        self._write_slot(address, slot, value, st)

    def _write_slot(self, address: bytes, slot: int, value: int, st: dict[int, int]) -> None:
        if value:
            st[slot] = value
        else:
            st.pop(slot, None)
        ds = self.dirty_slots.get(address)
        if ds is None:
            ds = self.dirty_slots[address] = set()
        ds.add(slot)
        self.dirty.add(address)
        self._out_slots[(address, slot)] = value

    def flush(self) -> None:
        """Write the changes made since the last flush into revm's database.

        Account infos first (they go straight to the database while the
        journal is empty), then each slot inside its own journal snapshot,
        reverted at once: ``insert_account_storage`` writes the database only
        when the account is not in the journal, and loads it there (warm).
        """
        evm = self.evm
        if self._out_accounts:
            hx = self.hx
            given = self._given_codes
            for address, (balance, nonce, code_hash) in self._out_accounts.items():
                if code_hash in given:
                    info = _account_info(balance=balance, nonce=nonce, code_hash=code_hash)
                else:  # revm's database has not seen this code yet
                    analysed = self._analysed.pop(code_hash, None)
                    if analysed is not None:  # register the analysed code, then the account
                        evm.insert_account_info(hx(address), analysed)
                        info = _account_info(balance=balance, nonce=nonce, code_hash=code_hash)
                    else:
                        info = _account_info(balance=balance, nonce=nonce, code_hash=code_hash,
                                             code=self.codes[code_hash])
                    given.add(code_hash)
                evm.insert_account_info(hx(address), info)
            self._out_accounts = {}
        if self._out_slots:
            hx = self.hx
            snapshot, insert, revert = evm.snapshot, evm.insert_account_storage, evm.revert
            for (address, slot), value in self._out_slots.items():
                cp = snapshot()
                insert(hx(address), slot, value)
                revert(cp)
            self._out_slots = {}

    def add_code(self, code: bytes, code_hash: bytes) -> None:
        """Remember ``code`` under its hash (revm keeps its own copy)."""
        self.codes[code_hash] = code

    def undo(self, layer: Layer) -> Layer:
        """Restore the values recorded in ``layer``; return the layer that redoes it."""
        redo = Layer()
        for (address, slot), value in layer.slots.items():
            st = self.storage.setdefault(address, {})
            redo.slots[(address, slot)] = st.get(slot, 0)
            self._write_slot(address, slot, value, st)
        for address, acct in layer.accounts.items():
            redo.accounts[address] = self.accounts.get(address)
            self._write_account(address, acct)
        return redo

    def merge_into(self, inner: Layer, outer: Layer) -> None:
        """Fold ``inner``'s undo records into ``outer`` (the earliest value wins)."""
        for address, acct in inner.accounts.items():
            outer.accounts.setdefault(address, acct)
        for key, value in inner.slots.items():
            outer.slots.setdefault(key, value)

    # -- execution ------------------------------------------------------
    def execute(
        self,
        sender: bytes,
        nonce: int,
        to: bytes | None,
        data: bytes,
        value: int,
        gas: int,
        price: int,
        tip: int,
        coinbase: bytes,
        layer: Layer | None,
    ) -> Outcome:
        """Run one transaction and settle it (fees: ``price`` per gas, ``tip`` to the coinbase).

        The caller has checked nonce and funds (``gas * price + value``).
        Raises :class:`InvalidTransaction` when revm refuses it.
        """
        self.flush()
        evm = self.evm
        s_hex = self.hx(sender)
        balance = self.account(sender)[0]
        upfront = gas * price
        cp = evm.snapshot()
        try:
            if upfront:
                evm.set_balance(s_hex, balance - upfront)
            if to is None:
                evm.deploy(s_hex, data, value, gas, 0)
            else:
                output = evm.message_call(s_hex, self.hx(to), data, value, gas, 0)
            result = evm.result
            assert result is not None
            outcome = Outcome(True, result.gas_used, result.gas_refunded,
                              b"" if to is None else bytes(output), None, [])
            for log in result.logs:
                topics, log_data = log.data
                outcome.logs.append(
                    (bytes.fromhex(log.address[2:]), tuple(bytes(t) for t in topics), bytes(log_data))
                )
        except RuntimeError as exc:
            try:
                outcome = _failure(str(exc), evm)
            except InvalidTransaction:
                evm.revert(cp)  # refused before execution: nothing to settle
                raise
        self._settle(evm.journal_str, layer)  # queues writes only: the journal is still open
        evm.revert(cp)
        # fees: revm ran at gas price 0; charge the sender and pay the coinbase here
        gas_used = outcome.gas_used
        bal, _, code_hash = self.account(sender)
        if upfront:
            bal += upfront - gas_used * price
        self.set_account(sender, (bal, nonce + 1, code_hash), layer)
        if tip and gas_used:
            cb, cn, ch = self.account(coinbase)
            self.set_account(coinbase, (cb + gas_used * tip, cn, ch), layer)
        return outcome

    def _settle(self, journal: str, layer: Layer | None) -> None:
        """Write the touched accounts and changed slots of ``journal`` to the database.

        The journal's ``Debug`` text is walked with ``str.find`` between fixed
        markers, so the (long) bytecode of every loaded contract is skipped,
        not scanned by a regular expression. Runs before the journal is
        reverted: a created contract's account info is read back from the
        journal with its *analysed* bytecode (jump table), and inserting that
        object registers analysed code in revm's database; pyrevm's
        ``AccountInfo(code=...)`` stores raw code, which revm would analyse
        again in every call frame.
        """
        end = journal.find(", transient_storage: ")
        find = journal.find
        pos = 0
        while True:
            mark = find(_ACCOUNT_MARK, pos, end)
            if mark < 0:
                return
            head = _HEAD.match(journal, mark - 42)
            code_at = mark + len(_ACCOUNT_MARK)
            storage_at = find(_STORAGE_MARK, code_at, end)
            status_at = find(_STATUS_MARK, storage_at, end)
            status_end = find(")", status_at + len(_STATUS_MARK), end)
            pos = status_end
            status = journal[status_at + len(_STATUS_MARK) : status_end]
            if "Touched" not in status:
                continue
            if head is None:
                raise RuntimeError("unexpected pyrevm journal format (is pyrevm 0.3.x installed?)")
            addr_hex, bal, nonce, code_hash_hex = head.groups()
            address = bytes.fromhex(addr_hex)
            code_hash = bytes.fromhex(code_hash_hex)
            if "SelfDestructed" in status:
                self.set_account(address, (0, 0, EMPTY_CODE_HASH), layer)
                for slot in list(self.storage.get(address, {})):
                    self.set_slot(address, slot, 0, layer)
                continue
            if ("Created" in status and code_hash not in self._given_codes
                    and code_hash not in self._analysed):
                self._analysed[code_hash] = self.evm.basic("0x" + addr_hex)
            if "Created" in status and code_hash not in self.codes:
                code_match = _CODE.match(journal, head.end())
                if code_match is not None:
                    code = bytes.fromhex(code_match.group(1))
                    if code_match.group(2) is not None:  # analysed bytecode is padded
                        code = code[: int(code_match.group(2))]
                    self.add_code(code, code_hash)
            self.set_account(address, (int(bal), int(nonce), code_hash), layer)
            if status_at > storage_at + len(_STORAGE_MARK):
                storage = journal[storage_at + len(_STORAGE_MARK) : status_at]
                for key, original, present in _SLOT.findall(storage):
                    if original != present:
                        self.set_slot(address, int(key), int(present), layer)

    def call(self, caller: bytes, to: bytes, data: bytes, gas: int) -> Outcome:
        """A read-only call: run, read the result, revert (nothing is settled)."""
        self.flush()
        evm = self.evm
        cp = evm.snapshot()
        try:
            output = evm.message_call(self.hx(caller), self.hx(to), data, 0, gas, 0)
            result = evm.result
            assert result is not None
            outcome = Outcome(True, result.gas_used, result.gas_refunded, bytes(output), None, [])
        except RuntimeError as exc:
            outcome = _failure(str(exc), evm)
        finally:
            evm.revert(cp)
        return outcome


def _failure(message: str, evm: EVM) -> Outcome:
    """The outcome of a reverted or halted execution (from pyrevm's error text)."""
    m = _REVERT.match(message)
    if m is not None:
        result = evm.result
        refunded = result.gas_refunded if result is not None else 0
        return Outcome(False, int(m.group(1)), refunded, bytes.fromhex(m.group(2)), None, [])
    h = _HALT.match(message)
    if h is not None:
        gas = re.search(r"gas_used: (\d+)", message)
        name = HALT_NAMES.get(h.group(1), h.group(1))
        return Outcome(False, int(gas.group(1)) if gas else 0, 0, b"", name, [])
    raise InvalidTransaction(message)
