/*
 * prover/batch_testing.h — INSECURE entry points of the batch prover, for
 * the soundness tests (a malicious prover builds a bad trace and proves it
 * without the honest prover's checks) and for benchmarks. Production code
 * (the sidecar, `zkcar verify`) must use prover/batch.h; nothing here may be
 * reached from a production code path.
 */
#ifndef ZKCAR_PROVER_BATCH_TESTING_H
#define ZKCAR_PROVER_BATCH_TESTING_H

#include "prover/batch.h"

/* Builds the batch AIR's trace for `job` WITHOUT checking the witnesses (a
 * bad job gives a trace that breaks the AIR): *trace (malloc'd, the caller
 * frees it; PRV_BATCH_NCOLS columns of 2^*log_n rows, column-major, see
 * prover/airs/batch.h), the first block's old subroot and the last block's
 * new subroot. Only the public data's own consistency is checked
 * (ZK_ERR_BATCH_INCONSISTENT); ZK_ERR_BATCH_WITNESS if job->nupdates does not
 * match it; ZK_ERR_NOMEM. */
zk_err prv_batch_trace_build(const prv_batch_job *job, prv_gl **trace, unsigned *log_n,
                             prv_gl old_sub[PRV_BATCH_DIGEST], prv_gl new_sub[PRV_BATCH_DIGEST],
                             zk_error_detail *err) ZK_MUST_CHECK;

/* Checks `trace` against the batch AIR of `pub` with these subroots, row by
 * row, without a proof: ZK_OK, or ZK_ERR_PRV_TRACE with the row and the
 * constraint in the detail, ZK_ERR_PRV_SHAPE for a wrong height. */
zk_err prv_batch_trace_check(const prv_batch_public *pub, const prv_gl *trace, unsigned log_n,
                             const prv_gl old_sub[PRV_BATCH_DIGEST], const prv_gl new_sub[PRV_BATCH_DIGEST],
                             unsigned *bad_constraint, zk_error_detail *err) ZK_MUST_CHECK;

/* Proves `trace` as a batch proof for `pub` with the claimed subroots and
 * `params` (any security level), skipping the trace check: whatever the
 * protocol yields for a trace that breaks the AIR. */
zk_err prv_batch_prove_trace_insecure(const prv_batch_public *pub, const prv_gl *trace, unsigned log_n,
                                      const prv_gl old_sub[PRV_BATCH_DIGEST],
                                      const prv_gl new_sub[PRV_BATCH_DIGEST], const prv_stark_params *params,
                                      uint8_t **proof, size_t *proof_len, zk_error_detail *err) ZK_MUST_CHECK;

/* prv_batch_verify with a caller-chosen security floor (may be 0). */
zk_err prv_batch_verify_insecure(const prv_batch_public *pub, const uint8_t *proof, size_t proof_len,
                                 int min_bits, zk_error_detail *err) ZK_MUST_CHECK;

#endif
