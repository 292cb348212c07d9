"""sim.interrupts: signals during a command, held around a move, and the engine's forked workers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sim.interrupts as interrupts
from sim.cli import main
from sim.interrupts import Interrupted, held, signal_arrived
from sim.outputs import staged_output

ROOT = Path(__file__).resolve().parents[1]
FORK = multiprocessing.get_context("fork")


@pytest.fixture
def main_thread() -> Iterator[None]:
    """Skip unless the test runs in the main thread (where signal handlers can be installed)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    yield


def test_a_signal_raises_interrupted_and_the_handlers_come_back(main_thread: None) -> None:
    """Inside interrupts() SIGHUP raises Interrupted; afterwards the previous handler is back."""
    before = signal.getsignal(signal.SIGHUP)
    with pytest.raises(Interrupted) as caught, interrupts.interrupts():
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)
    assert caught.value.signum == signal.SIGHUP and caught.value.name == "SIGHUP"
    assert signal.getsignal(signal.SIGHUP) is before


def test_held_signals_wait_and_are_reported(main_thread: None) -> None:
    """A signal inside held() does not interrupt it; signal_arrived() names it; later ones are
    ignored while the command stops."""
    with interrupts.interrupts():
        with held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert signal_arrived() == signal.SIGTERM
        os.kill(os.getpid(), signal.SIGINT)  # the command is stopping already: ignored
        time.sleep(0.05)


def test_the_cli_exits_128_plus_the_signal_with_one_line(
        main_thread: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A command stopped by SIGTERM exits 143 with one line on stderr."""
    import sim.commands.cid as cid

    def stopped(args: Any) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 0

    monkeypatch.setattr(cid, "run", stopped)
    assert main(["cid", "-"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "pmrsim: interrupted by SIGTERM\n"


def _wait_then_exit(ready: Any) -> None:
    ready.set()
    time.sleep(30)


def test_a_forked_worker_never_runs_the_parents_cleanup(tmp_path: Path, main_thread: None) -> None:
    """A worker forked during a command ignores SIGINT and SIGHUP and dies of SIGTERM by default
    (no handler, no cleanup of the parent's); the command goes on and completes."""
    target = tmp_path / "out"
    with staged_output(target, command="run") as stage:
        assert signal.getsignal(signal.SIGTERM) is interrupts._on_signal
        (stage.path / "a").write_text("a")
        ready = FORK.Event()
        worker = FORK.Process(target=_wait_then_exit, args=(ready,), daemon=True)
        worker.start()
        assert ready.wait(30)
        for signum in (signal.SIGINT, signal.SIGHUP):
            os.kill(worker.pid, signum)  # type: ignore[arg-type]
        worker.join(0.5)
        assert worker.is_alive()
        os.kill(worker.pid, signal.SIGTERM)  # type: ignore[arg-type]
        worker.join(10)
        assert worker.exitcode == -signal.SIGTERM
        assert (stage.path / "a").is_file()
    assert (target / "a").read_text() == "a"


def test_an_error_after_the_signal_is_reported_as_the_interruption(
        tmp_path: Path, main_thread: None) -> None:
    """An error raised while an interrupted command unwinds (a worker gone with the same signal)
    does not hide the interruption."""
    target = tmp_path / "out"
    with pytest.raises(Interrupted) as caught, staged_output(target, command="run"):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            raise RuntimeError("the state-root worker stopped unexpectedly")
    assert caught.value.signum == signal.SIGTERM
    assert caught.value.outcome == f"--out {target} left as it was"
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert os.listdir(tmp_path) == []


_ORPHAN = """
import multiprocessing, sys, time
from sim.outputs import interrupts

def wait():
    time.sleep(60)

with interrupts():
    worker = multiprocessing.get_context("fork").Process(target=wait)
    worker.start()
    print(worker.pid, flush=True)
    time.sleep(60)
"""


def test_a_forked_worker_dies_with_its_parent_even_on_sigkill(tmp_path: Path) -> None:
    """A worker forked during a command (not a daemon, even) does not outlive a SIGKILLed parent."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    assert Path(f"/proc/{worker}").exists()
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(worker)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie not yet reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


