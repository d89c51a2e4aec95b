/*
 * sidecar/store.h — the sidecar's durable store: DIR/sidecar.sqlite.
 *
 * What the node must not forget lives here (docs/sidecar.md, "Store"):
 *   txs       every accepted transaction: arrival order (seq), hash, body,
 *             status (pending, sealed, rejected), batch, error;
 *   deposits  every credited deposit with its L1 facts, its stream sequence
 *             number and the batch that consumed it (0 until sealed);
 *   batches   number, roots, counts, first deposit id, the withdrawals,
 *             when sealed, whether its proof is done, proof size and time,
 *             failure;
 *   meta      the deposit stream's id and last applied sequence number, the
 *             chain id and bridge the store belongs to.
 * sqlite in WAL mode with synchronous=FULL: a transaction is durable when its
 * COMMIT returns (the WAL is fsynced), which is what an acknowledgement needs.
 *
 * Group commit: acknowledging each transaction with its own fsync would cap
 * ingest at the disk's fsync rate. Submitters instead enqueue a waiter
 * (sc_store_tx_enqueue, cheap, in the caller's order) and block in
 * sc_store_tx_wait; one committer thread takes everything queued, writes it
 * in one sqlite transaction (one fsync), runs the commit hook with the group
 * in queue order, then wakes the waiters. While one group commits the next
 * one gathers, so the group size adapts to the load.
 *
 * Thread-safety: every function may be called from any thread after
 * sc_store_open; writes are serialised on one connection, reads use a second
 * connection (WAL lets them run beside a commit).
 */
#ifndef ZKCAR_SIDECAR_STORE_H
#define ZKCAR_SIDECAR_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/tx.h"
#include "l1-watcher/l1w.h"
#include "prover/field.h"

#define SC_STORE_FILE "sidecar.sqlite"
#define SC_STORE_TX_BODY 126          /* encoded zk_tx: type, from, to, amount, fee, nonce, sig */
#define SC_STORE_ERROR_MAX 160        /* a rejection reason, with its NUL */
#define SC_STORE_WITHDRAWALS_MAX (28u * 65536u) /* cap on a batch's withdrawal blob: 28 bytes each */

typedef struct sc_store sc_store;

/* Stored transaction statuses (proven is derived from the batch). */
enum { SC_STORE_TX_PENDING = 1, SC_STORE_TX_SEALED = 2, SC_STORE_TX_REJECTED = 4 };

typedef struct sc_store_tx {
    uint64_t seq;                   /* arrival order, 1, 2, ... */
    uint8_t hash[32];
    zk_tx tx;
    int status;                     /* SC_STORE_TX_* */
    uint64_t batch;                 /* 0 unless sealed */
    char error[SC_STORE_ERROR_MAX]; /* for rejected */
} sc_store_tx;

typedef struct sc_store_deposit {
    l1w_record rec;                 /* the stream record as credited */
    uint64_t batch;                 /* 0 until sealed */
} sc_store_deposit;

typedef struct sc_store_batch {
    uint64_t number;
    prv_gl prev_root[4], root[4];
    uint32_t tx_count, deposit_count;
    uint64_t first_deposit_id;
    int64_t sealed_ms;              /* Unix ms */
    bool proof_done;                /* DIR/batches/<n>.batch is written */
    bool failed;                    /* the prover refused its job */
    uint64_t proof_size;
    uint64_t proving_ms;
    uint8_t *withdrawals;           /* n x (to[20] ‖ amount u64 LE); malloc'd by the getters */
    size_t withdrawals_len;
} sc_store_batch;

/* Opens (creating) DIR/sidecar.sqlite and starts the committer thread.
 * ZK_ERR_SC_STORE (with sqlite's message) or ZK_ERR_NOMEM. */
zk_err sc_store_open(sc_store **out, const char *dir, zk_error_detail *err) ZK_MUST_CHECK;
/* Commits what is queued, stops the committer (a later enqueue gets ZK_ERR_SC_STOPPING) and closes. NULL is fine. */
void sc_store_close(sc_store *s);

/* ---- meta: named u64 values (durable on return) -------------------------- */
zk_err sc_store_meta_get(sc_store *s, const char *key, uint64_t *value, bool *found) ZK_MUST_CHECK;
zk_err sc_store_meta_set(sc_store *s, const char *key, uint64_t value) ZK_MUST_CHECK;

/* ---- group commit of accepted transactions ------------------------------- */

typedef struct sc_store_waiter {
    sc_store_tx rec;                /* in: seq, hash, tx (stored as pending) */
    /* in: NULL for a waiter that blocks in sc_store_tx_wait; otherwise the
     * committer calls on_done(w) once w->rc is set, on its own thread and
     * with no lock of the store held, and never touches w again (the owner
     * may free it inside on_done). Such a waiter is never waited on. */
    void (*on_done)(struct sc_store_waiter *w);
    void *ctx;                      /* in: for on_done */
    zk_err rc;                      /* out */
    bool done;
    pthread_cond_t cond;            /* private: its submitter sleeps here, woken alone */
    struct sc_store_waiter *next;
} sc_store_waiter;

/* Called on the committer thread after each group's COMMIT (rc ZK_OK) or
 * failure (rc ZK_ERR_SC_STORE), with the group in enqueue order, before any
 * waiter of the group wakes up. */
typedef void (*sc_store_commit_fn)(void *ctx, sc_store_waiter *first, zk_err rc);
/* Sets the hook (before the first enqueue). */
void sc_store_set_commit_hook(sc_store *s, sc_store_commit_fn fn, void *ctx);

/* Queues `w` (owned by the caller). A blocking waiter (on_done NULL) stays
 * alive until sc_store_tx_wait returns, and every enqueue of one is followed
 * by exactly one sc_store_tx_wait on it. A waiter with on_done stays alive
 * until on_done is called. Returns ZK_OK when queued, ZK_ERR_SC_STOPPING
 * when the store is closing: then w->rc says so, a blocking waiter's wait
 * returns at once, and on_done is NOT called. */
zk_err sc_store_tx_enqueue(sc_store *s, sc_store_waiter *w);
/* Blocks until w's group is committed; returns w->rc (ZK_OK: durable). */
zk_err sc_store_tx_wait(sc_store *s, sc_store_waiter *w) ZK_MUST_CHECK;

/* ---- deposits and batches (each call one durable transaction) ------------ */

/* Stores a credited deposit and moves meta "stream_last_seq" to rec->seq when it is higher. */
zk_err sc_store_deposit_add(sc_store *s, const l1w_record *rec, zk_error_detail *err) ZK_MUST_CHECK;

/* Records a sealed batch: inserts `b`, marks the transactions `seqs` sealed
 * into it and `rejected` (with `reasons`) rejected, and the deposits
 * b->first_deposit_id .. + b->deposit_count - 1 consumed by it. */
zk_err sc_store_seal(sc_store *s, const sc_store_batch *b, const uint64_t *seqs, size_t nseqs,
                     const uint64_t *rejected, const char *const *reasons, size_t nrejected,
                     zk_error_detail *err) ZK_MUST_CHECK;
/* Marks transactions rejected outside a batch. */
zk_err sc_store_reject(sc_store *s, const uint64_t *rejected, const char *const *reasons, size_t n,
                       zk_error_detail *err) ZK_MUST_CHECK;
/* The batch's artifact is durable: proof done with its size and proving time. */
zk_err sc_store_batch_proven(sc_store *s, uint64_t number, uint64_t proof_size, uint64_t proving_ms,
                             zk_error_detail *err) ZK_MUST_CHECK;
/* The batch cannot be proven (its job is refused by the prover). */
zk_err sc_store_batch_failed(sc_store *s, uint64_t number, zk_error_detail *err) ZK_MUST_CHECK;

/* ---- reads --------------------------------------------------------------- */

bool sc_store_tx_get(sc_store *s, const uint8_t hash[32], sc_store_tx *out);
bool sc_store_deposit_get(sc_store *s, uint64_t id, sc_store_deposit *out);
/* out->withdrawals is malloc'd (free it). */
bool sc_store_batch_get(sc_store *s, uint64_t number, sc_store_batch *out);

/* Recovery scans, in order; the callback returns false to stop early. */
typedef bool (*sc_store_tx_fn)(void *ctx, const sc_store_tx *t);
typedef bool (*sc_store_deposit_fn)(void *ctx, const sc_store_deposit *d);
typedef bool (*sc_store_batch_fn)(void *ctx, const sc_store_batch *b); /* b->withdrawals is not loaded */
zk_err sc_store_scan_pending_txs(sc_store *s, sc_store_tx_fn fn, void *ctx) ZK_MUST_CHECK;
zk_err sc_store_scan_unsealed_deposits(sc_store *s, sc_store_deposit_fn fn, void *ctx) ZK_MUST_CHECK;
zk_err sc_store_scan_batches(sc_store *s, uint64_t from, sc_store_batch_fn fn, void *ctx) ZK_MUST_CHECK;

/* Counters for recovery: the largest tx seq (0 none), the next deposit id
 * (0 none), the last batch number (0 none). */
zk_err sc_store_counts(sc_store *s, uint64_t *max_tx_seq, uint64_t *next_deposit_id,
                       uint64_t *last_batch) ZK_MUST_CHECK;

/* Copies the WAL's committed pages back into the database file (a passive
 * sqlite checkpoint on a connection of its own, so that commits never wait
 * for one). The node calls it after each sealed batch. A failure is logged:
 * the WAL still holds everything. */
void sc_store_checkpoint(sc_store *s);

/* Fixed-size encoding of a transaction (SC_STORE_TX_BODY bytes). */
void sc_store_tx_encode(uint8_t out[SC_STORE_TX_BODY], const zk_tx *tx);
/* ZK_ERR_SC_STORE for a bad length or type. */
zk_err sc_store_tx_decode(zk_tx *tx, const uint8_t *buf, size_t len) ZK_MUST_CHECK;

#endif
