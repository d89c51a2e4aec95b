/*
 * sidecar/node.c — the node's core: open and recovery, the overlay, the
 * lifecycle and the metrics (node.h; node_internal.h has the parts and the
 * lock order; docs/sidecar.md the design: threads, sealing order,
 * durability and restart).
 */
#include "sidecar/node_internal.h"

#include "common/hex.h"

static uint32_t addr_hash(const uint8_t a[20])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 20; i++)
        h = (h ^ a[i]) * 16777619u;
    return h;
}


bool scn_map_init(acct_map *m, uint32_t buckets)
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

void scn_map_free(acct_map *m)
{
    map_clear(m);
    free(m->b);
    m->b = NULL;
}

acct_rec *scn_map_find(const acct_map *m, const uint8_t addr[20])
{
    for (acct_rec *a = m->b[addr_hash(addr) & m->mask]; a != NULL; a = a->next)
        if (memcmp(a->addr, addr, 20) == 0)
            return a;
    return NULL;
}

acct_rec *scn_map_add(acct_map *m, const uint8_t addr[20], uint64_t balance, uint32_t nonce)
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

static const char *const RESULT_NAMES[R_COUNT] = { "accepted", "bad_signature", "bad_nonce",
                                                   "insufficient_balance", "out_of_range", "overloaded",
                                                   "rejected_at_seal" };

/* A broken store or state: stop sealing and accepting, say why once. */
void scn_node_fail(sc_node *n, const char *what, const zk_error_detail *e)
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

zk_err scn_load_job(sc_node *n, uint64_t number, prv_batch_job *job, uint8_t **bytes, size_t *len,
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
bool scn_committed_get(sc_node *n, const uint8_t addr[20], ipc_account *out)
{
    uint32_t id;
    memset(out, 0, sizeof *out);
    if (!ipc_reader_find(n->r, &id, addr))
        return false;
    return ipc_reader_get(n->r, out, id);
}

/* ---- the overlay (under mu) ------------------------------------------------------------ */

acct_rec *scn_ov_ref(sc_node *n, const uint8_t addr[20])
{
    acct_rec *a = scn_map_find(&n->overlay, addr);
    if (a == NULL) {
        ipc_account c;
        scn_committed_get(n, addr, &c);
        a = scn_map_add(&n->overlay, addr, c.balance, c.nonce);
        if (a == NULL)
            ZK_PANIC("overlay: out of memory");
    }
    a->refs++;
    return a;
}

void scn_ov_unref(sc_node *n, const uint8_t addr[20])
{
    acct_rec *a = scn_map_find(&n->overlay, addr);
    if (a == NULL || a->refs == 0)
        ZK_PANIC("overlay: unbalanced reference");
    if (--a->refs == 0)
        map_remove(&n->overlay, addr);
}

/* The values the next transaction from `addr` is checked against. */
void scn_ov_view(sc_node *n, const uint8_t addr[20], uint64_t *balance, uint32_t *nonce)
{
    acct_rec *a = scn_map_find(&n->overlay, addr);
    if (a != NULL) {
        *balance = a->balance;
        *nonce = a->nonce;
        return;
    }
    ipc_account c;
    scn_committed_get(n, addr, &c);
    *balance = c.balance;
    *nonce = c.nonce;
}

/* Checks a transaction's nonce and balance against the overlay. The operator
 * may not spend fees that are still pending: the batch credits them after
 * its last operation, so a batch could not hold both (docs/sidecar.md). */
zk_err scn_ov_check(sc_node *n, const zk_tx *tx, zk_error_detail *err)
{
    uint64_t bal;
    uint32_t nonce;
    scn_ov_view(n, tx->from, &bal, &nonce);
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
        scn_ov_view(n, tx->to, &tb, &tn);
        if (tb > IPC_BALANCE_MAX - tx->amount)
            return zk_error_set(err, ZK_ERR_TX_RANGE, "the receiver's balance would exceed 2^63 - 1");
    }
    if (tx->fee > 0) {
        uint64_t ob;
        uint32_t on;
        scn_ov_view(n, n->cfg.operator_addr, &ob, &on);
        if (ob > IPC_BALANCE_MAX - tx->fee)
            return zk_error_set(err, ZK_ERR_TX_RANGE, "the operator's balance would exceed 2^63 - 1");
    }
    return ZK_OK;
}

void scn_ov_apply_tx(sc_node *n, const zk_tx *tx)
{
    acct_rec *f = scn_ov_ref(n, tx->from);
    f->balance -= tx->amount + tx->fee;
    f->nonce++;
    if (tx->type == ZK_TX_TRANSFER)
        scn_ov_ref(n, tx->to)->balance += tx->amount;
    if (tx->fee > 0)
        scn_ov_ref(n, n->cfg.operator_addr)->balance += tx->fee;
}

void scn_ov_unapply_tx(sc_node *n, const zk_tx *tx)
{
    scn_ov_unref(n, tx->from);
    if (tx->type == ZK_TX_TRANSFER)
        scn_ov_unref(n, tx->to);
    if (tx->fee > 0)
        scn_ov_unref(n, n->cfg.operator_addr);
}

/* Replays every pending operation over the committed state, in sealing
 * order. Used after recovery and after a rejection at sealing (rare). */
void scn_ov_rebuild(sc_node *n)
{
    map_clear(&n->overlay);
    n->pending_fees = 0;
    for (size_t i = 0; i < n->depq_len; i++) {
        pend_dep *d = depq_at(n, i);
        acct_rec *a = scn_ov_ref(n, d->rec.deposit.to);
        a->balance += d->rec.deposit.amount_gwei;
    }
    for (size_t i = 0; i < n->txq_len; i++) {
        pend_tx *p = txq_at(n, i);
        p->in_overlay = scn_ov_check(n, &p->tx, NULL) == ZK_OK;
        if (p->in_overlay)
            scn_ov_apply_tx(n, &p->tx);
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
    zk_err rc = scn_load_job(n, b->number, &old, NULL, NULL, err);
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

zk_err scn_jobs_push(sc_node *n, uint64_t number, int state)
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

job_slot *scn_jobs_find(sc_node *n, uint64_t number)
{
    for (size_t i = 0; i < n->njobs; i++)
        if (n->jobs[i].number == number)
            return &n->jobs[i];
    return NULL;
}

zk_err scn_depq_push(sc_node *n, const l1w_record *rec)
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
    if ((c->rc = scn_depq_push(c->n, &d->rec)) != ZK_OK)
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
    if ((c->rc = scn_jobs_push(c->n, b->number, state)) != ZK_OK)
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

void scn_drop_job(sc_node *n, uint64_t number)
{
    char path[NODE_PATH_MAX];
    job_path(n, path, sizeof path, number, "job");
    if (unlink(path) != 0 && errno != ENOENT)
        zk_log(ZK_LOG_WARN, "cannot delete the job file of a proven batch", ZKF_STR("path", path),
               ZKF_STR("error", strerror(errno)), ZKF_END);
}

/* Job files of proven batches left by a crash between marking a batch
 * proven and deleting its job (or by --keep-jobs in an earlier run): the
 * newest ones go, down to the first that is already gone. */
static void delete_proven_jobs(sc_node *n)
{
    size_t dropped = 0;
    for (uint64_t k = n->last_proven; k >= 1; k--) {
        char path[NODE_PATH_MAX];
        job_path(n, path, sizeof path, k, "job");
        if (unlink(path) != 0)
            break;
        dropped++;
    }
    if (dropped > 0)
        zk_log(ZK_LOG_INFO, "deleted the job files of proven batches", ZKF_U64("count", dropped),
               ZKF_U64("newest", n->last_proven), ZKF_END);
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

zk_err scn_advance_proven(sc_node *n, zk_error_detail *err);

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
    if (!scn_map_init(&n->overlay, OV_BUCKETS)) {
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
        if ((rc = check_meta(n, keys[i], v, err)) != ZK_OK) {
            if (rc == ZK_ERR_USAGE) { /* say it in the operator's terms, not the store's */
                char hex[43];
                zk_address_format(hex, cfg->bridge);
                rc = zk_error_set(err, ZK_ERR_USAGE, "the data directory %.200s belongs to another bridge than %s",
                                  n->dir, hex);
            }
            goto cleanup;
        }
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
    scn_ov_rebuild(n);

    ipc_info info;
    ipc_reader_info(n->r, &info);
    n->last_proven = info.proven_batch;
    batch_scan bs = { .n = n, .proven_in_state = info.proven_batch, .rc = ZK_OK };
    if (sc_store_scan_batches(n->store, info.proven_batch + 1, scan_batch, &bs) != ZK_OK || bs.rc != ZK_OK) {
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: cannot read the batches");
        goto cleanup;
    }
    if ((rc = scn_advance_proven(n, err)) != ZK_OK)
        goto cleanup;
    if (!n->cfg.keep_jobs)
        delete_proven_jobs(n);
    zk_log(ZK_LOG_INFO, "node opened", ZKF_STR("data_dir", n->dir), ZKF_U64("last_batch", n->last_batch),
           ZKF_U64("last_proven", n->last_proven), ZKF_U64("pending_txs", n->txq_len),
           ZKF_U64("pending_deposits", n->depq_len), ZKF_U64("accounts", n->accounts), ZKF_END);
    *out = n;
    return ZK_OK;
cleanup:
    sc_node_close(n);
    return rc;
}
/* ---- lifecycle ------------------------------------------------------------------------------ */

zk_err sc_node_start(sc_node *n, zk_error_detail *err)
{
    assert(!n->started);
    sc_store_set_commit_hook(n->store, scn_commit_hook, n);
    pthread_mutex_lock(&n->mu);
    n->started = true;
    pthread_mutex_unlock(&n->mu);
    if (pthread_create(&n->seq_thread, NULL, scn_sequencer_main, n) != 0) {
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
            if (pthread_create(&n->provers[i], NULL, scn_prover_main, n) != 0) {
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
    scn_map_free(&n->overlay);
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

/* ---- metrics ------------------------------------------------------------------------------- */

static void collect(void *ctx, zk_metrics *m)
{
    sc_node *n = ctx;
    (void)m;
    pthread_mutex_lock(&n->mu);
    double head = (double)n->l1_head, conf = (double)n->l1_confirmed, pool = (double)n->txq_len,
           acc = (double)n->accounts;
    size_t pending = 0;
    uint64_t reorged_new = 0;
    if (n->pending != NULL) {
        uint64_t total = 0;
        l1w_pending_counts(n->pending, &pending, NULL, &total);
        reorged_new = total >= n->reorged_counted ? total - n->reorged_counted : 0;
        n->reorged_counted = total;
    }
    pthread_mutex_unlock(&n->mu);
    zk_metric_set(n->m.deposits_pending, (double)pending);
    if (reorged_new > 0)
        zk_metric_add(n->m.deposits_reorged, (double)reorged_new);
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
    nm.deposits_pending = zk_metrics_series(m, "zkcar_deposits_pending",
                                            "Deposits seen on L1 and waiting for their confirmations.",
                                            ZK_METRIC_GAUGE, NULL, NULL, 0);
    nm.deposits_reorged = zk_metrics_series(m, "zkcar_deposits_reorged_total",
                                            "Deposits seen on L1 that left the chain before they were confirmed "
                                            "(never credited).",
                                            ZK_METRIC_COUNTER, NULL, NULL, 0);
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
        || nm.accounts == NULL || nm.prove_seconds == NULL || nm.deposits_pending == NULL
        || nm.deposits_reorged == NULL)
        return ZK_ERR_NOMEM;
    n->m = nm;
    return zk_metrics_add_collector(m, collect, n);
}

