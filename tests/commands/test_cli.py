"""The pmrsim command line: tour, gas, compile, and how bad input is reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main


def test_tour_walks_the_story(capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim tour` prints every section and ends with every step as expected."""
    assert main(["tour"]) == 0
    out = capsys.readouterr().out
    assert "8543726012021" in out
    assert "revert reason: access_grants: grant expired" in out
    assert "09 Feb 2021 09:00  AccessGrants.use" in out  # the expired read, days after the grant
    assert "Every step behaved as the paper describes." in out


def test_gas_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim gas --format json` prints one object per operation and layout."""
    assert main(["gas", "--format", "json"]) == 0
    ops = json.loads(capsys.readouterr().out)["operations"]
    assert {tuple(sorted(o)) for o in ops} == {
        ("floor", "gas", "layout", "operation", "ratio", "token")}
    layouts = {o["layout"] for o in ops}
    assert layouts == {"private", "paper"}
    mint = next(o for o in ops if o["layout"] == "private" and o["operation"] == "PMRToken.mint")
    assert mint["gas"] - 21_000 < 146_258


def test_gas_check_passes_against_the_committed_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    """The committed baseline matches the contracts (no operation rose above it)."""
    assert main(["gas", "--format", "csv", "--check"]) == 0


def test_gas_check_fails_when_gas_rises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A baseline with lower figures makes `--check` exit 1 naming the operation."""
    assert main(["gas", "--format", "json", "--layout", "private"]) == 0
    data = json.loads(capsys.readouterr().out)
    for op in data["operations"]:
        if op["operation"] == "AccessGrants.grant":
            op["gas"] -= 1
    baseline = tmp_path / "gas.json"
    baseline.write_text(json.dumps(data))
    assert main(["gas", "--layout", "private", "--format", "csv", "--check",
                 "--baseline", str(baseline)]) == 1
    assert "AccessGrants.grant" in capsys.readouterr().err


def test_gas_check_with_missing_baseline_is_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing baseline file is bad input (exit 2) naming the file."""
    missing = tmp_path / "none.json"
    assert main(["gas", "--layout", "private", "--format", "csv", "--check",
                 "--baseline", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_compile_writes_abi_and_bytecode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim compile --out DIR` writes one artifact per contract with abi and bytecode."""
    assert main(["compile", "--out", str(tmp_path)]) == 0
    art = json.loads((tmp_path / "PMRToken.json").read_text())
    assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 1000
    assert any(e.get("name") == "tokenURI" for e in art["abi"])
    assert art["evmVersion"] == "cancun"
    assert len([p for p in tmp_path.glob("*.json") if not p.name.startswith(".")]) == 8
    assert json.loads((tmp_path / ".pmrsim-output.json").read_text())["command"] == "compile"


def test_compile_onto_a_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--out` naming a file is rejected with exit 2 and a one-line message."""
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["compile", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and err.count("\n") == 1


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse usage errors exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(["gas", "--layout", "nonsense"])
    assert exc.value.code == 2


def test_the_parser_is_built_without_the_heavy_layers() -> None:
    """Building the parser (`pmrsim --help`) imports neither the protocol layer nor pydicom."""
    probe = ("import sys; from sim.cli import build_parser; build_parser(); "
             "print(sorted(m for m in ('sim.protocol', 'pydicom', 'sim.engine', 'eth')"
             " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == "[]"


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim --version` prints the version pyproject.toml declares and exits 0."""
    import tomllib

    declared = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"pmrsim {declared['project']['version']}"


def test_bare_pmrsim_prints_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """A bare `pmrsim` lists every command (not only "arguments are required") and exits 2."""
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: pmrsim")
    for command in ("run", "replay", "compile", "deploy", "cid", "bench", "gas"):
        assert f"\n    {command} " in err


def _commands(parser: object, prefix: str = "") -> dict[str, list[str]]:
    """Every (sub-)command's long options, e.g. {"share split": ["--t", ...]}."""
    import argparse

    out: dict[str, list[str]] = {}
    assert isinstance(parser, argparse.ArgumentParser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(_commands(sub, f"{prefix} {name}".strip()))
    if prefix:
        out[prefix] = [opt for action in parser._actions for opt in action.option_strings
                       if opt.startswith("--") and opt != "--help"]
    return out


def test_readme_names_every_flag_of_every_command() -> None:
    """README's command table names every option of every command, in that command's row."""
    from sim.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `pmrsim ")]
    missing = []
    for command, options in _commands(build_parser()).items():
        if command == "share":
            continue  # a group: its rows are `share split` and `share combine`
        mine = " ".join(row for row in rows if f"pmrsim {command} " in row
                        or f"`{command} " in row)
        assert mine, f"no README row for pmrsim {command}"
        missing += [f"{command} {opt}" for opt in options if opt not in mine]
    assert not missing, missing
