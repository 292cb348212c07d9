"""``pmrsim cid PATH [--cid-version 0|1] [--hidden] [-w]``: the CID Kubo's ``ipfs add`` gives.

A file is streamed through :mod:`storage_sim.unixfs` with blocks discarded
(``ipfs add --only-hash``), so any size works in bounded memory; ``-``
reads standard input. A folder is hashed as ``ipfs add -r`` does
(:mod:`storage_sim.unixfs_dir`: entries in name order, HAMT-sharded past
Kubo's 256 KiB threshold, hidden entries left out unless ``--hidden``,
symbolic links refused); ``-w`` wraps the file or folder in a directory, as
``ipfs add -w``. Storage errors are translated into :class:`InputError` here.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sim.errors import InputError
from storage_sim.errors import StorageError
from storage_sim.unixfs import ImportParams, import_stream
from storage_sim.unixfs_dir import import_path


def register(subparsers: Any) -> None:
    """Add the ``cid`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "cid",
        help="print the IPFS CID of a file or folder (Kubo `ipfs add --only-hash [-r]` defaults)",
        description="Print the CID Kubo's `ipfs add` gives PATH: CIDv0 by default, "
        "CIDv1 (raw leaves, base32) with --cid-version 1. A folder is hashed as `ipfs add -r` "
        "hashes it (HAMT-sharded past Kubo's threshold). PATH '-' reads standard input.",
    )
    parser.add_argument("file", metavar="PATH", help="file or folder to hash, or - for standard input")
    parser.add_argument(
        "--cid-version",
        dest="cid_version",
        default="0",
        metavar="{0,1}",
        help="CID version: 0 (Qm..., default) or 1 (bafy.../bafk...)",
    )
    parser.add_argument("--hidden", action="store_true",
                        help="include a folder's hidden entries (names starting with .), as "
                             "`ipfs add -r --hidden`")
    parser.add_argument("-w", "--wrap", action="store_true",
                        help="wrap the file or folder in a directory, as `ipfs add -w`")
    parser.set_defaults(func=run)


def _parse_version(text: str) -> int:
    if text not in ("0", "1"):
        raise InputError(f"--cid-version: expected 0 or 1, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    """Hash ``args.file`` and print its CID; return the exit code."""
    version = _parse_version(str(args.cid_version))
    params = ImportParams(cid_version=version)
    path: str = args.file
    try:
        if path == "-":
            if args.wrap:
                raise InputError("-w: standard input has no name to wrap it under; hash a file")
            cid = import_stream(sys.stdin.buffer, None, params).cid
        elif os.path.isdir(path) or args.wrap:
            cid = import_path(path, None, params, hidden=args.hidden, wrap=args.wrap).cid
        else:
            with open(path, "rb") as stream:
                cid = import_stream(stream, None, params).cid
    except FileNotFoundError as exc:
        raise InputError(f"{exc.filename or path}: no such file") from None
    except PermissionError as exc:
        raise InputError(f"{exc.filename or path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{exc.filename or path}: cannot read ({exc.strerror or exc})") from None
    except StorageError as exc:
        raise InputError(f"{path}: {exc}") from None
    print(cid)
    return 0
