"""`pmrsim compile --format foundry|hardhat`: the files are read by the tools themselves.

Foundry: ``cast`` (1.7.1, from npm) reads an artifact's ABI, finds the
artifact's method identifiers in its runtime code, deploys the init code with
``cast send --create`` on an anvil started as a user starts it, and calls the
contracts with ``cast send`` and ``cast call``. Hardhat: its own artifact
reader (``hardhat/internal/artifacts``, Hardhat 2, no compilation, offline)
lists and reads the folder.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.artifacts import canonical_type, method_identifiers
from sim.chain.keys import derive_account
from sim.cli import main
from sim.contracts import CONTRACT_NAMES, load_artifacts
from tests.tools import NODE_MODULES, require

ZERO_ROLE = "0x" + "00" * 32


@pytest.fixture(scope="module")
def foundry_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Foundry ``out/`` folder written by ``pmrsim compile --format foundry``."""
    out = tmp_path_factory.mktemp("foundry") / "out"
    assert main(["compile", "--format", "foundry", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def hardhat_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hardhat ``artifacts/`` folder written by ``pmrsim compile --format hardhat``."""
    out = tmp_path_factory.mktemp("hardhat") / "artifacts"
    assert main(["compile", "--format", "hardhat", "--out", str(out)]) == 0
    return out


def _cast(*args: str) -> str:
    proc = subprocess.run([str(require("cast")), *args], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, f"cast {' '.join(args)}: {proc.stderr.strip()[-400:]}"
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def plain_anvil() -> Iterator[str]:
    """An anvil started with no flags (its defaults: automine, its own hardfork and clock)."""
    require("anvil")
    require("cast")
    from sim.chain.anvil import start_plain_anvil

    with start_plain_anvil() as node:
        yield node.url


def test_foundry_layout_is_one_folder_per_source(foundry_out: Path) -> None:
    """Each contract is at <Name>.vy/<Name>.json with Foundry's bytecode objects; the marker
    has no .json suffix."""
    artifacts = load_artifacts()
    for name in CONTRACT_NAMES:
        data = json.loads((foundry_out / f"{name}.vy" / f"{name}.json").read_text())
        assert data["bytecode"]["object"] == "0x" + artifacts[name].bytecode.hex()
        assert data["deployedBytecode"]["object"] == "0x" + artifacts[name].runtime_bytecode.hex()
        assert data["abi"] == artifacts[name].abi
        assert all(len(v) == 8 for v in data["methodIdentifiers"].values())
    assert sorted(p.name for p in foundry_out.glob("**/*.json")) == sorted(
        f"{n}.json" for n in CONTRACT_NAMES)
    assert (foundry_out / ".pmrsim-output").is_file()


def test_method_identifiers_are_the_selectors_in_the_code(foundry_out: Path) -> None:
    """cast finds exactly the artifact's method identifiers in each contract's runtime code."""
    for name in CONTRACT_NAMES:
        data = json.loads((foundry_out / f"{name}.vy" / f"{name}.json").read_text())
        found = {line.split()[0].removeprefix("0x") for line in
                 _cast("selectors", data["deployedBytecode"]["object"]).splitlines()}
        assert found == set(data["methodIdentifiers"].values()), name


def test_cast_reads_the_abi_from_the_artifact_file(foundry_out: Path) -> None:
    """`cast interface` on an artifact file prints the contract's functions."""
    out = _cast("interface", str(foundry_out / "HospitalRegistry.vy" / "HospitalRegistry.json"))
    assert "function hasRole(bytes32 arg0, address arg1) external view returns (bool);" in out
    assert "function verify(address applicant, bytes32 reviewed) external returns (uint256);" in out


def test_cast_deploys_and_calls_the_foundry_artifacts(foundry_out: Path, plain_anvil: str) -> None:
    """On a plain anvil, cast deploys HospitalRegistry and a DoctorRegistry wired to it from the
    artifacts' bytecode, grants a role with a transaction and reads it back with calls."""
    who = derive_account(23, "cast-deployer")
    _cast("rpc", "--rpc-url", plain_anvil, "anvil_setBalance", who.hex, hex(10**20))
    key = ["--private-key", "0x" + who.private_key.hex(), "--rpc-url", plain_anvil]

    def deploy(name: str, signature: str, *args: str) -> str:
        code = json.loads((foundry_out / f"{name}.vy" / f"{name}.json").read_text())
        receipt = json.loads(_cast("send", *key, "--json", "--create",
                                   code["bytecode"]["object"], signature, *args))
        assert int(receipt["status"], 16) == 1, receipt
        return str(receipt["contractAddress"])

    hospitals = deploy("HospitalRegistry", "constructor(bool)", "false")
    doctors = deploy("DoctorRegistry", "constructor(address,bool)", hospitals, "false")
    rpc = ["--rpc-url", plain_anvil]
    assert _cast("call", *rpc, hospitals, "hasRole(bytes32,address)(bool)", ZERO_ROLE,
                 who.hex) == "true"
    assert _cast("call", *rpc, doctors, "HOSPITALS()(address)").lower() == hospitals.lower()
    regulator = derive_account(23, "regulator").hex
    role = _cast("call", *rpc, hospitals, "REGULATOR_ROLE()(bytes32)")
    assert _cast("call", *rpc, hospitals, "hasRole(bytes32,address)(bool)", role,
                 regulator) == "false"
    _cast("send", *key, hospitals, "grantRole(bytes32,address)", role, regulator)
    assert _cast("call", *rpc, hospitals, "hasRole(bytes32,address)(bool)", role,
                 regulator) == "true"


HARDHAT_READER = """
const { Artifacts } = require("hardhat/internal/artifacts");
(async () => {
  const artifacts = new Artifacts(process.argv[1]);
  const names = await artifacts.getAllFullyQualifiedNames();
  const read = {};
  for (const name of names) read[name] = await artifacts.readArtifact(name);
  const bare = await artifacts.readArtifact("PMRToken");
  const missing = await artifacts.artifactExists("NoSuchContract");
  process.stdout.write(JSON.stringify({ names, read, bare: bare.sourceName, missing }));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
"""


def _hardhat_read(folder: Path) -> dict[str, Any]:
    """What Hardhat's artifact reader makes of ``folder`` (run with node from .tools/)."""
    require("hardhat")
    node = require("node")
    proc = subprocess.run([str(node), "-e", HARDHAT_READER, str(folder)], capture_output=True,
                          text=True, cwd=NODE_MODULES.parent, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-800:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_hardhat_reads_every_artifact(hardhat_artifacts: Path) -> None:
    """Hardhat's reader lists exactly the eight contracts by fully qualified name and reads
    each as the hardhat-vyper plugin would have saved it."""
    result = _hardhat_read(hardhat_artifacts)
    expected = [f"contracts_vyper/{n}.vy:{n}" for n in sorted(CONTRACT_NAMES)]
    assert result["names"] == expected
    assert result["bare"] == "contracts_vyper/PMRToken.vy" and result["missing"] is False
    artifacts = load_artifacts()
    for name in CONTRACT_NAMES:
        art = result["read"][f"contracts_vyper/{name}.vy:{name}"]
        assert art["_format"] == "hh-vyper-artifact-1"
        assert art["contractName"] == name
        assert art["abi"] == artifacts[name].abi
        assert art["bytecode"] == "0x" + artifacts[name].bytecode.hex()
        assert art["deployedBytecode"] == "0x" + artifacts[name].runtime_bytecode.hex()
        assert art["linkReferences"] == {} and art["deployedLinkReferences"] == {}


def test_compile_replaces_an_earlier_compile_of_another_layout(tmp_path: Path) -> None:
    """A compile folder of one layout is replaced whole by a compile of another."""
    out = tmp_path / "out"
    assert main(["compile", "--format", "hardhat", "--out", str(out)]) == 0
    assert main(["compile", "--format", "foundry", "--out", str(out)]) == 0
    assert not (out / "contracts_vyper").exists()
    assert main(["compile", "--out", str(out)]) == 0
    assert not (out / ".pmrsim-output").exists() and (out / ".pmrsim-output.json").is_file()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        f"{n}.json" for n in CONTRACT_NAMES)


def test_method_identifiers_spell_tuples_out() -> None:
    """Tuple parameters are canonical `(t1,t2)[]` in signatures (the ABI spec's rule)."""
    abi = [{"type": "function", "name": "f", "inputs": [
        {"type": "tuple[]", "components": [{"type": "uint256"}, {"type": "tuple", "components": [
            {"type": "address"}, {"type": "bytes32"}]}]}, {"type": "bool"}]}]
    assert canonical_type(abi[0]["inputs"][0]) == "(uint256,(address,bytes32))[]"
    ids = method_identifiers(abi)
    assert list(ids) == ["f((uint256,(address,bytes32))[],bool)"]
    from eth_utils import function_signature_to_4byte_selector

    assert ids["f((uint256,(address,bytes32))[],bool)"] == function_signature_to_4byte_selector(
        "f((uint256,(address,bytes32))[],bool)").hex()
