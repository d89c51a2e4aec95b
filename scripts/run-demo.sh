#!/usr/bin/env bash
# From a fresh Debian 12 machine: set up everything, build, and run `zkcar demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH"
if build/zkcar help demo >/dev/null 2>&1; then
    exec build/zkcar demo "$@"
fi
# The demo command arrives with the sidecar (`zkcar run`); until then show what
# exists: the commands, and quick runs of the benchmarks that exercise the
# transaction format, the prover and the shared-memory state.
echo "zkcar demo is not built yet (it comes with the sidecar); running what exists:"
build/zkcar --version
build/zkcar help
for b in sig prover state; do
    if build/zkcar bench --help | grep -qw "$b"; then
        echo
        build/zkcar bench "$b" --quick
    fi
done
