"""Invariants checked at the end of every run: what each covers, and what it does when it
cannot run.

Every check fails closed: when it cannot look at something it was meant to
look at, it either reports a violation or states a *skip* (``invariants.
skipped`` in summary.json: the check's name and the reason, also shown in
report.html and on the command line). It never passes in silence. The rule
used to choose: a violation when pmrsim itself could not do what it must
(its own database unreachable, a stored record's manifest gone from every
node, a gas table without the operation), since that is a defect or a loss
the run must not hide; a stated skip when the run simply offers nothing of
that kind to check (no record was released, no adversary configured) or the
limit is the outside world's (a node that does not expose its state).

* ``operations`` - every ordinary operation, on chain or off, that was
  attempted completed (a revert or an off-chain failure that no configured
  fault explains is a violation named ``operations:<operation>``; see
  :mod:`sim.engine.accounting`). Skips: no operation was accounted.
* ``attacks`` - every configured attack was attempted as many times as
  configured (else ``attacks:<kind>``, saying why it could not be). Skips:
  no attack configured.
* ``denials`` - every attempted attack, and every access the workload tried
  after its grant ended, was denied, and for an expected reason (else
  ``denials:<kind>``). Skips: no forbidden attempt was made.
* ``tokens_valid`` - every PMR version was minted for a registered patient
  (whose Patient-ID starts its PMR-ID) by a doctor affiliated with a
  verified hospital it minted for, all from the engine's own records; and
  each token's on-chain owner (``ownerOf``) is that patient's account (a
  violation too when ``ownerOf`` fails: the token is not on chain).
  Skips: no PMR minted; past :data:`SAMPLE` tokens the owners are read for a
  seeded sample, and the skip says how many were not read.
* ``access_had_valid_grant`` - every record the custodians released was
  covered, at that head block time, by a grant or emergency window rebuilt
  from the mined grant, revoke and break-glass outcomes (independently of
  ``AccessGrants.is_valid``), and answered a mined ``use`` of its own (no
  ``use`` answered twice). Skips: no record was released.
* ``record_rebuilds`` - every rebuild during the run returned the exact
  de-identified bytes; and at the end every stored study still rebuilds
  from its custodians while at most n - t of them are down (node lost or
  offline). Violations: a manifest no node can give, a custodian that is up
  but lost its fragment or key share, a study that does not rebuild or
  rebuilds to other bytes. Skips: nothing stored and nothing rebuilt;
  studies with more than n - t custodians down (the guarantee does not
  apply), counted; past :data:`SAMPLE` studies a seeded sample is rebuilt,
  and the skip says how many were not.
* ``pii_on_chain`` - no generated personal or clinical value appears in any
  raw transaction, log, or in the chain's state (every value of py-evm's
  database; code and storage words of revm and of an RPC node's state
  dump). A value of 6 characters or more is searched as raw bytes; one of 2
  to 5 characters only in the forms that cannot occur by chance: ABI-encoded
  (its length word, then the value zero-padded to 32 bytes) in transactions
  and logs, and as a whole left-aligned storage word in the state (the
  value then zeros, as the trie stores it after its 0xa0 prefix). A value
  of one character cannot be told from chance and is not searched: counted
  in a skip. Violations: the backend cannot reach its state database
  (:class:`~sim.errors.ChainError`); the state, or the transactions and
  logs, give nothing to search (a run always deploys). Skips: the
  node does not expose its state (:class:`~sim.errors.StateUnavailable`,
  an RPC node without ``anvil_dumpState``; transactions and logs are still
  searched); no personal value was generated.
* ``pii_in_trace`` - none appears in ``trace.jsonl`` either: a value of 6
  characters or more anywhere (with the hex-run and bare-number rules of
  :meth:`_Finder.find`), one of 2 to 5 characters as a whole JSON string
  (``"Li Wu"``). Violation: the trace is empty. Skips as ``pii_on_chain``
  for one-character values and an empty search.
* ``gas_matches_table`` - for every operation that succeeded, every distinct
  gas above its floor (the part that does not depend on data sizes: the
  floor counts calldata, logs and each slot written, including a counter
  written from zero the first time and a grant slot rewritten) matches the
  committed gas table (``reports/baseline/gas.json``) within 10% + 500 gas.
  The paper layout's string-storing calls are compared too: their strings'
  calldata and slots are in the floor, and what their lengths still move
  (memory, copying) stays within a few percent on the shipped scenarios.
  Violations: the table is missing or unreadable; it has no row for an
  operation the run made (the table is stale). Not compared: calls to the
  mock contracts an adversary deploys (a patient's wallet), which are not
  part of the system the table describes. Skips: no operation succeeded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sim.contracts import MOCK_NAMES
from sim.errors import ChainError, StateUnavailable
from sim.privacy.sharing import Custodian, combine

if TYPE_CHECKING:
    from sim.engine.world import World

#: Past this many tokens (owners read on chain) or stored studies (rebuilt), a seeded
#: sample of this size is checked, and the skip says so.
SAMPLE = 2_000
#: Values at least this long are searched as raw bytes; shorter ones in their ABI,
#: storage-word and JSON-string forms only.
RAW_SEARCH_CHARS = 6
#: Values shorter than this are not searched at all (a skip counts them).
SHORT_SEARCH_CHARS = 2
#: ``gas_matches_table``'s tolerance: a fraction of the table's figure plus a constant.
GAS_TOLERANCE = (0.10, 500)


@dataclass(frozen=True)
class Violation:
    """One invariant violation."""

    name: str
    detail: str


@dataclass(frozen=True)
class Skip:
    """What one check could not cover, and why (a stated skip, never a silent pass)."""

    name: str
    reason: str


@dataclass
class Checks:
    """What :func:`check_all` found: the checks run, their violations, their stated skips."""

    checked: list[str]
    violations: list[Violation] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


class Found(NamedTuple):
    """One check's result: violation details (named after the check, or ``named`` already:
    ``operations:LabReports.post``) and skip reasons."""

    problems: list[str]
    skips: list[str]
    named: Sequence[Violation] = ()


def check_all(world: World, trace_path: Path) -> Checks:
    """Run every invariant (see the module docstring)."""
    search = _Search.of(world.ledger.personal)  # the chain's and the trace's scans share it
    checks: list[tuple[str, Callable[[World], Found]]] = [
        ("operations", _operations),
        ("attacks", _attacks),
        ("denials", _denials),
        ("tokens_valid", _tokens_valid),
        ("access_had_valid_grant", _access_had_valid_grant),
        ("record_rebuilds", _record_rebuilds),
        ("pii_on_chain", lambda w: _pii_on_chain(w, search)),
        ("gas_matches_table", _gas_matches_table),
        ("pii_in_trace", lambda _: _pii_in_trace(search, trace_path)),
    ]
    result = Checks([name for name, _ in checks])
    for name, check in checks:
        found = check(world)
        result.violations += [Violation(name, detail) for detail in found.problems]
        result.violations += found.named
        result.skipped += [Skip(name, reason) for reason in found.skips]
    return result


def _sample(items: list[Any], world: World, name: str) -> list[Any]:
    if len(items) <= SAMPLE:
        return items
    return world.rng(f"invariant-{name}").sample(items, SAMPLE)


def _tokens_valid(world: World) -> Found:
    minted = world.ledger.minted
    if not minted:
        return Found([], ["no PMR was minted: nothing to check"])
    problems = []
    verified = {h.hospital_id for h in world.hospitals if h.hospital_id}
    affiliated = {(d.doctor_id, h) for ds in world.doctors for d in ds if d.doctor_id
                  for h in d.hospitals}
    patients = {p.patient_id: p for p in world.patients if p.patient_id}
    for pmr_id, patient_id, doctor_id, hospital_id in minted:
        if patient_id not in patients or pmr_id // 10**8 != patient_id:
            problems.append(f"PMR {pmr_id}: patient {patient_id} was not registered")
        if hospital_id not in verified:
            problems.append(f"PMR {pmr_id}: hospital {hospital_id} is not a verified hospital")
        elif (doctor_id, hospital_id) not in affiliated:
            problems.append(f"PMR {pmr_id}: doctor {doctor_id} is not affiliated with "
                            f"hospital {hospital_id}")
    tokens = sorted({(pmr_id, patient_id) for pmr_id, patient_id, _, _ in minted})
    read = _sample(tokens, world, "tokens")
    for pmr_id, patient_id in read:
        try:
            owner = world.protocol.view("PMRToken", "ownerOf", pmr_id)
        except ChainError as exc:  # e.g. the token does not exist on chain
            problems.append(f"PMR {pmr_id}: ownerOf failed on chain ({exc})")
            continue
        expected = "0x" + patients[patient_id].address.hex() if patient_id in patients else "?"
        if str(owner).lower() != expected:
            problems.append(f"PMR {pmr_id}: owner {owner} is not patient {patient_id}")
    skips = []
    if len(read) < len(tokens):
        skips.append(f"owner read on chain for a seeded sample of {len(read):,} of "
                     f"{len(tokens):,} tokens ({len(tokens) - len(read):,} not read)")
    return Found(problems, skips)


def _access_had_valid_grant(world: World) -> Found:
    served = world.ledger.served
    if not served:
        return Found([], ["no record was released to a doctor: nothing to check"])
    problems = [f"{s.record_id} released to {s.grantee} at {s.block_time} without a valid grant"
                for s in served
                if not world.ledger.grants.valid_at(s.grantee, s.pmr_id, s.block_time)]
    answered: set[bytes] = set()
    for s in served:
        if not s.use_tx or s.use_tx in answered:
            problems.append(f"{s.record_id} released to {s.grantee} at {s.block_time} "
                            f"without a use of its own on chain")
        answered.add(s.use_tx)
    return Found(problems, [])


#: The checks whose violations are named per operation or attack kind (``family:kind``).
ACCOUNTED = ("operations", "attacks", "denials")


def _accounted(world: World, family: str, nothing: str | None) -> Found:
    """The accounts' violations of ``family`` (named ``family:kind``); ``nothing`` is the skip
    when the accounts hold nothing of that family (None: they do)."""
    named = [Violation(name, detail) for name, detail in world.accounts.violations()
             if name.startswith(family + ":")]
    return Found([], [nothing] if nothing else [], named)


def _operations(world: World) -> Found:
    return _accounted(world, "operations", None if world.accounts.ops else
                      "no operation was accounted: nothing to check")


def _attacks(world: World) -> Found:
    configured = any(a.configured for a in world.accounts.attacks.values())
    return _accounted(world, "attacks", None if configured else
                      "no attack configured: nothing to check")


def _denials(world: World) -> Found:
    attempted = sum(a.attempted for a in world.accounts.attacks.values())
    return _accounted(world, "denials", None if attempted else
                      "no forbidden attempt was made: nothing to check")


def _stored(world: World, cid: Any) -> bytes | None:
    """The object ``cid`` read from the first node whose blockstore has it whole (any state)."""
    from storage_sim import export_bytes

    for node in world.swarm.nodes.values():
        if node.blockstore.has(cid):
            try:
                return export_bytes(cid, node.blockstore.get)
            except Exception:  # a broken copy: another node may hold a good one
                continue
    return None


def _record_rebuilds(world: World) -> Found:
    problems = [f"{r}: rebuilt bytes differ" for r in world.ledger.rebuild_failures]
    studies = world.studies
    if not studies and not sum(world.ledger.rebuilds.values()):
        return Found(problems, ["no study was stored or rebuilt: nothing to check"])
    checked = _sample(studies, world, "rebuilds")
    beyond = 0
    for study in checked:
        problem, too_many_down = _rebuild_stored(world, study)
        if problem:
            problems.append(f"{study.record_id}: {problem}")
        beyond += too_many_down
    skips = []
    if beyond:
        skips.append(f"{beyond:,} of {len(checked):,} studies not rebuilt: more than n - t of "
                     "their custodians are down, where the guarantee does not apply")
    if len(checked) < len(studies):
        skips.append(f"rebuilt a seeded sample of {len(checked):,} of {len(studies):,} stored "
                     f"studies ({len(studies) - len(checked):,} not rebuilt)")
    return Found(problems, skips)


def _rebuild_stored(world: World, study: Any) -> tuple[str, bool]:
    """(what is wrong with rebuilding ``study`` from its custodians or "", whether more than
    n - t of them are down)."""
    from sim.engine.studies import sha256
    from sim.privacy.manifest import Manifest
    from storage_sim import Cid, export_bytes

    raw = _stored(world, study.manifest_cid)
    if raw is None:
        return f"its manifest {study.manifest_cid} cannot be read from any node", False
    try:
        doc = json.loads(raw)
        manifest = Manifest.from_json(json.dumps(doc["sharing"]))
        entries = list(doc["fragments"])
    except Exception as exc:  # any malformed manifest is this violation
        return f"its manifest is not a sharing manifest ({type(exc).__name__}: {exc})", False
    present, down, faults = [], 0, []
    for entry in entries:
        node = world.swarm.node(entry["node"])
        if node.lost or not node.online:
            down += 1
            continue
        share = world.custodians[entry["node"]].held(study.record_id)
        if share is None:
            faults.append(f"custodian {entry['index']} ({entry['node']}) is up without its key share")
            continue
        try:
            fragment = export_bytes(Cid.parse(entry["cid"]), node.blockstore.get)
        except Exception as exc:  # a missing or corrupt block: this fault
            faults.append(f"custodian {entry['index']} ({entry['node']}) is up but its fragment "
                          f"does not export ({type(exc).__name__})")
            continue
        present.append(Custodian(entry["index"], fragment, share))
    if down > manifest.n - manifest.t:
        return "; ".join(faults), True
    if faults:
        return "; ".join(faults), False
    try:
        data = combine(manifest, study.essential, present)
    except Exception as exc:  # any failure to rebuild is this violation
        return f"does not rebuild ({type(exc).__name__}: {exc})", False
    return ("" if sha256(data) == study.digest else "rebuilt bytes differ"), False


# -- the PII search ---------------------------------------------------------------------------

#: Where a needle counts: in raw chain bytes, in the trace's text, or both.
CHAIN, TEXT = 1, 2


@dataclass(frozen=True)
class _Search:
    """The PII search of a run: one automaton over every form of every searchable value."""

    finder: _Finder
    #: needle -> indexes of the values it stands for
    owners: dict[bytes, list[int]]
    unsearchable: int

    @classmethod
    def of(cls, values: Iterable[str]) -> _Search:
        """The needles of ``values`` (see the module docstring for the forms)."""
        needles: dict[bytes, int] = {}
        owners: dict[bytes, list[int]] = {}
        unsearchable = 0
        for index, value in enumerate(sorted(values)):
            forms = _forms(value)
            if not forms:
                unsearchable += 1
            for needle, scope in forms:
                needles[needle] = needles.get(needle, 0) | scope
                owners.setdefault(needle, []).append(index)
        finder = _Finder(list(needles), list(needles.values()))
        return cls(finder, owners, unsearchable)

    def values_in(self, blob: bytes | Iterable[bytes], *, text: bool = False) -> set[int]:
        """Indexes of the values found in ``blob`` (see :meth:`_Finder.find`)."""
        return {i for needle in self.finder.find(blob, text=text) for i in self.owners[needle]}

    def skips(self) -> list[str]:
        """What the search cannot cover, stated."""
        out = []
        if not self.owners:
            out.append("no generated personal value to search for")
        if self.unsearchable:
            out.append(f"{self.unsearchable:,} generated value(s) of one character not searched "
                       "(too short to tell from chance)")
        return out


def _forms(value: str) -> list[tuple[bytes, int]]:
    """The needles ``value`` is searched as, with where each counts."""
    raw = value.encode()
    if len(value) >= RAW_SEARCH_CHARS:
        # the first 31 bytes: a string stored on chain keeps at least them in one word
        return [(raw[:31], CHAIN | TEXT)]
    if len(value) < SHORT_SEARCH_CHARS:
        return []
    word = raw.ljust(32, b"\x00")  # at most 5 characters: at most 20 bytes
    return [(len(raw).to_bytes(32, "big") + word, CHAIN),  # an ABI-encoded string
            (b"\xa0" + word, CHAIN),  # a storage word (see _chain_state)
            (json.dumps(value, ensure_ascii=False).encode(), TEXT)]  # the trace's encoding


def _chain_state(world: World) -> Iterator[bytes]:
    """The chain's state in pieces (a city's state is millions of values), each value after
    the bytes 0x00 0xa0.

    0xa0 is the RLP prefix of a 32-byte string, before which a py-evm trie
    node holds a storage word: given so before every value (a storage word of
    revm or of a state dump among them), a short value stored as a word is
    found the same way on every backend. Before anything else it is inert.
    """
    batch: list[bytes] = []
    for blob in world.chain.state_blobs():
        batch.append(blob)
        if len(batch) == _STATE_BATCH:
            yield _SEPARATOR + _SEPARATOR.join(batch)
            batch = []
    if batch:
        yield _SEPARATOR + _SEPARATOR.join(batch)


_SEPARATOR = b"\x00\xa0"


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
    """One Aho-Corasick automaton over ``needles``, built once for every scan of a run.

    ``scopes`` says where each needle counts (:data:`CHAIN`, :data:`TEXT`
    or both, the default): in a raw scan or a text scan.
    """

    def __init__(self, needles: list[bytes], scopes: list[int] | None = None) -> None:
        self.needles = needles
        self._scopes = scopes or [CHAIN | TEXT] * len(needles)
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
        strings. A needle counts only in the scans its scope names.
        """
        if self._automaton is None:
            return []
        hexlike, digits, scopes = self._hexlike, self._digits, self._scopes
        mode = TEXT if text else CHAIN
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
                if not scopes[index] & mode:
                    continue
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


def _pii_on_chain(world: World, search: _Search) -> Found:
    skips = search.skips()
    if not search.owners:
        return Found([], skips)
    problems: list[str] = []
    in_txs = search.values_in(_counted(world.driver.chain_bytes(), problems,
                                       "the transactions and logs"))
    if in_txs:
        problems.append(f"{len(in_txs)} generated personal/clinical values found in "
                        "transaction input or logs")
    try:
        in_state = search.values_in(_counted(_chain_state(world), problems, "the chain's state"))
    except StateUnavailable as exc:
        skips.append(f"the chain's state was not searched, transactions and logs were: {exc}")
    except ChainError as exc:
        problems.append(f"the chain's state could not be searched: {exc}")
    else:
        if in_state:
            problems.append(f"{len(in_state)} generated personal/clinical values found in the "
                            "chain's state")
    return Found(problems, skips)


def _counted(pieces: Iterable[bytes], problems: list[str], what: str) -> Iterator[bytes]:
    """``pieces``, noting a problem when they hold no byte at all (``what`` gave nothing)."""
    empty = True
    for piece in pieces:
        empty = empty and not piece
        yield piece
    if empty:
        problems.append(f"{what} gave nothing to search")


def _pii_in_trace(search: _Search, trace_path: Path) -> Found:
    skips = search.skips()
    if not search.owners:
        return Found([], skips)
    problems: list[str] = []
    found = search.values_in(_counted(_file_chunks(trace_path), problems, "the trace"), text=True)
    if found:
        problems.append(f"{len(found)} generated personal/clinical values found in the trace")
    return Found(problems, skips)


def _gas_matches_table(world: World) -> Found:
    """Compare every distinct gas above the floor of every operation with the table's."""
    from sim.gas import BASELINE_PATH

    try:
        rows = json.loads(BASELINE_PATH.read_text())["operations"]
        table = {(r["layout"], r["token"], r["operation"]): r["gas"] - r["floor"] for r in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return Found(["gas table reports/baseline/gas.json is missing or unreadable"], [])
    share, constant = GAS_TOLERANCE
    problems = []
    compared = 0
    for op, stats in sorted(world.driver.ops.items()):
        if not stats.overhead:
            continue  # every call reverted: no gas figure of a successful call
        if op.split(".")[0] in MOCK_NAMES:
            continue  # an adversary's own contract, not the system's
        compared += 1
        expected = table.get((world.layout, world.sc.token, op))
        if expected is None:
            problems.append(f"{op}: no row for {world.layout}/{world.sc.token} in the gas table "
                            "(regenerate it: pmrsim gas --layout both --token both "
                            "--update-baseline)")
            continue
        slack = share * expected + constant
        counts = Counter(stats.overhead)
        off = sorted(o for o in counts if abs(o - expected) > slack)
        if off:
            calls = sum(counts[o] for o in off)
            problems.append(f"{op}: {calls} of {len(stats.overhead)} calls {off[0]}..{off[-1]} "
                            f"gas above the floor, the table says {expected} (±{slack:.0f})")
    return Found(problems, [] if compared else ["no operation succeeded: nothing to compare"])


__all__ = ["Checks", "Skip", "Violation", "check_all"]
