#!/usr/bin/env bash
# Install the real clients that the tests run pmrsim's outputs through, from the npm
# registry into .tools/ (git-ignored), at the exact versions of scripts/node-tools/package.json:
# Foundry's anvil (the rpc and anvil backends) and cast (deploys and calls the Foundry
# artifacts), Hardhat (its artifact reader reads the Hardhat artifacts), ipfs-car and
# ipfs-unixfs-importer (second implementations of CARs and of Kubo's UnixFS layout).
# Idempotent: does nothing when that package.json is installed already. Needs the npm
# registry at install time only; the tests run offline.
# Exit 0 when installed; otherwise a warning and exit 1: setup.sh then goes on and the
# tests that need a tool skip, except under PMRSIM_REQUIRE_TOOLS=1 (set by .ci/run), where
# setup.sh fails and those tests fail too.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=".tools"
SPEC="scripts/node-tools/package.json"
STAMP="$PREFIX/.installed"
want="$(sha256sum "$SPEC" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi
warn() { echo "install-tools: warning: $*; the tests that need these tools will skip (and fail in CI)" >&2; exit 1; }
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    warn "anvil and cast from npm are for Linux x86-64, this is $(uname -s)-$(uname -m) (set PMRSIM_ANVIL to an anvil binary)"
fi
command -v npm >/dev/null 2>&1 || warn "npm not found"
mkdir -p "$PREFIX"
cp "$SPEC" "$PREFIX/package.json"
rm -f "$STAMP"
if ! npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error >&2; then
    warn "npm install of $SPEC failed"
fi
for bin in node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil node_modules/@foundry-rs/cast-linux-amd64/bin/cast \
           node_modules/.bin/ipfs-car node_modules/hardhat/internal/artifacts.js node_modules/axe-core/axe.min.js; do
    [ -e "$PREFIX/$bin" ] || warn "$PREFIX/$bin missing after npm install"
done
echo "$want" > "$STAMP"
