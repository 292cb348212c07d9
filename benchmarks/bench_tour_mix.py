"""Throughput on the tour's transaction mix: the ``pyevm`` backend vs raw eth-tester, same run.

Usage: ``python benchmarks/bench_tour_mix.py [--quick] [--cycles N] [--arrival S]
[--block-seconds S] [--modes estimate,fixed-gas] [--repeat N] [--json PATH]``

What it measures: how fast each side applies the same signed transactions,
the mix the tour (:mod:`sim.protocol.story`) produces, at the same block times.

1. **Workload.** On a scratch :class:`~sim.chain.pyevm.PyEVMChain` the real
   protocol layer (:mod:`sim.protocol`) deploys the private layout
   (Patient-IDs from 85437), grants the regulator role, verifies 3 hospitals
   (desk and lab operators each) and onboards 10 doctors; then ``N`` patient
   cycles arrive every ``--arrival`` seconds, each: registration at a desk, a
   visit PMR by a doctor of that hospital, a lab report (a second one in
   every other cycle), a same-day version (every other cycle), a 7-day
   grant to a doctor of another hospital and his access, his later visit,
   the revocation, an access after it (rejected, one cycle in four, as the
   tour's forbidden attempts), an emergency access by a third hospital's
   doctor and his access under it, a device bind, a batch anchor of 60
   readings and one per-reading record. Events are run in time order with
   the ``*_call`` methods and :meth:`Protocol.run`, so IDs are issued as in
   the tour; every transaction is recorded as (sender label, to, calldata,
   block timestamp, status, gas used, operation), the 7 deployments included.
2. **pyevm.** A fresh ``PyEVMChain`` with the same seed (same keys, so the
   same contract addresses), every sender funded; the deployments are
   replayed in one block *before* the timer; then, timed: ``send`` every
   other transaction and ``mine`` it in a block of its own, stamped as
   eth-tester stamps it (:func:`stamps`). Estimate mode passes that
   timestamp as ``estimate_at``.
3. **eth-tester.** ``EthereumTester(PyEVMBackend(Cancun))`` with pmrsim's
   genesis timestamp; every sender's key added and funded by a value
   transfer from the genesis account (senders keep nonce 0, so the admin
   deploys at the same addresses); deployments before the timer; then,
   timed: ``send_transaction`` one by one with auto-mining (one block per
   transaction), each block stamped with the transaction's recorded time.
   eth-tester's ``time_travel`` cannot do that (it mines an extra empty
   block and the next header then takes the wall clock, 2026), so the
   pending header's timestamp is set the way ``time_travel`` itself does it
   (``backend.chain.header.copy(timestamp=...)``), without the extra block.
   Estimate mode calls ``estimate_gas`` first, falling back to the fixed
   limit when it raises ``TransactionFailed``, as in ``bench_chain.py``:
   py-evm estimates in a child block of the head stamped with the *wall
   clock*, so grants, revocations and accesses (whose 2021 expiries are past
   by then) revert at the estimate; the fallbacks are counted per operation.
   Receipts are read after the timer on both sides (eth-tester's own
   ``get_transaction_receipt`` scans every block, so py-evm's transaction
   index is used instead).

So both sides do the same work: the same signed transactions (same keys,
nonces and data), one block per transaction with the same timestamps, the
receipts read after the timer, in one process each. (The engine packs
transactions into blocks of ``--block-seconds``; eth-tester cannot, so the
ratio is taken one transaction per block; ``pyevm-packed`` is reported
beside it, without a ratio.) Each side is warmed up once, then the sides
take ``--repeat`` turns (:mod:`turns`) and the figures are medians.

Two modes: ``estimate`` (no gas given) and ``fixed-gas`` (:data:`FIXED_GAS`).
Both sides must agree with each other, and with the recording, on every
transaction's status and gas used; the mismatch counts are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from turns import Stopwatch, positive, take_turns

from sim.chain import DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_GENESIS_TIMESTAMP, Account, Receipt
from sim.chain.pyevm import PyEVMChain
from sim.protocol import ids
from sim.protocol.actors import Desk, Device, Doctor, Hospital, Lab, Patient, Regulator
from sim.protocol.merkle import Reading
from sim.protocol.protocol import Call, Protocol
from sim.protocol.records import (
    DoctorProfile,
    HospitalProfile,
    LabFindings,
    PatientDetails,
    TestType,
    VisitRecord,
)

SEED = 11
FIRST_PATIENT_ID = 85437
HOSPITALS = 3
DOCTORS = 10
DAY = 86_400
#: Gas limit of every transaction in fixed-gas mode (checked against the recording).
FIXED_GAS = 500_000
#: What eth-tester's genesis account gives each sender (wei).
ETH_TESTER_FUNDING = 100 * 10**18
#: Start of the setup (the tour's first day) and of the patient cycles (the paper's visit day).
SETUP_AT = int(dt.datetime(2021, 1, 4, 9, tzinfo=dt.UTC).timestamp())
CYCLES_AT = int(dt.datetime(2021, 1, 26, 8, tzinfo=dt.UTC).timestamp())


@dataclass(frozen=True)
class Tx:
    """One recorded transaction of the scratch run."""

    sender: str
    to: bytes | None
    data: bytes
    timestamp: int
    status: int
    gas_used: int
    op: str
    contract_address: bytes | None = None


class RecordingChain(PyEVMChain):
    """A PyEVMChain that records every transaction sent through :meth:`transact`."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.log: list[Tx] = []

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
        """Send, mine, and record the transaction with its block's timestamp."""
        assert value == 0, "the mix has no value transfers"
        receipt = super().transact(sender, to, data, value=value, gas=gas, timestamp=timestamp)
        self.log.append(Tx(sender.label, None if to is None else bytes(to), bytes(data),
                           self.timestamp, receipt.status, receipt.gas_used, "?",
                           receipt.contract_address))
        return receipt


def _date(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


def build_workload(cycles: int, arrival: int, seed: int = SEED) -> list[Tx]:
    """Run the tour's mix on a scratch chain and return its recorded transactions."""
    chain = RecordingChain(seed)
    p = Protocol.deploy(chain, layout="private", seed=seed, first_patient_id=FIRST_PATIENT_ID)
    for i, tx in enumerate(chain.log):
        if tx.contract_address is None:  # the deployer wires two contracts to each other
            chain.log[i] = replace(tx, op=f"wire {p.system.name_of(tx.to or b'')}")
        else:
            chain.log[i] = replace(tx, op=f"deploy {p.system.name_of(tx.contract_address)}")
    rng = random.Random(seed)

    def run(call: Call, at: int) -> None:
        p.clock = max(at, chain.timestamp + 1)
        out = p.run(call)
        chain.log[-1] = replace(chain.log[-1], op=out.op)

    # -- setup: regulator, hospitals with desk and lab, doctors ----------------
    regulator = Regulator(p, "regulator")
    hospitals = [Hospital(p, f"hospital-{h}") for h in range(HOSPITALS)]
    desks = [Desk(p, f"hospital-{h}-desk") for h in range(HOSPITALS)]
    labs = [Lab(p, f"hospital-{h}-lab") for h in range(HOSPITALS)]
    doctors = [Doctor(p, f"doctor-{d}") for d in range(DOCTORS)]
    staff: list[list[Doctor]] = [[d for i, d in enumerate(doctors) if i % HOSPITALS == h]
                                 for h in range(HOSPITALS)]
    at = SETUP_AT
    run(p.grant_regulator_call(regulator.account), at)
    for h, hospital in enumerate(hospitals):
        run(hospital.apply_call(HospitalProfile(f"GOVREG-{h:04d}", f"Hospital {h}", f"City {h}",
                                                "Multi-speciality", f"+91 400 555 {h:04d}")), at)
        run(regulator.verify_call(hospital), at)
        run(hospital.add_operator_call(desks[h]), at)
        run(hospital.add_operator_call(labs[h]), at)
    for d, doctor in enumerate(doctors):
        run(hospitals[d % HOSPITALS].onboard_call(doctor, DoctorProfile(
            f"MC-{10000 + d}", f"Dr. {d}", "General Medicine", f"+91 98400 {d:05d}")), at)

    # -- patient cycles, as timed events ------------------------------------
    openings: dict[str, list[int]] = {d.label: [] for d in doctors}
    opened_count: dict[str, int] = {d.label: 0 for d in doctors}

    def opened(doctor: Doctor, call: Call) -> Call:
        """Note the break-glass opening's number, for its hospital's review."""
        openings[doctor.label].append(opened_count[doctor.label])
        opened_count[doctor.label] += 1
        return call

    Event = tuple[int, int, int, Callable[[], Call | None]]
    events: list[Event] = []

    def cycle(i: int) -> None:
        t0 = CYCLES_AT + i * arrival
        h = i % HOSPITALS
        desk, lab = desks[h], labs[h]
        first = staff[h][i % len(staff[h])]
        second = staff[(h + 1) % HOSPITALS][i % len(staff[(h + 1) % HOSPITALS])]
        third = staff[(h + 2) % HOSPITALS][i % len(staff[(h + 2) % HOSPITALS])]
        patient, device = Patient(p, f"patient-{i}"), Device(p, f"device-{i}")
        visit, later = _date(t0 + 1800), _date(t0 + 2 * DAY)
        manifest = rng.randbytes(32)

        def pmr() -> int:
            return ids.pmr_id(patient.patient_id, visit)

        def grant() -> Call:
            return patient.grant_call(second, p.next_timestamp() + 7 * DAY, pmr_id=pmr())

        def anchor() -> Call:
            start = t0 + 4 * DAY
            readings = [Reading(1, 95 + k % 4, start + 60 * k) for k in range(60)]
            return device.anchor_call(readings, start, start + 3600)

        steps: list[tuple[int, Callable[[], Call | None]]] = [
            (0, lambda: desk.register_call(patient, PatientDetails(
                f"Patient {i}", 20 + i % 60, "FM"[i % 2], 60.0 + i % 30, 150.0 + i % 40,
                f"{i} Main Road", f"+91 90000 {i:05d}", f"p{i}@example.in"))),
            (1800, lambda: first.create_pmr_call(patient.patient_id, visit, VisitRecord(
                "cough", "none", "suspected infection", "X-ray ordered"))),
            (7200, lambda: lab.post_report_call(pmr(), LabFindings(
                TestType.XRAY, visit, 1000, "suspected pneumonia", "opacity"), manifest)),
            (9000, lambda: lab.post_report_call(pmr(), LabFindings(
                TestType.BLOOD, visit, 1001, "glycaemic control", "HbA1c 7.9 %"), manifest)
             if i % 2 else None),
            (10800, lambda: first.create_pmr_call(patient.patient_id, visit, VisitRecord(
                "cough", "none", "pneumonia", "antibiotics")) if i % 2 == 0 else None),
            (DAY, grant),
            (DAY + 600, lambda: second.access_call(pmr())),
            (2 * DAY, lambda: second.create_pmr_call(patient.patient_id, later, VisitRecord(
                "follow-up", "pneumonia", "resolving", "continue"))),
            (3 * DAY, lambda: patient.revoke_call(second, pmr_id=pmr())),
            (3 * DAY + 600, lambda: second.access_call(pmr()) if i % 4 == 0 else None),
            (3 * DAY + 1200, lambda: opened(third, third.emergency_access_call(
                patient.patient_id, 7))),
            (3 * DAY + 1800, lambda: third.access_call(pmr())),
            (3 * DAY + 7200, lambda: hospitals[(h + 2) % HOSPITALS].review_emergency_call(
                third, openings[third.label].pop(0))),
            (4 * DAY, lambda: desk.bind_device_call(device, patient)),
            (4 * DAY + 60, lambda: patient.accept_device_call(device)),
            (4 * DAY + 3605, anchor),
            (4 * DAY + 3665, lambda: device.record_call(Reading(1, 97, p.next_timestamp() - 60))),
        ]
        for seq, (offset, make) in enumerate(steps):
            events.append((t0 + offset, i, seq, make))

    for i in range(cycles):
        cycle(i)
    heapq.heapify(events)
    while events:
        at, _, _, make = heapq.heappop(events)
        p.clock = max(at, chain.timestamp + 1)
        call = make()
        if call is not None:
            run(call, at)
    return chain.log


def senders_of(txs: Sequence[Tx]) -> list[str]:
    """Sender labels in order of first appearance."""
    return list(dict.fromkeys(tx.sender for tx in txs))


def blocks_of(txs: Sequence[Tx], seconds: int) -> list[list[Tx]]:
    """Group transactions into blocks of ``seconds`` of recorded time (from each block's first)."""
    blocks: list[list[Tx]] = []
    for tx in txs:
        if blocks and tx.timestamp < blocks[-1][0].timestamp + seconds:
            blocks[-1].append(tx)
        else:
            blocks.append([tx])
    return blocks


Result = tuple[int, int]  # (status, gas used)


def stamps(txs: Sequence[Tx]) -> list[int]:
    """The timestamp of each timed transaction's block when each has a block of its own: its
    recorded time, or one second after the block before (as eth-tester's ``stamp`` does)."""
    head = DEFAULT_GENESIS_TIMESTAMP
    deploys = [tx for tx in txs if tx.to is None]
    head = max(head, deploys[-1].timestamp) if deploys else head
    out = []
    for tx in txs[len(deploys):]:
        head = max(tx.timestamp, head + 1)
        out.append(head)
    return out


def run_pyevm(txs: Sequence[Tx], gas: int | None, block_seconds: int | None,
              watch: Stopwatch, seed: int = SEED) -> tuple[list[Result], int]:
    """Send and mine the non-deploy txs on PyEVMChain (timed by ``watch``): one block per
    transaction at :func:`stamps`'s times, or (``block_seconds``) one block per that much
    recorded time, as the engine packs them. (status, gas) of all, read after; blocks."""
    chain = PyEVMChain(seed)
    accounts = {label: chain.account(label) for label in senders_of(txs)}
    for account in accounts.values():
        chain.fund(account.address)
    deploys = [tx for tx in txs if tx.to is None]
    rest = txs[len(deploys):]
    assert all(tx.to is not None for tx in rest), "deployments must come first"
    hashes = [chain.send(accounts[tx.sender], None, tx.data, estimate_at=deploys[-1].timestamp)
              for tx in deploys]
    chain.mine(deploys[-1].timestamp)
    for tx, h in zip(deploys, hashes, strict=True):
        assert chain.receipt(h).contract_address == tx.contract_address, "addresses differ"
    if block_seconds is None:
        blocks = [([tx], at) for tx, at in zip(rest, stamps(txs), strict=True)]
    else:
        blocks = [(block, block[-1].timestamp) for block in blocks_of(rest, block_seconds)]
    with watch:
        for block, at in blocks:
            for tx in block:
                hashes.append(chain.send(accounts[tx.sender], tx.to, tx.data, gas=gas,
                                         estimate_at=at if gas is None else None))
            chain.mine(at)
            if chain.pending():
                raise RuntimeError(f"block at {at} left {len(chain.pending())} transactions "
                                   "pending")
    receipts = [chain.receipt(h) for h in hashes]
    return [(r.status, r.gas_used) for r in receipts], len(blocks)


def run_eth_tester(txs: Sequence[Tx], gas: int | None, watch: Stopwatch,
                   seed: int = SEED) -> tuple[list[Result], dict[str, Any]]:
    """Send the non-deploy txs through auto-mining eth-tester (timed by ``watch``); (status,
    gas) of all, read after; notes."""
    from eth.vm.forks.cancun import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend
    from eth_tester.exceptions import TransactionFailed

    params = PyEVMBackend.generate_genesis_params(
        overrides={"timestamp": DEFAULT_GENESIS_TIMESTAMP, "gas_limit": DEFAULT_BLOCK_GAS_LIMIT})
    backend = PyEVMBackend(genesis_parameters=params,
                           genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=1),
                           vm_configuration=((0, CancunVM),))
    tester = EthereumTester(backend)
    funder = tester.get_accounts()[0]
    keys = PyEVMChain(seed)
    head = DEFAULT_GENESIS_TIMESTAMP

    def stamp(at: int) -> None:
        """Stamp the pending block ``at`` (or one second after the head, if later)."""
        nonlocal head
        head = max(at, head + 1)
        backend.chain.header = backend.chain.header.copy(timestamp=head)

    addresses: dict[str, str] = {}
    for label in senders_of(txs):
        account = keys.account(label)
        addresses[label] = account.hex
        tester.add_account("0x" + account.private_key.hex())
        stamp(0)
        tester.send_transaction({"from": funder, "to": account.hex, "value": ETH_TESTER_FUNDING,
                                 "gas": 21_000})
    notes: dict[str, Any] = {"estimate_fallbacks": 0, "late_blocks": 0}
    fallbacks: Counter[str] = Counter()

    def as_dict(tx: Tx) -> dict[str, Any]:
        out: dict[str, Any] = {"from": addresses[tx.sender], "data": "0x" + tx.data.hex()}
        if tx.to is not None:
            out["to"] = "0x" + tx.to.hex()
        return out

    hashes = []
    deploys = [tx for tx in txs if tx.to is None]
    for tx in deploys:
        stamp(tx.timestamp)
        d = as_dict(tx)
        d["gas"] = tester.estimate_gas(d)
        hashes.append(tester.send_transaction(d))
    for tx in deploys:
        assert tx.contract_address is not None
        assert tester.get_code("0x" + tx.contract_address.hex()) != "0x", "addresses differ"
    rest = txs[len(deploys):]
    notes["late_blocks"] = sum(1 for tx in rest if tx.timestamp <= head)
    with watch:
        for tx in rest:
            stamp(tx.timestamp)
            d = as_dict(tx)
            if gas is None:
                try:
                    d["gas"] = tester.estimate_gas(d)
                except TransactionFailed:
                    d["gas"] = FIXED_GAS  # reverts when estimated at the wall clock (docstring)
                    notes["estimate_fallbacks"] += 1
                    fallbacks[tx.op] += 1
            else:
                d["gas"] = gas
            hashes.append(tester.send_transaction(d))
    notes["estimate_fallback_ops"] = dict(sorted(fallbacks.items()))
    notes["blocks"] = len(rest)

    def result(tx_hash: str) -> Result:
        # eth-tester's get_transaction_receipt scans every block from the head (quadratic):
        # read py-evm's receipt through its transaction index instead (one tx per block,
        # so the cumulative gas used is the transaction's).
        number, index = backend.chain.chaindb.get_transaction_index(bytes.fromhex(tx_hash[2:]))
        assert index == 0, "auto-mining puts one transaction in each block"
        receipt = backend.chain.get_transaction_receipt_by_index(number, index)
        return (1 if receipt.state_root == b"\x01" else 0), int(receipt.gas_used)

    return [result(h) for h in hashes], notes


def mix_of(txs: Sequence[Tx]) -> dict[str, int]:
    """Transactions per operation label (reverted ones counted apart)."""
    counts = Counter(tx.op if tx.status else f"{tx.op} [reverted]" for tx in txs)
    return dict(sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    """Build the mix, run both modes on both sides, print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 patient cycles instead of 150")
    parser.add_argument("--cycles", type=positive, default=None, help="number of patient cycles")
    parser.add_argument("--arrival", type=int, default=30, help="seconds between patient arrivals")
    parser.add_argument("--block-seconds", type=int, default=12,
                        help="recorded time per block of the pyevm-packed side")
    parser.add_argument("--repeat", type=positive, default=None,
                        help="turns per side after the warm-up (default 3, --quick 2)")
    parser.add_argument("--modes", default="estimate,fixed-gas", help="comma-separated modes")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    cycles = args.cycles or (20 if args.quick else 150)
    args.repeat = args.repeat or (2 if args.quick else 3)
    t = time.perf_counter()
    txs = build_workload(cycles, args.arrival)
    timed = [tx for tx in txs if tx.to is not None]
    print(f"workload: {cycles} patient cycles, {len(txs)} txs ({len(txs) - len(timed)} deployments "
          f"untimed), {len(senders_of(txs))} senders, built in {time.perf_counter() - t:.1f} s")
    mix = mix_of(txs)
    for op, count in mix.items():
        print(f"  {count:6d}  {op}")
    max_gas = max(tx.gas_used for tx in timed)
    assert max_gas <= FIXED_GAS, f"FIXED_GAS {FIXED_GAS} below the largest gas used {max_gas}"
    recorded = [(tx.status, tx.gas_used) for tx in txs]
    report: dict[str, Any] = {
        "cycles": cycles, "arrival_s": args.arrival, "block_seconds": args.block_seconds,
        "txs": len(txs), "timed_txs": len(timed), "senders": len(senders_of(txs)),
        "reverted": sum(tx.status == 0 for tx in txs), "mix": mix, "modes": {},
    }
    modes = {"estimate": None, "fixed-gas": FIXED_GAS}
    report["repeat"] = args.repeat
    n = len(timed)
    print(f"\n{'mode':10s} {'side':13s} {'txs':>6s} {'blocks':>6s} {'seconds':>8s} {'tx/s':>8s} "
          f"{'CPU-s':>7s}")
    for mode in args.modes.split(","):
        gas = modes[mode]
        sides = {
            "pyevm": lambda w, g=gas: run_pyevm(txs, g, None, w),
            "eth-tester": lambda w, g=gas: run_eth_tester(txs, g, w),
            "pyevm-packed": lambda w, g=gas: run_pyevm(txs, g, args.block_seconds, w),
        }
        turns = take_turns(sides, args.repeat)
        ours, blocks = turns["pyevm"].result
        theirs, notes = turns["eth-tester"].result
        packed, packed_blocks = turns["pyevm-packed"].result
        assert blocks == notes["blocks"], "both sides must mine the same blocks"
        rows = {}
        for side, t, count in (("pyevm", turns["pyevm"], blocks),
                               ("eth-tester", turns["eth-tester"], notes["blocks"]),
                               ("pyevm-packed", turns["pyevm-packed"], packed_blocks)):
            rows[side] = {**t.row(n), "blocks": count}
            print(f"{mode:10s} {side:13s} {n:6d} {count:6d} {t.wall:8.2f} {n / t.wall:8.1f} "
                  f"{t.cpu:7.2f}")
        ratio = turns["eth-tester"].wall / turns["pyevm"].wall
        vs_tester = sum(a != b for a, b in zip(ours, theirs, strict=True))
        vs_record = sum(a != b for a, b in zip(ours, recorded, strict=True))
        vs_packed = sum(a != b for a, b in zip(packed, recorded, strict=True))
        print(f"{mode:10s} ratio {ratio:.2f}x (one block per tx on both, medians of "
              f"{args.repeat} turns); status/gas mismatches: pyevm vs eth-tester {vs_tester}, "
              f"pyevm vs recording {vs_record}, packed vs recording {vs_packed}; eth-tester "
              f"estimate fallbacks {notes['estimate_fallbacks']}")
        report["modes"][mode] = {
            "pyevm": rows["pyevm"], "eth_tester": rows["eth-tester"],
            "pyevm_packed": rows["pyevm-packed"], "ratio": round(ratio, 2),
            "pyevm_blocks": blocks, "mismatches_vs_eth_tester": vs_tester,
            "mismatches_vs_recording": vs_record, **notes,
        }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
