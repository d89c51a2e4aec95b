/*
 * ipc/batch.h — building a batch's proving job from the shared-memory state.
 *
 * The sequencer gives the batch's operations in order (addresses, amounts,
 * fees, nonces, signatures, deposit ids); the builder resolves account ids
 * (existing accounts from the state, new ones at the next ids), checks every
 * operation against the state as it evolves within the batch (nonce,
 * balance, ranges), stages the resulting account values in the writer, and
 * computes every leaf update's witness against the committed tree WITHOUT
 * applying anything (ipc_writer_preview). The caller then makes the job
 * durable and commits (ipc_writer_commit(w, NULL, 0)), or discards.
 */
#ifndef ZKCAR_IPC_BATCH_H
#define ZKCAR_IPC_BATCH_H

#include "common/error.h"
#include "ipc/state.h"
#include "prover/batch.h"

/* `pub` in: chain_id, bridge, number, operator_addr, first_deposit_id, nops,
 * ops (kind, from, to, amount, fee, nonce, deposit_id, sig). Out (filled in):
 * the ops' ids, old/new roots, old/new account counts, deposit_count,
 * operator_id. `job` receives a deep copy of *pub and the witnesses (the
 * caller frees it with prv_batch_job_free). The writer must have nothing
 * staged; on success the batch's account values are staged (commit or
 * ipc_writer_discard next); on failure nothing is staged. Errors:
 * ZK_ERR_TX_NONCE / ZK_ERR_TX_BALANCE / ZK_ERR_TX_RANGE (detail names the
 * operation), ZK_ERR_BATCH_INCONSISTENT (deposit ids not consecutive),
 * ZK_ERR_STATE_FULL, ZK_ERR_NOMEM. Signatures are not checked here.
 * ZK_ERR_TX_RANGE also covers a credit above PRV_BATCH_CREDIT_MAX
 * (prover/airs/batch.h: the batch AIR cannot prove it) and a sender nonce of
 * 2^32 - 1; ZK_ERR_TOO_BIG when the leaf updates exceed the writer's
 * max_group_ops, ZK_ERR_STATE_WRITER_FAILED from a stopped writer. Not
 * thread-safe (the writer's thread). */
zk_err ipc_batch_build(ipc_writer *w, prv_batch_public *pub, prv_batch_job *job,
                       zk_error_detail *err) ZK_MUST_CHECK;

#endif
