/* Tests for ipc_writer_preview / ipc_writer_discard (ipc/state.h) and the
 * batch job builder ipc_batch_build (ipc/batch.h): preview's witnesses are
 * exactly the ones commit writes and leave the region untouched; the builder
 * resolves ids, creates accounts at the next ids, applies the rules as the
 * state evolves inside the batch, leaves nothing staged on failure, and its
 * witnesses fold from the old root to the new one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/eip712.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/batch.h"
#include "ipc/region.h"
#include "prover/airs/batch.h"
#include "ipc_test_util.h"

static uint64_t rng_state = 0x853c49e6748fea9bULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static ipc_writer *open_writer(const char *dir)
{
    ipc_writer *w = NULL;
    ipc_writer_options o = { .capacity = 1u << 12, .max_group_ops = 4096, .threads = 2 };
    zk_error_detail e = { 0 };
    zk_err rc = ipc_writer_open(&w, dir, &o, &e);
    if (rc != ZK_OK)
        fail_msg("ipc_writer_open: %s: %s", zk_strerror(rc), e.text);
    return w;
}

static void expect_witness_equal(const ipc_witness *a, const ipc_witness *b, size_t k)
{
    if (a->id != b->id || memcmp(a->old_leaf, b->old_leaf, sizeof a->old_leaf) != 0 ||
        memcmp(a->new_leaf, b->new_leaf, sizeof a->new_leaf) != 0 ||
        memcmp(a->siblings, b->siblings, sizeof a->siblings) != 0 ||
        memcmp(a->old_root, b->old_root, sizeof a->old_root) != 0 ||
        memcmp(a->new_root, b->new_root, sizeof a->new_root) != 0)
        fail_msg("witness %zu differs between preview and commit", k);
}

/* Everything a reader-visible state consists of, to compare before/after. */
typedef struct state_view {
    prv_gl root[IPC_DIGEST];
    uint32_t count;
    uint64_t lsn;
    uint64_t sum;
} state_view;

static void view_of(state_view *v, ipc_writer *w, const char *dir)
{
    ipc_writer_root(w, v->root);
    v->count = ipc_writer_count(w);
    v->lsn = ipc_writer_lsn(w);
    ipc_reader *r = NULL;
    assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_OK);
    v->sum = 0;
    for (uint32_t i = 0; i < ipc_reader_count(r); i++) {
        ipc_account a;
        assert_true(ipc_reader_get(r, &a, i));
        v->sum = v->sum * 1000003 + a.balance * 31 + a.nonce + a.address[0];
    }
    prv_gl again[IPC_DIGEST];
    troot_from_reader(again, r);
    assert_memory_equal(again, v->root, sizeof again);
    ipc_reader_close(r);
}

static void expect_view_equal(const state_view *a, const state_view *b)
{
    assert_memory_equal(a->root, b->root, sizeof a->root);
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->lsn, b->lsn);
    assert_int_equal(a->sum, b->sum);
}

/* Stages a random group over `pool` addresses (repeats and new ones). */
static void stage_random(ipc_writer *w, uint32_t pool, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint8_t a[IPC_ADDRESS_SIZE];
        taddr(a, (uint32_t)(rnd() % pool));
        assert_int_equal(ipc_writer_stage(w, NULL, a, rnd() % 1000000, (uint32_t)(rnd() % 50)), ZK_OK);
    }
}

/* One round: preview the staged group, check nothing moved, commit with
 * witnesses, and compare. */
static void preview_then_commit(ipc_writer *w, const char *dir)
{
    size_t n = ipc_writer_staged(w);
    ipc_witness *pre = calloc(n + 1, sizeof *pre), *com = calloc(n + 1, sizeof *com);
    assert_non_null(pre);
    assert_non_null(com);
    state_view before, after;
    view_of(&before, w, dir);
    assert_int_equal(ipc_writer_preview(w, pre, n), ZK_OK);
    view_of(&after, w, dir);
    expect_view_equal(&before, &after);
    assert_int_equal(ipc_writer_staged(w), n);
    /* A second preview gives the same answer. */
    assert_int_equal(ipc_writer_preview(w, com, n), ZK_OK);
    for (size_t k = 0; k < n; k++)
        expect_witness_equal(&pre[k], &com[k], k);
    /* The builder's variant without the intermediate roots hashes less but
     * gives the same ids, leaves and siblings, and the same end roots. */
    memset(com, 0, (n + 1) * sizeof *com);
    assert_int_equal(ipc_writer_preview_siblings(w, com, n), ZK_OK);
    for (size_t k = 0; k < n; k++) {
        if (pre[k].id != com[k].id || memcmp(pre[k].old_leaf, com[k].old_leaf, sizeof pre[k].old_leaf) != 0 ||
            memcmp(pre[k].new_leaf, com[k].new_leaf, sizeof pre[k].new_leaf) != 0 ||
            memcmp(pre[k].siblings, com[k].siblings, sizeof pre[k].siblings) != 0)
            fail_msg("siblings-only witness %zu differs", k);
    }
    if (n > 0) {
        assert_memory_equal(pre[0].old_root, com[0].old_root, sizeof pre[0].old_root);
        assert_memory_equal(pre[n - 1].new_root, com[n - 1].new_root, sizeof pre[0].new_root);
    }
    view_of(&after, w, dir);
    expect_view_equal(&before, &after);
    memset(com, 0, (n + 1) * sizeof *com);
    assert_int_equal(ipc_writer_commit(w, com, n), ZK_OK);
    for (size_t k = 0; k < n; k++)
        expect_witness_equal(&pre[k], &com[k], k);
    prv_gl root[IPC_DIGEST];
    ipc_writer_root(w, root);
    if (n > 0)
        assert_memory_equal(root, pre[n - 1].new_root, sizeof root);
    free(pre);
    free(com);
}

static void test_preview_matches_commit(void **state)
{
    (void)state;
    char *dir = tdir_new();
    ipc_writer *w = open_writer(dir);
    /* From the empty tree: a group of new accounts with repeats. */
    stage_random(w, 40, 100);
    preview_then_commit(w, dir);
    /* Single operations, on an existing and a new account. */
    stage_random(w, 40, 1);
    preview_then_commit(w, dir);
    stage_random(w, 1000, 1);
    preview_then_commit(w, dir);
    /* Larger groups mixing existing ids, repeats and new ones (ids cross
     * power-of-two boundaries as the count grows). */
    for (int round = 0; round < 4; round++) {
        stage_random(w, 300 + 200 * (uint32_t)round, 400);
        preview_then_commit(w, dir);
    }
    /* Runs of one id, neighbours (ids differing in low bits only) and
     * far-apart ids: every height of the pruned paths. */
    for (uint32_t k = 0; k < 300; k++) {
        uint8_t a[IPC_ADDRESS_SIZE];
        uint32_t pick = k % 7 == 0 ? 5 : k % 3 == 0 ? k / 3 : 1500 - k;
        taddr(a, pick);
        assert_int_equal(ipc_writer_stage(w, NULL, a, k, k % 4), ZK_OK);
        if (k % 5 == 0)
            assert_int_equal(ipc_writer_stage(w, NULL, a, k + 1, k % 4 + 1), ZK_OK);
    }
    preview_then_commit(w, dir);
    /* An empty group previews to nothing. */
    assert_int_equal(ipc_writer_preview(w, NULL, 0), ZK_OK);
    ipc_writer_close(w);
    tdir_remove(dir);
}

static void test_discard(void **state)
{
    (void)state;
    char *dir = tdir_new();
    ipc_writer *w = open_writer(dir);
    stage_random(w, 20, 30);
    assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
    state_view before, after;
    view_of(&before, w, dir);
    uint32_t count = ipc_writer_count(w);

    uint8_t fresh[IPC_ADDRESS_SIZE], old[IPC_ADDRESS_SIZE];
    taddr(fresh, 999999);
    taddr(old, 3);
    ipc_account acc_before;
    assert_true(ipc_writer_get(w, &acc_before, old));
    uint32_t id;
    assert_int_equal(ipc_writer_stage(w, &id, fresh, 5, 0), ZK_OK);
    assert_int_equal(id, count);
    assert_int_equal(ipc_writer_stage(w, NULL, old, 77, 9), ZK_OK);
    ipc_witness wit[2];
    assert_int_equal(ipc_writer_preview(w, wit, 2), ZK_OK);
    ipc_writer_discard(w);
    assert_int_equal(ipc_writer_staged(w), 0);
    ipc_account acc;
    assert_false(ipc_writer_get(w, &acc, fresh));
    assert_true(ipc_writer_get(w, &acc, old));
    assert_int_equal(acc.balance, acc_before.balance);
    assert_int_equal(acc.nonce, acc_before.nonce);
    view_of(&after, w, dir);
    expect_view_equal(&before, &after);
    /* The id handed to the discarded address is free again. */
    uint8_t other[IPC_ADDRESS_SIZE];
    taddr(other, 888888);
    assert_int_equal(ipc_writer_stage(w, &id, other, 1, 0), ZK_OK);
    assert_int_equal(id, count);
    ipc_writer_discard(w);
    ipc_writer_discard(w); /* twice is fine */
    assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
    view_of(&after, w, dir);
    expect_view_equal(&before, &after);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* ---- the builder ---------------------------------------------------------------- */

#define NKEYS 12
#define CHAIN_ID 31337

static uint8_t keys[NKEYS][32];
static uint8_t addrs[NKEYS][20];
static const uint8_t bridge[20] = { 0xb7, 0x1d, 0x9e };
static zk_eip712_domain domain;

static int setup_keys(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++) {
        memset(keys[i], 0, 32);
        keys[i][0] = 0x42;
        keys[i][31] = (uint8_t)(i + 1);
        if (zk_sig_seckey_address(addrs[i], NULL, keys[i]) != ZK_OK)
            return -1;
    }
    zk_eip712_domain_zkcar(&domain, CHAIN_ID, bridge);
    return 0;
}

static prv_batch_op op_deposit(uint64_t id, int to, uint64_t amount)
{
    prv_batch_op op = { .kind = PRV_OP_DEPOSIT, .amount = amount, .deposit_id = id };
    memset(op.from, 0xd0, 20);
    memcpy(op.to, addrs[to], 20);
    return op;
}

static prv_batch_op op_signed(uint8_t kind, int from, const uint8_t to[20], uint64_t amount, uint64_t fee,
                              uint32_t nonce)
{
    prv_batch_op op = { .kind = kind, .amount = amount, .fee = fee, .nonce = nonce };
    memcpy(op.from, addrs[from], 20);
    memcpy(op.to, to, 20);
    zk_tx tx = { .type = kind == PRV_OP_TRANSFER ? ZK_TX_TRANSFER : ZK_TX_WITHDRAW,
                 .amount = amount, .fee = fee, .nonce = nonce };
    memcpy(tx.from, op.from, 20);
    memcpy(tx.to, op.to, 20);
    uint8_t digest[32];
    zk_tx_hash(digest, &tx, &domain);
    if (zk_sig_sign(op.sig, NULL, digest, keys[from]) != ZK_OK)
        abort();
    return op;
}

static prv_batch_public pub_of(prv_batch_op *ops, uint32_t n, uint64_t number, uint64_t first_deposit,
                               const uint8_t op_addr[20])
{
    prv_batch_public p = { .chain_id = CHAIN_ID, .number = number, .first_deposit_id = first_deposit,
                           .nops = n, .ops = ops };
    memcpy(p.bridge, bridge, 20);
    memcpy(p.operator_addr, op_addr, 20);
    return p;
}

/* A test-side model of the accounts: address -> (balance, nonce), by id. */
typedef struct model {
    uint8_t addr[64][20];
    uint64_t bal[64];
    uint32_t nonce[64];
    uint32_t n;
} model;

static uint32_t model_touch(model *m, const uint8_t a[20])
{
    for (uint32_t i = 0; i < m->n; i++)
        if (memcmp(m->addr[i], a, 20) == 0)
            return i;
    assert_true(m->n < 64);
    memcpy(m->addr[m->n], a, 20);
    m->bal[m->n] = 0;
    m->nonce[m->n] = 0;
    return m->n++;
}

typedef struct upd {
    uint32_t id;
    const uint8_t *a;
    int64_t d;
    uint32_t inc;
} upd;

static bool zero_addr(const uint8_t a[20])
{
    static const uint8_t z[20];
    return memcmp(a, z, 20) == 0;
}

/* Walks the job's updates with the model: each update's old leaf folds to
 * the running root, its new leaf (from the model) to the next one. */
static void expect_job_folds(const prv_batch_job *job, model *m)
{
    const prv_batch_public *p = &job->pub;
    prv_gl root[IPC_DIGEST];
    memcpy(root, p->old_root, sizeof root);
    uint32_t u = 0;
    uint64_t fees = 0;
    for (uint32_t i = 0; i <= p->nops; i++) {
        /* (id, address, delta balance, nonce step) of each update of op i */
        upd ups[2];
        int nu = 0;
        if (i == p->nops) {
            if (fees == 0)
                break;
            ups[nu++] = (upd){ p->operator_id, p->operator_addr, (int64_t)fees, 0 };
        } else {
            const prv_batch_op *op = &p->ops[i];
            fees += op->fee;
            if (op->kind != PRV_OP_DEPOSIT)
                ups[nu++] = (upd){ op->from_id, op->from, -(int64_t)(op->amount + op->fee), 1 };
            if (op->kind != PRV_OP_WITHDRAW)
                ups[nu++] = (upd){ op->to_id, op->to, (int64_t)op->amount, 0 };
        }
        for (int k = 0; k < nu; k++, u++) {
            assert_true(u < job->nupdates);
            const prv_batch_update *up = &job->updates[u];
            assert_int_equal(up->id, ups[k].id);
            bool known = false;
            for (uint32_t j = 0; j < m->n; j++)
                known |= memcmp(m->addr[j], ups[k].a, 20) == 0;
            uint32_t mi = model_touch(m, ups[k].a);
            if (known)
                assert_memory_equal(up->old_address, ups[k].a, 20);
            else
                assert_true(zero_addr(up->old_address));
            assert_int_equal(up->old_balance, m->bal[mi]);
            assert_int_equal(up->old_nonce, m->nonce[mi]);
            prv_gl leaf[IPC_DIGEST], r[IPC_DIGEST];
            ipc_leaf_hash(leaf, up->old_address, up->old_balance, up->old_nonce);
            ipc_path_root(r, up->id, leaf, up->siblings);
            assert_memory_equal(r, root, sizeof r);
            m->bal[mi] = (uint64_t)((int64_t)m->bal[mi] + ups[k].d);
            m->nonce[mi] += ups[k].inc;
            ipc_leaf_hash(leaf, ups[k].a, m->bal[mi], m->nonce[mi]);
            ipc_path_root(root, up->id, leaf, up->siblings);
        }
    }
    assert_int_equal(u, job->nupdates);
    assert_memory_equal(root, p->new_root, sizeof root);
}

/* Builds, checks the job against the model, round-trips it, commits. */
static void build_ok(ipc_writer *w, model *m, prv_batch_public *pub, prv_batch_job *job)
{
    zk_error_detail e = { 0 };
    zk_err rc = ipc_batch_build(w, pub, job, &e);
    if (rc != ZK_OK)
        fail_msg("ipc_batch_build: %s: %s", zk_strerror(rc), e.text);
    assert_int_equal(job->nupdates, prv_batch_count_updates(pub));
    assert_int_equal(ipc_writer_staged(w), job->nupdates);
    assert_int_equal(prv_batch_public_check(pub, &e), ZK_OK);
    assert_int_equal(prv_batch_check_signatures(pub, &e), ZK_OK);
    /* The job holds a deep copy of the filled-in public data. */
    assert_ptr_not_equal(job->pub.ops, pub->ops);
    uint8_t h1[32], h2[32];
    assert_int_equal(prv_batch_public_hash(pub, h1), ZK_OK);
    assert_int_equal(prv_batch_public_hash(&job->pub, h2), ZK_OK);
    assert_memory_equal(h1, h2, 32);
    prv_gl root[IPC_DIGEST];
    ipc_writer_root(w, root);
    assert_memory_equal(root, pub->old_root, sizeof root);
    assert_int_equal(pub->old_accounts, ipc_writer_count(w));
    expect_job_folds(job, m);
    assert_int_equal(pub->new_accounts, m->n);

    uint8_t *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(prv_batch_job_encode(job, &enc, &len), ZK_OK);
    prv_batch_job back;
    assert_int_equal(prv_batch_job_decode(&back, &e, enc, len), ZK_OK);
    assert_int_equal(prv_batch_job_encode(&back, &enc2, &len2), ZK_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(enc, enc2, len);
    prv_batch_job_free(&back);
    free(enc);
    free(enc2);

    assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
    ipc_writer_root(w, root);
    assert_memory_equal(root, pub->new_root, sizeof root);
    assert_int_equal(ipc_writer_count(w), pub->new_accounts);
}

/* Builds and expects `want`, with nothing staged and the state unchanged. */
static void build_fails(ipc_writer *w, const char *dir, prv_batch_public *pub, zk_err want)
{
    state_view before, after;
    view_of(&before, w, dir);
    prv_batch_job job;
    zk_error_detail e = { 0 };
    assert_int_equal(ipc_batch_build(w, pub, &job, &e), want);
    assert_true(strstr(e.text, "operation") != NULL);
    assert_null(job.updates);
    assert_null(job.pub.ops);
    assert_int_equal(ipc_writer_staged(w), 0);
    view_of(&after, w, dir);
    expect_view_equal(&before, &after);
}

static void test_build_batches(void **state)
{
    (void)state;
    char *dir = tdir_new();
    ipc_writer *w = open_writer(dir);
    model m = { .n = 0 };
    uint8_t operator_addr[20] = { 0 }; /* the default operator: the zero address */
    prv_batch_job job;

    /* Batch 1: deposits create accounts 0.. in order of first credit; a
     * repeated receiver keeps its id; no fees, so no operator update. */
    prv_batch_op ops1[] = { op_deposit(0, 0, 1000000), op_deposit(1, 1, 500000), op_deposit(2, 0, 7),
                            op_deposit(3, 2, 300000), op_deposit(4, 3, 250000) };
    prv_batch_public p1 = pub_of(ops1, 5, 1, 0, operator_addr);
    build_ok(w, &m, &p1, &job);
    assert_int_equal(p1.old_accounts, 0);
    assert_int_equal(p1.new_accounts, 4);
    assert_int_equal(p1.deposit_count, 5);
    assert_int_equal(ops1[0].to_id, 0);
    assert_int_equal(ops1[1].to_id, 1);
    assert_int_equal(ops1[2].to_id, 0);
    assert_int_equal(ops1[3].to_id, 2);
    assert_int_equal(p1.operator_id, 0);
    assert_int_equal(job.nupdates, 5);
    prv_batch_job_free(&job);

    /* Batch 2: every kind, state evolving inside the batch (account 1
     * spends what it receives in the same batch), transfers to a new
     * address, a withdrawal to an L1 address, and a new operator created
     * last by the fee update. */
    uint8_t l1[20];
    memset(l1, 0xe1, 20);
    operator_addr[19] = 0x0f;
    prv_batch_op ops2[] = {
        op_signed(PRV_OP_TRANSFER, 0, addrs[1], 600000, 10, 0),
        op_signed(PRV_OP_TRANSFER, 1, addrs[5], 1000000, 20, 0), /* needs the 600000 just received */
        op_deposit(5, 6, 42),
        op_signed(PRV_OP_WITHDRAW, 2, l1, 1000, 5, 0),
        op_signed(PRV_OP_TRANSFER, 0, addrs[0], 1, 0, 1),         /* to oneself */
        op_signed(PRV_OP_TRANSFER, 5, addrs[1], 999, 1, 0),       /* from an account created above */
    };
    prv_batch_public p2 = pub_of(ops2, 6, 2, 5, operator_addr);
    build_ok(w, &m, &p2, &job);
    assert_int_equal(p2.old_accounts, 4);
    assert_int_equal(ops2[1].to_id, 4);     /* addrs[5]: the first new account */
    assert_int_equal(ops2[2].to_id, 5);     /* addrs[6] */
    assert_int_equal(ops2[3].from_id, 2);
    assert_int_equal(ops2[3].to_id, 0);     /* a withdrawal has no L2 receiver */
    assert_int_equal(ops2[5].from_id, 4);
    assert_int_equal(p2.operator_id, 6);    /* created last */
    assert_int_equal(p2.new_accounts, 7);
    assert_int_equal(p2.deposit_count, 1);
    assert_int_equal(job.nupdates, 2 + 2 + 1 + 1 + 2 + 2 + 1);
    assert_int_equal(job.updates[job.nupdates - 1].id, 6);
    prv_batch_job_free(&job);

    /* Batch 3: the operator exists now; fees go to its id. */
    prv_batch_op ops3[] = { op_signed(PRV_OP_TRANSFER, 3, addrs[7], 100, 3, 0) };
    prv_batch_public p3 = pub_of(ops3, 1, 3, 6, operator_addr);
    build_ok(w, &m, &p3, &job);
    assert_int_equal(p3.operator_id, 6);
    assert_int_equal(ops3[0].to_id, 7);
    assert_int_equal(p3.new_accounts, 8);
    assert_int_equal(p3.deposit_count, 0);
    prv_batch_job_free(&job);

    /* Failures leave nothing staged, at the first, middle or last op. */
    prv_batch_op bad_nonce[] = { op_deposit(6, 8, 5), op_signed(PRV_OP_TRANSFER, 3, addrs[8], 1, 0, 0) };
    prv_batch_public pb = pub_of(bad_nonce, 2, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_NONCE);
    /* Account 3 had 250000 - 103: two transfers that each fit but not together. */
    prv_batch_op overdraft[] = { op_signed(PRV_OP_TRANSFER, 3, addrs[9], 200000, 0, 1),
                                 op_signed(PRV_OP_TRANSFER, 3, addrs[9], 49000, 1000, 2) };
    pb = pub_of(overdraft, 2, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_BALANCE);
    /* A sender without an account. */
    prv_batch_op nobody[] = { op_signed(PRV_OP_WITHDRAW, 10, l1, 1, 0, 0) };
    pb = pub_of(nobody, 1, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_BALANCE);
    /* A repeated nonce inside one batch. */
    prv_batch_op replay[] = { op_signed(PRV_OP_TRANSFER, 3, addrs[9], 1, 0, 1),
                              op_signed(PRV_OP_TRANSFER, 3, addrs[9], 1, 0, 1) };
    pb = pub_of(replay, 2, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_NONCE);
    /* Ranges: amount 0, amount + fee at 2^63, a credit past 2^63 - 1. */
    prv_batch_op zero[] = { op_signed(PRV_OP_TRANSFER, 3, addrs[9], 0, 1, 1) };
    pb = pub_of(zero, 1, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_RANGE);
    prv_batch_op wide[] = { op_signed(PRV_OP_TRANSFER, 3, addrs[9], UINT64_C(1) << 62, UINT64_C(1) << 62, 1) };
    pb = pub_of(wide, 1, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_RANGE);
    prv_batch_op flood[] = { op_deposit(6, 0, IPC_BALANCE_MAX - 10) };
    pb = pub_of(flood, 1, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_RANGE);
    /* A credit the batch AIR cannot prove (above 2^63 - 2^32), even to a
     * new account whose balance would fit. */
    prv_batch_op huge[] = { op_deposit(6, 11, PRV_BATCH_CREDIT_MAX + 1) };
    pb = pub_of(huge, 1, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_TX_RANGE);
    /* Deposit ids must continue where the batch says, without gaps. */
    prv_batch_op gap[] = { op_deposit(6, 0, 1), op_deposit(8, 0, 1) };
    pb = pub_of(gap, 2, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_BATCH_INCONSISTENT);
    prv_batch_op signed_deposit[] = { op_deposit(6, 0, 1) };
    signed_deposit[0].sig[3] = 1;
    pb = pub_of(signed_deposit, 1, 4, 6, operator_addr);
    build_fails(w, dir, &pb, ZK_ERR_BATCH_INCONSISTENT);

    /* After all that, a good batch still builds on the same state. */
    prv_batch_op ops4[] = { op_deposit(6, 8, 5), op_signed(PRV_OP_TRANSFER, 8, addrs[3], 5, 0, 0) };
    prv_batch_public p4 = pub_of(ops4, 2, 4, 6, operator_addr);
    build_ok(w, &m, &p4, &job);
    prv_batch_job_free(&job);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* Random batches over a few hundred accounts: every op kind, many repeats. */
static void test_build_random(void **state)
{
    (void)state;
    char *dir = tdir_new();
    ipc_writer *w = open_writer(dir);
    model m = { .n = 0 };
    uint8_t operator_addr[20];
    memcpy(operator_addr, addrs[NKEYS - 1], 20);
    uint64_t next_deposit = 0;
    uint32_t nonces[NKEYS] = { 0 };
    uint64_t bal[NKEYS] = { 0 };
    for (uint64_t number = 1; number <= 6; number++) {
        prv_batch_op ops[40];
        uint32_t n = 0;
        uint64_t first = next_deposit;
        while (n < 40) {
            int a = (int)(rnd() % (NKEYS - 1)), b = (int)(rnd() % NKEYS);
            uint64_t kind = rnd() % 3;
            if (kind == 0 || bal[a] < 10) {
                uint64_t amt = 1 + rnd() % 100000;
                ops[n++] = op_deposit(next_deposit++, a, amt);
                bal[a] += amt;
            } else {
                uint64_t amt = 1 + rnd() % (bal[a] / 2), fee = rnd() % 3;
                if (kind == 1) {
                    ops[n++] = op_signed(PRV_OP_TRANSFER, a, addrs[b], amt, fee, nonces[a]++);
                    bal[b] += amt;
                } else {
                    uint8_t l1[20];
                    memset(l1, (int)number, 20);
                    ops[n++] = op_signed(PRV_OP_WITHDRAW, a, l1, amt, fee, nonces[a]++);
                }
                bal[a] -= amt + fee;
                bal[NKEYS - 1] += fee;
            }
        }
        prv_batch_public p = pub_of(ops, n, number, first, operator_addr);
        prv_batch_job job;
        build_ok(w, &m, &p, &job);
        prv_batch_job_free(&job);
    }
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* A batch that would create more accounts than the region holds. */
static void test_build_full(void **state)
{
    (void)state;
    char *dir = tdir_new();
    ipc_writer *w = NULL;
    ipc_writer_options o = { .capacity = 4 };
    assert_int_equal(ipc_writer_open(&w, dir, &o, NULL), ZK_OK);
    prv_batch_op ops[5];
    for (int i = 0; i < 5; i++)
        ops[i] = op_deposit((uint64_t)i, i, 10);
    uint8_t operator_addr[20] = { 0 };
    prv_batch_public p = pub_of(ops, 5, 1, 0, operator_addr);
    build_fails(w, dir, &p, ZK_ERR_STATE_FULL);
    p.nops = 4;
    prv_batch_job job;
    assert_int_equal(ipc_batch_build(w, &p, &job, NULL), ZK_OK);
    assert_int_equal(p.new_accounts, 4);
    prv_batch_job_free(&job);
    ipc_writer_discard(w);
    /* Out-of-range operation counts are refused before anything is staged. */
    p.nops = 0;
    assert_int_equal(ipc_batch_build(w, &p, &job, NULL), ZK_ERR_BATCH_INCONSISTENT);
    p.nops = PRV_BATCH_MAX_OPS + 1;
    assert_int_equal(ipc_batch_build(w, &p, &job, NULL), ZK_ERR_BATCH_INCONSISTENT);
    assert_int_equal(ipc_writer_staged(w), 0);
    ipc_writer_close(w);
    tdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview_matches_commit),
        cmocka_unit_test(test_discard),
        cmocka_unit_test(test_build_batches),
        cmocka_unit_test(test_build_random),
        cmocka_unit_test(test_build_full),
    };
    return cmocka_run_group_tests(tests, setup_keys, NULL);
}
