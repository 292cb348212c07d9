"""Any Ethereum node over JSON-RPC (web3's HTTP provider) behind the Chain interface.

Tested against a local anvil (:mod:`sim.chain.anvil`). The node must run
Cancun with chain id 31337 and let this class mine: the standard API has no
such control, so anvil's (hardhat-compatible) methods are used:

=================================  ==================================================
``evm_setAutomine``                off, so transactions wait in the node's pool
``evm_mine``                       one block at the caller's timestamp
``anvil_setBalance``               :meth:`RpcChain.fund` (``hardhat_setBalance`` fallback)
``anvil_setNextBlockBaseFeePerGas``  each block's base fee set to the one py-evm
                                   computes from the parent (best effort), so fees,
                                   fee caps and signed bytes equal pyevm's
``evm_snapshot`` / ``evm_revert``  :meth:`snapshot` / :meth:`revert`, and undoing a
                                   block packed differently from pyevm (see :meth:`mine`)
``anvil_dropAllTransactions``      empties the pool on revert; the pending
                                   transactions are then sent again
``debug_traceCall``                gas estimation on the pending block at
                                   ``estimate_at`` (pyevm's rule: used + 25% + margin;
                                   ``eth_estimateGas`` if the node cannot trace)
``debug_traceTransaction``         return data and revert reason of a mined
                                   transaction (receipts carry neither)
=================================  ==================================================

Transactions are signed locally exactly as the pyevm backend signs them
(:func:`sim.chain._pyevm_support.sign_transaction`) and sent with
``eth_sendRawTransaction`` when queued; the node orders its pool first in,
first out (anvil ``--order fifo``).

What agrees with pyevm, checked by the tests: per-transaction status, gas
used, logs, revert reasons, return data, the signed bytes (so transaction
hashes), block packing, balances and nonces, and a queued transaction the
node refuses when mining is dropped (``dropped``) as pyevm drops it (not
detected in a block the queue over-fills). ``state_root`` is the head
block's ``stateRoot``: equal to pyevm's until a transaction writes zero into
an empty storage slot, which anvil 1.7.1 keeps in its storage trie (py-evm
and the trie rules leave it out); from then on the roots differ. Block hashes
differ (anvil stamps a random prevrandao). Gas *limits* can differ from
pyevm's when refunds occur: the trace reports gas used after the refund,
pyevm's trial before it (the +25% still covers the refund, at most 20%).

:meth:`state_blobs` reads the node's state from anvil's ``anvil_dumpState``
(gzipped JSON: every account's code and storage); a node without it raises
:class:`~sim.errors.StateUnavailable`, as its database is not otherwise
readable over JSON-RPC (the PII invariant then scans inputs and logs only, and
says so in the run's summary). This class assumes
it is the only client driving the node (it caches the head).
``genesis_timestamp`` cannot be set over RPC: start the node with it
(:func:`sim.chain.anvil.start_anvil` does).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, replace
from typing import Any, cast

from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_typing import Address
from eth_utils import to_checksum_address

from sim.chain import _pyevm_support as sup
from sim.chain._mempool import GAS_MARGIN, PRIORITY_FEE
from sim.chain._pyevm_support import next_max_fee
from sim.chain.abi import decode_revert_reason
from sim.chain.base import (
    CHAIN_ID,
    DEFAULT_BLOCK_GAS_LIMIT,
    DEFAULT_FUNDING_WEI,
    DEFAULT_GENESIS_TIMESTAMP,
    Block,
    Chain,
    Log,
    Receipt,
)
from sim.chain.keys import seed_bytes
from sim.errors import ChainError, InputError, StateUnavailable, TransactionReverted

#: JSON-RPC error code of "method not found".
METHOD_NOT_FOUND = -32601
#: JSON-RPC error code of "method not supported" (EIP-1474).
METHOD_NOT_SUPPORTED = -32004
#: Names of EVM halts as nodes report them -> py-evm's exception names (pyevm's reasons).
HALT_NAMES = {
    "OutOfGas": "OutOfGas",
    "out of gas": "OutOfGas",
    "InvalidFEOpcode": "InvalidInstruction",
    "invalid opcode: INVALID": "InvalidInstruction",
    "OpcodeNotFound": "InvalidInstruction",
    "StackUnderflow": "InsufficientStack",
    "StackOverflow": "FullStack",
    "InvalidJump": "InvalidJumpDestination",
}


class RpcError(ChainError):
    """The node answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


@dataclass(frozen=True)
class _FeeHeader:
    """The three header fields py-evm's base-fee formula reads."""

    gas_used: int
    gas_limit: int
    base_fee_per_gas: int


@dataclass(frozen=True)
class _Snapshot:
    """What :meth:`RpcChain.revert` restores."""

    token: int
    head_number: int
    head_hash: bytes
    mempool: tuple[bytes, ...]
    nonces: tuple[tuple[bytes, int], ...]


def _int(value: Any) -> int:
    """A JSON-RPC quantity (``"0x.."``) as an int."""
    return value if isinstance(value, int) else int(value, 16)


def _bytes(value: str | None) -> bytes:
    """JSON-RPC data (``"0x.."``) as bytes."""
    return b"" if not value else bytes.fromhex(value[2:])


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _addr(address: bytes) -> str:
    return str(to_checksum_address(address))


def node_head_timestamp(url: str, timeout: float = 10.0) -> int:
    """The timestamp of the head block of the node at ``url`` (ChainError if it cannot be read)."""
    from web3 import HTTPProvider
    from web3.exceptions import Web3Exception

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InputError(f"--rpc-url {url!r}: expected an http:// or https:// URL")
    try:
        answer = HTTPProvider(url, request_kwargs={"timeout": timeout}).make_request(
            cast(Any, "eth_getBlockByNumber"), ["latest", False])
        return _int(answer["result"]["timestamp"])
    except (OSError, ValueError, KeyError, TypeError, Web3Exception) as exc:
        raise ChainError(f"cannot read the head block of the node at {url}: {exc}") from exc


class RpcChain(sup.PyEvmTxs, Chain):
    """A node at ``url`` driven over JSON-RPC; see the module docstring.

    ``dropped`` maps the hash of each queued transaction the node refused when
    mining to the reason. Keys, sending and the queue checks:
    :class:`~sim.chain._mempool.Mempool`; signing as pyevm:
    :class:`~sim.chain._pyevm_support.PyEvmTxs`.
    """

    name = "rpc"

    def __init__(
        self,
        url: str,
        seed: int | bytes,
        *,
        block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
        genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
        timeout: float = 60.0,
    ) -> None:
        from web3 import HTTPProvider

        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InputError(f"--rpc-url {url!r}: expected an http:// or https:// URL")
        if block_gas_limit < 5_000:
            raise InputError("block_gas_limit must be >= 5000")
        self.url = url
        self._provider = HTTPProvider(url, request_kwargs={"timeout": timeout})
        self._seed = seed_bytes(seed)
        self._genesis_timestamp = genesis_timestamp
        chain_id = _int(self._rpc("eth_chainId", []))
        if chain_id != CHAIN_ID:
            raise ChainError(f"node at {url} has chain id {chain_id}, pmrsim signs for {CHAIN_ID}")
        self._control("evm_setAutomine", [False])
        head = self._node_block("latest")
        if _int(head["gasLimit"]) != block_gas_limit:
            self._optional("anvil_setBlockGasLimit", [hex(block_gas_limit)])
        self._gas_limit = block_gas_limit
        self._can_set_base_fee = True
        self._head = self._record(head)
        self._head_fees = self._fees_of(head)
        self._blocks: dict[int, Block] = {self._head.number: self._head}
        self._receipts: dict[bytes, Receipt] = {}
        self._raw: dict[bytes, bytes] = {}
        self._init_mempool()
        self._node_snaps: dict[int, str] = {}  # live snapshots: our token -> the node's id
        self._snap_counter = 0

    def close(self) -> None:
        """Let go of the blocks, receipts and raw transactions read or sent (the node runs on)."""
        self._blocks = {}
        self._receipts = {}
        self._raw = {}
        self._head = replace(self._head, receipts=())

    def set_automine(self, on: bool) -> bool:
        """Turn the node's own mining on or off (on again when handing the node back).

        Returns False when the node does not support it. While on, :meth:`mine`
        and gas estimation on the pending block do not behave as documented.
        """
        return self._optional("evm_setAutomine", [bool(on)])

    # -- JSON-RPC -----------------------------------------------------------
    def _rpc(self, method: str, params: list[Any]) -> Any:
        """Call ``method``; raise :class:`RpcError` on an error answer, ChainError if unreachable."""
        from web3.exceptions import Web3Exception

        try:
            response = self._provider.make_request(cast(Any, method), params)
        except (OSError, ValueError, Web3Exception) as exc:
            raise ChainError(f"cannot reach the node at {self.url}: {exc}") from exc
        error = response.get("error")
        if error is not None:
            if isinstance(error, dict):
                raise RpcError(
                    method, int(error.get("code", 0)), str(error.get("message", "")), error.get("data")
                )
            raise RpcError(method, 0, str(error))
        return response.get("result")

    def _control(self, method: str, params: list[Any]) -> Any:
        """A node-control call this backend cannot work without."""
        try:
            return self._rpc(method, params)
        except RpcError as exc:
            raise ChainError(
                f"the node at {self.url} does not support {method} ({exc.message}); "
                "the rpc backend needs an anvil- or hardhat-compatible node"
            ) from exc

    def _optional(self, method: str, params: list[Any]) -> bool:
        """A node-control call that may be missing; True when it worked."""
        try:
            self._rpc(method, params)
        except RpcError:
            return False
        return True

    def _node_block(self, tag: str | int) -> dict[str, Any]:
        """``eth_getBlockByNumber`` (transaction hashes only); ChainError if absent."""
        block = self._rpc("eth_getBlockByNumber", [tag if isinstance(tag, str) else hex(tag), False])
        if block is None:
            raise ChainError(f"no block {tag} on the node")
        return cast(dict[str, Any], block)

    @staticmethod
    def _fees_of(block: dict[str, Any]) -> _FeeHeader:
        return _FeeHeader(
            _int(block["gasUsed"]), _int(block["gasLimit"]), _int(block.get("baseFeePerGas") or 0)
        )

    def _record(self, block: dict[str, Any], receipts: tuple[Receipt, ...] = ()) -> Block:
        return Block(
            number=_int(block["number"]),
            timestamp=_int(block["timestamp"]),
            gas_used=_int(block["gasUsed"]),
            gas_limit=_int(block["gasLimit"]),
            state_root=_bytes(block["stateRoot"]),
            block_hash=_bytes(block["hash"]),
            receipts=receipts,
        )

    # -- accounts ---------------------------------------------------------
    def fund(self, address: bytes, wei: int = DEFAULT_FUNDING_WEI) -> None:
        """Set the balance at once with ``anvil_setBalance`` (or ``hardhat_setBalance``)."""
        if wei < 0:
            raise InputError(f"balance must be >= 0, got {wei}")
        params = [_addr(address), hex(wei)]
        if not self._optional("anvil_setBalance", params):
            self._control("hardhat_setBalance", params)

    def balance(self, address: bytes) -> int:
        """The balance at the head (funding included: it is written at once)."""
        return _int(self._rpc("eth_getBalance", [_addr(address), "latest"]))

    def _head_nonce(self, address: bytes) -> int:
        """The node's next nonce of ``address``, counting its pool."""
        return _int(self._rpc("eth_getTransactionCount", [_addr(address), "pending"]))

    # -- execution --------------------------------------------------------
    def _max_fee(self) -> int:
        """pyevm's fee cap (:func:`~sim.chain._pyevm_support.next_max_fee`) on the head."""
        return next_max_fee(cast(BlockHeaderAPI, self._head_fees), self._mempool_gas, self._gas_limit)

    def send_raw(self, raw_tx: bytes) -> bytes:
        """Check a signed transaction locally, then send it to the node's pool."""
        return self._queue(sup.decode_signed(bytes(raw_tx)), bytes(raw_tx), already_applied=False)

    def _funds_of(self, sender: bytes) -> int:
        """``sender``'s balance on the node's pending block."""
        return _int(self._rpc("eth_getBalance", [_addr(sender), "pending"]))

    def _store(self, tx: SignedTransactionAPI, tx_hash: bytes, raw: bytes, already_applied: bool) -> None:
        """``eth_sendRawTransaction`` (the node must hash it as we do), then keep it."""
        try:
            sent = _bytes(self._rpc("eth_sendRawTransaction", [_hex(raw)]))
        except RpcError as exc:
            raise ChainError(f"the node refused transaction 0x{tx_hash.hex()}: {exc.message}") from exc
        if sent != tx_hash:
            raise ChainError(f"the node hashed transaction 0x{tx_hash.hex()} as 0x{sent.hex()}")
        self._txs[tx_hash] = tx
        self._raw[tx_hash] = raw

    def _estimate(
        self,
        sender: bytes,
        nonce: int,
        to: bytes | None,
        data: bytes,
        value: int,
        max_fee: int,
        at: int | None,
    ) -> int:
        """pyevm's rule on the node's pending block: trial at the spendable cap; used + 25% + margin."""
        base_fee = calculate_expected_base_fee_per_gas(cast(BlockHeaderAPI, self._head_fees))
        price = min(max_fee, PRIORITY_FEE + base_fee)
        balance = _int(self._rpc("eth_getBalance", [_addr(sender), "pending"]))
        cap = min(self._gas_limit, max(0, balance - value) // max(price, 1))
        unsigned = sup.TX_BUILDER.new_unsigned_dynamic_fee_transaction(
            CHAIN_ID, nonce, PRIORITY_FEE, max_fee, cap, Address(to or b""), value, data, ()
        )
        if cap < unsigned.intrinsic_gas:
            raise ChainError(
                f"insufficient funds: {sup.hex_addr(sender)} cannot pay for the intrinsic gas"
            )
        request: dict[str, Any] = {
            "from": _addr(sender), "data": _hex(data), "value": hex(value), "gas": hex(cap)
        }
        if to is not None:
            request["to"] = _addr(to)
        when = self.timestamp + 1 if at is None else at
        options = {"tracer": "callTracer", "blockOverrides": {"time": hex(when)}}
        try:
            trace = self._rpc("debug_traceCall", [request, "pending", options])
            used = _int(trace["gasUsed"])
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise ChainError(f"cannot estimate gas: {exc.message}") from exc
            try:
                used = _int(self._rpc("eth_estimateGas", [request, "pending"]))
            except RpcError as inner:
                raise ChainError(f"cannot estimate gas: {inner.message}") from inner
        return min(self._gas_limit, used + used // 4 + GAS_MARGIN)

    def call(self, to: bytes, data: bytes, *, sender: bytes | None = None) -> bytes:
        """``eth_call`` at the head, gas-price free; TransactionReverted with the decoded reason."""
        request: dict[str, Any] = {"to": _addr(to), "data": _hex(data), "gas": hex(self._gas_limit)}
        if sender is not None:
            request["from"] = _addr(sender)
        try:
            return _bytes(self._rpc("eth_call", [request, "latest"]))
        except RpcError as exc:
            if isinstance(exc.data, str) and exc.data.startswith("0x"):
                raise TransactionReverted(decode_revert_reason(_bytes(exc.data))) from exc
            if "revert" in exc.message:
                raise TransactionReverted("") from exc
            raise TransactionReverted(self._halt(exc.message)) from exc

    @staticmethod
    def _halt(message: str) -> str:
        """pyevm's ``halt: <Name>`` for a node's description of an exceptional halt."""
        for needle, name in HALT_NAMES.items():
            if needle in message:
                return f"halt: {name}"
        return f"halt: {message}"

    # -- blocks -----------------------------------------------------------
    def mine(self, timestamp: int | None = None) -> Block:
        """``evm_mine`` one block at ``timestamp`` (default head + 1); read back its receipts.

        pyevm's inclusion rule stops at the first queued transaction that does
        not fit the gas left; anvil skips it and goes on with later ones. When
        the queue cannot all fit, a node snapshot is taken first; if the node
        filled the block past such a transaction, the block is undone and
        mined again from the queue's prefix, the rest re-sent to the pool.
        """
        head = self._head
        self._check_block_timestamp(timestamp, head.timestamp)
        when = head.timestamp + 1 if timestamp is None else timestamp
        guard = str(self._control("evm_snapshot", [])) if self._mempool_gas > self._gas_limit else None
        block = self._mine_at(when)
        hashes = [_bytes(h) for h in block["transactions"]]
        if guard is not None and hashes != self._mempool[: len(hashes)]:
            cut = next(i for i, h in enumerate(self._mempool) if i >= len(hashes) or hashes[i] != h)
            if not self._control("evm_revert", [guard]):
                raise ChainError(f"the node refused to revert to its snapshot {guard}")
            self._optional("anvil_dropAllTransactions", [])
            self._resend(self._mempool[:cut])
            block = self._mine_at(when)
            hashes = [_bytes(h) for h in block["transactions"]]
            self._resend([h for h in self._mempool[cut:] if h not in set(hashes)])
        receipts = tuple(self._receipt_from_node(h) for h in hashes)
        included = set(hashes)
        if guard is None:  # everything could fit: what was left out, the node refused
            self._drop_refused(included)
        self._remove(included)
        for receipt in receipts:
            self._receipts[receipt.tx_hash] = receipt
        record = self._record(block, receipts)
        self._blocks[record.number] = record
        self._head = record
        self._head_fees = self._fees_of(block)
        return record

    def _drop_refused(self, included: set[bytes]) -> None:
        """Drop queued transactions the node left out of a block they fitted (as pyevm drops them).

        With them go their senders' later transactions (their nonces no longer follow).
        """
        senders: set[bytes] = set()
        for tx_hash in self._mempool:
            if tx_hash in included:
                continue
            tx = self._txs[tx_hash]
            sender = bytes(tx.sender)
            reason = (
                "an earlier transaction of its sender was dropped"
                if sender in senders
                else "the node refused it when mining"
            )
            senders.add(sender)
            self._drop(tx_hash, sender, reason)
            self._optional("anvil_dropTransaction", [_hex(tx_hash)])
            included.add(tx_hash)  # leaves the mempool too

    def _mine_at(self, when: int) -> dict[str, Any]:
        """Set the next base fee to py-evm's, mine one block at ``when``; return it."""
        if self._can_set_base_fee:
            fee = calculate_expected_base_fee_per_gas(cast(BlockHeaderAPI, self._head_fees))
            self._can_set_base_fee = self._optional("anvil_setNextBlockBaseFeePerGas", [hex(fee)])
        self._control("evm_mine", [{"timestamp": when, "blocks": 1}])
        block = self._node_block("latest")
        number, stamp = _int(block["number"]), _int(block["timestamp"])
        if number != self._head.number + 1 or stamp != when:
            raise ChainError(
                f"the node mined block {number} at {stamp}, "
                f"expected block {self._head.number + 1} at {when}"
            )
        return block

    def _resend(self, hashes: list[bytes]) -> None:
        """Send queued transactions to the node's pool again (after it was emptied)."""
        for tx_hash in hashes:
            try:
                self._rpc("eth_sendRawTransaction", [_hex(self._raw[tx_hash])])
            except RpcError as exc:
                if "already" not in exc.message:
                    raise ChainError(
                        f"cannot restore pending transaction 0x{tx_hash.hex()}: {exc}"
                    ) from exc

    def _receipt_from_node(self, tx_hash: bytes) -> Receipt:
        """Our receipt for a mined transaction: the node's receipt plus its call trace."""
        raw = self._rpc("eth_getTransactionReceipt", [_hex(tx_hash)])
        if raw is None:
            raise ChainError(f"the node has no receipt for 0x{tx_hash.hex()}")
        status = _int(raw["status"])
        number = _int(raw["blockNumber"])
        is_create = raw.get("to") is None
        output, reason = b"", None
        try:
            trace = self._rpc("debug_traceTransaction", [_hex(tx_hash), {"tracer": "callTracer"}])
        except RpcError:
            trace = None  # node without tracing: no return data; reason unknown
        if trace is not None:
            output = _bytes(trace.get("output"))
            error = trace.get("error")
            if status == 0:
                if error is None or "revert" in str(error):
                    reason = decode_revert_reason(output)
                else:
                    reason = self._halt(str(error))
        elif status == 0:
            reason = "0x"
        logs = tuple(
            Log(
                address=_bytes(entry["address"]),
                topics=tuple(_bytes(t) for t in entry["topics"]),
                data=_bytes(entry["data"]),
                block_number=number,
                tx_hash=tx_hash,
                log_index=_int(entry["logIndex"]),
            )
            for entry in raw["logs"]
        )
        return Receipt(
            tx_hash=tx_hash,
            block_number=number,
            tx_index=_int(raw["transactionIndex"]),
            sender=_bytes(raw["from"]),
            to=None if is_create else _bytes(raw["to"]),
            status=status,
            gas_used=_int(raw["gasUsed"]),
            logs=logs,
            contract_address=_bytes(raw["contractAddress"]) if is_create else None,
            revert_reason=reason,
            return_data=b"" if is_create and status == 1 else output,
        )

    def block(self, number: int) -> Block:
        """Block ``number`` with its receipts (cached once read)."""
        if not 0 <= number <= self._head.number:
            raise ChainError(f"no block {number}: the head is {self.block_number}")
        record = self._blocks.get(number)
        if record is None:
            block = self._node_block(number)
            receipts = tuple(self._receipt_from_node(_bytes(h)) for h in block["transactions"])
            record = self._blocks[number] = self._record(block, receipts)
        return record

    def receipt(self, tx_hash: bytes) -> Receipt:
        """The receipt of a mined transaction."""
        receipt = self._receipts.get(tx_hash)
        if receipt is not None:
            return receipt
        if tx_hash in self.dropped:
            raise ChainError(f"transaction 0x{tx_hash.hex()} was dropped: {self.dropped[tx_hash]}")
        if tx_hash in self._mempool:
            raise ChainError(f"transaction 0x{tx_hash.hex()} is pending, not mined yet")
        raw = self._rpc("eth_getTransactionReceipt", [_hex(tx_hash)])
        if raw is None or _int(raw["blockNumber"]) > self._head.number:
            raise ChainError(f"unknown transaction 0x{tx_hash.hex()}")
        receipt = self._receipts[tx_hash] = self._receipt_from_node(tx_hash)
        return receipt

    def raw_transaction(self, tx_hash: bytes) -> bytes:
        """The signed bytes of a transaction (ours, or the node's ``eth_getRawTransactionByHash``)."""
        raw = self._raw.get(tx_hash)
        if raw is not None:
            return raw
        try:
            found = self._rpc("eth_getRawTransactionByHash", [_hex(tx_hash)])
        except RpcError:
            found = None
        if not found or found == "0x":
            raise ChainError(f"unknown transaction 0x{tx_hash.hex()}")
        return _bytes(found)

    def get_logs(
        self,
        *,
        address: bytes | None = None,
        topic0: bytes | None = None,
        from_block: int = 0,
        to_block: int | None = None,
    ) -> list[Log]:
        """``eth_getLogs`` over mined blocks, in chain order."""
        last = self._head.number if to_block is None else min(to_block, self._head.number)
        first = max(from_block, 0)
        if first > last:
            return []
        query: dict[str, Any] = {"fromBlock": hex(first), "toBlock": hex(last)}
        if address is not None:
            query["address"] = _addr(address)
        if topic0 is not None:
            query["topics"] = [_hex(topic0)]
        return [
            Log(
                address=_bytes(entry["address"]),
                topics=tuple(_bytes(t) for t in entry["topics"]),
                data=_bytes(entry["data"]),
                block_number=_int(entry["blockNumber"]),
                tx_hash=_bytes(entry["transactionHash"]),
                log_index=_int(entry["logIndex"]),
            )
            for entry in self._rpc("eth_getLogs", [query])
        ]

    def state_blobs(self) -> list[bytes]:
        """Every contract's code and every storage value (32 bytes), from ``anvil_dumpState``.

        In address then slot order. :class:`StateUnavailable` from a node
        without that method (see the module docstring); a dump not of anvil's
        shape is a :class:`ChainError`.
        """
        try:
            dump = self._rpc("anvil_dumpState", [])
        except RpcError as exc:
            if exc.code not in (METHOD_NOT_FOUND, METHOD_NOT_SUPPORTED):
                raise  # the node has the method and failed: a fault, not a missing feature
            raise StateUnavailable(f"{self.url} does not dump its state ({exc})") from None
        try:
            state = json.loads(gzip.decompress(bytes.fromhex(str(dump).removeprefix("0x"))))
            blobs: list[bytes] = []
            accounts = state["accounts"]
            for address in sorted(accounts, key=str.lower):
                account = accounts[address]
                code = bytes.fromhex(str(account.get("code") or "0x").removeprefix("0x"))
                if code:
                    blobs.append(code)
                storage = account.get("storage") or {}
                for slot in sorted(storage, key=lambda k: int(k, 16)):
                    value = int(storage[slot], 16)
                    if value:
                        blobs.append(value.to_bytes(32, "big"))
        except (ValueError, KeyError, TypeError, AttributeError, OSError, EOFError) as exc:
            raise ChainError(f"unexpected anvil_dumpState answer from {self.url}: {exc}") from None
        return blobs

    @property
    def block_number(self) -> int:
        """Number of the head block."""
        return self._head.number

    @property
    def block_gas_limit(self) -> int:
        """The gas limit of every block."""
        return self._gas_limit

    # -- time -------------------------------------------------------------
    @property
    def timestamp(self) -> int:
        """Timestamp of the head block."""
        return self._head.timestamp

    # -- state ------------------------------------------------------------
    def state_root(self) -> bytes:
        """The head block's ``stateRoot``."""
        return self._head.state_root

    def storage_at(self, address: bytes, slot: int) -> int:
        """``eth_getStorageAt`` at the head."""
        return _int(self._rpc("eth_getStorageAt", [_addr(address), hex(slot), "latest"]))

    def code_at(self, address: bytes) -> bytes:
        """``eth_getCode`` at the head."""
        return _bytes(self._rpc("eth_getCode", [_addr(address), "latest"]))

    def snapshot(self) -> object:
        """``evm_snapshot`` plus the local mempool and nonces."""
        self._snap_counter += 1
        token = self._snap_counter
        self._node_snaps[token] = str(self._control("evm_snapshot", []))
        return _Snapshot(
            token=token,
            head_number=self._head.number,
            head_hash=self._head.block_hash,
            mempool=tuple(self._mempool),
            nonces=tuple(self._nonces.items()),
        )

    def revert(self, snapshot: object) -> None:
        """``evm_revert``; the pool is emptied and the snapshot's pending transactions re-sent.

        anvil deletes a snapshot, and every later one, when reverting to it, and
        (1.7.1) asking it to revert to a deleted one corrupts its later
        snapshots; so which snapshots are alive is tracked here, a dead one is
        refused without asking the node, and a fresh node snapshot replaces the
        one used, so a snapshot can be reverted to again (as on pyevm).
        """
        if not isinstance(snapshot, _Snapshot):
            raise InputError(f"not a snapshot of this chain: {snapshot!r}")
        node_id = self._node_snaps.get(snapshot.token)
        if node_id is None:
            raise ChainError("snapshot is not on this chain's history (reverted past it?)")
        if not self._control("evm_revert", [node_id]):
            raise ChainError(f"the node refused to revert to its snapshot {node_id}")
        for token in [t for t in self._node_snaps if t >= snapshot.token]:
            del self._node_snaps[token]
        self._node_snaps[snapshot.token] = str(self._control("evm_snapshot", []))
        head = self._node_block("latest")
        if _int(head["number"]) != snapshot.head_number or _bytes(head["hash"]) != snapshot.head_hash:
            raise ChainError("the node did not return to the snapshot's head block")
        for number in [n for n in self._blocks if n > snapshot.head_number]:
            for receipt in self._blocks.pop(number).receipts:
                self._receipts.pop(receipt.tx_hash, None)
        kept = self._blocks.get(snapshot.head_number)
        self._head = self._record(head, kept.receipts if kept is not None else ())
        self._blocks[self._head.number] = self._head
        self._head_fees = self._fees_of(head)
        self._optional("anvil_dropAllTransactions", [])
        self._resend(list(snapshot.mempool))
        self._restore_mempool(snapshot.mempool, snapshot.nonces)
