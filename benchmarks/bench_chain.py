"""Throughput of signed transactions: PyEVMChain vs raw eth-tester, same workload, same run.

Usage: ``python benchmarks/bench_chain.py [--quick] [--n N] [--repeat N] [--json PATH]``

Both sides deploy the same two Vyper contracts (a registry with a struct
mapping, a counter and an event, calling an audit sink contract) and apply the
same transactions from the same number of senders:

* ``pyevm``: :class:`sim.chain.pyevm.PyEVMChain`, each transaction signed
  (EIP-1559, coincurve), sent and mined in a block of its own;
* ``eth-tester``: ``EthereumTester(PyEVMBackend(Cancun))`` with auto-mining,
  ``send_transaction`` one by one (one block per transaction, the only way
  it mines).

The same work on both sides: the same transactions, one block each, the
receipts read after the timer on both (eth-tester's own receipt lookup
scans every block, so py-evm's transaction index is read instead), one
process each. Each side is warmed up on the first 30 transactions, then
the sides take turns (:mod:`turns`) and the figures are medians.

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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from turns import Stopwatch, positive, take_turns

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


def run_pyevm(txs: list[tuple[str, str, bytes]], gas: int | None,
              watch: Stopwatch) -> list[Any]:
    """Send and mine ``txs`` on PyEVMChain, one block per transaction (timed by ``watch``);
    (status, gas) per tx, read after the timer."""
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
    first = chain.block_number + 1
    hashes = []
    with watch:
        for who, to, data in txs:
            hashes.append(chain.send(accounts[who], addresses[to], data, gas=gas))
            chain.mine()
    assert chain.block_number - first + 1 == len(txs), "one block per transaction"
    return [(chain.receipt(h).status, chain.receipt(h).gas_used) for h in hashes]


def run_eth_tester(txs: list[tuple[str, str, bytes]], gas: int | None,
                   watch: Stopwatch) -> list[Any]:
    """Send ``txs`` one by one through auto-mining eth-tester (one block per transaction, timed
    by ``watch``); (status, gas) per tx, read after the timer."""
    from eth.vm.forks.cancun import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend
    from eth_tester.exceptions import TransactionFailed

    genesis = PyEVMBackend.generate_genesis_state(num_accounts=SENDERS + 1)
    backend = PyEVMBackend(genesis_state=genesis, vm_configuration=((0, CancunVM),))
    tester = EthereumTester(backend)
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
    hashes = []
    with watch:
        for who, to, data in txs:
            tx: dict[str, Any] = {"from": senders[who], "to": addresses[to],
                                  "data": "0x" + data.hex()}
            if gas is None:
                try:
                    tx["gas"] = tester.estimate_gas(tx)
                except TransactionFailed:
                    tx["gas"] = FIXED_GAS  # eth-tester cannot estimate a reverting call
            else:
                tx["gas"] = gas
            hashes.append(tester.send_transaction(tx))
    return [_receipt(backend, h) for h in hashes]


def _receipt(backend: Any, tx_hash: str) -> tuple[int, int]:
    """(status, gas used) through py-evm's transaction index (eth-tester's own lookup scans
    every block from the head, which no side should pay for)."""
    number, index = backend.chain.chaindb.get_transaction_index(bytes.fromhex(tx_hash[2:]))
    receipt = backend.chain.get_transaction_receipt_by_index(number, index)
    return (1 if receipt.state_root == b"\x01" else 0), int(receipt.gas_used)


def main(argv: list[str] | None = None) -> int:
    """Run both modes, taking turns, and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 transactions instead of 2000")
    parser.add_argument("--n", type=positive, default=None, help="number of transactions")
    parser.add_argument("--repeat", type=positive, default=None,
                        help="turns per side after the warm-up (default 3, --quick 2)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    n = args.n or (300 if args.quick else 2000)
    repeat = args.repeat or (2 if args.quick else 3)
    txs = workload(n)
    warm = txs[:30]
    report: dict[str, Any] = {"n": n, "senders": SENDERS, "repeat": repeat,
                              "blocks_per_side": n, "modes": {}}
    for mode, gas in (("estimate", None), ("fixed-gas", FIXED_GAS)):
        print(f"mode {mode}:")
        sides = {"pyevm": lambda w, g=gas: run_pyevm(txs, g, w),
                 "eth-tester": lambda w, g=gas: run_eth_tester(txs, g, w)}
        run_pyevm(warm, gas, Stopwatch())  # warm-up on a short prefix: imports, compiler, caches
        run_eth_tester(warm, gas, Stopwatch())
        turns = take_turns(sides, repeat, warmup=False)
        ours, theirs = turns["pyevm"], turns["eth-tester"]
        ratio = theirs.wall / ours.wall
        mismatches = sum(a != b for a, b in zip(ours.result, theirs.result, strict=True))
        reverted = sum(status == 0 for status, _ in ours.result)
        for name, t in turns.items():
            print(f"  {name:10s} {n:6d} txs {t.wall:8.2f} s {n / t.wall:9.1f} tx/s "
                  f"{t.cpu:8.2f} CPU-s  (fastest {min(t.walls):.2f}, slowest {max(t.walls):.2f})")
        print(f"  ratio {ratio:.2f}x (medians of {repeat} turns); reverted {reverted}; "
              f"status/gas mismatches {mismatches}")
        report["modes"][mode] = {"pyevm": ours.row(n), "eth_tester": theirs.row(n),
                                 "ratio": round(ratio, 2), "reverted": reverted,
                                 "mismatches": mismatches}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
