/*
 * sidecar/node.c — the sidecar's core (node.h; docs/sidecar.md has the
 * design: threads, locks, sealing order, durability and restart).
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static uint32_t addr_hash(const uint8_t a[20])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 20; i++)
        h = (h ^ a[i]) * 16777619u;
    return h;
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

static bool map_init(acct_map *m, uint32_t buckets)
{
    m->b = calloc(buckets, sizeof *m->b);
    m->mask = buckets - 1;
    m->count = 0;
    return m->b != NULL;
}

static void map_clear(acct_map *m)
{
    if (m->b == NULL)
        return;
    for (uint32_t i = 0; i <= m->mask; i++) {
        for (acct_rec *a = m->b[i]; a != NULL;) {
            acct_rec *n = a->next;
            free(a);
            a = n;
        }
        m->b[i] = NULL;
    }
    m->count = 0;
}

static void map_free(acct_map *m)
{
    map_clear(m);
    free(m->b);
    m->b = NULL;
}

static acct_rec *map_find(const acct_map *m, const uint8_t addr[20])
{
    for (acct_rec *a = m->b[addr_hash(addr) & m->mask]; a != NULL; a = a->next)
        if (memcmp(a->addr, addr, 20) == 0)
            return a;
    return NULL;
}

static acct_rec *map_add(acct_map *m, const uint8_t addr[20], uint64_t balance, uint32_t nonce)
{
    acct_rec *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    memcpy(a->addr, addr, 20);
    a->balance = balance;
    a->nonce = nonce;
    uint32_t h = addr_hash(addr) & m->mask;
    a->next = m->b[h];
    m->b[h] = a;
    m->count++;
    return a;
}

static void map_remove(acct_map *m, const uint8_t addr[20])
{
    acct_rec **pp = &m->b[addr_hash(addr) & m->mask];
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (memcmp((*pp)->addr, addr, 20) == 0) {
            acct_rec *a = *pp;
            *pp = a->next;
            free(a);
            m->count--;
            return;
        }
    }
}

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
} node_metrics;

enum { R_ACCEPTED, R_SIGNATURE, R_NONCE, R_BALANCE, R_RANGE, R_OVERLOADED, R_REJECTED_AT_SEAL, R_COUNT };
static const char *const RESULT_NAMES[R_COUNT] = { "accepted", "bad_signature", "bad_nonce",
                                                   "insufficient_balance", "out_of_range", "overloaded",
                                                   "rejected_at_seal" };

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

static void minc(zk_metric *s)
{
    if (s != NULL)
        zk_metric_inc(s);
}

static void count_result(sc_node *n, zk_tx_type type, int result)
{
    minc(n->m.tx[type == ZK_TX_WITHDRAW ? 1 : 0][result]);
}

/* A broken store or state: stop sealing and accepting, say why once. */
static void node_fail(sc_node *n, const char *what, const zk_error_detail *e)
{
    pthread_mutex_lock(&n->mu);
    bool first = !n->failed;
    n->failed = true;
    pthread_cond_broadcast(&n->seq_cond);
    pthread_cond_broadcast(&n->job_cond);
    pthread_mutex_unlock(&n->mu);
    if (first)
        zk_log(ZK_LOG_ERROR, "node failed: sealing and ingest stopped", ZKF_STR("what", what),
               ZKF_STR("error", e != NULL ? e->text : ""), ZKF_END);
}

/* ---- files ----------------------------------------------------------------------- */

static void job_path(const sc_node *n, char *out, size_t cap, uint64_t number, const char *ext)
{
    /* batches_dir is checked at open to leave room for "/<20 digits>.batch" */
    if ((size_t)snprintf(out, cap, "%s/%" PRIu64 ".%s", n->batches_dir, number, ext) >= cap)
        ZK_PANIC("node: batch file path too long");
}

static zk_err load_job(sc_node *n, uint64_t number, prv_batch_job *job, uint8_t **bytes, size_t *len,
                       zk_error_detail *err)
{
    char path[NODE_PATH_MAX];
    job_path(n, path, sizeof path, number, "job");
    uint8_t *buf;
    size_t blen;
    zk_error_detail fe = { 0 };
    zk_err rc = zk_file_read(path, NODE_JOB_FILE_MAX, &buf, &blen, &fe);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "%s: %s", path, fe.text);
    if (job != NULL) {
        memset(job, 0, sizeof *job);
        rc = prv_batch_job_decode(job, err, buf, blen);
        if (rc == ZK_OK && job->pub.number != number)
            rc = zk_error_set(err, ZK_ERR_SC_STORE, "%s holds batch %" PRIu64, path, job->pub.number);
        if (rc != ZK_OK) {
            prv_batch_job_free(job);
            free(buf);
            return rc;
        }
    }
    if (bytes != NULL) {
        *bytes = buf;
        *len = blen;
    } else {
        free(buf);
    }
    return ZK_OK;
}

/* ---- the committed state, read lock-free --------------------------------------------- */

/* The committed values of `addr` (0, 0 for an address without an account). */
static bool committed_get(sc_node *n, const uint8_t addr[20], ipc_account *out)
{
    uint32_t id;
    memset(out, 0, sizeof *out);
    if (!ipc_reader_find(n->r, &id, addr))
        return false;
    return ipc_reader_get(n->r, out, id);
}

/* ---- the overlay (under mu) ------------------------------------------------------------ */

static acct_rec *ov_ref(sc_node *n, const uint8_t addr[20])
{
    acct_rec *a = map_find(&n->overlay, addr);
    if (a == NULL) {
        ipc_account c;
        committed_get(n, addr, &c);
        a = map_add(&n->overlay, addr, c.balance, c.nonce);
        if (a == NULL)
            ZK_PANIC("overlay: out of memory");
    }
    a->refs++;
    return a;
}

static void ov_unref(sc_node *n, const uint8_t addr[20])
{
    acct_rec *a = map_find(&n->overlay, addr);
    if (a == NULL || a->refs == 0)
        ZK_PANIC("overlay: unbalanced reference");
    if (--a->refs == 0)
        map_remove(&n->overlay, addr);
}

/* The values the next transaction from `addr` is checked against. */
static void ov_view(sc_node *n, const uint8_t addr[20], uint64_t *balance, uint32_t *nonce)
{
    acct_rec *a = map_find(&n->overlay, addr);
    if (a != NULL) {
        *balance = a->balance;
        *nonce = a->nonce;
        return;
    }
    ipc_account c;
    committed_get(n, addr, &c);
    *balance = c.balance;
    *nonce = c.nonce;
}

/* Checks a transaction's nonce and balance against the overlay. The operator
 * may not spend fees that are still pending: the batch credits them after
 * its last operation, so a batch could not hold both (docs/sidecar.md). */
static zk_err ov_check(sc_node *n, const zk_tx *tx, zk_error_detail *err)
{
    uint64_t bal;
    uint32_t nonce;
    ov_view(n, tx->from, &bal, &nonce);
    if (tx->nonce != nonce)
        return zk_error_set(err, ZK_ERR_TX_NONCE, "nonce %" PRIu32 ": the account's next nonce is %" PRIu32,
                            tx->nonce, nonce);
    if (nonce == UINT32_MAX)
        return zk_error_set(err, ZK_ERR_TX_NONCE, "the account's nonces are exhausted");
    uint64_t spendable = bal;
    if (memcmp(tx->from, n->cfg.operator_addr, 20) == 0)
        spendable = bal > n->pending_fees ? bal - n->pending_fees : 0;
    if (tx->amount + tx->fee > spendable)
        return zk_error_set(err, ZK_ERR_TX_BALANCE, "amount + fee %" PRIu64 " exceeds the balance %" PRIu64,
                            tx->amount + tx->fee, spendable);
    if (tx->type == ZK_TX_TRANSFER && memcmp(tx->to, tx->from, 20) != 0) {
        uint64_t tb;
        uint32_t tn;
        ov_view(n, tx->to, &tb, &tn);
        if (tb > IPC_BALANCE_MAX - tx->amount)
            return zk_error_set(err, ZK_ERR_TX_RANGE, "the receiver's balance would exceed 2^63 - 1");
    }
    if (tx->fee > 0) {
        uint64_t ob;
        uint32_t on;
        ov_view(n, n->cfg.operator_addr, &ob, &on);
        if (ob > IPC_BALANCE_MAX - tx->fee)
            return zk_error_set(err, ZK_ERR_TX_RANGE, "the operator's balance would exceed 2^63 - 1");
    }
    return ZK_OK;
}

static void ov_apply_tx(sc_node *n, const zk_tx *tx)
{
    acct_rec *f = ov_ref(n, tx->from);
    f->balance -= tx->amount + tx->fee;
    f->nonce++;
    if (tx->type == ZK_TX_TRANSFER)
        ov_ref(n, tx->to)->balance += tx->amount;
    if (tx->fee > 0)
        ov_ref(n, n->cfg.operator_addr)->balance += tx->fee;
}

static void ov_unapply_tx(sc_node *n, const zk_tx *tx)
{
    ov_unref(n, tx->from);
    if (tx->type == ZK_TX_TRANSFER)
        ov_unref(n, tx->to);
    if (tx->fee > 0)
        ov_unref(n, n->cfg.operator_addr);
}

static pend_tx *txq_at(sc_node *n, size_t i)
{
    return &n->txq[(n->txq_head + i) % n->txq_cap];
}

static pend_dep *depq_at(sc_node *n, size_t i)
{
    return &n->depq[n->depq_head + i];
}

/* Replays every pending operation over the committed state, in sealing
 * order. Used after recovery and after a rejection at sealing (rare). */
static void ov_rebuild(sc_node *n)
{
    map_clear(&n->overlay);
    n->pending_fees = 0;
    for (size_t i = 0; i < n->depq_len; i++) {
        pend_dep *d = depq_at(n, i);
        acct_rec *a = ov_ref(n, d->rec.deposit.to);
        a->balance += d->rec.deposit.amount_gwei;
    }
    for (size_t i = 0; i < n->txq_len; i++) {
        pend_tx *p = txq_at(n, i);
        p->in_overlay = ov_check(n, &p->tx, NULL) == ZK_OK;
        if (p->in_overlay)
            ov_apply_tx(n, &p->tx);
        n->pending_fees += p->tx.fee;
    }
}

/* ---- config ------------------------------------------------------------------------ */

void sc_config_defaults(sc_config *c)
{
    memset(c, 0, sizeof *c);
    c->data_dir = "./zkcar-data";
    c->batch_size = SC_DEFAULT_BATCH_SIZE;
    c->batch_interval_ms = SC_DEFAULT_BATCH_INTERVAL_MS;
    c->mempool_max = SC_DEFAULT_MEMPOOL_MAX;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->prover_threads = cores > 0 ? (unsigned)cores : 1;
    c->params = prv_stark_params_default;
}

void sc_root_hex(char out[67], const prv_gl root[4])
{
    static const char digits[] = "0123456789abcdef";
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 16; k++)
            out[2 + 16 * i + k] = digits[(root[i] >> (60 - 4 * k)) & 15];
    out[66] = '\0';
}

int sc_rpc_code(zk_err code)
{
    switch (code) {
    case ZK_ERR_SC_OVERLOADED:
        return 1005;
    case ZK_ERR_SC_STOPPING:
    case ZK_ERR_SC_STORE:
        return -32603;
    default:
        return zk_tx_rpc_code(code);
    }
}

/* ---- recovery ------------------------------------------------------------------------- */

static bool roots_equal(const prv_gl a[4], const prv_gl b[4])
{
    return memcmp(a, b, 4 * sizeof(prv_gl)) == 0;
}

/* The sealed batch `b` is in the store: make sure the state applied it. The
 * sequencer writes the job file and the store record before it commits the
 * state, so after a crash the state is either at b's new root or at its
 * previous root; in the latter case the job's operations are applied again
 * (the builder is deterministic: the same operations on the same state give
 * the same values, which the roots confirm). */
static zk_err recover_last_batch(sc_node *n, const sc_store_batch *b, zk_error_detail *err)
{
    prv_gl root[4];
    ipc_writer_root(n->w, root);
    if (roots_equal(root, b->root))
        return ZK_OK;
    if (!roots_equal(root, b->prev_root))
        return zk_error_set(err, ZK_ERR_SC_STORE,
                            "the state root matches neither side of sealed batch %" PRIu64
                            " (state and store are from different histories)", b->number);
    prv_batch_job old;
    zk_err rc = load_job(n, b->number, &old, NULL, NULL, err);
    if (rc != ZK_OK)
        return rc;
    prv_batch_public pub = old.pub;
    pub.ops = old.pub.ops;
    prv_batch_job job;
    memset(&job, 0, sizeof job);
    rc = ipc_batch_build(n->w, &pub, &job, err);
    if (rc == ZK_OK && !roots_equal(pub.new_root, b->root)) {
        ipc_writer_discard(n->w);
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "re-applying batch %" PRIu64 " gives another root", b->number);
    }
    if (rc == ZK_OK)
        rc = ipc_writer_commit(n->w, NULL, 0);
    if (rc == ZK_OK)
        zk_log(ZK_LOG_INFO, "recovered: re-applied sealed batch to the state", ZKF_U64("number", b->number),
               ZKF_END);
    prv_batch_job_free(&job);
    prv_batch_job_free(&old);
    return rc;
}

static zk_err jobs_push(sc_node *n, uint64_t number, int state)
{
    if (n->njobs == n->jobs_cap) {
        size_t cap = n->jobs_cap ? 2 * n->jobs_cap : 64;
        job_slot *j = realloc(n->jobs, cap * sizeof *j);
        if (j == NULL)
            return ZK_ERR_NOMEM;
        n->jobs = j;
        n->jobs_cap = cap;
    }
    n->jobs[n->njobs++] = (job_slot){ .number = number, .state = state };
    return ZK_OK;
}

static job_slot *jobs_find(sc_node *n, uint64_t number)
{
    for (size_t i = 0; i < n->njobs; i++)
        if (n->jobs[i].number == number)
            return &n->jobs[i];
    return NULL;
}

static zk_err depq_push(sc_node *n, const l1w_record *rec)
{
    if (n->depq_head + n->depq_len == n->depq_cap) {
        if (n->depq_head > 0) {
            memmove(n->depq, n->depq + n->depq_head, n->depq_len * sizeof *n->depq);
            n->depq_head = 0;
        } else {
            size_t cap = n->depq_cap ? 2 * n->depq_cap : 256;
            pend_dep *d = realloc(n->depq, cap * sizeof *d);
            if (d == NULL)
                return ZK_ERR_NOMEM;
            n->depq = d;
            n->depq_cap = cap;
        }
    }
    n->depq[n->depq_head + n->depq_len++] = (pend_dep){ .rec = *rec, .arrival_ms = now_ms() };
    return ZK_OK;
}

typedef struct scan_ctx {
    sc_node *n;
    zk_err rc;
} scan_ctx;

static bool scan_dep(void *ctx, const sc_store_deposit *d)
{
    scan_ctx *c = ctx;
    if ((c->rc = depq_push(c->n, &d->rec)) != ZK_OK)
        return false;
    return true;
}

static bool scan_tx(void *ctx, const sc_store_tx *t)
{
    scan_ctx *c = ctx;
    sc_node *n = c->n;
    if (n->txq_len == n->txq_cap) {
        /* More pending than this run's mempool holds (it was started with a
         * larger --mempool-max): grow, the bound applies to new arrivals. */
        size_t cap = 2 * n->txq_cap;
        pend_tx *q = malloc(cap * sizeof *q);
        if (q == NULL) {
            c->rc = ZK_ERR_NOMEM;
            return false;
        }
        for (size_t i = 0; i < n->txq_len; i++)
            q[i] = *txq_at(n, i);
        free(n->txq);
        n->txq = q;
        n->txq_cap = cap;
        n->txq_head = 0;
    }
    pend_tx *p = &n->txq[(n->txq_head + n->txq_len) % n->txq_cap];
    memset(p, 0, sizeof *p);
    p->seq = t->seq;
    memcpy(p->hash, t->hash, 32);
    p->tx = t->tx;
    p->arrival_ms = now_ms();
    n->txq_len++;
    n->txq_durable++;
    return true;
}

typedef struct batch_scan {
    sc_node *n;
    uint64_t proven_in_state;
    zk_err rc;
} batch_scan;

static bool scan_batch(void *ctx, const sc_store_batch *b)
{
    batch_scan *c = ctx;
    if (b->number <= c->proven_in_state)
        return true;
    /* A batch the prover refused before is tried again: a restart is how an
     * operator retries (after fixing what made it fail). */
    int state = b->proof_done ? JOB_DONE : JOB_QUEUED;
    if ((c->rc = jobs_push(c->n, b->number, state)) != ZK_OK)
        return false;
    return true;
}

static zk_err check_meta(sc_node *n, const char *key, uint64_t want, zk_error_detail *err)
{
    uint64_t v;
    bool found;
    if (sc_store_meta_get(n->store, key, &v, &found) != ZK_OK)
        return zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot read %s", key);
    if (!found)
        return sc_store_meta_set(n->store, key, want) == ZK_OK
                   ? ZK_OK
                   : zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot write %s", key);
    if (v != want)
        return zk_error_set(err, ZK_ERR_USAGE, "the data directory belongs to another %s (%" PRIu64 ", not %" PRIu64 ")",
                            key, v, want);
    return ZK_OK;
}

static void delete_orphans(sc_node *n)
{
    /* A job file newer than the last sealed batch was written by a sequencer
     * that died before it recorded the batch: its transactions are still
     * pending and will be sealed again, possibly differently. */
    for (uint64_t k = n->last_batch + 1;; k++) {
        char path[NODE_PATH_MAX];
        job_path(n, path, sizeof path, k, "job");
        if (unlink(path) != 0)
            break;
        zk_log(ZK_LOG_INFO, "recovered: removed the job file of an unrecorded batch", ZKF_U64("number", k), ZKF_END);
    }
}

static zk_err advance_proven(sc_node *n, zk_error_detail *err);

zk_err sc_node_open(sc_node **out, const sc_config *cfg, zk_error_detail *err)
{
    *out = NULL;
    if (cfg->data_dir == NULL || cfg->batch_size == 0 || cfg->batch_size > PRV_BATCH_MAX_OPS
        || cfg->batch_interval_ms == 0 || cfg->mempool_max == 0)
        return zk_error_set(err, ZK_ERR_USAGE, "node: bad configuration (data dir, batch size 1..%u, interval, mempool)",
                            (unsigned)PRV_BATCH_MAX_OPS);
    sc_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "node: out of memory");
    zk_err rc = ZK_OK;
    n->cfg = *cfg;
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->wlock, NULL);
    pthread_mutex_init(&n->dep_lock, NULL);
    pthread_mutex_init(&n->prove_lock, NULL);
    pthread_cond_init(&n->seq_cond, NULL);
    pthread_cond_init(&n->job_cond, NULL);
    zk_eip712_domain_zkcar(&n->domain, cfg->chain_id, cfg->bridge);

    if ((size_t)snprintf(n->dir, sizeof n->dir, "%s", cfg->data_dir) >= sizeof n->dir
        || (size_t)snprintf(n->batches_dir, sizeof n->batches_dir, "%s/batches", cfg->data_dir)
               >= sizeof n->batches_dir - 32) {
        rc = zk_error_set(err, ZK_ERR_USAGE, "node: data directory path too long");
        goto cleanup;
    }
    n->cfg.data_dir = n->dir;
    if (!map_init(&n->overlay, OV_BUCKETS)) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "node: out of memory");
        goto cleanup;
    }
    n->txq_cap = cfg->mempool_max;
    n->txq = calloc(n->txq_cap, sizeof *n->txq);
    if (n->txq == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "node: out of memory for the mempool");
        goto cleanup;
    }

    /* The state first: it takes the directory's lease, so a second sidecar
     * on the same directory stops here (ZK_ERR_STATE_LOCKED). */
    ipc_writer_options wo = { .capacity = cfg->state_capacity,
                              .max_group_ops = 2 * cfg->batch_size + 2 };
    if ((rc = ipc_writer_open(&n->w, n->dir, &wo, err)) != ZK_OK)
        goto cleanup;
    if (mkdir(n->batches_dir, 0700) != 0 && errno != EEXIST) {
        rc = zk_error_set(err, ZK_ERR_IO, "mkdir %s: %s", n->batches_dir, strerror(errno));
        goto cleanup;
    }
    if ((rc = ipc_reader_open(&n->r, n->dir, err)) != ZK_OK)
        goto cleanup;
    if ((rc = sc_store_open(&n->store, n->dir, err)) != ZK_OK)
        goto cleanup;
    if ((rc = check_meta(n, "chain_id", cfg->chain_id, err)) != ZK_OK)
        goto cleanup;
    for (int i = 0; i < 3; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8 && 8 * i + k < 20; k++)
            v = (v << 8) | cfg->bridge[8 * i + k];
        static const char *const keys[3] = { "bridge_0", "bridge_1", "bridge_2" };
        if ((rc = check_meta(n, keys[i], v, err)) != ZK_OK)
            goto cleanup;
    }

    uint64_t max_seq;
    if ((rc = sc_store_counts(n->store, &max_seq, &n->next_deposit_id, &n->last_batch)) != ZK_OK) {
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot read its counts");
        goto cleanup;
    }
    n->next_tx_seq = max_seq + 1;
    bool found;
    if (sc_store_meta_get(n->store, "stream_id", &n->stream_id, &found) != ZK_OK
        || sc_store_meta_get(n->store, "stream_last_seq", &n->last_seq, &found) != ZK_OK) {
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot read the stream cursor");
        goto cleanup;
    }

    if (n->last_batch > 0) {
        sc_store_batch b;
        if (!sc_store_batch_get(n->store, n->last_batch, &b)) {
            rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: batch %" PRIu64 " unreadable", n->last_batch);
            goto cleanup;
        }
        free(b.withdrawals);
        if ((rc = recover_last_batch(n, &b, err)) != ZK_OK)
            goto cleanup;
    }
    delete_orphans(n);
    ipc_writer_root(n->w, n->state_root);
    n->accounts = ipc_writer_count(n->w);

    scan_ctx sc = { .n = n, .rc = ZK_OK };
    if (sc_store_scan_unsealed_deposits(n->store, scan_dep, &sc) != ZK_OK || sc.rc != ZK_OK
        || sc_store_scan_pending_txs(n->store, scan_tx, &sc) != ZK_OK || sc.rc != ZK_OK) {
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot read the pending operations");
        goto cleanup;
    }
    ov_rebuild(n);

    ipc_info info;
    ipc_reader_info(n->r, &info);
    n->last_proven = info.proven_batch;
    batch_scan bs = { .n = n, .proven_in_state = info.proven_batch, .rc = ZK_OK };
    if (sc_store_scan_batches(n->store, info.proven_batch + 1, scan_batch, &bs) != ZK_OK || bs.rc != ZK_OK) {
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot read the batches");
        goto cleanup;
    }
    if ((rc = advance_proven(n, err)) != ZK_OK)
        goto cleanup;
    zk_log(ZK_LOG_INFO, "node opened", ZKF_STR("data_dir", n->dir), ZKF_U64("last_batch", n->last_batch),
           ZKF_U64("last_proven", n->last_proven), ZKF_U64("pending_txs", n->txq_len),
           ZKF_U64("pending_deposits", n->depq_len), ZKF_U64("accounts", n->accounts), ZKF_END);
    *out = n;
    return ZK_OK;
cleanup:
    sc_node_close(n);
    return rc;
}

/* ---- ingest ------------------------------------------------------------------------------ */

static void commit_hook(void *ctx, sc_store_waiter *first, zk_err rc)
{
    sc_node *n = ctx;
    if (rc != ZK_OK) {
        zk_error_detail e = { .code = rc };
        snprintf(e.text, sizeof e.text, "group commit of transactions failed");
        node_fail(n, "store", &e);
        return;
    }
    size_t k = 0;
    for (sc_store_waiter *w = first; w != NULL; w = w->next)
        k++;
    pthread_mutex_lock(&n->mu);
    /* Groups commit in enqueue order, which is txq order. */
    n->txq_durable += k;
    if (n->txq_durable > n->txq_len)
        ZK_PANIC("node: more durable transactions than queued");
    pthread_cond_broadcast(&n->seq_cond);
    pthread_mutex_unlock(&n->mu);
}

/* Validates `tx` against the sealed state plus what is accepted, takes it
 * into the overlay and the queue, and enqueues `wt` for the group commit.
 * ZK_OK: queued (wt's completion follows); otherwise nothing changed. */
static zk_err submit_enqueue(sc_node *n, const zk_tx *tx, uint8_t hash[32], sc_store_waiter *wt,
                             zk_error_detail *err)
{
    zk_err rc = zk_tx_verify(tx, &n->domain, hash, err);
    if (rc != ZK_OK) {
        count_result(n, tx->type, rc == ZK_ERR_TX_RANGE ? R_RANGE : R_SIGNATURE);
        return rc;
    }
    pthread_mutex_lock(&n->mu);
    if (n->stopping || !n->started) {
        pthread_mutex_unlock(&n->mu);
        return zk_error_set(err, ZK_ERR_SC_STOPPING, "the node is not running");
    }
    if (n->failed) {
        pthread_mutex_unlock(&n->mu);
        return zk_error_set(err, ZK_ERR_SC_STORE, "the node's store failed");
    }
    if ((rc = ov_check(n, tx, err)) != ZK_OK) {
        pthread_mutex_unlock(&n->mu);
        count_result(n, tx->type, rc == ZK_ERR_TX_NONCE ? R_NONCE : rc == ZK_ERR_TX_BALANCE ? R_BALANCE : R_RANGE);
        return rc;
    }
    if (n->txq_len >= n->cfg.mempool_max || n->txq_len >= n->txq_cap) {
        pthread_mutex_unlock(&n->mu);
        count_result(n, tx->type, R_OVERLOADED);
        return zk_error_set(err, ZK_ERR_SC_OVERLOADED, "the mempool holds %u transactions; retry later",
                            n->cfg.mempool_max);
    }
    wt->rec.seq = n->next_tx_seq;
    memcpy(wt->rec.hash, hash, 32);
    wt->rec.tx = *tx;
    /* Enqueued under mu so that the store's groups follow txq's order. The
     * store refuses only while closing, which comes after the node stops. */
    if ((rc = sc_store_tx_enqueue(n->store, wt)) != ZK_OK) {
        pthread_mutex_unlock(&n->mu);
        return zk_error_set(err, rc, "the store is closing");
    }
    ov_apply_tx(n, tx);
    pend_tx *p = &n->txq[(n->txq_head + n->txq_len) % n->txq_cap];
    p->seq = n->next_tx_seq++;
    memcpy(p->hash, hash, 32);
    p->tx = *tx;
    p->arrival_ms = now_ms();
    p->in_overlay = true;
    n->txq_len++;
    n->pending_fees += tx->fee;
    pthread_mutex_unlock(&n->mu);
    return ZK_OK;
}

zk_err sc_node_submit(sc_node *n, const zk_tx *tx, uint8_t hash[32], zk_error_detail *err)
{
    sc_store_waiter wt;
    memset(&wt, 0, sizeof wt);
    zk_err rc = submit_enqueue(n, tx, hash, &wt, err);
    if (rc != ZK_OK)
        return rc;
    rc = sc_store_tx_wait(n->store, &wt);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "the transaction could not be made durable");
    count_result(n, tx->type, R_ACCEPTED);
    return ZK_OK;
}

static void ticket_done(sc_store_waiter *w)
{
    sc_node_ticket *t = w->ctx;
    zk_err rc = w->rc;
    if (rc == ZK_OK)
        count_result(t->node, w->rec.tx.type, R_ACCEPTED);
    t->done(t, rc); /* may free t */
}

zk_err sc_node_submit_async(sc_node *n, const zk_tx *tx, uint8_t hash[32], sc_node_ticket *t,
                            zk_error_detail *err)
{
    memset(&t->waiter, 0, sizeof t->waiter);
    t->node = n;
    t->waiter.on_done = ticket_done;
    t->waiter.ctx = t;
    return submit_enqueue(n, tx, hash, &t->waiter, err);
}

zk_err sc_node_deposit(sc_node *n, const l1w_record *rec, zk_error_detail *err)
{
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&n->dep_lock);
    pthread_mutex_lock(&n->mu);
    uint64_t next = n->next_deposit_id;
    bool failed = n->failed;
    uint64_t last_seq = n->last_seq;
    pthread_mutex_unlock(&n->mu);
    if (failed) {
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "the node's store failed");
        goto cleanup;
    }
    if (rec->deposit.deposit_id < next) {
        /* A repeat (the stream resends after a reconnect): already credited. */
        if (rec->seq > last_seq) {
            if (sc_store_meta_set(n->store, "stream_last_seq", rec->seq) != ZK_OK) {
                rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot move the stream cursor");
                goto cleanup;
            }
            pthread_mutex_lock(&n->mu);
            n->last_seq = rec->seq;
            pthread_mutex_unlock(&n->mu);
        }
        goto cleanup;
    }
    if (rec->deposit.deposit_id > next) {
        rc = zk_error_set(err, ZK_ERR_SC_DEPOSIT_ORDER, "deposit %" PRIu64 " arrived, %" PRIu64 " expected",
                          rec->deposit.deposit_id, next);
        goto cleanup;
    }
    if (rec->deposit.amount_gwei == 0 || rec->deposit.amount_gwei > IPC_BALANCE_MAX) {
        rc = zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "deposit %" PRIu64 ": amount out of range",
                          rec->deposit.deposit_id);
        goto cleanup;
    }
    pthread_mutex_lock(&n->mu);
    uint64_t bal;
    uint32_t nonce;
    ov_view(n, rec->deposit.to, &bal, &nonce);
    pthread_mutex_unlock(&n->mu);
    if (bal > IPC_BALANCE_MAX - rec->deposit.amount_gwei) {
        /* Cannot happen with real ether (all of it is < 2^57 gwei). */
        rc = zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "deposit %" PRIu64 " would lift a balance above 2^63 - 1",
                          rec->deposit.deposit_id);
        goto cleanup;
    }
    if ((rc = sc_store_deposit_add(n->store, rec, err)) != ZK_OK) {
        node_fail(n, "store", err);
        goto cleanup;
    }
    pthread_mutex_lock(&n->mu);
    if (depq_push(n, rec) != ZK_OK)
        ZK_PANIC("node: out of memory queueing a durable deposit");
    ov_ref(n, rec->deposit.to)->balance += rec->deposit.amount_gwei;
    n->next_deposit_id = rec->deposit.deposit_id + 1;
    if (rec->seq > n->last_seq)
        n->last_seq = rec->seq;
    pthread_cond_broadcast(&n->seq_cond);
    pthread_mutex_unlock(&n->mu);
    minc(n->m.deposits_credited);
    zk_log(ZK_LOG_INFO, "deposit credited", ZKF_U64("deposit_id", rec->deposit.deposit_id),
           ZKF_U64("amount_gwei", rec->deposit.amount_gwei), ZKF_U64("l1_block", rec->deposit.block_number),
           ZKF_U64("seq", rec->seq), ZKF_END);
cleanup:
    pthread_mutex_unlock(&n->dep_lock);
    return rc;
}

void sc_node_deposit_cursor(sc_node *n, uint64_t *stream_id, uint64_t *last_seq)
{
    pthread_mutex_lock(&n->mu);
    *stream_id = n->stream_id;
    *last_seq = n->last_seq;
    pthread_mutex_unlock(&n->mu);
}

zk_err sc_node_set_stream_id(sc_node *n, uint64_t stream_id, zk_error_detail *err)
{
    pthread_mutex_lock(&n->dep_lock);
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&n->mu);
    uint64_t cur = n->stream_id;
    pthread_mutex_unlock(&n->mu);
    if (cur == stream_id)
        goto cleanup;
    if (cur != 0) {
        rc = zk_error_set(err, ZK_ERR_STREAM_CHANGED,
                          "deposits came from stream %016" PRIx64 ", now %016" PRIx64 " (the watcher's outbox was wiped?)",
                          cur, stream_id);
        goto cleanup;
    }
    if (sc_store_meta_set(n->store, "stream_id", stream_id) != ZK_OK) {
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot record the stream id");
        goto cleanup;
    }
    pthread_mutex_lock(&n->mu);
    n->stream_id = stream_id;
    pthread_mutex_unlock(&n->mu);
cleanup:
    pthread_mutex_unlock(&n->dep_lock);
    return rc;
}

void sc_node_set_l1(sc_node *n, uint64_t head, uint64_t confirmed)
{
    pthread_mutex_lock(&n->mu);
    n->l1_head = head;
    n->l1_confirmed = confirmed;
    pthread_mutex_unlock(&n->mu);
}

/* ---- sealing ------------------------------------------------------------------------------ */

typedef struct seal_input {
    size_t ndep, ntx;
    pend_dep *deps;
    pend_tx *txs;
} seal_input;

/* The value of `addr` in the sealing check: from the map, else from the
 * writer's committed state (the sequencer holds wlock). NULL: out of memory. */
static acct_rec *sim_get(sc_node *n, acct_map *sim, const uint8_t addr[20])
{
    acct_rec *a = map_find(sim, addr);
    if (a == NULL) {
        ipc_account c;
        bool ok = ipc_writer_get(n->w, &c, addr);
        a = map_add(sim, addr, ok ? c.balance : 0, ok ? c.nonce : 0);
    }
    return a;
}

/* Checks the batch's operations in order against the committed state, as
 * the batch will apply them, and drops transactions that fail (with the
 * reason). Validation at submit makes this a no-op unless something was
 * rejected before; it is here so that one bad transaction cannot block the
 * chain. Returns the number of transactions kept (moved to the front,
 * keeping order); kept[i] says for the original index. */
static zk_err seal_filter(sc_node *n, seal_input *in, bool *kept, char (*reasons)[SC_STORE_ERROR_MAX],
                          size_t *nrejected)
{
    acct_map sim;
    uint32_t buckets = 1024;
    while (buckets < 4 * (in->ndep + 2 * in->ntx + 1))
        buckets <<= 1;
    if (!map_init(&sim, buckets))
        return ZK_ERR_NOMEM;
    zk_err rc = ZK_OK;
    *nrejected = 0;
    for (size_t i = 0; i < in->ndep; i++) {
        acct_rec *a = sim_get(n, &sim, in->deps[i].rec.deposit.to);
        if (a == NULL) {
            rc = ZK_ERR_NOMEM;
            goto cleanup;
        }
        a->balance += in->deps[i].rec.deposit.amount_gwei;
    }
    for (size_t i = 0; i < in->ntx; i++) {
        const zk_tx *t = &in->txs[i].tx;
        acct_rec *f = sim_get(n, &sim, t->from);
        acct_rec *to = t->type == ZK_TX_TRANSFER ? sim_get(n, &sim, t->to) : NULL;
        if (f == NULL || (t->type == ZK_TX_TRANSFER && to == NULL)) {
            rc = ZK_ERR_NOMEM;
            goto cleanup;
        }
        kept[i] = false;
        if (t->nonce != f->nonce || f->nonce == UINT32_MAX)
            snprintf(reasons[*nrejected], SC_STORE_ERROR_MAX, "wrong nonce at sealing: %" PRIu32 ", the account's is %" PRIu32,
                     t->nonce, f->nonce);
        else if (t->amount + t->fee > f->balance)
            snprintf(reasons[*nrejected], SC_STORE_ERROR_MAX, "insufficient balance at sealing");
        else if (to != NULL && to != f && to->balance > IPC_BALANCE_MAX - t->amount)
            snprintf(reasons[*nrejected], SC_STORE_ERROR_MAX, "the receiver's balance would exceed 2^63 - 1");
        else
            kept[i] = true;
        if (!kept[i]) {
            (*nrejected)++;
            continue;
        }
        f->balance -= t->amount + t->fee;
        f->nonce++;
        if (to != NULL)
            to->balance += t->amount;
    }
cleanup:
    map_free(&sim);
    return rc;
}

/* Seals the oldest pending operations into the next batch. The order of the
 * steps is the durability argument (docs/sidecar.md): job file, then the
 * store's record, then the state; a crash between any two is repaired by
 * sc_node_open. */
static void seal_batch(sc_node *n)
{
    double t0 = mono_s();
    seal_input in = { 0 };
    bool *kept = NULL;
    char (*reasons)[SC_STORE_ERROR_MAX] = NULL;
    uint64_t *rej_seqs = NULL, *seqs = NULL;
    const char **rej_text = NULL;
    prv_batch_op *ops = NULL;
    uint8_t *job_bytes = NULL;
    uint8_t *wd = NULL;
    prv_batch_job job;
    memset(&job, 0, sizeof job);
    zk_error_detail e = { 0 };
    size_t nrej = 0;
    bool staged = false;

    pthread_mutex_lock(&n->mu);
    uint32_t bs = n->cfg.batch_size;
    in.ndep = n->depq_len < bs ? n->depq_len : bs;
    in.ntx = n->txq_durable < bs - in.ndep ? n->txq_durable : bs - in.ndep;
    in.deps = malloc((in.ndep + 1) * sizeof *in.deps);
    in.txs = malloc((in.ntx + 1) * sizeof *in.txs);
    if (in.deps == NULL || in.txs == NULL) {
        pthread_mutex_unlock(&n->mu);
        e.code = ZK_ERR_NOMEM;
        node_fail(n, "sealing: out of memory", &e);
        goto cleanup;
    }
    for (size_t i = 0; i < in.ndep; i++)
        in.deps[i] = *depq_at(n, i);
    for (size_t i = 0; i < in.ntx; i++)
        in.txs[i] = *txq_at(n, i);
    uint64_t number = n->last_batch + 1;
    pthread_mutex_unlock(&n->mu);
    if (in.ndep + in.ntx == 0)
        goto cleanup;

    kept = calloc(in.ntx + 1, sizeof *kept);
    reasons = calloc(in.ntx + 1, sizeof *reasons);
    rej_seqs = calloc(in.ntx + 1, sizeof *rej_seqs);
    seqs = calloc(in.ntx + 1, sizeof *seqs);
    rej_text = calloc(in.ntx + 1, sizeof *rej_text);
    ops = calloc(in.ndep + in.ntx + 1, sizeof *ops);
    if (!kept || !reasons || !rej_seqs || !seqs || !rej_text || !ops) {
        e.code = ZK_ERR_NOMEM;
        node_fail(n, "sealing: out of memory", &e);
        goto cleanup;
    }

    pthread_mutex_lock(&n->wlock);
    if (seal_filter(n, &in, kept, reasons, &nrej) != ZK_OK) {
        pthread_mutex_unlock(&n->wlock);
        e.code = ZK_ERR_NOMEM;
        node_fail(n, "sealing: out of memory", &e);
        goto cleanup;
    }
    size_t nops = 0, nkept = 0, nw = 0, r = 0;
    for (size_t i = 0; i < in.ndep; i++) {
        prv_batch_op *o = &ops[nops++];
        const l1w_deposit *d = &in.deps[i].rec.deposit;
        o->kind = PRV_OP_DEPOSIT;
        memcpy(o->from, d->from, 20);
        memcpy(o->to, d->to, 20);
        o->amount = d->amount_gwei;
        o->deposit_id = d->deposit_id;
    }
    for (size_t i = 0; i < in.ntx; i++) {
        const pend_tx *p = &in.txs[i];
        if (!kept[i]) {
            rej_seqs[r] = p->seq;
            rej_text[r] = reasons[r];
            r++;
            continue;
        }
        seqs[nkept++] = p->seq;
        prv_batch_op *o = &ops[nops++];
        o->kind = p->tx.type == ZK_TX_TRANSFER ? PRV_OP_TRANSFER : PRV_OP_WITHDRAW;
        memcpy(o->from, p->tx.from, 20);
        memcpy(o->to, p->tx.to, 20);
        o->amount = p->tx.amount;
        o->fee = p->tx.fee;
        o->nonce = p->tx.nonce;
        memcpy(o->sig, p->tx.sig, 65);
        if (p->tx.type == ZK_TX_WITHDRAW)
            nw++;
    }

    sc_store_batch rec;
    memset(&rec, 0, sizeof rec);
    if (nops > 0) {
        prv_batch_public pub;
        memset(&pub, 0, sizeof pub);
        pub.chain_id = n->cfg.chain_id;
        memcpy(pub.bridge, n->cfg.bridge, 20);
        pub.number = number;
        memcpy(pub.operator_addr, n->cfg.operator_addr, 20);
        pub.first_deposit_id = in.ndep > 0 ? in.deps[0].rec.deposit.deposit_id : 0;
        pub.nops = (uint32_t)nops;
        pub.ops = ops;
        zk_err rc = ipc_batch_build(n->w, &pub, &job, &e);
        if (rc != ZK_OK) {
            pthread_mutex_unlock(&n->wlock);
            node_fail(n, "sealing: the batch builder refused the batch", &e);
            goto cleanup;
        }
        staged = true;
        size_t job_len;
        if ((rc = prv_batch_job_encode(&job, &job_bytes, &job_len)) != ZK_OK) {
            e.code = rc;
            snprintf(e.text, sizeof e.text, "job encoding: %s", zk_strerror(rc));
            goto fail_staged;
        }
        char name[64];
        snprintf(name, sizeof name, "%" PRIu64 ".job", number);
        if ((rc = zk_file_replace(n->batches_dir, name, job_bytes, job_len, &e)) != ZK_OK)
            goto fail_staged;

        rec.number = number;
        memcpy(rec.prev_root, pub.old_root, sizeof rec.prev_root);
        memcpy(rec.root, pub.new_root, sizeof rec.root);
        rec.tx_count = (uint32_t)nkept;
        rec.deposit_count = (uint32_t)in.ndep;
        rec.first_deposit_id = pub.first_deposit_id;
        rec.sealed_ms = now_ms();
        if (nw > 0) {
            wd = malloc(nw * 28);
            if (wd == NULL) {
                e.code = ZK_ERR_NOMEM;
                goto fail_staged;
            }
            size_t k = 0;
            for (size_t i = 0; i < nops; i++) {
                if (ops[i].kind != PRV_OP_WITHDRAW)
                    continue;
                memcpy(wd + 28 * k, ops[i].to, 20);
                for (int b = 0; b < 8; b++)
                    wd[28 * k + 20 + b] = (uint8_t)(ops[i].amount >> (8 * b));
                k++;
            }
            rec.withdrawals = wd;
            rec.withdrawals_len = nw * 28;
        }
        if ((rc = sc_store_seal(n->store, &rec, seqs, nkept, rej_seqs, rej_text, nrej, &e)) != ZK_OK)
            goto fail_staged;
        staged = false;
        if ((rc = ipc_writer_commit(n->w, NULL, 0)) != ZK_OK) {
            pthread_mutex_unlock(&n->wlock);
            e.code = rc;
            snprintf(e.text, sizeof e.text, "state commit of batch %" PRIu64 ": %s", number, zk_strerror(rc));
            node_fail(n, "sealing", &e);
            goto cleanup;
        }
    } else {
        /* Every transaction in reach was rejected: record that, no batch. */
        if (sc_store_reject(n->store, rej_seqs, rej_text, nrej, &e) != ZK_OK) {
            pthread_mutex_unlock(&n->wlock);
            node_fail(n, "sealing: recording rejections", &e);
            goto cleanup;
        }
    }
    uint32_t accounts = ipc_writer_count(n->w);
    pthread_mutex_unlock(&n->wlock);

    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < in.ndep; i++)
        ov_unref(n, in.deps[i].rec.deposit.to);
    n->depq_head += in.ndep;
    n->depq_len -= in.ndep;
    if (n->depq_len == 0)
        n->depq_head = 0;
    for (size_t i = 0; i < in.ntx; i++) {
        pend_tx *p = txq_at(n, 0);
        if (p->in_overlay)
            ov_unapply_tx(n, &p->tx);
        n->pending_fees -= p->tx.fee;
        n->txq_head = (n->txq_head + 1) % n->txq_cap;
        n->txq_len--;
        n->txq_durable--;
    }
    if (nrej > 0)
        ov_rebuild(n);
    if (nops > 0) {
        n->last_batch = number;
        memcpy(n->state_root, rec.root, sizeof n->state_root);
        n->accounts = accounts;
        if (jobs_push(n, number, JOB_QUEUED) != ZK_OK)
            ZK_PANIC("node: out of memory queueing a proving job");
        pthread_cond_broadcast(&n->job_cond);
    }
    pthread_mutex_unlock(&n->mu);

    for (size_t i = 0; i < nrej; i++)
        count_result(n, ZK_TX_TRANSFER, R_REJECTED_AT_SEAL);
    if (nrej > 0)
        zk_log(ZK_LOG_WARN, "transactions rejected at sealing", ZKF_U64("count", nrej),
               ZKF_STR("first_reason", reasons[0]), ZKF_END);
    if (nops > 0) {
        minc(n->m.batches[0]);
        char root_hex[67];
        sc_root_hex(root_hex, rec.root);
        zk_log(ZK_LOG_INFO, "batch sealed", ZKF_U64("number", number), ZKF_U64("txs", nkept),
               ZKF_U64("deposits", in.ndep), ZKF_U64("withdrawals", nw), ZKF_STR("state_root", root_hex),
               ZKF_F64("seal_ms", (mono_s() - t0) * 1e3), ZKF_END);
    }
    goto cleanup;

fail_staged:
    if (staged)
        ipc_writer_discard(n->w);
    pthread_mutex_unlock(&n->wlock);
    node_fail(n, "sealing", &e);
cleanup:
    prv_batch_job_free(&job);
    free(job_bytes);
    free(wd);
    free(ops);
    free(rej_text);
    free(seqs);
    free(rej_seqs);
    free(reasons);
    free(kept);
    free(in.txs);
    free(in.deps);
}

static int64_t oldest_ms(sc_node *n)
{
    int64_t t = INT64_MAX;
    if (n->depq_len > 0)
        t = depq_at(n, 0)->arrival_ms;
    if (n->txq_durable > 0 && txq_at(n, 0)->arrival_ms < t)
        t = txq_at(n, 0)->arrival_ms;
    return t;
}

static void *sequencer_main(void *p)
{
    sc_node *n = p;
    pthread_mutex_lock(&n->mu);
    while (!n->stopping && !n->failed) {
        size_t ready = n->depq_len + n->txq_durable;
        if (ready == 0) {
            pthread_cond_wait(&n->seq_cond, &n->mu);
            continue;
        }
        int64_t due = oldest_ms(n) + (int64_t)n->cfg.batch_interval_ms;
        int64_t now = now_ms();
        if (ready >= n->cfg.batch_size || now >= due) {
            pthread_mutex_unlock(&n->mu);
            seal_batch(n);
            sc_store_checkpoint(n->store);
            pthread_mutex_lock(&n->mu);
            continue;
        }
        struct timespec ts;
        deadline_after(&ts, due - now);
        pthread_cond_timedwait(&n->seq_cond, &n->mu, &ts);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* ---- proving ---------------------------------------------------------------------------- */

/* Index of `x` in ids[0..k), or k. */
static size_t slot_of(const uint32_t *ids, size_t k, uint32_t x)
{
    size_t s = 0;
    while (s < k && ids[s] != x)
        s++;
    return s;
}

/* The touched accounts' values after the batch: replay its operations over
 * the values its witnesses hold before each account's first update. */
static zk_err post_values(const prv_batch_job *job, uint32_t **ids, uint64_t **bal, uint32_t **nonces, size_t *count)
{
    const prv_batch_public *pub = &job->pub;
    size_t cap = job->nupdates + 1;
    uint32_t *id = calloc(cap, sizeof *id);
    uint64_t *b = calloc(cap, sizeof *b);
    uint32_t *nc = calloc(cap, sizeof *nc);
    if (id == NULL || b == NULL || nc == NULL) {
        free(id);
        free(b);
        free(nc);
        return ZK_ERR_NOMEM;
    }
    size_t k = 0;
    for (uint32_t u = 0; u < job->nupdates; u++) {
        size_t j;
        for (j = 0; j < k; j++)
            if (id[j] == job->updates[u].id)
                break;
        if (j == k) {
            id[k] = job->updates[u].id;
            b[k] = job->updates[u].old_balance;
            nc[k] = job->updates[u].old_nonce;
            k++;
        }
    }
    uint64_t fees = 0;
    zk_err rc = ZK_OK;
    for (uint32_t i = 0; i < pub->nops && rc == ZK_OK; i++) {
        const prv_batch_op *o = &pub->ops[i];
        if (o->kind != PRV_OP_DEPOSIT) {
            size_t s = slot_of(id, k, o->from_id);
            if (s == k) {
                rc = ZK_ERR_BATCH_INCONSISTENT;
                break;
            }
            b[s] -= o->amount + o->fee;
            nc[s]++;
            fees += o->fee;
        }
        if (o->kind != PRV_OP_WITHDRAW) {
            size_t s = slot_of(id, k, o->to_id);
            if (s == k) {
                rc = ZK_ERR_BATCH_INCONSISTENT;
                break;
            }
            b[s] += o->amount;
        }
    }
    if (rc == ZK_OK && fees > 0) {
        size_t s = slot_of(id, k, pub->operator_id);
        if (s == k)
            rc = ZK_ERR_BATCH_INCONSISTENT;
        else
            b[s] += fees;
    }
    if (rc != ZK_OK) {
        free(id);
        free(b);
        free(nc);
        return rc;
    }
    *ids = id;
    *bal = b;
    *nonces = nc;
    *count = k;
    return ZK_OK;
}

/* Moves the proven mark forward over every batch whose proof is done, in
 * order: the state records each (ipc_writer_mark_proven) with the touched
 * accounts' values, so readers' provenBalance/provenNonce follow. */
static zk_err advance_proven(sc_node *n, zk_error_detail *err)
{
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&n->prove_lock);
    for (;;) {
        pthread_mutex_lock(&n->mu);
        bool ready = n->njobs > 0 && n->jobs[0].state == JOB_DONE && n->jobs[0].number == n->last_proven + 1;
        uint64_t number = ready ? n->jobs[0].number : 0;
        pthread_mutex_unlock(&n->mu);
        if (!ready)
            break;
        prv_batch_job job;
        if ((rc = load_job(n, number, &job, NULL, NULL, err)) != ZK_OK)
            break;
        uint32_t *ids = NULL, *nonces = NULL;
        uint64_t *bal = NULL;
        size_t cnt = 0;
        rc = post_values(&job, &ids, &bal, &nonces, &cnt);
        prv_batch_job_free(&job);
        if (rc != ZK_OK) {
            zk_error_set(err, rc, "batch %" PRIu64 ": job inconsistent", number);
            break;
        }
        pthread_mutex_lock(&n->wlock);
        rc = ipc_writer_mark_proven(n->w, number, ids, bal, nonces, cnt);
        pthread_mutex_unlock(&n->wlock);
        free(ids);
        free(bal);
        free(nonces);
        if (rc != ZK_OK) {
            zk_error_set(err, rc, "marking batch %" PRIu64 " proven in the state: %s", number, zk_strerror(rc));
            break;
        }
        pthread_mutex_lock(&n->mu);
        n->last_proven = number;
        memmove(n->jobs, n->jobs + 1, (n->njobs - 1) * sizeof *n->jobs);
        n->njobs--;
        pthread_mutex_unlock(&n->mu);
        minc(n->m.batches[1]);
        zk_log(ZK_LOG_INFO, "batch proven", ZKF_U64("number", number), ZKF_END);
    }
    pthread_mutex_unlock(&n->prove_lock);
    return rc;
}

bool sc_node_job_take(sc_node *n, uint64_t *batch, uint8_t **job, size_t *job_len, int timeout_ms)
{
    struct timespec ts;
    deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&n->mu);
    for (;;) {
        if (n->stopping || n->failed) {
            pthread_mutex_unlock(&n->mu);
            return false;
        }
        job_slot *s = NULL;
        for (size_t i = 0; i < n->njobs; i++)
            if (n->jobs[i].state == JOB_QUEUED) {
                s = &n->jobs[i];
                break;
            }
        if (s != NULL) {
            s->state = JOB_TAKEN;
            uint64_t number = s->number;
            pthread_mutex_unlock(&n->mu);
            zk_error_detail e = { 0 };
            if (load_job(n, number, NULL, job, job_len, &e) != ZK_OK) {
                node_fail(n, "proving: cannot read a job file", &e);
                return false;
            }
            *batch = number;
            return true;
        }
        if (pthread_cond_timedwait(&n->job_cond, &n->mu, &ts) != 0) {
            pthread_mutex_unlock(&n->mu);
            return false;
        }
    }
}

void sc_node_job_return(sc_node *n, uint64_t batch)
{
    pthread_mutex_lock(&n->mu);
    job_slot *s = jobs_find(n, batch);
    if (s != NULL && s->state == JOB_TAKEN) {
        s->state = JOB_QUEUED;
        pthread_cond_broadcast(&n->job_cond);
    }
    pthread_mutex_unlock(&n->mu);
}

static void job_set_state(sc_node *n, uint64_t batch, int state)
{
    pthread_mutex_lock(&n->mu);
    job_slot *s = jobs_find(n, batch);
    if (s != NULL)
        s->state = state;
    if (state == JOB_QUEUED)
        pthread_cond_broadcast(&n->job_cond);
    pthread_mutex_unlock(&n->mu);
}

zk_err sc_node_job_done(sc_node *n, uint64_t batch, const uint8_t *proof, size_t proof_len, double prove_seconds,
                        zk_error_detail *err)
{
    pthread_mutex_lock(&n->mu);
    job_slot *s = jobs_find(n, batch);
    int state = s != NULL ? s->state : 0;
    bool proven = batch <= n->last_proven;
    pthread_mutex_unlock(&n->mu);
    if (proven || state == JOB_DONE)
        return ZK_OK; /* a second result for a re-issued job */
    if (s == NULL)
        return zk_error_set(err, ZK_ERR_USAGE, "no batch %" PRIu64 " to prove", batch);

    prv_batch_job job;
    uint8_t *art = NULL;
    size_t art_len = 0;
    zk_err rc = load_job(n, batch, &job, NULL, NULL, err);
    if (rc != ZK_OK) {
        job_set_state(n, batch, JOB_QUEUED);
        return rc;
    }
    rc = prv_batch_verify(&job.pub, proof, proof_len, err);
    if (rc != ZK_OK) {
        zk_log(ZK_LOG_WARN, "proof refused; the job goes back to the queue", ZKF_U64("batch", batch),
               ZKF_STR("error", err != NULL ? err->text : zk_strerror(rc)), ZKF_END);
        job_set_state(n, batch, JOB_QUEUED);
        prv_batch_job_free(&job);
        return rc == ZK_ERR_NOMEM ? rc : zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "batch %" PRIu64 ": proof refused", batch);
    }
    rc = prv_batch_artifact_encode(&job.pub, proof, proof_len, &art, &art_len);
    prv_batch_job_free(&job);
    if (rc != ZK_OK) {
        job_set_state(n, batch, JOB_QUEUED);
        return zk_error_set(err, rc, "batch %" PRIu64 ": artifact encoding failed", batch);
    }
    char name[64];
    snprintf(name, sizeof name, "%" PRIu64 ".batch", batch);
    rc = zk_file_replace(n->batches_dir, name, art, art_len, err);
    free(art);
    uint64_t ms = (uint64_t)(prove_seconds * 1e3 + 0.5);
    if (rc == ZK_OK)
        rc = sc_store_batch_proven(n->store, batch, proof_len, ms, err);
    if (rc != ZK_OK) {
        job_set_state(n, batch, JOB_QUEUED);
        node_fail(n, "recording a proof", err);
        return rc;
    }
    job_set_state(n, batch, JOB_DONE);
    if (n->m.prove_seconds != NULL)
        zk_metric_observe(n->m.prove_seconds, prove_seconds);
    zk_log(ZK_LOG_INFO, "proof accepted", ZKF_U64("batch", batch), ZKF_U64("proof_bytes", proof_len),
           ZKF_F64("prove_s", prove_seconds), ZKF_END);
    zk_error_detail e = { 0 };
    if ((rc = advance_proven(n, &e)) != ZK_OK) {
        node_fail(n, "marking proven", &e);
        if (err != NULL)
            *err = e;
    }
    return rc;
}

static void *prover_main(void *p)
{
    sc_node *n = p;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        bool stop = n->stopping || n->failed;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
        uint64_t batch;
        uint8_t *bytes;
        size_t len;
        if (!sc_node_job_take(n, &batch, &bytes, &len, 500))
            continue;
        prv_batch_job job;
        zk_error_detail e = { 0 };
        zk_err rc = prv_batch_job_decode(&job, &e, bytes, len);
        free(bytes);
        if (rc != ZK_OK) {
            job_set_state(n, batch, JOB_FAILED);
            if (sc_store_batch_failed(n->store, batch, NULL) != ZK_OK)
                zk_log(ZK_LOG_ERROR, "store: cannot record a failed batch", ZKF_U64("batch", batch), ZKF_END);
            minc(n->m.batches[2]);
            zk_log(ZK_LOG_ERROR, "batch job unreadable", ZKF_U64("batch", batch), ZKF_STR("error", e.text), ZKF_END);
            continue;
        }
        double t0 = mono_s();
        uint8_t *proof = NULL;
        size_t proof_len = 0;
        rc = prv_batch_prove(&job, &n->cfg.params, &proof, &proof_len, &e);
        double secs = mono_s() - t0;
        prv_batch_job_free(&job);
        if (rc == ZK_OK) {
            rc = sc_node_job_done(n, batch, proof, proof_len, secs, &e);
            if (rc != ZK_OK)
                zk_log(ZK_LOG_ERROR, "own proof not accepted", ZKF_U64("batch", batch), ZKF_STR("error", e.text),
                       ZKF_END);
        } else if (rc == ZK_ERR_NOMEM) {
            sc_node_job_return(n, batch);
            zk_log(ZK_LOG_WARN, "proving: out of memory; retrying", ZKF_U64("batch", batch), ZKF_END);
            usleep(1000000);
        } else {
            job_set_state(n, batch, JOB_FAILED);
            if (sc_store_batch_failed(n->store, batch, NULL) != ZK_OK)
                zk_log(ZK_LOG_ERROR, "store: cannot record a failed batch", ZKF_U64("batch", batch), ZKF_END);
            minc(n->m.batches[2]);
            zk_log(ZK_LOG_ERROR, "the prover refused a batch", ZKF_U64("batch", batch), ZKF_STR("error", e.text),
                   ZKF_END);
        }
        free(proof);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

zk_err sc_node_start(sc_node *n, zk_error_detail *err)
{
    assert(!n->started);
    sc_store_set_commit_hook(n->store, commit_hook, n);
    pthread_mutex_lock(&n->mu);
    n->started = true;
    pthread_mutex_unlock(&n->mu);
    if (pthread_create(&n->seq_thread, NULL, sequencer_main, n) != 0) {
        pthread_mutex_lock(&n->mu);
        n->started = false;
        pthread_mutex_unlock(&n->mu);
        return zk_error_set(err, ZK_ERR_IO, "cannot start the sequencer thread");
    }
    if (n->cfg.prover_threads > 0) {
        n->provers = calloc(n->cfg.prover_threads, sizeof *n->provers);
        if (n->provers == NULL) {
            sc_node_stop(n);
            return zk_error_set(err, ZK_ERR_NOMEM, "out of memory for prover threads");
        }
        for (unsigned i = 0; i < n->cfg.prover_threads; i++) {
            if (pthread_create(&n->provers[i], NULL, prover_main, n) != 0) {
                sc_node_stop(n);
                return zk_error_set(err, ZK_ERR_IO, "cannot start prover thread %u", i);
            }
            n->nprovers++;
        }
    }
    return ZK_OK;
}

void sc_node_stop(sc_node *n)
{
    if (n == NULL)
        return;
    pthread_mutex_lock(&n->mu);
    bool was_started = n->started;
    n->stopping = true;
    n->started = false;
    pthread_cond_broadcast(&n->seq_cond);
    pthread_cond_broadcast(&n->job_cond);
    pthread_mutex_unlock(&n->mu);
    if (!was_started)
        return;
    pthread_join(n->seq_thread, NULL);
    for (unsigned i = 0; i < n->nprovers; i++)
        pthread_join(n->provers[i], NULL);
    n->nprovers = 0;
    free(n->provers);
    n->provers = NULL;
    /* Jobs handed out and not finished go back: a restart proves them. */
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->njobs; i++)
        if (n->jobs[i].state == JOB_TAKEN)
            n->jobs[i].state = JOB_QUEUED;
    pthread_mutex_unlock(&n->mu);
}

bool sc_node_failed(sc_node *n)
{
    pthread_mutex_lock(&n->mu);
    bool f = n->failed;
    pthread_mutex_unlock(&n->mu);
    return f;
}

void sc_node_close(sc_node *n)
{
    if (n == NULL)
        return;
    sc_node_stop(n);
    sc_store_close(n->store); /* waiters still queued are answered */
    ipc_reader_close(n->r);
    ipc_writer_close(n->w);
    map_free(&n->overlay);
    free(n->txq);
    free(n->depq);
    free(n->jobs);
    pthread_cond_destroy(&n->job_cond);
    pthread_cond_destroy(&n->seq_cond);
    pthread_mutex_destroy(&n->prove_lock);
    pthread_mutex_destroy(&n->dep_lock);
    pthread_mutex_destroy(&n->wlock);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

/* ---- queries ---------------------------------------------------------------------------------- */

bool sc_node_get_tx(sc_node *n, const uint8_t hash[32], sc_tx_view *out)
{
    sc_store_tx t;
    if (!sc_store_tx_get(n->store, hash, &t))
        return false;
    memset(out, 0, sizeof *out);
    out->tx = t.tx;
    memcpy(out->hash, t.hash, 32);
    out->batch = t.batch;
    switch (t.status) {
    case SC_STORE_TX_SEALED: {
        pthread_mutex_lock(&n->mu);
        bool proven = t.batch <= n->last_proven;
        pthread_mutex_unlock(&n->mu);
        out->status = proven ? SC_TX_PROVEN : SC_TX_SEALED;
        break;
    }
    case SC_STORE_TX_REJECTED:
        out->status = SC_TX_REJECTED;
        out->batch = 0;
        snprintf(out->error, sizeof out->error, "%s", t.error);
        break;
    default:
        out->status = SC_TX_PENDING;
        out->batch = 0;
        break;
    }
    return true;
}

void sc_node_get_account(sc_node *n, const uint8_t address[20], sc_account_view *out)
{
    memset(out, 0, sizeof *out);
    ipc_account c;
    pthread_mutex_lock(&n->mu);
    bool exists = committed_get(n, address, &c);
    acct_rec *a = map_find(&n->overlay, address);
    out->balance = a != NULL ? a->balance : c.balance;
    out->nonce = a != NULL ? a->nonce : c.nonce;
    pthread_mutex_unlock(&n->mu);
    out->exists = exists;
    out->id = exists ? c.id : 0;
    out->proven_balance = exists ? c.proven_balance : 0;
    out->proven_nonce = exists ? c.proven_nonce : 0;
}

static bool stored_deposit(sc_node *n, uint64_t deposit_id, sc_deposit_view *out)
{
    sc_store_deposit d;
    if (!sc_store_deposit_get(n->store, deposit_id, &d))
        return false;
    memset(out, 0, sizeof *out);
    out->deposit = d.rec.deposit;
    out->status = SC_DEP_CREDITED;
    out->batch = d.batch;
    return true;
}

bool sc_node_get_deposit(sc_node *n, uint64_t deposit_id, sc_deposit_view *out)
{
    if (stored_deposit(n, deposit_id, out))
        return true;
    pthread_mutex_lock(&n->mu);
    l1w_pending *view = n->pending;
    pthread_mutex_unlock(&n->mu);
    l1w_deposit dep;
    bool reorged = false, known = view != NULL && l1w_pending_lookup(view, deposit_id, &dep, &reorged);
    /* A deposit leaves the view only after the node stored it: one credited
     * between the two looks is in the store now, and the store wins. */
    if (stored_deposit(n, deposit_id, out))
        return true;
    if (!known)
        return false;
    memset(out, 0, sizeof *out);
    out->deposit = dep;
    out->status = reorged ? SC_DEP_REORGED : SC_DEP_PENDING_CONFIRMATIONS;
    return true;
}

void sc_node_set_pending(sc_node *n, l1w_pending *view)
{
    pthread_mutex_lock(&n->mu);
    n->pending = view;
    pthread_mutex_unlock(&n->mu);
}

bool sc_node_get_batch(sc_node *n, uint64_t number, sc_batch_view *out)
{
    memset(out, 0, sizeof *out);
    sc_store_batch b;
    if (number == 0 || !sc_store_batch_get(n->store, number, &b))
        return false;
    out->number = b.number;
    memcpy(out->prev_root, b.prev_root, sizeof out->prev_root);
    memcpy(out->root, b.root, sizeof out->root);
    out->tx_count = b.tx_count;
    out->deposit_count = b.deposit_count;
    pthread_mutex_lock(&n->mu);
    job_slot *s = jobs_find(n, number);
    if (number <= n->last_proven)
        out->status = SC_BATCH_PROVEN;
    else if (s != NULL ? s->state == JOB_FAILED : b.failed)
        out->status = SC_BATCH_FAILED;
    else if (s != NULL && (s->state == JOB_TAKEN || s->state == JOB_DONE))
        out->status = SC_BATCH_PROVING;
    else
        out->status = SC_BATCH_SEALED;
    pthread_mutex_unlock(&n->mu);
    if (out->status == SC_BATCH_PROVEN) {
        out->proof_size = b.proof_size;
        out->proving_ms = b.proving_ms;
    }
    size_t nw = b.withdrawals_len / 28;
    if (nw > 0) {
        out->withdrawals = calloc(nw, sizeof *out->withdrawals);
        if (out->withdrawals == NULL) {
            free(b.withdrawals);
            return false;
        }
        for (size_t i = 0; i < nw; i++) {
            memcpy(out->withdrawals[i].to, b.withdrawals + 28 * i, 20);
            uint64_t v = 0;
            for (int k = 7; k >= 0; k--)
                v = (v << 8) | b.withdrawals[28 * i + 20 + k];
            out->withdrawals[i].amount = v;
        }
        out->nwithdrawals = nw;
    }
    free(b.withdrawals);
    return true;
}

void sc_batch_view_free(sc_batch_view *v)
{
    if (v == NULL)
        return;
    free(v->withdrawals);
    v->withdrawals = NULL;
    v->nwithdrawals = 0;
}

void sc_node_status(sc_node *n, sc_status_view *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&n->mu);
    out->chain_id = n->cfg.chain_id;
    memcpy(out->bridge, n->cfg.bridge, 20);
    out->l1_head = n->l1_head;
    out->l1_confirmed = n->l1_confirmed;
    out->next_deposit_id = n->next_deposit_id;
    out->last_batch = n->last_batch;
    out->last_proven_batch = n->last_proven;
    out->pending_txs = n->txq_len;
    out->accounts = n->accounts;
    memcpy(out->state_root, n->state_root, sizeof out->state_root);
    pthread_mutex_unlock(&n->mu);
}

/* ---- metrics ------------------------------------------------------------------------------- */

static void collect(void *ctx, zk_metrics *m)
{
    sc_node *n = ctx;
    (void)m;
    pthread_mutex_lock(&n->mu);
    double head = (double)n->l1_head, conf = (double)n->l1_confirmed, pool = (double)n->txq_len,
           acc = (double)n->accounts;
    pthread_mutex_unlock(&n->mu);
    zk_metric_set(n->m.l1_head, head);
    zk_metric_set(n->m.l1_confirmed, conf);
    zk_metric_set(n->m.mempool, pool);
    zk_metric_set(n->m.accounts, acc);
}

zk_err sc_node_register_metrics(sc_node *n, struct zk_metrics *m)
{
    node_metrics nm;
    memset(&nm, 0, sizeof nm);
    nm.l1_head = zk_metrics_series(m, "zkcar_l1_head_block", "Newest L1 block the node has seen.",
                                   ZK_METRIC_GAUGE, NULL, NULL, 0);
    nm.l1_confirmed = zk_metrics_series(m, "zkcar_l1_confirmed_block",
                                        "Newest L1 block whose deposits are confirmed and delivered.",
                                        ZK_METRIC_GAUGE, NULL, NULL, 0);
    nm.deposits_credited = zk_metrics_series(m, "zkcar_deposits_credited_total",
                                             "Confirmed L1 deposits credited on L2.", ZK_METRIC_COUNTER, NULL,
                                             NULL, 0);
    for (int t = 0; t < 2; t++)
        for (int r = 0; r < R_COUNT; r++) {
            char labels[96];
            snprintf(labels, sizeof labels, "type=%s,result=%s", t ? "withdraw" : "transfer", RESULT_NAMES[r]);
            nm.tx[t][r] = zk_metrics_series(m, "zkcar_l2_transactions_total",
                                            "L2 transactions submitted, by type and outcome.", ZK_METRIC_COUNTER,
                                            labels, NULL, 0);
            if (nm.tx[t][r] == NULL)
                return ZK_ERR_NOMEM;
        }
    nm.mempool = zk_metrics_series(m, "zkcar_mempool_transactions", "Accepted transactions not yet sealed.",
                                   ZK_METRIC_GAUGE, NULL, NULL, 0);
    nm.accounts = zk_metrics_series(m, "zkcar_accounts", "Accounts in the state after the last sealed batch.",
                                    ZK_METRIC_GAUGE, NULL, NULL, 0);
    static const char *const bstat[3] = { "status=sealed", "status=proven", "status=failed" };
    for (int i = 0; i < 3; i++) {
        nm.batches[i] = zk_metrics_series(m, "zkcar_batches_total", "Batches by what happened to them.",
                                          ZK_METRIC_COUNTER, bstat[i], NULL, 0);
        if (nm.batches[i] == NULL)
            return ZK_ERR_NOMEM;
    }
    static const double bounds[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500 };
    nm.prove_seconds = zk_metrics_series(m, "zkcar_batch_prove_seconds", "Time to prove one batch.",
                                         ZK_METRIC_HISTOGRAM, NULL, bounds, sizeof bounds / sizeof bounds[0]);
    if (nm.l1_head == NULL || nm.l1_confirmed == NULL || nm.deposits_credited == NULL || nm.mempool == NULL
        || nm.accounts == NULL || nm.prove_seconds == NULL)
        return ZK_ERR_NOMEM;
    n->m = nm;
    return zk_metrics_add_collector(m, collect, n);
}
