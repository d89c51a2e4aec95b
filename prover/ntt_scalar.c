/* prover/ntt_scalar.c — the portable kernels of the NTT (see ntt_core.h). */
#include "prover/field.h"
#include "prover/ntt_internal.h"

/* The scalar working form is the canonical value itself. */
static void to_internal(prv_gl *a, size_t n)
{
    (void)a;
    (void)n;
}

static void bfly_run(prv_gl *restrict x, prv_gl *restrict y, const prv_gl *restrict w, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        prv_gl u = x[i], v = y[i];
        x[i] = prv_gl_add(u, v);
        y[i] = prv_gl_mul(prv_gl_sub(u, v), w[i]);
    }
}

/* Two radix-2 stages (the AVX2 kernel's w3 shortcut is not needed here). */
static void bfly4_run(prv_gl *a0, prv_gl *a1, prv_gl *a2, prv_gl *a3, const prv_gl *w1, const prv_gl *w1b,
                      const prv_gl *w2, const prv_gl *w3, size_t q)
{
    (void)w3;
    bfly_run(a0, a2, w1, q);
    bfly_run(a1, a3, w1b, q);
    bfly_run(a0, a1, w2, q);
    bfly_run(a2, a3, w2, q);
}

static void mul_run(prv_gl *restrict y, const prv_gl *restrict x, const prv_gl *restrict w, size_t len)
{
    for (size_t i = 0; i < len; i++)
        y[i] = prv_gl_mul(x[i], w[i]);
}

static void last2(prv_gl *a, size_t n, prv_gl w4)
{
    for (size_t g = 0; g < n; g += 4) {
        prv_gl x0 = a[g], x1 = a[g + 1], x2 = a[g + 2], x3 = a[g + 3];
        prv_gl y0 = prv_gl_add(x0, x2), y1 = prv_gl_add(x1, x3);
        prv_gl y2 = prv_gl_sub(x0, x2), y3 = prv_gl_mul(prv_gl_sub(x1, x3), w4);
        a[g] = prv_gl_add(y0, y1);
        a[g + 1] = prv_gl_sub(y0, y1);
        a[g + 2] = prv_gl_add(y2, y3);
        a[g + 3] = prv_gl_sub(y2, y3);
    }
}

static void last4(prv_gl *a, size_t n, const prv_gl *t8, const prv_gl *t4, prv_gl w4)
{
    for (size_t g = 0; g < n; g += 16) {
        bfly_run(a + g, a + g + 8, t8, 8);
        bfly_run(a + g, a + g + 4, t4, 4);
        bfly_run(a + g + 8, a + g + 12, t4, 4);
    }
    last2(a, n, w4);
}

void prv_ntt_neg_scale_scalar(prv_gl *a, size_t n, size_t begin, size_t end, prv_gl s)
{
    for (size_t i = begin; i < end; i++) {
        prv_gl t = a[i];
        a[i] = prv_gl_mul(a[n - i], s);
        a[n - i] = prv_gl_mul(t, s);
    }
}

void prv_ntt_mul_powers_scalar(prv_gl *a, size_t n, prv_gl start, prv_gl step)
{
    prv_gl p = start;
    for (size_t i = 0; i < n; i++) {
        a[i] = prv_gl_mul(a[i], p);
        p = prv_gl_mul(p, step);
    }
}

#define NTT_DIF_NAME prv_ntt_dif_scalar
#include "prover/ntt_core.h"
