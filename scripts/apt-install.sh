#!/usr/bin/env bash
# apt_install WHAT PACKAGE...: install Debian packages the tests need, when missing.
# Sourced by scripts/install-browser.sh and scripts/install-dicom-tools.sh. With no
# package named it returns 0; as root with apt-get it installs them; otherwise, or
# when apt-get fails, it says what is missing and that WHAT will skip (and fail in
# CI), and returns 1.
apt_install() {
    local what=$1
    shift
    [ $# -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends "$@") >/dev/null 2>&1; then
            return 0
        fi
        echo "setup: apt-get could not install $*" >&2
    else
        echo "setup: $* missing (install them as root: apt-get install $*)" >&2
    fi
    echo "setup: $what will skip (and fail in CI)" >&2
    return 1
}
