#!/usr/bin/env bash
# Install the Debian CJK font families that the sample-ad generator and the tests render with.
set -euo pipefail
packages=(fonts-wqy-zenhei fonts-noto-cjk fonts-arphic-ukai fonts-lxgw-wenkai fonts-smiley-sans fontconfig)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing fonts: ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
