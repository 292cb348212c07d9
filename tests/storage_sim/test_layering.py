"""storage_sim is a lower layer: it never imports sim, and its public names all exist."""

from __future__ import annotations

import subprocess
import sys

import storage_sim


def test_storage_sim_does_not_import_sim() -> None:
    """Importing every storage_sim module loads no module of the higher ``sim`` package."""
    code = (
        "import sys, pkgutil, importlib, storage_sim\n"
        "for m in pkgutil.iter_modules(storage_sim.__path__):\n"
        "    importlib.import_module('storage_sim.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n == 'sim' or n.startswith('sim.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_exist_and_errors_share_one_base() -> None:
    """Every name in ``__all__`` exists; every exported error derives from StorageError."""
    for name in storage_sim.__all__:
        assert hasattr(storage_sim, name), name
    errors = [getattr(storage_sim, n) for n in storage_sim.__all__ if n.endswith("Error")]
    assert errors and all(issubclass(e, storage_sim.StorageError) for e in errors)
    assert all((e.__doc__ or "").startswith(("Raised when", "Base class")) for e in errors)
