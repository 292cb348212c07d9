"""What made a run: the pmrsim build, the contracts and the libraries that shape its outputs.

A run's trace opens with a ``run`` record holding :func:`build_info` beside
the scenario. ``pmrsim replay`` re-derives a run only with the same build:
the same pmrsim source files (``build``), the same contract sources and
compiler (``contracts``), the same versions of the libraries whose behaviour
reaches the trace or the summary (``libraries``: the EVMs, the people
generator, DICOM, crypto, the event loop). Anything else would make a
byte-for-byte comparison fail for reasons that are not changes to the run,
so :func:`differences` names what differs and the replay refers the user to
``--chain-only``, which needs none of it.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions can change a run's trace or summary.
LIBRARIES = ("py-evm", "eth-tester", "pyrevm", "vyper", "snekmate", "faker", "pydicom",
             "numpy", "simpy", "cryptography", "coincurve", "multiformats")
#: The packages whose source files make up the build digest (the engine and what it drives).
_PACKAGES = ("sim", "storage_sim")


@functools.cache
def build_digest() -> str:
    """sha256 over every Python source file of the ``sim`` and ``storage_sim`` packages."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in _PACKAGES:
        base = root / package
        for path in sorted(base.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


@functools.cache
def build_info() -> dict[str, Any]:
    """``{"pmrsim", "build", "contracts", "libraries"}`` of this process (JSON-able)."""
    from sim import __version__
    from sim.contracts import source_hash

    return {"pmrsim": __version__, "build": build_digest(), "contracts": source_hash(),
            "libraries": {name: _version(name) for name in LIBRARIES}}


def differences(recorded: dict[str, Any]) -> list[str]:
    """What in ``recorded`` (a run's build info) differs from this process's, in words."""
    here = build_info()
    out = []
    if recorded.get("pmrsim") != here["pmrsim"]:
        out.append(f"pmrsim {recorded.get('pmrsim')} (this is {here['pmrsim']})")
    if recorded.get("build") != here["build"]:
        out.append("other pmrsim source files (build digest "
                   f"{str(recorded.get('build'))[:12]}, this is {here['build'][:12]})")
    if recorded.get("contracts") != here["contracts"]:
        out.append("other contract bytecode (contracts digest "
                   f"{str(recorded.get('contracts'))[:12]}, this is {here['contracts'][:12]})")
    libraries = recorded.get("libraries")
    if not isinstance(libraries, dict):
        libraries = {}
    for name, version in here["libraries"].items():
        if libraries.get(name) != version:
            out.append(f"{name} {libraries.get(name, '?')} (this is {version})")
    return out
