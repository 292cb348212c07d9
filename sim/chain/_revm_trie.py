"""Merkle-Patricia state roots for :mod:`sim.chain.revm`, kept up to date block by block.

revm has no state trie. :class:`StateTrie` keeps the account trie and one
storage trie per contract as in-memory nodes, and after each block rewrites
only the accounts and slots the block wrote. Only the current version of a
trie is kept, so a write changes the nodes along its path in place and
clears their cached references; a node's reference (its encoding, or the
hash of it) is computed lazily when a root is asked for, and a branch keeps
its children's references, so re-encoding it only computes the changed
ones. Encodings are Ethereum's (and so py-evm's):
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
#: Branch index of a nibble character.
_IDX = {c: i for i, c in enumerate(_HEX)}
#: The reference of an empty branch slot, and the (always empty) value slot of a branch.
_EMPTY = b"\x80"

try:  # the C keccak behind sim.hashing, without its wrapper: a trie hashes every node it changes
    from sha3 import keccak_256 as _keccak_obj

    def _keccak(data: bytes) -> bytes:
        """keccak-256 of ``data``."""
        return _keccak_obj(data).digest()
except ImportError:  # pragma: no cover - depends on the environment
    _keccak = keccak256


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
    """16 children and their references (``refs[16]`` is the empty value; None = not computed)."""

    __slots__ = ("children", "ref", "refs")

    def __init__(self, children: list[_Node | None]) -> None:
        self.children = children
        self.refs: list[bytes | None] = [_EMPTY if c is None else None for c in children]
        self.refs.append(_EMPTY)
        self.ref: bytes | None = None


_Node = _Leaf | _Ext | _Branch


def _hex_prefix(path: str, leaf: bool) -> bytes:
    """The hex-prefix (compact) encoding of a nibble path."""
    if len(path) % 2:
        return bytes.fromhex(("3" if leaf else "1") + path)
    return bytes.fromhex(("20" if leaf else "00") + path)


def _ref(node: _Node) -> bytes:
    """How a parent refers to ``node``: its encoding when shorter than 32 bytes, else its hash.

    Computed once (cached in the node until a write clears it).
    """
    ref = node.ref
    if ref is not None:
        return ref
    if type(node) is _Branch:
        refs = node.refs
        stale = refs.count(None)
        if stale:
            children = node.children
            i = -1
            for _ in range(stale):
                i = refs.index(None, i + 1)
                child = children[i]
                assert child is not None
                refs[i] = child.ref or _ref(child)
        encoded = rlp_list(b"".join(refs))  # type: ignore[arg-type]  # no None left
    elif type(node) is _Leaf:
        encoded = rlp_list(rlp_str(_hex_prefix(node.path, True)) + rlp_str(node.value))
    else:
        assert type(node) is _Ext
        child = node.child
        encoded = rlp_list(rlp_str(_hex_prefix(node.path, False)) + (child.ref or _ref(child)))
    ref = node.ref = encoded if len(encoded) < 32 else b"\xa0" + _keccak(encoded)
    return ref


def root_hash(node: _Node | None) -> bytes:
    """The root hash of the trie under ``node``."""
    if node is None:
        return BLANK_ROOT
    ref = _ref(node)
    return ref[1:] if len(ref) == 33 and ref[0] == 0xA0 else _keccak(ref)


def _common(a: str, b: str) -> int:
    """Length of the common prefix of two paths."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _put(node: _Node | None, path: str, value: bytes) -> _Node:
    """The trie ``node`` with ``path`` set to ``value`` (changed in place; the new top node).

    Nodes are changed in place (a trie keeps only its current version) and
    the cached references along the path are cleared.
    """
    if node is None:
        return _Leaf(path, value)
    if type(node) is _Branch:
        i = _IDX[path[0]]
        children = node.children
        children[i] = _put(children[i], path[1:], value)
        node.refs[i] = None
        node.ref = None
        return node
    node.ref = None
    if type(node) is _Leaf:
        if node.path == path:
            node.value = value
            return node
        c = _common(node.path, path)
        kids: list[_Node | None] = [None] * 16
        kids[_IDX[node.path[c]]] = node
        node.path = node.path[c + 1 :]
        kids[_IDX[path[c]]] = _Leaf(path[c + 1 :], value)
        branch = _Branch(kids)
        return _Ext(path[:c], branch) if c else branch
    assert type(node) is _Ext
    c = _common(node.path, path)
    if c == len(node.path):
        _put(node.child, path[c:], value)  # a branch: changed in place
        return node
    kids = [None] * 16
    rest = node.path[c + 1 :]
    kids[_IDX[node.path[c]]] = _Ext(rest, node.child) if rest else node.child
    kids[_IDX[path[c]]] = _Leaf(path[c + 1 :], value)
    branch = _Branch(kids)
    if not c:
        return branch
    node.path = path[:c]
    node.child = branch
    return node


def _join(prefix: str, node: _Node) -> _Node:
    """``node`` moved under ``prefix`` (merging paths, as a trie must stay canonical)."""
    if type(node) is _Branch:
        return _Ext(prefix, node) if prefix else node
    assert type(node) is _Leaf or type(node) is _Ext
    node.path = prefix + node.path
    node.ref = None
    return node


def _has(node: _Node | None, path: str) -> bool:
    """Whether the trie ``node`` holds ``path``."""
    while node is not None:
        if type(node) is _Branch:
            node = node.children[_IDX[path[0]]]
            path = path[1:]
        elif type(node) is _Leaf:
            return node.path == path
        else:
            assert type(node) is _Ext
            if not path.startswith(node.path):
                return False
            path = path[len(node.path) :]
            node = node.child
    return False


def _delete(node: _Node | None, path: str) -> _Node | None:
    """The trie ``node`` without ``path`` (changed in place, as by :func:`_put`; unchanged when absent)."""
    if not _has(node, path):
        return node
    assert node is not None
    return _remove(node, path)


def _remove(node: _Node, path: str) -> _Node | None:
    """``node`` without ``path``, which it holds."""
    if type(node) is _Leaf:
        return None
    if type(node) is _Ext:
        child = _remove(node.child, path[len(node.path) :])
        assert child is not None  # a branch keeps at least one child
        if child is node.child:  # still a branch
            node.ref = None
            return node
        return _join(node.path, child)
    assert type(node) is _Branch
    i = _IDX[path[0]]
    children = node.children
    child = children[i]
    assert child is not None
    new = children[i] = _remove(child, path[1:])
    node.ref = None
    if new is not None:
        node.refs[i] = None
        return node
    node.refs[i] = _EMPTY
    if children.count(None) < 15:
        return node
    # one child left: the branch collapses into it
    j = next(j for j, c in enumerate(children) if c is not None)
    only = children[j]
    assert only is not None
    return _join(_HEX[j], only)


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
