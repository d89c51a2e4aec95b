/*
 * tests/prover/test_batch_air.c — the batch AIR (prover/airs/batch.h) and
 * prv_batch_prove / prv_batch_verify: random batches of every kind prove and
 * verify, their new root is the shared-memory state's own root, and a
 * malicious prover is caught for every rule of issue 5 (overdraft, balance
 * wrap-around, fee not debited, wrong nonce, wrong sibling, a new root that
 * does not follow from the operations, operations dropped / reordered /
 * changed, a deposit credited to another account or twice, a withdrawal not
 * debited).
 *
 * The malicious prover: a model of the account tree in this file holds any
 * field value in a leaf (a wrapped balance too), so it produces witnesses
 * that chain perfectly for the attacker's own sequence of leaf updates; the
 * trace the AIR's filler builds from them breaks exactly the rule under
 * test. Each case is shown rejected twice: by the row-by-row trace check,
 * and end to end — proved with the trace check skipped
 * (prv_batch_prove_trace_insecure) and rejected by the verifier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../ipc/ipc_test_util.h"
#include "ipc/batch.h"
#include "ipc/state.h"
#include "prover/airs/batch.h"
#include "prover/airs/p2row.h"
#include "prover/batch.h"
#include "prover/batch_testing.h"
#include "prover/poseidon2.h"

/* TEST-ONLY parameters for the malicious-prover proofs (far below 100 bits:
 * fast under ASan); the honest proofs use the production parameters. */
static const prv_stark_params test_params = {
    .hash = PRV_HASH_KECCAK,
    .log_blowup = 1,
    .num_queries = 24,
    .grinding_bits = 0,
    .fri_log_arity = 3,
    .fri_log_final = 3,
};

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- a model of the account tree (ids < 64) --------------------------------- */

#define MAXACC 64
#define MLEVELS 6 /* 2^6 = MAXACC leaves */
#define D PRV_BATCH_DIGEST

typedef struct model {
    uint8_t addr[MAXACC][PRV_BATCH_ADDRESS];
    prv_gl bal[MAXACC];   /* any field element (a malicious prover's wrapped balance too) */
    prv_gl nonce[MAXACC];
    uint32_t count;
    prv_gl node[MLEVELS + 1][MAXACC][D];
} model;

static void m_leaf(const model *m, uint32_t id, prv_gl out[D])
{
    prv_gl s[8] = { IPC_LEAF_TAG };
    for (unsigned i = 0; i < 5; i++)
        s[1 + i] = (uint32_t)m->addr[id][4 * i] << 24 | (uint32_t)m->addr[id][4 * i + 1] << 16 |
                   (uint32_t)m->addr[id][4 * i + 2] << 8 | m->addr[id][4 * i + 3];
    s[6] = m->bal[id];
    s[7] = m->nonce[id];
    prv_p2_permute8(s);
    memcpy(out, s, D * sizeof *out);
}

static void m_repath(model *m, uint32_t id)
{
    m_leaf(m, id, m->node[0][id]);
    for (unsigned l = 1; l <= MLEVELS; l++) {
        uint32_t i = id >> l;
        prv_p2_compress(m->node[l][i], m->node[l - 1][2 * i], m->node[l - 1][2 * i + 1]);
    }
}

static void m_init(model *m)
{
    memset(m, 0, sizeof *m);
    for (uint32_t id = 0; id < MAXACC; id++)
        m_leaf(m, id, m->node[0][id]);
    for (unsigned l = 1; l <= MLEVELS; l++)
        for (uint32_t i = 0; i < (uint32_t)(MAXACC >> l); i++)
            prv_p2_compress(m->node[l][i], m->node[l - 1][2 * i], m->node[l - 1][2 * i + 1]);
}

static void m_root(const model *m, prv_gl root[D])
{
    memcpy(root, m->node[MLEVELS][0], D * sizeof *root);
    for (unsigned l = MLEVELS; l < PRV_BATCH_TREE_DEPTH; l++)
        prv_p2_compress(root, root, prv_batch_empty_hash(l));
}

static void m_siblings(const model *m, uint32_t id, prv_gl sib[PRV_BATCH_TREE_DEPTH][D])
{
    for (unsigned l = 0; l < PRV_BATCH_TREE_DEPTH; l++) {
        if (l < MLEVELS)
            memcpy(sib[l], m->node[l][(id >> l) ^ 1], D * sizeof(prv_gl));
        else
            memcpy(sib[l], prv_batch_empty_hash(l), D * sizeof(prv_gl));
    }
}

/* Applies `n` leaf updates (honest or not) to the model, writing their
 * witnesses (the old leaf and the siblings just before each update). */
static void m_apply(model *m, const prv_batch_air_update *u, uint32_t n, prv_batch_update *w)
{
    for (uint32_t k = 0; k < n; k++) {
        uint32_t id = u[k].id;
        assert_true(id < MAXACC);
        memset(&w[k], 0, sizeof w[k]);
        w[k].id = id;
        memcpy(w[k].old_address, m->addr[id], PRV_BATCH_ADDRESS);
        w[k].old_balance = m->bal[id];
        w[k].old_nonce = (uint32_t)m->nonce[id];
        m_siblings(m, id, w[k].siblings);
        if (u[k].created) {
            for (unsigned i = 0; i < 5; i++)
                for (unsigned j = 0; j < 4; j++)
                    m->addr[id][4 * i + j] = (uint8_t)(u[k].addr[i] >> (24 - 8 * j));
            if (id >= m->count)
                m->count = id + 1;
        }
        m->bal[id] = prv_gl_add(m->bal[id], u[k].delta);
        m->nonce[id] = prv_gl_add(m->nonce[id], u[k].sender);
        m_repath(m, id);
    }
}

/* ---- building batches ---------------------------------------------------------- */

typedef struct env {
    model m;
    char *dir;
    ipc_writer *w;
    uint64_t next_deposit, number;
    uint8_t operator_addr[PRV_BATCH_ADDRESS];
} env;

static void env_init(env *e, bool with_ipc)
{
    memset(e, 0, sizeof *e);
    m_init(&e->m);
    e->next_deposit = 1;
    e->number = 1;
    memset(e->operator_addr, 0xfe, sizeof e->operator_addr);
    if (with_ipc) {
        e->dir = tdir_new();
        ipc_writer_options o = { .capacity = 1024, .threads = 1 };
        assert_int_equal(ipc_writer_open(&e->w, e->dir, &o, NULL), ZK_OK);
    }
}

static void env_free(env *e)
{
    if (e->w) {
        ipc_writer_close(e->w);
        tdir_remove(e->dir);
    }
}

typedef struct spec {
    uint8_t kind;
    uint32_t from;                   /* transfer, withdraw: the sender's id */
    uint8_t to[PRV_BATCH_ADDRESS];   /* receiver (or L1 payee) */
    uint64_t amount, fee;
} spec;

static spec deposit(uint32_t k, uint64_t amount)
{
    spec s = { .kind = PRV_OP_DEPOSIT, .amount = amount };
    taddr(s.to, k);
    return s;
}

static spec transfer(uint32_t from, uint32_t k, uint64_t amount, uint64_t fee)
{
    spec s = { .kind = PRV_OP_TRANSFER, .from = from, .amount = amount, .fee = fee };
    taddr(s.to, k);
    return s;
}

static spec withdraw(uint32_t from, uint64_t amount, uint64_t fee)
{
    spec s = { .kind = PRV_OP_WITHDRAW, .from = from, .amount = amount, .fee = fee };
    memset(s.to, 0x11, sizeof s.to);
    return s;
}

/* The public data of `specs` against the model's current state (ids, nonces,
 * counts, deposit ids, the old root); new_root is left for the caller. The
 * caller frees pub->ops. */
static void make_public(env *e, prv_batch_public *pub, const spec *specs, uint32_t n)
{
    memset(pub, 0, sizeof *pub);
    pub->chain_id = 31337;
    memset(pub->bridge, 0xb5, sizeof pub->bridge);
    pub->number = e->number;
    m_root(&e->m, pub->old_root);
    pub->old_accounts = e->m.count;
    pub->first_deposit_id = e->next_deposit;
    memcpy(pub->operator_addr, e->operator_addr, PRV_BATCH_ADDRESS);
    pub->nops = n;
    pub->ops = calloc(n, sizeof *pub->ops);
    assert_non_null(pub->ops);
    /* Ids and nonces as the batch evolves (created addresses get the next ids). */
    uint8_t (*addrs)[PRV_BATCH_ADDRESS] = calloc(MAXACC, PRV_BATCH_ADDRESS);
    uint32_t nonce[MAXACC];
    assert_non_null(addrs);
    uint32_t count = e->m.count;
    for (uint32_t id = 0; id < count; id++) {
        memcpy(addrs[id], e->m.addr[id], PRV_BATCH_ADDRESS);
        nonce[id] = (uint32_t)e->m.nonce[id];
    }
    uint64_t fees = 0;
    for (uint32_t i = 0; i < n; i++) {
        prv_batch_op *op = &pub->ops[i];
        const spec *s = &specs[i];
        op->kind = s->kind;
        op->amount = s->amount;
        op->fee = s->fee;
        memcpy(op->to, s->to, PRV_BATCH_ADDRESS);
        if (s->kind == PRV_OP_DEPOSIT) {
            memset(op->from, 0x33, PRV_BATCH_ADDRESS);
            op->deposit_id = e->next_deposit + pub->deposit_count++;
        } else {
            op->from_id = s->from;
            memcpy(op->from, addrs[s->from], PRV_BATCH_ADDRESS);
            op->nonce = nonce[s->from]++;
            memset(op->sig, 0x5a, sizeof op->sig);
            fees += s->fee;
        }
        if (s->kind != PRV_OP_WITHDRAW) {
            uint32_t id = UINT32_MAX;
            for (uint32_t j = 0; j < count; j++)
                if (memcmp(addrs[j], s->to, PRV_BATCH_ADDRESS) == 0)
                    id = j;
            if (id == UINT32_MAX) {
                id = count++;
                memcpy(addrs[id], s->to, PRV_BATCH_ADDRESS);
                nonce[id] = 0;
            }
            op->to_id = id;
        }
    }
    if (fees > 0) {
        uint32_t id = UINT32_MAX;
        for (uint32_t j = 0; j < count; j++)
            if (memcmp(addrs[j], e->operator_addr, PRV_BATCH_ADDRESS) == 0)
                id = j;
        if (id == UINT32_MAX)
            id = count++;
        pub->operator_id = id;
    }
    pub->new_accounts = count;
    free(addrs);
}

/* The honest leaf updates of pub (the AIR's own derivation). */
static prv_batch_air_update *updates_of(const prv_batch_public *pub, uint32_t *n)
{
    prv_batch_air_update *u = NULL;
    zk_error_detail err;
    assert_int_equal(prv_batch_air_updates(pub, &u, n, &err), ZK_OK);
    return u;
}

/* Applies `u` (the statement's or an attacker's updates) to the model and
 * makes the job: witnesses and the resulting new_root in pub. With the ipc
 * writer, the same account values are committed to the real state and its
 * root and witnesses must agree with the model's. */
static void make_job(env *e, prv_batch_job *job, prv_batch_public *pub, const prv_batch_air_update *u, uint32_t n)
{
    memset(job, 0, sizeof *job);
    job->updates = calloc(n, sizeof *job->updates);
    assert_non_null(job->updates);
    m_apply(&e->m, u, n, job->updates);
    m_root(&e->m, pub->new_root);
    if (e->w) {
        ipc_witness *wit = calloc(n, sizeof *wit);
        assert_non_null(wit);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t id = u[k].id, got = UINT32_MAX;
            /* the value after update k (later updates of the same id follow) */
            uint64_t bal = job->updates[k].old_balance;
            bal = prv_gl_add(prv_gl_from_u64(bal), u[k].delta);
            uint32_t nonce = job->updates[k].old_nonce + u[k].sender;
            uint8_t a[PRV_BATCH_ADDRESS];
            for (unsigned i = 0; i < 5; i++)
                for (unsigned j = 0; j < 4; j++)
                    a[4 * i + j] = (uint8_t)(u[k].addr[i] >> (24 - 8 * j));
            assert_int_equal(ipc_writer_stage(e->w, &got, a, bal, nonce), ZK_OK);
            assert_int_equal(got, id);
        }
        assert_int_equal(ipc_writer_commit(e->w, wit, n), ZK_OK);
        prv_gl root[IPC_DIGEST];
        ipc_writer_root(e->w, root);
        assert_memory_equal(root, pub->new_root, sizeof root);
        for (uint32_t k = 0; k < n; k++)
            assert_memory_equal(wit[k].siblings, job->updates[k].siblings, sizeof wit[k].siblings);
        free(wit);
    }
    job->nupdates = n;
    job->pub = *pub;
    e->next_deposit += pub->deposit_count;
    e->number++;
}

/* ---- honest batches ------------------------------------------------------------------ */

/* Proves at the production parameters and verifies; with `tamper`, also
 * shows altered proofs rejected. */
static void prove_and_verify(const prv_batch_job *job, bool tamper)
{
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err;
    zk_err rc = prv_batch_prove(job, NULL, &proof, &len, &err);
    if (rc != ZK_OK)
        fail_msg("prove: %s", err.text);
    rc = prv_batch_verify(&job->pub, proof, len, &err);
    if (rc != ZK_OK)
        fail_msg("verify: %s", err.text);
    assert_true(prv_batch_security_bits(&job->pub, NULL) >= PRV_STARK_MIN_SECURITY_BITS);
    if (!tamper) {
        free(proof);
        return;
    }
    /* Any flipped byte is rejected (header, STARK body, tail). */
    size_t at[] = { 0, 4, 5, 40, 69, 200, len / 2, len - 1 };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        proof[at[i]] ^= 0x01;
        assert_int_not_equal(prv_batch_verify(&job->pub, proof, len, &err), ZK_OK);
        proof[at[i]] ^= 0x01;
    }
    assert_int_not_equal(prv_batch_verify(&job->pub, proof, len - 1, &err), ZK_OK);
    assert_int_not_equal(prv_batch_verify(&job->pub, proof, 3, &err), ZK_OK);
    free(proof);
}

/* The same at the test parameters (production-parameter proofs spend most
 * of their time grinding, which is slow under ASan): the honest trace passes
 * the row check, proves and verifies. */
static void prove_and_verify_fast(const prv_batch_job *job)
{
    prv_gl *trace = NULL, so[D], sn[D];
    unsigned log_n = 0;
    zk_error_detail err;
    zk_err rc = prv_batch_trace_build(job, &trace, &log_n, so, sn, &err);
    if (rc != ZK_OK)
        fail_msg("trace: %s", err.text);
    rc = prv_batch_trace_check(&job->pub, trace, log_n, so, sn, NULL, &err);
    if (rc != ZK_OK)
        fail_msg("trace check: %s", err.text);
    uint8_t *proof = NULL;
    size_t len = 0;
    assert_int_equal(prv_batch_prove_trace_insecure(&job->pub, trace, log_n, so, sn, &test_params, &proof, &len, &err),
                     ZK_OK);
    rc = prv_batch_verify_insecure(&job->pub, proof, len, 0, &err);
    if (rc != ZK_OK)
        fail_msg("verify: %s", err.text);
    free(proof);
    free(trace);
}

static void test_random_batches_prove_and_verify(void **state)
{
    (void)state;
    env e;
    env_init(&e, true);
    /* Batch 1: deposits create the accounts (and one deposit tops one up). */
    spec s1[8];
    for (uint32_t k = 0; k < 7; k++)
        s1[k] = deposit(k, 1000000 + rnd() % 1000000);
    s1[7] = deposit(2, 5);
    prv_batch_public pub;
    prv_batch_job job;
    uint32_t n;
    make_public(&e, &pub, s1, 8);
    prv_batch_air_update *u = updates_of(&pub, &n);
    assert_int_equal(n, 8);
    assert_int_equal(n, prv_batch_count_updates(&pub));
    make_job(&e, &job, &pub, u, n);
    free(u);
    prove_and_verify(&job, true);
    free(job.updates);
    free(pub.ops);

    /* Random batches of every kind, with fees, new receivers, self-transfers. */
    for (int round = 0; round < 2; round++) {
        spec s[12];
        for (int i = 0; i < 12; i++) {
            uint32_t from = (uint32_t)(rnd() % 7);
            switch (rnd() % 4) {
            case 0:
                s[i] = deposit((uint32_t)(rnd() % 12), 1 + rnd() % 5000);
                break;
            case 1:
                s[i] = withdraw(from, 1 + rnd() % 1000, rnd() % 50);
                break;
            default:
                s[i] = transfer(from, (uint32_t)(rnd() % 12), 1 + rnd() % 1000, rnd() % 50);
                break;
            }
        }
        make_public(&e, &pub, s, 12);
        u = updates_of(&pub, &n);
        assert_int_equal(n, prv_batch_count_updates(&pub));
        make_job(&e, &job, &pub, u, n);
        free(u);
        zk_error_detail err;
        assert_int_equal(prv_batch_public_check(&pub, &err), ZK_OK);
        prove_and_verify_fast(&job);
        free(job.updates);
        free(pub.ops);
    }
    env_free(&e);
}

/* The job the sequencer's builder makes from the shared-memory state
 * (ipc_batch_build) proves, verifies, and ends at the state's root. */
static void build_and_prove(ipc_writer *w, prv_batch_op *ops, uint32_t nops, uint64_t number, uint64_t first_dep,
                            bool production)
{
    prv_batch_public pub;
    memset(&pub, 0, sizeof pub);
    pub.chain_id = 31337;
    memset(pub.bridge, 0xb5, sizeof pub.bridge);
    pub.number = number;
    memset(pub.operator_addr, 0xfe, sizeof pub.operator_addr);
    pub.first_deposit_id = first_dep;
    pub.nops = nops;
    pub.ops = ops;
    prv_batch_job job;
    zk_error_detail err;
    zk_err rc = ipc_batch_build(w, &pub, &job, &err);
    if (rc != ZK_OK)
        fail_msg("ipc_batch_build: %s", err.text);
    assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
    prv_gl root[IPC_DIGEST];
    ipc_writer_root(w, root);
    assert_memory_equal(root, job.pub.new_root, sizeof root);
    if (production)
        prove_and_verify(&job, false);
    else
        prove_and_verify_fast(&job);
    prv_batch_job_free(&job);
}

static void test_job_from_the_state(void **state)
{
    (void)state;
    char *dir = tdir_new();
    ipc_writer_options o = { .capacity = 1024, .threads = 1 };
    ipc_writer *w = NULL;
    assert_int_equal(ipc_writer_open(&w, dir, &o, NULL), ZK_OK);
    prv_batch_op ops[6];
    memset(ops, 0, sizeof ops);
    for (uint32_t k = 0; k < 4; k++) {
        ops[k].kind = PRV_OP_DEPOSIT;
        memset(ops[k].from, 0x33, PRV_BATCH_ADDRESS);
        taddr(ops[k].to, k);
        ops[k].amount = 10000 + k;
        ops[k].deposit_id = 1 + k;
    }
    build_and_prove(w, ops, 4, 1, 1, false);
    memset(ops, 0, sizeof ops);
    /* 0 -> 1, 1 -> new account 9, 2 withdraws, 0 -> 0 (self), a deposit */
    uint32_t from[4] = { 0, 1, 2, 0 }, to[4] = { 1, 9, 0, 0 };
    uint32_t nonce[3] = { 0, 0, 0 };
    for (uint32_t i = 0; i < 4; i++) {
        ops[i].kind = i == 2 ? PRV_OP_WITHDRAW : PRV_OP_TRANSFER;
        taddr(ops[i].from, from[i]);
        if (i == 2)
            memset(ops[i].to, 0x11, PRV_BATCH_ADDRESS);
        else
            taddr(ops[i].to, to[i]);
        ops[i].amount = 100 + i;
        ops[i].fee = i;
        ops[i].nonce = nonce[from[i]]++;
        memset(ops[i].sig, 0x5a, sizeof ops[i].sig);
    }
    ops[4].kind = PRV_OP_DEPOSIT;
    memset(ops[4].from, 0x33, PRV_BATCH_ADDRESS);
    taddr(ops[4].to, 3);
    ops[4].amount = 5;
    ops[4].deposit_id = 5;
    build_and_prove(w, ops, 5, 2, 5, true);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* Small batches take the next power of two of the rows they need, not the
 * configured maximum. */
static void test_trace_height(void **state)
{
    (void)state;
    assert_int_equal(prv_batch_air_log_n(1), 5);       /* 32 rows */
    assert_int_equal(prv_batch_air_log_n(2), 6);       /* 63 rows -> 64 */
    assert_int_equal(prv_batch_air_log_n(3), 7);       /* 94 -> 128 */
    assert_int_equal(prv_batch_air_log_n(2049), 16);   /* 1024 transfers + fee: 63,520 -> 2^16 */
    assert_int_equal(prv_batch_air_log_n(2114), 16);   /* 65,535 rows */
    assert_int_equal(prv_batch_air_log_n(2115), 17);
    /* The empty-subtree hashes are the state's. */
    for (unsigned l = 0; l <= 32; l++)
        assert_memory_equal(prv_batch_empty_hash(l), ipc_empty_hash(l), D * sizeof(prv_gl));
}

/* The honest prover refuses jobs that do not follow the rules. */
static void test_prover_checks_witnesses(void **state)
{
    (void)state;
    env e;
    env_init(&e, false);
    spec s1[2] = { deposit(0, 100), deposit(1, 50) };
    prv_batch_public pub;
    prv_batch_job job;
    uint32_t n;
    make_public(&e, &pub, s1, 2);
    prv_batch_air_update *u = updates_of(&pub, &n);
    make_job(&e, &job, &pub, u, n);
    free(u);
    free(job.updates);
    free(pub.ops);

    /* A valid job, then each witness spoiled in turn. */
    spec s2[1] = { withdraw(0, 20, 0) };
    make_public(&e, &pub, s2, 1);
    u = updates_of(&pub, &n);
    model saved = e.m;
    make_job(&e, &job, &pub, u, n);
    e.m = saved;
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err;
    job.updates[0].siblings[3][1] ^= 1;
    assert_int_equal(prv_batch_prove(&job, NULL, &proof, &len, &err), ZK_ERR_BATCH_WITNESS);
    assert_null(proof);
    job.updates[0].siblings[3][1] ^= 1;
    job.updates[0].old_balance += 1;
    assert_int_equal(prv_batch_prove(&job, NULL, &proof, &len, &err), ZK_ERR_BATCH_WITNESS);
    job.updates[0].old_balance -= 1;
    job.updates[0].old_nonce = 1;
    assert_int_equal(prv_batch_prove(&job, NULL, &proof, &len, &err), ZK_ERR_BATCH_WITNESS);
    job.updates[0].old_nonce = 0;
    job.updates[0].siblings[30][0] ^= 1;
    assert_int_equal(prv_batch_prove(&job, NULL, &proof, &len, &err), ZK_ERR_BATCH_WITNESS);
    job.updates[0].siblings[30][0] ^= 1;
    job.pub.new_root[1] ^= 1;
    assert_int_equal(prv_batch_prove(&job, NULL, &proof, &len, &err), ZK_ERR_BATCH_WITNESS);
    job.pub.new_root[1] ^= 1;
    job.nupdates = 0;
    assert_int_equal(prv_batch_prove(&job, NULL, &proof, &len, &err), ZK_ERR_BATCH_WITNESS);
    free(u);
    free(job.updates);
    free(pub.ops);

    /* An overdraft: the account holds 100. */
    spec s3[1] = { withdraw(0, 200, 0) };
    make_public(&e, &pub, s3, 1);
    u = updates_of(&pub, &n);
    make_job(&e, &job, &pub, u, n);
    assert_int_equal(prv_batch_prove(&job, NULL, &proof, &len, &err), ZK_ERR_BATCH_WITNESS);
    free(u);
    free(job.updates);
    free(pub.ops);
    env_free(&e);
}

/* ---- the malicious prover ---------------------------------------------------------- */

/* The attacker's run: the real public data `pub` (its new_root is set to
 * what the attacker's trace computes), the attacker's leaf updates `u` and
 * an optional direct edit of the trace. */
typedef void (*trace_edit)(prv_gl *trace, unsigned log_n, uint32_t nupdates, prv_gl new_sub[D]);

static void expect_rejected(env *e, prv_batch_public *pub, const prv_batch_air_update *u, uint32_t n,
                            trace_edit edit, const char *what)
{
    prv_batch_update *w = calloc(n, sizeof *w);
    assert_non_null(w);
    model saved = e->m;
    m_apply(&e->m, u, n, w);
    e->m = saved;
    prv_batch_air_stmt st = { n, prv_batch_air_log_n(n), u };
    size_t rows = (size_t)1 << st.log_n;
    prv_gl *trace = malloc((size_t)PRV_BATCH_NCOLS * rows * sizeof *trace);
    prv_gl(*so)[D] = malloc(n * sizeof *so), (*sn)[D] = malloc(n * sizeof *sn);
    assert_true(trace && so && sn);
    prv_batch_air_trace(trace, &st, w, so, sn);
    prv_gl new_sub[D];
    memcpy(new_sub, sn[n - 1], sizeof new_sub);
    if (edit)
        edit(trace, st.log_n, n, new_sub);
    /* The attacker claims the root its trace computes. */
    prv_batch_fold_subroot(pub->new_root, new_sub);
    zk_error_detail err;
    unsigned bad = 0;
    zk_err rc = prv_batch_trace_check(pub, trace, st.log_n, so[0], new_sub, &bad, &err);
    /* The trace check takes the subroots as given; an old subroot that does
     * not fold to old_root is the verifier's catch (below), not the AIR's. */
    prv_gl old_root[D];
    prv_batch_fold_subroot(old_root, so[0]);
    bool old_root_ok = memcmp(old_root, pub->old_root, sizeof old_root) == 0;
    if (rc == ZK_OK && old_root_ok)
        fail_msg("%s: the trace check accepted the attack", what);
    print_message("%s: %s\n", what, rc == ZK_OK ? "old subroot does not fold to old_root" : err.text);
    uint8_t *proof = NULL;
    size_t len = 0;
    rc = prv_batch_prove_trace_insecure(pub, trace, st.log_n, so[0], new_sub, &test_params, &proof, &len, &err);
    if (rc == ZK_OK) {
        rc = prv_batch_verify_insecure(pub, proof, len, 0, &err);
        if (rc == ZK_OK)
            fail_msg("%s: the verifier accepted the attack", what);
        assert_true(rc == ZK_ERR_PRV_PROOF_REJECTED || rc == ZK_ERR_PRV_SHAPE);
    } else {
        /* a shape the statement does not have cannot even be proven */
        assert_int_equal(rc, ZK_ERR_PRV_SHAPE);
    }
    free(proof);
    free(trace);
    free(so);
    free(sn);
    free(w);
}

/* Sets up accounts 0..3 with balances 1000, 2000, 3000, 4000 (batch 1). */
static void setup_accounts(env *e)
{
    env_init(e, false);
    spec s[4] = { deposit(0, 1000), deposit(1, 2000), deposit(2, 3000), deposit(3, 4000) };
    prv_batch_public pub;
    prv_batch_job job;
    uint32_t n;
    make_public(e, &pub, s, 4);
    prv_batch_air_update *u = updates_of(&pub, &n);
    make_job(e, &job, &pub, u, n);
    free(u);
    free(job.updates);
    free(pub.ops);
}

/* The public data of specs, the honest updates; the caller edits them. */
static prv_batch_air_update *attack_setup(env *e, prv_batch_public *pub, const spec *s, uint32_t ns, uint32_t *n)
{
    make_public(e, pub, s, ns);
    return updates_of(pub, n);
}

static void test_honest_trace_passes_the_check(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[3] = { transfer(0, 1, 100, 3), withdraw(2, 50, 1), deposit(9, 77) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 3, &n);
    prv_batch_job job;
    make_job(&e, &job, &pub, u, n);
    prv_gl *trace = NULL, so[D], sn[D];
    unsigned log_n = 0;
    zk_error_detail err;
    assert_int_equal(prv_batch_trace_build(&job, &trace, &log_n, so, sn, &err), ZK_OK);
    assert_int_equal(prv_batch_trace_check(&pub, trace, log_n, so, sn, NULL, &err), ZK_OK);
    /* and the insecure path accepts an honest trace (the harness itself is sound) */
    uint8_t *proof = NULL;
    size_t len = 0;
    assert_int_equal(prv_batch_prove_trace_insecure(&pub, trace, log_n, so, sn, &test_params, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_batch_verify_insecure(&pub, proof, len, 0, &err), ZK_OK);
    /* but the production verifier refuses the test parameters */
    assert_int_equal(prv_batch_verify(&pub, proof, len, &err), ZK_ERR_PRV_PARAMS);
    free(proof);
    free(trace);
    free(u);
    free(job.updates);
    free(pub.ops);
    env_free(&e);
}

static void test_attack_overdraft(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    /* account 0 holds 1000 and withdraws 1500: its balance would wrap below 0 */
    spec s[1] = { withdraw(0, 1500, 0) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 1, &n);
    expect_rejected(&e, &pub, u, n, NULL, "overdraft");
    /* the same as the fee pushes it over: 990 + 20 > 1000 */
    free(u);
    free(pub.ops);
    spec s2[1] = { transfer(0, 1, 990, 20) };
    u = attack_setup(&e, &pub, s2, 1, &n);
    expect_rejected(&e, &pub, u, n, NULL, "overdraft by the fee");
    free(u);
    free(pub.ops);
    env_free(&e);
}

static void test_attack_balance_wraps_past_2_63(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    /* account 1 gets the largest credit; one more credit passes 2^63 */
    spec s[2] = { deposit(1, PRV_BATCH_CREDIT_MAX), deposit(1, UINT64_C(1) << 33) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 2, &n);
    expect_rejected(&e, &pub, u, n, NULL, "balance past 2^63");
    free(u);
    free(pub.ops);
    /* a credit so large that old + credit would wrap modulo p is refused
     * as public data (PRV_BATCH_CREDIT_MAX) */
    spec s2[1] = { deposit(1, PRV_BATCH_CREDIT_MAX + 1) };
    make_public(&e, &pub, s2, 1);
    prv_batch_air_update *bad = NULL;
    zk_error_detail err;
    assert_int_equal(prv_batch_air_updates(&pub, &bad, &n, &err), ZK_ERR_BATCH_INCONSISTENT);
    assert_int_equal(prv_batch_verify(&pub, (const uint8_t *)"ZKBP", 4, &err), ZK_ERR_BATCH_INCONSISTENT);
    free(pub.ops);
    env_free(&e);
}

static void test_attack_fee_not_debited(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[1] = { transfer(0, 1, 100, 7) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 1, &n);
    assert_int_equal(n, 3); /* sender, receiver, operator */
    u[0].delta = PRV_GL_P - 100; /* the sender pays the amount only */
    expect_rejected(&e, &pub, u, n, NULL, "fee not debited");
    free(u);
    free(pub.ops);
    env_free(&e);
}

static void test_attack_wrong_nonce(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[1] = { transfer(0, 1, 100, 0) };
    prv_batch_public pub;
    uint32_t n;
    /* a replay: the public data claims nonce 0, but the account is at 3 */
    e.m.nonce[0] = 3;
    m_repath(&e.m, 0);
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 1, &n);
    pub.ops[0].nonce = 0;
    u[0].nonce = 0;
    expect_rejected(&e, &pub, u, n, NULL, "nonce replay");
    free(u);
    free(pub.ops);
    /* the nonce not incremented */
    u = attack_setup(&e, &pub, s, 1, &n);
    u[0].sender = 0;
    expect_rejected(&e, &pub, u, n, NULL, "nonce not incremented");
    free(u);
    free(pub.ops);
    env_free(&e);
}

/* The last block's new path takes another sibling at level 4 than the old
 * path (so the update could rewrite a neighbouring subtree). */
static void edit_new_sibling(prv_gl *trace, unsigned log_n, uint32_t nupdates, prv_gl new_sub[D])
{
    size_t rows = (size_t)1 << log_n;
    size_t r0 = (size_t)(nupdates - 1) * PRV_BATCH_BLOCK_ROWS;
    prv_gl in[8], out[8];
    for (unsigned j = 1 + 4; j < PRV_BATCH_BLOCK_ROWS; j++) {
        size_t row = r0 + j;
        for (unsigned i = 0; i < 8; i++)
            in[i] = trace[(size_t)(PRV_BATCH_COL_NEW + i) * rows + row];
        if (j == 5) {
            /* the sibling half: id 1's bit 4 is 0, so the right half */
            in[4] = prv_gl_add(in[4], 1);
        } else {
            unsigned bit = 0; /* id 1: bits 5.. are 0, so the node is the left half */
            for (unsigned i = 0; i < D; i++)
                in[bit ? D + i : i] = out[i];
        }
        prv_p2row_fill(trace + (size_t)PRV_BATCH_COL_NEW * rows + row, rows, in, out);
    }
    memcpy(new_sub, out, D * sizeof(prv_gl));
    for (size_t row = r0 + PRV_BATCH_BLOCK_ROWS; row < rows; row++)
        for (unsigned i = 0; i < D; i++)
            trace[(size_t)(PRV_BATCH_COL_R + i) * rows + row] = out[i];
}

static void test_attack_wrong_sibling(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[1] = { transfer(0, 1, 100, 0) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 1, &n);
    expect_rejected(&e, &pub, u, n, edit_new_sibling, "new path with another sibling");
    free(u);
    free(pub.ops);
    /* a wrong sibling in both paths: the old path no longer gives the old root */
    u = attack_setup(&e, &pub, s, 1, &n);
    model saved = e.m;
    e.m.node[2][(0 >> 2) ^ 1][0] = prv_gl_add(e.m.node[2][1][0], 1); /* corrupt account 0's level-2 sibling */
    expect_rejected(&e, &pub, u, n, NULL, "wrong sibling");
    e.m = saved;
    free(u);
    free(pub.ops);
    env_free(&e);
}

/* The trace's final subroot (R after the last block) is replaced. */
static void edit_final_root(prv_gl *trace, unsigned log_n, uint32_t nupdates, prv_gl new_sub[D])
{
    size_t rows = (size_t)1 << log_n;
    new_sub[0] = prv_gl_add(new_sub[0], 1);
    for (size_t row = (size_t)nupdates * PRV_BATCH_BLOCK_ROWS; row < rows; row++)
        trace[(size_t)PRV_BATCH_COL_R * rows + row] = new_sub[0];
}

static void test_attack_new_root_not_from_operations(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[2] = { transfer(0, 1, 100, 2), deposit(3, 9) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 2, &n);
    expect_rejected(&e, &pub, u, n, edit_final_root, "final root replaced");
    free(u);
    free(pub.ops);

    /* An honest proof does not verify against another new root. */
    u = attack_setup(&e, &pub, s, 2, &n);
    prv_batch_job job;
    model saved = e.m;
    make_job(&e, &job, &pub, u, n);
    e.m = saved;
    prv_gl *trace = NULL, so[D], sn[D];
    unsigned log_n;
    zk_error_detail err;
    assert_int_equal(prv_batch_trace_build(&job, &trace, &log_n, so, sn, &err), ZK_OK);
    uint8_t *proof = NULL;
    size_t len = 0;
    assert_int_equal(prv_batch_prove_trace_insecure(&pub, trace, log_n, so, sn, &test_params, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_batch_verify_insecure(&pub, proof, len, 0, &err), ZK_OK);
    prv_batch_public other = pub;
    other.new_root[2] = prv_gl_add(other.new_root[2], 1);
    assert_int_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_ERR_PRV_PROOF_REJECTED);
    other = pub;
    memcpy(other.new_root, other.old_root, sizeof other.new_root);
    assert_int_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_ERR_PRV_PROOF_REJECTED);
    free(proof);
    free(trace);
    free(job.updates);
    free(u);
    free(pub.ops);
    env_free(&e);
}

/* One honest proof of specs, then verification against edited public data. */
static void test_attack_operations_dropped_reordered_changed(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[3] = { transfer(0, 1, 100, 2), withdraw(2, 30, 1), transfer(3, 0, 44, 0) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 3, &n);
    prv_batch_job job;
    model saved = e.m;
    make_job(&e, &job, &pub, u, n);
    e.m = saved;
    prv_gl *trace = NULL, so[D], sn[D];
    unsigned log_n;
    zk_error_detail err;
    assert_int_equal(prv_batch_trace_build(&job, &trace, &log_n, so, sn, &err), ZK_OK);
    uint8_t *proof = NULL;
    size_t len = 0;
    assert_int_equal(prv_batch_prove_trace_insecure(&pub, trace, log_n, so, sn, &test_params, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_batch_verify_insecure(&pub, proof, len, 0, &err), ZK_OK);

    prv_batch_op ops[3];
    prv_batch_public other = pub;
    other.ops = ops;
    /* dropped: the withdrawal is gone */
    ops[0] = pub.ops[0];
    ops[1] = pub.ops[2];
    other.nops = 2;
    assert_int_not_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_OK);
    /* reordered */
    ops[0] = pub.ops[1];
    ops[1] = pub.ops[0];
    ops[2] = pub.ops[2];
    other.nops = 3;
    assert_int_not_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_OK);
    /* changed: the amount, the fee, the receiver, the nonce */
    memcpy(ops, pub.ops, sizeof ops);
    ops[0].amount += 1;
    assert_int_not_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_OK);
    memcpy(ops, pub.ops, sizeof ops);
    ops[1].fee = 0;
    ops[0].fee = 3;
    assert_int_not_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_OK);
    memcpy(ops, pub.ops, sizeof ops);
    ops[2].to_id = 2;
    memcpy(ops[2].to, e.m.addr[2], PRV_BATCH_ADDRESS);
    assert_int_not_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_OK);
    memcpy(ops, pub.ops, sizeof ops);
    ops[2].nonce += 1;
    assert_int_not_equal(prv_batch_verify_insecure(&other, proof, len, 0, &err), ZK_OK);

    /* The AIR itself (not only the hash in the public inputs) ties the trace
     * to the operations: the honest trace fails the check against each edit. */
    memcpy(ops, pub.ops, sizeof ops);
    ops[0].amount += 1;
    assert_int_equal(prv_batch_trace_check(&other, trace, log_n, so, sn, NULL, &err), ZK_ERR_PRV_TRACE);
    ops[0] = pub.ops[1];
    ops[1] = pub.ops[0];
    assert_int_equal(prv_batch_trace_check(&other, trace, log_n, so, sn, NULL, &err), ZK_ERR_PRV_TRACE);

    /* The attacker proves a trace that skips the withdrawal against the
     * full public data: its updates are shorter, the blocks misalign. */
    assert_int_equal(n, 6); /* transfer (2), withdrawal (1), transfer (2), fee (1) */
    prv_batch_air_update dropped[5] = { u[0], u[1], u[3], u[4], u[5] };
    expect_rejected(&e, &pub, dropped, 5, NULL, "withdrawal dropped");
    prv_batch_air_update swapped[6] = { u[2], u[0], u[1], u[3], u[4], u[5] };
    expect_rejected(&e, &pub, swapped, 6, NULL, "operations reordered");
    free(proof);
    free(trace);
    free(job.updates);
    free(u);
    free(pub.ops);
    env_free(&e);
}

static void test_attack_deposit_elsewhere_or_twice(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[2] = { deposit(2, 500), deposit(3, 70) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 2, &n);
    /* credited to account 1 instead of 2 (with account 1's own address) */
    prv_batch_air_update a[2] = { u[0], u[1] };
    a[0].id = 1;
    for (unsigned i = 0; i < 5; i++)
        a[0].addr[i] = (uint32_t)e.m.addr[1][4 * i] << 24 | (uint32_t)e.m.addr[1][4 * i + 1] << 16 |
                       (uint32_t)e.m.addr[1][4 * i + 2] << 8 | e.m.addr[1][4 * i + 3];
    expect_rejected(&e, &pub, a, 2, NULL, "deposit credited to another account");
    /* the first deposit credited twice, the second never */
    prv_batch_air_update b[2] = { u[0], u[0] };
    expect_rejected(&e, &pub, b, 2, NULL, "deposit credited twice");
    /* credited to account 2 with another amount */
    prv_batch_air_update c[2] = { u[0], u[1] };
    c[0].delta = 5000;
    expect_rejected(&e, &pub, c, 2, NULL, "deposit with another amount");
    free(u);
    free(pub.ops);
    env_free(&e);
}

static void test_attack_withdrawal_not_debited(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[1] = { withdraw(3, 700, 0) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 1, &n);
    u[0].delta = 0;
    expect_rejected(&e, &pub, u, n, NULL, "withdrawal not debited");
    free(u);
    free(pub.ops);
    /* or debited from another account than the public sender */
    u = attack_setup(&e, &pub, s, 1, &n);
    u[0].id = 2;
    u[0].nonce = 0;
    for (unsigned i = 0; i < 5; i++)
        u[0].addr[i] = (uint32_t)e.m.addr[2][4 * i] << 24 | (uint32_t)e.m.addr[2][4 * i + 1] << 16 |
                       (uint32_t)e.m.addr[2][4 * i + 2] << 8 | e.m.addr[2][4 * i + 3];
    expect_rejected(&e, &pub, u, n, NULL, "withdrawal debited from another account");
    free(u);
    free(pub.ops);
    env_free(&e);
}

/* A new account's old leaf must be empty: "creating" an existing account
 * (overwriting it) is refused. */
static void test_attack_create_over_existing(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[1] = { deposit(20, 10) };
    prv_batch_public pub;
    uint32_t n;
    prv_batch_air_update *u = attack_setup(&e, &pub, s, 1, &n);
    assert_true(u[0].created);
    assert_int_equal(u[0].id, 4);
    /* the attacker pre-fills leaf 4 with a balance, so that "creating" it
     * also keeps that balance */
    e.m.bal[4] = 999;
    m_repath(&e.m, 4);
    m_root(&e.m, pub.old_root);
    expect_rejected(&e, &pub, u, n, NULL, "created over a non-empty leaf");
    free(u);
    free(pub.ops);
    env_free(&e);
}

/* prv_batch_verify never crashes on garbage and refuses public data that
 * breaks its own rules. */
static void test_verify_garbage(void **state)
{
    (void)state;
    env e;
    setup_accounts(&e);
    spec s[1] = { transfer(0, 1, 100, 0) };
    prv_batch_public pub;
    make_public(&e, &pub, s, 1);
    zk_error_detail err;
    uint8_t buf[512];
    for (int i = 0; i < 50; i++) {
        size_t len = rnd() % sizeof buf;
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)rnd();
        if (len >= 5 && (i & 1)) {
            memcpy(buf, "ZKBP", 4);
            buf[4] = 1;
        }
        assert_int_not_equal(prv_batch_verify(&pub, buf, len, &err), ZK_OK);
    }
    assert_int_not_equal(prv_batch_verify(&pub, NULL, 0, &err), ZK_OK);
    pub.ops[0].from_id = 40; /* a sender that does not exist */
    assert_int_equal(prv_batch_verify(&pub, buf, 100, &err), ZK_ERR_BATCH_INCONSISTENT);
    free(pub.ops);
    env_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_height),
        cmocka_unit_test(test_random_batches_prove_and_verify),
        cmocka_unit_test(test_job_from_the_state),
        cmocka_unit_test(test_prover_checks_witnesses),
        cmocka_unit_test(test_honest_trace_passes_the_check),
        cmocka_unit_test(test_attack_overdraft),
        cmocka_unit_test(test_attack_balance_wraps_past_2_63),
        cmocka_unit_test(test_attack_fee_not_debited),
        cmocka_unit_test(test_attack_wrong_nonce),
        cmocka_unit_test(test_attack_wrong_sibling),
        cmocka_unit_test(test_attack_new_root_not_from_operations),
        cmocka_unit_test(test_attack_operations_dropped_reordered_changed),
        cmocka_unit_test(test_attack_deposit_elsewhere_or_twice),
        cmocka_unit_test(test_attack_withdrawal_not_debited),
        cmocka_unit_test(test_attack_create_over_existing),
        cmocka_unit_test(test_verify_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
