/*
 * prover/keccak_avx2.c — four Keccak-256 hashes at once with AVX2 (one
 * 64-bit lane of each __m256i per message). Compiled with -mavx2; called only
 * when the CPU has AVX2 (prover/hash.c checks at run time).
 */
#include <immintrin.h>
#include <string.h>

#include "prover/hash_simd.h"

#define RATE 136

static const uint64_t round_consts[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets of lane x + 5y. */
static const int rho[25] = { 0,  1,  62, 28, 27, 36, 44, 6,  55, 20, 3,  10, 43,
                             25, 39, 41, 45, 15, 21, 8,  18, 2,  61, 56, 14 };

static inline __m256i rotl(__m256i v, int n)
{
    return _mm256_or_si256(_mm256_sll_epi64(v, _mm_cvtsi32_si128(n)),
                           _mm256_srl_epi64(v, _mm_cvtsi32_si128(64 - n)));
}

static void keccak_f_x4(__m256i a[25])
{
    for (int round = 0; round < 24; round++) {
        __m256i c[5], d[5], b[25];
        for (int x = 0; x < 5; x++)
            c[x] = _mm256_xor_si256(_mm256_xor_si256(a[x], a[x + 5]),
                                    _mm256_xor_si256(_mm256_xor_si256(a[x + 10], a[x + 15]), a[x + 20]));
        for (int x = 0; x < 5; x++)
            d[x] = _mm256_xor_si256(c[(x + 4) % 5], rotl(c[(x + 1) % 5], 1));
        for (int i = 0; i < 25; i++)
            a[i] = _mm256_xor_si256(a[i], d[i % 5]);
        /* rho and pi: B[y, 2x + 3y] = rot(A[x, y]) */
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], rho[x + 5 * y]);
        /* chi */
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++)
                a[x + 5 * y] = _mm256_xor_si256(b[x + 5 * y], _mm256_andnot_si256(b[(x + 1) % 5 + 5 * y],
                                                                                 b[(x + 2) % 5 + 5 * y]));
        a[0] = _mm256_xor_si256(a[0], _mm256_set1_epi64x((long long)round_consts[round]));
    }
}

static inline void absorb(__m256i a[25], const uint8_t *const blk[4])
{
    for (int i = 0; i < RATE / 8; i++) {
        uint64_t w[4];
        for (int m = 0; m < 4; m++)
            memcpy(&w[m], blk[m] + 8 * i, 8);
        a[i] = _mm256_xor_si256(a[i], _mm256_set_epi64x((long long)w[3], (long long)w[2], (long long)w[1],
                                                        (long long)w[0]));
    }
    keccak_f_x4(a);
}

void prv_keccak256_x4_avx2(uint8_t *const out[4], const uint8_t *const in[4], size_t len)
{
    __m256i a[25];
    for (int i = 0; i < 25; i++)
        a[i] = _mm256_setzero_si256();
    size_t off = 0;
    for (; len - off >= RATE; off += RATE) {
        const uint8_t *blk[4] = { in[0] + off, in[1] + off, in[2] + off, in[3] + off };
        absorb(a, blk);
    }
    uint8_t last[4][RATE];
    const uint8_t *blk[4];
    for (int m = 0; m < 4; m++) {
        memset(last[m], 0, RATE);
        if (len - off)
            memcpy(last[m], in[m] + off, len - off);
        last[m][len - off] ^= 0x01;
        last[m][RATE - 1] ^= 0x80;
        blk[m] = last[m];
    }
    absorb(a, blk);
    for (int i = 0; i < 4; i++) {
        uint64_t w[4];
        _mm256_storeu_si256((__m256i *)w, a[i]);
        for (int m = 0; m < 4; m++)
            memcpy(out[m] + 8 * i, &w[m], 8);
    }
}
