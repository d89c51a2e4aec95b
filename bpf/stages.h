/*
 * bpf/stages.h — what the BPF program and the in-process timers share: the
 * stage numbers, the histogram layout and the bucket function.
 *
 * This header is compiled twice: into the BPF object (clang -target bpf, with
 * vmlinux.h providing __u64/__u32) and into userspace C (stdint). It includes
 * nothing so that both sides see the same bytes; keep it that way.
 *
 * Buckets. Stage latencies are exported with the bounds of
 * zk_metrics_log2_bounds (sidecar/metrics.h): bucket k (k = 0 .. 30) holds the
 * observations v with 2^(k-1) µs < v <= 2^k µs (bucket 0: v <= 1 µs), and
 * bucket 31 those above 2^30 µs (the +Inf bucket). The bound is inclusive,
 * as the Prometheus `le` label means: with v in nanoseconds,
 *   v <= 2^k µs  <=>  v <= 2^k · 1000 ns  <=>  ceil(v / 1000) <= 2^k
 * so the bucket is ceil(log2(ceil(v / 1000))), which is exact (no rounding
 * that puts a value on a bound into the next bucket; ebpf_exporter #488 is
 * the bug this avoids).
 */
#ifndef ZKCAR_BPF_STAGES_H
#define ZKCAR_BPF_STAGES_H

#ifdef __bpf__
typedef __u64 zkbpf_u64;
#else
#include <stdint.h>
typedef uint64_t zkbpf_u64;
#endif

/* The observed stages. The numbers are the USDT cookies the loader attaches
 * with and the index into the histogram array; names in zkbpf_stage_name(). */
enum zkbpf_stage {
    ZKBPF_STAGE_LDE = 0,         /* prover: low-degree extension of the trace */
    ZKBPF_STAGE_COMMIT = 1,      /* prover: Merkle commitment to the trace LDE */
    ZKBPF_STAGE_QUOTIENT = 2,    /* prover: quotient evaluation, split, re-extension, commitment */
    ZKBPF_STAGE_FRI = 3,         /* prover: DEEP, FRI commit phase, grinding, query openings */
    ZKBPF_STAGE_PROVE_BATCH = 4, /* prover: one whole batch proof (prv_batch_prove) */
    ZKBPF_STAGE_TREE_UPDATE = 5, /* state: one account-tree update (ipc_tree_update) */
    ZKBPF_NSTAGES = 6,
};

/* Finite buckets 0 .. 30 (bounds 2^k µs) and the +Inf bucket 31. */
#define ZKBPF_NBOUNDS 31
#define ZKBPF_NBUCKETS 32

/* One stage's histogram. Non-cumulative bucket counts; count is the number
 * of observations (the sum of the buckets), sum_ns their total. Updated with
 * atomic adds on both sides, read without a lock (a reader may see a bucket
 * incremented before count: the collector derives count from the buckets). */
struct zkbpf_hist {
    zkbpf_u64 buckets[ZKBPF_NBUCKETS];
    zkbpf_u64 count;
    zkbpf_u64 sum_ns;
};

/* The bucket of a latency of `ns` nanoseconds (0 .. ZKBPF_NBUCKETS - 1).
 * Branches instead of __builtin_clzll: BPF has no count-leading-zeros
 * instruction, and the verifier must see the result bounded. */
static inline unsigned zkbpf_bucket(zkbpf_u64 ns)
{
    zkbpf_u64 us = ns / 1000 + (ns % 1000 != 0); /* ceil(ns / 1000) */
    if (us <= 1)
        return 0;
    /* ceil(log2(us)) = floor(log2(us - 1)) + 1 for us >= 2 */
    zkbpf_u64 x = us - 1;
    unsigned k = 0;
    if (x >> 32) { x >>= 32; k += 32; }
    if (x >> 16) { x >>= 16; k += 16; }
    if (x >> 8) { x >>= 8; k += 8; }
    if (x >> 4) { x >>= 4; k += 4; }
    if (x >> 2) { x >>= 2; k += 2; }
    if (x >> 1) { k += 1; }
    k += 1;
    return k > ZKBPF_NBOUNDS - 1 ? ZKBPF_NBUCKETS - 1 : k;
}

#endif
