/*
 * prover/stark_common.c — parameter sets, the security check and the
 * transcript preamble shared by the prover and the verifier.
 */
#include "prover/stark_internal.h"

#include <stdlib.h>

#include "prover/soundness.h"

/* Blowup 2 (rate 1/2), 180 queries, 20 bits of grinding, arity 8 down to
 * degree < 32, Keccak-256 Merkle trees: 107 provable bits for 2^20 rows of
 * ~375 columns (REFERENCE.md §1) and for every shape the prover supports.
 * Why these and not blowup 4 / 84 queries (102 bits) or 8 / 56 (103 bits):
 * the prover's time and memory are proportional to the extended domain, and
 * blowup 2 proves the hash chain ~1.5x faster than blowup 4 (and needs half
 * the memory, which the 2^20-row batch AIR will need) for twice the proof
 * bytes; Keccak-256 commits wide rows faster than Poseidon2 here
 * (docs/prover.md has the figures). The quotient (degree < 2n) still fits
 * the extended domain of 2n points. */
const prv_stark_params prv_stark_params_default = {
    .hash = PRV_HASH_KECCAK,
    .log_blowup = 1,
    .num_queries = 180,
    .grinding_bits = 20,
    .fri_log_arity = 3,
    .fri_log_final = 5,
};

static int security_bits_shape(const prv_air *air, const prv_stark_params *params,
                               const prv_proof_shape *s)
{
    prv_soundness_input in = {
        .log_trace_len = s->log_n,
        .ncols = air->ncols,
        .batch_size = air->ncols + PRV_PROOF_NQUOT,
        .degree = air->degree,
        .opening_points = 2,
        .log_blowup = params->log_blowup,
        .num_queries = params->num_queries,
        .grinding_bits = params->grinding_bits,
        .fri_log_arity = params->fri_log_arity,
        .fri_rounds = s->nlayers,
    };
    return prv_soundness_bits(&in, NULL);
}

int prv_stark_security_bits(const prv_air *air, const prv_stark_params *params, unsigned log_n)
{
    prv_proof_shape s;
    if (prv_proof_shape_of(&s, params, log_n, air->ncols) != ZK_OK)
        return -1;
    return security_bits_shape(air, params, &s);
}

zk_err prv_stark_check_statement(const prv_air *air, const prv_stark_params *params, unsigned log_n,
                                 const prv_gl *pub, int min_bits, prv_proof_shape *shape,
                                 zk_error_detail *err)
{
    if (air->ncols < 1 || air->ncols > PRV_AIR_MAX_COLS || air->nconstraints < 1 ||
        air->nconstraints > PRV_AIR_MAX_CONSTRAINTS || air->degree < 1 ||
        air->degree > PRV_AIR_MAX_DEGREE || air->npublic > PRV_AIR_MAX_PUBLIC ||
        air->nperiodic > PRV_AIR_MAX_PERIODIC || air->max_boundary > PRV_AIR_MAX_BOUNDARY ||
        !air->eval || !air->eval_ext || !air->boundary || !air->shape_ok ||
        (air->nperiodic && !air->periodic))
        return zk_error_set(err, ZK_ERR_PRV_SHAPE, "AIR %s: description out of range", air->name);
    zk_err rc = prv_proof_shape_of(shape, params, log_n, air->ncols);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "parameters or trace height 2^%u out of range", log_n);
    if (air->log_period > log_n)
        return zk_error_set(err, ZK_ERR_PRV_SHAPE, "period 2^%u longer than the trace", air->log_period);
    if (!air->shape_ok(air, log_n, pub))
        return zk_error_set(err, ZK_ERR_PRV_SHAPE, "AIR %s: 2^%u rows do not fit the public inputs",
                            air->name, log_n);
    int bits = security_bits_shape(air, params, shape);
    if (bits < min_bits)
        return zk_error_set(err, ZK_ERR_PRV_PARAMS, "parameters give %d provable bits, %d required",
                            bits, min_bits);
    return ZK_OK;
}

void prv_stark_transcript_begin(prv_transcript *t, const prv_air *air, const prv_stark_params *params,
                                unsigned log_n, const prv_gl *pub)
{
    prv_transcript_init(t, STARK_LABEL);
    uint64_t words[13] = {
        params->hash,         params->log_blowup,    params->num_queries, params->grinding_bits,
        params->fri_log_arity, params->fri_log_final, air->id,            air->ncols,
        air->nconstraints,    air->degree,           air->nperiodic,      air->log_period,
        ((uint64_t)air->npublic << 32) | log_n,
    };
    prv_transcript_absorb(t, TAG_PARAMS, words, sizeof words);
    prv_transcript_absorb(t, TAG_PUBLIC, pub, (size_t)air->npublic * sizeof *pub);
}

void prv_stark_powers(prv_gl3 *out, prv_gl3 alpha, size_t n)
{
    prv_gl3 cur = prv_gl3_from_base(1);
    for (size_t i = 0; i < n; i++) {
        out[i] = cur;
        cur = prv_gl3_mul(cur, alpha);
    }
}

/* Periodic column k at the point y = z^(n/period): barycentric interpolation
 * over the subgroup of size `period` (y is outside it because z^n != 1),
 *     v(y) = (y^m - 1)/m * sum_i v_i w^i / (y - w^i).
 * The weights e_i = w^i / (y - w^i) do not depend on the column, so they are
 * computed once (one batch inversion) and each column costs a dot product of
 * m base elements with them: O(m) multiplications, no inversion. */
static void periodic_weights(prv_gl3 *e, unsigned log_period, prv_gl3 y)
{
    size_t m = (size_t)1 << log_period;
    prv_gl w = prv_gl_root_of_unity(log_period), wi = 1;
    for (size_t i = 0; i < m; i++) {
        e[i] = prv_gl3_sub(y, prv_gl3_from_base(wi));
        wi = prv_gl_mul(wi, w);
    }
    prv_gl3_batch_inv(e, m);
    wi = 1;
    for (size_t i = 0; i < m; i++) {
        e[i] = prv_gl3_mul_base(e[i], wi);
        wi = prv_gl_mul(wi, w);
    }
}

/* sum_i e_i * vals[i] with one reduction per coordinate (128-bit partial
 * sums plus a count of their wrap-arounds, each worth 2^128 = -2^32 mod p). */
static prv_gl3 periodic_dot(const prv_gl3 *e, const prv_gl *vals, size_t m)
{
    unsigned __int128 acc[3] = { 0, 0, 0 };
    uint64_t wraps[3] = { 0, 0, 0 };
    for (size_t i = 0; i < m; i++) {
        if (vals[i] == 0)
            continue;
        for (int c = 0; c < 3; c++) {
            unsigned __int128 prod = (unsigned __int128)e[i].c[c] * vals[i];
            acc[c] += prod;
            wraps[c] += acc[c] < prod;
        }
    }
    prv_gl3 r;
    for (int c = 0; c < 3; c++) {
        prv_gl w = prv_gl_mul(prv_gl_from_u64(wraps[c]), PRV_GL_P - (1ULL << 32));
        r.c[c] = prv_gl_add(prv_gl_reduce128(acc[c]), w);
    }
    return r;
}

static prv_gl3 periodic_at(const prv_gl *vals, unsigned log_period, prv_gl3 y)
{
    size_t m = (size_t)1 << log_period;
    if (m == 1)
        return prv_gl3_from_base(vals[0]);
    prv_gl w = prv_gl_root_of_unity(log_period), wi = 1;
    prv_gl3 sum = { { 0, 0, 0 } };
    for (size_t i = 0; i < m; i++) {
        prv_gl3 d = prv_gl3_inv(prv_gl3_sub(y, prv_gl3_from_base(wi)));
        sum = prv_gl3_add(sum, prv_gl3_mul_base(d, prv_gl_mul(vals[i], wi)));
        wi = prv_gl_mul(wi, w);
    }
    prv_gl3 scale = prv_gl3_mul_base(prv_gl3_sub(prv_gl3_pow(y, m), prv_gl3_from_base(1)),
                                     prv_gl_inv((prv_gl)m));
    return prv_gl3_mul(sum, scale);
}

prv_gl3 prv_stark_ood_combination(const prv_air *air, const prv_gl *pub, unsigned log_n,
                                  const prv_gl *periodic, const prv_air_boundary *bnd, size_t nb,
                                  prv_gl3 alpha, prv_gl3 z, const prv_gl3 *ood_cur,
                                  const prv_gl3 *ood_next, prv_gl3 *scratch, prv_gl3 *alpha_pow)
{
    size_t n = (size_t)1 << log_n, period = (size_t)1 << air->log_period;
    prv_gl g = prv_gl_root_of_unity(log_n);
    prv_gl3 one = prv_gl3_from_base(1);
    prv_gl3 zn = prv_gl3_pow(z, n);
    prv_gl3 *per_z = scratch, *cvals = scratch + air->nperiodic;
    prv_gl3 y = prv_gl3_pow(z, n / period);
    /* Shared weights when there are several periodic columns; without
     * memory for them, one column at a time (same values, slower). */
    prv_gl3 *e = air->nperiodic > 1 && period > 1 ? malloc(period * sizeof *e) : NULL;
    if (e) {
        periodic_weights(e, air->log_period, y);
        prv_gl3 scale = prv_gl3_mul_base(prv_gl3_sub(prv_gl3_pow(y, period), prv_gl3_from_base(1)),
                                         prv_gl_inv((prv_gl)period));
        for (unsigned k = 0; k < air->nperiodic; k++)
            per_z[k] = prv_gl3_mul(periodic_dot(e, periodic + k * period, period), scale);
        free(e);
    } else {
        for (unsigned k = 0; k < air->nperiodic; k++)
            per_z[k] = periodic_at(periodic + k * period, air->log_period, y);
    }
    air->eval_ext(air, ood_cur, ood_next, per_z, pub, cvals);
    prv_stark_powers(alpha_pow, alpha, air->nconstraints + nb);
    prv_gl3 acc = { { 0, 0, 0 } };
    for (unsigned k = 0; k < air->nconstraints; k++)
        acc = prv_gl3_add(acc, prv_gl3_mul(alpha_pow[k], cvals[k]));
    prv_gl3 tf = prv_gl3_mul(prv_gl3_sub(z, prv_gl3_from_base(prv_gl_pow(g, n - 1))),
                             prv_gl3_inv(prv_gl3_sub(zn, one)));
    acc = prv_gl3_mul(acc, tf);
    for (size_t j = 0; j < nb; j++) {
        prv_gl3 num = prv_gl3_sub(ood_cur[bnd[j].col], prv_gl3_from_base(bnd[j].value));
        prv_gl3 den = prv_gl3_sub(z, prv_gl3_from_base(prv_gl_pow(g, bnd[j].row)));
        acc = prv_gl3_add(acc, prv_gl3_mul(alpha_pow[air->nconstraints + j],
                                           prv_gl3_mul(num, prv_gl3_inv(den))));
    }
    return acc;
}
