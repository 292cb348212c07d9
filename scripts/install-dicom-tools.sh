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
source "$(dirname "$0")/apt-install.sh"
apt_install "the DICOM validator tests" "${need[@]}"
