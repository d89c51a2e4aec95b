/* Tests for the batch's data (prover/batch.h, prover/batch_data.c): the
 * public data's consistency rules, its signatures, and the canonical,
 * bounds-checked encodings of the public data, the proving job and the
 * artifact (round trips, every truncation, single-byte changes, caps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/eip712.h"
#include "common/endian.h"
#include "common/keccak.h"
#include "common/sig.h"
#include "common/tx.h"
#include "prover/airs/batch.h"
#include "prover/batch.h"

#define CHAIN_ID 31337
#define NKEYS 4

static uint8_t keys[NKEYS][32];
static uint8_t addrs[NKEYS][20];
static const uint8_t bridge[20] = { 0x5f, 0xbd, 0xb2, 0x31, 0x56, 0x78, 0xaf, 0xec, 0xb3, 0x67,
                                    0xf0, 0x32, 0xd9, 0x3f, 0x64, 0x2f, 0x64, 0x18, 0x0a, 0xa3 };
static zk_eip712_domain domain;

static int setup_keys(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++) {
        memset(keys[i], 0, 32);
        keys[i][0] = 0x11;
        keys[i][31] = (uint8_t)(i + 1);
        if (zk_sig_seckey_address(addrs[i], NULL, keys[i]) != ZK_OK)
            return -1;
    }
    zk_eip712_domain_zkcar(&domain, CHAIN_ID, bridge);
    return 0;
}

static void sign(prv_batch_op *op, int key)
{
    zk_tx tx = { .type = op->kind == PRV_OP_TRANSFER ? ZK_TX_TRANSFER : ZK_TX_WITHDRAW,
                 .amount = op->amount, .fee = op->fee, .nonce = op->nonce };
    memcpy(tx.from, op->from, 20);
    memcpy(tx.to, op->to, 20);
    uint8_t digest[32];
    zk_tx_hash(digest, &tx, &domain);
    if (zk_sig_sign(op->sig, NULL, digest, keys[key]) != ZK_OK)
        abort();
}

/* A consistent batch of every kind over accounts 0..2 existing (old count 3):
 *   0 deposit 7 -> acct 3 (new, id 3)
 *   1 transfer acct 0 -> acct 3 (id 3), fee 2
 *   2 transfer acct 1 -> new address (id 4), fee 0
 *   3 withdraw acct 3 -> an L1 address, fee 1
 *   4 deposit 8 -> acct 0
 * fees 3 -> operator, a new account (id 5). */
#define NOPS 5
static prv_batch_op ops_store[NOPS];

static prv_batch_public sample(void)
{
    prv_batch_op *o = ops_store;
    memset(o, 0, sizeof ops_store);
    o[0] = (prv_batch_op){ .kind = PRV_OP_DEPOSIT, .to_id = 3, .amount = 1000, .deposit_id = 7 };
    memset(o[0].from, 0xd1, 20);
    memcpy(o[0].to, addrs[3], 20);
    o[1] = (prv_batch_op){ .kind = PRV_OP_TRANSFER, .from_id = 0, .to_id = 3, .amount = 50, .fee = 2, .nonce = 4 };
    memcpy(o[1].from, addrs[0], 20);
    memcpy(o[1].to, addrs[3], 20);
    sign(&o[1], 0);
    o[2] = (prv_batch_op){ .kind = PRV_OP_TRANSFER, .from_id = 1, .to_id = 4, .amount = 9, .nonce = 0 };
    memcpy(o[2].from, addrs[1], 20);
    memset(o[2].to, 0x77, 20);
    sign(&o[2], 1);
    o[3] = (prv_batch_op){ .kind = PRV_OP_WITHDRAW, .from_id = 3, .amount = 500, .fee = 1, .nonce = 0 };
    memcpy(o[3].from, addrs[3], 20);
    memset(o[3].to, 0xe1, 20);
    sign(&o[3], 3);
    o[4] = (prv_batch_op){ .kind = PRV_OP_DEPOSIT, .to_id = 0, .amount = UINT64_C(1) << 62, .deposit_id = 8 };
    memset(o[4].from, 0xd2, 20);
    memcpy(o[4].to, addrs[0], 20);
    prv_batch_public p = { .chain_id = CHAIN_ID, .number = 12, .old_accounts = 3, .new_accounts = 6,
                           .first_deposit_id = 7, .deposit_count = 2, .operator_id = 5, .nops = NOPS, .ops = o };
    memcpy(p.bridge, bridge, 20);
    memset(p.operator_addr, 0x0f, 20);
    for (int k = 0; k < PRV_BATCH_DIGEST; k++) {
        p.old_root[k] = PRV_GL_P - 1 - (prv_gl)k;
        p.new_root[k] = (prv_gl)k * 0x1234567;
    }
    return p;
}

static void check_gives(const prv_batch_public *p, zk_err want, const char *what)
{
    zk_error_detail e = { 0 };
    zk_err rc = prv_batch_public_check(p, &e);
    if (rc != want)
        fail_msg("%s: public_check gave %s (%s), expected %s", what, zk_strerror(rc), e.text, zk_strerror(want));
    if (want != ZK_OK && e.text[0] == '\0')
        fail_msg("%s: no detail", what);
}

static void test_public_check(void **state)
{
    (void)state;
    prv_batch_public p = sample();
    check_gives(&p, ZK_OK, "the sample");
    assert_int_equal(prv_batch_count_updates(&p), 1 + 2 + 2 + 1 + 1 + 1);

#define BAD(what, stmt)                                                                                         \
    do {                                                                                                      \
        p = sample();                                                                                         \
        stmt;                                                                                                 \
        check_gives(&p, ZK_ERR_BATCH_INCONSISTENT, what);                                                    \
    } while (0)
    BAD("batch number 0", p.number = 0);
    BAD("no operations", p.nops = 0);
    BAD("too many operations", p.nops = PRV_BATCH_MAX_OPS + 1);
    BAD("no ops array", p.ops = NULL);
    BAD("root word not below p", p.new_root[2] = PRV_GL_P);
    BAD("unknown kind", p.ops[2].kind = 4);
    BAD("kind 0", p.ops[0].kind = 0);
    BAD("amount 0", p.ops[1].amount = 0);
    BAD("amount 2^63", p.ops[0].amount = UINT64_C(1) << 63);
    BAD("amount + fee = 2^63", (p.ops[1].amount = UINT64_C(1) << 62, p.ops[1].fee = UINT64_C(1) << 62));
    BAD("fee 2^63", p.ops[1].fee = UINT64_C(1) << 63);
    BAD("a deposit with a fee", p.ops[0].fee = 1);
    BAD("a deposit with a nonce", p.ops[0].nonce = 1);
    BAD("a deposit with a signature byte", p.ops[0].sig[64] = 27);
    BAD("a deposit with a sender id", p.ops[4].from_id = 1);
    BAD("a transfer with a deposit id", p.ops[1].deposit_id = 1);
    BAD("a withdrawal with an L2 receiver", p.ops[3].to_id = 2);
    BAD("deposit ids not consecutive", p.ops[4].deposit_id = 9);
    BAD("deposit ids reordered", (p.ops[0].deposit_id = 8, p.ops[4].deposit_id = 7));
    BAD("deposit count too high", p.deposit_count = 3);
    BAD("deposit count too low", p.deposit_count = 1);
    BAD("first deposit id off", p.first_deposit_id = 6);
    BAD("deposit range overflows", (p.first_deposit_id = UINT64_MAX, p.deposit_count = 2));
    BAD("a new id skipping one", p.ops[0].to_id = 4);
    BAD("a sender that does not exist yet", p.ops[3].from_id = 5);
    BAD("the same id for two addresses", p.ops[2].to_id = 3);
    BAD("the same address under two ids", p.ops[1].to_id = 2);
    BAD("a sender whose address changed", p.ops[3].from[0] ^= 1);
    BAD("an id at 2^30", (p.ops[2].from_id = PRV_BATCH_ID_LIMIT));
    BAD("new_accounts too high", p.new_accounts = 7);
    BAD("new_accounts too low", p.new_accounts = 5);
    BAD("old_accounts above 2^30", (p.old_accounts = PRV_BATCH_ID_LIMIT + 1));
    BAD("operator id not the next new id", p.operator_id = 6);
    BAD("operator at an id with another address", p.operator_id = 0);
    BAD("operator id in a batch without fees", (p.ops[1].fee = 0, p.ops[3].fee = 0, p.new_accounts = 5));
    BAD("fees summing to 2^63", (p.ops[1].fee = (UINT64_C(1) << 62) + 1, p.ops[1].amount = 1,
                                 p.ops[3].fee = (UINT64_C(1) << 62), p.ops[3].amount = 1));
#undef BAD
    /* Good variants: no fees and operator id 0; the operator is an account
     * the batch touches (its existing id); a transfer to oneself. */
    p = sample();
    p.ops[1].fee = 0;
    p.ops[3].fee = 0;
    p.operator_id = 0;
    p.new_accounts = 5;
    check_gives(&p, ZK_OK, "no fees");
    assert_int_equal(prv_batch_count_updates(&p), 1 + 2 + 2 + 1 + 1);
    p = sample();
    memcpy(p.operator_addr, addrs[1], 20);
    p.operator_id = 1;
    p.new_accounts = 5;
    check_gives(&p, ZK_OK, "an existing operator");
    p = sample();
    p.ops[2].to_id = 1;
    memcpy(p.ops[2].to, addrs[1], 20);
    p.new_accounts = 5;
    p.operator_id = 4;
    check_gives(&p, ZK_OK, "a transfer to oneself");
}

static void test_signatures(void **state)
{
    (void)state;
    prv_batch_public p = sample();
    zk_error_detail e = { 0 };
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_OK);
    /* Any signed field changed: the signature recovers someone else. */
    p.ops[1].amount++;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_WRONG_SIGNER);
    assert_non_null(strstr(e.text, "operation 1"));
    p = sample();
    p.ops[3].to[5] ^= 1;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_WRONG_SIGNER);
    assert_non_null(strstr(e.text, "operation 3"));
    p = sample();
    p.ops[2].nonce = 1;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_WRONG_SIGNER);
    /* A withdrawal presented as a transfer is another message. */
    p = sample();
    p.ops[3].kind = PRV_OP_TRANSFER;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_WRONG_SIGNER);
    /* Another domain (chain, bridge). */
    p = sample();
    p.chain_id = 1;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_WRONG_SIGNER);
    p = sample();
    p.bridge[0] ^= 1;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_WRONG_SIGNER);
    /* Malformed signatures. */
    p = sample();
    p.ops[2].sig[64] = 29;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_BAD_V);
    assert_non_null(strstr(e.text, "operation 2"));
    p = sample();
    memset(p.ops[1].sig, 0, 32);
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_ERR_SIG_MALFORMED);
    p = sample();
    memset(p.ops[1].sig + 32, 0xff, 32); /* s >= n */
    zk_err rc = prv_batch_check_signatures(&p, &e);
    assert_true(rc == ZK_ERR_SIG_MALFORMED || rc == ZK_ERR_SIG_HIGH_S);
    /* Deposits carry no signature and are not checked. */
    p = sample();
    p.ops[0].from[0] ^= 1;
    assert_int_equal(prv_batch_check_signatures(&p, &e), ZK_OK);
}

/* ---- encodings ------------------------------------------------------------------- */

static void test_public_encoding(void **state)
{
    (void)state;
    prv_batch_public p = sample();
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(prv_batch_public_encode(&p, &enc, &len), ZK_OK);
    assert_int_equal(len, PRV_BATCH_PUBLIC_HEADER_BYTES + 61 + 134 + 134 + 130 + 61);
    assert_memory_equal(enc, PRV_BATCH_PUBLIC_MAGIC, 4);
    uint8_t h[32], want[32];
    assert_int_equal(prv_batch_public_hash(&p, h), ZK_OK);
    zk_keccak256(want, enc, len);
    assert_memory_equal(h, want, 32);

    prv_batch_public q;
    zk_error_detail e = { 0 };
    assert_int_equal(prv_batch_public_decode(&q, &e, enc, len), ZK_OK);
    assert_int_equal(q.nops, p.nops);
    assert_memory_equal(q.ops, p.ops, p.nops * sizeof *p.ops);
    assert_int_equal(q.chain_id, p.chain_id);
    assert_int_equal(q.number, p.number);
    assert_memory_equal(q.old_root, p.old_root, sizeof q.old_root);
    assert_memory_equal(q.new_root, p.new_root, sizeof q.new_root);
    assert_int_equal(q.operator_id, p.operator_id);
    assert_memory_equal(q.operator_addr, p.operator_addr, 20);
    assert_memory_equal(q.bridge, p.bridge, 20);
    assert_int_equal(q.first_deposit_id, p.first_deposit_id);
    assert_int_equal(q.deposit_count, p.deposit_count);
    assert_int_equal(q.old_accounts, p.old_accounts);
    assert_int_equal(q.new_accounts, p.new_accounts);
    uint8_t *again = NULL;
    size_t len2 = 0;
    assert_int_equal(prv_batch_public_encode(&q, &again, &len2), ZK_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(again, enc, len);
    free(again);
    prv_batch_public_free(&q);
    prv_batch_public_free(&q); /* twice is fine */

    /* Every truncation, and one byte more, is malformed. */
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(prv_batch_public_decode(&q, &e, enc, n), ZK_ERR_BATCH_MALFORMED);
        assert_null(q.ops);
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = 0;
    assert_int_equal(prv_batch_public_decode(&q, &e, longer, len + 1), ZK_ERR_BATCH_MALFORMED);
    free(longer);

    /* Single fields: magic, version, reserved, root word >= p, op count,
     * op kind. Each byte change decodes to a different value or fails. */
    struct { size_t off; uint8_t val; } bad[] = {
        { 0, 'X' }, { 4, 2 }, { 5, 1 }, { 6, 1 }, { 7, 0x80 },
        { 44, 1 },              /* old_root[0] = p - 1 = 0xffffffff00000000 -> p */
        { 156, 0 },             /* nops = 0 (was 5: low byte) */
        { 159, 0x01 },          /* nops = 2^24 + 5: above the cap */
        { 160, 9 },             /* first op's kind */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *c = malloc(len);
        memcpy(c, enc, len);
        c[bad[i].off] = bad[i].val;
        if (prv_batch_public_decode(&q, &e, c, len) != ZK_ERR_BATCH_MALFORMED)
            fail_msg("change %zu at byte %zu decoded", i, bad[i].off);
        free(c);
    }
    /* Every single-byte change gives another encoding: it fails, or decodes
     * to different public data (so a different hash, which the artifact and
     * the proof bind). */
    for (size_t i = 0; i < len; i++) {
        enc[i] ^= 0x01;
        if (prv_batch_public_decode(&q, &e, enc, len) == ZK_OK) {
            uint8_t h2[32];
            assert_int_equal(prv_batch_public_hash(&q, h2), ZK_OK);
            assert_memory_not_equal(h2, h, 32);
            prv_batch_public_free(&q);
        }
        enc[i] ^= 0x01;
    }
    free(enc);

    /* A count the bytes cannot hold is refused before any allocation. */
    uint8_t hdr[PRV_BATCH_PUBLIC_HEADER_BYTES + 61];
    prv_batch_public one = sample();
    one.nops = 1;
    assert_int_equal(prv_batch_public_encode(&one, &enc, &len), ZK_OK);
    assert_int_equal(len, sizeof hdr);
    memcpy(hdr, enc, len);
    free(enc);
    zk_le_put32(hdr + 156, PRV_BATCH_MAX_OPS);
    assert_int_equal(prv_batch_public_decode(&q, &e, hdr, sizeof hdr), ZK_ERR_BATCH_MALFORMED);
    assert_non_null(strstr(e.text, "cannot fit"));

    /* The encoder refuses what could not decode. */
    prv_batch_public x = sample();
    x.ops[1].kind = 7;
    assert_int_equal(prv_batch_public_encode(&x, &enc, &len), ZK_ERR_BAD_VALUE);
    assert_null(enc);
    x = sample();
    x.old_root[0] = PRV_GL_P;
    assert_int_equal(prv_batch_public_encode(&x, &enc, &len), ZK_ERR_BAD_VALUE);
    x = sample();
    x.nops = 0;
    assert_int_equal(prv_batch_public_encode(&x, &enc, &len), ZK_ERR_BAD_VALUE);
    assert_int_equal(prv_batch_public_hash(&x, h), ZK_ERR_BAD_VALUE);
}

static prv_batch_job sample_job(void)
{
    prv_batch_job job = { .pub = sample() };
    job.nupdates = prv_batch_count_updates(&job.pub);
    job.updates = calloc(job.nupdates, sizeof *job.updates);
    if (job.updates == NULL)
        abort();
    for (uint32_t u = 0; u < job.nupdates; u++) {
        prv_batch_update *up = &job.updates[u];
        up->id = u * 3;
        memset(up->old_address, (int)u, 20);
        up->old_balance = (UINT64_C(1) << 63) - 1 - u;
        up->old_nonce = UINT32_MAX - u;
        for (int l = 0; l < PRV_BATCH_TREE_DEPTH; l++)
            for (int k = 0; k < PRV_BATCH_DIGEST; k++)
                up->siblings[l][k] = PRV_GL_P - 1 - (prv_gl)(u * 1000 + (unsigned)l * 4 + (unsigned)k);
    }
    return job;
}

static void test_job_encoding(void **state)
{
    (void)state;
    prv_batch_job job = sample_job();
    uint8_t *enc = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(prv_batch_job_encode(&job, &enc, &len), ZK_OK);
    size_t pub_len = PRV_BATCH_PUBLIC_HEADER_BYTES + 61 + 134 + 134 + 130 + 61;
    assert_int_equal(len, 12 + pub_len + 4 + (size_t)job.nupdates * PRV_BATCH_UPDATE_BYTES);
    prv_batch_job back;
    zk_error_detail e = { 0 };
    assert_int_equal(prv_batch_job_decode(&back, &e, enc, len), ZK_OK);
    assert_int_equal(back.nupdates, job.nupdates);
    assert_memory_equal(back.updates, job.updates, job.nupdates * sizeof *job.updates);
    assert_memory_equal(back.pub.ops, job.pub.ops, job.pub.nops * sizeof *job.pub.ops);
    assert_int_equal(prv_batch_job_encode(&back, &again, &len2), ZK_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(again, enc, len);
    free(again);
    prv_batch_job_free(&back);
    prv_batch_job_free(&back);

    for (size_t n = 0; n < len; n++) {
        assert_int_equal(prv_batch_job_decode(&back, &e, enc, n), ZK_ERR_BATCH_MALFORMED);
        assert_null(back.updates);
        assert_null(back.pub.ops);
    }
    /* Bytes that must not change: magic, version, the public data's length,
     * the update count, a balance's top bit, the empty-sibling mask, a
     * sibling word above p. */
    size_t up0 = 12 + pub_len + 4;
    struct { size_t off; uint8_t val; } bad[] = {
        { 0, 'Q' }, { 4, 3 }, { 4, 0 }, { 6, 1 }, { 8, (uint8_t)(enc[8] ^ 1) },
        { 12 + pub_len, (uint8_t)(enc[12 + pub_len] ^ 1) },  /* update count */
        { up0 + 4 + 20 + 7, 0xff },                          /* balance 2^63 - 1 -> above */
        { up0 + 36, 1 },                                     /* a mask bit with the sibling still there */
        { up0 + 39, 0x80 },                                  /* the top level's mask bit */
        { up0 + 40, 1 },                                     /* sibling p - 1 -> p */
        { len - 4, 0xff },                                   /* last sibling word -> above p */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *c = malloc(len);
        memcpy(c, enc, len);
        assert_int_not_equal(c[bad[i].off], bad[i].val);
        c[bad[i].off] = bad[i].val;
        if (prv_batch_job_decode(&back, &e, c, len) != ZK_ERR_BATCH_MALFORMED)
            fail_msg("change %zu at byte %zu decoded", i, bad[i].off);
        free(c);
    }
    free(enc);

    /* The encoder refuses a job whose update count does not match. */
    job.nupdates--;
    assert_int_equal(prv_batch_job_encode(&job, &enc, &len), ZK_ERR_BAD_VALUE);
    job.nupdates++;
    job.updates[2].siblings[5][1] = PRV_GL_P;
    assert_int_equal(prv_batch_job_encode(&job, &enc, &len), ZK_ERR_BAD_VALUE);
    job.updates[2].siblings[5][1] = 0;
    job.updates[1].old_balance = UINT64_C(1) << 63;
    assert_int_equal(prv_batch_job_encode(&job, &enc, &len), ZK_ERR_BAD_VALUE);
    free(job.updates);
}

/* The version-1 encoding of a job (every sibling written out, no mask), as
 * binaries before version 2 wrote it. */
static uint8_t *encode_v1(const prv_batch_job *job, size_t *len)
{
    uint8_t *pub = NULL;
    size_t pn = 0;
    if (prv_batch_public_encode(&job->pub, &pub, &pn) != ZK_OK)
        abort();
    *len = 8 + 4 + pn + 4 + (size_t)job->nupdates * PRV_BATCH_UPDATE_V1_BYTES;
    uint8_t *b = malloc(*len), *w = b;
    if (b == NULL)
        abort();
    memcpy(w, "ZKBJ\1\0\0\0", 8);
    w += 8;
    zk_le_put32(w, (uint32_t)pn);
    memcpy(w + 4, pub, pn);
    w += 4 + pn;
    zk_le_put32(w, job->nupdates);
    w += 4;
    for (uint32_t u = 0; u < job->nupdates; u++) {
        const prv_batch_update *up = &job->updates[u];
        zk_le_put32(w, up->id);
        memcpy(w + 4, up->old_address, 20);
        zk_le_put64(w + 24, up->old_balance);
        zk_le_put32(w + 32, up->old_nonce);
        w += 36;
        for (int l = 0; l < PRV_BATCH_TREE_DEPTH; l++)
            for (int k = 0; k < PRV_BATCH_DIGEST; k++, w += 8)
                zk_le_put64(w, up->siblings[l][k]);
    }
    if ((size_t)(w - b) != *len)
        abort();
    free(pub);
    return b;
}

/* Empty subtrees as mask bits: smaller, the same job back, one encoding
 * only; and version-1 jobs (written before the mask) still read. */
static void test_job_empty_siblings(void **state)
{
    (void)state;
    prv_batch_job job = sample_job();
    /* Update u has its levels >= u + 1 empty (update 0: all but the leaf's
     * sibling; the last ones: none of the lower levels), plus level 3
     * everywhere: paths of different shapes. */
    size_t nempty = 0;
    for (uint32_t u = 0; u < job.nupdates; u++)
        for (unsigned l = 0; l < PRV_BATCH_TREE_DEPTH; l++)
            if (l > u || l == 3) {
                memcpy(job.updates[u].siblings[l], prv_batch_empty_hash(l), sizeof job.updates[u].siblings[l]);
                nempty++;
            }
    uint8_t *enc = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(prv_batch_job_encode(&job, &enc, &len), ZK_OK);
    size_t pub_len = PRV_BATCH_PUBLIC_HEADER_BYTES + 61 + 134 + 134 + 130 + 61;
    assert_int_equal(len, 12 + pub_len + 4 + (size_t)job.nupdates * PRV_BATCH_UPDATE_BYTES - nempty * 32);
    assert_int_equal(enc[4] | enc[5] << 8, PRV_BATCH_JOB_VERSION);
    size_t up0 = 12 + pub_len + 4;
    assert_int_equal(zk_le_get32(enc + up0 + 36), 0xfffffffeu); /* update 0: every level but 0 */
    prv_batch_job back;
    zk_error_detail e = { 0 };
    assert_int_equal(prv_batch_job_decode(&back, &e, enc, len), ZK_OK);
    assert_memory_equal(back.updates, job.updates, job.nupdates * sizeof *job.updates);
    prv_batch_job_free(&back);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(prv_batch_job_decode(&back, &e, enc, n), ZK_ERR_BATCH_MALFORMED);

    /* Canonical: update 0's level-1 sibling written out instead of its mask
     * bit is refused, though it names the same job. */
    uint8_t *c = malloc(len + 32);
    assert_non_null(c);
    memcpy(c, enc, up0 + 36);
    zk_le_put32(c + up0 + 36, 0xfffffffcu);
    memcpy(c + up0 + 40, enc + up0 + 40, 32); /* level 0 */
    for (int k = 0; k < PRV_BATCH_DIGEST; k++)
        zk_le_put64(c + up0 + 72 + 8 * k, prv_batch_empty_hash(1)[k]);
    memcpy(c + up0 + 104, enc + up0 + 72, len - (up0 + 72));
    assert_int_equal(prv_batch_job_decode(&back, &e, c, len + 32), ZK_ERR_BATCH_MALFORMED);
    assert_non_null(strstr(e.text, "leaf update 0"));
    /* ... and with a non-empty value there it is a job like any other. */
    c[up0 + 72] ^= 1;
    assert_int_equal(prv_batch_job_decode(&back, &e, c, len + 32), ZK_OK);
    assert_int_not_equal(back.updates[0].siblings[1][0], prv_batch_empty_hash(1)[0]);
    prv_batch_job_free(&back);
    free(c);

    /* Version 1 decodes to the same job and re-encodes as version 2. */
    size_t v1len = 0;
    uint8_t *v1 = encode_v1(&job, &v1len);
    assert_int_equal(prv_batch_job_decode(&back, &e, v1, v1len), ZK_OK);
    assert_memory_equal(back.updates, job.updates, job.nupdates * sizeof *job.updates);
    assert_int_equal(prv_batch_job_encode(&back, &again, &len2), ZK_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(again, enc, len);
    free(again);
    prv_batch_job_free(&back);
    /* Version 1 stays exact: a byte short or over is refused; a version-1
     * header on version-2 bytes and the reverse are refused. */
    assert_int_equal(prv_batch_job_decode(&back, &e, v1, v1len - 1), ZK_ERR_BATCH_MALFORMED);
    v1[4] = 2;
    assert_int_equal(prv_batch_job_decode(&back, &e, v1, v1len), ZK_ERR_BATCH_MALFORMED);
    enc[4] = 1;
    assert_int_equal(prv_batch_job_decode(&back, &e, enc, len), ZK_ERR_BATCH_MALFORMED);
    enc[4] = 3;
    assert_int_equal(prv_batch_job_decode(&back, &e, enc, len), ZK_ERR_BATCH_MALFORMED);
    assert_non_null(strstr(e.text, "version 3"));
    free(v1);
    free(enc);
    free(job.updates);
}

static void test_artifact_encoding(void **state)
{
    (void)state;
    prv_batch_public p = sample();
    uint8_t proof[300];
    for (size_t i = 0; i < sizeof proof; i++)
        proof[i] = (uint8_t)(i * 7 + 1);
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(prv_batch_artifact_encode(&p, proof, sizeof proof, &enc, &len), ZK_OK);
    uint8_t *pub_enc = NULL;
    size_t pub_len = 0;
    assert_int_equal(prv_batch_public_encode(&p, &pub_enc, &pub_len), ZK_OK);
    assert_int_equal(len, 12 + pub_len + 32 + 4 + sizeof proof);
    assert_memory_equal(enc, PRV_BATCH_ARTIFACT_MAGIC, 4);
    assert_memory_equal(enc + 12, pub_enc, pub_len);

    prv_batch_artifact a;
    zk_error_detail e = { 0 };
    assert_int_equal(prv_batch_artifact_decode(&a, &e, enc, len), ZK_OK);
    assert_int_equal(a.proof_len, sizeof proof);
    assert_memory_equal(a.proof, proof, sizeof proof);
    uint8_t h[32];
    assert_int_equal(prv_batch_public_hash(&p, h), ZK_OK);
    assert_memory_equal(a.pub_hash, h, 32);
    assert_memory_equal(a.pub.ops, p.ops, p.nops * sizeof *p.ops);
    uint8_t *again = NULL;
    size_t len2 = 0;
    assert_int_equal(prv_batch_artifact_encode(&a.pub, a.proof, a.proof_len, &again, &len2), ZK_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(again, enc, len);
    free(again);
    prv_batch_artifact_free(&a);
    prv_batch_artifact_free(&a);

    for (size_t n = 0; n < len; n++) {
        assert_int_equal(prv_batch_artifact_decode(&a, &e, enc, n), ZK_ERR_BATCH_MALFORMED);
        assert_null(a.proof);
        assert_null(a.pub.ops);
    }
    /* Every single-byte change outside the proof is rejected by the
     * decoder: the public data is bound by its Keccak-256 and every length
     * is exact. (Changes inside the proof are the verifier's: test_batch_air
     * and the zkcar verify CLI test flip those with a real proof.) */
    size_t proof_off = len - sizeof proof;
    for (size_t i = 0; i < proof_off; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            enc[i] ^= (uint8_t)(1u << bit);
            if (prv_batch_artifact_decode(&a, &e, enc, len) != ZK_ERR_BATCH_MALFORMED)
                fail_msg("flipping bit %d of byte %zu decoded", bit, i);
            enc[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(enc);
    free(pub_enc);
    /* No proof, or a proof over the cap, is not encoded. */
    assert_int_equal(prv_batch_artifact_encode(&p, proof, 0, &enc, &len), ZK_ERR_BAD_VALUE);
    assert_int_equal(prv_batch_artifact_encode(&p, proof, PRV_BATCH_PROOF_MAX_BYTES + 1, &enc, &len),
                     ZK_ERR_BAD_VALUE);
    assert_null(enc);
}

/* The decoders' caps: lengths above them are refused up front. */
static void test_caps(void **state)
{
    (void)state;
    static const uint8_t small[16];
    zk_error_detail e = { 0 };
    prv_batch_public q;
    assert_int_equal(prv_batch_public_decode(&q, &e, small, PRV_BATCH_PUBLIC_MAX_BYTES + 1), ZK_ERR_BATCH_MALFORMED);
    prv_batch_job j;
    assert_int_equal(prv_batch_job_decode(&j, &e, small, PRV_BATCH_JOB_MAX_BYTES + 1), ZK_ERR_BATCH_MALFORMED);
    prv_batch_artifact a;
    assert_int_equal(prv_batch_artifact_decode(&a, &e, small, PRV_BATCH_ARTIFACT_MAX_BYTES + 1),
                     ZK_ERR_BATCH_MALFORMED);
    assert_non_null(strstr(e.text, "cap"));
    /* Nothing at all. */
    assert_int_equal(prv_batch_public_decode(&q, &e, NULL, 0), ZK_ERR_BATCH_MALFORMED);
    assert_int_equal(prv_batch_job_decode(&j, &e, NULL, 0), ZK_ERR_BATCH_MALFORMED);
    assert_int_equal(prv_batch_artifact_decode(&a, &e, NULL, 0), ZK_ERR_BATCH_MALFORMED);
    /* The biggest batch fits its caps. */
    assert_true(PRV_BATCH_PUBLIC_MAX_BYTES < UINT32_MAX);
    assert_true(PRV_BATCH_JOB_MAX_BYTES >= 12 + PRV_BATCH_PUBLIC_MAX_BYTES + 4 +
                                               (size_t)PRV_BATCH_MAX_UPDATES * PRV_BATCH_UPDATE_BYTES);

    /* A batch of PRV_BATCH_MAX_OPS transfers encodes, decodes and is
     * consistent; one more operation is refused by both sides. */
    uint32_t n = PRV_BATCH_MAX_OPS;
    prv_batch_op *ops = calloc(n + 1, sizeof *ops);
    assert_non_null(ops);
    for (uint32_t i = 0; i <= n; i++) {
        ops[i].kind = PRV_OP_TRANSFER;
        ops[i].from_id = 0;
        ops[i].to_id = 1;
        memcpy(ops[i].from, addrs[0], 20);
        memcpy(ops[i].to, addrs[1], 20);
        ops[i].amount = 1;
        ops[i].nonce = i;
    }
    prv_batch_public p = { .number = 1, .old_accounts = 2, .new_accounts = 2, .nops = n, .ops = ops };
    assert_int_equal(prv_batch_public_check(&p, &e), ZK_OK);
    uint8_t *enc = NULL;
    size_t len = 0;
    assert_int_equal(prv_batch_public_encode(&p, &enc, &len), ZK_OK);
    assert_int_equal(len, PRV_BATCH_PUBLIC_MAX_BYTES);
    assert_int_equal(prv_batch_public_decode(&q, &e, enc, len), ZK_OK);
    prv_batch_public_free(&q);
    free(enc);
    p.nops = n + 1;
    assert_int_equal(prv_batch_public_check(&p, &e), ZK_ERR_BATCH_INCONSISTENT);
    assert_int_equal(prv_batch_public_encode(&p, &enc, &len), ZK_ERR_BAD_VALUE);
    free(ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_check),      cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_public_encoding),   cmocka_unit_test(test_job_encoding),
        cmocka_unit_test(test_job_empty_siblings),
        cmocka_unit_test(test_artifact_encoding), cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, setup_keys, NULL);
}
