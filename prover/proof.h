/*
 * prover/proof.h — the STARK proof: its shape, in-memory form and the
 * versioned, bounds-checked byte encoding.
 *
 * Encoding (version 1, all integers little-endian, no padding):
 *   header   "ZKSP" | u16 version | u8 hash | u8 log_blowup | u16 num_queries |
 *            u8 grinding_bits | u8 fri_log_arity | u8 fri_log_final |
 *            u32 air_id | u8 log_n | u16 ncols                        (20 bytes)
 *   body     trace_root, quot_root                               (2 x 32 bytes)
 *            ood_cur[ncols], ood_next[ncols], ood_quot[6]    (F_p^3: 3 x u64 each)
 *            layer_roots[nlayers] (32 bytes each), final[final_len] (F_p^3)
 *            u64 pow_nonce
 *            per query: trace row (ncols u64) + log_N digests,
 *                       quotient row (6 u64) + log_N digests,
 *                       per FRI layer: arity F_p^3 values + that layer's digests
 * Every count is derived from the header (prv_proof_shape), and the total must
 * equal the input length exactly. Field elements must be canonical (< p), as
 * must the words of Poseidon2 digests, so each proof has one encoding.
 */
#ifndef ZKCAR_PROVER_PROOF_H
#define ZKCAR_PROVER_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "prover/field.h"
#include "prover/hash.h"
#include "prover/stark.h"

#define PRV_PROOF_MAGIC "ZKSP"
#define PRV_PROOF_VERSION 1
#define PRV_PROOF_HEADER_BYTES 20
#define PRV_PROOF_MAX_BYTES ((size_t)64 << 20) /* decoder cap */
#define PRV_PROOF_MAX_LAYERS 32
#define PRV_PROOF_NQUOT 6 /* quotient parts: 2 chunks x 3 extension coordinates */

/* Everything the header determines. */
typedef struct prv_proof_shape {
    unsigned log_n, log_lde, ncols;
    unsigned log_arity, nlayers;
    unsigned layer_log_leaves[PRV_PROOF_MAX_LAYERS]; /* leaves of FRI layer i's tree */
    unsigned layer_path_off[PRV_PROOF_MAX_LAYERS];   /* offset of layer i's path in a query */
    unsigned layer_path_total;                       /* digests per query over all layers */
    unsigned log_final;                              /* final polynomial: 2^log_final coefficients */
    size_t num_queries;
} prv_proof_shape;

typedef struct prv_proof {
    prv_stark_params params;
    uint32_t air_id;
    prv_proof_shape shape;
    prv_digest trace_root, quot_root;
    prv_gl3 *ood_cur, *ood_next; /* ncols each */
    prv_gl3 ood_quot[PRV_PROOF_NQUOT];
    prv_digest *layer_roots;     /* nlayers */
    prv_gl3 *final_coeffs;       /* 2^log_final */
    uint64_t pow_nonce;
    prv_gl *trace_rows;          /* num_queries x ncols */
    prv_digest *trace_paths;     /* num_queries x log_lde */
    prv_gl *quot_rows;           /* num_queries x 6 */
    prv_digest *quot_paths;      /* num_queries x log_lde */
    prv_gl3 *layer_vals;         /* num_queries x nlayers x arity */
    prv_digest *layer_paths;     /* num_queries x layer_path_total */
} prv_proof;

/* Fills *shape for parameters, trace height and width. Returns ZK_OK, or
 * ZK_ERR_PRV_PARAMS / ZK_ERR_PRV_SHAPE if they are outside the caps. */
zk_err prv_proof_shape_of(prv_proof_shape *shape, const prv_stark_params *params, unsigned log_n,
                          unsigned ncols) ZK_MUST_CHECK;

/* Allocates the arrays of *p for its params and shape (set by the caller).
 * ZK_OK or ZK_ERR_NOMEM (then *p holds nothing to free). */
zk_err prv_proof_alloc(prv_proof *p) ZK_MUST_CHECK;
/* Frees the arrays (accepts a zeroed or already freed proof). */
void prv_proof_free(prv_proof *p);

/* Size in bytes of the encoding of a proof with this shape. */
size_t prv_proof_encoded_size(const prv_proof_shape *shape);
/* Encodes into a malloc'd buffer (caller frees). ZK_OK or ZK_ERR_NOMEM. */
zk_err prv_proof_encode(const prv_proof *p, uint8_t **out, size_t *out_len) ZK_MUST_CHECK;
/* Decodes untrusted bytes. On ZK_OK *p owns arrays (prv_proof_free); on
 * ZK_ERR_PRV_PROOF_MALFORMED (detail says what), ZK_ERR_TOO_BIG or
 * ZK_ERR_NOMEM *p holds nothing to free. Never reads outside [in, in+len). */
zk_err prv_proof_decode(prv_proof *p, const uint8_t *in, size_t len, zk_error_detail *err) ZK_MUST_CHECK;

#endif
