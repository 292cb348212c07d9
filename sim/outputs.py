"""Outputs that are whole or absent: built beside their target, moved into place when complete.

Every pmrsim command that writes an output (``run``, ``sweep``, ``compile``,
``share split``, ``share combine``, ``report``) goes through
:func:`staged_output`, for a folder or a single file:

1. Missing parent folders are made (and removed again if the command fails).
2. A lock beside the target, ``.<name>.pmrsim.lock``, is taken: a POSIX
   record lock, held by this process alone (a forked worker does not inherit
   it) and released by the kernel whenever the process dies. A second
   command on the same target exits 2 naming the holder's PID and command;
   two commands started at the same moment cannot both get it.
3. Leftovers of a command killed outright (SIGKILL, power loss) are removed:
   hidden siblings ``.<name>.pmrsim-<command>-<pid>.partial`` (an output
   being built, or an old one being removed) and ``.old`` (an old output
   moved aside by the two-rename fallback below). Their owner is gone, since
   the lock it held is ours now; an ``.old`` whose replacement never landed
   is put back first.
4. The existing target is checked against the overwrite policy
   (:class:`Replace`): ``run``, ``sweep`` and ``compile`` replace their own
   previous output, recognised by the marker file :data:`MARKER`, and
   refuse any other non-empty folder; ``share`` outputs are replaced only
   with ``--force``.
5. The output is written into ``.<name>.pmrsim-<command>-<pid>.partial``, a
   sibling on the same file system. When the body finishes, a folder gets
   its marker and the sibling is moved into place: renamed when the target
   is absent, atomically exchanged with it (Linux ``renameat2`` with
   ``RENAME_EXCHANGE``) when it exists, or, where the exchange is not
   supported, by two renames through ``.old``. SIGINT, SIGTERM and SIGHUP
   are held during the move; one that arrived meanwhile undoes it.
6. If the body raises, or the command is interrupted
   (:func:`sim.interrupts.interrupts` turns SIGINT, SIGTERM and SIGHUP into
   :class:`~sim.interrupts.Interrupted`), the sibling is removed and the
   target is left exactly as it was.

OS errors on the output path (a parent that is a file, a read-only or
unwritable folder, a full disk, ...) become :class:`~sim.errors.InputError`
naming the target and the OS reason (exit 2).
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from sim.errors import InputError
from sim.interrupts import (
    Interrupted,
    held,
    interrupts,
    libc_function,
    received,
    signal_arrived,
)

#: The marker file a command writes at the top of a complete output folder.
MARKER = ".pmrsim-output.json"
#: The same marker without the ``.json`` suffix, for folders another tool reads every
#: ``*.json`` file of (``pmrsim compile --format hardhat`` is a Hardhat ``artifacts/``
#: folder, which Hardhat would otherwise list as an artifact).
BARE_MARKER = ".pmrsim-output"
#: The ``schema`` value of :data:`MARKER`.
MARKER_SCHEMA = "pmrsim.output/1"
#: OS errors that, raised with no file name while an output is written, are the output's.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO,
                           errno.EACCES, errno.EPERM})
#: How long a refused command waits for the holder's name to appear in the lock file.
_HOLDER_WAIT = 1.0

Kind = Literal["folder", "file"]


# --- the Linux calls -------------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


_RENAMEAT2 = libc_function("renameat2")
if _RENAMEAT2 is not None:
    _RENAMEAT2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
    _RENAMEAT2.restype = ctypes.c_int


def _renameat2(source: Path, target: Path, flags: int) -> bool:
    """``renameat2(source, target, flags)``; False when the system or file system lacks it."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(source), None, str(target))


def exchange(a: Path, b: Path) -> bool:
    """Swap the entries ``a`` and ``b`` in one atomic step; False when it cannot be done here."""
    return _renameat2(a, b, _RENAME_EXCHANGE)


def _rename_new(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, which must not exist (an error if it appeared)."""
    if not _renameat2(source, target, _RENAME_NOREPLACE):
        if os.path.lexists(target):
            raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
        os.rename(source, target)


# --- the marker ------------------------------------------------------------------------------------


def write_marker(folder: Path, command: str, name: str = MARKER) -> Path:
    """Write the marker ``name`` (:data:`MARKER` or :data:`BARE_MARKER`: schema, command,
    pmrsim version) into ``folder``; return its path."""
    from sim import __version__

    path = folder / name
    path.write_text(json.dumps({"schema": MARKER_SCHEMA, "command": command,
                                "pmrsim": __version__}, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` (:data:`MARKER`, else :data:`BARE_MARKER`) when it holds a
    valid one, else None."""
    for name in (MARKER, BARE_MARKER):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        break
    else:
        return None
    if not isinstance(data, dict) or data.get("schema") != MARKER_SCHEMA \
            or not isinstance(data.get("command"), str):
        return None
    return data


def written_by(folder: Path, command: str) -> bool:
    """Whether ``folder`` holds a complete output of ``pmrsim <command>`` (its marker)."""
    marker = read_marker(folder)
    return marker is not None and marker["command"] == command


# --- the lock --------------------------------------------------------------------------------------


class OutputLock:
    """The lock of one output path: ``.<name>.pmrsim.lock`` beside it (see the module docstring)."""

    def __init__(self, target: Path, command: str, *, label: str | None = None) -> None:
        """Prepare the lock of ``target`` for ``pmrsim <command>`` (nothing is taken yet)."""
        self.target = target
        self.command = command
        self.label = label or str(target)
        self.path = target.parent / f".{target.name}.pmrsim.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; :class:`InputError` naming the holder when another process has it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    os.close(fd)
                    raise
                holder = self._holder(fd)
                os.close(fd)
                raise InputError(f"{self.label}: in use by {holder}; wait for it to finish or "
                                 "stop it") from None
            try:  # the holder before us may have removed the file as it let go: start again
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        note = json.dumps({"pid": os.getpid(), "command": f"pmrsim {self.command}"}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, note, 0)

    def _holder(self, fd: int) -> str:
        """``pmrsim <command> (PID n)`` of the holder, read from the lock file."""
        deadline = time.monotonic() + _HOLDER_WAIT
        while True:
            try:
                note = json.loads(os.pread(fd, 4096, 0) or b"null")
                pid, command = int(note["pid"]), str(note["command"])
            except (OSError, ValueError, TypeError, KeyError):
                pid, command = 0, ""
            if pid and _alive(pid):  # not the stale note of a holder killed before it
                return f"{command} (PID {pid})"
            if time.monotonic() > deadline:
                return "another pmrsim command"
            time.sleep(0.02)

    def release(self) -> None:
        """Remove the lock file and let go (a no-op when not held)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)  # closing the descriptor releases the record lock
        self._fd = None

    def __enter__(self) -> OutputLock:
        """Acquire."""
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        """Release."""
        self.release()


@contextlib.contextmanager
def reading(folder: Path | str, command: str) -> Iterator[None]:
    """Hold ``folder``'s lock while ``pmrsim <command>`` reads it, so no command replaces it
    meanwhile (one that tries exits 2 naming the reader, and the reader likewise).

    A folder beside which no lock can be made (a read-only file system, a
    folder of someone else's) is read without: no pmrsim command can replace it either.
    """
    absolute = Path(os.path.abspath(folder))
    lock = OutputLock(absolute.parent.resolve() / absolute.name, command, label=str(folder))
    try:
        lock.acquire()
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
                             errno.ENOTDIR):
            raise InputError(f"{folder}: cannot lock: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        lock.release()


def _alive(pid: int) -> bool:
    """Whether a process with this PID exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the staged output -----------------------------------------------------------------------------


class Replace(enum.Enum):
    """What an existing target may be replaced with the new output."""

    #: ``run``, ``sweep``, ``compile``, ``report``: the command's own previous output (its
    #: marker, or what ``recognise`` accepts), an empty folder or an empty file; nothing else.
    OWN = "own"
    #: ``share split`` / ``share combine`` (users' data): an empty folder or file; anything
    #: else only with ``force`` (and a folder only when it is the command's own output).
    FORCE = "force"


def _leftover_pattern(name: str) -> re.Pattern[str]:
    """Names of the hidden siblings of target ``name`` that a command may leave behind."""
    return re.compile(rf"\.{re.escape(name)}\.pmrsim-[a-z]+(?:-[a-z]+)*-\d+\.(partial|old)")


class StagedOutput:
    """One output being built beside its target; use through :func:`staged_output`.

    ``path`` is where the command writes (a folder that exists, or a file
    that exists and is empty); ``target`` is where the output lands.
    """

    def __init__(self, target: Path | str, *, command: str, kind: Kind = "folder",
                 replace: Replace = Replace.OWN, force: bool = False, option: str | None = "--out",
                 legacy: Callable[[Path], bool] | None = None,
                 recognise: Callable[[Path], bool] | None = None, mark: bool = True,
                 marker: str = MARKER,
                 file_mode: int = 0o666) -> None:
        """See :func:`staged_output`."""
        given = str(target)
        self.label = f"{option} {given}" if option else given
        absolute = Path(os.path.abspath(given))
        if absolute.name in ("", ".", ".."):
            raise InputError(f"{self.label}: expected the path of a {kind} to write")
        self.target = absolute.parent.resolve() / absolute.name  # the parents' links followed
        self.command = command
        self.kind = kind
        self.replace = replace
        self.force = force
        self.legacy = legacy
        self.recognise = recognise
        self.mark = mark and kind == "folder"
        self.marker = marker
        self.file_mode = file_mode
        slug = re.sub(r"[^a-z]+", "-", command.lower()).strip("-") or "output"
        stem = f".{self.target.name}.pmrsim-{slug}-{os.getpid()}"
        self.path = self.target.parent / f"{stem}.partial"
        self._old = self.target.parent / f"{stem}.old"
        self._given = given
        self._lock = OutputLock(self.target, command, label=self.label)
        self._created: list[Path] = []
        self._owner_pid = os.getpid()
        self.committed = False

    # -- preparation --

    def prepare(self) -> None:
        """Make the parents, take the lock, clear leftovers, check the target, create ``path``."""
        try:
            self._make_parents()
            self._lock.acquire()
            self._clear_leftovers()
            self._check_target()
            if self.kind == "folder":
                os.mkdir(self.path)
            else:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                                 self.file_mode))
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise self.os_error(exc) from None
            raise

    def _make_parents(self) -> None:
        """Create the missing parent folders (remembered, to be removed on failure)."""
        missing: list[Path] = []
        folder = self.target.parent
        while True:
            try:
                st = os.stat(folder)
            except FileNotFoundError:
                missing.append(folder)
                folder = folder.parent
                continue
            except NotADirectoryError:
                st = None
            if st is None or not stat.S_ISDIR(st.st_mode):
                while not folder.parent.is_dir() and folder != folder.parent:
                    folder = folder.parent  # name the first ancestor that is not a folder
                raise InputError(f"{self.label}: {folder} is not a folder")
            break
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except FileExistsError:  # made by a command started at the same moment
                continue
            self._created.append(folder)

    def _clear_leftovers(self) -> None:
        """Remove what killed commands left beside the target (their owner is gone: we hold
        the lock it held); a displaced old output whose replacement never landed goes back."""
        pattern = _leftover_pattern(self.target.name)
        found = sorted(e for e in os.listdir(self.target.parent) if pattern.fullmatch(e))
        for entry in found:
            path = self.target.parent / entry
            if entry.endswith(".old") and not os.path.lexists(self.target):
                os.rename(path, self.target)
            else:
                _remove(path)

    def _refuse(self, why: str) -> InputError:
        return InputError(f"{self.label}: {why}")

    def _check_target(self) -> None:
        """Apply the overwrite policy to an existing target (see :class:`Replace`)."""
        try:
            st = os.lstat(self.target)
        except FileNotFoundError:
            return
        target, command = self.target, self.command
        if stat.S_ISLNK(st.st_mode):
            raise self._refuse("is a symbolic link; name the real path")
        if self.kind == "file":
            if stat.S_ISDIR(st.st_mode):
                raise self._refuse("is a folder, expected a file")
            if not stat.S_ISREG(st.st_mode):
                raise self._refuse("exists and is not a regular file")
            if st.st_size == 0:
                return
            if self.replace is Replace.FORCE:
                if not self.force:
                    raise self._refuse("exists; pass --force to replace it")
                return
            if self.recognise is None or not self.recognise(target):
                raise self._refuse(f"exists and was not written by pmrsim {command}; "
                                   "choose another path")
            return
        if not stat.S_ISDIR(st.st_mode):
            raise self._refuse("exists and is not a folder")
        if os.listdir(target):
            self._check_folder()
        cwd = os.getcwd()
        if cwd == str(target) or cwd.startswith(str(target) + os.sep):
            raise self._refuse("holds the current folder, which the output would replace; "
                               "run from elsewhere or choose another folder")

    def _check_folder(self) -> None:
        """Apply the overwrite policy to an existing folder that is not empty."""
        target, command = self.target, self.command
        marker = read_marker(target)
        own = (marker is not None and marker["command"] == command) \
            or (self.replace is Replace.FORCE and self.legacy is not None and self.legacy(target))
        if self.replace is Replace.FORCE:
            if not self.force:
                raise self._refuse("exists and is not empty; pass --force to replace it")
            if not own:
                raise self._refuse(f"is not an output of pmrsim {command}; not replaced even "
                                   "with --force")
            return
        if own:
            return
        if marker is not None:
            raise self._refuse(f"holds the output of pmrsim {marker['command']}, not of "
                               f"pmrsim {command}; choose another folder")
        if self.legacy is not None and self.legacy(target):
            raise self._refuse(f"written by an older pmrsim (no {MARKER}); delete it or choose "
                               "another folder")
        raise self._refuse(f"is not empty and is not an output of pmrsim {command} (no "
                           f"{MARKER}); choose a new or empty folder")

    # -- the end --

    def commit(self) -> None:
        """Mark a folder complete and move it (or the file) into place; see the module docstring.

        Raises :class:`Interrupted` (the target as it was) when a signal
        arrived while the output was moved.
        """
        if self.mark:
            write_marker(self.path, self.command, self.marker)
        leftover: Path | None = None
        with held():
            if not os.path.lexists(self.target):
                _rename_new(self.path, self.target)

                def undo() -> None:
                    os.rename(self.target, self.path)
            elif exchange(self.path, self.target):
                leftover = self.path  # the old output, now at the staging name

                def undo() -> None:
                    exchange(self.path, self.target)
            else:
                os.rename(self.target, self._old)
                try:
                    os.rename(self.path, self.target)
                except BaseException:
                    os.rename(self._old, self.target)
                    raise
                leftover = self._old

                def undo() -> None:
                    os.rename(self.target, self.path)
                    os.rename(self._old, self.target)
            arrived = signal_arrived()
            if arrived is not None:
                undo()
                raise Interrupted(arrived)
        self.committed = True
        if leftover is not None:
            _remove(leftover)

    def abort(self) -> None:
        """Remove the staging copy, the lock and the parents made for it; signals held."""
        if os.getpid() != self._owner_pid:
            return  # never in a forked child
        with held():
            if not self.committed:
                _remove(self.path)
            self._lock.release()
            for folder in [] if self.committed else reversed(self._created):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
            self._created = []

    def finish(self) -> None:
        """Let go of the lock after a commit."""
        self._lock.release()

    def os_error(self, exc: OSError) -> InputError:
        """The one-line :class:`InputError` for an OS error on this output (names the path)."""
        reason = exc.strerror or str(exc)
        where = _error_path(exc)
        if where is not None:
            for base in (self.path, self._old):
                if where == base or base in where.parents:
                    rest = where.relative_to(base)
                    what = f"cannot write {rest}" if str(rest) != "." else "cannot write"
                    return InputError(f"{self.label}: {what}: {reason}")
            if where.name.startswith(f".{self.target.name}.pmrsim"):
                return InputError(f"{self.label}: cannot write in {where.parent}: {reason}")
            return InputError(f"{self.label}: {where}: {reason}")
        return InputError(f"{self.label}: cannot write: {reason}")

    def owns_error(self, exc: OSError) -> bool:
        """Whether ``exc`` (raised by the command's body) is an OS error on this output."""
        where = _error_path(exc)
        if where is not None:
            return any(where == base or base in where.parents for base in (self.path, self.target))
        return exc.errno in _WRITE_ERRNOS

    def outcome(self) -> str:
        """What became of the target, for the line of an interrupted command."""
        return f"{self.label} was complete" if self.committed else f"{self.label} left as it was"

    def relabel(self, message: str) -> str:
        """``message`` with the staging path replaced by the target's path (as given)."""
        return message.replace(str(self.path), self._given)


def _error_path(exc: OSError) -> Path | None:
    """The (first) path an OS error names, absolute, or None."""
    for name in (exc.filename, exc.filename2):
        if isinstance(name, str | bytes | os.PathLike):
            return Path(os.path.abspath(os.fsdecode(name)))
    return None


def _remove(path: Path) -> None:
    """Remove a file or a folder tree (whatever can be removed)."""
    try:
        st = os.lstat(path)
    except OSError:  # absent (or its parent is)
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def staged_output(target: Path | str, *, command: str, kind: Kind = "folder",
                  replace: Replace = Replace.OWN, force: bool = False,
                  option: str | None = "--out", legacy: Callable[[Path], bool] | None = None,
                  recognise: Callable[[Path], bool] | None = None, mark: bool = True,
                 marker: str = MARKER,
                  file_mode: int = 0o666) -> Iterator[StagedOutput]:
    """Build the output of ``pmrsim <command>`` for ``target`` whole, or leave ``target`` as it was.

    Yields the :class:`StagedOutput`: write into its ``path`` (a new empty
    folder for ``kind="folder"``, a new empty file for ``kind="file"``,
    created with ``file_mode`` less the umask). When the block ends normally
    the output replaces ``target`` (a folder first gets the marker ``marker``,
    :data:`MARKER` by default, unless ``mark`` is False); when it raises, the
    staging copy is removed.

    ``replace`` and ``force`` are the overwrite policy (:class:`Replace`);
    ``legacy(folder)`` recognises an output of this command written before
    markers existed (refused with a message saying so; replaced under
    :attr:`Replace.FORCE` with ``force``); ``recognise(file)`` accepts an
    existing file as the command's own (``kind="file"`` with
    :attr:`Replace.OWN`). ``option`` prefixes the path in messages.

    Raises :class:`InputError` (exit 2, one line naming the path) for a
    refused target, a target in use, or an OS error on the output;
    :class:`Interrupted` is re-raised with its ``outcome`` set.
    """
    stage = StagedOutput(target, command=command, kind=kind, replace=replace, force=force,
                         option=option, legacy=legacy, recognise=recognise, mark=mark, marker=marker,
                         file_mode=file_mode)
    with interrupts():
        try:
            stage.prepare()
            try:
                yield stage
                stage.commit()
            except BaseException:
                stage.abort()
                raise
            stage.finish()
        except Interrupted as exc:
            exc.outcome = exc.outcome or stage.outcome()
            raise
        except BaseException as exc:
            arrived = received()
            if arrived is not None:  # a consequence of the interruption (see sim.interrupts)
                raise Interrupted(arrived, stage.outcome()) from exc
            if isinstance(exc, InputError):
                raise InputError(stage.relabel(str(exc))) from None
            if isinstance(exc, OSError) and stage.owns_error(exc):
                raise stage.os_error(exc) from None
            raise
        finally:
            stage.finish()  # after an interrupted removal of the old output


__all__ = ["BARE_MARKER", "MARKER", "MARKER_SCHEMA", "OutputLock", "Replace", "StagedOutput", "exchange",
           "read_marker", "reading", "staged_output", "write_marker", "written_by"]
