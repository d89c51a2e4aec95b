// bench/circom/batch_update.circom — the batch AIR's statement for an outside
// prover (circom 2 + snarkjs Groth16 over BN254), for docs/BENCHMARKS.md only:
// U leaf updates chained from oldRoot, each as in prover/airs/batch.h — the
// leaf [tag, a0..a4, balance, nonce] hashed old and new, balance + delta with
// the new balance range-checked to 63 bits, nonce + inc, and the old and new
// paths of a depth-32 tree with shared siblings, the path bits from the public
// id. Poseidon here is circomlib's (BN254, width 3 / 9), not our Goldilocks
// Poseidon2: the point is the cost of the same amount of hashing and checks.
pragma circom 2.0.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/switcher.circom";

template LeafUpdate(depth) {
    signal input oldRoot;
    signal input id;
    signal input addr[5];
    signal input delta;
    signal input ninc;
    signal input oldBal;
    signal input oldNonce;
    signal input siblings[depth];
    signal output newRoot;

    component ol = Poseidon(8);
    component nl = Poseidon(8);
    ol.inputs[0] <== 1818583398;
    nl.inputs[0] <== 1818583398;
    for (var i = 0; i < 5; i++) {
        ol.inputs[1 + i] <== addr[i];
        nl.inputs[1 + i] <== addr[i];
    }
    ol.inputs[6] <== oldBal;
    ol.inputs[7] <== oldNonce;
    signal newBal;
    newBal <== oldBal + delta;
    component range = Num2Bits(63);
    range.in <== newBal;
    nl.inputs[6] <== newBal;
    nl.inputs[7] <== oldNonce + ninc;

    component bits = Num2Bits(depth);
    bits.in <== id;
    component so[depth];
    component sn[depth];
    component ho[depth];
    component hn[depth];
    for (var l = 0; l < depth; l++) {
        so[l] = Switcher();
        sn[l] = Switcher();
        ho[l] = Poseidon(2);
        hn[l] = Poseidon(2);
        so[l].sel <== bits.out[l];
        sn[l].sel <== bits.out[l];
        so[l].L <== l == 0 ? ol.out : ho[l - 1].out;
        sn[l].L <== l == 0 ? nl.out : hn[l - 1].out;
        so[l].R <== siblings[l];
        sn[l].R <== siblings[l];
        ho[l].inputs[0] <== so[l].outL;
        ho[l].inputs[1] <== so[l].outR;
        hn[l].inputs[0] <== sn[l].outL;
        hn[l].inputs[1] <== sn[l].outR;
    }
    oldRoot === ho[depth - 1].out;
    newRoot <== hn[depth - 1].out;
}

template Batch(U, depth) {
    signal input oldRoot;
    signal input id[U];
    signal input addr[U][5];
    signal input delta[U];
    signal input ninc[U];
    signal input oldBal[U];
    signal input oldNonce[U];
    signal input siblings[U][depth];
    signal output newRoot;
    component up[U];
    for (var k = 0; k < U; k++) {
        up[k] = LeafUpdate(depth);
        up[k].oldRoot <== k == 0 ? oldRoot : up[k - 1].newRoot;
        up[k].id <== id[k];
        for (var i = 0; i < 5; i++)
            up[k].addr[i] <== addr[k][i];
        up[k].delta <== delta[k];
        up[k].ninc <== ninc[k];
        up[k].oldBal <== oldBal[k];
        up[k].oldNonce <== oldNonce[k];
        for (var l = 0; l < depth; l++)
            up[k].siblings[l] <== siblings[k][l];
    }
    newRoot <== up[U - 1].newRoot;
}

// One leaf update (a transfer is two; run.sh scales the figure per transfer).
component main {public [oldRoot, id, addr, delta, ninc]} = Batch(1, 32);
