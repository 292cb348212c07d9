"""``pmrsim replay``: re-execute a run's trace on a fresh chain and verify it.

Every funding write is applied and every signed transaction re-sent, block
by block, at the recorded timestamps; each receipt (hash, status, gas used,
logs digest) and each block's state root must match the trace. The first
mismatch is reported by block and transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.chain import Chain, make_chain
from sim.engine.trace import logs_digest
from sim.errors import CheckFailed, InputError


@dataclass
class Replayed:
    """What a replay verified."""

    trace: Path
    blocks: int
    txs: int
    state_root: str
    chain: Chain
    contracts: dict[str, str]
    accounts: dict[str, str]  # address -> label


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        fh = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no trace here (expected a run folder of `pmrsim run`)") from None
    with fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict) or "kind" not in record:
                raise InputError(f"{path}:{number}: a trace record needs a 'kind'")
            yield number, record


def run_folders(run_dir: Path) -> list[Path]:
    """The run folder and its extra layout folders (``layouts/<name>/``)."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a folder")
    extra = sorted(p for p in (run_dir / "layouts").glob("*") if (p / "trace.jsonl").is_file())
    return [run_dir, *extra]


def replay_folder(run_dir: Path, *, backend: str | None = None,
                  rpc_url: str | None = None) -> Replayed:
    """Replay ``run_dir/trace.jsonl``; raise :class:`CheckFailed` on the first mismatch."""
    path = run_dir / "trace.jsonl"
    chain: Chain | None = None
    pending: list[tuple[int, dict[str, Any]]] = []
    contracts: dict[str, str] = {}
    accounts: dict[str, str] = {}
    blocks = txs = 0
    root = ""
    for line, rec in _records(path):
        kind = rec["kind"]
        if kind == "chain":
            chain = make_chain(backend or rec["backend"], seed=rec["seed"],
                               block_gas_limit=rec["block_gas_limit"],
                               genesis_timestamp=rec["genesis_timestamp"], rpc_url=rpc_url)
        elif chain is None:
            raise InputError(f"{path}:{line}: the trace must start with a 'chain' record")
        elif kind == "fund":
            chain.fund(bytes.fromhex(rec["address"][2:]), int(rec["wei"]))
        elif kind == "account":
            accounts[rec["address"].lower()] = rec["label"]
        elif kind == "contracts":
            contracts = {k: v for k, v in rec.items() if k not in ("kind", "t")}
        elif kind == "tx":
            pending.append((line, rec))
        elif kind == "block":
            root = _replay_block(chain, path, line, rec, pending)
            blocks += 1
            txs += len(pending)
            pending = []
    if chain is None:
        raise InputError(f"{path}: empty trace")
    if pending:
        raise CheckFailed(f"{path}:{pending[0][0]}: transaction recorded after the last block")
    return Replayed(path, blocks, txs, root, chain, contracts, accounts)


def _replay_block(chain: Chain, path: Path, line: int, rec: dict[str, Any],
                  pending: list[tuple[int, dict[str, Any]]]) -> str:
    for _, tx in pending:
        chain.send_raw(bytes.fromhex(tx["raw"][2:]))
    block = chain.mine(int(rec["timestamp"]))
    where = f"{path}:{line}: block {rec['number']}"
    if block.number != rec["number"] or len(block.receipts) != len(pending):
        raise CheckFailed(f"{where}: replayed block {block.number} holds {len(block.receipts)} "
                          f"transactions, the trace {len(pending)}")
    for (tx_line, tx), receipt in zip(pending, block.receipts, strict=True):
        got = {"hash": "0x" + receipt.tx_hash.hex(), "status": receipt.status,
               "gas": receipt.gas_used, "logs": logs_digest(receipt)}
        for key, value in got.items():
            if tx.get(key) != value:
                raise CheckFailed(f"{path}:{tx_line}: tx {tx.get('hash', '?')} in block "
                                  f"{rec['number']}: {key} is {tx.get(key)!r} in the trace, "
                                  f"{value!r} on replay")
    root = "0x" + block.state_root.hex()
    if rec.get("state_root") != root:
        raise CheckFailed(f"{where}: state root {rec.get('state_root')} in the trace, {root} on replay")
    return root


def check_final_root(run_dir: Path, replayed: Replayed) -> None:
    """The replayed head's state root must be the summary's."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (FileNotFoundError, ValueError):
        return
    if summary.get("state_root") and summary["state_root"] != replayed.state_root:
        raise CheckFailed(f"{run_dir / 'summary.json'}: final state root {summary['state_root']}, "
                          f"replay reached {replayed.state_root}")
