"""Clean Pixel Data: black out configured rectangles of native (uncompressed) pixel data.

Zeroing works on the stored bytes, frame by frame, so it is independent of
byte order and of the photometric interpretation; it needs native pixel data
with whole-byte samples. Encapsulated (compressed) pixel data and packed
1-bit or YBR_*_422 data cannot be re-encoded here and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset


@dataclass(frozen=True)
class Region:
    """A rectangle of pixels: ``x`` (column) and ``y`` (row) of its top-left corner, its size."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        """Reject negative origins and empty sizes."""
        if self.x < 0 or self.y < 0 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"bad clean region {self}: need x, y >= 0 and width, height > 0")

    @classmethod
    def parse(cls, text: str) -> Region:
        """Parse ``X,Y,WIDTH,HEIGHT`` (``ValueError`` when malformed)."""
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError(f"clean region {text!r} is not X,Y,WIDTH,HEIGHT")
        try:
            x, y, w, h = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"clean region {text!r} is not X,Y,WIDTH,HEIGHT") from None
        return cls(x, y, w, h)


class PixelCleanError(ValueError):
    """Raised when the pixel data of a dataset cannot be cleaned here."""


def clean_regions(ds: Dataset, regions: tuple[Region, ...]) -> None:
    """Set every sample inside ``regions`` to zero in every frame of ``ds.PixelData``."""
    if "PixelData" not in ds:
        raise PixelCleanError("no Pixel Data to clean")
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if tsyntax is not None and tsyntax.is_compressed:
        raise PixelCleanError(f"compressed transfer syntax {tsyntax} cannot be re-encoded")
    bits = int(ds.get("BitsAllocated", 0))
    if bits not in (8, 16, 32, 64):
        raise PixelCleanError(f"Bits Allocated {bits} is not supported for cleaning")
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric.endswith("_422") or photometric.endswith("_420"):
        raise PixelCleanError(f"subsampled photometric interpretation {photometric}")
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    planar = int(ds.get("PlanarConfiguration", 0) or 0)
    raw = ds.PixelData
    itemsize = bits // 8
    needed = rows * cols * samples * frames * itemsize
    if len(raw) < needed:
        raise PixelCleanError("Pixel Data is shorter than its attributes say")
    arr = np.frombuffer(raw[:needed], dtype=np.dtype(f"V{itemsize}")).copy()
    zero = np.zeros(1, dtype=arr.dtype)[0]
    if planar == 1 and samples > 1:
        view = arr.reshape(frames, samples, rows, cols)
        for r in regions:
            view[:, :, r.y : r.y + r.height, r.x : r.x + r.width] = zero
    else:
        view = arr.reshape(frames, rows, cols, samples)
        for r in regions:
            view[:, r.y : r.y + r.height, r.x : r.x + r.width, :] = zero
    ds.PixelData = arr.tobytes() + bytes(raw[needed:])
