"""Throughput of signed transactions: PyEVMChain vs raw eth-tester, same workload, same run.

Usage: ``python benchmarks/bench_chain.py [--quick] [--n N] [--json PATH]``

Both sides deploy the same two Vyper contracts (a registry with a struct
mapping, a counter and an event, calling an audit sink contract) and apply the
same transactions from the same number of senders:

* ``pyevm``: :class:`sim.chain.pyevm.PyEVMChain`, every transaction signed
  (EIP-1559, coincurve) and queued, then blocks mined until the mempool is empty;
* ``eth-tester``: ``EthereumTester(PyEVMBackend(Cancun))`` with auto-mining,
  ``send_transaction`` one by one (one block per transaction, as it works).

Two modes: ``estimate`` (no gas given: each side estimates its own way) and
``fixed-gas`` (a gas limit given: pure apply throughput). The script also
checks that both sides agree on every transaction's status and gas used.
:func:`workload` is the one place to swap in the real tour mix.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.chain import Contract
from sim.chain.abi import encode_args, encode_call, find_entry
from sim.chain.pyevm import PyEVMChain

SENDERS = 20
FIXED_GAS = 300_000

SINK_SRC = """
# pragma version ~=0.4.3
notes: public(HashMap[address, uint256])
total: public(uint256)

@external
def note(who: address, id: uint256):
    self.notes[who] += 1
    self.total += id % 7
"""

REGISTRY_SRC = """
# pragma version ~=0.4.3
interface ISink:
    def note(who: address, id: uint256): nonpayable

struct Rec:
    owner: address
    cid: bytes32
    version: uint256

records: public(HashMap[uint256, Rec])
count: public(uint256)
sink: public(address)

event Registered:
    id: indexed(uint256)
    owner: indexed(address)
    cid: bytes32

event Updated:
    id: indexed(uint256)
    version: uint256

@deploy
def __init__(sink: address):
    self.sink = sink

@external
def register(id: uint256, cid: bytes32):
    assert self.records[id].owner == empty(address), "registry: taken"
    self.records[id] = Rec(owner=msg.sender, cid=cid, version=1)
    self.count += 1
    extcall ISink(self.sink).note(msg.sender, id)
    log Registered(id=id, owner=msg.sender, cid=cid)

@external
def update(id: uint256, cid: bytes32):
    assert self.records[id].owner == msg.sender, "registry: not owner"
    self.records[id].cid = cid
    self.records[id].version += 1
    log Updated(id=id, version=self.records[id].version)
"""


def compile_src(src: str) -> tuple[bytes, list[dict[str, Any]]]:
    """Bytecode and ABI for Cancun."""
    import vyper
    from vyper.compiler.settings import Settings

    out = vyper.compile_code(
        src, output_formats=["bytecode", "abi"], settings=Settings(evm_version="cancun")
    )
    return bytes.fromhex(out["bytecode"][2:]), list(out["abi"])


def workload(n: int, seed: int = 7) -> list[tuple[str, str, bytes]]:
    """``n`` transactions ``(sender label, contract name, calldata)``: 70% register, 25% update
    of one's own record, 5% update of someone else's (reverts)."""
    _, abi = compile_src(REGISTRY_SRC)
    register = find_entry(abi, "function", "register")
    update = find_entry(abi, "function", "update")
    rng = random.Random(seed)
    owned: dict[str, list[int]] = {}
    out: list[tuple[str, str, bytes]] = []
    next_id = 1
    for _ in range(n):
        who = f"sender{rng.randrange(SENDERS)}"
        cid = rng.randbytes(32)
        roll = rng.random()
        if roll < 0.70 or not owned.get(who):
            out.append((who, "registry", encode_call(register, [next_id, cid])))
            owned.setdefault(who, []).append(next_id)
            next_id += 1
        elif roll < 0.95:
            out.append((who, "registry", encode_call(update, [rng.choice(owned[who]), cid])))
        else:
            others = [i for k, ids in owned.items() if k != who for i in ids] or [10**9]
            out.append((who, "registry", encode_call(update, [rng.choice(others), cid])))
    return out


def run_pyevm(txs: list[tuple[str, str, bytes]], gas: int | None) -> tuple[float, list[Any]]:
    """Seconds to queue and mine ``txs`` on PyEVMChain, and (status, gas) per tx."""
    chain = PyEVMChain(1)
    admin = chain.account("admin")
    chain.fund(admin.address)
    for i in range(SENDERS):
        chain.fund(chain.account(f"sender{i}").address)
    sink_code, sink_abi = compile_src(SINK_SRC)
    reg_code, reg_abi = compile_src(REGISTRY_SRC)
    sink = Contract.deploy(chain, admin, sink_code, sink_abi)
    registry = Contract.deploy(chain, admin, reg_code, reg_abi, sink.address)
    addresses = {"registry": registry.address, "sink": sink.address}
    accounts = {f"sender{i}": chain.account(f"sender{i}") for i in range(SENDERS)}
    start = time.perf_counter()
    hashes = [chain.send(accounts[who], addresses[to], data, gas=gas) for who, to, data in txs]
    while chain.pending():
        chain.mine()
    elapsed = time.perf_counter() - start
    return elapsed, [(chain.receipt(h).status, chain.receipt(h).gas_used) for h in hashes]


def run_eth_tester(txs: list[tuple[str, str, bytes]], gas: int | None) -> tuple[float, list[Any]]:
    """Seconds to send ``txs`` one by one through auto-mining eth-tester, and (status, gas)."""
    from eth.vm.forks.cancun import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend
    from eth_tester.exceptions import TransactionFailed

    genesis = PyEVMBackend.generate_genesis_state(num_accounts=SENDERS + 1)
    tester = EthereumTester(PyEVMBackend(genesis_state=genesis, vm_configuration=((0, CancunVM),)))
    accounts = tester.get_accounts()
    admin, senders = accounts[0], {f"sender{i}": accounts[i + 1] for i in range(SENDERS)}

    def deploy(src: str, *args: Any) -> str:
        code, abi = compile_src(src)
        ctor = [e for e in abi if e.get("type") == "constructor"] or [{"inputs": []}]
        data = code + encode_args(ctor[0], args)
        h = tester.send_transaction({"from": admin, "data": "0x" + data.hex(), "gas": 3_000_000})
        return str(tester.get_transaction_receipt(h)["contract_address"])

    sink = deploy(SINK_SRC)
    addresses = {"sink": sink, "registry": deploy(REGISTRY_SRC, bytes.fromhex(sink[2:]))}
    out: list[Any] = []
    start = time.perf_counter()
    for who, to, data in txs:
        tx: dict[str, Any] = {"from": senders[who], "to": addresses[to], "data": "0x" + data.hex()}
        if gas is None:
            try:
                tx["gas"] = tester.estimate_gas(tx)
            except TransactionFailed:
                tx["gas"] = FIXED_GAS  # eth-tester cannot estimate a reverting call
        else:
            tx["gas"] = gas
        receipt = tester.get_transaction_receipt(tester.send_transaction(tx))
        out.append((int(receipt["status"]), int(receipt["gas_used"])))
    return time.perf_counter() - start, out


def measure(
    name: str, fn: Callable[[list[Any], int | None], tuple[float, list[Any]]], txs: list[Any],
    gas: int | None,
) -> tuple[dict[str, Any], list[Any]]:
    """Run one side and summarise it."""
    seconds, results = fn(txs, gas)
    row = {"backend": name, "txs": len(txs), "seconds": round(seconds, 3),
           "txs_per_s": round(len(txs) / seconds, 1)}
    print(f"  {name:10s} {len(txs):6d} txs {seconds:8.2f} s {row['txs_per_s']:9.1f} tx/s")
    return row, results


def main(argv: list[str] | None = None) -> int:
    """Run both modes and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 transactions instead of 2000")
    parser.add_argument("--n", type=int, default=None, help="number of transactions")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    n = args.n or (300 if args.quick else 2000)
    txs = workload(n)
    report: dict[str, Any] = {"n": n, "senders": SENDERS, "modes": {}}
    for mode, gas in (("estimate", None), ("fixed-gas", FIXED_GAS)):
        print(f"mode {mode}:")
        ours, our_results = measure("pyevm", run_pyevm, txs, gas)
        theirs, their_results = measure("eth-tester", run_eth_tester, txs, gas)
        ratio = ours["txs_per_s"] / theirs["txs_per_s"]
        mismatches = sum(a != b for a, b in zip(our_results, their_results, strict=True))
        reverted = sum(status == 0 for status, _ in our_results)
        print(f"  ratio {ratio:.2f}x; reverted {reverted}; status/gas mismatches {mismatches}")
        report["modes"][mode] = {"pyevm": ours, "eth_tester": theirs, "ratio": round(ratio, 2),
                                 "reverted": reverted, "mismatches": mismatches}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
