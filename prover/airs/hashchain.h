/*
 * prover/airs/hashchain.h — example AIR: a chain of Poseidon2 width-8
 * permutations, s_{k+1} = permute8(s_k) (prover/poseidon2.h).
 *
 * One step per row, 32 rows per permutation: row 0 of a block holds the
 * input, and row p+1 is row p after step p of the schedule
 *   p = 0: external layer;  1..4: full rounds;  5..26: partial rounds;
 *   27..30: full rounds;    31: copy (the output becomes the next input),
 * so row 31 of a block holds the permutation's output.
 * Columns (24): x[8] the state, h[8] = (x + rc)^3, y[8] = h^2 (x + rc), so
 * every constraint has degree <= 3. Periodic columns (period 32): the round
 * constants rc[8] of each row, and selectors for the four kinds of step.
 *
 * Public inputs (17): [k, input[8], output[8]] with k = 2^log_n / 32
 * permutations.
 */
#ifndef ZKCAR_PROVER_AIRS_HASHCHAIN_H
#define ZKCAR_PROVER_AIRS_HASHCHAIN_H

#include "prover/air.h"

#define PRV_HASHCHAIN_AIR_ID 0x68636801u /* "hch" 1 */
#define PRV_HASHCHAIN_NCOLS 24
#define PRV_HASHCHAIN_NPUBLIC 17
#define PRV_HASHCHAIN_LOG_ROWS_PER_PERM 5

extern const prv_air prv_hashchain_air;

/* Fills trace (24 columns of 2^log_n rows, column-major; log_n >= 5) for the
 * chain of 2^(log_n - 5) permutations starting at `in`, and writes the public
 * inputs into pub. Single-threaded; thread-safe. */
void prv_hashchain_trace(prv_gl *trace, unsigned log_n, const prv_gl in[8],
                         prv_gl pub[PRV_HASHCHAIN_NPUBLIC]);

#endif
