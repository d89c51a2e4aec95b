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
# bad usage: exit 2, nothing on stdout, exactly one line on stderr (SPEC §1)
usage_err() { # usage_err NAME CMD...
    local name=$1; shift
    "$@" >/tmp/zkcar-cli-out.$$ 2>/tmp/zkcar-cli-err.$$; local rc=$?
    local lines; lines=$(wc -l </tmp/zkcar-cli-err.$$)
    if [ "$rc" = 2 ] && [ "$lines" = 1 ] && [ ! -s /tmp/zkcar-cli-out.$$ ]; then pass=$((pass+1)); else
        fail=$((fail+1)); echo "FAIL $name: rc=$rc (want 2), stderr lines=$lines (want 1), stdout bytes=$(wc -c </tmp/zkcar-cli-out.$$)"
        cat /tmp/zkcar-cli-err.$$; fi
}
br=0x4242424242424242424242424242424242424242
usage_err no-args-one-line "$bin"
check help-dash-help 0 "$bin" help --help
usage_err run-overflow "$bin" run --l1-rpc http://127.0.0.1:1 --bridge $br --batch-size 99999999999999999999
usage_err run-negative "$bin" run --l1-rpc http://127.0.0.1:1 --bridge $br --from-block -1
usage_err run-confirmations-word "$bin" run --l1-rpc http://127.0.0.1:1 --bridge $br --confirmations finalised
usage_err run-api-no-port "$bin" run --l1-rpc http://127.0.0.1:1 --bridge $br --api 127.0.0.1
usage_err run-missing-value "$bin" run --l1-rpc http://127.0.0.1:1 --bridge
usage_err run-unknown-flag "$bin" run --l1-rpc http://127.0.0.1:1 --bridge $br --nosuch
usage_err run-l1-rpc-scheme "$bin" run --l1-rpc ftp://127.0.0.1:1 --bridge $br
usage_err query-empty-dir "$bin" query --data-dir "" account $br
usage_err query-bad-address "$bin" query account 0x42
usage_err verify-missing "$bin" verify
usage_err bench-no-name "$bin" bench
usage_err watch-unknown-flag "$bin" watch --nosuch
usage_err worker-no-connect "$bin" worker
# --log-format json: every line on stderr is JSON, the failure's too
"$bin" worker --connect nonsense --bpf off --log-format json 2>/tmp/zkcar-cli-err.$$; rc=$?
if [ "$rc" = 2 ] && node -e 'const t = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
    if (t.length < 1 || !t.every((l) => typeof JSON.parse(l) === "object")) process.exit(1);' </tmp/zkcar-cli-err.$$ \
    && grep -q 'zkcar worker failed' /tmp/zkcar-cli-err.$$; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL worker-json: rc=$rc"; cat /tmp/zkcar-cli-err.$$; fi
rm -f /tmp/zkcar-cli.$$ /tmp/zkcar-cli-out.$$ /tmp/zkcar-cli-err.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
