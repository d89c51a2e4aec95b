/*
 * prover/airs/fib.h — example AIR: the Fibonacci sequence.
 *
 * Two columns (a, b); each row steps (a, b) -> (b, a + b). Public inputs:
 * [log_n, a_0, b_0, b_last]: the trace has 2^log_n rows, starts at (a_0, b_0)
 * and its last row has b = b_last.
 */
#ifndef ZKCAR_PROVER_AIRS_FIB_H
#define ZKCAR_PROVER_AIRS_FIB_H

#include "prover/air.h"

#define PRV_FIB_AIR_ID 0x66696201u /* "fib" 1 */
#define PRV_FIB_NPUBLIC 4

extern const prv_air prv_fib_air;

/* Fills trace (2 columns of 2^log_n rows, column-major) from (a0, b0) and
 * writes the public inputs [log_n, a0, b0, b_last] into pub. */
void prv_fib_trace(prv_gl *trace, unsigned log_n, prv_gl a0, prv_gl b0, prv_gl pub[PRV_FIB_NPUBLIC]);

#endif
