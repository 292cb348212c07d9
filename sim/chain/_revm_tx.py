"""Signed EIP-1559 transactions for :mod:`sim.chain.revm`, without py-evm's objects on the hot path.

:func:`sign` produces the same bytes and hash as the pyevm backend's
``CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(...)
.as_signed_transaction(key)`` (RLP by hand for this one flat shape, the
signature from coincurve with RFC 6979 nonces, as eth-keys' coincurve
backend makes it); the test suite checks the bytes against py-evm's.
:func:`decode` takes any transaction py-evm accepts (replay) through py-evm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from coincurve import PrivateKey

from sim.chain._rlp import rlp_int, rlp_list, rlp_str
from sim.chain.base import CHAIN_ID
from sim.hashing import keccak256 as keccak

#: Intrinsic gas (py-evm's Berlin rule, which Cancun keeps): base, per data byte, create.
TX_GAS = 21_000
TX_DATA_ZERO_GAS = 4
TX_DATA_NONZERO_GAS = 16
TX_CREATE_GAS = 32_000


@dataclass(slots=True)
class SignedTx:
    """What the revm backend keeps of a signed transaction (not frozen: a frozen dataclass
    takes ~5x longer to build, once per transaction; only the revm chain's background signing changes one)."""

    sender: bytes
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas: int
    to: bytes  # b"" for a deployment
    value: int
    data: bytes
    hash: bytes
    raw: bytes
    intrinsic_gas: int


_CHAIN_ID_RLP = rlp_int(CHAIN_ID)


def intrinsic_gas(to: bytes, data: bytes) -> int:
    """py-evm's intrinsic gas of a transaction without an access list."""
    zeros = data.count(0)
    gas = TX_GAS + TX_DATA_ZERO_GAS * zeros + TX_DATA_NONZERO_GAS * (len(data) - zeros)
    return gas + (0 if to else TX_CREATE_GAS)


def create_address(sender: bytes, nonce: int) -> bytes:
    """The address a deployment by ``sender`` at ``nonce`` creates."""
    return keccak(rlp_list(rlp_str(sender) + rlp_int(nonce)))[12:]


@lru_cache(maxsize=8192)
def _key(private_key: bytes) -> PrivateKey:
    """coincurve key object (cached: building it derives the public key)."""
    return PrivateKey(private_key)


def sign(private_key: bytes, tx: SignedTx) -> SignedTx:
    """Sign an :func:`unsigned` transaction (EIP-1559, :data:`CHAIN_ID`, no access list):
    give it its bytes and hash; return it."""
    tx.raw, tx.hash = signed_bytes(private_key, tx.raw)
    return tx


def unsigned(
    sender: bytes,
    nonce: int,
    max_priority_fee_per_gas: int,
    max_fee_per_gas: int,
    gas: int,
    to: bytes,
    value: int,
    data: bytes,
    handle: bytes = b"",
) -> SignedTx:
    """An EIP-1559 transaction to be signed: its ``hash`` is ``handle`` and its ``raw`` the
    RLP of its fields (the payload of the list signed) until :func:`signed_bytes` is applied."""
    fields = b"".join((
        _CHAIN_ID_RLP, rlp_int(nonce), rlp_int(max_priority_fee_per_gas), rlp_int(max_fee_per_gas),
        rlp_int(gas), rlp_str(to), rlp_int(value), rlp_str(data), b"\xc0",
    ))
    return SignedTx(sender, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas, to, value,
                    data, handle, fields, intrinsic_gas(to, data))


def signed_bytes(private_key: bytes, fields: bytes) -> tuple[bytes, bytes]:
    """The signed transaction's bytes and hash, from the RLP of its fields (:func:`unsigned`)."""
    signature = _key(private_key).sign_recoverable(keccak(b"\x02" + rlp_list(fields)),
                                                   hasher=None)
    # r and s as RLP integers: big-endian without leading zero bytes (never zero, EIP-2)
    r = rlp_str(signature[:32].lstrip(b"\x00"))
    s = rlp_str(signature[32:64].lstrip(b"\x00"))
    raw = b"\x02" + rlp_list(b"".join((fields, rlp_int(signature[64]), r, s)))
    return raw, keccak(raw)


#: secp256k1 group order, and half of it (EIP-2: s must be in the lower half).
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _N // 2


def _items(payload: bytes) -> list[bytes] | None:
    """The items of a flat RLP list payload (a nested list is returned with its header)."""
    out: list[bytes] = []
    i, n = 0, len(payload)
    while i < n:
        b = payload[i]
        if b < 0x80:
            out.append(payload[i : i + 1])
            i += 1
            continue
        if b <= 0xB7:
            start, size = i + 1, b - 0x80
        elif b <= 0xBF:
            k = b - 0xB7
            start, size = i + 1 + k, int.from_bytes(payload[i + 1 : i + 1 + k], "big")
        elif b <= 0xF7:
            start, size = i + 1, b - 0xC0
            out.append(payload[i : start + size])
            i = start + size
            continue
        else:
            return None
        out.append(payload[start : start + size])
        i = start + size
    return out if i == n else None


def _fast_decode(raw: bytes) -> SignedTx | None:
    """Decode a canonical type-2 transaction without access list; None when not that shape."""
    from coincurve import PublicKey

    if len(raw) < 2 or raw[0] != 2 or raw[1] < 0xC0:
        return None
    header = raw[1]
    if header <= 0xF7:
        start = 2
    else:
        start = 2 + header - 0xF7
    items = _items(raw[start:])
    if items is None or len(items) != 12 or items[8] != b"\xc0" or len(items[5]) not in (0, 20):
        return None
    chain_id, nonce, tip, max_fee, gas = (int.from_bytes(x, "big") for x in items[:5])
    to, value, data = items[5], int.from_bytes(items[6], "big"), items[7]
    y_parity, r, s = (int.from_bytes(x, "big") for x in items[9:12])
    if chain_id != CHAIN_ID or y_parity > 1 or not (0 < r < _N and 0 < s <= _HALF_N):
        return None
    fields = (rlp_int(chain_id) + rlp_int(nonce) + rlp_int(tip) + rlp_int(max_fee) + rlp_int(gas)
              + rlp_str(to) + rlp_int(value) + rlp_str(data) + b"\xc0")
    if b"\x02" + rlp_list(fields + rlp_int(y_parity) + rlp_int(r) + rlp_int(s)) != raw:
        return None  # not canonical: let py-evm judge it
    if tip > max_fee or max(nonce, gas) >= 2**64 or max(tip, max_fee, value) >= 2**256:
        return None
    digest = keccak(b"\x02" + rlp_list(fields))
    try:
        public = PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,)), digest, hasher=None
        )
    except Exception:  # coincurve raises a plain Exception on a bad signature
        return None
    sender = keccak(public.format(compressed=False)[1:])[12:]
    return SignedTx(sender, nonce, tip, max_fee, gas, to, value, data, keccak(raw), raw,
                    intrinsic_gas(to, data))


def decode(raw: bytes) -> SignedTx:
    """Decode and check a signed transaction; recover the sender.

    Canonical EIP-1559 transactions without an access list (what pmrsim
    signs) are decoded here; anything else goes through py-evm (any type it
    accepts). Raises :class:`sim.errors.ChainError` when it is malformed,
    badly signed or for another chain.
    """
    fast = _fast_decode(raw)
    if fast is not None:
        return fast
    from sim.chain import _pyevm_support as sup
    from sim.errors import ChainError

    with sup.translated("invalid raw transaction"):
        tx = sup.TX_BUILDER.decode(raw)
        tx.validate()
    if tx.chain_id != CHAIN_ID:
        raise ChainError(f"transaction chain id {tx.chain_id} is not {CHAIN_ID}")
    with sup.translated("invalid transaction"):
        sender = bytes(tx.sender)
    if tx.access_list:
        raise ChainError("transactions with an access list are not supported by the revm backend")
    return SignedTx(sender, tx.nonce, tx.max_priority_fee_per_gas, tx.max_fee_per_gas, tx.gas,
                    bytes(tx.to), tx.value, bytes(tx.data), bytes(tx.hash), bytes(raw),
                    tx.intrinsic_gas)
