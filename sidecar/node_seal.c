/*
 * sidecar/node_seal.c — the sequencer: seals batches by size or age (docs/sidecar.md, "Sealing").
 */
#include "sidecar/node_internal.h"

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
    acct_rec *a = scn_map_find(sim, addr);
    if (a == NULL) {
        ipc_account c;
        bool ok = ipc_writer_get(n->w, &c, addr);
        a = scn_map_add(sim, addr, ok ? c.balance : 0, ok ? c.nonce : 0);
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
    if (!scn_map_init(&sim, buckets))
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
    scn_map_free(&sim);
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
        scn_node_fail(n, "sealing: out of memory", &e);
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
        scn_node_fail(n, "sealing: out of memory", &e);
        goto cleanup;
    }

    pthread_mutex_lock(&n->wlock);
    if (seal_filter(n, &in, kept, reasons, &nrej) != ZK_OK) {
        pthread_mutex_unlock(&n->wlock);
        e.code = ZK_ERR_NOMEM;
        scn_node_fail(n, "sealing: out of memory", &e);
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
            scn_node_fail(n, "sealing: the batch builder refused the batch", &e);
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
            scn_node_fail(n, "sealing", &e);
            goto cleanup;
        }
    } else {
        /* Every transaction in reach was rejected: record that, no batch. */
        if (sc_store_reject(n->store, rej_seqs, rej_text, nrej, &e) != ZK_OK) {
            pthread_mutex_unlock(&n->wlock);
            scn_node_fail(n, "sealing: recording rejections", &e);
            goto cleanup;
        }
    }
    uint32_t accounts = ipc_writer_count(n->w);
    pthread_mutex_unlock(&n->wlock);

    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < in.ndep; i++)
        scn_ov_unref(n, in.deps[i].rec.deposit.to);
    n->depq_head += in.ndep;
    n->depq_len -= in.ndep;
    if (n->depq_len == 0)
        n->depq_head = 0;
    for (size_t i = 0; i < in.ntx; i++) {
        pend_tx *p = txq_at(n, 0);
        if (p->in_overlay)
            scn_ov_unapply_tx(n, &p->tx);
        n->pending_fees -= p->tx.fee;
        n->txq_head = (n->txq_head + 1) % n->txq_cap;
        n->txq_len--;
        n->txq_durable--;
    }
    if (nrej > 0)
        scn_ov_rebuild(n);
    if (nops > 0) {
        n->last_batch = number;
        memcpy(n->state_root, rec.root, sizeof n->state_root);
        n->accounts = accounts;
        if (scn_jobs_push(n, number, JOB_QUEUED) != ZK_OK)
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
    scn_node_fail(n, "sealing", &e);
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

void *scn_sequencer_main(void *p)
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

