#!/usr/bin/env bash
# The DICOM validators that the de-identification tests run on every output:
# dcmtk (dcmdump, dcmftest) and dicom3tools (dciodvfy), from Debian's packages.
# Installs them with apt-get when they are missing and this runs as root;
# otherwise it says what is missing and exits 1 (the tests then skip, except
# under PMRSIM_REQUIRE_DICOM_TOOLS=1, which .ci/run sets: there they fail).
set -euo pipefail
need=()
command -v dcmftest >/dev/null 2>&1 && command -v dcmdump >/dev/null 2>&1 || need+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)
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
echo "setup: the DICOM validator tests will skip (and fail in CI)" >&2
exit 1
