/*
 * bench/batch.c — `zkcar bench batch [--txs N] [--accounts N] [--runs N]
 * [--quick] [--dir DIR] [--json]`: proving a batch of transfers with the
 * batch AIR at the production parameters.
 *
 * Builds a state of --accounts accounts (1,000,000; 100,000 with --quick)
 * with the ipc writer in a temporary directory, then a batch of --txs random
 * transfers among them (1024; 64 with --quick; each with a fee, so the batch
 * has 2 txs + 1 leaf updates) with the sequencer's job builder
 * (ipc_batch_build), and proves it --runs times (3; 1 with --quick) on every
 * core of the thread pool. Figures (the keys are issue 5's acceptance):
 *   transfers_proven_per_s  txs / prove_s
 *   prove_s                 median wall time of prv_batch_prove (witness check,
 *                           trace, STARK)
 *   verify_ms               median of prv_batch_verify over 9 runs
 *   proof_bytes             the batch proof (subroots + STARK proof)
 *   peak_rss_mb             the process's peak RSS (state region included)
 *   provable_security_bits  prv_batch_security_bits of the statement
 *   trace_rows, trace_cols  the trace's shape
 * and, for context: txs, accounts, leaf_updates, build_job_s (ipc_batch_build),
 * populate_s (staging the accounts), threads, prove_cpu_s (median CPU
 * seconds of the process, all threads, per proof: on a shared machine,
 * prove_cpu_s / threads is what prove_s would be with the cores to itself),
 * verify_cpu_ms (the same for one verification).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/log.h"
#include "ipc/batch.h"
#include "ipc/state.h"
#include "prover/airs/batch.h"
#include "prover/batch.h"
#include "prover/parallel.h"

#define MAX_RUNS 15
#define VERIFY_RUNS 9
#define POPULATE_GROUP 65536u

int zkb_batch(zkb_report *r, int argc, char **argv)
{
    uint64_t txs = 1024, accounts = 1000000, runs = 3;
    int quick = 0, set_txs = 0, set_accounts = 0, set_runs = 0;
    const char *base = "/tmp";
    for (int i = 1; i < argc; i++) { /* argv[0] is the benchmark's name */
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--txs") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &txs, 1, PRV_BATCH_MAX_OPS / 2) != 0) {
                fprintf(stderr, "zkcar bench batch: --txs wants 1 .. %u\n", PRV_BATCH_MAX_OPS / 2);
                return 2;
            }
            set_txs = 1;
        } else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &accounts, 2, UINT64_C(1) << 24) != 0) {
                fprintf(stderr, "zkcar bench batch: --accounts wants 2 .. 2^24\n");
                return 2;
            }
            set_accounts = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &runs, 1, MAX_RUNS) != 0) {
                fprintf(stderr, "zkcar bench batch: --runs wants 1 .. %d\n", MAX_RUNS);
                return 2;
            }
            set_runs = 1;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else {
            fprintf(stderr, "usage: zkcar bench batch [--quick] [--txs N] [--accounts N] [--runs N] [--dir DIR]\n");
            return 2;
        }
    }
    if (quick) {
        if (!set_txs)
            txs = 64;
        if (!set_accounts)
            accounts = 100000;
        if (!set_runs)
            runs = 1;
    }
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/zkcar-bench-batch-XXXXXX", base) >= (int)sizeof dir || mkdtemp(dir) == NULL) {
        fprintf(stderr, "zkcar bench batch: cannot create a directory under %s: %s\n", base, strerror(errno));
        return 1;
    }
    zk_log_set_level(ZK_LOG_WARN);
    int rc = 1;
    ipc_writer *w = NULL;
    prv_batch_op *ops = NULL;
    uint32_t *nonces = NULL;
    uint8_t *proof = NULL;
    size_t proof_len = 0;
    prv_batch_job job;
    memset(&job, 0, sizeof job);
    zk_error_detail e = { 0 };
    uint32_t cap = 1;
    while (cap < accounts + 2)
        cap <<= 1;
    ipc_writer_options o = { .capacity = cap, .max_group_ops = POPULATE_GROUP, .snapshot_every = UINT64_MAX,
                             .threads = 2 };
    if (ipc_writer_open(&w, dir, &o, &e) != ZK_OK) {
        fprintf(stderr, "zkcar bench batch: %s\n", e.text);
        goto cleanup;
    }
    uint8_t a[IPC_ADDRESS_SIZE];
    uint64_t t0 = zkb_now_ns();
    for (uint64_t k = 0; k < accounts; k++) {
        zkb_address_of(a, k);
        if (ipc_writer_stage(w, NULL, a, UINT64_C(1000000000000), 0) != ZK_OK)
            goto cleanup;
        if (ipc_writer_staged(w) == POPULATE_GROUP || k + 1 == accounts)
            if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
                goto cleanup;
    }
    double populate_s = (double)(zkb_now_ns() - t0) / 1e9;

    /* txs random transfers between existing accounts (the operator is new). */
    ops = calloc(txs, sizeof *ops);
    nonces = calloc(accounts, sizeof *nonces);
    if (!ops || !nonces)
        goto cleanup;
    prv_batch_public pub;
    zkb_transfer_batch(&pub, ops, nonces, txs, accounts, 0x9e3779b97f4a7c15ULL);
    t0 = zkb_now_ns();
    if (ipc_batch_build(w, &pub, &job, &e) != ZK_OK) {
        fprintf(stderr, "zkcar bench batch: building the job: %s\n", e.text);
        goto cleanup;
    }
    double build_s = (double)(zkb_now_ns() - t0) / 1e9;
    ipc_writer_discard(w);

    double prove_s[MAX_RUNS], prove_cpu[MAX_RUNS], verify_ms[VERIFY_RUNS];
    for (uint64_t k = 0; k < runs; k++) {
        free(proof);
        proof = NULL;
        double c0 = zkb_process_cpu_s();
        t0 = zkb_now_ns();
        if (prv_batch_prove(&job, NULL, &proof, &proof_len, &e) != ZK_OK) {
            fprintf(stderr, "zkcar bench batch: prove: %s\n", e.text);
            goto cleanup;
        }
        prove_s[k] = (double)(zkb_now_ns() - t0) / 1e9;
        prove_cpu[k] = zkb_process_cpu_s() - c0;
    }
    double verify_cpu[VERIFY_RUNS];
    for (int k = 0; k < VERIFY_RUNS; k++) {
        double c0 = zkb_process_cpu_s();
        t0 = zkb_now_ns();
        if (prv_batch_verify(&job.pub, proof, proof_len, &e) != ZK_OK) {
            fprintf(stderr, "zkcar bench batch: verify: %s\n", e.text);
            goto cleanup;
        }
        verify_ms[k] = (double)(zkb_now_ns() - t0) / 1e6;
        verify_cpu[k] = (zkb_process_cpu_s() - c0) * 1e3;
    }
    double ps = zkb_median(prove_s, (int)runs);
    unsigned log_n = prv_batch_air_log_n(job.nupdates);
    zkb_report_num(r, "txs", (double)txs);
    zkb_report_num(r, "accounts", (double)accounts);
    zkb_report_num(r, "leaf_updates", job.nupdates);
    zkb_report_num(r, "threads", prv_parallel_threads());
    zkb_report_num(r, "transfers_proven_per_s", (double)txs / ps);
    zkb_report_num(r, "prove_s", ps);
    zkb_report_num(r, "prove_cpu_s", zkb_median(prove_cpu, (int)runs));
    zkb_report_num(r, "verify_ms", zkb_median(verify_ms, VERIFY_RUNS));
    zkb_report_num(r, "verify_cpu_ms", zkb_median(verify_cpu, VERIFY_RUNS));
    zkb_report_num(r, "proof_bytes", (double)proof_len);
    zkb_report_num(r, "peak_rss_mb", zkb_peak_rss_mb());
    zkb_report_num(r, "provable_security_bits", prv_batch_security_bits(&job.pub, NULL));
    zkb_report_num(r, "trace_rows", (double)((uint64_t)1 << log_n));
    zkb_report_num(r, "trace_cols", PRV_BATCH_NCOLS);
    zkb_report_num(r, "build_job_s", build_s);
    zkb_report_num(r, "populate_s", populate_s);
    rc = 0;
cleanup:
    if (rc != 0 && e.text[0] == '\0')
        fprintf(stderr, "zkcar bench batch: failed (%s)\n", strerror(errno));
    prv_batch_job_free(&job);
    free(proof);
    free(ops);
    free(nonces);
    ipc_writer_close(w);
    zkb_remove_state_dir(dir);
    return rc;
}
