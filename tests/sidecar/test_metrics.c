/*
 * tests/sidecar/test_metrics.c — the Prometheus registry and /metrics server.
 *
 * The exposition text is compared byte for byte with golden files in
 * tests/sidecar/golden/ (written by hand from the text format 0.0.4
 * description, https://prometheus.io/docs/instrumenting/exposition_formats/,
 * and checked with `promtool check metrics`); the live server's scrape is fed
 * to the real promtool, which must report nothing. Run with
 * ZKCAR_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "sidecar/metrics.h"
#include "tests/curl_body.h"
#include "tests/promtool_util.h"

/* ---- helpers ------------------------------------------------------------------- */

static char *render(zk_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(zk_metrics_render(m, &text, &len), ZK_OK);
    assert_true((text) != NULL);
    assert_int_equal(strlen(text), len);
    return text;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *q = realloc(buf, cap);
            assert_true((q) != NULL);
            buf = q;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void golden_path(char *out, size_t cap, const char *name)
{
    /* ctest sets ZKCAR_SOURCE_DIR; run by hand, the tree it was built from. */
    const char *src = getenv("ZKCAR_SOURCE_DIR");
    snprintf(out, cap, "%s/tests/sidecar/golden/%s", src ? src : ZKCAR_TEST_SOURCE_DIR, name);
}

static void check_golden(const char *name, const char *text)
{
    char path[1024];
    golden_path(path, sizeof path, name);
    const char *update = getenv("ZKCAR_UPDATE_GOLDEN");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "wb");
        assert_true((f) != NULL);
        fputs(text, f);
        fclose(f);
    }
    size_t len = 0;
    char *want = read_file(path, &len);
    if (want == NULL)
        fail_msg("golden file %s is missing", path);
    if (strcmp(want, text) != 0) {
        fprintf(stderr, "--- want (%s)\n%s--- got\n%s---\n", path, want, text);
        fail_msg("exposition differs from %s", name);
    }
    free(want);
}

typedef struct http_reply {
    long status;
    char content_type[128];
    char *body;
    size_t len;
} http_reply;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    http_reply *r = ud;
    return curl_body_append(&r->body, &r->len, 0, p, size * n) ? size * n : 0;
}

static void http_do(http_reply *r, const char *method, uint16_t port, const char *path)
{
    memset(r, 0, sizeof *r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    CURL *c = curl_easy_init();
    assert_true((c) != NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    if (r->body == NULL)
        r->body = calloc(1, 1);
}

/* A registry with one family of each kind, labels that need escaping and a
 * collector: the fixture of the golden file and of the promtool check. */
typedef struct collect_ctx {
    int calls;
} collect_ctx;

static void collect(void *ctx, zk_metrics *m)
{
    collect_ctx *cc = ctx;
    cc->calls++;
    static const double bounds[] = { 0.001, 0.002, 0.004 };
    static const uint64_t cum[] = { 1, 3, 3 };
    zk_metrics_emit_histogram(m, "zkcar_prover_stage_seconds", "Time spent in each prover stage.",
                              "stage=lde", bounds, cum, 3, 5, 0.0125);
    zk_metric *g = zk_metrics_series(m, "zkcar_accounts", "Accounts in the L2 state.", ZK_METRIC_GAUGE,
                                     NULL, NULL, 0);
    zk_metric_set(g, 3);
}

static zk_metrics *fixture(collect_ctx *cc)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    zk_metric *head = zk_metrics_series(m, "zkcar_l1_head_block", "The latest L1 block seen.",
                                        ZK_METRIC_GAUGE, NULL, NULL, 0);
    zk_metric *ok = zk_metrics_series(m, "zkcar_l2_transactions_total", "L2 transactions received, by outcome.",
                                      ZK_METRIC_COUNTER, "type=transfer,result=accepted", NULL, 0);
    zk_metric *bad = zk_metrics_series(m, "zkcar_l2_transactions_total", "L2 transactions received, by outcome.",
                                       ZK_METRIC_COUNTER, "type=withdraw,result=bad_signature", NULL, 0);
    zk_metric *odd = zk_metrics_series(m, "zkcar_test_labels_total", "Help with a backslash \\ and\na newline.",
                                       ZK_METRIC_COUNTER, "path=C:\\dir\"q\"\nx", NULL, 0);
    static const double bounds[] = { 0.5, 1, 2.5 };
    zk_metric *h = zk_metrics_series(m, "zkcar_batch_prove_seconds", "Time to prove one batch.",
                                     ZK_METRIC_HISTOGRAM, NULL, bounds, 3);
    assert_true((head) != NULL);
    assert_true((ok) != NULL);
    assert_true((bad) != NULL);
    assert_true((odd) != NULL);
    assert_true((h) != NULL);
    zk_metric_set(head, 123456);
    zk_metric_add(ok, 41);
    zk_metric_inc(ok);
    zk_metric_inc(bad);
    zk_metric_inc(odd);
    zk_metric_observe(h, 0.5);  /* exactly on a bound: counts in le="0.5" */
    zk_metric_observe(h, 0.75);
    zk_metric_observe(h, 1);
    zk_metric_observe(h, 3);    /* above every bound: only +Inf */
    if (cc != NULL)
        assert_int_equal(zk_metrics_add_collector(m, collect, cc), ZK_OK);
    return m;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_golden_exposition(void **state)
{
    collect_ctx cc = { 0 };
    zk_metrics *m = fixture(&cc);
    char *text = render(m);
    assert_int_equal(cc.calls, 1);
    check_golden("exposition.txt", text);
    free(text);
    zk_metrics_destroy(m);
}

static void test_empty_registry(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    char *text = render(m);
    assert_string_equal(text, "");
    free(text);
    zk_metrics_destroy(m);
    zk_metrics_destroy(NULL);
}

/* The count on the bucket line of zkcar_stage_seconds{stage="fri"} whose
 * bound reads back as `bound` (+Inf for INFINITY), or the _count for NaN. */
__attribute__((noinline)) static uint64_t bucket_value(const char *text, double bound)
{
    static const char key[] = "zkcar_stage_seconds_bucket{stage=\"fri\",le=\"";
    static const char count_key[] = "zkcar_stage_seconds_count{stage=\"fri\"} ";
    if (isnan(bound)) {
        const char *c = strstr(text, count_key);
        assert_true((c) != NULL);
        return strtoull(c + sizeof count_key - 1, NULL, 10);
    }
    for (const char *p = strstr(text, key); p != NULL; p = strstr(p, key)) {
        p += sizeof key - 1;
        const char *q = strchr(p, '"');
        assert_true((q) != NULL);
        char le[64];
        snprintf(le, sizeof le, "%.*s", (int)(q - p), p);
        bool match = isinf(bound) ? strcmp(le, "+Inf") == 0 : strtod(le, NULL) == bound;
        if (match)
            return strtoull(q + 3, NULL, 10);
    }
    fail_msg("no bucket line for bound %g", bound);
    return 0;
}

__attribute__((noinline)) static double sum_value(const char *text)
{
    static const char key[] = "zkcar_stage_seconds_sum{stage=\"fri\"} ";
    const char *c = strstr(text, key);
    assert_true((c) != NULL);
    return strtod(c + sizeof key - 1, NULL);
}

/* The `le` bound is inclusive: a value equal to a bound counts in it. Checked
 * against a straightforward count for every bound and values around it. */
static void test_bucket_arithmetic(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    double bounds[ZK_METRICS_MAX_BUCKETS];
    size_t nb = zk_metrics_log2_bounds(bounds, ZK_METRICS_MAX_BUCKETS);
    zk_metric *h = zk_metrics_series(m, "zkcar_stage_seconds", "x", ZK_METRIC_HISTOGRAM, "stage=fri", bounds, nb);
    assert_true((h) != NULL);
    double vals[3 * 31 + 3];
    size_t nv = 0;
    for (size_t i = 0; i < nb; i++) {
        vals[nv++] = bounds[i];
        vals[nv++] = nextafter(bounds[i], 0);
        vals[nv++] = nextafter(bounds[i], INFINITY);
    }
    vals[nv++] = 0;
    vals[nv++] = -1;
    vals[nv++] = 1e9;
    double sum = 0;
    for (size_t i = 0; i < nv; i++) {
        zk_metric_observe(h, vals[i]);
        sum += vals[i];
    }
    char *text = render(m);
    for (size_t i = 0; i <= nb; i++) {
        uint64_t want = 0;
        for (size_t j = 0; j < nv; j++)
            if (i == nb || vals[j] <= bounds[i])
                want++;
        assert_int_equal(bucket_value(text, i < nb ? bounds[i] : INFINITY), want);
    }
    assert_int_equal(bucket_value(text, NAN), nv); /* the _count line */
    assert_true(fabs(sum_value(text) - sum) < 1e-6);
    free(text);
    zk_metrics_destroy(m);
}

static void test_log2_bounds(void **state)
{
    double b[64];
    assert_int_equal(zk_metrics_log2_bounds(b, 64), 31);
    assert_true(b[0] == 1e-6);
    for (int k = 1; k < 31; k++)
        assert_true(b[k] == 2 * b[k - 1]);
    assert_true(fabs(b[30] - 1073.741824) < 1e-9);
    assert_int_equal(zk_metrics_log2_bounds(b, 5), 5);
}

/* Label values are escaped (backslash, quote, newline) and help text too
 * (backslash, newline); the exact bytes are in the golden file, and here the
 * escaping is checked on its own. */
static void test_label_escaping(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    zk_metric *s = zk_metrics_series(m, "zkcar_x", "a\\b\nc", ZK_METRIC_GAUGE, "a=\\,b=\",c=\n,d=", NULL, 0);
    assert_true((s) != NULL);
    zk_metric_set(s, -2.5);
    char *text = render(m);
    assert_string_equal(text, "# HELP zkcar_x a\\\\b\\nc\n# TYPE zkcar_x gauge\n"
                              "zkcar_x{a=\"\\\\\",b=\"\\\"\",c=\"\\n\",d=\"\"} -2.5\n");
    free(text);
    zk_metrics_destroy(m);
}

static void test_bad_registrations(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    static const double b[] = { 1, 2 };
    static const double b_flat[] = { 1, 1 };
    static const double b_down[] = { 2, 1 };
    static const double b_inf[] = { 1, INFINITY };
    /* names */
    assert_true((zk_metrics_series(m, "l1_head_block", "", ZK_METRIC_GAUGE, NULL, NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_", "", ZK_METRIC_GAUGE, NULL, NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_a-b", "", ZK_METRIC_GAUGE, NULL, NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_requests", "", ZK_METRIC_COUNTER, NULL, NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_requests_total", "", ZK_METRIC_GAUGE, NULL, NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x_bucket", "", ZK_METRIC_HISTOGRAM, NULL, b, 2)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x_total", "", ZK_METRIC_HISTOGRAM, NULL, b, 2)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x", "", (zk_metric_type)9, NULL, NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, NULL, "", ZK_METRIC_GAUGE, NULL, NULL, 0)) == NULL);
    /* labels */
    assert_true((zk_metrics_series(m, "zkcar_x", "", ZK_METRIC_GAUGE, "a", NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x", "", ZK_METRIC_GAUGE, "=v", NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x", "", ZK_METRIC_GAUGE, "1a=v", NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x", "", ZK_METRIC_GAUGE, "__a=v", NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x", "", ZK_METRIC_GAUGE, "a=1,a=2", NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x", "", ZK_METRIC_GAUGE, "a=1,", NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_x", "", ZK_METRIC_GAUGE, "a=1,b=2,c=3,d=4,e=5", NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_h", "", ZK_METRIC_HISTOGRAM, "le=1", b, 2)) == NULL);
    /* bounds */
    assert_true((zk_metrics_series(m, "zkcar_h", "", ZK_METRIC_HISTOGRAM, NULL, NULL, 0)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_h", "", ZK_METRIC_HISTOGRAM, NULL, b_flat, 2)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_h", "", ZK_METRIC_HISTOGRAM, NULL, b_down, 2)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_h", "", ZK_METRIC_HISTOGRAM, NULL, b_inf, 2)) == NULL);
    double many[ZK_METRICS_MAX_BUCKETS + 1];
    for (int i = 0; i <= ZK_METRICS_MAX_BUCKETS; i++)
        many[i] = i;
    assert_true((zk_metrics_series(m, "zkcar_h", "", ZK_METRIC_HISTOGRAM, NULL, many, ZK_METRICS_MAX_BUCKETS + 1)) == NULL);
    assert_true((zk_metrics_series(m, "zkcar_h", "", ZK_METRIC_HISTOGRAM, NULL, many, ZK_METRICS_MAX_BUCKETS)) != NULL);
    /* a family keeps its type and its bounds */
    zk_metric *g = zk_metrics_series(m, "zkcar_g", "", ZK_METRIC_GAUGE, "k=v", NULL, 0);
    assert_true((g) != NULL);
    assert_ptr_equal(zk_metrics_series(m, "zkcar_g", "", ZK_METRIC_GAUGE, "k=v", NULL, 0), g);
    assert_ptr_not_equal(zk_metrics_series(m, "zkcar_g", "", ZK_METRIC_GAUGE, "k=w", NULL, 0), g);
    assert_true((zk_metrics_series(m, "zkcar_g", "", ZK_METRIC_HISTOGRAM, NULL, b, 2)) == NULL);
    zk_metric *h = zk_metrics_series(m, "zkcar_h2", "", ZK_METRIC_HISTOGRAM, NULL, b, 2);
    assert_true((h) != NULL);
    assert_true((zk_metrics_series(m, "zkcar_h2", "", ZK_METRIC_HISTOGRAM, "k=v", b_down + 1, 1)) == NULL);
    /* an update of the wrong kind or a negative counter increment changes nothing */
    zk_metric *c = zk_metrics_series(m, "zkcar_c_total", "", ZK_METRIC_COUNTER, NULL, NULL, 0);
    zk_metric_set(c, 7);
    zk_metric_add(c, -1);
    zk_metric_add(c, NAN);
    zk_metric_observe(c, 1);
    zk_metric_add(h, 1);
    zk_metric_inc(NULL);
    zk_metric_set(NULL, 1);
    zk_metric_observe(NULL, 1);
    char *text = render(m);
    assert_true((strstr(text, "\nzkcar_c_total 0\n")) != NULL);
    assert_true((strstr(text, "\nzkcar_h2_count 0\n")) != NULL);
    free(text);
    zk_metrics_destroy(m);
}

/* A collector's histogram replaces the series each scrape, and counts that go
 * down between buckets are clamped so the exposition stays monotone. */
static void test_emit_histogram(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    static const double b[] = { 1, 2 };
    static const uint64_t c1[] = { 2, 5 };
    static const uint64_t bad[] = { 4, 3 };
    zk_metrics_emit_histogram(m, "zkcar_e_seconds", "h", "stage=fri", b, c1, 2, 6, 9.5);
    char *text = render(m);
    assert_string_equal(text, "# HELP zkcar_e_seconds h\n# TYPE zkcar_e_seconds histogram\n"
                              "zkcar_e_seconds_bucket{stage=\"fri\",le=\"1\"} 2\n"
                              "zkcar_e_seconds_bucket{stage=\"fri\",le=\"2\"} 5\n"
                              "zkcar_e_seconds_bucket{stage=\"fri\",le=\"+Inf\"} 6\n"
                              "zkcar_e_seconds_sum{stage=\"fri\"} 9.5\n"
                              "zkcar_e_seconds_count{stage=\"fri\"} 6\n");
    free(text);
    zk_metrics_emit_histogram(m, "zkcar_e_seconds", "h", "stage=fri", b, bad, 2, 2, 1);
    text = render(m);
    assert_true((strstr(text, "le=\"1\"} 4\n")) != NULL);
    assert_true((strstr(text, "le=\"2\"} 4\n")) != NULL);
    assert_true((strstr(text, "le=\"+Inf\"} 4\n")) != NULL);
    free(text);
    /* a bad name is ignored, not rendered */
    zk_metrics_emit_histogram(m, "bad name", "h", NULL, b, c1, 2, 6, 1);
    text = render(m);
    assert_true((strstr(text, "bad name")) == NULL);
    free(text);
    zk_metrics_destroy(m);
}

static void test_collector_cap(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    collect_ctx cc = { 0 };
    zk_err rc = ZK_OK;
    int n = 0;
    while ((rc = zk_metrics_add_collector(m, collect, &cc)) == ZK_OK && n < 1000)
        n++;
    assert_int_equal(rc, ZK_ERR_TOO_BIG);
    assert_true(n >= 8);
    char *text = render(m);
    assert_int_equal(cc.calls, n);
    free(text);
    assert_int_not_equal(zk_metrics_add_collector(m, NULL, NULL), ZK_OK);
    zk_metrics_destroy(m);
}

typedef struct hammer_arg {
    zk_metric *c, *h;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    for (int i = 0; i < 100000; i++) {
        zk_metric_inc(a->c);
        zk_metric_observe(a->h, (double)(i % 4));
    }
    return NULL;
}

/* Updates from several threads lose nothing. */
static void test_concurrent_updates(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    static const double b[] = { 0, 1, 2 };
    hammer_arg a = {
        zk_metrics_series(m, "zkcar_n_total", "", ZK_METRIC_COUNTER, NULL, NULL, 0),
        zk_metrics_series(m, "zkcar_v", "", ZK_METRIC_HISTOGRAM, NULL, b, 3),
    };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &a), 0);
    for (int i = 0; i < 4; i++) {
        char *text = render(m);   /* renders while updates run */
        free(text);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = render(m);
    assert_true((strstr(text, "\nzkcar_n_total 400000\n")) != NULL);
    assert_true((strstr(text, "zkcar_v_bucket{le=\"0\"} 100000\n")) != NULL);
    assert_true((strstr(text, "zkcar_v_bucket{le=\"1\"} 200000\n")) != NULL);
    assert_true((strstr(text, "zkcar_v_bucket{le=\"2\"} 300000\n")) != NULL);
    assert_true((strstr(text, "zkcar_v_bucket{le=\"+Inf\"} 400000\n")) != NULL);
    assert_true((strstr(text, "zkcar_v_sum 600000\n")) != NULL);
    free(text);
    zk_metrics_destroy(m);
}

/* A live scrape over HTTP: the content type, the body the registry renders,
 * promtool's verdict, and the answers to other paths and methods. */
static void test_server_promtool(void **state)
{
    collect_ctx cc = { 0 };
    zk_metrics *m = fixture(&cc);
    double bounds[ZK_METRICS_MAX_BUCKETS];
    size_t nb = zk_metrics_log2_bounds(bounds, ZK_METRICS_MAX_BUCKETS);
    static const char *stages[] = { "lde", "commit", "quotient", "fri", "prove_batch" };
    for (int i = 0; i < 5; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "stage=%s", stages[i]);
        zk_metric *s = zk_metrics_series(m, "zkcar_stage_latency_seconds", "Stage latency.",
                                         ZK_METRIC_HISTOGRAM, lab, bounds, nb);
        assert_true((s) != NULL);
        zk_metric_observe(s, 0.001 * (i + 1));
    }
    zk_metric *info = zk_metrics_series(m, "zkcar_latency_backend_info", "Which latency backend runs.",
                                        ZK_METRIC_GAUGE, "backend=userspace", NULL, 0);
    zk_metric_set(info, 1);
    zk_metrics_server *srv = NULL;
    zk_error_detail err = { 0 };
    assert_int_equal(zk_metrics_server_start(&srv, m, "127.0.0.1:0", &err), ZK_OK);
    uint16_t port = zk_metrics_server_port(srv);
    assert_true(port > 0);

    http_reply r;
    http_do(&r, "GET", port, "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    char *direct = render(m);
    assert_string_equal(r.body, direct);
    free(direct);
    char out[4096];
    int rc = promtool_check(r.body, out, sizeof out);
    if (rc == 127)
        fail_msg("promtool is not installed (scripts/setup.sh installs the Debian package prometheus)");
    if (rc != 0 || out[0] != '\0')
        fail_msg("promtool check metrics: exit %d: %s\n%s", rc, out, r.body);
    free(r.body);

    http_do(&r, "HEAD", port, "/metrics");
    assert_int_equal(r.status, 200);
    free(r.body);
    http_do(&r, "GET", port, "/");
    assert_int_equal(r.status, 404);
    free(r.body);
    http_do(&r, "POST", port, "/metrics");
    assert_int_equal(r.status, 405);
    free(r.body);

    /* the port is taken: a readable error, not a crash */
    zk_metrics_server *again = NULL;
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)port);
    assert_int_equal(zk_metrics_server_start(&again, m, listen, &err), ZK_ERR_IO);
    assert_true((strstr(err.text, "in use")) != NULL);
    zk_metrics_server_stop(srv);
    zk_metrics_destroy(m);
}

/* promtool itself must object to what it should (the check above is real). */
static void test_promtool_rejects(void **state)
{
    char out[4096];
    int rc = promtool_check("# TYPE zkcar_requests counter\nzkcar_requests 1\n", out, sizeof out);
    if (rc == 127)
        fail_msg("promtool is not installed");
    assert_true(rc != 0 || out[0] != '\0');
}

static void test_server_bad_listen(void **state)
{
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    static const char *bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:12a",
                                 ":9464", "[::1:9464", "no-such-host.invalid:9464", "127.0.0.1:-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zk_metrics_server *s = NULL;
        zk_error_detail err = { 0 };
        assert_int_equal(zk_metrics_server_start(&s, m, bad[i], &err), ZK_ERR_USAGE);
        assert_true(err.text[0] != '\0');
    }
    zk_metrics_server_stop(NULL);
    zk_metrics_destroy(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_exposition),
        cmocka_unit_test(test_empty_registry),
        cmocka_unit_test(test_bucket_arithmetic),
        cmocka_unit_test(test_log2_bounds),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_bad_registrations),
        cmocka_unit_test(test_emit_histogram),
        cmocka_unit_test(test_collector_cap),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_server_promtool),
        cmocka_unit_test(test_promtool_rejects),
        cmocka_unit_test(test_server_bad_listen),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
