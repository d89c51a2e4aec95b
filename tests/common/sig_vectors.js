// Writes random EIP-712 Transfer/Withdraw signatures made by ethers (the outside
// oracle for tests/common/test_sig_ethers.c), one JSON object per line:
//   {"chainId":"…","verifyingContract":"0x…","type":"transfer","from":"0x…","to":"0x…",
//    "amount":"…","fee":"…","nonce":N,"digest":"0x…","structHash":"0x…","signature":"0x…"}
// `from` is the signer (a fresh Wallet.createRandom() per vector, ethers' own
// checksummed address). Random chain ids (up to 2^64 - 1), bridge addresses,
// amounts/fees up to 2^63 - 1 and nonces up to 2^32 - 1, with edge values mixed in.
//
//   node tests/common/sig_vectors.js COUNT
// ethers is loaded from $ZKCAR_NODE_MODULES (set by CTest) or NODE_PATH.
'use strict';
const modules = process.env.ZKCAR_NODE_MODULES;
const ethers = require(modules ? modules + '/ethers' : 'ethers');
const { Wallet, TypedDataEncoder, getAddress, hexlify, randomBytes } = ethers;

const count = Number(process.argv[2] || 1000);
const fields = [
  { name: 'from', type: 'address' },
  { name: 'to', type: 'address' },
  { name: 'amount', type: 'uint64' },
  { name: 'fee', type: 'uint64' },
  { name: 'nonce', type: 'uint32' },
];

function randBig(bits) {
  const bytes = randomBytes(Math.ceil(bits / 8));
  let v = BigInt(hexlify(bytes));
  // also produce small values often: shift right by a random amount
  v >>= BigInt(Math.floor(Math.random() * bits));
  return v & ((1n << BigInt(bits)) - 1n);
}

function pick(edge, random) {
  return Math.random() < 0.1 ? edge[Math.floor(Math.random() * edge.length)] : random();
}

async function main() {
  const max63 = (1n << 63n) - 1n;
  for (let i = 0; i < count; i++) {
    const wallet = Wallet.createRandom();
    const domain = {
      name: 'zkcar',
      version: '1',
      chainId: pick([1n, 31337n, (1n << 64n) - 1n], () => randBig(64)),
      verifyingContract: getAddress(hexlify(randomBytes(20))),
    };
    const kind = Math.random() < 0.5 ? 'Transfer' : 'Withdraw';
    const amount = pick([1n, max63], () => randBig(63) || 1n);
    const value = {
      from: wallet.address,
      to: getAddress(hexlify(randomBytes(20))),
      amount,
      // amount + fee < 2^63, as the range rule requires
      fee: pick([0n, max63 - amount], () => randBig(63) % (max63 - amount + 1n)),
      nonce: Number(pick([0n, 4294967295n], () => randBig(32))),
    };
    const types = { [kind]: fields };
    const signature = await wallet.signTypedData(domain, types, value);
    const line = {
      chainId: domain.chainId.toString(),
      verifyingContract: domain.verifyingContract,
      type: kind.toLowerCase(),
      from: value.from,
      to: value.to,
      amount: value.amount.toString(),
      fee: value.fee.toString(),
      nonce: value.nonce,
      structHash: TypedDataEncoder.from(types).hash(value),
      digest: TypedDataEncoder.hash(domain, types, value),
      signature,
    };
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
