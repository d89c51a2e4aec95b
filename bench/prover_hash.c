/*
 * bench/prover_hash.c — Poseidon2 figures for `zkcar bench prover` (issue 3).
 *
 *   poseidon2_w8_perm_per_s_per_core         width-8 permutations per second, one
 *                                             thread, batched path (prv_p2_permute8_many)
 *   poseidon2_w12_perm_per_s_per_core        the same for width 12
 *   poseidon2_w8_single_perm_per_s_per_core  one prv_p2_permute8 call at a time (the
 *                                             scalar path Merkle path checks use)
 *   poseidon2_w12_single_perm_per_s_per_core the same for width 12
 *   poseidon2_merkle_compress_per_s_per_core prv_p2_compress_many, one thread
 *   poseidon2_backend                        "avx2" or "scalar" (ZKCAR_SIMD=scalar forces scalar)
 * Every figure is the median of 9 runs (after one warm-up run) on 8192 states
 * (pairs for the compression). Time is this thread's CPU time, not wall time:
 * the figures are per core, and on a shared machine wall time also counts the
 * time other processes hold the core. The part is cheap (well under a second),
 * so --quick changes nothing here.
 */
#include <stdlib.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/prover_parts.h"
#include "prover/poseidon2.h"

#define RUNS 9
#define STATES 8192

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return zkb_now_ns();
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

enum job { JOB_MANY8, JOB_MANY12, JOB_SINGLE8, JOB_SINGLE12, JOB_COMPRESS };

static void run_job(enum job job, prv_gl *buf, prv_gl *out, size_t n)
{
    switch (job) {
    case JOB_MANY8:
        prv_p2_permute8_many(buf, n);
        break;
    case JOB_MANY12:
        prv_p2_permute12_many(buf, n);
        break;
    case JOB_SINGLE8:
        for (size_t i = 0; i < n; i++)
            prv_p2_permute8(buf + PRV_P2_W8 * i);
        break;
    case JOB_SINGLE12:
        for (size_t i = 0; i < n; i++)
            prv_p2_permute12(buf + PRV_P2_W12 * i);
        break;
    case JOB_COMPRESS:
        prv_p2_compress_many(out, buf, n);
        break;
    }
}

/* Median rate (operations per second) of RUNS runs of `job` on n states/pairs;
 * -1 if memory ran out. */
static double rate(enum job job, size_t n)
{
    prv_gl *buf = malloc(n * PRV_P2_W12 * sizeof *buf);
    prv_gl *out = malloc(n * PRV_P2_DIGEST * sizeof *out);
    double v[RUNS];
    double med = -1;
    if (buf == NULL || out == NULL)
        goto cleanup;
    uint64_t s = 0x243F6A8885A308D3ULL;
    for (size_t i = 0; i < n * PRV_P2_W12; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = prv_gl_from_u64(s);
    }
    for (int r = -1; r < RUNS; r++) {
        uint64_t t0 = thread_cpu_ns();
        run_job(job, buf, out, n);
        uint64_t t1 = thread_cpu_ns();
        if (r >= 0)
            v[r] = (double)n * 1e9 / (double)(t1 > t0 ? t1 - t0 : 1);
    }
    med = zkb_median(v, RUNS);
cleanup:
    free(buf);
    free(out);
    return med;
}

int zkb_prover_hash(zkb_report *r, int quick)
{
    (void)quick;
    size_t n = STATES;
    static const struct {
        enum job job;
        const char *key;
    } figs[] = {
        { JOB_MANY8, "poseidon2_w8_perm_per_s_per_core" },
        { JOB_MANY12, "poseidon2_w12_perm_per_s_per_core" },
        { JOB_SINGLE8, "poseidon2_w8_single_perm_per_s_per_core" },
        { JOB_SINGLE12, "poseidon2_w12_single_perm_per_s_per_core" },
        { JOB_COMPRESS, "poseidon2_merkle_compress_per_s_per_core" },
    };
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        double v = rate(figs[i].job, n);
        if (v < 0)
            return 1;
        zkb_report_num(r, figs[i].key, v);
    }
    zkb_report_str(r, "poseidon2_backend", prv_p2_backend());
    return 0;
}
