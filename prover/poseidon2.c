/*
 * prover/poseidon2.c — Poseidon2 over Goldilocks: the reference round helpers
 * (for the AIR and the tests), the fast scalar permutations, the sponge and
 * compression built on them, and the run-time choice of the batched backend.
 * The fast scalar building blocks and their invariants are in
 * prover/poseidon2_scalar.h.
 */
#include "prover/poseidon2.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "prover/poseidon2_impl.h"
#include "prover/poseidon2_scalar.h"

/* ---------------------------------------------------------------------------
 * Reference helpers: canonical in, canonical out, every step as documented in
 * the header. Deliberately plain (generic multiplications by the diagonal) so
 * that the tests compare two independent codings of the same permutation.
 * ------------------------------------------------------------------------- */

prv_gl prv_p2_sbox(prv_gl x)
{
    x = prv_gl_from_u64(x);
    prv_gl x2 = prv_gl_sqr(x);
    prv_gl x3 = prv_gl_mul(x2, x);
    prv_gl x4 = prv_gl_sqr(x2);
    return prv_gl_mul(x3, x4);
}

/* y = M4 x with M4 = [2 3 1 1; 1 2 3 1; 1 1 2 3; 3 1 1 2], canonical. */
static void ref_mat4(prv_gl *x)
{
    static const uint8_t m4[4][4] = { { 2, 3, 1, 1 }, { 1, 2, 3, 1 }, { 1, 1, 2, 3 }, { 3, 1, 1, 2 } };
    prv_gl y[4];
    for (int i = 0; i < 4; i++) {
        prv_gl acc = 0;
        for (int j = 0; j < 4; j++)
            acc = prv_gl_add(acc, prv_gl_mul(m4[i][j], x[j]));
        y[i] = acc;
    }
    memcpy(x, y, sizeof y);
}

static void ref_external_layer(prv_gl *s, int width)
{
    for (int i = 0; i < width; i++)
        s[i] = prv_gl_from_u64(s[i]);
    for (int k = 0; k < width; k += 4)
        ref_mat4(s + k);
    prv_gl col[4] = { 0, 0, 0, 0 };
    for (int i = 0; i < width; i++)
        col[i % 4] = prv_gl_add(col[i % 4], s[i]);
    for (int i = 0; i < width; i++)
        s[i] = prv_gl_add(s[i], col[i % 4]);
}

static void ref_internal_layer(prv_gl *s, int width, const prv_gl *diag)
{
    prv_gl sum = 0;
    for (int i = 0; i < width; i++) {
        s[i] = prv_gl_from_u64(s[i]);
        sum = prv_gl_add(sum, s[i]);
    }
    for (int i = 0; i < width; i++)
        s[i] = prv_gl_add(sum, prv_gl_mul(diag[i], s[i]));
}

static void ref_full_round(prv_gl *s, int width, const prv_gl *rc)
{
    for (int i = 0; i < width; i++)
        s[i] = prv_p2_sbox(prv_gl_add(prv_gl_from_u64(s[i]), rc[i]));
    ref_external_layer(s, width);
}

void prv_p2_external_layer8(prv_gl state[PRV_P2_W8]) { ref_external_layer(state, PRV_P2_W8); }
void prv_p2_external_layer12(prv_gl state[PRV_P2_W12]) { ref_external_layer(state, PRV_P2_W12); }

void prv_p2_internal_layer8(prv_gl state[PRV_P2_W8])
{
    ref_internal_layer(state, PRV_P2_W8, prv_p2_diag8);
}

void prv_p2_internal_layer12(prv_gl state[PRV_P2_W12])
{
    ref_internal_layer(state, PRV_P2_W12, prv_p2_diag12);
}

void prv_p2_full_round8(prv_gl state[PRV_P2_W8], const prv_gl rc[PRV_P2_W8])
{
    ref_full_round(state, PRV_P2_W8, rc);
}

void prv_p2_full_round12(prv_gl state[PRV_P2_W12], const prv_gl rc[PRV_P2_W12])
{
    ref_full_round(state, PRV_P2_W12, rc);
}

void prv_p2_partial_round8(prv_gl state[PRV_P2_W8], prv_gl rc)
{
    state[0] = prv_p2_sbox(prv_gl_add(prv_gl_from_u64(state[0]), rc));
    prv_p2_internal_layer8(state);
}

void prv_p2_partial_round12(prv_gl state[PRV_P2_W12], prv_gl rc)
{
    state[0] = prv_p2_sbox(prv_gl_add(prv_gl_from_u64(state[0]), rc));
    prv_p2_internal_layer12(state);
}

/* ---------------------------------------------------------------------------
 * Fast scalar permutation (building blocks in poseidon2_scalar.h).
 * ------------------------------------------------------------------------- */

void prv_p2_permute8(prv_gl state[PRV_P2_W8])
{
    uint64_t s[PRV_P2_W8];
    memcpy(s, state, sizeof s);
    sc_external_layer_fast(s, PRV_P2_W8);
    for (int r = 0; r < PRV_P2_ROUNDS_F / 2; r++)
        sc_full_round(s, PRV_P2_W8, prv_p2_rc8_external_initial[r]);
    for (int r = 0; r < PRV_P2_ROUNDS_P; r++)
        sc_partial_round(s, PRV_P2_W8, prv_p2_rc8_internal[r]);
    for (int r = 0; r < PRV_P2_ROUNDS_F / 2; r++)
        sc_full_round(s, PRV_P2_W8, prv_p2_rc8_external_final[r]);
    for (int i = 0; i < PRV_P2_W8; i++)
        state[i] = sc_canon(s[i]);
}

void prv_p2_permute12(prv_gl state[PRV_P2_W12])
{
    uint64_t s[PRV_P2_W12];
    memcpy(s, state, sizeof s);
    sc_external_layer_fast(s, PRV_P2_W12);
    for (int r = 0; r < PRV_P2_ROUNDS_F / 2; r++)
        sc_full_round(s, PRV_P2_W12, prv_p2_rc12_external_initial[r]);
    for (int r = 0; r < PRV_P2_ROUNDS_P; r++)
        sc_partial_round(s, PRV_P2_W12, prv_p2_rc12_internal[r]);
    for (int r = 0; r < PRV_P2_ROUNDS_F / 2; r++)
        sc_full_round(s, PRV_P2_W12, prv_p2_rc12_external_final[r]);
    for (int i = 0; i < PRV_P2_W12; i++)
        state[i] = sc_canon(s[i]);
}

/* ---------------------------------------------------------------------------
 * Backend choice.
 * ------------------------------------------------------------------------- */

/* PRV_P2_HAVE_AVX2 is defined by prover/CMakeLists.txt when poseidon2_avx2.c
 * is built (x86-64 only). */
static bool cpu_has_avx2(void)
{
#if defined(PRV_P2_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
#else
    return false;
#endif
}

/* 0 = not chosen yet, else a prv_p2_impl. Racing first calls compute the same
 * value, so a relaxed store/load is enough. */
static atomic_int chosen_impl;

static prv_p2_impl auto_impl(void)
{
    int v = atomic_load_explicit(&chosen_impl, memory_order_relaxed);
    if (v != 0)
        return (prv_p2_impl)v;
    const char *env = getenv("ZKCAR_SIMD");
    prv_p2_impl impl = PRV_P2_IMPL_SCALAR;
    if (!(env != NULL && strcmp(env, "scalar") == 0) && cpu_has_avx2())
        impl = PRV_P2_IMPL_AVX2;
    atomic_store_explicit(&chosen_impl, (int)impl, memory_order_relaxed);
    return impl;
}

const char *prv_p2_backend(void)
{
    return auto_impl() == PRV_P2_IMPL_AVX2 ? "avx2" : "scalar";
}

bool prv_p2_impl_available(prv_p2_impl impl)
{
    switch (impl) {
    case PRV_P2_IMPL_AUTO:
    case PRV_P2_IMPL_SCALAR:
        return true;
    case PRV_P2_IMPL_AVX2:
        return cpu_has_avx2();
    }
    return false;
}

void prv_p2_permute8_many_with(prv_p2_impl impl, prv_gl *states, size_t n)
{
    if (impl == PRV_P2_IMPL_AUTO)
        impl = auto_impl();
    assert(prv_p2_impl_available(impl) && "Poseidon2 backend not available on this CPU");
#ifdef PRV_P2_HAVE_AVX2
    if (impl == PRV_P2_IMPL_AVX2) {
        prv_p2_avx2_permute8_many(states, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        prv_p2_permute8(states + PRV_P2_W8 * i);
}

void prv_p2_permute12_many_with(prv_p2_impl impl, prv_gl *states, size_t n)
{
    if (impl == PRV_P2_IMPL_AUTO)
        impl = auto_impl();
    assert(prv_p2_impl_available(impl) && "Poseidon2 backend not available on this CPU");
#ifdef PRV_P2_HAVE_AVX2
    if (impl == PRV_P2_IMPL_AVX2) {
        prv_p2_avx2_permute12_many(states, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        prv_p2_permute12(states + PRV_P2_W12 * i);
}

void prv_p2_permute8_many(prv_gl *states, size_t n)
{
    prv_p2_permute8_many_with(PRV_P2_IMPL_AUTO, states, n);
}

void prv_p2_permute12_many(prv_gl *states, size_t n)
{
    prv_p2_permute12_many_with(PRV_P2_IMPL_AUTO, states, n);
}

/* ---------------------------------------------------------------------------
 * Compression and sponge.
 * ------------------------------------------------------------------------- */

void prv_p2_compress(prv_gl out[PRV_P2_DIGEST], const prv_gl left[PRV_P2_DIGEST],
                     const prv_gl right[PRV_P2_DIGEST])
{
    prv_gl s[PRV_P2_W8];
    memcpy(s, left, PRV_P2_DIGEST * sizeof *s);
    memcpy(s + PRV_P2_DIGEST, right, PRV_P2_DIGEST * sizeof *s);
    prv_p2_permute8(s);
    memcpy(out, s, PRV_P2_DIGEST * sizeof *s);
}

#define SPONGE_RATE 8

void prv_p2_hash(prv_gl out[PRV_P2_DIGEST], const prv_gl *in, size_t n)
{
    prv_gl s[PRV_P2_W12] = { 0 };
    for (size_t off = 0; off < n; off += SPONGE_RATE) {
        size_t k = n - off < SPONGE_RATE ? n - off : SPONGE_RATE;
        memcpy(s, in + off, k * sizeof *s);
        prv_p2_permute12(s);
    }
    memcpy(out, s, PRV_P2_DIGEST * sizeof *s);
}

/* States per batch in the _many helpers: a multiple of every SIMD batch width,
 * small enough to live on the stack. */
#define BATCH 32

void prv_p2_compress_many(prv_gl *out, const prv_gl *in, size_t n)
{
    prv_gl states[BATCH * PRV_P2_W8];
    for (size_t done = 0; done < n;) {
        size_t b = n - done < BATCH ? n - done : BATCH;
        /* All of this batch's input is read before any of its output is written,
         * and output i lies below input i, so out == in works. */
        memcpy(states, in + PRV_P2_W8 * done, b * PRV_P2_W8 * sizeof *states);
        prv_p2_permute8_many(states, b);
        for (size_t i = 0; i < b; i++)
            memcpy(out + PRV_P2_DIGEST * (done + i), states + PRV_P2_W8 * i,
                   PRV_P2_DIGEST * sizeof *states);
        done += b;
    }
}

void prv_p2_hash_many(prv_gl *out, const prv_gl *rows, size_t nrows, size_t row_len)
{
    prv_gl states[BATCH * PRV_P2_W12];
    for (size_t done = 0; done < nrows;) {
        size_t b = nrows - done < BATCH ? nrows - done : BATCH;
        memset(states, 0, b * PRV_P2_W12 * sizeof *states);
        for (size_t off = 0; off < row_len; off += SPONGE_RATE) {
            size_t k = row_len - off < SPONGE_RATE ? row_len - off : SPONGE_RATE;
            for (size_t i = 0; i < b; i++)
                memcpy(states + PRV_P2_W12 * i, rows + (done + i) * row_len + off, k * sizeof *states);
            prv_p2_permute12_many(states, b);
        }
        for (size_t i = 0; i < b; i++)
            memcpy(out + PRV_P2_DIGEST * (done + i), states + PRV_P2_W12 * i,
                   PRV_P2_DIGEST * sizeof *states);
        done += b;
    }
}
