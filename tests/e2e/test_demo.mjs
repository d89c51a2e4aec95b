// tests/e2e/test_demo.mjs — `zkcar demo` (the README's first command) runs to
// the end: exit 0, every batch proven and `zkcar verify` valid, a summary
// with balances, batches and the API/metrics addresses, and nothing it
// started is left running. Then a second run, on the default API port while
// that port is taken (it moves to a free one and says so), is interrupted
// with SIGINT in the middle: exit 130, again without orphans. Also: a missing anvil is a
// clear error (exit 1) that starts nothing.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, SRC, SANITIZED, log, assert, assertEq, freePort, waitFor, tempDir, run } from './lib.mjs';

// Processes whose command line mentions `needle` (the demo's temp dirs).
function processesWith(needle) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) found.push(`${pid}: ${cmd}`);
    } catch { /* exited */ }
  }
  return found;
}

function startDemo(args, env = {}) {
  const p = spawn(BIN, ['demo', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const r = { out: '', err: '', proc: p };
  p.stdout.on('data', (b) => { r.out += b; });
  p.stderr.on('data', (b) => { r.err += b; });
  r.exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  return r;
}

// Under the sanitizers a proof takes ~30x longer: one batch of all 16
// operations (4 deposits, 12 transactions) instead of two or three.
async function demoArgs() {
  const a = ['--api', `127.0.0.1:${await freePort()}`, '--metrics', `127.0.0.1:${await freePort()}`];
  return SANITIZED ? a.concat(['--batch-size', '16', '--batch-interval-ms', '10000']) : a;
}

// The temp dirs the demo printed (anvil's IPC dir and the data dir).
function tempDirs(out) {
  const dirs = [];
  const ipc = /IPC ipc:\/\/(\S+)\/anvil\.ipc/.exec(out);
  if (ipc) dirs.push(ipc[1]);
  const data = /log (\S+)\/zkcar\.log/.exec(out);
  if (data) dirs.push(data[1]);
  return dirs;
}

async function noOrphans(out) {
  const dirs = tempDirs(out);
  assert(dirs.length === 2, `the demo did not print its anvil and data dirs:\n${out}`);
  await waitFor('the demo\'s children to be gone', 5000, () => dirs.every((d) => processesWith(d).length === 0));
  for (const d of dirs) assert(!fs.existsSync(d), `${d} left behind`);
}

run('e2e_demo', async () => {
  // anvil missing: a copy of the binary in a tree with the bridge but no
  // node_modules/, and a PATH without anvil.
  const tree = tempDir('demo-noanvil');
  fs.mkdirSync(path.join(tree, 'build'));
  fs.mkdirSync(path.join(tree, 'contracts/build'), { recursive: true });
  fs.copyFileSync(BIN, path.join(tree, 'build/zkcar'));
  fs.chmodSync(path.join(tree, 'build/zkcar'), 0o755);
  fs.copyFileSync(path.join(SRC, 'contracts/build/ZkcarBridge.json'), path.join(tree, 'contracts/build/ZkcarBridge.json'));
  const env = { ...process.env, PATH: '/usr/bin:/bin' };
  delete env.ZKCAR_NODE_MODULES;
  delete env.ZKCAR_SOURCE_DIR;
  const bad = spawnSync(path.join(tree, 'build/zkcar'), ['demo', ...await demoArgs()], { env, encoding: 'utf8', timeout: 60000 });
  assertEq(bad.status, 1, `demo without anvil: exit (stderr: ${bad.stderr})`);
  assert(/anvil not found/.test(bad.stderr) && /setup\.sh/.test(bad.stderr), `demo without anvil: unclear error: ${bad.stderr}`);
  assert(!/L2: starting/.test(bad.stdout), 'demo without anvil started the daemon');

  const full = startDemo(await demoArgs());
  const r = await full.exited;
  log(`zkcar demo exited ${JSON.stringify(r)}`);
  assertEq(r, { code: 0, signal: null }, `zkcar demo exit\nstdout:\n${full.out}\nstderr:\n${full.err}`);
  for (const want of ['Every batch proven and verified', 'L2 accounts', 'alice', 'bob', 'carol', 'erin', 'operator',
    'Batches', 'JSON-RPC API  http://127.0.0.1:', 'metrics       http://127.0.0.1:'])
    assert(full.out.includes(want), `the summary lacks "${want}":\n${full.out}`);
  const rows = full.out.split('\n').filter((l) => /^\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+[\d.]+KiB\s+valid\s/.test(l));
  assert(rows.length >= 1, `no verified batch rows in the summary:\n${full.out}`);
  assert(!full.out.includes('INVALID'), 'an artifact did not verify');
  await noOrphans(full.out);
  log(`demo: ${rows.length} batches proven and verified, nothing left running`);

  // SIGINT in the middle (once transactions are being proven). This run keeps
  // the default --api (127.0.0.1:3050) while the test holds that port (or
  // someone else does): the demo must take a free port instead and say so.
  const holder = net.createServer();
  await new Promise((resolve) => { holder.once('error', resolve); holder.listen(3050, '127.0.0.1', resolve); });
  const midArgs = (await demoArgs()).slice(2);
  const mid = startDemo(midArgs);
  await waitFor('the demo to reach the proving step', 120000, () => {
    if (mid.proc.exitCode !== null) throw new Error(`demo exited early: ${mid.err}`);
    return mid.out.includes('5. Proving');
  }, 50);
  assert(/\(127\.0\.0\.1:3050 is in use: --api 127\.0\.0\.1:\d+ instead\)/.test(mid.out),
    `the demo did not move off a busy default port:\n${mid.out}`);
  assert(!mid.out.includes('API http://127.0.0.1:3050/'), 'the demo used the busy port');
  mid.proc.kill('SIGINT');
  const m = await mid.exited;
  holder.close();
  assertEq(m, { code: 130, signal: null }, `zkcar demo after SIGINT (stderr: ${mid.err})`);
  await noOrphans(mid.out);
  log('SIGINT: exit 130, nothing left running');
});
