/*
 * sidecar/demo.h — `zkcar demo`: the whole rollup on one machine, in a minute.
 *
 * The demo starts a local L1 (the pinned anvil from node_modules/, or anvil
 * on PATH), deploys the bridge (l1-watcher/devnet.h), starts `zkcar run` as a
 * child process on a temporary data dir with small batches, deposits from
 * several anvil accounts to demo wallets, sends EIP-712-signed transfers and
 * withdrawals over the JSON-RPC API, waits until every batch is proven, runs
 * `zkcar verify` on every artifact, prints a summary (balances, batches with
 * their transaction counts and proving times, the API and metrics addresses)
 * and stops everything it started — also on SIGINT/SIGTERM. With --keep it
 * leaves the L1 and the daemon running until Ctrl-C.
 *
 * The wallets' keys are derived from public strings (keccak256("zkcar demo
 * wallet N")): demo funds only, never for real money.
 */
#ifndef ZKCAR_SIDECAR_DEMO_H
#define ZKCAR_SIDECAR_DEMO_H

/* `zkcar demo [flags]` (zkcar demo --help lists them). Returns the exit
 * status: 0 when every transaction was proven and every artifact verified,
 * 1 on a runtime failure (anvil missing, the daemon failed, a proof did not
 * verify; the reason on stderr), 2 on bad usage, 130 when interrupted
 * before the end. Not reentrant: installs SIGINT/SIGTERM handlers and runs
 * child processes; call it once, from main. */
int sc_demo_main(int argc, char **argv);

#endif
