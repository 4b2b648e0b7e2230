#!/usr/bin/env bash
# examples/run-smoke.sh [BUILD_DIR]: installs BUILD_DIR (default build/) into
# a temporary prefix and checks the package from the outside, as an embedder
# would see it:
#   - each public header compiles on its own as C11 and as C++;
#   - examples/cxx_headers.cpp (every header, every function) builds with
#     g++ -Wall -Wextra -Werror, links with C linkage, and runs;
#   - examples/room_server builds with its Makefile (pkg-config only) and
#     with its CMakeLists.txt (find_package(bennu));
#   - the pkg-config build runs as two nodes clustered over the mesh and
#     examples/room_server/smoke.mjs drives them over WebSocket; both must
#     then stop on SIGTERM with exit 0 and every room's state freed by
#     terminate.
# The prefix is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
root=$PWD

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bennu-examples.XXXXXX")
server_pid=
server2_pid=
cleanup() {
    local pid
    for pid in $server_pid $server2_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name bennu.pc -print -quit)
[[ -n $pc ]] || { echo "run-smoke: no bennu.pc under $prefix" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
# A -DBN_SHARED=ON build installs libbennu.so too, which -lbennu then prefers.
export LD_LIBRARY_PATH=$(dirname "$(dirname "$pc")")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "examples: installed $(pkg-config --modversion bennu) into a temporary prefix"

cflags=$(pkg-config --cflags bennu)
libs=$(pkg-config --static --libs bennu)
for h in "$prefix"/include/bennu/*.h; do
    # (the typedef keeps a macro-only header from being an empty unit)
    inc=$(printf '#include <bennu/%s>\ntypedef int header_check;' "$(basename "$h")")
    echo "$inc" | gcc -x c -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror $cflags -fsyntax-only -
    echo "$inc" | g++ -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror $cflags -fsyntax-only -
done
# cxx_headers.cpp must name every function the installed headers export.
missing=$(for f in $(grep -h -A2 'BN_EXTERN' "$prefix"/include/bennu/*.h |
                     grep -o 'bn_[a-z0-9_]*(' | tr -d '(' | sort -u); do
              grep -q "fn($f)" examples/cxx_headers.cpp || echo "$f"
          done)
if [[ -n $missing ]]; then
    echo "run-smoke: examples/cxx_headers.cpp does not list: $missing" >&2
    exit 1
fi
g++ -std=c++11 -Wall -Wextra -Werror $cflags examples/cxx_headers.cpp $libs -o "$tmp/cxx_headers"
"$tmp/cxx_headers"

make -s -C examples/room_server OUT="$tmp/room-make"
cmake -S examples/room_server -B "$tmp/room-cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/room-cmake" >/dev/null
"$tmp/room-cmake/room_server" --version

export ROOM_SERVER_KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export ROOM_SERVER_COOKIE=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Two room_servers clustered over the mesh (bn_server_attach_mesh): the second
# joins the first's mesh port.
start_server() { # OUTFILE ERRFILE ARGS...; sets started_pid, started_port, started_mesh
    local out=$1 err=$2
    shift 2
    : >"$out" # exists before the poll below reads it (the server opens it later)
    "$tmp/room-make/room_server" --port 0 --tick-ms 100 --capacity 2 "$@" >"$out" 2>"$err" &
    started_pid=$!
    started_port=
    for _ in $(seq 100); do
        started_port=$(sed -n 's/^listening port=\([0-9]*\).*/\1/p' "$out")
        [[ -n $started_port ]] && break
        kill -0 "$started_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z $started_port ]]; then
        echo "run-smoke: room_server did not start" >&2
        cat "$err" >&2
        exit 1
    fi
    started_mesh=$(sed -n 's/^listening .*mesh_port=\([0-9-]*\).*/\1/p' "$out")
}
start_server "$tmp/server.out" "$tmp/server.err" --mesh-port 0 --name room-a@127.0.0.1
server_pid=$started_pid port=$started_port
start_server "$tmp/server2.out" "$tmp/server2.err" --mesh-port 0 --name room-b@127.0.0.1 \
    --join "127.0.0.1:$started_mesh"
server2_pid=$started_pid port2=$started_port

status=0
node "$root/examples/room_server/smoke.mjs" "$port" "$port2" || status=$?
kill -TERM "$server_pid" "$server2_pid"
server_rc=0 server2_rc=0
wait "$server_pid" || server_rc=$?
wait "$server2_pid" || server2_rc=$?
server_pid= server2_pid=
if ((status != 0 || server_rc != 0 || server2_rc != 0)) ||
    ! grep -qx 'stopped rooms_left=0' "$tmp/server.out" ||
    ! grep -qx 'stopped rooms_left=0' "$tmp/server2.out"; then
    echo "run-smoke: smoke=$status server_exit=$server_rc server2_exit=$server2_rc" >&2
    cat "$tmp/server.out" "$tmp/server.err" "$tmp/server2.out" "$tmp/server2.err" >&2
    exit 1
fi
# Every channel that joined was terminated with its reason.
grep -q 'reason=left' "$tmp/server.err"
grep -q 'reason=crash' "$tmp/server.err"
echo "examples: room_server smoke ok"
