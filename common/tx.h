/*
 * common/tx.h — the L2 transaction: its JSON form, validation order and hash.
 *
 * A transaction arrives as the params object of zkcar_sendTransaction (SPEC §4):
 *     {"type": "transfer" | "withdraw", "from": ADDRESS, "to": ADDRESS,
 *      "amount": "DECIMAL", "fee": "DECIMAL", "nonce": NUMBER, "signature": "0x" + 130 hex}
 * and is checked in the order SPEC §4 fixes, the first failure being the answer:
 *   1. form  (JSON-RPC -32602): an object; every field present, of the right JSON
 *      type, no other field; type one of the two words; addresses 0x + 40 hex with a
 *      right EIP-55 checksum when mixed case; amount/fee canonical decimal strings
 *      (digits only, no sign, no spaces, no leading zero except "0" itself, at most
 *      ZK_TX_DECIMAL_MAX digits); nonce a JSON integer in [0, 2^32 − 1] (1.0, 1e3,
 *      -1, 4294967296 are not); signature 0x + 130 hex (65 bytes).
 *   2. range (1004): amount and fee < 2^63, amount > 0, amount + fee < 2^63
 *      (so that every balance update stays in the u63 that the circuit uses).
 *   3. signature (1001): zk_tx_verify.
 *   4./5. nonce (1002) and balance (1003) need the state; the sidecar checks them.
 * The decoder does 1 and 2, checking every field's form before any range, so a
 * request with a bad address and a huge amount is answered -32602, not 1004.
 *
 * Unknown fields are rejected (ZK_ERR_UNKNOWN_FIELD): a client that sends, say,
 * "chainId" or "gasPrice" believes it is part of the signed message, and
 * silently dropping it would sign one thing and execute another. A duplicated
 * key in the text is not detected: json-c keeps the last value (and it is the
 * value that is then verified against the signature).
 *
 * All functions are reentrant and thread-safe.
 */
#ifndef ZKCAR_COMMON_TX_H
#define ZKCAR_COMMON_TX_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json_object.h>

#include "common/eip712.h"
#include "common/error.h"

#define ZK_TX_JSON_MAX 4096        /* longest params text zk_tx_decode_json accepts, bytes */
#define ZK_TX_JSON_DEPTH 8         /* deepest nesting accepted in that text */
#define ZK_TX_DECIMAL_MAX 78       /* digits in amount/fee (a uint256 has 78); more is a form error */
#define ZK_TX_AMOUNT_LIMIT (UINT64_C(1) << 63) /* amount, fee and amount + fee stay below this */

typedef enum zk_tx_type {
    ZK_TX_TRANSFER = 1,
    ZK_TX_WITHDRAW = 2,
} zk_tx_type;

typedef struct zk_tx {
    zk_tx_type type;
    uint8_t from[20];
    uint8_t to[20];          /* an L2 account for transfers, an L1 address for withdrawals */
    uint64_t amount;         /* gwei, 1 .. 2^63 - 1 */
    uint64_t fee;            /* gwei, amount + fee < 2^63 */
    uint32_t nonce;
    uint8_t sig[65];         /* r ‖ s ‖ v as received */
} zk_tx;

/* Decodes and checks (form, then range) the params object `params` (the API
 * passes params[0]; it stays owned by the caller) into `*out`.
 * Returns ZK_OK, or one of
 *   ZK_ERR_BAD_JSON       params is NULL or not an object
 *   ZK_ERR_UNKNOWN_FIELD  a field other than the seven above
 *   ZK_ERR_MISSING_FIELD  a required field is absent (null counts as present: wrong type)
 *   ZK_ERR_WRONG_TYPE     a field of the wrong JSON type (amount as a number, nonce as a string, ...)
 *   ZK_ERR_BAD_VALUE      type is not "transfer" or "withdraw"
 *   ZK_ERR_BAD_NUMBER     amount/fee not a canonical decimal string (or longer than ZK_TX_DECIMAL_MAX)
 *   ZK_ERR_OUT_OF_RANGE   nonce not in [0, 2^32 - 1]
 *   ZK_ERR_BAD_HEX, ZK_ERR_BAD_LENGTH, ZK_ERR_BAD_CHECKSUM   from, to, signature
 *   ZK_ERR_TX_RANGE       the range rules (2. above)
 * with a message in `err` (may be NULL) that names the field. `*out` is written
 * only on success. The signature is not checked here (zk_tx_verify). */
zk_err zk_tx_decode_object(zk_tx *out, zk_error_detail *err,
                           const struct json_object *params) ZK_MUST_CHECK;

/* As zk_tx_decode_object, from JSON text `json[0..len)` (need not be
 * NUL-terminated, may be NULL when len is 0; trailing white space allowed,
 * nothing else).
 * Also ZK_ERR_TOO_BIG (len > ZK_TX_JSON_MAX), ZK_ERR_BAD_JSON (not JSON, too
 * deep, trailing data) and ZK_ERR_NOMEM. */
zk_err zk_tx_decode_json(zk_tx *out, zk_error_detail *err, const char *json,
                         size_t len) ZK_MUST_CHECK;

/* The range rules alone: ZK_OK or ZK_ERR_TX_RANGE. */
zk_err zk_tx_check_range(const zk_tx *tx, zk_error_detail *err) ZK_MUST_CHECK;

/* hashStruct of the transaction's Transfer or Withdraw message. */
void zk_tx_struct_hash(uint8_t out[32], const zk_tx *tx);

/* The transaction hash: the EIP-712 digest under domain `d` (what `from` signed). */
void zk_tx_hash(uint8_t out[32], const zk_tx *tx, const zk_eip712_domain *d);

/* Checks the range rules, then that the signature recovers to tx->from under
 * domain `d`. Returns ZK_OK, ZK_ERR_TX_RANGE, a zk_sig_recover error
 * (ZK_ERR_SIG_BAD_V, _MALFORMED, _HIGH_S, _NO_RECOVER) or
 * ZK_ERR_SIG_WRONG_SIGNER. When `hash` is not NULL the transaction hash is
 * written there (whenever the range check passed). Nonce and balance are the
 * caller's business (they need the state). */
zk_err zk_tx_verify(const zk_tx *tx, const zk_eip712_domain *d, uint8_t hash[32],
                    zk_error_detail *err) ZK_MUST_CHECK;

/* The JSON-RPC error code SPEC §4 gives a failure `code` of the checks above:
 * 0 for ZK_OK; -32602 for form errors (the decoder's codes other than
 * ZK_ERR_TX_RANGE, and ZK_ERR_TOO_BIG); 1004 for ZK_ERR_TX_RANGE; 1001 for
 * signature errors (40–44); 1002 for ZK_ERR_TX_NONCE; 1003 for
 * ZK_ERR_TX_BALANCE; -32603 (internal error) for anything else (e.g. NOMEM). */
int zk_tx_rpc_code(zk_err code);

/* "transfer" / "withdraw". */
const char *zk_tx_type_name(zk_tx_type type);

/* Builds the zkcar_getTransaction view of `tx`: a new object (caller owns it;
 * json_object_put) {hash, type, from, to, amount, fee, nonce} with addresses in
 * EIP-55 form, amount and fee as decimal strings, nonce a number and `hash`
 * (as computed by zk_tx_hash) as 0x-hex. The API adds status, batch and error.
 * Returns ZK_OK or ZK_ERR_NOMEM (then *out is NULL). */
zk_err zk_tx_to_json(struct json_object **out, const zk_tx *tx,
                     const uint8_t hash[32]) ZK_MUST_CHECK;

/* Builds the zkcar_sendTransaction params object of `tx` (the inverse of
 * zk_tx_decode_object): {type, from, to, amount, fee, nonce, signature}.
 * For clients (demo, tests). Returns ZK_OK or ZK_ERR_NOMEM (then *out is NULL). */
zk_err zk_tx_to_params(struct json_object **out, const zk_tx *tx) ZK_MUST_CHECK;

#endif
