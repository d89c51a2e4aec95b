/*
 * prover/poseidon2.h — Poseidon2 over Goldilocks, the Plonky3 >= 0.5 instance
 * (REFERENCE.md §1): S-box x^7, 4 + 4 full rounds, 22 partial rounds, widths 8
 * and 12. One implementation for the whole project: the prover's Merkle
 * commitments, the AIR's witness and the ipc/ account tree all call these.
 *
 * All functions are pure and thread-safe. Inputs need not be canonical
 * (values >= p are reduced); outputs are canonical.
 */
#ifndef ZKCAR_PROVER_POSEIDON2_H
#define ZKCAR_PROVER_POSEIDON2_H

#include <stddef.h>
#include <stdint.h>

#include "prover/field.h"

#define PRV_P2_W8 8
#define PRV_P2_W12 12
#define PRV_P2_DIGEST 4          /* a digest is 4 field elements (~256 bits) */
#define PRV_P2_ROUNDS_F 8        /* full rounds: 4 initial + 4 final */
#define PRV_P2_ROUNDS_P 22       /* partial rounds */

/* The permutations, in place. */
void prv_p2_permute8(prv_gl state[PRV_P2_W8]);
void prv_p2_permute12(prv_gl state[PRV_P2_W12]);

/* n independent width-8 permutations on states stored back to back
 * (state i at states[8*i .. 8*i+7]); uses the widest SIMD path the CPU has
 * (chosen at run time), and gives exactly the scalar results. */
void prv_p2_permute8_many(prv_gl *states, size_t n);
void prv_p2_permute12_many(prv_gl *states, size_t n);

/* 2-to-1 compression for Merkle trees (Plonky3's TruncatedPermutation):
 * out = first 4 lanes of permute8(left || right). `out` may alias an input. */
void prv_p2_compress(prv_gl out[PRV_P2_DIGEST], const prv_gl left[PRV_P2_DIGEST],
                     const prv_gl right[PRV_P2_DIGEST]);

/* Sponge hash of n field elements with the width-12 permutation, rate 8,
 * capacity 4, overwrite mode (Plonky3's PaddingFreeSponge<_, 12, 8, 4>):
 * the state starts at zero; each chunk of up to 8 inputs overwrites lanes
 * 0..k-1 and the state is permuted; the digest is lanes 0..3. n = 0 gives
 * the zero digest. Used to hash trace rows into Merkle leaves. */
void prv_p2_hash(prv_gl out[PRV_P2_DIGEST], const prv_gl *in, size_t n);

/* Name of the implementation chosen at run time: "scalar", "avx2" or "avx512". */
const char *prv_p2_backend(void);

#endif
