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

A Python mirror of every account is kept next to revm's database; storage
is kept once, in a :class:`SlotStore`: the state trie's leaves when state
roots are computed (:class:`sim.chain._revm_trie.StateTrie`), plain dicts
(:class:`DictStore`) otherwise. Slots written since the last block are in
an overlay (:attr:`State.dirty_slots`) until the block commits them to the
store. Reads are answered from overlay and store, undo records are made
from them, and state roots and :meth:`state_blobs` are computed from them.
(At city scale a second copy of every slot in Python dicts cost ~170 bytes
a slot, 3.5 million slots.)

:meth:`State.trial` runs a transaction and forgets it, keeping its outcome
and journal text; :meth:`State.replay` runs it again with another gas limit
and settles it only when outcome and journal are the same (slot maps are
compared as sets, their order changes from run to run; the sender's balance
must differ by exactly the difference of the upfront gas payments). Such a
run leaves the state the trial would have left. :meth:`State.settle_trial`
settles the trial itself, without the second run, when the code it ran
cannot tell the two gas limits apart (:func:`gas_oblivious`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

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


#: CALL, CALLCODE, DELEGATECALL, STATICCALL: the opcodes that take a gas argument.
_CALLS = frozenset((0xF1, 0xF2, 0xF4, 0xFA))
#: Opcodes after which the gas limit or the sender's balance could change what runs:
#: BALANCE, CREATE, CREATE2, SELFDESTRUCT (GAS is checked apart).
_LIMIT_SENSITIVE = frozenset((0x31, 0xF0, 0xF5, 0xFF))
#: STOP, JUMP, RETURN, REVERT, INVALID: what follows runs only from a JUMPDEST.
_STOPS = frozenset((0x00, 0x56, 0xF3, 0xFD, 0xFE))
#: Headroom a signed gas limit must leave over the gas a trial consumed for
#: :meth:`State.settle_trial`: a quarter of it and this much (the estimate's own rule).
SETTLE_MARGIN = 5_000


def gas_oblivious(code: bytes) -> bool:
    """Whether ``code`` can only tell two gas limits apart by running out of gas.

    True when no instruction that can run is BALANCE (the sender's balance
    differs by the upfront payment), CREATE, CREATE2 or SELFDESTRUCT, and
    every GAS that can run is the gas argument of the call right after it
    (Vyper's external calls). The code is decoded as the EVM decodes it to
    find jump destinations (push data skipped), so every instruction that
    can run is seen. Bytes after a STOP, JUMP, RETURN, REVERT or INVALID
    cannot run until the next JUMPDEST (a compiler's data section, which
    may hold any byte), and are not looked at.
    """
    i, n = 0, len(code)
    live = True
    while i < n:
        op = code[i]
        if 0x60 <= op <= 0x7F:  # PUSH1..PUSH32 and their data
            i += op - 0x5E
            continue
        if op == 0x5B:  # JUMPDEST: reachable by a jump
            live = True
        elif live:
            if op in _LIMIT_SENSITIVE:
                return False
            if op == 0x5A and (i + 1 >= n or code[i + 1] not in _CALLS):
                return False
            if op in _STOPS:
                live = False
        i += 1
    return True


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


@dataclass(slots=True)
class Trial:
    """A transaction run and forgotten (:meth:`State.trial`): its outcome and what it touched."""

    outcome: Outcome
    journal: str  # the journal's text up to the (unordered) warm-address set
    sender: bytes
    gas: int
    price: int


@dataclass
class Layer:
    """Undo records of a group of writes: the value each key had before its first write."""

    accounts: dict[bytes, AccountTuple | None] = field(default_factory=dict)
    slots: dict[tuple[bytes, int], int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.slots)


class SlotStore(Protocol):
    """Where committed storage lives (the values as of the last block)."""

    def get(self, address: bytes, slot: int) -> int:
        """Committed value of ``slot`` of ``address`` (0 when unset)."""

    def has_storage(self, address: bytes) -> bool:
        """Whether ``address`` has any committed non-zero slot."""

    def values(self) -> Iterator[int]:
        """Every committed non-zero value."""


class DictStore:
    """Committed storage in one dict per contract (when no state trie keeps it)."""

    def __init__(self) -> None:
        self.slots: dict[bytes, dict[int, int]] = {}

    def get(self, address: bytes, slot: int) -> int:
        """Committed value of ``slot`` of ``address`` (0 when unset)."""
        st = self.slots.get(address)
        return st.get(slot, 0) if st else 0

    def has_storage(self, address: bytes) -> bool:
        """Whether ``address`` has any committed non-zero slot."""
        return bool(self.slots.get(address))

    def values(self) -> Iterator[int]:
        """Every committed non-zero value."""
        for st in self.slots.values():
            yield from st.values()

    def commit(self, overlay: dict[bytes, dict[int, int]]) -> None:
        """Write the slots of ``overlay`` (0 deletes)."""
        for address, written in overlay.items():
            st = self.slots.setdefault(address, {})
            for slot, value in written.items():
                if value:
                    st[slot] = value
                else:
                    st.pop(slot, None)


def hexaddr(address: bytes) -> str:
    """pyrevm's address form."""
    return "0x" + address.hex()


class State:
    """revm's database plus its Python mirror; every write goes through here."""

    def __init__(self, evm: EVM, store: SlotStore | None = None) -> None:
        self.evm = evm
        self.accounts: dict[bytes, AccountTuple] = {}
        #: Committed storage (written by the chain when a block commits :attr:`dirty_slots`).
        self.store: SlotStore = DictStore() if store is None else store
        self.codes: dict[bytes, bytes] = {EMPTY_CODE_HASH: b""}
        #: Accounts written since the last block (for state roots).
        self.dirty: set[bytes] = set()
        #: The overlay: slots written since the last block, with their present values.
        self.dirty_slots: dict[bytes, dict[int, int]] = {}
        self._hex: dict[bytes, str] = {}
        self._out_accounts: dict[bytes, AccountTuple] = {}
        self._out_slots: dict[tuple[bytes, int], int] = {}
        self._given_codes: set[bytes] = {EMPTY_CODE_HASH}
        self._analysed: dict[bytes, AccountInfo] = {}
        self._oblivious: dict[bytes, bool] = {EMPTY_CODE_HASH: True}

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
        """Storage ``slot`` of ``address`` (the overlay, else the store)."""
        written = self.dirty_slots.get(address)
        if written is not None:
            value = written.get(slot)
            if value is not None:
                return value
        return self.store.get(address, slot)

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

    def set_slot(self, address: bytes, slot: int, value: int, layer: Layer | None,
                 old: int | None = None) -> None:
        """Write a storage slot to revm and the overlay (``old``: its present value, if known)."""
        if old is None:
            old = self.slot(address, slot)
        if old == value:
            return
        if layer is not None and (address, slot) not in layer.slots:
            layer.slots[(address, slot)] = old
        self._write_slot(address, slot, value)

    def _write_slot(self, address: bytes, slot: int, value: int) -> None:
        written = self.dirty_slots.get(address)
        if written is None:
            written = self.dirty_slots[address] = {}
        written[slot] = value
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
            redo.slots[(address, slot)] = self.slot(address, slot)
            self._write_slot(address, slot, value)
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
        outcome, cp = self._run(sender, to, data, value, gas, price)
        return self._finish(sender, nonce, outcome, cp, gas * price, price, tip, coinbase,
                            self.evm.journal_str, layer)

    def trial(
        self, sender: bytes, to: bytes | None, data: bytes, value: int, gas: int, price: int
    ) -> Trial:
        """Run one transaction and forget it (nothing is settled); what it did, for :meth:`replay`.

        Raises :class:`InvalidTransaction` when revm refuses it.
        """
        outcome, cp = self._run(sender, to, data, value, gas, price)
        journal = self.evm.journal_str
        self.evm.revert(cp)
        return Trial(outcome, _comparable(journal), sender, gas, price)

    def replay(
        self,
        trial: Trial,
        nonce: int,
        to: bytes | None,
        data: bytes,
        value: int,
        gas: int,
        tip: int,
        coinbase: bytes,
        layer: Layer | None,
    ) -> Outcome | None:
        """Run ``trial``'s transaction again with gas limit ``gas``; settle it only if it did the same.

        The same means: the same outcome (status, gas, refund, output, logs)
        and the same journal (every touched account and slot, the logs, the
        journal entries), the sender's balance aside, which must differ by
        exactly the difference of the upfront gas payments. Then the settled
        state is the one settling the trial would have given. Otherwise
        nothing changes and None is returned. Raises
        :class:`InvalidTransaction` when revm refuses it (nothing changes).
        """
        sender, price = trial.sender, trial.price
        outcome, cp = self._run(sender, to, data, value, gas, price)
        journal = _comparable(self.evm.journal_str)
        accounts = None
        if outcome == trial.outcome:
            accounts = _match(trial.journal, journal, self.hx(sender), (trial.gas - gas) * price)
        if accounts is None:
            self.evm.revert(cp)
            return None
        return self._finish(sender, nonce, outcome, cp, gas * price, price, tip, coinbase,
                            journal, layer, accounts)

    def settle_trial(self, trial: Trial, nonce: int, gas: int, tip: int, coinbase: bytes,
                     layer: Layer | None) -> Outcome | None:
        """Settle ``trial`` as run with gas limit ``gas`` when that provably changes nothing.

        Call right after :meth:`trial`, on the same state. Returns None
        (nothing changed) unless: the trial did not halt; ``gas`` leaves at
        least a quarter of the gas it consumed plus :data:`SETTLE_MARGIN`
        over it; it created and destroyed no account; and the code of every
        account it touched is :func:`gas_oblivious`. Then a run at ``gas``
        executes the same instructions at the same costs: gas is only spent
        during execution, so none runs out where the trial's did not; every
        SSTORE still has more than its 2,300-gas stipend left; a call gets
        less gas (63/64 of what is left), which its callee, gas-oblivious
        too, cannot see and does not exhaust (the headroom passes down at
        63/64 a level); no code reads the sender's balance. Only the upfront
        payment differs, which the fee settlement refunds: so the trial's
        journal is the run's, and :meth:`replay`'s second run is saved.
        """
        outcome = trial.outcome
        if outcome.halt is not None:
            return None
        consumed = outcome.gas_used + outcome.gas_refunded
        if gas - consumed < consumed // 4 + SETTLE_MARGIN:
            return None
        journal = trial.journal
        accounts = _walk(journal)
        if accounts is None:
            return None
        for head_at, _, slots_end, status_end in accounts:
            status = journal[slots_end + len(_STATUS_MARK) : status_end]
            if "Created" in status or "SelfDestructed" in status:
                return None
            head = _HEAD.match(journal, head_at)
            if head is None or not self._is_oblivious(bytes.fromhex(head.group(4))):
                return None
        self._settle(journal, layer, accounts)
        self._charge(trial.sender, nonce, outcome, trial.gas * trial.price, trial.price, tip,
                     coinbase, layer)
        return outcome

    def _is_oblivious(self, code_hash: bytes) -> bool:
        """:func:`gas_oblivious` of the code under ``code_hash`` (cached; False if unknown)."""
        known = self._oblivious.get(code_hash)
        if known is None:
            code = self.codes.get(code_hash)
            known = self._oblivious[code_hash] = code is not None and gas_oblivious(code)
        return known

    def _run(
        self, sender: bytes, to: bytes | None, data: bytes, value: int, gas: int, price: int
    ) -> tuple[Outcome, Any]:
        """Run a transaction inside a new journal checkpoint, left open; (outcome, checkpoint)."""
        self.flush()
        evm = self.evm
        s_hex = self.hx(sender)
        upfront = gas * price
        cp = evm.snapshot()
        try:
            if upfront:
                evm.set_balance(s_hex, self.account(sender)[0] - upfront)
            if to is None:
                evm.deploy(s_hex, data, value, gas, 0)
            else:
                output = evm.message_call(s_hex, self.hx(to), data, value, gas, 0)
            result = evm.result
            assert result is not None
            outcome = Outcome(True, result.gas_used, result.gas_refunded,
                              b"" if to is None else bytes(output), None, [])
            logs = result.logs
            if logs:
                append = outcome.logs.append
                for log in logs:
                    topics, log_data = log.data
                    append((bytes.fromhex(log.address[2:]), tuple(map(bytes, topics)),
                            bytes(log_data)))
        except RuntimeError as exc:
            try:
                outcome = _failure(str(exc), evm)
            except InvalidTransaction:
                evm.revert(cp)  # refused before execution: nothing to settle
                raise
        return outcome, cp

    def _finish(
        self,
        sender: bytes,
        nonce: int,
        outcome: Outcome,
        cp: Any,
        upfront: int,
        price: int,
        tip: int,
        coinbase: bytes,
        journal: str,
        layer: Layer | None,
        accounts: list[tuple[int, int, int, int]] | None = None,
    ) -> Outcome:
        """Settle the open checkpoint ``cp`` (whose journal is ``journal``), close it, charge fees."""
        self._settle(journal, layer, accounts)  # queues writes only: the journal is still open
        self.evm.revert(cp)
        self._charge(sender, nonce, outcome, upfront, price, tip, coinbase, layer)
        return outcome

    def _charge(self, sender: bytes, nonce: int, outcome: Outcome, upfront: int, price: int,
                tip: int, coinbase: bytes, layer: Layer | None) -> None:
        """Fees (revm ran at gas price 0): refund the upfront payment less the gas used, bump
        the nonce, pay the coinbase its tip."""
        gas_used = outcome.gas_used
        bal, _, code_hash = self.account(sender)
        if upfront:
            bal += upfront - gas_used * price
        self.set_account(sender, (bal, nonce + 1, code_hash), layer)
        if tip and gas_used:
            cb, cn, ch = self.account(coinbase)
            self.set_account(coinbase, (cb + gas_used * tip, cn, ch), layer)

    def _settle(self, journal: str, layer: Layer | None,
                accounts: list[tuple[int, int, int, int]] | None = None) -> None:
        """Write the touched accounts and changed slots of ``journal`` to the database.

        ``accounts`` is the journal's :func:`_walk` (computed when not given).
        Runs before the journal is reverted: a created contract's account
        info is read back from the journal with its *analysed* bytecode (jump
        table), and inserting that object registers analysed code in revm's
        database; pyrevm's ``AccountInfo(code=...)`` stores raw code, which
        revm would analyse again in every call frame.
        """
        if accounts is None:
            accounts = _walk(journal)
            if accounts is None:
                raise RuntimeError("unexpected pyrevm journal format (is pyrevm 0.3.x installed?)")
        for head_at, slots_at, slots_end, status_end in accounts:
            status = journal[slots_end + len(_STATUS_MARK) : status_end]
            if "Touched" not in status:
                continue
            head = _HEAD.match(journal, head_at)
            if head is None:
                raise RuntimeError("unexpected pyrevm journal format (is pyrevm 0.3.x installed?)")
            addr_hex, bal, nonce, code_hash_hex = head.groups()
            address = bytes.fromhex(addr_hex)
            code_hash = bytes.fromhex(code_hash_hex)
            if "SelfDestructed" in status:
                # Cancun (EIP-6780): only an account created in this very transaction is
                # destroyed, so it has nothing committed; earlier writes of this block are
                # in the overlay
                if self.store.has_storage(address):
                    raise RuntimeError("SELFDESTRUCT of an account with committed storage "
                                       "(impossible from Cancun on)")
                self.set_account(address, (0, 0, EMPTY_CODE_HASH), layer)
                for slot in list(self.dirty_slots.get(address, {})):
                    self.set_slot(address, slot, 0, layer)
                continue
            if "Created" in status:
                if code_hash not in self._given_codes and code_hash not in self._analysed:
                    self._analysed[code_hash] = self.evm.basic("0x" + addr_hex)
                if code_hash not in self.codes:
                    code_match = _CODE.match(journal, head.end())
                    if code_match is not None:
                        code = bytes.fromhex(code_match.group(1))
                        if code_match.group(2) is not None:  # analysed bytecode is padded
                            code = code[: int(code_match.group(2))]
                        self.add_code(code, code_hash)
            self.set_account(address, (int(bal), int(nonce), code_hash), layer)
            if slots_end > slots_at:
                for key, original, present in _SLOT.findall(journal, slots_at, slots_end):
                    if original != present:  # original: the value before this transaction
                        self.set_slot(address, int(key), int(present), layer, int(original))

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


def _comparable(journal: str) -> str:
    """The journal's text without its tail (the spec and the warm-preloaded set, in hash order)."""
    end = journal.rfind(", spec: ")
    return journal if end < 0 else journal[:end]


def _walk(journal: str) -> list[tuple[int, int, int, int]] | None:
    """Where each account of a journal text is: (head, slots start, slots end, status end).

    ``journal[head:]`` starts with ``0xADDR: Account { info: ...``;
    ``journal[slots_start:slots_end]`` is the text of its slot map and
    ``journal[slots_end:status_end]`` is ``}, status: AccountStatus(FLAGS``.
    None when the text is not of that shape. A contract's bytecode is
    skipped with single-character searches (``{``), which are much faster
    than a search for a marker over its long hex text.
    """
    find, startswith = journal.find, journal.startswith
    accounts: list[tuple[int, int, int, int]] = []
    pos = find(_STATE_OPEN, 0, 64)
    if pos < 0:
        return accounts if find(_STATE_EMPTY, 0, 64) >= 0 else None
    pos += len(_STATE_OPEN) - 2  # at the first account's "0x"
    while True:
        head = pos
        code = find(_CODE_FIELD, head, head + 512)  # past address, balance, nonce, code hash
        if code < 0:
            return None
        code += len(_CODE_FIELD)
        if startswith("None", code):
            slots = code + 4
            if not startswith(_STORAGE_MARK, slots):
                return None
            slots += len(_STORAGE_MARK)
        else:  # Some(Bytecode { ... }): the slot map is the first "{" that follows "storage: "
            slots = code
            while True:
                slots = find("{", slots) + 1
                if not slots:
                    return None
                if startswith(_STORAGE_MARK, slots - len(_STORAGE_MARK)):
                    break
        slots_end = find(_STATUS_MARK, slots)
        if slots_end < 0:
            return None
        status_end = find(")", slots_end + len(_STATUS_MARK))
        if status_end < 0:
            return None
        accounts.append((head, slots, slots_end, status_end))
        if startswith(" }, 0x", status_end + 1):
            pos = status_end + 5
        elif startswith(" }}", status_end + 1):
            return accounts
        else:
            return None


def _match(trial: str, journal: str, sender_hex: str, delta: int
           ) -> list[tuple[int, int, int, int]] | None:
    """``journal``'s :func:`_walk` if it is ``trial`` with the sender's balance raised by ``delta``.

    Both are :func:`_comparable` texts; None when they differ otherwise.
    Accounts and slots are listed in hash-map order: each run builds new
    slot maps (in another order), so slots are compared as sets; the account
    map lives on and keeps its order, but should it change, both texts are
    compared in a canonical order (:func:`_canonical`).
    """
    accounts = _walk(journal)
    if accounts is None:
        return None
    starts = trial.startswith
    off = 0  # offset in journal - offset in trial (moves at the sender's balance)
    pos = 0  # journal[:pos] matched
    sender_seen = not delta
    for head, slots, slots_end, _ in accounts:
        if not sender_seen and journal.startswith(sender_hex, head):
            sender_seen = True
            at = head + len(sender_hex) + len(_ACCOUNT_MARK)
            end = journal.find(",", at)
            t_end = trial.find(",", at - off)
            if (end < 0 or t_end < 0 or not starts(journal[pos:at], pos - off)
                    or int(journal[at:end]) != int(trial[at - off : t_end]) + delta):
                break
            pos, off = end, end - t_end
        if not starts(journal[pos:slots], pos - off):
            break
        ours, theirs = journal[slots:slots_end], trial[slots - off : slots_end - off]
        if ours != theirs and (sorted((ours + ", ").split(_SLOT_SEP))
                               != sorted((theirs + ", ").split(_SLOT_SEP))):
            break
        pos = slots_end
    else:
        if sender_seen and journal[pos:] == trial[pos - off :]:
            return accounts
    # the account map's order changed (or they differ): compare canonical forms
    if delta:
        marker = sender_hex + _ACCOUNT_MARK
        start = trial.find(marker)
        if start < 0:
            return None
        start += len(marker)
        end = trial.find(",", start)
        if end < 0:
            return None
        trial = trial[:start] + str(int(trial[start:end]) + delta) + trial[end:]
    canonical = _canonical(trial)
    if canonical is None or canonical != _canonical(journal):
        return None
    return accounts


_SLOT_SEP = " }, "
_STATE_OPEN = "state: {0x"
_STATE_EMPTY = "state: {}"
_CODE_FIELD = ", code: "
_STATE_CLOSE = "}, transient_storage: "
_ACCOUNT_SEP = "}, 0x"


def _canonical(journal: str) -> tuple[list[tuple[str, list[str], str]], str] | None:
    """A :func:`_comparable` journal text in a canonical order (None if not of the expected shape).

    ``state: {0xADDR: Account { info: ..., storage: {K: StorageSlot { .. }, ..}, status: ..
    }, 0xADDR: ...}, transient_storage: ...``: the accounts, and in each the
    slots, are sorted; the rest is kept as it is.
    """
    begin = journal.find(_STATE_OPEN)
    end = journal.find(_STATE_CLOSE)
    if begin < 0 or end < begin:
        return None
    body = journal[begin + len(_STATE_OPEN) : end]
    if not body.endswith("}"):
        return None
    accounts = []
    for chunk in body[:-1].split(_ACCOUNT_SEP):  # each "ADDR: Account { ... status: ...) "
        storage_at = chunk.find(_STORAGE_MARK)
        status_at = chunk.find(_STATUS_MARK, storage_at)
        if storage_at < 0 or status_at < 0:
            return None
        slots = chunk[storage_at + len(_STORAGE_MARK) : status_at]
        if slots and not slots.endswith(" }"):
            return None
        entries = sorted(slots[:-2].split(_SLOT_SEP)) if slots else []
        accounts.append((chunk[:storage_at], entries, chunk[status_at:]))
    accounts.sort()
    return accounts, journal[end:]


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
