/*
 * bench/bench.h — the benchmarks behind `zkcar bench NAME [--json]`.
 *
 * A benchmark is a function that measures and records named figures into a
 * report; the driver prints them as a table (with the machine they ran on) or,
 * with --json, as one JSON object on stdout. The figure keys are part of the
 * issues' acceptance: keep them stable.
 *
 * To add one: write `int zkb_NAME(zkb_report *r, int argc, char **argv)` in
 * bench/NAME.c and add a row to the table in bench/bench.c. argv holds the
 * flags after the name (e.g. --txs 1024), minus --json. Return 0 on success,
 * 2 for bad flags (after printing a one-line reason to stderr), 1 on failure.
 */
#ifndef ZKCAR_BENCH_BENCH_H
#define ZKCAR_BENCH_BENCH_H

#include <stdint.h>

typedef struct zkb_report zkb_report;

/* Records figure `key` (stable snake_case, units in the name: _ms, _per_s, _bytes). */
void zkb_report_num(zkb_report *r, const char *key, double value);
/* Records a string figure (e.g. the SIMD backend used). */
void zkb_report_str(zkb_report *r, const char *key, const char *value);

/* Monotonic clock in nanoseconds. */
uint64_t zkb_now_ns(void);
/* Median of n doubles (sorts `v` in place). */
double zkb_median(double *v, int n);
/* Peak resident set size of this process so far, MiB. */
double zkb_peak_rss_mb(void);

/* ---- helpers the benchmarks share (bench/util.c) ---- */

/* xorshift64: a fast, seeded, reproducible sequence (*s != 0). */
uint64_t zkb_rng(uint64_t *s);
/* The deterministic address of account number k. */
void zkb_address_of(uint8_t a[20], uint64_t k);
/* Parses a decimal flag value in lo..hi; -1 if it is not one. */
int zkb_parse_u64(const char *s, uint64_t *out, uint64_t lo, uint64_t hi);
/* CPU seconds of the whole process (every thread) so far. */
double zkb_process_cpu_s(void);
/* Removes a temporary state directory (its files, not subdirectories) and its
 * shared-memory region. */
void zkb_remove_state_dir(const char *dir);
/* Fills ops[0..txs) with random transfers among accounts 0..accounts-1
 * (nonces[] is each account's next nonce, advanced) and *pub with a batch
 * of them (chain 31337, operator 0xfe.., batch 1) for ipc_batch_build. */
struct prv_batch_public;
struct prv_batch_op;
void zkb_transfer_batch(struct prv_batch_public *pub, struct prv_batch_op *ops, uint32_t *nonces,
                        uint64_t txs, uint64_t accounts, uint64_t seed);

int zkb_main(int argc, char **argv);

/* The benchmarks, one per source file in bench/ (listed in bench/bench.c). */
int zkb_prover(zkb_report *r, int argc, char **argv);
int zkb_watcher(zkb_report *r, int argc, char **argv);
int zkb_sig(zkb_report *r, int argc, char **argv);
int zkb_state(zkb_report *r, int argc, char **argv);
int zkb_batch(zkb_report *r, int argc, char **argv);  /* bench/batch.c */
int zkb_bpf(zkb_report *r, int argc, char **argv);    /* bench/bpf.c */
int zkb_ingest(zkb_report *r, int argc, char **argv); /* bench/ingest.c */
int zkb_api(zkb_report *r, int argc, char **argv);    /* bench/ingest.c */
int zkb_e2e(zkb_report *r, int argc, char **argv);    /* bench/ingest.c */

#endif
