/*
 * prover/hash.h — the hashes of the STARK: Keccak-256 (the Fiat–Shamir
 * transcript, and one choice of commitment hash) and the commitment hash
 * interface used by the Merkle trees (Poseidon2 or Keccak-256).
 *
 * A digest is 32 bytes held as four 64-bit words. For Poseidon2 the words are
 * canonical field elements; for Keccak-256 they are the 32 output bytes read
 * as little-endian words. Everything here is pure and thread-safe.
 */
#ifndef ZKCAR_PROVER_HASH_H
#define ZKCAR_PROVER_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "prover/field.h"

typedef struct prv_digest {
    uint64_t w[4];
} prv_digest;

/* Which hash commits the Merkle trees; the value is part of the proof's
 * parameters (and so of the transcript). */
typedef enum prv_hash_id {
    PRV_HASH_POSEIDON2 = 1, /* leaves: Poseidon2 width-12 sponge; nodes: width-8 compression */
    PRV_HASH_KECCAK = 2,    /* leaves: Keccak-256 of the elements' 8-byte LE encodings; nodes: Keccak-256(l || r) */
} prv_hash_id;

/* Keccak-256 (Ethereum's, padding 0x01) of `len` bytes at `in` into out[32]. */
void prv_keccak256(uint8_t out[32], const void *in, size_t len);

/* Keccak-256 of four messages of the same length (out[m] gets 32 bytes),
 * with the AVX2 4-way kernel when the CPU has AVX2 (and ZKCAR_SIMD is not
 * "scalar"), else one at a time; the results are identical. */
void prv_keccak256_x4(uint8_t *const out[4], const void *const in[4], size_t len);

/* Name of the Keccak path in use: "avx2" or "scalar". */
const char *prv_keccak_backend(void);

/* n leaves at once: out[i] = leaf digest of rows[i*row_len .. +row_len]. */
void prv_hash_leaves(prv_hash_id h, prv_digest *out, const prv_gl *rows, size_t n, size_t row_len);

/* Digest of a leaf holding n field elements (n may be 0). */
void prv_hash_leaf(prv_hash_id h, prv_digest *out, const prv_gl *in, size_t n);

/* Digest of an inner node from its two children. `out` may alias an input. */
void prv_hash_node(prv_hash_id h, prv_digest *out, const prv_digest *left, const prv_digest *right);

/* n node hashes at once: out[i] = node(in[2i], in[2i+1]). `out` may alias `in`
 * (out[i] is written after in[2i], in[2i+1] are read). */
void prv_hash_nodes(prv_hash_id h, prv_digest *out, const prv_digest *in, size_t n);

/* True for a hash id this build knows. */
int prv_hash_id_valid(unsigned h);

#endif
