"""`pmrsim run` stopped by a signal, killed, or racing another: its output is whole or absent.

Real subprocesses of the CLI (this worktree's code), signalled once the run
is really running: its hidden staging folder exists and holds trace lines.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.cli import main
from sim.engine.replay import run_folders
from sim.outputs import MARKER

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
#: A quickstart variant that completes in a couple of seconds.
TINY = ["--set", "duration_days=1", "--set", "population.patients=2",
        "--set", "population.hospitals=1", "--set", "adversaries={}"]


def _start(out: Path, *extra: str) -> subprocess.Popen[str]:
    """Start `python -m sim run quickstart --out OUT` on this worktree's code."""
    return subprocess.Popen(
        [sys.executable, "-m", "sim", "run", str(QUICKSTART), "--out", str(out), "--no-progress",
         *extra],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)


def _staging(out: Path, pid: int) -> Path:
    return out.parent / f".{out.name}.pmrsim-run-{pid}.partial"


def _wait_running(proc: subprocess.Popen[str], out: Path) -> None:
    """Wait until the run writes its trace into its staging folder."""
    trace = _staging(out, proc.pid) / "trace.jsonl"
    deadline = time.monotonic() + 120
    while not (trace.is_file() and trace.stat().st_size > 0):
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it was signalled: {proc.communicate()}")
        assert time.monotonic() < deadline, "the run did not start writing its trace"
        time.sleep(0.01)


def _children(pid: int) -> list[int]:
    """PIDs of the process's children (its worker processes)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] in ("Z", "X")
    except FileNotFoundError:
        return True


def _tree(folder: Path) -> dict[str, str | None]:
    """Every entry under ``folder``, hidden ones too: relative path -> sha256 (None: a folder)."""
    return {str(p.relative_to(folder)):
            None if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A complete run folder (tiny quickstart), to copy as the previous output of a rerun."""
    out = tmp_path_factory.mktemp("complete") / "run"
    assert main(["run", str(QUICKSTART), "--out", str(out), "--no-progress", *TINY]) == 0
    yield out


def _signal_mid_run(out: Path, signum: int, *extra: str, group: bool = False
                    ) -> tuple[int, str, list[int]]:
    """Start a run into ``out``, signal it once running (``group``: its whole process group, as
    a terminal's Ctrl-C or hangup does); (exit code, stderr, its workers)."""
    proc = _start(out, *extra)
    try:
        _wait_running(proc, out)
        workers = _children(proc.pid)
        if group:
            time.sleep(0.3)  # well into the run: its workers hold state the run still needs
            os.killpg(proc.pid, signum)  # the run leads a session of its own (see _start)
        else:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err, workers


@pytest.mark.parametrize(("signum", "backend", "group"), [
    (signal.SIGTERM, "revm", True), (signal.SIGHUP, "pyevm", False), (signal.SIGINT, "revm", True)],
    ids=["SIGTERM-group-revm", "SIGHUP", "SIGINT-group-revm"])
def test_a_signal_mid_run_leaves_no_target(tmp_path: Path, signum: int, backend: str,
                                           group: bool) -> None:
    """SIGTERM/SIGHUP/SIGINT mid-run (to the run, or to its group and workers): exit 128+N, one
    line, no folder, no worker left alive."""
    if backend == "revm":
        pytest.importorskip("pyrevm")
    out = tmp_path / "run"
    code, err, workers = _signal_mid_run(out, signum, "--backend", backend, group=group)
    name = signal.Signals(signum).name
    assert code == 128 + signum
    assert err == f"pmrsim: interrupted by {name}; --out {out} left as it was\n"
    assert os.listdir(tmp_path) == []
    if backend == "revm":
        assert len(workers) == 2  # the signer and the state-root workers (see sim/chain/revm.py)
    deadline = time.monotonic() + 10
    while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(w) for w in workers)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_mid_run_leaves_the_previous_output_byte_identical(
        tmp_path: Path, complete_run: Path, signum: int) -> None:
    """A signal during a rerun leaves the earlier complete run exactly as it was, alone."""
    out = tmp_path / "run"
    shutil.copytree(complete_run, out)
    before = _tree(out)
    code, err, _ = _signal_mid_run(out, signum)
    assert code == 128 + signum and err.count("\n") == 1 and "left as it was" in err
    assert _tree(out) == before
    assert os.listdir(tmp_path) == ["run"]


def test_a_sigkill_leftover_is_removed_by_the_next_run(tmp_path: Path) -> None:
    """SIGKILL leaves the hidden staging folder; the next run into the target removes it and succeeds."""
    out = tmp_path / "run"
    proc = _start(out)
    _wait_running(proc, out)
    proc.kill()
    proc.communicate(timeout=60)
    assert _staging(out, proc.pid).is_dir() and not out.exists()  # what SIGKILL leaves
    assert main(["run", str(QUICKSTART), "--out", str(out), "--no-progress", *TINY]) == 0
    assert os.listdir(tmp_path) == ["run"]
    assert {"summary.json", "trace.jsonl", MARKER} <= set(os.listdir(out))


def test_a_second_run_into_an_out_in_use_exits_2_naming_the_holder(tmp_path: Path) -> None:
    """A run into a folder another run is writing exits 2 naming that run's PID and command."""
    out = tmp_path / "run"
    first = _start(out)
    try:
        _wait_running(first, out)
        second = subprocess.run(
            [sys.executable, "-m", "sim", "run", str(QUICKSTART), "--out", str(out), *TINY],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
            timeout=120)
        assert second.returncode == 2
        assert second.stderr == (f"pmrsim: error: --out {out}: in use by pmrsim run (PID "
                                 f"{first.pid}); wait for it to finish or stop it\n")
        assert first.poll() is None  # the first run goes on
    finally:
        first.terminate()
        first.communicate(timeout=60)
    assert first.returncode == 128 + signal.SIGTERM and os.listdir(tmp_path) == []


def test_two_runs_started_at_once_do_not_both_proceed(tmp_path: Path) -> None:
    """Two runs started together into one folder: one proceeds, the other exits 2 naming it."""
    out = tmp_path / "run"
    procs = [_start(out), _start(out)]
    try:
        deadline = time.monotonic() + 120
        while all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "neither run was refused"
            time.sleep(0.02)
        refused = next(p for p in procs if p.poll() is not None)
        running = next(p for p in procs if p is not refused)
        _, err = refused.communicate()
        assert refused.returncode == 2, err
        assert err == (f"pmrsim: error: --out {out}: in use by pmrsim run (PID {running.pid}); "
                       "wait for it to finish or stop it\n")
        assert running.poll() is None  # the other one proceeds
        _wait_running(running, out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
            p.communicate(timeout=60)
    assert running.returncode == 128 + signal.SIGTERM and os.listdir(tmp_path) == []


def test_a_run_after_a_layouts_run_leaves_no_layouts_folder(tmp_path: Path) -> None:
    """A one-layout run into a two-layout run's folder leaves no stale layouts/ for replay to find."""
    out = tmp_path / "run"
    layouts = ROOT / "scenarios" / "layouts.yaml"
    assert main(["run", str(layouts), "--out", str(out), "--no-progress", *TINY]) == 0
    assert (out / "layouts" / "paper" / MARKER).is_file()  # each layout folder is a complete run
    assert main(["run", str(QUICKSTART), "--out", str(out), "--no-progress", *TINY]) == 0
    assert not (out / "layouts").exists()
    assert run_folders(out) == [out]
