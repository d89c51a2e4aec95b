/*
 * tests/prover/test_field.c — Goldilocks F_p and its cubic extension (prover/field.h).
 *
 * Known answers marked "Python" were computed with Python's arbitrary-precision
 * integers (`x % p`, `pow(x, -1, p)`, `pow(a, e, p)`), independently of this code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "prover/field.h"

#define P PRV_GL_P
typedef unsigned __int128 u128;

static uint64_t rng_state = 0xfeedface12345678ULL;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static prv_gl rnd_gl(void)
{
    static const prv_gl edge[] = { 0, 1, 2, P - 1, P - 2, PRV_GL_EPSILON, PRV_GL_EPSILON + 1,
                                   0xFFFFFFFF00000000ULL, 0x8000000000000000ULL };
    uint64_t r = rnd();
    if ((r & 7) == 0)
        return edge[(r >> 3) % (sizeof edge / sizeof edge[0])];
    return prv_gl_from_u64(rnd());
}

static prv_gl3 rnd_gl3(void) { return (prv_gl3){ { rnd_gl(), rnd_gl(), rnd_gl() } }; }

/* Reference reduction by 128-bit division (the compiler's __umodti3). */
static prv_gl ref_mod(u128 x) { return (prv_gl)(x % P); }

static void test_known_answers(void **state)
{
    (void)state;
    assert_int_equal(prv_gl_mul(P - 1, P - 1), 1);
    assert_int_equal(prv_gl_sqr(P - 1), 1);
    assert_int_equal(prv_gl_mul(1ULL << 32, 1ULL << 32), PRV_GL_EPSILON); /* 2^64 ≡ 2^32 - 1 */
    assert_int_equal(prv_gl_mul(1ULL << 48, 1ULL << 48), P - 1);          /* 2^96 ≡ -1 */
    /* reduce128 at the edges (Python) */
    u128 max = ~(u128)0;
    assert_int_equal(prv_gl_reduce128(max), 0xfffffffe00000000ULL);
    assert_int_equal(prv_gl_reduce128((u128)1 << 96), 0xffffffff00000000ULL);
    assert_int_equal(prv_gl_reduce128(((u128)1 << 96) - 1), 0xfffffffeffffffffULL);
    assert_int_equal(prv_gl_reduce128((u128)1 << 64), 0xffffffffULL);
    assert_int_equal(prv_gl_reduce128((u128)1 << 127), 0xfffffffe80000001ULL);
    assert_int_equal(prv_gl_reduce128((u128)UINT64_MAX * UINT64_MAX), 0xfffffffc00000004ULL);
    assert_int_equal(prv_gl_reduce128((u128)P * UINT64_MAX), 0);
    assert_int_equal(prv_gl_reduce128(((u128)1 << 64) + P), 0xffffffffULL);
    assert_int_equal(prv_gl_reduce128(P), 0);
    assert_int_equal(prv_gl_reduce128(P - 1), P - 1);
    assert_int_equal(prv_gl_reduce128(UINT64_MAX), PRV_GL_EPSILON - 1);
    /* add/sub/neg at the edges */
    assert_int_equal(prv_gl_add(P - 1, 1), 0);
    assert_int_equal(prv_gl_add(P - 1, P - 1), P - 2);
    assert_int_equal(prv_gl_sub(0, 1), P - 1);
    assert_int_equal(prv_gl_sub(0, P - 1), 1);
    assert_int_equal(prv_gl_neg(0), 0);
    assert_int_equal(prv_gl_neg(1), P - 1);
    assert_int_equal(prv_gl_from_u64(UINT64_MAX), PRV_GL_EPSILON - 1);
    assert_int_equal(prv_gl_from_u64(P), 0);
    /* inverses (Python: pow(x, -1, p)) */
    assert_int_equal(prv_gl_inv(1), 1);
    assert_int_equal(prv_gl_inv(2), 0x7fffffff80000001ULL);
    assert_int_equal(prv_gl_inv(3), 0xaaaaaaaa00000001ULL);
    assert_int_equal(prv_gl_inv(P - 1), P - 1);
    assert_int_equal(prv_gl_inv(0x123456789abcdefULL), 0xc82422136a041504ULL);
    assert_int_equal(prv_gl_mul(2, prv_gl_inv(2)), 1);
    /* pow (Python: pow(0x123456789abcdef, 0xfedcba987654321, p)) */
    assert_int_equal(prv_gl_pow(0x123456789abcdefULL, 0xfedcba987654321ULL), 0x7de9329c48ecb62cULL);
    assert_int_equal(prv_gl_pow(5, 0), 1);
    assert_int_equal(prv_gl_pow(0, 0), 1);
    assert_int_equal(prv_gl_pow(0, 5), 0);
    /* the 2^32-th root of unity g^((p-1)/2^32), g = 7 (Python) */
    assert_int_equal(prv_gl_root_of_unity(32), 0x185629dcda58878cULL);
    assert_int_equal(prv_gl_root_of_unity(0), 1);
    assert_int_equal(prv_gl_root_of_unity(1), P - 1);
}

static void test_random_against_reference(void **state)
{
    (void)state;
    for (int i = 0; i < 20000; i++) {
        prv_gl a = rnd_gl(), b = rnd_gl();
        assert_int_equal(prv_gl_mul(a, b), ref_mod((u128)a * b));
        assert_int_equal(prv_gl_add(a, b), ref_mod((u128)a + b));
        assert_int_equal(prv_gl_sub(a, b), ref_mod((u128)a + P - b));
        u128 x = ((u128)rnd() << 64) | rnd();
        assert_int_equal(prv_gl_reduce128(x), ref_mod(x));
        uint64_t u = rnd();
        assert_int_equal(prv_gl_from_u64(u), ref_mod(u));
    }
}

static void test_field_properties(void **state)
{
    (void)state;
    for (int i = 0; i < 5000; i++) {
        prv_gl a = rnd_gl(), b = rnd_gl(), c = rnd_gl();
        assert_int_equal(prv_gl_mul(a, b), prv_gl_mul(b, a));
        assert_int_equal(prv_gl_add(a, b), prv_gl_add(b, a));
        assert_int_equal(prv_gl_mul(prv_gl_mul(a, b), c), prv_gl_mul(a, prv_gl_mul(b, c)));
        assert_int_equal(prv_gl_add(prv_gl_add(a, b), c), prv_gl_add(a, prv_gl_add(b, c)));
        assert_int_equal(prv_gl_mul(a, prv_gl_add(b, c)), prv_gl_add(prv_gl_mul(a, b), prv_gl_mul(a, c)));
        assert_int_equal(prv_gl_add(prv_gl_sub(a, b), b), a);
        assert_int_equal(prv_gl_add(a, prv_gl_neg(a)), 0);
        if (a != 0)
            assert_int_equal(prv_gl_mul(a, prv_gl_inv(a)), 1);
        uint64_t e = rnd() >> (rnd() & 63);
        /* a^(e+1) = a^e · a, a^(2^k) by squaring */
        assert_int_equal(prv_gl_pow(a, e + 1), prv_gl_mul(prv_gl_pow(a, e), a));
        unsigned k = (unsigned)(rnd() % 64);
        assert_int_equal(prv_gl_exp_power_of_2(a, k), k == 63 ? prv_gl_sqr(prv_gl_pow(a, 1ULL << 62))
                                                               : prv_gl_pow(a, 1ULL << k));
        if (a != 0)
            assert_int_equal(prv_gl_pow(a, P - 1), 1); /* Fermat */
    }
}

static void test_batch_inv_and_powers(void **state)
{
    (void)state;
    enum { N = 1000 };
    prv_gl a[N], b[N];
    for (int i = 0; i < N; i++) {
        do
            a[i] = rnd_gl();
        while (a[i] == 0);
        b[i] = a[i];
    }
    prv_gl_batch_inv(b, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(prv_gl_mul(a[i], b[i]), 1);
    prv_gl_batch_inv(b, 0); /* no-op */
    prv_gl pw[17];
    prv_gl_powers(pw, 17, 5, 3);
    for (int i = 0; i < 17; i++)
        assert_int_equal(pw[i], prv_gl_mul(5, prv_gl_pow(3, (uint64_t)i)));
}

/* ω_k = root_of_unity(k) has order exactly 2^k, and ω_k^2 = ω_(k-1). */
static void test_roots_of_unity(void **state)
{
    (void)state;
    for (unsigned k = 0; k <= 32; k++) {
        prv_gl w = prv_gl_root_of_unity(k);
        assert_int_equal(prv_gl_exp_power_of_2(w, k), 1);
        if (k > 0) {
            assert_int_not_equal(prv_gl_exp_power_of_2(w, k - 1), 1);
            assert_int_equal(prv_gl_sqr(w), prv_gl_root_of_unity(k - 1));
        }
    }
    /* 7 generates F_p^*: 7^((p-1)/q) != 1 for each prime q | p - 1 = 2^32·3·5·17·257·65537 */
    static const uint64_t q[] = { 2, 3, 5, 17, 257, 65537 };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        assert_int_not_equal(prv_gl_pow(PRV_GL_GENERATOR, (P - 1) / q[i]), 1);
}

/* ---- cubic extension ---- */

/* Reference product: schoolbook then reduce by x^3 = x + 1 with 128-bit sums. */
static prv_gl3 ref_mul3(prv_gl3 a, prv_gl3 b)
{
    prv_gl c[5] = { 0 };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            c[i + j] = ref_mod((u128)c[i + j] + ref_mod((u128)a.c[i] * b.c[j]));
    /* x^4 = x^2 + x, x^3 = x + 1 */
    prv_gl r0 = ref_mod((u128)c[0] + c[3]);
    prv_gl r1 = ref_mod((u128)c[1] + c[3] + c[4]);
    prv_gl r2 = ref_mod((u128)c[2] + c[4]);
    return (prv_gl3){ { r0, r1, r2 } };
}

static void test_ext_arithmetic(void **state)
{
    (void)state;
    prv_gl3 one = prv_gl3_from_base(1), zero = prv_gl3_from_base(0);
    prv_gl3 x = { { 0, 1, 0 } };
    /* x^3 = x + 1 */
    prv_gl3 x3 = prv_gl3_mul(prv_gl3_sqr(x), x);
    assert_true(prv_gl3_eq(x3, (prv_gl3){ { 1, 1, 0 } }));
    for (int i = 0; i < 3000; i++) {
        prv_gl3 a = rnd_gl3(), b = rnd_gl3(), c = rnd_gl3();
        prv_gl s = rnd_gl();
        assert_true(prv_gl3_eq(prv_gl3_mul(a, b), ref_mul3(a, b)));
        assert_true(prv_gl3_eq(prv_gl3_mul(a, b), prv_gl3_mul(b, a)));
        assert_true(prv_gl3_eq(prv_gl3_mul(prv_gl3_mul(a, b), c), prv_gl3_mul(a, prv_gl3_mul(b, c))));
        assert_true(prv_gl3_eq(prv_gl3_mul(a, prv_gl3_add(b, c)),
                               prv_gl3_add(prv_gl3_mul(a, b), prv_gl3_mul(a, c))));
        assert_true(prv_gl3_eq(prv_gl3_add(prv_gl3_sub(a, b), b), a));
        assert_true(prv_gl3_is_zero(prv_gl3_add(a, prv_gl3_neg(a))));
        assert_true(prv_gl3_eq(prv_gl3_mul_base(a, s), prv_gl3_mul(a, prv_gl3_from_base(s))));
        assert_true(prv_gl3_eq(prv_gl3_mul(a, one), a));
        assert_true(prv_gl3_is_zero(prv_gl3_mul(a, zero)));
        if (!prv_gl3_is_zero(a)) {
            prv_gl3 inv = prv_gl3_inv(a);
            assert_true(prv_gl3_eq(prv_gl3_mul(a, inv), one));
            assert_int_not_equal(prv_gl3_norm(a), 0);
        }
        if (i < 200) {
            /* Frobenius is a -> a^p, and the norm is a·a^p·a^(p^2) */
            prv_gl3 fa = prv_gl3_pow(a, P);
            assert_true(prv_gl3_eq(prv_gl3_frobenius(a), fa));
            prv_gl3 n = prv_gl3_mul(prv_gl3_mul(a, fa), prv_gl3_pow(fa, P));
            assert_true(prv_gl3_eq(n, prv_gl3_from_base(prv_gl3_norm(a))));
            uint64_t e = rnd();
            assert_true(prv_gl3_eq(prv_gl3_pow(a, e + 1), prv_gl3_mul(prv_gl3_pow(a, e), a)));
            assert_true(prv_gl3_eq(prv_gl3_exp_power_of_2(a, 5), prv_gl3_pow(a, 32)));
        }
    }
    assert_true(prv_gl3_eq(prv_gl3_inv(one), one));
    assert_true(prv_gl3_eq(prv_gl3_mul(x, prv_gl3_inv(x)), one));
}

static void test_ext_batch_inv(void **state)
{
    (void)state;
    enum { N = 300 };
    prv_gl3 a[N], b[N];
    for (int i = 0; i < N; i++) {
        do
            a[i] = rnd_gl3();
        while (prv_gl3_is_zero(a[i]));
        b[i] = a[i];
    }
    prv_gl3_batch_inv(b, N);
    for (int i = 0; i < N; i++)
        assert_true(prv_gl3_eq(prv_gl3_mul(a[i], b[i]), prv_gl3_from_base(1)));
}

/* ---- irreducibility of x^3 - x - 1 over F_p (Rabin's test for degree 3) ---- */

/* Polynomials over F_p as coefficient arrays, low degree first; deg = -1 for 0. */
typedef struct poly {
    prv_gl c[4];
    int deg;
} poly;

static void poly_norm(poly *f)
{
    while (f->deg >= 0 && f->c[f->deg] == 0)
        f->deg--;
}

/* f mod g, g != 0 */
static poly poly_mod(poly f, const poly *g)
{
    prv_gl lead_inv = prv_gl_inv(g->c[g->deg]);
    while (f.deg >= g->deg) {
        prv_gl q = prv_gl_mul(f.c[f.deg], lead_inv);
        int shift = f.deg - g->deg;
        for (int i = 0; i <= g->deg; i++)
            f.c[i + shift] = prv_gl_sub(f.c[i + shift], prv_gl_mul(q, g->c[i]));
        poly_norm(&f);
    }
    return f;
}

static void test_extension_irreducible(void **state)
{
    (void)state;
    prv_gl3 x = { { 0, 1, 0 } };
    /* x^(p^3) ≡ x (mod f): f divides x^(p^3) - x */
    prv_gl3 xp = prv_gl3_pow(x, P);
    prv_gl3 xp3 = prv_gl3_pow(prv_gl3_pow(xp, P), P);
    assert_true(prv_gl3_eq(xp3, x));
    /* x^p ≢ x, and moreover gcd(f, x^p - x) = 1: f has no root in F_p, so (degree 3) it is irreducible */
    assert_false(prv_gl3_eq(xp, x));
    poly f = { { P - 1, P - 1, 0, 1 }, 3 }; /* x^3 - x - 1 */
    poly g = { { xp.c[0], prv_gl_sub(xp.c[1], 1), xp.c[2], 0 }, 2 };
    poly_norm(&g);
    while (g.deg >= 0) {
        poly r = poly_mod(f, &g);
        f = g;
        g = r;
    }
    assert_int_equal(f.deg, 0); /* the gcd is a nonzero constant */
    /* the Frobenius constants baked into field.c are x^p and x^(2p) */
    assert_true(prv_gl3_eq(prv_gl3_frobenius(x), xp));
    assert_true(prv_gl3_eq(prv_gl3_frobenius(prv_gl3_sqr(x)), prv_gl3_sqr(xp)));
    assert_true(prv_gl3_eq(prv_gl3_frobenius(prv_gl3_frobenius(x)), prv_gl3_pow(xp, P)));
}

/* The polynomial gcd helper itself: x^3 - x = x(x-1)(x+1) does share a root with x^2 - 1. */
static void test_gcd_helper_detects_roots(void **state)
{
    (void)state;
    poly f = { { 0, P - 1, 0, 1 }, 3 };
    poly g = { { P - 1, 0, 1, 0 }, 2 };
    while (g.deg >= 0) {
        poly r = poly_mod(f, &g);
        f = g;
        g = r;
    }
    assert_int_equal(f.deg, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_field_properties),
        cmocka_unit_test(test_batch_inv_and_powers),
        cmocka_unit_test(test_roots_of_unity),
        cmocka_unit_test(test_ext_arithmetic),
        cmocka_unit_test(test_ext_batch_inv),
        cmocka_unit_test(test_extension_irreducible),
        cmocka_unit_test(test_gcd_helper_detects_roots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
