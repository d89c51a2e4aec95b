#!/usr/bin/env bash
# The multi-call binary's surface (SPEC §1): --version, help, exit codes.
set -u
bin=${ZKCAR_BIN:?ZKCAR_BIN not set}
pass=0 fail=0
check() { # check NAME EXPECTED_RC CMD...
    local name=$1 want=$2; shift 2
    "$@" >/tmp/zkcar-cli.$$ 2>&1; local rc=$?
    if [ "$rc" = "$want" ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $name: rc=$rc want=$want"; cat /tmp/zkcar-cli.$$; fi
}
check version 0 "$bin" --version
"$bin" --version | grep -Eq '^zkcar [0-9]+\.[0-9]+\.[0-9]+$' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL version format"; }
check help 0 "$bin" help
check help-help 0 "$bin" help help
check no-args 2 "$bin"
check unknown 2 "$bin" frobnicate
check help-unknown 2 "$bin" help frobnicate
"$bin" frobnicate 2>&1 | grep -q 'unknown command "frobnicate"' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL unknown message"; }
check bench-help 0 "$bin" bench --help
check bench-unknown 2 "$bin" bench nosuch
# every command listed by `zkcar help` answers `zkcar help CMD` with exit 0
for c in $("$bin" help | awk '/^commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
    check "help-$c" 0 "$bin" help "$c"
done
rm -f /tmp/zkcar-cli.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
