#!/usr/bin/env bash
# From a fresh Debian 12 machine: set up everything, build, and run `zkcar demo`
# (anvil + the bridge + `zkcar run`: deposits, signed transfers and withdrawals,
# proven batches, `zkcar verify`, a summary). Flags go to `zkcar demo`
# (e.g. --keep to leave it running until Ctrl-C; --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH"
export ZKCAR_SOURCE_DIR="$PWD" ZKCAR_NODE_MODULES="$PWD/node_modules"
exec build/zkcar demo "$@"
