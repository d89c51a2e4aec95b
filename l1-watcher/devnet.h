/*
 * l1-watcher/devnet.h — a local L1 for tests, benchmarks and `zkcar demo`.
 *
 * Starts anvil (from node_modules, see l1w_devnet_start) on a port it picks
 * itself, with an IPC socket, in a fresh temporary directory; talks to it
 * with the watcher's own JSON-RPC client; deploys the checked-in bridge
 * (contracts/build/ZkcarBridge.json) and makes deposits from anvil's unlocked
 * dev accounts. Not for production: dev accounts sign with well-known keys.
 * One thread per devnet.
 */
#ifndef ZKCAR_L1_WATCHER_DEVNET_H
#define ZKCAR_L1_WATCHER_DEVNET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "l1-watcher/l1w.h"

#define L1W_DEVNET_ACCOUNTS 10

typedef struct l1w_devnet {
    pid_t pid;
    int port;
    char dir[256];       /* temp directory: anvil.ipc, anvil.log, state.json; removed by destroy */
    char ipc_url[300];   /* ipc:///tmp/.../anvil.ipc */
    char http_url[64];   /* http://127.0.0.1:PORT */
    char state[300];
    l1w_rpc *rpc;        /* HTTP client for the devnet's own calls */
    char accounts[L1W_DEVNET_ACCOUNTS][43];
    uint8_t bridge[20];
    char bridge_hex[43];
    bool automine_off;
} l1w_devnet;

/* Starts anvil with `extra` arguments (NULL-terminated, may be NULL). The
 * binary is $ZKCAR_NODE_MODULES/@foundry-rs/anvil-linux-amd64/bin/anvil, else
 * ./node_modules/…, else `anvil` on PATH. With `state`, anvil loads and dumps
 * DIR/state.json (so a restart keeps the chain). Waits up to 30 s. On failure
 * nothing is left running, the directory is removed, and `err` quotes the first
 * line anvil printed. */
zk_err l1w_devnet_start(l1w_devnet *d, zk_error_detail *err, bool state, const char *const *extra) ZK_MUST_CHECK;
/* Starts anvil again on the same port and IPC path after l1w_devnet_stop. */
zk_err l1w_devnet_restart(l1w_devnet *d, zk_error_detail *err, bool state, const char *const *extra) ZK_MUST_CHECK;
/* SIGTERM (graceful: dumps the state) or SIGKILL, and waits. Keeps the directory. */
void l1w_devnet_stop(l1w_devnet *d, bool graceful);
/* Stops anvil if running and removes the directory. */
void l1w_devnet_destroy(l1w_devnet *d);

/* Calls `method` with params as JSON text; *result as l1w_rpc_call (may be NULL). */
zk_err l1w_devnet_call(l1w_devnet *d, json_object **result, zk_error_detail *err, const char *method,
                       const char *params_json) ZK_MUST_CHECK;
zk_err l1w_devnet_block_number(l1w_devnet *d, uint64_t *out, zk_error_detail *err) ZK_MUST_CHECK;
/* anvil_mine `blocks` blocks. */
zk_err l1w_devnet_mine(l1w_devnet *d, zk_error_detail *err, uint64_t blocks) ZK_MUST_CHECK;
zk_err l1w_devnet_automine(l1w_devnet *d, zk_error_detail *err, bool on) ZK_MUST_CHECK;
/* Deploys the bridge from account 0 (`artifact`: path of ZkcarBridge.json, NULL =
 * $ZKCAR_SOURCE_DIR/contracts/build/…, else ./contracts/build/…); *block gets its block. */
zk_err l1w_devnet_deploy_bridge(l1w_devnet *d, uint64_t *block, zk_error_detail *err,
                                const char *artifact) ZK_MUST_CHECK;
/* deposit(to) from account `from_idx` with `gwei` (< 1.8e10) gwei; `txhash` gets
 * "0x…" (67 bytes with NUL). With automine on it waits for a successful
 * receipt: anvil mines asynchronously, and an anvil_mine racing it would
 * swallow the automined block. */
zk_err l1w_devnet_deposit(l1w_devnet *d, char txhash[67], zk_error_detail *err, int from_idx,
                          const uint8_t to[20], uint64_t gwei) ZK_MUST_CHECK;
/* anvil_reorg(depth) with one 1-wei transfer from `from_idx` in the first new
 * block (empty re-mined blocks could keep their hashes, REFERENCE.md §3). */
zk_err l1w_devnet_reorg(l1w_devnet *d, zk_error_detail *err, int depth, int from_idx) ZK_MUST_CHECK;

#endif
