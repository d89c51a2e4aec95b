/*
 * prover/soundness.h — provable soundness of the STARK (Johnson-bound regime).
 *
 * Follows ethereum/soundcalc (soundcalc/zkvms/fri_based_vm.py and
 * soundcalc/proxgaps/johnson_bound.py): the round-by-round errors of
 *   - batching the committed polynomials into the DEEP composition polynomial
 *     (powers of one challenge), BCHKS25 Theorem 4.2 times (batch_size - 1);
 *   - each FRI commit (folding) round, the same theorem times (arity - 1) at
 *     that round's dimension;
 *   - the FRI query phase, (1 - theta)^queries * 2^-grinding with proximity
 *     parameter theta = 1 - sqrt(rho) - eta, gap eta = sqrt(rho)/100
 *     (soundcalc's default for fields above 2^150, which F_p^3 is);
 *   - ALI (L * columns / |F|) and DEEP (L * (d*(n + k - 1) + n - 1) / (|F| - n - D)),
 *     with list size L = 1 / (2 * eta * sqrt(rho)),
 * each turned into bits as floor(-log2(error)); the total is their minimum.
 * |F| = p^3 (challenges live in the cubic extension). See docs/prover.md.
 */
#ifndef ZKCAR_PROVER_SOUNDNESS_H
#define ZKCAR_PROVER_SOUNDNESS_H

#include <stdint.h>

#define PRV_SOUNDNESS_MAX_ROUNDS 32

typedef struct prv_soundness_input {
    unsigned log_trace_len;   /* n = 2^log_trace_len rows */
    unsigned ncols;           /* trace columns */
    unsigned batch_size;      /* polynomials batched by the DEEP step (columns + quotient parts) */
    unsigned degree;          /* maximal constraint degree */
    unsigned opening_points;  /* points each column is opened at (z and g*z: 2) */
    unsigned log_blowup;      /* rho = 2^-log_blowup */
    unsigned num_queries;
    unsigned grinding_bits;   /* query-phase proof of work */
    unsigned fri_log_arity;   /* folding factor 2^fri_log_arity in every round */
    unsigned fri_rounds;      /* number of folding rounds */
} prv_soundness_input;

typedef struct prv_soundness_report {
    int batching, ali, deep, query;
    int commit[PRV_SOUNDNESS_MAX_ROUNDS];
    unsigned ncommit;
    int total;      /* minimum of all the above: provable bits */
    int conjectured; /* the old "toy problem" figure, for reference only */
} prv_soundness_report;

/* Computes the report for `in`; returns report->total (provable bits, JBR).
 * `report` may be NULL. Pure, thread-safe. */
int prv_soundness_bits(const prv_soundness_input *in, prv_soundness_report *report);

#endif
