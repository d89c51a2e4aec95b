/*
 * sidecar/worker.c — `zkcar worker`: a remote proving worker for `zkcar run
 * --workers ENDPOINT` (protocol: sidecar/dist.h, docs/sidecar.md "Remote workers").
 *
 * Threads: the main thread owns the ZeroMQ socket (a DEALER) and speaks the
 * protocol; `--jobs` prover threads take JOBs from a queue, prove them with
 * prv_batch_prove (which spreads each proof over the process's thread pool,
 * `--threads`), and leave the RESULT in an outbox, waking the main thread
 * through an eventfd it polls beside the socket. So heartbeats keep flowing
 * while a proof runs, and a proof never blocks the protocol.
 *
 * Sessions: the worker says READY (again every 0.5 s doubling to 5 s until
 * WELCOMEd); ZeroMQ reconnects the TCP link by itself, with the same backoff.
 * Once welcomed, silence from the dispatcher for its timeout (no PING), or an
 * ERROR telling it to register, ends the session: the worker says READY again.
 * Jobs it holds keep running and their results are still sent: the
 * dispatcher accepts a result only for an attempt it still has in flight.
 *
 * Stop (SIGINT/SIGTERM): BYE, so that the dispatcher re-issues what this
 * worker holds at once; a proof in progress is abandoned (the prover has no
 * cancellation point) and the process exits 0 without waiting for it.
 */
#include "sidecar/dist.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bpf/loader.h"
#include "common/config.h"
#include "common/log.h"
#include "prover/batch.h"
#include "prover/parallel.h"
#include "sidecar/curve.h"

#define READY_RETRY_MIN_MS 500
#define READY_RETRY_MAX_MS 5000
#define POLL_MS 100
#define STOP_GRACE_MS 300      /* how long idle prover threads get to exit on stop */
#define JOBS_MAX 16
#define HANDSHAKE_LOG_MS 10000 /* a failing CURVE handshake is logged at most this often */

typedef struct item {
    struct item *next;
    uint64_t attempt, batch;
    prv_stark_params params;   /* JOB */
    uint8_t *bytes;            /* JOB: the job; RESULT: the proof */
    size_t len;
    uint64_t code, prove_ms;   /* RESULT */
    char text[SC_DIST_TEXT_MAX + 1];
} item;

typedef struct worker_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    item *jobs, **jobs_tail;   /* waiting for a prover thread */
    unsigned queued;           /* items in jobs */
    item *results;             /* waiting to be sent (LIFO is fine) */
    uint64_t busy[JOBS_MAX];   /* attempt each prover thread holds (0 idle) */
    unsigned nthreads, running;
    bool stop;
    int efd;                   /* eventfd: a result is ready */
    const zkbpf *lat;          /* stage latencies (eBPF or in-process timers) */
} worker_state;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void item_free(item *it)
{
    if (it) {
        free(it->bytes);
        free(it);
    }
}

/* The prover's stages whose time each job's log line shows. */
static const struct {
    unsigned stage;
    const char *key;
} stage_keys[] = {
    { ZKBPF_STAGE_LDE, "lde_seconds" },
    { ZKBPF_STAGE_COMMIT, "commit_seconds" },
    { ZKBPF_STAGE_QUOTIENT, "quotient_seconds" },
    { ZKBPF_STAGE_FRI, "fri_seconds" },
};
#define NSTAGE_KEYS (sizeof stage_keys / sizeof stage_keys[0])

static void stage_sums(const zkbpf *lat, uint64_t out[NSTAGE_KEYS])
{
    for (size_t i = 0; i < NSTAGE_KEYS; i++) {
        struct zkbpf_hist h;
        zkbpf_read(lat, stage_keys[i].stage, &h);
        out[i] = h.sum_ns;
    }
}

static void prove_one(worker_state *ws, item *it)
{
    prv_batch_job job;
    memset(&job, 0, sizeof job);
    zk_error_detail e = { 0 };
    uint8_t *proof = NULL;
    size_t proof_len = 0;
    uint64_t before[NSTAGE_KEYS], after[NSTAGE_KEYS];
    stage_sums(ws->lat, before);
    int64_t t0 = now_ms();
    zk_log(ZK_LOG_INFO, "proving", ZKF_U64("batch", it->batch), ZKF_U64("attempt", it->attempt),
           ZKF_U64("job_bytes", it->len), ZKF_END);
    zk_err rc = prv_batch_job_decode(&job, &e, it->bytes, it->len);
    if (rc == ZK_OK && job.pub.number != it->batch)
        rc = zk_error_set(&e, ZK_ERR_WORKER_PROTOCOL, "the job is batch %" PRIu64 ", the message says %" PRIu64,
                          job.pub.number, it->batch);
    if (rc == ZK_OK)
        rc = prv_batch_prove(&job, &it->params, &proof, &proof_len, &e);
    if (rc == ZK_OK && (proof_len == 0 || proof_len > SC_DIST_PROOF_MAX)) {
        free(proof);
        proof = NULL;
        rc = zk_error_set(&e, ZK_ERR_TOO_BIG, "proof of %zu bytes", proof_len);
    }
    prv_batch_job_free(&job);
    free(it->bytes);
    it->bytes = proof;
    it->len = rc == ZK_OK ? proof_len : 0;
    it->code = (uint64_t)rc;
    it->prove_ms = (uint64_t)(now_ms() - t0);
    if (rc == ZK_OK) {
        /* Per-stage times from the latency histograms: exact with --jobs 1;
         * with several jobs at once they include the other jobs' stages. */
        stage_sums(ws->lat, after);
        double st[NSTAGE_KEYS];
        for (size_t i = 0; i < NSTAGE_KEYS; i++)
            st[i] = (double)(after[i] - before[i]) / 1e9;
        zk_log(ZK_LOG_INFO, "batch proven", ZKF_U64("batch", it->batch), ZKF_U64("attempt", it->attempt),
               ZKF_F64("prove_seconds", (double)it->prove_ms / 1000.0), ZKF_U64("proof_bytes", proof_len),
               ZKF_F64(stage_keys[0].key, st[0]), ZKF_F64(stage_keys[1].key, st[1]),
               ZKF_F64(stage_keys[2].key, st[2]), ZKF_F64(stage_keys[3].key, st[3]), ZKF_END);
    } else {
        snprintf(it->text, sizeof it->text, "%.*s", SC_DIST_TEXT_MAX, e.text);
        zk_log(ZK_LOG_ERROR, "proving failed", ZKF_U64("batch", it->batch), ZKF_U64("attempt", it->attempt),
               ZKF_STR("error", zk_strerror(rc)), ZKF_STR("detail", e.text), ZKF_END);
    }
}

typedef struct prover_arg {
    worker_state *ws;
    unsigned slot;
} prover_arg;

static void *prover_thread(void *arg)
{
    prover_arg *pa = arg;
    worker_state *ws = pa->ws;
    unsigned slot = pa->slot;
    free(pa);
    pthread_mutex_lock(&ws->lock);
    for (;;) {
        while (!ws->stop && ws->jobs == NULL)
            pthread_cond_wait(&ws->cond, &ws->lock);
        if (ws->stop)
            break;
        item *it = ws->jobs;
        ws->jobs = it->next;
        if (ws->jobs == NULL)
            ws->jobs_tail = &ws->jobs;
        ws->queued--;
        ws->busy[slot] = it->attempt;
        pthread_mutex_unlock(&ws->lock);
        prove_one(ws, it);
        pthread_mutex_lock(&ws->lock);
        ws->busy[slot] = 0;
        it->next = ws->results;
        ws->results = it;
        uint64_t one = 1;
        if (write(ws->efd, &one, sizeof one) < 0) {
            /* the counter cannot overflow here; the main loop also polls */
        }
        if (ws->stop)
            break;
    }
    ws->running--;
    pthread_mutex_unlock(&ws->lock);
    return NULL;
}

/* ---- the session ---------------------------------------------------------- */

typedef struct session {
    void *sock;
    void *mon;                 /* the DEALER's handshake events (PAIR), with CURVE; else NULL */
    int64_t hs_logged[2];      /* when a failed handshake was last logged: [0] key refused, [1] other */
    uint64_t hs_quiet[2];      /* failures not logged since */
    const char *endpoint;
    const char *name;
    unsigned capacity;
    bool welcomed;
    int64_t last_rx, last_hb, next_ready;
    int retry_ms;
    uint64_t heartbeat_ms, timeout_ms;
} session;

static void free_buffer(void *data, void *hint)
{
    (void)hint;
    free(data);
}

static bool send_msg(session *s, const sc_dist_msg *m)
{
    size_t cap = sc_dist_msg_encoded_max(m), len;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return false;
    zmq_msg_t msg;
    if (sc_dist_msg_encode(buf, cap, &len, m) != ZK_OK || zmq_msg_init_data(&msg, buf, len, free_buffer, NULL) != 0) {
        free(buf);
        return false;
    }
    /* DONTWAIT with ZMQ_IMMEDIATE: nothing is queued while the dispatcher is
     * unreachable; the caller retries (READY) or keeps the result. */
    if (zmq_msg_send(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return false;
    }
    return true;
}

static void session_reset(session *s, const char *why)
{
    if (s->welcomed)
        zk_log(ZK_LOG_WARN, "dispatcher lost", ZKF_STR("endpoint", s->endpoint), ZKF_STR("reason", why), ZKF_END);
    s->welcomed = false;
    s->retry_ms = READY_RETRY_MIN_MS;
    s->next_ready = now_ms();
}

static void maybe_ready(session *s)
{
    int64_t now = now_ms();
    if (s->welcomed || now < s->next_ready)
        return;
    sc_dist_msg m = { .type = SC_DIST_READY, .version = SC_DIST_VERSION, .capacity = s->capacity };
    snprintf(m.text, sizeof m.text, "%s", s->name);
    send_msg(s, &m);
    s->next_ready = now + s->retry_ms;
    s->retry_ms = s->retry_ms * 2 > READY_RETRY_MAX_MS ? READY_RETRY_MAX_MS : s->retry_ms * 2;
}

/* Heartbeats: one per attempt held (queued or proving), or one idle beat. */
static void heartbeat(session *s, worker_state *ws)
{
    int64_t now = now_ms();
    if (!s->welcomed || now - s->last_hb < (int64_t)s->heartbeat_ms)
        return;
    s->last_hb = now;
    uint64_t held[JOBS_MAX * 2 + 1];
    size_t n = 0;
    pthread_mutex_lock(&ws->lock);
    for (unsigned i = 0; i < ws->nthreads; i++)
        if (ws->busy[i])
            held[n++] = ws->busy[i];
    for (item *it = ws->jobs; it && n < sizeof held / sizeof held[0]; it = it->next)
        held[n++] = it->attempt;
    pthread_mutex_unlock(&ws->lock);
    if (n == 0)
        held[n++] = 0;
    for (size_t i = 0; i < n; i++) {
        sc_dist_msg m = { .type = SC_DIST_HEARTBEAT, .attempt = held[i] };
        send_msg(s, &m);
    }
}

/* Sends finished results; those that cannot go now wait for the next turn. */
static void flush_results(session *s, worker_state *ws)
{
    uint64_t counter;
    if (read(ws->efd, &counter, sizeof counter) < 0) {
        /* EAGAIN: nothing new; the list is checked anyway */
    }
    pthread_mutex_lock(&ws->lock);
    item *list = ws->results;
    ws->results = NULL;
    pthread_mutex_unlock(&ws->lock);
    item *keep = NULL;
    while (list) {
        item *it = list;
        list = it->next;
        sc_dist_msg m = { .type = SC_DIST_RESULT, .attempt = it->attempt, .batch = it->batch, .code = it->code,
                          .prove_ms = it->prove_ms, .payload = it->bytes, .payload_len = it->len };
        snprintf(m.text, sizeof m.text, "%s", it->text);
        if (s->welcomed && send_msg(s, &m)) {
            item_free(it);
        } else {
            it->next = keep;
            keep = it;
        }
    }
    if (keep) {
        pthread_mutex_lock(&ws->lock);
        item **tail = &keep;
        while (*tail)
            tail = &(*tail)->next;
        *tail = ws->results;
        ws->results = keep;
        pthread_mutex_unlock(&ws->lock);
    }
}

/* Handles one frame from the dispatcher. Returns 1 to go on, or the exit status. */
static int on_frame(session *s, worker_state *ws, const uint8_t *buf, size_t len)
{
    sc_dist_msg m;
    zk_error_detail e = { 0 };
    if (sc_dist_msg_decode(&m, &e, buf, len) != ZK_OK) {
        zk_log(ZK_LOG_WARN, "bad dispatcher frame", ZKF_STR("error", e.text), ZKF_END);
        sc_dist_msg em = { .type = SC_DIST_ERROR, .code = ZK_ERR_WORKER_PROTOCOL };
        snprintf(em.text, sizeof em.text, "%.*s", SC_DIST_TEXT_MAX, e.text);
        send_msg(s, &em);
        return -1;
    }
    s->last_rx = now_ms();
    switch (m.type) {
    case SC_DIST_WELCOME:
        if (m.version != SC_DIST_VERSION) {
            zk_log(ZK_LOG_ERROR, "dispatcher speaks another protocol version", ZKF_U64("version", m.version),
                   ZKF_U64("ours", SC_DIST_VERSION), ZKF_END);
            return 1;
        }
        if (!s->welcomed)
            zk_log(ZK_LOG_INFO, "connected to the dispatcher", ZKF_STR("endpoint", s->endpoint),
                   ZKF_U64("capacity", s->capacity), ZKF_END);
        s->welcomed = true;
        s->heartbeat_ms = m.heartbeat_ms;
        s->timeout_ms = m.timeout_ms;
        s->last_hb = 0;
        break;
    case SC_DIST_PING:
        break;
    case SC_DIST_JOB: {
        pthread_mutex_lock(&ws->lock);
        bool full = ws->queued >= ws->nthreads;
        pthread_mutex_unlock(&ws->lock);
        if (full) {
            /* More than the capacity announced: refuse it at once. */
            sc_dist_msg r = { .type = SC_DIST_RESULT, .attempt = m.attempt, .batch = m.batch,
                              .code = ZK_ERR_SC_OVERLOADED };
            snprintf(r.text, sizeof r.text, "this worker already holds its %u jobs", ws->nthreads);
            send_msg(s, &r);
            break;
        }
        item *it = calloc(1, sizeof *it);
        uint8_t *copy = malloc(m.payload_len);
        if (it == NULL || copy == NULL) {
            free(it);
            free(copy);
            zk_log(ZK_LOG_ERROR, "out of memory for a job", ZKF_U64("batch", m.batch), ZKF_END);
            return -1; /* the dispatcher re-issues it: no heartbeat names the attempt */
        }
        memcpy(copy, m.payload, m.payload_len);
        it->attempt = m.attempt;
        it->batch = m.batch;
        it->params = m.params;
        it->bytes = copy;
        it->len = m.payload_len;
        pthread_mutex_lock(&ws->lock);
        *ws->jobs_tail = it;
        ws->jobs_tail = &it->next;
        ws->queued++;
        pthread_cond_signal(&ws->cond);
        pthread_mutex_unlock(&ws->lock);
        zk_log(ZK_LOG_INFO, "job received", ZKF_U64("batch", m.batch), ZKF_U64("attempt", m.attempt), ZKF_END);
        break;
    }
    case SC_DIST_ERROR:
        if (m.code == ZK_ERR_UNSUPPORTED) {
            zk_log(ZK_LOG_ERROR, "dispatcher refused this worker", ZKF_STR("detail", m.text), ZKF_END);
            return 1;
        }
        zk_log(ZK_LOG_WARN, "dispatcher reports an error", ZKF_STR("error", zk_strerror((zk_err)m.code)),
               ZKF_STR("detail", m.text), ZKF_END);
        session_reset(s, m.text);
        break;
    default:
        zk_log(ZK_LOG_WARN, "unexpected message from the dispatcher", ZKF_U64("type", m.type), ZKF_END);
        break;
    }
    return -1;
}

/* With CURVE: says why the dispatcher does not answer, when the handshake
 * fails (rate-limited: ZeroMQ retries the connection by itself). */
static void monitor_handle(session *s)
{
    for (int budget = 0; budget < 64; budget++) {
        uint16_t event;
        uint32_t value;
        if (!sc_dist_monitor_next(s->mon, &event, &value))
            return;
        const char *why = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                              ? "the dispatcher refused this worker's key (is it in the --workers-allow file?)"
                          : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                              ? "CURVE handshake failed: wrong --server-key, or the dispatcher runs without "
                                "--workers-key"
                              : NULL;
        if (why == NULL)
            continue;
        int64_t now = now_ms();
        int k = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? 0 : 1;
        if (s->hs_logged[k] != 0 && now - s->hs_logged[k] < HANDSHAKE_LOG_MS) {
            s->hs_quiet[k]++;
            continue;
        }
        zk_log(ZK_LOG_WARN, "dispatcher handshake failed", ZKF_STR("endpoint", s->endpoint), ZKF_STR("reason", why),
               ZKF_U64("code", value), ZKF_U64("not_logged_before", s->hs_quiet[k]), ZKF_END);
        s->hs_logged[k] = now;
        s->hs_quiet[k] = 0;
    }
}

static int run_session(session *s, worker_state *ws)
{
    session_reset(s, "start");
    zk_log(ZK_LOG_INFO, "worker started", ZKF_STR("endpoint", s->endpoint), ZKF_STR("name", s->name),
           ZKF_U64("jobs", s->capacity), ZKF_U64("threads", prv_parallel_threads()), ZKF_END);
    while (!stop_signal) {
        if (s->welcomed && now_ms() - s->last_rx > (int64_t)s->timeout_ms)
            session_reset(s, "silent");
        maybe_ready(s);
        heartbeat(s, ws);
        flush_results(s, ws);
        if (s->mon)
            monitor_handle(s);
        zmq_pollitem_t items[3] = {
            { .socket = s->sock, .events = ZMQ_POLLIN },
            { .fd = ws->efd, .events = ZMQ_POLLIN },
            { .socket = s->mon, .events = ZMQ_POLLIN },
        };
        int r = zmq_poll(items, s->mon ? 3 : 2, POLL_MS);
        if (r < 0) {
            if (zmq_errno() == EINTR)
                continue;
            zk_log(ZK_LOG_ERROR, "poll failed", ZKF_STR("error", zmq_strerror(zmq_errno())), ZKF_END);
            return 1;
        }
        for (int budget = 0; budget < 64; budget++) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&msg);
                break;
            }
            int more = zmq_msg_more(&msg);
            int st = more ? -1 : on_frame(s, ws, zmq_msg_data(&msg), zmq_msg_size(&msg));
            zmq_msg_close(&msg);
            if (more) { /* not ours: drain the rest */
                zk_log(ZK_LOG_WARN, "bad dispatcher frame", ZKF_STR("error", "multi-part message"), ZKF_END);
                for (;;) {
                    zmq_msg_init(&msg);
                    int n = zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT);
                    more = n >= 0 && zmq_msg_more(&msg);
                    zmq_msg_close(&msg);
                    if (!more)
                        break;
                }
            }
            if (st >= 0)
                return st;
        }
    }
    sc_dist_msg bye = { .type = SC_DIST_BYE };
    send_msg(s, &bye);
    zk_log(ZK_LOG_INFO, "worker stopping", ZKF_END);
    return 0;
}

/* ---- the command ------------------------------------------------------------ */

static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "logfmt", "json", NULL };
static const char *const bpf_modes[] = { "on", "off", "auto", NULL };

static const zk_opt worker_opts[] = {
    { "connect", ZK_OPT_STRING, "ENDPOINT", NULL,
      "the dispatcher of `zkcar run --workers`, e.g. tcp://sidecar:3053 (required)", 0, 0, NULL },
    { "threads", ZK_OPT_U64, "N", "0", "proving threads per proof (0: one per core)", 0, 256, NULL },
    { "jobs", ZK_OPT_U64, "N", "1", "jobs proven at once (the capacity announced)", 1, JOBS_MAX, NULL },
    { "name", ZK_OPT_STRING, "NAME", NULL, "the name the dispatcher logs (default: host:pid)", 0, 0, NULL },
    { "server-key", ZK_OPT_STRING, "Z85_OR_FILE", NULL,
      "the dispatcher's CURVE public key (40 Z85 characters, or its key file): authenticate and encrypt (needs --key)",
      0, 0, NULL },
    { "key", ZK_OPT_STRING, "FILE", NULL, "this worker's CURVE key file, mode 0600 (zkcar keygen; needs --server-key)",
      0, 0, NULL },
    { "bpf", ZK_OPT_CHOICE, "MODE", "auto", "eBPF latency probes on the prover: on, off or auto", 0, 0, bpf_modes },
    { "log-level", ZK_OPT_CHOICE, "LEVEL", "info", "debug, info, warn or error", 0, 0, log_levels },
    { "log-format", ZK_OPT_CHOICE, "FORMAT", "logfmt", "logfmt or json", 0, 0, log_formats },
};
#define NOPTS (sizeof worker_opts / sizeof worker_opts[0])

int sc_worker_main(int argc, char **argv)
{
    static const char synopsis[] = "--connect ENDPOINT [flags]";
    zk_config *cfg = NULL;
    zk_error_detail err = { 0 };
    void *zctx = NULL;
    session s = { 0 };
    worker_state *ws = NULL;
    zkbpf *lat = NULL;
    char name[SC_DIST_TEXT_MAX + 1];
    sigset_t block, old;
    bool masked = false;
    int status = 2;
    sc_curve_keypair ckey;
    char server_key[SC_CURVE_Z85_LEN + 1] = "";
    memset(&ckey, 0, sizeof ckey);
    if (zk_config_parse(&cfg, &err, "worker", worker_opts, NOPTS, argc, argv) != ZK_OK) {
        fprintf(stderr, "zkcar worker: %s\n", err.text);
        goto cleanup;
    }
    if (zk_config_help_requested(cfg)) {
        zk_config_usage(stdout, "worker", synopsis, worker_opts, NOPTS);
        printf("\nProves batches for a sidecar started with --workers ENDPOINT (protocol:\n"
               "docs/sidecar.md, \"Remote workers\"). Reconnects when the sidecar goes away;\n"
               "SIGINT/SIGTERM stop it cleanly (the batch in proof is re-issued by the sidecar).\n"
               "With --server-key and --key (zkcar keygen) the link is authenticated and\n"
               "encrypted with ZeroMQ CURVE: the sidecar needs --workers-key (and lists this\n"
               "worker's public key in --workers-allow). docs/operations.md, \"Remote workers\".\n");
        status = 0;
        goto cleanup;
    }
    if (zk_config_npositional(cfg) > 0) {
        fprintf(stderr, "zkcar worker: unexpected argument \"%s\"\n", zk_config_positional(cfg, 0));
        goto cleanup;
    }
    s.endpoint = zk_config_get(cfg, "connect");
    if (s.endpoint == NULL) {
        fprintf(stderr, "zkcar worker: --connect ENDPOINT is required\n");
        goto cleanup;
    }
    const char *nm = zk_config_get(cfg, "name");
    if (nm != NULL) {
        if (strlen(nm) > SC_DIST_TEXT_MAX) {
            fprintf(stderr, "zkcar worker: --name: at most %d bytes\n", SC_DIST_TEXT_MAX);
            goto cleanup;
        }
        snprintf(name, sizeof name, "%s", nm);
    } else {
        char host[64];
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "worker");
        host[sizeof host - 1] = '\0';
        snprintf(name, sizeof name, "%s:%ld", host, (long)getpid());
    }
    s.name = name;
    const char *skey = zk_config_get(cfg, "server-key"), *ckey_file = zk_config_get(cfg, "key");
    if ((skey == NULL) != (ckey_file == NULL)) {
        fprintf(stderr, "zkcar worker: --server-key and --key go together (CURVE needs both)\n");
        goto cleanup;
    }
    if (skey != NULL && (sc_curve_public_key_arg(server_key, skey, &err) != ZK_OK
                         || sc_curve_key_load(&ckey, ckey_file, true, &err) != ZK_OK)) {
        fprintf(stderr, "zkcar worker: %s %s\n", server_key[0] ? "--key" : "--server-key", err.text);
        goto cleanup;
    }
    s.capacity = (unsigned)zk_config_get_u64(cfg, "jobs");
    zk_log_set_level((zk_log_level)zk_log_level_parse(zk_config_get(cfg, "log-level")));
    zk_log_set_format((zk_log_format)zk_log_format_parse(zk_config_get(cfg, "log-format")));
    const char *bpf = zk_config_get(cfg, "bpf");
    zkbpf_mode mode;
    if (zkbpf_mode_parse(&mode, bpf, strlen(bpf)) != ZK_OK) {
        fprintf(stderr, "zkcar worker: --bpf: \"%s\" is not on, off or auto\n", bpf);
        goto cleanup;
    }
    prv_parallel_set_threads((unsigned)zk_config_get_u64(cfg, "threads"));

    status = 1;
    /* Signals go to the main thread only: block them before any thread exists
     * (ZeroMQ's and ours inherit the mask), unblock in the main thread below. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    masked = true;
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    ws = calloc(1, sizeof *ws);
    if (ws == NULL) {
        zk_log_failure("worker", "out of memory");
        goto cleanup;
    }
    ws->efd = -1;
    /* --bpf: the stage latencies of this worker's proofs (on each job's log
     * line), from the eBPF probes where the kernel allows, else in-process. */
    if (zkbpf_start(&lat, mode, 0, &err) != ZK_OK) {
        zk_log_failure("worker", "--bpf %s: %s", bpf, err.text);
        goto cleanup;
    }
    ws->lat = lat; /* (the loader logs which backend measures, and why) */
    pthread_mutex_init(&ws->lock, NULL);
    pthread_cond_init(&ws->cond, NULL);
    ws->jobs_tail = &ws->jobs;
    ws->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ws->efd < 0) {
        zk_log_failure("worker", "eventfd: %s", strerror(errno));
        goto cleanup;
    }
    zctx = zmq_ctx_new();
    s.sock = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
    if (s.sock == NULL) {
        zk_log_failure("worker", "zmq: %s", zmq_strerror(zmq_errno()));
        goto cleanup;
    }
    /* IMMEDIATE: queue nothing while the link is down (a READY or RESULT is
     * resent by us, not replayed by ZeroMQ to whoever binds next).
     * RECONNECT_IVL(_MAX): ZeroMQ's reconnection backoff, 100 ms doubling to 5 s.
     * MAXMSGSIZE: the largest JOB; a larger frame drops the connection. */
    int one = 1, ivl = 100, ivl_max = 5000, linger = 500;
    int64_t maxmsg = (int64_t)(SC_DIST_JOB_MAX + SC_DIST_CONTROL_MAX);
    zmq_setsockopt(s.sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(s.sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s.sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt(s.sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s.sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (server_key[0] != '\0') {
        /* CURVE client: the dispatcher proves it holds the server key's
         * secret, we prove we hold ours; frames are encrypted. The monitor
         * says why when the handshake fails (otherwise: silence). */
        if (!zmq_has("curve")) {
            zk_log_failure("worker", "--server-key: this libzmq has no CURVE");
            goto cleanup;
        }
        if (zmq_setsockopt(s.sock, ZMQ_CURVE_SERVERKEY, server_key, SC_CURVE_Z85_LEN + 1) != 0
            || zmq_setsockopt(s.sock, ZMQ_CURVE_PUBLICKEY, ckey.public_z85, SC_CURVE_Z85_LEN + 1) != 0
            || zmq_setsockopt(s.sock, ZMQ_CURVE_SECRETKEY, ckey.secret_z85, SC_CURVE_Z85_LEN + 1) != 0) {
            zk_log_failure("worker", "CURVE keys: %s", zmq_strerror(zmq_errno()));
            goto cleanup;
        }
        explicit_bzero(&ckey, sizeof ckey);
        int zero = 0;
        if (zmq_socket_monitor(s.sock, "inproc://zkcar-worker-monitor",
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                   | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0
            || (s.mon = zmq_socket(zctx, ZMQ_PAIR)) == NULL
            || zmq_setsockopt(s.mon, ZMQ_LINGER, &zero, sizeof zero) != 0
            || zmq_connect(s.mon, "inproc://zkcar-worker-monitor") != 0) {
            zk_log_failure("worker", "zmq monitor: %s", zmq_strerror(zmq_errno()));
            goto cleanup;
        }
    }
    if (zmq_connect(s.sock, s.endpoint) != 0) {
        zk_log_failure("worker", "--connect %s: %s", s.endpoint, zmq_strerror(zmq_errno()));
        status = 2;
        goto cleanup;
    }
    for (unsigned i = 0; i < s.capacity; i++) {
        prover_arg *pa = malloc(sizeof *pa);
        pthread_t t;
        if (pa == NULL)
            break;
        *pa = (prover_arg){ .ws = ws, .slot = i };
        pthread_mutex_lock(&ws->lock);
        ws->nthreads++;
        ws->running++;
        pthread_mutex_unlock(&ws->lock);
        if (pthread_create(&t, NULL, prover_thread, pa) != 0) {
            free(pa);
            pthread_mutex_lock(&ws->lock);
            ws->nthreads--;
            ws->running--;
            pthread_mutex_unlock(&ws->lock);
            break;
        }
        pthread_detach(t);
    }
    if (ws->nthreads == 0) {
        zk_log_failure("worker", "cannot start a prover thread");
        goto cleanup;
    }
    s.capacity = ws->nthreads;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    masked = false;
    status = run_session(&s, ws);
cleanup:
    explicit_bzero(&ckey, sizeof ckey);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (s.mon)
        zmq_close(s.mon);
    if (s.sock)
        zmq_close(s.sock);
    if (zctx)
        zmq_ctx_term(zctx);
    if (ws) {
        /* Idle prover threads exit at once; one that is proving is abandoned
         * (it holds ws), and then ws is left to the process's exit. */
        pthread_mutex_lock(&ws->lock);
        ws->stop = true;
        pthread_cond_broadcast(&ws->cond);
        int64_t until = now_ms() + STOP_GRACE_MS;
        while (ws->running > 0 && now_ms() < until) {
            pthread_mutex_unlock(&ws->lock);
            usleep(10000);
            pthread_mutex_lock(&ws->lock);
        }
        bool idle = ws->running == 0;
        pthread_mutex_unlock(&ws->lock);
        if (idle) {
            while (ws->jobs) {
                item *it = ws->jobs;
                ws->jobs = it->next;
                item_free(it);
            }
            while (ws->results) {
                item *it = ws->results;
                ws->results = it->next;
                item_free(it);
            }
            if (ws->efd >= 0)
                close(ws->efd);
            pthread_cond_destroy(&ws->cond);
            pthread_mutex_destroy(&ws->lock);
            free(ws);
            zkbpf_stop(lat); /* a proof in progress still reads it otherwise */
        }
    } else {
        zkbpf_stop(lat);
    }
    zk_config_destroy(cfg);
    return status;
}
