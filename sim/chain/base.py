"""The one Chain interface every backend implements.

A :class:`Chain` is an Ethereum chain the simulation drives: accounts from
seeded keys, signed transactions queued in a mempool, blocks mined when the
caller says (with the timestamp the caller gives: the engine's clock),
receipts with logs and revert reasons, read-only calls, snapshots, and the
state root. Backends (``pyevm`` default; ``ethtester``, ``revm``, ``rpc``
later) translate their own errors into :mod:`sim.errors` at this boundary.

All backends run the same pinned fork (:data:`FORK`), chain id
(:data:`CHAIN_ID`) and fee rules, so gas agrees exactly across them.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sim.hashing import checksum_address

#: The EVM fork used by the Vyper compiler and by every backend.
FORK = "cancun"
#: Chain id of every pmrsim chain (anvil's default, so the rpc backend agrees).
CHAIN_ID = 31337
#: Default block gas limit (mainnet's, 2024).
DEFAULT_BLOCK_GAS_LIMIT = 30_000_000
#: Default genesis timestamp: 2021-01-01T00:00:00Z (the paper's year).
DEFAULT_GENESIS_TIMESTAMP = 1_609_459_200
#: Balance given by :meth:`Chain.fund` when no amount is passed: 1,000 ether.
DEFAULT_FUNDING_WEI = 1_000 * 10**18


@dataclass(frozen=True)
class Account:
    """An externally owned account with its private key (never written to traces)."""

    label: str
    address: bytes  # 20 bytes
    private_key: bytes = field(repr=False)  # 32 bytes

    @property
    def hex(self) -> str:
        """The checksummed ``0x`` address."""
        return checksum_address(self.address)


@dataclass(frozen=True)
class Log:
    """An event log emitted by a transaction."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class Receipt:
    """The outcome of one mined transaction."""

    tx_hash: bytes
    block_number: int
    tx_index: int
    sender: bytes
    to: bytes | None
    status: int  # 1 success, 0 reverted
    gas_used: int
    logs: tuple[Log, ...]
    contract_address: bytes | None = None
    #: None on success; else the decoded ``Error(string)`` text, ``""`` for a bare
    #: revert, ``"Panic(0x..)"``, ``"0x.."`` for other revert data, or
    #: ``"halt: <Name>"`` when execution halted without REVERT (out of gas, ...).
    revert_reason: str | None = None
    return_data: bytes = b""

    @property
    def ok(self) -> bool:
        """True when the transaction succeeded."""
        return self.status == 1


@dataclass(frozen=True)
class Block:
    """A mined block and the receipts of the transactions it holds, in order."""

    number: int
    timestamp: int
    gas_used: int
    gas_limit: int
    state_root: bytes
    block_hash: bytes
    receipts: tuple[Receipt, ...]


class Chain(abc.ABC):
    """A chain the simulation drives; see the module docstring.

    Methods are grouped as in eth-tester: accounts, execution, blocks, time,
    state. Concrete backends document only what differs.
    """

    #: Short name used on the command line (``--backend NAME``).
    name: str = "abstract"
    #: Whether :meth:`mine` may return a block whose ``state_root`` and ``block_hash`` are
    #: not known yet (``b""``); :meth:`block` always gives them. True for the revm backend
    #: computing its roots in a worker process.
    defers_roots: bool = False

    # -- accounts ---------------------------------------------------------
    @abc.abstractmethod
    def account(self, label: str) -> Account:
        """The account for ``label``, its key derived from the chain's seed and the label.

        The same seed and label always give the same key. The account is not
        funded: call :meth:`fund`.
        """

    @abc.abstractmethod
    def fund(self, address: bytes, wei: int = DEFAULT_FUNDING_WEI) -> None:
        """Set ``address``'s balance to ``wei`` (a privileged write, like anvil_setBalance)."""

    @abc.abstractmethod
    def balance(self, address: bytes) -> int:
        """The balance of ``address`` at the head."""

    @abc.abstractmethod
    def nonce(self, address: bytes) -> int:
        """The next nonce of ``address``, counting transactions already in the mempool."""

    # -- execution --------------------------------------------------------
    @abc.abstractmethod
    def send(
        self,
        sender: Account,
        to: bytes | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
        estimate_at: int | None = None,
        later: bool = False,
    ) -> bytes:
        """Sign a transaction from ``sender`` and queue it in the mempool; return its hash.

        ``to=None`` deploys ``data`` as init code. Without ``gas`` the limit is
        estimated on the pending state, in a block whose timestamp is
        ``estimate_at`` (default: the head's plus one): pass the timestamp the
        block will be mined at when the contract's path depends on time, or a
        path that reverts early at the estimate may run out of gas when mined.
        Nothing executes until :meth:`mine`.

        ``later=True`` lets a backend sign in the background: it may return
        a provisional handle instead of the hash. The transaction is signed by
        the next :meth:`mine`, :meth:`pending` or :meth:`snapshot` at the
        latest; :meth:`signed` then maps the handle to its hash, which is what
        every other method takes and returns.
        """

    def signed(self) -> dict[bytes, bytes]:
        """Handles given by ``send(later=True)`` whose transactions were signed since the
        last call, mapped to their hashes ({} for a backend that always signs at once)."""
        return {}

    @abc.abstractmethod
    def send_raw(self, raw_tx: bytes) -> bytes:
        """Queue an already signed, RLP-encoded transaction; return its hash (for replay)."""

    @abc.abstractmethod
    def call(self, to: bytes, data: bytes, *, sender: bytes | None = None) -> bytes:
        """Execute a read-only call against the head state; return the output.

        Raises :class:`sim.errors.TransactionReverted` with the decoded reason.
        """

    @abc.abstractmethod
    def pending(self) -> Sequence[bytes]:
        """Hashes of the transactions waiting in the mempool, in arrival order."""

    def transact(
        self,
        sender: Account,
        to: bytes | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
        timestamp: int | None = None,
    ) -> Receipt:
        """Send one transaction and mine it at once (for the tour, gas table and tests)."""
        tx_hash = self.send(sender, to, data, value=value, gas=gas, estimate_at=timestamp)
        block = self.mine(timestamp)
        for receipt in block.receipts:
            if receipt.tx_hash == tx_hash:
                return receipt
        from sim.errors import ChainError

        raise ChainError(f"transaction 0x{tx_hash.hex()} was not included in block {block.number}")

    # -- blocks -----------------------------------------------------------
    @abc.abstractmethod
    def mine(self, timestamp: int | None = None) -> Block:
        """Mine one block holding pending transactions in arrival order up to the gas limit.

        Transactions that do not fit stay in the mempool for the next block.
        ``timestamp`` defaults to the previous block's plus one second and must
        be greater than it.
        """

    @abc.abstractmethod
    def block(self, number: int) -> Block:
        """The mined block ``number`` with its receipts (:class:`sim.errors.ChainError` if none)."""

    @abc.abstractmethod
    def receipt(self, tx_hash: bytes) -> Receipt:
        """The receipt of a mined transaction (:class:`sim.errors.ChainError` if unknown)."""

    @abc.abstractmethod
    def raw_transaction(self, tx_hash: bytes) -> bytes:
        """The signed, RLP-encoded bytes of a transaction this chain has seen."""

    #: The oldest block whose receipts and transactions this chain still holds.
    oldest_block: int = 0

    def forget_history(self, before: int) -> None:
        """Let go of the receipts and transactions of blocks before ``before``.

        Long runs that read each block once, as it is mined, call this to
        keep memory flat; asking for a forgotten block, receipt or
        transaction then raises :class:`sim.errors.ChainError`. The state,
        the head and the state roots are unaffected. A backend may keep
        everything (the default, and what a node behind ``rpc`` does).
        """
        del before  # keeping everything is always allowed

    @abc.abstractmethod
    def get_logs(
        self,
        *,
        address: bytes | None = None,
        topic0: bytes | None = None,
        from_block: int = 0,
        to_block: int | None = None,
    ) -> list[Log]:
        """Logs of mined blocks, filtered by emitter and first topic, in chain order."""

    @property
    @abc.abstractmethod
    def block_number(self) -> int:
        """Number of the head block (genesis is 0)."""

    @property
    @abc.abstractmethod
    def block_gas_limit(self) -> int:
        """The gas limit of every block."""

    # -- time -------------------------------------------------------------
    @property
    @abc.abstractmethod
    def timestamp(self) -> int:
        """Timestamp of the head block (seconds since the epoch)."""

    # -- state ------------------------------------------------------------
    @abc.abstractmethod
    def state_root(self) -> bytes:
        """The state root of the head block (32 bytes)."""

    @abc.abstractmethod
    def storage_at(self, address: bytes, slot: int) -> int:
        """The value of storage ``slot`` of ``address`` at the head."""

    @abc.abstractmethod
    def code_at(self, address: bytes) -> bytes:
        """The runtime code of ``address`` at the head."""

    @abc.abstractmethod
    def state_blobs(self) -> Iterable[bytes]:
        """Every value the chain's state holds (code, storage words, or whole trie nodes), for
        privacy scans; a backend may give more (headers).

        Raises :class:`~sim.errors.StateUnavailable` when the node does not
        expose its state (an RPC node without a state dump), and
        :class:`~sim.errors.ChainError` when the backend cannot reach it:
        never an empty answer in place of the state.
        """

    @abc.abstractmethod
    def snapshot(self) -> object:
        """An opaque handle to the current head and mempool, for :meth:`revert`."""

    @abc.abstractmethod
    def revert(self, snapshot: object) -> None:
        """Return the chain to ``snapshot``: later blocks and queued transactions are dropped."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing outside the process
        """Stop what the backend runs beside this process (a worker); the chain is then unusable."""

    @contextmanager
    def anchor(self) -> Iterator[None]:
        """Run the ``with`` body, then roll the chain back to where it was (titanoboa's anchor)."""
        snap = self.snapshot()
        try:
            yield
        finally:
            self.revert(snap)
