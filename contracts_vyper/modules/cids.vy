# pragma version ~=0.4.3
"""
@title CIDv1 rendering for on-chain content references
@custom:contract-name cids
@license MIT
@notice Contracts keep a content reference as its sha2-256 digest
        (bytes32) plus a one-byte multicodec (0x55 raw, 0x70 dag-pb),
        which is all a CIDv1 needs. `_to_uri` renders the `ipfs://`
        URI with the CIDv1 in lower-case base32 ("b" multibase prefix),
        exactly as `ipfs cid format -v 1 -b base32` prints it.
"""

CODEC_RAW: constant(uint8) = 85  # 0x55
CODEC_DAG_PB: constant(uint8) = 112  # 0x70
# the byte lanes of a word (0x0101...01) and the masks `_base32_word` halves groups with
_LANES: constant(uint256) = max_value(uint256) // 255
_MASK_40: constant(uint256) = (1 << 40) - 1
_MASK_20: constant(uint256) = (max_value(uint256) // (2**64 - 1)) * ((1 << 20) - 1)
_MASK_10: constant(uint256) = (max_value(uint256) // (2**32 - 1)) * 1023
_MASK_5: constant(uint256) = (max_value(uint256) // (2**16 - 1)) * 31


@internal
@pure
def _is_codec(codec: uint8) -> bool:
    """
    @dev True for the codecs pmrsim stores (raw, dag-pb).
    @param codec The multicodec byte.
    @return bool Whether it is supported.
    """
    return codec == CODEC_RAW or codec == CODEC_DAG_PB


@internal
@pure
def _base32_word(bits: uint256) -> bytes32:
    """
    @dev Thirty-two lower-case base32 characters (RFC 4648) of 160 bits, as ASCII bytes.
         The four 40-bit groups go to four 64-bit lanes, each is halved (20, 10, 5 bits)
         until every 5-bit value has a byte, and all 32 bytes are mapped at once:
         0..25 to a..z, 26..31 to 2..7.
    @param bits The 160-bit value, most significant character first.
    @return bytes32 The characters.
    """
    v: uint256 = (
        (((bits >> 120) & _MASK_40) << 192)
        | (((bits >> 80) & _MASK_40) << 128)
        | (((bits >> 40) & _MASK_40) << 64)
        | (bits & _MASK_40)
    )
    v = (((v >> 20) & _MASK_20) << 32) | (v & _MASK_20)
    v = (((v >> 10) & _MASK_10) << 16) | (v & _MASK_10)
    v = (((v >> 5) & _MASK_5) << 8) | (v & _MASK_5)
    # bytes holding 26..31 reach 128 once 102 is added; they take 24 + v instead of 97 + v
    high: uint256 = ((v + 102 * _LANES) & (128 * _LANES)) >> 7
    return convert(v + 97 * _LANES - high * 73, bytes32)


@internal
@pure
def _to_uri(codec: uint8, digest: bytes32) -> String[66]:
    """
    @dev `ipfs://b...` for the CIDv1 (codec, sha2-256 digest).
    @param codec The multicodec byte (0x55 raw or 0x70 dag-pb).
    @param digest The sha2-256 digest of the block.
    @return String The URI; empty when the digest is zero.
    """
    if digest == empty(bytes32):
        return ""
    # CID bytes: 0x01 (v1), codec, 0x12 (sha2-256), 0x20 (32 bytes), then the digest: 36 bytes
    # = 58 characters: bytes 0..19 give the first 32, bytes 20..35 (zero-padded) the other 26
    d: uint256 = convert(digest, uint256)
    prefix: uint256 = (1 << 24) | (convert(codec, uint256) << 16) | 4640  # 0x12, 0x20
    head: bytes32 = self._base32_word((prefix << 128) | (d >> 128))
    tail: bytes32 = self._base32_word((d & ((1 << 128) - 1)) << 32)
    return convert(concat(b"ipfs://b", head, slice(tail, 0, 26)), String[66])
