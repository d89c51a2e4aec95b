/*
 * prover/poseidon2_avx2.c — batched Poseidon2 with AVX2 (compiled with -mavx2
 * -mbmi2; called only when the CPU has them, see poseidon2.c).
 *
 * Layout: one state per 64-bit lane. GROUPS x 4 states are transposed so that
 * the vectors of group k hold lane i of states 4k..4k+3; the rounds then run on
 * whole vectors, and the GROUPS independent chains hide the multiply latency of
 * the partial rounds (which are one long dependency chain per state).
 *
 * Values in flight (the invariants that make the lazy reduction correct):
 *  - "u64 form": any uint64_t congruent to the value (not canonical).
 *  - "split form" (H, L): two SIGNED 64-bit halves, the value is H*2^32 + L
 *    (mod p), |H|, |L| < 2^59. The linear layers are then plain 64-bit adds,
 *    subtracts and shifts of the halves, which cannot overflow.
 *    reduce_signed() adds a multiple of p whose halves exceed 2^59 (BIG_H,
 *    BIG_L) and brings the now non-negative pair back to u64 form.
 *  - A product goes straight from its 128-bit halves to split form
 *    (split_product), so the last S-box multiplication needs no reduction.
 *  - In the partial rounds only lane 0 (S-box) is reduced every round; the
 *    others, halvings included (halve_split), stay in split form, grow by
 *    < 2^4 per round and have their halves shrunk (fold_split) every
 *    PARTIAL_FOLD_EVERY rounds (the bounds are at internal_layer).
 * Outputs are made canonical at the end.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "prover/poseidon2.h"
#include "prover/poseidon2_impl.h"

typedef __m256i V;

/* Groups of 4 states per batch (an even number: full rounds take them in
 * pairs): independent dependency chains for the partial rounds, whose lane-0
 * S-boxes run side by side (1 to 8 tried; 4 best). */
#ifndef GROUPS
#define GROUPS 4
#endif
_Static_assert(GROUPS % 2 == 0 && GROUPS <= PRV_P2_W12, "full rounds take groups in pairs; sbox_split_n handles at most 12 S-boxes");

/* Full rounds run on pairs of groups, this many lanes of each at a time, so
 * 2 * SBOX_LANES S-boxes side by side (see sbox_split_n). Measured on this
 * machine: 1, 2, 3, 4, 6 lanes; 2 is best for both widths (and beat a single
 * group with 4 or 12 S-boxes side by side by 3% at width 8). */
#define SBOX_LANES 2
_Static_assert(PRV_P2_W8 % SBOX_LANES == 0 && PRV_P2_W12 % SBOX_LANES == 0, "lanes come in whole steps");

#define SPLAT(x) _mm256_set1_epi64x((long long)(x))
#define VEPS SPLAT(0xFFFFFFFFULL)
#define VSIGN SPLAT(0x8000000000000000ULL)

/* 2^28 p in split form, both halves >= 2^59:
 * (2^60 - 2^28 - 2^27) * 2^32 + (2^59 + 2^28) = 2^92 - 2^60 + 2^28 = 2^28 p. */
#define BIG_H ((1ULL << 60) - (1ULL << 28) - (1ULL << 27))
#define BIG_L ((1ULL << 59) + (1ULL << 28))
/* Lanes 1.. of the partial rounds are folded (fold_split) every this many
 * rounds, at r = 4, 9, 14, 19 (bounds at internal_layer). */
#define PARTIAL_FOLD_EVERY 5

#define AI static inline __attribute__((always_inline))

AI V add(V a, V b) { return _mm256_add_epi64(a, b); }
AI V sub(V a, V b) { return _mm256_sub_epi64(a, b); }
/* The high 32 bits of each lane moved to the low 32 (what _mm256_mul_epu32 reads). */
AI V hi32(V x) { return _mm256_srli_epi64(x, 32); }

/* 64x64 -> 128-bit product, the parts that both reductions use:
 * x*y = hi*2^64 + t1_lo*2^32 + ll_lo, with ll_lo = ll mod 2^32, t1_lo = t1 mod 2^32. */
AI void mul_parts(V x, V y, V *ll, V *t1, V *hi)
{
    V xh = hi32(x), yh = hi32(y);
    V mll = _mm256_mul_epu32(x, y);
    V mlh = _mm256_mul_epu32(x, yh);
    V mhl = _mm256_mul_epu32(xh, y);
    V mhh = _mm256_mul_epu32(xh, yh);
    V t0 = add(mhl, _mm256_srli_epi64(mll, 32));          /* < 2^64 */
    V u1 = add(mlh, _mm256_and_si256(t0, VEPS));           /* < 2^64 */
    *hi = add(add(mhh, _mm256_srli_epi64(t0, 32)), _mm256_srli_epi64(u1, 32));
    *ll = mll;
    *t1 = u1;
}

AI void sqr_parts(V x, V *ll, V *t1, V *hi)
{
    V xh = hi32(x);
    V mll = _mm256_mul_epu32(x, x);
    V mlh = _mm256_mul_epu32(x, xh);
    V mhh = _mm256_mul_epu32(xh, xh);
    V t0 = add(mlh, _mm256_srli_epi64(mll, 32));
    V u1 = add(mlh, _mm256_and_si256(t0, VEPS));
    *hi = add(add(mhh, _mm256_srli_epi64(t0, 32)), _mm256_srli_epi64(u1, 32));
    *ll = mll;
    *t1 = u1;
}

/* hi*2^64 + lo -> u64 form: lo - hi_hi + hi_lo*EPS (2^64 = EPS, 2^96 = -1). Shifted
 * values (x ^ 2^63) make the signed compare an unsigned one. */
AI V reduce128(V ll, V t1, V hi)
{
    V lo = _mm256_blend_epi32(ll, _mm256_shuffle_epi32(t1, 0xA0), 0xAA);
    V lo_s = _mm256_xor_si256(lo, VSIGN);
    V t0_s = sub(lo_s, _mm256_srli_epi64(hi, 32));
    V borrow = _mm256_cmpgt_epi64(t0_s, lo_s);
    t0_s = sub(t0_s, _mm256_and_si256(borrow, VEPS)); /* t0 >= 2^64 - 2^32 + 1 here */
    V r_s = add(t0_s, _mm256_mul_epu32(hi, VEPS));   /* + hi_lo * EPS */
    V carry = _mm256_cmpgt_epi64(t0_s, r_s);
    r_s = add(r_s, _mm256_and_si256(carry, VEPS));    /* r < hi_lo*EPS < 2^64 - 2^32 here */
    return _mm256_xor_si256(r_s, VSIGN);
}

/* hi*2^64 + lo -> split form: H = lo_hi + hi_lo, L = lo_lo - hi_lo - hi_hi
 * (hi*2^64 = hi_hi*2^96 + hi_lo*2^64 = -hi_hi + hi_lo*2^32 - hi_lo).
 * 0 <= H < 2^33, -2^33 < L < 2^32. */
AI void split_product(V ll, V t1, V hi, V *h, V *l)
{
    V hi_lo = _mm256_and_si256(hi, VEPS);
    V hi_hi = _mm256_srli_epi64(hi, 32);
    *h = add(_mm256_and_si256(t1, VEPS), hi_lo);
    *l = sub(sub(_mm256_and_si256(ll, VEPS), hi_lo), hi_hi);
}

/* Non-negative split form (H, L < 2^62) -> u64 form: h1 < 2^63, so h1 >> 32
 * fits the 32-bit multiplier input and a_eps < 2^63. */
AI V reduce_split(V h, V l)
{
    V h1 = add(h, _mm256_srli_epi64(l, 32)); /* value = h1*2^32 + (l mod 2^32) */
    V x = _mm256_blend_epi32(l, _mm256_shuffle_epi32(h1, 0xA0), 0xAA);
    V a_eps = _mm256_mul_epu32(_mm256_srli_epi64(h1, 32), VEPS); /* (h1 >> 32) * 2^64 */
    V r = add(x, a_eps);
    V carry = _mm256_cmpgt_epi64(_mm256_xor_si256(a_eps, VSIGN), _mm256_xor_si256(r, VSIGN));
    return add(r, _mm256_and_si256(carry, VEPS)); /* r < a_eps < 2^63 after a wrap */
}

/* Signed split form (|H|, |L| < 2^59) -> u64 form. */
AI V reduce_signed(V h, V l) { return reduce_split(add(h, SPLAT(BIG_H)), add(l, SPLAT(BIG_L))); }

/* Signed split form (|H|, |L| < 2^59) -> the same value with small halves,
 * |H|, |L| < 2^33 (not canonical): with BIG added both halves are
 * non-negative; then v = h1*2^32 + l0 with h1 = H + (L >> 32), l0 = L mod 2^32,
 * and h1 = a*2^32 + b gives a*2^64 + b*2^32 = (a + b)*2^32 - a (mod p).
 * a < 2^29, so H' = a + b < 2^33 and L' = l0 - a > -2^29. */
AI void fold_split(V *h, V *l)
{
    V hh = add(*h, SPLAT(BIG_H)), ll = add(*l, SPLAT(BIG_L));
    V h1 = add(hh, _mm256_srli_epi64(ll, 32));
    V a = _mm256_srli_epi64(h1, 32);
    *h = add(a, _mm256_and_si256(h1, VEPS));
    *l = sub(_mm256_and_si256(ll, VEPS), a);
}

AI void split(V x, V *h, V *l)
{
    *h = _mm256_srli_epi64(x, 32);
    *l = _mm256_and_si256(x, VEPS);
}

/* u64 form -> canonical. */
AI V canon(V x)
{
    V ge = _mm256_cmpgt_epi64(_mm256_xor_si256(x, VSIGN), SPLAT((0xFFFFFFFF00000001ULL - 1) ^ (1ULL << 63)));
    return add(x, _mm256_and_si256(ge, VEPS)); /* x - p = x + EPS (mod 2^64) */
}

/* x^7 of n u64-form values (n <= 12), into split form: x^2, x^3 = x^2 * x,
 * x^4 = (x^2)^2 reduced, x^3 * x^4 left as 128-bit halves for split_product.
 * The n S-boxes advance step by step, so that independent multiplications sit
 * next to each other in the instruction stream: one S-box is a ~100-instruction
 * dependency chain, longer than the vector scheduler looks ahead, and computing
 * them one after the other ran ~25% slower. */
AI void sbox_split_n(const V *x, V *h, V *l, int n)
{
    V ll[PRV_P2_W12], t1[PRV_P2_W12], hi[PRV_P2_W12];
    V x2[PRV_P2_W12], x3[PRV_P2_W12], x4[PRV_P2_W12];
    for (int j = 0; j < n; j++)
        sqr_parts(x[j], &ll[j], &t1[j], &hi[j]);
    for (int j = 0; j < n; j++)
        x2[j] = reduce128(ll[j], t1[j], hi[j]);
    for (int j = 0; j < n; j++)
        mul_parts(x2[j], x[j], &ll[j], &t1[j], &hi[j]);
    for (int j = 0; j < n; j++)
        x3[j] = reduce128(ll[j], t1[j], hi[j]);
    for (int j = 0; j < n; j++)
        sqr_parts(x2[j], &ll[j], &t1[j], &hi[j]);
    for (int j = 0; j < n; j++)
        x4[j] = reduce128(ll[j], t1[j], hi[j]);
    for (int j = 0; j < n; j++)
        mul_parts(x3[j], x4[j], &ll[j], &t1[j], &hi[j]);
    for (int j = 0; j < n; j++)
        split_product(ll[j], t1[j], hi[j], &h[j], &l[j]);
}

/* M4 = [2 3 1 1; 1 2 3 1; 1 1 2 3; 3 1 1 2] on one half (plain additions). */
AI void mat4(V *x)
{
    V t01 = add(x[0], x[1]);
    V t23 = add(x[2], x[3]);
    V t0123 = add(t01, t23);
    V t01123 = add(t0123, x[1]);
    V t01233 = add(t0123, x[3]);
    x[3] = add(t01233, add(x[0], x[0]));
    x[1] = add(t01123, add(x[2], x[2]));
    x[0] = add(t01123, t01);
    x[2] = add(t01233, t23);
}

/* External layer on split form; input |halves| < 2^34, output < 21 * 2^34 < 2^39. */
AI void external_split(V *h, V *l, int width)
{
    for (int k = 0; k < width; k += 4) {
        mat4(h + k);
        mat4(l + k);
    }
    for (int j = 0; j < 4; j++) {
        V ch = h[j], cl = l[j];
        for (int k = 4; k < width; k += 4) {
            ch = add(ch, h[k + j]);
            cl = add(cl, l[k + j]);
        }
        for (int k = 0; k < width; k += 4) {
            h[k + j] = add(h[k + j], ch);
            l[k + j] = add(l[k + j], cl);
        }
    }
}

/* One group: width lanes in split form. */
typedef struct {
    V h[PRV_P2_W12], l[PRV_P2_W12];
} group_t;

/* One full round on two groups: add-constant and S-box on every lane (S-boxes
 * of both groups side by side, SBOX_LANES lanes of each at a time), then
 * the external layer. */
AI void full_round2(group_t *ga, group_t *gb, int width, const prv_gl *rc)
{
    const int step = SBOX_LANES;
    for (int i0 = 0; i0 < width; i0 += step) {
        V x[2 * SBOX_LANES], h[2 * SBOX_LANES], l[2 * SBOX_LANES];
        for (int j = 0; j < step; j++) {
            int i = i0 + j;
            /* + rc in split form (with BIG folded in), then u64 form for the S-box */
            V ch = SPLAT((rc[i] >> 32) + BIG_H), cl = SPLAT((rc[i] & 0xFFFFFFFFULL) + BIG_L);
            x[j] = reduce_split(add(ga->h[i], ch), add(ga->l[i], cl));
            x[step + j] = reduce_split(add(gb->h[i], ch), add(gb->l[i], cl));
        }
        sbox_split_n(x, h, l, 2 * step);
        for (int j = 0; j < step; j++) {
            ga->h[i0 + j] = h[j];
            ga->l[i0 + j] = l[j];
            gb->h[i0 + j] = h[step + j];
            gb->l[i0 + j] = l[step + j];
        }
    }
    external_split(ga->h, ga->l, width);
    external_split(gb->h, gb->l, width);
}

/* (H, L) -> (H, L) / 2^k (mod p), split form in and out, |H|, |L| < 2^59,
 * k <= 3. Adding BIG (= 2^28 p) makes both halves non-negative; each halving is
 * then exact, (v + (v odd) p) / 2, done on the halves: v = H*2^32 + L is odd
 * when L is, and H*2^31 needs 2^31 in L when H is odd; at the end BIG / 2^k
 * (= 2^(28-k) p, still a multiple of p) comes off again. Output halves
 * < |input| / 2^k + 2^32. */
AI void halve_split(V *h, V *l, int k)
{
    V hh = add(*h, SPLAT(BIG_H)), ll = add(*l, SPLAT(BIG_L));
    for (int j = 0; j < k; j++) {
        V ho = _mm256_and_si256(hh, SPLAT(1)), lo = _mm256_and_si256(ll, SPLAT(1));
        /* (v + lo*p) / 2 with p/2 = (2^31 - 1)*2^32 + 2^31 + 1/2 */
        ll = add(_mm256_srli_epi64(add(ll, lo), 1), _mm256_slli_epi64(add(ho, lo), 31));
        hh = add(_mm256_srli_epi64(sub(hh, ho), 1), sub(_mm256_slli_epi64(lo, 31), lo));
    }
    *h = sub(hh, SPLAT(BIG_H >> k));
    *l = sub(ll, SPLAT(BIG_L >> k));
}

/* The internal layer of a partial round: lane i <- S + d_i * lane i.
 *
 * On entry lane 0 holds the S-box output (split form, |halves| < 2^34); the
 * other lanes are as the previous layer left them, and are folded (to
 * halves < 2^33) only every PARTIAL_FOLD_EVERY rounds. Bounds (absolute
 * values of the halves): with the other lanes < B, S < 2^34 + 11B; lane 0
 * gets S - 2 * (< 2^34), a lane with d = ±1/2^k at most S + B/2 + 2^32, one
 * with an integer d at most S + 4B; so every output is < 2^36 + 15B. The
 * rounds start with B < 2^39 (from a full round): 2^39 -> 2^43 -> 2^47 ->
 * 2^51 -> 2^55 at the first fold, r = 4; after a fold B = 2^33 -> 2^38 ->
 * 2^42 -> 2^46 -> 2^50 -> 2^54 at the next (r = 9, 14, 19); after the last
 * fold three rounds leave < 2^46 for the first full round. All below the
 * 2^59 of fold_split, reduce_signed and halve_split. */
AI void internal_layer(group_t *g, int width, int fold_all)
{
    V *h = g->h, *l = g->l;
    if (fold_all)
        for (int i = 1; i < width; i++)
            fold_split(&h[i], &l[i]);
    V sh = h[0], sl = l[0];
    for (int i = 1; i < width; i++) {
        sh = add(sh, h[i]);
        sl = add(sl, l[i]);
    }
    /* d = -2, 1, 2, 1/2, 3 */
    h[0] = sub(sh, add(h[0], h[0]));
    l[0] = sub(sl, add(l[0], l[0]));
    h[1] = add(sh, h[1]);
    l[1] = add(sl, l[1]);
    h[2] = add(sh, add(h[2], h[2]));
    l[2] = add(sl, add(l[2], l[2]));
    halve_split(&h[3], &l[3], 1);
    h[3] = add(sh, h[3]);
    l[3] = add(sl, l[3]);
    h[4] = add(sh, add(add(h[4], h[4]), h[4]));
    l[4] = add(sl, add(add(l[4], l[4]), l[4]));
    if (width == PRV_P2_W8) {
        /* d = -1/2, -3, -4 */
        halve_split(&h[5], &l[5], 1);
        h[5] = sub(sh, h[5]);
        l[5] = sub(sl, l[5]);
        h[6] = sub(sh, add(add(h[6], h[6]), h[6]));
        l[6] = sub(sl, add(add(l[6], l[6]), l[6]));
        h[7] = sub(sh, _mm256_slli_epi64(h[7], 2));
        l[7] = sub(sl, _mm256_slli_epi64(l[7], 2));
    } else {
        /* d = 4, -1/2, -3, -4, 1/4, -1/4, 1/8 */
        h[5] = add(sh, _mm256_slli_epi64(h[5], 2));
        l[5] = add(sl, _mm256_slli_epi64(l[5], 2));
        halve_split(&h[6], &l[6], 1);
        h[6] = sub(sh, h[6]);
        l[6] = sub(sl, l[6]);
        h[7] = sub(sh, add(add(h[7], h[7]), h[7]));
        l[7] = sub(sl, add(add(l[7], l[7]), l[7]));
        h[8] = sub(sh, _mm256_slli_epi64(h[8], 2));
        l[8] = sub(sl, _mm256_slli_epi64(l[8], 2));
        halve_split(&h[9], &l[9], 2);
        h[9] = add(sh, h[9]);
        l[9] = add(sl, l[9]);
        halve_split(&h[10], &l[10], 2);
        h[10] = sub(sh, h[10]);
        l[10] = sub(sl, l[10]);
        halve_split(&h[11], &l[11], 3);
        h[11] = add(sh, h[11]);
        l[11] = add(sl, l[11]);
    }
}

/* One partial round on every group: lane 0 + rc, S-box, internal layer. */
AI void partial_round(group_t *groups, int ngroups, int width, prv_gl rc, int fold_all)
{
    /* The groups' lane-0 S-boxes side by side (see sbox_split_n). */
    V x0[GROUPS], s0h[GROUPS], s0l[GROUPS];
    for (int k = 0; k < ngroups; k++)
        x0[k] = reduce_split(add(groups[k].h[0], SPLAT((rc >> 32) + BIG_H)),
                             add(groups[k].l[0], SPLAT((rc & 0xFFFFFFFFULL) + BIG_L)));
    sbox_split_n(x0, s0h, s0l, ngroups);
    for (int k = 0; k < ngroups; k++) {
        groups[k].h[0] = s0h[k];
        groups[k].l[0] = s0l[k];
        internal_layer(&groups[k], width, fold_all);
    }
}

/* 4x4 transpose of 64-bit elements: rows r[0..3] -> columns. */
AI void transpose4(V *a, V *b, V *c, V *d)
{
    V t0 = _mm256_unpacklo_epi64(*a, *b), t1 = _mm256_unpackhi_epi64(*a, *b);
    V t2 = _mm256_unpacklo_epi64(*c, *d), t3 = _mm256_unpackhi_epi64(*c, *d);
    *a = _mm256_permute2x128_si256(t0, t2, 0x20);
    *b = _mm256_permute2x128_si256(t1, t3, 0x20);
    *c = _mm256_permute2x128_si256(t0, t2, 0x31);
    *d = _mm256_permute2x128_si256(t1, t3, 0x31);
}

/* Loads 4 states (rows of `width`) into lane vectors x[0..width-1]. */
AI void load4(V *x, const prv_gl *st, int width)
{
    for (int k = 0; k < width; k += 4) {
        V a = _mm256_loadu_si256((const V *)(st + 0 * width + k));
        V b = _mm256_loadu_si256((const V *)(st + 1 * width + k));
        V c = _mm256_loadu_si256((const V *)(st + 2 * width + k));
        V d = _mm256_loadu_si256((const V *)(st + 3 * width + k));
        transpose4(&a, &b, &c, &d);
        x[k] = a;
        x[k + 1] = b;
        x[k + 2] = c;
        x[k + 3] = d;
    }
}

AI void store4(prv_gl *st, const V *x, int width)
{
    for (int k = 0; k < width; k += 4) {
        V a = x[k], b = x[k + 1], c = x[k + 2], d = x[k + 3];
        transpose4(&a, &b, &c, &d);
        _mm256_storeu_si256((V *)(st + 0 * width + k), a);
        _mm256_storeu_si256((V *)(st + 1 * width + k), b);
        _mm256_storeu_si256((V *)(st + 2 * width + k), c);
        _mm256_storeu_si256((V *)(st + 3 * width + k), d);
    }
}

/* ngroups x 4 states, back to back. */
AI void permute_batch(prv_gl *st, int width, const prv_gl *ri, const prv_gl *rc_int, const prv_gl *rf,
                      int ngroups)
{
    group_t g[GROUPS];
    for (int k = 0; k < ngroups; k++) {
        V x[PRV_P2_W12];
        load4(x, st + 4 * k * width, width);
        for (int i = 0; i < width; i++)
            split(x[i], &g[k].h[i], &g[k].l[i]);
        external_split(g[k].h, g[k].l, width);
    }
    for (int r = 0; r < PRV_P2_ROUNDS_F / 2; r++)
        for (int k = 0; k < ngroups; k += 2)
            full_round2(&g[k], &g[k + 1], width, ri + r * width);
    for (int r = 0; r < PRV_P2_ROUNDS_P; r++)
        partial_round(g, ngroups, width, rc_int[r], r % PARTIAL_FOLD_EVERY == PARTIAL_FOLD_EVERY - 1);
    for (int r = 0; r < PRV_P2_ROUNDS_F / 2; r++)
        for (int k = 0; k < ngroups; k += 2)
            full_round2(&g[k], &g[k + 1], width, rf + r * width);
    for (int k = 0; k < ngroups; k++) {
        V x[PRV_P2_W12];
        for (int i = 0; i < width; i++)
            x[i] = canon(reduce_signed(g[k].h[i], g[k].l[i]));
        store4(st + 4 * k * width, x, width);
    }
}

static void batch8(prv_gl *st)
{
    permute_batch(st, PRV_P2_W8, &prv_p2_rc8_external_initial[0][0], prv_p2_rc8_internal,
                  &prv_p2_rc8_external_final[0][0], GROUPS);
}

static void batch12(prv_gl *st)
{
    permute_batch(st, PRV_P2_W12, &prv_p2_rc12_external_initial[0][0], prv_p2_rc12_internal,
                  &prv_p2_rc12_external_final[0][0], GROUPS);
}

/* Two groups (8 states): for the tail of a call. */
static void batch8_small(prv_gl *st)
{
    permute_batch(st, PRV_P2_W8, &prv_p2_rc8_external_initial[0][0], prv_p2_rc8_internal,
                  &prv_p2_rc8_external_final[0][0], 2);
}

static void batch12_small(prv_gl *st)
{
    permute_batch(st, PRV_P2_W12, &prv_p2_rc12_external_initial[0][0], prv_p2_rc12_internal,
                  &prv_p2_rc12_external_final[0][0], 2);
}

static void many(prv_gl *states, size_t n, int width, void (*batch)(prv_gl *), void (*small)(prv_gl *),
                 void (*single)(prv_gl *))
{
    size_t w = (size_t)width, i = 0;
    for (; i + 4 * GROUPS <= n; i += 4 * GROUPS)
        batch(states + i * w);
    for (; i + 8 <= n; i += 8)
        small(states + i * w);
    if (n - i >= 3) {
        /* Pad to 8 states: one small batch costs about as much as 3 scalar permutations. */
        prv_gl tmp[8 * PRV_P2_W12];
        memset(tmp, 0, sizeof tmp);
        memcpy(tmp, states + i * w, (n - i) * w * sizeof *tmp);
        small(tmp);
        memcpy(states + i * w, tmp, (n - i) * w * sizeof *tmp);
        i = n;
    }
    for (; i < n; i++)
        single(states + i * w);
}

void prv_p2_avx2_permute8_many(prv_gl *states, size_t n)
{
    many(states, n, PRV_P2_W8, batch8, batch8_small, prv_p2_permute8);
}

void prv_p2_avx2_permute12_many(prv_gl *states, size_t n)
{
    many(states, n, PRV_P2_W12, batch12, batch12_small, prv_p2_permute12);
}
