/*
 * tests/prover/test_poseidon2.c — Poseidon2 over Goldilocks (prover/poseidon2.h).
 *
 * Known answers: Plonky3/Plonky3 goldilocks/src/poseidon2.rs (commit
 * 35c199699c3d8600df495f965182e45acbc9e8a1), tests
 * test_default_goldilocks_poseidon2_width_8 and _width_12 (also REFERENCE.md §1).
 * The rest checks the fast paths against the plain round helpers, the SIMD path
 * against the scalar one, and the batched helpers against loops of single calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prover/field.h"
#include "prover/poseidon2.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

/* splitmix64: deterministic, so a failure reproduces. */
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A mix of canonical values, non-canonical values (>= p) and edge values. */
static uint64_t rnd_input(void)
{
    static const uint64_t edges[] = { 0, 1, 2, PRV_GL_P - 1, PRV_GL_P, PRV_GL_P + 1,
                                      UINT64_MAX, UINT64_MAX - 1, PRV_GL_EPSILON,
                                      1ULL << 63, (1ULL << 32) - 2, 1ULL << 32 };
    uint64_t r = rnd();
    switch (r & 7) {
    case 0:
        return edges[(r >> 8) % (sizeof edges / sizeof edges[0])];
    case 1:
        return PRV_GL_P + (rnd() % PRV_GL_EPSILON); /* >= p */
    default:
        return rnd();
    }
}

static void fill(uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = rnd_input();
}

static void canonicalize(prv_gl *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = prv_gl_from_u64(v[i]);
}

static void assert_all_canonical(const prv_gl *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(v[i] < PRV_GL_P);
}

/* ---- known answers ----------------------------------------------------------- */

static const prv_gl kat8[8] = { 0x020cf04a1b214d14ULL, 0x84e14aaaeacaed25ULL, 0x1ae0f640e81c7457ULL,
                                0xa4d204cbaeb0d8a5ULL, 0x0cf637b627b3a7ffULL, 0x788d304d948b486bULL,
                                0x7327133ea1949af4ULL, 0xf415abb924da395bULL };
static const prv_gl kat12[12] = { 0xf292ab67c0f14b03ULL, 0x0a32f1b37656544cULL, 0x053c61ab895498deULL,
                                  0x02ff92e55b196ffbULL, 0x58176e8f6f58cab2ULL, 0xb0aa1206e7aec0f8ULL,
                                  0xe90c13f3dce83ca4ULL, 0xf4da15333edf39c2ULL, 0x23b701c053c2ca6cULL,
                                  0xd233d593dcdfbf58ULL, 0x4effa5f9516fb52eULL, 0x0aaf4489f1f40166ULL };

static void test_kat_width8(void **unused)
{
    prv_gl s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (prv_gl)i;
    prv_p2_permute8(s);
    assert_memory_equal(s, kat8, sizeof kat8);
}

static void test_kat_width12(void **unused)
{
    prv_gl s[12];
    for (int i = 0; i < 12; i++)
        s[i] = (prv_gl)i;
    prv_p2_permute12(s);
    assert_memory_equal(s, kat12, sizeof kat12);
    /* HorizenLabs/poseidon2 (the other instance) starts with 01eaef96bdf1c0c1. */
    assert_true(s[0] != 0x01eaef96bdf1c0c1ULL);
}

static void test_kat_every_impl(void **unused)
{
    static const prv_p2_impl impls[] = { PRV_P2_IMPL_AUTO, PRV_P2_IMPL_SCALAR, PRV_P2_IMPL_AVX2 };
    for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
        if (!prv_p2_impl_available(impls[k]))
            continue;
        prv_gl s8[8 * 5], s12[12 * 5];
        for (int j = 0; j < 5; j++) {
            for (int i = 0; i < 8; i++)
                s8[8 * j + i] = (prv_gl)i;
            for (int i = 0; i < 12; i++)
                s12[12 * j + i] = (prv_gl)i;
        }
        prv_p2_permute8_many_with(impls[k], s8, 5);
        prv_p2_permute12_many_with(impls[k], s12, 5);
        for (int j = 0; j < 5; j++) {
            assert_memory_equal(s8 + 8 * j, kat8, sizeof kat8);
            assert_memory_equal(s12 + 12 * j, kat12, sizeof kat12);
        }
    }
}

/* Non-canonical inputs are reduced first: x and x + p give the same output, and
 * a one-bit change of any lane changes the output (no lane is ignored). */
static void test_noncanonical_and_sensitivity(void **unused)
{
    prv_gl a[12], b[12];
    for (int i = 0; i < 12; i++) {
        a[i] = (prv_gl)i;
        b[i] = (prv_gl)i + PRV_GL_P;
    }
    prv_p2_permute12(b);
    assert_memory_equal(b, kat12, sizeof kat12);
    memcpy(b, a, 8 * sizeof *a);
    for (int i = 0; i < 8; i++)
        b[i] += PRV_GL_P;
    prv_p2_permute8(b);
    assert_memory_equal(b, kat8, sizeof kat8);

    for (int lane = 0; lane < 12; lane++) {
        memcpy(b, a, sizeof a);
        b[lane] ^= 1;
        prv_p2_permute12(b);
        assert_memory_not_equal(b, kat12, sizeof kat12);
        if (lane < 8) {
            memcpy(b, a, 8 * sizeof *a);
            b[lane] ^= 1;
            prv_p2_permute8(b);
            assert_memory_not_equal(b, kat8, sizeof kat8);
        }
    }
}

/* ---- round structure ----------------------------------------------------------- */

static void test_diagonals_are_the_documented_fractions(void **unused)
{
    /* d * denominator = numerator (mod p). */
    static const int64_t num8[8] = { -2, 1, 2, 1, 3, -1, -3, -4 };
    static const int64_t den8[8] = { 1, 1, 1, 2, 1, 2, 1, 1 };
    static const int64_t num12[12] = { -2, 1, 2, 1, 3, 4, -1, -3, -4, 1, -1, 1 };
    static const int64_t den12[12] = { 1, 1, 1, 2, 1, 1, 2, 1, 1, 4, 4, 8 };
    for (int i = 0; i < 8; i++) {
        prv_gl want = num8[i] < 0 ? prv_gl_neg((prv_gl)-num8[i]) : (prv_gl)num8[i];
        assert_int_equal(prv_gl_mul(prv_p2_diag8[i], (prv_gl)den8[i]), want);
    }
    for (int i = 0; i < 12; i++) {
        prv_gl want = num12[i] < 0 ? prv_gl_neg((prv_gl)-num12[i]) : (prv_gl)num12[i];
        assert_int_equal(prv_gl_mul(prv_p2_diag12[i], (prv_gl)den12[i]), want);
    }
}

/* The external layer as an explicit matrix: block (i, j) of 4x4 is 2·M4 on the
 * diagonal, M4 elsewhere. */
static void ext_by_matrix(prv_gl *out, const prv_gl *in, int width)
{
    static const int m4[4][4] = { { 2, 3, 1, 1 }, { 1, 2, 3, 1 }, { 1, 1, 2, 3 }, { 3, 1, 1, 2 } };
    for (int r = 0; r < width; r++) {
        prv_gl acc = 0;
        for (int c = 0; c < width; c++) {
            prv_gl coef = (prv_gl)m4[r % 4][c % 4] * (r / 4 == c / 4 ? 2 : 1);
            acc = prv_gl_add(acc, prv_gl_mul(coef, prv_gl_from_u64(in[c])));
        }
        out[r] = acc;
    }
}

static void test_linear_layers_match_matrices(void **unused)
{
    for (int iter = 0; iter < 200; iter++) {
        prv_gl in[12], s[12], want[12];
        fill(in, 12);
        memcpy(s, in, sizeof s);
        prv_p2_external_layer8(s);
        ext_by_matrix(want, in, 8);
        assert_memory_equal(s, want, 8 * sizeof *s);
        memcpy(s, in, sizeof s);
        prv_p2_external_layer12(s);
        ext_by_matrix(want, in, 12);
        assert_memory_equal(s, want, sizeof want);

        /* Internal layer: (1 + diag(d)) as a full matrix (all ones plus d). */
        for (int w = 8; w <= 12; w += 4) {
            const prv_gl *d = w == 8 ? prv_p2_diag8 : prv_p2_diag12;
            for (int r = 0; r < w; r++) {
                prv_gl acc = 0;
                for (int c = 0; c < w; c++) {
                    prv_gl coef = r == c ? prv_gl_add(1, d[r]) : 1;
                    acc = prv_gl_add(acc, prv_gl_mul(coef, prv_gl_from_u64(in[c])));
                }
                want[r] = acc;
            }
            memcpy(s, in, sizeof s);
            if (w == 8)
                prv_p2_internal_layer8(s);
            else
                prv_p2_internal_layer12(s);
            assert_memory_equal(s, want, (size_t)w * sizeof *s);
        }
    }
}

static void test_rounds_reproduce_permutation(void **unused)
{
    for (int iter = 0; iter < 300; iter++) {
        prv_gl in[12], s[12], r[12];
        fill(in, 12);
        if (iter == 0)
            for (int i = 0; i < 12; i++)
                in[i] = (prv_gl)i;

        memcpy(r, in, sizeof r);
        prv_p2_external_layer8(r);
        for (int k = 0; k < PRV_P2_ROUNDS_F / 2; k++)
            prv_p2_full_round8(r, prv_p2_rc8_external_initial[k]);
        for (int k = 0; k < PRV_P2_ROUNDS_P; k++)
            prv_p2_partial_round8(r, prv_p2_rc8_internal[k]);
        for (int k = 0; k < PRV_P2_ROUNDS_F / 2; k++)
            prv_p2_full_round8(r, prv_p2_rc8_external_final[k]);
        memcpy(s, in, sizeof s);
        prv_p2_permute8(s);
        assert_memory_equal(s, r, 8 * sizeof *s);

        memcpy(r, in, sizeof r);
        prv_p2_external_layer12(r);
        for (int k = 0; k < PRV_P2_ROUNDS_F / 2; k++)
            prv_p2_full_round12(r, prv_p2_rc12_external_initial[k]);
        for (int k = 0; k < PRV_P2_ROUNDS_P; k++)
            prv_p2_partial_round12(r, prv_p2_rc12_internal[k]);
        for (int k = 0; k < PRV_P2_ROUNDS_F / 2; k++)
            prv_p2_full_round12(r, prv_p2_rc12_external_final[k]);
        memcpy(s, in, sizeof s);
        prv_p2_permute12(s);
        assert_memory_equal(s, r, sizeof s);
        assert_all_canonical(s, 12);
    }
}

/* Rounds spelled out from scratch with field ops only, to pin the helpers'
 * documented order (constant, S-box, layer; partial constant on lane 0). */
static void test_round_helpers_order(void **unused)
{
    for (int iter = 0; iter < 100; iter++) {
        prv_gl in[8], s[8], want[8];
        fill(in, 8);
        canonicalize(in, 8);
        int k = iter % 4;
        for (int i = 0; i < 8; i++)
            want[i] = prv_gl_pow(prv_gl_add(in[i], prv_p2_rc8_external_initial[k][i]), 7);
        prv_p2_external_layer8(want);
        memcpy(s, in, sizeof s);
        prv_p2_full_round8(s, prv_p2_rc8_external_initial[k]);
        assert_memory_equal(s, want, sizeof s);

        memcpy(want, in, sizeof want);
        want[0] = prv_gl_pow(prv_gl_add(in[0], prv_p2_rc8_internal[iter % 22]), 7);
        prv_p2_internal_layer8(want);
        memcpy(s, in, sizeof s);
        prv_p2_partial_round8(s, prv_p2_rc8_internal[iter % 22]);
        assert_memory_equal(s, want, sizeof s);

        assert_int_equal(prv_p2_sbox(in[0]), prv_gl_pow(in[0], 7));
        assert_int_equal(prv_p2_sbox(in[0] + PRV_GL_P * (in[0] < PRV_GL_EPSILON)),
                         prv_gl_pow(in[0], 7));
    }
}

/* ---- SIMD = scalar, batched = loops ----------------------------------------------- */

static void check_many_against_single(prv_p2_impl impl, size_t n)
{
    prv_gl *a8 = malloc(n * 8 * sizeof *a8 + 1), *b8 = malloc(n * 8 * sizeof *b8 + 1);
    prv_gl *a12 = malloc(n * 12 * sizeof *a12 + 1), *b12 = malloc(n * 12 * sizeof *b12 + 1);
    assert_non_null(a8);
    assert_non_null(b8);
    assert_non_null(a12);
    assert_non_null(b12);
    fill(a8, n * 8);
    fill(a12, n * 12);
    memcpy(b8, a8, n * 8 * sizeof *a8);
    memcpy(b12, a12, n * 12 * sizeof *a12);
    prv_p2_permute8_many_with(impl, a8, n);
    prv_p2_permute12_many_with(impl, a12, n);
    for (size_t i = 0; i < n; i++) {
        prv_p2_permute8(b8 + 8 * i);
        prv_p2_permute12(b12 + 12 * i);
    }
    if (n > 0) {
        assert_memory_equal(a8, b8, n * 8 * sizeof *a8);
        assert_memory_equal(a12, b12, n * 12 * sizeof *a12);
    }
    free(a8);
    free(b8);
    free(a12);
    free(b12);
}

static void test_simd_equals_scalar(void **unused)
{
    static const prv_p2_impl impls[] = { PRV_P2_IMPL_AUTO, PRV_P2_IMPL_SCALAR, PRV_P2_IMPL_AVX2 };
    int ran = 0;
    for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
        if (!prv_p2_impl_available(impls[k]))
            continue;
        ran++;
        for (size_t n = 0; n <= 40; n++) /* every tail: batches of 16, of 8, padded, scalar */
            check_many_against_single(impls[k], n);
        check_many_against_single(impls[k], 5000);
    }
    assert_true(ran >= 2);
}

/* Every lane at an extreme value, all lanes equal: the cases where lazy
 * reductions are closest to overflowing. */
static void test_simd_edge_states(void **unused)
{
    static const uint64_t edges[] = { 0, 1, PRV_GL_P - 1, PRV_GL_P, UINT64_MAX, PRV_GL_EPSILON,
                                      1ULL << 63, (1ULL << 63) - 1, PRV_GL_P - 2 };
    const size_t ne = sizeof edges / sizeof edges[0];
    prv_gl s8[9 * 8], r8[9 * 8], s12[9 * 12], r12[9 * 12];
    for (size_t e = 0; e < ne; e++) {
        for (int i = 0; i < 8; i++)
            s8[8 * e + i] = edges[e];
        for (int i = 0; i < 12; i++)
            s12[12 * e + i] = edges[e];
    }
    memcpy(r8, s8, sizeof s8);
    memcpy(r12, s12, sizeof s12);
    for (size_t e = 0; e < ne; e++) {
        prv_p2_permute8(r8 + 8 * e);
        prv_p2_permute12(r12 + 12 * e);
        /* Scalar fast path = the plain round helpers. */
        prv_gl t[12];
        for (int i = 0; i < 12; i++)
            t[i] = edges[e];
        prv_p2_external_layer12(t);
        for (int k = 0; k < 4; k++)
            prv_p2_full_round12(t, prv_p2_rc12_external_initial[k]);
        for (int k = 0; k < 22; k++)
            prv_p2_partial_round12(t, prv_p2_rc12_internal[k]);
        for (int k = 0; k < 4; k++)
            prv_p2_full_round12(t, prv_p2_rc12_external_final[k]);
        assert_memory_equal(t, r12 + 12 * e, sizeof t);
    }
    if (prv_p2_impl_available(PRV_P2_IMPL_AVX2)) {
        prv_p2_permute8_many_with(PRV_P2_IMPL_AVX2, s8, ne);
        prv_p2_permute12_many_with(PRV_P2_IMPL_AVX2, s12, ne);
        assert_memory_equal(s8, r8, sizeof s8);
        assert_memory_equal(s12, r12, sizeof s12);
    }
}

/* ---- compression and sponge ------------------------------------------------------ */

static void test_compress_definition(void **unused)
{
    for (int iter = 0; iter < 100; iter++) {
        prv_gl l[4], r[4], out[4], s[8];
        fill(l, 4);
        fill(r, 4);
        memcpy(s, l, sizeof l);
        memcpy(s + 4, r, sizeof r);
        prv_p2_permute8(s);
        prv_p2_compress(out, l, r);
        assert_memory_equal(out, s, sizeof out);
        /* out may alias either input */
        prv_gl l2[4], r2[4];
        memcpy(l2, l, sizeof l);
        memcpy(r2, r, sizeof r);
        prv_p2_compress(l2, l2, r);
        assert_memory_equal(l2, s, sizeof out);
        prv_p2_compress(r2, l, r2);
        assert_memory_equal(r2, s, sizeof out);
        /* order matters */
        prv_p2_compress(out, r, l);
        if (memcmp(l, r, sizeof l) != 0)
            assert_memory_not_equal(out, s, sizeof out);
    }
}

static void test_compress_many(void **unused)
{
    static const size_t sizes[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100, 257 };
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        size_t n = sizes[z];
        prv_gl *in = malloc((8 * n + 1) * sizeof *in), *out = malloc((4 * n + 1) * sizeof *out);
        prv_gl *want = malloc((4 * n + 1) * sizeof *want);
        assert_non_null(in);
        assert_non_null(out);
        assert_non_null(want);
        fill(in, 8 * n);
        for (size_t i = 0; i < n; i++)
            prv_p2_compress(want + 4 * i, in + 8 * i, in + 8 * i + 4);
        prv_p2_compress_many(out, in, n);
        if (n > 0)
            assert_memory_equal(out, want, 4 * n * sizeof *out);
        /* in place: a Merkle level into its own first half */
        prv_p2_compress_many(in, in, n);
        if (n > 0)
            assert_memory_equal(in, want, 4 * n * sizeof *in);
        free(in);
        free(out);
        free(want);
    }
}

static void test_hash_definition(void **unused)
{
    prv_gl in[40], out[4], s[12];
    fill(in, 40);

    /* n = 0: the zero digest (no permutation at all) */
    prv_gl zero[4] = { 0, 0, 0, 0 };
    memset(out, 0xAB, sizeof out);
    prv_p2_hash(out, in, 0);
    assert_memory_equal(out, zero, sizeof out);

    /* n <= 8: first 4 lanes of permute12(input padded with zeros) */
    for (size_t n = 1; n <= 8; n++) {
        memset(s, 0, sizeof s);
        memcpy(s, in, n * sizeof *in);
        prv_p2_permute12(s);
        prv_p2_hash(out, in, n);
        assert_memory_equal(out, s, sizeof out);
    }

    /* several chunks, overwrite mode: each chunk replaces lanes 0..k-1, the rest
     * of the state (including old rate lanes past k) carries over */
    for (size_t n = 9; n <= 40; n++) {
        memset(s, 0, sizeof s);
        for (size_t off = 0; off < n; off += 8) {
            size_t k = n - off < 8 ? n - off : 8;
            for (size_t i = 0; i < k; i++)
                s[i] = in[off + i];
            prv_p2_permute12(s);
        }
        prv_p2_hash(out, in, n);
        assert_memory_equal(out, s, sizeof out);
    }

    /* padding-free: [x] and [x, 0] differ only by length but hash alike (this is
     * Plonky3's PaddingFreeSponge: callers hash fixed-length rows) */
    prv_gl a[2] = { 5, 0 }, d1[4], d2[4];
    prv_p2_hash(d1, a, 1);
    prv_p2_hash(d2, a, 2);
    assert_memory_equal(d1, d2, sizeof d1);
    /* but a different element changes the digest */
    a[1] = 1;
    prv_p2_hash(d2, a, 2);
    assert_memory_not_equal(d1, d2, sizeof d1);
}

static void test_hash_many(void **unused)
{
    static const size_t lens[] = { 0, 1, 4, 7, 8, 9, 15, 16, 17, 24, 100 };
    static const size_t rows[] = { 0, 1, 3, 4, 5, 33, 70 };
    for (size_t a = 0; a < sizeof lens / sizeof lens[0]; a++) {
        for (size_t b = 0; b < sizeof rows / sizeof rows[0]; b++) {
            size_t len = lens[a], nr = rows[b];
            prv_gl *m = malloc((len * nr + 1) * sizeof *m);
            prv_gl *out = malloc((4 * nr + 1) * sizeof *out), *want = malloc((4 * nr + 1) * sizeof *want);
            assert_non_null(m);
            assert_non_null(out);
            assert_non_null(want);
            fill(m, len * nr);
            for (size_t i = 0; i < nr; i++)
                prv_p2_hash(want + 4 * i, m + i * len, len);
            memset(out, 0xCD, (4 * nr + 1) * sizeof *out);
            prv_p2_hash_many(out, m, nr, len);
            if (nr > 0)
                assert_memory_equal(out, want, 4 * nr * sizeof *out);
            assert_all_canonical(out, 4 * nr);
            free(m);
            free(out);
            free(want);
        }
    }
}

static void test_backend_choice(void **unused)
{
    const char *b = prv_p2_backend();
    assert_non_null(b);
    const char *env = getenv("ZKCAR_SIMD");
    if (env != NULL && strcmp(env, "scalar") == 0)
        assert_string_equal(b, "scalar");
    else if (prv_p2_impl_available(PRV_P2_IMPL_AVX2))
        assert_string_equal(b, "avx2");
    else
        assert_string_equal(b, "scalar");
    assert_true(prv_p2_impl_available(PRV_P2_IMPL_SCALAR));
    assert_true(prv_p2_impl_available(PRV_P2_IMPL_AUTO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kat_width8),
        cmocka_unit_test(test_kat_width12),
        cmocka_unit_test(test_kat_every_impl),
        cmocka_unit_test(test_noncanonical_and_sensitivity),
        cmocka_unit_test(test_diagonals_are_the_documented_fractions),
        cmocka_unit_test(test_linear_layers_match_matrices),
        cmocka_unit_test(test_rounds_reproduce_permutation),
        cmocka_unit_test(test_round_helpers_order),
        cmocka_unit_test(test_simd_equals_scalar),
        cmocka_unit_test(test_simd_edge_states),
        cmocka_unit_test(test_compress_definition),
        cmocka_unit_test(test_compress_many),
        cmocka_unit_test(test_hash_definition),
        cmocka_unit_test(test_hash_many),
        cmocka_unit_test(test_backend_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
