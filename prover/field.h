/*
 * prover/field.h — the Goldilocks field F_p, p = 2^64 - 2^32 + 1, and its cubic
 * extension F_p[x]/(x^3 - x - 1) where challenges and FRI live (REFERENCE.md §1).
 *
 * Elements are uint64_t in canonical form [0, p) at every API boundary.
 * Everything here is a pure function, thread-safe, and constant-time in the
 * values except prv_gl_inv (variable-time is fine: nothing here is secret).
 */
#ifndef ZKCAR_PROVER_FIELD_H
#define ZKCAR_PROVER_FIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t prv_gl;

#define PRV_GL_P 0xFFFFFFFF00000001ULL
#define PRV_GL_EPSILON 0xFFFFFFFFULL /* 2^64 mod p = 2^32 - 1 */
/* A generator of the multiplicative group (Plonky2/Plonky3 use 7). */
#define PRV_GL_GENERATOR 7ULL
#define PRV_GL_TWO_ADICITY 32

static inline prv_gl prv_gl_add(prv_gl a, prv_gl b)
{
    uint64_t s;
    bool over = __builtin_add_overflow(a, b, &s);
    /* a + b < 2p: if it wrapped past 2^64, add 2^64 mod p = EPSILON; if it is >= p,
     * subtract p, which mod 2^64 is also + EPSILON; never both, and the result is
     * then < p. Branch-free: on random data both cases are coin flips. */
    uint64_t fix = (uint64_t)0 - (uint64_t)(over | (s >= PRV_GL_P));
    return s + (fix & PRV_GL_EPSILON);
}

static inline prv_gl prv_gl_sub(prv_gl a, prv_gl b)
{
    uint64_t d;
    bool under = __builtin_sub_overflow(a, b, &d);
    return under ? d - PRV_GL_EPSILON : d;
}

static inline prv_gl prv_gl_neg(prv_gl a) { return a == 0 ? 0 : PRV_GL_P - a; }

/* Reduces a 128-bit value modulo p (2^64 = 2^32 - 1, 2^96 = -1 mod p). */
static inline prv_gl prv_gl_reduce128(unsigned __int128 x)
{
    uint64_t lo = (uint64_t)x, hi = (uint64_t)(x >> 64);
    uint64_t hi_hi = hi >> 32, hi_lo = hi & PRV_GL_EPSILON;
    uint64_t t0;
    bool borrow = __builtin_sub_overflow(lo, hi_hi, &t0);
    t0 -= ((uint64_t)0 - (uint64_t)borrow) & PRV_GL_EPSILON; /* wrapped: + p = - EPSILON */
    uint64_t t1 = hi_lo * PRV_GL_EPSILON; /* < 2^64 */
    uint64_t r;
    bool carry = __builtin_add_overflow(t0, t1, &r);
    /* as in prv_gl_add: a wrap (then r + EPSILON < p) or r >= p both mean + EPSILON */
    uint64_t fix = (uint64_t)0 - (uint64_t)(carry | (r >= PRV_GL_P));
    return r + (fix & PRV_GL_EPSILON);
}

static inline prv_gl prv_gl_mul(prv_gl a, prv_gl b)
{
    return prv_gl_reduce128((unsigned __int128)a * b);
}

static inline prv_gl prv_gl_sqr(prv_gl a) { return prv_gl_mul(a, a); }

/* Reduces any uint64_t into canonical form. */
static inline prv_gl prv_gl_from_u64(uint64_t x) { return x >= PRV_GL_P ? x - PRV_GL_P : x; }

prv_gl prv_gl_pow(prv_gl a, uint64_t e);
/* a^(2^k): k squarings. */
prv_gl prv_gl_exp_power_of_2(prv_gl a, unsigned k);
/* out[i] = start·step^i for i in [0, n) (e.g. the points of a coset). */
void prv_gl_powers(prv_gl *out, size_t n, prv_gl start, prv_gl step);
/* Inverse of a nonzero element (asserted); prv_gl_inv(0) is a caller bug. */
prv_gl prv_gl_inv(prv_gl a);
/* Inverts n elements in place with one inversion (Montgomery's trick); all must be nonzero. */
void prv_gl_batch_inv(prv_gl *a, size_t n);
/* A primitive 2^log_n-th root of unity, log_n <= 32. */
prv_gl prv_gl_root_of_unity(unsigned log_n);

/* ---- cubic extension F_p[x]/(x^3 - x - 1): c[0] + c[1] x + c[2] x^2 ---- */
typedef struct prv_gl3 {
    prv_gl c[3];
} prv_gl3;

static inline prv_gl3 prv_gl3_from_base(prv_gl a) { return (prv_gl3){ { a, 0, 0 } }; }

static inline prv_gl3 prv_gl3_add(prv_gl3 a, prv_gl3 b)
{
    return (prv_gl3){ { prv_gl_add(a.c[0], b.c[0]), prv_gl_add(a.c[1], b.c[1]),
                        prv_gl_add(a.c[2], b.c[2]) } };
}

static inline prv_gl3 prv_gl3_sub(prv_gl3 a, prv_gl3 b)
{
    return (prv_gl3){ { prv_gl_sub(a.c[0], b.c[0]), prv_gl_sub(a.c[1], b.c[1]),
                        prv_gl_sub(a.c[2], b.c[2]) } };
}

static inline prv_gl3 prv_gl3_neg(prv_gl3 a)
{
    return (prv_gl3){ { prv_gl_neg(a.c[0]), prv_gl_neg(a.c[1]), prv_gl_neg(a.c[2]) } };
}

static inline prv_gl3 prv_gl3_mul_base(prv_gl3 a, prv_gl b)
{
    return (prv_gl3){ { prv_gl_mul(a.c[0], b), prv_gl_mul(a.c[1], b), prv_gl_mul(a.c[2], b) } };
}

static inline prv_gl3 prv_gl3_mul(prv_gl3 a, prv_gl3 b)
{
    /* Schoolbook product c0..c4, then x^3 = x + 1 and x^4 = x^2 + x. */
    prv_gl c0 = prv_gl_mul(a.c[0], b.c[0]);
    prv_gl c1 = prv_gl_add(prv_gl_mul(a.c[0], b.c[1]), prv_gl_mul(a.c[1], b.c[0]));
    prv_gl c2 = prv_gl_add(prv_gl_add(prv_gl_mul(a.c[0], b.c[2]), prv_gl_mul(a.c[1], b.c[1])),
                           prv_gl_mul(a.c[2], b.c[0]));
    prv_gl c3 = prv_gl_add(prv_gl_mul(a.c[1], b.c[2]), prv_gl_mul(a.c[2], b.c[1]));
    prv_gl c4 = prv_gl_mul(a.c[2], b.c[2]);
    return (prv_gl3){ { prv_gl_add(c0, c3), prv_gl_add(prv_gl_add(c1, c3), c4), prv_gl_add(c2, c4) } };
}

static inline bool prv_gl3_eq(prv_gl3 a, prv_gl3 b)
{
    return a.c[0] == b.c[0] && a.c[1] == b.c[1] && a.c[2] == b.c[2];
}

static inline bool prv_gl3_is_zero(prv_gl3 a) { return (a.c[0] | a.c[1] | a.c[2]) == 0; }

static inline prv_gl3 prv_gl3_sqr(prv_gl3 a) { return prv_gl3_mul(a, a); }

prv_gl3 prv_gl3_pow(prv_gl3 a, uint64_t e);
/* a^(2^k): k squarings. */
prv_gl3 prv_gl3_exp_power_of_2(prv_gl3 a, unsigned k);
/* The Frobenius map a -> a^p (F_p-linear; 6 base multiplications). */
prv_gl3 prv_gl3_frobenius(prv_gl3 a);
/* The norm a·a^p·a^(p^2), an element of the base field (0 iff a = 0). */
prv_gl prv_gl3_norm(prv_gl3 a);
/*
 * Inverse of a nonzero element (asserted): a^-1 = a^p·a^(p^2) / norm(a), two
 * Frobenius maps, two extension products and one base-field inversion.
 */
prv_gl3 prv_gl3_inv(prv_gl3 a);
/* Inverts n elements in place with one inversion (Montgomery's trick); all must be nonzero. */
void prv_gl3_batch_inv(prv_gl3 *a, size_t n);

#endif
