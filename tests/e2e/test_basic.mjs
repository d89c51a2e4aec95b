// tests/e2e/test_basic.mjs — the rollup end to end (issue 7): anvil + the
// bridge + `zkcar run` + wallets written with ethers.
//
// Four wallets get deposits on L1; they sign transfers (one creating a new
// account) and withdrawals with signTypedData and send them over the API;
// every transaction reaches `proven`. Then the end state is checked against
// the test's own model (balances, nonces, the root recomputed from scratch
// by tests/e2e/e2e_root.c, the batches' roots, counts and withdrawals),
// `zkcar verify` accepts every artifact (and refuses altered copies), `zkcar
// query` agrees with the API, bad input over the API gets the SPEC §4 answer
// and changes nothing (also a flood beyond the mempool: 1005), /metrics
// passes `promtool check metrics`, the
// Grafana dashboard and the alert rules in deploy/ name only metrics the
// daemon exports, and SIGTERM stops the daemon with exit 0.
import fs from 'node:fs';
import path from 'node:path';
import {
  ethers, L1, Sidecar, Model, SRC, log, assert, assertEq, waitFor, tempDir, signTx, waitProven,
  checkFinalState, checkMetrics, metricFamilies, run, SANITIZED,
} from './lib.mjs';

const E = {
  BAD_SIGNATURE: 1001, WRONG_NONCE: 1002, INSUFFICIENT: 1003, RANGE: 1004,
  PARSE: -32700, INVALID_REQUEST: -32600, NO_METHOD: -32601, INVALID_PARAMS: -32602,
};

async function expectError(sc, params, code, what) {
  const r = await sc.call('zkcar_sendTransaction', [params]);
  assert(r.error && r.error.code === code, `${what}: expected error ${code}, got ${JSON.stringify(r)}`);
  assert(typeof r.error.message === 'string' && r.error.message.length > 0, `${what}: no message`);
}

// The metric names a PromQL/JSON text refers to, without histogram suffixes.
function referencedMetrics(text, families) {
  const names = new Set(text.match(/zkcar_[a-z0-9_]+/g) || []);
  const out = new Set();
  for (const n of names) {
    const base = n.replace(/_(bucket|sum|count)$/, '');
    out.add(families.has(n) ? n : (families.get(base) === 'histogram' ? base : n));
  }
  return [...out];
}

async function badInput(sc, l1, W, model) {
  const bridge = l1.bridgeAddress;
  const w0 = W[0], a0 = model.get(w0.address);
  const before = await sc.account(w0.address);
  const next = a0.nonce;
  // 1001: signed by another key; also a malformed signature and a high-s twin.
  const forged = await signTx(bridge, w0, 'transfer', W[1].address, 5, 0, next, W[1]);
  await expectError(sc, forged.params, E.BAD_SIGNATURE, 'a transfer signed by another wallet');
  const good = await signTx(bridge, w0, 'transfer', W[1].address, 5, 0, next);
  const sig = ethers.Signature.from(good.params.signature);
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const highS = ethers.concat([sig.r, ethers.toBeHex(n - BigInt(sig.s), 32), sig.v === 27 ? '0x1c' : '0x1b']);
  await expectError(sc, { ...good.params, signature: highS }, E.BAD_SIGNATURE, 'the high-s twin of a signature');
  await expectError(sc, { ...good.params, amount: '6' }, E.BAD_SIGNATURE, 'a signed transfer with the amount changed');
  // 1002: a nonce already used, and one ahead of the next.
  const replay = await signTx(bridge, w0, 'transfer', W[1].address, 5, 0, next - 1);
  await expectError(sc, replay.params, E.WRONG_NONCE, 'a replayed nonce');
  const ahead = await signTx(bridge, w0, 'transfer', W[1].address, 5, 0, next + 1);
  await expectError(sc, ahead.params, E.WRONG_NONCE, 'a nonce ahead of the next');
  // 1003: one gwei more than the balance (amount + fee).
  const over = await signTx(bridge, w0, 'withdraw', w0.address, a0.balance, 1, next);
  await expectError(sc, over.params, E.INSUFFICIENT, 'an overdraft');
  // 1004: amount >= 2^63, amount 0, amount + fee >= 2^63.
  const big = await signTx(bridge, w0, 'transfer', W[1].address, 1n << 63n, 0, next);
  await expectError(sc, big.params, E.RANGE, 'amount 2^63');
  const zero = await signTx(bridge, w0, 'transfer', W[1].address, 0, 0, next);
  await expectError(sc, zero.params, E.RANGE, 'amount 0');
  const sum = await signTx(bridge, w0, 'transfer', W[1].address, (1n << 62n), (1n << 62n), next);
  await expectError(sc, sum.params, E.RANGE, 'amount + fee = 2^63');
  // -32602: wrong types and missing fields.
  await expectError(sc, { ...good.params, amount: 5 }, E.INVALID_PARAMS, 'amount as a JSON number');
  await expectError(sc, { ...good.params, nonce: String(next) }, E.INVALID_PARAMS, 'nonce as a string');
  await expectError(sc, { ...good.params, type: 'mint' }, E.INVALID_PARAMS, 'an unknown type');
  await expectError(sc, { ...good.params, to: '0x1234' }, E.INVALID_PARAMS, 'a short address');
  const { signature: _drop, ...unsigned } = good.params;
  await expectError(sc, unsigned, E.INVALID_PARAMS, 'no signature');
  // -32700, -32600, -32601.
  for (const [body, code, what] of [
    ['{"jsonrpc":"2.0","id":1,"method":"zkcar_status"', E.PARSE, 'truncated JSON'],
    ['\xff\xfe not json', E.PARSE, 'bytes that are not JSON'],
    ['{"jsonrpc":"2.0","id":1}', E.INVALID_REQUEST, 'a request without a method'],
    ['[]', E.INVALID_REQUEST, 'an empty batch'],
    ['{"jsonrpc":"2.0","id":1,"method":"zkcar_mint","params":[]}', E.NO_METHOD, 'an unknown method'],
  ]) {
    const r = await sc.raw(body);
    assert(r.error && r.error.code === code, `${what}: expected ${code}, got ${JSON.stringify(r)}`);
  }
  // An oversized body: HTTP 413, readable by the client.
  const huge = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'zkcar_status', params: ['x'.repeat(4 << 20)] });
  const res = await fetch(sc.api, { method: 'POST', body: huge, headers: { 'content-type': 'application/json' } });
  assertEq(res.status, 413, 'HTTP status for a 4 MiB body');
  await res.arrayBuffer();
  // Batch requests and CORS.
  const batch = await sc.raw(JSON.stringify([
    { jsonrpc: '2.0', id: 7, method: 'zkcar_getAccount', params: [w0.address] },
    { jsonrpc: '2.0', id: 8, method: 'zkcar_nope', params: [] },
  ]));
  assert(Array.isArray(batch) && batch.length === 2, `a batch of two: ${JSON.stringify(batch)}`);
  const byId = Object.fromEntries(batch.map((r) => [r.id, r]));
  assertEq(byId[7].result, before, 'the batch\'s getAccount');
  assertEq(byId[8].error.code, E.NO_METHOD, 'the batch\'s unknown method');
  const pre = await fetch(sc.api, { method: 'OPTIONS', headers: { origin: 'http://wallet.example', 'access-control-request-method': 'POST' } });
  assert(pre.headers.get('access-control-allow-origin'), 'no CORS header on a preflight');
  // Nothing changed, and the daemon still serves.
  assertEq(await sc.account(w0.address), before, 'the account after bad input');
  assert((await sc.status()).chainId === Number(31337), 'status after bad input');
}

run('e2e_basic', async () => {
  const dir = tempDir('basic');
  const l1 = await L1.start(dir);
  await l1.deployBridge();
  log(`anvil ${l1.url}, bridge ${l1.bridgeAddress} in block ${l1.bridgeBlock}`);
  const operator = ethers.Wallet.createRandom().address;
  const model = new Model(operator);
  const W = Array.from({ length: 4 }, () => ethers.Wallet.createRandom());
  const newcomer = ethers.Wallet.createRandom().address;
  const payees = W.map(() => ethers.Wallet.createRandom().address);

  // Small batches give several batches to chain up; under the sanitizers,
  // where each proof takes ~30x longer, two or three larger ones.
  const sc = await Sidecar.start({ l1, dataDir: path.join(dir, 'data'), operator, confirmations: 2,
    batchSize: SANITIZED ? 32 : 8, batchIntervalMs: SANITIZED ? 1500 : 300 });
  log(`zkcar run: API ${sc.api}, metrics ${sc.metrics}`);
  const st0 = await sc.status();
  assertEq([st0.chainId, st0.bridge.toLowerCase(), st0.lastBatch, st0.lastProvenBatch],
    [31337, l1.bridgeAddress.toLowerCase(), 0, 0], 'status at start');

  // Deposits: dev account i+1 -> wallet i, and a second one to wallet 0.
  const deposits = [];
  for (let i = 0; i < W.length; i++) deposits.push({ from: i + 1, to: W[i].address, gwei: 1000000n * BigInt(i + 1) });
  deposits.push({ from: 5, to: W[0].address, gwei: 5000n });
  for (const d of deposits) {
    Object.assign(d, await l1.deposit(d.from, d.to, d.gwei));
    model.deposit(d.to, d.gwei);
  }
  // The last deposit has 1 confirmation: it must wait for the second.
  await waitFor('the first deposits to be credited', 60000, async () => (await sc.deposit(3))?.status === 'credited');
  const lastDep = await sc.deposit(4);
  assert(lastDep === null || lastDep.status === 'pending_confirmations',
    `deposit 4 with one confirmation of two: ${JSON.stringify(lastDep)}`);
  await l1.mine(1);
  await waitFor('every deposit to be credited', 60000, async () => (await sc.deposit(4))?.status === 'credited');
  for (let k = 0; k < deposits.length; k++) {
    const d = await sc.deposit(k), want = deposits[k];
    assertEq([d.depositId, d.status, d.from.toLowerCase(), d.to.toLowerCase(), d.amount, d.l1BlockNumber, d.l1TxHash],
      [k, 'credited', l1.accounts[want.from].toLowerCase(), want.to.toLowerCase(), String(want.gwei), want.block, want.hash],
      `zkcar_getDeposit(${k})`);
  }
  assertEq(await sc.deposit(deposits.length), null, 'an unknown deposit id');

  // Transactions: per wallet in nonce order, wallets in parallel.
  const plans = W.map(() => []);
  for (let r = 0; r < 3; r++)
    for (let i = 0; i < W.length; i++)
      plans[i].push({ type: 'transfer', to: W[(i + 1) % W.length].address, amount: 1000 + 10 * r + i, fee: r });
  for (let i = 0; i < W.length; i++) plans[i].push({ type: 'withdraw', to: payees[i], amount: 100 + i, fee: 1 });
  plans[3].push({ type: 'transfer', to: newcomer, amount: 777, fee: 3 });
  const hashes = [];
  const sent = [];
  await Promise.all(W.map(async (w, i) => {
    let nonce = 0;
    for (const p of plans[i]) {
      const s = await signTx(l1.bridgeAddress, w, p.type, p.to, p.amount, p.fee, nonce);
      const r = await sc.call('zkcar_sendTransaction', [s.params]);
      assert(r.result, `sendTransaction ${JSON.stringify(s.params)}: ${JSON.stringify(r)}`);
      assertEq(r.result.toLowerCase(), s.hash.toLowerCase(), 'the transaction hash (the EIP-712 digest)');
      hashes.push(r.result);
      sent.push(s);
      nonce++;
    }
  }));
  for (const s of sent) model.apply(s.params);
  log(`${hashes.length} transactions accepted`);
  // A pending transaction as the API shows it.
  const t = await sc.tx(sent[0].hash);
  assertEq([t.hash.toLowerCase(), t.type, t.from.toLowerCase(), t.to.toLowerCase(), t.amount, t.fee, t.nonce],
    [sent[0].hash, sent[0].params.type, sent[0].params.from.toLowerCase(), sent[0].params.to.toLowerCase(),
      sent[0].params.amount, sent[0].params.fee, sent[0].params.nonce], 'zkcar_getTransaction');
  assert(['pending', 'sealed', 'proven'].includes(t.status), `status ${t.status}`);
  assertEq(await sc.tx('0x' + '00'.repeat(32)), null, 'an unknown transaction hash');

  await waitProven(sc, hashes, 180000);
  log('every transaction proven');
  // Bad input once nothing is in flight: the account it is checked against
  // (provenBalance included) must then stay exactly as it was.
  await badInput(sc, l1, W, model);
  log('bad input answered as specified');
  const st = await checkFinalState(sc, model, { ntx: hashes.length, ndeposits: deposits.length });
  log(`end state matches the model: ${st.accounts} accounts, ${st.lastBatch} batches, root ${st.stateRoot}`);

  const text = await checkMetrics(sc.metrics, dir);
  const fams = metricFamilies(text);
  for (const name of ['zkcar_l1_head_block', 'zkcar_l1_confirmed_block', 'zkcar_deposits_credited_total',
    'zkcar_l2_transactions_total', 'zkcar_mempool_transactions', 'zkcar_accounts', 'zkcar_batches_total',
    'zkcar_batch_prove_seconds', 'zkcar_prover_stage_seconds', 'zkcar_latency_backend_info'])
    assert(fams.has(name), `/metrics has no ${name}`);
  const value = (re) => { const m = re.exec(text); return m ? Number(m[1]) : NaN; };
  assertEq(value(/^zkcar_deposits_credited_total(?:\{\})? (\S+)$/m), deposits.length, 'zkcar_deposits_credited_total');
  assertEq(value(/^zkcar_accounts(?:\{\})? (\S+)$/m), st.accounts, 'zkcar_accounts');
  assertEq(value(/^zkcar_batches_total\{status="proven"\} (\S+)$/m), st.lastBatch, 'zkcar_batches_total{status="proven"}');
  assertEq(value(/^zkcar_batch_prove_seconds_count(?:\{\})? (\S+)$/m), st.lastBatch, 'zkcar_batch_prove_seconds_count');
  // deploy/: the dashboard and the alert rules refer only to exported metrics.
  for (const f of ['deploy/grafana/zkcar-dashboard.json', 'deploy/prometheus/alerts.yml']) {
    const missing = referencedMetrics(fs.readFileSync(path.join(SRC, f), 'utf8'), fams).filter((n) => !fams.has(n));
    assertEq(missing, [], `${f}: metrics the daemon does not export`);
  }
  log('/metrics passes promtool; deploy/ names only exported metrics');

  await sc.stop();
  log('SIGTERM: exit 0');

  // A flood beyond the mempool: restarted with room for 3 unsealed
  // transactions and no sealing, the 4th gets 1005 and changes nothing; the
  // state survived the clean restart.
  const accountsBefore = model.existing();
  sc.opts.extra = ['--mempool-max', '3'];
  sc.opts.batchSize = 1000;
  sc.opts.batchIntervalMs = 3600000;
  await sc.restart();
  for (const a of accountsBefore) {
    const got = await sc.account(a.address);
    assertEq([got.balance, got.nonce], [String(a.balance), a.nonce], `account ${a.address} after a clean restart`);
  }
  const w1 = W[1], n1 = model.get(w1.address).nonce;
  for (let k = 0; k < 3; k++) {
    const s = await signTx(l1.bridgeAddress, w1, 'transfer', W[2].address, 1, 0, n1 + k);
    assert((await sc.call('zkcar_sendTransaction', [s.params])).result, `transaction ${k} of 3 into the mempool`);
  }
  const extra = await signTx(l1.bridgeAddress, w1, 'transfer', W[2].address, 1, 0, n1 + 3);
  await expectError(sc, extra.params, 1005, 'a transaction beyond a full mempool');
  assertEq((await sc.account(w1.address)).nonce, n1 + 3, 'the next nonce after the refused transaction');
  assertEq((await sc.status()).pendingTxs, 3, 'status.pendingTxs with a full mempool');
  await sc.stop();
  log('mempool full: 1005, nothing changed, the daemon kept serving');
});
