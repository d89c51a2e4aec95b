/*
 * prover/poseidon2_scalar.h — private to prover/poseidon2*.c: the fast scalar
 * building blocks, shared by the scalar permutation (poseidon2.c) and the AVX2
 * kernel, which runs scalar states beside its vector ones (poseidon2_avx2.c).
 *
 * Values in flight are any uint64_t congruent to the value (not necessarily
 * canonical); sc_canon() makes one canonical:
 *   - a product of two such values fits 128 bits and reduces to < 2^64;
 *   - adding a canonical round constant overflows 2^64 at most once
 *     (x + c < 2^64 + p), and one +EPSILON fixes it;
 *   - the linear layers add small multiples of < 2^64 values in 128 bits
 *     (< 2^69) and reduce once per lane (sc_reduce_small).
 * Everything is branch-free (carries as masks): the carries are data-dependent
 * coin flips, and a misprediction costs more than the arithmetic.
 */
#ifndef ZKCAR_PROVER_POSEIDON2_SCALAR_H
#define ZKCAR_PROVER_POSEIDON2_SCALAR_H

#include <stdbool.h>
#include <stdint.h>

#include "prover/poseidon2.h"

typedef unsigned __int128 sc_u128;

/* Forced inlining: with a constant width the loops unroll and every helper
 * folds into the permutation (clang does not inline them otherwise). */
#define SC_INLINE static inline __attribute__((always_inline))

#define SC_EPS PRV_GL_EPSILON
/* (p + 1) / 2: the inverse of 2, and what halving adds for an odd value. */
#define SC_HALF_P1 0x7FFFFFFF80000001ULL

/* a + b, plus EPS if it wrapped (2^64 = EPS mod p); correct whenever a + b
 * wraps at most once in total, i.e. a + b + EPS < 2^65 after a wrap. The two
 * spellings are the ones each compiler turns into branch-free code (gcc makes
 * poor code from the 128-bit one; clang turns the compare into a jump). */
SC_INLINE uint64_t sc_add_wrap(uint64_t a, uint64_t b)
{
#ifdef __clang__
    sc_u128 sum = (sc_u128)a + b;
    return (uint64_t)sum + SC_EPS * (uint64_t)(sum >> 64);
#else
    uint64_t r = a + b;
    return r + (SC_EPS & -(uint64_t)(r < b));
#endif
}

/* a - b, minus EPS if it borrowed; correct whenever the result cannot borrow twice. */
SC_INLINE uint64_t sc_sub_wrap(uint64_t a, uint64_t b)
{
#ifdef __clang__
    sc_u128 d = (sc_u128)a - b;
    return (uint64_t)d - (SC_EPS & (uint64_t)(d >> 64));
#else
    return (a - b) - (SC_EPS & -(uint64_t)(a < b));
#endif
}

/* a * b reduced to < 2^64 (not necessarily canonical); a, b any uint64_t. */
SC_INLINE uint64_t sc_mul_nc(uint64_t a, uint64_t b)
{
    sc_u128 x = (sc_u128)a * b;
    uint64_t lo = (uint64_t)x, hi = (uint64_t)(x >> 64);
    uint64_t hi_hi = hi >> 32, hi_lo = hi & SC_EPS;
    /* after a borrow lo - hi_hi + 2^64 >= 2^64 - 2^32 + 1: no second borrow */
    uint64_t t0 = sc_sub_wrap(lo, hi_hi);
    /* after a wrap the sum is < hi_lo * EPS <= 2^64 - 2^33 + 1: no second wrap */
    return sc_add_wrap(t0, hi_lo * SC_EPS);
}

/* x + c for a canonical c: x + c < 2^64 + p, so at most one wrap. */
SC_INLINE uint64_t sc_add_c(uint64_t x, uint64_t c)
{
    return sc_add_wrap(x, c);
}

/* A 128-bit value < 2^96 reduced to < 2^64: hi*2^64 + lo = hi*SC_EPS + lo (mod p). */
SC_INLINE uint64_t sc_reduce_small(sc_u128 v)
{
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);
    return sc_add_wrap(lo, hi * SC_EPS); /* after a wrap < hi * EPS < 2^64 - 2^32 */
}

SC_INLINE uint64_t sc_sbox_nc(uint64_t x)
{
    uint64_t x2 = sc_mul_nc(x, x);
    uint64_t x3 = sc_mul_nc(x2, x);
    uint64_t x4 = sc_mul_nc(x2, x2);
    return sc_mul_nc(x3, x4);
}

SC_INLINE uint64_t sc_canon(uint64_t x) { return x - (PRV_GL_P & -(uint64_t)(x >= PRV_GL_P)); }

/* x / 2 for a canonical x. */
SC_INLINE uint64_t sc_halve(uint64_t x) { return (x >> 1) + (SC_HALF_P1 & -(x & 1)); }

/* 2p as a 128-bit constant: 2p - x > 0 for every uint64_t x, and = -x (mod p). */
#define SC_TWO_P ((sc_u128)PRV_GL_P * 2)

/* M4 on plain 64-bit values (no overflow for inputs < 2^58). */
SC_INLINE void sc_mat4_u64(uint64_t *x)
{
    uint64_t t01 = x[0] + x[1], t23 = x[2] + x[3];
    uint64_t t0123 = t01 + t23;
    uint64_t t01123 = t0123 + x[1], t01233 = t0123 + x[3];
    x[3] = t01233 + 2 * x[0]; /* 3x0 + x1 + x2 + 2x3 */
    x[1] = t01123 + 2 * x[2]; /* x0 + 2x1 + 3x2 + x3 */
    x[0] = t01123 + t01;      /* 2x0 + 3x1 + x2 + x3 */
    x[2] = t01233 + t23;      /* x0 + x1 + 2x2 + 3x3 */
}

/* The external layer on the 32-bit halves of each lane separately (plain adds,
 * halves stay < 28 * 2^32), then value = H*2^32 + L reduced once per lane. */
SC_INLINE void sc_external_layer_fast(uint64_t *s, int width)
{
    uint64_t h[PRV_P2_W12], l[PRV_P2_W12];
    for (int i = 0; i < width; i++) {
        h[i] = s[i] >> 32;
        l[i] = s[i] & SC_EPS;
    }
    for (int k = 0; k < width; k += 4) {
        sc_mat4_u64(h + k);
        sc_mat4_u64(l + k);
    }
    for (int j = 0; j < 4; j++) {
        uint64_t ch = h[j], cl = l[j];
        for (int k = 4; k < width; k += 4) {
            ch += h[k + j];
            cl += l[k + j];
        }
        for (int k = 0; k < width; k += 4) {
            h[k + j] += ch;
            l[k + j] += cl;
        }
    }
    for (int i = 0; i < width; i++) {
        uint64_t h1 = h[i] + (l[i] >> 32); /* value = h1*2^32 + (l mod 2^32) */
        uint64_t x = (h1 << 32) | (l[i] & SC_EPS);
        /* (h1 >> 32) * 2^64 = (h1 >> 32) * EPS; after a wrap < 2^5 * EPS */
        s[i] = sc_add_wrap(x, (h1 >> 32) * SC_EPS);
    }
}

SC_INLINE void sc_internal_layer8_fast(uint64_t *s)
{
    /* Lane 0 comes last: it is the S-box output at the end of the critical path. */
    sc_u128 sum = 0;
    for (int i = 1; i < PRV_P2_W8; i++)
        sum += s[i];
    sum += s[0];
    /* d = [-2, 1, 2, 1/2, 3, -1/2, -3, -4]; every lane < sum + 4 * 2p < 2^68. */
    uint64_t h3 = sc_halve(sc_canon(s[3])), h5 = sc_halve(sc_canon(s[5]));
    s[0] = sc_reduce_small(sum + 2 * (SC_TWO_P - s[0]));
    s[1] = sc_reduce_small(sum + s[1]);
    s[2] = sc_reduce_small(sum + 2 * (sc_u128)s[2]);
    s[3] = sc_reduce_small(sum + h3);
    s[4] = sc_reduce_small(sum + 3 * (sc_u128)s[4]);
    s[5] = sc_reduce_small(sum + (SC_TWO_P - h5));
    s[6] = sc_reduce_small(sum + 3 * (SC_TWO_P - s[6]));
    s[7] = sc_reduce_small(sum + 4 * (SC_TWO_P - s[7]));
}

SC_INLINE void sc_internal_layer12_fast(uint64_t *s)
{
    /* Lane 0 comes last: it is the S-box output at the end of the critical path. */
    sc_u128 sum = 0;
    for (int i = 1; i < PRV_P2_W12; i++)
        sum += s[i];
    sum += s[0];
    /* d = [-2, 1, 2, 1/2, 3, 4, -1/2, -3, -4, 1/4, -1/4, 1/8]. */
    uint64_t h3 = sc_halve(sc_canon(s[3])), h6 = sc_halve(sc_canon(s[6]));
    uint64_t q9 = sc_halve(sc_halve(sc_canon(s[9]))), q10 = sc_halve(sc_halve(sc_canon(s[10])));
    uint64_t e11 = sc_halve(sc_halve(sc_halve(sc_canon(s[11]))));
    s[0] = sc_reduce_small(sum + 2 * (SC_TWO_P - s[0]));
    s[1] = sc_reduce_small(sum + s[1]);
    s[2] = sc_reduce_small(sum + 2 * (sc_u128)s[2]);
    s[3] = sc_reduce_small(sum + h3);
    s[4] = sc_reduce_small(sum + 3 * (sc_u128)s[4]);
    s[5] = sc_reduce_small(sum + 4 * (sc_u128)s[5]);
    s[6] = sc_reduce_small(sum + (SC_TWO_P - h6));
    s[7] = sc_reduce_small(sum + 3 * (SC_TWO_P - s[7]));
    s[8] = sc_reduce_small(sum + 4 * (SC_TWO_P - s[8]));
    s[9] = sc_reduce_small(sum + q9);
    s[10] = sc_reduce_small(sum + (SC_TWO_P - q10));
    s[11] = sc_reduce_small(sum + e11);
}

SC_INLINE void sc_full_round(uint64_t *s, int width, const prv_gl *rc)
{
#pragma GCC unroll 12
    for (int i = 0; i < width; i++)
        s[i] = sc_sbox_nc(sc_add_c(s[i], rc[i]));
    sc_external_layer_fast(s, width);
}

SC_INLINE void sc_partial_round(uint64_t *s, int width, prv_gl rc)
{
    s[0] = sc_sbox_nc(sc_add_c(s[0], rc));
    if (width == PRV_P2_W8)
        sc_internal_layer8_fast(s);
    else
        sc_internal_layer12_fast(s);
}

#endif
