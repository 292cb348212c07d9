"""SIGINT, SIGTERM and SIGHUP during a pmrsim command: one exception, one exit code, one line.

:func:`interrupts` (installed by :func:`sim.cli.main` around every command)
turns the first of these signals into :class:`Interrupted`, raised in the
main thread; the command unwinds through its ``finally`` blocks (which stop
its worker processes and remove what it was writing, see
:mod:`sim.outputs`) and exits 128 + the signal number with one line on
stderr. Later signals are ignored while it does (SIGKILL still works; the
next command removes what a killed one leaves).

:func:`held` defers the signals around the few system calls that move an
output into place, so a move is never cut in half; :func:`signal_arrived`
then says whether one came meanwhile (the move is undone).

An error raised while an interrupted command unwinds (a worker gone, a
trace that cannot be finished without it) is reported as the interruption.

A process forked during a command (the engine's workers: :mod:`sim.engine.offload`,
the revm signer and state-root workers) ignores SIGINT and SIGHUP, keeps the
default action of SIGTERM (which ends it, and which multiprocessing uses to
stop a daemonic child at exit), and on Linux gets the parent-death signal
SIGKILL. So it never runs the parent's handler or cleanup; a Ctrl-C or a
hangup sent to the whole process group reaches the parent alone, which stops
its workers on its way out; and it never outlives the parent, whatever ends it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

#: The signals that interrupt a command (exit 128 + the signal number).
SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_PR_SET_PDEATHSIG = 1


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when SIGINT, SIGTERM or SIGHUP arrives during a command.

    ``signum`` is the signal; ``outcome`` says what became of the output
    (set by :func:`sim.outputs.staged_output`), for the command's one line on stderr.
    A subclass of :class:`KeyboardInterrupt`, so ``except Exception`` never
    swallows it.
    """

    def __init__(self, signum: int, outcome: str = "") -> None:
        super().__init__(signum)
        self.signum = signum
        self.outcome = outcome

    @property
    def name(self) -> str:
        """The signal's name, e.g. ``SIGTERM``."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


# --- signals ---------------------------------------------------------------------------------------


@dataclass
class _SignalState:
    """Who installed the handlers, what they replaced, and what has arrived."""

    owner: int | None = None  # PID of the process whose handlers these are
    depth: int = 0
    previous: dict[int, Any] = field(default_factory=dict)
    held: int = 0  # > 0 while an output is moved into place or removed: signals wait
    received: int | None = None  # the first signal of this command (the one acted upon)
    old_hook: Callable[[Any], None] | None = None
    forker: int = 0  # PID that forked last, and whether from its main thread (for the child)
    forked_from_main: bool = False


_state = _SignalState()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Raise :class:`Interrupted` for the first signal (later ones: the command is stopping)."""
    if os.getpid() != _state.owner:  # a fork that kept the handler: never the parent's cleanup
        os._exit(128 + signum)
    if _state.received is not None:
        return
    _state.received = signum
    if _state.held:
        return  # acted upon once the move is over (see sim.outputs.StagedOutput.commit)
    raise Interrupted(signum)


def _on_unraisable(args: Any) -> None:
    """Re-send a signal whose :class:`Interrupted` was swallowed (raised inside a ``__del__``)."""
    exc = getattr(args, "exc_value", None)
    if isinstance(exc, Interrupted) and os.getpid() == _state.owner:
        _state.received = None
        signal.raise_signal(exc.signum)  # handled again at the next bytecode boundary
        return
    hook = _state.old_hook or sys.__unraisablehook__
    hook(args)


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread meanwhile.

    Re-entrant; the previous handlers come back at the end. Outside the main
    thread (a Dask worker's task) nothing is installed: signals are then the
    business of the process that owns the thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _state.depth == 0:
        _state.previous = {int(s): signal.getsignal(s) for s in SIGNALS}
        _state.owner = os.getpid()
        _state.received = None
        _state.held = 0
        for s in SIGNALS:
            signal.signal(s, _on_signal)
        _state.old_hook = sys.unraisablehook
        sys.unraisablehook = _on_unraisable
    _state.depth += 1
    try:
        yield
    except Interrupted:
        raise
    except BaseException as exc:
        arrived = received()
        if arrived is not None:  # an error on the way out of an interrupted command
            raise Interrupted(arrived) from exc
        raise
    finally:
        _state.depth -= 1
        if _state.depth == 0:
            for number, handler in _state.previous.items():
                signal.signal(number, handler)
            sys.unraisablehook = _state.old_hook or sys.__unraisablehook__
            _state.owner = None
            _state.received = None


def received() -> int | None:
    """The signal that interrupted the running command, if one did (main thread only).

    An exception that ends a command after its signal (a worker that died of
    the same Ctrl-C, a trace that cannot be finished) is a consequence of the
    interruption: :func:`interrupts` and :func:`sim.outputs.staged_output`
    report the interruption instead.
    """
    return _state.received if _ours() else None


def _ours() -> bool:
    """Whether this thread is the one whose signals :func:`interrupts` handles."""
    return (_state.owner == os.getpid()
            and threading.current_thread() is threading.main_thread())


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP meanwhile: blocked in this thread, and deferred by the
    handler should another thread take one; :func:`signal_arrived` says if one came."""
    if not _ours():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    _state.held += 1
    try:
        yield
    finally:
        _state.held -= 1
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def signal_arrived() -> int | None:
    """The signal that arrived while held (noted by the handler, or still pending), if any."""
    if not _ours():
        return None
    if _state.received is None:
        pending = signal.sigpending() & set(SIGNALS)
        if pending:
            _state.received = int(min(pending))  # the handler, once unblocked, lets it be
    return _state.received


def _before_fork() -> None:
    _state.forker = os.getpid()
    _state.forked_from_main = threading.current_thread() is threading.main_thread()


def _after_fork_in_child() -> None:
    """In a process forked during a command: ignore SIGINT and SIGHUP, die with the parent.

    A worker (:mod:`sim.engine.offload`, the revm signer and roots) must
    never run the parent's cleanup, and must not outlive it (see the module docstring).
    """
    if _state.owner is None or _state.owner != _state.forker:
        return
    for s in SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(s, signal.SIG_DFL if s == signal.SIGTERM else signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    if _state.forked_from_main and _PRCTL is not None:  # the death signal follows the forking thread
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != _state.forker:  # the parent died before the line above
            os._exit(128 + int(signal.SIGKILL))


def libc_function(name: str) -> Any:
    """A libc function by name (called with ``errno`` kept), or None: not Linux, or an old C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return getattr(libc, name)
    except (OSError, AttributeError):
        return None


_PRCTL = libc_function("prctl")
if _PRCTL is not None:
    _PRCTL.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                       ctypes.c_ulong]
    _PRCTL.restype = ctypes.c_int
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


__all__ = ["SIGNALS", "Interrupted", "held", "interrupts", "libc_function", "received",
           "signal_arrived"]
