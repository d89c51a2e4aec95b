/*
 * prover/fri.c — FRI folding.
 */
#include "prover/fri.h"

#include <assert.h>

#include "prover/parallel.h"

/* 1/2 in F_p. */
#define GL_HALF 0x7FFFFFFF80000001ULL

/* zinv = 1/zeta for the primitive 2^log_arity-th root zeta. */
static prv_gl3 fold_with(const prv_gl3 *vals, unsigned log_arity, prv_gl x_inv, prv_gl3 beta,
                         prv_gl zinv)
{
    prv_gl3 v[1u << PRV_FRI_MAX_LOG_ARITY];
    unsigned m = 1u << log_arity;
    for (unsigned t = 0; t < m; t++)
        v[t] = vals[t];
    /* zinv is zeta_r^-1 for the current sub-coset; its points are x^(2^r)·zeta_r^t. */
    prv_gl xi = x_inv;
    for (unsigned r = 0; r < log_arity; r++) {
        unsigned half = m >> 1;
        /* Pairs (t, t + half) are (y, -y), y = x^(2^r)·zeta_r^t. */
        prv_gl yinv = prv_gl_mul(xi, GL_HALF); /* 1/(2y) for t = 0 */
        for (unsigned t = 0; t < half; t++) {
            prv_gl3 a = v[t], b = v[t + half];
            prv_gl3 sum = prv_gl3_mul_base(prv_gl3_add(a, b), GL_HALF);
            prv_gl3 diff = prv_gl3_mul_base(prv_gl3_sub(a, b), yinv);
            v[t] = prv_gl3_add(sum, prv_gl3_mul(beta, diff));
            yinv = prv_gl_mul(yinv, zinv);
        }
        m = half;
        xi = prv_gl_sqr(xi);
        zinv = prv_gl_sqr(zinv);
        beta = prv_gl3_mul(beta, beta);
    }
    return v[0];
}

static prv_gl zeta_inv(unsigned log_arity)
{
    return prv_gl_pow(prv_gl_root_of_unity(log_arity), (1u << log_arity) - 1); /* zeta^m = 1 */
}

prv_gl3 prv_fri_fold(const prv_gl3 *vals, unsigned log_arity, prv_gl x_inv, prv_gl3 beta)
{
    assert(log_arity >= 1 && log_arity <= PRV_FRI_MAX_LOG_ARITY);
    return fold_with(vals, log_arity, x_inv, beta, zeta_inv(log_arity));
}

struct fold_ctx {
    prv_gl3 *out;
    const prv_gl3 *in;
    unsigned log_size, log_arity;
    prv_gl shift_inv, w_inv;
    prv_gl3 beta;
};

static void fold_range(void *vctx, size_t begin, size_t end)
{
    struct fold_ctx *c = vctx;
    size_t stride = ((size_t)1 << c->log_size) >> c->log_arity;
    unsigned m = 1u << c->log_arity;
    prv_gl xinv = prv_gl_mul(c->shift_inv, prv_gl_pow(c->w_inv, begin));
    prv_gl3 vals[1u << PRV_FRI_MAX_LOG_ARITY];
    prv_gl zinv = zeta_inv(c->log_arity);
    for (size_t j = begin; j < end; j++) {
        for (unsigned t = 0; t < m; t++)
            vals[t] = c->in[j + t * stride];
        c->out[j] = fold_with(vals, c->log_arity, xinv, c->beta, zinv);
        xinv = prv_gl_mul(xinv, c->w_inv);
    }
}

void prv_fri_fold_layer(prv_gl3 *out, const prv_gl3 *in, unsigned log_size, unsigned log_arity,
                        prv_gl shift, prv_gl3 beta)
{
    struct fold_ctx c = { out, in, log_size, log_arity, prv_gl_inv(shift),
                          prv_gl_inv(prv_gl_root_of_unity(log_size)), beta };
    prv_parallel_for(((size_t)1 << log_size) >> log_arity, 1024, fold_range, &c);
}
