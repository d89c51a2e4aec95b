// bench/circom/gen_input.js — a valid input for batch_update.circom's
// Batch(1, 32): one update of a random account in a tree with random siblings,
// with circomlibjs's Poseidon (the same as circomlib's circuits).
// Usage: node gen_input.js > input.json
const { buildPoseidon } = require("circomlibjs");

(async () => {
    const U = 1, depth = 32;
    const poseidon = await buildPoseidon();
    const F = poseidon.F;
    const h = (xs) => F.toObject(poseidon(xs));
    let seed = 12345n;
    const rnd = (bits) => {
        seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
        return seed >> (64n - BigInt(bits));
    };
    const tag = 0x6c656166n;
    const inp = { id: [], addr: [], delta: [], ninc: [], oldBal: [], oldNonce: [], siblings: [] };
    let root = null;
    for (let k = 0; k < U; k++) {
        const id = rnd(30), addr = [0, 1, 2, 3, 4].map(() => rnd(32));
        const bal = rnd(40), nonce = rnd(16), delta = rnd(20), ninc = 0n;
        const sib = Array.from({ length: depth }, () => rnd(60));
        const fold = (leaf) => {
            let cur = leaf;
            for (let l = 0; l < depth; l++)
                cur = ((id >> BigInt(l)) & 1n) ? h([sib[l], cur]) : h([cur, sib[l]]);
            return cur;
        };
        const oldRoot = fold(h([tag, ...addr, bal, nonce]));
        if (k === 0) root = oldRoot;
        inp.id.push(id.toString());
        inp.addr.push(addr.map(String));
        inp.delta.push(delta.toString());
        inp.ninc.push(ninc.toString());
        inp.oldBal.push(bal.toString());
        inp.oldNonce.push(nonce.toString());
        inp.siblings.push(sib.map(String));
    }
    inp.oldRoot = root.toString();
    process.stdout.write(JSON.stringify(inp));
})();
