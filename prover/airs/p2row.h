/*
 * prover/airs/p2row.h — one Poseidon2 width-8 permutation in one trace row:
 * the column layout, the constraint macro and the trace filler shared by the
 * AIRs that compute a permutation per row (prover/airs/p2chain.c,
 * prover/airs/batch.c).
 *
 * Layout (PRV_P2ROW_NCOLS = 180 consecutive columns): the input state x[8];
 * for each of the 4 initial full rounds h[8] = (s + rc)^3 and y[8] = h^2 (s + rc);
 * for each of the 22 partial rounds h, y of lane 0 only; then the 4 final
 * full rounds like the initial ones. Every other intermediate state is a
 * linear function of these, so each constraint has degree <= 3, and the
 * permutation's output is a linear function of the row (the last external
 * layer applied to the last round's y).
 *
 * Not a public API outside prover/airs/: the macro expects the caller's
 * variable names documented at P2ROW_EVAL.
 */
#ifndef ZKCAR_PROVER_AIRS_P2ROW_H
#define ZKCAR_PROVER_AIRS_P2ROW_H

#include <stddef.h>
#include <string.h>

#include "prover/field.h"
#include "prover/poseidon2.h"

#define PRV_P2ROW_W 8
#define PRV_P2ROW_NCOLS 180
/* Constraints per permutation: 2 per S-box (8 x 8 full + 22 partial). */
#define PRV_P2ROW_NCONSTRAINTS 172
#define PRV_P2ROW_HALF_F (PRV_P2_ROUNDS_F / 2)

/* The external layer: the 8 x 8 matrix circ(2·M4, M4) of small integers, so
 * each output is a 128-bit sum of small multiples with one reduction (the
 * same map as prv_p2_external_layer8; tests/prover/test_stark.c compares). */
static const uint8_t prv_p2row_me8[PRV_P2ROW_W][PRV_P2ROW_W] = {
    { 4, 6, 2, 2, 2, 3, 1, 1 }, { 2, 4, 6, 2, 1, 2, 3, 1 }, { 2, 2, 4, 6, 1, 1, 2, 3 },
    { 6, 2, 2, 4, 3, 1, 1, 2 }, { 2, 3, 1, 1, 4, 6, 2, 2 }, { 1, 2, 3, 1, 2, 4, 6, 2 },
    { 1, 1, 2, 3, 2, 2, 4, 6 }, { 3, 1, 1, 2, 6, 2, 2, 4 },
};

/* Forced inline: the constraint macro calls these hundreds of times per
 * row, in the prover's hottest loop. */
#define PRV_P2ROW_INLINE static inline __attribute__((always_inline))

PRV_P2ROW_INLINE void prv_p2row_external(prv_gl *s)
{
    prv_gl out[PRV_P2ROW_W];
    for (unsigned i = 0; i < PRV_P2ROW_W; i++) {
        unsigned __int128 acc = 0;
        for (unsigned j = 0; j < PRV_P2ROW_W; j++)
            acc += (unsigned __int128)s[j] * prv_p2row_me8[i][j];
        out[i] = prv_gl_reduce128(acc);
    }
    memcpy(s, out, sizeof out);
}

PRV_P2ROW_INLINE void prv_p2row_internal(prv_gl *s)
{
    unsigned __int128 acc = 0;
    for (unsigned j = 0; j < PRV_P2ROW_W; j++)
        acc += s[j];
    prv_gl sum = prv_gl_reduce128(acc);
    for (unsigned j = 0; j < PRV_P2ROW_W; j++)
        s[j] = prv_gl_reduce128((unsigned __int128)prv_p2_diag8[j] * s[j] + sum);
}

/* A linear layer over F_p^3 acts coordinate by coordinate. */
static inline void prv_p2row_layer_ext(prv_gl3 *v, void (*layer)(prv_gl *))
{
    for (int c = 0; c < 3; c++) {
        prv_gl t[PRV_P2ROW_W];
        for (unsigned j = 0; j < PRV_P2ROW_W; j++)
            t[j] = v[j].c[c];
        layer(t);
        for (unsigned j = 0; j < PRV_P2ROW_W; j++)
            v[j].c[c] = t[j];
    }
}

static inline void prv_p2row_external_ext(prv_gl3 *v) { prv_p2row_layer_ext(v, prv_p2row_external); }
static inline void prv_p2row_internal_ext(prv_gl3 *v) { prv_p2row_layer_ext(v, prv_p2row_internal); }

static inline prv_gl3 prv_p2row_const_ext(prv_gl a) { return prv_gl3_from_base(a); }
PRV_P2ROW_INLINE prv_gl prv_p2row_const(prv_gl a) { return a; }
PRV_P2ROW_INLINE prv_gl prv_p2row_mul3(prv_gl a, prv_gl b, prv_gl c) { return prv_gl_mul(prv_gl_mul(a, b), c); }
static inline prv_gl3 prv_p2row_mul3_ext(prv_gl3 a, prv_gl3 b, prv_gl3 c)
{
    return prv_gl3_mul(prv_gl3_mul(a, b), c);
}

/*
 * The 172 S-box constraints of the permutation whose 180 columns start at
 * X (an expression of type const T *), appended to out[k++] (out and k are
 * the caller's: T *out, unsigned k). On exit S (a T[8] the caller declares)
 * holds the permutation's output as a linear function of the row. T is the
 * element type, the rest its operations.
 */
#define P2ROW_EVAL(T, ADD, SUB, MUL3, CONST, EXTERNAL, INTERNAL, X, S)                             \
    do {                                                                                           \
        const T *x_ = (X);                                                                         \
        unsigned col_ = PRV_P2ROW_W;                                                               \
        for (unsigned j_ = 0; j_ < PRV_P2ROW_W; j_++)                                              \
            (S)[j_] = x_[j_];                                                                      \
        EXTERNAL(S);                                                                               \
        for (unsigned r_ = 0; r_ < PRV_P2_ROUNDS_F + PRV_P2_ROUNDS_P; r_++) {                      \
            if (r_ < PRV_P2ROW_HALF_F || r_ >= PRV_P2ROW_HALF_F + PRV_P2_ROUNDS_P) {               \
                const prv_gl *rc_ = r_ < PRV_P2ROW_HALF_F                                          \
                                        ? prv_p2_rc8_external_initial[r_]                          \
                                        : prv_p2_rc8_external_final[r_ - PRV_P2ROW_HALF_F -        \
                                                                    PRV_P2_ROUNDS_P];              \
                for (unsigned j_ = 0; j_ < PRV_P2ROW_W; j_++) {                                    \
                    T u_ = ADD((S)[j_], CONST(rc_[j_]));                                           \
                    T h_ = x_[col_ + j_], y_ = x_[col_ + PRV_P2ROW_W + j_];                        \
                    out[k++] = SUB(h_, MUL3(u_, u_, u_));                                          \
                    out[k++] = SUB(y_, MUL3(h_, h_, u_));                                          \
                    (S)[j_] = y_;                                                                  \
                }                                                                                  \
                EXTERNAL(S);                                                                       \
                col_ += 2 * PRV_P2ROW_W;                                                           \
            } else {                                                                               \
                T u_ = ADD((S)[0], CONST(prv_p2_rc8_internal[r_ - PRV_P2ROW_HALF_F]));             \
                T h_ = x_[col_], y_ = x_[col_ + 1];                                                \
                out[k++] = SUB(h_, MUL3(u_, u_, u_));                                              \
                out[k++] = SUB(y_, MUL3(h_, h_, u_));                                              \
                (S)[0] = y_;                                                                       \
                INTERNAL(S);                                                                       \
                col_ += 2;                                                                         \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Writes the 180 columns of the permutation of `in` to col0[c * stride]
 * (c < 180) and its output to out[8] (out may alias in). Pure, thread-safe. */
void prv_p2row_fill(prv_gl *col0, size_t stride, const prv_gl in[PRV_P2ROW_W], prv_gl out[PRV_P2ROW_W]);

#endif
