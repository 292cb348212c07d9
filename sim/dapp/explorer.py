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

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reports.load import load_summary
from reports.trace import read_trace
from sim.errors import InputError

if TYPE_CHECKING:
    from sim.dapp.app import DApp

#: Rows a list page shows at once.
PAGE = 100


class Explorer:
    """An indexed run folder."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise InputError(f"{folder}: not a run folder (no such directory)")
        self.folder = folder
        self.summary = load_summary(folder / "summary.json")
        trace = folder / "trace.jsonl"
        if not trace.is_file():
            raise InputError(f"{trace}: no such file (is this a run folder?)")
        self.digest = read_trace(trace)
        self._trace = trace
        self.contracts: dict[str, str] = {}  # address (0x-hex, lower case) -> contract name
        self._offsets: dict[str, int] = {}  # tx hash -> byte offset of its trace line
        self.blocks: list[dict[str, Any]] = []
        self.txs: list[dict[str, Any]] = []
        self.accesses: list[dict[str, Any]] = []
        self.storage: list[dict[str, Any]] = []
        lists = {"block": self.blocks, "tx": self.txs, "access": self.accesses,
                 "storage": self.storage}
        offset = 0
        with trace.open("rb") as lines:
            for raw in lines:
                record = json.loads(raw)
                kind = record["kind"]
                if kind == "contracts":
                    self.contracts.update({str(v).lower(): k for k, v in record.items()
                                           if k not in ("kind", "t")})
                target = lists.get(kind)
                if target is not None:
                    if kind == "tx" and "raw" in record:
                        # the signed bytes are long: read again from the file when decoded
                        self._offsets[record["hash"]] = offset
                        del record["raw"]
                    target.append(record)
                offset += len(raw)
        self.by_hash = {tx["hash"]: tx for tx in self.txs if "hash" in tx}

    def decoded(self, tx_hash: str) -> dict[str, Any] | None:
        """The call a transaction made: contract, function, arguments (from its signed bytes and
        the contracts' ABI); None for a deployment or a transaction without its bytes."""
        offset = self._offsets.get(tx_hash)
        if offset is None:
            return None
        with self._trace.open("rb") as f:
            f.seek(offset)
            raw = bytes.fromhex(json.loads(f.readline())["raw"][2:])
        return decode_call(raw, self.contracts, erc1155=self.summary.get("token") == "erc1155")

    def overview(self) -> dict[str, Any]:
        """Counts, invariants and the attack matrix of the run."""
        s = self.summary
        return {
            "folder": str(self.folder), "scenario": s.get("scenario"), "seed": s.get("seed"),
            "layout": s.get("layout"), "backend": s.get("backend"), "state_root": s.get("state_root"),
            "counts": s.get("counts", {}), "invariants": s.get("invariants", {}),
            "attacks": s.get("attacks", {}), "blocks": len(self.blocks), "txs": len(self.txs),
            "trace_lines": self.digest.lines,
        }

    def timeline(self, patient_id: int) -> list[dict[str, Any]]:
        """A patient's accesses: released (granted), denied, emergency, in trace order."""
        return [a for a in self.accesses if a.get("patient") == patient_id]

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
            number = int(q)
            by_pmr = [a for a in self.accesses if a.get("pmr") == number]
            if by_pmr:
                return {"query": q, "kind": "pmr", "accesses": by_pmr}
            return {"query": q, "kind": "patient", "accesses": self.timeline(number)}
        raise InputError("q: expected a tx hash (0x + 64 hex digits), a CID, a Patient-ID or a PMR-ID")


def decode_call(raw: bytes, contracts: dict[str, str], *, erc1155: bool = False
                ) -> dict[str, Any] | None:
    """Decode a signed transaction's call against the named contracts' ABI."""
    import rlp
    from eth_abi import decode

    from sim.chain.abi import input_types, selector
    from sim.contracts import load_artifacts

    fields = rlp.decode(raw[1:]) if raw[:1] == b"\x02" else rlp.decode(raw)
    to, data = (fields[5], fields[7]) if raw[:1] == b"\x02" else (fields[3], fields[5])
    if not to:
        return None
    name = contracts.get("0x" + bytes(to).hex(), "")
    artifact = load_artifacts().get("PMRMulti" if name == "PMRToken" and erc1155 else name)
    found = {"contract": name or "0x" + bytes(to).hex(), "function": "0x" + bytes(data[:4]).hex(),
             "args": {}}
    if artifact is None:
        return found
    for entry in artifact.abi:
        if entry.get("type") == "function" and selector(entry) == bytes(data[:4]):
            values = decode(input_types(entry), bytes(data[4:]))
            found["function"] = entry["name"]
            found["args"] = {p["name"]: _show(v) for p, v in zip(entry["inputs"], values,
                                                                   strict=True)}
    return found


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

    def explorer() -> Explorer:
        found = dapp.explorer
        assert isinstance(found, Explorer)
        return found

    async def home(_: DApp, request: Request) -> Response:
        return answer(request, "explorer.html", explorer().overview())

    async def blocks(_: DApp, request: Request) -> Response:
        page = page_number(request)
        rows = explorer().blocks[page * PAGE:(page + 1) * PAGE]
        return answer(request, "explorer_list.html",
                      {"title": "Blocks", "what": "blocks", "page": page, "rows": rows})

    async def txs(_: DApp, request: Request) -> Response:
        page = page_number(request)
        rows = explorer().txs[page * PAGE:(page + 1) * PAGE]
        return answer(request, "explorer_list.html",
                      {"title": "Transactions", "what": "txs", "page": page, "rows": rows})

    async def tx(_: DApp, request: Request) -> Response:
        found = explorer().by_hash.get(request.path_params["hash"].lower())
        if found is None:
            raise InputError(f"tx: no transaction {request.path_params['hash']} in this run")
        call = explorer().decoded(found["hash"])
        return answer(request, "explorer_list.html",
                      {"title": f"Transaction {found['hash']}", "what": "tx", "page": 0,
                       "rows": [found], "call": call})

    async def patient(_: DApp, request: Request) -> Response:
        pid = request.path_params["patient_id"]
        return answer(request, "explorer_list.html",
                      {"title": f"Patient {pid}: timeline of accesses", "what": "accesses",
                       "page": 0, "rows": explorer().timeline(pid)})

    async def search(_: DApp, request: Request) -> Response:
        result = explorer().search(request.query_params.get("q", ""))
        rows = result.get("accesses") or result.get("storage") or (
            [result["tx"]] if result.get("tx") else [])
        return answer(request, "explorer_list.html",
                      {"title": f"Search: {result['query']} ({result['kind']})",
                       "what": result["kind"], "page": 0, "rows": rows})

    return [
        Route("/explorer", _wrap(dapp, home)),
        Route("/explorer/blocks", _wrap(dapp, blocks)),
        Route("/explorer/txs", _wrap(dapp, txs)),
        Route("/explorer/tx/{hash}", _wrap(dapp, tx)),
        Route("/explorer/patient/{patient_id:int}", _wrap(dapp, patient)),
        Route("/explorer/search", _wrap(dapp, search)),
    ]
