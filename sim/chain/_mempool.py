"""The mempool half every backend shares: keys, the :meth:`Chain.send` template, the queue checks.

:class:`Mempool` implements :meth:`Chain.account`, :meth:`Chain.nonce`,
:meth:`Chain.pending` and :meth:`Chain.send` (nonce, fee cap, optional gas
estimate, sign, queue) over what a backend keeps: ``_seed``, ``_accounts``,
``_txs`` (queued and mined transactions by hash), ``_mempool`` (hashes still
pending), ``_mempool_gas`` (sum of their gas limits), ``_nonces`` (next nonce
of each sender with queued transactions) and ``dropped``. :meth:`_queue`
checks a transaction by pyevm's rules (nonce, gas against the block gas limit
and the intrinsic gas, funds) and appends it. A backend says how through the
hooks: how it signs, reads its transaction type, the fee cap, the head's
nonce and a sender's funds, estimates, and what queuing does to its pending
state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from sim.chain.base import Account
from sim.chain.keys import derive_account, seed_bytes
from sim.errors import ChainError, InputError, OutOfGas
from sim.hashing import checksum_address

#: Priority fee (tip) of every transaction the in-process backends sign: 1 gwei.
PRIORITY_FEE = 10**9
#: Extra gas added to a trial execution's consumption to make a gas limit.
GAS_MARGIN = 5_000


@dataclass(frozen=True, eq=False)
class PoolSnapshot:
    """What an in-process backend's ``revert`` restores (compared by identity, so a backend
    can keep live ones in a weak set)."""

    head_number: int
    head_hash: bytes
    mempool: tuple[bytes, ...]
    nonces: tuple[tuple[bytes, int], ...]
    funds: tuple[tuple[bytes, int], ...]


class QueuedTx(Protocol):
    """The fields of a signed transaction the queue checks read."""

    @property
    def nonce(self) -> int:
        """The transaction's nonce."""

    @property
    def gas(self) -> int:
        """Its gas limit."""

    @property
    def intrinsic_gas(self) -> int:
        """The gas it costs before executing anything."""

    @property
    def max_fee_per_gas(self) -> int:
        """Its fee cap."""

    @property
    def value(self) -> int:
        """The wei it sends."""


TxT = TypeVar("TxT", bound=QueuedTx)


class Mempool(Generic[TxT]):
    """Keys, :meth:`send` and :meth:`_queue` over a backend's mempool (see the module)."""

    _seed: bytes
    _gas_limit: int
    _accounts: dict[str, Account]
    _txs: dict[bytes, TxT]
    _mempool: list[bytes]
    _mempool_gas: int
    _nonces: dict[bytes, int]
    dropped: dict[bytes, str]

    def _init_chain(self, seed: int | bytes, block_gas_limit: int, genesis_timestamp: int) -> None:
        """Check an in-process chain's genesis parameters; set its seed, gas limit and mempool."""
        self._seed = seed_bytes(seed)
        if block_gas_limit < 5_000 or genesis_timestamp < 0:
            raise InputError("block_gas_limit must be >= 5000 and genesis_timestamp >= 0")
        self._gas_limit = block_gas_limit
        self._init_mempool()

    def _init_mempool(self) -> None:
        """Start with no accounts, transactions or drops."""
        self._accounts = {}
        self._txs = {}
        self._mempool = []
        self._mempool_gas = 0  # sum of the queued gas limits
        self._nonces = {}
        self.dropped = {}

    if TYPE_CHECKING:

        @property
        def timestamp(self) -> int:
            """Timestamp of the head block (the backend's)."""

    # -- accounts ---------------------------------------------------------
    def account(self, label: str) -> Account:
        """The account for ``label`` (cached; the same keys on every backend: :mod:`sim.chain.keys`)."""
        acct = self._accounts.get(label)
        if acct is None:
            acct = self._accounts[label] = derive_account(self._seed, label)
        return acct

    def nonce(self, address: bytes) -> int:
        """The next nonce of ``address``, counting the mempool."""
        nonce = self._nonces.get(address)
        if nonce is None:
            nonce = self._head_nonce(address)
        return nonce

    def _head_nonce(self, address: bytes) -> int:
        """Hook: the nonce of ``address`` without queued transactions."""
        raise NotImplementedError

    # -- execution --------------------------------------------------------
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
        """Sign an EIP-1559 transaction and queue it (see :meth:`Chain.send`)."""
        nonce = self.nonce(sender.address)
        max_fee = self._max_fee()
        tried = gas is None
        if gas is None:
            if estimate_at is not None:
                self._set_pending_timestamp(estimate_at)
            gas = self._estimate(sender.address, nonce, to, data, value, max_fee, estimate_at)
        sign = self._sign_later if later else self._sign
        tx, raw = sign(sender, nonce, max_fee, gas, to, value, data)
        return self._queue(tx, raw, already_applied=tried)

    def pending(self) -> tuple[bytes, ...]:
        """Hashes of queued transactions, in arrival order."""
        return tuple(self._mempool)

    def _set_pending_timestamp(self, timestamp: int) -> None:
        """Refuse an ``estimate_at`` not after the head (a backend also re-stamps its pending state)."""
        if not isinstance(timestamp, int) or timestamp <= self.timestamp:
            raise InputError(f"estimate_at must be an int after the head's {self.timestamp}")

    def _max_fee(self) -> int:
        """Hook: the fee cap of the next transaction signed."""
        raise NotImplementedError

    def _estimate(
        self, sender: bytes, nonce: int, to: bytes | None, data: bytes, value: int, max_fee: int,
        at: int | None,
    ) -> int:
        """Hook: the gas limit of a transaction (``at``: ``estimate_at``, checked and set already)."""
        raise NotImplementedError

    def _sign(
        self, sender: Account, nonce: int, max_fee: int, gas: int, to: bytes | None, value: int,
        data: bytes,
    ) -> tuple[TxT, bytes]:
        """Hook: sign an EIP-1559 transaction; return it and its bytes."""
        raise NotImplementedError

    def _sign_later(
        self, sender: Account, nonce: int, max_fee: int, gas: int, to: bytes | None, value: int,
        data: bytes,
    ) -> tuple[TxT, bytes]:
        """Hook: ``send(later=True)``'s transaction, which a backend may sign in the background
        (see :meth:`Chain.send`); here it is signed at once."""
        return self._sign(sender, nonce, max_fee, gas, to, value, data)

    def _queue(self, tx: TxT, raw: bytes, *, already_applied: bool) -> bytes:
        """Check nonce, gas and funds of ``tx``, then append it to the mempool.

        ``already_applied``: ``tx`` is the run of a gas estimate, so its funds
        were checked and it is in the pending state already.
        """
        sender, tx_hash = self._identify(tx)
        expected = self.nonce(sender)
        if tx.nonce != expected:
            raise ChainError(
                f"nonce {tx.nonce} of {hex_addr(sender)} is wrong: next nonce is {expected}"
            )
        gas = tx.gas
        if gas > self._gas_limit:
            raise OutOfGas(f"gas limit {gas} exceeds the block gas limit {self._gas_limit}")
        if gas < tx.intrinsic_gas:
            raise OutOfGas(f"gas limit {gas} is below the intrinsic gas {tx.intrinsic_gas}")
        if not already_applied:
            have = self._funds_of(sender)
            cost = gas * tx.max_fee_per_gas + tx.value
            if have < cost:
                raise ChainError(
                    f"insufficient funds: {hex_addr(sender)} has {have} wei, "
                    f"transaction may cost {cost}"
                )
            self._queue_pending(tx)
        self._store(tx, tx_hash, raw, already_applied)
        self._mempool.append(tx_hash)
        self._mempool_gas += gas
        self._nonces[sender] = expected + 1
        return tx_hash

    def _identify(self, tx: TxT) -> tuple[bytes, bytes]:
        """Hook: the sender and hash of ``tx``."""
        raise NotImplementedError

    def _funds_of(self, sender: bytes) -> int:
        """Hook: the balance ``sender`` pays a queued transaction from (pending, where kept)."""
        raise NotImplementedError

    def _queue_pending(self, tx: TxT) -> None:
        """Hook: apply a funded ``tx`` to the pending state, where one is kept (ChainError if invalid)."""

    def _store(self, tx: TxT, tx_hash: bytes, raw: bytes, already_applied: bool) -> None:
        """Hook: keep a checked transaction (by default in ``_txs``) before it joins the mempool."""
        self._txs[tx_hash] = tx

    def _remove(self, done: set[bytes]) -> None:
        """Take the hashes in ``done`` (mined or dropped) out of the mempool."""
        self._mempool = [h for h in self._mempool if h not in done]
        self._mempool_gas = sum(self._txs[h].gas for h in self._mempool)

    def _restore_mempool(self, mempool: tuple[bytes, ...], nonces: tuple[tuple[bytes, int], ...]) -> None:
        """Put back a snapshot's mempool and nonces."""
        self._mempool = list(mempool)
        self._mempool_gas = sum(self._txs[h].gas for h in self._mempool)
        self._nonces = dict(nonces)

    def _drop(self, tx_hash: bytes, sender: bytes, reason: str) -> None:
        """Record a transaction refused at mining (its sender's nonce is read afresh)."""
        self.dropped[tx_hash] = reason
        self._nonces.pop(sender, None)

    # -- blocks -----------------------------------------------------------
    @staticmethod
    def _check_block_timestamp(timestamp: int | None, head_timestamp: int) -> None:
        """Refuse a block ``timestamp`` that is not an int after the head's (None: head + 1)."""
        if timestamp is not None and not isinstance(timestamp, int):
            raise InputError(f"block timestamp must be an int (seconds), got {timestamp!r}")
        if timestamp is not None and timestamp <= head_timestamp:
            raise ChainError(
                f"block timestamp {timestamp} must be greater than the head's {head_timestamp}"
            )


def hex_addr(address: bytes) -> str:
    """Checksummed form of a 20-byte address, for messages."""
    return checksum_address(address)
