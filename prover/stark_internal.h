/*
 * prover/stark_internal.h — pieces shared by prove.c and verify.c (private).
 */
#ifndef ZKCAR_PROVER_STARK_INTERNAL_H
#define ZKCAR_PROVER_STARK_INTERNAL_H

#include "prover/air.h"
#include "prover/proof.h"
#include "prover/stark.h"
#include "prover/transcript.h"

/* The coset of the low-degree extension: shift · <w_N>. */
#define STARK_SHIFT PRV_GL_GENERATOR
#define STARK_LABEL "zkcar-stark-v1"

/* Transcript tags. */
#define TAG_PARAMS 'P'
#define TAG_PUBLIC 'I'
#define TAG_NONCE 'N'

/* Checks the AIR description, the params and shape, the statement's shape
 * (air->shape_ok) and the security floor. Returns ZK_OK or a ZK_ERR_PRV_* with
 * detail; fills *shape. */
zk_err prv_stark_check_statement(const prv_air *air, const prv_stark_params *params, unsigned log_n,
                                 const prv_gl *pub, int min_bits, prv_proof_shape *shape,
                                 zk_error_detail *err);

/* Starts the transcript: label, parameters, AIR id and shape, log_n, public inputs. */
void prv_stark_transcript_begin(prv_transcript *t, const prv_air *air, const prv_stark_params *params,
                                unsigned log_n, const prv_gl *pub);

/* alpha^0 .. alpha^(n-1). */
void prv_stark_powers(prv_gl3 *out, prv_gl3 alpha, size_t n);

/* The verifier's side of the DEEP-ALI check: the constraint combination at
 * the out-of-domain point z from the claimed openings,
 *   sum_k alpha^k C_k(z) (z - g^(n-1)) / (z^n - 1)
 *   + sum_j alpha^(K+j) (T_col_j(z) - v_j) / (z - g^row_j),
 * where z^n != 1 (checked by the caller). scratch: 2*nperiodic + nconstraints
 * elements; alpha_pow: nconstraints + nb. */
prv_gl3 prv_stark_ood_combination(const prv_air *air, const prv_gl *pub, unsigned log_n,
                                  const prv_gl *periodic, const prv_air_boundary *bnd, size_t nb,
                                  prv_gl3 alpha, prv_gl3 z, const prv_gl3 *ood_cur,
                                  const prv_gl3 *ood_next, prv_gl3 *scratch, prv_gl3 *alpha_pow);

#endif
