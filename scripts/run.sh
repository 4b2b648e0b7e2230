#!/usr/bin/env bash
# Installs what is missing, builds, and runs one Bennu node in development
# mode: the demo chat at http://127.0.0.1:4000/ and the Phoenix socket at
# ws://127.0.0.1:4000/socket. Extra arguments go to bennu (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
BENNU_SETUP_BROWSER=0 scripts/setup.sh
scripts/build.sh build
exec build/bennu --dev "$@"
