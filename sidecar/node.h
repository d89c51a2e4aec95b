/*
 * sidecar/node.h — the sidecar's core: the state machine behind `zkcar run`.
 *
 * The node owns the shared-memory state's writer (ipc/state.h), its own
 * durable store (DIR/sidecar.sqlite: transactions, deposits, batches) and the
 * sequencer. The state in shared memory is the state after the last *sealed*
 * batch; transactions accepted since then live in the store and in an
 * in-memory overlay (pending balances and nonces) that new transactions are
 * validated against.
 *
 * Lifecycle of a transaction: zkcar_sendTransaction → sc_node_submit checks
 * form/range/signature (the caller's thread, in parallel), then nonce and
 * balance against state + overlay, appends it to the store and returns only
 * once that is durable (group commit) → `pending`. The sequencer seals a
 * batch when it holds batch_size operations or its oldest is
 * batch_interval_ms old: it builds the proving job (witnesses from the state),
 * writes DIR/batches/<n>.job durably, then applies the batch to the state →
 * `sealed`. Provers (in-process threads, remote workers via sc_node_job_*)
 * prove jobs; results are verified, DIR/batches/<n>.batch is written, and
 * batches become `proven` strictly in order → ipc_writer_mark_proven.
 *
 * Deposits: confirmed deposits arrive from the watcher (embedded, or a stream
 * consumer) in deposit-id order; sc_node_deposit makes each durable once
 * (a repeat of an id already stored is acknowledged and ignored) and queues
 * it for the next batch.
 *
 * Restart: the store and the job files are the truth; unsealed transactions
 * and deposits return to the overlay, a job whose batch the state has not
 * applied yet is applied, and unproven batches are proven again.
 *
 * Thread-safety: every sc_node_* call below may be made from any thread
 * once sc_node_start has returned, except open/start/stop/close.
 */
#ifndef ZKCAR_SIDECAR_NODE_H
#define ZKCAR_SIDECAR_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/tx.h"
#include "l1-watcher/l1w.h"
#include "prover/field.h"
#include "prover/stark.h"
#include "sidecar/store.h"

#define SC_DEFAULT_BATCH_SIZE 1024u
#define SC_DEFAULT_BATCH_INTERVAL_MS 2000u
#define SC_DEFAULT_MEMPOOL_MAX 65536u

typedef struct sc_node sc_node;

typedef struct sc_config {
    const char *data_dir;
    uint64_t chain_id;                 /* EIP-712 domain */
    uint8_t bridge[20];
    uint8_t operator_addr[20];
    uint32_t batch_size;               /* operations per batch (deposits included) */
    uint32_t batch_interval_ms;
    uint32_t mempool_max;              /* accepted, unsealed transactions; beyond: 1005 */
    unsigned prover_threads;           /* in-process proving threads; 0 = remote only */
    prv_stark_params params;           /* proof parameters */
    uint32_t state_capacity;           /* ipc_writer_options.capacity (0 = default) */
    bool keep_jobs;                    /* keep DIR/batches/<n>.job once <n> is proven (default:
                                          delete it; the artifact <n>.batch is the record) */
} sc_config;

void sc_config_defaults(sc_config *c);

/* Opens the data directory and recovers (see above). ZK_ERR_STATE_LOCKED
 * when another sidecar runs on it; ZK_ERR_SC_STORE, ZK_ERR_IO. */
zk_err sc_node_open(sc_node **out, const sc_config *cfg, zk_error_detail *err) ZK_MUST_CHECK;
/* Starts the sequencer and the in-process prover threads. */
zk_err sc_node_start(sc_node *n, zk_error_detail *err) ZK_MUST_CHECK;
/* Stops accepting (ZK_ERR_SC_STOPPING), seals nothing new, abandons the
 * proofs in flight (they are proven again after a restart), joins threads. */
void sc_node_stop(sc_node *n);
void sc_node_close(sc_node *n);
/* True once the node has stopped sealing and accepting because its store or
 * its state failed (a failed fsync is fatal): `zkcar run` then exits 1 and a
 * restart recovers from what is durable. Thread-safe. */
bool sc_node_failed(sc_node *n);

/* ---- ingest ----------------------------------------------------------------- */

/* Validates `tx` in SPEC §4 order and makes it durable; *hash gets the
 * transaction hash. Errors: ZK_ERR_TX_RANGE, ZK_ERR_SIG_*, ZK_ERR_TX_NONCE,
 * ZK_ERR_TX_BALANCE, ZK_ERR_SC_OVERLOADED, ZK_ERR_SC_STOPPING, ZK_ERR_SC_STORE.
 * sc_rpc_code maps them to the API's codes. */
zk_err sc_node_submit(sc_node *n, const zk_tx *tx, uint8_t hash[32], zk_error_detail *err) ZK_MUST_CHECK;

/* The same without blocking, for servers that answer many clients from a
 * few threads (the API on epoll). The caller fills `done` (and `ctx`) and
 * keeps `t` alive until done(t, rc) is called. Returns:
 *   ZK_OK   the transaction is valid and queued for the group commit;
 *           done(t, rc) follows exactly once, on the store's committer
 *           thread, with rc ZK_OK once durable (acknowledge then) or the
 *           store's error; the callback must not block and may free t;
 *   else    the same errors as sc_node_submit, done is never called.
 * Validation happens in this call, so transactions submitted one after the
 * other are checked against each other in that order, as with
 * sc_node_submit. */
typedef struct sc_node_ticket {
    void (*done)(struct sc_node_ticket *t, zk_err rc); /* in */
    void *ctx;                                          /* in, for done */
    struct sc_node *node;                               /* private */
    sc_store_waiter waiter;                             /* private */
} sc_node_ticket;
zk_err sc_node_submit_async(sc_node *n, const zk_tx *tx, uint8_t hash[32], sc_node_ticket *t,
                            zk_error_detail *err) ZK_MUST_CHECK;

/* The API code (SPEC §4) of a submit error: 1001..1005, -32602, or -32603. */
int sc_rpc_code(zk_err code);

/* Counts a transaction of `type` that a front end's decoder refused before
 * calling sc_node_submit — for its amount or fee (ZK_ERR_TX_RANGE, 1004) or
 * for a signature of the wrong length (ZK_ERR_SIG_*, 1001) — in
 * zkcar_l2_transactions_total{type,result}, as a submit would
 * ("out_of_range", "bad_signature"). Any other code is not counted (form
 * errors are not transactions). Thread-safe. */
void sc_node_count_refused(sc_node *n, zk_tx_type type, zk_err code);

/* A confirmed deposit from the watcher. Durable when it returns ZK_OK.
 * Ids must come in order: a repeat of a stored id → ZK_OK (ignored); an id
 * beyond the next expected → ZK_ERR_SC_DEPOSIT_ORDER. */
zk_err sc_node_deposit(sc_node *n, const l1w_record *rec, zk_error_detail *err) ZK_MUST_CHECK;
/* The last stream sequence and stream id applied (for consumer resume). */
void sc_node_deposit_cursor(sc_node *n, uint64_t *stream_id, uint64_t *last_seq);
/* Records the stream id deposits come from (first HELLO). */
zk_err sc_node_set_stream_id(sc_node *n, uint64_t stream_id, zk_error_detail *err) ZK_MUST_CHECK;
/* L1 progress for status and metrics. */
void sc_node_set_l1(sc_node *n, uint64_t head, uint64_t confirmed);

/* ---- queries (the API) ----------------------------------------------------- */

typedef enum sc_tx_status { SC_TX_PENDING = 1, SC_TX_SEALED, SC_TX_PROVEN, SC_TX_REJECTED } sc_tx_status;

typedef struct sc_tx_view {
    zk_tx tx;
    uint8_t hash[32];
    sc_tx_status status;
    uint64_t batch;            /* 0 while pending */
    char error[160];           /* for rejected */
} sc_tx_view;
bool sc_node_get_tx(sc_node *n, const uint8_t hash[32], sc_tx_view *out);

/* `exists` and `id`: the account is in the state (a batch that funds it is
 * sealed). balance and nonce are valid either way: an address whose only
 * funds are pending (a credited deposit, an accepted transfer) has
 * exists = false and its pending balance; an unknown address has 0, 0. */
typedef struct sc_account_view {
    bool exists;
    uint32_t id;
    uint64_t balance;          /* including accepted, unsealed transactions */
    uint32_t nonce;            /* the next nonce a transaction must carry */
    uint64_t proven_balance;
    uint32_t proven_nonce;
} sc_account_view;
void sc_node_get_account(sc_node *n, const uint8_t address[20], sc_account_view *out);

typedef enum sc_deposit_status { SC_DEP_PENDING_CONFIRMATIONS = 1, SC_DEP_CREDITED, SC_DEP_REORGED } sc_deposit_status;
typedef struct sc_deposit_view {
    l1w_deposit deposit;
    sc_deposit_status status;
    uint64_t batch;            /* 0 until sealed into a batch (always 0 unless credited) */
} sc_deposit_view;
/* Deposit `deposit_id`: credited (in the store) wins; else what the pending
 * view says (sc_node_set_pending): SC_DEP_PENDING_CONFIRMATIONS, or
 * SC_DEP_REORGED for an id whose newest known deposit left the chain.
 * False when neither knows the id. */
bool sc_node_get_deposit(sc_node *n, uint64_t deposit_id, sc_deposit_view *out);
/* The view of unconfirmed and reorged deposits sc_node_get_deposit asks
 * (l1-watcher/pending.h): the embedded watcher's, or the stream consumer's.
 * Borrowed: it must stay valid until it is replaced (NULL: none). Thread-safe. */
void sc_node_set_pending(sc_node *n, l1w_pending *view);

typedef enum sc_batch_status { SC_BATCH_SEALED = 1, SC_BATCH_PROVING, SC_BATCH_PROVEN, SC_BATCH_FAILED } sc_batch_status;
typedef struct sc_withdrawal { uint8_t to[20]; uint64_t amount; } sc_withdrawal;
typedef struct sc_batch_view {
    uint64_t number;
    sc_batch_status status;
    prv_gl prev_root[4], root[4];
    uint32_t tx_count, deposit_count;
    size_t nwithdrawals;
    sc_withdrawal *withdrawals;  /* malloc'd; sc_batch_view_free */
    uint64_t proof_size;         /* 0 until proven */
    uint64_t proving_ms;
} sc_batch_view;
bool sc_node_get_batch(sc_node *n, uint64_t number, sc_batch_view *out);
void sc_batch_view_free(sc_batch_view *v);

typedef struct sc_status_view {
    uint64_t chain_id;
    uint8_t bridge[20];
    uint64_t l1_head, l1_confirmed;
    uint64_t next_deposit_id;
    uint64_t last_batch, last_proven_batch;
    uint64_t pending_txs;
    uint32_t accounts;
    prv_gl state_root[4];        /* after the last sealed batch */
} sc_status_view;
void sc_node_status(sc_node *n, sc_status_view *out);

/* The root of batch `number` in 0x-hex as the API shows it (4 elements,
 * each 16 hex digits big-endian, concatenated: 0x + 64 digits). */
void sc_root_hex(char out[67], const prv_gl root[4]);

/* ---- proving jobs ------------------------------------------------------------ */

/* The next sealed batch without a proof nor a prover: its encoded
 * prv_batch_job (malloc'd; caller frees). Waits up to timeout_ms;
 * false on timeout or stop. The batch is `proving` until done or returned. */
bool sc_node_job_take(sc_node *n, uint64_t *batch, uint8_t **job, size_t *job_len, int timeout_ms);
/* The prover gave up (worker died or timed out): the batch is handed out again. */
void sc_node_job_return(sc_node *n, uint64_t batch);
/* A proof for `batch`: verified against the batch's public data before it
 * is accepted (ZK_ERR_PRV_PROOF_REJECTED: the job goes back to the queue),
 * then written as DIR/batches/<n>.batch; batches become proven in order. */
zk_err sc_node_job_done(sc_node *n, uint64_t batch, const uint8_t *proof, size_t proof_len,
                        double prove_seconds, zk_error_detail *err) ZK_MUST_CHECK;

/* ---- metrics ------------------------------------------------------------------ */

struct zk_metrics;
/* Registers the node's metric families (SPEC §5) in `m` and keeps them
 * current. Call before sc_node_start. */
zk_err sc_node_register_metrics(sc_node *n, struct zk_metrics *m) ZK_MUST_CHECK;

#endif
