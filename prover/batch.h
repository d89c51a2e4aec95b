/*
 * prover/batch.h — the rollup's statement: a batch of operations applied in
 * order to the account tree (ipc/state.h), its public data, the self-contained
 * proving job, the batch AIR's prover and verifier, and the batch artifact
 * that `zkcar verify` checks.
 *
 * Operations and leaf updates. Each operation touches one or two accounts;
 * each touch is one *leaf update* of the tree, in this order:
 *   deposit   credit `to_id` by amount (creating it at the next id if new)
 *   transfer  debit `from_id` by amount + fee, nonce + 1;
 *             then credit `to_id` by amount (creating it if new)
 *   withdraw  debit `from_id` by amount + fee, nonce + 1 (the L1 payout
 *             (to, amount) is public data)
 * and, when the batch's fees sum to more than 0, a last update credits the
 * operator account (`operator_id`, address `operator_addr`) with the sum.
 * A new account gets the id pub->old_accounts, old_accounts + 1, … in the
 * order of creation; its leaf was empty before (the zero address, 0, 0).
 *
 * Public data (prv_batch_public) is everything a third party needs to check
 * the batch: the ordered operations with their signatures, the deposit id
 * range consumed, the roots and account counts. Its commitment is the
 * Keccak-256 of its canonical encoding (prv_batch_public_encode); the proof's
 * public inputs bind that commitment, the roots and the counts, and the AIR
 * itself reads the operations from the public data (docs/prover.md, "Batch
 * AIR"), so a proof verifies only together with exactly these operations.
 *
 * Signatures are checked by the sequencer and carried in the public data;
 * they are not proven inside the STARK (docs/prover.md, "Trust model").
 * prv_batch_check_signatures re-checks them for anyone holding the data.
 */
#ifndef ZKCAR_PROVER_BATCH_H
#define ZKCAR_PROVER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "prover/field.h"
#include "prover/stark.h"

#define PRV_BATCH_ADDRESS 20
#define PRV_BATCH_DIGEST 4           /* a tree node: 4 Goldilocks elements */
#define PRV_BATCH_TREE_DEPTH 32      /* = IPC_TREE_DEPTH */
#define PRV_BATCH_MAX_OPS 65536      /* most operations one batch may hold */
#define PRV_BATCH_ID_LIMIT (UINT32_C(1) << 30) /* account ids are below this (IPC_MAX_CAPACITY) */

/* Encodings (docs/prover.md, "Batch files"): magics, versions and the
 * decoders' caps. Each encoding is exact: its length follows from its
 * counts, and anything after or missing is malformed. */
#define PRV_BATCH_PUBLIC_MAGIC "ZKBD"
#define PRV_BATCH_JOB_MAGIC "ZKBJ"
#define PRV_BATCH_ARTIFACT_MAGIC "ZKBA"
#define PRV_BATCH_FORMAT_VERSION 1         /* public data and artifact */
/* The job: version 2 writes a sibling that is an empty subtree as one bit
 * of a mask instead of 32 bytes (most of a path, in a sparse tree);
 * version 1 (every sibling written out) is still read, so that the jobs
 * of batches sealed before an upgrade are proven after it. */
#define PRV_BATCH_JOB_VERSION 2
#define PRV_BATCH_PUBLIC_HEADER_BYTES 160  /* fixed part of the public data */
#define PRV_BATCH_OP_MAX_BYTES 134         /* largest encoded operation (a transfer) */
#define PRV_BATCH_UPDATE_V1_BYTES 1060     /* one leaf update in a version-1 job */
#define PRV_BATCH_UPDATE_MIN_BYTES 40      /* one leaf update in a version-2 job: every sibling empty */
#define PRV_BATCH_UPDATE_BYTES 1064        /* ... no sibling empty: the most one update takes */
#define PRV_BATCH_PUBLIC_MAX_BYTES \
    ((size_t)PRV_BATCH_PUBLIC_HEADER_BYTES + (size_t)PRV_BATCH_MAX_OPS * PRV_BATCH_OP_MAX_BYTES)
#define PRV_BATCH_MAX_UPDATES (2u * PRV_BATCH_MAX_OPS + 1u)
#define PRV_BATCH_JOB_MAX_BYTES \
    (12 + PRV_BATCH_PUBLIC_MAX_BYTES + 4 + (size_t)PRV_BATCH_MAX_UPDATES * PRV_BATCH_UPDATE_BYTES)
#define PRV_BATCH_PROOF_MAX_BYTES ((size_t)64 << 20) /* = PRV_PROOF_MAX_BYTES */
#define PRV_BATCH_ARTIFACT_MAX_BYTES \
    (12 + PRV_BATCH_PUBLIC_MAX_BYTES + 32 + 4 + PRV_BATCH_PROOF_MAX_BYTES)

typedef enum prv_op_kind {
    PRV_OP_DEPOSIT = 1,
    PRV_OP_TRANSFER = 2,
    PRV_OP_WITHDRAW = 3,
} prv_op_kind;

typedef struct prv_batch_op {
    uint8_t kind;                    /* prv_op_kind */
    uint32_t from_id;                /* transfer, withdraw: the sender's account id */
    uint32_t to_id;                  /* deposit, transfer: the receiver's account id */
    uint8_t from[PRV_BATCH_ADDRESS]; /* transfer, withdraw: the sender; deposit: the L1 depositor */
    uint8_t to[PRV_BATCH_ADDRESS];   /* the receiver (L2), or the L1 payee of a withdrawal */
    uint64_t amount;                 /* gwei, 1 .. 2^63 - 1 */
    uint64_t fee;                    /* gwei; 0 for deposits; amount + fee < 2^63 */
    uint32_t nonce;                  /* transfer, withdraw: the sender's nonce before (signed) */
    uint64_t deposit_id;             /* deposit: its L1 deposit id */
    uint8_t sig[65];                 /* transfer, withdraw: r ‖ s ‖ v as signed */
} prv_batch_op;

typedef struct prv_batch_public {
    uint64_t chain_id;                        /* EIP-712 domain of the signatures */
    uint8_t bridge[PRV_BATCH_ADDRESS];
    uint64_t number;                          /* batch number, >= 1 */
    prv_gl old_root[PRV_BATCH_DIGEST];        /* state root before the batch */
    prv_gl new_root[PRV_BATCH_DIGEST];        /* state root after the batch */
    uint32_t old_accounts;                    /* account count before */
    uint32_t new_accounts;                    /* account count after */
    uint64_t first_deposit_id;                /* deposits consumed: ids first .. first + n - 1, */
    uint64_t deposit_count;                   /* in op order, no gaps */
    uint8_t operator_addr[PRV_BATCH_ADDRESS]; /* fee collector */
    uint32_t operator_id;                     /* its account id (new: created last) */
    uint32_t nops;                            /* 1 .. PRV_BATCH_MAX_OPS */
    prv_batch_op *ops;                        /* nops entries, in application order */
} prv_batch_public;

/* Checks the public data's own consistency (no proof involved): kinds,
 * ranges (amount, fee, amount + fee < 2^63, ids < PRV_BATCH_ID_LIMIT), that
 * created ids are old_accounts, old_accounts + 1, … in order and
 * new_accounts matches, that deposits are first_deposit_id .. in order and
 * deposit_count matches. Also: within the batch an id always carries one
 * address and an address one id; fields a kind does not use are zero (a
 * deposit's from_id, fee, nonce, sig; a transfer's or withdrawal's
 * deposit_id; a withdrawal's to_id); the fees sum below 2^63; operator_id
 * is 0 when they sum to 0. ZK_OK or ZK_ERR_BATCH_INCONSISTENT with a detail naming the
 * operation; ZK_ERR_NOMEM. Thread-safe. */
zk_err prv_batch_public_check(const prv_batch_public *pub, zk_error_detail *err) ZK_MUST_CHECK;

/* Re-checks every transfer's and withdrawal's signature against its `from`
 * (EIP-712 domain {zkcar, 1, chain_id, bridge}). ZK_OK or ZK_ERR_SIG_* with
 * the operation index in the detail. */
zk_err prv_batch_check_signatures(const prv_batch_public *pub, zk_error_detail *err) ZK_MUST_CHECK;

/* Canonical encoding of the public data (versioned, little-endian;
 * docs/prover.md gives the layout). *out is malloc'd; the caller frees it. */
zk_err prv_batch_public_encode(const prv_batch_public *pub, uint8_t **out, size_t *len) ZK_MUST_CHECK;
/* Decodes with bounds; pub->ops is malloc'd (prv_batch_public_free). Never
 * reads past len; ZK_ERR_BATCH_MALFORMED (with a detail) for anything malformed. */
zk_err prv_batch_public_decode(prv_batch_public *pub, zk_error_detail *err, const uint8_t *buf,
                               size_t len) ZK_MUST_CHECK;
void prv_batch_public_free(prv_batch_public *pub);
/* keccak256(prv_batch_public_encode(pub)). */
zk_err prv_batch_public_hash(const prv_batch_public *pub, uint8_t out[32]) ZK_MUST_CHECK;

/* ---- the proving job: public data + witnesses --------------------------- */

/* One leaf update's witness: the account's leaf before the update and the
 * Merkle siblings of its path in the tree as it is just before the update
 * (ipc_witness gives exactly these). */
typedef struct prv_batch_update {
    uint32_t id;
    uint8_t old_address[PRV_BATCH_ADDRESS]; /* zero for an empty leaf */
    uint64_t old_balance;
    uint32_t old_nonce;
    prv_gl siblings[PRV_BATCH_TREE_DEPTH][PRV_BATCH_DIGEST];
} prv_batch_update;

/* Everything a worker needs to prove a batch, without access to the state. */
typedef struct prv_batch_job {
    prv_batch_public pub;
    uint32_t nupdates;          /* = prv_batch_count_updates(&pub) */
    prv_batch_update *updates;  /* in the order of the leaf updates above */
} prv_batch_job;

/* Leaf updates the operations of `pub` imply (fee update included). */
uint32_t prv_batch_count_updates(const prv_batch_public *pub);

/* Versioned, bounds-checked encoding of a job (sidecar -> worker, and the
 * sealed batch's file on disk). */
zk_err prv_batch_job_encode(const prv_batch_job *job, uint8_t **out, size_t *len) ZK_MUST_CHECK;
zk_err prv_batch_job_decode(prv_batch_job *job, zk_error_detail *err, const uint8_t *buf,
                            size_t len) ZK_MUST_CHECK;
void prv_batch_job_free(prv_batch_job *job);

/* ---- proving and verifying ----------------------------------------------- */

/* Proves the job with `params` (NULL = prv_stark_params_default). Checks the
 * witnesses first: a job whose updates do not chain from old_root to
 * new_root under the rules gives ZK_ERR_BATCH_WITNESS (detail names the
 * operation). *proof is malloc'd. Thread-safe; uses the thread pool. */
zk_err prv_batch_prove(const prv_batch_job *job, const prv_stark_params *params, uint8_t **proof,
                       size_t *proof_len, zk_error_detail *err) ZK_MUST_CHECK;

/* Verifies `proof` against the public data: prv_batch_public_check, then the
 * STARK (at least PRV_STARK_MIN_SECURITY_BITS). Signatures are a separate
 * check (prv_batch_check_signatures). ZK_OK, or the prv_stark_verify errors,
 * or ZK_ERR_BATCH_INCONSISTENT for inconsistent public data. Never crashes on any bytes. */
zk_err prv_batch_verify(const prv_batch_public *pub, const uint8_t *proof, size_t proof_len,
                        zk_error_detail *err) ZK_MUST_CHECK;

/* Provable security bits of `params` for a batch of this shape. */
int prv_batch_security_bits(const prv_batch_public *pub, const prv_stark_params *params);

/* ---- the batch artifact (DIR/batches/<number>.batch) --------------------- */

/* File: magic "ZKBA", u16 version, then the public data encoding, its
 * Keccak-256, the proof; lengths explicit and checked (docs/prover.md). */
typedef struct prv_batch_artifact {
    prv_batch_public pub;
    uint8_t *proof;
    size_t proof_len;
    uint8_t pub_hash[32];
} prv_batch_artifact;

zk_err prv_batch_artifact_encode(const prv_batch_public *pub, const uint8_t *proof, size_t proof_len,
                                 uint8_t **out, size_t *len) ZK_MUST_CHECK;
zk_err prv_batch_artifact_decode(prv_batch_artifact *a, zk_error_detail *err, const uint8_t *buf,
                                 size_t len) ZK_MUST_CHECK;
void prv_batch_artifact_free(prv_batch_artifact *a);

/* `zkcar verify FILE`: decode, check the public data, signatures and the
 * proof. Exit 0 valid, 1 invalid (malformed included), 2 cannot open. */
int prv_cmd_verify(int argc, char **argv);

#endif
