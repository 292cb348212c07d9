"""Start and stop a local ``anvil`` node (Foundry) for the ``rpc`` backend, loopback only.

The binary is ``$PMRSIM_ANVIL`` if set, else the one ``scripts/install-tools.sh``
puts in ``.tools/`` (npm package ``@foundry-rs/anvil-linux-amd64``), else
``anvil`` on ``PATH``. The node runs pmrsim's chain: Cancun, chain id 31337,
the block gas limit, a 1 gwei genesis base fee (py-evm's initial base fee),
the genesis timestamp, no dev accounts, no CREATE2 deployer predeployed
(an empty genesis state, as pyevm's), no automatic mining, and
first-in-first-out transaction order (pmrsim mines blocks itself).

>>> with start_anvil(block_gas_limit=30_000_000, genesis_timestamp=1_609_459_200) as node:
...     chain = RpcChain(node.url, seed=1)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sim.chain.base import CHAIN_ID, DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_GENESIS_TIMESTAMP
from sim.errors import ChainError

#: Environment variable naming an anvil binary (overrides ``.tools/``).
ENV_VAR = "PMRSIM_ANVIL"
#: Where ``scripts/install-tools.sh`` installs the binary, relative to the repository.
TOOLS_BINARY = Path(".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
#: py-evm's INITIAL_BASE_FEE, the genesis base fee of every pmrsim chain.
GENESIS_BASE_FEE = 1_000_000_000
#: Seconds to wait for the node to answer.
STARTUP_TIMEOUT = 20.0


def find_anvil() -> Path | None:
    """The anvil binary: ``$PMRSIM_ANVIL``, ``.tools/`` of this checkout, or ``PATH``; None if none."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    repo = Path(__file__).resolve().parents[2]
    for candidate in (repo / TOOLS_BINARY, Path.cwd() / TOOLS_BINARY):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("anvil")
    return Path(found) if found else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AnvilProcess:
    """A running anvil; a context manager that stops it on exit."""

    process: subprocess.Popen[bytes]
    port: int
    binary: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL (loopback)."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the node (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> AnvilProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers(url: str) -> bool:
    """True when ``url`` answers ``eth_chainId``."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1.0) as response:
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False


def start_anvil(
    *,
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
    genesis_timestamp: int = DEFAULT_GENESIS_TIMESTAMP,
    binary: Path | None = None,
    port: int | None = None,
) -> AnvilProcess:
    """Start anvil on a free loopback port with pmrsim's chain settings; wait until it answers.

    Raises :class:`ChainError` when no binary is found or the node does not come up.
    """
    return _launch(binary, port, pmrsim_flags(block_gas_limit, genesis_timestamp))


def start_plain_anvil(*, binary: Path | None = None, port: int | None = None) -> AnvilProcess:
    """Start anvil as a user does, with no flags but its port: its own defaults (its latest
    hardfork, the wall clock, ten funded dev accounts, mining on every transaction)."""
    return _launch(binary, port, [])


def pmrsim_flags(block_gas_limit: int, genesis_timestamp: int) -> list[str]:
    """The flags that make anvil run pmrsim's chain (see the module docstring)."""
    return [
        "--hardfork", "cancun",
        "--chain-id", str(CHAIN_ID),
        "--gas-limit", str(block_gas_limit),
        "--base-fee", str(GENESIS_BASE_FEE),
        "--timestamp", str(genesis_timestamp),
        "--accounts", "0",
        "--no-mining",
        "--order", "fifo",
        "--disable-default-create2-deployer",
    ]  # fmt: skip


def _launch(binary: Path | None, port: int | None, flags: list[str]) -> AnvilProcess:
    """Start anvil with ``flags`` on a loopback port; wait until it answers."""
    exe = binary or find_anvil()
    if exe is None:
        raise ChainError(
            f"anvil not found: run scripts/install-tools.sh or set {ENV_VAR} to an anvil binary"
        )
    port = port or free_port()
    args = [str(exe), "--host", "127.0.0.1", "--port", str(port), *flags, "--silent"]
    # a file, not a pipe (a chatty node never blocks); closed on every path below
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors
        )
    except OSError as exc:
        errors.close()
        raise ChainError(f"cannot start anvil ({exe}): {exc}") from exc
    node = AnvilProcess(process, port, Path(exe), args)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors.seek(0)
            err = errors.read().decode(errors="replace").strip()
            errors.close()
            raise ChainError(f"anvil exited with code {process.returncode}: {err[-500:]}")
        if _answers(node.url):
            errors.close()
            return node
        time.sleep(0.05)
    errors.close()
    node.stop()
    raise ChainError(f"anvil did not answer on {node.url} within {STARTUP_TIMEOUT:.0f} s")
