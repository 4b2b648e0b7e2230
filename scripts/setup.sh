#!/usr/bin/env bash
# Installs what Bennu needs on Debian 12 when it is missing: build tools and
# libraries from Debian's packages, Chromium for the browser tests, and the
# npm packages pinned by package-lock.json. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake pkg-config git
  libuv1-dev libprotobuf-c-dev protobuf-c-compiler libsodium-dev libcmocka-dev
  libhttp-parser-dev libjansson-dev libssl-dev uthash-dev
  clang libclang-rt-14-dev valgrind iproute2 iptables
  systemd  # systemd-analyze verify for deploy/bennu.service (tests/js/deploy.test.mjs)
)
if [[ "${BENNU_SETUP_BROWSER:-1}" == 1 ]]; then
  DEB_PACKAGES+=(chromium)
fi

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# Node.js may come from elsewhere (e.g. NodeSource); only install Debian's when absent.
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ ! -d node_modules/phoenix || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
