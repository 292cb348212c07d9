#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint, type-check and run the test suite.
# Exits non-zero when anything fails, including when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q -n 2 --dist loadfile -p no:cacheprovider "$@"
