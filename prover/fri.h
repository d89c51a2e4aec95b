/*
 * prover/fri.h — FRI folding over F_p^3, shared by the prover and verifier.
 *
 * A layer of 2^log_size evaluations lives on the coset s·<w> (w a primitive
 * 2^log_size-th root of unity, natural order). Folding by arity a = 2^log_arity
 * groups the a points x·zeta^t (zeta = w^(size/a), a primitive a-th root), whose
 * indices are j + t·size/a, and maps them to the point x^a of the next layer
 * (index j, coset s^a·<w^a>). With f(X) = sum_k X^k f_k(X^a), the folded value
 * is sum_k beta^k f_k(x^a) — computed as log_arity binary folds with beta,
 * beta^2, beta^4, ...
 */
#ifndef ZKCAR_PROVER_FRI_H
#define ZKCAR_PROVER_FRI_H

#include <stddef.h>

#include "prover/field.h"

#define PRV_FRI_MAX_LOG_ARITY 4

/* Folds the a values vals[t] = f(x·zeta^t) (t < 2^log_arity) at challenge
 * beta, given x_inv = 1/x. Pure, thread-safe. log_arity 1..PRV_FRI_MAX_LOG_ARITY. */
prv_gl3 prv_fri_fold(const prv_gl3 *vals, unsigned log_arity, prv_gl x_inv, prv_gl3 beta);

/* Folds a whole layer: in has 2^log_size values on s·<w>; writes the
 * 2^(log_size - log_arity) values of the next layer into out (must not
 * overlap in). Uses the thread pool. */
void prv_fri_fold_layer(prv_gl3 *out, const prv_gl3 *in, unsigned log_size, unsigned log_arity,
                        prv_gl shift, prv_gl3 beta);

#endif
