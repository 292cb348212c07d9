"""Invariants checked at the end of every run (and what each one means).

* ``tokens_valid`` - every PMR version was minted for a registered patient by
  a doctor registered at a verified hospital, and the token's owner is that
  patient's account (checked on chain for every token of small runs, a
  seeded sample of large ones).
* ``access_had_valid_grant`` - every record the custodians released was
  covered, at that head block time, by a grant or emergency window rebuilt
  from the mined grant, revoke and break-glass outcomes (independently of
  ``AccessGrants.is_valid``), and answered a mined ``use`` of its own (no
  ``use`` answered twice).
* ``operations`` - every ordinary operation, on chain or off, that was
  attempted completed (a revert or an off-chain failure that no configured
  fault explains is a violation named ``operations:<operation>``; see
  :mod:`sim.engine.accounting`).
* ``attacks`` - every configured attack was attempted as many times as
  configured (else ``attacks:<kind>``, saying why it could not be).
* ``denials`` - every attempted attack, and every access the workload tried
  after its grant ended, was denied, and for an expected reason (else
  ``denials:<kind>``).
* ``record_rebuilds`` - every rebuild returned the exact de-identified bytes;
  and at the end every stored study still rebuilds from its custodians while
  at most n - t of them are down.
* ``pii_on_chain`` - no generated personal or clinical value appears in any
  transaction input, log, or anywhere in the chain's state database.
* ``pii_in_trace`` - none appears in ``trace.jsonl`` either.
* ``gas_matches_table`` - every operation's gas above its floor (the part
  that does not depend on data sizes) matches the committed gas table
  (``reports/baseline/gas.json``) within 10%, up to one slot written for the
  first time or again; the paper layout's string-storing calls are skipped
  (their cost is their strings' length).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.privacy.sharing import Custodian, combine

if TYPE_CHECKING:
    from sim.engine.world import World

SAMPLE = 2_000


@dataclass(frozen=True)
class Violation:
    """One invariant violation."""

    name: str
    detail: str


def check_all(world: World, trace_path: Path) -> tuple[list[str], list[Violation]]:
    """Run every invariant; return (names checked, violations)."""
    finder = _Finder(_needles(world))  # the chain's and the trace's scans share it
    checks: list[tuple[str, Callable[[World], list[str]]]] = [
        ("operations", lambda w: _accounted(w, "operations")),
        ("attacks", lambda w: _accounted(w, "attacks")),
        ("denials", lambda w: _accounted(w, "denials")),
        ("tokens_valid", _tokens_valid),
        ("access_had_valid_grant", _access_had_valid_grant),
        ("record_rebuilds", _record_rebuilds),
        ("pii_on_chain", lambda w: _pii_on_chain(w, finder)),
        ("gas_matches_table", _gas_matches_table),
        ("pii_in_trace", lambda _: _pii_in_trace(finder, trace_path)),
    ]
    violations: list[Violation] = []
    for name, check in checks:
        for detail in check(world):
            if name in ACCOUNTED:  # "operations:LabReports.post: ..." names its kind
                kind, _, detail = detail.partition("\x00")
                violations.append(Violation(kind, detail))
            else:
                violations.append(Violation(name, detail))
    return [name for name, _ in checks], violations


def _sample(items: list[Any], world: World, name: str) -> list[Any]:
    if len(items) <= SAMPLE:
        return items
    return world.rng(f"invariant-{name}").sample(items, SAMPLE)


def _tokens_valid(world: World) -> list[str]:
    problems = []
    verified = {h.hospital_id for h in world.hospitals if h.hospital_id}
    doctors = {d.doctor_id for ds in world.doctors for d in ds if d.doctor_id}
    patients = {p.patient_id: p for p in world.patients if p.patient_id}
    for pmr_id, patient_id, doctor_id, hospital_id in world.ledger.minted:
        if patient_id not in patients or pmr_id // 10**8 != patient_id:
            problems.append(f"PMR {pmr_id}: patient {patient_id} was not registered")
        if doctor_id not in doctors or hospital_id not in verified:
            problems.append(f"PMR {pmr_id}: doctor {doctor_id} / hospital {hospital_id} not valid")
    for pmr_id, patient_id, _, _ in _sample(world.ledger.minted, world, "tokens"):
        owner = world.protocol.view("PMRToken", "ownerOf", pmr_id)
        expected = "0x" + patients[patient_id].address.hex() if patient_id in patients else "?"
        if str(owner).lower() != expected:
            problems.append(f"PMR {pmr_id}: owner {owner} is not patient {patient_id}")
    return problems


def _access_had_valid_grant(world: World) -> list[str]:
    problems = [f"{s.record_id} released to {s.grantee} at {s.block_time} without a valid grant"
                for s in world.ledger.served
                if not world.ledger.grants.valid_at(s.grantee, s.pmr_id, s.block_time)]
    answered: set[bytes] = set()
    for s in world.ledger.served:
        if not s.use_tx or s.use_tx in answered:
            problems.append(f"{s.record_id} released to {s.grantee} at {s.block_time} "
                            f"without a use of its own on chain")
        answered.add(s.use_tx)
    return problems


#: The checks whose violations are named per operation or attack kind (``family:kind``).
ACCOUNTED = ("operations", "attacks", "denials")


def _accounted(world: World, family: str) -> list[str]:
    """The accounts' violations of ``family``, each as "name NUL detail"."""
    return [f"{name}\x00{detail}" for name, detail in world.accounts.violations()
            if name.startswith(family + ":")]


def _stored(world: World, cid: Any) -> bytes | None:
    """The object ``cid`` read from the first node whose blockstore has it (any state)."""
    from storage_sim import export_bytes

    for node in world.swarm.nodes.values():
        if node.blockstore.has(cid):
            try:
                return export_bytes(cid, node.blockstore.get)
            except Exception:
                continue
    return None


def _record_rebuilds(world: World) -> list[str]:
    problems = [f"{r}: rebuilt bytes differ" for r in world.ledger.rebuild_failures]
    from storage_sim import Cid, export_bytes

    for study in _sample(world.studies, world, "rebuilds"):
        raw = _stored(world, study.manifest_cid)
        if raw is None:
            continue  # every copy of the manifest was lost: a storage outage, not a sharing fault
        doc = json.loads(raw)
        t, n = doc["sharing"]["t"], doc["sharing"]["n"]
        present = []
        for entry in doc["fragments"]:
            node = world.swarm.node(entry["node"])
            share = world.custodians[entry["node"]].held(study.record_id)
            if node.lost or not node.online or share is None:
                continue
            try:
                fragment = export_bytes(Cid.parse(entry["cid"]), node.blockstore.get)
            except Exception:
                continue
            present.append(Custodian(entry["index"], fragment, share))
        if n - len(present) > n - t:
            continue  # more than n - t custodians down: the guarantee does not apply
        from sim.privacy.manifest import Manifest

        manifest = Manifest.from_json(json.dumps(doc["sharing"]))
        try:
            data = combine(manifest, study.essential, present)
        except Exception as exc:
            problems.append(f"{study.record_id}: does not rebuild ({type(exc).__name__})")
            continue
        from sim.engine.studies import sha256

        if sha256(data) != study.digest:
            problems.append(f"{study.record_id}: rebuilt bytes differ")
    return problems


def _needles(world: World) -> list[bytes]:
    values = sorted(world.ledger.personal)
    return [v.encode()[:31] for v in values]


def _chain_chunks(world: World) -> Iterator[bytes]:
    """Every raw transaction and log the chain mined (as the driver spooled them), then its state."""
    yield from world.driver.chain_bytes()
    state = getattr(world.chain, "state_blobs", None)
    if state is not None:  # each blob after a 0 byte, in pieces (a city's state is millions)
        batch: list[bytes] = []
        for blob in state():
            batch.append(blob)
            if len(batch) == _STATE_BATCH:
                yield b"\x00" + b"\x00".join(batch)
                batch = []
        if batch:
            yield b"\x00" + b"\x00".join(batch)


_STATE_BATCH = 1 << 16


def _file_chunks(path: Path, size: int = 8 << 20) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(size):
            yield chunk


_HEX = frozenset(b"0123456789abcdefABCDEF")
#: Up to this many bytes of needles, :class:`_Finder` builds a DFA (a table of at most a few
#: tens of MB); a city's hundreds of thousands of values use the default automaton.
DFA_NEEDLE_BYTES = 50_000


class _Finder:
    """One Aho-Corasick automaton over ``needles``, built once for every scan of a run."""

    def __init__(self, needles: list[bytes]) -> None:
        self.needles = needles
        self._automaton: Any = None
        if needles:
            from ahocorasick_rs import BytesAhoCorasick, Implementation

            # a DFA scans ~4x faster, but its table grows with the needles' bytes times the
            # alphabet
            small = sum(map(len, needles)) <= DFA_NEEDLE_BYTES
            self._automaton = BytesAhoCorasick(
                needles, implementation=Implementation.DFA if small else None)
            self._hexlike = [all(c in _HEX for c in n) for n in needles]
            self._digits = [n.isdigit() for n in needles]
            self._keep = max(len(n) for n in needles) + 1  # a needle and the byte before it

    def find(self, blob: bytes | Iterable[bytes], *, text: bool = False) -> list[bytes]:
        """The needles that occur in ``blob`` (bytes, or pieces of one stream): one pass.

        With ``text`` (a hex-heavy text such as the trace), a needle made only
        of hex digits (a phone number, a registration number) counts only
        where it is not part of a longer hex run: ten decimal digits occur by
        chance in a few megabytes of hex. Such a value written out as a value
        of its own is still found, and its bytes inside a hex-encoded
        transaction are found by the on-chain check, which reads the raw
        bytes. Likewise a needle of decimal digits only does not count where
        it is a whole JSON number (a block timestamp that happens to equal a
        generated phone number): the engine writes personal values only as
        strings.
        """
        if self._automaton is None:
            return []
        hexlike, digits = self._hexlike, self._digits
        keep = self._keep
        pieces = [blob] if isinstance(blob, bytes | bytearray) else blob
        found: set[int] = set()
        tail = b""
        pending = iter(pieces)
        piece = next(pending, None)
        while piece is not None:
            following = next(pending, None)
            window = tail + piece
            last = following is None
            for index, start, end in self._automaton.find_matches_as_indexes(window,
                                                                             overlapping=True):
                if text and hexlike[index]:
                    if end == len(window) and not last:
                        continue  # the next byte is in the next piece: seen again from the tail
                    if (start > 0 and window[start - 1] in _HEX) or (end < len(window)
                                                                     and window[end] in _HEX):
                        continue
                    if digits[index] and _bare_number(window, start, end):
                        continue
                found.add(index)
            tail = window[-keep:]
            piece = following
        return [self.needles[i] for i in sorted(found)]


def _bare_number(window: bytes, start: int, end: int) -> bool:
    """Whether ``window[start:end]`` is a whole JSON number (a timestamp, a gas figure)."""
    before = window[start - 1:start]
    after = window[end:end + 1]
    return before in (b":", b",", b"[") and after in (b",", b"}", b"]", b".", b"\n")


def _pii_on_chain(world: World, finder: _Finder) -> list[str]:
    found = finder.find(_chain_chunks(world))
    if not found:
        return []
    return [f"{len(found)} generated personal/clinical values found on chain "
            f"(e.g. a value of {len(found[0])} bytes in transaction input or state)"]


def _pii_in_trace(finder: _Finder, trace_path: Path) -> list[str]:
    found = finder.find(_file_chunks(trace_path), text=True)
    return [f"{len(found)} generated personal/clinical values found in the trace"] if found else []


def _gas_matches_table(world: World) -> list[str]:
    """Compare each operation's gas above its floor with the table's (data sizes cancel out)."""
    import json as _json

    from sim.gas import BASELINE_PATH

    try:
        rows = _json.loads(BASELINE_PATH.read_text())["operations"]
    except (OSError, ValueError, KeyError):
        return ["gas table reports/baseline/gas.json is missing or unreadable"]
    table = {(r["layout"], r["token"], r["operation"]): r["gas"] - r["floor"] for r in rows}
    problems = []
    for op, stats in sorted(world.driver.ops.items()):
        expected = table.get((world.layout, world.sc.token, op))
        if expected is None or not stats.overhead or "_paper" in op:
            continue  # paper-layout strings cost what their lengths cost: no fixed figure
        slack = 0.1 * expected + 500
        # a slot written for the first time, or re-written, moves the gas by 17,100
        if not any(abs(o - expected - k * FIRST_WRITE) <= slack
                   for o in set(stats.overhead) for k in (-1, 0, 1)):
            problems.append(f"{op}: {min(stats.overhead)}..{max(stats.overhead)} gas above the "
                            f"floor, the table says {expected}")
    return problems


FIRST_WRITE = 22_100 - 5_000


__all__ = ["Violation", "check_all"]
