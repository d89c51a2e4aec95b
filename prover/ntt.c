/*
 * prover/ntt.c — the public transforms of prover/ntt.h: twiddle tables,
 * backend dispatch, the bit-reversal permutation and the compositions
 * (inverse, coset, LDE, batches) built on the DIF kernels of ntt_core.h.
 *
 * forward = DIF (bit-reversed out) + bit-reversal permutation.
 * inverse: DFT^-1(a)[i] = n^-1 · DFT(a)[-i], and equally DFT applied to the
 * input reversed (a[i] <-> a[n-i]), so the inverse is one pass (reversal and
 * n^-1 scaling together) + forward, with no second set of twiddle tables.
 * The coset inverse and the LDE reverse, transform, then scale by
 * n^-1·shift^-i (or n^-1·shift^i) in one pass.
 */
#include "prover/ntt.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/error.h"
#include "prover/ntt_internal.h"
#include "prover/parallel.h"

/* ---- memory ---- */

#define HUGE_PAGE ((size_t)2 << 20)

prv_gl *prv_ntt_alloc(size_t n)
{
    size_t bytes = n * sizeof(prv_gl);
    if (n != 0 && bytes / n != sizeof(prv_gl))
        return NULL;
    if (bytes < HUGE_PAGE) {
        bytes = (bytes + 63) & ~(size_t)63;
        return aligned_alloc(64, bytes ? bytes : 64);
    }
    /* Large arrays on 2 MiB pages where the kernel allows (THP "madvise" mode):
     * the column passes touch hundreds of pages at once and would otherwise
     * miss the TLB on most cache lines. */
    bytes = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = aligned_alloc(HUGE_PAGE, bytes);
    if (p != NULL)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

void prv_ntt_free(prv_gl *p) { free(p); }

/* ---- twiddle tables ---- */

static _Atomic(prv_gl *) tables[PRV_NTT_MAX_LOG];
static pthread_mutex_t tables_mu = PTHREAD_MUTEX_INITIALIZER;

static prv_gl *build_table(unsigned lh)
{
    size_t n = (size_t)1 << lh;
    prv_gl *t = prv_ntt_alloc(n);
    if (t == NULL)
        ZK_PANIC("out of memory for an NTT twiddle table");
    prv_gl w = prv_gl_root_of_unity(lh + 1);
    /* A chain of 1024 powers, then blocks of independent products (pipelines well). */
    size_t first = n < 1024 ? n : 1024;
    t[0] = 1;
    for (size_t j = 1; j < first; j++)
        t[j] = prv_gl_mul(t[j - 1], w);
    for (size_t b = first; b < n; b += first) {
        prv_gl wb = prv_gl_mul(t[b - first], prv_gl_mul(t[first - 1], w)); /* w^b */
        for (size_t j = 0; j < first; j++)
            t[b + j] = prv_gl_mul(t[j], wb);
    }
    return t;
}

const prv_gl *prv_ntt_twiddles(unsigned lh)
{
    assert(lh < PRV_NTT_MAX_LOG);
    prv_gl *t = atomic_load_explicit(&tables[lh], memory_order_acquire);
    if (t != NULL)
        return t;
    pthread_mutex_lock(&tables_mu);
    t = atomic_load_explicit(&tables[lh], memory_order_relaxed);
    if (t == NULL) {
        t = build_table(lh);
        atomic_store_explicit(&tables[lh], t, memory_order_release);
    }
    pthread_mutex_unlock(&tables_mu);
    return t;
}

static _Atomic(prv_gl *) cube_tables[PRV_NTT_MAX_LOG];

/* ω_{4q}^(3j) for j < q, from the level table of ω_{4q}^j (j < 2q) and ω_{4q}^(2q) = -1. */
static prv_gl *build_cube_table(unsigned lq)
{
    size_t q = (size_t)1 << lq;
    const prv_gl *t = prv_ntt_twiddles(lq + 1);
    prv_gl *c = prv_ntt_alloc(q);
    if (c == NULL)
        ZK_PANIC("out of memory for an NTT twiddle table");
    for (size_t j = 0; j < q; j++)
        c[j] = 3 * j < 2 * q ? t[3 * j] : prv_gl_neg(t[3 * j - 2 * q]);
    return c;
}

const prv_gl *prv_ntt_twiddles3(unsigned lq)
{
    assert(lq + 1 < PRV_NTT_MAX_LOG);
    prv_gl *t = atomic_load_explicit(&cube_tables[lq], memory_order_acquire);
    if (t != NULL)
        return t;
    static pthread_mutex_t cube_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&cube_mu);
    t = atomic_load_explicit(&cube_tables[lq], memory_order_relaxed);
    if (t == NULL) {
        t = build_cube_table(lq);
        atomic_store_explicit(&cube_tables[lq], t, memory_order_release);
    }
    pthread_mutex_unlock(&cube_mu);
    return t;
}

static _Atomic(prv_gl *) top_tables[PRV_NTT_MAX_LOG + 1];

static prv_gl *build_top_table(unsigned log_n)
{
    unsigned k = prv_ntt_top_stages(log_n), rest = log_n - k;
    size_t stride = (size_t)1 << rest, chunks = stride / PRV_NTT_COLW;
    size_t per_chunk = prv_ntt_top_chunk_len(k);
    prv_gl *t = prv_ntt_alloc(chunks * per_chunk);
    if (t == NULL)
        ZK_PANIC("out of memory for an NTT twiddle table");
    prv_gl *o = t;
    for (size_t c = 0; c < chunks; c++) {
        size_t r = c * PRV_NTT_COLW;
        unsigned s = k;
        if (s % 2 == 1) {
            const prv_gl *l1 = prv_ntt_twiddles(rest + s - 1);
            for (size_t m = 0; m < ((size_t)1 << (s - 1)); m++, o += PRV_NTT_COLW)
                memcpy(o, l1 + m * stride + r, PRV_NTT_COLW * sizeof *o);
            s--;
        }
        for (; s >= 2; s -= 2) {
            size_t q = (size_t)1 << (s - 2);
            const prv_gl *l1 = prv_ntt_twiddles(rest + s - 1), *l2 = prv_ntt_twiddles(rest + s - 2);
            for (size_t m = 0; m < q; m++) {
                memcpy(o, l1 + m * stride + r, PRV_NTT_COLW * sizeof *o);
                memcpy(o + PRV_NTT_COLW, l1 + (m + q) * stride + r, PRV_NTT_COLW * sizeof *o);
                memcpy(o + 2 * PRV_NTT_COLW, l2 + m * stride + r, PRV_NTT_COLW * sizeof *o);
                for (size_t i = 0; i < PRV_NTT_COLW; i++) {
                    prv_gl w = o[i];
                    o[3 * PRV_NTT_COLW + i] = prv_gl_mul(prv_gl_sqr(w), w);
                }
                o += 4 * PRV_NTT_COLW;
            }
        }
    }
    return t;
}

const prv_gl *prv_ntt_top_twiddles(unsigned log_n)
{
    assert(log_n > PRV_NTT_LOG_LEAF && log_n <= PRV_NTT_MAX_LOG);
    prv_gl *t = atomic_load_explicit(&top_tables[log_n], memory_order_acquire);
    if (t != NULL)
        return t;
    /* Build outside tables_mu: build_top_table takes it for the level tables. */
    static pthread_mutex_t top_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&top_mu);
    t = atomic_load_explicit(&top_tables[log_n], memory_order_relaxed);
    if (t == NULL) {
        t = build_top_table(log_n);
        atomic_store_explicit(&top_tables[log_n], t, memory_order_release);
    }
    pthread_mutex_unlock(&top_mu);
    return t;
}

/* ---- backend ---- */

static atomic_int backend = 0; /* 0: not chosen yet, else a prv_ntt_backend */

/* PRV_NTT_HAVE_AVX2: ntt_avx2.c is built (x86-64, prover/CMakeLists.txt). */
static bool cpu_has_avx2(void)
{
#ifdef PRV_NTT_HAVE_AVX2
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

/* The backend AUTO stands for: AVX2 when the CPU has it, unless ZKCAR_SIMD=scalar. */
static prv_ntt_backend resolve_auto(void)
{
    const char *env = getenv("ZKCAR_SIMD");
    if (env != NULL && strcmp(env, "scalar") == 0)
        return PRV_NTT_BACKEND_SCALAR;
    return cpu_has_avx2() ? PRV_NTT_BACKEND_AVX2 : PRV_NTT_BACKEND_SCALAR;
}

prv_ntt_backend prv_ntt_set_backend(prv_ntt_backend b)
{
    prv_ntt_backend use = PRV_NTT_BACKEND_SCALAR;
    if (b == PRV_NTT_BACKEND_AUTO)
        use = resolve_auto();
    else if (b == PRV_NTT_BACKEND_AVX2 && cpu_has_avx2())
        use = PRV_NTT_BACKEND_AVX2;
    atomic_store_explicit(&backend, (int)use, memory_order_relaxed);
    return use;
}

static prv_ntt_backend current_backend(void)
{
    int b = atomic_load_explicit(&backend, memory_order_relaxed);
    if (b != 0)
        return (prv_ntt_backend)b;
    int expected = 0;
    atomic_compare_exchange_strong(&backend, &expected, (int)resolve_auto());
    return (prv_ntt_backend)atomic_load_explicit(&backend, memory_order_relaxed);
}

const char *prv_ntt_backend_name(void)
{
    return current_backend() == PRV_NTT_BACKEND_AVX2 ? "avx2" : "scalar";
}

/* DIF (bit-reversed out); input beyond a[2^(log_n - log_sparse)) taken as zero, not read. */
static void dif(prv_gl *a, unsigned log_n, unsigned log_sparse)
{
    if (log_n < 2 && log_sparse > 0) {
        memset(a + 1, 0, (((size_t)1 << log_n) - 1) * sizeof *a);
        log_sparse = 0;
    }
    if (log_n == 0)
        return;
    if (log_n == 1) {
        prv_gl u = a[0], v = a[1];
        a[0] = prv_gl_add(u, v);
        a[1] = prv_gl_sub(u, v);
        return;
    }
#ifdef PRV_NTT_HAVE_AVX2
    if (current_backend() == PRV_NTT_BACKEND_AVX2) {
        prv_ntt_dif_avx2(a, log_n, log_sparse);
        return;
    }
#endif
    prv_ntt_dif_scalar(a, log_n, log_sparse);
}

/* ---- elementwise passes ---- */

typedef struct powers_ctx {
    prv_gl *a;
    prv_gl start, step;
    bool avx2;
} powers_ctx;

static void powers_range(void *vctx, size_t begin, size_t end)
{
    const powers_ctx *c = vctx;
    prv_gl s = prv_gl_mul(c->start, prv_gl_pow(c->step, begin));
#ifdef PRV_NTT_HAVE_AVX2
    if (c->avx2) {
        prv_ntt_mul_powers_avx2(c->a + begin, end - begin, s, c->step);
        return;
    }
#endif
    prv_ntt_mul_powers_scalar(c->a + begin, end - begin, s, c->step);
}

/* a[i] *= start·step^i */
static void mul_powers(prv_gl *a, size_t n, prv_gl start, prv_gl step)
{
    powers_ctx c = { a, start, step, current_backend() == PRV_NTT_BACKEND_AVX2 };
    prv_parallel_for(n, 1 << 14, powers_range, &c);
}

typedef struct perm_ctx {
    prv_gl *a;
    unsigned log_n;
} perm_ctx;

/* a[i] <-> a[n - i] for i in [1, n/2), i.e. index i -> -i mod n. */
static void reverse_range(void *vctx, size_t begin, size_t end)
{
    const perm_ctx *c = vctx;
    size_t n = (size_t)1 << c->log_n;
    for (size_t i = begin < 1 ? 1 : begin; i < end; i++) {
        prv_gl t = c->a[i];
        c->a[i] = c->a[n - i];
        c->a[n - i] = t;
    }
}

static void negate_indices(prv_gl *a, unsigned log_n)
{
    if (log_n < 2)
        return;
    perm_ctx c = { a, log_n };
    prv_parallel_for((size_t)1 << (log_n - 1), 1 << 14, reverse_range, &c);
}

static inline uint64_t rev64(uint64_t x)
{
    x = ((x >> 1) & 0x5555555555555555ULL) | ((x & 0x5555555555555555ULL) << 1);
    x = ((x >> 2) & 0x3333333333333333ULL) | ((x & 0x3333333333333333ULL) << 2);
    x = ((x >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((x & 0x0F0F0F0F0F0F0F0FULL) << 4);
    return __builtin_bswap64(x);
}

static inline size_t rev_bits(size_t x, unsigned bits)
{
    return bits == 0 ? 0 : (size_t)(rev64(x) >> (64 - bits));
}

/*
 * Bit reversal in tiles: index = hi (TB bits) | mid | lo (TB bits) maps to
 * rev(lo) | rev(mid) | rev(hi), so tile `mid` (2^TB rows of 2^TB contiguous
 * elements, rows 2^(L-TB) apart) swaps with tile rev(mid) as a whole: both
 * tiles are read into local buffers and written back permuted, so memory is
 * touched in whole runs of 2^TB elements (two cache lines; measured a little
 * faster than 1 or 4 lines at 2^20).
 */
#define TB 4
#define TS (1 << TB)

static unsigned char rev_tb[TS];

static void init_rev_tb(void)
{
    for (unsigned i = 0; i < TS; i++)
        rev_tb[i] = (unsigned char)rev_bits(i, TB);
}

static void bitrev_tiles(void *vctx, size_t begin, size_t end)
{
    const perm_ctx *c = vctx;
    unsigned mbits = c->log_n - 2 * TB, hshift = c->log_n - TB;
    prv_gl *a = c->a;
    prv_gl ta[TS][TS], tb[TS][TS];
    for (size_t mid = begin; mid < end; mid++) {
        size_t rm = rev_bits(mid, mbits);
        if (rm < mid)
            continue;
        prv_gl *pa = a + (mid << TB), *pb = a + (rm << TB);
        for (size_t hi = 0; hi < TS; hi++) {
            memcpy(ta[hi], pa + (hi << hshift), sizeof ta[hi]);
            memcpy(tb[hi], pb + (hi << hshift), sizeof tb[hi]);
        }
        for (size_t hi = 0; hi < TS; hi++) {
            prv_gl *ra = pa + (hi << hshift), *rb = pb + (hi << hshift);
            size_t rhi = rev_tb[hi];
            for (size_t lo = 0; lo < TS; lo++) {
                ra[lo] = tb[rev_tb[lo]][rhi];
                rb[lo] = ta[rev_tb[lo]][rhi];
            }
        }
    }
}

static pthread_once_t rev_once = PTHREAD_ONCE_INIT;

static void bit_reverse(prv_gl *a, unsigned log_n)
{
    if (log_n < 2 * TB) {
        size_t n = (size_t)1 << log_n;
        for (size_t i = 0; i < n; i++) {
            size_t j = rev_bits(i, log_n);
            if (i < j) {
                prv_gl t = a[i];
                a[i] = a[j];
                a[j] = t;
            }
        }
        return;
    }
    pthread_once(&rev_once, init_rev_tb);
    perm_ctx c = { a, log_n };
    prv_parallel_for((size_t)1 << (log_n - 2 * TB), 64, bitrev_tiles, &c);
}

/* ---- the transforms ---- */

void prv_ntt_forward(prv_gl *a, unsigned log_n)
{
    assert(log_n <= PRV_NTT_MAX_LOG);
    assert(a != NULL);
    dif(a, log_n, 0);
    bit_reverse(a, log_n);
}

/* n^-1 · DFT^-1 without the n^-1: reversal then forward. */
static void inverse_unscaled(prv_gl *a, unsigned log_n)
{
    negate_indices(a, log_n);
    prv_ntt_forward(a, log_n);
}

static prv_gl inv_size(unsigned log_n)
{
    /* 2^k · (p - (p-1)/2^k) = 2^k·p - (p-1) ≡ 1 (mod p), for k <= 32. */
    return PRV_GL_P - ((PRV_GL_P - 1) >> log_n);
}

typedef struct neg_scale_ctx {
    prv_gl *a;
    size_t n;
    prv_gl s;
    bool avx2;
} neg_scale_ctx;

static void neg_scale_range(void *vctx, size_t begin, size_t end)
{
    const neg_scale_ctx *c = vctx;
    if (begin == 0)
        begin = 1;
    if (begin >= end)
        return;
#ifdef PRV_NTT_HAVE_AVX2
    if (c->avx2) {
        prv_ntt_neg_scale_avx2(c->a, c->n, begin, end, c->s);
        return;
    }
#endif
    prv_ntt_neg_scale_scalar(c->a, c->n, begin, end, c->s);
}

void prv_ntt_inverse(prv_gl *a, unsigned log_n)
{
    assert(log_n <= PRV_NTT_MAX_LOG);
    assert(a != NULL);
    size_t n = (size_t)1 << log_n;
    prv_gl s = inv_size(log_n);
    /* a <- n^-1 · a(-i) in one pass, then the forward transform */
    a[0] = prv_gl_mul(a[0], s);
    if (n >= 2)
        a[n / 2] = prv_gl_mul(a[n / 2], s);
    if (n >= 4) {
        neg_scale_ctx c = { a, n, s, current_backend() == PRV_NTT_BACKEND_AVX2 };
        prv_parallel_for(n / 2, 1 << 14, neg_scale_range, &c);
    }
    prv_ntt_forward(a, log_n);
}

void prv_ntt_coset_forward(prv_gl *a, unsigned log_n, prv_gl shift)
{
    assert(log_n <= PRV_NTT_MAX_LOG);
    assert(a != NULL);
    mul_powers(a, (size_t)1 << log_n, 1, shift);
    prv_ntt_forward(a, log_n);
}

void prv_ntt_coset_inverse(prv_gl *a, unsigned log_n, prv_gl shift)
{
    assert(log_n <= PRV_NTT_MAX_LOG);
    assert(a != NULL);
    assert(shift != 0 && "coset shift must be nonzero");
    inverse_unscaled(a, log_n);
    mul_powers(a, (size_t)1 << log_n, inv_size(log_n), prv_gl_inv(shift));
}

void prv_ntt_lde(prv_gl *out, const prv_gl *evals, unsigned log_n, unsigned log_blowup,
                 prv_gl shift)
{
    assert(log_n + log_blowup <= PRV_NTT_MAX_LOG);
    assert(out != NULL && evals != NULL);
    assert(shift != 0 && "coset shift must be nonzero");
    size_t n = (size_t)1 << log_n;
    if (out != evals)
        memcpy(out, evals, n * sizeof *out);
    inverse_unscaled(out, log_n);
    mul_powers(out, n, inv_size(log_n), shift);
    /* out[n .. N) is never read: the DIF takes it as zero */
    dif(out, log_n + log_blowup, log_blowup);
    bit_reverse(out, log_n + log_blowup);
}

/* ---- batches ---- */

typedef struct batch_ctx {
    prv_gl *const *out;
    const prv_gl *const *in;
    unsigned log_n, log_blowup;
    prv_gl shift;
    int op; /* 0 forward, 1 inverse, 2 lde */
} batch_ctx;

static void batch_one(const batch_ctx *c, size_t col)
{
    switch (c->op) {
    case 0:
        prv_ntt_forward(c->out[col], c->log_n);
        break;
    case 1:
        prv_ntt_inverse(c->out[col], c->log_n);
        break;
    default:
        prv_ntt_lde(c->out[col], c->in[col], c->log_n, c->log_blowup, c->shift);
        break;
    }
}

static void batch_range(void *vctx, size_t begin, size_t end)
{
    for (size_t col = begin; col < end; col++)
        batch_one(vctx, col);
}

/*
 * Whole columns go to threads (no synchronisation inside a column) when that
 * balances: the columns divide evenly among the threads, or there are enough
 * of them that the remainder does not matter. Otherwise each column in turn
 * uses the whole pool.
 */
static void run_batch(const batch_ctx *c, size_t ncols)
{
    size_t threads = prv_parallel_threads();
    if (ncols >= 4 * threads || ncols % threads == 0) {
        prv_parallel_for(ncols, 1, batch_range, (void *)c);
    } else {
        for (size_t col = 0; col < ncols; col++)
            batch_one(c, col);
    }
}

void prv_ntt_forward_batch(prv_gl *const *cols, size_t ncols, unsigned log_n)
{
    assert(ncols == 0 || cols != NULL);
    batch_ctx c = { cols, NULL, log_n, 0, 0, 0 };
    run_batch(&c, ncols);
}

void prv_ntt_inverse_batch(prv_gl *const *cols, size_t ncols, unsigned log_n)
{
    assert(ncols == 0 || cols != NULL);
    batch_ctx c = { cols, NULL, log_n, 0, 0, 1 };
    run_batch(&c, ncols);
}

void prv_ntt_lde_batch(prv_gl *const *out, const prv_gl *const *in, size_t ncols, unsigned log_n,
                       unsigned log_blowup, prv_gl shift)
{
    assert(ncols == 0 || (out != NULL && in != NULL));
    batch_ctx c = { out, in, log_n, log_blowup, shift, 2 };
    run_batch(&c, ncols);
}
