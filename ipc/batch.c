/* ipc/batch.c — a batch's proving job from the shared-memory state
 * (ipc/batch.h): resolve ids, apply the rules as the state evolves within
 * the batch, stage the absolute values, and take the witnesses of every leaf
 * update from ipc_writer_preview. */
#include <stdlib.h>
#include <string.h>

#include "ipc/batch.h"
#include "ipc/region.h"
#include "prover/airs/batch.h"

#define AMOUNT_LIMIT (UINT64_C(1) << 63)

typedef struct builder {
    ipc_writer *w;
    prv_batch_update *updates;
    uint32_t nupdates;
    uint32_t old_accounts;
    uint32_t created;
} builder;

/* Stages `address` := (balance, nonce) as the next leaf update, recording
 * the leaf before it (`had` false: the empty leaf of a new account). */
static zk_err stage(builder *b, uint32_t *id, const ipc_account *before, bool had,
                    const uint8_t address[IPC_ADDRESS_SIZE], uint64_t balance, uint32_t nonce, uint32_t i,
                    zk_error_detail *err)
{
    uint32_t aid;
    zk_err rc = ipc_writer_stage(b->w, &aid, address, balance, nonce);
    if (rc == ZK_ERR_STATE_FULL)
        return zk_error_set(err, rc, "operation %u: the state holds as many accounts as its capacity", i);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "operation %u: staging failed (%s)", i, zk_strerror(rc));
    if (!had) {
        if (aid != b->old_accounts + b->created)
            ZK_PANIC("a new account did not get the next id");
        b->created++;
    }
    prv_batch_update *u = &b->updates[b->nupdates++];
    u->id = aid;
    if (had) {
        memcpy(u->old_address, before->address, PRV_BATCH_ADDRESS);
        u->old_balance = before->balance;
        u->old_nonce = before->nonce;
    }
    *id = aid;
    return ZK_OK;
}

/* Credits `amount` to `address`, creating its account if it has none. */
static zk_err credit(builder *b, uint32_t *id, const uint8_t address[IPC_ADDRESS_SIZE], uint64_t amount,
                     const char *role, uint32_t i, zk_error_detail *err)
{
    ipc_account acc;
    bool had = ipc_writer_get(b->w, &acc, address);
    if (!had)
        memset(&acc, 0, sizeof acc);
    if (amount > IPC_BALANCE_MAX - acc.balance)
        return zk_error_set(err, ZK_ERR_TX_RANGE, "operation %u: crediting the %s %llu gwei passes 2^63 - 1", i, role,
                            (unsigned long long)amount);
    /* The batch AIR proves credits up to PRV_BATCH_CREDIT_MAX only (old
     * balance + credit must stay below p): refuse a batch it could not prove
     * rather than seal one that no prover can finish. */
    if (amount > PRV_BATCH_CREDIT_MAX)
        return zk_error_set(err, ZK_ERR_TX_RANGE, "operation %u: a credit of %llu gwei to the %s is above 2^63 - 2^32",
                            i, (unsigned long long)amount, role);
    return stage(b, id, &acc, had, address, acc.balance + amount, acc.nonce, i, err);
}

/* Debits amount + fee from the sender after checking its nonce and balance. */
static zk_err debit(builder *b, prv_batch_op *op, uint32_t i, zk_error_detail *err)
{
    ipc_account acc;
    bool had = ipc_writer_get(b->w, &acc, op->from);
    if (!had)
        memset(&acc, 0, sizeof acc);
    if (op->nonce != acc.nonce)
        return zk_error_set(err, ZK_ERR_TX_NONCE, "operation %u: nonce %u, the sender's next nonce is %u", i,
                            op->nonce, acc.nonce);
    if (acc.nonce == UINT32_MAX)
        return zk_error_set(err, ZK_ERR_TX_RANGE, "operation %u: the sender's nonce cannot grow past 2^32 - 1", i);
    if (!had || acc.balance < op->amount + op->fee)
        return zk_error_set(err, ZK_ERR_TX_BALANCE, "operation %u: amount + fee %llu exceeds the balance %llu", i,
                            (unsigned long long)(op->amount + op->fee), (unsigned long long)acc.balance);
    return stage(b, &op->from_id, &acc, true, op->from, acc.balance - op->amount - op->fee, acc.nonce + 1, i, err);
}

static zk_err apply_ops(builder *b, prv_batch_public *pub, zk_error_detail *err)
{
    uint64_t deposits = 0, fees = 0;
    zk_err rc = ZK_OK;
    for (uint32_t i = 0; i < pub->nops && rc == ZK_OK; i++) {
        prv_batch_op *op = &pub->ops[i];
        if (op->amount == 0 || op->amount >= AMOUNT_LIMIT || op->fee >= AMOUNT_LIMIT ||
            op->amount + op->fee >= AMOUNT_LIMIT || (op->kind == PRV_OP_DEPOSIT && op->fee != 0))
            return zk_error_set(err, ZK_ERR_TX_RANGE, "operation %u: amount %llu or fee %llu out of range", i,
                                (unsigned long long)op->amount, (unsigned long long)op->fee);
        switch (op->kind) {
        case PRV_OP_DEPOSIT:
            if (op->deposit_id != pub->first_deposit_id + deposits)
                return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT,
                                    "operation %u: deposit id %llu, expected %llu", i,
                                    (unsigned long long)op->deposit_id,
                                    (unsigned long long)(pub->first_deposit_id + deposits));
            deposits++;
            op->from_id = 0;
            rc = credit(b, &op->to_id, op->to, op->amount, "receiver", i, err);
            break;
        case PRV_OP_TRANSFER:
            rc = debit(b, op, i, err);
            if (rc == ZK_OK)
                rc = credit(b, &op->to_id, op->to, op->amount, "receiver", i, err);
            break;
        case PRV_OP_WITHDRAW:
            op->to_id = 0;
            rc = debit(b, op, i, err);
            break;
        default:
            return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: unknown kind %u", i, op->kind);
        }
        fees += op->fee; /* each < 2^63, checked below before it can wrap */
        if (fees >= AMOUNT_LIMIT)
            return zk_error_set(err, ZK_ERR_TX_RANGE, "operation %u: the fees sum to 2^63 or more", i);
    }
    if (rc != ZK_OK)
        return rc;
    pub->deposit_count = deposits;
    pub->operator_id = 0;
    if (fees > 0)
        rc = credit(b, &pub->operator_id, pub->operator_addr, fees, "operator", pub->nops, err);
    return rc;
}

zk_err ipc_batch_build(ipc_writer *w, prv_batch_public *pub, prv_batch_job *job, zk_error_detail *err)
{
    if (ipc_writer_staged(w) != 0)
        ZK_PANIC("ipc_batch_build with operations already staged");
    memset(job, 0, sizeof *job);
    if (pub->nops == 0 || pub->nops > PRV_BATCH_MAX_OPS || pub->ops == NULL)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%u operations (1 .. %u allowed)", pub->nops,
                            (unsigned)PRV_BATCH_MAX_OPS);
    zk_err rc = ZK_OK;
    ipc_witness *wit = NULL;
    /* Room for the most updates these ops can need (2 per op + the fee). */
    size_t cap = 2 * (size_t)pub->nops + 1;
    builder b = { .w = w, .updates = calloc(cap, sizeof *b.updates) };
    job->pub = *pub;
    job->pub.ops = malloc(pub->nops * sizeof *pub->ops);
    if (b.updates == NULL || job->pub.ops == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "a job of %u operations", pub->nops);
        goto cleanup;
    }
    b.old_accounts = ipc_writer_count(w);
    rc = apply_ops(&b, pub, err);
    if (rc != ZK_OK)
        goto cleanup;
    if (b.nupdates != prv_batch_count_updates(pub))
        ZK_PANIC("staged updates differ from the count the operations imply");
    wit = malloc(b.nupdates * sizeof *wit);
    if (wit == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "witnesses of %u leaf updates", b.nupdates);
        goto cleanup;
    }
    rc = ipc_writer_preview_siblings(w, wit, b.nupdates);
    if (rc != ZK_OK) {
        zk_error_set(err, rc, "computing the witnesses of %u leaf updates", b.nupdates);
        goto cleanup;
    }
    for (uint32_t u = 0; u < b.nupdates; u++)
        memcpy(b.updates[u].siblings, wit[u].siblings, sizeof b.updates[u].siblings);
    ipc_writer_root(w, pub->old_root);
    memcpy(pub->new_root, wit[b.nupdates - 1].new_root, sizeof pub->new_root);
    pub->old_accounts = b.old_accounts;
    pub->new_accounts = b.old_accounts + b.created;
    prv_batch_op *copy = job->pub.ops;
    memcpy(copy, pub->ops, pub->nops * sizeof *copy);
    job->pub = *pub;
    job->pub.ops = copy;
    job->updates = b.updates;
    job->nupdates = b.nupdates;
    /* The builder's own output must pass the verifier's consistency rules
     * (e.g. a deposit carrying a signature or a transfer a deposit id). */
    rc = prv_batch_public_check(pub, err);
cleanup:
    free(wit);
    if (rc != ZK_OK) {
        ipc_writer_discard(w);
        if (job->updates != b.updates)
            free(b.updates);
        prv_batch_job_free(job);
    }
    return rc;
}
