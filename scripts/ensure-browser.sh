#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests of the review pages (Playwright drives it
# through executable_path; Playwright's own browser downloads are never used).
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
echo "installing chromium"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
