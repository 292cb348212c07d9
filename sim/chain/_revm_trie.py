"""Merkle-Patricia state roots for :mod:`sim.chain.revm`, kept up to date block by block.

revm has no state trie. :class:`StateTrie` keeps the account trie and one
storage trie per contract as immutable in-memory nodes (a write makes new
nodes along its path; node encodings and hashes are computed once, lazily,
when a root is asked for), and after each block rewrites only the accounts
and slots the block wrote. Encodings are Ethereum's (and so py-evm's):
account leaf ``rlp([nonce, balance, storage_root, code_hash])`` under
``keccak(address)``, storage leaf ``rlp(value)`` under ``keccak(slot)``;
accounts left empty (EIP-161) are not in the trie.

Every key is 32 bytes, so branch nodes never carry a value. Paths are kept
as hex strings (one character per nibble), which makes prefixes, branch
indices and the hex-prefix encoding cheap string operations.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from sim.chain._revm_exec import EMPTY_CODE_HASH
from sim.chain._rlp import rlp_int, rlp_list, rlp_str
from sim.hashing import keccak256

if TYPE_CHECKING:
    from sim.chain._revm_exec import State

_HEX = "0123456789abcdef"


#: Root of an empty trie: keccak(rlp(b"")).
BLANK_ROOT = keccak256(b"\x80")


class _Leaf:
    __slots__ = ("path", "ref", "value")

    def __init__(self, path: str, value: bytes) -> None:
        self.path = path
        self.value = value
        self.ref: bytes | None = None


class _Ext:
    __slots__ = ("child", "path", "ref")

    def __init__(self, path: str, child: _Branch) -> None:
        self.path = path
        self.child = child
        self.ref: bytes | None = None


class _Branch:
    __slots__ = ("children", "ref")

    def __init__(self, children: list[_Node | None]) -> None:
        self.children = children
        self.ref: bytes | None = None


_Node = _Leaf | _Ext | _Branch


def _hex_prefix(path: str, leaf: bool) -> bytes:
    """The hex-prefix (compact) encoding of a nibble path."""
    if len(path) % 2:
        return bytes.fromhex(("3" if leaf else "1") + path)
    return bytes.fromhex(("20" if leaf else "00") + path)


def _encode(node: _Node) -> bytes:
    """The RLP encoding of ``node``."""
    if isinstance(node, _Branch):
        parts = []
        for child in node.children:
            if child is None:
                parts.append(b"\x80")
            else:
                ref = child.ref
                parts.append(ref if ref is not None else _ref(child))
        parts.append(b"\x80")
        return rlp_list(b"".join(parts))
    if isinstance(node, _Leaf):
        return rlp_list(rlp_str(_hex_prefix(node.path, True)) + rlp_str(node.value))
    return rlp_list(rlp_str(_hex_prefix(node.path, False)) + _ref(node.child))


def _ref(node: _Node) -> bytes:
    """How a parent refers to ``node``: its encoding when shorter than 32 bytes, else its hash."""
    ref = node.ref
    if ref is None:
        encoded = _encode(node)
        ref = node.ref = encoded if len(encoded) < 32 else b"\xa0" + keccak256(encoded)
    return ref


def root_hash(node: _Node | None) -> bytes:
    """The root hash of the trie under ``node``."""
    if node is None:
        return BLANK_ROOT
    ref = _ref(node)
    return ref[1:] if len(ref) == 33 and ref[0] == 0xA0 else keccak256(ref)


def _common(a: str, b: str) -> int:
    """Length of the common prefix of two paths."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _put(node: _Node | None, path: str, value: bytes) -> _Node:
    """``node`` with ``path`` set to ``value`` (new nodes along the path)."""
    if node is None:
        return _Leaf(path, value)
    if isinstance(node, _Branch):
        children = list(node.children)
        i = _HEX.index(path[0])
        children[i] = _put(children[i], path[1:], value)
        return _Branch(children)
    if isinstance(node, _Leaf):
        if node.path == path:
            return _Leaf(path, value)
        c = _common(node.path, path)
        kids: list[_Node | None] = [None] * 16
        kids[_HEX.index(node.path[c])] = _Leaf(node.path[c + 1 :], node.value)
        kids[_HEX.index(path[c])] = _Leaf(path[c + 1 :], value)
        branch = _Branch(kids)
        return _Ext(path[:c], branch) if c else branch
    c = _common(node.path, path)
    if c == len(node.path):
        child = _put(node.child, path[c:], value)
        assert isinstance(child, _Branch)
        return _Ext(node.path, child)
    kids = [None] * 16
    rest = node.path[c + 1 :]
    kids[_HEX.index(node.path[c])] = _Ext(rest, node.child) if rest else node.child
    kids[_HEX.index(path[c])] = _Leaf(path[c + 1 :], value)
    branch = _Branch(kids)
    return _Ext(path[:c], branch) if c else branch


def _join(prefix: str, node: _Node) -> _Node:
    """``node`` moved under ``prefix`` (merging paths, as a trie must stay canonical)."""
    if isinstance(node, _Leaf):
        return _Leaf(prefix + node.path, node.value)
    if isinstance(node, _Ext):
        return _Ext(prefix + node.path, node.child)
    return _Ext(prefix, node) if prefix else node


def _delete(node: _Node | None, path: str) -> _Node | None:
    """``node`` without ``path`` (unchanged when absent)."""
    if node is None:
        return None
    if isinstance(node, _Leaf):
        return None if node.path == path else node
    if isinstance(node, _Ext):
        if not path.startswith(node.path):
            return node
        child = _delete(node.child, path[len(node.path) :])
        if child is node.child:
            return node
        assert child is not None  # a branch keeps at least one child
        return _join(node.path, child)
    i = _HEX.index(path[0])
    old = node.children[i]
    new = _delete(old, path[1:])
    if new is old:
        return node
    children = list(node.children)
    children[i] = new
    left = [j for j, c in enumerate(children) if c is not None]
    if len(left) > 1:
        return _Branch(children)
    only = children[left[0]]
    assert only is not None
    return _join(_HEX[left[0]], only)


@lru_cache(maxsize=1 << 20)
def slot_path(slot: int) -> str:
    """The trie path of a storage slot (cached: the same slots are written again and again)."""
    return keccak256(slot.to_bytes(32, "big")).hex()


class StateTrie:
    """The account trie and the storage tries."""

    def __init__(self) -> None:
        self._accounts: _Node | None = None
        self._storage: dict[bytes, _Node | None] = {}
        self._paths: dict[bytes, str] = {}

    @property
    def root(self) -> bytes:
        """The current state root."""
        return root_hash(self._accounts)

    def _path(self, key: bytes) -> str:
        """The trie path of an address (cached) or slot key."""
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = keccak256(key).hex()
        return path

    def update(self, state: State, dirty: set[bytes], dirty_slots: dict[bytes, set[int]]) -> bytes:
        """Rewrite ``dirty`` accounts and ``dirty_slots`` from ``state``; return the new root."""
        accounts = self._accounts
        tries = self._storage
        for address in dirty:
            storage = tries.get(address)
            slots = dirty_slots.get(address)
            if slots:
                values = state.storage.get(address, {})
                for slot in slots:
                    path = slot_path(slot)
                    value = values.get(slot, 0)
                    if value:
                        storage = _put(storage, path, rlp_int(value))
                    else:
                        storage = _delete(storage, path)
                if storage is None:
                    tries.pop(address, None)
                else:
                    tries[address] = storage
            balance, nonce, code_hash = state.account(address)
            path = self._path(address)
            if (balance == 0 and nonce == 0 and code_hash == EMPTY_CODE_HASH
                    and storage is None):
                accounts = _delete(accounts, path)
            else:
                leaf = rlp_list(rlp_int(nonce) + rlp_int(balance)
                                + rlp_str(root_hash(storage)) + rlp_str(code_hash))
                accounts = _put(accounts, path, leaf)
        self._accounts = accounts
        return self.root

    def rebuild(self, state: State) -> bytes:
        """Recompute everything from ``state`` (after a revert); return the root."""
        self._accounts = None
        self._storage = {}
        dirty = set(state.accounts) | set(state.storage)
        slots = {address: set(values) for address, values in state.storage.items()}
        return self.update(state, dirty, slots)
