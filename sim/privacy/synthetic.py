"""Synthetic DICOM studies for simulated labs (X-ray, CT, MR, US, MG, ECG).

pydicom's test files cover CT and MR; the paper's lab example is a digital
X-ray, so labs can also take a small synthetic instance of any modality:
valid file meta, patient and study modules carrying the identity the lab
plants (as a PACS would), and a pixel matrix (or a 12-lead waveform) drawn
from a seeded generator. The engine de-identifies it like any other study.
"""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

SOP_CLASSES = {
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "ECG": "1.2.840.10008.5.1.4.1.1.9.1.1",
}


def synthetic_study(modality: str, identity: dict[str, str], *, seed: int, size: int = 64) -> bytes:
    """A DICOM Part 10 file of ``modality`` with ``identity`` (keyword -> value) planted."""
    if modality not in SOP_CLASSES:
        raise ValueError(f"synthetic modality {modality!r}: expected one of {sorted(SOP_CLASSES)}")
    rng = np.random.default_rng(seed)
    uid = lambda part: generate_uid(entropy_srcs=["pmrsim-synthetic", str(seed), part])  # noqa: E731
    sop = uid("sop")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SOP_CLASSES[modality])
    meta.MediaStorageSOPInstanceUID = UID(sop)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series")
    ds.Modality = modality
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20210126"
    ds.StudyTime = "101500"
    ds.SeriesNumber = ds.InstanceNumber = "1"
    ds.BodyPartExamined = "CHEST" if modality in ("CR", "DX") else "ABDOMEN"
    for keyword, value in identity.items():
        setattr(ds, keyword, value)
    if modality == "ECG":
        _waveform(ds, rng)
    else:
        _pixels(ds, rng, size)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _pixels(ds: Dataset, rng: np.random.Generator, size: int) -> None:
    image = rng.integers(0, 4096, size=(size, size), dtype=np.uint16)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = image.tobytes()


def _waveform(ds: Dataset, rng: np.random.Generator) -> None:
    samples = 500
    wave = Dataset()
    wave.WaveformOriginality = "ORIGINAL"
    wave.NumberOfWaveformChannels = 12
    wave.NumberOfWaveformSamples = samples
    wave.SamplingFrequency = "500"
    wave.WaveformBitsAllocated = 16
    wave.WaveformSampleInterpretation = "SS"
    wave.WaveformData = rng.integers(-500, 500, size=(samples, 12), dtype=np.int16).tobytes()
    ds.WaveformSequence = Sequence([wave])
