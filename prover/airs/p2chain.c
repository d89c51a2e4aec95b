/*
 * prover/airs/p2chain.c — the one-permutation-per-row Poseidon2 chain AIR.
 *
 * The constraints are written once, as a macro over the arithmetic, and
 * instantiated over F_p (prover) and F_p^3 (verifier).
 */
#include "prover/airs/p2chain.h"

#include <string.h>

#include "prover/poseidon2.h"

#define W 8
#define HALF_F (PRV_P2_ROUNDS_F / 2)

/* The linear layers, the same maps as prv_p2_external_layer8 /
 * prv_p2_internal_layer8 (the tests compare them), with one reduction per
 * output: the external layer is the 8 x 8 matrix circ(2·M4, M4) of small
 * integers, so each output is a 128-bit sum of small multiples. */
static const uint8_t me8[W][W] = {
    { 4, 6, 2, 2, 2, 3, 1, 1 }, { 2, 4, 6, 2, 1, 2, 3, 1 }, { 2, 2, 4, 6, 1, 1, 2, 3 },
    { 6, 2, 2, 4, 3, 1, 1, 2 }, { 2, 3, 1, 1, 4, 6, 2, 2 }, { 1, 2, 3, 1, 2, 4, 6, 2 },
    { 1, 1, 2, 3, 2, 2, 4, 6 }, { 3, 1, 1, 2, 6, 2, 2, 4 },
};

static void fast_external(prv_gl *s)
{
    prv_gl out[W];
    for (unsigned i = 0; i < W; i++) {
        unsigned __int128 acc = 0;
        for (unsigned j = 0; j < W; j++)
            acc += (unsigned __int128)s[j] * me8[i][j];
        out[i] = prv_gl_reduce128(acc);
    }
    memcpy(s, out, sizeof out);
}

static void fast_internal(prv_gl *s)
{
    unsigned __int128 acc = 0;
    for (unsigned j = 0; j < W; j++)
        acc += s[j];
    prv_gl sum = prv_gl_reduce128(acc);
    for (unsigned j = 0; j < W; j++)
        s[j] = prv_gl_reduce128((unsigned __int128)prv_p2_diag8[j] * s[j] + sum);
}

/* A linear layer over F_p^3 acts coordinate by coordinate. */
static void layer_ext(prv_gl3 *v, void (*layer)(prv_gl *))
{
    for (int c = 0; c < 3; c++) {
        prv_gl t[W];
        for (unsigned j = 0; j < W; j++)
            t[j] = v[j].c[c];
        layer(t);
        for (unsigned j = 0; j < W; j++)
            v[j].c[c] = t[j];
    }
}

static void ext_external(prv_gl3 *v) { layer_ext(v, fast_external); }
static void ext_internal(prv_gl3 *v) { layer_ext(v, fast_internal); }

static prv_gl3 gl3_const(prv_gl a) { return prv_gl3_from_base(a); }
static prv_gl gl_const(prv_gl a) { return a; }
static prv_gl gl_mul3(prv_gl a, prv_gl b, prv_gl c) { return prv_gl_mul(prv_gl_mul(a, b), c); }
static prv_gl3 gl3_mul3(prv_gl3 a, prv_gl3 b, prv_gl3 c) { return prv_gl3_mul(prv_gl3_mul(a, b), c); }

/* out[k] for k < 180; T the element type, the rest its operations. */
#define P2CHAIN_EVAL(T, ADD, SUB, MUL3, CONST, EXTERNAL, INTERNAL)                                 \
    do {                                                                                           \
        T s[W];                                                                                    \
        unsigned col = W, k = 0;                                                                   \
        for (unsigned j = 0; j < W; j++)                                                           \
            s[j] = cur[j];                                                                         \
        EXTERNAL(s);                                                                               \
        for (unsigned r = 0; r < PRV_P2_ROUNDS_F + PRV_P2_ROUNDS_P; r++) {                         \
            if (r < HALF_F || r >= HALF_F + PRV_P2_ROUNDS_P) {                                     \
                const prv_gl *rc = r < HALF_F ? prv_p2_rc8_external_initial[r]                     \
                                              : prv_p2_rc8_external_final[r - HALF_F - PRV_P2_ROUNDS_P]; \
                for (unsigned j = 0; j < W; j++) {                                                 \
                    T u = ADD(s[j], CONST(rc[j]));                                                 \
                    T h = cur[col + j], y = cur[col + W + j];                                      \
                    out[k++] = SUB(h, MUL3(u, u, u));                                              \
                    out[k++] = SUB(y, MUL3(h, h, u));                                              \
                    s[j] = y;                                                                      \
                }                                                                                  \
                EXTERNAL(s);                                                                       \
                col += 2 * W;                                                                      \
            } else {                                                                               \
                T u = ADD(s[0], CONST(prv_p2_rc8_internal[r - HALF_F]));                           \
                T h = cur[col], y = cur[col + 1];                                                  \
                out[k++] = SUB(h, MUL3(u, u, u));                                                  \
                out[k++] = SUB(y, MUL3(h, h, u));                                                  \
                s[0] = y;                                                                          \
                INTERNAL(s);                                                                       \
                col += 2;                                                                          \
            }                                                                                      \
        }                                                                                          \
        for (unsigned j = 0; j < W; j++)                                                           \
            out[k++] = SUB(next[j], s[j]);                                                         \
    } while (0)

static void pc_eval(const prv_air *air, const prv_gl *cur, const prv_gl *next, const prv_gl *per,
                    const prv_gl *pub, prv_gl *out)
{
    P2CHAIN_EVAL(prv_gl, prv_gl_add, prv_gl_sub, gl_mul3, gl_const, fast_external, fast_internal);
}

static void pc_eval_ext(const prv_air *air, const prv_gl3 *cur, const prv_gl3 *next,
                        const prv_gl3 *per, const prv_gl *pub, prv_gl3 *out)
{
    P2CHAIN_EVAL(prv_gl3, prv_gl3_add, prv_gl3_sub, gl3_mul3, gl3_const, ext_external, ext_internal);
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
    for (size_t row = 0; row < n; row++) {
        for (unsigned j = 0; j < W; j++)
            trace[j * n + row] = s[j];
        if (row == n - 1) {
            for (unsigned c = W; c < PRV_P2CHAIN_NCOLS; c++)
                trace[c * n + row] = 0;
            break;
        }
        unsigned col = W;
        prv_p2_external_layer8(s);
        for (unsigned r = 0; r < PRV_P2_ROUNDS_F + PRV_P2_ROUNDS_P; r++) {
            if (r < HALF_F || r >= HALF_F + PRV_P2_ROUNDS_P) {
                const prv_gl *rc = r < HALF_F ? prv_p2_rc8_external_initial[r]
                                              : prv_p2_rc8_external_final[r - HALF_F - PRV_P2_ROUNDS_P];
                for (unsigned j = 0; j < W; j++) {
                    prv_gl u = prv_gl_add(s[j], rc[j]);
                    prv_gl h = prv_gl_mul(prv_gl_sqr(u), u);
                    prv_gl y = prv_gl_mul(prv_gl_sqr(h), u);
                    trace[(col + j) * n + row] = h;
                    trace[(col + W + j) * n + row] = y;
                    s[j] = y;
                }
                prv_p2_external_layer8(s);
                col += 2 * W;
            } else {
                prv_gl u = prv_gl_add(s[0], prv_p2_rc8_internal[r - HALF_F]);
                prv_gl h = prv_gl_mul(prv_gl_sqr(u), u);
                prv_gl y = prv_gl_mul(prv_gl_sqr(h), u);
                trace[col * n + row] = h;
                trace[(col + 1) * n + row] = y;
                s[0] = y;
                prv_p2_internal_layer8(s);
                col += 2;
            }
        }
    }
    for (unsigned j = 0; j < W; j++)
        pub[1 + W + j] = trace[j * n + n - 1];
}
