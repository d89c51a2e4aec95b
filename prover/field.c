#include "prover/field.h"

#include <assert.h>
#include <stdlib.h>

prv_gl prv_gl_pow(prv_gl a, uint64_t e)
{
    prv_gl r = 1;
    while (e) {
        if (e & 1)
            r = prv_gl_mul(r, a);
        a = prv_gl_sqr(a);
        e >>= 1;
    }
    return r;
}

prv_gl prv_gl_exp_power_of_2(prv_gl a, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        a = prv_gl_sqr(a);
    return a;
}

void prv_gl_powers(prv_gl *out, size_t n, prv_gl start, prv_gl step)
{
    prv_gl x = start;
    for (size_t i = 0; i < n; i++) {
        out[i] = x;
        x = prv_gl_mul(x, step);
    }
}

prv_gl prv_gl_inv(prv_gl a)
{
    assert(a != 0 && "inverse of zero");
    return prv_gl_pow(a, PRV_GL_P - 2);
}

void prv_gl_batch_inv(prv_gl *a, size_t n)
{
    if (n == 0)
        return;
    prv_gl *prefix = malloc(n * sizeof *prefix);
    if (prefix == NULL)
        abort();
    prv_gl acc = 1;
    for (size_t i = 0; i < n; i++) {
        prefix[i] = acc;
        acc = prv_gl_mul(acc, a[i]);
    }
    prv_gl inv = prv_gl_inv(acc);
    for (size_t i = n; i-- > 0;) {
        prv_gl ai = a[i];
        a[i] = prv_gl_mul(inv, prefix[i]);
        inv = prv_gl_mul(inv, ai);
    }
    free(prefix);
}

prv_gl prv_gl_root_of_unity(unsigned log_n)
{
    assert(log_n <= PRV_GL_TWO_ADICITY);
    /* g^((p-1)/2^32) generates the 2^32-th roots; square down to the order asked. */
    prv_gl w = prv_gl_pow(PRV_GL_GENERATOR, (PRV_GL_P - 1) >> PRV_GL_TWO_ADICITY);
    for (unsigned i = log_n; i < PRV_GL_TWO_ADICITY; i++)
        w = prv_gl_sqr(w);
    return w;
}

prv_gl3 prv_gl3_pow(prv_gl3 a, uint64_t e)
{
    prv_gl3 r = prv_gl3_from_base(1);
    while (e) {
        if (e & 1)
            r = prv_gl3_mul(r, a);
        a = prv_gl3_mul(a, a);
        e >>= 1;
    }
    return r;
}

/*
 * x^p, x^(2p), x^(p^2), x^(2p^2) modulo x^3 - x - 1, computed once by
 * exponentiation (tests/prover/test_field.c recomputes them with prv_gl3_pow).
 * φ(c0 + c1 x + c2 x^2) = c0 + c1 φ(x) + c2 φ(x)^2 because φ is F_p-linear.
 */
static const prv_gl3 frob_x = { { 0x93528dfff4c6373dULL, 0x8b79bf80a6bdfc48ULL, 0xa3042afe90d6ad26ULL } };
static const prv_gl3 frob_x2 = { { 0x5cfbd5006f2952dcULL, 0xc9a946ff7a631b9fULL, 0x7486407e594203b8ULL } };
static const prv_gl3 frob2_x = { { 0x6cad71ff0b39c8c4ULL, 0x7486407e594203b8ULL, 0x5cfbd5006f2952dbULL } };
static const prv_gl3 frob2_x2 = { { 0xa3042afe90d6ad27ULL, 0x3656b8ff859ce462ULL, 0x8b79bf80a6bdfc48ULL } };

static prv_gl3 apply_linear(prv_gl3 a, prv_gl3 img_x, prv_gl3 img_x2)
{
    prv_gl3 r = prv_gl3_from_base(a.c[0]);
    r = prv_gl3_add(r, prv_gl3_mul_base(img_x, a.c[1]));
    return prv_gl3_add(r, prv_gl3_mul_base(img_x2, a.c[2]));
}

prv_gl3 prv_gl3_frobenius(prv_gl3 a) { return apply_linear(a, frob_x, frob_x2); }

/* a·t where the product is known to lie in F_p: only its constant coefficient. */
static prv_gl mul_const_coeff(prv_gl3 a, prv_gl3 t)
{
    /* c0 + c3 with c3 = a1 t2 + a2 t1 (x^3 = x + 1; x^4 has no constant term) */
    return prv_gl_add(prv_gl_mul(a.c[0], t.c[0]),
                      prv_gl_add(prv_gl_mul(a.c[1], t.c[2]), prv_gl_mul(a.c[2], t.c[1])));
}

prv_gl prv_gl3_norm(prv_gl3 a)
{
    prv_gl3 t = prv_gl3_mul(prv_gl3_frobenius(a), apply_linear(a, frob2_x, frob2_x2));
    return mul_const_coeff(a, t);
}

prv_gl3 prv_gl3_inv(prv_gl3 a)
{
    assert(!prv_gl3_is_zero(a) && "inverse of zero");
    prv_gl3 t = prv_gl3_mul(prv_gl3_frobenius(a), apply_linear(a, frob2_x, frob2_x2));
    prv_gl n = mul_const_coeff(a, t);
    return prv_gl3_mul_base(t, prv_gl_inv(n));
}

prv_gl3 prv_gl3_exp_power_of_2(prv_gl3 a, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        a = prv_gl3_sqr(a);
    return a;
}

void prv_gl3_batch_inv(prv_gl3 *a, size_t n)
{
    if (n == 0)
        return;
    prv_gl3 *prefix = malloc(n * sizeof *prefix);
    if (prefix == NULL)
        abort();
    prv_gl3 acc = prv_gl3_from_base(1);
    for (size_t i = 0; i < n; i++) {
        prefix[i] = acc;
        acc = prv_gl3_mul(acc, a[i]);
    }
    prv_gl3 inv = prv_gl3_inv(acc);
    for (size_t i = n; i-- > 0;) {
        prv_gl3 ai = a[i];
        a[i] = prv_gl3_mul(inv, prefix[i]);
        inv = prv_gl3_mul(inv, ai);
    }
    free(prefix);
}
