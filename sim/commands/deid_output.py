"""Outputs of ``pmrsim deid`` that are whole or absent, and never replaced without ``--force``.

``deid`` writes users' data, so its overwrite policy is the strict one:

* an existing output (file, or folder) is never replaced unless ``--force``
  is given (exit 2 naming it otherwise);
* the output is built in a hidden sibling on the same file system,
  ``.<name>.pmrsim-deid-<pid>.partial``, and renamed into place only when
  complete (an existing target is first moved aside to ``.old`` and removed
  once the new one is in place);
* SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` while the output is
  built, so the sibling is removed and the target left as it was; they are
  held off during the final renames.

This is deid's own small version of the shared policy; it keeps to one
entry point, :func:`staged`, so that it can be swapped for the project-wide
module when that lands.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Literal

from sim.errors import InputError

#: The signals that interrupt ``deid`` (exit code 128 + the signal number).
SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class Interrupted(KeyboardInterrupt):
    """Raised when SIGINT, SIGTERM or SIGHUP arrives while an output is being built."""

    def __init__(self, signum: int) -> None:
        """Record which signal arrived."""
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """Turn :data:`SIGNALS` into :class:`Interrupted` (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        """Interrupt the body so its clean-up runs."""
        raise Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """Hold :data:`SIGNALS` back while the output is moved into place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def _remove(path: Path) -> None:
    """Remove a file or a folder tree, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def check_target(target: Path, *, force: bool, kind: Literal["file", "folder"]) -> None:
    """Refuse (``InputError``) an existing ``target`` without ``force``, or of the wrong kind."""
    if not (target.exists() or target.is_symlink()):
        return
    if kind == "folder" and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    if kind == "file" and target.is_dir():
        raise InputError(f"{target}: is a folder; name an output file")
    if not force:
        raise InputError(f"{target}: exists; pmrsim deid never replaces an output without "
                         "--force")


@contextlib.contextmanager
def staged(target: Path, *, force: bool, kind: Literal["file", "folder"]) -> Iterator[Path]:
    """Yield the hidden sibling to build ``target`` in; move it into place when the body ends.

    On an exception or an interrupt the sibling is removed and ``target`` is
    untouched. A folder sibling is created empty; a file sibling is a path.
    """
    check_target(target, force=force, kind=kind)
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: no such folder for the output")
    partial = target.parent / f".{target.name}.pmrsim-deid-{os.getpid()}.partial"
    old = target.parent / f".{target.name}.pmrsim-deid-{os.getpid()}.old"
    _remove(partial)
    done = False
    try:
        if kind == "folder":
            partial.mkdir(mode=0o755)
        yield partial
        with _held():
            if target.exists() or target.is_symlink():
                os.rename(target, old)
                os.rename(partial, target)
                _remove(old)
            else:
                os.rename(partial, target)
            done = True
    except OSError as exc:
        raise InputError(f"{target}: cannot write it ({exc.strerror})") from None
    finally:
        if not done:
            _remove(partial)
            if old.exists() and not target.exists():
                os.rename(old, target)  # put the previous output back
