/*
 * prover/airs/p2chain.h — example AIR: a chain of Poseidon2 width-8
 * permutations with ONE PERMUTATION PER ROW (the layout of Plonky3's
 * Poseidon2 AIR), s_{k+1} = permute8(s_k).
 *
 * Columns (180): the input state x[8]; for each of the 4 + 4 full rounds
 * h[8] = (s + rc)^3 and y[8] = h^2 (s + rc); for each of the 22 partial
 * rounds h, y of lane 0 only. Every other intermediate state is a linear
 * function of these, so each constraint has degree <= 3. Rows 0 .. n-2 each
 * compute one permutation, whose output must equal the next row's input;
 * row n-1 only carries the final state in x (its other columns are free).
 * A trace of n rows therefore proves a chain of n - 1 permutations.
 *
 * Public inputs (17): [n - 1, input[8], output[8]].
 */
#ifndef ZKCAR_PROVER_AIRS_P2CHAIN_H
#define ZKCAR_PROVER_AIRS_P2CHAIN_H

#include "prover/air.h"

#define PRV_P2CHAIN_AIR_ID 0x70326301u /* "p2c" 1 */
#define PRV_P2CHAIN_NCOLS 180
#define PRV_P2CHAIN_NPUBLIC 17

extern const prv_air prv_p2chain_air;

/* Fills trace (180 columns of 2^log_n rows, column-major; log_n >= 1) for the
 * chain of 2^log_n - 1 permutations starting at `in`, and writes the public
 * inputs into pub. Uses the thread pool for nothing; thread-safe. */
void prv_p2chain_trace(prv_gl *trace, unsigned log_n, const prv_gl in[8],
                       prv_gl pub[PRV_P2CHAIN_NPUBLIC]);

#endif
