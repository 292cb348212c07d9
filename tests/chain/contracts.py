"""Tiny Vyper contracts compiled in the tests (Cancun), shared by the chain tests."""

from __future__ import annotations

from functools import cache
from typing import Any

COUNTER_SRC = '''
# pragma version ~=0.4.3
"""
@title Counter
@notice A test contract: a stored value, an event, revert paths and a gas sink.
"""

x: public(uint256)
owner: public(address)

event Set:
    who: indexed(address)
    old: uint256
    new: uint256


@deploy
def __init__(x0: uint256):
    self.x = x0
    self.owner = msg.sender


@external
def set(v: uint256):
    assert v < 100, "counter: too big"
    log Set(who=msg.sender, old=self.x, new=v)
    self.x = v


@external
def bump() -> uint256:
    self.x += 1
    return self.x


@external
def plain_revert():
    raise


@external
def sink():
    assert self.x == 12345, UNREACHABLE
'''


TIMELOCK_SRC = """
# pragma version ~=0.4.3
unlock: public(uint256)
done: public(uint256)
slots: HashMap[uint256, uint256]


@deploy
def __init__(unlock: uint256):
    self.unlock = unlock


@external
def work():
    assert block.timestamp >= self.unlock, "timelock: locked"
    for i: uint256 in range(20):
        self.slots[i] = i + 1
    self.done = 20
"""


@cache
def compile_vyper(src: str) -> tuple[bytes, list[dict[str, Any]]]:
    """Bytecode and ABI of ``src`` compiled for Cancun."""
    import vyper
    from vyper.compiler.settings import Settings

    out = vyper.compile_code(
        src, output_formats=["bytecode", "abi"], settings=Settings(evm_version="cancun")
    )
    return bytes.fromhex(out["bytecode"][2:]), list(out["abi"])


def counter() -> tuple[bytes, list[dict[str, Any]]]:
    """Bytecode and ABI of the test counter."""
    return compile_vyper(COUNTER_SRC)
