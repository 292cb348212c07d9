"""``pmrsim deid IN OUT``: de-identify a DICOM file or a directory tree (PS3.15 Annex E).

* **IN a file**: writes the de-identified file to OUT (or into OUT when OUT is
  an existing directory) and its action log to ``<output>.deid.json``. A file
  that is not a DICOM instance is bad input (exit 2); one that cannot be
  de-identified safely is refused (exit 1). Either way nothing is left behind.
* **IN a directory**: every DICOM instance under IN is de-identified into the
  same relative path under OUT (which must not be inside IN); the log of the
  whole run goes to ``OUT/deid-log.json``. Files that are not DICOM
  instances (README, .icc, .json, DICOMDIR, fragments without a SOP Instance
  UID) are skipped and listed; instances that are refused (burned-in
  annotation, broken pixel data, ...) or fail are listed on stderr; the last
  line counts each kind. Exit 0 when every instance was de-identified, 1
  when any was refused or failed. File and folder *names* are kept as they
  are: rename them first if they carry identifying information.

**Overwriting.** ``deid`` writes users' data: an existing output is never
replaced without ``--force``, and the output is built in a hidden sibling
and moved into place only when complete, so an error or SIGINT, SIGTERM or
SIGHUP leaves the target as it was (:mod:`sim.outputs`).

**Key.** UIDs, the Patient ID pseudonym and date shifts are keyed, so the same
key gives the same results across runs. ``--key-file FILE`` reads the key
(hex text of at least 32 digits, or at least 16 raw bytes). Without it a
random 32-byte key is generated and written, as hex and readable by the
owner only, to ``--key-out PATH`` or to the per-user key store
``$XDG_DATA_HOME/pmrsim/deid-keys/`` (``~/.local/share`` when unset). A key
never goes inside OUT or beside a file output, and ``--key-file`` or
``--key-out`` naming such a place is refused: whoever receives the output
could undo the date shifts and link the pseudonyms. The logs carry a
``key_id`` (a keyed hash that tells nothing about the key) to match an
output with its key.

Log entries name files by path and attributes by tag and keyword; they never
contain a value of the input.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sim.errors import InputError
from sim.outputs import Replace, staged_output
from sim.privacy.deid_table import OPTION_ALIASES, OPTION_CODES, canonical_option

if TYPE_CHECKING:  # the module itself (pydicom) is imported when the command runs
    from sim.privacy.deid import DeidConfig, TreeResult

#: File name of the run's log in OUT (directory mode).
LOG_NAME = "deid-log.json"
#: Folder of new keys inside ``$XDG_DATA_HOME/pmrsim``.
KEY_STORE = "deid-keys"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``deid`` sub-command."""
    names = ", ".join([*OPTION_CODES, *OPTION_ALIASES])
    parser = subparsers.add_parser(
        "deid",
        help="de-identify DICOM files (PS3.15 Annex E Basic Profile and options)",
        description=(
            "De-identify a DICOM file or every file of a directory tree. File mode writes "
            "OUT and OUT.deid.json; directory mode writes the same relative paths under OUT "
            "and OUT/deid-log.json, lists refused files and exits 1 if any was refused. "
            "An existing output is replaced only with --force. Without --key-file a new key "
            "is written to --key-out PATH or to $XDG_DATA_HOME/pmrsim/deid-keys/, never "
            "inside or beside the output."
        ),
        epilog=f"option names: {names}",
    )
    parser.add_argument("input", metavar="IN", help="a DICOM file or a directory tree")
    parser.add_argument("output", metavar="OUT", help="output file or directory")
    parser.add_argument("--key-file", metavar="FILE", help="key (hex or raw bytes); default: new")
    parser.add_argument("--key-out", metavar="PATH",
                        help="where a new key goes (default: the per-user key store); never "
                             "inside or beside the output")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing output (never done without it)")
    parser.add_argument(
        "--option", metavar="NAME", action="append", default=[],
        help="a profile option (table key such as rtnUIDsOpt, or an alias); repeatable",
    )
    parser.add_argument(
        "--clean-region", metavar="X,Y,W,H", action="append", default=[],
        help="pixel rectangle to black out on burned-in annotation (implies clean-pixel-data)",
    )
    parser.set_defaults(func=run)


def _read_key(path: str) -> bytes:
    """Read a key file: hex text, else raw bytes; at least 16 bytes."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"--key-file {path}: cannot read it ({exc.strerror})") from None
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) < 16:
        raise InputError(f"--key-file {path}: key must be at least 16 bytes (32 hex digits)")
    return key


def key_store() -> Path:
    """The per-user key store: ``$XDG_DATA_HOME/pmrsim/deid-keys`` (``~/.local/share`` default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pmrsim" / KEY_STORE


def key_id(key: bytes) -> str:
    """A short public name of ``key`` (keyed hash: it tells nothing about the key)."""
    return hmac.new(key, b"pmrsim-deid-key-id", hashlib.sha256).hexdigest()[:12]


def _check_key_place(flag: str, key_path: Path, out: Path, *, folder: bool) -> None:
    """Refuse a key inside the output folder, or in the folder of a file output."""
    key_abs = key_path.resolve()
    out_abs = out.resolve()
    inside = key_abs.is_relative_to(out_abs) if folder else key_abs.parent == out_abs.parent
    if inside:
        where = "inside OUT" if folder else "beside the output file"
        raise InputError(
            f"{flag} {key_path}: a key {where} travels with the de-identified data, and whoever "
            "receives it can undo the date shifts and link the pseudonyms; keep it elsewhere "
            f"(by default new keys go to {key_store()})")


def _new_key_path(args: argparse.Namespace, key: bytes) -> Path:
    """Where a new key goes: ``--key-out`` or the per-user key store (owner-only)."""
    if args.key_out:
        return Path(args.key_out)
    store = key_store()
    try:
        store.mkdir(parents=True, exist_ok=True, mode=0o700)
        store.chmod(0o700)
    except OSError as exc:
        raise InputError(f"{store}: cannot make the key store ({exc.strerror})") from None
    # named by the key id only: an output's name may itself carry a patient's name
    return store / f"{key_id(key)}.key"


def _write_key(path: Path, key: bytes) -> None:
    """Write a new key as hex, owner-only, never over an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"--key-out {path}: exists; a key is never overwritten (pass "
                         f"--key-file {path} to reuse it)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write the key ({exc.strerror})") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")


def _announce_key(path: Path) -> None:
    """Say where the new key is and why it must stay apart from the output."""
    print(f"pmrsim deid: new key written to {path} (readable by you only). Keep it apart from "
          "the output: whoever holds it can undo the date shifts and link the pseudonyms to "
          f"the originals. Pass --key-file {path} to get the same UIDs again.", file=sys.stderr)


@dataclass
class _Key:
    """The key of a run and, for a new one, where it was written."""

    key: bytes
    new_path: Path | None = None

    def discard(self) -> None:
        """Remove a new key whose run wrote nothing (it protects nothing)."""
        if self.new_path is not None:
            with contextlib.suppress(OSError):
                self.new_path.unlink()


def _key(args: argparse.Namespace, out: Path, *, folder: bool) -> _Key:
    """The run's key: read from ``--key-file``, or new (``--key-out`` or the key store)."""
    if args.key_file and args.key_out:
        raise InputError("--key-out: give either --key-file (an existing key) or --key-out "
                         "(where a new key goes), not both")
    if args.key_file:
        _check_key_place("--key-file", Path(args.key_file), out, folder=folder)
        return _Key(_read_key(args.key_file))
    key = secrets.token_bytes(32)
    path = _new_key_path(args, key)
    _check_key_place("--key-out", path, out, folder=folder)
    return _Key(key, path)


def _config(args: argparse.Namespace, key: bytes) -> DeidConfig:
    """Build the configuration from the command line (bad options are input errors)."""
    from sim.privacy.deid import DeidConfig, Region

    options = set()
    for name in args.option:
        try:
            options.add(canonical_option(name))
        except ValueError:
            raise InputError(f"--option {name}: unknown option (see pmrsim deid --help)") from None
    regions = []
    for text in args.clean_region:
        try:
            regions.append(Region.parse(text))
        except ValueError as exc:
            raise InputError(f"--clean-region {text}: {exc}") from None
    if regions:
        options.add("cleanPixelOpt")
    try:
        return DeidConfig(key=key, options=frozenset(options), clean_regions=tuple(regions))
    except ValueError as exc:
        raise InputError(f"--option: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Handle ``pmrsim deid``; return the exit code."""
    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise InputError(f"{src}: no such file or directory")
    _config(args, b"\x00" * 32)  # bad options are reported before anything is written
    if src.is_dir():
        return _run_tree(src, dst, args)
    return _run_file(src, dst, args)


def _staged(target: Path, args: argparse.Namespace, kind: Literal["file", "folder"]) -> Any:
    """deid's outputs are users' data: whole or absent, and never replaced without --force
    (:mod:`sim.outputs`); a folder is recognised as deid's own by its log, so the data
    handed over carries no marker file."""
    return staged_output(target, command="deid", kind=kind, replace=Replace.FORCE,
                         force=args.force, option=None, mark=False,  # handed over as is
                         legacy=lambda folder: (folder / LOG_NAME).is_file())


def _run_file(src: Path, dst: Path, args: argparse.Namespace) -> int:
    """File mode: one output file and its log, or nothing at all."""
    from sim.privacy.deid import NOT_INSTANCE, REFUSAL_REASONS, DeidRefused, deidentify_file

    target = dst / src.name if dst.is_dir() else dst
    if target.resolve() == src.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: no such directory for the output file")
    log_path = Path(f"{target}.deid.json")
    key = _key(args, target, folder=False)
    config = _config(args, key.key)
    with _staged(log_path, args, "file") as log_stage, _staged(target, args, "file") as out_stage:
        if key.new_path is not None:
            _write_key(key.new_path, key.key)
        try:
            try:
                result = deidentify_file(src, out_stage.path, config)
            except DeidRefused as exc:
                if exc.reason in NOT_INSTANCE:
                    raise InputError(f"{src}: {REFUSAL_REASONS[exc.reason]}") from None
                raise
            result.out_path = target
            entry = result.to_json()
            entry["key_id"] = key_id(key.key)
            log_stage.path.write_text(json.dumps(entry, indent=1) + "\n", encoding="utf-8")
        except BaseException:
            key.discard()
            raise
    if key.new_path is not None:
        _announce_key(key.new_path)
    print(f"de-identified {src} -> {target}")
    return 0


def _run_tree(src: Path, dst: Path, args: argparse.Namespace) -> int:
    """Directory mode: mirror IN under OUT, log everything, exit 1 on any refusal."""
    from sim.privacy.deid import deidentify_tree

    src_abs, dst_abs = src.resolve(), dst.resolve()
    if dst_abs == src_abs or dst_abs.is_relative_to(src_abs):
        raise InputError(f"{dst}: OUT must not be IN or inside IN")
    if not dst.parent.is_dir():
        raise InputError(f"{dst.parent}: no such folder for OUT")
    key = _key(args, dst, folder=True)
    config = _config(args, key.key)
    with _staged(dst, args, "folder") as stage:
        if key.new_path is not None:
            _write_key(key.new_path, key.key)
        try:
            result = deidentify_tree(src, stage.path, config)
            log = result.to_json()
            log["key_id"] = key_id(key.key)
            (stage.path / LOG_NAME).write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
        except BaseException:
            key.discard()
            raise
    if key.new_path is not None:
        _announce_key(key.new_path)
    _report(result, dst)
    return 1 if result.refused or result.failed else 0


def _report(result: TreeResult, dst: Path) -> None:
    """One line per file left out (stderr), then the line that counts each kind."""
    from sim.privacy.deid import REFUSAL_REASONS

    for f in result.skipped:
        reason = f.refused.reason if f.refused else "not-dicom"
        print(f"pmrsim deid: skipped {f.in_path}: {REFUSAL_REASONS[reason]}", file=sys.stderr)
    for f in [*result.refused, *result.failed]:
        print(f"pmrsim deid: {f.refused}", file=sys.stderr)
    print(f"de-identified {len(result.processed)} instance(s) into {dst}; skipped "
          f"{len(result.skipped)} file(s) that are not DICOM instances; refused "
          f"{len(result.refused)}; failed {len(result.failed)}; log: {dst / LOG_NAME}")
