"""``pmrsim cid FILE [--cid-version 0|1]``: print the CID Kubo's ``ipfs add`` would give.

The file is streamed through :mod:`storage_sim.unixfs` with blocks discarded
(``ipfs add --only-hash``), so any size works in bounded memory. ``-`` reads
standard input. Storage errors are translated into :class:`InputError` here.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sim.errors import InputError
from storage_sim.errors import StorageError
from storage_sim.unixfs import ImportParams, import_stream


def register(subparsers: Any) -> None:
    """Add the ``cid`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "cid",
        help="print the IPFS CID of a file (Kubo `ipfs add --only-hash` defaults)",
        description="Print the CID Kubo's `ipfs add` gives FILE: CIDv0 by default, "
        "CIDv1 (raw leaves, base32) with --cid-version 1. FILE '-' reads standard input.",
    )
    parser.add_argument("file", metavar="FILE", help="file to hash, or - for standard input")
    parser.add_argument(
        "--cid-version",
        dest="cid_version",
        default="0",
        metavar="{0,1}",
        help="CID version: 0 (Qm..., default) or 1 (bafy.../bafk...)",
    )
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
            result = import_stream(sys.stdin.buffer, None, params)
        else:
            if os.path.isdir(path):
                raise InputError(f"{path}: is a directory (only files are supported)")
            with open(path, "rb") as stream:
                result = import_stream(stream, None, params)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory (only files are supported)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except StorageError as exc:
        raise InputError(f"{path}: {exc}") from None
    print(result.cid)
    return 0
