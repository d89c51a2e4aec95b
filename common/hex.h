/*
 * common/hex.h — 0x-hex and Ethereum addresses (EIP-55 checksums).
 *
 * Outside data (JSON-RPC requests, RPC replies) carries bytes as "0x"-prefixed
 * hex. The decoders here take a length, never read past it, and say what was
 * wrong in the zk_error_detail (which may be NULL). Hex digits may be upper or
 * lower case; the "0x" prefix must be lower case, as Ethereum clients write it.
 *
 * Addresses: all-lower-case and all-upper-case hex carry no checksum and are
 * accepted as they are; mixed case is an EIP-55 checksum and must be right
 * (a wallet that mistyped one letter is told so instead of losing funds).
 * zk_address_format always writes the EIP-55 form.
 *
 * Everything here is reentrant and thread-safe.
 */
#ifndef ZKCAR_COMMON_HEX_H
#define ZKCAR_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define ZK_ADDRESS_SIZE 20
#define ZK_ADDRESS_TEXT_LEN 42   /* "0x" + 40 digits, without the NUL */

/* Writes "0x" followed by 2*n lower-case hex digits and a NUL to `out`, which
 * must hold 2*n + 3 bytes. n may be 0 ("0x"). */
void zk_hex_encode(char *out, const uint8_t *in, size_t n);

/* Decodes `hex[0..hexlen)` into exactly `outlen` bytes at `out`.
 * Returns ZK_OK, or
 *   ZK_ERR_BAD_HEX     no "0x" prefix, a character that is not a hex digit,
 *                      or an odd number of digits;
 *   ZK_ERR_BAD_LENGTH  well-formed hex of a byte length other than outlen.
 * `out` is written only on success. `hex` need not be NUL-terminated. */
zk_err zk_hex_decode(uint8_t *out, size_t outlen, zk_error_detail *err, const char *hex,
                     size_t hexlen) ZK_MUST_CHECK;

/* Parses a 20-byte address from `s[0..len)`: as zk_hex_decode (so the same
 * ZK_ERR_BAD_HEX / ZK_ERR_BAD_LENGTH), and for mixed-case input
 *   ZK_ERR_BAD_CHECKSUM  the letters' case is not the EIP-55 checksum.
 * `out` is written only on success. */
zk_err zk_address_parse(uint8_t out[20], zk_error_detail *err, const char *s,
                        size_t len) ZK_MUST_CHECK;

/* Writes the EIP-55 checksummed form of `addr` ("0x" + 40 digits + NUL) to `out`. */
void zk_address_format(char out[43], const uint8_t addr[20]);

#endif
