#!/usr/bin/env bash
# From a fresh Debian 12 machine: set up everything, build, and run `zkcar demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH"
if build/zkcar help demo >/dev/null 2>&1; then
    exec build/zkcar demo "$@"
fi
# The demo command arrives with the sidecar; until then show what exists.
echo "zkcar demo is not built yet (it comes with the sidecar); running what exists:"
build/zkcar --version
build/zkcar help
for b in sig prover; do
    if build/zkcar bench --help | grep -qw "$b"; then build/zkcar bench "$b"; fi
done
