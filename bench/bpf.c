/*
 * bench/bpf.c — `zkcar bench bpf [--txs N] [--accounts N] [--runs N]
 * [--quick] [--dir DIR] [--json]`: what the eBPF stage probes cost the
 * prover (issue 8). Needs root, or CAP_BPF + CAP_PERFMON.
 *
 * Builds a state of --accounts accounts (4096; the proof's size depends on
 * the batch, not on the state) with the ipc writer in a temporary directory,
 * a batch of --txs random transfers (1024; 64 with --quick) with the
 * sequencer's job builder, then proves it with prv_batch_prove at the
 * production parameters --runs times with the probes attached and --runs
 * times detached (7 each; 2 with --quick), all in this one process after one
 * warm-up proof. The two kinds alternate in the order ABBA so that a drift of
 * the machine's speed hits both alike. Figures:
 *   overhead_pct              (median attached − median detached) / median
 *                             detached × 100 of the process's CPU time per
 *                             proof (all threads, user + system: the uprobe
 *                             traps and the BPF program run in the process's
 *                             context and are charged to it) — the issue's
 *                             acceptance (≤ 1). CPU time rather than wall
 *                             time because on a shared machine a proof's wall
 *                             time varies by tens of percent with the other
 *                             load, far more than the probes cost.
 *   overhead_wall_pct         the same with wall-clock time (equal to the
 *                             above on a quiet machine)
 *   prove_attached_s, prove_detached_s   the wall-clock medians
 *   prove_cpu_attached_s, prove_cpu_detached_s   the CPU-time medians
 *   probe_hits_per_proof      probe hits of one proof (begin + end of every stage)
 *   probe_pair_attached_us    one begin+end pair with the BPF program attached
 *                             (two uprobe traps and the program), median of
 *                             repeated blocks of pairs
 *   probe_pair_detached_ns    the same pair detached (two not-taken branches)
 *   modelled_overhead_pct     probe_hits_per_proof / 2 × (pair attached −
 *                             detached) / prove_detached_s × 100: the cost the
 *                             probes add, without the proof's noise
 * and, for context: txs, leaf_updates, runs.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bpf/loader.h"
#include "bpf/probes.h"
#include "common/log.h"
#include "ipc/batch.h"
#include "ipc/state.h"
#include "prover/batch.h"

#include <time.h>

#define MAX_RUNS 31
#define PAIR_BLOCK 200      /* begin+end pairs per timed block */
#define PAIR_BLOCKS 15

/* Probe hits so far: begin + end of every recorded stage. */
static uint64_t probe_hits(const zkbpf *b)
{
    uint64_t n = 0;
    for (unsigned s = 0; s < ZKBPF_NSTAGES; s++) {
        struct zkbpf_hist h;
        zkbpf_read(b, s, &h);
        n += 2 * h.count;
    }
    return n;
}

/* Median ns of one begin+end pair of the `commit` probes. */
static double pair_ns(void)
{
    double v[PAIR_BLOCKS];
    for (int k = 0; k < PAIR_BLOCKS; k++) {
        uint64_t t0 = zkb_now_ns();
        for (int i = 0; i < PAIR_BLOCK; i++) {
            ZKBPF_BEGIN(commit);
            ZKBPF_END(commit);
        }
        v[k] = (double)(zkb_now_ns() - t0) / PAIR_BLOCK;
    }
    return zkb_median(v, PAIR_BLOCKS);
}

int zkb_bpf(zkb_report *r, int argc, char **argv)
{
    uint64_t txs = 1024, accounts = 4096, runs = 7;
    int quick = 0, set_txs = 0, set_runs = 0;
    const char *base = "/tmp";
    for (int i = 1; i < argc; i++) { /* argv[0] is the benchmark's name */
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--txs") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &txs, 1, PRV_BATCH_MAX_OPS / 2) != 0) {
                fprintf(stderr, "zkcar bench bpf: --txs wants 1 .. %u\n", PRV_BATCH_MAX_OPS / 2);
                return 2;
            }
            set_txs = 1;
        } else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &accounts, 2, UINT64_C(1) << 24) != 0) {
                fprintf(stderr, "zkcar bench bpf: --accounts wants 2 .. 2^24\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &runs, 1, MAX_RUNS) != 0) {
                fprintf(stderr, "zkcar bench bpf: --runs wants 1 .. %d\n", MAX_RUNS);
                return 2;
            }
            set_runs = 1;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else {
            fprintf(stderr, "usage: zkcar bench bpf [--quick] [--txs N] [--accounts N] [--runs N] [--dir DIR]\n");
            return 2;
        }
    }
    if (quick) {
        if (!set_txs)
            txs = 64;
        if (!set_runs)
            runs = 2;
    }
    zk_log_set_level(ZK_LOG_WARN);
    zk_error_detail e = { 0 };
    zkbpf *b = NULL;
    /* Capabilities kept: the benchmark detaches and attaches again. */
    if (zkbpf_start(&b, ZKBPF_MODE_ON, ZKBPF_KEEP_CAPS, &e) != ZK_OK) {
        fprintf(stderr, "zkcar bench bpf: %s\n", e.text);
        return 1;
    }
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/zkcar-bench-bpf-XXXXXX", base) >= (int)sizeof dir || mkdtemp(dir) == NULL) {
        fprintf(stderr, "zkcar bench bpf: cannot create a directory under %s: %s\n", base, strerror(errno));
        zkbpf_stop(b);
        return 1;
    }
    int rc = 1;
    ipc_writer *w = NULL;
    prv_batch_op *ops = NULL;
    uint32_t *nonces = NULL;
    uint8_t *proof = NULL;
    size_t proof_len = 0;
    prv_batch_job job;
    memset(&job, 0, sizeof job);
    uint32_t cap = 1;
    while (cap < accounts + 2)
        cap <<= 1;
    ipc_writer_options o = { .capacity = cap, .snapshot_every = UINT64_MAX, .threads = 2 };
    if (ipc_writer_open(&w, dir, &o, &e) != ZK_OK)
        goto cleanup;
    uint8_t a[IPC_ADDRESS_SIZE];
    for (uint64_t k = 0; k < accounts; k++) {
        zkb_address_of(a, k);
        if (ipc_writer_stage(w, NULL, a, UINT64_C(1000000000000), 0) != ZK_OK)
            goto cleanup;
    }
    if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
        goto cleanup;

    ops = calloc(txs, sizeof *ops);
    nonces = calloc(accounts, sizeof *nonces);
    if (!ops || !nonces)
        goto cleanup;
    prv_batch_public pub;
    zkb_transfer_batch(&pub, ops, nonces, txs, accounts, 0x5eed);
    if (ipc_batch_build(w, &pub, &job, &e) != ZK_OK)
        goto cleanup;
    ipc_writer_discard(w);

    /* Warm-up (page faults, thread pool, caches), detached. */
    if (zkbpf_detach(b, &e) != ZK_OK || prv_batch_prove(&job, NULL, &proof, &proof_len, &e) != ZK_OK)
        goto cleanup;
    double att[MAX_RUNS], det[MAX_RUNS], att_cpu[MAX_RUNS], det_cpu[MAX_RUNS];
    uint64_t hits = 0;
    for (uint64_t k = 0; k < 2 * runs; k++) {
        bool attached = (k % 4 == 1 || k % 4 == 2); /* ABBA: det att att det ... */
        if ((attached ? zkbpf_attach(b, &e) : zkbpf_detach(b, &e)) != ZK_OK)
            goto cleanup;
        uint64_t h0 = probe_hits(b);
        free(proof);
        proof = NULL;
        double c0 = zkb_process_cpu_s();
        uint64_t t0 = zkb_now_ns();
        if (prv_batch_prove(&job, NULL, &proof, &proof_len, &e) != ZK_OK)
            goto cleanup;
        double s = (double)(zkb_now_ns() - t0) / 1e9, c = zkb_process_cpu_s() - c0;
        if (attached) {
            att[k / 2] = s;
            att_cpu[k / 2] = c;
            hits = probe_hits(b) - h0;
        } else {
            det[k / 2] = s;
            det_cpu[k / 2] = c;
        }
    }
    if (hits == 0) {
        zk_error_set(&e, ZK_ERR_INTERNAL, "no probe fired during an attached proof");
        goto cleanup;
    }
    if (zkbpf_detach(b, &e) != ZK_OK)
        goto cleanup;
    double pair_det = pair_ns();
    if (zkbpf_attach(b, &e) != ZK_OK)
        goto cleanup;
    double pair_att = pair_ns();
    double ma = zkb_median(att, (int)runs), md = zkb_median(det, (int)runs);
    double ca = zkb_median(att_cpu, (int)runs), cd = zkb_median(det_cpu, (int)runs);
    zkb_report_num(r, "overhead_pct", (ca - cd) / cd * 100.0);
    zkb_report_num(r, "overhead_wall_pct", (ma - md) / md * 100.0);
    zkb_report_num(r, "prove_attached_s", ma);
    zkb_report_num(r, "prove_detached_s", md);
    zkb_report_num(r, "prove_cpu_attached_s", ca);
    zkb_report_num(r, "prove_cpu_detached_s", cd);
    zkb_report_num(r, "probe_hits_per_proof", (double)hits);
    zkb_report_num(r, "probe_pair_attached_us", pair_att / 1e3);
    zkb_report_num(r, "probe_pair_detached_ns", pair_det);
    zkb_report_num(r, "modelled_overhead_pct", (double)hits / 2 * (pair_att - pair_det) / 1e9 / md * 100.0);
    zkb_report_num(r, "txs", (double)txs);
    zkb_report_num(r, "leaf_updates", job.nupdates);
    zkb_report_num(r, "runs", (double)runs);
    zkb_report_str(r, "prover", "batch AIR (prv_batch_prove), production parameters");
    rc = 0;
cleanup:
    if (rc != 0)
        fprintf(stderr, "zkcar bench bpf: failed: %s\n", e.text[0] ? e.text : strerror(errno));
    prv_batch_job_free(&job);
    free(proof);
    free(ops);
    free(nonces);
    ipc_writer_close(w);
    zkb_remove_state_dir(dir);
    zkbpf_stop(b);
    return rc;
}
