"""The real clients some tests run (anvil, cast, Hardhat, ipfs-car, the js UnixFS importer, axe-core).

``scripts/install-tools.sh`` (run by ``scripts/setup.sh``) installs them from npm
into ``.tools/``. A test that needs one calls :func:`require`: when the tool
is missing the test skips, except under ``PMRSIM_REQUIRE_TOOLS=1`` (set by
``.ci/run``), where it fails, so CI never passes by skipping them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Where scripts/install-tools.sh installs the npm packages.
NODE_MODULES = ROOT / ".tools" / "node_modules"
ENV_VAR = "PMRSIM_REQUIRE_TOOLS"


def missing(message: str) -> None:
    """Skip the test (fail it under ``PMRSIM_REQUIRE_TOOLS=1``) because a tool is missing."""
    message += " (scripts/install-tools.sh installs it)"
    if os.environ.get(ENV_VAR) == "1":
        pytest.fail(message)
    pytest.skip(message)


def require(name: str) -> Path:
    """The path of tool ``name``: ``anvil``, ``cast``, ``node``, ``axe`` (axe-core's
    ``axe.min.js``, the script a browser test injects into a page), or an npm package folder
    (``hardhat``, ``ipfs-car``, ``ipfs-unixfs-importer``, ``blockstore-core``)."""
    if name == "anvil":
        from sim.chain.anvil import find_anvil

        found = find_anvil()
    elif name == "cast":
        path = NODE_MODULES / "@foundry-rs" / "cast-linux-amd64" / "bin" / "cast"
        found = path if path.is_file() and os.access(path, os.X_OK) else None
    elif name == "axe":
        path = NODE_MODULES / "axe-core" / "axe.min.js"
        found = path if path.is_file() else None
    elif name == "node":
        which = shutil.which("node")
        found = Path(which) if which else None
    else:
        path = NODE_MODULES / name
        found = path if (path / "package.json").is_file() else None
    if found is None:
        missing(f"{name} is not installed")
    assert found is not None
    return found
