/*
 * sidecar/node_query.c — what the API reads: transactions, accounts, deposits, batches, status.
 */
#include "sidecar/node_internal.h"

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
    bool exists = scn_committed_get(n, address, &c);
    acct_rec *a = scn_map_find(&n->overlay, address);
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
    if (view != n->pending)
        n->reorged_counted = 0; /* the metric continues from what the new view counts */
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
    job_slot *s = scn_jobs_find(n, number);
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

