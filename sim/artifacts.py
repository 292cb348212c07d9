"""Compiled contracts as files other Ethereum tools read: pmrsim's, Foundry's and Hardhat's layouts.

``pmrsim compile --format F --out DIR`` writes one of three layouts, each
readable as is by the tool it is named after (tests deploy and call the
Foundry files with ``cast`` on anvil and read the Hardhat ones with
Hardhat's own artifact reader):

* ``pmrsim``: ``DIR/<Name>.json`` with ``schema`` (``pmrsim.artifact/1``),
  ``contractName``, ``abi``, ``bytecode`` and ``deployedBytecode`` (0x
  strings), ``compiler``, ``evmVersion``, ``sourceHash``.
* ``foundry`` (a Foundry ``out/`` folder): ``DIR/<Name>.vy/<Name>.json`` with
  ``abi``, ``bytecode`` and ``deployedBytecode`` as objects (``object``,
  ``sourceMap``, ``linkReferences``; the runtime one also
  ``immutableReferences``), ``methodIdentifiers`` (signature -> 8 hex
  digits) and ``id``.
* ``hardhat`` (a Hardhat ``artifacts/`` folder), as the hardhat-vyper plugin
  saves them: ``DIR/contracts_vyper/<Name>.vy/<Name>.json`` with ``_format``
  (``hh-vyper-artifact-1``), ``contractName``, ``sourceName``
  (``contracts_vyper/<Name>.vy``), ``abi``, ``bytecode``,
  ``deployedBytecode``, ``linkReferences`` and ``deployedLinkReferences``.

Vyper has no libraries to link, so the link references are empty; source
maps are left empty (``pmrsim gas --profile`` reads the compiler's own).
Method identifiers are computed from the ABI (keccak-256 of the canonical
signature), zero-padded to 8 digits as Foundry writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak

if TYPE_CHECKING:
    from sim.contracts import Artifact

#: The layouts ``pmrsim compile --format`` writes.
FORMATS = ("pmrsim", "foundry", "hardhat")
#: ``_format`` of an artifact the hardhat-vyper plugin saves.
HARDHAT_VYPER_FORMAT = "hh-vyper-artifact-1"
#: The folder of the sources, relative to the project root (Hardhat's ``sourceName`` prefix).
SOURCE_FOLDER = "contracts_vyper"


def canonical_type(param: dict[str, Any]) -> str:
    """An ABI parameter's canonical type: tuples spelled out as ``(t1,t2)`` with any array suffix."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def method_identifiers(abi: list[dict[str, Any]]) -> dict[str, str]:
    """``{"name(types)": "8 hex digits"}`` for every function of ``abi``, sorted by signature."""
    out = {}
    for entry in abi:
        if entry.get("type") == "function":
            signature = f"{entry['name']}({','.join(canonical_type(p) for p in entry['inputs'])})"
            out[signature] = keccak(text=signature)[:4].hex()
    return dict(sorted(out.items()))


def foundry_json(artifact: Artifact) -> dict[str, Any]:
    """The artifact as Foundry writes a contract into ``out/<Name>.vy/<Name>.json``."""
    return {
        "abi": artifact.abi,
        "bytecode": {"object": "0x" + artifact.bytecode.hex(), "sourceMap": "",
                     "linkReferences": {}},
        "deployedBytecode": {"object": "0x" + artifact.runtime_bytecode.hex(), "sourceMap": "",
                             "linkReferences": {}, "immutableReferences": {}},
        "methodIdentifiers": method_identifiers(artifact.abi),
        "id": 0,
    }


def hardhat_json(artifact: Artifact) -> dict[str, Any]:
    """The artifact as the hardhat-vyper plugin saves it into ``artifacts/``."""
    return {
        "_format": HARDHAT_VYPER_FORMAT,
        "contractName": artifact.name,
        "sourceName": f"{SOURCE_FOLDER}/{artifact.name}.vy",
        "abi": artifact.abi,
        "bytecode": "0x" + artifact.bytecode.hex(),
        "deployedBytecode": "0x" + artifact.runtime_bytecode.hex(),
        "linkReferences": {},
        "deployedLinkReferences": {},
    }


def artifact_path(name: str, fmt: str) -> Path:
    """Where a contract's file goes, relative to the output folder."""
    if fmt == "foundry":
        return Path(f"{name}.vy") / f"{name}.json"
    if fmt == "hardhat":
        return Path(SOURCE_FOLDER) / f"{name}.vy" / f"{name}.json"
    return Path(f"{name}.json")


def write(artifacts: dict[str, Artifact], out_dir: Path, fmt: str = "pmrsim") -> list[Path]:
    """Write every artifact in layout ``fmt`` under ``out_dir``; return the paths written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown artifact format {fmt!r}; known: {', '.join(FORMATS)}")
    render = {"pmrsim": lambda a: a.to_json(), "foundry": foundry_json, "hardhat": hardhat_json}[fmt]
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / artifact_path(name, fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(render(artifact), indent=2) + "\n")
        written.append(path)
    return written
