/*
 * bench/prover_stark.c — the STARK part of `zkcar bench prover` (issue 3).
 *
 * Proves a Poseidon2 hash chain (prover/airs/p2chain.h, one permutation per
 * row of 180 columns) at the production parameters (prv_stark_params_default)
 * on all threads, and verifies it:
 *   hashchain_perms_proven_per_s  permutations / full prove time (median of 3)
 *   hashchain_perms               the chain length measured (2^17 - 1; 2^11 - 1 with --quick)
 *   prove_s, prove_cpu_s (CPU seconds over all threads), verify_ms,
 *   proof_bytes, provable_security_bits, peak_rss_mb
 *   commit_hash                   the Merkle hash of the production set
 * and, to support the choice of commitment hash (docs/prover.md), the prove
 * time of a 2^12-row chain (4095 permutations) with Poseidon2 and with
 * Keccak-256 Merkle trees: hashchain_2p12_prove_s_poseidon2,
 * hashchain_2p12_prove_s_keccak, and their verify times (_verify_ms_).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/bench.h"
#include "bench/prover_parts.h"
#include "prover/airs/p2chain.h"
#include "prover/parallel.h"
#include "prover/stark.h"

/* CPU seconds of the whole process (all threads). */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int prove_once(const prv_stark_params *p, const prv_gl *trace, unsigned log_n, const prv_gl *pub,
                      double *secs, double *cpu, uint8_t **proof, size_t *len)
{
    zk_error_detail err = { 0 };
    double c0 = cpu_seconds();
    uint64_t t0 = zkb_now_ns();
    zk_err rc = prv_stark_prove(&prv_p2chain_air, p, trace, log_n, pub, proof, len, &err);
    *secs = (double)(zkb_now_ns() - t0) / 1e9;
    *cpu = cpu_seconds() - c0;
    if (rc != ZK_OK) {
        fprintf(stderr, "bench prover: prove failed: %s (%s)\n", zk_strerror(rc), err.text);
        return 1;
    }
    return 0;
}

static int time_chain(const prv_stark_params *p, unsigned log_n, int runs, double *prove_s,
                      double *prove_cpu_s, double *verify_ms, size_t *proof_bytes)
{
    size_t n = (size_t)1 << log_n;
    prv_gl *trace = malloc(PRV_P2CHAIN_NCOLS * n * sizeof *trace);
    prv_gl pub[PRV_P2CHAIN_NPUBLIC], in[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    double pt[9], ct[9], vt[9];
    int rc = 1;
    if (!trace || runs > 9)
        goto out;
    prv_p2chain_trace(trace, log_n, in, pub);
    for (int i = 0; i < runs; i++) {
        uint8_t *proof = NULL;
        size_t len = 0;
        if (prove_once(p, trace, log_n, pub, &pt[i], &ct[i], &proof, &len))
            goto out;
        zk_error_detail err = { 0 };
        uint64_t t0 = zkb_now_ns();
        zk_err v = prv_stark_verify(&prv_p2chain_air, pub, proof, len, &err);
        vt[i] = (double)(zkb_now_ns() - t0) / 1e6;
        free(proof);
        if (v != ZK_OK) {
            fprintf(stderr, "bench prover: verify failed: %s (%s)\n", zk_strerror(v), err.text);
            goto out;
        }
        *proof_bytes = len;
    }
    *prove_s = zkb_median(pt, runs);
    if (prove_cpu_s)
        *prove_cpu_s = zkb_median(ct, runs);
    if (verify_ms)
        *verify_ms = zkb_median(vt, runs);
    rc = 0;
out:
    free(trace);
    return rc;
}

int zkb_prover_stark(zkb_report *r, int quick)
{
    const prv_stark_params *p = &prv_stark_params_default;
    unsigned log_n = quick ? 11 : 17; /* 2^11 - 1 or 2^17 - 1 (>= 2^16) permutations */
    int runs = quick ? 1 : 3;
    double prove_s = 0, prove_cpu_s = 0, verify_ms = 0;
    size_t proof_bytes = 0;
    if (time_chain(p, log_n, runs, &prove_s, &prove_cpu_s, &verify_ms, &proof_bytes))
        return 1;
    double perms = (double)(((size_t)1 << log_n) - 1);
    zkb_report_num(r, "hashchain_perms", perms);
    zkb_report_num(r, "hashchain_perms_proven_per_s", perms / prove_s);
    zkb_report_num(r, "prove_s", prove_s);
    /* CPU time of the prove over both threads: on a shared machine, perms per
     * CPU-second x cores is what an idle machine would approach. */
    zkb_report_num(r, "prove_cpu_s", prove_cpu_s);
    zkb_report_num(r, "verify_ms", verify_ms);
    zkb_report_num(r, "proof_bytes", (double)proof_bytes);
    zkb_report_num(r, "provable_security_bits",
                   (double)prv_stark_security_bits(&prv_p2chain_air, p, log_n));
    zkb_report_num(r, "prover_threads", (double)prv_parallel_threads());
    zkb_report_str(r, "commit_hash", p->hash == PRV_HASH_POSEIDON2 ? "poseidon2" : "keccak256");

    /* The commitment-hash comparison, same statement and parameters otherwise. */
    unsigned log_cmp = quick ? 10 : 12;
    for (int h = PRV_HASH_POSEIDON2; h <= PRV_HASH_KECCAK; h++) {
        prv_stark_params q = *p;
        q.hash = (uint8_t)h;
        double s = 0, v = 0;
        size_t b = 0;
        if (time_chain(&q, log_cmp, quick ? 1 : 3, &s, NULL, &v, &b))
            return 1;
        int p2 = h == PRV_HASH_POSEIDON2;
        zkb_report_num(r, p2 ? "hashchain_2p12_prove_s_poseidon2" : "hashchain_2p12_prove_s_keccak", s);
        zkb_report_num(r, p2 ? "hashchain_2p12_verify_ms_poseidon2" : "hashchain_2p12_verify_ms_keccak", v);
    }
    zkb_report_num(r, "peak_rss_mb", zkb_peak_rss_mb());
    return 0;
}
