#!/usr/bin/env bash
# Set up pmrsim on a fresh machine: a virtual environment in .venv with the
# package and its development tools. Safe to run again; it only reinstalls
# when pyproject.toml changed. Needs Python 3.11+ with venv (the machine's
# python3), and the package registries at set-up time only.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "pmrsim needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.pmrsim-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # dev: the test tools; bench: the de-identifiers benchmarks/bench_deid.py measures
    .venv/bin/python -m pip install --quiet -e ".[dev,bench]"
    echo "$want" > "$stamp"
fi
# anvil, cast, Hardhat, ipfs-car and the js UnixFS importer (the real clients the tests
# check pmrsim against) from the npm registry into .tools/; without npm this only warns
# and those tests skip, except in CI (.ci/run sets PMRSIM_REQUIRE_TOOLS=1): there the
# set-up fails.
if ! bash scripts/install-tools.sh; then
    [ "${PMRSIM_REQUIRE_TOOLS:-}" = 1 ] && { echo "setup: scripts/install-tools.sh failed" >&2; exit 1; }
fi
# dcmtk and dicom3tools (the validators of the de-identification tests) from
# Debian's packages; without root this only warns, and those tests skip
# (in CI, where .ci/run sets PMRSIM_REQUIRE_DICOM_TOOLS=1, they fail).
bash scripts/install-dicom-tools.sh || true
# Chromium and chromedriver (the DApp's browser tests) from Debian's packages; without
# root this only warns, and those tests skip (under CI=true they fail).
bash scripts/install-browser.sh || true
