/*
 * prover/airs/batch.h — the batch AIR: a sequence of account-tree leaf
 * updates (prover/batch.h) from one state root to another, bound to the
 * batch's public data. docs/prover.md ("Batch AIR") has the full design and
 * the argument for each rule; this header is the layout.
 *
 * One BLOCK of PRV_BATCH_BLOCK_ROWS = 31 rows per leaf update. Every row holds
 * two Poseidon2 width-8 permutations side by side (prover/airs/p2row.h): the
 * OLD path (the tree before the update) and the NEW path (after). Row 0 of a
 * block hashes the leaf, [tag, a0..a4, balance, nonce]; row 1 + l compresses
 * the level-l node with its sibling (l = 0 .. 29), in the order the public
 * path bit l of the account id says, with the SAME sibling in both paths.
 * Row 30's outputs are the level-30 subroots before and after the update.
 * Ids are < 2^30, so the two top levels of the depth-32 tree always fold with
 * the empty subtrees: root = C(C(sub, E30), E31); the verifier does that
 * outside the AIR (prv_batch_fold_subroot).
 *
 * Columns (PRV_BATCH_NCOLS = 368):
 *   [0, 180)    old-path permutation      [180, 360)  new-path permutation
 *   [360, 364)  R: the running subroot (the old subroot of the current block;
 *               after the last block, the final subroot)
 *   [364, 367)  three range-check bits    367         their accumulator
 * Periodic columns (period = the trace length; the verifier computes them
 * from the public data): the row-kind selectors, the path bits, and on a
 * block's leaf row the update's public address, balance delta, nonce rule
 * and "created here" flag (PRV_BATCH_P_* below).
 * Public inputs (PRV_BATCH_NPUBLIC = 19): old subroot[4], new subroot[4], the
 * Keccak-256 of the public data as 8 little-endian 32-bit limbs, the number
 * of updates, the old and new account counts.
 *
 * Rows after the last block (at least one) are padding: permutations of the
 * zero state, R constant, no other rule applies. A batch of U updates takes
 * the smallest power of two >= 31 U + 1 rows.
 *
 * Thread-safety: every function here is pure or uses the thread pool and may
 * be called from any thread; a statement (prv_batch_air_stmt) is read-only
 * once built.
 */
#ifndef ZKCAR_PROVER_AIRS_BATCH_H
#define ZKCAR_PROVER_AIRS_BATCH_H

#include <stdint.h>

#include "common/error.h"
#include "prover/air.h"
#include "prover/batch.h"

#define PRV_BATCH_AIR_ID 0x62617401u /* "bat" 1 */
#define PRV_BATCH_BLOCK_ROWS 31
#define PRV_BATCH_SUB_LEVEL 30      /* the AIR proves the level-30 subroot */
#define PRV_BATCH_RANGE_ROWS 21     /* 21 rows x 3 bits = the 63-bit balance range */

#define PRV_BATCH_COL_OLD 0
#define PRV_BATCH_COL_NEW 180
#define PRV_BATCH_COL_R 360
#define PRV_BATCH_COL_BITS 364
#define PRV_BATCH_COL_ACC 367
#define PRV_BATCH_NCOLS 368

/* Periodic columns (value at a row; 0 where not stated). */
enum {
    PRV_BATCH_P_LEAF = 0, /* 1 on a block's leaf row (row 0) */
    PRV_BATCH_P_L0,       /* rows 0..29: 1 if the next row compresses as a left child (bit 0) */
    PRV_BATCH_P_L1,       /* rows 0..29: 1 if the next row compresses as a right child (bit 1) */
    PRV_BATCH_P_END,      /* 1 on a block's last row (row 30) */
    PRV_BATCH_P_HORN,     /* rows 0..19: ACC = bits + 8 ACC(next) */
    PRV_BATCH_P_LB,       /* row 20: ACC = bits */
    PRV_BATCH_P_ADDR,     /* 5 columns, leaf row: the address words a0..a4 */
    PRV_BATCH_P_CRE = PRV_BATCH_P_ADDR + 5, /* leaf row: 1 if the update creates the account */
    PRV_BATCH_P_DELTA,    /* leaf row: new balance - old balance (in F_p) */
    PRV_BATCH_P_NINC,     /* leaf row: 1 for a sender (nonce + 1, old nonce public) */
    PRV_BATCH_P_NONCE,    /* leaf row of a sender: its public nonce before */
    PRV_BATCH_NPERIODIC
};

#define PRV_BATCH_NPUBLIC 19
#define PRV_BATCH_NCONSTRAINTS 387

/* The largest credit one update may carry: old balance (< 2^63) plus the
 * credit stays below p, so the field addition cannot wrap (docs/prover.md). */
#define PRV_BATCH_CREDIT_MAX ((UINT64_C(1) << 63) - (UINT64_C(1) << 32))

/* One leaf update as the public data fixes it. */
typedef struct prv_batch_air_update {
    uint32_t id;
    uint32_t op;       /* index of its operation; UINT32_MAX for the fee credit */
    uint32_t addr[5];  /* the account's address as 5 big-endian words */
    prv_gl delta;      /* +credit, or p - debit */
    uint32_t nonce;    /* sender: the public nonce before */
    uint8_t sender;    /* 1: debit, nonce + 1 */
    uint8_t created;   /* 1: the update creates the account (old leaf empty) */
} prv_batch_air_update;

/* A statement: the updates and the trace height. */
typedef struct prv_batch_air_stmt {
    uint32_t nupdates;
    unsigned log_n;
    const prv_batch_air_update *upd;
} prv_batch_air_stmt;

/* The leaf updates the public data implies, in order (prover/batch.h), with
 * the checks the AIR relies on: kinds, ids < PRV_BATCH_ID_LIMIT, senders
 * exist, created ids are old_accounts, old_accounts + 1, … and end at
 * new_accounts, amount + fee < 2^63, every credit (an amount, or the fee sum)
 * <= PRV_BATCH_CREDIT_MAX, sender nonces < 2^32 - 1. *upd is malloc'd (the
 * caller frees it). ZK_ERR_BATCH_INCONSISTENT (detail names the operation),
 * ZK_ERR_NOMEM. Thread-safe. */
zk_err prv_batch_air_updates(const prv_batch_public *pub, prv_batch_air_update **upd, uint32_t *n,
                             zk_error_detail *err) ZK_MUST_CHECK;

/* log2 of the trace height for `nupdates` updates (>= 5): the smallest power
 * of two >= 31 nupdates + 1. */
unsigned prv_batch_air_log_n(uint32_t nupdates);

/* Fills *air for the statement (air->ctx = st, which must outlive it). */
void prv_batch_air_init(prv_air *air, const prv_batch_air_stmt *st);

/* The public inputs of a statement. */
void prv_batch_air_public(prv_gl pub[PRV_BATCH_NPUBLIC], const prv_gl old_sub[PRV_BATCH_DIGEST],
                          const prv_gl new_sub[PRV_BATCH_DIGEST], const uint8_t pub_hash[32],
                          uint32_t nupdates, uint32_t old_accounts, uint32_t new_accounts);

/* Fills the trace (PRV_BATCH_NCOLS columns of 2^st->log_n rows,
 * column-major; st->nupdates >= 1 and st->log_n = prv_batch_air_log_n of it)
 * from the witnesses w[0 .. st->nupdates): the old leaf is
 * w's, the new leaf applies the public rule (delta, nonce + sender), the
 * siblings are w's. Checks nothing (a bad witness gives a trace that breaks
 * the AIR). sub_old / sub_new (st->nupdates x 4 each, may be NULL) receive
 * every block's subroots before and after. Uses the thread pool. */
void prv_batch_air_trace(prv_gl *trace, const prv_batch_air_stmt *st, const prv_batch_update *w,
                         prv_gl (*sub_old)[PRV_BATCH_DIGEST], prv_gl (*sub_new)[PRV_BATCH_DIGEST]);

/* The empty-subtree hash of height `level` (0 = the empty leaf .. 32), the
 * same values as ipc_empty_hash. Pointer valid for the process. */
const prv_gl *prv_batch_empty_hash(unsigned level);

/* root = C(C(sub, E30), E31). */
void prv_batch_fold_subroot(prv_gl root[PRV_BATCH_DIGEST], const prv_gl sub[PRV_BATCH_DIGEST]);

#endif
