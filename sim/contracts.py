"""Compile pmrsim's Vyper contracts, cache the artifacts, load ABIs.

Sources live in ``contracts_vyper/`` (one contract per stakeholder, shared
modules in ``modules/``, interfaces in ``interfaces/``); snekmate modules
are found on the installed package's path. Artifacts are cached on disk,
keyed by a hash of every source file, the compiler version and the EVM
fork, so an unchanged tree compiles once per machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.chain.base import FORK
from sim.errors import CompileError

#: The deployable contracts, in deployment order.
CONTRACT_NAMES = (
    "HospitalRegistry",
    "DoctorRegistry",
    "PatientRegistry",
    "PMRToken",
    "PMRMulti",
    "LabReports",
    "AccessGrants",
    "IoMTAnchor",
)

ARTIFACT_SCHEMA = "pmrsim.artifact/1"


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: ABI, init code and runtime code."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime_bytecode: bytes
    source_hash: str

    def to_json(self) -> dict[str, Any]:
        """pmrsim's own artifact (``pmrsim compile --format pmrsim``; the cache's entries)."""
        return {
            "schema": ARTIFACT_SCHEMA,
            "contractName": self.name,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "deployedBytecode": "0x" + self.runtime_bytecode.hex(),
            "compiler": f"vyper-{vyper_version()}",
            "evmVersion": FORK,
            "sourceHash": self.source_hash,
        }


def contracts_dir() -> Path:
    """The folder holding the Vyper sources (``$PMRSIM_CONTRACTS_DIR`` overrides)."""
    override = os.environ.get("PMRSIM_CONTRACTS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "contracts_vyper"


def cache_dir() -> Path:
    """Where artifacts are cached (``$PMRSIM_CACHE_DIR``, else ``~/.cache/pmrsim``)."""
    base = os.environ.get("PMRSIM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pmrsim"
    )
    return Path(base) / "contracts"


def _snekmate_root() -> Path:
    import snekmate

    return Path(next(iter(snekmate.__path__))).parent


def vyper_version() -> str:
    """The installed Vyper's version, from its package metadata (importing the compiler to
    ask it takes ~0.15 s, which a run with compiled artifacts need not pay)."""
    from importlib.metadata import version

    return version("vyper")


def source_hash() -> str:
    """sha256 over every source file, the compiler version, snekmate's files and the fork."""
    digest = hashlib.sha256(f"vyper-{vyper_version()}|{FORK}|".encode())
    roots = [contracts_dir(), _snekmate_root() / "snekmate"]
    for root in roots:
        for path in sorted(root.rglob("*.vy*")):
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


#: Mocks (``contracts_vyper/mocks/``): compiled on demand for tests and adversaries, never deployed
#: by the system.
MOCK_NAMES = ("PatientWallet",)


def load_mock(name: str) -> Artifact:
    """A mock contract's artifact (compiled once per source hash and process)."""
    if name not in MOCK_NAMES:
        raise CompileError(f"{name}: not a mock (expected one of {', '.join(MOCK_NAMES)})")
    digest = source_hash()
    key = f"{digest}:mocks/{name}"
    if key not in _MOCKS:
        cache_file = cache_dir() / f"{digest}-mock-{name}.json"
        artifact = None
        if cache_file.is_file():
            try:
                artifact = _from_json(json.loads(cache_file.read_text()))
            except (ValueError, KeyError):
                artifact = None  # a damaged cache entry is rebuilt
        if artifact is None:
            artifact = _compile_one(f"mocks/{name}", digest)
            _write_atomic(cache_file, artifact.to_json())
        _MOCKS[key] = artifact
    return _MOCKS[key]


def _compile_one(name: str, digest: str) -> Artifact:
    from vyper.compiler import compile_from_file_input
    from vyper.compiler.input_bundle import FileInput, FilesystemInputBundle
    from vyper.compiler.settings import Settings

    path = contracts_dir() / f"{name}.vy"
    if not path.is_file():
        raise CompileError(f"{path}: contract source not found")
    bundle = FilesystemInputBundle([contracts_dir(), _snekmate_root()])
    file_input = FileInput(
        source_id=0, contents=path.read_text(), path=Path(path.name), resolved_path=path
    )
    try:
        out = compile_from_file_input(
            file_input,
            input_bundle=bundle,
            settings=Settings(evm_version=FORK),
            output_formats=["abi", "bytecode", "bytecode_runtime"],
        )
    except Exception as exc:  # vyper raises many exception types; translate them all
        raise CompileError(f"{path}: {type(exc).__name__}: {exc}") from exc
    return Artifact(
        name=name.rsplit("/", 1)[-1],
        abi=out["abi"],
        bytecode=bytes.fromhex(out["bytecode"][2:]),
        runtime_bytecode=bytes.fromhex(out["bytecode_runtime"][2:]),
        source_hash=digest,
    )


def _from_json(data: dict[str, Any]) -> Artifact:
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"][2:]),
        runtime_bytecode=bytes.fromhex(data["deployedBytecode"][2:]),
        source_hash=data["sourceHash"],
    )


_MEMORY: dict[str, dict[str, Artifact]] = {}
_MOCKS: dict[str, Artifact] = {}


def load_artifacts(*, use_cache: bool = True) -> dict[str, Artifact]:
    """Every contract's artifact, compiled once per source hash (memory, then disk cache)."""
    digest = source_hash()
    if use_cache and digest in _MEMORY:
        return _MEMORY[digest]
    cache_file = cache_dir() / f"{digest}.json"
    artifacts: dict[str, Artifact] | None = None
    if use_cache and cache_file.is_file():
        try:
            raw = json.loads(cache_file.read_text())
            artifacts = {name: _from_json(raw[name]) for name in CONTRACT_NAMES}
        except (ValueError, KeyError):
            artifacts = None  # a damaged cache entry is rebuilt
    if artifacts is None:
        artifacts = {name: _compile_one(name, digest) for name in CONTRACT_NAMES}
        _write_atomic(cache_file, {n: a.to_json() for n, a in artifacts.items()})
    _MEMORY[digest] = artifacts
    return artifacts


def _write_atomic(path: Path, data: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # the cache is an optimisation; a read-only home must not break a run


def write_artifacts(out_dir: Path, fmt: str = "pmrsim") -> list[Path]:
    """Write every contract's artifact into ``out_dir`` in layout ``fmt`` (:mod:`sim.artifacts`)."""
    from sim import artifacts as layouts

    out_dir.mkdir(parents=True, exist_ok=True)
    return layouts.write(load_artifacts(), out_dir, fmt)
