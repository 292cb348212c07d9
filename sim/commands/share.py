"""``pmrsim share``: split a file for custodians and combine it back.

``share split FILE --t T --n N --out DIR`` writes ``DIR/manifest.json`` (no
secrets), ``DIR/essential.key`` (the patient's essential share) and
``DIR/custodians/<i>/{fragment.bin,key.share}`` for ``i = 1..n``.
``share combine DIR --essential FILE --out FILE`` rebuilds the file from
whichever custodian folders are present. Outputs are users' data: they are
written whole or not at all (:mod:`sim.outputs`), and an existing one (a
non-empty file, or an earlier ``share split`` folder) is replaced only with
``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any, BinaryIO

from sim.errors import InputError, PrivacyError
from sim.outputs import Replace, staged_output
from sim.privacy import sharing
from sim.privacy.manifest import MAX_MANIFEST_BYTES, MAX_SEGMENT_SIZE, Manifest
from sim.privacy.material import MAX_SHARE_BYTES, EssentialShare, KeyShare
from sim.privacy.randomness import SYSTEM_RANDOM, RandomBytes, seeded_random_bytes
from sim.privacy.shamir import check_threshold

MANIFEST = "manifest.json"
ESSENTIAL = "essential.key"
CUSTODIANS = "custodians"
FRAGMENT = "fragment.bin"
KEY_SHARE = "key.share"


def register(subparsers: Any) -> None:
    """Add ``share split`` and ``share combine``."""
    share = subparsers.add_parser("share", help="essential secret sharing of a file")
    actions = share.add_subparsers(dest="share_command", metavar="ACTION")
    actions.required = True

    split = actions.add_parser("split", help="split FILE for n custodians (any t rebuild)")
    split.add_argument("file", type=Path, metavar="FILE")
    split.add_argument("--t", type=int, required=True, help="custodians needed to rebuild")
    split.add_argument("--n", type=int, required=True, help="custodians (1..255)")
    split.add_argument("--out", type=Path, required=True, metavar="DIR")
    split.add_argument("--force", action="store_true",
                       help="replace DIR when it holds an earlier split")
    split.add_argument("--record-id", help="record id bound into the encryption (default: name)")
    split.add_argument("--version", type=int, default=1, help="record version (default 1)")
    split.add_argument(
        "--segment-size", type=int, default=sharing.DEFAULT_SEGMENT_SIZE, metavar="BYTES"
    )
    split.add_argument(
        "--seed", type=int, help="draw keys from a seeded generator: reproducible, NOT secure"
    )
    split.set_defaults(func=_split)

    combine = actions.add_parser("combine", help="rebuild a file from DIR")
    combine.add_argument("dir", type=Path, metavar="DIR")
    combine.add_argument("--essential", type=Path, required=True, metavar="FILE")
    combine.add_argument("--out", type=Path, required=True, metavar="FILE")
    combine.add_argument("--force", action="store_true", help="replace FILE when it exists")
    combine.set_defaults(func=_combine)


def _older_split(folder: Path) -> bool:
    """Whether ``folder`` looks like a split written before outputs had their marker."""
    return (folder / MANIFEST).is_file() and (folder / CUSTODIANS).is_dir()


def _write_secret(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _split(args: argparse.Namespace) -> int:
    source: Path = args.file
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    try:
        check_threshold(args.t, args.n, what="custodians")
    except InputError as exc:
        raise InputError(f"--t/--n: {exc}") from None
    if not 1 <= args.segment_size <= MAX_SEGMENT_SIZE:
        raise InputError(f"--segment-size {args.segment_size}: expected 1 to {MAX_SEGMENT_SIZE:,} bytes")
    out: Path = args.out
    random_bytes: RandomBytes = (
        SYSTEM_RANDOM if args.seed is None else seeded_random_bytes(args.seed)
    )
    with staged_output(out, command="share split", replace=Replace.FORCE, force=args.force,
                       legacy=_older_split) as stage:
        staging = stage.path
        for i in range(1, args.n + 1):
            (staging / CUSTODIANS / str(i)).mkdir(parents=True)
        with contextlib.ExitStack() as stack:
            sinks: list[BinaryIO] = [
                stack.enter_context(open(staging / CUSTODIANS / str(i) / FRAGMENT, "xb"))
                for i in range(1, args.n + 1)
            ]
            with open(source, "rb") as handle:
                manifest, essential, key_shares = sharing.split_stream(
                    handle,
                    source.stat().st_size,
                    sinks,
                    record_id=args.record_id or source.name,
                    t=args.t,
                    version=args.version,
                    segment_size=args.segment_size,
                    random_bytes=random_bytes,
                )
        (staging / MANIFEST).write_text(manifest.to_json() + "\n", encoding="utf-8")
        _write_secret(staging / ESSENTIAL, essential.to_json())
        for share in key_shares:
            _write_secret(staging / CUSTODIANS / str(share.index) / KEY_SHARE, share.to_json())
    print(
        f"split {source} ({manifest.record_size} bytes) into {manifest.n} custodians "
        f"(any {manifest.t} + {out / ESSENTIAL} rebuild it) in {out}"
    )
    return 0


def _load_custodians(
    directory: Path, stack: contextlib.ExitStack
) -> tuple[dict[int, BinaryIO], list[KeyShare], list[str]]:
    """Open the fragments and read the key shares of the custodian folders present."""
    fragments: dict[int, BinaryIO] = {}
    shares: list[KeyShare] = []
    problems: list[str] = []
    root = directory / CUSTODIANS
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for folder in folders:
        if not folder.name.isdigit():
            continue
        index = int(folder.name)
        if (folder / FRAGMENT).is_file():
            handle = open(folder / FRAGMENT, "rb")  # noqa: SIM115 - closed by the exit stack
            fragments[index] = stack.enter_context(handle)
        share_path = folder / KEY_SHARE
        if share_path.is_file():
            try:
                share = KeyShare.from_json(share_path.read_bytes(), what=str(share_path))
            except InputError as exc:
                problems.append(str(exc))
                continue
            if share.index != index:
                problems.append(f"{share_path}: holds share {share.index}, not {index}")
                continue
            shares.append(share)
    return fragments, shares, problems


def _read_small(path: Path, limit: int, kind: str) -> bytes:
    """The bytes of ``path``, refused when there are more than ``limit`` (only ``limit + 1`` are read)."""
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{path}: more than {limit:,} bytes; {kind} has at most {limit:,}")
    return data


def _check_fragment_sizes(directory: Path, manifest: Manifest, manifest_path: Path) -> None:
    """Refuse a manifest whose layout does not fit the fragments present, before reading them.

    Every fragment is ``manifest.fragment_size`` bytes; a fragment of another
    size is set aside as tampered later, but when none of those present fits,
    the manifest's own figures (``record_size``, ``segment_size``, ``t``) are
    what is wrong, and nothing is read or allocated from them. (Too few
    fragments that fit is a custodian shortage, reported by the rebuild.)
    """
    root = directory / CUSTODIANS
    folders = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit()] if root.is_dir() else []
    sizes = {int(p.name): (p / FRAGMENT).stat().st_size for p in folders if (p / FRAGMENT).is_file()}
    expected = manifest.fragment_size
    fitting = [i for i, size in sizes.items() if size == expected]
    if sizes and not fitting:
        seen = ", ".join(f"{size:,}" for size in sorted(set(sizes.values()))[:3])
        raise InputError(
            f"{manifest_path}: record_size, segment_size, t: {manifest.record_size:,} bytes in segments "
            f"of {manifest.segment_size:,} with t={manifest.t} need fragments of {expected:,} bytes, "
            f"but none of the {len(sizes)} present has that size (sizes seen: {seen})")


def _combine(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"{manifest_path}: no such file")
    manifest = Manifest.from_json(_read_small(manifest_path, MAX_MANIFEST_BYTES, "a manifest"),
                                  what=str(manifest_path))
    _check_fragment_sizes(directory, manifest, manifest_path)
    if not args.essential.is_file():
        raise InputError(f"--essential {args.essential}: no such file")
    essential = EssentialShare.from_json(
        _read_small(args.essential, MAX_SHARE_BYTES, "a share file"), what=str(args.essential))
    out: Path = args.out
    problems: list[str] = []
    # the rebuilt record is the patient's: readable by its owner only, as the shares are
    with staged_output(out, command="share combine", kind="file", replace=Replace.FORCE,
                       force=args.force, file_mode=0o600) as stage:
        try:
            with contextlib.ExitStack() as stack:
                sink = stack.enter_context(open(stage.path, "wb"))
                fragments, shares, problems = _load_custodians(directory, stack)
                bad_fragments, bad_shares = sharing.combine_stream(
                    manifest, essential, fragments, shares, sink
                )
        except sharing.WrongEssentialShare as exc:
            raise InputError(f"--essential {args.essential}: {exc}") from None
        except PrivacyError as exc:
            detail = f" ({'; '.join(problems)})" if problems else ""
            raise InputError(f"{directory}: {exc}{detail}") from None
    for problem in problems:
        print(f"pmrsim: warning: {problem}")
    rejected = ""
    if bad_fragments or bad_shares:
        rejected = f"; set aside fragments {list(bad_fragments)}, shares {list(bad_shares)}"
    print(f"rebuilt {manifest.record_size} bytes of {manifest.record_id!r} into {out}{rejected}")
    return 0
