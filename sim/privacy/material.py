"""Secret key material that can be serialised, hidden from ``repr`` and destroyed.

Python cannot promise that no copy of a secret survives in memory, so
"destroy" here means: the holder's own buffer is overwritten with zeros and
every later use raises :class:`~sim.errors.PrivacyError`. That is what a
simulation of crypto-shredding needs: once destroyed, the value is gone
from every object the simulation can reach.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sim.errors import InputError, PrivacyError

#: Length of the record key K, its essential share K_e and every key share.
KEY_SIZE = 32


class SecretBytes:
    """A mutable secret buffer whose ``repr`` never shows the value."""

    __slots__ = ("_buffer", "_destroyed")

    def __init__(self, value: bytes | bytearray) -> None:
        self._buffer = bytearray(value)
        self._destroyed = False

    def reveal(self) -> bytes:
        """Return a copy of the value; raises :class:`PrivacyError` once destroyed."""
        if self._destroyed:
            raise PrivacyError("secret was destroyed")
        return bytes(self._buffer)

    def destroy(self) -> int:
        """Overwrite the value with zeros; return how many bytes were destroyed now."""
        if self._destroyed:
            return 0
        self._buffer[:] = bytes(len(self._buffer))
        self._destroyed = True
        return len(self._buffer)

    @property
    def destroyed(self) -> bool:
        """Whether :meth:`destroy` has run."""
        return self._destroyed

    def __len__(self) -> int:
        return len(self._buffer)

    def __repr__(self) -> str:
        state = "destroyed" if self._destroyed else f"{len(self._buffer)} bytes"
        return f"SecretBytes(<{state}>)"


#: Bytes of a share file read at most (one is ~250 bytes, plus its record id).
MAX_SHARE_BYTES = 64 << 10
#: Deepest JSON nesting a share file or manifest may have (theirs is 2). Checked before
#: parsing: the C parser's recursion guard follows the interpreter's recursion limit, which
#: py-evm raises to 12,288 on import, and a C recursion that deep can overflow the stack.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit`` (brackets inside
    strings ignored; the text need not be valid JSON)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    depth = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


def _load(text: str | bytes, kind: str, what: str) -> dict[str, Any]:
    """Parse a serialised secret of ``kind``; raise :class:`InputError` naming ``what``."""
    if len(text) > MAX_SHARE_BYTES:
        raise InputError(f"{what}: {len(text):,} bytes; a share file has at most {MAX_SHARE_BYTES:,}")
    if too_deep(text):
        raise InputError(f"{what}: not a share file (JSON nested too deep)")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{what}: not a share file (JSON nested too deep)") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise InputError(f"{what}: expected a {kind!r} object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(f"{what}: field {name!r} must be {kind.__name__}")
    return value


def _hex_key(data: dict[str, Any], what: str) -> bytes:
    try:
        value = bytes.fromhex(_field(data, "value", str, what))
    except ValueError:
        raise InputError(f"{what}: field 'value' must be hex") from None
    if len(value) != KEY_SIZE:
        raise InputError(f"{what}: field 'value' must be {KEY_SIZE} bytes, got {len(value)}")
    return value


def _share_json(kind: str, secret: SecretBytes, **fields: object) -> str:
    """A share file: its kind, its fields and the secret value in hex (keys sorted)."""
    return json.dumps({"kind": kind, **fields, "value": secret.reveal().hex()}, sort_keys=True)


def _share_fields(data: dict[str, Any], what: str) -> dict[str, Any]:
    """The fields every share file has: record id, version and key epoch."""
    return {"record_id": _field(data, "record_id", str, what),
            "version": _field(data, "version", int, what),
            "key_epoch": _field(data, "key_epoch", int, what)}


@dataclass(eq=False, slots=True)
class EssentialShare:
    """The patient's essential share K_e of one record's key (at one key epoch)."""

    KIND = "pmrsim.essential-share/1"

    record_id: str
    version: int
    key_epoch: int
    secret: SecretBytes = field(repr=False)

    def to_json(self) -> str:
        """Serialise (the value included: this is a secret file)."""
        return _share_json(self.KIND, self.secret, record_id=self.record_id,
                           version=self.version, key_epoch=self.key_epoch)

    @classmethod
    def from_json(cls, text: str | bytes, *, what: str = "essential share") -> EssentialShare:
        """Parse :meth:`to_json` output; raise :class:`InputError` naming ``what``."""
        data = _load(text, cls.KIND, what)
        return cls(**_share_fields(data, what), secret=SecretBytes(_hex_key(data, what)))


@dataclass(eq=False, slots=True)
class KeyShare:
    """Custodian ``index``'s Shamir share of K_s (at one key epoch)."""

    KIND = "pmrsim.key-share/1"

    record_id: str
    version: int
    key_epoch: int
    index: int
    secret: SecretBytes = field(repr=False)

    def to_json(self) -> str:
        """Serialise (the value included: this is a secret file)."""
        return _share_json(self.KIND, self.secret, record_id=self.record_id,
                           version=self.version, key_epoch=self.key_epoch, index=self.index)

    @classmethod
    def from_json(cls, text: str | bytes, *, what: str = "key share") -> KeyShare:
        """Parse :meth:`to_json` output; raise :class:`InputError` naming ``what``."""
        data = _load(text, cls.KIND, what)
        return cls(**_share_fields(data, what), index=_field(data, "index", int, what),
                   secret=SecretBytes(_hex_key(data, what)))


def xor_bytes(a: bytes, b: bytes) -> bytes:
    """XOR two equal-length byte strings."""
    if len(a) != len(b):
        raise InputError(f"cannot XOR {len(a)} bytes with {len(b)} bytes")
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
