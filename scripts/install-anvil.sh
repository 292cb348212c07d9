#!/usr/bin/env bash
# Install anvil (Foundry's local Ethereum node) for the rpc backend's tests, from
# the npm package that ships its Linux x86-64 binary, into .tools/ (git-ignored).
# Idempotent: does nothing when the pinned version is already there. Prints the
# binary's path on stdout. Needs the npm registry at install time only; without
# npm (or offline) it prints a warning and exits 0 (the rpc tests then skip).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@foundry-rs/anvil-linux-amd64"
VERSION="1.7.1"
PREFIX=".tools"
BIN="$PREFIX/node_modules/$PACKAGE/bin/anvil"

installed_version() {
    sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$PREFIX/node_modules/$PACKAGE/package.json" 2>/dev/null | head -1
}

if [ -x "$BIN" ] && [ "$(installed_version)" = "$VERSION" ]; then
    echo "$PWD/$BIN"
    exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install-anvil: warning: $PACKAGE is for Linux x86-64, this is $(uname -s)-$(uname -m); set PMRSIM_ANVIL to an anvil binary" >&2
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-anvil: warning: npm not found; anvil not installed (the rpc backend tests will skip; or set PMRSIM_ANVIL)" >&2
    exit 0
fi
mkdir -p "$PREFIX"
if ! npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error "$PACKAGE@$VERSION" >&2; then
    echo "install-anvil: warning: npm install $PACKAGE@$VERSION failed; anvil not installed (the rpc backend tests will skip)" >&2
    exit 0
fi
if [ ! -x "$BIN" ]; then
    echo "install-anvil: warning: $BIN missing after npm install" >&2
    exit 0
fi
echo "$PWD/$BIN"
