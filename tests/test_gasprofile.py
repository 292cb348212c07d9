"""`pmrsim gas --profile`: an operation's gas by Vyper source line, adding up to its gas."""

from __future__ import annotations

import json

import pytest

from sim.cli import main
from sim.gas import measure
from sim.gasprofile import Profile, profiles

OPS = ["PMRToken.mint", "AccessGrants.grant", "HospitalRegistry.verify", "IoMTAnchor.anchor_batch"]


@pytest.fixture(scope="module")
def profiled() -> dict[str, Profile]:
    """Profiles of a few operations of the private layout's story."""
    return profiles(OPS)


def test_lines_sum_to_the_operations_execution_gas(profiled: dict[str, Profile]) -> None:
    """For each operation the lines add up to its execution gas: with the intrinsic gas and less
    the refund, the gas table's gas for it."""
    table = {row.operation: row.gas for row in measure(("private",))}
    for op, result in profiled.items():
        assert result.gas_used == table[op], op
        assert sum(line.gas for line in result.lines) + result.intrinsic - result.refund == (
            table[op]), op
        assert all(line.gas > 0 for line in result.lines), op


def test_storage_writes_land_on_the_lines_that_write(profiled: dict[str, Profile]) -> None:
    """The mint's new-slot writes (22,100 gas each, SSTORE from zero in a cold slot) are charged
    to the source lines that assign those slots."""
    mint = profiled["PMRToken.mint"]
    heavy = {(line.file, line.text) for line in mint.lines if line.gas >= 20_000}
    assert ("contracts_vyper/PMRToken.vy", "self._balances[owner] += 1") in heavy
    assert len(heavy) == 4 and all("self." in text and "=" in text for _, text in heavy)
    files = {line.file for line in mint.lines}
    assert {"contracts_vyper/PMRToken.vy", "contracts_vyper/modules/pmr_versions.vy",
            "contracts_vyper/DoctorRegistry.vy"} <= files


def test_every_line_is_a_line_of_its_file(profiled: dict[str, Profile]) -> None:
    """Each charged line is in a Vyper source that exists and reads as that line says."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for result in profiled.values():
        for line in result.lines:
            if line.line == 0:
                assert line.text == "<dispatch>"
                continue
            path = root / line.file
            if path.is_file():
                assert path.read_text().splitlines()[line.line - 1].strip() == line.text


def test_profile_command_prints_json_and_refuses_unknown_operations(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim gas --profile OP --format json` gives lines that sum to the execution gas; an
    unknown operation exits 2 naming the known ones."""
    assert main(["gas", "--profile", "AccessGrants.use", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(line["gas"] for line in data["lines"]) == data["execution"]
    assert data["execution"] + data["intrinsic"] - data["refund"] == data["gas_used"]
    assert main(["gas", "--profile", "PMRToken.burn"]) == 2
    err = capsys.readouterr().err
    assert "PMRToken.burn" in err and "PMRToken.mint" in err and err.count("\n") == 1
