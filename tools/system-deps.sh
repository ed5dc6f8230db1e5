#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing. Root, or sudo when available.
set -euo pipefail

packages=(jq chromium systemd iputils-ping)   # chromium: the browser tests (tests/browser), driven by
# Playwright; systemd: systemd-analyze verifies the generated boot units; ping: the quickstarts' DNS check
missing=()
# The host stand-ins (labdocs/lab/standin_hosts.py): a docker engine per host (docker.io: dockerd, containerd,
# runc; compose v2 comes from PyPI), an sshd per host, sudo for the steps that use it, iproute2 and
# util-linux (ip, nsenter, unshare, setpriv) for their namespaces.
packages+=(docker.io openssh-server sudo iproute2)
# The model share's server stand-in (labdocs/lab/nfs_standin.py): nfs-ganesha with its VFS backend and rpcbind run
# inside the flashstore host's namespaces; showmount (nfs-common) and nfs-ls (libnfs-utils) are userspace clients.
packages+=(nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common libnfs-utils)
# The world outside as the lab's stand-in (labdocs/lab/world_standin.py): Debian's docker-registry under nvcr.io,
# htpasswd (apache2-utils) for its login, openssl for the lab's CA, curl for the pages' checks.
packages+=(docker-registry apache2-utils openssl curl)
# The QUICKSTARTs run on those hosts (tests/test_host_procedure.py): rsync pre-stages a model on local disk.
packages+=(rsync)
# The lab's llama-server (labdocs/lab/llamacpp_build.py): built from source with cmake, ninja and g++.
packages+=(cmake ninja-build g++)
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
# No package service may start on this machine (rpcbind on port 111, ganesha on 2049 with its sample export):
# the lab starts its own, inside its namespaces. A policy-rc.d that refuses every start, for the install only.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# labdocs tools/system-deps.sh: no service starts during this install\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
