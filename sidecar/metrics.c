/*
 * sidecar/metrics.c — the Prometheus registry, its text exposition (format
 * 0.0.4) and the /metrics server. See metrics.h for the contract.
 *
 * Values live in relaxed 64-bit atomics (a double's bits for counters, gauges
 * and sums; integers for histogram buckets). Relaxed ordering is enough: each
 * value is independent, a scrape is a snapshot at no particular instant, and
 * Prometheus tolerates a `_count` that trails a bucket by an observation. To
 * keep a histogram self-consistent anyway, buckets are stored per bucket and
 * made cumulative at render time, and `_count` is the sum the render saw
 * (so `le="+Inf"` always equals `_count`).
 *
 * The registry's lists only grow (series are never removed before
 * zk_metrics_destroy), which is why a series pointer stays valid and updates
 * need no lock; registration and rendering take the registry mutex.
 */
#include "sidecar/metrics.h"

#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sidecar/http.h"

#define METRICS_NAME_MAX 128          /* metric family name, bytes */
#define METRICS_HELP_MAX 1024         /* help text, bytes */
#define METRICS_LABEL_VALUE_MAX 256   /* one label value, bytes */
#define METRICS_COLLECTORS_MAX 32     /* scrape-time collectors */
#define METRICS_RENDER_MAX (16u << 20) /* the exposition text, bytes */
#define METRICS_NUM_MAX 32            /* a formatted number */

typedef struct family {
    char *name;
    char *help;
    zk_metric_type type;
    size_t nbounds;
    double *bounds;
    char (*le)[METRICS_NUM_MAX]; /* bounds[i] formatted once */
    zk_metric *first, *last;
    struct family *next;
} family;

struct zk_metric {
    family *fam;
    char *labels;                /* rendered k="v",k2="v2" (escaped); "" when none */
    _Atomic uint64_t value;      /* double bits: counter, gauge */
    _Atomic uint64_t sum;        /* double bits: histogram */
    _Atomic uint64_t *buckets;   /* histogram: nbounds + 1 (the last is above every bound) */
    zk_metric *next;
};

struct zk_metrics {
    pthread_mutex_t mu;          /* families, series lists, collectors */
    pthread_mutex_t render_mu;   /* one render (collectors + text) at a time */
    family *first, *last;
    size_t ncollectors;
    struct {
        zk_metrics_collect_fn fn;
        void *ctx;
    } collectors[METRICS_COLLECTORS_MAX];
};

/* ---- numbers ------------------------------------------------------------------ */

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, dbits(bitsd(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* Whole numbers in full; otherwise the shortest text that reads back as `v`
 * (as Go's strconv gives Prometheus); the format's spellings for infinities
 * and NaN. */
static void format_double(char out[METRICS_NUM_MAX], double v)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
        return;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
        return;
    }
    /* Whole numbers (counts, block numbers, bytes) read best in full. */
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, METRICS_NUM_MAX, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, METRICS_NUM_MAX, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* ---- names and labels ---------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* SPEC §5 and the naming guide: zkcar_ prefix, [a-zA-Z0-9_:], counters end
 * in _total, nothing else does, and a histogram's own name does not end in
 * the suffixes of its derived series. */
static bool name_ok(const char *name, zk_metric_type type)
{
    size_t n = strnlen(name, METRICS_NAME_MAX + 1);
    if (n > METRICS_NAME_MAX || n <= 6 || strncmp(name, "zkcar_", 6) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == ':'))
            return false;
    }
    bool total = ends_with(name, "_total");
    if (type == ZK_METRIC_COUNTER)
        return total;
    if (total)
        return false;
    if (type == ZK_METRIC_HISTOGRAM &&
        (ends_with(name, "_bucket") || ends_with(name, "_count") || ends_with(name, "_sum")))
        return false;
    return type == ZK_METRIC_GAUGE || type == ZK_METRIC_HISTOGRAM;
}

static bool label_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 || (n >= 2 && s[0] == '_' && s[1] == '_'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* A growing text buffer with a hard cap. */
typedef struct textbuf {
    char *p;
    size_t len, cap, max;
    bool failed;
} textbuf;

static void tb_put(textbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t want = b->cap ? b->cap : 4096;
        while (want < b->len + n + 1)
            want *= 2;
        if (want > b->max) {
            if (b->len + n + 1 > b->max) {
                b->failed = true;
                return;
            }
            want = b->max;
        }
        char *q = realloc(b->p, want);
        if (q == NULL) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = want;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void tb_str(textbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

static void tb_u64(textbuf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    tb_put(b, tmp, (size_t)n);
}

static void tb_double(textbuf *b, double v)
{
    char tmp[METRICS_NUM_MAX];
    format_double(tmp, v);
    tb_str(b, tmp);
}

/* Escapes a label value (backslash, double quote, newline) or help text
 * (backslash, newline). */
static void tb_escaped(textbuf *b, const char *s, size_t n, bool quote)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            tb_put(b, "\\\\", 2);
        else if (s[i] == '\n')
            tb_put(b, "\\n", 2);
        else if (quote && s[i] == '"')
            tb_put(b, "\\\"", 2);
        else
            tb_put(b, &s[i], 1);
    }
}

/* "k1=v1,k2=v2" → `k1="v1",k2="v2"` (malloc'd), or NULL when malformed:
 * a bad or repeated label name, `le` on a histogram, more than
 * ZK_METRICS_MAX_LABELS pairs, a value over METRICS_LABEL_VALUE_MAX. */
static char *render_labels(const char *labels, zk_metric_type type)
{
    textbuf b = { .max = (METRICS_LABEL_VALUE_MAX * 2 + 80) * ZK_METRICS_MAX_LABELS };
    const char *names[ZK_METRICS_MAX_LABELS];
    size_t namelens[ZK_METRICS_MAX_LABELS];
    size_t npairs = 0;
    tb_put(&b, "", 0);
    if (labels == NULL || labels[0] == '\0')
        return b.failed ? NULL : b.p;
    const char *s = labels;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t plen = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', plen);
        if (eq == NULL || npairs == ZK_METRICS_MAX_LABELS)
            goto fail;
        size_t nlen = (size_t)(eq - s), vlen = plen - nlen - 1;
        if (!label_name_ok(s, nlen) || vlen > METRICS_LABEL_VALUE_MAX)
            goto fail;
        if (type == ZK_METRIC_HISTOGRAM && nlen == 2 && memcmp(s, "le", 2) == 0)
            goto fail;
        for (size_t i = 0; i < npairs; i++)
            if (namelens[i] == nlen && memcmp(names[i], s, nlen) == 0)
                goto fail;
        names[npairs] = s;
        namelens[npairs] = nlen;
        if (npairs++ > 0)
            tb_put(&b, ",", 1);
        tb_put(&b, s, nlen);
        tb_put(&b, "=\"", 2);
        tb_escaped(&b, eq + 1, vlen, true);
        tb_put(&b, "\"", 1);
        if (end == NULL)
            break;
        s = end + 1;
    }
    if (b.failed)
        goto fail;
    return b.p;
fail:
    free(b.p);
    return NULL;
}

/* ---- registry ------------------------------------------------------------------- */

zk_err zk_metrics_create(zk_metrics **out)
{
    zk_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return ZK_ERR_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->render_mu, NULL);
    *out = m;
    return ZK_OK;
}

static void series_free(zk_metric *s)
{
    free(s->labels);
    free(s->buckets);
    free(s);
}

void zk_metrics_destroy(zk_metrics *m)
{
    if (m == NULL)
        return;
    family *f = m->first;
    while (f != NULL) {
        family *fn = f->next;
        zk_metric *s = f->first;
        while (s != NULL) {
            zk_metric *sn = s->next;
            series_free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f->bounds);
        free(f->le);
        free(f);
        f = fn;
    }
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->render_mu);
    free(m);
}

static family *family_new(const char *name, const char *help, zk_metric_type type, const double *bounds,
                          size_t nbounds)
{
    family *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strndup(help ? help : "", METRICS_HELP_MAX);
    if (f->name == NULL || f->help == NULL)
        goto fail;
    if (type == ZK_METRIC_HISTOGRAM) {
        f->nbounds = nbounds;
        f->bounds = malloc(nbounds * sizeof *f->bounds);
        f->le = malloc(nbounds * sizeof *f->le);
        if (f->bounds == NULL || f->le == NULL)
            goto fail;
        for (size_t i = 0; i < nbounds; i++) {
            f->bounds[i] = bounds[i];
            format_double(f->le[i], bounds[i]);
        }
    }
    return f;
fail:
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f->le);
    free(f);
    return NULL;
}

static bool bounds_ok(const double *bounds, size_t nbounds)
{
    if (bounds == NULL || nbounds == 0 || nbounds > ZK_METRICS_MAX_BUCKETS)
        return false;
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return false;
    }
    return true;
}

zk_metric *zk_metrics_series(zk_metrics *m, const char *name, const char *help, zk_metric_type type,
                             const char *labels, const double *bounds, size_t nbounds)
{
    if (m == NULL || name == NULL || !name_ok(name, type))
        return NULL;
    if (type == ZK_METRIC_HISTOGRAM && !bounds_ok(bounds, nbounds))
        return NULL;
    char *rendered = render_labels(labels, type);
    if (rendered == NULL)
        return NULL;

    zk_metric *result = NULL;
    pthread_mutex_lock(&m->mu);
    family *f = m->first;
    while (f != NULL && strcmp(f->name, name) != 0)
        f = f->next;
    if (f != NULL) {
        if (f->type != type)
            goto cleanup;
        if (type == ZK_METRIC_HISTOGRAM &&
            (f->nbounds != nbounds || memcmp(f->bounds, bounds, nbounds * sizeof *bounds) != 0))
            goto cleanup;
        for (zk_metric *s = f->first; s != NULL; s = s->next) {
            if (strcmp(s->labels, rendered) == 0) {
                result = s;
                goto cleanup;
            }
        }
    } else {
        f = family_new(name, help, type, bounds, nbounds);
        if (f == NULL)
            goto cleanup;
        if (m->last)
            m->last->next = f;
        else
            m->first = f;
        m->last = f;
    }
    zk_metric *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto cleanup;
    s->fam = f;
    if (type == ZK_METRIC_HISTOGRAM) {
        s->buckets = calloc(f->nbounds + 1, sizeof *s->buckets);
        if (s->buckets == NULL) {
            free(s);
            goto cleanup;
        }
    }
    s->labels = rendered;
    rendered = NULL;
    atomic_init(&s->value, dbits(0.0));
    atomic_init(&s->sum, dbits(0.0));
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    result = s;
cleanup:
    pthread_mutex_unlock(&m->mu);
    free(rendered);
    return result;
}

void zk_metric_inc(zk_metric *s)
{
    zk_metric_add(s, 1.0);
}

void zk_metric_add(zk_metric *s, double v)
{
    if (s == NULL || s->fam->type == ZK_METRIC_HISTOGRAM)
        return;
    /* A counter only goes up: a negative or NaN increment is a caller's bug
     * that must not make the series go backwards (Prometheus reads that as
     * a restart). */
    if (s->fam->type == ZK_METRIC_COUNTER && !(v >= 0))
        return;
    atomic_add_double(&s->value, v);
}

void zk_metric_set(zk_metric *s, double v)
{
    if (s == NULL || s->fam->type != ZK_METRIC_GAUGE)
        return;
    atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

/* Index of the first bound >= v (inclusive `le`), or nbounds when v is
 * above them all (or NaN). */
static size_t bucket_index(const double *bounds, size_t n, double v)
{
    size_t lo = 0, hi = n;
    if (isnan(v))
        return n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void zk_metric_observe(zk_metric *s, double v)
{
    if (s == NULL || s->fam->type != ZK_METRIC_HISTOGRAM)
        return;
    size_t i = bucket_index(s->fam->bounds, s->fam->nbounds, v);
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->sum, v);
}

zk_err zk_metrics_add_collector(zk_metrics *m, zk_metrics_collect_fn fn, void *ctx)
{
    if (m == NULL || fn == NULL)
        return ZK_ERR_INTERNAL;
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&m->mu);
    if (m->ncollectors == METRICS_COLLECTORS_MAX) {
        rc = ZK_ERR_TOO_BIG;
    } else {
        m->collectors[m->ncollectors].fn = fn;
        m->collectors[m->ncollectors].ctx = ctx;
        m->ncollectors++;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void zk_metrics_emit_histogram(zk_metrics *m, const char *name, const char *help, const char *labels,
                               const double *bounds, const uint64_t *cumulative, size_t nbounds,
                               uint64_t count, double sum)
{
    zk_metric *s = zk_metrics_series(m, name, help, ZK_METRIC_HISTOGRAM, labels, bounds, nbounds);
    if (s == NULL || cumulative == NULL)
        return;
    /* Stored per bucket; a source whose cumulative counts go down (a racy
     * read of a BPF map) is clamped so the rendered series stays monotone. */
    uint64_t prev = 0;
    for (size_t i = 0; i < nbounds; i++) {
        uint64_t c = cumulative[i] < prev ? prev : cumulative[i];
        atomic_store_explicit(&s->buckets[i], c - prev, memory_order_relaxed);
        prev = c;
    }
    atomic_store_explicit(&s->buckets[nbounds], count < prev ? 0 : count - prev, memory_order_relaxed);
    atomic_store_explicit(&s->sum, dbits(sum), memory_order_relaxed);
}

/* ---- exposition ------------------------------------------------------------------ */

static const char *type_name(zk_metric_type t)
{
    switch (t) {
    case ZK_METRIC_COUNTER:
        return "counter";
    case ZK_METRIC_GAUGE:
        return "gauge";
    case ZK_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static void render_sample_name(textbuf *b, const char *name, const char *suffix, const char *labels,
                               const char *le)
{
    tb_str(b, name);
    tb_str(b, suffix);
    if (labels[0] != '\0' || le != NULL) {
        tb_put(b, "{", 1);
        tb_str(b, labels);
        if (le != NULL) {
            if (labels[0] != '\0')
                tb_put(b, ",", 1);
            tb_str(b, "le=\"");
            tb_str(b, le);
            tb_put(b, "\"", 1);
        }
        tb_put(b, "}", 1);
    }
    tb_put(b, " ", 1);
}

static void render_family(textbuf *b, const family *f)
{
    if (f->first == NULL)
        return;
    tb_str(b, "# HELP ");
    tb_str(b, f->name);
    tb_put(b, " ", 1);
    tb_escaped(b, f->help, strlen(f->help), false);
    tb_str(b, "\n# TYPE ");
    tb_str(b, f->name);
    tb_put(b, " ", 1);
    tb_str(b, type_name(f->type));
    tb_put(b, "\n", 1);
    for (const zk_metric *s = f->first; s != NULL; s = s->next) {
        if (f->type != ZK_METRIC_HISTOGRAM) {
            render_sample_name(b, f->name, "", s->labels, NULL);
            tb_double(b, bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)));
            tb_put(b, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= f->nbounds; i++) {
            cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            render_sample_name(b, f->name, "_bucket", s->labels, i < f->nbounds ? f->le[i] : "+Inf");
            tb_u64(b, cum);
            tb_put(b, "\n", 1);
        }
        render_sample_name(b, f->name, "_sum", s->labels, NULL);
        tb_double(b, bitsd(atomic_load_explicit(&s->sum, memory_order_relaxed)));
        tb_put(b, "\n", 1);
        render_sample_name(b, f->name, "_count", s->labels, NULL);
        tb_u64(b, cum);
        tb_put(b, "\n", 1);
    }
}

zk_err zk_metrics_render(zk_metrics *m, char **out, size_t *len)
{
    textbuf b = { .max = METRICS_RENDER_MAX };
    pthread_mutex_lock(&m->render_mu);
    /* Collectors run without the registry lock: they register series. The
     * list only grows, so reading the count under the lock is enough. */
    pthread_mutex_lock(&m->mu);
    size_t ncoll = m->ncollectors;
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < ncoll; i++)
        m->collectors[i].fn(m->collectors[i].ctx, m);
    pthread_mutex_lock(&m->mu);
    tb_put(&b, "", 0);
    for (const family *f = m->first; f != NULL; f = f->next)
        render_family(&b, f);
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_unlock(&m->render_mu);
    if (b.failed) {
        free(b.p);
        return b.len + 1 > METRICS_RENDER_MAX ? ZK_ERR_TOO_BIG : ZK_ERR_NOMEM;
    }
    *out = b.p;
    *len = b.len;
    return ZK_OK;
}

size_t zk_metrics_log2_bounds(double *out, size_t cap)
{
    size_t n = 0;
    for (int k = 0; k <= 30 && n < cap; k++)
        out[n++] = ldexp(1e-6, k);
    return n;
}

/* ---- the /metrics server ------------------------------------------------------------ */

struct zk_metrics_server {
    struct MHD_Daemon *daemon;
    zk_metrics *m;
    uint16_t port;
};

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version, const char *upload_data,
                                       size_t *upload_data_size, void **req_cls)
{
    zk_metrics_server *srv = cls;
    /* First call: headers only. A body (nobody sends one to /metrics) is
     * read and dropped, so the reply can be read by the client. */
    if (*req_cls == NULL) {
        *req_cls = srv;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return queue_text(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return queue_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    char *text = NULL;
    size_t len = 0;
    if (zk_metrics_render(srv->m, &text, &len) != ZK_OK)
        return queue_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the metrics\n");
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

zk_err zk_metrics_server_start(zk_metrics_server **out, zk_metrics *m, const char *listen,
                               zk_error_detail *err)
{
    int fd = -1;
    zk_err rc;
    zk_metrics_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "metrics server");
    rc = sc_http_listen(&fd, &s->port, listen, err);
    if (rc != ZK_OK)
        goto cleanup;
    s->m = m;
    /* One polling thread: scrapes come every few seconds from one or two
     * Prometheus servers. */
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                                 metrics_handler, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (s->daemon == NULL) {
        rc = zk_error_set(err, ZK_ERR_IO, "metrics server on %s: libmicrohttpd did not start", listen);
        goto cleanup;
    }
    fd = -1; /* the daemon owns it now */
    *out = s;
    return ZK_OK;
cleanup:
    if (fd >= 0)
        close(fd);
    free(s);
    return rc;
}

void zk_metrics_server_stop(zk_metrics_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}

uint16_t zk_metrics_server_port(const zk_metrics_server *s)
{
    return s->port;
}
