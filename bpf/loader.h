/*
 * bpf/loader.h — stage latency measurement for one process: the eBPF
 * backend (bpf/stages.bpf.c attached to this process's USDT probes) or the
 * in-process timers (bpf/probes.h), and the Prometheus collector for both.
 *
 * `zkcar run --bpf MODE` and `zkcar worker --bpf MODE` call, once:
 *
 *     zkbpf_mode mode;
 *     if (zkbpf_mode_parse(&mode, arg, strlen(arg)) != ZK_OK) -> exit 2
 *     zkbpf *lat;
 *     if (zkbpf_start(&lat, mode, 0, &err) != ZK_OK) -> exit 1 (only with on)
 *     zkbpf_metrics_register(lat, metrics);   (the process that serves /metrics)
 *     ... run ...
 *     zkbpf_stop(lat);
 *
 * Modes (SPEC §1 `--bpf`):
 *   off   never load eBPF; the in-process timers feed the metrics.
 *   auto  load and attach when the process may (root, or the capabilities
 *         below); otherwise the in-process timers, with one log line saying
 *         why.
 *   on    load and attach, or fail with ZK_ERR_UNSUPPORTED and a detail that
 *         says what the kernel refused and which capabilities are needed.
 *
 * Capabilities. Loading needs CAP_BPF (create maps, load the programs) and
 * CAP_PERFMON (tracing program type, bpf_probe_read_kernel). Attaching
 * creates uprobe perf events, which needs CAP_SYS_ADMIN on current kernels:
 * CAP_PERFMON sufficed from 5.8 until a 2025 fix put perf_uprobe_event_init
 * back behind CAP_SYS_ADMIN (backported to stable; this machine's 6.18
 * answers EACCES without it — tests/bpf checks the set as a non-root user).
 * Kernels before 5.8 need CAP_SYS_ADMIN for everything. Root is not needed.
 * Once attached the process needs none of them: the links
 * stay, and the histograms are read from memory-mapped BPF memory. So after
 * attaching, zkbpf_start removes CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN from
 * the effective, permitted and inheritable sets (and from the bounding set
 * when the process holds CAP_SETPCAP, so that a program it executes cannot
 * get them back), unless ZKBPF_KEEP_CAPS is given. Linux capabilities
 * belong to threads: the calling thread loses them, and so does every thread
 * it creates afterwards, but not threads that already run — so call
 * zkbpf_start before starting any thread (it logs a warning otherwise).
 * docs/observability.md shows a systemd unit that grants just these.
 *
 * Thread-safety: one zkbpf per process at a time (the probes and the timers
 * are process-wide); zkbpf_start, zkbpf_attach, zkbpf_detach and zkbpf_stop
 * from one thread; zkbpf_read and the collector from any thread.
 */
#ifndef ZKCAR_BPF_LOADER_H
#define ZKCAR_BPF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/stages.h"
#include "common/error.h"
#include "sidecar/metrics.h"

typedef enum zkbpf_mode {
    ZKBPF_MODE_OFF = 0,
    ZKBPF_MODE_AUTO = 1,
    ZKBPF_MODE_ON = 2,
} zkbpf_mode;

typedef enum zkbpf_backend {
    ZKBPF_BACKEND_USERSPACE = 1, /* the in-process timers */
    ZKBPF_BACKEND_BPF = 2,       /* the BPF program on the USDT probes */
} zkbpf_backend;

/* Parses "on", "off" or "auto" (exactly, `len` bytes, no NUL needed).
 * ZK_OK, or ZK_ERR_USAGE for anything else (then *out is untouched). */
zk_err zkbpf_mode_parse(zkbpf_mode *out, const char *s, size_t len) ZK_MUST_CHECK;

/* "off", "auto", "on"; "userspace", "bpf". Static strings; "?" when out of range. */
const char *zkbpf_mode_name(zkbpf_mode mode);
const char *zkbpf_backend_name(zkbpf_backend backend);

/* Whether this build has the BPF object (clang and bpftool were found). */
bool zkbpf_built_with_bpf(void);

typedef struct zkbpf zkbpf;

/* zkbpf_start flags. */
#define ZKBPF_KEEP_CAPS 1u    /* keep the capabilities (to attach again: benchmarks, tests) */

/* Starts measuring the stages of this process per `mode` (above) and
 * zeroes the in-process histograms. On ZK_OK *out is the handle (free it
 * with zkbpf_stop). Errors: ZK_ERR_UNSUPPORTED (mode on and the eBPF
 * backend cannot load or attach; the detail says why), ZK_ERR_USAGE (a
 * zkbpf is already started in this process), ZK_ERR_NOMEM. `err` may be
 * NULL. Not thread-safe (see above). */
zk_err zkbpf_start(zkbpf **out, zkbpf_mode mode, unsigned flags, zk_error_detail *err) ZK_MUST_CHECK;

/* Which backend measures; never changes for a handle. */
zkbpf_backend zkbpf_backend_of(const zkbpf *b);

/* Why `auto` fell back to the in-process timers ("" for on, off and a
 * successful auto). Valid until zkbpf_stop. */
const char *zkbpf_fallback_reason(const zkbpf *b);

/* Benchmarks: detach the BPF program from the probes (the semaphores drop to
 * 0, the sites cost a not-taken branch again) and attach it again; the
 * histograms keep their counts. Only for the BPF backend started with
 * ZKBPF_KEEP_CAPS: otherwise ZK_ERR_USAGE. zkbpf_attach: ZK_ERR_UNSUPPORTED
 * when the kernel refuses. */
zk_err zkbpf_detach(zkbpf *b, zk_error_detail *err) ZK_MUST_CHECK;
zk_err zkbpf_attach(zkbpf *b, zk_error_detail *err) ZK_MUST_CHECK;

/* Copies the histogram of `stage` (< ZKBPF_NSTAGES) from whichever backend
 * measures: bucket counts (non-cumulative; ZKBPF_NBUCKETS of them, the last
 * one above the largest bound), count and sum in nanoseconds. count is
 * derived from the buckets, so a copy taken while a stage ends is still
 * consistent with itself. Thread-safe, no system call. */
void zkbpf_read(const zkbpf *b, unsigned stage, struct zkbpf_hist *out);

/* Registers, in `m`: the gauge zkcar_latency_backend_info{backend="bpf"|
 * "userspace"} = 1, and a collector that fills the histograms
 * zkcar_prover_stage_seconds{stage="lde"|"commit"|"quotient"|"fri"|
 * "prove_batch"|"tree_update"} from zkbpf_read at each scrape, with the
 * bounds of zk_metrics_log2_bounds. `b` must outlive `m`'s last render.
 * ZK_OK, ZK_ERR_NOMEM, or the registry's error (ZK_ERR_TOO_BIG: too many
 * collectors). Call before the metrics server starts. */
zk_err zkbpf_metrics_register(zkbpf *b, zk_metrics *m) ZK_MUST_CHECK;

/* Turns a histogram into what zk_metrics_emit_histogram takes: cumulative
 * counts for the ZKBPF_NBOUNDS finite bounds, the total count and the sum in
 * seconds. Pure; for the collector and its tests. */
void zkbpf_hist_cumulative(const struct zkbpf_hist *h, uint64_t cumulative[ZKBPF_NBOUNDS], uint64_t *count,
                           double *sum_seconds);

/* Stops measuring: detaches and unloads the BPF program or turns the
 * in-process timers off, and frees `b`. NULL is a no-op. */
void zkbpf_stop(zkbpf *b);

#endif
