// tests/e2e/lib.mjs — the parts the end-to-end tests are made of: a real
// anvil, the checked-in bridge deployed with ethers, `zkcar run` / `zkcar
// worker` as child processes, a JSON-RPC client for the sidecar's API, and
// L2 transactions signed with ethers' Wallet.signTypedData (the way wallets
// sign them, SPEC §3). Every child is killed when the test exits, however it
// exits; temporary directories are removed unless ZKCAR_E2E_KEEP=1.
//
// Environment (set by CTest, see tests/CMakeLists.txt): ZKCAR_BIN (the zkcar
// binary), ZKCAR_SOURCE_DIR, ZKCAR_NODE_MODULES; ZKCAR_E2E_ROOT (the e2e_root
// helper) is passed by tests/e2e/CMakeLists.txt.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ethers } from 'ethers';

export { ethers };

const here = path.dirname(fileURLToPath(import.meta.url));
export const SRC = process.env.ZKCAR_SOURCE_DIR || path.resolve(here, '../..');
export const BIN = process.env.ZKCAR_BIN || path.join(SRC, 'build/zkcar');
const NODE_MODULES = process.env.ZKCAR_NODE_MODULES || path.join(SRC, 'node_modules');
export const ANVIL = path.join(NODE_MODULES, '@foundry-rs/anvil-linux-amd64/bin/anvil');
export const ROOT_HELPER = process.env.ZKCAR_E2E_ROOT || '';
export const CHAIN_ID = 31337n; // anvil's default
export const GWEI = 10n ** 9n;

const t0 = Date.now();
export function log(...args) {
  process.stderr.write(`[e2e +${((Date.now() - t0) / 1000).toFixed(1)}s] ${args.join(' ')}\n`);
}

export class TestFailure extends Error {}
export function assert(cond, msg) {
  if (!cond) throw new TestFailure(msg);
}
export function assertEq(actual, expected, what) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new TestFailure(`${what}: got ${a}, expected ${e}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Under ASan/UBSan (Debug, -O0) everything, proving above all, is slower:
// every wait allows this many times longer.
export const SANITIZED = process.env.ZKCAR_E2E_SANITIZED === '1';
export const SLOWDOWN = SANITIZED ? 6 : 1;

// Polls fn() until it returns a truthy value; fails with `what` after
// timeoutMs (times SLOWDOWN).
export async function waitFor(what, timeoutMs, fn, intervalMs = 100) {
  timeoutMs *= SLOWDOWN;
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
      if (e instanceof TestFailure) throw e;
    }
    if (Date.now() > deadline)
      throw new TestFailure(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await sleep(intervalMs);
  }
}

// ---- children and temporary directories -----------------------------------

const children = new Set();
const tmpdirs = [];
const regions = new Set(); // /dev/shm names of the state regions of our data dirs

// The shared-memory region of a data dir: "/zkcar-" + FNV-1a-64 of its real
// path (ipc_region_name, docs/state.md).
export function regionName(dataDir) {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(fs.realpathSync(dataDir))) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return `zkcar-${h.toString(16).padStart(16, '0')}`;
}

function killAll() {
  for (const c of children) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
  if (process.env.ZKCAR_E2E_KEEP !== '1') {
    for (const r of regions) fs.rmSync(`/dev/shm/${r}`, { force: true });
    for (const d of tmpdirs) fs.rmSync(d, { recursive: true, force: true });
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(sig, () => { killAll(); process.exit(130); });

export function tempDir(tag) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `zkcar-e2e-${tag}-`));
  tmpdirs.push(d);
  return d;
}

// A child process whose output goes to `logFile`; `exited` resolves with
// {code, signal}.
class Child {
  constructor(cmd, args, logFile, env) {
    this.cmd = cmd;
    this.args = args;
    this.logFile = logFile;
    const fd = fs.openSync(logFile, 'a');
    this.proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...(env || {}) } });
    fs.closeSync(fd);
    this.pid = this.proc.pid;
    children.add(this);
    this.exitInfo = null;
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        children.delete(this);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }
  running() { return this.exitInfo === null; }
  kill9() {
    try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
    return this.exited;
  }
  async stop(timeoutMs = 30000) {
    if (!this.running()) return this.exitInfo;
    process.kill(this.pid, 'SIGTERM');
    const timer = sleep(timeoutMs).then(() => null);
    const r = await Promise.race([this.exited, timer]);
    if (r === null) {
      await this.kill9();
      throw new TestFailure(`${path.basename(this.cmd)} did not stop within ${timeoutMs} ms of SIGTERM`);
    }
    return r;
  }
  tail(lines = 30) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch { return ''; }
  }
  cpuSeconds() {
    // utime + stime from /proc/PID/stat (fields 14 and 15), in clock ticks of 1/100 s.
    try {
      const s = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch { return 0; }
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- L1: anvil and the bridge ----------------------------------------------

export class L1 {
  static async start(dir) {
    assert(fs.existsSync(ANVIL), `anvil not found at ${ANVIL} (run scripts/setup.sh)`);
    const l1 = new L1();
    l1.dir = dir;
    l1.ipcPath = path.join(dir, 'anvil.ipc');
    const logFile = path.join(dir, 'anvil.log');
    l1.child = new Child(ANVIL, ['--port', '0', '--host', '127.0.0.1', '--ipc', l1.ipcPath], logFile);
    const port = await waitFor('anvil to listen', 30000, () => {
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(logFile, 'utf8'));
      if (!l1.child.running()) throw new TestFailure(`anvil exited at start:\n${l1.child.tail()}`);
      return m && fs.existsSync(l1.ipcPath) ? Number(m[1]) : 0;
    }, 50);
    l1.url = `http://127.0.0.1:${port}`;
    // No request cache (ethers keeps identical answers for 250 ms by default:
    // a receipt fetched just before a reorg would come back after it).
    l1.provider = new ethers.JsonRpcProvider(l1.url, Number(CHAIN_ID),
      { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 });
    l1.accounts = await l1.provider.send('eth_accounts', []);
    return l1;
  }
  signer(i) { return new ethers.JsonRpcSigner(this.provider, this.accounts[i]); }
  async deployBridge() {
    const art = JSON.parse(fs.readFileSync(path.join(SRC, 'contracts/build/ZkcarBridge.json'), 'utf8'));
    const f = new ethers.ContractFactory(art.abi, art.bytecode, this.signer(0));
    const c = await f.deploy();
    const receipt = await c.deploymentTransaction().wait();
    this.bridge = c;
    this.bridgeAddress = await c.getAddress();
    this.bridgeBlock = receipt.blockNumber;
    this.abi = art.abi;
    return this.bridgeAddress;
  }
  // deposit(to) of `gwei` from dev account `from`; returns {hash, block}.
  async deposit(from, to, gwei) {
    const c = new ethers.Contract(this.bridgeAddress, this.abi, this.signer(from));
    const tx = await c.deposit(to, { value: BigInt(gwei) * GWEI });
    const r = await tx.wait();
    assert(r.status === 1, `deposit ${tx.hash} reverted`);
    return { hash: tx.hash, block: r.blockNumber };
  }
  async mine(n) { await this.provider.send('anvil_mine', [ethers.toQuantity(n)]); }
  async head() { return Number(await this.provider.send('eth_blockNumber', [])); }
}

// ---- the sidecar --------------------------------------------------------------

export class Sidecar {
  // opts: { l1, dataDir, operator, confirmations, batchSize, batchIntervalMs,
  //         proverThreads, workers (endpoint), extra: [] }
  static async start(opts) {
    const s = new Sidecar();
    s.opts = opts;
    s.dataDir = opts.dataDir;
    s.apiPort = opts.apiPort || await freePort();
    s.metricsPort = opts.metricsPort || await freePort();
    s.api = `http://127.0.0.1:${s.apiPort}/`;
    s.metrics = `http://127.0.0.1:${s.metricsPort}/metrics`;
    fs.mkdirSync(s.dataDir, { recursive: true, mode: 0o700 });
    regions.add(regionName(s.dataDir));
    await s.spawn();
    return s;
  }
  args() {
    const o = this.opts;
    const a = ['run', '--l1-rpc', `ipc://${o.l1.ipcPath}`, '--bridge', o.l1.bridgeAddress,
      '--from-block', String(o.l1.bridgeBlock), '--confirmations', String(o.confirmations ?? 1),
      '--data-dir', this.dataDir, '--api', `127.0.0.1:${this.apiPort}`,
      '--metrics', `127.0.0.1:${this.metricsPort}`,
      '--batch-size', String(o.batchSize ?? 16), '--batch-interval-ms', String(o.batchIntervalMs ?? 300),
      '--bpf', 'off'];
    if (o.proverThreads !== undefined) a.push('--prover-threads', String(o.proverThreads));
    if (o.workers) a.push('--workers', o.workers);
    if (o.operator) a.push('--operator', o.operator);
    return a.concat(o.extra || []);
  }
  async spawn() {
    this.child = new Child(BIN, this.args(), path.join(path.dirname(this.dataDir), `zkcar-run-${Date.now()}.log`));
    await waitFor('the API to answer zkcar_status', 60000, async () => {
      if (!this.child.running())
        throw new TestFailure(`zkcar run exited (${JSON.stringify(this.child.exitInfo)}):\n${this.child.tail()}`);
      const r = await this.call('zkcar_status', []);
      return r.result !== undefined;
    }, 100);
  }
  async restart() {
    assert(!this.child.running(), 'restart of a running sidecar');
    await this.spawn();
  }
  kill9() { return this.child.kill9(); }
  async stop() {
    const r = await this.child.stop(60000);
    assertEq(r, { code: 0, signal: null }, `zkcar run exit after SIGTERM (log:\n${this.child.tail()}\n)`);
  }
  // A raw JSON-RPC exchange: returns the parsed response body (an object or,
  // for batches, an array), with .httpStatus.
  async raw(body, headers = {}) {
    const res = await fetch(this.api, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    const text = await res.text();
    let parsed;
    try { parsed = JSON.parse(text); } catch { parsed = { unparsed: text }; }
    if (parsed && typeof parsed === 'object') Object.defineProperty(parsed, 'httpStatus', { value: res.status });
    return parsed;
  }
  async call(method, params, id = 1) {
    return this.raw(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  }
  // The result of `method`, or a TestFailure carrying the error object.
  async result(method, params) {
    const r = await this.call(method, params);
    if (r.error) throw new TestFailure(`${method}: error ${JSON.stringify(r.error)}`);
    return r.result;
  }
  status() { return this.result('zkcar_status', []); }
  account(addr) { return this.result('zkcar_getAccount', [addr]); }
  tx(hash) { return this.result('zkcar_getTransaction', [hash]); }
  batch(n) { return this.result('zkcar_getBatch', [n]); }
  deposit(id) { return this.result('zkcar_getDeposit', [id]); }
}

export class Worker {
  // extra: more flags, e.g. ['--server-key', KEY, '--key', FILE] (CURVE).
  constructor(endpoint, dir, name, extra = []) {
    this.logFile = path.join(dir, `worker-${name}.log`);
    this.child = new Child(BIN, ['worker', '--connect', endpoint, ...extra], this.logFile);
  }
}

// ---- L2 transactions -----------------------------------------------------------

const FIELDS = [
  { name: 'from', type: 'address' },
  { name: 'to', type: 'address' },
  { name: 'amount', type: 'uint64' },
  { name: 'fee', type: 'uint64' },
  { name: 'nonce', type: 'uint32' },
];

export function domain(bridge) {
  return { name: 'zkcar', version: '1', chainId: CHAIN_ID, verifyingContract: bridge };
}

// Signs with `wallet` (ethers' signTypedData) and returns the params object
// of zkcar_sendTransaction. `signer` defaults to the wallet (a different one
// forges the signature).
export async function signTx(bridge, wallet, type, to, amount, fee, nonce, signer = wallet) {
  const value = { from: wallet.address, to, amount: BigInt(amount), fee: BigInt(fee), nonce };
  const kind = type === 'transfer' ? 'Transfer' : 'Withdraw';
  const signature = await signer.signTypedData(domain(bridge), { [kind]: FIELDS }, value);
  const hash = ethers.TypedDataEncoder.hash(domain(bridge), { [kind]: FIELDS }, value);
  return { params: { type, from: wallet.address, to, amount: String(amount), fee: String(fee), nonce, signature }, hash };
}

// ---- the independent model of the L2 state ------------------------------------

// Balances and nonces computed by the test from what it did, never from the
// daemon's answers. Fees of each batch go to the operator (prover/batch.h).
export class Model {
  constructor(operator) {
    this.operator = operator.toLowerCase();
    this.accts = new Map(); // lowercased address -> {address, balance, nonce}
    this.withdrawals = [];  // {to, amount}
  }
  get(addr) {
    const k = addr.toLowerCase();
    if (!this.accts.has(k)) this.accts.set(k, { address: addr, balance: 0n, nonce: 0, exists: false });
    return this.accts.get(k);
  }
  credit(to, gwei) {
    const a = this.get(to);
    a.balance += BigInt(gwei);
    a.exists = true;
  }
  deposit(to, gwei) { this.credit(to, gwei); }
  apply(p) {
    const a = this.get(p.from), amt = BigInt(p.amount), fee = BigInt(p.fee);
    assert(a.nonce === p.nonce, `model: nonce of ${p.from}`);
    assert(a.balance >= amt + fee, `model: overdraft of ${p.from}`);
    a.balance -= amt + fee;
    a.nonce += 1;
    if (p.type === 'transfer') this.credit(p.to, amt);
    else this.withdrawals.push({ to: p.to.toLowerCase(), amount: amt });
    if (fee > 0n) this.credit(this.operator, fee);
  }
  // Accounts that exist on L2: every address that ever received funds.
  existing() { return [...this.accts.values()].filter((a) => a.exists); }
}

// The state root the test computes itself (tests/e2e/e2e_root.c) over the
// model's balances and nonces, placed at the account ids the daemon assigned.
export function independentRoot(rows) {
  assert(ROOT_HELPER && fs.existsSync(ROOT_HELPER), `ZKCAR_E2E_ROOT (${ROOT_HELPER}) is not the e2e_root helper`);
  const input = rows.map((r) => `${r.id} ${r.address} ${r.balance} ${r.nonce}\n`).join('');
  const p = spawnSync(ROOT_HELPER, [], { input, encoding: 'utf8' });
  assert(p.status === 0, `e2e_root failed: ${p.stderr}`);
  return p.stdout.trim();
}

// Runs `zkcar ARGS…`; returns {status, stdout, stderr}.
export function zkcar(args, opts = {}) {
  const p = spawnSync(BIN, args, { encoding: 'utf8', timeout: 120000, ...opts });
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}

// `zkcar verify` on every artifact in DIR/batches: each must exit 0; a copy
// with one byte flipped must exit 1; a missing file exits 2. Returns the numbers.
export function verifyArtifacts(dataDir, expectBatches) {
  const dir = path.join(dataDir, 'batches');
  const files = fs.readdirSync(dir).filter((f) => /^\d+\.batch$/.test(f));
  const numbers = files.map((f) => Number(f.split('.')[0])).sort((a, b) => a - b);
  assertEq(numbers, Array.from({ length: expectBatches }, (_, i) => i + 1), 'artifacts in DIR/batches');
  for (const n of numbers) {
    const f = path.join(dir, `${n}.batch`);
    const r = zkcar(['verify', f]);
    assert(r.status === 0, `zkcar verify ${f}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  }
  const first = path.join(dir, `${numbers[0]}.batch`);
  const bytes = fs.readFileSync(first);
  const bad = path.join(path.dirname(dataDir), 'tampered.batch');
  for (const pos of [0, bytes.length >> 1, bytes.length - 1]) {
    const copy = Buffer.from(bytes);
    copy[pos] ^= 0x01;
    fs.writeFileSync(bad, copy);
    const r = zkcar(['verify', bad]);
    assertEq(r.status, 1, `zkcar verify of ${path.basename(first)} with byte ${pos} flipped`);
  }
  assertEq(zkcar(['verify', path.join(dir, 'no-such.batch')]).status, 2, 'zkcar verify of a missing file');
  return numbers;
}

// Fetches /metrics, checks it with `promtool check metrics`, returns the text.
export async function checkMetrics(url, dir) {
  const res = await fetch(url);
  assertEq(res.status, 200, 'GET /metrics status');
  assert((res.headers.get('content-type') || '').startsWith('text/plain; version=0.0.4'),
    `/metrics content type ${res.headers.get('content-type')}`);
  const text = await res.text();
  const file = path.join(dir, 'metrics.txt');
  fs.writeFileSync(file, text);
  const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert(p.status === 0 && (p.stdout + p.stderr).trim() === '',
    `promtool check metrics (exit ${p.status}): ${p.stdout}${p.stderr}`);
  return text;
}

// The metric family names in an exposition (from # TYPE lines).
export function metricFamilies(text) {
  const fams = new Map();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m) fams.set(m[1], m[2]);
  }
  return fams;
}

// Runs `main`, exits 0 on success and 1 (with the reason) on failure.
export function run(name, main) {
  main().then(() => {
    log(`${name}: PASS`);
    process.exit(0);
  }, (e) => {
    log(`${name}: FAIL: ${e instanceof TestFailure ? e.message : e.stack}`);
    process.exit(1);
  });
}

// Waits until every transaction in `hashes` is proven.
export async function waitProven(sc, hashes, timeoutMs) {
  const left = new Set(hashes);
  await waitFor(`${hashes.length} transactions to be proven`, timeoutMs, async () => {
    for (const h of [...left]) {
      const t = await sc.tx(h);
      assert(t !== null, `transaction ${h} is unknown to the daemon`);
      assert(t.status !== 'rejected', `transaction ${h} was rejected: ${t.error}`);
      if (t.status === 'proven') left.delete(h);
    }
    return left.size === 0;
  }, 250);
}

// The end state, checked against the test's own model: every account's
// balance and nonce (current and proven), the account ids, the state root
// recomputed from scratch, the chain of batches (roots link up, counts add
// up to what was sent, the withdrawals are the model's), `zkcar query`
// against the API, and `zkcar verify` on every artifact. `ntx` is the number
// of L2 transactions accepted, `ndeposits` the deposits credited.
export async function checkFinalState(sc, model, { ntx, ndeposits }) {
  const st = await sc.status();
  assertEq(st.pendingTxs, 0, 'status.pendingTxs');
  assertEq(st.lastProvenBatch, st.lastBatch, 'status.lastProvenBatch');
  assertEq(st.nextDepositId, ndeposits, 'status.nextDepositId');
  const rows = [];
  for (const a of model.existing()) {
    const got = await sc.account(a.address);
    assertEq(got.address.toLowerCase(), a.address.toLowerCase(), 'getAccount.address');
    assert(Number.isInteger(got.id), `account ${a.address} has no id`);
    assertEq([got.balance, got.nonce, got.provenBalance, got.provenNonce],
      [String(a.balance), a.nonce, String(a.balance), a.nonce], `account ${a.address} (balance, nonce, proven)`);
    rows.push({ id: got.id, address: a.address, balance: a.balance, nonce: a.nonce });
    const q = zkcar(['query', '--data-dir', sc.dataDir, 'account', a.address]);
    assert(q.status === 0, `zkcar query ${a.address}: exit ${q.status} ${q.stderr}`);
    assertEq(JSON.parse(q.stdout), got, `zkcar query vs zkcar_getAccount for ${a.address}`);
  }
  assertEq(st.accounts, rows.length, 'status.accounts (the model\'s account count)');
  assertEq(rows.map((r) => r.id).sort((x, y) => x - y), rows.map((_, i) => i), 'account ids');
  const root = independentRoot(rows);
  assertEq(st.stateRoot, root, 'status.stateRoot vs the root computed from scratch');

  let prev = independentRoot([]);
  let txs = 0, deps = 0;
  const withdrawals = [];
  for (let n = 1; n <= st.lastBatch; n++) {
    const b = await sc.batch(n);
    assertEq([b.number, b.status], [n, 'proven'], `batch ${n}`);
    assertEq(b.prevStateRoot, prev, `batch ${n} prevStateRoot`);
    assert(b.proofSize > 0 && b.provingTimeMs >= 0, `batch ${n}: proofSize ${b.proofSize}`);
    prev = b.stateRoot;
    txs += b.txCount;
    deps += b.depositCount;
    for (const w of b.withdrawals) withdrawals.push({ to: w.to.toLowerCase(), amount: BigInt(w.amount) });
  }
  assertEq(prev, root, 'the last batch\'s stateRoot vs the root computed from scratch');
  assertEq(await sc.batch(st.lastBatch + 1), null, 'a batch beyond the last');
  assertEq(txs, ntx, 'transactions in all batches (none lost, none duplicated)');
  assertEq(deps, ndeposits, 'deposits in all batches');
  // As multisets: transactions of different senders may be sequenced in any order.
  assertEq(withdrawals.map((w) => `${w.to}:${w.amount}`).sort(), model.withdrawals.map((w) => `${w.to}:${w.amount}`).sort(),
    'withdrawals in the batches');
  verifyArtifacts(sc.dataDir, st.lastBatch);
  return st;
}
