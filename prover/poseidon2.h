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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prover/field.h"

#define PRV_P2_W8 8
#define PRV_P2_W12 12
#define PRV_P2_DIGEST 4          /* a digest is 4 field elements (~256 bits) */
#define PRV_P2_ROUNDS_F 8        /* full rounds: 4 initial + 4 final */
#define PRV_P2_ROUNDS_P 22       /* partial rounds */

/* The permutations, in place (fast scalar code: for single calls such as
 * Merkle path verification). */
void prv_p2_permute8(prv_gl state[PRV_P2_W8]);
void prv_p2_permute12(prv_gl state[PRV_P2_W12]);

/* n independent width-8 permutations on states stored back to back
 * (state i at states[8*i .. 8*i+7]; state i at states[12*i ..] for width 12);
 * uses the widest SIMD path the CPU has (chosen at run time, see
 * prv_p2_backend), and gives exactly the scalar results. n = 0 does nothing.
 * Thread-agnostic: callers split large inputs across threads themselves. */
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
 * the zero digest. Used to hash trace rows into Merkle leaves. `out` may alias
 * `in` (all of `in` is read before `out` is written). */
void prv_p2_hash(prv_gl out[PRV_P2_DIGEST], const prv_gl *in, size_t n);

/* Batched Merkle level: out[4*i .. 4*i+3] = compress(in[8*i .. 8*i+3],
 * in[8*i+4 .. 8*i+7]) for i < n, i.e. `in` holds 2n digests back to back and
 * `out` receives n digests. Uses the batched (SIMD) permutation. `out` may equal
 * `in` (a level can be compressed in place into its first half); otherwise the
 * two must not overlap. n = 0 does nothing. Thread-agnostic: no shared state,
 * callers split large inputs across threads themselves. */
void prv_p2_compress_many(prv_gl *out, const prv_gl *in, size_t n);

/* Batched row hashing: out[4*i .. 4*i+3] = prv_p2_hash(rows + i*row_len, row_len)
 * for i < nrows (rows stored back to back, row_len elements each; row_len = 0
 * gives zero digests). Uses the batched (SIMD) width-12 permutation. `out` must
 * not overlap `rows`. Thread-agnostic like prv_p2_compress_many. */
void prv_p2_hash_many(prv_gl *out, const prv_gl *rows, size_t nrows, size_t row_len);

/* Name of the implementation chosen at run time: "scalar", "avx2" or "avx512".
 * The widest path the CPU supports is chosen on first use; the environment
 * variable ZKCAR_SIMD=scalar forces the scalar path (read once, on first use). */
const char *prv_p2_backend(void);

/* ---- Explicit implementations (tests and benchmarks compare them) ----------- */

typedef enum prv_p2_impl {
    PRV_P2_IMPL_AUTO = 0,   /* what prv_p2_backend() names */
    PRV_P2_IMPL_SCALAR = 1, /* portable C, one state at a time */
    PRV_P2_IMPL_AVX2 = 2,   /* 4 x 64-bit lanes, one state per lane */
} prv_p2_impl;

/* True if `impl` can run on this CPU (AUTO and SCALAR always can). */
bool prv_p2_impl_available(prv_p2_impl impl);

/* prv_p2_permute{8,12}_many with a given implementation; results are identical
 * for every implementation. Calling an unavailable implementation is a caller
 * bug (asserted). */
void prv_p2_permute8_many_with(prv_p2_impl impl, prv_gl *states, size_t n);
void prv_p2_permute12_many_with(prv_p2_impl impl, prv_gl *states, size_t n);

/* ---- Round structure, for the AIR ---------------------------------------------
 *
 * The permutation, exactly (t = 8 or 12; every operation in F_p):
 *
 *   prv_p2_external_layer{t}(s);                     -- one linear layer first
 *   for r in 0..3:  prv_p2_full_round{t}(s, prv_p2_rc{t}_external_initial[r]);
 *   for r in 0..21: prv_p2_partial_round{t}(s, prv_p2_rc{t}_internal[r]);
 *   for r in 0..3:  prv_p2_full_round{t}(s, prv_p2_rc{t}_external_final[r]);
 *
 * full round r:     s[i] += rc[r][i] for every lane i; s[i] = s[i]^7 for every
 *                   lane; then the external linear layer.
 * partial round r:  s[0] += rc[r] (lane 0 only); s[0] = s[0]^7 (lane 0 only);
 *                   then the internal linear layer.
 * external layer:   for each block of 4 lanes (s[4k..4k+3]) multiply by
 *                   M4 = [2 3 1 1; 1 2 3 1; 1 1 2 3; 3 1 1 2] (row i gives new
 *                   lane 4k+i), giving u; then s[j] = u[j] + sum_k u[4k + (j mod 4)]
 *                   (each lane adds the sum of its position across all blocks,
 *                   its own included). As a matrix: circ(2·M4, M4, ...).
 * internal layer:   S = sum of all lanes (before the update);
 *                   s[i] = S + prv_p2_diag{t}[i] · s[i] for every lane.
 *
 * These helpers are straightforward reference code (not the fast path); the
 * tests check that applying them in this order gives prv_p2_permute{t}. */

/* Round constants: 4 initial full rounds, 4 final full rounds, 22 partial
 * rounds (one constant each, added to lane 0). Canonical values. */
extern const prv_gl prv_p2_rc8_external_initial[PRV_P2_ROUNDS_F / 2][PRV_P2_W8];
extern const prv_gl prv_p2_rc8_external_final[PRV_P2_ROUNDS_F / 2][PRV_P2_W8];
extern const prv_gl prv_p2_rc8_internal[PRV_P2_ROUNDS_P];
extern const prv_gl prv_p2_rc12_external_initial[PRV_P2_ROUNDS_F / 2][PRV_P2_W12];
extern const prv_gl prv_p2_rc12_external_final[PRV_P2_ROUNDS_F / 2][PRV_P2_W12];
extern const prv_gl prv_p2_rc12_internal[PRV_P2_ROUNDS_P];

/* Internal-layer diagonals d (canonical field elements):
 * width 8:  [-2, 1, 2, 1/2, 3, -1/2, -3, -4]
 * width 12: [-2, 1, 2, 1/2, 3, 4, -1/2, -3, -4, 1/4, -1/4, 1/8] */
extern const prv_gl prv_p2_diag8[PRV_P2_W8];
extern const prv_gl prv_p2_diag12[PRV_P2_W12];

/* x^7. `x` need not be canonical; the result is. */
prv_gl prv_p2_sbox(prv_gl x);

/* The linear layers alone, in place (inputs need not be canonical; outputs are). */
void prv_p2_external_layer8(prv_gl state[PRV_P2_W8]);
void prv_p2_internal_layer8(prv_gl state[PRV_P2_W8]);
void prv_p2_external_layer12(prv_gl state[PRV_P2_W12]);
void prv_p2_internal_layer12(prv_gl state[PRV_P2_W12]);

/* One round, in place: add-constant, S-box, linear layer as described above. */
void prv_p2_full_round8(prv_gl state[PRV_P2_W8], const prv_gl rc[PRV_P2_W8]);
void prv_p2_partial_round8(prv_gl state[PRV_P2_W8], prv_gl rc);
void prv_p2_full_round12(prv_gl state[PRV_P2_W12], const prv_gl rc[PRV_P2_W12]);
void prv_p2_partial_round12(prv_gl state[PRV_P2_W12], prv_gl rc);

#endif
