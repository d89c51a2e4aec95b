/*
 * sidecar/node_ingest.c — transactions and deposits into the node (node.h, "ingest").
 */
#include "sidecar/node_internal.h"

/* ---- ingest ------------------------------------------------------------------------------ */

void scn_commit_hook(void *ctx, sc_store_waiter *first, zk_err rc)
{
    sc_node *n = ctx;
    if (rc != ZK_OK) {
        zk_error_detail e = { .code = rc };
        snprintf(e.text, sizeof e.text, "group commit of transactions failed");
        scn_node_fail(n, "store", &e);
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
    if ((rc = scn_ov_check(n, tx, err)) != ZK_OK) {
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
    scn_ov_apply_tx(n, tx);
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

void sc_node_count_refused(sc_node *n, zk_tx_type type, zk_err code)
{
    if (code == ZK_ERR_TX_RANGE)
        count_result(n, type, R_RANGE);
    else if (zk_tx_rpc_code(code) == 1001)
        count_result(n, type, R_SIGNATURE);
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
    scn_ov_view(n, rec->deposit.to, &bal, &nonce);
    pthread_mutex_unlock(&n->mu);
    if (bal > IPC_BALANCE_MAX - rec->deposit.amount_gwei) {
        /* Cannot happen with real ether (all of it is < 2^57 gwei). */
        rc = zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "deposit %" PRIu64 " would lift a balance above 2^63 - 1",
                          rec->deposit.deposit_id);
        goto cleanup;
    }
    if ((rc = sc_store_deposit_add(n->store, rec, err)) != ZK_OK) {
        scn_node_fail(n, "store", err);
        goto cleanup;
    }
    pthread_mutex_lock(&n->mu);
    if (scn_depq_push(n, rec) != ZK_OK)
        ZK_PANIC("node: out of memory queueing a durable deposit");
    scn_ov_ref(n, rec->deposit.to)->balance += rec->deposit.amount_gwei;
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

