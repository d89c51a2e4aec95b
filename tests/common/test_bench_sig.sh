#!/usr/bin/env bash
# Smoke test of `zkcar bench sig --json` (issue 2 acceptance keys): the keys are
# present and positive. No timing is asserted (targets live in docs/BENCHMARKS.md).
set -u
bin=${ZKCAR_BIN:?ZKCAR_BIN not set}
out=$("$bin" bench sig --json --quick) || { echo "FAIL: zkcar bench sig exited $?"; exit 1; }
echo "$out"
fail=0
for key in recover_per_s_per_core keccak_mb_per_s tx_verify_per_s_per_core; do
    if ! grep -Eq "\"$key\":[0-9]*[1-9][0-9]*(\.[0-9]+)?([eE][+-]?[0-9]+)?[,}]" <<<"$out"; then
        echo "FAIL: no positive \"$key\" in the output"; fail=1
    fi
done
"$bin" bench sig --nosuch >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || { echo "FAIL: unknown flag gave exit $rc, want 2"; fail=1; }
[ "$fail" = 0 ] && echo "ok"
exit "$fail"
