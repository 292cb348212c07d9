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
def _byte_at(prefix: uint256, digest: uint256, j: uint256) -> uint256:
    """
    @dev Byte `j` of the 36-byte CID (4 prefix bytes, then the digest).
    @param prefix The 4 prefix bytes as a number.
    @param digest The digest as a number.
    @param j The byte index, 0..36 (36 reads as zero padding).
    @return uint256 The byte value.
    """
    if j < 4:
        return (prefix >> (8 * (3 - j))) & 255
    if j < 36:
        return (digest >> (8 * (35 - j))) & 255
    return 0


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
    # CID bytes: 0x01 (v1), codec, 0x12 (sha2-256), 0x20 (32 bytes), digest
    prefix: uint256 = (1 << 24) | (convert(codec, uint256) << 16) | 4640  # 0x12, 0x20
    d: uint256 = convert(digest, uint256)
    head: uint256 = 0
    tail: uint256 = 0
    # 288 bits -> 58 base32 characters of 5 bits, most significant first
    for i: uint256 in range(58):
        bit: uint256 = i * 5
        window: uint256 = (self._byte_at(prefix, d, bit // 8) << 8) | self._byte_at(
            prefix, d, bit // 8 + 1
        )
        index: uint256 = (window >> (11 - bit % 8)) & 31
        char: uint256 = 97 + index  # a..z
        if index >= 26:
            char = 24 + index  # 2..7
        if i < 32:
            head = (head << 8) | char
        else:
            tail = (tail << 8) | char
    tail = tail << (8 * 6)  # 26 characters, left-aligned
    raw: Bytes[58] = concat(convert(head, bytes32), slice(convert(tail, bytes32), 0, 26))
    return concat("ipfs://b", convert(raw, String[58]))
