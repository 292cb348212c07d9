"""sim.outputs: outputs whole or absent, one overwrite policy, one lock per target, OS errors."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sim.interrupts as interrupts
import sim.outputs as outputs
from sim.errors import InputError
from sim.interrupts import Interrupted
from sim.outputs import (
    MARKER,
    OutputLock,
    Replace,
    read_marker,
    reading,
    staged_output,
    write_marker,
)

FORK = multiprocessing.get_context("fork")


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (hidden ones too): relative path -> bytes (None: a folder)."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


def _complete(target: Path, command: str = "run", **files: str) -> dict[str, bytes | None]:
    """Write a complete output of ``command`` at ``target``; return its tree."""
    target.mkdir(parents=True)
    for name, text in (files or {"summary.json": "{}\n", "trace.jsonl": "{}\n"}).items():
        (target / name).write_text(text)
    write_marker(target, command)
    return _tree(target)


@pytest.fixture
def main_thread() -> Iterator[None]:
    """Skip unless the test runs in the main thread (where signal handlers can be installed)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    yield


# --- whole or absent -------------------------------------------------------------------------------


def test_a_folder_lands_whole_with_its_marker_and_nothing_beside_it(tmp_path: Path) -> None:
    """The output appears at the target only when the block ends, marked, with no sibling left."""
    target = tmp_path / "new" / "out"
    with staged_output(target, command="run") as stage:
        (stage.path / "a.txt").write_text("a")
        assert stage.path.parent == target.parent and stage.path.name.startswith(".out.pmrsim-run-")
        assert str(os.getpid()) in stage.path.name and not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert read_marker(target) == {"schema": "pmrsim.output/1", "command": "run",
                                   "pmrsim": read_marker(target)["pmrsim"]}  # type: ignore[index]
    assert os.listdir(target.parent) == ["out"]


def test_a_failing_body_leaves_an_absent_target_absent(tmp_path: Path) -> None:
    """An exception in the block removes the staging copy and the parent folders made for it."""
    with pytest.raises(RuntimeError), staged_output(tmp_path / "a" / "b" / "out", command="run") as stage:
        (stage.path / "half").write_text("x")
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_a_failing_body_leaves_a_previous_output_byte_identical(tmp_path: Path) -> None:
    """An exception in the block leaves an earlier complete output exactly as it was."""
    target = tmp_path / "out"
    before = _complete(target)
    with pytest.raises(RuntimeError), staged_output(target, command="run") as stage:
        (stage.path / "summary.json").write_text("new")
        raise RuntimeError("boom")
    assert _tree(target) == before and os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_rerun_replaces_the_whole_previous_output(tmp_path: Path, exchange: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of an earlier output survives (atomic exchange, or the two-rename fallback)."""
    if not exchange:
        monkeypatch.setattr(outputs, "exchange", lambda a, b: False)
    target = tmp_path / "out"
    _complete(target)
    (target / "stale").mkdir()
    (target / "stale" / "deep.txt").write_text("old")
    with staged_output(target, command="run") as stage:
        (stage.path / "summary.json").write_text("new")
    assert sorted(_tree(target)) == [MARKER, "summary.json"]
    assert (target / "summary.json").read_text() == "new"
    assert os.listdir(tmp_path) == ["out"]


def test_exchange_swaps_two_folders_atomically(tmp_path: Path) -> None:
    """renameat2(RENAME_EXCHANGE) swaps two entries (skipped where the system lacks it)."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from-a").touch()
    if not outputs.exchange(a, b):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert os.listdir(b) == ["from-a"] and os.listdir(a) == []


def test_a_file_output_is_staged_too(tmp_path: Path) -> None:
    """kind="file": written beside the target, with the given mode, renamed over it at the end."""
    target = tmp_path / "record.bin"
    with staged_output(target, command="share combine", kind="file", replace=Replace.FORCE,
                       file_mode=0o600) as stage:
        stage.path.write_bytes(b"secret")
        assert not target.exists()
    assert target.read_bytes() == b"secret" and target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["record.bin"] and not (tmp_path / MARKER).exists()


# --- signals ---------------------------------------------------------------------------------------


def test_an_interrupt_in_the_body_leaves_the_target_as_it_was(tmp_path: Path, main_thread: None) -> None:
    """SIGTERM during the block raises Interrupted; the old output stays, the outcome says so."""
    target = tmp_path / "out"
    before = _complete(target)
    with pytest.raises(Interrupted) as caught, staged_output(target, command="run") as stage:
        (stage.path / "summary.json").write_text("new")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert caught.value.signum == signal.SIGTERM and caught.value.name == "SIGTERM"
    assert caught.value.outcome.endswith("left as it was")
    assert _tree(target) == before and os.listdir(tmp_path) == ["out"]
    assert signal.getsignal(signal.SIGTERM) is not interrupts._on_signal  # handlers restored


@pytest.mark.parametrize("case", ["absent", "exchange", "two-renames"])
def test_a_signal_during_the_move_undoes_it(tmp_path: Path, case: str, main_thread: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal that arrives while the output is moved into place (held) rolls the move back."""
    target = tmp_path / "out"
    before = _complete(target) if case != "absent" else None
    renameat2, rename = outputs._renameat2, os.rename
    if case == "exchange" and not renameat2(tmp_path, tmp_path, outputs._RENAME_EXCHANGE):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")

    def exchange_then_signal(a: Path, b: Path) -> bool:
        done = case == "exchange" and renameat2(a, b, outputs._RENAME_EXCHANGE)
        os.kill(os.getpid(), signal.SIGHUP)  # held now: acted upon once the move is over
        return done

    def rename_then_signal(source: Any, dest: Any) -> None:
        rename(source, dest)
        if Path(dest) == target:
            os.kill(os.getpid(), signal.SIGHUP)

    monkeypatch.setattr(outputs, "exchange", exchange_then_signal)
    monkeypatch.setattr(outputs, "_renameat2", lambda *a: False)  # a new target: plain rename
    monkeypatch.setattr(os, "rename", rename_then_signal)
    with pytest.raises(Interrupted) as caught, staged_output(target, command="run") as stage:
        (stage.path / "summary.json").write_text("new")
    monkeypatch.undo()
    assert caught.value.signum == signal.SIGHUP
    if before is None:
        assert os.listdir(tmp_path) == []
    else:
        assert _tree(target) == before and os.listdir(tmp_path) == ["out"]


# --- the lock --------------------------------------------------------------------------------------


def _hold(target: str, ready: Any, release: Any, how: str) -> None:
    """Hold ``target`` (staged, or read) until ``release`` is set."""
    if how == "read":
        with reading(Path(target), "report"):
            ready.set()
            release.wait(30)
        return
    with staged_output(Path(target), command="sweep") as stage:
        (stage.path / "x").write_text("x")
        ready.set()
        release.wait(30)


@pytest.mark.parametrize("how", ["staged", "read"])
def test_an_output_in_use_is_refused_naming_the_holder(tmp_path: Path, how: str) -> None:
    """A target another process writes (or reads) exits 2 naming its PID and command."""
    target = tmp_path / "out"
    ready, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold, args=(str(target), ready, release, how))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(InputError) as caught, staged_output(target, command="run"):
            pass
        command = "sweep" if how == "staged" else "report"
        assert str(caught.value) == (f"--out {target}: in use by pmrsim {command} (PID {holder.pid});"
                                     " wait for it to finish or stop it")
    finally:
        release.set()
        holder.join(30)
    assert holder.exitcode == 0


def _contend(target: str, barrier: Any, release: Any, results: Any) -> None:
    barrier.wait()
    try:
        with staged_output(Path(target), command="run") as stage:
            (stage.path / "winner").write_text(str(os.getpid()))
            results.put(("ok", os.getpid()))
            release.wait(30)
    except InputError as exc:
        results.put(("refused", str(exc)))


def test_commands_started_at_the_same_moment_do_not_both_proceed(tmp_path: Path) -> None:
    """Of four processes released together onto one target, one writes and three are refused."""
    target = tmp_path / "out"
    barrier, release, results = FORK.Barrier(4), FORK.Event(), FORK.Queue()
    procs = [FORK.Process(target=_contend, args=(str(target), barrier, release, results))
             for _ in range(4)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=60) for _ in range(4)]
    finally:
        release.set()
        for p in procs:
            p.join(30)
    winners = [pid for what, pid in outcomes if what == "ok"]
    assert len(winners) == 1
    assert all(f"in use by pmrsim run (PID {winners[0]})" in text
               for what, text in outcomes if what == "refused")
    assert (target / "winner").read_text() == str(winners[0])
    assert os.listdir(tmp_path) == ["out"]


def test_the_lock_file_goes_when_released(tmp_path: Path) -> None:
    """A released lock leaves no file; one left by a killed holder is taken over."""
    target = tmp_path / "out"
    (tmp_path / ".out.pmrsim.lock").write_text('{"pid": 999999999, "command": "pmrsim run"}')
    with OutputLock(target, "run") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert os.listdir(tmp_path) == []


# --- leftovers of killed commands ------------------------------------------------------------------


def test_a_killed_commands_leftovers_are_removed(tmp_path: Path) -> None:
    """Staging siblings whose owner is gone (no lock held) are removed by the next command."""
    target = tmp_path / "out"
    _complete(target)
    (tmp_path / ".out.pmrsim-run-424242.partial").mkdir()
    (tmp_path / ".out.pmrsim-run-424242.partial" / "trace.jsonl").write_text("half")
    (tmp_path / ".out.pmrsim-compile-77.partial").write_text("half")
    (tmp_path / ".out.pmrsim.lock").write_text("")
    (tmp_path / ".outer.pmrsim-run-1.partial").mkdir()  # another target's: left alone
    with staged_output(target, command="run") as stage:
        (stage.path / "summary.json").write_text("new")
    assert sorted(os.listdir(tmp_path)) == [".outer.pmrsim-run-1.partial", "out"]


def test_a_displaced_output_whose_replacement_never_landed_is_put_back(tmp_path: Path) -> None:
    """An ``.old`` sibling with no target (killed between two renames) becomes the target again."""
    target = tmp_path / "out"
    before = _complete(tmp_path / ".out.pmrsim-run-424242.old")
    (tmp_path / ".out.pmrsim-run-424242.partial").mkdir()
    with pytest.raises(RuntimeError), staged_output(target, command="run"):
        raise RuntimeError("boom")
    assert _tree(target) == before and os.listdir(tmp_path) == ["out"]


def test_leftovers_of_a_live_holder_are_not_touched(tmp_path: Path) -> None:
    """While the owner holds the lock, the next command is refused and removes nothing."""
    target = tmp_path / "out"
    ready, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold, args=(str(target), ready, release, "staged"))
    holder.start()
    try:
        assert ready.wait(30)
        staging = tmp_path / f".out.pmrsim-sweep-{holder.pid}.partial"
        assert (staging / "x").is_file()
        with pytest.raises(InputError, match="in use"), staged_output(target, command="run"):
            pass
        assert (staging / "x").is_file()
    finally:
        release.set()
        holder.join(30)
    assert read_marker(target) is not None and os.listdir(tmp_path) == ["out"]


# --- the overwrite policy --------------------------------------------------------------------------


def test_a_folder_with_a_users_files_is_refused(tmp_path: Path) -> None:
    """A non-empty folder with no marker is refused, untouched."""
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="is not empty and is not an output of pmrsim run"), \
            staged_output(target, command="run"):
        pass
    assert _tree(target) == {"thesis.tex": b"precious"} and os.listdir(tmp_path) == ["mine"]


def test_an_empty_folder_is_filled(tmp_path: Path) -> None:
    """An existing empty folder becomes the output."""
    target = tmp_path / "empty"
    target.mkdir()
    with staged_output(target, command="compile") as stage:
        (stage.path / "A.json").write_text("{}")
    assert sorted(os.listdir(target)) == [MARKER, "A.json"]


def test_another_commands_output_is_refused(tmp_path: Path) -> None:
    """A folder marked by another command is not replaced."""
    target = tmp_path / "out"
    before = _complete(target, "sweep")
    with pytest.raises(InputError, match="holds the output of pmrsim sweep, not of pmrsim run"), \
            staged_output(target, command="run"):
        pass
    assert _tree(target) == before


def test_an_output_of_an_older_pmrsim_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    """A folder the command recognises as its own but without the marker: refused, 'older pmrsim'."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "summary.json").write_text("{}")
    with pytest.raises(InputError, match=r"written by an older pmrsim .* delete it or choose"), \
            staged_output(target, command="run", legacy=lambda f: (f / "summary.json").exists()):
        pass
    assert os.listdir(target) == ["summary.json"]


def test_the_current_folder_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--out . (or a folder holding the current one) is refused: replacing it would pull the floor."""
    target = tmp_path / "out"
    _complete(target)
    monkeypatch.chdir(target)
    with pytest.raises(InputError, match="holds the current folder"), \
            staged_output(".", command="run"):
        pass
    monkeypatch.chdir(tmp_path)
    (target / "sub").mkdir()
    monkeypatch.chdir(target / "sub")
    with pytest.raises(InputError, match="holds the current folder"), \
            staged_output(target, command="run"):
        pass


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    """A target that is a symbolic link is refused (the link, not its target, would be replaced)."""
    real = tmp_path / "real"
    _complete(real)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(InputError, match="is a symbolic link"), \
            staged_output(tmp_path / "link", command="run"):
        pass


def test_users_data_is_replaced_only_with_force(tmp_path: Path) -> None:
    """Replace.FORCE: an existing file or own folder needs force; a stranger's folder never."""
    record = tmp_path / "record.bin"
    record.write_bytes(b"old")
    with pytest.raises(InputError, match="exists; pass --force"), \
            staged_output(record, command="share combine", kind="file", replace=Replace.FORCE):
        pass
    with staged_output(record, command="share combine", kind="file", replace=Replace.FORCE,
                       force=True) as stage:
        stage.path.write_bytes(b"new")
    assert record.read_bytes() == b"new"
    shares = tmp_path / "shares"
    _complete(shares, "share split", **{"manifest.json": "{}"})
    with pytest.raises(InputError, match="pass --force"), \
            staged_output(shares, command="share split", replace=Replace.FORCE):
        pass
    with staged_output(shares, command="share split", replace=Replace.FORCE, force=True) as stage:
        (stage.path / "manifest.json").write_text("new")
    assert (shares / "manifest.json").read_text() == "new"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not replaced even with --force"), \
            staged_output(mine, command="share split", replace=Replace.FORCE, force=True):
        pass
    assert os.listdir(mine) == ["notes.txt"]


def test_a_file_is_replaced_only_when_recognised(tmp_path: Path) -> None:
    """Replace.OWN for a file: an existing file is replaced only when ``recognise`` accepts it."""
    page = tmp_path / "page.html"
    page.write_text("user's page")
    with pytest.raises(InputError, match="was not written by pmrsim report"), \
            staged_output(page, command="report", kind="file"):
        pass
    with staged_output(page, command="report", kind="file", recognise=lambda p: True) as stage:
        stage.path.write_text("ours")
    assert page.read_text() == "ours"


# --- OS errors -------------------------------------------------------------------------------------


def test_a_parent_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    """--out under a regular file: InputError naming the file; nothing made."""
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "file" / "out", tmp_path / "file" / "a" / "b"):
        with pytest.raises(InputError) as caught, staged_output(target, command="run"):
            pass
        assert str(caught.value) == f"--out {target}: {tmp_path / 'file'} is not a folder"
    assert os.listdir(tmp_path) == ["file"]


def test_proc_is_one_line() -> None:
    """--out under /proc: InputError naming the path and the OS reason."""
    with pytest.raises(InputError, match=r"^--out /proc/pmrsim-out: cannot write in /proc: "), \
            staged_output("/proc/pmrsim-out", command="run"):
        pass


def test_an_os_error_while_writing_names_the_output(tmp_path: Path) -> None:
    """A full disk in the middle of the body: InputError naming the target; nothing left."""
    target = tmp_path / "out"
    with pytest.raises(InputError) as caught, staged_output(target, command="run") as stage:
        (stage.path / "trace.jsonl").write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(caught.value) == f"--out {target}: cannot write: No space left on device"
    with pytest.raises(InputError) as caught, staged_output(target, command="run") as stage:
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(stage.path / "gas.csv"))
    assert str(caught.value) == f"--out {target}: cannot write gas.csv: Disk quota exceeded"
    assert os.listdir(tmp_path) == []


def test_an_input_error_naming_the_staging_path_names_the_target(tmp_path: Path) -> None:
    """Messages raised in the body speak of the target, not of the hidden staging folder."""
    with pytest.raises(InputError) as caught, staged_output(tmp_path / "out", command="run") as stage:
        raise InputError(f"{stage.path / 'report.html'}: cannot write (No space left on device)")
    assert str(caught.value) == f"{tmp_path / 'out' / 'report.html'}: cannot write (No space left on device)"


def test_other_os_errors_are_not_blamed_on_the_output(tmp_path: Path) -> None:
    """An OS error about another path is not an output error: it propagates as it is."""
    with pytest.raises(ConnectionRefusedError), staged_output(tmp_path / "out", command="run"):
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert os.listdir(tmp_path) == []
