#!/usr/bin/env bash
# The headless browser of the DApp's browser tests (tests/dapp/test_browser.py): Debian's
# Chromium and its chromedriver. Installs them with apt-get when they are missing and this
# runs as root; otherwise it says what is missing and exits 1 (the browser tests then skip,
# except under CI=true, where they fail).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null 2>&1; then
        exit 0
    fi
    echo "setup: apt-get could not install ${need[*]}" >&2
else
    echo "setup: ${need[*]} missing (install them as root: apt-get install ${need[*]})" >&2
fi
echo "setup: the DApp's browser tests will skip (and fail in CI)" >&2
exit 1
