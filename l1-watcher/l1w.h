/*
 * l1-watcher/l1w.h — follows the bridge contract on L1 and streams its
 * confirmed deposits, exactly once and in order, to the sidecar.
 *
 * Four parts, each usable alone:
 *   - l1w_rpc_*      a JSON-RPC client for the execution client over its IPC
 *                    socket (geth/anvil --ipc) or HTTP (libcurl), with a cap on
 *                    reply size, timeouts and lazy reconnection;
 *   - l1w_outbox_*   the durable outbox and cursor (sqlite, one transaction per
 *                    confirmed range: deposits and cursor move together);
 *   - l1w_watcher_*  the follower: chain-id check, catch-up with eth_getLogs in
 *                    adaptive chunks, head following with a parentHash-linked
 *                    chain of recent headers, reorg detection, confirmation
 *                    depth, and the ZeroMQ stream server;
 *   - l1w_consumer_* the other end of the stream (docs/l1-watcher.md has the
 *                    versioned protocol).
 * Beside them, l1-watcher/pending.h: the in-memory view of deposits seen
 * above the confirmed height or reorged out before it (for zkcar_getDeposit's
 * `pending_confirmations` and `reorged`), fed by the watcher's scan of the
 * unconfirmed window or by a consumer's SEEN/REORGED messages.
 *
 * Why confirmations: a deposit credited on L2 cannot be taken back, so the
 * watcher only delivers a deposit once its block is --confirmations deep
 * (head - block + 1 >= N) or finalized. A reorg above that depth is routine and
 * handled; one that reaches a confirmed block is beyond what the operator
 * accepted, and the watcher stops with ZK_ERR_L1_DEEP_REORG instead of guessing.
 */
#ifndef ZKCAR_L1_WATCHER_L1W_H
#define ZKCAR_L1_WATCHER_L1W_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"

/* topic0 of Deposit(uint64,address,address,uint64): keccak256 of that signature
 * (tests/contracts/test_bridge.js checks it against ethers and the ABI,
 * tests/l1-watcher checks it against zk_keccak256). */
#define L1W_DEPOSIT_TOPIC_HEX "659f2ecccca7bf994df00afab548c596211d0f70e794e488a7d0d6ac032ecb92"

#define L1W_REPLY_MAX_DEFAULT (32u << 20) /* default cap on one JSON-RPC reply, bytes */
#define L1W_JSON_DEPTH_MAX 32             /* nesting accepted in a reply */
#define L1W_CONFIRMATIONS_MAX 4096        /* largest --confirmations */
#define L1W_CONFIRMATIONS_FINALIZED UINT32_MAX /* --confirmations finalized */
#define L1W_STREAM_VERSION 2              /* the stream protocol version spoken */
#define L1W_STREAM_VERSION_MIN 1          /* the oldest still served (no SEEN/REORGED) */
#define L1W_MSG_MAX 1024                  /* largest stream message, bytes */

/* ---------------------------------------------------------------- JSON-RPC */

typedef struct l1w_rpc l1w_rpc;

/* Creates a client for `url`: "ipc:///path", a bare path to a unix socket, or
 * "http://host:port[/path]" (also https). Nothing is connected yet: each call
 * connects when needed and drops the connection after a transport failure, so
 * that the next call reconnects. `timeout_ms` bounds each call; `reply_max`
 * caps one reply (0: L1W_REPLY_MAX_DEFAULT). Returns ZK_ERR_USAGE for an URL
 * of another scheme. Not thread-safe: one thread per client. */
zk_err l1w_rpc_create(l1w_rpc **out, zk_error_detail *err, const char *url, int timeout_ms,
                      size_t reply_max) ZK_MUST_CHECK;
/* Closes the connection and frees. NULL is fine. */
void l1w_rpc_destroy(l1w_rpc *rpc);
/* True for an IPC (unix socket) client. */
bool l1w_rpc_is_ipc(const l1w_rpc *rpc);

/* Calls `method` with `params` (a JSON array, borrowed; NULL = []). On ZK_OK
 * *result holds the reply's "result" (caller frees with json_object_put; it may
 * be NULL for a JSON null). Errors:
 *   ZK_ERR_CLOSED / ZK_ERR_TIMEOUT    transport (connection refused, reset,
 *                                     closed mid-reply, no answer in time);
 *   ZK_ERR_L1_RATE_LIMITED            HTTP 429;
 *   ZK_ERR_L1_HTTP_STATUS             another non-200 status without an RPC error;
 *   ZK_ERR_TOO_BIG                    reply above the cap;
 *   ZK_ERR_BAD_JSON, ZK_ERR_L1_BAD_REPLY  garbage, or not a JSON-RPC reply to this id;
 *   ZK_ERR_L1_RPC                     an error object; *rpc_code (if not NULL) gets its code.
 * `err` gets a line naming the method and what was wrong. */
zk_err l1w_rpc_call(l1w_rpc *rpc, json_object **result, int *rpc_code, zk_error_detail *err,
                    const char *method, json_object *params) ZK_MUST_CHECK;

/* Parses one complete JSON-RPC 2.0 reply in `buf[0..len)` (at most `reply_max`
 * bytes, nesting at most L1W_JSON_DEPTH_MAX) that must answer request `id`.
 * Same result and error contract as l1w_rpc_call minus the transport errors.
 * Pure function; thread-safe. */
zk_err l1w_rpc_parse_reply(json_object **result, int *rpc_code, zk_error_detail *err,
                           const char *buf, size_t len, uint64_t id,
                           size_t reply_max) ZK_MUST_CHECK;

/* Opens a second IPC connection subscribed to newHeads, used only as a
 * wake-up hint (a subscription carries no history and dies with its
 * connection). Returns its fd (>= 0) or -1 (HTTP, or the node refused: poll).
 * l1w_rpc_drain_wakeups() reads what is pending without blocking and returns
 * false once the subscription has died (close it with l1w_rpc_unsubscribe). */
int l1w_rpc_subscribe_heads(l1w_rpc *rpc);
bool l1w_rpc_drain_wakeups(l1w_rpc *rpc);
void l1w_rpc_unsubscribe(l1w_rpc *rpc);

/* ------------------------------------------------------- decoding of replies */

/* A block header as the watcher keeps it. */
typedef struct l1w_header {
    uint64_t number;
    uint8_t hash[32];
    uint8_t parent_hash[32];
} l1w_header;

/* A Deposit event as found on L1 (SPEC §2), with where it was found. */
typedef struct l1w_deposit {
    uint64_t deposit_id;
    uint64_t amount_gwei;     /* < 2^63 */
    uint64_t block_number;
    uint64_t log_index;
    uint8_t block_hash[32];
    uint8_t tx_hash[32];
    uint8_t from[20];
    uint8_t to[20];
} l1w_deposit;

/* Parses an Ethereum quantity ("0x1a": 0x, 1 to 16 hex digits, no leading
 * zero except "0x0") from s[0..len). ZK_ERR_BAD_HEX or ZK_ERR_OUT_OF_RANGE. */
zk_err l1w_quantity_parse(uint64_t *out, zk_error_detail *err, const char *s,
                          size_t len) ZK_MUST_CHECK;

/* Reads number, hash and parentHash of a block object (eth_getBlockByNumber). */
zk_err l1w_header_decode(l1w_header *out, zk_error_detail *err,
                         const json_object *block) ZK_MUST_CHECK;

/* Decodes one log object of eth_getLogs as a Deposit of the bridge at
 * `bridge`: address, topic0, four topics, 32-byte data with amount < 2^63,
 * blockNumber, blockHash, transactionHash, logIndex. The "removed" flag is
 * ignored on purpose (anvil never sets it; reorgs are found by hashes). */
zk_err l1w_log_decode(l1w_deposit *out, zk_error_detail *err, const json_object *log,
                      const uint8_t bridge[20]) ZK_MUST_CHECK;

/* ---------------------------------------------------------------- outbox */

typedef struct l1w_outbox l1w_outbox;

/* Where the watcher stands: every block < next_block is processed;
 * prev_hash is the hash of block next_block - 1 (when has_prev). */
typedef struct l1w_cursor {
    uint64_t next_block;
    uint64_t next_deposit_id;
    bool has_prev;
    uint8_t prev_hash[32];
} l1w_cursor;

/* A record of the outbox: a confirmed deposit with its dense sequence number (1, 2, …). */
typedef struct l1w_record {
    uint64_t seq;
    l1w_deposit deposit;
} l1w_record;

/* Opens (creating if needed) the outbox at `path` (a sqlite file) for
 * (chain_id, bridge, from_block). A new outbox draws a random stream id and
 * starts at from_block; an existing one must have been made for the same
 * bridge and start block, and for the same chain id where both are known (0 is
 * unknown), else ZK_ERR_L1_DATA_DIR. ZK_ERR_IO for sqlite failures. The handle
 * is used by one thread. */
zk_err l1w_outbox_open(l1w_outbox **out, zk_error_detail *err, const char *path, uint64_t chain_id,
                       const uint8_t bridge[20], uint64_t from_block) ZK_MUST_CHECK;
void l1w_outbox_close(l1w_outbox *ob);
uint64_t l1w_outbox_stream_id(const l1w_outbox *ob);
/* The chain id the outbox belongs to (0: not known yet). */
uint64_t l1w_outbox_chain_id(const l1w_outbox *ob);
/* Records the chain id of an outbox that had none (the node's, once checked). */
zk_err l1w_outbox_set_chain_id(l1w_outbox *ob, zk_error_detail *err, uint64_t chain_id) ZK_MUST_CHECK;
/* Sequence number of the newest record (0 when empty). */
uint64_t l1w_outbox_last_seq(const l1w_outbox *ob);
void l1w_outbox_cursor(const l1w_outbox *ob, l1w_cursor *out);
/* Appends `n` deposits (ids must continue the cursor's next_deposit_id, asserted)
 * and moves the cursor to `cursor`, in one durable transaction. */
zk_err l1w_outbox_commit(l1w_outbox *ob, zk_error_detail *err, const l1w_deposit *deps, size_t n,
                         const l1w_cursor *cursor) ZK_MUST_CHECK;
/* Reads up to `max` records with seq >= from_seq into `out`; *n gets the count. */
zk_err l1w_outbox_read(l1w_outbox *ob, zk_error_detail *err, l1w_record *out, size_t max, size_t *n,
                       uint64_t from_seq) ZK_MUST_CHECK;

/* ------------------------------------------------------ stream messages */

typedef enum l1w_msg_type {
    L1W_MSG_HELLO = 1,   /* consumer -> producer: version, stream_id (0 any), last applied seq, credit */
    L1W_MSG_ACK = 2,     /* consumer -> producer: applied seq, credit */
    L1W_MSG_WELCOME = 3, /* producer -> consumer: version, stream_id, last seq */
    L1W_MSG_DEPOSIT = 4, /* producer -> consumer: one record */
    L1W_MSG_STATUS = 5,  /* producer -> consumer: l1 head, confirmed block, last seq (heartbeat) */
    L1W_MSG_ERROR = 6,   /* producer -> consumer: zk_err code and text; the session ends */
    /* Version 2: informational, unsequenced, never acked, no credit. */
    L1W_MSG_SEEN = 7,    /* producer -> consumer: a deposit on L1 waiting for its confirmations */
    L1W_MSG_REORGED = 8, /* producer -> consumer: a pending deposit that left the canonical chain */
} l1w_msg_type;

typedef struct l1w_msg {
    l1w_msg_type type;
    uint64_t version;      /* HELLO, WELCOME */
    uint64_t stream_id;    /* HELLO, WELCOME */
    uint64_t seq;          /* HELLO: last applied; ACK: applied; WELCOME, STATUS: last seq */
    uint64_t credit;       /* HELLO, ACK */
    uint64_t head;         /* STATUS */
    uint64_t confirmed;    /* STATUS: the newest confirmed block */
    uint64_t code;         /* ERROR */
    char text[128];        /* ERROR, NUL-terminated */
    l1w_record record;     /* DEPOSIT; SEEN and REORGED: record.deposit (record.seq is 0) */
} l1w_msg;

/* Encodes `m` as msgpack into buf (cap bytes); *len gets the size.
 * ZK_ERR_TOO_BIG if it does not fit. */
zk_err l1w_msg_encode(uint8_t *buf, size_t cap, size_t *len, const l1w_msg *m) ZK_MUST_CHECK;
/* Decodes one message from buf[0..len) (at most L1W_MSG_MAX): exactly one
 * msgpack array of the shape its type defines, nothing after it.
 * ZK_ERR_STREAM_PROTOCOL with a reason otherwise. Thread-safe. */
zk_err l1w_msg_decode(l1w_msg *m, zk_error_detail *err, const uint8_t *buf, size_t len) ZK_MUST_CHECK;

/* ---------------------------------------------------------------- watcher */

typedef struct l1w_config {
    const char *l1_rpc;            /* URL as for l1w_rpc_create */
    uint8_t bridge[20];
    uint64_t from_block;
    uint32_t confirmations;        /* 1..L1W_CONFIRMATIONS_MAX or L1W_CONFIRMATIONS_FINALIZED */
    uint64_t chain_id;             /* required eth_chainId; 0 = accept the node's (and record it) */
    const char *data_dir;          /* holds l1-watcher.sqlite; created if missing */
    const char *stream_endpoint;   /* ZeroMQ bind endpoint; NULL = no stream */
    int poll_ms;                   /* head polling interval (a newHeads wake-up comes sooner) */
    int rpc_timeout_ms;
    size_t reply_max;              /* 0: L1W_REPLY_MAX_DEFAULT */
    uint64_t logs_chunk_max;       /* blocks per eth_getLogs at most; 0: 10000 */
} l1w_config;

/* Fills `c` with the defaults (confirmations 12, poll 1000 ms, timeout 10 s). */
void l1w_config_defaults(l1w_config *c);

/* Counters and gauges for logs and metrics; a snapshot. */
typedef struct l1w_stats {
    uint64_t chain_id;
    uint64_t l1_head;              /* newest head seen */
    uint64_t l1_confirmed;         /* newest block whose deposits are delivered (next_block - 1) */
    uint64_t next_deposit_id;
    uint64_t deposits_total;       /* confirmed deposits committed by this process */
    uint64_t last_seq;
    uint64_t reorgs_total;         /* reorgs of unconfirmed blocks handled */
    uint64_t reorg_depth_max;
    uint64_t rpc_errors_total;     /* failed calls, retried */
    uint64_t logs_chunk;           /* current eth_getLogs range */
    uint64_t deposits_pending;     /* seen above the cursor, waiting for confirmations */
    uint64_t deposits_reorged_total; /* pending deposits that left the canonical chain */
    bool newheads;                 /* an IPC newHeads subscription is live (wake-ups) */
    zk_err fatal;                  /* ZK_OK, or why the watcher stopped (deep reorg, gap, …) */
    char fatal_text[240];
} l1w_stats;

/* Called for each deposit right after it is committed to the outbox, on the
 * watcher's thread. For embedding; the stream serves the same records. */
typedef void (*l1w_deposit_fn)(void *ctx, const l1w_record *rec);

typedef struct l1w_watcher l1w_watcher;

/* Validates `cfg` (copied), opens the outbox and binds the stream endpoint.
 * ZK_ERR_USAGE for bad values, ZK_ERR_L1_DATA_DIR, ZK_ERR_IO. Does not touch L1. */
zk_err l1w_watcher_create(l1w_watcher **out, zk_error_detail *err, const l1w_config *cfg,
                          l1w_deposit_fn on_deposit, void *ctx) ZK_MUST_CHECK;
/* Runs until l1w_watcher_stop (returns ZK_OK) or a fatal condition: a wrong
 * chain id (ZK_ERR_L1_CHAIN_ID), a reorg of a confirmed block
 * (ZK_ERR_L1_DEEP_REORG), a deposit id gap (ZK_ERR_L1_DEPOSIT_GAP), an outbox
 * failure (ZK_ERR_IO). Node failures (down, timeouts, 429, garbage) are
 * retried with backoff from 100 ms up to 5 s. Call from one thread. */
zk_err l1w_watcher_run(l1w_watcher *w, zk_error_detail *err) ZK_MUST_CHECK;
/* Asks run() to return soon. Thread-safe and async-signal-safe. */
void l1w_watcher_stop(l1w_watcher *w);
/* Copies the current figures. Thread-safe. */
void l1w_watcher_stats(l1w_watcher *w, l1w_stats *out);
/* Frees; the watcher must not be running. NULL is fine. */
void l1w_watcher_destroy(l1w_watcher *w);

typedef struct l1w_pending l1w_pending; /* l1-watcher/pending.h */
/* The watcher's view of unconfirmed and reorged deposits (pending.h), owned
 * by the watcher and valid until l1w_watcher_destroy. Each round that finds a
 * new head, once the confirmed range is caught up, the watcher scans the
 * unconfirmed window [cursor, head] with one eth_getLogs (none when the head
 * did not move; skipped while the window is wider than logs_chunk_max) and
 * updates the view; it also tells stream consumers (SEEN, REORGED). The
 * view's functions are thread-safe. */
l1w_pending *l1w_watcher_pending(l1w_watcher *w);

/* Running a watcher on a thread of its own (the one trampoline for `zkcar
 * run`, the benchmark and the tests). l1w_watcher_start calls
 * l1w_watcher_run(w) on a new thread; *out belongs to the caller until
 * l1w_watcher_join. ZK_ERR_NOMEM, ZK_ERR_IO (no thread). */
typedef struct l1w_watcher_thread l1w_watcher_thread;
zk_err l1w_watcher_start(l1w_watcher_thread **out, l1w_watcher *w, zk_error_detail *err) ZK_MUST_CHECK;
/* True once run() has returned (stopped, or a fatal condition). Thread-safe. */
bool l1w_watcher_done(const l1w_watcher_thread *t);
/* Waits for the thread (it does not stop the watcher: call l1w_watcher_stop
 * first unless run() has returned), frees `t` and returns run()'s result,
 * with its detail copied into `err` (may be NULL) when it is not ZK_OK.
 * NULL gives ZK_OK. The watcher itself stays the caller's to destroy. */
zk_err l1w_watcher_join(l1w_watcher_thread *t, zk_error_detail *err);

/* `zkcar watch`: flags per SPEC §1 (see docs/l1-watcher.md). Exit 0 on
 * SIGINT/SIGTERM, 1 on a runtime failure, 2 on bad usage. */
int l1w_watch_main(int argc, char **argv);

/* ---------------------------------------------------------------- consumer */

typedef struct l1w_consumer l1w_consumer;

/* Connects to a producer at `endpoint` and says HELLO. `stream_id` is the id
 * the caller's applied records came from (0 when it has applied nothing), and
 * `last_applied` its last applied sequence number (0 = none). `credit` is how
 * many unacknowledged records may be in flight (1..65536). One thread. */
zk_err l1w_consumer_create(l1w_consumer **out, zk_error_detail *err, const char *endpoint,
                           uint64_t stream_id, uint64_t last_applied, uint32_t credit) ZK_MUST_CHECK;
void l1w_consumer_destroy(l1w_consumer *c);

/* Waits up to timeout_ms for the next record in sequence. ZK_OK: *rec is
 * seq last_delivered + 1 (duplicates are dropped, a gap makes it say HELLO again).
 * ZK_ERR_TIMEOUT: nothing yet. ZK_ERR_STREAM_CHANGED: the producer's stream id
 * is not the one the caller applied from (its outbox was wiped) — stop and
 * alert. ZK_ERR_STREAM_PROTOCOL: the producer refused the session. */
zk_err l1w_consumer_next(l1w_consumer *c, l1w_record *rec, zk_error_detail *err,
                         int timeout_ms) ZK_MUST_CHECK;
/* Acknowledges every record up to `seq` as durably applied (opens credit). */
zk_err l1w_consumer_ack(l1w_consumer *c, zk_error_detail *err, uint64_t seq) ZK_MUST_CHECK;
/* The producer's stream id once welcomed (0 before). */
uint64_t l1w_consumer_stream_id(const l1w_consumer *c);
/* The producer's last STATUS: L1 head and confirmed block (0 before one arrives). */
void l1w_consumer_status(const l1w_consumer *c, uint64_t *l1_head, uint64_t *l1_confirmed);
/* The view of unconfirmed and reorged deposits (pending.h) this consumer
 * feeds from SEEN and REORGED messages and from the records it delivers (a
 * delivered record leaves it when the caller acks it or calls next again,
 * i.e. once applied): its own (valid until l1w_consumer_destroy) unless
 * l1w_consumer_set_pending gave another. Each WELCOME clears its pending
 * entries (the producer sends its whole pending set next); the reorged ones
 * stay. A version-1 producer sends neither message: the view then holds no
 * pending entries. */
l1w_pending *l1w_consumer_pending(l1w_consumer *c);
/* Feeds `view` (borrowed: it must outlive the consumer) instead of the
 * consumer's own, which is freed — for a caller that reconnects with new
 * consumers and keeps one view. Call before the first l1w_consumer_next. */
void l1w_consumer_set_pending(l1w_consumer *c, l1w_pending *view);

#endif
