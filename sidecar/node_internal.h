/*
 * sidecar/node_internal.h — what the parts of the node share; not an API
 * (node.h is). The node's struct, its queues and maps, and the helpers one
 * part calls in another:
 *
 *   node.c         open and recovery, the overlay, the lifecycle, metrics
 *   node_ingest.c  transactions and deposits in (sc_node_submit*, sc_node_deposit)
 *   node_seal.c    the sequencer: sealing batches
 *   node_prove.c   proving in order (in-process provers, the job interface)
 *   node_query.c   what the API reads
 *
 * Locks, in the order they may be taken:
 *   dep_lock   serialises sc_node_deposit (check, store, queue);
 *   prove_lock serialises the in-order advance of proven batches;
 *   wlock      the ipc writer (sequencer: build..commit; mark_proven);
 *   mu         everything in memory: overlay, queues, job slots, counters;
 *   the store's own locks (never held while taking mu, except the enqueue
 *   of a waiter, which takes only the store's queue lock).
 * The commit hook runs on the store's committer thread and takes mu only.
 */
#ifndef ZKCAR_SIDECAR_NODE_INTERNAL_H
#define ZKCAR_SIDECAR_NODE_INTERNAL_H

#include "sidecar/node.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/eip712.h"
#include "common/file.h"
#include "common/log.h"
#include "ipc/batch.h"
#include "ipc/state.h"
#include "prover/batch.h"
#include "l1-watcher/pending.h"
#include "sidecar/metrics.h"
#include "sidecar/store.h"

#define NODE_PATH_MAX 4096
#define NODE_JOB_FILE_MAX (UINT64_C(1) << 32) /* cap on a job file we read back */
#define OV_BUCKETS 65536u                     /* overlay hash buckets (power of two) */

/* ---- small helpers ------------------------------------------------------------ */

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* ---- an address -> account values map (the overlay, and the sealing check) ---- */

typedef struct acct_rec {
    uint8_t addr[20];
    uint64_t balance;
    uint32_t nonce;
    uint32_t refs;      /* overlay: pending operations that touch it */
    struct acct_rec *next;
} acct_rec;

typedef struct acct_map {
    acct_rec **b;
    uint32_t mask;
    size_t count;
} acct_map;


/* ---- the node ------------------------------------------------------------------ */

typedef struct pend_tx {
    uint64_t seq;
    uint8_t hash[32];
    zk_tx tx;
    int64_t arrival_ms;
    bool in_overlay;     /* its effects are in the overlay */
} pend_tx;

typedef struct pend_dep {
    l1w_record rec;
    int64_t arrival_ms;
} pend_dep;

enum { JOB_QUEUED = 1, JOB_TAKEN, JOB_DONE, JOB_FAILED };

typedef struct job_slot {
    uint64_t number;
    int state;
} job_slot;

typedef struct node_metrics {
    zk_metric *deposits_credited;
    zk_metric *tx[2][7];           /* [type][result] */
    zk_metric *batches[3];         /* sealed, proven, failed */
    zk_metric *prove_seconds;
    zk_metric *l1_head, *l1_confirmed, *mempool, *accounts;
    zk_metric *deposits_pending, *deposits_reorged;
} node_metrics;

enum { R_ACCEPTED, R_SIGNATURE, R_NONCE, R_BALANCE, R_RANGE, R_OVERLOADED, R_REJECTED_AT_SEAL, R_COUNT };


struct sc_node {
    sc_config cfg;
    char dir[NODE_PATH_MAX];
    char batches_dir[NODE_PATH_MAX];
    zk_eip712_domain domain;

    ipc_writer *w;
    ipc_reader *r;
    sc_store *store;

    pthread_mutex_t mu, wlock, dep_lock, prove_lock;
    pthread_cond_t seq_cond, job_cond;

    acct_map overlay;              /* address -> values after every pending operation */

    pend_tx *txq;                  /* ring of accepted, unsealed transactions, acceptance order */
    size_t txq_cap, txq_head, txq_len;
    size_t txq_durable;            /* the first txq_durable entries are committed to the store */
    uint64_t pending_fees;         /* fees of the transactions in txq */

    pend_dep *depq;                /* credited, unsealed deposits in id order */
    size_t depq_cap, depq_head, depq_len;

    uint64_t next_tx_seq, next_deposit_id;
    uint64_t stream_id, last_seq;
    uint64_t l1_head, l1_confirmed;
    l1w_pending *pending;          /* unconfirmed/reorged deposits (sc_node_set_pending); under mu */
    uint64_t reorged_counted;      /* the view's reorged_total already in the metric; under mu */

    uint64_t last_batch, last_proven;
    prv_gl state_root[4];
    uint32_t accounts;

    job_slot *jobs;                /* unproven batches, ascending */
    size_t njobs, jobs_cap;

    bool started, stopping, failed;
    pthread_t seq_thread;
    pthread_t *provers;
    unsigned nprovers;

    node_metrics m;
};

static inline void minc(zk_metric *s)
{
    if (s != NULL)
        zk_metric_inc(s);
}

static inline void count_result(sc_node *n, zk_tx_type type, int result)
{
    minc(n->m.tx[type == ZK_TX_WITHDRAW ? 1 : 0][result]);
}


static inline pend_tx *txq_at(sc_node *n, size_t i)
{
    return &n->txq[(n->txq_head + i) % n->txq_cap];
}

static inline pend_dep *depq_at(sc_node *n, size_t i)
{
    return &n->depq[n->depq_head + i];
}


/* ---- node.c ---- */
bool scn_map_init(acct_map *m, uint32_t buckets);
void scn_map_free(acct_map *m);
acct_rec *scn_map_find(const acct_map *m, const uint8_t addr[20]);
acct_rec *scn_map_add(acct_map *m, const uint8_t addr[20], uint64_t balance, uint32_t nonce);
/* A broken store or state: stop sealing and accepting, say why once. */
void scn_node_fail(sc_node *n, const char *what, const zk_error_detail *e);
/* Reads batch `number`'s job file: decoded into *job and/or raw into *bytes (either may be NULL). */
zk_err scn_load_job(sc_node *n, uint64_t number, prv_batch_job *job, uint8_t **bytes, size_t *len,
                    zk_error_detail *err);
/* Deletes batch `number`'s job file (a proven batch's: the artifact is the
 * record). A failure is logged, not fatal: the file only takes space. */
void scn_drop_job(sc_node *n, uint64_t number);
bool scn_committed_get(sc_node *n, const uint8_t addr[20], ipc_account *out);
/* The overlay (under mu): the committed state plus every pending operation. */
acct_rec *scn_ov_ref(sc_node *n, const uint8_t addr[20]);
void scn_ov_unref(sc_node *n, const uint8_t addr[20]);
void scn_ov_view(sc_node *n, const uint8_t addr[20], uint64_t *balance, uint32_t *nonce);
zk_err scn_ov_check(sc_node *n, const zk_tx *tx, zk_error_detail *err);
void scn_ov_apply_tx(sc_node *n, const zk_tx *tx);
void scn_ov_unapply_tx(sc_node *n, const zk_tx *tx);
void scn_ov_rebuild(sc_node *n);
zk_err scn_jobs_push(sc_node *n, uint64_t number, int state);
job_slot *scn_jobs_find(sc_node *n, uint64_t number);
zk_err scn_depq_push(sc_node *n, const l1w_record *rec);

/* ---- node_ingest.c ---- */
/* The store's commit hook: counts the group's transactions durable. */
void scn_commit_hook(void *ctx, sc_store_waiter *first, zk_err rc);

/* ---- node_seal.c ---- */
void *scn_sequencer_main(void *p);

/* ---- node_prove.c ---- */
/* Records every proven batch past last_proven, in order, in the state. */
zk_err scn_advance_proven(sc_node *n, zk_error_detail *err);
void *scn_prover_main(void *p);

#endif
