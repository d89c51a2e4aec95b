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
