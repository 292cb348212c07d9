#!/usr/bin/env bash
# The headless browser of the DApp's browser tests (tests/dapp/test_browser.py): Debian's
# Chromium and its chromedriver. Installs them with apt-get when they are missing and this
# runs as root; otherwise it says what is missing and exits 1 (the browser tests then skip,
# except under CI=true, where they fail).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
source "$(dirname "$0")/apt-install.sh"
apt_install "the DApp's browser tests" "${need[@]}"
