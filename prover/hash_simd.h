/*
 * prover/hash_simd.h — SIMD kernels behind prover/hash.h (private).
 */
#ifndef ZKCAR_PROVER_HASH_SIMD_H
#define ZKCAR_PROVER_HASH_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* Keccak-256 of four messages of the same length: out[m] (32 bytes) =
 * keccak256(in[m], len). AVX2 only: the caller checks the CPU. */
void prv_keccak256_x4_avx2(uint8_t *const out[4], const uint8_t *const in[4], size_t len);

#endif
