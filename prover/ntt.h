/*
 * prover/ntt.h — number-theoretic transforms over Goldilocks (prover/field.h).
 *
 * Sizes are powers of two, n = 2^log_n with log_n <= PRV_NTT_MAX_LOG. All
 * arrays hold canonical elements (< p) in natural order, in and out; every
 * transform works in place. ω_n = prv_gl_root_of_unity(log_n) throughout.
 *
 * Alignment: none required (unaligned loads are used); buffers from
 * prv_ntt_alloc (64-byte aligned, huge pages when large) are a little faster.
 *
 * Threading: each call uses the prover's pool (prover/parallel.h) when the
 * size makes it worthwhile; results are bit-identical whatever the thread
 * count and whichever backend runs (the arithmetic is exact). The functions
 * are safe to call from several threads at once on disjoint arrays (the pool
 * then serialises their parallel parts). Twiddle tables are built lazily on
 * first use of a size, once, under a lock, and kept for the process lifetime:
 * about 2^log_n elements for the largest size used, plus about 1.33·2^log_n
 * for each size above 2^12 that is used (the column pass's own layout), e.g.
 * 19 MiB in all for 2^20 and 150 MiB for 2^23.
 *
 * Failure: the functions return nothing. A caller's bug (log_n too large,
 * NULL pointers with n > 0) is an assertion; running out of memory for a
 * twiddle table aborts (zk_panic), as the prover cannot continue without it.
 *
 * Backends: an AVX2 kernel is chosen at run time when the CPU has AVX2; the
 * portable scalar kernel gives identical results. Setting the environment
 * variable ZKCAR_SIMD=scalar before the first transform forces the scalar
 * kernel (tests use it and prv_ntt_set_backend to compare the two).
 */
#ifndef ZKCAR_PROVER_NTT_H
#define ZKCAR_PROVER_NTT_H

#include <stddef.h>

#include "prover/field.h"

/* Largest supported transform: 2^30 points (8 GiB of data). */
#define PRV_NTT_MAX_LOG 30

/*
 * Forward NTT, in place: on entry a[0..n) holds coefficients c_j; on return
 * a[i] = sum_j c_j ω_n^(ij), i = 0..n-1 (evaluations at the powers of ω_n).
 */
void prv_ntt_forward(prv_gl *a, unsigned log_n);

/* Inverse NTT, in place: the exact inverse of prv_ntt_forward (evaluations to coefficients). */
void prv_ntt_inverse(prv_gl *a, unsigned log_n);

/*
 * Coset NTT, in place: coefficients to evaluations at shift·ω_n^i (natural order).
 * shift may be any element (0 gives every output = c_0); a coset LDE uses a
 * non-residue such as PRV_GL_GENERATOR.
 */
void prv_ntt_coset_forward(prv_gl *a, unsigned log_n, prv_gl shift);

/* The inverse of prv_ntt_coset_forward; shift must be nonzero (asserted). */
void prv_ntt_coset_inverse(prv_gl *a, unsigned log_n, prv_gl shift);

/*
 * Low-degree extension. evals[0..n) are the values of a polynomial of degree
 * < n on ⟨ω_n⟩ (natural order); writes to out[0..N), N = n·2^log_blowup, its
 * values at shift·ω_N^i (natural order). out must hold N elements; it may be
 * the very same pointer as evals (the buffer then holds N elements), but must
 * not otherwise overlap it. log_n + log_blowup <= PRV_NTT_MAX_LOG; shift != 0.
 */
void prv_ntt_lde(prv_gl *out, const prv_gl *evals, unsigned log_n, unsigned log_blowup,
                 prv_gl shift);

/*
 * prv_ntt_lde on ncols columns: out[c] (N elements each) from in[c] (n each),
 * same rules per column (out[c] may equal in[c]; columns must not overlap each
 * other). Uses the pool across columns when they spread evenly over the threads
 * (a multiple of the thread count, or at least four per thread), and within
 * each column otherwise.
 */
void prv_ntt_lde_batch(prv_gl *const *out, const prv_gl *const *in, size_t ncols, unsigned log_n,
                       unsigned log_blowup, prv_gl shift);

/* prv_ntt_forward / prv_ntt_inverse on each of ncols disjoint columns of n elements. */
void prv_ntt_forward_batch(prv_gl *const *cols, size_t ncols, unsigned log_n);
void prv_ntt_inverse_batch(prv_gl *const *cols, size_t ncols, unsigned log_n);

/*
 * Allocates an array of n elements for transforms: 64-byte aligned, and for
 * 2 MiB or more, 2 MiB aligned and advised onto transparent huge pages, which
 * makes the large-stride passes of big transforms markedly faster (fewer TLB
 * misses). Contents are uninitialised. Returns NULL if out of memory (or n
 * overflows). Free with prv_ntt_free (or free()). Thread-safe.
 */
prv_gl *prv_ntt_alloc(size_t n);
void prv_ntt_free(prv_gl *p);

/* ---- backend selection (tests, benchmarks) ---- */
typedef enum prv_ntt_backend {
    PRV_NTT_BACKEND_AUTO = 0,   /* the best the CPU supports (AVX2 or scalar) */
    PRV_NTT_BACKEND_SCALAR = 1, /* portable C */
    PRV_NTT_BACKEND_AVX2 = 2,   /* x86-64 AVX2; falls back to scalar without CPU support */
} prv_ntt_backend;

/*
 * Selects the kernel for later transforms: SCALAR and AVX2 override ZKCAR_SIMD,
 * AUTO honours it (AVX2 if the CPU has it, unless ZKCAR_SIMD=scalar). Returns the
 * backend now in use (AVX2 asked for on a CPU without it gives SCALAR). Not
 * to be called while a transform is running in another thread.
 */
prv_ntt_backend prv_ntt_set_backend(prv_ntt_backend b);

/* The backend in use: "avx2" or "scalar" (static string). */
const char *prv_ntt_backend_name(void);

#endif
