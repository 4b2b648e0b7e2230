#!/usr/bin/env bash
# Smoke-runs the libFuzzer harnesses: for each fuzzer, replays every file in
# tests/fuzz/regressions/<name>/ once, then fuzzes for BN_FUZZ_SECONDS
# (default 10) starting from a scratch copy of tests/fuzz/corpus/<name>/.
# Exits non-zero on any finding (crash, sanitizer report, oracle abort,
# timeout, leak, OOM); reproducers land in <build>/fuzz-work/<name>/artifacts/.
#
# usage: tests/fuzz/run-smoke.sh [--build-dir DIR] [--no-build] [NAME...]
#   NAME is a fuzzer without its fuzz_ prefix (ws_frame, http, ...); default all.
#   --build-dir defaults to $BN_FUZZ_BUILD_DIR or <repo>/build-fuzz.
#   --no-build skips the cmake configure/build step (ctest uses this).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BN_FUZZ_BUILD_DIR:-$root/build-fuzz}"
secs="${BN_FUZZ_SECONDS:-10}"
do_build=1
names=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) names+=("$1"); shift ;;
    esac
done
if [ ${#names[@]} -eq 0 ]; then
    for f in "$here"/fuzz_*.c; do
        n="$(basename "$f" .c)"
        names+=("${n#fuzz_}")
    done
fi

if [ "$do_build" = 1 ]; then
    cc="${CC:-}"
    if [ -z "$cc" ]; then
        cc="$(command -v clang || command -v clang-14)"
    fi
    cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER="$cc" >/dev/null
    cmake --build "$build" -j2
fi

# Same sanitizer settings as scripts/test.sh unless the caller set them.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

dict_for() {
    case "$1" in
    v1_json|v2_json) echo "$here/dict/json.dict" ;;
    http|longpoll_body|webhook_response) echo "$here/dict/http.dict" ;;
    *) echo "" ;;
    esac
}

failed=()
for name in "${names[@]}"; do
    bin="$build/fuzz_$name"
    if [ ! -x "$bin" ]; then
        echo "run-smoke: $bin is missing (build first)" >&2
        failed+=("$name(missing)")
        continue
    fi
    work="$build/fuzz-work/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    args=(-timeout=5 -rss_limit_mb=1024 -artifact_prefix="$work/artifacts/")
    dict="$(dict_for "$name")"
    if [ -n "$dict" ]; then
        args+=(-dict="$dict")
    fi

    regs=()
    if [ -d "$here/regressions/$name" ]; then
        while IFS= read -r -d '' f; do
            regs+=("$f")
        done < <(find "$here/regressions/$name" -type f ! -name '*.md' -print0 | sort -z)
    fi
    if [ ${#regs[@]} -gt 0 ]; then
        echo "== fuzz_$name: replaying ${#regs[@]} regression input(s)"
        if ! "$bin" "${args[@]}" "${regs[@]}" >"$work/regressions.log" 2>&1; then
            tail -n 60 "$work/regressions.log" >&2
            failed+=("$name(regression)")
            continue
        fi
    fi

    echo "== fuzz_$name: fuzzing for ${secs}s"
    if ! "$bin" "${args[@]}" -max_total_time="$secs" -print_final_stats=1 \
        "$work/corpus" "$here/corpus/$name" >"$work/fuzz.log" 2>&1; then
        tail -n 60 "$work/fuzz.log" >&2
        failed+=("$name")
        continue
    fi
    if [ -n "$(ls -A "$work/artifacts")" ]; then
        echo "run-smoke: fuzz_$name left artifacts in $work/artifacts" >&2
        failed+=("$name(artifacts)")
        continue
    fi
    grep -E '^#[0-9]+.*(DONE|pulse)' "$work/fuzz.log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$work/fuzz.log" || true
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "run-smoke: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "run-smoke: all ${#names[@]} fuzzer(s) clean"
