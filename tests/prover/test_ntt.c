/* tests/prover/test_ntt.c — prover/ntt.h against the definition (naive DFT / evaluation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prover/field.h"
#include "prover/ntt.h"
#include "prover/parallel.h"

static uint64_t rng_state = 0x1234567890abcdefULL;

/* splitmix64 */
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Mostly uniform, sometimes values at the edges of the representation. */
static prv_gl rnd_gl(void)
{
    static const prv_gl edge[] = { 0, 1, 2, PRV_GL_P - 1, PRV_GL_P - 2, PRV_GL_EPSILON,
                                   PRV_GL_EPSILON + 1, 0xFFFFFFFF00000000ULL, 0x8000000000000000ULL,
                                   0x7FFFFFFFFFFFFFFFULL };
    uint64_t r = rnd();
    if ((r & 7) == 0)
        return edge[(r >> 3) % (sizeof edge / sizeof edge[0])];
    return prv_gl_from_u64(rnd());
}

static prv_gl *rnd_vec(size_t n)
{
    prv_gl *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = rnd_gl();
    return v;
}

static prv_gl *dup_vec(const prv_gl *a, size_t n)
{
    prv_gl *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    memcpy(v, a, n * sizeof *v);
    return v;
}

static prv_gl horner(const prv_gl *c, size_t n, prv_gl x)
{
    prv_gl acc = 0;
    for (size_t j = n; j-- > 0;)
        acc = prv_gl_add(prv_gl_mul(acc, x), c[j]);
    return acc;
}

static void assert_canonical(const prv_gl *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(a[i] < PRV_GL_P);
}

/* Forward NTT equals the O(n^2) DFT for every size 2^0 .. 2^10, on both backends. */
static void test_forward_naive_all_small_sizes(void **state)
{
    (void)state;
    for (int be = PRV_NTT_BACKEND_SCALAR; be <= PRV_NTT_BACKEND_AVX2; be++) {
        prv_ntt_set_backend((prv_ntt_backend)be);
        for (unsigned log_n = 0; log_n <= 10; log_n++) {
            size_t n = (size_t)1 << log_n;
            prv_gl *c = rnd_vec(n), *a = dup_vec(c, n);
            prv_ntt_forward(a, log_n);
            prv_gl w = prv_gl_root_of_unity(log_n), x = 1;
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(a[i], horner(c, n, x));
                x = prv_gl_mul(x, w);
            }
            free(c);
            free(a);
        }
    }
    prv_ntt_set_backend(PRV_NTT_BACKEND_AUTO);
}

/* Known answer by hand: the DFT of (0, 1, 0, ...) is (ω^i), of the all-ones vector is (n, 0, ...). */
static void test_forward_known_answers(void **state)
{
    (void)state;
    unsigned log_n = 14;
    size_t n = (size_t)1 << log_n;
    prv_gl *a = calloc(n, sizeof *a);
    assert_non_null(a);
    a[1] = 1;
    prv_ntt_forward(a, log_n);
    prv_gl w = prv_gl_root_of_unity(log_n), x = 1;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a[i], x);
        x = prv_gl_mul(x, w);
    }
    for (size_t i = 0; i < n; i++)
        a[i] = 1;
    prv_ntt_forward(a, log_n);
    assert_int_equal(a[0], n);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(a[i], 0);
    free(a);
}

/* Large sizes (past the cache-blocking threshold, 2^12): sampled points against Horner. */
static void test_forward_large_sampled(void **state)
{
    (void)state;
    static const unsigned sizes[] = { 11, 12, 13, 14, 15, 16, 17, 19, 21 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        unsigned log_n = sizes[s];
        size_t n = (size_t)1 << log_n;
        prv_gl *c = rnd_vec(n), *a = dup_vec(c, n);
        prv_ntt_forward(a, log_n);
        assert_canonical(a, n);
        prv_gl w = prv_gl_root_of_unity(log_n);
        for (int k = 0; k < 12; k++) {
            size_t i = k < 4 ? (size_t)k * (n / 4 + 1) % n : rnd() % n;
            assert_int_equal(a[i], horner(c, n, prv_gl_pow(w, i)));
        }
        free(c);
        free(a);
    }
}

static void test_inverse_roundtrip(void **state)
{
    (void)state;
    static const unsigned sizes[] = { 0, 1, 2, 3, 5, 8, 12, 13, 16, 18, 20 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        unsigned log_n = sizes[s];
        size_t n = (size_t)1 << log_n;
        prv_gl *c = rnd_vec(n), *a = dup_vec(c, n);
        prv_ntt_forward(a, log_n);
        prv_ntt_inverse(a, log_n);
        assert_memory_equal(a, c, n * sizeof *a);
        /* and the other way round */
        prv_ntt_inverse(a, log_n);
        prv_ntt_forward(a, log_n);
        assert_memory_equal(a, c, n * sizeof *a);
        free(c);
        free(a);
    }
}

/* Inverse against the definition: c_j = n^-1 Σ_i a_i ω^(-ij). */
static void test_inverse_naive(void **state)
{
    (void)state;
    for (unsigned log_n = 0; log_n <= 8; log_n++) {
        size_t n = (size_t)1 << log_n;
        prv_gl *e = rnd_vec(n), *a = dup_vec(e, n);
        prv_ntt_inverse(a, log_n);
        prv_gl winv = prv_gl_inv(prv_gl_root_of_unity(log_n)), ninv = prv_gl_inv(n), x = 1;
        for (size_t j = 0; j < n; j++) {
            assert_int_equal(a[j], prv_gl_mul(ninv, horner(e, n, x)));
            x = prv_gl_mul(x, winv);
        }
        free(e);
        free(a);
    }
}

static void test_coset(void **state)
{
    (void)state;
    prv_gl shifts[] = { PRV_GL_GENERATOR, 2, PRV_GL_P - 1, 0 /* random */ };
    for (size_t si = 0; si < sizeof shifts / sizeof shifts[0]; si++) {
        for (unsigned log_n = 0; log_n <= 14; log_n += (log_n < 9 ? 1 : 5)) {
            size_t n = (size_t)1 << log_n;
            prv_gl shift = si < 3 ? shifts[si] : rnd_gl() % (PRV_GL_P - 1) + 1; /* nonzero */
            prv_gl *c = rnd_vec(n), *a = dup_vec(c, n);
            prv_ntt_coset_forward(a, log_n, shift);
            prv_gl w = prv_gl_root_of_unity(log_n);
            size_t checks = n <= 256 ? n : 16;
            for (size_t k = 0; k < checks; k++) {
                size_t i = n <= 256 ? k : rnd() % n;
                assert_int_equal(a[i], horner(c, n, prv_gl_mul(shift, prv_gl_pow(w, i))));
            }
            prv_ntt_coset_inverse(a, log_n, shift);
            assert_memory_equal(a, c, n * sizeof *a);
            free(c);
            free(a);
        }
    }
    /* shift 0 is allowed forward: every value is c_0 */
    prv_gl z[8] = { 5, 6, 7, 8, 9, 10, 11, 12 };
    prv_ntt_coset_forward(z, 3, 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(z[i], 5);
}

static void check_lde(unsigned log_n, unsigned log_blowup, prv_gl shift, int in_place)
{
    size_t n = (size_t)1 << log_n, big = n << log_blowup;
    prv_gl *c = rnd_vec(n), *evals = dup_vec(c, n);
    prv_ntt_forward(evals, log_n);
    prv_gl *out = malloc(big * sizeof *out);
    assert_non_null(out);
    /* garbage where the extension goes: the LDE must not read it */
    memset(out, 0xAB, big * sizeof *out);
    if (in_place) {
        memcpy(out, evals, n * sizeof *out);
        prv_ntt_lde(out, out, log_n, log_blowup, shift);
    } else {
        prv_ntt_lde(out, evals, log_n, log_blowup, shift);
    }
    assert_canonical(out, big);
    prv_gl w = prv_gl_root_of_unity(log_n + log_blowup);
    size_t checks = big <= 512 ? big : 24;
    for (size_t k = 0; k < checks; k++) {
        size_t i = big <= 512 ? k : rnd() % big;
        assert_int_equal(out[i], horner(c, n, prv_gl_mul(shift, prv_gl_pow(w, i))));
    }
    free(c);
    free(evals);
    free(out);
}

static void test_lde(void **state)
{
    (void)state;
    for (unsigned log_n = 0; log_n <= 6; log_n++)
        for (unsigned lb = 0; lb <= 3; lb++)
            check_lde(log_n, lb, PRV_GL_GENERATOR, (log_n + lb) & 1);
    check_lde(12, 3, PRV_GL_GENERATOR, 0);
    check_lde(9, 4, PRV_GL_GENERATOR, 1); /* blowup beyond the column pass's stages */
    check_lde(10, 5, 5, 0);
    check_lde(14, 2, 3, 1);
    check_lde(17, 3, PRV_GL_GENERATOR, 0);
}

static void test_batch_equals_single(void **state)
{
    (void)state;
    static const size_t ncols_list[] = { 0, 1, 3, 5 };
    unsigned log_n = 10, lb = 2;
    size_t n = (size_t)1 << log_n, big = n << lb;
    for (size_t t = 0; t < sizeof ncols_list / sizeof ncols_list[0]; t++) {
        size_t ncols = ncols_list[t];
        prv_gl *in[5], *out[5], *single[5], *fwd[5];
        for (size_t c = 0; c < ncols; c++) {
            in[c] = rnd_vec(n);
            fwd[c] = dup_vec(in[c], n);
            out[c] = malloc(big * sizeof(prv_gl));
            single[c] = malloc(big * sizeof(prv_gl));
            assert_non_null(out[c]);
            assert_non_null(single[c]);
            prv_ntt_lde(single[c], in[c], log_n, lb, PRV_GL_GENERATOR);
        }
        prv_ntt_lde_batch(out, (const prv_gl *const *)in, ncols, log_n, lb, PRV_GL_GENERATOR);
        prv_ntt_forward_batch(fwd, ncols, log_n);
        for (size_t c = 0; c < ncols; c++) {
            assert_memory_equal(out[c], single[c], big * sizeof(prv_gl));
            prv_gl *one = dup_vec(in[c], n);
            prv_ntt_forward(one, log_n);
            assert_memory_equal(fwd[c], one, n * sizeof(prv_gl));
            free(one);
        }
        prv_ntt_inverse_batch(fwd, ncols, log_n);
        for (size_t c = 0; c < ncols; c++) {
            assert_memory_equal(fwd[c], in[c], n * sizeof(prv_gl));
            free(in[c]);
            free(fwd[c]);
            free(out[c]);
            free(single[c]);
        }
    }
}

typedef void (*transform_fn)(prv_gl *a, unsigned log_n);

static void lde8(prv_gl *a, unsigned log_n) { prv_ntt_lde(a, a, log_n - 3, 3, PRV_GL_GENERATOR); }
static void coset7(prv_gl *a, unsigned log_n) { prv_ntt_coset_forward(a, log_n, 7); }
static void coset7inv(prv_gl *a, unsigned log_n) { prv_ntt_coset_inverse(a, log_n, 7); }

/* The same transform under two configurations gives identical bits. */
static void compare_configs(void (*config_a)(void), void (*config_b)(void))
{
    static const transform_fn fns[] = { prv_ntt_forward, prv_ntt_inverse, lde8, coset7, coset7inv };
    static const unsigned sizes[] = { 3, 4, 5, 11, 13, 16, 18 };
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = (size_t)1 << sizes[s];
            prv_gl *x = rnd_vec(n), *y = dup_vec(x, n);
            config_a();
            fns[f](x, sizes[s]);
            config_b();
            fns[f](y, sizes[s]);
            assert_memory_equal(x, y, n * sizeof *x);
            free(x);
            free(y);
        }
    prv_ntt_set_backend(PRV_NTT_BACKEND_AUTO);
    prv_parallel_set_threads(0);
}

static void use_scalar(void) { prv_ntt_set_backend(PRV_NTT_BACKEND_SCALAR); }
static void use_avx2(void) { prv_ntt_set_backend(PRV_NTT_BACKEND_AVX2); }
static void one_thread(void) { prv_parallel_set_threads(1); }
static void two_threads(void) { prv_parallel_set_threads(2); }
static void five_threads(void) { prv_parallel_set_threads(5); }

static void test_simd_equals_scalar(void **state)
{
    (void)state;
    if (prv_ntt_set_backend(PRV_NTT_BACKEND_AVX2) != PRV_NTT_BACKEND_AVX2) {
        prv_ntt_set_backend(PRV_NTT_BACKEND_AUTO);
        skip();
    }
    compare_configs(use_scalar, use_avx2);
    /* all-(p-1) input: the largest values through every kernel */
    size_t n = (size_t)1 << 13;
    prv_gl *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (size_t i = 0; i < n; i++)
        x[i] = y[i] = PRV_GL_P - 1;
    use_scalar();
    prv_ntt_forward(x, 13);
    use_avx2();
    prv_ntt_forward(y, 13);
    assert_memory_equal(x, y, n * sizeof *x);
    assert_int_equal(x[0], prv_gl_neg(n));
    free(x);
    free(y);
    prv_ntt_set_backend(PRV_NTT_BACKEND_AUTO);
}

static void test_threads_agree(void **state)
{
    (void)state;
    compare_configs(one_thread, two_threads);
    compare_configs(one_thread, five_threads);
}

static void test_backend_name(void **state)
{
    (void)state;
    prv_ntt_set_backend(PRV_NTT_BACKEND_SCALAR);
    assert_string_equal(prv_ntt_backend_name(), "scalar");
    if (prv_ntt_set_backend(PRV_NTT_BACKEND_AVX2) == PRV_NTT_BACKEND_AVX2)
        assert_string_equal(prv_ntt_backend_name(), "avx2");
    prv_ntt_set_backend(PRV_NTT_BACKEND_AUTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_naive_all_small_sizes),
        cmocka_unit_test(test_forward_known_answers),
        cmocka_unit_test(test_forward_large_sampled),
        cmocka_unit_test(test_inverse_roundtrip),
        cmocka_unit_test(test_inverse_naive),
        cmocka_unit_test(test_coset),
        cmocka_unit_test(test_lde),
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_simd_equals_scalar),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_backend_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
