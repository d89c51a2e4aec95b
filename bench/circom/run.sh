#!/bin/sh
# bench/circom/run.sh — the outside-prover comparison of docs/BENCHMARKS.md
# ("Batch prover (issue 5)"): the batch AIR's per-update statement
# (batch_update.circom) in circom 2 + snarkjs Groth16 over BN254.
# Needs network access to the npm registry once; works in a scratch directory
# (default /tmp/zkcar-circom), never in the repository's node_modules.
# Usage: bench/circom/run.sh [WORKDIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-/tmp/zkcar-circom}
mkdir -p "$work/out"
cp "$here/batch_update.circom" "$here/gen_input.js" "$work/"
cd "$work"
[ -f package.json ] || npm init -y > /dev/null
[ -d node_modules/snarkjs ] || npm install --no-audit --no-fund circom2@0.2.23 circomlib@2.0.5 circomlibjs@0.1.7 snarkjs@0.7.6 > /dev/null
S="npx snarkjs"
secs() { start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N); echo "$end - $start" | bc; }
echo "compile_s $(secs npx circom2 batch_update.circom --r1cs --wasm -l node_modules -o out)"
$S r1cs info out/batch_update.r1cs | grep -i constraints
if [ ! -f pot.ptau ]; then
    $S powersoftau new bn128 16 pot_0.ptau > /dev/null
    $S powersoftau contribute pot_0.ptau pot_1.ptau --name=bench -e=zkcar-bench-entropy > /dev/null
    $S powersoftau prepare phase2 pot_1.ptau pot.ptau > /dev/null
fi
echo "setup_s $(secs $S groth16 setup out/batch_update.r1cs pot.ptau key.zkey)"
$S zkey export verificationkey key.zkey vkey.json > /dev/null
node gen_input.js > input.json
for i in 1 2 3; do
    echo "witness_s $(secs node out/batch_update_js/generate_witness.js out/batch_update_js/batch_update.wasm input.json w.wtns)"
    echo "prove_s $(secs $S groth16 prove key.zkey w.wtns proof.json public.json)"
    echo "verify_s $(secs $S groth16 verify vkey.json public.json proof.json)"
done
