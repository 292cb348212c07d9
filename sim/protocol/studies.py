"""The off-chain half of a lab study: store it, seal its essential share, rebuild it.

Fig. 5 of the paper, off chain: the lab takes a real DICOM file, plants the
patient's identity in it as a PACS holds it, de-identifies it (PS3.15
Annex E), splits it with the essential secret sharing scheme (1, t, n),
stores fragment i on custodian node i of a simulated IPFS swarm (key
share i stays with that node's :class:`~sim.protocol.KeyCustodian`),
pins the study manifest (no secrets, no PHI) and hands the essential
share to the patient. The manifest's CIDv1 is what goes on chain. When
the patient grants a doctor, the patient seals the essential share to
the doctor's key (ECIES); when the doctor's ``AccessGrants.use`` is
mined, the custodians release their shares for it and the doctor
rebuilds the study, checked against the digest the lab stored.

:class:`StudyStore` is that machinery, shared by the DApp's live mode and
the tour. It lives in the protocol layer because it drives a protocol
actor (the custodians read the chain through the protocol) and the
layers under it (``sim.privacy``, ``storage_sim``); the engine, the
DApp and the CLI sit above and import it. The pure study helpers the
engine uses too (:func:`deidentified_study`, :func:`split_study`,
:func:`study_manifest`) live here for the same reason.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
from collections import Counter
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom
import simpy
from pydicom.data import get_testdata_file

from sim.errors import InputError, PrivacyError
from sim.privacy.deid import DeidConfig, deidentify_dataset
from sim.privacy.deid_actions import UidMap
from sim.privacy.deid_model import ActionLog
from sim.privacy.keys import AccessDenied, open_sealed, public_key_of, seal
from sim.privacy.manifest import Manifest
from sim.privacy.material import EssentialShare
from sim.privacy.sharing import Custodian, combine_report, split
from sim.privacy.synthetic import synthetic_study
from sim.protocol.custodian import KeyCustodian
from storage_sim import Cid, Swarm

if TYPE_CHECKING:
    from sim.protocol.actors import Doctor
    from sim.protocol.protocol import Protocol

STUDY_SCHEMA = "pmrsim.study/1"
#: Identity attributes the lab plants in a study (as the hospital's PACS holds it).
IDENTITY_KEYWORDS = ("PatientName", "PatientID", "InstitutionName")
#: What the de-identification actions of PS3.15 Annex E do, in words.
_ACTION_WORDS = {"X": "removed", "Z": "emptied", "D": "replaced", "U": "UIDs remapped",
                 "C": "cleaned", "set": "marks added"}


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


def deidentify_study(
    source: str, *, identity: dict[str, str], config: DeidConfig, uid_map: UidMap, seed: int,
) -> tuple[bytes, ActionLog]:
    """The study ``source`` with ``identity`` planted (as a PACS holds it), de-identified,
    and the log of what de-identification did (attribute paths and actions, no values).

    ``source`` is a pydicom test file name or ``synthetic:<MODALITY>``.
    """
    if source.startswith("synthetic:"):
        raw = synthetic_study(source.split(":", 1)[1].upper(), identity, seed=seed)
        ds = pydicom.dcmread(io.BytesIO(raw))
    else:
        ds = pydicom.dcmread(str(dicom_source(source)))
        for keyword, value in identity.items():
            setattr(ds, keyword, value)
    log = deidentify_dataset(ds, config, uid_map=uid_map, name=source)
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue(), log


def deidentified_study(
    source: str, *, identity: dict[str, str], config: DeidConfig, uid_map: UidMap, seed: int,
) -> bytes:
    """:func:`deidentify_study` without its log: the de-identified study's bytes."""
    return deidentify_study(source, identity=identity, config=config, uid_map=uid_map,
                            seed=seed)[0]


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


def fingerprint(data: bytes) -> str:
    """A short public fingerprint of secret bytes (sha256, first 16 hex digits): never the bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


@dataclass
class Study:
    """A study stored off chain: where it is, its digest, and the patient's essential share.

    ``essential`` is the patient's copy (a secret: shown only by :attr:`essential_fingerprint`);
    ``sent`` holds it sealed to each doctor the patient granted (doctor key -> ECIES blob).
    """

    record_id: str
    pmr_id: int
    patient_id: int
    patient_label: str  # who holds the essential share ("" when no known patient)
    source: str
    modality: str
    manifest_cid: Cid
    fragments: list[tuple[int, str, str]]  # (custodian index, node id, fragment CID text)
    pinned_on: list[str]  # nodes holding the manifest pin
    t: int
    n: int
    digest: bytes  # sha256 of the de-identified study (what a rebuild is checked against)
    size: int
    essential: EssentialShare = field(repr=False)
    sent: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def essential_fingerprint(self) -> str:
        """The essential share's public fingerprint (never its bytes)."""
        return fingerprint(self.essential.secret.reveal())

    def describe(self) -> dict[str, Any]:
        """What the DApp shows of the upload (no secrets, no personal values)."""
        return {
            "source": self.source, "record_id": self.record_id, "de_identified_bytes": self.size,
            "sharing": f"(1, {self.t}, {self.n})", "manifest_cid": str(self.manifest_cid),
            "fragments": [{"custodian": i, "node": node, "cid": cid}
                          for i, node, cid in self.fragments],
            "essential_share": {"to": self.patient_label, "fingerprint": self.essential_fingerprint},
        }


@dataclass
class Upload:
    """The outcome of :meth:`StudyStore.store`: the study, its de-identified bytes and the log."""

    study: Study
    data: bytes = field(repr=False)  # the de-identified DICOM (image bytes: never printed)
    log: ActionLog = field(repr=False)

    def deid_counts(self) -> dict[str, int]:
        """How many attributes each de-identification action touched (action -> count)."""
        return dict(Counter(e.action for e in self.log.entries))

    def identity_actions(self) -> dict[str, str]:
        """What happened to each planted identity attribute (keyword -> action word)."""
        done = {e.keyword: e.action for e in self.log.entries if e.keyword in IDENTITY_KEYWORDS}
        return {k: _ACTION_WORDS.get(done[k], done[k]) for k in IDENTITY_KEYWORDS if k in done}

    def lines(self) -> list[str]:
        """The upload told in a few lines for a terminal (fingerprints and CIDs, no secrets)."""
        s = self.study
        counts = self.deid_counts()
        done = ", ".join(f"{counts[a]} {word}" for a, word in _ACTION_WORDS.items() if a in counts)
        planted = ", ".join(f"{k} {word}" for k, word in self.identity_actions().items())
        out = [f"{s.source}, the patient's identity planted, de-identified (PS3.15 Annex E): "
               f"{s.size:,} bytes",
               f"attributes: {done}",
               f"identity: {planted}",
               f"split (1, {s.t}, {s.n}) as {s.record_id}: any {s.t} custodians + the essential "
               f"share rebuild it",
               "each custodian node keeps one fragment (by its CID) and that fragment's key share:"]
        out += [f"fragment {i} -> {node}  {cid}" for i, node, cid in s.fragments]
        out.append(f"manifest (no secrets, no PHI) pinned on {', '.join(s.pinned_on)}")
        out.append(f"manifest CID -> chain  {s.manifest_cid}")
        out.append(f"essential share -> the patient, fingerprint {s.essential_fingerprint} "
                   f"(bytes never shown)")
        return out


@dataclass
class Rebuild:
    """The outcome of :meth:`StudyStore.rebuild` for one study and one ``use`` transaction."""

    record_id: str
    use_tx: bytes
    released_by: list[str] = field(default_factory=list)
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (node, the custodian's reason)
    data: bytes | None = field(default=None, repr=False)  # the rebuilt study (when rebuilt)
    identical: bool = False
    problem: str = ""  # why nothing was rebuilt, when no custodian refused

    @property
    def result(self) -> str:
        """One phrase: rebuilt and identical, or why not (the first refusal's message)."""
        if self.refusals:
            node, reason = self.refusals[0]
            return f"custodian {node}: {reason}"
        if self.problem:
            return self.problem
        return "rebuilt, identical to the stored study" if self.identical else "rebuilt bytes differ"

    def lines(self, use: str = "tx") -> list[str]:
        """The read's off-chain half told in a few lines for a terminal (``use`` names the
        transaction presented to the custodians)."""
        tx = f"{use} 0x{self.use_tx.hex()[:16]}..."
        if self.refusals:
            reasons = {reason for _, reason in self.refusals}
            if len(reasons) == 1:
                return [f"{_nodes(n for n, _ in self.refusals)} refuse {tx}: {reasons.pop()}"]
            return [f"{node} refuses {tx}: {reason}" for node, reason in self.refusals]
        if self.data is None:
            return [f"{self.record_id}: {self.result}"]
        digest = hashlib.sha256(self.data).hexdigest()[:16]
        same = "byte-identical to" if self.identical else "NOT identical to"
        return [f"{_nodes(self.released_by)} release their key shares for the mined use "
                f"{tx}",
                f"rebuilt: {len(self.data):,} bytes, {same} the stored study, sha256 {digest}..."]


def _nodes(names: Iterable[str]) -> str:
    """Custodian node names for a sentence ("custodians 0, 1, 2" when all are custodian-i)."""
    names = list(names)
    if all(n.startswith("custodian-") for n in names):
        return "custodians " + ", ".join(n.removeprefix("custodian-") for n in names)
    return ", ".join(names)


Proc = Generator[simpy.Event, Any, Any]


class StudyStore:
    """A simulated swarm with key custodians: stores studies and rebuilds them for reads.

    ``rng`` draws every secret and seed in order (the de-identification key
    first), ``swarm_rng`` drives the swarm: with seeded generators the same
    calls give the same CIDs, fingerprints and bytes.
    """

    def __init__(self, protocol: Protocol, *, rng: random.Random, swarm_rng: random.Random,
                 t: int = 3, n: int = 5) -> None:
        self.protocol = protocol
        self.t, self.n = t, n
        self.rng = rng
        self.deid = DeidConfig(key=rng.randbytes(32))
        self.uid_map = UidMap(self.deid.key)
        self.env = simpy.Environment()
        self.swarm = Swarm(self.env, swarm_rng, replication=(2, 3))
        self.custodian_nodes = [self.swarm.add_node(f"custodian-{i}").node_id for i in range(n)]
        self.swarm.add_node("gateway")
        self.custodians = {node: KeyCustodian[Any](protocol, node) for node in self.custodian_nodes}

    @classmethod
    def seeded(cls, protocol: Protocol, seed: int, *, name: str = "story", t: int = 3,
               n: int = 5) -> StudyStore:
        """A store whose generators are seeded from ``name`` and ``seed``."""
        return cls(protocol, rng=random.Random(f"{name}-{seed}"),
                   swarm_rng=random.Random(f"{name}-swarm-{seed}"), t=t, n=n)

    def store(self, source: str, *, record_id: str, pmr_id: int, patient_id: int,
              identity: dict[str, str], modality: str, patient_label: str = "") -> Upload:
        """De-identify ``source`` (``identity`` planted first), split it (1, t, n), put
        fragment i on custodian node i (its key share with that node's custodian), pin the
        manifest; the essential share is returned to the patient in the :class:`Study`."""
        data, log = deidentify_study(source, identity=identity, config=self.deid,
                                     uid_map=self.uid_map, seed=self.rng.randrange(2**32))
        custodians, essential, sharing = split_study(
            data, record_id=record_id, pmr_id=pmr_id, patient_id=patient_id, t=self.t, n=self.n,
            segment_size=65_536, random_bytes=self.rng.randbytes)
        named: list[tuple[int, str, str]] = []
        for custodian, node in zip(custodians, self.custodian_nodes, strict=True):
            assert custodian.fragment is not None and custodian.key_share is not None
            cid = self.swarm.add(node, custodian.fragment, cid_version=1)
            self.custodians[node].keep(record_id, pmr_id, custodian.key_share)
            named.append((custodian.index, node, str(cid)))
        mcid = self.swarm.add("gateway", study_manifest(sharing, named, modality), cid_version=1)
        holders = self.run(self.swarm.pin(mcid))
        study = Study(record_id, pmr_id, patient_id, patient_label, source, modality, mcid, named,
                      sorted(str(h) for h in holders or ()), self.t, self.n,
                      hashlib.sha256(data).digest(), len(data), essential)
        return Upload(study, data, log)

    def discard(self, study: Study) -> int:
        """Undo :meth:`store` for a study the chain refused (its report was never posted):
        unpin its manifest and fragments, collect them, and have the custodians drop its key
        shares. Return the bytes freed. A stored study nobody can reach would otherwise stay
        on the swarm, and its shares with the custodians, for good."""
        for custodian in self.custodians.values():
            custodian.forget(study.record_id)
        self.swarm.unpin(study.manifest_cid)
        for _, _, cid in study.fragments:
            self.swarm.unpin(Cid.parse(cid))
        return self.swarm.gc()

    def seal_to(self, study: Study, doctor_key: str, doctor: Doctor) -> str:
        """The patient seals the study's essential share to ``doctor``'s public key (ECIES);
        return its fingerprint (the blob is kept in ``study.sent[doctor_key]``)."""
        study.sent[doctor_key] = seal(
            public_key_of(doctor.account.private_key), study.essential.to_json().encode(),
            study.record_id.encode(), random_bytes=self.rng.randbytes)
        return study.essential_fingerprint

    def rebuild(self, study: Study, doctor: Doctor, doctor_key: str, use_tx: bytes) -> Rebuild:
        """Fetch the manifest, ask t custodians to release for ``use_tx``, rebuild the study
        with the essential share the patient sealed to the doctor, compare with its digest."""
        out = Rebuild(study.record_id, use_tx)
        sealed = study.sent.get(doctor_key)
        if sealed is None:
            out.problem = "no essential share from the patient"
            return out
        essential = EssentialShare.from_json(
            open_sealed(doctor.account.private_key, sealed, study.record_id.encode()))
        doc = json.loads(self.run(self.swarm.retrieve("gateway", study.manifest_cid, store=False)))
        manifest = Manifest.from_json(json.dumps(doc["sharing"]))
        parts: list[Custodian] = []
        for entry in doc["fragments"][: manifest.t]:
            node = entry["node"]
            try:
                share = self.custodians[node].release(study.record_id, doctor.address, use_tx)
            except AccessDenied as exc:
                out.refusals.append((node, str(exc).removeprefix(f"custodian {node}: ")))
                continue
            fragment = self.run(self.swarm.retrieve("gateway", Cid.parse(entry["cid"]),
                                                    store=False))
            parts.append(Custodian(entry["index"], fragment, share))
            out.released_by.append(node)
        if out.refusals:
            return out
        try:
            out.data = combine_report(manifest, essential, parts).data
        except PrivacyError as exc:
            out.problem = type(exc).__name__
            return out
        out.identical = hashlib.sha256(out.data).digest() == study.digest
        return out

    def run(self, process: Proc) -> Any:
        """Run a swarm process to completion in simulated time; its value."""
        proc = self.env.process(process)
        return self.env.run(until=proc)


__all__ = ["STUDY_SCHEMA", "Rebuild", "Study", "StudyStore", "Upload", "deidentified_study",
           "deidentify_study", "dicom_source", "fingerprint", "split_study", "study_manifest"]
