"""Checks that refuse broken input before it is de-identified (see :mod:`sim.privacy.deid`).

pydicom reads what it can and stops quietly at the end of a truncated file,
so a file cut anywhere would come out "de-identified" with elements or pixel
bytes missing. Two independent checks stop that:

* :func:`check_structure` walks the encoded element stream of the whole
  file (file meta, then the data set in its transfer syntax, sequences and
  items of defined and undefined length, encapsulated pixel data) and
  raises :class:`BrokenInput` when a length runs past its container, a
  delimiter is missing or bytes are left over: the file is truncated or
  inconsistent.
* :func:`check_pixels` compares Pixel Data (and Float / Double Float Pixel
  Data) with the attributes that describe it: native data must hold at least
  Rows x Columns x Samples per Pixel x Bits Allocated x Number of Frames
  (rounded up to a byte); encapsulated data must parse
  into items, with at least one fragment per frame and a Basic Offset Table,
  if there is one, with one offset per frame inside the data.

Messages name tags and byte offsets, never a value.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

#: Explicit VRs with a 2-byte reserved field and a 4-byte length.
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_DEFLATED = "1.2.840.10008.1.2.1.99"
#: Item and sequence delimiter tags as read with "<L" from encapsulated (always little endian) data.
_LE_ITEM, _LE_SEQ_END = 0xE000FFFE, 0xE0DDFFFE


class BrokenInput(ValueError):
    """Raised when a file is truncated or its encoding is inconsistent; the message says where."""


def _tag_text(tag: int) -> str:
    """``(GGGG,EEEE)``."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Walker:
    """Walks an encoded data set: checks every length against its container."""

    def __init__(self, data: bytes, *, implicit: bool, little: bool) -> None:
        """Prepare to walk ``data`` in the given encoding."""
        self.data = data
        self.implicit = implicit
        self.endian = "<" if little else ">"

    def _u16(self, pos: int) -> int:
        return int(struct.unpack_from(self.endian + "H", self.data, pos)[0])

    def _u32(self, pos: int) -> int:
        return int(struct.unpack_from(self.endian + "L", self.data, pos)[0])

    def _tag(self, pos: int) -> int:
        return (self._u16(pos) << 16) | self._u16(pos + 2)

    def dataset(self, pos: int, end: int, *, in_item: bool) -> int:
        """Walk elements from ``pos`` to ``end`` (or, in an undefined-length item, to its
        delimiter); return the position after them."""
        while pos < end:
            if end - pos < 8:
                raise BrokenInput(f"{end - pos} stray byte(s) at byte {pos}")
            tag = self._tag(pos)
            if tag == _ITEM_END:
                if not in_item:
                    raise BrokenInput(f"item delimiter outside an item at byte {pos}")
                return pos + 8
            if tag in (_ITEM, _SEQ_END):
                raise BrokenInput(f"unexpected {_tag_text(tag)} at byte {pos}")
            pos = self.element(pos, end, tag)
        return pos

    def element(self, pos: int, end: int, tag: int) -> int:
        """Walk one element at ``pos``; return the position after it."""
        if self.implicit:
            vr = b""
            length = self._u32(pos + 4)
            head = 8
        else:
            vr = self.data[pos + 4:pos + 6]
            if vr in _LONG_VRS:
                if end - pos < 12:
                    raise BrokenInput(f"element {_tag_text(tag)} at byte {pos} is cut short")
                length = self._u32(pos + 8)
                head = 12
            else:
                length = self._u16(pos + 6)
                head = 8
        start = pos + head
        if length == _UNDEFINED:
            return self._undefined(tag, vr, start, end, pos)
        if start + length > end:
            raise BrokenInput(f"element {_tag_text(tag)} at byte {pos} claims {length} bytes; "
                              f"{max(0, end - start)} remain")
        if vr == b"SQ" or (self.implicit and _is_sq(tag)):
            self.items(start, start + length, tag)
        return start + length

    def _undefined(self, tag: int, vr: bytes, start: int, end: int, pos: int) -> int:
        """An element of undefined length: a sequence, or encapsulated pixel data."""
        if tag in _PIXEL_TAGS or vr in (b"OB", b"OW"):
            return self.fragments(start, end, tag)
        if vr in (b"SQ", b"UN") or (self.implicit and tag not in _PIXEL_TAGS):
            if vr == b"UN":  # undefined-length UN is an implicit VR little endian sequence
                inner = _Walker(self.data, implicit=True, little=True)
                return inner.items(start, end, tag, undefined=True)
            return self.items(start, end, tag, undefined=True)
        raise BrokenInput(f"element {_tag_text(tag)} at byte {pos} has an undefined length")

    def items(self, pos: int, end: int, tag: int, *, undefined: bool = False) -> int:
        """Walk the items of sequence ``tag``; return the position after the sequence."""
        while pos < end:
            if end - pos < 8:
                raise BrokenInput(f"sequence {_tag_text(tag)} is cut short at byte {pos}")
            item_tag, length = self._tag(pos), self._u32(pos + 4)
            if item_tag == _SEQ_END:
                if not undefined:
                    raise BrokenInput(f"sequence delimiter in {_tag_text(tag)} of defined "
                                      "length")
                return pos + 8
            if item_tag != _ITEM:
                raise BrokenInput(f"sequence {_tag_text(tag)}: {_tag_text(item_tag)} where an "
                                  f"item should start, at byte {pos}")
            start = pos + 8
            if length == _UNDEFINED:
                pos = self._open_item(start, end, tag)
            else:
                if start + length > end:
                    raise BrokenInput(f"an item of {_tag_text(tag)} at byte {pos} claims "
                                      f"{length} bytes; {max(0, end - start)} remain")
                self.dataset(start, start + length, in_item=False)
                pos = start + length
        if undefined:
            raise BrokenInput(f"sequence {_tag_text(tag)} has no end (the file is truncated)")
        return pos

    def _open_item(self, pos: int, end: int, tag: int) -> int:
        """Walk an item of undefined length up to its delimiter."""
        while True:
            if end - pos < 8:
                raise BrokenInput(f"an item of {_tag_text(tag)} has no end (the file is "
                                  "truncated)")
            inner = self._tag(pos)
            if inner == _ITEM_END:
                return pos + 8
            if inner in (_ITEM, _SEQ_END):
                raise BrokenInput(f"an item of {_tag_text(tag)} is not closed at byte {pos}")
            pos = self.element(pos, end, inner)

    def fragments(self, pos: int, end: int, tag: int) -> int:
        """Walk the items of encapsulated pixel data; return the position after them."""
        while end - pos >= 8:
            item_tag, length = self._tag(pos), self._u32(pos + 4)
            if item_tag == _SEQ_END:
                return pos + 8
            if item_tag != _ITEM or length == _UNDEFINED:
                raise BrokenInput(f"encapsulated {_tag_text(tag)}: no item at byte {pos}")
            if pos + 8 + length > end:
                raise BrokenInput(f"a fragment of {_tag_text(tag)} at byte {pos} claims "
                                  f"{length} bytes; {max(0, end - pos - 8)} remain")
            pos += 8 + length
        raise BrokenInput(f"encapsulated {_tag_text(tag)} has no end (the file is truncated)")


def _is_sq(tag: int) -> bool:
    """True when the data dictionary says ``tag`` is a sequence."""
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def check_structure(raw: bytes, ds: Dataset) -> None:
    """Walk the whole encoded file ``raw`` that ``ds`` was read from (:class:`BrokenInput`)."""
    pos = 132 if raw[128:132] == b"DICM" else 0
    meta = _Walker(raw, implicit=False, little=True)
    while len(raw) - pos >= 8 and meta._u16(pos) == 0x0002:
        pos = meta.element(pos, len(raw), meta._tag(pos))
    file_meta = getattr(ds, "file_meta", None)
    syntax = str(file_meta.get("TransferSyntaxUID", "")) if file_meta is not None else ""
    implicit, little = _encoding(ds, syntax)
    body = raw[pos:]
    if syntax == _DEFLATED:
        try:
            body = zlib.decompress(body, -zlib.MAX_WBITS)
        except zlib.error:
            raise BrokenInput("the deflated data set cannot be inflated") from None
    walker = _Walker(body, implicit=implicit, little=little)
    walker.dataset(0, len(body), in_item=False)


def _encoding(ds: Dataset, syntax: str) -> tuple[bool, bool]:
    """(implicit VR, little endian) of the data set as pydicom found it (which may differ
    from what the transfer syntax says), else as the transfer syntax says."""
    implicit, little = ds.original_encoding
    if implicit is not None and little is not None:
        return bool(implicit), bool(little)
    if syntax == "1.2.840.10008.1.2":
        return True, True
    return False, syntax != "1.2.840.10008.1.2.2"


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int:
    """An integer attribute, or ``default``; :class:`BrokenInput` when absent or not a number."""
    value: Any = ds.get(keyword, default)
    if value is None or value == "":
        if default is not None:
            return default
        raise BrokenInput(f"{keyword} is missing, so Pixel Data cannot be checked")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BrokenInput(f"{keyword} is not a number") from None


def check_pixels(ds: Dataset, *, encapsulated: bool) -> None:
    """Check Pixel Data against the attributes that describe it (:class:`BrokenInput`)."""
    present = [t for t in _PIXEL_TAGS if t in ds]
    if not present:
        # Not refused: pydicom's character-set samples are images stripped of their pixels.
        # A file cut exactly between two elements cannot be told from such a file.
        return
    tag = present[0]
    data = ds[tag].value
    if data is None:
        return
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    frames = _int(ds, "NumberOfFrames", 1) or 1
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise BrokenInput("Rows, Columns and Number of Frames must be positive")
    if encapsulated and tag == 0x7FE00010:
        _check_encapsulated(bytes(data), frames)
        return
    samples = _int(ds, "SamplesPerPixel", 1)
    bits = {0x7FE00008: 32, 0x7FE00009: 64}.get(tag) or _int(ds, "BitsAllocated")
    if bits <= 0 or samples <= 0:
        raise BrokenInput("Bits Allocated and Samples per Pixel must be positive")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    per_frame = rows * cols * samples * bits
    if photometric == "YBR_FULL_422":  # two luminance samples share one pair of chroma samples
        per_frame = per_frame * 2 // 3
    expected = (per_frame * frames + 7) // 8
    # Shorter is a truncated image; trailing padding beyond the frames is tolerated (as by
    # pydicom and dcmtk): the pixel bytes are never changed, so it goes out as it came in.
    if len(data) < expected:
        raise BrokenInput(f"{_tag_text(tag)} holds {len(data)} bytes; Rows x Columns x Samples "
                          f"per Pixel x Bits Allocated x Number of Frames need {expected}")


def _check_encapsulated(data: bytes, frames: int) -> None:
    """Encapsulated Pixel Data: items parse, a fragment per frame, a sound offset table."""
    if len(data) < 8 or struct.unpack_from("<L", data, 0)[0] != _LE_ITEM:
        raise BrokenInput("encapsulated Pixel Data does not start with an item")
    bot_length = struct.unpack_from("<L", data, 4)[0]
    if bot_length % 4 or 8 + bot_length > len(data):
        raise BrokenInput("the Basic Offset Table of Pixel Data is malformed")
    offsets = struct.unpack_from(f"<{bot_length // 4}L", data, 8)
    pos, fragments, starts = 8 + bot_length, 0, []
    first = pos
    while pos + 8 <= len(data):
        tag, length = struct.unpack_from("<LL", data, pos)
        if tag == _LE_SEQ_END:
            break
        if tag != _LE_ITEM or pos + 8 + length > len(data):
            raise BrokenInput(f"a fragment of Pixel Data at byte {pos} does not parse")
        starts.append(pos - first)
        fragments += 1
        pos += 8 + length
    if fragments < frames:
        raise BrokenInput(f"Pixel Data has {fragments} fragment(s) for {frames} frame(s)")
    if offsets and (len(offsets) != frames or any(o not in starts for o in offsets)):
        raise BrokenInput("the Basic Offset Table of Pixel Data does not match its fragments")
