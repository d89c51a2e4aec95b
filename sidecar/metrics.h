/*
 * sidecar/metrics.h — a small Prometheus registry and its text exposition.
 *
 * Families are registered once at start-up (name, help, type, label names)
 * and updated lock-free afterwards (relaxed atomics). Exposition follows the
 * Prometheus text format 0.0.4 and the naming guide (SPEC §5): every name
 * starts with "zkcar_", counters end in "_total", units are seconds and
 * bytes. Histograms have fixed, inclusive upper bounds (the `le` label) plus
 * +Inf, a sum and a count.
 *
 * Collectors: a family may instead be filled at scrape time by a callback
 * (the eBPF histograms in BPF maps, the node's gauges); the callback writes
 * the values through the zk_metrics_emit_* functions.
 *
 * Thread-safety: registration before serving; updates from any thread;
 * render from the HTTP thread.
 */
#ifndef ZKCAR_SIDECAR_METRICS_H
#define ZKCAR_SIDECAR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define ZK_METRICS_MAX_BUCKETS 64
#define ZK_METRICS_MAX_LABELS 4

typedef enum zk_metric_type {
    ZK_METRIC_COUNTER = 1,
    ZK_METRIC_GAUGE = 2,
    ZK_METRIC_HISTOGRAM = 3,
} zk_metric_type;

typedef struct zk_metrics zk_metrics;
typedef struct zk_metric zk_metric; /* one labelled series of a family */

zk_err zk_metrics_create(zk_metrics **out) ZK_MUST_CHECK;
void zk_metrics_destroy(zk_metrics *m);

/* A series (family name + label values). The family is created on first use
 * with `help` and `type`; `labels` is "k1=v1,k2=v2" or NULL. Histograms take
 * `bounds` (strictly increasing, inclusive upper bounds, without +Inf).
 * Returns NULL on a bad name or out of memory. The pointer stays valid until
 * zk_metrics_destroy. A bad name (SPEC §5, enforced so that mistakes fail
 * in tests rather than in Prometheus): no "zkcar_" prefix, characters other
 * than [a-zA-Z0-9_:], a counter not ending in "_total" or another type that
 * does, a histogram ending in _bucket/_count/_sum; bad labels: a name not
 * [a-zA-Z_][a-zA-Z0-9_]* or starting "__", a repeated name, more than
 * ZK_METRICS_MAX_LABELS, "le" on a histogram, a value over 256 bytes (values
 * cannot contain ','); bad bounds: not finite and strictly increasing, or
 * more than ZK_METRICS_MAX_BUCKETS. An existing family with another type or
 * other bounds also gives NULL. Thread-safe. */
zk_metric *zk_metrics_series(zk_metrics *m, const char *name, const char *help, zk_metric_type type,
                             const char *labels, const double *bounds, size_t nbounds);

void zk_metric_inc(zk_metric *s);                 /* counter += 1 */
void zk_metric_add(zk_metric *s, double v);       /* counter += v (v >= 0), gauge += v */
void zk_metric_set(zk_metric *s, double v);       /* gauge = v */
void zk_metric_observe(zk_metric *s, double v);   /* histogram */

/* Scrape-time collector: called by render in registration order. */
typedef void (*zk_metrics_collect_fn)(void *ctx, zk_metrics *m);
zk_err zk_metrics_add_collector(zk_metrics *m, zk_metrics_collect_fn fn, void *ctx) ZK_MUST_CHECK;

/* For collectors: a complete histogram series whose counts come from
 * elsewhere (cumulative[i] for bounds[i], count = the +Inf bucket). */
void zk_metrics_emit_histogram(zk_metrics *m, const char *name, const char *help, const char *labels,
                               const double *bounds, const uint64_t *cumulative, size_t nbounds,
                               uint64_t count, double sum);

/* Renders the exposition text into a malloc'd buffer. */
zk_err zk_metrics_render(zk_metrics *m, char **out, size_t *len) ZK_MUST_CHECK;

/* The log2 bucket bounds in seconds used for stage latencies:
 * 2^k microseconds for k = 0 .. 30 (1 µs .. ~18 min). */
size_t zk_metrics_log2_bounds(double *out, size_t cap);

/* A minimal HTTP server (libmicrohttpd) answering GET /metrics with the
 * rendered text (Content-Type: text/plain; version=0.0.4) and 404 elsewhere.
 * `listen` is HOST:PORT. */
typedef struct zk_metrics_server zk_metrics_server;
zk_err zk_metrics_server_start(zk_metrics_server **out, zk_metrics *m, const char *listen,
                               zk_error_detail *err) ZK_MUST_CHECK;
void zk_metrics_server_stop(zk_metrics_server *s);
/* The TCP port the server listens on (useful with port 0 in `listen`). */
uint16_t zk_metrics_server_port(const zk_metrics_server *s);

#endif
