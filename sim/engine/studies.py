"""Lab studies: a real DICOM file, de-identified, split (1, t, n), stored on the swarm.

Fig. 5 of the paper, off chain: the lab takes the study, plants the
patient's identity in it as a PACS would, de-identifies it to PS3.15 Annex
E, splits it with the essential secret sharing scheme (the essential share
goes to the patient), stores fragment i on custodian node i (key share i
stays with that custodian) and stores the study manifest (no secrets, no
PHI) pinned with replication. The manifest's CIDv1 is what goes on chain.
The helpers that do it are :mod:`sim.protocol.studies`'s; this module adds
what the engine keeps of a stored study.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sim.privacy.deid import DeidConfig
from sim.privacy.deid_actions import UidMap
from sim.privacy.material import EssentialShare

# The study helpers live in the protocol layer (the DApp and the tour use them too); the
# engine's modules import them from here as before.
from sim.protocol.studies import (
    STUDY_SCHEMA,
    deidentified_study,
    dicom_source,
    split_study,
    study_manifest,
)
from storage_sim import Cid

__all__ = ["STUDY_SCHEMA", "StoredStudy", "deidentified_study", "deidentify_order",
           "dicom_source", "sha256", "split_study", "study_manifest"]


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


def deidentify_order(source: str, identity: dict[str, str], config: DeidConfig, seed: int) -> bytes:
    """:func:`deidentified_study` as a pure function of its arguments (runs in a worker).

    UIDs are mapped by a :class:`UidMap` of the config's key, which gives the
    same UIDs as a map shared by every study of the run.
    """
    return deidentified_study(source, identity=identity, config=config,
                              uid_map=UidMap(config.key), seed=seed)


def sha256(data: bytes) -> bytes:
    """sha256 digest."""
    return hashlib.sha256(data).digest()
