"""Merkle-Patricia state roots for :mod:`sim.chain.revm`, kept up to date block by block.

revm has no state trie. :class:`StateTrie` keeps the account trie and one
storage trie per contract as in-memory nodes, and after each block rewrites
only the accounts and slots the block wrote. Only the current version of a
trie is kept, so a write changes the nodes along its path in place and
clears their cached references; a node's reference (its encoding, or the
hash of it) is computed lazily when a root is asked for and cached in the
branch or extension, so re-encoding a parent only computes the changed
children. Encodings are Ethereum's (and so py-evm's):
account leaf ``rlp([nonce, balance, storage_root, code_hash])`` under
``keccak(address)``, storage leaf ``rlp(value)`` under ``keccak(slot)``;
accounts left empty (EIP-161) are not in the trie.

Every key is 32 bytes, so branch nodes never carry a value. Paths are kept
as hex strings (one character per nibble), which makes prefixes, branch
indices and the hex-prefix encoding cheap string operations. A leaf is
kept as its own encoding (one bytes object; decoded on the rare write that
splits or moves it): the storage tries' leaves are also the backend's only
copy of the committed storage (:class:`StateTrie` is its
:class:`~sim.chain._revm_exec.SlotStore`).
"""

from __future__ import annotations

from collections.abc import Iterator
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


class _Ext:
    __slots__ = ("child", "path", "ref")

    def __init__(self, path: str, child: _Branch) -> None:
        self.path = path
        self.child = child
        self.ref: bytes | None = None


class _Branch:
    """16 children; a dense branch also keeps their references (None = to compute).

    ``refs`` (17 items: a branch's value slot is always empty, every key
    being 32 bytes) is kept only by branches with at least :data:`_DENSE`
    children: the upper levels, re-encoded every block, where it saves
    walking 16 children. The many sparse branches near the leaves go without
    (the list would cost ~200 bytes each).
    """

    __slots__ = ("children", "ref", "refs")

    def __init__(self, children: list[_Node | None]) -> None:
        self.children = children
        self.ref: bytes | None = None
        self.refs: list[bytes | None] | None = None


#: Children from which a branch keeps its children's references.
_DENSE = 8


#: A leaf is kept as its own encoding, ``rlp([hex_prefix(path), value])``: one bytes
#: object instead of an object, a path string and a value (a city has millions).
_Leaf = bytes
_Node = _Leaf | _Ext | _Branch


def _hex_prefix(path: str, leaf: bool) -> bytes:
    """The hex-prefix (compact) encoding of a nibble path."""
    if len(path) % 2:
        return bytes.fromhex(("3" if leaf else "1") + path)
    return bytes.fromhex(("20" if leaf else "00") + path)


def _leaf(path: str, value: bytes) -> _Leaf:
    """The leaf holding ``value`` at ``path`` (its encoding)."""
    return rlp_list(rlp_str(_hex_prefix(path, True)) + rlp_str(value))


def _leaf_parts(leaf: _Leaf) -> tuple[str, bytes]:
    """(path, value) of a leaf: the inverse of :func:`_leaf`."""
    b = leaf[0]
    i = 1 if b <= 0xF7 else 1 + b - 0xF7  # past the list's header
    b = leaf[i]
    if b < 0x80:  # a one-byte hex prefix (a path of 0 or 1 nibbles)
        hp = leaf[i : i + 1]
        i += 1
    else:  # at most 33 bytes: a short string
        hp = leaf[i + 1 : i + 1 + b - 0x80]
        i += 1 + b - 0x80
    h = hp.hex()
    path = h[1:] if h[0] == "3" else h[2:]
    b = leaf[i]
    if b < 0x80:
        return path, leaf[i : i + 1]
    if b <= 0xB7:
        return path, leaf[i + 1 : i + 1 + b - 0x80]
    m = b - 0xB7
    n = int.from_bytes(leaf[i + 1 : i + 1 + m], "big")
    return path, leaf[i + 1 + m : i + 1 + m + n]


def _ref(node: _Node) -> bytes:
    """How a parent refers to ``node``: its encoding when shorter than 32 bytes, else its hash.

    Computed once for branches and extensions (cached in the node until a
    write clears it; a parent branch keeps its children's, leaves included).
    """
    if isinstance(node, bytes):
        return node if len(node) < 32 else b"\xa0" + _keccak(node)
    ref = node.ref
    if ref is not None:
        return ref
    if type(node) is _Branch:
        refs = node.refs
        if refs is None:
            refs = []
            for child in node.children:
                if child is None:
                    refs.append(_EMPTY)
                elif type(child) is bytes:
                    refs.append(child if len(child) < 32 else b"\xa0" + _keccak(child))
                else:
                    refs.append(child.ref or _ref(child))  # type: ignore[union-attr]
            refs.append(_EMPTY)
            if 17 - refs.count(_EMPTY) >= _DENSE:
                node.refs = refs
        else:
            stale = refs.count(None)
            if stale:
                children = node.children
                i = -1
                for _ in range(stale):
                    i = refs.index(None, i + 1)
                    child = children[i]
                    assert child is not None
                    refs[i] = _ref(child)
        encoded = rlp_list(b"".join(refs))  # type: ignore[arg-type]  # no None left
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
        return _leaf(path, value)
    if type(node) is _Branch:
        i = _IDX[path[0]]
        children = node.children
        children[i] = _put(children[i], path[1:], value)
        node.ref = None
        if node.refs is not None:
            node.refs[i] = None
        return node
    if type(node) is bytes:
        at, old = _leaf_parts(node)
        if at == path:
            return _leaf(path, value)
        c = _common(at, path)
        kids: list[_Node | None] = [None] * 16
        kids[_IDX[at[c]]] = _leaf(at[c + 1 :], old)
        kids[_IDX[path[c]]] = _leaf(path[c + 1 :], value)
        branch = _Branch(kids)
        return _Ext(path[:c], branch) if c else branch
    assert type(node) is _Ext
    node.ref = None
    c = _common(node.path, path)
    if c == len(node.path):
        _put(node.child, path[c:], value)  # a branch: changed in place
        return node
    kids = [None] * 16
    rest = node.path[c + 1 :]
    kids[_IDX[node.path[c]]] = _Ext(rest, node.child) if rest else node.child
    kids[_IDX[path[c]]] = _leaf(path[c + 1 :], value)
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
    if type(node) is bytes:
        path, value = _leaf_parts(node)
        return _leaf(prefix + path, value)
    assert type(node) is _Ext
    node.path = prefix + node.path
    node.ref = None
    return node


def _get(node: _Node | None, path: str) -> bytes | None:
    """The value under ``path`` in the trie ``node`` (None when absent)."""
    while node is not None:
        if type(node) is _Branch:
            node = node.children[_IDX[path[0]]]
            path = path[1:]
        elif type(node) is bytes:
            at, value = _leaf_parts(node)
            return value if at == path else None
        else:
            assert type(node) is _Ext
            if not path.startswith(node.path):
                return None
            path = path[len(node.path) :]
            node = node.child
    return None


def _delete(node: _Node | None, path: str) -> _Node | None:
    """The trie ``node`` without ``path`` (changed in place, as by :func:`_put`; unchanged when absent)."""
    if _get(node, path) is None:
        return node
    assert node is not None
    return _remove(node, path)


def _remove(node: _Node, path: str) -> _Node | None:
    """``node`` without ``path``, which it holds."""
    if type(node) is bytes:
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
    node.refs = None  # deletes are rare: the cache is rebuilt when next encoded
    if new is not None or children.count(None) < 15:
        return node
    # one child left: the branch collapses into it
    j = next(j for j, c in enumerate(children) if c is not None)
    only = children[j]
    assert only is not None
    return _join(_HEX[j], only)


def _leaves(node: _Node | None) -> Iterator[bytes]:
    """Every value in the trie ``node``."""
    stack = [node]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if type(node) is bytes:
            yield _leaf_parts(node)[1]
        elif type(node) is _Ext:
            stack.append(node.child)
        else:
            assert type(node) is _Branch
            stack.extend(node.children)


def _int_of_rlp(encoded: bytes) -> int:
    """The integer of a storage leaf's value (the RLP of at most 32 bytes)."""
    first = encoded[0]
    return first if first < 0x80 else int.from_bytes(encoded[1:], "big")


@lru_cache(maxsize=1 << 12)
def slot_path(slot: int) -> str:
    """The trie path of a storage slot (a small cache: a contract's fixed slots recur).

    Most slots of a big run (mapping entries) are written once or twice; a
    cache as large as the state would cost ~300 bytes a slot for few hits.
    """
    return keccak256(slot.to_bytes(32, "big")).hex()


class StateTrie:
    """The account trie and the storage tries; also the revm backend's committed storage.

    The storage tries' leaves hold every slot's value, so the backend keeps
    no other copy (:class:`sim.chain._revm_exec.SlotStore`).
    """

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

    # -- the SlotStore of committed storage ---------------------------------
    def get(self, address: bytes, slot: int) -> int:
        """Committed value of ``slot`` of ``address`` (0 when unset)."""
        storage = self._storage.get(address)
        if storage is None:
            return 0
        value = _get(storage, slot_path(slot))
        return 0 if value is None else _int_of_rlp(value)

    def storage_root(self, address: bytes) -> bytes:
        """The root of ``address``'s storage trie (the empty root when it has none)."""
        return root_hash(self._storage.get(address))

    def has_storage(self, address: bytes) -> bool:
        """Whether ``address`` has any committed non-zero slot."""
        return self._storage.get(address) is not None

    def values(self) -> Iterator[int]:
        """Every committed non-zero value."""
        for storage in self._storage.values():
            for value in _leaves(storage):
                yield _int_of_rlp(value)

    def update(self, state: State, dirty: set[bytes],
               dirty_slots: dict[bytes, dict[int, int]]) -> bytes:
        """Commit ``dirty`` accounts (read from ``state``) and the written slots; return the root."""
        accounts = self._accounts
        tries = self._storage
        for address in dirty:
            storage = tries.get(address)
            written = dirty_slots.get(address)
            if written:
                for slot, value in written.items():
                    path = slot_path(slot)
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
