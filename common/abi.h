/*
 * common/abi.h — Solidity ABI words: 32-byte big-endian slots.
 *
 * Static ABI types are encoded as one 32-byte word each: unsigned integers
 * right-aligned (big-endian, zero-padded on the left), addresses as uint160,
 * bytes32 as is. EIP-712 encodeData uses the same words. Readers check that
 * the padding is zero, so a word that does not fit the type (for example a
 * uint256 event field above 2^64 - 1 read as a uint64) is an error and never
 * silently truncated.
 *
 * All functions are reentrant and thread-safe. `err` may be NULL.
 */
#ifndef ZKCAR_COMMON_ABI_H
#define ZKCAR_COMMON_ABI_H

#include <stdint.h>

#include "common/error.h"

#define ZK_ABI_WORD 32

/* Writers: fill all 32 bytes of `word`. */
void zk_abi_put_u64(uint8_t word[32], uint64_t v);
void zk_abi_put_u32(uint8_t word[32], uint32_t v);
void zk_abi_put_address(uint8_t word[32], const uint8_t addr[20]);
void zk_abi_put_bytes32(uint8_t word[32], const uint8_t b[32]);

/* Readers. Return ZK_OK, or ZK_ERR_OUT_OF_RANGE when the word's value does not
 * fit the type (a non-zero byte in the padding); `*out` is written only on success. */
zk_err zk_abi_get_u64(uint64_t *out, zk_error_detail *err, const uint8_t word[32]) ZK_MUST_CHECK;
zk_err zk_abi_get_u32(uint32_t *out, zk_error_detail *err, const uint8_t word[32]) ZK_MUST_CHECK;
zk_err zk_abi_get_address(uint8_t out[20], zk_error_detail *err,
                          const uint8_t word[32]) ZK_MUST_CHECK;
/* As zk_abi_get_u64, and also ZK_ERR_OUT_OF_RANGE when the value exceeds `max`
 * (e.g. an amount that must stay below 2^63). */
zk_err zk_abi_get_u64_max(uint64_t *out, zk_error_detail *err, const uint8_t word[32],
                          uint64_t max) ZK_MUST_CHECK;
/* bytes32 has no padding, so it cannot fail. */
void zk_abi_get_bytes32(uint8_t out[32], const uint8_t word[32]);

#endif
