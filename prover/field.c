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

prv_gl3 prv_gl3_inv(prv_gl3 a)
{
    assert(!prv_gl3_is_zero(a) && "inverse of zero");
    /* a^-1 = a^(p^3 - 2), with p^3 - 2 = (p - 1)(p^2 + p + 1) + (p + 1) - 2 ... computed as
     * a^(p^3-2) = (a^(p^2+p+1))^(p-1) * a^(p-1) ... simpler and still cheap: square-and-multiply
     * over the 192-bit exponent p^3 - 2, little-endian 64-bit limbs. */
    unsigned __int128 p2 = (unsigned __int128)PRV_GL_P * PRV_GL_P; /* fits: p^2 < 2^128 */
    /* p^3 = p2 * p as 192 bits */
    uint64_t l0, l1, l2;
    unsigned __int128 t0 = (unsigned __int128)(uint64_t)p2 * PRV_GL_P;
    unsigned __int128 t1 = (unsigned __int128)(uint64_t)(p2 >> 64) * PRV_GL_P + (t0 >> 64);
    l0 = (uint64_t)t0;
    l1 = (uint64_t)t1;
    l2 = (uint64_t)(t1 >> 64);
    /* subtract 2 */
    if (l0 >= 2) {
        l0 -= 2;
    } else {
        l0 -= 2;
        if (l1-- == 0)
            l2--;
    }
    uint64_t limbs[3] = { l0, l1, l2 };
    prv_gl3 r = prv_gl3_from_base(1);
    for (int li = 2; li >= 0; li--)
        for (int b = 63; b >= 0; b--) {
            r = prv_gl3_mul(r, r);
            if ((limbs[li] >> b) & 1)
                r = prv_gl3_mul(r, a);
        }
    return r;
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
