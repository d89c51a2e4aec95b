// tests/e2e/test_workers.mjs — distributed proving end to end (issue 7):
// `zkcar run --prover-threads 0 --workers ENDPOINT` with two `zkcar worker`s;
// the worker that is proving a batch is killed with SIGKILL mid-proof; the
// batch is still proven (by the other worker, once the dispatcher has given
// the job back) and every later batch too. The end state passes the same
// checks as test_basic.
// The link is authenticated and encrypted with ZeroMQ CURVE (`zkcar keygen`,
// --workers-key/--workers-allow, --server-key/--key): a third worker whose key
// is not in the allow file runs beside them and never gets a job.
import fs from 'node:fs';
import path from 'node:path';
import {
  ethers, L1, Sidecar, Worker, Model, log, assert, assertEq, waitFor, tempDir, signTx, waitProven,
  checkFinalState, checkMetrics, freePort, run, zkcar, SANITIZED,
} from './lib.mjs';

// `zkcar keygen DIR/NAME.key`: returns the key file and the public key it printed.
function keygen(dir, name) {
  const file = path.join(dir, `${name}.key`);
  const r = zkcar(['keygen', file]);
  assertEq(r.status, 0, `zkcar keygen ${name} (${r.stderr})`);
  const pub = r.stdout.trim();
  assertEq(pub.length, 40, 'a Z85 public key');
  assertEq((fs.statSync(file).mode & 0o777), 0o600, 'the secret key file mode');
  return { file, pub };
}

run('e2e_workers', async () => {
  const dir = tempDir('workers');
  const l1 = await L1.start(dir);
  await l1.deployBridge();
  const operator = ethers.Wallet.createRandom().address;
  const model = new Model(operator);
  const endpoint = `tcp://127.0.0.1:${await freePort()}`;
  const server = keygen(dir, 'server');
  const keys = { a: keygen(dir, 'a'), b: keygen(dir, 'b'), rogue: keygen(dir, 'rogue') };
  const allow = path.join(dir, 'workers.allow');
  fs.writeFileSync(allow, `# the workers\n${keys.a.pub}\n${fs.readFileSync(`${keys.b.file}.pub`, 'utf8')}`);
  const sc = await Sidecar.start({ l1, dataDir: path.join(dir, 'data'), operator, confirmations: 1,
    batchSize: 16, batchIntervalMs: SANITIZED ? 1500 : 300, proverThreads: 0, workers: endpoint,
    extra: ['--workers-key', server.file, '--workers-allow', allow] });
  const curve = (k) => ['--server-key', server.pub, '--key', k.file];
  const workers = [new Worker(endpoint, dir, 'a', curve(keys.a)), new Worker(endpoint, dir, 'b', curve(keys.b))];
  const rogue = new Worker(endpoint, dir, 'rogue', curve(keys.rogue));
  const idleCpu = workers.map((w) => w.child.cpuSeconds());

  const W = Array.from({ length: 3 }, () => ethers.Wallet.createRandom());
  for (let i = 0; i < W.length; i++) {
    await l1.deposit(i + 1, W[i].address, 5000000n);
    model.deposit(W[i].address, 5000000n);
  }
  const hashes = [];
  const send = async (i, type, to, amount, fee) => {
    const nonce = model.get(W[i].address).nonce;
    const s = await signTx(l1.bridgeAddress, W[i], type, to, amount, fee, nonce);
    const r = await sc.call('zkcar_sendTransaction', [s.params]);
    assert(r.result, `sendTransaction: ${JSON.stringify(r)}`);
    model.apply(s.params);
    hashes.push(r.result);
  };
  await waitFor('the deposits to be credited', 60000, async () => (await sc.deposit(W.length - 1))?.status === 'credited');
  for (let k = 0; k < 12; k++) await send(k % 3, 'transfer', W[(k + 1) % 3].address, 100 + k, 1);

  // The first worker seen burning CPU (>= 50 ms of CPU within 250 ms; an
  // idle worker only heartbeats) while a batch waits for its proof is
  // proving it: kill it there.
  const samples = workers.map(() => []);
  const victim = await waitFor('a worker to start proving', 120000, async () => {
    const st = await sc.status();
    const now = Date.now();
    for (let i = 0; i < workers.length; i++) {
      samples[i].push({ t: now, cpu: workers[i].child.cpuSeconds() });
      while (samples[i].length > 1 && now - samples[i][0].t > 250) samples[i].shift();
    }
    if (st.lastProvenBatch >= st.lastBatch) return null;
    for (let i = 0; i < workers.length; i++) {
      const q = samples[i];
      if (q.length > 1 && q[q.length - 1].cpu - q[0].cpu >= 0.05) return { i, st };
    }
    return null;
  }, 20);
  await workers[victim.i].child.kill9();
  // As seen just before the kill: the first batch without a proof.
  const inProof = victim.st.lastProvenBatch + 1;
  log(`killed worker ${victim.i} while batch ${inProof} waited for its proof (last sealed ${victim.st.lastBatch})`);

  // More work after the kill, for the surviving worker alone.
  for (let k = 0; k < 3; k++) await send(k, 'withdraw', W[k].address, 50, 2);
  await waitProven(sc, hashes, 240000);
  assertEq((await sc.batch(inProof)).status, 'proven', `batch ${inProof} after its worker died`);
  assert(workers[1 - victim.i].child.running(), 'the surviving worker exited');
  assert(workers[1 - victim.i].child.cpuSeconds() - idleCpu[1 - victim.i] > 0.2, 'the surviving worker proved nothing');
  const st = await checkFinalState(sc, model, { ntx: hashes.length, ndeposits: W.length });
  log(`${st.lastBatch} batches proven by remote workers after one died mid-proof`);
  // The rogue worker was refused at each handshake and never got a job.
  const rlog = fs.readFileSync(rogue.logFile, 'utf8');
  assert(rlog.includes('refused this worker\'s key'), `the rogue worker's log says why:\n${rlog}`);
  assert(!rlog.includes('job received') && !rlog.includes('connected to the dispatcher'), 'the rogue worker got in');
  const metrics = await checkMetrics(sc.metrics, dir); // promtool-clean, with the dispatcher's series
  const refused = /^zkcar_remote_workers_refused_total\{reason="key"\} (\d+)$/m.exec(metrics);
  assert(refused && Number(refused[1]) >= 1, `refused handshakes counted:\n${metrics}`);
  assert(rogue.child.running(), 'the rogue worker exited');
  await rogue.child.stop(30000);
  await sc.stop();
  const r = await workers[1 - victim.i].child.stop(30000);
  assertEq(r.code, 0, 'zkcar worker exit after SIGTERM');
});
