"""DICOM de-identification to the PS3.15 Annex E Basic Application Level Confidentiality Profile.

The profile is driven by Table E.1-1 (:mod:`sim.privacy.deid_table`); values
are produced by :mod:`sim.privacy.deid_actions`. What happens to an element:

* **Listed in the table** (exact tag or ``XX`` wildcard): its action under the
  selected options (combined actions resolved as documented in
  :mod:`sim.privacy.deid_table`): ``X`` removes it, ``Z`` empties it (an empty
  sequence for SQ), ``D`` puts a dummy of its VR (Patient ID gets a keyed
  pseudonym so a patient's files stay together), ``U`` replaces every UID by
  its keyed ``2.25.`` UID, ``K`` keeps it, ``C`` cleans it (dates shifted under
  the Modified Dates option, text replaced by a dummy when it carries a known
  identifying value). For a sequence, ``D``, ``U``, ``K`` and ``C`` keep the
  items and apply the whole profile to each of them, at any depth.
* **Private** (odd group): removed, creators included. Under Retain Safe
  Private only elements on the configured allow-list (``DeidConfig.safe_private``,
  ``(creator, element byte)`` pairs; empty by default, so nothing private is
  called safe) are kept, with their creators.
* **Overlay planes** (groups 60xx): removed as a whole (Overlay Data and
  Overlay Comments are ``X``; the rest of the plane is meaningless without
  them and may carry labels); under Clean Graphics they are kept and text
  is cleaned.
* **Not in the table** (standard attributes): kept, except that a value equal
  to an identifying value that the profile removes elsewhere in the file
  (names, IDs, addresses, dates, UIDs found before changing anything) is
  replaced: UIDs by their mapped UID, dates by a dummy (or shifted), text by
  a dummy, binary values containing such text are removed. Group lengths
  outside the file meta are removed (they would be wrong).

File meta: Media Storage SOP Instance UID is a ``U`` row, so it follows the
new SOP Instance UID; private information in the meta is removed.

Refusals (:class:`DeidRefused`, reasons in :data:`REFUSAL_REASONS`): not
DICOM; no SOP Instance UID (DICOMDIRs included); Burned In Annotation ``YES``
without Clean Pixel Data regions, or with pixel data that cannot be cleaned
here; an element that cannot be decoded; a result that cannot be encoded. Pixel data is never touched
except by cleaning. No message or log entry carries an identifying value:
files are named by path, attributes by tag and keyword.

Modules: :mod:`~sim.privacy.deid_table` (the table, options, combined
actions), :mod:`~sim.privacy.deid_actions` (dummies, UIDs, dates, PHI
needles), :mod:`~sim.privacy.deid_model` (configuration, log, refusals),
:mod:`~sim.privacy.deid_profile` (the passes over a dataset),
:mod:`~sim.privacy.deid_pixels` (Clean Pixel Data); this module holds the
dataset, file and tree entry points.
"""


from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from sim.privacy.deid_actions import UidMap, date_offset_days
from sim.privacy.deid_checks import BrokenInput, check_pixels, check_structure
from sim.privacy.deid_iod import iod_types
from sim.privacy.deid_model import (
    REFUSAL_REASONS,
    ActionEntry,
    ActionLog,
    DeidConfig,
    DeidRefused,
)
from sim.privacy.deid_pixels import PixelCleanError, Region, clean_regions
from sim.privacy.deid_profile import ProfileRun
from sim.privacy.deid_table import BASIC_PROFILE_CODE

#: Refusal reasons that mean "not a DICOM instance" (skipped in folder mode, not refused).
NOT_INSTANCE = frozenset({"not-dicom", "no-sop-instance-uid", "dicomdir"})
#: Media Storage Directory Storage: a DICOMDIR, never an instance to de-identify.
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"

__all__ = [
    "NOT_INSTANCE",
    "REFUSAL_REASONS",
    "ActionEntry",
    "ActionLog",
    "DeidConfig",
    "DeidRefused",
    "FileResult",
    "Region",
    "TreeResult",
    "UidMap",
    "deidentify_bytes",
    "deidentify_dataset",
    "deidentify_file",
    "deidentify_tree",
    "read_dicom",
]

@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence pydicom warnings and log records: they may quote element values (PHI)."""
    logger = logging.getLogger("pydicom")
    old_disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = old_disabled


def _check_refusals(ds: Dataset, config: DeidConfig, name: str) -> bool:
    """Raise :class:`DeidRefused` if ``ds`` cannot be done; True if its pixels need cleaning."""
    if not str(ds.get("SOPInstanceUID", "") or "").strip():
        raise DeidRefused(name, "no-sop-instance-uid")
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    try:
        check_pixels(ds, encapsulated=bool(syntax is not None and syntax.is_encapsulated))
    except BrokenInput as exc:
        raise DeidRefused(name, "broken-pixel-data", str(exc)) from None
    burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned != "YES":
        return False
    if "cleanPixelOpt" not in config.options or not config.clean_regions:
        raise DeidRefused(name, "burned-in-annotation")
    return True


def deidentify_dataset(
    ds: Dataset, config: DeidConfig, *, uid_map: UidMap, name: str = "<dataset>"
) -> ActionLog:
    """De-identify ``ds`` in place (file meta included) and return what was done.

    ``uid_map`` must be shared by every dataset of a set (it is keyed by
    ``config.key``, so separate maps with one key agree). ``name`` names the
    dataset in refusals. Raises :class:`DeidRefused` before changing anything
    when the dataset cannot be de-identified safely.
    """
    with _quiet():
        needs_cleaning = _check_refusals(ds, config, name)
        log = ActionLog(options=tuple(sorted(config.options)))
        types = iod_types(str(ds.get("SOPClassUID", "") or ""))
        profile = ProfileRun(config, uid_map, log, types)
        profile.patient_id = str(ds.get("PatientID", "") or "").strip()
        profile.day_offset = date_offset_days(config.key, profile.patient_id,
                                              config.date_shift_days)
        meta = getattr(ds, "file_meta", None)
        profile.collect(ds)
        if meta is not None:
            profile.collect(meta)
        if needs_cleaning:
            try:
                clean_regions(ds, config.clean_regions)
            except PixelCleanError as exc:
                raise DeidRefused(name, "cannot-clean-pixels", str(exc)) from None
            log.add("(7FE0,0010)", 0x7FE00010, "C", "cleanPixelOpt")
        profile.apply(ds)
        if meta is not None:
            profile.apply(meta)
        profile.mark(ds, needs_cleaning)
        if meta is not None and "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return log


@dataclass
class FileResult:
    """Outcome for one file: where it was written and its log, or why it was refused."""

    in_path: Path
    out_path: Path | None = None
    log: ActionLog | None = None
    refused: DeidRefused | None = None

    @property
    def ok(self) -> bool:
        """True when the file was de-identified and written."""
        return self.refused is None

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        """A JSON-ready dict; paths relative to ``root`` when given."""

        def rel(p: Path | None) -> str | None:
            """``p`` relative to ``root`` when one is given."""
            if p is None:
                return None
            return str(p.relative_to(root)) if root is not None else str(p)

        out: dict[str, Any] = {"input": rel(self.in_path), "output": None}
        if self.refused is not None:
            out["status"] = ("skipped" if self.refused.reason in NOT_INSTANCE else
                             "failed" if self.refused.reason == "unwritable" else "refused")
            out["reason"] = self.refused.reason
            out["message"] = REFUSAL_REASONS[self.refused.reason]
            if self.refused.detail:
                out["detail"] = self.refused.detail
        else:
            out["status"] = "ok"
            out["output"] = str(self.out_path)
            if self.log is not None:
                out.update(self.log.to_json())
        return out


def _part10(ds: Dataset) -> None:
    """Give ``ds`` the file meta of a Part 10 file (inputs without one, or with gaps)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    if "TransferSyntaxUID" not in meta:
        implicit, little = ds.original_encoding
        meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit
                                  else ExplicitVRLittleEndian if little is not False
                                  else ExplicitVRBigEndian)
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID")
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "ImplementationClassUID" not in meta:
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID


def _encode(ds: Dataset, target: str | BinaryIO, name: str) -> None:
    """Write ``ds`` as a Part 10 file (preamble, ``DICM``, file meta) in its transfer syntax."""
    try:
        with _quiet():
            _part10(ds)
            syntax = ds.file_meta.TransferSyntaxUID
            if not getattr(ds, "preamble", None):
                ds.preamble = b"\x00" * 128
            ds.save_as(target, enforce_file_format=True, implicit_vr=syntax.is_implicit_VR,
                       little_endian=syntax.is_little_endian)
    except Exception as exc:
        raise DeidRefused(name, "unwritable", type(exc).__name__) from None


def _write_atomic(ds: Dataset, out_path: Path, name: str) -> None:
    """Write ``ds`` to ``out_path`` via a temporary file, leaving nothing partial behind."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deid-", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        _encode(ds, tmp, name)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_dicom(source: Path | BinaryIO, name: str | None = None) -> Dataset:
    """Read a DICOM instance from a file or a binary stream and check that it is whole.

    Files without a preamble or file meta (a bare data set, any encoding) are
    read too. :class:`DeidRefused` with reason ``not-dicom`` (cannot be read),
    ``no-sop-instance-uid`` (not an instance: DICOMDIR, fragment) or
    ``truncated`` (:func:`~sim.privacy.deid_checks.check_structure`).
    """
    label = name or str(source)
    try:
        raw = source.read_bytes() if isinstance(source, Path) else source.read()
    except OSError as exc:
        raise DeidRefused(label, "not-dicom", type(exc).__name__) from None
    forced = False
    try:
        with _quiet():
            try:
                ds = pydicom.dcmread(io.BytesIO(raw))
            except InvalidDicomError:
                forced = True
                ds = pydicom.dcmread(io.BytesIO(raw), force=True)
            sop = str(ds.get("SOPInstanceUID", "") or "").strip()
    except Exception as exc:
        # with the DICM marker it is a DICOM file, broken; without, not DICOM at all
        reason = "truncated" if raw[128:132] == b"DICM" else "not-dicom"
        raise DeidRefused(label, reason, type(exc).__name__) from None
    if forced and not sop:  # no DICM header and no SOP Instance UID: not DICOM at all
        raise DeidRefused(label, "not-dicom")
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR_CLASS:
        raise DeidRefused(label, "dicomdir")
    try:  # before the SOP check: a Part 10 file cut short is broken, not "not an instance"
        check_structure(raw, ds)
    except BrokenInput as exc:
        raise DeidRefused(label, "truncated", str(exc)) from None
    if not sop:
        raise DeidRefused(label, "no-sop-instance-uid")
    return ds


def _deidentify_read(ds: Dataset, config: DeidConfig, uid_map: UidMap | None,
                     name: str) -> ActionLog:
    """:func:`deidentify_dataset` on a dataset just read: decoding errors become refusals."""
    uid_map = uid_map if uid_map is not None else UidMap(config.key)
    try:
        return deidentify_dataset(ds, config, uid_map=uid_map, name=name)
    except DeidRefused:
        raise
    except Exception as exc:  # pydicom decodes elements lazily: a bad one surfaces here
        raise DeidRefused(name, "undecodable", type(exc).__name__) from None


def deidentify_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    config: DeidConfig,
    *,
    uid_map: UidMap | None = None,
) -> FileResult:
    """De-identify one file into ``out_path``; raises :class:`DeidRefused` (nothing written)."""
    src, dst = Path(in_path), Path(out_path)
    ds = read_dicom(src, str(src))
    log = _deidentify_read(ds, config, uid_map, str(src))
    _write_atomic(ds, dst, str(src))
    return FileResult(in_path=src, out_path=dst, log=log)


def deidentify_bytes(
    data: bytes, config: DeidConfig, *, uid_map: UidMap | None = None, name: str = "<bytes>"
) -> tuple[bytes, ActionLog]:
    """De-identify an in-memory DICOM file; return its new bytes and the action log.

    For callers that hold records in memory (a simulated lab, a storage
    node). ``name`` names the object in refusals (:class:`DeidRefused`).
    """
    ds = read_dicom(io.BytesIO(data), name)
    log = _deidentify_read(ds, config, uid_map, name)
    buffer = io.BytesIO()
    _encode(ds, buffer, name)
    return buffer.getvalue(), log


@dataclass
class TreeResult:
    """Outcome for a directory tree: one :class:`FileResult` per file, in path order."""

    in_dir: Path
    out_dir: Path
    files: list[FileResult] = field(default_factory=list)
    uid_map: UidMap | None = None

    @property
    def processed(self) -> list[FileResult]:
        """Files de-identified and written."""
        return [f for f in self.files if f.ok]

    @property
    def skipped(self) -> list[FileResult]:
        """Files that are not DICOM instances (README, .icc, DICOMDIR, ...): left out."""
        return [f for f in self.files if f.refused is not None and f.refused.reason in NOT_INSTANCE]

    @property
    def refused(self) -> list[FileResult]:
        """Instances refused because they cannot be de-identified safely (nothing written)."""
        return [f for f in self.files if f.refused is not None
                and f.refused.reason not in NOT_INSTANCE and f.refused.reason != "unwritable"]

    @property
    def failed(self) -> list[FileResult]:
        """Instances whose output could not be written."""
        return [f for f in self.files if f.refused is not None and f.refused.reason == "unwritable"]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: counts and one entry per file (paths relative to the roots)."""
        files = []
        for f in self.files:
            entry = f.to_json(self.in_dir)
            if f.out_path is not None:
                entry["output"] = str(f.out_path.relative_to(self.out_dir))
            files.append(entry)
        return {
            "schema": "pmrsim.deid-log/1",
            "profile": BASIC_PROFILE_CODE[1],
            "processed": len(self.processed),
            "skipped": len(self.skipped),
            "refused": len(self.refused),
            "failed": len(self.failed),
            "files": files,
        }


def deidentify_tree(
    in_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: DeidConfig,
    *,
    skip: frozenset[Path] = frozenset(),
) -> TreeResult:
    """De-identify every file under ``in_dir`` into the same relative path under ``out_dir``.

    One UID map serves the whole set, so a UID maps to the same new UID in
    every file. Refused files are recorded and the others still processed.
    ``skip`` lists files to leave out (absolute paths).
    """
    src, dst = Path(in_dir), Path(out_dir)
    result = TreeResult(in_dir=src, out_dir=dst, uid_map=UidMap(config.key))
    out_abs = dst.resolve()
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        resolved = path.resolve()
        if resolved in skip or resolved.is_relative_to(out_abs):
            continue
        target = dst / path.relative_to(src)
        try:
            res = deidentify_file(path, target, config, uid_map=result.uid_map)
        except DeidRefused as exc:
            res = FileResult(in_path=path, refused=exc)
        result.files.append(res)
    return result

