/*
 * prover/ntt_avx2.c — AVX2 kernels of the NTT (see ntt_core.h), 4 lanes of 64 bits.
 *
 * AVX2 has no 64×64-bit multiply and only signed 64-bit compares, so (after
 * Plonky2's avx2_goldilocks_field.rs):
 *  - the 128-bit product is built from four 32×32 products (_mm256_mul_epu32)
 *    with carries that cannot overflow (each partial sum is < 2^64);
 *  - unsigned comparisons x < y become signed ones on x ^ 2^63, y ^ 2^63
 *    ("shifted" form); reduce() keeps its intermediates shifted so that each
 *    compare costs no extra XOR;
 *  - reduction uses 2^64 ≡ 2^32 - 1 and 2^96 ≡ -1 (mod p), as in field.h.
 * Every result is canonical (< p), so this backend agrees bit for bit with
 * ntt_scalar.c.
 */
#include <immintrin.h>

#include "prover/field.h"
#include "prover/ntt_internal.h"

#define SIGN_BIT _mm256_set1_epi64x((long long)0x8000000000000000ULL)
#define EPS_V _mm256_set1_epi64x((long long)PRV_GL_EPSILON)
/* (p - 1) ^ 2^63: r ^ 2^63 > this (signed) iff r >= p. */
#define PM1_SHIFTED _mm256_set1_epi64x((long long)((PRV_GL_P - 1) ^ 0x8000000000000000ULL))

/* (hi, lo) 128-bit -> canonical, shifted (XOR 2^63). */
static inline __m256i gl_reduce_s(__m256i hi, __m256i lo)
{
    __m256i hi_hi = _mm256_srli_epi64(hi, 32);
    __m256i lo_s = _mm256_xor_si256(lo, SIGN_BIT);
    __m256i t0_s = _mm256_sub_epi64(lo_s, hi_hi);
    __m256i borrow = _mm256_cmpgt_epi64(t0_s, lo_s);
    t0_s = _mm256_sub_epi64(t0_s, _mm256_and_si256(borrow, EPS_V));
    __m256i t1 = _mm256_mul_epu32(hi, EPS_V); /* hi_lo · (2^32 - 1) < 2^64 */
    __m256i r_s = _mm256_add_epi64(t0_s, t1);
    __m256i wrap = _mm256_cmpgt_epi64(t0_s, r_s);
    __m256i big = _mm256_cmpgt_epi64(r_s, PM1_SHIFTED);
    __m256i fix = _mm256_and_si256(_mm256_or_si256(wrap, big), EPS_V);
    return _mm256_add_epi64(r_s, fix);
}

/* canonical a, b -> shifted a·b */
static inline __m256i mul_s(__m256i a, __m256i b)
{
    __m256i a_hi = _mm256_srli_epi64(a, 32);
    __m256i b_hi = _mm256_srli_epi64(b, 32);
    __m256i ll = _mm256_mul_epu32(a, b);
    __m256i lh = _mm256_mul_epu32(a, b_hi);
    __m256i hl = _mm256_mul_epu32(a_hi, b);
    __m256i hh = _mm256_mul_epu32(a_hi, b_hi);
    __m256i t1 = _mm256_add_epi64(hl, _mm256_srli_epi64(ll, 32));
    __m256i t2 = _mm256_add_epi64(lh, _mm256_and_si256(t1, EPS_V));
    __m256i hi = _mm256_add_epi64(hh, _mm256_add_epi64(_mm256_srli_epi64(t1, 32), _mm256_srli_epi64(t2, 32)));
    __m256i lo = _mm256_blend_epi32(ll, _mm256_slli_epi64(t2, 32), 0xAA);
    return gl_reduce_s(hi, lo);
}

/* canonical a, b -> canonical a·b */
static inline __m256i gl_mul(__m256i a, __m256i b) { return _mm256_xor_si256(mul_s(a, b), SIGN_BIT); }

static inline __m256i load(const prv_gl *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline void store(prv_gl *p, __m256i v) { _mm256_storeu_si256((__m256i *)p, v); }

/*
 * Inside the transform, values are kept in memory in shifted form (v ^ 2^63,
 * v canonical): the compares then need no XOR, and the XOR that adding 2^63
 * amounts to folds into constants. to_internal converts on the way in; last2
 * converts back.
 */
static void to_internal(prv_gl *a, size_t n)
{
    for (size_t i = 0; i < n; i += 4)
        store(a + i, _mm256_xor_si256(load(a + i), SIGN_BIT));
}

/* EPS + 2^63: xs + ys + this = (x + y + EPS) ^ 2^63. */
#define EPS_SIGN_V _mm256_set1_epi64x((long long)(PRV_GL_EPSILON | 0x8000000000000000ULL))

/* shifted x, y -> shifted x + y. With t = x + (y + EPS) (y + EPS cannot wrap):
 * t wrapped iff x + y >= p, and then t = x + y - p; otherwise x + y = t - EPS. */
static inline __m256i add_ss(__m256i xs, __m256i ys)
{
    __m256i ts = _mm256_add_epi64(_mm256_add_epi64(xs, ys), EPS_SIGN_V);
    __m256i wrapped = _mm256_cmpgt_epi64(xs, ts); /* t < x unsigned */
    return _mm256_sub_epi64(ts, _mm256_andnot_si256(wrapped, EPS_V));
}

/* shifted x, y -> canonical (unshifted) x - y */
static inline __m256i sub_ss(__m256i xs, __m256i ys)
{
    __m256i borrow = _mm256_cmpgt_epi64(ys, xs);
    return _mm256_sub_epi64(_mm256_sub_epi64(xs, ys), _mm256_and_si256(borrow, EPS_V));
}

static void bfly_run(prv_gl *restrict x, prv_gl *restrict y, const prv_gl *restrict w, size_t len)
{
    for (size_t i = 0; i < len; i += 4) {
        __m256i xs = load(x + i), ys = load(y + i);
        store(x + i, add_ss(xs, ys));
        store(y + i, mul_s(sub_ss(xs, ys), load(w + i)));
    }
}

/* canonical v -> shifted v·2^48 = v·ω_4 (2^48 is root_of_unity(2), tested): the
 * 128-bit product is just (v >> 16, v << 48), no multiplications. */
static inline __m256i mul_w4_s(__m256i v)
{
    return gl_reduce_s(_mm256_srli_epi64(v, 16), _mm256_slli_epi64(v, 48));
}

/*
 * Steps (bfly4_run) or 16-point groups (last4) done side by side per loop
 * iteration. One radix-4 step is a long dependency chain; with two written
 * operation by operation side by side the out-of-order core finds independent
 * work (2^20 forward −6 %). A plainly unrolled loop gained nothing and 4 was
 * slower than 2.
 */
#define ILV 2

/*
 * Two stages at once on a_k[i] = a[j + k·q]: with u = x0 - x2, v = x1 - x3 and
 * W = ω_{4q}, the halves-2q then halves-q butterflies give
 *   x0 + x1 + x2 + x3, (y0 - y1)·W^2j, (u + ω_4 v)·W^j, (u - ω_4 v)·W^3j
 * (y0 = x0 + x2, y1 = x1 + x3): three general products and one by ω_4 = 2^48
 * instead of four general products.
 */

static void bfly4_run(prv_gl *restrict a0, prv_gl *restrict a1, prv_gl *restrict a2, prv_gl *restrict a3,
                      const prv_gl *restrict w1, const prv_gl *restrict w1b, const prv_gl *restrict w2,
                      const prv_gl *restrict w3, size_t q)
{
    (void)w1b; /* = w1·ω_4, folded into the ω_4 product */
    size_t i = 0;
    for (; i + 4 * ILV <= q; i += 4 * ILV) {
        __m256i x0[ILV], x1[ILV], x2[ILV], x3[ILV], y0[ILV], y1[ILV], us[ILV], vw[ILV], d[ILV];
        for (int u = 0; u < ILV; u++) {
            x1[u] = load(a1 + i + 4 * u);
            x3[u] = load(a3 + i + 4 * u);
        }
        for (int u = 0; u < ILV; u++)
            vw[u] = mul_w4_s(sub_ss(x1[u], x3[u]));
        for (int u = 0; u < ILV; u++) {
            x0[u] = load(a0 + i + 4 * u);
            x2[u] = load(a2 + i + 4 * u);
        }
        for (int u = 0; u < ILV; u++) {
            y0[u] = add_ss(x0[u], x2[u]);
            y1[u] = add_ss(x1[u], x3[u]);
            us[u] = _mm256_xor_si256(sub_ss(x0[u], x2[u]), SIGN_BIT);
        }
        for (int u = 0; u < ILV; u++)
            store(a0 + i + 4 * u, add_ss(y0[u], y1[u]));
        for (int u = 0; u < ILV; u++)
            d[u] = mul_s(sub_ss(y0[u], y1[u]), load(w2 + i + 4 * u));
        for (int u = 0; u < ILV; u++)
            store(a1 + i + 4 * u, d[u]);
        for (int u = 0; u < ILV; u++)
            d[u] = mul_s(_mm256_xor_si256(add_ss(us[u], vw[u]), SIGN_BIT), load(w1 + i + 4 * u));
        for (int u = 0; u < ILV; u++)
            store(a2 + i + 4 * u, d[u]);
        for (int u = 0; u < ILV; u++)
            d[u] = mul_s(sub_ss(us[u], vw[u]), load(w3 + i + 4 * u));
        for (int u = 0; u < ILV; u++)
            store(a3 + i + 4 * u, d[u]);
    }
    for (; i < q; i += 4) {
        __m256i x0 = load(a0 + i), x1 = load(a1 + i), x2 = load(a2 + i), x3 = load(a3 + i);
        __m256i y0 = add_ss(x0, x2), y1 = add_ss(x1, x3);               /* shifted */
        __m256i us = _mm256_xor_si256(sub_ss(x0, x2), SIGN_BIT);         /* shifted */
        __m256i vw = mul_w4_s(sub_ss(x1, x3));                           /* shifted */
        store(a0 + i, add_ss(y0, y1));
        store(a1 + i, mul_s(sub_ss(y0, y1), load(w2 + i)));
        store(a2 + i, mul_s(_mm256_xor_si256(add_ss(us, vw), SIGN_BIT), load(w1 + i)));
        store(a3 + i, mul_s(sub_ss(us, vw), load(w3 + i)));
    }
}

static void mul_run(prv_gl *restrict y, const prv_gl *restrict x, const prv_gl *restrict w, size_t len)
{
    for (size_t i = 0; i < len; i += 4)
        store(y + i, mul_s(_mm256_xor_si256(load(x + i), SIGN_BIT), load(w + i)));
}

/* Transposes the 4×4 matrix of 64-bit elements held in r0..r3 (rows). */
static inline void transpose4(__m256i *r0, __m256i *r1, __m256i *r2, __m256i *r3)
{
    __m256i t0 = _mm256_unpacklo_epi64(*r0, *r1); /* a0 b0 a2 b2 */
    __m256i t1 = _mm256_unpackhi_epi64(*r0, *r1); /* a1 b1 a3 b3 */
    __m256i t2 = _mm256_unpacklo_epi64(*r2, *r3); /* c0 d0 c2 d2 */
    __m256i t3 = _mm256_unpackhi_epi64(*r2, *r3); /* c1 d1 c3 d3 */
    *r0 = _mm256_permute2x128_si256(t0, t2, 0x20); /* a0 b0 c0 d0 */
    *r1 = _mm256_permute2x128_si256(t1, t3, 0x20); /* a1 b1 c1 d1 */
    *r2 = _mm256_permute2x128_si256(t0, t2, 0x31); /* a2 b2 c2 d2 */
    *r3 = _mm256_permute2x128_si256(t1, t3, 0x31); /* a3 b3 c3 d3 */
}

/* The last two stages on four groups of four, transposed in registers: shifted in, canonical out. */
static inline void last2_regs(__m256i *x0, __m256i *x1, __m256i *x2, __m256i *x3, __m256i w)
{
    transpose4(x0, x1, x2, x3); /* xk = element k of four groups */
    __m256i y0 = add_ss(*x0, *x2), y1 = add_ss(*x1, *x3);       /* shifted */
    __m256i y2 = _mm256_xor_si256(sub_ss(*x0, *x2), SIGN_BIT); /* shifted */
    __m256i y3 = mul_s(sub_ss(*x1, *x3), w);                   /* shifted */
    *x0 = _mm256_xor_si256(add_ss(y0, y1), SIGN_BIT);
    *x1 = sub_ss(y0, y1);
    *x2 = _mm256_xor_si256(add_ss(y2, y3), SIGN_BIT);
    *x3 = sub_ss(y2, y3);
    transpose4(x0, x1, x2, x3);
}

/* The last two stages on groups of four: shifted in, canonical out. */
static void last2(prv_gl *a, size_t n, prv_gl w4)
{
    __m256i w = _mm256_set1_epi64x((long long)w4);
    size_t g = 0;
    for (; g + 16 <= n; g += 16) {
        __m256i x0 = load(a + g), x1 = load(a + g + 4), x2 = load(a + g + 8), x3 = load(a + g + 12);
        last2_regs(&x0, &x1, &x2, &x3, w);
        store(a + g, x0);
        store(a + g + 4, x1);
        store(a + g + 8, x2);
        store(a + g + 12, x3);
    }
    for (; g < n; g += 4) {
        const prv_gl sb = 0x8000000000000000ULL;
        prv_gl x0 = a[g] ^ sb, x1 = a[g + 1] ^ sb, x2 = a[g + 2] ^ sb, x3 = a[g + 3] ^ sb;
        prv_gl y0 = prv_gl_add(x0, x2), y1 = prv_gl_add(x1, x3);
        prv_gl y2 = prv_gl_sub(x0, x2), y3 = prv_gl_mul(prv_gl_sub(x1, x3), w4);
        a[g] = prv_gl_add(y0, y1);
        a[g + 1] = prv_gl_sub(y0, y1);
        a[g + 2] = prv_gl_add(y2, y3);
        a[g + 3] = prv_gl_sub(y2, y3);
    }
}

/* The last four stages, one group of 16 in four registers; the twiddles stay in
 * registers. ILV groups go side by side (see bfly4_run). */
static void last4(prv_gl *a, size_t n, const prv_gl *t8, const prv_gl *t4, prv_gl w4)
{
    __m256i w = _mm256_set1_epi64x((long long)w4);
    __m256i w8a = load(t8), w8b = load(t8 + 4), w4v = load(t4);
    size_t g = 0;
    for (; g + 16 * ILV <= n; g += 16 * ILV) {
        __m256i x0[ILV], x1[ILV], x2[ILV], x3[ILV], y0[ILV], y1[ILV], y2[ILV], y3[ILV];
        for (int u = 0; u < ILV; u++) {
            x0[u] = load(a + g + 16 * u);
            x1[u] = load(a + g + 16 * u + 4);
            x2[u] = load(a + g + 16 * u + 8);
            x3[u] = load(a + g + 16 * u + 12);
        }
        /* half 8: (x0, x2) and (x1, x3) */
        for (int u = 0; u < ILV; u++) {
            y0[u] = add_ss(x0[u], x2[u]);
            y2[u] = mul_s(sub_ss(x0[u], x2[u]), w8a);
        }
        for (int u = 0; u < ILV; u++) {
            y1[u] = add_ss(x1[u], x3[u]);
            y3[u] = mul_s(sub_ss(x1[u], x3[u]), w8b);
        }
        /* half 4: (y0, y1) and (y2, y3) */
        for (int u = 0; u < ILV; u++) {
            x0[u] = add_ss(y0[u], y1[u]);
            x1[u] = mul_s(sub_ss(y0[u], y1[u]), w4v);
        }
        for (int u = 0; u < ILV; u++) {
            x2[u] = add_ss(y2[u], y3[u]);
            x3[u] = mul_s(sub_ss(y2[u], y3[u]), w4v);
        }
        for (int u = 0; u < ILV; u++)
            last2_regs(&x0[u], &x1[u], &x2[u], &x3[u], w);
        for (int u = 0; u < ILV; u++) {
            store(a + g + 16 * u, x0[u]);
            store(a + g + 16 * u + 4, x1[u]);
            store(a + g + 16 * u + 8, x2[u]);
            store(a + g + 16 * u + 12, x3[u]);
        }
    }
    for (; g < n; g += 16) {
        __m256i x0 = load(a + g), x1 = load(a + g + 4), x2 = load(a + g + 8), x3 = load(a + g + 12);
        /* half 8: (x0, x2) and (x1, x3) */
        __m256i y0 = add_ss(x0, x2), y2 = mul_s(sub_ss(x0, x2), w8a);
        __m256i y1 = add_ss(x1, x3), y3 = mul_s(sub_ss(x1, x3), w8b);
        /* half 4: (y0, y1) and (y2, y3) */
        x0 = add_ss(y0, y1);
        x1 = mul_s(sub_ss(y0, y1), w4v);
        x2 = add_ss(y2, y3);
        x3 = mul_s(sub_ss(y2, y3), w4v);
        last2_regs(&x0, &x1, &x2, &x3, w);
        store(a + g, x0);
        store(a + g + 4, x1);
        store(a + g + 8, x2);
        store(a + g + 12, x3);
    }
}

void prv_ntt_neg_scale_avx2(prv_gl *a, size_t n, size_t begin, size_t end, prv_gl s)
{
    __m256i sv = _mm256_set1_epi64x((long long)s);
    size_t i = begin;
    /* a[i .. i+4) pairs with a[n-i-3 .. n-i+1) reversed; the two blocks are
     * disjoint because i + 4 <= end <= n/2. */
    for (; i + 4 <= end; i += 4) {
        __m256i lo = load(a + i), hi = load(a + n - i - 3);
        lo = _mm256_permute4x64_epi64(lo, 0x1B); /* reverse the 4 lanes */
        hi = _mm256_permute4x64_epi64(hi, 0x1B);
        store(a + i, gl_mul(hi, sv));
        store(a + n - i - 3, gl_mul(lo, sv));
    }
    for (; i < end; i++) {
        prv_gl t = a[i];
        a[i] = prv_gl_mul(a[n - i], s);
        a[n - i] = prv_gl_mul(t, s);
    }
}

void prv_ntt_mul_powers_avx2(prv_gl *a, size_t n, prv_gl start, prv_gl step)
{
    size_t i = 0;
    if (n >= 16) {
        /* Four independent chains of 4 lanes: lane l of chain c holds start·step^(4c+l). */
        prv_gl p[16];
        p[0] = start;
        for (int k = 1; k < 16; k++)
            p[k] = prv_gl_mul(p[k - 1], step);
        __m256i m = _mm256_set1_epi64x((long long)prv_gl_pow(step, 16));
        __m256i c0 = load(p), c1 = load(p + 4), c2 = load(p + 8), c3 = load(p + 12);
        for (; i + 16 <= n; i += 16) {
            store(a + i, gl_mul(load(a + i), c0));
            store(a + i + 4, gl_mul(load(a + i + 4), c1));
            store(a + i + 8, gl_mul(load(a + i + 8), c2));
            store(a + i + 12, gl_mul(load(a + i + 12), c3));
            c0 = gl_mul(c0, m);
            c1 = gl_mul(c1, m);
            c2 = gl_mul(c2, m);
            c3 = gl_mul(c3, m);
        }
        _mm256_storeu_si256((__m256i *)p, c0);
        start = p[0];
    }
    for (; i < n; i++) {
        a[i] = prv_gl_mul(a[i], start);
        start = prv_gl_mul(start, step);
    }
}

#define NTT_DIF_NAME prv_ntt_dif_avx2
#include "prover/ntt_core.h"
