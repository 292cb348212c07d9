"""The chain in simulated time: a mempool filled by the actors, blocks every block time.

Actors ``yield from driver.transact(call)``: the signed transaction waits in
the mempool until the next block slot, the block producer mines it (with the
block gas limit: what does not fit waits for the next slot), and the actor
resumes with its :class:`~sim.protocol.outcome.Outcome`. Only slots with
pending transactions produce a block, so a quiet simulated year costs
nothing; block timestamps are always ``start + k * block_time``.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import simpy

from sim.chain import Block, Chain
from sim.engine.accounting import Accounts
from sim.engine.trace import TraceWriter, logs_hash
from sim.errors import ChainError
from sim.hashing import keccak256 as keccak
from sim.protocol.outcome import Outcome
from sim.protocol.protocol import Call, Protocol


@dataclass
class OpStats:
    """Gas and confirmation latency of one operation over a run."""

    # compact arrays: a city-year has over a million transactions
    gas: array[int] = field(default_factory=lambda: array("q"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    overhead: array[int] = field(default_factory=lambda: array("q"))  # gas above the floor
    reverted: int = 0


class ChainDriver:
    """Drives one chain from SimPy; see the module docstring."""

    def __init__(self, env: simpy.Environment, protocol: Protocol, trace: TraceWriter, *,
                 start_timestamp: int, block_time: int, history: int | None = None,
                 gas_limits: dict[str, int] | None = None,
                 accounts: Accounts | None = None) -> None:
        """Drive ``protocol``'s chain.

        ``history``: blocks of receipts the chain keeps (None: all).
        ``gas_limits``: operation -> gas limit to sign with instead of estimating.
        ``accounts``: where ordinary transactions are accounted (confirmed or reverted).
        """
        self.env = env
        self.protocol = protocol
        self.chain: Chain = protocol.chain
        self.trace = trace
        self.start = start_timestamp
        self.block_time = block_time
        self.history = history
        self.gas_limits = gas_limits or {}
        self._pending: dict[bytes, tuple[Call, simpy.Event, float, str | None]] = {}
        self._wakeup = env.event()
        self.ops: dict[str, OpStats] = {}
        #: Every ordinary transaction (not an attack's forbidden step) is accounted here.
        self.accounts = accounts if accounts is not None else Accounts({})
        self.txs = 0
        self.reverted = 0
        #: Gas of the deployment's transactions (mined before the simulation starts).
        self.setup_gas = 0
        #: Called with each block as mined (with a chain that ``defers_roots``, its root and
        #: hash are not known yet: ``chain.block(number)`` waits for them).
        self.on_block: list[Callable[[Block], None]] = []
        #: Every raw transaction and log the chain mined, spooled to disk for the
        #: privacy check at the end (the chain itself need not keep its history);
        #: closed by close().
        self._chain_bytes: IO[bytes] = tempfile.TemporaryFile(prefix="pmrsim-chain-")  # noqa: SIM115
        env.process(self._produce())

    # -- actors -----------------------------------------------------------
    def next_slot(self) -> int:
        """Timestamp of the next block slot."""
        k = int(self.env.now // self.block_time) + 1
        return self.start + k * self.block_time

    def submit(self, call: Call, *, attack: str | None = None) -> simpy.Event:
        """Queue ``call`` as a signed transaction; the event fires with its Outcome when mined.

        ``attack``: the kind of attack this transaction is a forbidden step of (its
        outcome is judged by the attack); otherwise it is an ordinary operation,
        accounted as confirmed or reverted.
        """
        done = self.env.event()
        try:
            limit = self.gas_limits.get(call.op.split(" (")[0])
            if limit is None:
                tx_hash = self.chain.send(call.sender, call.to, call.calldata,
                                          estimate_at=self.next_slot(), later=True)
            else:
                tx_hash = self.chain.send(call.sender, call.to, call.calldata, gas=limit,
                                          later=True)
        except ChainError as exc:
            if attack is None:
                self.accounts.unsent(call.op, f"t={self.env.now:.0f}: {exc}")
            done.fail(exc)
            return done
        self._pending[tx_hash] = (call, done, self.env.now, attack)
        if not self._wakeup.triggered:
            self._wakeup.succeed()
        return done

    def transact(self, call: Call, *, attack: str | None = None
                 ) -> Generator[simpy.Event, Any, Outcome]:
        """``outcome = yield from driver.transact(call)``: submit and wait for the block."""
        outcome: Outcome = yield self.submit(call, attack=attack)
        return outcome

    def view(self, contract: str, fn: str, *args: Any) -> Any:
        """Read-only call at a head block at most one block time old (the chain as seen now)."""
        self.ensure_fresh_head()
        return self.protocol.view(contract, fn, *args)

    def ensure_fresh_head(self) -> None:
        """Mine an empty block at the current slot when the chain has been quiet.

        A live chain produces a block every slot; the simulation skips empty
        ones, so before anyone reads the chain's notion of "now" (grant
        expiry) the head is brought up to the latest slot.
        """
        slot = self.start + int(self.env.now // self.block_time) * self.block_time
        if not self._pending and slot > self.chain.timestamp:
            self._mine(slot)

    # -- block producer ---------------------------------------------------
    def _produce(self) -> Generator[simpy.Event, Any, None]:
        while True:
            if not self._pending:
                self._wakeup = self.env.event()
                yield self._wakeup
            slot = self.next_slot()
            yield self.env.timeout(slot - self.start - self.env.now)
            self._mine(slot)

    def _mine(self, timestamp: int) -> None:
        trace = self.trace
        if trace.held > HELD_BLOCKS or trace.waiting > HELD_LINES:
            trace.release(keep=trace.held // 2)  # blocks whose roots are long computed
        block = self.chain.mine(timestamp)
        pending = self._pending
        for handle, tx_hash in self.chain.signed().items():  # sent with later=True
            pending[tx_hash] = pending.pop(handle)
        now = self.env.now
        for receipt in block.receipts:
            call, done, submitted, attack = pending.pop(receipt.tx_hash)
            outcome = self.protocol.finish(call, receipt)
            self._record(outcome, submitted, now)
            if attack is None:
                self.accounts.tx(outcome.op, receipt.ok, f"block {receipt.block_number}, "
                                 f"t={now:.0f}, {outcome.sender}: {outcome.reason}")
            done.succeed(outcome)
        if self.chain.defers_roots:
            number = block.number
            self.trace.hold("block", now, lambda: _block_fields(self.chain.block(number)))
        else:
            self.trace.write("block", now, **_block_fields(block))
        for hook in self.on_block:
            hook(block)
        if self.history is not None and block.number % self.history == 0:
            # every block was read as it was mined: the chain can let go of old ones
            self.chain.forget_history(block.number - self.history)

    def _record(self, outcome: Outcome, submitted: float, now: float) -> None:
        r = outcome.receipt
        stats = self.ops.setdefault(outcome.op, OpStats())
        self.txs += 1
        latency = round(now - submitted, 3)  # as the trace has it (the summary re-derives)
        if r.ok:
            stats.gas.append(r.gas_used)
            stats.latency.append(latency)
            stats.overhead.append(r.gas_used - outcome.floor)
        else:
            stats.reverted += 1
            self.reverted += 1
        raw = self.chain.raw_transaction(r.tx_hash)
        self._spool(raw, r)
        self.trace.tx(now, block=r.block_number, op=outcome.op, sender=outcome.sender,
                      status=r.status, gas=r.gas_used, reason=outcome.reason, tx_hash=r.tx_hash,
                      submitted=round(submitted, 3), latency=latency,
                      logs=logs_hash(r), raw=raw)

    def _spool(self, raw: bytes, receipt: Any) -> None:
        parts = [raw]
        for log in receipt.logs:
            parts.append(log.data)
            parts.extend(log.topics)
        parts.append(b"")
        self._chain_bytes.write(b"\x00".join(parts))

    def chain_bytes(self, size: int = 8 << 20) -> Iterator[bytes]:
        """Every raw transaction and log mined so far (0-separated), in pieces of ``size``."""
        fh = self._chain_bytes
        fh.flush()
        fh.seek(0)
        while piece := fh.read(size):
            yield piece
        fh.seek(0, 2)

    def close(self) -> None:
        """Delete the spooled chain bytes."""
        self._chain_bytes.close()

    def record_setup_blocks(self) -> None:
        """Trace the blocks mined before the simulation (deployment), for replay."""
        for number in range(1, self.chain.block_number + 1):
            block = self.chain.block(number)
            for r in block.receipts:
                self.setup_gas += r.gas_used
                self.accounts.tx("deploy" if r.to is None else "setup", r.ok,
                                 f"block {number}: {r.revert_reason}")
                raw = self.chain.raw_transaction(r.tx_hash)
                self._spool(raw, r)
                self.trace.tx(0.0, block=number, op="deploy" if r.to is None else "setup",
                              sender="admin", status=r.status, gas=r.gas_used,
                              reason=r.revert_reason or "", tx_hash=r.tx_hash, submitted=0.0,
                              latency=0.0, logs=logs_hash(r), raw=raw)
            self.trace.write("block", 0.0, **_block_fields(block))


#: Blocks whose trace lines may wait for their state roots (a chain that ``defers_roots``):
#: when more are held, the lines of the older half go out. Their roots were sent to the
#: worker (in batches of 16) long before, so the simulation waits for it only if it falls
#: that far behind.
HELD_BLOCKS = 128
#: ... or when this many trace lines wait behind them (full blocks: ~1.3 KB a line).
HELD_LINES = 50_000


def _block_fields(block: Block) -> dict[str, Any]:
    """The fields of a block's trace record.

    ``txs_hash`` (keccak256 of the block's transaction hashes, in block order)
    pins the order of the transactions on every backend; ``hash`` is the
    block hash, which only a replay on the same backend can compare (revm
    builds its headers differently).
    """
    return {"number": block.number, "timestamp": block.timestamp, "gas_used": block.gas_used,
            "gas_limit": block.gas_limit, "txs": len(block.receipts),
            "txs_hash": txs_hash(block), "hash": "0x" + block.block_hash.hex(),
            "state_root": "0x" + block.state_root.hex()}


def txs_hash(block: Block) -> str:
    """keccak256 of the block's transaction hashes in block order, as ``0x`` hex."""
    return "0x" + keccak(b"".join(r.tx_hash for r in block.receipts)).hex()


def table_gas_limits(layout: str, token: str, block_gas_limit: int) -> dict[str, int]:
    """Gas limits per operation from the committed gas table: 1.5 x the most it used, plus 30,000.

    Operations whose gas depends on their data (the paper layout's strings)
    are left out, and so estimated. The margin covers what the table's
    figures leave out: a slot written for the first time (17,100 more) and
    calldata of other sizes.
    """
    from sim.gas import BASELINE_PATH, load_baseline

    most: dict[str, int] = {}
    for (row_layout, row_token, operation), gas in load_baseline(BASELINE_PATH).items():
        if row_layout != layout or row_token != token or "_paper" in operation:
            continue
        op = operation.split(" (")[0]  # "PMRToken.mint (later visit)" -> "PMRToken.mint"
        most[op] = max(most.get(op, 0), gas)
    return {op: min(block_gas_limit, gas + gas // 2 + 30_000) for op, gas in most.items()}
