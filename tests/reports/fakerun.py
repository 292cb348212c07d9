"""Realistic fake run folders (summary.json, trace.jsonl, gas.csv) for the report tests.

The numbers follow the shapes ``reports/FORMATS.md`` fixes and the gas the
contracts really use; the trace is written line by line so a large one costs
no memory. Seeded, so every call with the same arguments gives the same files.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from reports import write_gas_csv
from sim.outputs import write_marker

#: (operation, private gas, paper gas, relative frequency)
OPERATIONS = (
    ("HospitalRegistry.apply", 93_497, 272_709, 1),
    ("DoctorRegistry.onboard", 171_480, 305_719, 2),
    ("PatientRegistry.register", 126_539, 318_199, 10),
    ("PMRToken.mint", 135_904, 384_166, 30),
    ("LabReports.post", 111_856, 224_254, 8),
    ("AccessGrants.grant", 56_860, 56_860, 4),
    ("AccessGrants.use", 31_504, 31_504, 4),
    ("AccessGrants.emergency_access", 64_077, 64_077, 1),
    ("IoMTAnchor.anchor_batch", 55_718, 55_718, 6),
)
BLOCK_TIME = 12
GAS_LIMIT = 30_000_000
START = 1_609_459_200
REASONS = ("access_grants: grant expired", "doctor_registry: not affiliated",
           "hospital_registry: not verified")


@dataclass
class FakeRun:
    """Options of a fake run folder."""

    txs: int = 400
    seed: int = 7
    layout: str = "private"
    both_layouts: bool = True
    trace: bool = True
    storage: bool = True
    violations: tuple[tuple[str, bool], ...] = (("pii_on_chain", True),)


def _hex(rng: random.Random, n: int = 32) -> str:
    return "0x" + rng.randbytes(n).hex()


def _paper_name(op: str) -> str:
    contract, func = op.split(".")
    return f"{contract}.{func}_paper" if contract not in ("AccessGrants", "IoMTAnchor") else op


class _Stats:
    """Running gas and latency statistics per operation."""

    def __init__(self) -> None:
        self.gas: dict[str, list[int]] = {}
        self.latency: dict[str, list[float]] = {}

    def add(self, op: str, gas: int, latency: float) -> None:
        self.gas.setdefault(op, []).append(gas)
        self.latency.setdefault(op, []).append(latency)

    def gas_table(self) -> dict[str, dict[str, Any]]:
        return {op: {"count": len(v), "mean": round(sum(v) / len(v), 1), "min": min(v),
                     "max": max(v), "total": sum(v)} for op, v in sorted(self.gas.items())}

    def latency_table(self) -> dict[str, dict[str, Any]]:
        table = {}
        for op, v in sorted(self.latency.items()):
            s = sorted(v)
            table[op] = {"count": len(s), "p50": s[len(s) // 2], "p95": s[int(len(s) * 0.95)],
                         "max": s[-1]}
        return table


#: Custodian nodes of the fake swarm.
NODES = 5


def _trace(stream: TextIO, opts: FakeRun, rng: random.Random) -> tuple[_Stats, dict[str, int]]:
    """Emit blocks, transactions, accesses and storage events in time order."""
    stats = _Stats()
    counts = {"released": 0, "denied": 0, "reverted": 0, "blocks": 0}
    ops = [o for o in OPERATIONS for _ in range(o[3])]
    down: set[int] = set()

    def emit(record: dict[str, Any]) -> None:
        stream.write(json.dumps(record, separators=(",", ":")) + "\n")

    emit({"t": 0.0, "kind": "run", "format": "pmrsim.trace/2", "layout": opts.layout,
          "backend": "pyevm", "scenario": {"name": "quickstart",
                                           "storage": {"nodes": NODES, "byzantine": 1}}})
    emit({"t": 0.0, "kind": "chain", "backend": "pyevm", "seed": opts.seed,
          "layout": opts.layout, "genesis_timestamp": START - 600,
          "block_gas_limit": GAS_LIMIT, "block_time": BLOCK_TIME, "start_timestamp": START,
          "scenario": "quickstart"})
    emit({"t": 0.0, "kind": "fund", "address": _hex(rng, 20), "wei": "1000000000000000000000"})
    emit({"t": 0.0, "kind": "note", "text": "unknown kinds are ignored"})
    done, number = 0, 0
    while done < opts.txs:
        number += 1
        t = float(number * BLOCK_TIME)
        in_block = min(opts.txs - done, rng.randint(0, 8))
        used = 0
        for _ in range(in_block):
            name, private, paper, _w = rng.choice(ops)
            gas = (private if opts.layout == "private" else paper) + rng.randint(0, 2_000)
            op = name if opts.layout == "private" else _paper_name(name)
            latency = float(BLOCK_TIME * rng.choice((0.5, 1, 1, 1, 2, 2, 3)))
            ok = rng.random() > 0.03
            used += gas
            record = {"t": t, "kind": "tx", "block": number, "op": op,
                      "sender": f"doctor-{rng.randint(0, 11)}", "status": int(ok), "gas": gas,
                      "reason": "" if ok else rng.choice(REASONS), "hash": _hex(rng),
                      "submitted": t - latency, "latency": latency, "raw": _hex(rng, 40)}
            emit(record)
            if ok:
                stats.add(op, gas, latency)
            else:
                counts["reverted"] += 1
            done += 1
        emit({"t": t, "kind": "block", "number": number, "timestamp": START + int(t),
              "gas_used": used, "gas_limit": GAS_LIMIT, "txs": in_block, "state_root": _hex(rng)})
        counts["blocks"] += 1
        if rng.random() < 0.3:
            denied = rng.random() < 0.3
            counts["denied" if denied else "released"] += 1
            patient = rng.randint(10_000, 99_999)
            emit({"t": t + 1, "kind": "access", "event": "denied" if denied else "released",
                  "patient": patient, "pmr": patient * 10**8 + 26_012_021,
                  "grantee": f"doctor-{rng.randint(0, 11)}",
                  "reason": rng.choice(REASONS[:2]) if denied else "",
                  "mode": rng.choice(("custodian", "chain")) if denied else "grant"})
        if rng.random() < 0.2:
            node = rng.randrange(NODES)
            event = rng.choice(("store", "store", "retrieve", "repair", "corrupt",
                                "retrieve_failed", "node_down", "node_up"))
            if event == "node_down":
                down.add(node)
            elif event == "node_up":
                if not down:
                    continue
                node = down.pop()
            emit({"t": t + 2, "kind": "storage", "event": event, "node": f"node-{node}",
                  "cid": "bafy" + rng.randbytes(8).hex(),
                  "bytes": rng.randint(1_000, 500_000) if event != "retrieve_failed" else 0})
    return stats, counts


def _steady(gas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A steady state in the shape ``sim.engine.steady`` writes: 3 visits per patient-year."""
    rates = {"visit record": ("PMRToken.mint", 1.1), "lab report": ("LabReports.post", 0.3),
             "grant": ("AccessGrants.grant", 0.1), "record read": ("AccessGrants.use", 0.1)}
    activities: dict[str, Any] = {}
    per_visit = 0.0
    for name, (op, rate) in rates.items():
        row = gas.get(op, {"count": 1, "total": 100_000})
        mean = row["total"] / row["count"]
        per_visit += rate * mean
        activities[name] = {"driver": "visit", "basis": "fake", "operations": [op],
                            "gas": round(mean, 1), "gas_source": "run", "per_visit": rate,
                            "per_patient_year": 3 * rate,
                            "gas_per_patient_year": round(3 * rate * mean, 1)}
    return {"patients": 200, "visits_per_patient_year": 3.0, "activities": activities,
            "gas_per_visit": round(per_visit, 1), "txs_per_visit": 1.6,
            "gas_per_patient_year": round(3 * per_visit, 1), "txs_per_patient_year": 4.8,
            "note": ""}


def make_run(folder: Path, opts: FakeRun | None = None) -> Path:
    """Write a fake run into ``folder`` (created); return ``folder``."""
    opts = opts or FakeRun()
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(opts.seed)
    target = folder / "trace.jsonl" if opts.trace else Path(os.devnull)
    with target.open("w", encoding="utf-8") as stream:
        stats, counts = _trace(stream, opts, rng)
    gas = stats.gas_table()
    steady = _steady(gas)
    per_year = steady["gas_per_patient_year"]
    summary: dict[str, Any] = {
        "schema": "pmrsim.summary/2", "scenario": "quickstart",
        "description": "Three hospitals, a week of visits, grants & <b>escaping</b> checks.",
        "seed": opts.seed, "backend": "pyevm", "layout": opts.layout, "token": "erc721",
        "sim_seconds": counts["blocks"] * BLOCK_TIME,
        "counts": {"hospitals": 3, "doctors": 12, "patients": 200, "visits": 540,
                   "pmr_tokens": 500, "lab_reports": 120, "grants": 40,
                   "accesses": counts["released"], "denied": 3,
                   "records_released": counts["released"], "access_denied": counts["denied"]},
        "txs": {"total": opts.txs, "reverted": counts["reverted"], "per_s_wall": 210.5},
        "gas": gas, "gas_per_patient_year": per_year, "steady_state": steady,
        "gas_setup": {"total": 9_000_000, "deployment": 7_500_000, "per_regulator": 50_920,
                      "per_hospital": 280_878, "per_doctor": 175_767, "per_patient": 126_544,
                      "per_device": 58_389},
        "latency": stats.latency_table(),
        "capacity": {"block_time": BLOCK_TIME, "block_gas_limit": GAS_LIMIT,
                     "gas_per_second": GAS_LIMIT / BLOCK_TIME,
                     "gas_per_visit": steady["gas_per_visit"],
                     "visits_per_day": int(GAS_LIMIT / BLOCK_TIME * 86_400
                                           / steady["gas_per_visit"])},
        "operations": {op: {"attempted": row["count"], "confirmed": row["count"], "reverted": 0,
                            "failed": 0, "by_fault": 0} for op, row in gas.items()},
        "attacks": {"expired_grant": {"configured": 2, "attempted": 2, "denied": 2,
                                      "succeeded": 0, "wrong_reason": 0, "not_attempted": []},
                    "late_access": {"configured": None, "attempted": 1, "denied": 1,
                                    "succeeded": 0, "wrong_reason": 0, "not_attempted": []}},
        "invariants": {"checked": 12, "violations": [
            {"name": n, "detail": f"{n} flagged", "expected": e} for n, e in opts.violations],
            "expected": [n for n, e in opts.violations if e]},
        "state_root": _hex(rng), "wall_seconds": 12.3,
    }
    if opts.storage:
        summary["storage"] = {"nodes": {f"node-{i}": 100_000 * (i + 1) for i in range(NODES)},
                              "records": 120, "bytes_logical": 100_000, "bytes_stored": 170_000,
                              "retrievals": 40, "retrieval_failures": 2, "corrupt_blocks": 1,
                              "repairs": 2, "bytes_repaired": 20_000, "node_departures": 3,
                              "node_returns": 3, "failures": 0}
    if opts.both_layouts:
        paper = {_paper_name(op): dict(row, mean=row["mean"] * 2.5) for op, row in gas.items()}
        paper_steady = _steady({op: dict(row, total=row["total"] * 2.5)
                                for op, row in gas.items()})
        inv = summary["invariants"]
        summary["layouts"] = {
            "private": {"gas": gas, "gas_per_patient_year": per_year, "steady_state": steady,
                        "invariants": {"checked": 12, "violations": [], "expected": []},
                        "report": "report.html"},
            "paper": {"gas": paper, "gas_per_patient_year": paper_steady["gas_per_patient_year"],
                      "steady_state": paper_steady, "invariants": inv,
                      "report": "layouts/paper/report.html"}}
    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    write_gas_csv(gas, folder / "gas.csv")
    write_marker(folder, "run")  # complete, as `pmrsim run` leaves it
    return folder
