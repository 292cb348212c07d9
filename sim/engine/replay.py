"""``pmrsim replay``: prove that a run folder is what the run wrote, byte for byte.

Two modes (``reports/FORMATS.md`` lists what each checks):

* **rerun** (the default): the run is made again from what its trace's
  opening ``run`` record embeds (the validated scenario, layouts, seed and
  backend), with the same pmrsim build, contracts and libraries, into a
  scratch folder; then ``trace.jsonl``, ``summary.json`` and ``gas.csv`` of
  every layout are compared with the rerun's byte for byte, except the
  fields no rerun can re-derive (:data:`WALL_FIELDS`: wall-clock figures).
  Any one-byte change, reorder, drop, append or truncation is reported with
  the file, the line and what differs. A run made by another build cannot be
  re-derived: that is bad input (exit 2) pointing to ``--chain-only``.
* **chain-only**: the independent check of the chain alone, on a fresh chain
  of any backend: every funding write and every signed transaction in its
  recorded order, block by block at the recorded timestamps; each receipt
  (hash, status, gas, logs, sender, operation), each block (transaction
  count, order of its transactions, gas used, state root, and its hash on
  the same backend), the trace's end record (line count and sha256 of every
  line before it, so cuts and edits of off-chain lines show) and what of
  ``summary.json`` and ``gas.csv`` the trace itself determines.

Malformed input (a line that is not JSON, a field of the wrong type, a
summary that is not an object) is an :class:`~sim.errors.InputError` naming
the file and line (exit 2); a well-formed difference is a
:class:`~sim.errors.CheckFailed` naming the file, line and field (exit 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.chain import Chain, make_chain
from sim.contracts import MOCK_NAMES
from sim.engine.trace import logs_digest
from sim.errors import CheckFailed, InputError

#: Fields of ``summary.json`` (as dotted paths) that no rerun can re-derive.
WALL_FIELDS = ("wall_seconds", "txs.per_s_wall")
#: The files of a run folder that a rerun re-derives and compares byte for byte.
COMPARED = ("trace.jsonl", "summary.json", "gas.csv")
#: Backends on a node that chooses its blocks' mix hash (so their block hashes differ per node).
NODES = ("rpc", "anvil")
#: Files a run folder may hold besides those (not compared: see ``not_checked``).
OTHER_FILES = ("report.html", ".pmrsim-output.json")


# --- records ----------------------------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _is_hex(size: int | None) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if not isinstance(v, str) or not v.startswith("0x"):
            return False
        digits = v[2:]
        if size is not None and len(digits) != 2 * size:
            return False
        if len(digits) % 2:
            return False
        try:
            bytes.fromhex(digits)
        except ValueError:
            return False
        return True
    return check


_STR = (lambda v: isinstance(v, str), "a string")
_INT = (_is_int, "an integer")
_NUM = (_is_number, "a finite number")
_H32 = (_is_hex(32), "0x and 64 hex digits")
_H20 = (_is_hex(20), "0x and 40 hex digits")
_HEX = (_is_hex(None), "0x and hex digits")
_DICT = (lambda v: isinstance(v, dict), "an object")
_STATUS = (lambda v: v in (0, 1) and type(v) is int, "0 or 1")
_REASON = (lambda v: v is None or isinstance(v, str), "a string or null")
_WEI = (lambda v: isinstance(v, str) and v.isdigit() and v.isascii(), "a decimal string")

#: The fields replay reads, per record kind, and what each must be.
FIELDS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "run": {"format": _STR, "scenario": _DICT, "layout": _STR, "backend": _STR,
            "pmrsim": _STR, "build": _STR, "contracts": _STR, "libraries": _DICT},
    "chain": {"backend": _STR, "seed": _INT, "layout": _STR, "genesis_timestamp": _INT,
              "block_gas_limit": _INT, "block_time": _INT, "start_timestamp": _INT,
              "scenario": _STR},
    "fund": {"address": _H20, "wei": _WEI},
    "account": {"label": _STR, "address": _H20},
    "contracts": {},
    "tx": {"block": _INT, "op": _STR, "sender": _STR, "status": _STATUS, "gas": _INT,
           "reason": _REASON, "hash": _H32, "submitted": _NUM, "latency": _NUM, "logs": _H32,
           "raw": _HEX},
    "block": {"number": _INT, "timestamp": _INT, "gas_used": _INT, "gas_limit": _INT,
              "txs": _INT, "txs_hash": _H32, "hash": _H32, "state_root": _H32},
    "end": {"lines": _INT, "sha256": (lambda v: isinstance(v, str) and len(v) == 64, "64 hex digits"),
            "counts": _DICT, "txs": _DICT, "blocks": _INT, "state_root": _H32},
}


def _bad(path: Path, line: int, message: str) -> InputError:
    return InputError(f"{path}:{line}: {message}")


def _parse(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    """One trace line as a record whose fields replay reads are of the right types."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise _bad(path, number, f"not a JSON record ({reason})") from None
    if not isinstance(record, dict):
        raise _bad(path, number, "a trace record must be a JSON object")
    kind = record.get("kind")
    if not isinstance(kind, str):
        raise _bad(path, number, "a trace record needs a string 'kind'")
    t = record.get("t")
    if not _is_number(t) or t is None or t < 0:
        raise _bad(path, number, f"field 't' of a {kind} record: expected a number >= 0, "
                                 f"got {_show(t)}")
    for name, (ok, expected) in FIELDS.get(kind, {}).items():
        if name not in record:
            raise _bad(path, number, f"a {kind} record needs the field '{name}' ({expected})")
        if not ok(record[name]):
            raise _bad(path, number, f"field '{name}' of a {kind} record: expected {expected}, "
                                     f"got {_show(record[name])}")
    if kind == "contracts":
        for name, value in record.items():
            if name not in ("kind", "t") and not _is_hex(20)(value):
                raise _bad(path, number, f"field '{name}' of a contracts record: expected an "
                                         f"address (0x and 40 hex digits), got {_show(value)}")
    return record


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line with its newline) of ``path``, streaming."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no trace here (expected a run folder of `pmrsim run`)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        yield from enumerate(fh, 1)


def read_header(path: Path) -> dict[str, Any]:
    """The trace's opening ``run`` record (what made the run)."""
    for number, raw in _lines(path):
        record = _parse(path, number, raw)
        if record["kind"] != "run":
            raise _bad(path, number, "the trace must open with a 'run' record (a run of an older "
                                     "pmrsim, or not a pmrsim trace); re-run the scenario")
        from sim.engine.summary import TRACE_FORMAT

        if record["format"] != TRACE_FORMAT:
            raise _bad(path, number, f"trace format {record['format']!r}, this pmrsim reads "
                                     f"{TRACE_FORMAT!r}")
        return record
    raise InputError(f"{path}: empty trace")


def run_folders(run_dir: Path) -> list[Path]:
    """The run folder and its extra layout folders (``layouts/<name>/``)."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a folder")
    extra = sorted(p for p in (run_dir / "layouts").glob("*") if p.is_dir())
    return [run_dir, *extra]


# --- chain-only -------------------------------------------------------------------------------

#: Blocks a chain that computes its roots in a worker (revm) may run ahead of their check.
ROOT_LAG = 64
#: Blocks of history a chain-only replay keeps (the chain lets go of older verified ones).
HISTORY_BLOCKS = 2048

@dataclass
class Replayed:
    """What a chain-only replay verified."""

    trace: Path
    blocks: int
    txs: int
    state_root: str
    chain: Chain
    contracts: dict[str, str]
    accounts: dict[str, str]  # address -> label
    header: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] = field(default_factory=dict)
    #: Per operation: gas of the successful transactions and latency, as the trace records them
    gas: dict[str, list[int]] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)
    reverted: int = 0
    ordinary_txs: int = 0


class _ChainCheck:
    """One pass over a trace, re-executing its transactions (see the module docstring)."""

    def __init__(self, path: Path, backend: str | None, rpc_url: str | None, *,
                 keep_history: bool = True) -> None:
        self.path = path
        self.backend = backend
        self.rpc_url = rpc_url
        self.keep_history = keep_history
        #: Blocks whose state root and hash a worker is still computing: (line, record, number).
        self.deferred: deque[tuple[int, dict[str, Any], int]] = deque()
        self.chain: Chain | None = None
        self.recorded_backend = ""
        self.header: dict[str, Any] = {}
        self.contracts: dict[str, str] = {}
        self.by_address: dict[bytes, str] = {}
        self.accounts: dict[str, str] = {}
        self.labels: dict[str, bytes] = {}
        self.pending: list[tuple[int, dict[str, Any]]] = []
        self.blocks = 0
        self.txs = 0
        self.root = ""
        self.end: dict[str, Any] = {}
        self.gas: dict[str, list[int]] = {}
        self.latency: dict[str, list[float]] = {}
        self.reverted = 0
        self.ordinary = 0
        self.selectors: dict[str, dict[bytes, str]] | None = None

    def fail(self, line: int, message: str) -> CheckFailed:
        return CheckFailed(f"{self.path}:{line}: {message}")

    def run(self) -> Replayed:
        digest = hashlib.sha256()
        last_t = 0.0
        number = 0
        for number, raw in _lines(self.path):
            if self.end:
                raise self.fail(number, "a line after the end record (appended to the trace)")
            rec = _parse(self.path, number, raw)
            kind = rec["kind"]
            if number == 1 and kind != "run":
                raise _bad(self.path, 1, "the trace must open with a 'run' record (a run of an "
                                         "older pmrsim, or not a pmrsim trace)")
            if rec["t"] < last_t:
                raise self.fail(number, f"t={rec['t']} is earlier than the line before "
                                        f"(t={last_t}): the trace is in simulated-time order")
            last_t = rec["t"]
            if kind == "end":
                self._end(number, rec, digest)
                continue
            digest.update(raw)
            self._record(number, kind, rec)
        if self.chain is None:
            raise InputError(f"{self.path}: no 'chain' record")
        self._settle(0)
        if self.pending:
            raise self.fail(self.pending[0][0], "a transaction after the last block record")
        if not self.end:
            raise self.fail(number, "the trace ends without its end record: the run did not "
                                    "finish, or the trace was cut short")
        return Replayed(self.path, self.blocks, self.txs, self.root, self.chain, self.contracts,
                        self.accounts, self.header, self.end, self.gas, self.latency,
                        self.reverted, self.ordinary)

    def _record(self, line: int, kind: str, rec: dict[str, Any]) -> None:
        if kind == "run":
            if line != 1:
                raise self.fail(line, "a second 'run' record")
            self.header = rec
            return
        if kind == "chain":
            if self.chain is not None:
                raise self.fail(line, "a second 'chain' record")
            self.recorded_backend = rec["backend"]
            from sim.engine.offload import spare_core

            # revm computes the roots on the second core while the next blocks execute
            self.chain = make_chain(self.backend or rec["backend"], seed=rec["seed"],
                                    block_gas_limit=rec["block_gas_limit"],
                                    genesis_timestamp=rec["genesis_timestamp"],
                                    rpc_url=self.rpc_url, background=spare_core())
            return
        chain = self.chain
        if chain is None:
            if kind in ("fund", "account", "contracts", "tx", "block"):
                raise _bad(self.path, line, "a chain record must come before this one")
            return
        if kind == "fund":
            chain.fund(bytes.fromhex(rec["address"][2:]), int(rec["wei"]))
        elif kind == "account":
            address = rec["address"].lower()
            if chain.account(rec["label"]).address.hex() != address[2:]:
                raise self.fail(line, f"account {rec['label']!r} is {address} in the trace; "
                                      f"the run's seed gives it "
                                      f"0x{chain.account(rec['label']).address.hex()}")
            self.accounts[address] = rec["label"]
        elif kind == "contracts":
            self.contracts = {k: v for k, v in rec.items() if k not in ("kind", "t")}
            self.by_address = {bytes.fromhex(v[2:]): k for k, v in self.contracts.items()}
        elif kind == "tx":
            self.pending.append((line, rec))
        elif kind == "block":
            self._block(line, rec)
            self.pending = []

    def _block(self, line: int, rec: dict[str, Any]) -> None:
        chain = self.chain
        assert chain is not None
        pending = self.pending
        for tx_line, tx in pending:
            if tx["block"] != rec["number"]:
                raise self.fail(tx_line, f"a transaction of block {tx['block']} listed before the "
                                         f"record of block {rec['number']}")
            if tx["t"] != rec["t"]:
                raise self.fail(tx_line, f"t={tx['t']} but its block was mined at t={rec['t']}")
            if abs(tx["latency"] - (tx["t"] - tx["submitted"])) > 0.0015 or tx["latency"] < 0:
                raise self.fail(tx_line, f"latency {tx['latency']} is not t - submitted "
                                         f"({tx['t']} - {tx['submitted']})")
            try:
                chain.send_raw(bytes.fromhex(tx["raw"][2:]))
            except Exception as exc:  # the chain refused the bytes: a changed transaction
                raise self.fail(tx_line, f"the chain refuses the transaction's raw bytes "
                                         f"({exc})") from None
        block = chain.mine(rec["timestamp"])
        where = f"block {rec['number']}"
        if block.number != rec["number"]:
            raise self.fail(line, f"{where}: replay mined block {block.number} here")
        if not (rec["txs"] == len(pending) == len(block.receipts)):
            raise self.fail(line, f"{where}: the block record says {rec['txs']} transactions, "
                                  f"the trace lists {len(pending)} before it, and replay "
                                  f"included {len(block.receipts)}")
        for (tx_line, tx), receipt in zip(pending, block.receipts, strict=True):
            self._receipt(tx_line, tx, receipt, rec["number"])
        from sim.engine.driver import txs_hash

        self._compare(line, rec, {"gas_used": block.gas_used, "gas_limit": block.gas_limit,
                                  "txs_hash": txs_hash(block)})
        self.deferred.append((line, rec, block.number))
        self._settle(ROOT_LAG if chain.defers_roots else 0)
        self.blocks += 1
        self.txs += len(pending)

    def _settle(self, keep: int) -> None:
        """Check the state root (and hash) of the blocks mined, but the last ``keep``."""
        chain = self.chain
        assert chain is not None
        same = self.backend in (None, self.recorded_backend) and self.recorded_backend not in NODES
        while len(self.deferred) > keep:
            line, rec, number = self.deferred.popleft()
            block = chain.block(number)  # waits for a root a worker computes
            got = {"state_root": "0x" + block.state_root.hex()}
            if same:
                got["hash"] = "0x" + block.block_hash.hex()
            self._compare(line, rec, got)
            self.root = got["state_root"]
            if not self.keep_history and number % HISTORY_BLOCKS == 0:
                chain.forget_history(number - HISTORY_BLOCKS)

    def _compare(self, line: int, rec: dict[str, Any], got: Mapping[str, object]) -> None:
        for key, value in got.items():
            if rec[key] != value:
                what = ("the order of its transactions differs" if key == "txs_hash" else "")
                raise self.fail(line, f"block {rec['number']}: {key} is {rec[key]} in the "
                                      f"trace, {value} on replay" + (f" ({what})" if what else ""))

    def _receipt(self, line: int, tx: dict[str, Any], receipt: Any, number: int) -> None:
        got = {"hash": "0x" + receipt.tx_hash.hex(), "status": receipt.status,
               "gas": receipt.gas_used, "logs": logs_digest(receipt)}
        for key, value in got.items():
            if tx[key] != value:
                raise self.fail(line, f"tx in block {number}: {key} is {_show(tx[key])} in the "
                                      f"trace, {_show(value)} on replay")
        chain = self.chain
        assert chain is not None
        label = tx["sender"]
        expected_sender = self.labels.get(label)
        if expected_sender is None:
            expected_sender = self.labels[label] = chain.account(label).address
        if receipt.sender != expected_sender:
            raise self.fail(line, f"tx in block {number}: sender is {label!r} in the trace, but "
                                  f"0x{receipt.sender.hex()} signed it")
        op = tx["op"]
        actual = self._operation(tx, receipt)
        if op.split(" (")[0] != actual:
            raise self.fail(line, f"tx in block {number}: op is {op!r} in the trace, the "
                                  f"transaction calls {actual}")
        if op not in ("deploy", "setup"):
            self.ordinary += 1
            if receipt.ok:
                self.gas.setdefault(op, []).append(receipt.gas_used)
                self.latency.setdefault(op, []).append(tx["latency"])
            else:
                self.reverted += 1

    def _operation(self, tx: dict[str, Any], receipt: Any) -> str:
        """What the transaction calls: ``Contract.function``, ``deploy`` or ``setup``.

        A mock contract an adversary deployed during the run (a patient's wallet,
        ``Mock.deploy``) is named by its creation, and a call its owner forwards
        through it (``execute``) by the call forwarded.
        """
        if receipt.to is None:
            mock = tx["op"].removesuffix(".deploy")
            if tx["op"].endswith(".deploy") and mock in MOCK_NAMES and receipt.contract_address:
                self.by_address[receipt.contract_address] = mock
                return tx["op"]
            return "deploy"
        if tx["op"] == "setup" or tx["op"] == "deploy":
            return tx["op"] if tx["sender"] == "admin" else "?"
        name = self.by_address.get(receipt.to)
        if name is None:
            return f"an unknown contract 0x{receipt.to.hex()}"
        data = _calldata(bytes.fromhex(tx["raw"][2:]))
        function = self._function(name, data)
        if name in MOCK_NAMES and function == "execute" and len(data) >= 100:
            target = self.by_address.get(data[16:36], "an unknown contract")
            length = int.from_bytes(data[68:100], "big")
            return f"{target}.{self._function(target, data[100:100 + length])}"
        return f"{name}.{function}"

    def _function(self, contract: str, data: bytes) -> str:
        if self.selectors is None:
            from sim.chain.abi import selector
            from sim.contracts import load_artifacts, load_mock

            artifacts = {**load_artifacts(), **{name: load_mock(name) for name in MOCK_NAMES}}
            self.selectors = {name: {selector(e): str(e["name"]) for e in art.abi
                                     if e.get("type") == "function"}
                              for name, art in artifacts.items()}
        return self.selectors.get(contract, {}).get(data[:4], f"0x{data[:4].hex()}")

    def _end(self, line: int, rec: dict[str, Any], digest: Any) -> None:
        self._settle(0)
        if rec["lines"] != line - 1 or rec["sha256"] != digest.hexdigest():
            raise self.fail(line, f"the end record covers {rec['lines']} lines with sha256 "
                                  f"{rec['sha256'][:16]}..., the {line - 1} lines before it hash "
                                  f"to {digest.hexdigest()[:16]}...: a line was changed, added, "
                                  f"dropped or reordered")
        if self.pending:
            raise self.fail(self.pending[0][0], "a transaction after the last block record")
        if rec["blocks"] != (self.chain.block_number if self.chain else -1):
            raise self.fail(line, f"the end record says {rec['blocks']} blocks, replay mined "
                                  f"{self.chain.block_number if self.chain else 0}")
        if rec["state_root"] != self.root:
            raise self.fail(line, f"the end record's state root {rec['state_root']}, replay "
                                  f"reached {self.root}")
        txs = {"total": self.ordinary, "reverted": self.reverted}
        if rec["txs"] != txs:
            raise self.fail(line, f"the end record counts transactions {rec['txs']}, the trace "
                                  f"holds {txs}")
        self.end = rec


def _calldata(raw: bytes) -> bytes:
    """The input data of a signed EIP-1559 transaction."""
    import rlp

    try:
        if raw[:1] == b"\x02":
            return bytes(rlp.decode(raw[1:])[7])
        return bytes(rlp.decode(raw)[5])
    except Exception:
        return b""


def replay_folder(run_dir: Path, *, backend: str | None = None, rpc_url: str | None = None,
                  keep_history: bool = True) -> Replayed:
    """Re-execute ``run_dir/trace.jsonl`` on a fresh chain (chain-only); raise
    :class:`CheckFailed` on the first mismatch, :class:`InputError` on malformed input.

    ``keep_history``: the returned chain keeps every block (its events are read by the
    audit); without it, blocks are let go of once verified (a long run's receipts)."""
    return _ChainCheck(run_dir / "trace.jsonl", backend, rpc_url,
                       keep_history=keep_history).run()


def check_summary(run_dir: Path, replayed: Replayed) -> None:
    """What of ``summary.json`` and ``gas.csv`` the verified trace determines must agree."""
    summary, path = load_summary(run_dir)
    header = replayed.header
    scenario = header.get("scenario", {})
    expect: dict[str, Any] = {
        "scenario": scenario.get("name"), "seed": scenario.get("seed"),
        "layout": header.get("layout"), "backend": header.get("backend"),
        "token": scenario.get("token"), "state_root": replayed.state_root,
        "counts": replayed.end.get("counts"),
        "txs.total": replayed.end.get("txs", {}).get("total"),
        "txs.reverted": replayed.end.get("txs", {}).get("reverted"),
    }
    from sim.engine.summary import gas_stats, latency_stats

    expect["gas"] = {op: gas_stats(v) for op, v in sorted(replayed.gas.items())}
    expect["latency"] = {op: latency_stats(v) for op, v in sorted(replayed.latency.items())}
    for key, value in expect.items():
        got = _at(summary, key)
        if got != value:
            raise CheckFailed(f"{path}: " + _difference(got, value, key + ".")
                              .replace("the rerun has", "the trace gives")
                              .replace("rerun", "trace"))
    gas_csv = run_dir / "gas.csv"
    from sim.engine.summary import gas_csv_text

    want = gas_csv_text(summary.get("gas", {}))
    try:
        have = gas_csv.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckFailed(f"{gas_csv}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{gas_csv}: cannot read: {exc}") from None
    if have != want:
        line = _first_line_difference(have, want)
        raise CheckFailed(f"{gas_csv}:{line}: differs from summary.json's gas")


def _at(doc: Any, dotted: str) -> Any:
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return "(missing)"
        node = node[part]
    return node


def load_summary(run_dir: Path) -> tuple[dict[str, Any], Path]:
    """``run_dir/summary.json``, checked as the report reads it (missing: CheckFailed, since a
    finished run writes one; malformed: InputError naming the line or key)."""
    from reports.load import load_summary as read

    path = run_dir / "summary.json"
    if not path.exists():
        raise CheckFailed(f"{path}: missing (a finished run writes one)")
    return dict(read(path)), path


def _first_line_difference(a: str, b: str) -> int:
    for number, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False), 1):
        if x != y:
            return number
    return min(len(a.splitlines()), len(b.splitlines())) + 1


# --- rerun ------------------------------------------------------------------------------------

@dataclass
class Verdict:
    """What a replay checked, how, and the first mismatch (``--format json`` prints it)."""

    run_dir: Path
    mode: str  # "rerun" or "chain-only"
    checked: list[dict[str, Any]] = field(default_factory=list)
    not_checked: list[dict[str, str]] = field(default_factory=list)
    state_root: str = ""

    def as_dict(self, *, verdict: str = "verified", exit_code: int = 0,
                mismatch: str | None = None) -> dict[str, Any]:
        """The verdict as JSON-able data."""
        return {"schema": "pmrsim.replay/1", "verdict": verdict, "exit_code": exit_code,
                "mode": self.mode, "run": str(self.run_dir), "checked": self.checked,
                "not_checked": self.not_checked, "first_mismatch": mismatch,
                "state_root": self.state_root}


#: What a rerun does (a seam for tests: the same run is not made twice in one test).
Rerun = Callable[[Any, str, Path], None]


def _rerun(scenario: Any, backend: str, out: Path) -> None:
    from sim.engine.runner import run_scenario

    run_scenario(scenario, out, backend=backend, render=False)


def verify(run_dir: Path, *, chain_only: bool = False, backend: str | None = None,
           rpc_url: str | None = None, verdict: Verdict | None = None,
           rerun: Rerun | None = None) -> Verdict:
    """Check ``run_dir`` in the given mode (see the module docstring); the verdict on success.

    Raises :class:`CheckFailed` (exit 1) or :class:`InputError` (exit 2);
    ``verdict``, when given, is filled in as far as the check got.
    """
    verdict = verdict or Verdict(run_dir, "chain-only" if chain_only else "rerun")
    folders = run_folders(run_dir)
    if chain_only:
        _verify_chain_only(folders, verdict, backend, rpc_url)
    else:
        _verify_rerun(run_dir, folders, verdict, backend, rpc_url, rerun or _rerun)
    return verdict


def _verify_chain_only(folders: list[Path], verdict: Verdict, backend: str | None,
                       rpc_url: str | None) -> None:
    layouts: list[str] = []
    for folder in folders:
        replayed = replay_folder(folder, backend=backend, rpc_url=rpc_url, keep_history=False)
        replayed.chain.close()
        check_summary(folder, replayed)
        layouts.append(str(replayed.header.get("layout")))
        verdict.checked.append({
            "file": str(replayed.trace), "how": "re-executed on a fresh chain",
            "blocks": replayed.blocks, "transactions": replayed.txs,
            "lines": replayed.end.get("lines", 0) + 1})
        verdict.checked.append({"file": str(folder / "summary.json"),
                                "how": "identity, counts, transactions, gas and latency against "
                                       "the trace"})
        verdict.checked.append({"file": str(folder / "gas.csv"), "how": "against summary.json"})
        if folder == folders[0]:
            verdict.state_root = replayed.state_root
    header = read_header(folders[0] / "trace.jsonl")
    expected = header.get("scenario", {}).get("layouts")
    if expected != layouts:
        raise CheckFailed(f"{folders[0]}: holds the layouts {layouts}, the run made {expected}")
    verdict.not_checked.append({
        "what": "off-chain records (storage, access, privacy, attack lines) and the summary's "
                "other figures",
        "why": "only a rerun re-derives them; chain-only checks that no line changed since the "
               "run wrote its end record"})


def _verify_rerun(run_dir: Path, folders: list[Path], verdict: Verdict, backend: str | None,
                  rpc_url: str | None, rerun: Rerun) -> None:
    from sim.engine.provenance import differences
    from sim.engine.scenario import Scenario

    trace = run_dir / "trace.jsonl"
    header = read_header(trace)
    differ = differences(header)
    if differ:
        raise InputError(f"{trace}: made by another build ({'; '.join(differ[:3])}"
                         f"{'; ...' if len(differ) > 3 else ''}): a rerun cannot re-derive it; "
                         f"`pmrsim replay --chain-only` re-executes its transactions")
    from pydantic import ValidationError

    try:
        scenario = Scenario.model_validate(header["scenario"])
    except ValidationError as exc:
        raise InputError(f"{trace}:1: the embedded scenario does not validate "
                         f"({exc.errors()[0]['msg']})") from None
    recorded = header["backend"]
    if backend is not None and backend != recorded:
        raise InputError(f"--backend {backend}: the run was made on {recorded}; a rerun uses the "
                         f"same backend (`--chain-only --backend {backend}` re-executes the "
                         f"transactions on another)")
    if recorded == "rpc" and rpc_url is None:
        raise InputError("the run was made on an rpc node: give --rpc-url of a fresh node to "
                         "rerun it on, or use --chain-only")
    expected_folders = [run_dir] + [run_dir / "layouts" / lay for lay in scenario.layouts[1:]]
    for folder in folders:
        if folder not in expected_folders:
            raise CheckFailed(f"{folder}: a layout folder the run did not make "
                              f"(its layouts: {', '.join(scenario.layouts)})")
    if rpc_url is not None:
        scenario = scenario.model_copy(update={
            "chain": scenario.chain.model_copy(update={"rpc_url": rpc_url})})
    with _scratch(run_dir) as scratch:
        rerun(scenario, recorded, scratch)
        for i, folder in enumerate(expected_folders):
            made = scratch if i == 0 else scratch / "layouts" / scenario.layouts[i]
            _check_entries(folder, made)
            _compare_trace(folder / "trace.jsonl", made / "trace.jsonl",
                           rpc=rpc_url is not None or recorded in NODES)
            _compare_summary(folder / "summary.json", made / "summary.json")
            _compare_bytes(folder / "gas.csv", made / "gas.csv")
            for name in COMPARED:
                verdict.checked.append({"file": str(folder / name),
                                        "how": "byte for byte against a rerun" +
                                        (f" (except {', '.join(WALL_FIELDS)})"
                                         if name == "summary.json" else "")})
            if i == 0:
                summary, _ = load_summary(folder)
                verdict.state_root = str(summary.get("state_root", ""))
    verdict.not_checked.append({
        "what": "report.html", "why": "a rendering of summary.json and trace.jsonl; "
                                      "`pmrsim report` draws it again"})
    verdict.not_checked.append({"what": ", ".join(WALL_FIELDS) + " of summary.json",
                                "why": "wall-clock figures; no rerun can re-derive them"})
    if rpc_url is not None or recorded in NODES:
        verdict.not_checked.append({
            "what": "block hashes (and the end record's digest over them), the node's URL",
            "why": "an rpc node chooses its blocks' mix hash; the rerun ran on another node"})


@contextlib.contextmanager
def _scratch(run_dir: Path) -> Iterator[Path]:
    base = tempfile.mkdtemp(prefix="pmrsim-replay-")
    try:
        yield Path(base) / "run"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _check_entries(folder: Path, made: Path) -> None:
    """The folder holds what the run wrote (and nothing from another run)."""
    allowed = {*COMPARED, *OTHER_FILES, "layouts"}
    for entry in sorted(folder.iterdir()):
        if entry.name not in allowed:
            raise CheckFailed(f"{entry}: not written by this run")
    for name in COMPARED:
        if not (folder / name).is_file():
            raise CheckFailed(f"{folder / name}: missing (the run wrote one)")
    if (folder / "layouts").exists() and not (made / "layouts").exists():
        raise CheckFailed(f"{folder / 'layouts'}: not written by this run")


def _compare_trace(path: Path, made: Path, *, rpc: bool) -> None:
    """``path`` must be ``made`` byte for byte (with ``rpc``: the node's block hashes and URL
    aside); the first difference is named by line and field."""
    with made.open("rb") as theirs:
        number = 0
        for number, mine in _lines(path):
            other = theirs.readline()
            if mine == other:
                continue
            record = _parse(path, number, mine)  # malformed: exit 2 naming the line
            if not other:
                raise CheckFailed(f"{path}:{number}: a line the rerun did not write (the rerun's "
                                  f"trace has {number - 1} lines)")
            again = json.loads(other)
            if rpc and _same_but_node(record, again):
                continue
            raise CheckFailed(f"{path}:{number}: {_difference(record, again)}")
        rest = sum(1 for _ in theirs)
        if rest:
            raise CheckFailed(f"{path}: ends after line {number}; the rerun wrote {rest} more "
                              f"(the trace was cut short)")


def _same_but_node(mine: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two records differ only in what an rpc node chooses (block hashes, and so the
    end record's digest over them) or its URL."""
    a, b = dict(mine), dict(other)
    ignored = {"block": "hash", "end": "sha256"}.get(str(a.get("kind")))
    if ignored:
        a.pop(ignored, None)
        b.pop(ignored, None)
    if a.get("kind") == "run":
        for rec in (a, b):
            rec["scenario"] = {**rec["scenario"],
                               "chain": {**rec["scenario"].get("chain", {}), "rpc_url": None}}
    return a == b


def _difference(mine: Any, other: Any, where: str = "") -> str:
    """The first difference between two JSON values, in words."""
    if isinstance(mine, dict) and isinstance(other, dict):
        if not where and mine.get("kind") != other.get("kind"):
            return (f"a {mine.get('kind')} record, where the rerun wrote a {other.get('kind')} "
                    f"record (a line was added, dropped or moved)")
        for key in sorted(set(mine) | set(other)):
            if key not in other:
                return f"field '{where}{key}' is not in the rerun's record"
            if key not in mine:
                return f"field '{where}{key}' ({_show(other[key])} on rerun) is missing"
            if mine[key] != other[key] or type(mine[key]) is not type(other[key]):
                return _difference(mine[key], other[key], f"{where}{key}.")
        return "differs in its bytes (the same JSON written otherwise)"
    if isinstance(mine, list) and isinstance(other, list) and len(mine) == len(other):
        for i, (x, y) in enumerate(zip(mine, other, strict=True)):
            if x != y:
                return _difference(x, y, f"{where}{i}.")
    name = where.rstrip(".") or "the record"
    return f"{name} is {_show(mine)}, the rerun has {_show(other)}"


def _compare_summary(path: Path, made: Path) -> None:
    """``path`` must be the rerun's summary byte for byte, its wall-clock figures aside."""
    summary, _ = load_summary(path.parent)
    again = json.loads(made.read_text(encoding="utf-8"))
    for dotted in WALL_FIELDS:
        *parents, leaf = dotted.split(".")
        node: Any = summary
        other: Any = again
        for part in parents:
            node, other = node.get(part), other.get(part)
            if not isinstance(node, dict):
                break
        if not isinstance(node, dict) or not isinstance(other, dict) or leaf not in node:
            continue  # the comparison below names what is missing
        value = node[leaf]
        if not _is_number(value) or value < 0:
            raise CheckFailed(f"{path}: {dotted} is {_show(value)}, expected a number >= 0")
        other[leaf] = value
    from sim.engine.summary import summary_text

    want = summary_text(again)
    have = path.read_text(encoding="utf-8")
    if have != want:
        line = _first_line_difference(have, want)
        raise CheckFailed(f"{path}:{line}: {_difference(summary, json.loads(want))}")


def _compare_bytes(path: Path, made: Path) -> None:
    try:
        have = path.read_bytes()
    except FileNotFoundError:
        raise CheckFailed(f"{path}: missing (the run wrote one)") from None
    want = made.read_bytes()
    if have != want:
        line = _first_line_difference(have.decode("utf-8", "replace"), want.decode())
        raise CheckFailed(f"{path}:{line}: differs from the rerun's")


def verdict_json(verdict: Verdict, exc: BaseException | None) -> str:
    """``--format json``'s output for ``verdict`` ended by ``exc`` (None: verified)."""
    if exc is None:
        data = verdict.as_dict()
    elif isinstance(exc, CheckFailed):
        data = verdict.as_dict(verdict="mismatch", exit_code=1, mismatch=str(exc))
    else:
        data = verdict.as_dict(verdict="bad input", exit_code=2, mismatch=str(exc))
    out = io.StringIO()
    json.dump(data, out, indent=2)
    return out.getvalue() + "\n"
