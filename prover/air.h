/*
 * prover/air.h — the generic AIR (algebraic intermediate representation)
 * interface of the STARK.
 *
 * A statement is a trace of n = 2^log_n rows by `ncols` base-field columns,
 * plus `npublic` public inputs. It holds when
 *   - every transition constraint C_k(cur, next, periodic) = 0 on every pair of
 *     consecutive rows (row r and row r+1, for r = 0 .. n-2), and
 *   - every boundary constraint trace[col][row] = value holds.
 * Constraints are polynomials of total degree <= air->degree <= 3 in the
 * entries of cur, next and the periodic columns (a periodic column counts like
 * a trace column for the degree). The AIR writes each constraint twice: over
 * F_p (eval, called by the prover on every point of the low-degree extension,
 * and on every row to check the trace) and over F_p^3 (eval_ext, called by the
 * verifier at the out-of-domain point). The two must be the same polynomial.
 *
 * Periodic columns: column k has 2^log_period values v_k[0..]; at trace row r
 * it holds v_k[r mod 2^log_period] (round constants, selectors). They cost the
 * verifier O(2^log_period) each, so they are the way to put fixed,
 * preprocessed data into a statement; log_period <= log_n.
 *
 * All callbacks must be pure and thread-safe: the prover calls eval from
 * several threads at once.
 *
 * Cost model: eval runs on n trace rows (the prover's own trace check) and on
 * 2n points of the extension (the quotient), so it is the AIR's hot loop;
 * eval_ext runs once per proof, in the verifier. prover/airs/p2chain.c shows
 * how to write the constraints once, as a macro over the arithmetic, and
 * instantiate it for both fields.
 */
#ifndef ZKCAR_PROVER_AIR_H
#define ZKCAR_PROVER_AIR_H

#include <stddef.h>
#include <stdint.h>

#include "prover/field.h"

#define PRV_AIR_MAX_DEGREE 3
#define PRV_AIR_MAX_COLS 4096
#define PRV_AIR_MAX_CONSTRAINTS 8192
#define PRV_AIR_MAX_PERIODIC 256
#define PRV_AIR_MAX_PUBLIC 4096
#define PRV_AIR_MAX_BOUNDARY 4096

/* trace[col][row] = value. */
typedef struct prv_air_boundary {
    uint32_t col;
    uint64_t row;
    prv_gl value;
} prv_air_boundary;

typedef struct prv_air prv_air;

struct prv_air {
    uint32_t id;            /* distinct per AIR; bound into the transcript and the proof */
    const char *name;
    unsigned ncols;         /* trace columns, 1..PRV_AIR_MAX_COLS */
    unsigned nconstraints;  /* transition constraints, 1..PRV_AIR_MAX_CONSTRAINTS */
    unsigned degree;        /* maximal constraint degree, 1..3 */
    unsigned npublic;       /* public inputs, 0..PRV_AIR_MAX_PUBLIC */
    unsigned nperiodic;     /* periodic columns, 0..PRV_AIR_MAX_PERIODIC */
    unsigned log_period;    /* their common period is 2^log_period */
    unsigned max_boundary;  /* upper bound on what `boundary` returns */
    const void *ctx;        /* for the callbacks */

    /* Writes the periodic columns: out[k * 2^log_period + i] = v_k[i]. */
    void (*periodic)(const prv_air *air, prv_gl *out);

    /* out[0..nconstraints) = C_k(cur, next, per) with cur, next: ncols values
     * of two consecutive rows, per: nperiodic values, pub: npublic values. */
    void (*eval)(const prv_air *air, const prv_gl *cur, const prv_gl *next, const prv_gl *per,
                 const prv_gl *pub, prv_gl *out);
    void (*eval_ext)(const prv_air *air, const prv_gl3 *cur, const prv_gl3 *next,
                     const prv_gl3 *per, const prv_gl *pub, prv_gl3 *out);

    /* Writes the boundary constraints for a trace of 2^log_n rows and these
     * public inputs into out (room for max_boundary); returns how many. Rows
     * must be < 2^log_n and columns < ncols. */
    size_t (*boundary)(const prv_air *air, unsigned log_n, const prv_gl *pub, prv_air_boundary *out);

    /* 1 if a trace of 2^log_n rows with these public inputs is a statement of
     * this AIR (e.g. the row count the public inputs imply), 0 if not. The
     * verifier rejects a proof whose shape fails this check. */
    int (*shape_ok)(const prv_air *air, unsigned log_n, const prv_gl *pub);
};

#endif
