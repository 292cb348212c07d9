"""One overwrite policy for every writing command, and OS errors on output paths as one line."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import sim.cli
from sim.outputs import MARKER, OutputLock, read_marker, write_marker
from tests.reports.fakerun import make_run

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
TINY = ["--set", "duration_days=1", "--set", "population.patients=2",
        "--set", "population.hospitals=1", "--set", "adversaries={}"]
FORK = multiprocessing.get_context("fork")
Main = Callable[[list[str]], int]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Main:
    """``sim.cli.main`` with every command registered."""
    for name in ("sweep", "report", "share", "compile"):
        if name not in sim.cli.COMMAND_MODULES:
            monkeypatch.setattr(sim.cli, "COMMAND_MODULES", (*sim.cli.COMMAND_MODULES, name))
    return sim.cli.main


def _one_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """The captured stderr, checked to be one `pmrsim: error:` line holding ``fragments``."""
    err = capsys.readouterr().err
    assert err.startswith("pmrsim: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def _user_folder(path: Path) -> Path:
    """A folder holding a user's file."""
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("precious\n")
    return path


def _run(cli: Main, out: Path | str) -> int:
    return cli(["run", str(QUICKSTART), "--out", str(out), "--no-progress", *TINY])


# --- run -------------------------------------------------------------------------------------------


def test_run_refuses_a_folder_with_a_users_file(tmp_path: Path, cli: Main,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`run --out` a folder of the user's: exit 2, one line, the file untouched, nothing beside."""
    out = _user_folder(tmp_path / "mine")
    assert _run(cli, out) == 2
    _one_error(capsys, f"--out {out}: is not empty and is not an output of pmrsim run")
    assert os.listdir(out) == ["thesis.tex"] and (out / "thesis.tex").read_text() == "precious\n"
    assert os.listdir(tmp_path) == ["mine"]


def test_run_refuses_the_current_folder_with_a_users_file(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`run --out .` in a folder of the user's files is refused, the files untouched."""
    monkeypatch.chdir(_user_folder(tmp_path / "mine"))
    assert _run(cli, ".") == 2
    _one_error(capsys, "--out .: is not empty")
    assert os.listdir(".") == ["thesis.tex"]


def test_run_replaces_its_previous_output_whole(tmp_path: Path, cli: Main,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A rerun replaces the earlier run: nothing of it survives, not even a file added later."""
    out = tmp_path / "run"
    assert _run(cli, out) == 0
    (out / "stale.txt").write_text("from before")
    first = (out / "summary.json").read_text()
    assert cli(["run", str(QUICKSTART), "--out", str(out), "--no-progress", "--seed", "2",
                *TINY]) == 0
    assert not (out / "stale.txt").exists() and (out / "summary.json").read_text() != first
    assert json.loads((out / "summary.json").read_text())["seed"] == 2
    assert read_marker(out)["command"] == "run"  # type: ignore[index]
    assert os.listdir(tmp_path) == ["run"]


def test_run_refuses_an_older_run_folder_saying_what_to_do(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """A run folder from before the marker is refused: 'written by an older pmrsim ... delete it'."""
    out = make_run(tmp_path / "old")
    (out / MARKER).unlink()
    assert _run(cli, out) == 2
    _one_error(capsys, f"--out {out}: written by an older pmrsim (no {MARKER}); delete it")
    assert (out / "summary.json").is_file()


# --- compile ---------------------------------------------------------------------------------------


def test_compile_replaces_its_output_and_refuses_others(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """compile replaces an earlier compile (stale file gone); a run folder or user's folder is refused."""
    out = tmp_path / "artifacts"
    assert cli(["compile", "--out", str(out)]) == 0
    (out / "Old.json").write_text("{}")
    assert cli(["compile", "--out", str(out)]) == 0
    assert not (out / "Old.json").exists() and (out / "PMRToken.json").is_file()
    capsys.readouterr()
    assert cli(["compile", "--out", str(make_run(tmp_path / "run"))]) == 2
    _one_error(capsys, "holds the output of pmrsim run, not of pmrsim compile")
    assert cli(["compile", "--out", str(_user_folder(tmp_path / "mine"))]) == 2
    _one_error(capsys, "is not empty and is not an output of pmrsim compile")


# --- sweep -----------------------------------------------------------------------------------------


def _sweep_file(folder: Path) -> Path:
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "description": "one point", "scenario": str(QUICKSTART), "seeds": [1],
        "fixed": {"duration_days": 0.5, "population.patients": 2, "adversaries": {}},
        "grid": {"storage.nodes": [3]}, "workers": 1}))
    return path


def test_sweep_is_whole_and_replaces_only_its_own_output(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep replaces an earlier sweep whole; it and its points are marked; a run's is refused."""
    sweep, out = _sweep_file(tmp_path), tmp_path / "out"
    (out / "points" / "7-seed9").mkdir(parents=True)  # an earlier sweep, with a point not in this one
    (out / "sweep.csv").write_text("old\n")
    write_marker(out, "sweep")
    run = make_run(tmp_path / "run")
    assert cli(["sweep", str(sweep), "--out", str(run)]) == 2
    _one_error(capsys, f"--out {run}: holds the output of pmrsim run, not of pmrsim sweep")
    assert cli(["sweep", str(sweep), "--out", str(out), "--no-progress"]) == 0
    assert read_marker(out)["command"] == "sweep"  # type: ignore[index]
    assert (out / "sweep.csv").read_text() != "old\n"
    assert sorted(os.listdir(out / "points")) == ["0-seed1"]  # the old point gone; no lock left
    assert read_marker(out / "points" / "0-seed1")["command"] == "run"  # type: ignore[index]
    assert sorted(os.listdir(tmp_path)) == ["out", "run", "s.yaml"]


# --- share -----------------------------------------------------------------------------------------


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """A record to split."""
    path = tmp_path / "xray.dcm"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def _split(cli: Main, record: Path, out: Path, *extra: str) -> int:
    return cli(["share", "split", str(record), "--t", "2", "--n", "3", "--out", str(out), *extra])


def test_share_split_replaces_an_earlier_split_only_with_force(
        tmp_path: Path, record: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """An earlier split is kept without --force (exit 2), replaced with it; a user's folder never."""
    out = tmp_path / "shares"
    assert _split(cli, record, out) == 0
    essential = (out / "essential.key").read_bytes()
    capsys.readouterr()
    assert _split(cli, record, out) == 2
    _one_error(capsys, f"--out {out}: exists and is not empty; pass --force to replace it")
    assert (out / "essential.key").read_bytes() == essential
    assert _split(cli, record, out, "--force") == 0
    assert (out / "essential.key").read_bytes() != essential  # fresh keys: a new split
    assert sorted(os.listdir(tmp_path)) == ["shares", "xray.dcm"]
    capsys.readouterr()
    mine = _user_folder(tmp_path / "mine")
    assert _split(cli, record, mine, "--force") == 2
    _one_error(capsys, "is not an output of pmrsim share split; not replaced even with --force")
    assert os.listdir(mine) == ["thesis.tex"]


def test_share_combine_replaces_a_file_only_with_force(
        tmp_path: Path, record: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """An existing --out FILE is kept without --force (exit 2), replaced with it."""
    shares = tmp_path / "shares"
    assert _split(cli, record, shares) == 0
    out = tmp_path / "rebuilt.dcm"
    out.write_bytes(b"the user's file")
    combine = ["share", "combine", str(shares), "--essential", str(shares / "essential.key"),
               "--out", str(out)]
    capsys.readouterr()
    assert cli(combine) == 2
    _one_error(capsys, f"--out {out}: exists; pass --force to replace it")
    assert out.read_bytes() == b"the user's file"
    assert cli([*combine, "--force"]) == 0
    assert out.read_bytes() == record.read_bytes() and out.stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["rebuilt.dcm", "shares", "xray.dcm"]


# --- report ----------------------------------------------------------------------------------------


def test_report_renders_only_a_complete_run_folder(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """No marker, a sweep's marker, or no trace.jsonl: exit 2, one line, nothing written."""
    unmarked = make_run(tmp_path / "unmarked")
    (unmarked / MARKER).unlink()
    assert cli(["report", str(unmarked)]) == 2
    _one_error(capsys, f"{unmarked}: not a complete run folder (no {MARKER}")
    no_trace = make_run(tmp_path / "no-trace")
    (no_trace / "trace.jsonl").unlink()
    assert cli(["report", str(no_trace)]) == 2
    _one_error(capsys, f"{no_trace}: not a complete run folder (no trace.jsonl)")
    sweep = make_run(tmp_path / "sweep")
    (sweep / MARKER).write_text(json.dumps({"schema": "pmrsim.output/1", "command": "sweep"}))
    assert cli(["report", str(sweep)]) == 2
    _one_error(capsys, "holds the output of pmrsim sweep, not a run")
    for folder in (unmarked, no_trace, sweep):
        assert not (folder / "report.html").exists()
    assert sorted(os.listdir(tmp_path)) == ["no-trace", "sweep", "unmarked"]


def test_report_out_replaces_only_its_own_page(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """--out FILE: a user's file is refused; a page written by report is replaced."""
    run = make_run(tmp_path / "run")
    mine = tmp_path / "notes.html"
    mine.write_text("<p>mine</p>")
    assert cli(["report", str(run), "--out", str(mine)]) == 2
    _one_error(capsys, f"--out {mine}: exists and was not written by pmrsim report")
    assert mine.read_text() == "<p>mine</p>"
    page = tmp_path / "page.html"
    assert cli(["report", str(run), "--out", str(page)]) == 0
    first = page.read_bytes()
    assert cli(["report", str(run), "--out", str(page)]) == 0
    assert page.read_bytes() == first
    assert sorted(os.listdir(tmp_path)) == ["notes.html", "page.html", "run"]


def test_report_redraws_the_runs_own_page_in_place(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim report RUN` replaces RUN/report.html (the run's page), but not a user's file
    put there in its place."""
    run = make_run(tmp_path / "run")
    assert cli(["report", str(run)]) == 0
    first = (run / "report.html").read_bytes()
    assert cli(["report", str(run)]) == 0
    assert (run / "report.html").read_bytes() == first
    (run / "report.html").write_text("<p>mine</p>")
    assert cli(["report", str(run)]) == 2
    _one_error(capsys, "report.html: exists and was not written by pmrsim report")
    assert (run / "report.html").read_text() == "<p>mine</p>"


def _hold_lock(folder: str, ready: Any, release: Any) -> None:
    with OutputLock(Path(folder), "run"):
        ready.set()
        release.wait(30)


def test_report_of_a_run_folder_in_use_exits_2_naming_the_holder(
        tmp_path: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """report of a folder a run is replacing waits for nobody: exit 2 naming the run."""
    run = make_run(tmp_path / "run")
    ready, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_lock, args=(str(run), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        assert cli(["report", str(run)]) == 2
        _one_error(capsys, f"{run}: in use by pmrsim run (PID {holder.pid})")
    finally:
        release.set()
        holder.join(30)
    assert not (run / "report.html").exists()


# --- OS errors on output paths ---------------------------------------------------------------------


def _commands(out: Path, record: Path) -> list[list[str]]:
    """Every writing command with ``--out`` = ``out``."""
    shares = record.parent / "shares"
    return [["run", str(QUICKSTART), "--out", str(out), *TINY],
            ["compile", "--out", str(out)],
            ["share", "split", str(record), "--t", "2", "--n", "3", "--out", str(out)],
            ["share", "combine", str(shares), "--essential", str(shares / "essential.key"),
             "--out", str(out)],
            ["report", str(make_run(record.parent / "fake")), "--out", str(out)]]


def test_out_under_a_regular_file_is_one_line(
        tmp_path: Path, record: Path, cli: Main, capsys: pytest.CaptureFixture[str]) -> None:
    """--out below a regular file: every writing command exits 2 naming it; nothing made."""
    assert _split(cli, record, tmp_path / "shares") == 0
    blocker = tmp_path / "file"
    blocker.write_text("x")
    capsys.readouterr()
    for argv in _commands(blocker / "sub" / "out", record):
        assert cli(argv) == 2, argv
        _one_error(capsys, f"--out {blocker / 'sub' / 'out'}: {blocker} is not a folder")
    assert blocker.read_text() == "x"
    assert sorted(os.listdir(tmp_path)) == ["fake", "file", "shares", "xray.dcm"]


def test_out_under_proc_is_one_line(tmp_path: Path, record: Path, cli: Main,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """--out under /proc: every writing command exits 2 naming the path and the OS reason."""
    assert _split(cli, record, tmp_path / "shares") == 0
    capsys.readouterr()
    for argv in _commands(Path("/proc/pmrsim-out"), record):
        assert cli(argv) == 2, argv
        _one_error(capsys, "--out /proc/pmrsim-out: cannot write in /proc: ")


def _pmrsim(argv: list[str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``python -m sim ARGV`` (this worktree's code) as a subprocess, behind ``prefix``."""
    return subprocess.run([*prefix, sys.executable, "-m", "sim", *argv], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)


def _as_user_without_rights() -> tuple[str, ...]:
    """A command prefix under which file permissions apply: none for a normal user, setpriv to
    nobody for root (skips the test when that is not possible)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and no setpriv to drop to nobody: permissions do not apply")
    prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    if subprocess.run([*prefix, sys.executable, "-c", f"import os; os.listdir({str(ROOT)!r})"],
                      capture_output=True).returncode != 0:
        pytest.skip("nobody cannot read this worktree")
    return prefix


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder under /tmp that every user may enter (pytest's tmp_path is its owner's only)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="pmrsim-outputs-"))
    folder.chmod(0o755)
    yield folder
    for sub in folder.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(folder)


def test_out_in_a_folder_without_write_permission_is_one_line(public_tmp: Path) -> None:
    """--out in a chmod 0555 folder (as nobody when the tests run as root): exit 2, one line."""
    prefix = _as_user_without_rights()
    locked = public_tmp / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    result = _pmrsim(["run", str(QUICKSTART), "--out", str(locked / "run"), *TINY], prefix)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"pmrsim: error: --out {locked / 'run'}: cannot write in {locked}: "
                             "Permission denied\n")
    assert os.listdir(locked) == []


def _unshare_tmpfs(script: str) -> tuple[str, ...]:
    """A prefix that runs ``sh -c script MOUNT COMMAND...`` in a user and mount namespace of its
    own, where the script may mount a tmpfs (no privileges needed; skips where not allowed)."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-r", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("no unprivileged user namespaces here")
    return ("unshare", "-r", "-m", "sh", "-c", script)


def test_out_on_a_read_only_file_system_is_one_line(tmp_path: Path) -> None:
    """--out on a read-only tmpfs: run and compile exit 2 with one line naming the path."""
    mount = tmp_path / "ro"
    mount.mkdir()
    for argv in (["run", str(QUICKSTART), "--out", str(mount / "run"), *TINY],
                 ["compile", "--out", str(mount / "artifacts")]):
        prefix = _unshare_tmpfs('mount -t tmpfs -o ro tmpfs "$0" && exec "$@"')
        result = _pmrsim(argv, (*prefix, str(mount)))
        assert result.returncode == 2, result.stderr
        target = argv[argv.index("--out") + 1]
        assert result.stderr == (f"pmrsim: error: --out {target}: cannot write in {mount}: "
                                 "Read-only file system\n")


def test_a_full_disk_mid_run_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A run that fills its disk (a 64 KiB tmpfs) exits 2 naming the output and ENOSPC; nothing left."""
    mount = tmp_path / "small"
    mount.mkdir()
    script = ('mount -t tmpfs -o size=64k tmpfs "$0" && "$@"; code=$?; '
              'ls -A "$0"; exit $code')
    prefix = (*_unshare_tmpfs(script), str(mount))
    result = _pmrsim(["run", str(QUICKSTART), "--out", str(mount / "run")], prefix)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"pmrsim: error: --out {mount / 'run'}: cannot write: "
                             "No space left on device\n")
    assert result.stdout == ""  # `ls -A` of the full tmpfs after the run: empty
