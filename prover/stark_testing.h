/*
 * prover/stark_testing.h — INSECURE entry points, for tests and benchmarks
 * only. Production code (the sidecar, `zkcar verify`) must use prover/stark.h,
 * which refuses parameter sets below PRV_STARK_MIN_SECURITY_BITS; nothing in
 * this header may be reached from a production code path.
 */
#ifndef ZKCAR_PROVER_STARK_TESTING_H
#define ZKCAR_PROVER_STARK_TESTING_H

#include "prover/stark.h"

/* Flags for prv_stark_prove_insecure. */
#define PRV_STARK_TEST_SKIP_TRACE_CHECK 1u /* prove even a trace that breaks the AIR */
/* A cheating prover for FRI tests (implies SKIP_TRACE_CHECK): it commits the
 * quotient's raw evaluations (not a polynomial of degree < 2n when the trace
 * is bad) and claims at z exactly the values the constraint check wants, so
 * only FRI's low-degree test stands between it and acceptance. */
#define PRV_STARK_TEST_CHEAT_QUOTIENT 2u

/* prv_stark_prove with a caller-chosen security floor (min_bits may be 0) and
 * flags; with PRV_STARK_TEST_SKIP_TRACE_CHECK the prover does not check the
 * trace and emits whatever proof the protocol yields (soundness tests). */
zk_err prv_stark_prove_insecure(const prv_air *air, const prv_stark_params *params,
                                const prv_gl *trace, unsigned log_n, const prv_gl *pub,
                                unsigned flags, int min_bits, uint8_t **proof, size_t *proof_len,
                                zk_error_detail *err) ZK_MUST_CHECK;

/* prv_stark_verify with a caller-chosen security floor (may be 0). */
zk_err prv_stark_verify_insecure(const prv_air *air, const prv_gl *pub, const uint8_t *proof,
                                 size_t proof_len, int min_bits, zk_error_detail *err) ZK_MUST_CHECK;

#endif
