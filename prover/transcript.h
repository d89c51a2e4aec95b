/*
 * prover/transcript.h — the Fiat–Shamir transcript of the STARK.
 *
 * A Keccak-256 hash chain: the state is 32 bytes; absorbing data sets
 * state = keccak(state || tag || data) with a one-byte tag per kind of
 * message, and each challenge is squeezed as keccak(state || 0xff || counter),
 * after which the state moves on (so two challenges never repeat). Prover and
 * verifier run the same calls in the same order; everything the prover sends
 * is absorbed before any challenge that depends on it.
 *
 * Field challenges are rejection-sampled (a 64-bit word >= p is discarded), so
 * they are exactly uniform in F_p and F_p^3.
 *
 * Not thread-safe per object; objects are plain values (no allocation).
 */
#ifndef ZKCAR_PROVER_TRANSCRIPT_H
#define ZKCAR_PROVER_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "prover/field.h"
#include "prover/hash.h"

typedef struct prv_transcript {
    uint8_t state[32];
    uint64_t counter;   /* squeezes since the last absorb */
    uint64_t pool[4];   /* words of the last squeeze not yet used */
    unsigned npool;
} prv_transcript;

/* Starts a transcript with a domain-separation label (e.g. "zkcar-stark-v1"). */
void prv_transcript_init(prv_transcript *t, const char *label);
/* Absorbs `len` bytes under message tag `tag`. */
void prv_transcript_absorb(prv_transcript *t, uint8_t tag, const void *data, size_t len);
void prv_transcript_absorb_u64(prv_transcript *t, uint8_t tag, uint64_t v);
void prv_transcript_absorb_digest(prv_transcript *t, const prv_digest *d);
void prv_transcript_absorb_gl3s(prv_transcript *t, const prv_gl3 *v, size_t n);
/* Uniform challenges. */
uint64_t prv_transcript_u64(prv_transcript *t);
prv_gl prv_transcript_gl(prv_transcript *t);
prv_gl3 prv_transcript_gl3(prv_transcript *t);
/* A uniform index in [0, 2^log_n), log_n <= 63. */
uint64_t prv_transcript_index(prv_transcript *t, unsigned log_n);

/* Proof of work: true if keccak(state || 0xfe || nonce) starts with `bits`
 * zero bits (its first 8 bytes read as a little-endian word, high bits
 * first). O(1). bits <= 32. */
int prv_transcript_pow_ok(const prv_transcript *t, unsigned bits, uint64_t nonce);
/* Finds the least nonce that passes prv_transcript_pow_ok (expected 2^bits
 * tries), using all threads of the pool. */
uint64_t prv_transcript_pow_search(const prv_transcript *t, unsigned bits);

#endif
