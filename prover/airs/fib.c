/*
 * prover/airs/fib.c — the Fibonacci AIR.
 */
#include "prover/airs/fib.h"

static void fib_eval(const prv_air *air, const prv_gl *cur, const prv_gl *next, const prv_gl *per,
                     const prv_gl *pub, prv_gl *out)
{
    out[0] = prv_gl_sub(next[0], cur[1]);
    out[1] = prv_gl_sub(next[1], prv_gl_add(cur[0], cur[1]));
}

static void fib_eval_ext(const prv_air *air, const prv_gl3 *cur, const prv_gl3 *next,
                         const prv_gl3 *per, const prv_gl *pub, prv_gl3 *out)
{
    out[0] = prv_gl3_sub(next[0], cur[1]);
    out[1] = prv_gl3_sub(next[1], prv_gl3_add(cur[0], cur[1]));
}

static size_t fib_boundary(const prv_air *air, unsigned log_n, const prv_gl *pub, prv_air_boundary *out)
{
    out[0] = (prv_air_boundary){ 0, 0, pub[1] };
    out[1] = (prv_air_boundary){ 1, 0, pub[2] };
    out[2] = (prv_air_boundary){ 1, ((uint64_t)1 << log_n) - 1, pub[3] };
    return 3;
}

static int fib_shape_ok(const prv_air *air, unsigned log_n, const prv_gl *pub) { return pub[0] == log_n; }

const prv_air prv_fib_air = {
    .id = PRV_FIB_AIR_ID,
    .name = "fibonacci",
    .ncols = 2,
    .nconstraints = 2,
    .degree = 1,
    .npublic = PRV_FIB_NPUBLIC,
    .nperiodic = 0,
    .log_period = 0,
    .max_boundary = 3,
    .eval = fib_eval,
    .eval_ext = fib_eval_ext,
    .boundary = fib_boundary,
    .shape_ok = fib_shape_ok,
};

void prv_fib_trace(prv_gl *trace, unsigned log_n, prv_gl a0, prv_gl b0, prv_gl pub[PRV_FIB_NPUBLIC])
{
    size_t n = (size_t)1 << log_n;
    prv_gl a = prv_gl_from_u64(a0), b = prv_gl_from_u64(b0);
    pub[0] = log_n;
    pub[1] = a;
    pub[2] = b;
    for (size_t i = 0; i < n; i++) {
        trace[i] = a;
        trace[n + i] = b;
        prv_gl t = prv_gl_add(a, b);
        a = b;
        b = t;
    }
    pub[3] = trace[2 * n - 1];
}
