#!/usr/bin/env bash
# Installs what is missing, builds Bennu three times (RelWithDebInfo with
# -Werror; the library and programs alone as an embedder builds them:
# Release (-O3), no tests, no demo, so neither cmocka nor npm; and
# AddressSanitizer + UndefinedBehaviorSanitizer), and runs every test: the
# cmocka unit tests in the first and last builds; the examples, built against
# the Release build installed into a temporary prefix; the integration tests
# (official phoenix client, raw frames, bad input, mesh, bennuctl, chaos), the
# browser test and the fuzzer smoke runs against the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

scripts/build.sh build
scripts/build.sh build-package -DCMAKE_BUILD_TYPE=Release -DBN_TESTS=OFF -DBN_DEMO=OFF
scripts/build.sh build-asan -DBN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

echo "== unit tests (release build)"
ctest --test-dir build -L unit --output-on-failure -j"$(nproc)"

echo "== examples built against the installed package (Release build, no tests, no demo)"
examples/run-smoke.sh build-package

echo "== every test (sanitizer build)"
ctest --test-dir build-asan --output-on-failure -j"$(nproc)"

echo "== fuzzer smoke runs (clang, libFuzzer + ASan + UBSan)"
cmake -S tests/fuzz -B build-fuzz -DCMAKE_C_COMPILER=clang -DBN_FUZZ_SECONDS="${BN_FUZZ_SECONDS:-15}" >/dev/null
cmake --build build-fuzz -j"$(nproc)"
ctest --test-dir build-fuzz --output-on-failure -j1
