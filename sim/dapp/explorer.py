"""The explorer: a finished run's blocks, transactions, patients' timelines and verdicts.

The run folder is read with the report's own readers: ``summary.json`` with
:func:`reports.load.load_summary` (which checks every field it uses) and
``trace.jsonl`` with :func:`reports.trace.read_trace` (which checks every
line); then the lines the pages list (blocks, transactions, accesses,
storage events, attacks) are indexed. ``pmrsim serve RUN_DIR`` holds the
folder's lock while serving, as ``replay`` does, so no run replaces it
meanwhile. Each page has a JSON twin (``?format=json``).
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reports.load import load_summary
from reports.trace import read_trace
from sim.errors import ChainError, InputError
from sim.protocol import ids

if TYPE_CHECKING:
    from sim.dapp.app import DApp
    from sim.dapp.live import Action, LiveWorld

#: Rows a list page shows at once.
PAGE = 100
#: AccessGrants' scope key for all of a patient's records is ``SCOPE_ALL | patient_id``.
SCOPE_ALL = 1 << 255
#: The access window a live read used, by AccessGrants.use's ``kind`` argument.
_MODES = {1: "grant", 2: "all", 3: "emergency"}


class Index:
    """What every explorer page reads: a chain's blocks and transactions, its accounts,
    the accesses to patients' records and the swarm's storage events.

    Two sources fill it: a finished run's folder (:class:`Explorer`) and the live
    world (:class:`LiveExplorer`, brought up to date before each page with
    :meth:`refresh`). The pages never know which one they read.
    """

    def __init__(self) -> None:
        self.contracts: dict[str, str] = {}  # address (0x-hex, lower case) -> contract name
        self.accounts: dict[str, str] = {}  # label -> address (0x-hex, lower case)
        self.blocks: list[dict[str, Any]] = []
        self.txs: list[dict[str, Any]] = []
        self.accesses: list[dict[str, Any]] = []
        self.storage: list[dict[str, Any]] = []
        self.by_hash: dict[str, dict[str, Any]] = {}
        self.erc1155 = False
        #: Patient-ID -> positions in :attr:`txs` of the transactions naming that patient
        #: (built from the decoded calls the first time a patient's timeline is asked for)
        self._named: dict[int, list[int]] = {}
        self._named_upto = 0
        self._sent: dict[str, int] = {}  # sender label -> transactions sent
        self._reverted: dict[str, int] = {}

    def refresh(self) -> None:
        """Bring the index up to date with its source (a finished run never changes)."""

    def raw(self, tx_hash: str) -> bytes | None:
        """The signed bytes of transaction ``tx_hash`` (None when not kept)."""
        raise NotImplementedError

    def decoded(self, tx_hash: str) -> dict[str, Any] | None:
        """The decoded call of transaction ``tx_hash`` (None for a deployment or unknown tx)."""
        raw = self.raw(tx_hash)
        return None if raw is None else decode_call(raw, self.contracts, erc1155=self.erc1155)

    def overview(self) -> dict[str, Any]:
        """Counts, invariants and the attack matrix."""
        raise NotImplementedError

    def events(self, tx_hash: str) -> tuple[list[dict[str, Any]] | None, str]:
        """The decoded events of transaction ``tx_hash``, or None with a sentence saying
        why they are not (yet) shown."""
        raise NotImplementedError

    def timeline(self, patient_id: int) -> list[dict[str, Any]]:
        """A patient's accesses: released (granted), denied, emergency, in order."""
        return [a for a in self.accesses if a.get("patient") == patient_id]

    def patient(self, patient_id: int) -> dict[str, Any]:
        """A patient's timeline: the transactions naming them (visits and versions of their
        records, lab reports, grants and revocations, break-glass) and the accesses."""
        self._name_patients()
        txs = [self._tx_row(self.txs[i]) for i in self._named.get(patient_id, [])]
        return {"patient_id": patient_id, "transactions": txs,
                "accesses": self.timeline(patient_id)}

    def _name_patients(self) -> None:
        """Index, by Patient-ID, the transactions whose decoded call names a patient."""
        for i in range(self._named_upto, len(self.txs)):
            call = self.decoded(self.txs[i]["hash"]) if "hash" in self.txs[i] else None
            for pid in patients_named(call):
                self._named.setdefault(pid, []).append(i)
        self._named_upto = len(self.txs)

    def _tx_row(self, tx: dict[str, Any]) -> dict[str, Any]:
        """A transaction as a timeline row: when, what, by whom, and what the chain said."""
        return {"block": tx.get("block"), "op": tx.get("op"), "sender": tx.get("sender"),
                "status": tx.get("status"), "reason": tx.get("reason", ""), "hash": tx.get("hash")}

    def _add_tx(self, tx: dict[str, Any]) -> None:
        """Index one transaction (and count it for its sender)."""
        self.txs.append(tx)
        who = str(tx.get("sender", ""))
        self._sent[who] = self._sent.get(who, 0) + 1
        if tx.get("status") == 0:
            self._reverted[who] = self._reverted.get(who, 0) + 1

    def actors(self, page: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Page ``page`` of the accounts with a label: each address and how many
        transactions it sent (and how many reverted); and how many accounts there are."""
        labels = itertools.islice(self.accounts.items(), page * PAGE, (page + 1) * PAGE)
        rows = [{"label": label, "address": address, "txs": self._sent.get(label, 0),
                 "reverted": self._reverted.get(label, 0)} for label, address in labels]
        return rows, len(self.accounts)

    def actor(self, label: str, page: int = 0) -> list[dict[str, Any]]:
        """Page ``page`` of the transactions ``label`` sent, in order."""
        if label not in self.accounts and label not in self._sent:
            raise InputError(f"actor: no account labelled {label!r}")
        sent = (tx for tx in self.txs if tx.get("sender") == label)
        return [self._tx_row(tx) for tx in itertools.islice(sent, page * PAGE, (page + 1) * PAGE)]

    def block(self, number: int) -> dict[str, Any]:
        """Block ``number`` and its transactions."""
        found = next((b for b in self.blocks if b.get("number") == number), None)
        if found is None:
            raise InputError(f"block: no block {number} in this chain")
        return {"block": found,
                "transactions": [self._tx_row(tx) for tx in self.txs if tx.get("block") == number]}

    def storage_view(self) -> dict[str, Any]:
        """The swarm: bytes each node stores, and its events counted by kind."""
        kinds: dict[str, int] = {}
        for event in self.storage:
            kinds[str(event.get("event"))] = kinds.get(str(event.get("event")), 0) + 1
        return {"nodes": self.storage_nodes(), "events": kinds}

    def storage_nodes(self) -> dict[str, int]:
        """Bytes stored per node."""
        raise NotImplementedError

    def search(self, query: str) -> dict[str, Any]:
        """Find a tx hash, a CID, a Patient-ID or a PMR-ID; say what it is."""
        q = query.strip()
        if q.lower().startswith("0x") and len(q) == 66:
            tx = self.by_hash.get(q.lower())
            return {"query": q, "kind": "tx", "tx": tx} if tx else {"query": q, "kind": "none"}
        if q.startswith(("baf", "Qm")):
            events = [e for e in self.storage if e.get("cid") == q]
            return {"query": q, "kind": "cid", "storage": events}
        if q.isdigit():
            if not q.isascii() or len(q) > 78:
                raise InputError("q: expected a Patient-ID or PMR-ID in ASCII digits (at most 78)")
            number = int(q)
            by_pmr = [a for a in self.accesses if a.get("pmr") == number]
            if by_pmr:
                return {"query": q, "kind": "pmr", "accesses": by_pmr}
            return {"query": q, "kind": "patient", "accesses": self.timeline(number)}
        raise InputError("q: expected a tx hash (0x + 64 hex digits), a CID, a Patient-ID or a PMR-ID")


class Explorer(Index):
    """An indexed run folder."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        if not folder.is_dir():
            raise InputError(f"{folder}: not a run folder (no such directory)")
        self.folder = folder
        self.summary = load_summary(folder / "summary.json")
        self.erc1155 = self.summary.get("token") == "erc1155"
        trace = folder / "trace.jsonl"
        if not trace.is_file():
            raise InputError(f"{trace}: no such file (is this a run folder?)")
        self.digest = read_trace(trace)
        self._trace = trace
        self._offsets: dict[str, int] = {}  # tx hash -> byte offset of its trace line
        self._replay_lock = threading.Lock()
        self._replay_thread: threading.Thread | None = None
        self._replay: tuple[Any, dict[bytes, Any]] | None = None  # re-executed chain, contracts
        self._replay_error = ""
        lists = {"block": self.blocks, "access": self.accesses, "storage": self.storage}
        offset = 0
        with trace.open("rb") as lines:
            for number, raw in enumerate(lines, 1):
                record = json.loads(raw)
                kind = record["kind"]
                if kind == "contracts":
                    self.contracts.update({str(v).lower(): k for k, v in record.items()
                                           if k not in ("kind", "t")})
                elif kind == "account":
                    self.accounts[str(record["label"])] = str(record["address"]).lower()
                elif kind == "tx":
                    if "raw" in record:
                        # the patients the call names, for their timelines; the signed bytes
                        # are long: read again from the file when a page decodes them
                        call = _decode_traced(trace, number, record["raw"], self.contracts,
                                              self.erc1155)
                        for pid in patients_named(call):
                            self._named.setdefault(pid, []).append(len(self.txs))
                        self._offsets[record["hash"]] = offset
                        del record["raw"]
                    self._add_tx(record)
                elif kind in lists:
                    lists[kind].append(record)
                offset += len(raw)
        self.by_hash = {tx["hash"]: tx for tx in self.txs if "hash" in tx}
        self._named_upto = len(self.txs)

    def events(self, tx_hash: str) -> tuple[list[dict[str, Any]] | None, str]:
        """Events are not in the trace (only a digest of each transaction's logs): they are
        re-derived by re-executing the run's chain from its signed transactions, as
        ``pmrsim replay --chain-only`` does, each receipt's logs checked against the digest
        the trace holds. The first transaction page asked for starts it in the background."""
        with self._replay_lock:
            if self._replay is None and not self._replay_error:
                if self._replay_thread is None:
                    self._replay_thread = threading.Thread(target=self._re_execute, daemon=True,
                                                           name="explorer-replay")
                    self._replay_thread.start()
                return None, ("re-deriving the events: the chain is being re-executed from the "
                              "trace's signed transactions (reload in a few seconds)")
        if self._replay_error:
            return None, f"the trace does not replay, so no events are shown: {self._replay_error}"
        assert self._replay is not None
        chain, contracts = self._replay
        return _decoded_events(chain, contracts, tx_hash), ""

    def _re_execute(self) -> None:
        from sim.chain.contract import Contract
        from sim.contracts import load_artifacts
        from sim.engine.replay import replay_folder
        from sim.errors import PmrsimError

        try:
            replayed = replay_folder(self.folder)
        except PmrsimError as exc:
            with self._replay_lock:
                self._replay_error = str(exc)
            return
        art = load_artifacts()
        by_address = {}
        for name, address in replayed.contracts.items():
            abi_name = "PMRMulti" if name == "PMRToken" and self.erc1155 else name
            if abi_name in art:
                by_address[bytes.fromhex(address[2:])] = Contract(
                    replayed.chain, bytes.fromhex(address[2:]), art[abi_name].abi)
        with self._replay_lock:
            self._replay = (replayed.chain, by_address)

    def wait_for_events(self, timeout: float | None = None) -> None:
        """Start re-deriving the events if needed and wait until done (scripts, tests)."""
        self.events("0x" + "00" * 32)
        thread = self._replay_thread
        if thread is not None:
            thread.join(timeout)

    def raw(self, tx_hash: str) -> bytes | None:
        """The signed bytes, read again from the trace line that holds them."""
        offset = self._offsets.get(tx_hash)
        if offset is None:
            return None
        with self._trace.open("rb") as f:
            f.seek(offset)
            return bytes.fromhex(json.loads(f.readline())["raw"][2:])

    def storage_nodes(self) -> dict[str, int]:
        """Bytes stored per node at the end of the run (from the summary)."""
        nodes = self.summary.get("storage", {}).get("nodes", {})
        return {str(k): int(v) for k, v in nodes.items()}

    def overview(self) -> dict[str, Any]:
        """Counts, invariants and the attack matrix of the run."""
        s = self.summary
        return {
            "source": "run", "folder": str(self.folder), "scenario": s.get("scenario"),
            "seed": s.get("seed"), "layout": s.get("layout"), "backend": s.get("backend"),
            "state_root": s.get("state_root"), "counts": s.get("counts", {}),
            "invariants": s.get("invariants", {}), "attacks": s.get("attacks", {}),
            "blocks": len(self.blocks), "txs": len(self.txs), "actors": len(self.accounts),
            "storage_events": len(self.storage), "trace_lines": self.digest.lines,
        }


class LiveExplorer(Index):
    """The live world's chain and swarm, indexed as a run's are.

    Blocks and receipts are read from the chain itself (every transaction, the
    deployment's too); accounts from the world's actors; accesses from the reads
    and break-glass openings acted on the pages; storage events from the swarm.
    :meth:`refresh` reads what is new since the last page.
    """

    def __init__(self, world: LiveWorld) -> None:
        super().__init__()
        self.world = world
        p = world.protocol
        self.erc1155 = p.system.token == "erc1155"
        self.contracts = {"0x" + c.address.hex(): name for name, c in p.system.by_name().items()}
        self._labels: dict[bytes, str] = {}
        self._seen: tuple[int, ...] = ()  # how many actors of each kind are indexed
        self._head = 0
        self._actions = 0
        self._refused = 0
        world.swarm.observe(self._storage_event)

    def _storage_event(self, event: str, fields: dict[str, Any]) -> None:
        self.storage.append({"event": event, **fields, "t": self.world.env.now})

    def refresh(self) -> None:
        """Index the blocks mined and the actions taken since the last refresh."""
        w = self.world
        for label, address in w.accounts(since=self._seen).items():
            self.accounts[label] = "0x" + address.hex()
            self._labels[address] = label
        self._seen = w.account_counts()
        new = w.actions[self._actions:]
        self._actions = len(w.actions)
        self._refused += sum(1 for a in new if a.outcome is not None and not a.outcome.ok)
        ops = {a.outcome.receipt.tx_hash: a.outcome.op for a in new if a.outcome is not None}
        chain = w.protocol.chain
        for number in range(self._head + 1, chain.block_number + 1):
            block = chain.block(number)
            self.blocks.append({"number": block.number, "timestamp": block.timestamp,
                                "txs": len(block.receipts), "gas_used": block.gas_used,
                                "gas_limit": block.gas_limit, "hash": "0x" + block.block_hash.hex(),
                                "state_root": "0x" + block.state_root.hex()})
            for r in block.receipts:
                tx: dict[str, Any] = {"block": block.number, "hash": "0x" + r.tx_hash.hex(),
                                      "op": ops.get(r.tx_hash) or ("deploy" if r.to is None
                                                                   else "call"),
                                      "sender": self._labels.get(r.sender, "0x" + r.sender.hex()),
                                      "status": r.status, "gas": r.gas_used,
                                      "reason": r.revert_reason or ""}
                self._add_tx(tx)
                self.by_hash[tx["hash"]] = tx
            self._head = number
        for action in new:
            self._access(action)

    def _access(self, action: Action) -> None:
        """The access an action made or was refused, as the engine's trace records it: a
        doctor's read (released, or denied by the contract or a custodian) or a
        break-glass opening."""
        o = action.outcome
        if o is None or not o.op.startswith(("AccessGrants.use", "AccessGrants.emergency_access")):
            return
        tx_hash = "0x" + o.receipt.tx_hash.hex()
        call = self.decoded(tx_hash) or {}
        args = call.get("args", {})
        tx = self.by_hash.get(tx_hash, {})
        row = {"grantee": tx.get("sender", ""), "tx": tx_hash, "block": o.receipt.block_number}
        if o.op.startswith("AccessGrants.emergency_access"):
            self.accesses.append({"event": "emergency" if o.ok else "denied",
                                  "patient": args.get("patient_id"), "pmr": 0,
                                  "mode": "emergency", "reason": o.reason, **row})
            return
        pmr = int(args.get("pmr_id", 0))
        released = o.ok and not action.refusal
        self.accesses.append({"event": "released" if released else "denied",
                              "patient": pmr // ids.DATE_BASE, "pmr": pmr,
                              "mode": _MODES.get(int(args.get("kind", 1)), "grant"),
                              "reason": o.reason or action.refusal, **row})

    def events(self, tx_hash: str) -> tuple[list[dict[str, Any]] | None, str]:
        """The events in the live chain's receipt, decoded with the contracts' ABI."""
        contracts = {c.address: c for c in self.world.protocol.system.by_name().values()}
        return _decoded_events(self.world.protocol.chain, contracts, tx_hash), ""

    def raw(self, tx_hash: str) -> bytes | None:
        """The signed bytes, from the chain."""
        try:
            return self.world.protocol.chain.raw_transaction(bytes.fromhex(tx_hash[2:]))
        except (KeyError, ValueError):
            return None

    def storage_nodes(self) -> dict[str, int]:
        """Bytes each swarm node stores now."""
        return dict(self.world.swarm.bytes_stored())

    def storage_view(self) -> dict[str, Any]:
        """As :meth:`Index.storage_view`, with each study's manifest and the nodes it is
        pinned on now (at most a page of the latest)."""
        view = super().storage_view()
        swarm = self.world.swarm
        view["pins"] = [{"record_id": s.record_id, "manifest_cid": str(s.manifest_cid),
                         "pinned_on": ", ".join(swarm.holders(s.manifest_cid))}
                        for s in list(self.world.studies.values())[-PAGE:]]
        return view

    def overview(self) -> dict[str, Any]:
        """Counts of the live world; its invariants are the contracts' own (no run summary)."""
        w = self.world
        return {
            "source": "live", "folder": "", "scenario": "live world", "seed": w.seed,
            "layout": w.protocol.layout, "backend": w.backend,
            "state_root": self.blocks[-1]["state_root"] if self.blocks else "",
            "counts": {"actions": len(w.actions), "refused_by_the_contracts": self._refused,
                       "hospitals": len(w.hospitals), "doctors": len(w.doctors),
                       "patients": len(w.patients), "pmr_tokens": len(w.pmrs),
                       "studies_stored": len(w.studies)},
            "invariants": {}, "attacks": {}, "blocks": len(self.blocks), "txs": len(self.txs),
            "actors": len(self.accounts), "storage_events": len(self.storage),
            "trace_lines": 0,
        }


def _decoded_events(chain: Any, contracts: dict[bytes, Any], tx_hash: str
                    ) -> list[dict[str, Any]] | None:
    """The events of ``tx_hash``'s receipt on ``chain`` (None when the chain lacks it)."""
    try:
        receipt = chain.receipt(bytes.fromhex(tx_hash[2:]))
    except (ChainError, KeyError, ValueError):
        return None
    out = []
    for log in receipt.logs:
        contract = contracts.get(log.address)
        decoded = contract.decode_log(log) if contract is not None else None
        if decoded is None:
            out.append({"name": "(unknown)", "contract": "0x" + log.address.hex(), "args": {}})
            continue
        name, args = decoded
        out.append({"name": name, "args": {k: _show(v) for k, v in args.items()}})
    return out


def patients_named(call: dict[str, Any] | None) -> set[int]:
    """The Patient-IDs a decoded call names: a ``patient_id`` argument, the patient of a
    PMR-ID, or of an all-records scope key (``SCOPE_ALL | patient_id``)."""
    if not call:
        return set()
    args = call.get("args", {})
    named: set[int] = set()
    patient = args.get("patient_id")
    if isinstance(patient, int) and patient > 0:
        named.add(patient)
    pmr = args.get("pmr_id")
    if isinstance(pmr, int):
        if pmr >= SCOPE_ALL:
            named.add(pmr - SCOPE_ALL)
        elif pmr >= ids.DATE_BASE:
            named.add(pmr // ids.DATE_BASE)
    return named


def _decode_traced(trace: Path, number: int, raw: Any, contracts: dict[str, str],
                   erc1155: bool) -> dict[str, Any] | None:
    """The decoded call of a trace line's ``raw`` (0x-hex signed bytes); an InputError
    naming the file and line when they are not a signed transaction of these contracts."""
    import eth_abi.exceptions
    import rlp.exceptions

    try:
        if not (isinstance(raw, str) and raw.startswith("0x")):
            raise ValueError
        return decode_call(bytes.fromhex(raw[2:]), contracts, erc1155=erc1155)
    except (ValueError, IndexError, TypeError, rlp.exceptions.DecodingError,
            eth_abi.exceptions.DecodingError):
        raise InputError(f"{trace}: line {number}: 'raw' is not a signed transaction "
                         "(0x-hex RLP) of the run's contracts") from None


def decode_call(raw: bytes, contracts: dict[str, str], *, erc1155: bool = False
                ) -> dict[str, Any] | None:
    """Decode a signed transaction's call against the named contracts' ABI."""
    import rlp
    from eth_abi import decode

    fields = rlp.decode(raw[1:]) if raw[:1] == b"\x02" else rlp.decode(raw)
    to, data = (fields[5], fields[7]) if raw[:1] == b"\x02" else (fields[3], fields[5])
    if not to:
        return None
    name = contracts.get("0x" + bytes(to).hex(), "")
    found = {"contract": name or "0x" + bytes(to).hex(), "function": "0x" + bytes(data[:4]).hex(),
             "args": {}}
    entry = _functions("PMRMulti" if name == "PMRToken" and erc1155 else name).get(bytes(data[:4]))
    if entry is not None:
        function, names, types = entry
        found["function"] = function
        found["args"] = {n: _show(v) for n, v in zip(names, decode(types, bytes(data[4:])),
                                                       strict=True)}
    return found


@functools.cache
def _functions(contract: str) -> dict[bytes, tuple[str, list[str], list[str]]]:
    """Selector -> (function name, argument names, argument types) of a contract's ABI
    (read once: the artifacts are hashed from their sources on every load)."""
    from sim.chain.abi import input_types, selector
    from sim.contracts import load_artifacts

    artifact = load_artifacts().get(contract)
    if artifact is None:
        return {}
    return {selector(e): (e["name"], [p["name"] for p in e["inputs"]], input_types(e))
            for e in artifact.abi if e.get("type") == "function"}


def _show(value: Any) -> Any:
    """An argument as JSON (bytes as 0x-hex)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_show(v) for v in value]
    return value


def page_number(request: Request) -> int:
    """The ``page`` query parameter (0 when absent); a non-number or a negative is an input error."""
    try:
        page = int(request.query_params.get("page", "0"))
    except ValueError:
        raise InputError("page: expected a whole number") from None
    if page < 0:
        raise InputError("page: expected 0 or more")
    return page


def routes(dapp: DApp) -> list[Route]:
    """The explorer's pages (HTML, or JSON with ``?format=json``)."""
    from sim.dapp.app import _wrap

    def answer(request: Request, template: str, data: dict[str, Any]) -> Response:
        if request.query_params.get("format") == "json":
            return JSONResponse(data)
        return dapp.page(request, template, role="", role_name="", data=data)

    def index() -> Index:
        found = dapp.explorer
        assert isinstance(found, Index)
        found.refresh()
        return found

    def listing(request: Request, title: str, what: str, rows: list[dict[str, Any]],
                page: int = 0, **more: Any) -> Response:
        return answer(request, "explorer_list.html",
                      {"title": title, "what": what, "page": page, "rows": rows, **more})

    async def home(_: DApp, request: Request) -> Response:
        with dapp.lock:
            return answer(request, "explorer.html", index().overview())

    async def blocks(_: DApp, request: Request) -> Response:
        page = page_number(request)
        with dapp.lock:
            rows = index().blocks[page * PAGE:(page + 1) * PAGE]
        return listing(request, "Blocks", "blocks", rows, page)

    async def block(_: DApp, request: Request) -> Response:
        number = request.path_params["number"]
        with dapp.lock:
            found = index().block(number)
        return listing(request, f"Block {number}", "txs", found["transactions"],
                       block=found["block"])

    async def txs(_: DApp, request: Request) -> Response:
        page = page_number(request)
        with dapp.lock:
            rows = index().txs[page * PAGE:(page + 1) * PAGE]
        return listing(request, "Transactions", "txs", rows, page)

    async def tx(_: DApp, request: Request) -> Response:
        with dapp.lock:
            ix = index()
            found = ix.by_hash.get(request.path_params["hash"].lower())
            if found is None:
                raise InputError(f"tx: no transaction {request.path_params['hash']} in this chain")
            call = ix.decoded(found["hash"])
            events, why = ix.events(found["hash"])
            # the accounts the call and its events name, by label
            values = {str(v).lower() for part in [call or {}, *(events or [])]
                      for v in part.get("args", {}).values()}
            names = {address: label for label, address in ix.accounts.items() if address in values}
        return listing(request, f"Transaction {found['hash']}", "tx", [found], call=call,
                       events=events, events_status=why, names=names)

    async def patient(_: DApp, request: Request) -> Response:
        pid = request.path_params["patient_id"]
        with dapp.lock:
            found = index().patient(pid)
        return listing(request, f"Patient {pid}: timeline", "accesses",
                       found["accesses"], transactions=found["transactions"])

    async def actors(_: DApp, request: Request) -> Response:
        page = page_number(request)
        with dapp.lock:
            rows, total = index().actors(page)
        return listing(request, f"Actors ({total:,} accounts)", "actors", rows, page)

    async def actor(_: DApp, request: Request) -> Response:
        label = request.path_params["label"]
        page = page_number(request)
        with dapp.lock:
            rows = index().actor(label, page)
        return listing(request, f"Transactions sent by {label}", "sent", rows, page)

    async def storage(_: DApp, request: Request) -> Response:
        page = page_number(request)
        with dapp.lock:
            ix = index()
            view = ix.storage_view()
            rows = ix.storage[page * PAGE:(page + 1) * PAGE]
        return listing(request, "Storage: the swarm's nodes and events", "storage", rows, page,
                       **view)

    async def search(_: DApp, request: Request) -> Response:
        with dapp.lock:
            result = index().search(request.query_params.get("q", ""))
        rows = result.get("accesses") or result.get("storage") or (
            [result["tx"]] if result.get("tx") else [])
        return listing(request, f"Search: {result['query']} ({result['kind']})", result["kind"],
                       rows)

    return [
        Route("/explorer", _wrap(dapp, home)),
        Route("/explorer/blocks", _wrap(dapp, blocks)),
        Route("/explorer/block/{number:int}", _wrap(dapp, block)),
        Route("/explorer/txs", _wrap(dapp, txs)),
        Route("/explorer/tx/{hash}", _wrap(dapp, tx)),
        Route("/explorer/patient/{patient_id:int}", _wrap(dapp, patient)),
        Route("/explorer/actors", _wrap(dapp, actors)),
        Route("/explorer/actor/{label}", _wrap(dapp, actor)),
        Route("/explorer/storage", _wrap(dapp, storage)),
        Route("/explorer/search", _wrap(dapp, search)),
    ]
