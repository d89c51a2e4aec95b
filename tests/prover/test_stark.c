/*
 * tests/prover/test_stark.c — the STARK: soundness calculator, transcript,
 * Merkle trees, FRI folding, proof encoding, and end-to-end proofs of the
 * Fibonacci and Poseidon2 hash-chain AIRs with the soundness tests (a broken
 * trace, a wrong public input, altered bytes, a too-high-degree polynomial).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prover/airs/fib.h"
#include "prover/airs/hashchain.h"
#include "prover/airs/p2chain.h"
#include "prover/fri.h"
#include "prover/hash.h"
#include "prover/merkle.h"
#include "prover/poseidon2.h"
#include "prover/proof.h"
#include "prover/soundness.h"
#include "prover/stark.h"
#include "prover/stark_testing.h"
#include "prover/transcript.h"

/* TEST-ONLY parameters (far below 100 bits: fast under ASan). */
static const prv_stark_params test_params = {
    .hash = PRV_HASH_POSEIDON2,
    .log_blowup = 2,
    .num_queries = 12,
    .grinding_bits = 4,
    .fri_log_arity = 3,
    .fri_log_final = 2,
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- soundness calculator against REFERENCE.md §1 (ethereum/soundcalc) ---- */

static int ref_bits(unsigned log_blowup, unsigned queries, unsigned grinding)
{
    /* 2^20 rows, 375 columns, degree 3, FRI arity 8 down to degree 32 (5 rounds). */
    prv_soundness_input in = {
        .log_trace_len = 20, .ncols = 375, .batch_size = 381, .degree = 3, .opening_points = 2,
        .log_blowup = log_blowup, .num_queries = queries, .grinding_bits = grinding,
        .fri_log_arity = 3, .fri_rounds = 5,
    };
    return prv_soundness_bits(&in, NULL);
}

static void test_soundness_reference(void **state)
{
    (void)state;
    /* Figures of ethereum/soundcalc quoted in REFERENCE.md §1 (provable, JBR). */
    int b;
    b = ref_bits(3, 56, 20);
    assert_true(b >= 102 && b <= 104);
    b = ref_bits(2, 84, 20);
    assert_true(b >= 101 && b <= 103);
    b = ref_bits(4, 41, 20);
    assert_true(b >= 100 && b <= 102);
    b = ref_bits(3, 28, 16);
    assert_true(b >= 56 && b <= 58);
    b = ref_bits(1, 180, 20);
    assert_true(b >= 106 && b <= 108);
    prv_soundness_report r;
    prv_soundness_bits(&(prv_soundness_input){ .log_trace_len = 20, .ncols = 375, .batch_size = 381,
                                              .degree = 3, .opening_points = 2, .log_blowup = 3,
                                              .num_queries = 56, .grinding_bits = 20,
                                              .fri_log_arity = 3, .fri_rounds = 5 },
                       &r);
    assert_int_equal(r.total, r.query); /* the query phase is the binding term */
    assert_true(r.batching > r.total && r.ali > r.total && r.deep > r.total);
    assert_int_equal(r.ncommit, 5);
}

static void test_params_security(void **state)
{
    (void)state;
    /* The production set meets the bound for both example AIRs at every size. */
    for (unsigned log_n = 5; log_n <= 22; log_n++) {
        assert_true(prv_stark_security_bits(&prv_hashchain_air, &prv_stark_params_default, log_n) >= 100);
        assert_true(prv_stark_security_bits(&prv_fib_air, &prv_stark_params_default, log_n) >= 100);
        assert_true(prv_stark_security_bits(&prv_p2chain_air, &prv_stark_params_default, log_n) >= 100);
    }
    assert_true(prv_stark_security_bits(&prv_fib_air, &test_params, 6) < 100);
}

/* ---- Keccak-256 known answers (REFERENCE.md §2) ---- */

static void hex32(char out[65], const uint8_t *b)
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[64] = 0;
}

static void test_keccak(void **state)
{
    (void)state;
    uint8_t h[32];
    char s[65];
    prv_keccak256(h, "", 0);
    hex32(s, h);
    assert_string_equal(s, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    const char *sig = "Transfer(address,address,uint256)";
    prv_keccak256(h, sig, strlen(sig));
    hex32(s, h);
    assert_string_equal(s, "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
    /* Multi-block input (> 136 bytes) against the same function fed in one piece
     * and via the transcript absorb path. */
    uint8_t buf[300];
    for (int i = 0; i < 300; i++)
        buf[i] = (uint8_t)i;
    uint8_t h1[32], h2[32];
    prv_keccak256(h1, buf, 300);
    prv_keccak256(h2, buf, 300);
    assert_memory_equal(h1, h2, 32);
    prv_keccak256(h2, buf, 299);
    assert_memory_not_equal(h1, h2, 32);
}

static void test_keccak_x4(void **state)
{
    (void)state;
    /* The 4-way path (AVX2 when available) against one-at-a-time hashing. */
    static const size_t lens[] = { 0, 1, 64, 135, 136, 137, 271, 272, 300, 1440 };
    uint8_t msg[4][1440];
    for (int m = 0; m < 4; m++)
        for (int i = 0; i < 1440; i++)
            msg[m][i] = (uint8_t)rnd();
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        uint8_t out[4][32], want[32];
        uint8_t *const o[4] = { out[0], out[1], out[2], out[3] };
        const void *const in[4] = { msg[0], msg[1], msg[2], msg[3] };
        prv_keccak256_x4(o, in, lens[k]);
        for (int m = 0; m < 4; m++) {
            prv_keccak256(want, msg[m], lens[k]);
            assert_memory_equal(out[m], want, 32);
        }
    }
    const char *b = prv_keccak_backend();
    assert_true(strcmp(b, "avx2") == 0 || strcmp(b, "scalar") == 0);
}

/* ---- transcript ---- */

static void test_transcript(void **state)
{
    (void)state;
    prv_transcript a, b;
    prv_transcript_init(&a, "x");
    prv_transcript_init(&b, "x");
    prv_transcript_absorb_u64(&a, 'T', 5);
    prv_transcript_absorb_u64(&b, 'T', 5);
    prv_gl3 ca = prv_transcript_gl3(&a), cb = prv_transcript_gl3(&b);
    assert_true(prv_gl3_eq(ca, cb));
    prv_gl3 ca2 = prv_transcript_gl3(&a);
    assert_false(prv_gl3_eq(ca, ca2)); /* successive challenges differ */
    prv_transcript_absorb_u64(&b, 'T', 6);
    prv_transcript_absorb_u64(&a, 'T', 7);
    assert_false(prv_gl3_eq(prv_transcript_gl3(&a), prv_transcript_gl3(&b)));
    for (int i = 0; i < 100; i++) {
        assert_true(prv_transcript_gl(&a) < PRV_GL_P);
        assert_true(prv_transcript_index(&a, 10) < 1024);
    }
    uint64_t nonce = prv_transcript_pow_search(&a, 8);
    assert_true(prv_transcript_pow_ok(&a, 8, nonce));
    for (uint64_t i = 0; i < nonce; i++)
        assert_false(prv_transcript_pow_ok(&a, 8, i)); /* the least nonce */
}

/* ---- Merkle ---- */

static void merkle_case(prv_hash_id h)
{
    unsigned log_leaves = 6;
    size_t n = 64, row_len = 5;
    prv_gl *rows = malloc(n * row_len * sizeof *rows);
    for (size_t i = 0; i < n * row_len; i++)
        rows[i] = rnd() % PRV_GL_P;
    prv_merkle m;
    assert_int_equal(prv_merkle_build(&m, h, rows, log_leaves, row_len), ZK_OK);
    prv_digest root = prv_merkle_root(&m), path[6];
    for (size_t i = 0; i < n; i++) {
        prv_merkle_path(&m, i, path);
        assert_true(prv_merkle_verify(h, &root, log_leaves, i, rows + i * row_len, row_len, path));
        assert_false(prv_merkle_verify(h, &root, log_leaves, i ^ 1, rows + i * row_len, row_len, path));
        path[i % 6].w[0] ^= 1;
        assert_false(prv_merkle_verify(h, &root, log_leaves, i, rows + i * row_len, row_len, path));
    }
    prv_merkle_path(&m, 3, path);
    rows[3 * row_len] ^= 1;
    assert_false(prv_merkle_verify(h, &root, log_leaves, 3, rows + 3 * row_len, row_len, path));
    assert_false(prv_merkle_verify(h, &root, log_leaves, 64 + 3, rows + 3 * row_len, row_len, path));
    prv_merkle_free(&m);
    free(rows);
}

static void test_merkle(void **state)
{
    (void)state;
    merkle_case(PRV_HASH_POSEIDON2);
    merkle_case(PRV_HASH_KECCAK);
}

/* ---- FRI folding: folding the evaluations of f gives those of sum_k beta^k f_k ---- */

static prv_gl3 eval_poly3(const prv_gl3 *c, size_t n, prv_gl x)
{
    prv_gl3 acc = { { 0, 0, 0 } };
    for (size_t i = n; i-- > 0;)
        acc = prv_gl3_add(prv_gl3_mul_base(acc, x), c[i]);
    return acc;
}

static void test_fri_fold(void **state)
{
    (void)state;
    for (unsigned la = 1; la <= 4; la++) {
        unsigned log_size = 8;
        size_t size = 256, deg = 64, a = (size_t)1 << la;
        prv_gl3 *coef = calloc(deg, sizeof *coef), *ev = malloc(size * sizeof *ev);
        prv_gl3 *out = malloc((size >> la) * sizeof *out), *fold_coef = calloc(deg, sizeof *fold_coef);
        for (size_t i = 0; i < deg; i++)
            for (int c = 0; c < 3; c++)
                coef[i].c[c] = rnd() % PRV_GL_P;
        prv_gl shift = 7, w = prv_gl_root_of_unity(log_size);
        for (size_t i = 0; i < size; i++)
            ev[i] = eval_poly3(coef, deg, prv_gl_mul(shift, prv_gl_pow(w, i)));
        prv_gl3 beta = { { rnd() % PRV_GL_P, rnd() % PRV_GL_P, rnd() % PRV_GL_P } };
        prv_fri_fold_layer(out, ev, log_size, la, shift, beta);
        /* sum_k beta^k f_k: coefficient i of f goes to i / a with weight beta^(i mod a). */
        for (size_t i = 0; i < deg; i++)
            fold_coef[i / a] = prv_gl3_add(fold_coef[i / a], prv_gl3_mul(coef[i], prv_gl3_pow(beta, i % a)));
        prv_gl shift2 = prv_gl_pow(shift, a), w2 = prv_gl_pow(w, a);
        for (size_t j = 0; j < (size >> la); j++)
            assert_true(prv_gl3_eq(out[j], eval_poly3(fold_coef, deg / a, prv_gl_mul(shift2, prv_gl_pow(w2, j)))));
        free(coef);
        free(ev);
        free(out);
        free(fold_coef);
    }
}

/* ---- end-to-end ---- */

static void test_fib_prove_verify(void **state)
{
    (void)state;
    unsigned log_n = 6;
    prv_gl trace[2 << 6], pub[PRV_FIB_NPUBLIC];
    prv_fib_trace(trace, log_n, 1, 1, pub);
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    for (unsigned h = PRV_HASH_POSEIDON2; h <= PRV_HASH_KECCAK; h++) {
        prv_stark_params p = test_params;
        p.hash = (uint8_t)h;
        assert_int_equal(prv_stark_prove_insecure(&prv_fib_air, &p, trace, log_n, pub, 0, 0, &proof, &len, &err), ZK_OK);
        assert_int_equal(prv_stark_verify_insecure(&prv_fib_air, pub, proof, len, 0, &err), ZK_OK);
        /* The production verifier refuses the test-only parameters. */
        assert_int_equal(prv_stark_verify(&prv_fib_air, pub, proof, len, &err), ZK_ERR_PRV_PARAMS);
        free(proof);
    }
    /* The production prover refuses them too. */
    assert_int_equal(prv_stark_prove(&prv_fib_air, &test_params, trace, log_n, pub, &proof, &len, &err),
                     ZK_ERR_PRV_PARAMS);
    /* Other shapes: arities 2 and 16, blowup 2 (log 1), no grinding. */
    prv_stark_params q = { PRV_HASH_KECCAK, 1, 20, 0, 1, 0 };
    for (unsigned la = 1; la <= 4; la++) {
        q.fri_log_arity = (uint8_t)la;
        assert_int_equal(prv_stark_prove_insecure(&prv_fib_air, &q, trace, log_n, pub, 0, 0, &proof, &len, &err), ZK_OK);
        assert_int_equal(prv_stark_verify_insecure(&prv_fib_air, pub, proof, len, 0, &err), ZK_OK);
        free(proof);
    }
}

static void test_fib_production_params(void **state)
{
    (void)state;
    unsigned log_n = 5;
    prv_gl trace[2 << 5], pub[PRV_FIB_NPUBLIC];
    prv_fib_trace(trace, log_n, 3, 4, pub);
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    assert_int_equal(prv_stark_prove(&prv_fib_air, &prv_stark_params_default, trace, log_n, pub, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify(&prv_fib_air, pub, proof, len, &err), ZK_OK);
    pub[3] = prv_gl_add(pub[3], 1);
    assert_int_not_equal(prv_stark_verify(&prv_fib_air, pub, proof, len, &err), ZK_OK);
    free(proof);
}

static void test_hashchain_prove_verify(void **state)
{
    (void)state;
    unsigned log_n = 9; /* 16 permutations */
    size_t n = (size_t)1 << log_n;
    prv_gl *trace = malloc(PRV_HASHCHAIN_NCOLS * n * sizeof *trace), pub[PRV_HASHCHAIN_NPUBLIC];
    prv_gl in[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    prv_hashchain_trace(trace, log_n, in, pub);
    /* The trace computes the real permutation: the first block's output row is
     * permute8(0..7) (REFERENCE.md §1 known answer checked by test_poseidon2). */
    prv_gl s[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    prv_p2_permute8(s);
    for (int j = 0; j < 8; j++)
        assert_int_equal(trace[(size_t)j * n + 31], s[j]);
    assert_int_equal(s[0], 0x020cf04a1b214d14ULL);
    for (size_t k = 1; k < n / 32; k++)
        prv_p2_permute8(s);
    for (int j = 0; j < 8; j++)
        assert_int_equal(pub[9 + j], s[j]);
    assert_int_equal(pub[0], 16);

    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    assert_int_equal(prv_stark_prove_insecure(&prv_hashchain_air, &test_params, trace, log_n, pub, 0, 0, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify_insecure(&prv_hashchain_air, pub, proof, len, 0, &err), ZK_OK);

    /* Wrong public inputs: output, input, permutation count. */
    for (unsigned k = 0; k < PRV_HASHCHAIN_NPUBLIC; k += 4) {
        prv_gl bad[PRV_HASHCHAIN_NPUBLIC];
        memcpy(bad, pub, sizeof bad);
        bad[k] = prv_gl_add(bad[k], 1);
        assert_int_not_equal(prv_stark_verify_insecure(&prv_hashchain_air, bad, proof, len, 0, &err), ZK_OK);
    }
    /* A proof of one AIR is not a proof of another. */
    prv_gl fpub[PRV_FIB_NPUBLIC] = { log_n, 0, 0, 0 };
    assert_int_equal(prv_stark_verify_insecure(&prv_fib_air, fpub, proof, len, 0, &err), ZK_ERR_PRV_SHAPE);

    /* Random single-byte changes of this (larger) proof are all rejected. */
    for (int i = 0; i < 300; i++) {
        size_t pos = rnd() % len;
        uint8_t old = proof[pos];
        proof[pos] ^= (uint8_t)(1 + rnd() % 255);
        assert_int_not_equal(prv_stark_verify_insecure(&prv_hashchain_air, pub, proof, len, 0, &err), ZK_OK);
        proof[pos] = old;
    }
    assert_int_equal(prv_stark_verify_insecure(&prv_hashchain_air, pub, proof, len, 0, &err), ZK_OK);
    free(proof);

    /* One broken constraint in one row: the honest prover refuses, and the
     * proof a prover makes anyway is rejected. */
    size_t row = 77;
    trace[(size_t)(16 + 3) * n + row] = prv_gl_add(trace[(size_t)(16 + 3) * n + row], 1); /* y[3] */
    assert_int_equal(prv_stark_prove_insecure(&prv_hashchain_air, &test_params, trace, log_n, pub, 0, 0, &proof, &len, &err),
                     ZK_ERR_PRV_TRACE);
    assert_int_equal(prv_stark_prove_insecure(&prv_hashchain_air, &test_params, trace, log_n, pub,
                                              PRV_STARK_TEST_SKIP_TRACE_CHECK, 0, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify_insecure(&prv_hashchain_air, pub, proof, len, 0, &err),
                     ZK_ERR_PRV_PROOF_REJECTED);
    free(proof);
    /* The same trace with a quotient that passes the check at z: only FRI can
     * catch it (the committed quotient is not of degree < 2n). */
    assert_int_equal(prv_stark_prove_insecure(&prv_hashchain_air, &test_params, trace, log_n, pub,
                                              PRV_STARK_TEST_CHEAT_QUOTIENT, 0, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify_insecure(&prv_hashchain_air, pub, proof, len, 0, &err),
                     ZK_ERR_PRV_PROOF_REJECTED);
    assert_non_null(strstr(err.text, "FRI"));
    free(proof);
    free(trace);
}

static void test_fri_rejects_high_degree_valid_trace(void **state)
{
    (void)state;
    /* With a valid trace the cheat path commits the true quotient's evaluations
     * (a polynomial of degree < 2n, above the bound n of the parts): the check
     * at z passes by construction, and FRI must still reject. */
    unsigned log_n = 6;
    prv_gl trace[2 << 6], pub[PRV_FIB_NPUBLIC];
    prv_fib_trace(trace, log_n, 1, 2, pub);
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    assert_int_equal(prv_stark_prove_insecure(&prv_fib_air, &test_params, trace, log_n, pub,
                                              PRV_STARK_TEST_CHEAT_QUOTIENT, 0, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify_insecure(&prv_fib_air, pub, proof, len, 0, &err), ZK_ERR_PRV_PROOF_REJECTED);
    free(proof);
}

static void test_fib_bad_row_and_public(void **state)
{
    (void)state;
    unsigned log_n = 5;
    size_t n = 32;
    prv_gl trace[2 << 5], pub[PRV_FIB_NPUBLIC];
    prv_fib_trace(trace, log_n, 1, 1, pub);
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    /* Break each row in turn (b column): never an accepted proof. */
    for (size_t row = 1; row < n - 1; row += 5) {
        prv_gl saved = trace[n + row];
        trace[n + row] = prv_gl_add(saved, 1);
        assert_int_equal(prv_stark_prove_insecure(&prv_fib_air, &test_params, trace, log_n, pub, 0, 0, &proof, &len, &err),
                         ZK_ERR_PRV_TRACE);
        assert_int_equal(prv_stark_prove_insecure(&prv_fib_air, &test_params, trace, log_n, pub,
                                                  PRV_STARK_TEST_SKIP_TRACE_CHECK, 0, &proof, &len, &err),
                         ZK_OK);
        assert_int_not_equal(prv_stark_verify_insecure(&prv_fib_air, pub, proof, len, 0, &err), ZK_OK);
        free(proof);
        trace[n + row] = saved;
    }
    /* Wrong public inputs. */
    assert_int_equal(prv_stark_prove_insecure(&prv_fib_air, &test_params, trace, log_n, pub, 0, 0, &proof, &len, &err),
                     ZK_OK);
    for (int k = 0; k < PRV_FIB_NPUBLIC; k++) {
        prv_gl bad[PRV_FIB_NPUBLIC];
        memcpy(bad, pub, sizeof bad);
        bad[k] = prv_gl_add(bad[k], 1);
        assert_int_not_equal(prv_stark_verify_insecure(&prv_fib_air, bad, proof, len, 0, &err), ZK_OK);
    }
    free(proof);
}

static void test_all_byte_flips(void **state)
{
    (void)state;
    unsigned log_n = 3;
    prv_gl trace[2 << 3], pub[PRV_FIB_NPUBLIC];
    prv_fib_trace(trace, log_n, 5, 8, pub);
    prv_stark_params p = test_params;
    p.num_queries = 4;
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    assert_int_equal(prv_stark_prove_insecure(&prv_fib_air, &p, trace, log_n, pub, 0, 0, &proof, &len, &err), ZK_OK);
    assert_int_equal(prv_stark_verify_insecure(&prv_fib_air, pub, proof, len, 0, &err), ZK_OK);
    static const uint8_t masks[] = { 0x01, 0x80, 0xff };
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            proof[pos] ^= masks[m];
            zk_err rc = prv_stark_verify_insecure(&prv_fib_air, pub, proof, len, 0, &err);
            if (rc == ZK_OK)
                fail_msg("byte %zu ^ %02x accepted", pos, masks[m]);
            proof[pos] ^= masks[m];
        }
    }
    /* Truncations and extensions. */
    for (size_t cut = 0; cut < len; cut += 7)
        assert_int_not_equal(prv_stark_verify_insecure(&prv_fib_air, pub, proof, cut, 0, &err), ZK_OK);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, proof, len);
    longer[len] = 0;
    assert_int_equal(prv_stark_verify_insecure(&prv_fib_air, pub, longer, len + 1, 0, &err), ZK_ERR_PRV_PROOF_MALFORMED);
    free(longer);
    /* Decode / encode round trip is the identity. */
    prv_proof pf;
    assert_int_equal(prv_proof_decode(&pf, proof, len, &err), ZK_OK);
    uint8_t *again = NULL;
    size_t again_len = 0;
    assert_int_equal(prv_proof_encode(&pf, &again, &again_len), ZK_OK);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, proof, len);
    free(again);
    prv_proof_free(&pf);
    free(proof);
}

static void test_p2chain_prove_verify(void **state)
{
    (void)state;
    unsigned log_n = 5; /* 31 permutations, one per row */
    size_t n = (size_t)1 << log_n;
    prv_gl *trace = malloc(PRV_P2CHAIN_NCOLS * n * sizeof *trace), pub[PRV_P2CHAIN_NPUBLIC];
    prv_gl in[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    prv_p2chain_trace(trace, log_n, in, pub);
    prv_gl s[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    prv_p2_permute8(s);
    for (int j = 0; j < 8; j++)
        assert_int_equal(trace[(size_t)j * n + 1], s[j]); /* row 1 = permute8(0..7) */
    for (size_t k = 1; k < n - 1; k++)
        prv_p2_permute8(s);
    for (int j = 0; j < 8; j++)
        assert_int_equal(pub[9 + j], s[j]);
    assert_int_equal(pub[0], n - 1);

    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    for (unsigned h = PRV_HASH_POSEIDON2; h <= PRV_HASH_KECCAK; h++) {
        prv_stark_params p = test_params;
        p.hash = (uint8_t)h;
        assert_int_equal(prv_stark_prove_insecure(&prv_p2chain_air, &p, trace, log_n, pub, 0, 0, &proof, &len, &err), ZK_OK);
        assert_int_equal(prv_stark_verify_insecure(&prv_p2chain_air, pub, proof, len, 0, &err), ZK_OK);
        for (unsigned k = 0; k < PRV_P2CHAIN_NPUBLIC; k += 3) {
            prv_gl bad[PRV_P2CHAIN_NPUBLIC];
            memcpy(bad, pub, sizeof bad);
            bad[k] = prv_gl_add(bad[k], 1);
            assert_int_not_equal(prv_stark_verify_insecure(&prv_p2chain_air, bad, proof, len, 0, &err), ZK_OK);
        }
        free(proof);
    }
    /* Break one S-box column in one row (partial round 10's y). */
    size_t col = 8 + 4 * 16 + 2 * 10 + 1, row = 17;
    trace[col * n + row] = prv_gl_add(trace[col * n + row], 5);
    assert_int_equal(prv_stark_prove_insecure(&prv_p2chain_air, &test_params, trace, log_n, pub, 0, 0, &proof, &len, &err),
                     ZK_ERR_PRV_TRACE);
    assert_int_equal(prv_stark_prove_insecure(&prv_p2chain_air, &test_params, trace, log_n, pub,
                                              PRV_STARK_TEST_SKIP_TRACE_CHECK, 0, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify_insecure(&prv_p2chain_air, pub, proof, len, 0, &err), ZK_ERR_PRV_PROOF_REJECTED);
    free(proof);
    assert_int_equal(prv_stark_prove_insecure(&prv_p2chain_air, &test_params, trace, log_n, pub,
                                              PRV_STARK_TEST_CHEAT_QUOTIENT, 0, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify_insecure(&prv_p2chain_air, pub, proof, len, 0, &err), ZK_ERR_PRV_PROOF_REJECTED);
    free(proof);
    free(trace);
}

static void test_p2chain_production_params(void **state)
{
    (void)state;
    /* A degree-3 AIR at the production parameters (blowup 2: the quotient,
     * degree < 2n, fills the whole extended domain). */
    unsigned log_n = 4;
    size_t n = (size_t)1 << log_n;
    prv_gl *trace = malloc(PRV_P2CHAIN_NCOLS * n * sizeof *trace), pub[PRV_P2CHAIN_NPUBLIC];
    prv_gl in[8] = { 9, 8, 7, 6, 5, 4, 3, 2 };
    prv_p2chain_trace(trace, log_n, in, pub);
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    assert_true(prv_stark_security_bits(&prv_p2chain_air, &prv_stark_params_default, log_n) >= 100);
    assert_int_equal(prv_stark_prove(&prv_p2chain_air, &prv_stark_params_default, trace, log_n, pub, &proof, &len, &err),
                     ZK_OK);
    assert_int_equal(prv_stark_verify(&prv_p2chain_air, pub, proof, len, &err), ZK_OK);
    pub[12] = prv_gl_add(pub[12], 1);
    assert_int_equal(prv_stark_verify(&prv_p2chain_air, pub, proof, len, &err), ZK_ERR_PRV_PROOF_REJECTED);
    free(proof);
    free(trace);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soundness_reference),
        cmocka_unit_test(test_params_security),
        cmocka_unit_test(test_keccak),
        cmocka_unit_test(test_keccak_x4),
        cmocka_unit_test(test_transcript),
        cmocka_unit_test(test_merkle),
        cmocka_unit_test(test_fri_fold),
        cmocka_unit_test(test_fib_prove_verify),
        cmocka_unit_test(test_fib_bad_row_and_public),
        cmocka_unit_test(test_all_byte_flips),
        cmocka_unit_test(test_fri_rejects_high_degree_valid_trace),
        cmocka_unit_test(test_hashchain_prove_verify),
        cmocka_unit_test(test_p2chain_prove_verify),
        cmocka_unit_test(test_fib_production_params),
        cmocka_unit_test(test_p2chain_production_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
