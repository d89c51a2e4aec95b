// tests/e2e/test_kill9.mjs — `kill -9` of `zkcar run` under a steady load of
// transactions (issue 7, SPEC §6): after a restart on the same data dir,
// every transaction the API acknowledged is present and is eventually
// proven; nothing is duplicated (each sender's nonces are dense, the batches
// hold exactly the transactions present, balances match the model built
// from them); transactions in flight at the kill may or may not have been
// kept, but never half. Then the daemon takes new transactions, and the end
// state passes the same checks as test_basic (root from scratch, verify,
// query).
import path from 'node:path';
import {
  ethers, L1, Sidecar, Model, log, assert, assertEq, waitFor, tempDir, signTx, waitProven, sleep,
  checkFinalState, run, SANITIZED,
} from './lib.mjs';

const LOAD_MS = Number(process.env.ZKCAR_E2E_LOAD_MS || 5000);
const KILL_AFTER = SANITIZED ? 30 : 90; // acknowledged transactions before the kill

run('e2e_kill9', async () => {
  const dir = tempDir('kill9');
  const l1 = await L1.start(dir);
  await l1.deployBridge();
  const operator = ethers.Wallet.createRandom().address;
  const model = new Model(operator);
  const W = Array.from({ length: 3 }, () => ethers.Wallet.createRandom());
  const sink = ethers.Wallet.createRandom().address;
  const sc = await Sidecar.start({ l1, dataDir: path.join(dir, 'data'), operator, confirmations: 1,
    batchSize: 64, batchIntervalMs: 2000 });
  for (let i = 0; i < W.length; i++) {
    await l1.deposit(i + 1, W[i].address, 10000000n);
    model.deposit(W[i].address, 10000000n);
  }
  await waitFor('the deposits to be credited', 60000, async () => (await sc.deposit(W.length - 1))?.status === 'credited');

  const present = [];   // every transaction the daemon holds, acknowledged or not
  // One round: steady load — each wallet sends transfers in nonce order as
  // fast as the daemon acknowledges them — then kill -9 once `killAfter` are
  // acknowledged, restart, and check.
  const round = async (name, killAfter) => {
    const acked = W.map(() => []);      // acknowledged, in nonce order
    const inFlight = W.map(() => null); // the one sent when the connection broke
    let killed = false;
    const loads = W.map(async (w, i) => {
      for (let nonce = model.get(w.address).nonce; ; nonce++) {
        const s = await signTx(l1.bridgeAddress, w, 'transfer', sink, 10 + (nonce % 7), nonce % 3, nonce);
        let r;
        try {
          r = await sc.call('zkcar_sendTransaction', [s.params]);
        } catch (e) {
          assert(killed, `sendTransaction failed before the kill: ${e.message}`);
          inFlight[i] = s;
          return;
        }
        assert(r.result, `sendTransaction: ${JSON.stringify(r)}`);
        assertEq(r.result.toLowerCase(), s.hash.toLowerCase(), 'the transaction hash');
        acked[i].push(s);
        if (killed) return; // answered just before the kill landed
      }
    });
    const t0 = Date.now();
    while (Date.now() - t0 < LOAD_MS && acked.reduce((a, l) => a + l.length, 0) < killAfter) await sleep(2);
    killed = true;
    await sc.kill9();
    await Promise.all(loads);
    const nacked = acked.reduce((a, l) => a + l.length, 0);
    const st = await (async () => { await sc.restart(); return sc.status(); })();
    log(`${name}: kill -9 after ${nacked} acknowledged transactions; restarted (last batch ${st.lastBatch})`);
    assert(nacked >= 5, `only ${nacked} transactions acknowledged in ${LOAD_MS} ms`);
    for (let i = 0; i < W.length; i++) {
      const mine = [...acked[i]];
      for (const s of mine) {
        const t = await sc.tx(s.hash);
        assert(t !== null, `${name}: acknowledged transaction ${s.hash} (nonce ${s.params.nonce}) lost in the kill`);
        assert(t.status !== 'rejected', `${name}: acknowledged transaction ${s.hash} rejected after the restart: ${t.error}`);
      }
      if (inFlight[i]) {
        const t = await sc.tx(inFlight[i].hash);
        if (t !== null) mine.push(inFlight[i]); // durable before the kill, unacknowledged: kept whole
      }
      for (const s of mine) model.apply(s.params);
      present.push(...mine);
      const acct = await sc.account(W[i].address);
      const want = model.get(W[i].address);
      assertEq([acct.nonce, acct.balance], [want.nonce, String(want.balance)],
        `${name}: wallet ${i}'s next nonce and balance after the restart (every transaction kept counted once)`);
    }
  };
  // Killed early: the deposits and the transactions not sealed yet (the
  // batch interval is longer than the load).
  await round('before any seal', Math.min(KILL_AFTER, 20));
  // Killed with batches sealed (maybe in proof) and under a load of more
  // than a batch (64): a seal by size happens during it.
  await waitFor('the first batch to be sealed', 30000, async () => (await sc.status()).lastBatch >= 1);
  await round('across seals', KILL_AFTER);

  // New transactions after the restarts, at the next nonces.
  for (let i = 0; i < W.length; i++) {
    const nonce = model.get(W[i].address).nonce;
    const s = await signTx(l1.bridgeAddress, W[i], 'withdraw', W[i].address, 1000, 1, nonce);
    assertEq((await sc.call('zkcar_sendTransaction', [s.params])).result?.toLowerCase(), s.hash, 'a withdrawal after the restart');
    present.push(s);
    model.apply(s.params);
  }
  await waitProven(sc, present.map((s) => s.hash), 240000);
  const st = await checkFinalState(sc, model, { ntx: present.length, ndeposits: W.length });
  log(`${present.length} transactions proven in ${st.lastBatch} batches, none lost or duplicated`);
  await sc.stop();
});
