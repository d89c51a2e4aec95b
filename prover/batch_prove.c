/*
 * prover/batch_prove.c — proving and verifying batches with the batch AIR
 * (prover/airs/batch.h): prv_batch_prove, prv_batch_verify,
 * prv_batch_security_bits and the testing entry points of
 * prover/batch_testing.h.
 *
 * A batch proof is
 *   "ZKBP" | u8 version (1) | old subroot (4 x u64 LE) | new subroot (4 x u64 LE)
 *   | the STARK proof (prover/proof.c)
 * The verifier folds each subroot with the two top empty subtrees and
 * compares with the public data's roots, then verifies the STARK with the
 * subroots, the public data's hash and counts as its public inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/probes.h"
#include "common/endian.h"
#include "prover/airs/batch.h"
#include "prover/batch.h"
#include "prover/batch_testing.h"
#include "prover/stark_testing.h"

#define PROOF_MAGIC "ZKBP"
#define PROOF_VERSION 1
#define PROOF_HEADER (4 + 1 + 2 * PRV_BATCH_DIGEST * 8)
#define BALANCE_LIMIT (UINT64_C(1) << 63)

static const char *op_name(const prv_batch_air_update *u, char *buf, size_t cap)
{
    if (u->op == UINT32_MAX)
        return "the fee credit";
    snprintf(buf, cap, "operation %u", u->op);
    return buf;
}

static bool digest_eq(const prv_gl *a, const prv_gl *b)
{
    return memcmp(a, b, PRV_BATCH_DIGEST * sizeof(prv_gl)) == 0;
}

/* The honest prover's checks of each witness against the rules. */
static zk_err check_witnesses(const prv_batch_job *job, const prv_batch_air_update *upd, uint32_t n,
                              zk_error_detail *err)
{
    char nb[32];
    for (uint32_t k = 0; k < n; k++) {
        const prv_batch_air_update *u = &upd[k];
        const prv_batch_update *w = &job->updates[k];
        const char *name = op_name(u, nb, sizeof nb);
        if (w->id != u->id)
            return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: witness for id %u, not %u", name, w->id, u->id);
        uint8_t want[PRV_BATCH_ADDRESS];
        for (unsigned i = 0; i < 5; i++)
            for (unsigned j = 0; j < 4; j++)
                want[4 * i + j] = (uint8_t)(u->addr[i] >> (24 - 8 * j));
        if (u->created) {
            static const uint8_t zero[PRV_BATCH_ADDRESS];
            if (memcmp(w->old_address, zero, sizeof zero) != 0 || w->old_balance != 0 || w->old_nonce != 0)
                return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: account %u is not new", name, u->id);
        } else if (memcmp(w->old_address, want, sizeof want) != 0) {
            return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: account %u has another address", name, u->id);
        }
        if (w->old_balance >= BALANCE_LIMIT)
            return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: old balance out of range", name);
        if (u->sender) {
            if (w->old_nonce != u->nonce)
                return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: nonce %u, the account has %u", name,
                                    u->nonce, w->old_nonce);
            if (w->old_balance < PRV_GL_P - u->delta)
                return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: balance below amount + fee", name);
        } else if (w->old_balance + u->delta >= BALANCE_LIMIT) {
            return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: balance would pass 2^63", name);
        }
        if (!digest_eq(w->siblings[PRV_BATCH_SUB_LEVEL], prv_batch_empty_hash(PRV_BATCH_SUB_LEVEL)) ||
            !digest_eq(w->siblings[PRV_BATCH_SUB_LEVEL + 1], prv_batch_empty_hash(PRV_BATCH_SUB_LEVEL + 1)))
            return zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: top siblings are not empty subtrees", name);
    }
    return ZK_OK;
}

/* The statement of `pub`: its updates, the trace height. *upd is malloc'd. */
static zk_err statement(const prv_batch_public *pub, prv_batch_air_update **upd, prv_batch_air_stmt *st,
                        zk_error_detail *err)
{
    uint32_t n;
    zk_err rc = prv_batch_air_updates(pub, upd, &n, err);
    if (rc != ZK_OK)
        return rc;
    st->nupdates = n;
    st->log_n = prv_batch_air_log_n(n);
    st->upd = *upd;
    return ZK_OK;
}

/* Builds the trace; with `check`, also the honest prover's checks. */
static zk_err build_trace(const prv_batch_job *job, bool check, prv_batch_air_update **upd,
                          prv_batch_air_stmt *st, prv_gl **trace, prv_gl old_sub[PRV_BATCH_DIGEST],
                          prv_gl new_sub[PRV_BATCH_DIGEST], zk_error_detail *err)
{
    prv_gl(*so)[PRV_BATCH_DIGEST] = NULL;
    prv_gl(*sn)[PRV_BATCH_DIGEST] = NULL;
    *trace = NULL;
    zk_err rc = statement(&job->pub, upd, st, err);
    if (rc != ZK_OK)
        return rc;
    if (job->nupdates != st->nupdates || !job->updates) {
        rc = zk_error_set(err, ZK_ERR_BATCH_WITNESS, "job has %u updates, the operations imply %u",
                          job->nupdates, st->nupdates);
        goto cleanup;
    }
    if (check && (rc = check_witnesses(job, *upd, st->nupdates, err)) != ZK_OK)
        goto cleanup;
    size_t n = (size_t)1 << st->log_n;
    *trace = malloc((size_t)PRV_BATCH_NCOLS * n * sizeof **trace);
    so = malloc((size_t)st->nupdates * sizeof *so);
    sn = malloc((size_t)st->nupdates * sizeof *sn);
    if (!*trace || !so || !sn) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "batch trace (2^%u rows)", st->log_n);
        goto cleanup;
    }
    prv_batch_air_trace(*trace, st, job->updates, so, sn);
    memcpy(old_sub, so[0], sizeof so[0]);
    memcpy(new_sub, sn[st->nupdates - 1], sizeof sn[0]);
    if (check) {
        char nb[32];
        prv_gl root[PRV_BATCH_DIGEST];
        prv_batch_fold_subroot(root, old_sub);
        if (!digest_eq(root, job->pub.old_root)) {
            rc = zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: path does not lead to the old root",
                              op_name(&(*upd)[0], nb, sizeof nb));
            goto cleanup;
        }
        for (uint32_t k = 1; k < st->nupdates; k++) {
            if (!digest_eq(so[k], sn[k - 1])) {
                rc = zk_error_set(err, ZK_ERR_BATCH_WITNESS, "%s: path does not chain from the previous update",
                                  op_name(&(*upd)[k], nb, sizeof nb));
                goto cleanup;
            }
        }
        prv_batch_fold_subroot(root, new_sub);
        if (!digest_eq(root, job->pub.new_root)) {
            rc = zk_error_set(err, ZK_ERR_BATCH_WITNESS, "the updates lead to another root than new_root");
            goto cleanup;
        }
    }
cleanup:
    free(so);
    free(sn);
    if (rc != ZK_OK) {
        free(*trace);
        *trace = NULL;
        free(*upd);
        *upd = NULL;
    }
    return rc;
}

/* Header + STARK proof into one buffer. */
static zk_err wrap_proof(const prv_gl old_sub[PRV_BATCH_DIGEST], const prv_gl new_sub[PRV_BATCH_DIGEST],
                         uint8_t *stark, size_t stark_len, uint8_t **proof, size_t *proof_len, zk_error_detail *err)
{
    uint8_t *out = malloc(PROOF_HEADER + stark_len);
    if (!out)
        return zk_error_set(err, ZK_ERR_NOMEM, "batch proof");
    memcpy(out, PROOF_MAGIC, 4);
    out[4] = PROOF_VERSION;
    for (unsigned i = 0; i < PRV_BATCH_DIGEST; i++) {
        zk_le_put64(out + 5 + 8 * i, old_sub[i]);
        zk_le_put64(out + 5 + 8 * (PRV_BATCH_DIGEST + i), new_sub[i]);
    }
    memcpy(out + PROOF_HEADER, stark, stark_len);
    *proof = out;
    *proof_len = PROOF_HEADER + stark_len;
    return ZK_OK;
}

static zk_err prove_common(const prv_batch_public *pub, const prv_batch_air_stmt *st, const prv_gl *trace,
                           const prv_gl old_sub[PRV_BATCH_DIGEST], const prv_gl new_sub[PRV_BATCH_DIGEST],
                           const prv_stark_params *params, bool insecure, uint8_t **proof, size_t *proof_len,
                           zk_error_detail *err)
{
    uint8_t hash[32], *stark = NULL;
    size_t stark_len = 0;
    zk_err rc = prv_batch_public_hash(pub, hash);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "hashing the public data");
    prv_gl pin[PRV_BATCH_NPUBLIC];
    prv_batch_air_public(pin, old_sub, new_sub, hash, st->nupdates, pub->old_accounts, pub->new_accounts);
    prv_air air;
    prv_batch_air_init(&air, st);
    if (insecure)
        rc = prv_stark_prove_insecure(&air, params, trace, st->log_n, pin, PRV_STARK_TEST_SKIP_TRACE_CHECK, 0,
                                      &stark, &stark_len, err);
    else
        rc = prv_stark_prove(&air, params, trace, st->log_n, pin, &stark, &stark_len, err);
    if (rc == ZK_OK)
        rc = wrap_proof(old_sub, new_sub, stark, stark_len, proof, proof_len, err);
    free(stark);
    return rc;
}

zk_err prv_batch_prove(const prv_batch_job *job, const prv_stark_params *params, uint8_t **proof,
                       size_t *proof_len, zk_error_detail *err)
{
    prv_batch_air_update *upd = NULL;
    prv_batch_air_stmt st;
    prv_gl *trace = NULL, old_sub[PRV_BATCH_DIGEST], new_sub[PRV_BATCH_DIGEST];
    *proof = NULL;
    *proof_len = 0;
    if (!params)
        params = &prv_stark_params_default;
    ZKBPF_BEGIN(prove_batch);
    zk_err rc = prv_batch_public_check(&job->pub, err);
    if (rc != ZK_OK)
        return rc;
    rc = build_trace(job, true, &upd, &st, &trace, old_sub, new_sub, err);
    if (rc != ZK_OK)
        return rc;
    rc = prove_common(&job->pub, &st, trace, old_sub, new_sub, params, false, proof, proof_len, err);
    free(trace);
    free(upd);
    ZKBPF_END(prove_batch);
    return rc;
}

static zk_err verify_common(const prv_batch_public *pub, const uint8_t *proof, size_t proof_len, int min_bits,
                            bool insecure, zk_error_detail *err)
{
    prv_batch_air_update *upd = NULL;
    prv_batch_air_stmt st;
    zk_err rc = prv_batch_public_check(pub, err);
    if (rc != ZK_OK)
        return rc;
    rc = statement(pub, &upd, &st, err);
    if (rc != ZK_OK)
        return rc;
    prv_gl sub[2][PRV_BATCH_DIGEST], root[PRV_BATCH_DIGEST];
    if (!proof || proof_len < PROOF_HEADER || memcmp(proof, PROOF_MAGIC, 4) != 0) {
        rc = zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "not a batch proof");
        goto cleanup;
    }
    if (proof[4] != PROOF_VERSION) {
        rc = zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "batch proof version %u", proof[4]);
        goto cleanup;
    }
    for (unsigned h = 0; h < 2; h++) {
        for (unsigned i = 0; i < PRV_BATCH_DIGEST; i++) {
            sub[h][i] = zk_le_get64(proof + 5 + 8 * (PRV_BATCH_DIGEST * h + i));
            if (sub[h][i] >= PRV_GL_P) {
                rc = zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "subroot element not below p");
                goto cleanup;
            }
        }
    }
    prv_batch_fold_subroot(root, sub[0]);
    if (!digest_eq(root, pub->old_root)) {
        rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "the proof's old subroot does not give old_root");
        goto cleanup;
    }
    prv_batch_fold_subroot(root, sub[1]);
    if (!digest_eq(root, pub->new_root)) {
        rc = zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "the proof's new subroot does not give new_root");
        goto cleanup;
    }
    uint8_t hash[32];
    rc = prv_batch_public_hash(pub, hash);
    if (rc != ZK_OK) {
        rc = zk_error_set(err, rc, "hashing the public data");
        goto cleanup;
    }
    prv_gl pin[PRV_BATCH_NPUBLIC];
    prv_batch_air_public(pin, sub[0], sub[1], hash, st.nupdates, pub->old_accounts, pub->new_accounts);
    prv_air air;
    prv_batch_air_init(&air, &st);
    if (insecure)
        rc = prv_stark_verify_insecure(&air, pin, proof + PROOF_HEADER, proof_len - PROOF_HEADER, min_bits, err);
    else
        rc = prv_stark_verify(&air, pin, proof + PROOF_HEADER, proof_len - PROOF_HEADER, err);
cleanup:
    free(upd);
    return rc;
}

zk_err prv_batch_verify(const prv_batch_public *pub, const uint8_t *proof, size_t proof_len, zk_error_detail *err)
{
    return verify_common(pub, proof, proof_len, PRV_STARK_MIN_SECURITY_BITS, false, err);
}

int prv_batch_security_bits(const prv_batch_public *pub, const prv_stark_params *params)
{
    prv_batch_air_update *upd = NULL;
    prv_batch_air_stmt st;
    if (statement(pub, &upd, &st, NULL) != ZK_OK)
        return -1;
    prv_air air;
    prv_batch_air_init(&air, &st);
    int bits = prv_stark_security_bits(&air, params ? params : &prv_stark_params_default, st.log_n);
    free(upd);
    return bits;
}

/* ---- testing entry points (prover/batch_testing.h) ------------------------------ */

zk_err prv_batch_trace_build(const prv_batch_job *job, prv_gl **trace, unsigned *log_n,
                             prv_gl old_sub[PRV_BATCH_DIGEST], prv_gl new_sub[PRV_BATCH_DIGEST],
                             zk_error_detail *err)
{
    prv_batch_air_update *upd = NULL;
    prv_batch_air_stmt st;
    zk_err rc = build_trace(job, false, &upd, &st, trace, old_sub, new_sub, err);
    if (rc == ZK_OK)
        *log_n = st.log_n;
    free(upd);
    return rc;
}

zk_err prv_batch_trace_check(const prv_batch_public *pub, const prv_gl *trace, unsigned log_n,
                             const prv_gl old_sub[PRV_BATCH_DIGEST], const prv_gl new_sub[PRV_BATCH_DIGEST],
                             unsigned *bad_constraint, zk_error_detail *err)
{
    prv_batch_air_update *upd = NULL;
    prv_batch_air_stmt st;
    prv_gl *periodic = NULL, *rows = NULL;
    zk_err rc = statement(pub, &upd, &st, err);
    if (rc != ZK_OK)
        return rc;
    if (log_n != st.log_n) {
        rc = zk_error_set(err, ZK_ERR_PRV_SHAPE, "2^%u rows, the statement has 2^%u", log_n, st.log_n);
        goto cleanup;
    }
    size_t n = (size_t)1 << log_n;
    uint8_t hash[32] = { 0 };
    prv_gl pin[PRV_BATCH_NPUBLIC];
    prv_batch_air_public(pin, old_sub, new_sub, hash, st.nupdates, pub->old_accounts, pub->new_accounts);
    prv_air air;
    prv_batch_air_init(&air, &st);
    periodic = malloc((size_t)PRV_BATCH_NPERIODIC * n * sizeof *periodic);
    rows = malloc((2 * PRV_BATCH_NCOLS + PRV_BATCH_NPERIODIC + PRV_BATCH_NCONSTRAINTS) * sizeof *rows);
    if (!periodic || !rows) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "trace check");
        goto cleanup;
    }
    air.periodic(&air, periodic);
    prv_air_boundary bnd[2 * PRV_BATCH_DIGEST];
    size_t nb = air.boundary(&air, log_n, pin, bnd);
    for (size_t j = 0; j < nb; j++) {
        if (trace[(size_t)bnd[j].col * n + bnd[j].row] != bnd[j].value) {
            if (bad_constraint)
                *bad_constraint = PRV_BATCH_NCONSTRAINTS + (unsigned)j;
            rc = zk_error_set(err, ZK_ERR_PRV_TRACE, "boundary constraint %zu fails", j);
            goto cleanup;
        }
    }
    prv_gl *cur = rows, *next = rows + PRV_BATCH_NCOLS, *per = next + PRV_BATCH_NCOLS;
    prv_gl *out = per + PRV_BATCH_NPERIODIC;
    for (size_t r = 0; r + 1 < n; r++) {
        for (unsigned c = 0; c < PRV_BATCH_NCOLS; c++) {
            cur[c] = trace[(size_t)c * n + r];
            next[c] = trace[(size_t)c * n + r + 1];
        }
        for (unsigned k = 0; k < PRV_BATCH_NPERIODIC; k++)
            per[k] = periodic[(size_t)k * n + r];
        air.eval(&air, cur, next, per, pin, out);
        for (unsigned k = 0; k < PRV_BATCH_NCONSTRAINTS; k++) {
            if (out[k] != 0) {
                if (bad_constraint)
                    *bad_constraint = k;
                rc = zk_error_set(err, ZK_ERR_PRV_TRACE, "constraint %u fails at row %zu (block %zu, row %zu)", k,
                                  r, r / PRV_BATCH_BLOCK_ROWS, r % PRV_BATCH_BLOCK_ROWS);
                goto cleanup;
            }
        }
    }
cleanup:
    free(periodic);
    free(rows);
    free(upd);
    return rc;
}

zk_err prv_batch_prove_trace_insecure(const prv_batch_public *pub, const prv_gl *trace, unsigned log_n,
                                      const prv_gl old_sub[PRV_BATCH_DIGEST],
                                      const prv_gl new_sub[PRV_BATCH_DIGEST], const prv_stark_params *params,
                                      uint8_t **proof, size_t *proof_len, zk_error_detail *err)
{
    prv_batch_air_update *upd = NULL;
    prv_batch_air_stmt st;
    *proof = NULL;
    *proof_len = 0;
    zk_err rc = statement(pub, &upd, &st, err);
    if (rc != ZK_OK)
        return rc;
    if (log_n != st.log_n)
        rc = zk_error_set(err, ZK_ERR_PRV_SHAPE, "2^%u rows, the statement has 2^%u", log_n, st.log_n);
    else
        rc = prove_common(pub, &st, trace, old_sub, new_sub, params ? params : &prv_stark_params_default, true,
                          proof, proof_len, err);
    free(upd);
    return rc;
}

zk_err prv_batch_verify_insecure(const prv_batch_public *pub, const uint8_t *proof, size_t proof_len, int min_bits,
                                 zk_error_detail *err)
{
    return verify_common(pub, proof, proof_len, min_bits, true, err);
}
