"""Fixtures for the report tests: a factory of fake run folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .fakerun import FakeRun, make_run

MakeRun = Callable[..., Path]


@pytest.fixture
def make_fake_run(tmp_path: Path) -> MakeRun:
    """``make_fake_run(name="run", **FakeRun options)`` writes a fake run folder under tmp_path."""

    def factory(name: str = "run", **options: Any) -> Path:
        return make_run(tmp_path / name, FakeRun(**options))

    return factory


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake run whose trace has about 200,000 lines (150,000 transactions)."""
    return make_run(tmp_path_factory.mktemp("big") / "run", FakeRun(txs=150_000))
