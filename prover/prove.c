/*
 * prover/prove.c — the STARK prover (protocol in prover/stark.h).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/probes.h"
#include "prover/fri.h"
#include "prover/merkle.h"
#include "prover/ntt.h"
#include "prover/parallel.h"
#include "prover/stark_internal.h"
#include "prover/stark_testing.h"

#define SUB_BLOCK 256 /* points per batch inversion in the pointwise passes */
#define LDE_GROUP 32  /* columns extended together before scattering into rows */

/* ---- trace check ------------------------------------------------------------ */

struct check_ctx {
    const prv_air *air;
    const prv_gl *trace, *periodic, *pub;
    size_t n, period;
    _Atomic size_t bad_row; /* SIZE_MAX if none */
    _Atomic int nomem;
};

#define CHECK_BLOCK 32 /* rows gathered into row-major form at a time */

static void check_range(void *vctx, size_t begin, size_t end)
{
    struct check_ctx *c = vctx;
    const prv_air *air = c->air;
    unsigned nc = air->ncols;
    /* rows[0 .. CHECK_BLOCK] of the block (one more for `next`), row-major. */
    prv_gl *rows = malloc(sizeof(prv_gl) * ((CHECK_BLOCK + 1) * (size_t)nc + air->nperiodic + air->nconstraints));
    if (!rows) {
        atomic_store(&c->nomem, 1);
        return;
    }
    prv_gl *per = rows + (CHECK_BLOCK + 1) * (size_t)nc, *out = per + air->nperiodic;
    for (size_t b0 = begin; b0 < end; b0 += CHECK_BLOCK) {
        size_t bn = end - b0 < CHECK_BLOCK ? end - b0 : CHECK_BLOCK;
        /* end <= n - 1, so row b0 + bn exists. */
        for (unsigned k = 0; k < nc; k++) {
            const prv_gl *col = c->trace + k * c->n + b0;
            for (size_t i = 0; i <= bn; i++)
                rows[i * nc + k] = col[i];
        }
        for (size_t i = 0; i < bn; i++) {
            size_t r = b0 + i;
            for (unsigned k = 0; k < air->nperiodic; k++)
                per[k] = c->periodic[k * c->period + (r & (c->period - 1))];
            air->eval(air, rows + i * nc, rows + (i + 1) * nc, per, c->pub, out);
            for (unsigned k = 0; k < air->nconstraints; k++) {
                if (out[k] != 0) {
                    size_t prev = atomic_load(&c->bad_row);
                    while (r < prev && !atomic_compare_exchange_weak(&c->bad_row, &prev, r)) {
                    }
                    free(rows);
                    return;
                }
            }
        }
    }
    free(rows);
}

static zk_err check_trace(const prv_air *air, const prv_gl *trace, unsigned log_n, const prv_gl *pub,
                          const prv_gl *periodic, const prv_air_boundary *bnd, size_t nb,
                          zk_error_detail *err)
{
    size_t n = (size_t)1 << log_n;
    for (size_t j = 0; j < nb; j++)
        if (trace[bnd[j].col * n + bnd[j].row] != bnd[j].value)
            return zk_error_set(err, ZK_ERR_PRV_TRACE, "boundary constraint %zu (column %u, row %llu) fails",
                                j, bnd[j].col, (unsigned long long)bnd[j].row);
    struct check_ctx c;
    memset(&c, 0, sizeof c);
    c.air = air;
    c.trace = trace;
    c.periodic = periodic;
    c.pub = pub;
    c.n = n;
    c.period = (size_t)1 << air->log_period;
    atomic_init(&c.bad_row, SIZE_MAX);
    atomic_init(&c.nomem, 0);
    prv_parallel_for(n - 1, 1024, check_range, &c);
    if (atomic_load(&c.nomem))
        return zk_error_set(err, ZK_ERR_NOMEM, "trace check");
    size_t bad = atomic_load(&c.bad_row);
    if (bad != SIZE_MAX)
        return zk_error_set(err, ZK_ERR_PRV_TRACE, "transition constraints fail at row %zu", bad);
    return ZK_OK;
}

/* sum_k coef[k] * vals[k] (F_p^3 times F_p) with one reduction per
 * coordinate: 128-bit partial sums plus a count of their wrap-arounds, each
 * worth 2^128 = -2^32 (mod p). */
static prv_gl3 dot_ext_base(const prv_gl3 *coef, const prv_gl *vals, size_t n)
{
    unsigned __int128 acc[3] = { 0, 0, 0 };
    uint64_t wraps[3] = { 0, 0, 0 };
    for (size_t k = 0; k < n; k++) {
        for (int c = 0; c < 3; c++) {
            unsigned __int128 prod = (unsigned __int128)coef[k].c[c] * vals[k];
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

/* ---- the pointwise passes over the LDE domain ------------------------------- */

typedef struct prover {
    const prv_air *air;
    const prv_stark_params *params;
    const prv_gl *pub;
    prv_proof_shape s;
    size_t n, N, B, period;
    prv_gl w_N;            /* generator of the LDE subgroup */
    prv_gl *lde;           /* N x ncols, row-major */
    prv_gl *per_lde;       /* nperiodic x (period * B): periodic columns on their coset */
    prv_gl3 *alpha_pow;    /* nconstraints + nboundary */
    prv_air_boundary *bnd;
    size_t nb;
    prv_gl *bnd_rows;      /* distinct boundary rows, as domain points g^r */
    size_t nbrows;
    unsigned *bnd_slot;    /* boundary j -> index into bnd_rows */
    prv_gl *zinv;          /* B values: 1/(x^n - 1) for x^n = shift^n w_B^j */
    prv_gl g_last;         /* g^(n-1) */
    prv_gl *quot[3];       /* N each: coordinates of Q on the LDE domain */
    size_t qstride;        /* the quotient is evaluated on every qstride-th LDE point */
    _Atomic int nomem;     /* a worker could not get its scratch */
} prover;

static void quotient_range(void *vctx, size_t begin, size_t end)
{
    prover *P = vctx;
    const prv_air *air = P->air;
    unsigned nc = air->ncols;
    size_t pb = P->period * P->B;
    prv_gl *scratch = malloc(sizeof(prv_gl) * (air->nperiodic + air->nconstraints) +
                             sizeof(prv_gl) * SUB_BLOCK * (1 + P->nbrows));
    if (!scratch) {
        atomic_store(&P->nomem, 1);
        return;
    }
    prv_gl *per = scratch, *out = per + air->nperiodic;
    prv_gl *xs = out + air->nconstraints, *dinv = xs + SUB_BLOCK;
    prv_gl w_q = prv_gl_pow(P->w_N, P->qstride);
    prv_gl x = prv_gl_mul(STARK_SHIFT, prv_gl_pow(w_q, begin));
    for (size_t b0 = begin; b0 < end; b0 += SUB_BLOCK) {
        size_t bn = end - b0 < SUB_BLOCK ? end - b0 : SUB_BLOCK;
        for (size_t i = 0; i < bn; i++) {
            xs[i] = x;
            x = prv_gl_mul(x, w_q);
            for (size_t r = 0; r < P->nbrows; r++)
                dinv[r * SUB_BLOCK + i] = prv_gl_sub(xs[i], P->bnd_rows[r]);
        }
        for (size_t r = 0; r < P->nbrows; r++)
            prv_gl_batch_inv(dinv + r * SUB_BLOCK, bn);
        for (size_t i = 0; i < bn; i++) {
            size_t qi = b0 + i, idx = qi * P->qstride;
            const prv_gl *cur = P->lde + idx * nc;
            const prv_gl *next = P->lde + ((idx + P->B) & (P->N - 1)) * nc;
            for (unsigned k = 0; k < air->nperiodic; k++)
                per[k] = P->per_lde[k * pb + (idx & (pb - 1))];
            air->eval(air, cur, next, per, P->pub, out);
            prv_gl3 acc = dot_ext_base(P->alpha_pow, out, air->nconstraints);
            prv_gl tf = prv_gl_mul(prv_gl_sub(xs[i], P->g_last), P->zinv[idx & (P->B - 1)]);
            acc = prv_gl3_mul_base(acc, tf);
            for (size_t j = 0; j < P->nb; j++) {
                prv_gl v = prv_gl_mul(prv_gl_sub(cur[P->bnd[j].col], P->bnd[j].value),
                                      dinv[P->bnd_slot[j] * SUB_BLOCK + i]);
                acc = prv_gl3_add(acc, prv_gl3_mul_base(P->alpha_pow[air->nconstraints + j], v));
            }
            for (int c = 0; c < 3; c++)
                P->quot[c][qi] = acc.c[c];
        }
    }
    free(scratch);
}

/* DEEP composition on the LDE domain. */
struct deep_ctx {
    const prover *P;
    const prv_gl *quot_rows; /* N x 6 */
    const prv_gl3 *gam;      /* 2*ncols + 6 coefficients */
    prv_gl3 z, gz, A, Bv;    /* A = sum over z-openings, Bv = over gz-openings */
    prv_gl3 *out;
};

static void deep_range(void *vctx, size_t begin, size_t end)
{
    struct deep_ctx *c = vctx;
    const prover *P = c->P;
    unsigned nc = P->air->ncols;
    prv_gl3 dz[SUB_BLOCK], dg[SUB_BLOCK];
    prv_gl x = prv_gl_mul(STARK_SHIFT, prv_gl_pow(P->w_N, begin));
    for (size_t b0 = begin; b0 < end; b0 += SUB_BLOCK) {
        size_t bn = end - b0 < SUB_BLOCK ? end - b0 : SUB_BLOCK;
        for (size_t i = 0; i < bn; i++) {
            dz[i] = prv_gl3_sub(prv_gl3_from_base(x), c->z);
            dg[i] = prv_gl3_sub(prv_gl3_from_base(x), c->gz);
            x = prv_gl_mul(x, P->w_N);
        }
        prv_gl3_batch_inv(dz, bn);
        prv_gl3_batch_inv(dg, bn);
        for (size_t i = 0; i < bn; i++) {
            size_t idx = b0 + i;
            const prv_gl *row = P->lde + idx * nc;
            /* The g·z coefficients are gamma^nc times the z ones: one sum serves both. */
            prv_gl3 s1 = dot_ext_base(c->gam, row, nc);
            prv_gl3 s2 = prv_gl3_mul(s1, c->gam[nc]);
            const prv_gl *qr = c->quot_rows + idx * PRV_PROOF_NQUOT;
            for (unsigned q = 0; q < PRV_PROOF_NQUOT; q++)
                s1 = prv_gl3_add(s1, prv_gl3_mul_base(c->gam[2 * nc + q], qr[q]));
            c->out[idx] = prv_gl3_add(prv_gl3_mul(prv_gl3_sub(s1, c->A), dz[i]),
                                      prv_gl3_mul(prv_gl3_sub(s2, c->Bv), dg[i]));
        }
    }
}

/* Out-of-domain evaluation of the trace columns at zeta by the barycentric
 * formula on H = <g>: T(zeta) = (zeta^n - 1)/n * sum_i T_i g^i / (zeta - g^i). */
struct bary_ctx {
    const prv_gl *trace;
    size_t n;
    const prv_gl3 *w;   /* weights, n */
    prv_gl3 *out;       /* per column */
};

static void bary_range(void *vctx, size_t begin, size_t end)
{
    struct bary_ctx *c = vctx;
    for (size_t col = begin; col < end; col++) {
        const prv_gl *t = c->trace + col * c->n;
        c->out[col] = dot_ext_base(c->w, t, c->n);
    }
}

static zk_err bary_weights(prv_gl3 *w, unsigned log_n, prv_gl3 zeta)
{
    size_t n = (size_t)1 << log_n;
    prv_gl g = prv_gl_root_of_unity(log_n), gi = 1;
    for (size_t i = 0; i < n; i++) {
        w[i] = prv_gl3_sub(zeta, prv_gl3_from_base(gi));
        gi = prv_gl_mul(gi, g);
    }
    prv_gl3_batch_inv(w, n);
    prv_gl3 scale = prv_gl3_mul_base(prv_gl3_sub(prv_gl3_pow(zeta, n), prv_gl3_from_base(1)),
                                     prv_gl_inv((prv_gl)n));
    gi = 1;
    for (size_t i = 0; i < n; i++) {
        w[i] = prv_gl3_mul(w[i], prv_gl3_mul_base(scale, gi));
        gi = prv_gl_mul(gi, g);
    }
    return ZK_OK;
}

static prv_gl3 horner_ext(const prv_gl *coeffs, size_t n, prv_gl3 z)
{
    prv_gl3 acc = { { 0, 0, 0 } };
    for (size_t i = n; i-- > 0;)
        acc = prv_gl3_add(prv_gl3_mul(acc, z), prv_gl3_from_base(coeffs[i]));
    return acc;
}

/* Column-major src (count columns of N) into columns c0.. of the row-major dst
 * (rows of width). */
struct scatter_ctx {
    prv_gl *dst;
    const prv_gl *src;
    size_t N, width, c0, count;
};

static void scatter_range(void *vctx, size_t begin, size_t end)
{
    struct scatter_ctx *c = vctx;
    for (size_t i = begin; i < end; i++)
        for (size_t k = 0; k < c->count; k++)
            c->dst[i * c->width + c->c0 + k] = c->src[k * c->N + i];
}

static void scatter_columns(prv_gl *dst, size_t width, size_t c0, const prv_gl *src, size_t count, size_t N)
{
    struct scatter_ctx c = { dst, src, N, width, c0, count };
    prv_parallel_for(N, 4096, scatter_range, &c);
}

/* ---- the prover --------------------------------------------------------------- */

zk_err prv_stark_prove_insecure(const prv_air *air, const prv_stark_params *params,
                                const prv_gl *trace, unsigned log_n, const prv_gl *pub,
                                unsigned flags, int min_bits, uint8_t **proof_out,
                                size_t *proof_len, zk_error_detail *err)
{
    prover P;
    memset(&P, 0, sizeof P);
    prv_proof pf;
    memset(&pf, 0, sizeof pf);
    prv_merkle trace_tree = { 0 }, quot_tree = { 0 };
    prv_merkle layer_trees[PRV_PROOF_MAX_LAYERS];
    prv_gl3 *layers[PRV_PROOF_MAX_LAYERS + 1];
    memset(layer_trees, 0, sizeof layer_trees);
    memset(layers, 0, sizeof layers);
    if (flags & PRV_STARK_TEST_CHEAT_QUOTIENT)
        flags |= PRV_STARK_TEST_SKIP_TRACE_CHECK;
    prv_gl3 *cheat_scratch = NULL;
    prv_gl *periodic = NULL, *quot_rows = NULL, *quot_coeffs = NULL, *tmp = NULL, *leaf_rows = NULL;
    prv_gl3 *weights = NULL, *gam = NULL;
    zk_err rc = prv_stark_check_statement(air, params, log_n, pub, min_bits, &P.s, err);
    if (rc != ZK_OK)
        return rc;
    P.air = air;
    P.params = params;
    P.pub = pub;
    P.n = (size_t)1 << log_n;
    P.B = (size_t)1 << params->log_blowup;
    P.N = P.n * P.B;
    P.period = (size_t)1 << air->log_period;
    unsigned log_N = P.s.log_lde;
    unsigned nc = air->ncols;
    size_t n = P.n, N = P.N;

    /* Statement pieces: periodic columns, boundary constraints. */
    periodic = calloc((size_t)air->nperiodic * P.period + 1, sizeof *periodic);
    P.bnd = calloc(air->max_boundary + 1, sizeof *P.bnd);
    P.bnd_rows = calloc(air->max_boundary + 1, sizeof *P.bnd_rows);
    P.bnd_slot = calloc(air->max_boundary + 1, sizeof *P.bnd_slot);
    if (!periodic || !P.bnd || !P.bnd_rows || !P.bnd_slot) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "statement");
        goto cleanup;
    }
    if (air->nperiodic)
        air->periodic(air, periodic);
    P.nb = air->boundary(air, log_n, pub, P.bnd);
    if (P.nb > air->max_boundary)
        ZK_PANIC("AIR returned more boundary constraints than max_boundary");
    prv_gl g = prv_gl_root_of_unity(log_n);
    for (size_t j = 0; j < P.nb; j++) {
        if (P.bnd[j].col >= nc || P.bnd[j].row >= n) {
            rc = zk_error_set(err, ZK_ERR_PRV_SHAPE, "boundary constraint %zu outside the trace", j);
            goto cleanup;
        }
        prv_gl pt = prv_gl_pow(g, P.bnd[j].row);
        size_t r = 0;
        while (r < P.nbrows && P.bnd_rows[r] != pt)
            r++;
        if (r == P.nbrows)
            P.bnd_rows[P.nbrows++] = pt;
        P.bnd_slot[j] = (unsigned)r;
    }
    if (!(flags & PRV_STARK_TEST_SKIP_TRACE_CHECK)) {
        rc = check_trace(air, trace, log_n, pub, periodic, P.bnd, P.nb, err);
        if (rc != ZK_OK)
            goto cleanup;
    }

    prv_transcript ts;
    prv_stark_transcript_begin(&ts, air, params, log_n, pub);
    prv_hash_id hash = (prv_hash_id)params->hash;
    P.w_N = prv_gl_root_of_unity(log_N);

    /* 1. Trace LDE, row-major, and its commitment. */
    ZKBPF_BEGIN(lde);
    P.lde = malloc(N * nc * sizeof *P.lde);
    tmp = malloc(N * LDE_GROUP * sizeof *tmp);
    if (!P.lde || !tmp) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "trace LDE (%zu x %u)", N, nc);
        goto cleanup;
    }
    for (unsigned c0 = 0; c0 < nc; c0 += LDE_GROUP) {
        unsigned gcount = nc - c0 < LDE_GROUP ? nc - c0 : LDE_GROUP;
        prv_gl *outs[LDE_GROUP];
        const prv_gl *ins[LDE_GROUP];
        for (unsigned k = 0; k < gcount; k++) {
            outs[k] = tmp + k * N;
            ins[k] = trace + (size_t)(c0 + k) * n;
        }
        prv_ntt_lde_batch(outs, ins, gcount, log_n, params->log_blowup, STARK_SHIFT);
        scatter_columns(P.lde, nc, c0, tmp, gcount, N);
    }
    free(tmp);
    tmp = NULL;
    ZKBPF_END(lde);
    ZKBPF_BEGIN(commit);
    rc = prv_merkle_build(&trace_tree, hash, P.lde, log_N, nc);
    if (rc != ZK_OK)
        goto cleanup;
    pf.trace_root = prv_merkle_root(&trace_tree);
    ZKBPF_END(commit);
    prv_transcript_absorb_digest(&ts, &pf.trace_root);
    prv_gl3 alpha = prv_transcript_gl3(&ts);

    /* 2. Quotient on the LDE domain. */
    ZKBPF_BEGIN(quotient);
    size_t pb = P.period * P.B;
    P.per_lde = malloc(((size_t)air->nperiodic * pb + 1) * sizeof *P.per_lde);
    P.alpha_pow = malloc((air->nconstraints + P.nb) * sizeof *P.alpha_pow);
    P.zinv = malloc(P.B * sizeof *P.zinv);
    for (int c = 0; c < 3; c++)
        P.quot[c] = malloc(N * sizeof(prv_gl));
    if (!P.per_lde || !P.alpha_pow || !P.zinv || !P.quot[0] || !P.quot[1] || !P.quot[2]) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "quotient");
        goto cleanup;
    }
    for (unsigned k = 0; k < air->nperiodic; k++) {
        /* The column is P_k(X^(n/period)); on the LDE points X^(n/period) runs
         * over shift^(n/period) · <w^(n/period)>, a coset of size period·B. */
        prv_ntt_lde(P.per_lde + k * pb, periodic + k * P.period, air->log_period, params->log_blowup,
                    prv_gl_pow(STARK_SHIFT, n / P.period));
    }
    prv_stark_powers(P.alpha_pow, alpha, air->nconstraints + P.nb);
    prv_gl shift_n = prv_gl_pow(STARK_SHIFT, n), w_B = prv_gl_root_of_unity(params->log_blowup), wb = 1;
    for (size_t j = 0; j < P.B; j++) {
        P.zinv[j] = prv_gl_sub(prv_gl_mul(shift_n, wb), 1);
        wb = prv_gl_mul(wb, w_B);
    }
    prv_gl_batch_inv(P.zinv, P.B);
    P.g_last = prv_gl_pow(g, n - 1);
    /* Q has degree < 2n, so 2n points determine it: evaluate the constraints
     * on the sub-coset shift·<w_N^qstride> of size 2n (half the work at blowup
     * 4). The cheating test prover needs Q's raw values on the whole domain. */
    P.qstride = (flags & PRV_STARK_TEST_CHEAT_QUOTIENT) || P.B < 2 ? 1 : P.B / 2;
    size_t Nq = N / P.qstride;
    unsigned log_q = log_N;
    for (size_t t = P.qstride; t > 1; t /= 2)
        log_q--;
    atomic_store(&P.nomem, 0);
    prv_parallel_for(Nq, 1024, quotient_range, &P);
    if (atomic_load(&P.nomem)) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "quotient scratch");
        goto cleanup;
    }

    /* Coefficients of Q (degree < 2n when the trace is valid), split into
     * Q_0 + X^n Q_1 per coordinate, each part re-extended. */
    quot_coeffs = malloc(PRV_PROOF_NQUOT * n * sizeof *quot_coeffs);
    quot_rows = malloc(N * PRV_PROOF_NQUOT * sizeof *quot_rows);
    if (!quot_coeffs || !quot_rows) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "quotient parts");
        goto cleanup;
    }
    if (flags & PRV_STARK_TEST_CHEAT_QUOTIENT) {
        /* Parts (0, c) are the raw coordinates of Q on the domain; parts (1, c) are zero. */
        memset(quot_coeffs, 0, PRV_PROOF_NQUOT * n * sizeof *quot_coeffs);
        for (size_t i = 0; i < N; i++)
            for (unsigned q = 0; q < PRV_PROOF_NQUOT; q++)
                quot_rows[i * PRV_PROOF_NQUOT + q] = q < 3 ? P.quot[q][i] : 0;
    } else {
        for (int c = 0; c < 3; c++) {
            prv_ntt_coset_inverse(P.quot[c], log_q, STARK_SHIFT);
            for (size_t i = 2 * n; i < Nq; i++) {
                if (P.quot[c][i] != 0 && !(flags & PRV_STARK_TEST_SKIP_TRACE_CHECK)) {
                    rc = zk_error_set(err, ZK_ERR_INTERNAL, "quotient degree too high for a checked trace");
                    goto cleanup;
                }
            }
            for (int k = 0; k < 2; k++)
                memcpy(quot_coeffs + (size_t)(3 * k + c) * n, P.quot[c] + k * n, n * sizeof(prv_gl));
        }
        for (unsigned q = 0; q < PRV_PROOF_NQUOT; q++) {
            prv_gl *col = P.quot[q % 3]; /* reuse the three buffers as scratch */
            memcpy(col, quot_coeffs + (size_t)q * n, n * sizeof(prv_gl));
            memset(col + n, 0, (N - n) * sizeof(prv_gl));
            prv_ntt_coset_forward(col, log_N, STARK_SHIFT);
            scatter_columns(quot_rows, PRV_PROOF_NQUOT, q, col, 1, N);
        }
    }
    for (int c = 0; c < 3; c++) {
        free(P.quot[c]);
        P.quot[c] = NULL;
    }
    rc = prv_merkle_build(&quot_tree, hash, quot_rows, log_N, PRV_PROOF_NQUOT);
    if (rc != ZK_OK)
        goto cleanup;
    pf.quot_root = prv_merkle_root(&quot_tree);
    prv_transcript_absorb_digest(&ts, &pf.quot_root);
    ZKBPF_END(quotient);

    /* 3. DEEP: out-of-domain point and openings. */
    ZKBPF_BEGIN(fri);
    prv_gl3 z = prv_transcript_gl3(&ts);
    prv_gl3 gz = prv_gl3_mul_base(z, g);
    prv_gl3 zn = prv_gl3_pow(z, n);
    prv_gl3 zshift = prv_gl3_pow(prv_gl3_mul_base(z, prv_gl_inv(STARK_SHIFT)), N);
    if (prv_gl3_eq(zn, prv_gl3_from_base(1)) || prv_gl3_eq(zshift, prv_gl3_from_base(1))) {
        rc = zk_error_set(err, ZK_ERR_INTERNAL, "out-of-domain point fell in the domain");
        goto cleanup;
    }
    pf.params = *params;
    pf.air_id = air->id;
    pf.shape = P.s;
    rc = prv_proof_alloc(&pf);
    if (rc != ZK_OK) {
        rc = zk_error_set(err, rc, "proof");
        goto cleanup;
    }
    weights = malloc(n * sizeof *weights);
    if (!weights) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "barycentric weights");
        goto cleanup;
    }
    bary_weights(weights, log_n, z);
    struct bary_ctx bc = { trace, n, weights, pf.ood_cur };
    prv_parallel_for(nc, 1, bary_range, &bc);
    bary_weights(weights, log_n, gz);
    bc.out = pf.ood_next;
    prv_parallel_for(nc, 1, bary_range, &bc);
    for (unsigned q = 0; q < PRV_PROOF_NQUOT; q++)
        pf.ood_quot[q] = horner_ext(quot_coeffs + (size_t)q * n, n, z);
    if (flags & PRV_STARK_TEST_CHEAT_QUOTIENT) {
        /* Claim exactly what the verifier's check at z wants. */
        cheat_scratch = calloc(2 * (size_t)air->nperiodic + air->nconstraints + air->nconstraints + P.nb + 1,
                               sizeof *cheat_scratch);
        if (!cheat_scratch) {
            rc = zk_error_set(err, ZK_ERR_NOMEM, "cheat");
            goto cleanup;
        }
        prv_gl3 want = prv_stark_ood_combination(air, pub, log_n, periodic, P.bnd, P.nb, alpha, z, pf.ood_cur,
                                                 pf.ood_next, cheat_scratch,
                                                 cheat_scratch + 2 * air->nperiodic + air->nconstraints);
        for (unsigned c = 0; c < 3; c++)
            pf.ood_quot[c] = prv_gl3_from_base(want.c[c]);
    }
    prv_transcript_absorb_gl3s(&ts, pf.ood_cur, nc);
    prv_transcript_absorb_gl3s(&ts, pf.ood_next, nc);
    prv_transcript_absorb_gl3s(&ts, pf.ood_quot, PRV_PROOF_NQUOT);
    prv_gl3 gamma = prv_transcript_gl3(&ts);

    /* 4. DEEP composition polynomial on the LDE domain = FRI layer 0. */
    gam = malloc((2 * (size_t)nc + PRV_PROOF_NQUOT) * sizeof *gam);
    layers[0] = malloc(N * sizeof(prv_gl3));
    if (!gam || !layers[0]) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "DEEP composition");
        goto cleanup;
    }
    prv_stark_powers(gam, gamma, 2 * (size_t)nc + PRV_PROOF_NQUOT);
    struct deep_ctx dc = { &P, quot_rows, gam, z, gz, { { 0, 0, 0 } }, { { 0, 0, 0 } }, layers[0] };
    for (unsigned k = 0; k < nc; k++) {
        dc.A = prv_gl3_add(dc.A, prv_gl3_mul(gam[k], pf.ood_cur[k]));
        dc.Bv = prv_gl3_add(dc.Bv, prv_gl3_mul(gam[nc + k], pf.ood_next[k]));
    }
    for (unsigned q = 0; q < PRV_PROOF_NQUOT; q++)
        dc.A = prv_gl3_add(dc.A, prv_gl3_mul(gam[2 * nc + q], pf.ood_quot[q]));
    prv_parallel_for(N, 1024, deep_range, &dc);

    /* 5. FRI commit phase. */
    unsigned la = P.s.log_arity;
    size_t arity = (size_t)1 << la;
    unsigned log_size = log_N;
    prv_gl shift = STARK_SHIFT;
    for (unsigned i = 0; i < P.s.nlayers; i++) {
        size_t size = (size_t)1 << log_size, nleaves = size >> la;
        leaf_rows = malloc(size * 3 * sizeof *leaf_rows);
        layers[i + 1] = malloc(nleaves * sizeof(prv_gl3));
        if (!leaf_rows || !layers[i + 1]) {
            rc = zk_error_set(err, ZK_ERR_NOMEM, "FRI layer %u", i);
            goto cleanup;
        }
        for (size_t j = 0; j < nleaves; j++)
            for (size_t t = 0; t < arity; t++)
                memcpy(leaf_rows + (j * arity + t) * 3, layers[i][j + t * nleaves].c, 3 * sizeof(prv_gl));
        rc = prv_merkle_build(&layer_trees[i], hash, leaf_rows, log_size - la, 3 * arity);
        free(leaf_rows);
        leaf_rows = NULL;
        if (rc != ZK_OK)
            goto cleanup;
        pf.layer_roots[i] = prv_merkle_root(&layer_trees[i]);
        prv_transcript_absorb_digest(&ts, &pf.layer_roots[i]);
        prv_gl3 beta = prv_transcript_gl3(&ts);
        prv_fri_fold_layer(layers[i + 1], layers[i], log_size, la, shift, beta);
        log_size -= la;
        for (unsigned r = 0; r < la; r++)
            shift = prv_gl_sqr(shift);
    }
    /* Final layer: its coefficients on shift·<w>, degree < 2^log_final. */
    {
        size_t size = (size_t)1 << log_size, flen = (size_t)1 << P.s.log_final;
        prv_gl *fc = malloc(3 * size * sizeof *fc);
        if (!fc) {
            rc = zk_error_set(err, ZK_ERR_NOMEM, "final layer");
            goto cleanup;
        }
        for (int c = 0; c < 3; c++) {
            for (size_t i = 0; i < size; i++)
                fc[c * size + i] = layers[P.s.nlayers][i].c[c];
            prv_ntt_coset_inverse(fc + c * size, log_size, shift);
            for (size_t i = flen; i < size; i++) {
                if (fc[c * size + i] != 0 && !(flags & PRV_STARK_TEST_SKIP_TRACE_CHECK)) {
                    free(fc);
                    rc = zk_error_set(err, ZK_ERR_INTERNAL, "final FRI layer degree too high");
                    goto cleanup;
                }
            }
            for (size_t i = 0; i < flen; i++)
                pf.final_coeffs[i].c[c] = fc[c * size + i];
        }
        free(fc);
        prv_transcript_absorb_gl3s(&ts, pf.final_coeffs, flen);
    }

    /* 6. Grinding, then the queries. */
    pf.pow_nonce = prv_transcript_pow_search(&ts, params->grinding_bits);
    prv_transcript_absorb_u64(&ts, TAG_NONCE, pf.pow_nonce);
    for (size_t q = 0; q < P.s.num_queries; q++) {
        size_t idx = (size_t)prv_transcript_index(&ts, log_N);
        memcpy(pf.trace_rows + q * nc, P.lde + idx * nc, nc * sizeof(prv_gl));
        prv_merkle_path(&trace_tree, idx, pf.trace_paths + q * log_N);
        memcpy(pf.quot_rows + q * PRV_PROOF_NQUOT, quot_rows + idx * PRV_PROOF_NQUOT,
               PRV_PROOF_NQUOT * sizeof(prv_gl));
        prv_merkle_path(&quot_tree, idx, pf.quot_paths + q * log_N);
        size_t size = N;
        for (unsigned i = 0; i < P.s.nlayers; i++) {
            size_t nleaves = size >> la, j = idx & (nleaves - 1);
            for (size_t t = 0; t < arity; t++)
                pf.layer_vals[(q * P.s.nlayers + i) * arity + t] = layers[i][j + t * nleaves];
            prv_merkle_path(&layer_trees[i], j, pf.layer_paths + q * P.s.layer_path_total + P.s.layer_path_off[i]);
            idx = j;
            size = nleaves;
        }
    }
    ZKBPF_END(fri);
    rc = prv_proof_encode(&pf, proof_out, proof_len);
    if (rc != ZK_OK)
        rc = zk_error_set(err, rc, "encoding the proof");

cleanup:
    free(periodic);
    free(P.bnd);
    free(P.bnd_rows);
    free(P.bnd_slot);
    free(P.lde);
    free(P.per_lde);
    free(P.alpha_pow);
    free(P.zinv);
    for (int c = 0; c < 3; c++)
        free(P.quot[c]);
    free(tmp);
    free(cheat_scratch);
    free(quot_rows);
    free(quot_coeffs);
    free(weights);
    free(gam);
    free(leaf_rows);
    prv_merkle_free(&trace_tree);
    prv_merkle_free(&quot_tree);
    for (unsigned i = 0; i < PRV_PROOF_MAX_LAYERS; i++)
        prv_merkle_free(&layer_trees[i]);
    for (unsigned i = 0; i <= PRV_PROOF_MAX_LAYERS; i++)
        free(layers[i]);
    prv_proof_free(&pf);
    return rc;
}

zk_err prv_stark_prove(const prv_air *air, const prv_stark_params *params, const prv_gl *trace,
                       unsigned log_n, const prv_gl *pub, uint8_t **proof, size_t *proof_len,
                       zk_error_detail *err)
{
    return prv_stark_prove_insecure(air, params, trace, log_n, pub, 0, PRV_STARK_MIN_SECURITY_BITS,
                                    proof, proof_len, err);
}
