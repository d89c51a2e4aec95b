// tests/e2e/test_reorg.mjs — an L1 reorg of an unconfirmed deposit while
// `zkcar run` follows the chain (issue 7, SPEC §6): the deposit is seen, the
// block holding it is re-mined without it (anvil_reorg) before it has
// --confirmations, and it is never credited — not then, not after many more
// blocks. A deposit made after the reorg takes the same deposit id on the new
// chain and is credited normally.
import path from 'node:path';
import {
  ethers, L1, Sidecar, Model, log, assert, assertEq, waitFor, tempDir, sleep, checkFinalState, run,
} from './lib.mjs';

const CONFIRMATIONS = 4;

run('e2e_reorg', async () => {
  const dir = tempDir('reorg');
  const l1 = await L1.start(dir);
  await l1.deployBridge();
  const operator = ethers.Wallet.createRandom().address;
  const model = new Model(operator);
  const sc = await Sidecar.start({ l1, dataDir: path.join(dir, 'data'), operator,
    confirmations: CONFIRMATIONS, batchSize: 8, batchIntervalMs: 200 });
  const victim = ethers.Wallet.createRandom().address;
  const other = ethers.Wallet.createRandom().address;

  // A first deposit that is confirmed and credited: the watcher is following.
  await l1.deposit(1, other, 1000n);
  model.deposit(other, 1000n);
  await l1.mine(CONFIRMATIONS);
  await waitFor('deposit 0 to be credited', 60000, async () => (await sc.deposit(0))?.status === 'credited');

  // Deposit 1 to `victim`, one block deeper (2 confirmations of 4), seen by the daemon's watcher…
  const dep = await l1.deposit(2, victim, 777n);
  await l1.mine(1);
  const head = await l1.head();
  await waitFor('the daemon to see the L1 head', 30000, async () => (await sc.status()).l1Head >= head);
  const seen = await sc.deposit(1);
  assert(seen === null || seen.status === 'pending_confirmations', `deposit 1 before the reorg: ${JSON.stringify(seen)}`);
  // …then the two blocks are re-mined without it.
  await l1.provider.send('anvil_reorg', [2, [[{ from: l1.accounts[3], to: l1.accounts[9], value: '0x1' }, 0]]]);
  assertEq(await l1.provider.send('eth_getTransactionReceipt', [dep.hash]), null, 'the deposit\'s receipt after the reorg');
  log(`deposit ${dep.hash} (block ${dep.block}) reorged out`);
  await l1.mine(CONFIRMATIONS * 3);
  const head2 = await l1.head();
  await waitFor('the daemon to follow the new chain', 30000, async () => (await sc.status()).l1Confirmed >= head2 - CONFIRMATIONS + 1);
  await sleep(1000);
  const acct = await sc.account(victim);
  assertEq([acct.id, acct.balance], [null, '0'], 'the reorged deposit\'s receiver');
  const d1 = await sc.deposit(1);
  assert(d1 === null || d1.status === 'reorged', `deposit 1 after the reorg: ${JSON.stringify(d1)}`);
  assertEq((await sc.status()).nextDepositId, 1, 'status.nextDepositId after the reorg');

  // The next deposit on the new chain is deposit 1, and it is credited.
  const dep2 = await l1.deposit(4, other, 500n);
  model.deposit(other, 500n);
  await l1.mine(CONFIRMATIONS);
  await waitFor('the new deposit 1 to be credited', 60000, async () => (await sc.deposit(1))?.status === 'credited');
  assertEq((await sc.deposit(1)).l1TxHash, dep2.hash, 'deposit 1 is the one on the new chain');
  assertEq((await sc.account(victim)).balance, '0', 'the reorged deposit\'s receiver at the end');
  await waitFor('deposit 1\'s batch to be proven', 120000, async () => {
    const b = (await sc.deposit(1)).batch;
    return b > 0 && (await sc.batch(b))?.status === 'proven' && (await sc.status()).lastProvenBatch === (await sc.status()).lastBatch;
  }, 250);
  await checkFinalState(sc, model, { ntx: 0, ndeposits: 2 });
  await sc.stop();
});
