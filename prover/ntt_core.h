/*
 * prover/ntt_core.h — the decimation-in-frequency NTT, written once and
 * compiled once per backend: prover/ntt_scalar.c and prover/ntt_avx2.c each
 * define, before including this file,
 *   NTT_DIF_NAME                        the exported function's name
 *   static void to_internal(a, n)       canonical values -> the kernel's working form
 *   static void bfly_run(x, y, w, len)  x[i], y[i] <- x[i] + y[i], (x[i] - y[i])·w[i]
 *                                       (working form in and out; len % 4 == 0)
 *   static void mul_run(y, x, w, len)   y[i] <- x[i]·w[i] (working form; len % 4 == 0)
 *   static void bfly4_run(a0..a3, w1, w1b, w2, w3, len)
 *                                       two stages on a0[i] .. a3[i], i < len
 *                                       (a0, a2) with w1, (a1, a3) with w1b = w1·ω_4,
 *                                       then (a0, a1) and (a2, a3) with w2 = w1^2;
 *                                       w3 = w1^3; a kernel may use w3 instead of
 *                                       w1b (AVX2 does); len % 4 == 0
 *   static void last2(a, n, w4)         the last two stages (halves 2 and 1) on each
 *                                       group of four, w4 = ω_4; working form in,
 *                                       canonical out
 *   static void last4(a, n, t8, t4, w4) the last four stages (halves 8, 4, 2, 1) on
 *                                       each group of 16 (n >= 16), t8 and t4 the
 *                                       level-3 and level-2 twiddles; same forms
 * The scalar working form is the canonical value; the AVX2 one is the value
 * XOR 2^63 (see ntt_avx2.c). Only the arithmetic differs, and it is exact, so
 * the backends agree. Sizes below 4 points are handled by the caller (ntt.c).
 *
 * Cache blocking: a stage whose halves are h apart pairs a[j] with a[j+h]. A
 * transform of 2^L points with L > LOG_LEAF does its top k stages as columns:
 * for each run of COLW adjacent columns of the 2^k × 2^(L-k) matrix (row
 * stride 2^(L-k)), the k stages touch only that run's 2^k rows, which are
 * copied into an L1-sized buffer, transformed there and copied back. The
 * bottom L-k stages then act on 2^k disjoint contiguous blocks, recursively.
 * Each level reads and writes the data once; a leaf of 2^LOG_LEAF points
 * (32 KiB) does all its stages in L1.
 */
#include <stdbool.h>
#include <string.h>

#include "prover/ntt_internal.h"
#include "prover/parallel.h"

#define LOG_LEAF PRV_NTT_LOG_LEAF
#define MAX_TOP PRV_NTT_MAX_TOP
#define COLW PRV_NTT_COLW

/* Working form in (log_n >= 2), canonical out. */
static void dif_leaf(prv_gl *a, unsigned log_n)
{
    size_t n = (size_t)1 << log_n;
    unsigned stop = log_n >= 4 ? 4 : 2;
    unsigned lh = log_n - 1;
    if ((log_n - stop) % 2 == 1) {
        size_t h = (size_t)1 << lh;
        const prv_gl *tw = prv_ntt_twiddles(lh);
        for (size_t g = 0; g < n; g += 2 * h)
            bfly_run(a + g, a + g + h, tw, h);
        lh--;
    }
    /* the remaining stages above `stop` two at a time: halves 2q and q */
    for (; lh >= stop + 1; lh -= 2) {
        unsigned lq = lh - 1;
        size_t q = (size_t)1 << lq;
        const prv_gl *w1 = prv_ntt_twiddles(lq + 1), *w2 = prv_ntt_twiddles(lq);
        const prv_gl *w3 = prv_ntt_twiddles3(lq);
        for (size_t g = 0; g < n; g += 4 * q)
            bfly4_run(a + g, a + g + q, a + g + 2 * q, a + g + 3 * q, w1, w1 + q, w2, w3, q);
    }
    if (log_n >= 4)
        last4(a, n, prv_ntt_twiddles(3), prv_ntt_twiddles(2), prv_ntt_twiddles(1)[1]);
    else
        last2(a, n, prv_ntt_twiddles(1)[1]);
}

typedef struct top_ctx {
    prv_gl *a;
    unsigned k, rest;
    bool convert; /* the input is canonical: convert it while gathering */
    size_t live;  /* rows [live, 2^k) are zero and are not read (a power of two) */
} top_ctx;

static void dif_top_chunk(void *vctx, size_t begin, size_t end)
{
    const top_ctx *c = vctx;
    size_t rows = (size_t)1 << c->k, stride = (size_t)1 << c->rest;
    _Alignas(64) prv_gl buf[((size_t)1 << MAX_TOP) * COLW];
    size_t per_chunk = prv_ntt_top_chunk_len(c->k);
    const prv_gl *tw = prv_ntt_top_twiddles(c->k + c->rest) + begin * per_chunk;
    for (size_t col = begin; col < end; col++) {
        size_t r = col * COLW;
        for (size_t m = 0; m < c->live; m++)
            memcpy(buf + m * COLW, c->a + m * stride + r, COLW * sizeof *buf);
        if (c->convert)
            to_internal(buf, c->live * COLW);
        /* The rows are 2^rest elements apart, which the hardware prefetchers
         * do not follow: fetch the next run's lines while this one computes. */
        if (col + 1 < end)
            for (size_t m = 0; m < c->live; m++)
                __builtin_prefetch(c->a + m * stride + r + COLW, 1, 3);
        /* The table's layout (prv_ntt_top_twiddles): a lone radix-2 stage first
         * when k is odd, then pairs of stages. Stages whose groups have a zero
         * upper half (LDE input) only multiply: x stays, y = x·w, and rows
         * [0, live) of every half are live afterwards. */
        unsigned s = c->k;
        if (s % 2 == 1) {
            size_t hs = (size_t)1 << (s - 1);
            for (size_t g = 0; g < rows; g += 2 * hs)
                for (size_t m = 0; m < (hs >= c->live ? c->live : hs); m++) {
                    prv_gl *x = buf + (g + m) * COLW, *y = x + hs * COLW;
                    if (hs >= c->live)
                        mul_run(y, x, tw + m * COLW, COLW);
                    else
                        bfly_run(x, y, tw + m * COLW, COLW);
                }
            tw += hs * COLW;
            s--;
        }
        for (; s >= 2; s -= 2) {
            size_t q = (size_t)1 << (s - 2), hs = 2 * q;
            if (hs < c->live) {
                for (size_t g = 0; g < rows; g += 4 * q)
                    for (size_t m = 0; m < q; m++) {
                        const prv_gl *t = tw + m * 4 * COLW;
                        prv_gl *b = buf + (g + m) * COLW;
                        bfly4_run(b, b + q * COLW, b + 2 * q * COLW, b + 3 * q * COLW, t, t + COLW,
                                  t + 2 * COLW, t + 3 * COLW, COLW);
                    }
            } else {
                /* first stage (half 2q) sparse: row m < live uses w1 of m, or w1b of m - q */
                for (size_t g = 0; g < rows; g += 2 * hs)
                    for (size_t m = 0; m < c->live; m++) {
                        const prv_gl *w = m < q ? tw + m * 4 * COLW : tw + (m - q) * 4 * COLW + COLW;
                        mul_run(buf + (g + m + hs) * COLW, buf + (g + m) * COLW, w, COLW);
                    }
                /* second stage (half q): sparse again, or full butterflies */
                for (size_t g = 0; g < rows; g += 2 * q)
                    for (size_t m = 0; m < (q >= c->live ? c->live : q); m++) {
                        prv_gl *x = buf + (g + m) * COLW, *y = x + q * COLW;
                        const prv_gl *w = tw + m * 4 * COLW + 2 * COLW;
                        if (q >= c->live)
                            mul_run(y, x, w, COLW);
                        else
                            bfly_run(x, y, w, COLW);
                    }
            }
            tw += q * 4 * COLW;
        }
        for (size_t m = 0; m < rows; m++)
            memcpy(c->a + m * stride + r, buf + m * COLW, COLW * sizeof *buf);
    }
}

static void dif_rec(prv_gl *a, unsigned log_n, bool convert, unsigned log_sparse);

typedef struct block_ctx {
    prv_gl *a;
    unsigned log_block;
} block_ctx;

static void dif_block_range(void *vctx, size_t begin, size_t end)
{
    const block_ctx *c = vctx;
    for (size_t b = begin; b < end; b++)
        dif_rec(c->a + (b << c->log_block), c->log_block, false, 0);
}

/*
 * convert: a holds canonical values (else the working form); canonical out.
 * Only a[0 .. 2^(log_n - log_sparse)) is read; the rest is taken as zero.
 */
static void dif_rec(prv_gl *a, unsigned log_n, bool convert, unsigned log_sparse)
{
    unsigned k = log_n > LOG_LEAF ? prv_ntt_top_stages(log_n) : 0;
    if (log_sparse > k) {
        /* too sparse for the column pass to exploit: make it dense */
        size_t n = (size_t)1 << log_n, live = n >> log_sparse;
        memset(a + live, 0, (n - live) * sizeof *a);
        log_sparse = 0;
    }
    if (log_n <= LOG_LEAF) {
        if (convert)
            to_internal(a, (size_t)1 << log_n);
        dif_leaf(a, log_n);
        return;
    }
    unsigned rest = log_n - k;
    top_ctx tc = { a, k, rest, convert, (size_t)1 << (k - log_sparse) };
    prv_parallel_for(((size_t)1 << rest) / COLW, 16, dif_top_chunk, &tc);
    block_ctx bc = { a, rest };
    prv_parallel_for((size_t)1 << k, 1, dif_block_range, &bc);
}

void NTT_DIF_NAME(prv_gl *a, unsigned log_n, unsigned log_sparse)
{
    dif_rec(a, log_n, true, log_sparse);
}
