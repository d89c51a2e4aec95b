/*
 * prover/airs/p2chain.c — the one-permutation-per-row Poseidon2 chain AIR.
 *
 * The constraints are written once, as a macro over the arithmetic, and
 * instantiated over F_p (prover) and F_p^3 (verifier).
 */
#include "prover/airs/p2chain.h"

#include <string.h>

#include "prover/airs/p2row.h"

#define W PRV_P2ROW_W

/* out[k] for k < 180: the permutation's 172 S-box constraints, then its
 * output equals the next row's input. */
#define P2CHAIN_EVAL(T, ADD, SUB, MUL3, CONST, EXTERNAL, INTERNAL)                                 \
    do {                                                                                           \
        T s[W];                                                                                    \
        unsigned k = 0;                                                                            \
        P2ROW_EVAL(T, ADD, SUB, MUL3, CONST, EXTERNAL, INTERNAL, cur, s);                          \
        for (unsigned j = 0; j < W; j++)                                                           \
            out[k++] = SUB(next[j], s[j]);                                                         \
    } while (0)

static void pc_eval(const prv_air *air, const prv_gl *cur, const prv_gl *next, const prv_gl *per,
                    const prv_gl *pub, prv_gl *out)
{
    P2CHAIN_EVAL(prv_gl, prv_gl_add, prv_gl_sub, prv_p2row_mul3, prv_p2row_const, prv_p2row_external,
                 prv_p2row_internal);
}

static void pc_eval_ext(const prv_air *air, const prv_gl3 *cur, const prv_gl3 *next,
                        const prv_gl3 *per, const prv_gl *pub, prv_gl3 *out)
{
    P2CHAIN_EVAL(prv_gl3, prv_gl3_add, prv_gl3_sub, prv_p2row_mul3_ext, prv_p2row_const_ext,
                 prv_p2row_external_ext, prv_p2row_internal_ext);
}

static size_t pc_boundary(const prv_air *air, unsigned log_n, const prv_gl *pub, prv_air_boundary *out)
{
    uint64_t last = ((uint64_t)1 << log_n) - 1;
    for (unsigned j = 0; j < W; j++) {
        out[j] = (prv_air_boundary){ j, 0, pub[1 + j] };
        out[W + j] = (prv_air_boundary){ j, last, pub[1 + W + j] };
    }
    return 2 * W;
}

static int pc_shape_ok(const prv_air *air, unsigned log_n, const prv_gl *pub)
{
    return log_n >= 1 && pub[0] == ((uint64_t)1 << log_n) - 1;
}

const prv_air prv_p2chain_air = {
    .id = PRV_P2CHAIN_AIR_ID,
    .name = "poseidon2-chain-row",
    .ncols = PRV_P2CHAIN_NCOLS,
    .nconstraints = PRV_P2CHAIN_NCOLS, /* 2 per S-box (172) + 8 links */
    .degree = 3,
    .npublic = PRV_P2CHAIN_NPUBLIC,
    .nperiodic = 0,
    .log_period = 0,
    .max_boundary = 2 * W,
    .eval = pc_eval,
    .eval_ext = pc_eval_ext,
    .boundary = pc_boundary,
    .shape_ok = pc_shape_ok,
};

void prv_p2chain_trace(prv_gl *trace, unsigned log_n, const prv_gl in[8], prv_gl pub[PRV_P2CHAIN_NPUBLIC])
{
    size_t n = (size_t)1 << log_n;
    prv_gl s[W];
    for (unsigned j = 0; j < W; j++)
        s[j] = prv_gl_from_u64(in[j]);
    pub[0] = n - 1;
    memcpy(pub + 1, s, sizeof s);
    for (size_t row = 0; row + 1 < n; row++)
        prv_p2row_fill(trace + row, n, s, s);
    /* Row n-1 only carries the final state. */
    for (unsigned j = 0; j < W; j++)
        trace[j * n + n - 1] = s[j];
    for (unsigned c = W; c < PRV_P2CHAIN_NCOLS; c++)
        trace[c * n + n - 1] = 0;
    memcpy(pub + 1 + W, s, sizeof s);
}
