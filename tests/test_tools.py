"""The finder of the npm tools (tests/tools.py): a missing tool skips, and fails in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import tools


def test_axe_is_found_where_install_tools_puts_it(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """require("axe") answers axe-core's axe.min.js under .tools/node_modules."""
    script = tmp_path / "axe-core" / "axe.min.js"
    script.parent.mkdir()
    script.write_text("/*! axe */")
    monkeypatch.setattr(tools, "NODE_MODULES", tmp_path)
    assert tools.require("axe") == script


@pytest.mark.parametrize(("required", "outcome"), [("1", pytest.fail.Exception),
                                                   ("", pytest.skip.Exception)])
def test_missing_axe_fails_in_ci_and_skips_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, required: str,
        outcome: type[BaseException]) -> None:
    """Without axe.min.js the accessibility tests fail under PMRSIM_REQUIRE_TOOLS=1, else skip."""
    monkeypatch.setattr(tools, "NODE_MODULES", tmp_path)
    monkeypatch.setenv(tools.ENV_VAR, required)
    with pytest.raises(outcome, match="axe is not installed"):
        tools.require("axe")
