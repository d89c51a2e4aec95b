/*
 * prover/verify.c — the STARK verifier (protocol in prover/stark.h).
 */
#include <stdlib.h>
#include <string.h>

#include "prover/fri.h"
#include "prover/merkle.h"
#include "prover/stark_internal.h"
#include "prover/stark_testing.h"

static prv_gl3 eval_final(const prv_gl3 *coeffs, size_t n, prv_gl x)
{
    prv_gl3 acc = { { 0, 0, 0 } };
    for (size_t i = n; i-- > 0;)
        acc = prv_gl3_add(prv_gl3_mul_base(acc, x), coeffs[i]);
    return acc;
}

zk_err prv_stark_verify_insecure(const prv_air *air, const prv_gl *pub, const uint8_t *bytes,
                                 size_t len, int min_bits, zk_error_detail *err)
{
    prv_proof pf;
    prv_gl *periodic = NULL;
    prv_air_boundary *bnd = NULL;
    prv_gl3 *scratch = NULL, *alpha_pow = NULL, *gam = NULL, *betas = NULL;
    prv_gl *rowbuf = NULL;
    zk_err rc = prv_proof_decode(&pf, bytes, len, err);
    if (rc != ZK_OK)
        return rc;
    const prv_proof_shape *s = &pf.shape;
    if (pf.air_id != air->id || s->ncols != air->ncols) {
        rc = zk_error_set(err, ZK_ERR_PRV_SHAPE, "proof is for AIR %u with %u columns, not %s",
                          pf.air_id, s->ncols, air->name);
        goto cleanup;
    }
    prv_proof_shape chk;
    rc = prv_stark_check_statement(air, &pf.params, s->log_n, pub, min_bits, &chk, err);
    if (rc != ZK_OK)
        goto cleanup;
    unsigned log_n = s->log_n, log_N = s->log_lde, nc = air->ncols;
    size_t n = (size_t)1 << log_n, period = (size_t)1 << air->log_period;
    prv_hash_id hash = (prv_hash_id)pf.params.hash;

    periodic = calloc((size_t)air->nperiodic * period + 1, sizeof *periodic);
    bnd = calloc(air->max_boundary + 1, sizeof *bnd);
    scratch = calloc(2 * (size_t)air->nperiodic + air->nconstraints + 1, sizeof *scratch);
    alpha_pow = calloc(air->nconstraints + air->max_boundary + 1, sizeof *alpha_pow);
    gam = calloc(2 * (size_t)nc + PRV_PROOF_NQUOT, sizeof *gam);
    betas = calloc(s->nlayers + 1, sizeof *betas);
    rowbuf = calloc(3 << PRV_FRI_MAX_LOG_ARITY, sizeof *rowbuf);
    if (!periodic || !bnd || !scratch || !alpha_pow || !gam || !betas || !rowbuf) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "verifier");
        goto cleanup;
    }
    if (air->nperiodic)
        air->periodic(air, periodic);
    size_t nb = air->boundary(air, log_n, pub, bnd);
    if (nb > air->max_boundary)
        ZK_PANIC("AIR returned more boundary constraints than max_boundary");
    for (size_t j = 0; j < nb; j++) {
        if (bnd[j].col >= nc || bnd[j].row >= n) {
            rc = zk_error_set(err, ZK_ERR_PRV_SHAPE, "boundary constraint %zu outside the trace", j);
            goto cleanup;
        }
    }

    /* Replay the transcript. */
    prv_transcript ts;
    prv_stark_transcript_begin(&ts, air, &pf.params, log_n, pub);
    prv_transcript_absorb_digest(&ts, &pf.trace_root);
    prv_gl3 alpha = prv_transcript_gl3(&ts);
    prv_transcript_absorb_digest(&ts, &pf.quot_root);
    prv_gl3 z = prv_transcript_gl3(&ts);
    prv_transcript_absorb_gl3s(&ts, pf.ood_cur, nc);
    prv_transcript_absorb_gl3s(&ts, pf.ood_next, nc);
    prv_transcript_absorb_gl3s(&ts, pf.ood_quot, PRV_PROOF_NQUOT);
    prv_gl3 gamma = prv_transcript_gl3(&ts);
    for (unsigned i = 0; i < s->nlayers; i++) {
        prv_transcript_absorb_digest(&ts, &pf.layer_roots[i]);
        betas[i] = prv_transcript_gl3(&ts);
    }
    size_t flen = (size_t)1 << s->log_final;
    prv_transcript_absorb_gl3s(&ts, pf.final_coeffs, flen);
    if (!prv_transcript_pow_ok(&ts, pf.params.grinding_bits, pf.pow_nonce)) {
        rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "proof of work fails");
        goto cleanup;
    }
    prv_transcript_absorb_u64(&ts, TAG_NONCE, pf.pow_nonce);

    /* Constraints at z against the quotient parts. */
    prv_gl g = prv_gl_root_of_unity(log_n);
    prv_gl3 one = prv_gl3_from_base(1);
    prv_gl3 zn = prv_gl3_pow(z, n);
    prv_gl3 zshift = prv_gl3_pow(prv_gl3_mul_base(z, prv_gl_inv(STARK_SHIFT)), (uint64_t)1 << log_N);
    if (prv_gl3_eq(zn, one) || prv_gl3_eq(zshift, one)) {
        rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "out-of-domain point in the domain");
        goto cleanup;
    }
    prv_gl3 acc = prv_stark_ood_combination(air, pub, log_n, periodic, bnd, nb, alpha, z, pf.ood_cur,
                                            pf.ood_next, scratch, alpha_pow);
    prv_gl3 qz = { { 0, 0, 0 } }, xpow = one, X = { { 0, 1, 0 } };
    for (int c = 0; c < 3; c++) {
        prv_gl3 part = prv_gl3_add(pf.ood_quot[c], prv_gl3_mul(zn, pf.ood_quot[3 + c]));
        qz = prv_gl3_add(qz, prv_gl3_mul(part, xpow));
        xpow = prv_gl3_mul(xpow, X);
    }
    if (!prv_gl3_eq(acc, qz)) {
        rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "constraints do not match the quotient at z");
        goto cleanup;
    }

    /* DEEP composition coefficients. */
    prv_stark_powers(gam, gamma, 2 * (size_t)nc + PRV_PROOF_NQUOT);
    prv_gl3 A = { { 0, 0, 0 } }, Bv = { { 0, 0, 0 } };
    for (unsigned k = 0; k < nc; k++) {
        A = prv_gl3_add(A, prv_gl3_mul(gam[k], pf.ood_cur[k]));
        Bv = prv_gl3_add(Bv, prv_gl3_mul(gam[nc + k], pf.ood_next[k]));
    }
    for (unsigned q = 0; q < PRV_PROOF_NQUOT; q++)
        A = prv_gl3_add(A, prv_gl3_mul(gam[2 * nc + q], pf.ood_quot[q]));
    prv_gl3 gz = prv_gl3_mul_base(z, g);

    /* Queries. */
    unsigned la = s->log_arity;
    size_t arity = (size_t)1 << la;
    prv_gl w_N = prv_gl_root_of_unity(log_N);
    for (size_t q = 0; q < s->num_queries; q++) {
        size_t idx = (size_t)prv_transcript_index(&ts, log_N);
        const prv_gl *trow = pf.trace_rows + q * nc, *qrow = pf.quot_rows + q * PRV_PROOF_NQUOT;
        if (!prv_merkle_verify(hash, &pf.trace_root, log_N, idx, trow, nc, pf.trace_paths + q * log_N) ||
            !prv_merkle_verify(hash, &pf.quot_root, log_N, idx, qrow, PRV_PROOF_NQUOT,
                               pf.quot_paths + q * log_N)) {
            rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "query %zu: trace or quotient opening", q);
            goto cleanup;
        }
        prv_gl x = prv_gl_mul(STARK_SHIFT, prv_gl_pow(w_N, idx));
        prv_gl3 s1 = { { 0, 0, 0 } }, s2 = { { 0, 0, 0 } };
        for (unsigned k = 0; k < nc; k++) {
            s1 = prv_gl3_add(s1, prv_gl3_mul_base(gam[k], trow[k]));
            s2 = prv_gl3_add(s2, prv_gl3_mul_base(gam[nc + k], trow[k]));
        }
        for (unsigned k = 0; k < PRV_PROOF_NQUOT; k++)
            s1 = prv_gl3_add(s1, prv_gl3_mul_base(gam[2 * nc + k], qrow[k]));
        prv_gl3 xe = prv_gl3_from_base(x);
        prv_gl3 expect = prv_gl3_add(prv_gl3_mul(prv_gl3_sub(s1, A), prv_gl3_inv(prv_gl3_sub(xe, z))),
                                     prv_gl3_mul(prv_gl3_sub(s2, Bv), prv_gl3_inv(prv_gl3_sub(xe, gz))));
        unsigned log_size = log_N;
        prv_gl shift = STARK_SHIFT;
        for (unsigned i = 0; i < s->nlayers; i++) {
            size_t nleaves = ((size_t)1 << log_size) >> la, j = idx & (nleaves - 1), t = idx >> (log_size - la);
            const prv_gl3 *vals = pf.layer_vals + (q * s->nlayers + i) * arity;
            for (size_t u = 0; u < arity; u++)
                memcpy(rowbuf + 3 * u, vals[u].c, 3 * sizeof(prv_gl));
            if (!prv_merkle_verify(hash, &pf.layer_roots[i], log_size - la, j, rowbuf, 3 * arity,
                                   pf.layer_paths + q * s->layer_path_total + s->layer_path_off[i]) ||
                !prv_gl3_eq(vals[t], expect)) {
                rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "query %zu: FRI layer %u", q, i);
                goto cleanup;
            }
            prv_gl xj = prv_gl_mul(shift, prv_gl_pow(prv_gl_root_of_unity(log_size), j));
            expect = prv_fri_fold(vals, la, prv_gl_inv(xj), betas[i]);
            idx = j;
            log_size -= la;
            for (unsigned r = 0; r < la; r++)
                shift = prv_gl_sqr(shift);
        }
        prv_gl xf = prv_gl_mul(shift, prv_gl_pow(prv_gl_root_of_unity(log_size), idx));
        if (!prv_gl3_eq(eval_final(pf.final_coeffs, flen, xf), expect)) {
            rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "query %zu: final FRI polynomial", q);
            goto cleanup;
        }
    }
    rc = ZK_OK;

cleanup:
    free(periodic);
    free(bnd);
    free(scratch);
    free(alpha_pow);
    free(gam);
    free(betas);
    free(rowbuf);
    prv_proof_free(&pf);
    return rc;
}

zk_err prv_stark_verify(const prv_air *air, const prv_gl *pub, const uint8_t *proof, size_t proof_len,
                        zk_error_detail *err)
{
    return prv_stark_verify_insecure(air, pub, proof, proof_len, PRV_STARK_MIN_SECURITY_BITS, err);
}
