/*
 * common/keccak.h — Keccak-256 as Ethereum uses it.
 *
 * This is the original Keccak submission with padding byte 0x01, NOT the
 * FIPS-202 SHA3-256 (padding 0x06): the two give different digests for the
 * same input. keccak256("") = c5d24601…5d85a470. The permutation is nettle's
 * nettle_sha3_permute (Keccak-f[1600]); this file adds the sponge: rate 136
 * bytes, capacity 512 bits, 32-byte output.
 *
 * All functions are reentrant; a context must not be shared between threads
 * without a lock.
 */
#ifndef ZKCAR_COMMON_KECCAK_H
#define ZKCAR_COMMON_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#include <nettle/sha3.h>

#define ZK_KECCAK256_RATE 136   /* bytes absorbed per permutation */
#define ZK_KECCAK256_SIZE 32    /* digest bytes */

/* Incremental hashing state. Treat as opaque; lives on the caller's stack. */
typedef struct zk_keccak256_ctx {
    struct sha3_state state;        /* 25 lanes, little-endian byte order */
    uint8_t block[ZK_KECCAK256_RATE]; /* bytes not yet absorbed */
    size_t used;                    /* bytes held in `block`, < ZK_KECCAK256_RATE */
} zk_keccak256_ctx;

/* Starts a new hash in `ctx` (any previous content is discarded). */
void zk_keccak256_init(zk_keccak256_ctx *ctx);

/* Absorbs `len` bytes at `data` (data may be NULL when len == 0). Whole
 * 136-byte blocks are XORed into the state straight from `data`. */
void zk_keccak256_update(zk_keccak256_ctx *ctx, const void *data, size_t len);

/* Pads, writes the 32-byte digest to `out` and leaves `ctx` re-initialised,
 * ready for a new message. */
void zk_keccak256_final(zk_keccak256_ctx *ctx, uint8_t out[32]);

/* One-shot: out = keccak256(data[0..len)). */
void zk_keccak256(uint8_t out[32], const void *data, size_t len);

#endif
