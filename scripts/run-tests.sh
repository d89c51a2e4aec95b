#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: set-up (packages, npm,
# builds with warnings as errors), then every test in the normal build and in
# the ASan+UBSan build, then each libFuzzer target for a short while.
#
#   bash scripts/run-tests.sh                 everything
#   ZKCAR_FUZZ_SECONDS=N                      seconds per fuzz target (default 30)
#   ZKCAR_TEST_LABELS=REGEX                   only tests whose label matches (ctest -L)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --werror --asan --fuzz || { echo "set-up failed"; exit 1; }

export PATH="$PWD/node_modules/.bin:$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH"
fuzz_seconds=${ZKCAR_FUZZ_SECONDS:-30}
label_args=()
[ -n "${ZKCAR_TEST_LABELS:-}" ] && label_args=(-L "$ZKCAR_TEST_LABELS")
total_pass=0 total_fail=0

run_ctest() { # run_ctest DIR NAME
    local dir=$1 name=$2 out
    echo "=== tests: $name ($dir) ==="
    out=$(mktemp)
    ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" "${label_args[@]}" 2>&1 | tee "$out"
    local line total failed
    line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$out" | tail -1)
    if [ -z "$line" ]; then
        echo "ctest in $dir printed no summary"; total_fail=$((total_fail + 1))
    else
        failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
        total_pass=$((total_pass + total - failed)); total_fail=$((total_fail + failed))
    fi
    rm -f "$out"
}

run_ctest build "normal build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan "ASan+UBSan build"

echo "=== fuzzing: ${fuzz_seconds}s per target ==="
for f in build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus=tests/fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    if "$f" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
        echo "fuzz $name: ok ($(grep -Eo "stat::number_of_executed_units: *[0-9]+" "$work.log" | grep -Eo "[0-9]+$" | tail -1) runs)"
        total_pass=$((total_pass + 1))
    else
        echo "fuzz $name: FAILED"; tail -40 "$work.log"
        total_fail=$((total_fail + 1))
    fi
    rm -rf "$work" "$work.log"
done

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
