/*
 * bench/prover_ntt.c — NTT figures for `zkcar bench prover` (issue 3).
 *
 *   ntt_2p20_ms            forward NTT of 2^20 points, ONE thread, median wall time of runs
 *   ntt_2p20_cpu_ms        the same runs' median CPU time of the (only) thread: on a
 *                          shared machine it leaves out the time the thread was preempted
 *   ntt_2p20_2threads_ms   the same with two threads
 *   ntt_2p20_scalar_ms     one thread, portable scalar kernel
 *   intt_2p20_ms           inverse NTT of 2^20 points, one thread
 *   lde_2p20_x8_ms         LDE 2^20 -> 2^23 (blowup 8, coset), default threads
 *   lde_batch_2p16_x4_64cols_ms  64 columns 2^16 -> 2^18, default threads (prover-like)
 *   ntt_backend            "avx2" or "scalar"
 * --quick runs 2^16 points (2^13 columns of 2^10 for the batch) and 3 repetitions:
 * same keys, figures not comparable.
 */
#include <stdlib.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/prover_parts.h"
#include "prover/field.h"
#include "prover/ntt.h"
#include "prover/parallel.h"

typedef void (*ntt_job)(prv_gl *buf, prv_gl *out, unsigned log_n);

static void job_forward(prv_gl *buf, prv_gl *out, unsigned log_n)
{
    (void)out;
    prv_ntt_forward(buf, log_n);
}

static void job_inverse(prv_gl *buf, prv_gl *out, unsigned log_n)
{
    (void)out;
    prv_ntt_inverse(buf, log_n);
}

static void job_lde8(prv_gl *buf, prv_gl *out, unsigned log_n)
{
    prv_ntt_lde(out, buf, log_n, 3, PRV_GL_GENERATOR);
}

static double thread_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/*
 * Median wall time (ms) of `runs` calls of job on fresh pseudo-random data, after
 * one warm-up; *cpu_ms (if not NULL) gets the median CPU time of the calling thread.
 */
static double time_job(ntt_job job, unsigned log_n, size_t out_len, int runs, double *cpu_ms)
{
    size_t n = (size_t)1 << log_n;
    prv_gl *buf = prv_ntt_alloc(n);
    prv_gl *out = out_len ? prv_ntt_alloc(out_len) : NULL;
    double t[32], cpu[32];
    double med = -1;
    if (buf == NULL || (out_len && out == NULL) || runs > 32)
        goto cleanup;
    uint64_t s = 0x243F6A8885A308D3ULL;
    for (int r = -1; r < runs; r++) {
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[i] = prv_gl_from_u64(s);
        }
        double c0 = thread_cpu_ms();
        uint64_t t0 = zkb_now_ns();
        job(buf, out, log_n);
        uint64_t t1 = zkb_now_ns();
        double c1 = thread_cpu_ms();
        if (r >= 0) {
            t[r] = (double)(t1 - t0) / 1e6;
            cpu[r] = c1 - c0;
        }
    }
    med = zkb_median(t, runs);
    if (cpu_ms != NULL)
        *cpu_ms = zkb_median(cpu, runs);
cleanup:
    prv_ntt_free(buf);
    prv_ntt_free(out);
    return med;
}

static double time_batch(unsigned log_n, unsigned log_blowup, size_t ncols, int runs)
{
    size_t n = (size_t)1 << log_n, big = n << log_blowup;
    prv_gl **in = calloc(ncols, sizeof *in), **out = calloc(ncols, sizeof *out);
    double t[32];
    double med = -1;
    if (in == NULL || out == NULL || runs > 32)
        goto cleanup;
    for (size_t c = 0; c < ncols; c++) {
        in[c] = prv_ntt_alloc(n);
        out[c] = prv_ntt_alloc(big);
        if (in[c] == NULL || out[c] == NULL)
            goto cleanup;
        for (size_t i = 0; i < n; i++)
            in[c][i] = prv_gl_from_u64((c + 1) * 0x9E3779B97F4A7C15ULL * (i + 1));
    }
    for (int r = -1; r < runs; r++) {
        uint64_t t0 = zkb_now_ns();
        prv_ntt_lde_batch(out, (const prv_gl *const *)in, ncols, log_n, log_blowup, PRV_GL_GENERATOR);
        uint64_t t1 = zkb_now_ns();
        if (r >= 0)
            t[r] = (double)(t1 - t0) / 1e6;
    }
    med = zkb_median(t, runs);
cleanup:
    for (size_t c = 0; in != NULL && out != NULL && c < ncols; c++) {
        prv_ntt_free(in[c]);
        prv_ntt_free(out[c]);
    }
    free(in);
    free(out);
    return med;
}

int zkb_prover_ntt(zkb_report *r, int quick)
{
    unsigned log_n = quick ? 16 : 20;
    int runs = quick ? 3 : 15;
    unsigned saved = prv_parallel_threads();
    int rc = 1;

    zkb_report_str(r, "ntt_backend", prv_ntt_backend_name());
    prv_parallel_set_threads(1);
    double fwd1_cpu = -1;
    double fwd1 = time_job(job_forward, log_n, 0, runs, &fwd1_cpu);
    double inv1 = time_job(job_inverse, log_n, 0, runs, NULL);
    prv_ntt_set_backend(PRV_NTT_BACKEND_SCALAR);
    double fwd_scalar = time_job(job_forward, log_n, 0, runs, NULL);
    prv_ntt_set_backend(PRV_NTT_BACKEND_AUTO);
    prv_parallel_set_threads(2);
    double fwd2 = time_job(job_forward, log_n, 0, runs, NULL);
    prv_parallel_set_threads(saved);
    double lde = time_job(job_lde8, log_n, (size_t)8 << log_n, quick ? 3 : 7, NULL);
    double batch = quick ? time_batch(10, 2, 64, 3) : time_batch(16, 2, 64, 5);
    if (fwd1 < 0 || inv1 < 0 || fwd_scalar < 0 || fwd2 < 0 || lde < 0 || batch < 0)
        goto cleanup;
    zkb_report_num(r, "ntt_2p20_ms", fwd1);
    zkb_report_num(r, "ntt_2p20_cpu_ms", fwd1_cpu);
    zkb_report_num(r, "ntt_2p20_2threads_ms", fwd2);
    zkb_report_num(r, "ntt_2p20_scalar_ms", fwd_scalar);
    zkb_report_num(r, "intt_2p20_ms", inv1);
    zkb_report_num(r, "lde_2p20_x8_ms", lde);
    zkb_report_num(r, "lde_batch_2p16_x4_64cols_ms", batch);
    rc = 0;
cleanup:
    prv_parallel_set_threads(saved);
    return rc;
}
