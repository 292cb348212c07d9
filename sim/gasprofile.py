"""Gas by Vyper source line: where one operation of the gas table spends its gas.

``pmrsim gas --profile OPERATION`` plays the story (as the gas table does),
traces every EVM instruction of the operation's steady-state transaction
(the story's last successful call of it) on the pyevm backend, and charges
each instruction's gas to the source line the compiler's source map gives
its program counter, in whichever file the line is (the contract, a module
of ``contracts_vyper/modules``, snekmate). Like titanoboa's line profile.

* **What an instruction costs.** The gas left before it minus the gas left
  after it, less what the calls it makes spend inside (those instructions
  are charged to their own lines, in the called contract): each unit of
  gas is charged once.
* **Which line.** Vyper's ``pc_raw_ast_map`` (the runtime code's source
  map) names the AST node of the instructions where the node changes; an
  instruction the map does not name belongs to the last one named before
  it in the code, as in solidity-style source maps. Instructions before
  any node (the selector dispatch and calldata checks Vyper emits) are
  shown as ``<dispatch>`` of their contract.
* **The sum.** The lines add up to the transaction's execution gas; with
  the intrinsic gas (21,000 and calldata) and less the refund (EIP-3529:
  at most a fifth), that is the receipt's gas used. :func:`profile`
  checks it and raises if not.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import InputError


@dataclass(frozen=True)
class LineGas:
    """Gas charged to one source line (``line`` 0: the contract's ``<dispatch>``)."""

    contract: str
    file: str
    line: int
    gas: int
    text: str


@dataclass
class Profile:
    """One operation's gas: by line, and the parts of the receipt's gas used."""

    operation: str
    layout: str
    token: str
    gas_used: int
    intrinsic: int
    refund: int
    lines: list[LineGas] = field(default_factory=list)

    @property
    def execution(self) -> int:
        """Gas of the instructions (the sum of the lines)."""
        return sum(line.gas for line in self.lines)


@dataclass(frozen=True)
class _Step:
    address: bytes
    pc: int
    gas: int


class _SourceMap:
    """pc -> (file, line) of one contract's runtime code (continuation semantics)."""

    def __init__(self, name: str) -> None:
        from vyper.compiler.input_bundle import FileInput, FilesystemInputBundle
        from vyper.compiler.phases import CompilerData
        from vyper.compiler.settings import Settings
        from vyper.ir import compile_ir

        from sim.chain.base import FORK
        from sim.contracts import _snekmate_root, contracts_dir

        path = contracts_dir() / f"{name}.vy"
        bundle = FilesystemInputBundle([contracts_dir(), _snekmate_root()])
        source = FileInput(source_id=0, contents=path.read_text(), path=Path(path.name),
                           resolved_path=path)
        data = CompilerData(source, bundle, Settings(evm_version=FORK))
        self.code, maps = compile_ir.assembly_to_evm(data.assembly_runtime, compiler_metadata=None)
        self.pcs: list[int] = []
        self.where: list[tuple[str, int]] = []
        for pc, node in sorted(maps["pc_raw_ast_map"].items()):
            module = getattr(node, "module_node", None)
            resolved = getattr(module, "resolved_path", None) if module is not None else None
            lineno = getattr(node, "lineno", 0) if type(node).__name__ != "Module" else 0
            self.pcs.append(pc)
            self.where.append((str(resolved) if resolved else str(path), int(lineno or 0)))
        self.path = str(path)

    def locate(self, pc: int) -> tuple[str, int]:
        """The file and line of the instruction at ``pc`` (line 0 before any mapped node)."""
        at = bisect.bisect_right(self.pcs, pc) - 1
        return (self.path, 0) if at < 0 else self.where[at]


@contextlib.contextmanager
def _traced(steps: list[tuple[Any, _Step]], tops: list[Any]) -> Iterator[None]:
    """Record every instruction run by py-evm's Cancun computations meanwhile (see the module
    docstring): ``(transaction context, step)``; top-level computations into ``tops``."""
    from eth.vm.forks.cancun.computation import CancunComputation

    original = CancunComputation.opcodes

    def wrap(fn: Any) -> Any:
        def traced(computation: Any) -> None:
            pc = computation.code.program_counter - 1
            before = computation.get_gas_remaining()
            start = len(steps)
            try:
                fn(computation=computation)
            finally:
                inner = sum(step.gas for _, step in steps[start:])
                msg = computation.msg
                if msg.depth == 0 and (not tops or tops[-1] is not computation):
                    tops.append(computation)
                steps.append((computation.transaction_context, _Step(
                    bytes(msg.code_address), pc, before - computation.get_gas_remaining() - inner)))
        return traced

    CancunComputation.opcodes = {op: wrap(fn) for op, fn in original.items()}
    try:
        yield
    finally:
        CancunComputation.opcodes = original


def _text(file: str, line: int, cache: dict[str, list[str]]) -> str:
    if line <= 0:
        return "<dispatch>"
    if file not in cache:
        try:
            cache[file] = Path(file).read_text().splitlines()
        except OSError:
            cache[file] = []
    lines = cache[file]
    return lines[line - 1].strip() if line <= len(lines) else ""


def profile(operation: str, *, layout: str = "private", token: str = "erc721",
            seed: int = 0) -> Profile:
    """The gas profile of ``operation`` (a gas table row, e.g. ``PMRToken.mint``)."""
    return profiles([operation], layout=layout, token=token, seed=seed)[operation]


def profiles(operations: list[str], *, layout: str = "private", token: str = "erc721",
             seed: int = 0) -> dict[str, Profile]:
    """The gas profiles of ``operations``, from one play of the story."""
    from sim.chain import make_chain
    from sim.protocol import Protocol
    from sim.protocol.story import PAPER_PATIENT_ID, paper_story

    chain = make_chain("pyevm", seed=seed)
    protocol = Protocol.deploy(chain, layout=layout, seed=seed, first_patient_id=PAPER_PATIENT_ID,
                               token=token)
    steps: list[tuple[Any, _Step]] = []
    tops: list[Any] = []
    found: dict[str, tuple[Any, list[_Step], Any]] = {}
    ops: set[str] = set()
    story = paper_story(protocol)
    while True:
        steps.clear()
        tops.clear()
        with _traced(steps, tops):
            step = next(story, None)
        if step is None:
            break
        ops.add(step.outcome.op)
        if step.outcome.op in operations and step.outcome.ok and tops:
            mined = tops[-1]  # the transaction as mined (estimates run before it)
            context = mined.transaction_context
            found[step.outcome.op] = (step.outcome, [s for ctx, s in steps if ctx is context],
                                      mined)
    missing = [op for op in operations if op not in found]
    if missing:
        raise InputError(f"--profile {missing[0]}: not an operation of the {layout} layout's "
                         f"{token} story; known: {', '.join(sorted(ops))}")
    names = {bytes(c.address): name for name, c in protocol.system.by_name().items()}
    maps: dict[str, _SourceMap] = {}
    return {op: _lines(op, layout, token, *found[op], names, maps) for op in operations}


def _lines(operation: str, layout: str, token: str, outcome: Any, trace: list[_Step],
           mined: Any, names: dict[bytes, str], maps: dict[str, _SourceMap]) -> Profile:
    """Charge a traced transaction's instructions to source lines; check they add up."""
    from sim.protocol.outcome import TX_BASE, calldata_gas

    totals: dict[tuple[str, str, int], int] = {}
    for step in trace:
        name = names.get(step.address, "0x" + step.address.hex())
        if name not in maps:
            maps[name] = _SourceMap(name)
        file, line = maps[name].locate(step.pc)
        key = (name, file, line)
        totals[key] = totals.get(key, 0) + step.gas
    cache: dict[str, list[str]] = {}
    root = Path(__file__).resolve().parent.parent
    lines = [LineGas(name, _relative(file, root), line, gas, _text(file, line, cache))
             for (name, file, line), gas in totals.items() if gas]
    lines.sort(key=lambda entry: (-entry.gas, entry.file, entry.line))
    intrinsic = TX_BASE + calldata_gas(outcome.calldata)
    execution = sum(entry.gas for entry in lines)
    refund = min(mined.get_gas_refund(), (intrinsic + execution) // 5)
    if intrinsic + execution - refund != outcome.gas:
        raise AssertionError(f"{operation}: lines {execution} + intrinsic {intrinsic} - refund "
                             f"{refund} != gas used {outcome.gas}")
    return Profile(operation, layout, token, outcome.gas, intrinsic, refund, lines)


def _relative(file: str, root: Path) -> str:
    """``file`` relative to the repository (or to site-packages, for snekmate)."""
    path = Path(file)
    for base in (root, *(p for p in path.parents if p.name == "site-packages")):
        with contextlib.suppress(ValueError):
            return str(path.relative_to(base))
    return file
