/*
 * common/sig.h — recovering the signer of an Ethereum (secp256k1) signature.
 *
 * A signature is 65 bytes r ‖ s ‖ v (r, s big-endian). Rules (SPEC §3):
 *   - v is 27 or 28 (Ethereum's legacy form) or 0 or 1 (the raw recovery id,
 *     as some libraries and hardware wallets produce); anything else is
 *     ZK_ERR_SIG_BAD_V. v 29/30 (recovery ids 2/3, r ≥ p − n) are not accepted:
 *     no wallet produces them and the EVM's ecrecover rejects them too.
 *   - r and s must be in [1, n−1] (n the group order), else ZK_ERR_SIG_MALFORMED.
 *   - s must be ≤ n/2, else ZK_ERR_SIG_HIGH_S. For every valid (r, s, v) the pair
 *     (r, n−s, v^1) is also valid for the same key; accepting both would give one
 *     transaction two encodings (and two mempool entries' worth of ambiguity about
 *     which bytes were signed). Ethereum has required low s since EIP-2; ethers,
 *     MetaMask and libsecp256k1 always produce it.
 * The checks run in that order (v, then r/s range, then high s), then the public
 * key is recovered with libsecp256k1 and the address is the last 20 bytes of
 * keccak256 of the 64-byte uncompressed key (without the 0x04 prefix).
 *
 * Threads: the library keeps one secp256k1 context, created on first use under
 * pthread_once and never modified afterwards; libsecp256k1 documents that a
 * context may be used from several threads at once for everything except
 * randomization/cloning/destruction, which this module never does. So all
 * functions here are thread-safe.
 */
#ifndef ZKCAR_COMMON_SIG_H
#define ZKCAR_COMMON_SIG_H

#include <stdint.h>

#include "common/error.h"

#define ZK_SIG_SIZE 65

/* Recovers the address that signed `digest` with `sig`.
 * Returns ZK_OK and writes `addr`, or ZK_ERR_SIG_BAD_V, ZK_ERR_SIG_MALFORMED,
 * ZK_ERR_SIG_HIGH_S (see above), ZK_ERR_SIG_NO_RECOVER (no point has this r, or
 * the recovered key is invalid), ZK_ERR_NOMEM (the shared context could not be
 * created). `addr` is written only on success. */
zk_err zk_sig_recover(uint8_t addr[20], zk_error_detail *err, const uint8_t digest[32],
                      const uint8_t sig[65]) ZK_MUST_CHECK;

/* The checks on v, r and s alone (no curve arithmetic): ZK_OK or the error
 * zk_sig_recover would return before recovering. */
zk_err zk_sig_check_form(zk_error_detail *err, const uint8_t sig[65]) ZK_MUST_CHECK;

/* Signs `digest` with the 32-byte secret key `seckey` (RFC 6979 nonce, low s)
 * and writes r ‖ s ‖ v with v = 27 + recovery id, the form wallets produce.
 * For tests, the demo and tools; the sidecar itself never signs.
 * Returns ZK_OK, ZK_ERR_BAD_VALUE (seckey zero or >= n) or ZK_ERR_NOMEM. */
zk_err zk_sig_sign(uint8_t sig[65], zk_error_detail *err, const uint8_t digest[32],
                   const uint8_t seckey[32]) ZK_MUST_CHECK;

/* The address of the secret key `seckey`. Returns ZK_OK, ZK_ERR_BAD_VALUE or ZK_ERR_NOMEM. */
zk_err zk_sig_seckey_address(uint8_t addr[20], zk_error_detail *err,
                             const uint8_t seckey[32]) ZK_MUST_CHECK;

/* Ethereum address of an uncompressed public key given as its 64 coordinate
 * bytes x ‖ y (no 0x04 prefix): the last 20 bytes of keccak256(x ‖ y). */
void zk_sig_pubkey_to_address(uint8_t addr[20], const uint8_t pub64[64]);

#endif
