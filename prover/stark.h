/*
 * prover/stark.h — the STARK prover and verifier over Goldilocks.
 *
 * Protocol (docs/prover.md has the details and the soundness analysis):
 *   1. commit the low-degree extension (blowup 2^log_blowup, coset 7·<w>) of
 *      the trace columns in a Merkle tree of rows;
 *   2. challenge alpha in F_p^3; the constraint quotient
 *      Q = sum alpha^k C_k / Z_T + sum alpha^(K+j) (T_c - v_j)/(X - g^r_j)
 *      (Z_T vanishes on every row but the last) has degree < 2n; it is split
 *      as Q = Q_0 + X^n Q_1, and the 2 x 3 base polynomials of Q_0, Q_1 are
 *      committed likewise;
 *   3. DEEP: challenge z in F_p^3; the prover sends every trace polynomial
 *      at z and g·z and the quotient parts at z; the verifier checks the
 *      constraints at z against them;
 *   4. challenge gamma; FRI (folding arity 2^fri_log_arity, challenges in
 *      F_p^3) proves that the DEEP composition
 *      sum gamma^i (P_i(X) - P_i(z_i)) / (X - z_i) has degree < n; the last
 *      layer (degree < 2^fri_log_final) is sent as coefficients;
 *   5. proof of work (grinding_bits), then num_queries query positions.
 * Fiat–Shamir (prover/transcript.h) absorbs the parameters, the AIR id and
 * shape, the public inputs and every commitment before each challenge.
 *
 * Thread-safety: prove and verify may run concurrently on different inputs;
 * they use the process's thread pool (prover/parallel.h).
 */
#ifndef ZKCAR_PROVER_STARK_H
#define ZKCAR_PROVER_STARK_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "prover/air.h"
#include "prover/hash.h"

/* Parameters below this many provable bits are refused by the prover and the
 * verifier (except the explicitly insecure entry points of stark_testing.h). */
#define PRV_STARK_MIN_SECURITY_BITS 100

typedef struct prv_stark_params {
    uint8_t hash;          /* prv_hash_id of the Merkle trees */
    uint8_t log_blowup;    /* 1..6 */
    uint16_t num_queries;  /* 1..PRV_STARK_MAX_QUERIES */
    uint8_t grinding_bits; /* 0..30 */
    uint8_t fri_log_arity; /* 1..4 (arity 2..16) */
    uint8_t fri_log_final; /* last FRI layer has degree < 2^fri_log_final, 0..10 */
} prv_stark_params;

#define PRV_STARK_MAX_QUERIES 512
#define PRV_STARK_MAX_LOG_N 26

/* The production parameter set: blowup 2, 180 queries, 20 grinding bits,
 * FRI arity 8 down to degree < 32, Keccak-256 commitments — 107 provable bits
 * for every trace shape the prover supports (prv_stark_security_bits gives the
 * exact figure for a statement). */
extern const prv_stark_params prv_stark_params_default;

/* Provable bits (Johnson-bound regime, prover/soundness.h) of `params` for a
 * statement of this AIR with 2^log_n rows; -1 if the parameters or the shape
 * are invalid. Pure, thread-safe. */
int prv_stark_security_bits(const prv_air *air, const prv_stark_params *params, unsigned log_n);

/* Proves that `trace` (column-major: column c is trace[c << log_n .. ]) of
 * 2^log_n rows satisfies `air` with public inputs `pub` (air->npublic values).
 * On success *proof / *proof_len receive the encoded proof (malloc'd; the
 * caller frees it). Errors: ZK_ERR_PRV_PARAMS (invalid, or below
 * PRV_STARK_MIN_SECURITY_BITS), ZK_ERR_PRV_SHAPE, ZK_ERR_PRV_TRACE (the trace
 * breaks a constraint: detail names the row), ZK_ERR_NOMEM. `err` may be NULL. */
zk_err prv_stark_prove(const prv_air *air, const prv_stark_params *params, const prv_gl *trace,
                       unsigned log_n, const prv_gl *pub, uint8_t **proof, size_t *proof_len,
                       zk_error_detail *err) ZK_MUST_CHECK;

/* Verifies an encoded proof of `air` with public inputs `pub`. The
 * parameters are read from the proof and must give at least
 * PRV_STARK_MIN_SECURITY_BITS for the statement. Returns ZK_OK if the proof
 * is accepted; ZK_ERR_PRV_PROOF_MALFORMED for bytes that do not decode,
 * ZK_ERR_PRV_PARAMS for parameters below the bound, ZK_ERR_PRV_SHAPE for a
 * proof of another AIR or shape, ZK_ERR_PRV_PROOF_REJECTED for a proof that
 * fails a check, ZK_ERR_NOMEM. Never crashes on any bytes. */
zk_err prv_stark_verify(const prv_air *air, const prv_gl *pub, const uint8_t *proof,
                        size_t proof_len, zk_error_detail *err) ZK_MUST_CHECK;

#endif
