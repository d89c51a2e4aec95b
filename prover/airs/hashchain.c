/*
 * prover/airs/hashchain.c — the Poseidon2 hash-chain AIR.
 */
#include "prover/airs/hashchain.h"

#include <string.h>

#include "prover/poseidon2.h"

#define W 8
#define PERIOD 32
#define X0 0
#define H0 8
#define Y0 16
/* periodic columns */
#define P_RC 0
#define P_LIN 8
#define P_FULL 9
#define P_PART 10
#define P_COPY 11
#define NPERIODIC 12

enum step { STEP_LIN, STEP_FULL, STEP_PART, STEP_COPY };

static enum step step_of(unsigned p, const prv_gl **rc_full, prv_gl *rc_part)
{
    *rc_full = NULL;
    *rc_part = 0;
    if (p == 0)
        return STEP_LIN;
    if (p <= 4) {
        *rc_full = prv_p2_rc8_external_initial[p - 1];
        return STEP_FULL;
    }
    if (p <= 26) {
        *rc_part = prv_p2_rc8_internal[p - 5];
        return STEP_PART;
    }
    if (p <= 30) {
        *rc_full = prv_p2_rc8_external_final[p - 27];
        return STEP_FULL;
    }
    return STEP_COPY;
}

static void hc_periodic(const prv_air *air, prv_gl *out)
{
    memset(out, 0, sizeof(prv_gl) * NPERIODIC * PERIOD);
    for (unsigned p = 0; p < PERIOD; p++) {
        const prv_gl *rcf;
        prv_gl rcp;
        enum step st = step_of(p, &rcf, &rcp);
        for (unsigned j = 0; j < W; j++)
            out[(P_RC + j) * PERIOD + p] = rcf ? rcf[j] : (j == 0 ? rcp : 0);
        out[(P_LIN + (unsigned)st) * PERIOD + p] = 1;
    }
}

static void hc_eval(const prv_air *air, const prv_gl *cur, const prv_gl *next, const prv_gl *per,
                    const prv_gl *pub, prv_gl *out)
{
    prv_gl u[W], me_y[W], mi[W], me_x[W];
    for (unsigned j = 0; j < W; j++) {
        u[j] = prv_gl_add(cur[X0 + j], per[P_RC + j]);
        prv_gl u3 = prv_gl_mul(prv_gl_sqr(u[j]), u[j]);
        out[j] = prv_gl_sub(cur[H0 + j], u3);
        out[W + j] = prv_gl_sub(cur[Y0 + j], prv_gl_mul(prv_gl_sqr(cur[H0 + j]), u[j]));
        me_y[j] = cur[Y0 + j];
        mi[j] = j == 0 ? cur[Y0] : u[j];
        me_x[j] = cur[X0 + j];
    }
    prv_p2_external_layer8(me_y);
    prv_p2_internal_layer8(mi);
    prv_p2_external_layer8(me_x);
    for (unsigned i = 0; i < W; i++) {
        prv_gl v = prv_gl_mul(per[P_FULL], me_y[i]);
        v = prv_gl_add(v, prv_gl_mul(per[P_PART], mi[i]));
        v = prv_gl_add(v, prv_gl_mul(per[P_LIN], me_x[i]));
        v = prv_gl_add(v, prv_gl_mul(per[P_COPY], cur[X0 + i]));
        out[2 * W + i] = prv_gl_sub(next[X0 + i], v);
    }
}

/* A linear layer over F_p^3 acts coordinate by coordinate. */
static void layer_ext(prv_gl3 *v, void (*layer)(prv_gl *))
{
    for (int c = 0; c < 3; c++) {
        prv_gl t[W];
        for (unsigned j = 0; j < W; j++)
            t[j] = v[j].c[c];
        layer(t);
        for (unsigned j = 0; j < W; j++)
            v[j].c[c] = t[j];
    }
}

static void hc_eval_ext(const prv_air *air, const prv_gl3 *cur, const prv_gl3 *next,
                        const prv_gl3 *per, const prv_gl *pub, prv_gl3 *out)
{
    prv_gl3 u[W], me_y[W], mi[W], me_x[W];
    for (unsigned j = 0; j < W; j++) {
        u[j] = prv_gl3_add(cur[X0 + j], per[P_RC + j]);
        prv_gl3 u3 = prv_gl3_mul(prv_gl3_mul(u[j], u[j]), u[j]);
        out[j] = prv_gl3_sub(cur[H0 + j], u3);
        out[W + j] = prv_gl3_sub(cur[Y0 + j], prv_gl3_mul(prv_gl3_mul(cur[H0 + j], cur[H0 + j]), u[j]));
        me_y[j] = cur[Y0 + j];
        mi[j] = j == 0 ? cur[Y0] : u[j];
        me_x[j] = cur[X0 + j];
    }
    layer_ext(me_y, prv_p2_external_layer8);
    layer_ext(mi, prv_p2_internal_layer8);
    layer_ext(me_x, prv_p2_external_layer8);
    for (unsigned i = 0; i < W; i++) {
        prv_gl3 v = prv_gl3_mul(per[P_FULL], me_y[i]);
        v = prv_gl3_add(v, prv_gl3_mul(per[P_PART], mi[i]));
        v = prv_gl3_add(v, prv_gl3_mul(per[P_LIN], me_x[i]));
        v = prv_gl3_add(v, prv_gl3_mul(per[P_COPY], cur[X0 + i]));
        out[2 * W + i] = prv_gl3_sub(next[X0 + i], v);
    }
}

static size_t hc_boundary(const prv_air *air, unsigned log_n, const prv_gl *pub, prv_air_boundary *out)
{
    uint64_t last = ((uint64_t)1 << log_n) - 1;
    for (unsigned j = 0; j < W; j++) {
        out[j] = (prv_air_boundary){ X0 + j, 0, pub[1 + j] };
        out[W + j] = (prv_air_boundary){ X0 + j, last, pub[1 + W + j] };
    }
    return 2 * W;
}

static int hc_shape_ok(const prv_air *air, unsigned log_n, const prv_gl *pub)
{
    return log_n >= PRV_HASHCHAIN_LOG_ROWS_PER_PERM &&
           pub[0] == ((uint64_t)1 << (log_n - PRV_HASHCHAIN_LOG_ROWS_PER_PERM));
}

const prv_air prv_hashchain_air = {
    .id = PRV_HASHCHAIN_AIR_ID,
    .name = "poseidon2-hash-chain",
    .ncols = PRV_HASHCHAIN_NCOLS,
    .nconstraints = 3 * W,
    .degree = 3,
    .npublic = PRV_HASHCHAIN_NPUBLIC,
    .nperiodic = NPERIODIC,
    .log_period = PRV_HASHCHAIN_LOG_ROWS_PER_PERM,
    .max_boundary = 2 * W,
    .periodic = hc_periodic,
    .eval = hc_eval,
    .eval_ext = hc_eval_ext,
    .boundary = hc_boundary,
    .shape_ok = hc_shape_ok,
};

void prv_hashchain_trace(prv_gl *trace, unsigned log_n, const prv_gl in[8],
                         prv_gl pub[PRV_HASHCHAIN_NPUBLIC])
{
    size_t n = (size_t)1 << log_n;
    prv_gl s[W];
    for (unsigned j = 0; j < W; j++)
        s[j] = prv_gl_from_u64(in[j]);
    pub[0] = n >> PRV_HASHCHAIN_LOG_ROWS_PER_PERM;
    memcpy(pub + 1, s, sizeof s);
    for (size_t r = 0; r < n; r++) {
        unsigned p = (unsigned)(r & (PERIOD - 1));
        const prv_gl *rcf;
        prv_gl rcp;
        enum step st = step_of(p, &rcf, &rcp);
        prv_gl u[W], y[W];
        for (unsigned j = 0; j < W; j++) {
            prv_gl rc = rcf ? rcf[j] : (j == 0 ? rcp : 0);
            u[j] = prv_gl_add(s[j], rc);
            prv_gl h = prv_gl_mul(prv_gl_sqr(u[j]), u[j]);
            y[j] = prv_gl_mul(prv_gl_sqr(h), u[j]);
            trace[(X0 + j) * n + r] = s[j];
            trace[(H0 + j) * n + r] = h;
            trace[(Y0 + j) * n + r] = y[j];
        }
        switch (st) {
        case STEP_LIN:
            prv_p2_external_layer8(s);
            break;
        case STEP_FULL:
            memcpy(s, y, sizeof s);
            prv_p2_external_layer8(s);
            break;
        case STEP_PART:
            s[0] = y[0];
            for (unsigned j = 1; j < W; j++)
                s[j] = u[j];
            prv_p2_internal_layer8(s);
            break;
        case STEP_COPY:
            break;
        }
    }
    for (unsigned j = 0; j < W; j++)
        pub[1 + W + j] = trace[(X0 + j) * n + n - 1];
}
