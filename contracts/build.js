#!/usr/bin/env node
// Compiles contracts/ZkcarBridge.sol with the pinned solc (npm solc 0.8.28) and
// writes contracts/build/ZkcarBridge.json as {"abi": [...], "bytecode": "0x..."}.
//
//   node contracts/build.js           (re)write the checked-in artifact
//   node contracts/build.js --check   exit 1 if the checked-in artifact differs
//
// The output is deterministic: fixed compiler version and settings, no metadata
// hash in the bytecode (so the source path and comments do not leak into it),
// sorted-key JSON.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const solc = require(path.join(root, 'node_modules', 'solc'));
const PINNED = '0.8.28';

function compile() {
    const version = solc.version();
    if (!version.startsWith(PINNED + '+')) {
        throw new Error(`solc ${version} is not the pinned ${PINNED}`);
    }
    const source = fs.readFileSync(path.join(__dirname, 'ZkcarBridge.sol'), 'utf8');
    const input = {
        language: 'Solidity',
        sources: { 'ZkcarBridge.sol': { content: source } },
        settings: {
            optimizer: { enabled: true, runs: 200 },
            evmVersion: 'cancun',
            metadata: { bytecodeHash: 'none', appendCBOR: false },
            outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
        },
    };
    const out = JSON.parse(solc.compile(JSON.stringify(input)));
    const errors = (out.errors || []).filter((e) => e.severity === 'error');
    if (errors.length) {
        throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
    }
    const c = out.contracts['ZkcarBridge.sol'].ZkcarBridge;
    return JSON.stringify({ abi: c.abi, bytecode: '0x' + c.evm.bytecode.object }, null, 2) + '\n';
}

function main() {
    const target = path.join(__dirname, 'build', 'ZkcarBridge.json');
    const text = compile();
    if (process.argv.includes('--check')) {
        let have = '';
        try { have = fs.readFileSync(target, 'utf8'); } catch (e) { /* missing: differs */ }
        if (have !== text) {
            console.error(`${target} is stale: run node contracts/build.js and commit the result`);
            process.exit(1);
        }
        console.log(`${target} matches ZkcarBridge.sol (solc ${solc.version()})`);
        return;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, text);
    console.log(`wrote ${target} (solc ${solc.version()})`);
}

main();
