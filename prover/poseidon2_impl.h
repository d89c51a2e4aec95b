/*
 * prover/poseidon2_impl.h — private to prover/poseidon2*.c: the entry points
 * of the SIMD kernels, which live in sources compiled with extra -m flags.
 * Callers check prv_p2_impl_available() before calling them.
 */
#ifndef ZKCAR_PROVER_POSEIDON2_IMPL_H
#define ZKCAR_PROVER_POSEIDON2_IMPL_H

#include <stddef.h>

#include "prover/poseidon2.h"

/* n independent states back to back, any n (the tail is padded internally).
 * Inputs need not be canonical; outputs are. Needs AVX2 (poseidon2_avx2.c). */
void prv_p2_avx2_permute8_many(prv_gl *states, size_t n);
void prv_p2_avx2_permute12_many(prv_gl *states, size_t n);

#endif
