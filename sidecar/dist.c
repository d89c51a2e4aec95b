/*
 * sidecar/dist.c — the dispatcher of proving jobs to remote workers
 * (sidecar/dist.h has the contract, docs/sidecar.md "Remote workers" the
 * wire; the messages' codec is sidecar/dist_msg.c).
 */
#include "sidecar/dist.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <zmq.h>

#include "common/log.h"
#include "sidecar/curve.h"
#include "sidecar/metrics.h"

/* ------------------------------------------------------------- dispatcher */

#define ROUTING_ID_MAX 255       /* ZeroMQ routing ids are 1..255 bytes */
#define POLL_MS 50               /* the loop's longest wait: stop and new jobs are noticed this fast */
#define QUARANTINE_MIN_MS 1000
#define QUARANTINE_MAX_MS 60000
#define RECV_BUDGET 256          /* frames handled per loop turn before housekeeping */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01" /* ZeroMQ RFC 27: where libzmq asks */
#define ZAP_DOMAIN "zkcar-workers"
#define ZAP_PARTS_MAX 8          /* a CURVE request has 7 frames */
#define ZAP_FRAME_MAX 256        /* bytes kept of one request frame */
#define ALLOW_CHECK_MS 1000      /* the allow file's mtime is checked this often besides handshakes */
#define REFUSED_LOG_MS 1000      /* at most one refusal logged per this period (the rest are counted) */

typedef struct worker {
    bool used;
    uint8_t id[ROUTING_ID_MAX];
    size_t idlen;
    char name[SC_DIST_TEXT_MAX + 1];
    uint32_t capacity, inflight;
    int64_t last_rx, idle_since, last_ping, quarantine_until;
    uint32_t strikes;                     /* consecutive rejected proofs and failures */
} worker;

typedef struct attempt {
    uint64_t id, batch;
    size_t w;                             /* index into workers */
    int64_t sent_at, last_hb;
} attempt;

struct sc_dist {
    sc_dist_config cfg;
    sc_dist_source src;
    char *endpoint;                       /* as bound */
    void *zctx, *sock;
    pthread_t thread;
    bool started, joined;
    atomic_bool stop;
    worker *workers;                      /* cfg.max_workers slots */
    attempt *att;                         /* in flight; at most max_workers * SC_DIST_CAPACITY_MAX */
    size_t natt, att_cap;
    uint64_t next_attempt;
    pthread_mutex_t lock;                 /* guards stats, synced, metrics */
    sc_dist_stats stats;
    sc_dist_stats synced;                 /* what the metrics show */
    struct dist_metrics *metrics;         /* NULL until sc_dist_register_metrics */
    /* CURVE (all on the dispatcher's thread after create) */
    bool curve;
    char secret[SC_CURVE_Z85_LEN + 1];
    void *zap;                            /* ZAP handler (REP), with an allow file */
    void *mon;                            /* monitor of the ROUTER's handshakes (PAIR), with CURVE */
    char *allow_path;                     /* NULL: stonehouse */
    sc_curve_allow allow;
    bool allow_ok;                        /* the file loaded; false refuses every handshake */
    bool allow_stat_failed;               /* the last stat failed (logged once) */
    struct stat allow_st;                 /* what was loaded: dev, ino, size, mtime */
    int64_t allow_checked;
    int64_t refused_logged;               /* when a refusal was last logged */
    uint64_t refused_quiet;               /* refusals not logged since */
};

/* The dispatcher's series in a zk_metrics registry (which outlives them). */
typedef struct dist_metrics {
    zk_metric *workers, *in_flight, *sent, *accepted, *rejected, *failed, *stale, *reissued, *bad_frames,
        *lost, *refused_key, *refused_handshake;
} dist_metrics;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Brings the metrics up to the counters. Called with d->lock held after
 * every change, so the series move exactly as the counters do. */
static void metrics_sync_locked(sc_dist *d)
{
    dist_metrics *m = d->metrics;
    if (m == NULL)
        return;
    const sc_dist_stats *n = &d->stats;
    sc_dist_stats *o = &d->synced;
    zk_metric_set(m->workers, n->workers);
    zk_metric_set(m->in_flight, n->in_flight);
    zk_metric_add(m->sent, (double)(n->jobs_sent - o->jobs_sent));
    zk_metric_add(m->accepted, (double)(n->proofs_accepted - o->proofs_accepted));
    zk_metric_add(m->rejected, (double)(n->proofs_rejected - o->proofs_rejected));
    zk_metric_add(m->failed, (double)(n->jobs_failed - o->jobs_failed));
    zk_metric_add(m->stale, (double)(n->results_stale - o->results_stale));
    zk_metric_add(m->reissued, (double)(n->jobs_reissued - o->jobs_reissued));
    zk_metric_add(m->bad_frames, (double)(n->frames_bad - o->frames_bad));
    zk_metric_add(m->lost, (double)(n->workers_lost - o->workers_lost));
    zk_metric_add(m->refused_key, (double)(n->refused_key - o->refused_key));
    zk_metric_add(m->refused_handshake, (double)(n->refused_handshake - o->refused_handshake));
    *o = *n;
}

#define STAT_ADD(d, field, v) do { pthread_mutex_lock(&(d)->lock); (d)->stats.field += (v); \
                                   metrics_sync_locked(d); pthread_mutex_unlock(&(d)->lock); } while (0)

/* ------------------------------------------------------------- CURVE */

/* Logs a refused worker, at most once per REFUSED_LOG_MS (the others are
 * counted and the count goes with the next line). */
static void log_refused(sc_dist *d, const char *msg, const char *key, const char *address, const char *reason)
{
    int64_t now = now_ms();
    if (d->refused_logged != 0 && now - d->refused_logged < REFUSED_LOG_MS) {
        d->refused_quiet++;
        return;
    }
    zk_log(ZK_LOG_WARN, msg, ZKF_STR("key", key), ZKF_STR("address", address), ZKF_STR("reason", reason),
           ZKF_U64("not_logged_before", d->refused_quiet), ZKF_END);
    d->refused_logged = now;
    d->refused_quiet = 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
           && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Re-reads the allow file when it changed (or `force`: at create, where a
 * failure is the caller's error and not logged). A file that does not load
 * refuses every handshake until it does: failing closed, since a file being
 * edited may be one that takes a key out. */
static zk_err allow_refresh(sc_dist *d, bool force, zk_error_detail *err)
{
    struct stat st;
    d->allow_checked = now_ms();
    if (stat(d->allow_path, &st) != 0) {
        if (!d->allow_stat_failed && !force)
            zk_log(ZK_LOG_ERROR, "worker allow file unreadable: every worker is refused until it is back",
                   ZKF_STR("file", d->allow_path), ZKF_STR("error", strerror(errno)), ZKF_END);
        d->allow_stat_failed = true;
        d->allow_ok = false;
        return zk_error_set(err, ZK_ERR_USAGE, "--workers-allow %.150s: %s", d->allow_path, strerror(errno));
    }
    if (!force && !d->allow_stat_failed && same_file(&st, &d->allow_st))
        return ZK_OK;
    d->allow_stat_failed = false;
    d->allow_st = st;
    sc_curve_allow a;
    zk_error_detail e = { 0 };
    zk_err rc = sc_curve_allow_load(&a, d->allow_path, &e);
    if (rc != ZK_OK) {
        if (!force)
            zk_log(ZK_LOG_ERROR, "worker allow file refused: every worker is refused until it is fixed",
                   ZKF_STR("error", e.text), ZKF_END);
        sc_curve_allow_free(&d->allow);
        d->allow_ok = false;
        return zk_error_set(err, ZK_ERR_USAGE, "--workers-allow %s", e.text);
    }
    sc_curve_allow_free(&d->allow);
    d->allow = a;
    d->allow_ok = true;
    zk_log(ZK_LOG_INFO, "worker allow file loaded", ZKF_STR("file", d->allow_path), ZKF_U64("keys", a.n), ZKF_END);
    return ZK_OK;
}

/* A key (binary) is allowed now. */
static bool key_allowed(sc_dist *d, const uint8_t key[SC_CURVE_KEY_BYTES])
{
    return d->allow_ok && sc_curve_allow_has(&d->allow, key);
}

static bool frame_is(const zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size((zmq_msg_t *)m) == n && memcmp(zmq_msg_data((zmq_msg_t *)m), s, n) == 0;
}

static void zap_reply(sc_dist *d, const zmq_msg_t *reqid, const char *status, const char *text, const char *user)
{
    zmq_send(d->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(d->zap, reqid ? zmq_msg_data((zmq_msg_t *)reqid) : "", reqid ? zmq_msg_size((zmq_msg_t *)reqid) : 0,
             ZMQ_SNDMORE);
    zmq_send(d->zap, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(d->zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(d->zap, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(d->zap, "", 0, 0);
}

/* Answers the ZAP requests waiting (ZeroMQ RFC 27): frames version "1.0",
 * request id, domain, address, routing id, mechanism, then the mechanism's
 * credentials (CURVE: the client's 32-byte long-term public key). 200 with
 * the key (Z85) as User-Id when the key is in the allow file, else 400. */
static void zap_handle(sc_dist *d)
{
    for (int budget = 0; budget < 64; budget++) {
        zmq_msg_t part[ZAP_PARTS_MAX];
        int n = 0, more = 1;
        zmq_msg_init(&part[0]);
        if (zmq_msg_recv(&part[0], d->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part[0]);
            return;
        }
        n = 1;
        more = zmq_msg_more(&part[0]);
        bool excess = false;
        while (more) {
            zmq_msg_t tmp;
            zmq_msg_init(&tmp);
            if (zmq_msg_recv(&tmp, d->zap, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&tmp);
                break;
            }
            more = zmq_msg_more(&tmp);
            if (n < ZAP_PARTS_MAX && zmq_msg_size(&tmp) <= ZAP_FRAME_MAX) {
                part[n++] = tmp;
            } else {
                excess = true;
                zmq_msg_close(&tmp);
            }
        }
        if (excess || n != 7 || !frame_is(&part[0], "1.0") || !frame_is(&part[2], ZAP_DOMAIN)
            || !frame_is(&part[5], "CURVE") || zmq_msg_size(&part[6]) != SC_CURVE_KEY_BYTES) {
            zap_reply(d, n > 1 ? &part[1] : NULL, "400", "unexpected ZAP request", "");
            STAT_ADD(d, refused_handshake, 1);
            log_refused(d, "worker refused", "", "", "a ZAP request this dispatcher does not expect");
        } else {
            const uint8_t *key = zmq_msg_data(&part[6]);
            char z85[SC_CURVE_Z85_LEN + 1], addr[64];
            if (zmq_z85_encode(z85, key, SC_CURVE_KEY_BYTES) == NULL)
                z85[0] = '\0';
            snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&part[3]), (const char *)zmq_msg_data(&part[3]));
            (void)allow_refresh(d, false, NULL); /* a failure is logged and fails closed */
            if (key_allowed(d, key)) {
                zap_reply(d, &part[1], "200", "OK", z85);
            } else {
                zap_reply(d, &part[1], "400", "key not authorized", "");
                STAT_ADD(d, refused_key, 1);
                log_refused(d, "worker refused", z85, addr,
                            d->allow_ok ? "key not in the allow file" : "the allow file does not load");
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
}

/* Handshakes that failed before any ZAP request (a wrong server key, a
 * worker without CURVE): counted and logged from the ROUTER's monitor. */
bool sc_dist_monitor_next(void *mon, uint16_t *event, uint32_t *value)
{
    zmq_msg_t ev;
    zmq_msg_init(&ev);
    if (zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&ev);
        return false;
    }
    *event = 0;
    *value = 0;
    if (zmq_msg_size(&ev) == 6) {
        memcpy(event, zmq_msg_data(&ev), 2);
        memcpy(value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
    }
    int more = zmq_msg_more(&ev);
    zmq_msg_close(&ev);
    while (more) { /* the endpoint: the caller knows it */
        zmq_msg_init(&ev);
        more = zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&ev);
        zmq_msg_close(&ev);
    }
    return true;
}

static void monitor_handle(sc_dist *d)
{
    for (int budget = 0; budget < 64; budget++) {
        uint16_t event;
        uint32_t value;
        if (!sc_dist_monitor_next(d->mon, &event, &value))
            return;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            const char *why = event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                  ? "the connection ended during the CURVE handshake"
                              : value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                                  ? "the peer does not speak CURVE (a worker without --server-key and --key?)"
                              : value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
                                  ? "the peer has the wrong server key (its --server-key is not this dispatcher's)"
                                  : "CURVE handshake failed";
            STAT_ADD(d, refused_handshake, 1);
            log_refused(d, "worker refused", "", "", why);
        }
    }
}

/* Sets up CURVE on d->sock before it binds: server key, ZAP handler, monitor. */
static zk_err curve_setup(sc_dist *d, const sc_dist_config *cfg, zk_error_detail *err)
{
    static atomic_uint seq;
    if (!zmq_has("curve"))
        return zk_error_set(err, ZK_ERR_UNSUPPORTED, "this libzmq has no CURVE (zmq_has(\"curve\") is false)");
    snprintf(d->secret, sizeof d->secret, "%s", cfg->curve_secret_z85);
    d->curve = true;
    if (cfg->curve_allow_file != NULL) {
        if ((d->allow_path = strdup(cfg->curve_allow_file)) == NULL)
            return zk_error_set(err, ZK_ERR_NOMEM, "dispatcher");
        zk_err rc = allow_refresh(d, true, err);
        if (rc != ZK_OK)
            return rc;
        /* One ZAP handler per context: the dispatcher's context is its own. */
        d->zap = zmq_socket(d->zctx, ZMQ_REP);
        int zero = 0;
        if (d->zap == NULL || zmq_setsockopt(d->zap, ZMQ_LINGER, &zero, sizeof zero) != 0
            || zmq_bind(d->zap, ZAP_ENDPOINT) != 0)
            return zk_error_set(err, ZK_ERR_IO, "ZAP handler: %s", zmq_strerror(zmq_errno()));
    }
    int one = 1;
    if (zmq_setsockopt(d->sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0
        || zmq_setsockopt(d->sock, ZMQ_CURVE_SECRETKEY, d->secret, SC_CURVE_Z85_LEN + 1) != 0
        || zmq_setsockopt(d->sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) != 0)
        return zk_error_set(err, ZK_ERR_USAGE, "CURVE server key: %s", zmq_strerror(zmq_errno()));
    char monep[64];
    snprintf(monep, sizeof monep, "inproc://zkcar-dist-monitor-%u", atomic_fetch_add(&seq, 1));
    if (zmq_socket_monitor(d->sock, monep, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        != 0)
        return zk_error_set(err, ZK_ERR_IO, "zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
    d->mon = zmq_socket(d->zctx, ZMQ_PAIR);
    int zero = 0;
    if (d->mon == NULL || zmq_setsockopt(d->mon, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(d->mon, monep) != 0)
        return zk_error_set(err, ZK_ERR_IO, "monitor: %s", zmq_strerror(zmq_errno()));
    return ZK_OK;
}

/* True when workers reaching `ep` can only be on this machine. */
static bool endpoint_is_local(const char *ep)
{
    static const char *const local[] = { "ipc://", "inproc://", "tcp://127.", "tcp://localhost:", "tcp://[::1]:",
                                         "tcp://lo:" };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (strncmp(ep, local[i], strlen(local[i])) == 0)
            return true;
    return false;
}

void sc_dist_config_defaults(sc_dist_config *c)
{
    memset(c, 0, sizeof *c);
    c->params = prv_stark_params_default;
    c->heartbeat_ms = 1000;
    c->worker_timeout_ms = 5000;
    c->job_timeout_ms = 30u * 60u * 1000u;
    c->max_workers = 64;
}

zk_err sc_dist_create(sc_dist **out, const sc_dist_config *cfg, const sc_dist_source *src, zk_error_detail *err)
{
    *out = NULL;
    if (cfg->endpoint == NULL || cfg->endpoint[0] == '\0')
        return zk_error_set(err, ZK_ERR_USAGE, "--workers: an endpoint is required");
    if (cfg->heartbeat_ms == 0 || cfg->heartbeat_ms > 60000 || cfg->worker_timeout_ms < 2 * cfg->heartbeat_ms
        || cfg->worker_timeout_ms > 3600000 || cfg->job_timeout_ms < cfg->worker_timeout_ms)
        return zk_error_set(err, ZK_ERR_USAGE,
                            "dispatcher timings: need 1 <= heartbeat <= 60000 ms, worker timeout >= 2 heartbeats "
                            "(at most 1 h), job deadline >= worker timeout");
    if (cfg->max_workers == 0 || cfg->max_workers > SC_DIST_WORKERS_MAX)
        return zk_error_set(err, ZK_ERR_USAGE, "max_workers must be 1..%d", SC_DIST_WORKERS_MAX);
    if (src == NULL || src->take == NULL || src->give_back == NULL || src->done == NULL)
        return zk_error_set(err, ZK_ERR_USAGE, "a job source needs take, give_back and done");
    if (cfg->curve_allow_file != NULL && cfg->curve_secret_z85 == NULL)
        return zk_error_set(err, ZK_ERR_USAGE,
                            "--workers-allow needs --workers-key (an allow list is enforced by CURVE)");
    if (cfg->curve_secret_z85 != NULL
        && !sc_curve_z85_key(NULL, cfg->curve_secret_z85, strnlen(cfg->curve_secret_z85, SC_CURVE_Z85_LEN + 1)))
        return zk_error_set(err, ZK_ERR_USAGE, "--workers-key: the secret key is not %d Z85 characters",
                            SC_CURVE_Z85_LEN);
    zk_err rc = ZK_OK;
    sc_dist *d = calloc(1, sizeof *d);
    if (d == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "dispatcher");
    pthread_mutex_init(&d->lock, NULL);
    d->cfg = *cfg;
    d->cfg.endpoint = NULL;
    d->src = *src;
    d->att_cap = (size_t)cfg->max_workers * SC_DIST_CAPACITY_MAX;
    d->workers = calloc(cfg->max_workers, sizeof *d->workers);
    d->att = calloc(d->att_cap, sizeof *d->att);
    if (d->workers == NULL || d->att == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "dispatcher");
        goto cleanup;
    }
    /* Attempt ids start at a random base so that a result computed for an
     * earlier run of the dispatcher never matches an attempt of this one. */
    uint64_t base = 0;
    if (getrandom(&base, sizeof base, 0) != (ssize_t)sizeof base)
        base = (uint64_t)time(NULL) << 20;
    d->next_attempt = (base >> 2) + 1;
    d->zctx = zmq_ctx_new();
    d->sock = d->zctx ? zmq_socket(d->zctx, ZMQ_ROUTER) : NULL;
    if (d->sock == NULL) {
        rc = zk_error_set(err, ZK_ERR_IO, "zmq: %s", zmq_strerror(zmq_errno()));
        goto cleanup;
    }
    /* MANDATORY: a send to a worker that is gone fails at once (we drop it)
     * instead of vanishing. MAXMSGSIZE: ZeroMQ disconnects a peer whose frame
     * exceeds the largest result, before buffering it. */
    int one = 1, zero = 0;
    int64_t maxmsg = (int64_t)(SC_DIST_PROOF_MAX + SC_DIST_CONTROL_MAX);
    zmq_setsockopt(d->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(d->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (cfg->curve_secret_z85 != NULL && (rc = curve_setup(d, cfg, err)) != ZK_OK)
        goto cleanup;
    if (cfg->curve_secret_z85 == NULL && !endpoint_is_local(cfg->endpoint))
        zk_log(ZK_LOG_WARN,
               "remote workers are not authenticated: anyone who reaches the endpoint can take jobs "
               "(set --workers-key and --workers-allow)",
               ZKF_STR("endpoint", cfg->endpoint), ZKF_END);
    if (zmq_bind(d->sock, cfg->endpoint) != 0) {
        /* a port in use is a runtime failure (it may free up: exit 1, and
         * a supervisor restarts); a malformed endpoint is usage */
        int e = zmq_errno();
        rc = zk_error_set(err, e == EADDRINUSE ? ZK_ERR_IO : ZK_ERR_USAGE, "--workers %.150s: %s", cfg->endpoint,
                          zmq_strerror(e));
        goto cleanup;
    }
    char last[256];
    size_t lastlen = sizeof last;
    if (zmq_getsockopt(d->sock, ZMQ_LAST_ENDPOINT, last, &lastlen) != 0)
        snprintf(last, sizeof last, "%s", cfg->endpoint);
    last[sizeof last - 1] = '\0';
    d->endpoint = strdup(last);
    if (d->endpoint == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "dispatcher");
        goto cleanup;
    }
    *out = d;
    d = NULL;
cleanup:
    sc_dist_destroy(d);
    return rc;
}

const char *sc_dist_endpoint(const sc_dist *d) { return d->endpoint; }

void sc_dist_stats_get(sc_dist *d, sc_dist_stats *out)
{
    pthread_mutex_lock(&d->lock);
    *out = d->stats;
    pthread_mutex_unlock(&d->lock);
}

zk_err sc_dist_register_metrics(sc_dist *d, zk_metrics *reg)
{
    static const char jobs_help[] = "Proving jobs handed to remote workers, by what became of them";
    dist_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return ZK_ERR_NOMEM;
    m->workers = zk_metrics_series(reg, "zkcar_remote_workers", "Remote proving workers registered",
                                   ZK_METRIC_GAUGE, NULL, NULL, 0);
    m->in_flight = zk_metrics_series(reg, "zkcar_remote_jobs_in_flight", "Proving jobs held by remote workers",
                                     ZK_METRIC_GAUGE, NULL, NULL, 0);
    m->sent = zk_metrics_series(reg, "zkcar_remote_jobs_total", jobs_help, ZK_METRIC_COUNTER, "event=sent", NULL, 0);
    m->accepted = zk_metrics_series(reg, "zkcar_remote_jobs_total", jobs_help, ZK_METRIC_COUNTER, "event=proof_accepted",
                                    NULL, 0);
    m->rejected = zk_metrics_series(reg, "zkcar_remote_jobs_total", jobs_help, ZK_METRIC_COUNTER, "event=proof_rejected",
                                    NULL, 0);
    m->failed = zk_metrics_series(reg, "zkcar_remote_jobs_total", jobs_help, ZK_METRIC_COUNTER, "event=failed", NULL, 0);
    m->stale = zk_metrics_series(reg, "zkcar_remote_jobs_total", jobs_help, ZK_METRIC_COUNTER, "event=stale_result",
                                 NULL, 0);
    m->reissued = zk_metrics_series(reg, "zkcar_remote_jobs_total", jobs_help, ZK_METRIC_COUNTER, "event=reissued",
                                    NULL, 0);
    m->bad_frames = zk_metrics_series(reg, "zkcar_remote_bad_frames_total",
                                      "Frames from remote workers that broke the protocol", ZK_METRIC_COUNTER, NULL,
                                      NULL, 0);
    m->lost = zk_metrics_series(reg, "zkcar_remote_workers_lost_total",
                                "Remote workers dropped: silent, unreachable or gone", ZK_METRIC_COUNTER, NULL, NULL, 0);
    static const char refused_help[] = "Remote workers refused at the CURVE handshake: key not allowed, or "
                                       "the handshake failed (wrong server key, no CURVE)";
    m->refused_key = zk_metrics_series(reg, "zkcar_remote_workers_refused_total", refused_help, ZK_METRIC_COUNTER,
                                       "reason=key", NULL, 0);
    m->refused_handshake = zk_metrics_series(reg, "zkcar_remote_workers_refused_total", refused_help,
                                             ZK_METRIC_COUNTER, "reason=handshake", NULL, 0);
    const zk_metric *all[] = { m->workers, m->in_flight, m->sent, m->accepted, m->rejected, m->failed,
                               m->stale, m->reissued, m->bad_frames, m->lost, m->refused_key, m->refused_handshake };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] == NULL) {
            free(m);
            return ZK_ERR_NOMEM;
        }
    pthread_mutex_lock(&d->lock);
    if (d->metrics != NULL) {
        pthread_mutex_unlock(&d->lock);
        free(m);
        return ZK_ERR_USAGE;
    }
    d->metrics = m;
    memset(&d->synced, 0, sizeof d->synced);
    metrics_sync_locked(d);
    pthread_mutex_unlock(&d->lock);
    return ZK_OK;
}

/* Sends m to worker wi; false if the worker is gone (or its pipe is full:
 * a worker that does not read is as good as gone). */
static bool send_to(sc_dist *d, const uint8_t *id, size_t idlen, const sc_dist_msg *m)
{
    uint8_t pre[SC_DIST_CONTROL_MAX];
    size_t plen;
    if (sc_dist_msg_encode_head(pre, sizeof pre, &plen, m) != ZK_OK)
        ZK_PANIC("dispatcher message does not encode");
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, plen + m->payload_len) != 0)
        return false;
    uint8_t *p = zmq_msg_data(&msg);
    memcpy(p, pre, plen);
    if (m->payload_len)
        memcpy(p + plen, m->payload, m->payload_len);
    if (zmq_send(d->sock, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return false;
    }
    if (zmq_msg_send(&msg, d->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return false;
    }
    return true;
}

static void send_error(sc_dist *d, const uint8_t *id, size_t idlen, zk_err code, const char *text)
{
    sc_dist_msg m = { .type = SC_DIST_ERROR, .code = (uint64_t)code };
    snprintf(m.text, sizeof m.text, "%.*s", SC_DIST_TEXT_MAX, text);
    send_to(d, id, idlen, &m);
}

static void attempt_remove(sc_dist *d, size_t i)
{
    worker *w = &d->workers[d->att[i].w];
    if (w->inflight > 0 && --w->inflight == 0)
        w->idle_since = now_ms();
    d->att[i] = d->att[--d->natt];
    pthread_mutex_lock(&d->lock);
    d->stats.in_flight = (uint32_t)d->natt;
    metrics_sync_locked(d);
    pthread_mutex_unlock(&d->lock);
}

/* Ends attempt i without a proof: the job goes back to the source. */
static void attempt_give_back(sc_dist *d, size_t i, const char *why)
{
    attempt a = d->att[i];
    zk_log(ZK_LOG_WARN, "proving job re-issued", ZKF_U64("batch", a.batch), ZKF_U64("attempt", a.id),
           ZKF_STR("worker", d->workers[a.w].name), ZKF_STR("reason", why), ZKF_END);
    attempt_remove(d, i);
    d->src.give_back(d->src.ctx, a.batch);
    STAT_ADD(d, jobs_reissued, 1);
}

static void worker_drop(sc_dist *d, size_t wi, const char *why)
{
    worker *w = &d->workers[wi];
    zk_log(ZK_LOG_WARN, "worker lost", ZKF_STR("worker", w->name), ZKF_STR("reason", why),
           ZKF_U64("jobs", w->inflight), ZKF_END);
    for (size_t i = 0; i < d->natt;) {
        if (d->att[i].w == wi)
            attempt_give_back(d, i, why);
        else
            i++;
    }
    w->used = false;
    pthread_mutex_lock(&d->lock);
    d->stats.workers--;
    d->stats.workers_lost++;
    metrics_sync_locked(d);
    pthread_mutex_unlock(&d->lock);
}

static size_t worker_find(sc_dist *d, const uint8_t *id, size_t idlen)
{
    for (size_t i = 0; i < d->cfg.max_workers; i++)
        if (d->workers[i].used && d->workers[i].idlen == idlen && memcmp(d->workers[i].id, id, idlen) == 0)
            return i;
    return SIZE_MAX;
}

static size_t attempt_find(sc_dist *d, uint64_t id)
{
    for (size_t i = 0; i < d->natt; i++)
        if (d->att[i].id == id)
            return i;
    return SIZE_MAX;
}

static void on_ready(sc_dist *d, const uint8_t *id, size_t idlen, size_t wi, const sc_dist_msg *m)
{
    if (m->version != SC_DIST_VERSION) {
        char text[96];
        snprintf(text, sizeof text, "protocol version %" PRIu64 " not supported (this dispatcher speaks %d)",
                 m->version, SC_DIST_VERSION);
        zk_log(ZK_LOG_WARN, "worker refused", ZKF_STR("worker", m->text), ZKF_STR("reason", text), ZKF_END);
        send_error(d, id, idlen, ZK_ERR_UNSUPPORTED, text);
        return;
    }
    int64_t now = now_ms();
    if (wi == SIZE_MAX) {
        for (wi = 0; wi < d->cfg.max_workers && d->workers[wi].used; wi++)
            ;
        if (wi == d->cfg.max_workers) {
            send_error(d, id, idlen, ZK_ERR_WORKER_PROTOCOL, "too many workers");
            return;
        }
        worker *w = &d->workers[wi];
        memset(w, 0, sizeof *w);
        w->used = true;
        memcpy(w->id, id, idlen);
        w->idlen = idlen;
        w->idle_since = now;
        pthread_mutex_lock(&d->lock);
        d->stats.workers++;
        metrics_sync_locked(d);
        pthread_mutex_unlock(&d->lock);
    }
    /* A READY from a known worker (it lost us for a while) refreshes it; the
     * attempts it holds stay in flight and its heartbeats keep them alive. */
    worker *w = &d->workers[wi];
    snprintf(w->name, sizeof w->name, "%s", m->text);
    w->capacity = (uint32_t)m->capacity;
    w->last_rx = w->last_ping = now;
    zk_log(ZK_LOG_INFO, "worker ready", ZKF_STR("worker", w->name), ZKF_U64("capacity", w->capacity), ZKF_END);
    sc_dist_msg wm = { .type = SC_DIST_WELCOME, .version = SC_DIST_VERSION, .heartbeat_ms = d->cfg.heartbeat_ms,
                       .timeout_ms = d->cfg.worker_timeout_ms };
    if (!send_to(d, id, idlen, &wm))
        worker_drop(d, wi, "welcome could not be sent");
}

/* A worker whose proofs do not verify, or that cannot prove what it is given,
 * is broken, hostile, or of another build: it gets no job for a while,
 * doubling while it goes on, so that honest workers prove the batches
 * instead and a job nobody can prove is not retried in a hot loop. */
static int64_t strike(worker *w)
{
    w->strikes++;
    int64_t q = QUARANTINE_MIN_MS;
    for (uint32_t i = 1; i < w->strikes && q < QUARANTINE_MAX_MS; i++)
        q *= 2;
    if (q > QUARANTINE_MAX_MS)
        q = QUARANTINE_MAX_MS;
    w->quarantine_until = now_ms() + q;
    return q;
}

static void on_result(sc_dist *d, size_t wi, const sc_dist_msg *m)
{
    worker *w = &d->workers[wi];
    size_t ai = attempt_find(d, m->attempt);
    if (ai == SIZE_MAX || d->att[ai].w != wi || d->att[ai].batch != m->batch) {
        zk_log(ZK_LOG_INFO, "stale result ignored", ZKF_U64("batch", m->batch), ZKF_U64("attempt", m->attempt),
               ZKF_STR("worker", w->name), ZKF_END);
        STAT_ADD(d, results_stale, 1);
        return;
    }
    if (m->code != 0) {
        /* Overloaded: the worker still proves an attempt we gave up on; no fault. */
        int64_t q = m->code == ZK_ERR_SC_OVERLOADED ? 0 : strike(w);
        zk_log(q ? ZK_LOG_ERROR : ZK_LOG_WARN, "worker could not prove", ZKF_U64("batch", m->batch),
               ZKF_STR("worker", w->name), ZKF_STR("error", zk_strerror((zk_err)m->code)),
               ZKF_STR("detail", m->text), ZKF_U64("quarantine_ms", q), ZKF_END);
        attempt_remove(d, ai);
        d->src.give_back(d->src.ctx, m->batch);
        STAT_ADD(d, jobs_failed, 1);
        return;
    }
    /* The attempt ends before done(): whatever done() decides, the job is no
     * longer ours (a rejected proof sends it back to the source's queue). */
    attempt_remove(d, ai);
    zk_error_detail e = { 0 };
    zk_err rc = d->src.done(d->src.ctx, m->batch, m->payload, m->payload_len, (double)m->prove_ms / 1000.0, &e);
    if (rc == ZK_OK) {
        w->strikes = 0;
        zk_log(ZK_LOG_INFO, "remote proof accepted", ZKF_U64("batch", m->batch), ZKF_STR("worker", w->name),
               ZKF_F64("prove_seconds", (double)m->prove_ms / 1000.0), ZKF_U64("proof_bytes", m->payload_len),
               ZKF_END);
        STAT_ADD(d, proofs_accepted, 1);
        return;
    }
    int64_t q = strike(w);
    zk_log(ZK_LOG_ERROR, "remote proof rejected", ZKF_U64("batch", m->batch), ZKF_STR("worker", w->name),
           ZKF_STR("error", zk_strerror(rc)), ZKF_STR("detail", e.text), ZKF_U64("quarantine_ms", q), ZKF_END);
    STAT_ADD(d, proofs_rejected, 1);
}

static void on_frame(sc_dist *d, const uint8_t *id, size_t idlen, const uint8_t *buf, size_t len)
{
    sc_dist_msg m;
    zk_error_detail e = { 0 };
    size_t wi = worker_find(d, id, idlen);
    if (sc_dist_msg_decode(&m, &e, buf, len) != ZK_OK) {
        zk_log(ZK_LOG_WARN, "bad worker frame", ZKF_STR("worker", wi == SIZE_MAX ? "" : d->workers[wi].name),
               ZKF_STR("error", e.text), ZKF_END);
        STAT_ADD(d, frames_bad, 1);
        send_error(d, id, idlen, ZK_ERR_WORKER_PROTOCOL, e.text);
        return;
    }
    if (m.type == SC_DIST_READY) {
        on_ready(d, id, idlen, wi, &m);
        return;
    }
    if (wi == SIZE_MAX) {
        /* Not registered (we restarted, or it was dropped): tell it, so that it
         * says READY again. A BYE from a stranger needs no answer. */
        if (m.type != SC_DIST_BYE)
            send_error(d, id, idlen, ZK_ERR_WORKER_PROTOCOL, "not registered: say READY");
        return;
    }
    worker *w = &d->workers[wi];
    int64_t now = now_ms();
    w->last_rx = now;
    switch (m.type) {
    case SC_DIST_HEARTBEAT:
        if (m.attempt != 0) {
            size_t ai = attempt_find(d, m.attempt);
            if (ai != SIZE_MAX && d->att[ai].w == wi)
                d->att[ai].last_hb = now;
        }
        break;
    case SC_DIST_RESULT:
        on_result(d, wi, &m);
        break;
    case SC_DIST_BYE:
        worker_drop(d, wi, "the worker said goodbye");
        break;
    case SC_DIST_ERROR:
        zk_log(ZK_LOG_WARN, "worker reports an error", ZKF_STR("worker", w->name),
               ZKF_STR("error", zk_strerror((zk_err)m.code)), ZKF_STR("detail", m.text), ZKF_END);
        break;
    default:
        STAT_ADD(d, frames_bad, 1);
        send_error(d, id, idlen, ZK_ERR_WORKER_PROTOCOL, "a worker sends READY, HEARTBEAT, RESULT, BYE or ERROR");
        break;
    }
}

/* With an allow file: the key of the frame's sender (the User-Id our ZAP
 * handler gave its connection) is still allowed. */
static bool frame_key_allowed(sc_dist *d, zmq_msg_t *msg)
{
    const char *uid = zmq_msg_gets(msg, "User-Id");
    uint8_t key[SC_CURVE_KEY_BYTES];
    return uid != NULL && sc_curve_z85_key(key, uid, strnlen(uid, SC_CURVE_Z85_LEN + 1)) && key_allowed(d, key);
}

static void recv_frames(sc_dist *d)
{
    for (int budget = 0; budget < RECV_BUDGET; budget++) {
        uint8_t id[ROUTING_ID_MAX + 1];
        int idn = zmq_recv(d->sock, id, sizeof id, ZMQ_DONTWAIT);
        if (idn < 0)
            return;
        int more = 0;
        size_t ms = sizeof more;
        zmq_getsockopt(d->sock, ZMQ_RCVMORE, &more, &ms);
        if (!more)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int n = zmq_msg_recv(&msg, d->sock, ZMQ_DONTWAIT);
        bool extra = false;
        for (;;) { /* a multi-part message is not ours: drain and refuse it */
            zmq_getsockopt(d->sock, ZMQ_RCVMORE, &more, &ms);
            if (!more)
                break;
            extra = true;
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            int j = zmq_msg_recv(&junk, d->sock, ZMQ_DONTWAIT);
            zmq_msg_close(&junk);
            if (j < 0)
                break;
        }
        if (n >= 0 && idn > 0 && idn <= ROUTING_ID_MAX && d->allow_path != NULL && !frame_key_allowed(d, &msg)) {
            /* Its key was taken out of the allow file after its handshake
             * (ZeroMQ keeps the connection): dropped, and its frames ignored
             * without an answer (an ERROR would make it say READY at once,
             * in a loop); it retries READY with its backoff, and registers
             * again if its key comes back. */
            size_t wi = worker_find(d, id, (size_t)idn);
            const char *uid = zmq_msg_gets(&msg, "User-Id");
            if (wi != SIZE_MAX) {
                worker_drop(d, wi, "its key is no longer in the allow file");
                STAT_ADD(d, refused_key, 1);
            }
            log_refused(d, "worker refused", uid ? uid : "", "",
                        d->allow_ok ? "key taken out of the allow file" : "the allow file does not load");
        } else if (n >= 0 && idn > 0 && idn <= ROUTING_ID_MAX) {
            if (extra) {
                STAT_ADD(d, frames_bad, 1);
                send_error(d, id, (size_t)idn, ZK_ERR_WORKER_PROTOCOL, "a message is one frame");
            } else {
                on_frame(d, id, (size_t)idn, zmq_msg_data(&msg), zmq_msg_size(&msg));
            }
        }
        zmq_msg_close(&msg);
    }
}

static void housekeeping(sc_dist *d)
{
    int64_t now = now_ms();
    if (d->allow_path != NULL && now - d->allow_checked >= ALLOW_CHECK_MS)
        (void)allow_refresh(d, false, NULL);
    for (size_t i = 0; i < d->natt;) {
        attempt *a = &d->att[i];
        if (now - a->sent_at > (int64_t)d->cfg.job_timeout_ms)
            attempt_give_back(d, i, "deadline passed");
        else if (now - a->last_hb > (int64_t)d->cfg.worker_timeout_ms)
            attempt_give_back(d, i, "no heartbeat for the attempt");
        else
            i++;
    }
    for (size_t wi = 0; wi < d->cfg.max_workers; wi++) {
        worker *w = &d->workers[wi];
        if (!w->used)
            continue;
        if (now - w->last_rx > (int64_t)d->cfg.worker_timeout_ms) {
            worker_drop(d, wi, "silent");
            continue;
        }
        if (now - w->last_ping >= (int64_t)d->cfg.heartbeat_ms) {
            w->last_ping = now;
            sc_dist_msg p = { .type = SC_DIST_PING };
            if (!send_to(d, w->id, w->idlen, &p))
                worker_drop(d, wi, "unreachable");
        }
    }
}

/* The worker that gets the next job: free capacity, not quarantined, the
 * lowest load (inflight / capacity), ties to the one idle longest. */
static size_t pick_worker(sc_dist *d)
{
    int64_t now = now_ms();
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < d->cfg.max_workers; i++) {
        worker *w = &d->workers[i];
        if (!w->used || w->inflight >= w->capacity || now < w->quarantine_until)
            continue;
        if (best == SIZE_MAX) {
            best = i;
            continue;
        }
        worker *b = &d->workers[best];
        uint64_t lw = (uint64_t)w->inflight * b->capacity, lb = (uint64_t)b->inflight * w->capacity;
        if (lw < lb || (lw == lb && w->idle_since < b->idle_since))
            best = i;
    }
    return best;
}

static void dispatch(sc_dist *d)
{
    for (;;) {
        size_t wi = pick_worker(d);
        if (wi == SIZE_MAX || d->natt == d->att_cap)
            return;
        uint64_t batch = 0;
        uint8_t *job = NULL;
        size_t job_len = 0;
        if (!d->src.take(d->src.ctx, &batch, &job, &job_len, 0))
            return;
        worker *w = &d->workers[wi];
        if (job_len == 0 || job_len > SC_DIST_JOB_MAX) {
            zk_log(ZK_LOG_ERROR, "proving job too large for remote workers", ZKF_U64("batch", batch),
                   ZKF_U64("bytes", job_len), ZKF_END);
            free(job);
            d->src.give_back(d->src.ctx, batch);
            return;
        }
        sc_dist_msg m = { .type = SC_DIST_JOB, .attempt = d->next_attempt++, .batch = batch,
                          .params = d->cfg.params, .payload = job, .payload_len = job_len };
        bool sent = send_to(d, w->id, w->idlen, &m);
        free(job);
        if (!sent) {
            d->src.give_back(d->src.ctx, batch);
            worker_drop(d, wi, "unreachable");
            continue;
        }
        int64_t now = now_ms();
        d->att[d->natt++] = (attempt){ .id = m.attempt, .batch = batch, .w = wi, .sent_at = now, .last_hb = now };
        w->inflight++;
        pthread_mutex_lock(&d->lock);
        d->stats.jobs_sent++;
        d->stats.in_flight = (uint32_t)d->natt;
        metrics_sync_locked(d);
        pthread_mutex_unlock(&d->lock);
        zk_log(ZK_LOG_INFO, "proving job sent", ZKF_U64("batch", batch), ZKF_U64("attempt", m.attempt),
               ZKF_STR("worker", w->name), ZKF_U64("job_bytes", job_len), ZKF_END);
    }
}

static void *dispatcher_thread(void *arg)
{
    sc_dist *d = arg;
    zk_log(ZK_LOG_INFO, "dispatcher listening", ZKF_STR("endpoint", d->endpoint),
           ZKF_STR("auth", !d->curve ? "none" : d->allow_path ? "curve, allow file" : "curve, any client key"),
           ZKF_END);
    while (!atomic_load(&d->stop)) {
        if (d->zap)
            zap_handle(d);
        if (d->mon)
            monitor_handle(d);
        recv_frames(d);
        housekeeping(d);
        dispatch(d);
        zmq_pollitem_t it[3] = { { .socket = d->sock, .events = ZMQ_POLLIN } };
        int nit = 1;
        if (d->zap)
            it[nit++] = (zmq_pollitem_t){ .socket = d->zap, .events = ZMQ_POLLIN };
        if (d->mon)
            it[nit++] = (zmq_pollitem_t){ .socket = d->mon, .events = ZMQ_POLLIN };
        if (zmq_poll(it, nit, POLL_MS) < 0 && zmq_errno() != EINTR) {
            zk_log(ZK_LOG_ERROR, "dispatcher poll failed", ZKF_STR("error", zmq_strerror(zmq_errno())), ZKF_END);
            break;
        }
    }
    while (d->natt > 0)
        attempt_give_back(d, d->natt - 1, "dispatcher stopping");
    return NULL;
}

zk_err sc_dist_start(sc_dist *d, zk_error_detail *err)
{
    if (d->started)
        return zk_error_set(err, ZK_ERR_USAGE, "dispatcher already started");
    if (pthread_create(&d->thread, NULL, dispatcher_thread, d) != 0)
        return zk_error_set(err, ZK_ERR_IO, "dispatcher thread: %s", strerror(errno));
    d->started = true;
    return ZK_OK;
}

void sc_dist_stop(sc_dist *d)
{
    if (d == NULL || !d->started || d->joined)
        return;
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    d->joined = true;
}

void sc_dist_destroy(sc_dist *d)
{
    if (d == NULL)
        return;
    sc_dist_stop(d);
    if (d->sock)
        zmq_close(d->sock);
    if (d->zap)
        zmq_close(d->zap);
    if (d->mon)
        zmq_close(d->mon);
    if (d->zctx)
        zmq_ctx_term(d->zctx);
    pthread_mutex_destroy(&d->lock);
    explicit_bzero(d->secret, sizeof d->secret);
    sc_curve_allow_free(&d->allow);
    free(d->allow_path);
    free(d->metrics);
    free(d->endpoint);
    free(d->workers);
    free(d->att);
    free(d);
}
