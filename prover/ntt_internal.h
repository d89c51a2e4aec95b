/*
 * prover/ntt_internal.h — private to prover/ntt*.c: the twiddle tables and the
 * per-backend kernels behind prover/ntt.h.
 */
#ifndef ZKCAR_PROVER_NTT_INTERNAL_H
#define ZKCAR_PROVER_NTT_INTERNAL_H

#include <stddef.h>

#include "prover/field.h"

/*
 * Cache blocking of the DIF (see ntt_core.h): transforms of at most
 * 2^PRV_NTT_LOG_LEAF points run stage by stage in L1; bigger ones first do
 * their top k = min(log_n - PRV_NTT_LOG_LEAF, PRV_NTT_MAX_TOP) stages on runs
 * of PRV_NTT_COLW columns of the 2^k-row matrix.
 */
#define PRV_NTT_LOG_LEAF 12
#define PRV_NTT_MAX_TOP 8
#define PRV_NTT_COLW 8

static inline unsigned prv_ntt_top_stages(unsigned log_n)
{
    return log_n - PRV_NTT_LOG_LEAF < PRV_NTT_MAX_TOP ? log_n - PRV_NTT_LOG_LEAF : PRV_NTT_MAX_TOP;
}

/*
 * The twiddles of the top stages of a transform of 2^log_n points
 * (log_n > PRV_NTT_LOG_LEAF), laid out in the order the column pass reads them
 * so that each run of columns streams one contiguous block. With k top stages,
 * rest = log_n - k, C = 2^rest and level(l)[j] = ω_{2^(l+1)}^j, the block of
 * run q (columns r = q·COLW + i, i < COLW) holds, each entry a row of COLW values
 * over i:
 *   if k is odd, the lone stage s = k-1: for m < 2^(k-1): level(rest+k-1)[m·C + r];
 *   then for each pair of stages (s-1, s-2), s = k or k-1 downwards by 2, with
 *   Q = 2^(s-2), for m < Q: level(rest+s-1)[m·C + r], level(rest+s-1)[(m+Q)·C + r],
 *   level(rest+s-2)[m·C + r], and the cube level(rest+s-1)[m·C + r]^3.
 * prv_ntt_top_chunk_len(k) is the length of one block. Built on first use
 * (thread-safe), kept for the process lifetime.
 */
static inline size_t prv_ntt_top_chunk_len(unsigned k)
{
    size_t len = 0;
    unsigned s = k;
    if (s % 2 == 1) {
        len += (size_t)1 << (s - 1);
        s--;
    }
    for (; s >= 2; s -= 2)
        len += (size_t)4 << (s - 2);
    return len * PRV_NTT_COLW;
}

const prv_gl *prv_ntt_top_twiddles(unsigned log_n);

/*
 * The twiddle table of level lh: 2^lh elements, entry j = ω_{2^(lh+1)}^j, the
 * factors of a radix-2 butterfly stage whose halves are 2^lh apart. Built on
 * first use (thread-safe), kept for the process lifetime. lh < PRV_NTT_MAX_LOG.
 */
const prv_gl *prv_ntt_twiddles(unsigned lh);

/*
 * For a radix-4 step on groups of 4q points (q = 2^lq): 2^lq elements, entry j =
 * ω_{4q}^(3j). Built on first use (thread-safe), kept. lq + 1 < PRV_NTT_MAX_LOG.
 */
const prv_gl *prv_ntt_twiddles3(unsigned lq);

/*
 * Decimation-in-frequency NTT without the final permutation: natural-order
 * coefficients in, evaluations in bit-reversed order out. log_n >= 2. Only
 * a[0 .. 2^(log_n - log_sparse)) is read, the rest of the input is taken as
 * zero (the zero-padded input of an LDE: its first stages are cheaper and
 * the zeros are never loaded). Uses the pool.
 */
void prv_ntt_dif_scalar(prv_gl *a, unsigned log_n, unsigned log_sparse);
void prv_ntt_dif_avx2(prv_gl *a, unsigned log_n, unsigned log_sparse);

/*
 * For i in [begin, end) ⊆ [1, n/2): a[i], a[n-i] <- s·a[n-i], s·a[i] (one thread).
 * With a[0] and a[n/2] scaled by s, this is a <- s·a(-i), the input side of the
 * inverse transform.
 */
void prv_ntt_neg_scale_scalar(prv_gl *a, size_t n, size_t begin, size_t end, prv_gl s);
void prv_ntt_neg_scale_avx2(prv_gl *a, size_t n, size_t begin, size_t end, prv_gl s);

/* a[i] *= start·step^i for i in [0, n) (one thread). */
void prv_ntt_mul_powers_scalar(prv_gl *a, size_t n, prv_gl start, prv_gl step);
void prv_ntt_mul_powers_avx2(prv_gl *a, size_t n, prv_gl start, prv_gl step);

#endif
