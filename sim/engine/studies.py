"""Lab studies: a real DICOM file, de-identified, split (1, t, n), stored on the swarm.

Fig. 5 of the paper, off chain: the lab takes the study, plants the
patient's identity in it as a PACS would, de-identifies it to PS3.15 Annex
E, splits it with the essential secret sharing scheme (the essential share
goes to the patient), stores fragment i on custodian node i (key share i
stays with that custodian) and stores the study manifest (no secrets, no
PHI) pinned with replication. The manifest's CIDv1 is what goes on chain.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from sim.errors import InputError
from sim.privacy.deid import DeidConfig, deidentify_dataset
from sim.privacy.deid_actions import UidMap
from sim.privacy.material import EssentialShare
from sim.privacy.sharing import Custodian, split
from sim.privacy.synthetic import synthetic_study
from storage_sim import Cid

STUDY_SCHEMA = "pmrsim.study/1"


@functools.lru_cache(maxsize=256)
def dicom_source(name: str) -> Path:
    """Path of a pydicom test file, without any download; :class:`InputError` if absent."""
    try:
        path = get_testdata_file(name, download=False)
    except Exception as exc:  # pydicom raises various errors for unknown names
        raise InputError(f"workload.dicom_sources: {name!r}: {exc}") from None
    if path is None:
        raise InputError(f"workload.dicom_sources: {name!r} is not a pydicom test file on this machine")
    return Path(str(path))


@dataclass(slots=True)
class StoredStudy:
    """What the run knows about one stored study (the digest is the engine's ground truth)."""

    record_id: str
    pmr_id: int
    patient_id: int
    manifest_cid: Cid
    fragments: list[tuple[int, str, Cid]]  # (custodian index, node id, fragment CID)
    digest: bytes  # sha256 of the de-identified study
    size: int
    essential: EssentialShare = field(repr=False)


def deidentified_study(
    source: str, *, identity: dict[str, str], config: DeidConfig, uid_map: UidMap, seed: int,
) -> bytes:
    """The study ``source`` with ``identity`` planted (as a PACS holds it), de-identified.

    ``source`` is a pydicom test file name or ``synthetic:<MODALITY>``.
    """
    if source.startswith("synthetic:"):
        raw = synthetic_study(source.split(":", 1)[1].upper(), identity, seed=seed)
        ds = pydicom.dcmread(io.BytesIO(raw))
    else:
        ds = pydicom.dcmread(str(dicom_source(source)))
        for keyword, value in identity.items():
            setattr(ds, keyword, value)
    deidentify_dataset(ds, config, uid_map=uid_map, name=source)
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def deidentify_order(source: str, identity: dict[str, str], config: DeidConfig, seed: int) -> bytes:
    """:func:`deidentified_study` as a pure function of its arguments (runs in a worker).

    UIDs are mapped by a :class:`UidMap` of the config's key, which gives the
    same UIDs as a map shared by every study of the run.
    """
    return deidentified_study(source, identity=identity, config=config,
                              uid_map=UidMap(config.key), seed=seed)


def split_study(
    data: bytes, *, record_id: str, pmr_id: int, patient_id: int, t: int, n: int,
    segment_size: int, random_bytes: object,
) -> tuple[list[Custodian], EssentialShare, dict[str, object]]:
    """Split a study; return custodian material, the essential share and the public manifest."""
    result = split(data, record_id=record_id, t=t, n=n, segment_size=segment_size,
                   random_bytes=random_bytes)  # type: ignore[arg-type]
    return result.custodians, result.essential, result.manifest.to_dict()


def study_manifest(sharing: dict[str, object], fragments: list[tuple[int, str, str]],
                   modality: str) -> bytes:
    """The study manifest stored on the swarm: sharing manifest + where the fragments are
    (``fragments``: custodian index, node id and the fragment's CID as text)."""
    doc = {
        "schema": STUDY_SCHEMA,
        "modality": modality,
        "sharing": sharing,
        "fragments": [{"index": i, "node": node, "cid": cid} for i, node, cid in fragments],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> bytes:
    """sha256 digest."""
    return hashlib.sha256(data).digest()
