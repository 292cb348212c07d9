"""``pmrsim deid IN OUT``: de-identify a DICOM file or a directory tree (PS3.15 Annex E).

* **IN a file**: writes the de-identified file to OUT (or into OUT when OUT is
  an existing directory) and its action log to ``<output>.deid.json``. A file
  that is not DICOM is bad input (exit 2); a file that cannot be
  de-identified safely is refused (exit 1). Either way nothing is left behind.
* **IN a directory**: every file under IN is de-identified into the same
  relative path under OUT (which must not be inside IN); the action log of the
  whole run, refused files included, goes to ``OUT/deid-log.json``. Refused
  files (not DICOM, no SOP Instance UID, burned-in annotation) are listed on
  stderr and the others written; the exit code is 1 if any file was refused.
  File and folder *names* are kept as they are: rename them first if they
  carry identifying information.

**Key.** UIDs, the Patient ID pseudonym and date shifts are keyed, so the same
key gives the same results across runs. ``--key-file FILE`` reads the key
(hex text of at least 32 digits, or at least 16 raw bytes). Without it a
random 32-byte key is generated and written, as hex and readable by the owner
only, to ``OUT/deid.key`` (directory mode) or ``<output>.deid.key`` (file
mode); the command refuses to overwrite an existing key file. Keep that key
secret: with it, new UIDs can be linked to the originals.

Log entries name files by path and attributes by tag and keyword; they never
contain a value of the input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import InputError
from sim.privacy.deid_table import OPTION_ALIASES, OPTION_CODES, canonical_option

if TYPE_CHECKING:  # the module itself (pydicom) is imported when the command runs
    from sim.privacy.deid import DeidConfig, TreeResult

#: File names written into OUT in directory mode.
LOG_NAME = "deid-log.json"
KEY_NAME = "deid.key"


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
            "Without --key-file a new key is written to OUT/deid.key (OUT.deid.key in file "
            "mode)."
        ),
        epilog=f"option names: {names}",
    )
    parser.add_argument("input", metavar="IN", help="a DICOM file or a directory tree")
    parser.add_argument("output", metavar="OUT", help="output file or directory")
    parser.add_argument("--key-file", metavar="FILE", help="key (hex or raw bytes); default: new")
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


def _write_key(path: Path, key: bytes) -> None:
    """Write a new key as hex, owner-only, never over an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    print(f"pmrsim deid: new key written to {path}; keep it secret and pass "
          f"--key-file {path} to get the same UIDs again", file=sys.stderr)


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
    key = _read_key(args.key_file) if args.key_file else secrets.token_bytes(32)
    config = _config(args, key)
    if src.is_dir():
        return _run_tree(src, dst, config, new_key=not args.key_file)
    return _run_file(src, dst, config, new_key=not args.key_file)


def _run_file(src: Path, dst: Path, config: DeidConfig, *, new_key: bool) -> int:
    """File mode: one output file and its log, or nothing at all."""
    from sim.privacy.deid import DeidRefused, deidentify_file

    target = dst / src.name if dst.is_dir() else dst
    if target.resolve() == src.resolve():
        raise InputError(f"{dst}: output would overwrite the input")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: no such directory for the output file")
    key_path = Path(f"{target}.deid.key")
    if new_key and key_path.exists():
        raise InputError(f"{key_path}: exists; pass --key-file {key_path} to reuse it")
    log_path = Path(f"{target}.deid.json")
    try:
        result = deidentify_file(src, target, config)
    except DeidRefused as exc:
        if exc.reason == "not-dicom":
            raise InputError(f"{src}: not a DICOM file") from None
        raise
    try:
        log_path.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
        if new_key:
            _write_key(key_path, config.key)
    except OSError as exc:
        for path in (target, log_path):
            with contextlib.suppress(OSError):
                path.unlink()
        raise InputError(f"{exc.filename}: cannot write it ({exc.strerror})") from None
    print(f"de-identified {src} -> {target}")
    return 0


def _run_tree(src: Path, dst: Path, config: DeidConfig, *, new_key: bool) -> int:
    """Directory mode: mirror IN under OUT, log everything, exit 1 on any refusal."""
    from sim.privacy.deid import deidentify_tree

    src_abs, dst_abs = src.resolve(), dst.resolve()
    if dst_abs == src_abs or dst_abs.is_relative_to(src_abs):
        raise InputError(f"{dst}: OUT must not be IN or inside IN")
    if dst.exists() and not dst.is_dir():
        raise InputError(f"{dst}: exists and is not a directory")
    key_path = dst / KEY_NAME
    if new_key and key_path.exists():
        raise InputError(f"{key_path}: exists; pass --key-file {key_path} to reuse it")
    dst.mkdir(parents=True, exist_ok=True)
    if new_key:
        _write_key(key_path, config.key)
    result = deidentify_tree(src, dst, config)
    (dst / LOG_NAME).write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    _report(result, dst)
    return 1 if result.refused else 0


def _report(result: TreeResult, dst: Path) -> None:
    """Print the summary line and one line per refused file."""
    print(f"de-identified {len(result.processed)} file(s) into {dst}; "
          f"refused {len(result.refused)}; log: {dst / LOG_NAME}")
    for f in result.refused:
        print(f"pmrsim deid: {f.refused}", file=sys.stderr)
