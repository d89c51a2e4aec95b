/*
 * prover/airs/p2row.c — the trace filler of prover/airs/p2row.h.
 */
#include "prover/airs/p2row.h"

void prv_p2row_fill(prv_gl *col0, size_t stride, const prv_gl in[PRV_P2ROW_W], prv_gl out[PRV_P2ROW_W])
{
    prv_gl s[PRV_P2ROW_W];
    for (unsigned j = 0; j < PRV_P2ROW_W; j++) {
        s[j] = prv_gl_from_u64(in[j]);
        col0[j * stride] = s[j];
    }
    unsigned col = PRV_P2ROW_W;
    prv_p2_external_layer8(s);
    for (unsigned r = 0; r < PRV_P2_ROUNDS_F + PRV_P2_ROUNDS_P; r++) {
        if (r < PRV_P2ROW_HALF_F || r >= PRV_P2ROW_HALF_F + PRV_P2_ROUNDS_P) {
            const prv_gl *rc = r < PRV_P2ROW_HALF_F
                                   ? prv_p2_rc8_external_initial[r]
                                   : prv_p2_rc8_external_final[r - PRV_P2ROW_HALF_F - PRV_P2_ROUNDS_P];
            for (unsigned j = 0; j < PRV_P2ROW_W; j++) {
                prv_gl u = prv_gl_add(s[j], rc[j]);
                prv_gl h = prv_gl_mul(prv_gl_sqr(u), u);
                prv_gl y = prv_gl_mul(prv_gl_sqr(h), u);
                col0[(col + j) * stride] = h;
                col0[(col + PRV_P2ROW_W + j) * stride] = y;
                s[j] = y;
            }
            prv_p2_external_layer8(s);
            col += 2 * PRV_P2ROW_W;
        } else {
            prv_gl u = prv_gl_add(s[0], prv_p2_rc8_internal[r - PRV_P2ROW_HALF_F]);
            prv_gl h = prv_gl_mul(prv_gl_sqr(u), u);
            prv_gl y = prv_gl_mul(prv_gl_sqr(h), u);
            col0[col * stride] = h;
            col0[(col + 1) * stride] = y;
            s[0] = y;
            prv_p2_internal_layer8(s);
            col += 2;
        }
    }
    memcpy(out, s, sizeof s);
}
