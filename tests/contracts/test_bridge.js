#!/usr/bin/env node
// Tests of contracts/ZkcarBridge.sol against a real anvil (SPEC §2): the checked-in
// artifact deploys, deposits emit Deposit with dense ids and the right fields,
// depositCount() counts, and each rejected amount reverts without side effects.
// Also pins the two constants the C watcher hard-codes (event topic, selector).
'use strict';
const assert = require('assert');
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = process.env.ZKCAR_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const nm = process.env.ZKCAR_NODE_MODULES || path.join(root, 'node_modules');
const { ethers } = require(path.join(nm, 'ethers'));
const anvilBin = path.join(nm, '@foundry-rs', 'anvil-linux-amd64', 'bin', 'anvil');

// The values l1-watcher/l1w.h compiles in; they must equal what ethers derives.
const WATCHER_DEPOSIT_TOPIC = '0x' + fs.readFileSync(path.join(root, 'l1-watcher', 'l1w.h'), 'utf8')
    .match(/L1W_DEPOSIT_TOPIC_HEX "([0-9a-f]{64})"/)[1];

function startAnvil() {
    return new Promise((resolve, reject) => {
        const child = spawn(anvilBin, ['--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let buf = '';
        const timer = setTimeout(() => reject(new Error('anvil did not start')), 20000);
        child.stdout.on('data', (d) => {
            buf += d.toString();
            const m = buf.match(/Listening on (127\.0\.0\.1:\d+)/);
            if (m) { clearTimeout(timer); child.stdout.removeAllListeners('data'); child.stdout.resume(); resolve({ child, url: 'http://' + m[1] }); }
        });
        child.on('exit', (code) => reject(new Error(`anvil exited with ${code}`)));
    });
}

async function expectRevert(promise, reason) {
    try {
        await promise;
    } catch (e) {
        const text = String(e.shortMessage || e.message) + ' ' + String(e.reason || '');
        assert(text.includes(reason), `expected revert "${reason}", got: ${text}`);
        return;
    }
    assert.fail(`expected revert "${reason}"`);
}

async function main() {
    const artifact = JSON.parse(fs.readFileSync(path.join(root, 'contracts', 'build', 'ZkcarBridge.json'), 'utf8'));
    const iface = new ethers.Interface(artifact.abi);
    const ev = iface.getEvent('Deposit');
    assert.strictEqual(ev.format('sighash'), 'Deposit(uint64,address,address,uint64)');
    assert.strictEqual(ev.topicHash, ethers.id('Deposit(uint64,address,address,uint64)'));
    assert.strictEqual(ev.topicHash, WATCHER_DEPOSIT_TOPIC, 'l1w.h L1W_DEPOSIT_TOPIC_HEX is wrong');
    assert.strictEqual(iface.getFunction('deposit').selector, '0xf340fa01');
    assert.strictEqual(iface.getFunction('depositCount').selector, ethers.id('depositCount()').slice(0, 10));

    const { child, url } = await startAnvil();
    try {
        const provider = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true, cacheTimeout: -1 });
        const signers = [];
        for (let i = 0; i < 3; i++) signers.push(await provider.getSigner(i));
        const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, signers[0]);
        const bridge = await factory.deploy();
        await bridge.waitForDeployment();
        const addr = await bridge.getAddress();
        assert.strictEqual(await bridge.depositCount(), 0n);

        const GWEI = 10n ** 9n;
        const to = ethers.Wallet.createRandom().address;
        // Rejections: zero, not a gwei multiple, 2^63 gwei and more. Each leaves the count alone.
        await expectRevert(bridge.deposit(to, { value: 0n }), 'zero deposit');
        await expectRevert(bridge.deposit(to, { value: 1n }), 'not a multiple of 1 gwei');
        await expectRevert(bridge.deposit(to, { value: GWEI + 1n }), 'not a multiple of 1 gwei');
        // 2^63 gwei needs more ether than a dev account holds: give it some.
        const rich = ethers.toQuantity((2n ** 64n) * GWEI * 2n);
        await provider.send('anvil_setBalance', [await signers[2].getAddress(), rich]);
        await expectRevert(bridge.connect(signers[2]).deposit(to, { value: (2n ** 63n) * GWEI }), 'amount too large');
        await expectRevert(bridge.connect(signers[2]).deposit(to, { value: (2n ** 64n) * GWEI }), 'amount too large');
        assert.strictEqual(await bridge.depositCount(), 0n);
        assert.strictEqual(await provider.getBalance(addr), 0n);

        // Accepted: 1 gwei, the largest amount (2^63 - 1 gwei), and deposits from several accounts.
        const cases = [
            [signers[0], 1n * GWEI],
            [signers[2], (2n ** 63n - 1n) * GWEI],
            [signers[1], 123456789n * GWEI],
            [signers[0], 5n * GWEI],
        ];
        let total = 0n;
        for (let i = 0; i < cases.length; i++) {
            const [s, value] = cases[i];
            const receipt = await (await bridge.connect(s).deposit(to, { value })).wait();
            assert.strictEqual(receipt.status, 1);
            assert.strictEqual(receipt.logs.length, 1);
            const log = receipt.logs[0];
            assert.strictEqual(log.address, addr);
            assert.strictEqual(log.topics.length, 4);
            assert.strictEqual(log.topics[0], WATCHER_DEPOSIT_TOPIC);
            const parsed = iface.parseLog(log);
            assert.strictEqual(parsed.args.depositId, BigInt(i));
            assert.strictEqual(parsed.args.from, await s.getAddress());
            assert.strictEqual(parsed.args.to, to);
            assert.strictEqual(parsed.args.amountGwei, value / GWEI);
            assert.strictEqual(log.data, ethers.zeroPadValue(ethers.toBeHex(value / GWEI), 32));
            total += value;
            assert.strictEqual(await bridge.depositCount(), BigInt(i + 1));
        }
        assert.strictEqual(await provider.getBalance(addr), total);
        // A revert after successful deposits still changes nothing.
        await expectRevert(bridge.deposit(to, { value: 0n }), 'zero deposit');
        assert.strictEqual(await bridge.depositCount(), BigInt(cases.length));
        provider.destroy();
        console.log('contract tests passed');
    } finally {
        child.kill('SIGKILL');
    }
}

main().catch((e) => { console.error(e); process.exit(1); });
