/* Distributed proving (sidecar/dist.h): the dispatcher with real parts — jobs built from a real shared-memory state
 * (ipc_batch_build), proofs checked with prv_batch_verify, `zkcar worker`
 * processes ($ZKCAR_BIN) killed with SIGKILL, and ZeroMQ peers written here
 * that misbehave on purpose (garbage frames, garbage proofs, proofs of
 * another batch, silence, versions this dispatcher does not speak). The
 * protocol's messages alone are test_dist_msg.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/eip712.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/batch.h"
#include "ipc/region.h"
#include "prover/batch.h"
#include "sidecar/dist.h"
#include "sidecar/metrics.h"
#include "tests/ipc/ipc_test_util.h"
#include "tests/sidecar/dist_test_util.h"
#include "tests/promtool_util.h"

/* ------------------------------------------------------------ dispatcher */

static pid_t worker_spawn(const char *ep, const char *name, const char *extra)
{
    const char *const x[] = { extra, NULL };
    return worker_spawn_argv(ep, name, x);
}

static sc_dist *dist_new(const char *ep, source *s, uint32_t hb, uint32_t timeout, uint32_t deadline)
{
    sc_dist_config c;
    sc_dist_config_defaults(&c);
    c.endpoint = ep;
    c.params = params;
    c.heartbeat_ms = hb;
    c.worker_timeout_ms = timeout;
    c.job_timeout_ms = deadline;
    sc_dist_source src = source_iface(s);
    sc_dist *d = NULL;
    zk_error_detail e = { 0 };
    if (sc_dist_create(&d, &c, &src, &e) != ZK_OK)
        fail_msg("sc_dist_create: %s", e.text);
    if (sc_dist_start(d, &e) != ZK_OK)
        fail_msg("sc_dist_start: %s", e.text);
    return d;
}

/* ------------------------------------------------------------ a peer written here */

typedef struct peer {
    void *ctx, *sock;
    uint8_t *frame;          /* the last frame received (the message's payload points into it) */
    size_t frame_len;
} peer;

static peer *peer_new(const char *ep, int sock_type)
{
    peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->ctx = zmq_ctx_new();
    p->sock = zmq_socket(p->ctx, sock_type);
    assert_non_null(p->sock);
    int zero = 0;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof zero);
    if (sock_type == ZMQ_ROUTER)
        assert_int_equal(zmq_bind(p->sock, ep), 0);
    else
        assert_int_equal(zmq_connect(p->sock, ep), 0);
    return p;
}

static void peer_free(peer *p)
{
    if (p == NULL)
        return;
    zmq_close(p->sock);
    zmq_ctx_term(p->ctx);
    free(p->frame);
    free(p);
}

static void peer_send_raw(peer *p, const void *buf, size_t len, int flags)
{
    assert_true(zmq_send(p->sock, buf, len, flags) >= 0);
}

static void peer_send(peer *p, const sc_dist_msg *m)
{
    size_t cap = sc_dist_msg_encoded_max(m), len;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(sc_dist_msg_encode(buf, cap, &len, m), ZK_OK);
    peer_send_raw(p, buf, len, 0);
    free(buf);
}

static void peer_ready(peer *p, uint64_t capacity, const char *name)
{
    sc_dist_msg m = { .type = SC_DIST_READY, .version = SC_DIST_VERSION, .capacity = capacity };
    snprintf(m.text, sizeof m.text, "%s", name);
    peer_send(p, &m);
}

/* Receives the next message other than PING within timeout_ms; false on timeout. */
static bool peer_recv(peer *p, sc_dist_msg *m, int timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;
    for (;;) {
        int64_t left = until - now_ms();
        if (left < 0)
            return false;
        zmq_pollitem_t it = { .socket = p->sock, .events = ZMQ_POLLIN };
        if (zmq_poll(&it, 1, (long)left) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        assert_true(zmq_msg_recv(&msg, p->sock, 0) >= 0);
        free(p->frame);
        p->frame_len = zmq_msg_size(&msg);
        p->frame = malloc(p->frame_len + 1);
        assert_non_null(p->frame);
        memcpy(p->frame, zmq_msg_data(&msg), p->frame_len);
        zmq_msg_close(&msg);
        zk_error_detail e = { 0 };
        if (sc_dist_msg_decode(m, &e, p->frame, p->frame_len) != ZK_OK)
            fail_msg("the dispatcher sent a frame that does not decode: %s", e.text);
        if (m->type != SC_DIST_PING)
            return true;
    }
}

/* Waits for a JOB while heartbeating (idle) every 50 ms. */
static void peer_wait_job(peer *p, sc_dist_msg *m, int timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;
    for (;;) {
        if (now_ms() > until)
            fail_msg("no JOB within %d ms", timeout_ms);
        if (peer_recv(p, m, 50)) {
            if (m->type != SC_DIST_JOB)
                fail_msg("message type %d (%s) while waiting for a JOB", (int)m->type, m->text);
            return;
        }
        sc_dist_msg hb = { .type = SC_DIST_HEARTBEAT };
        size_t len;
        uint8_t buf[64];
        assert_int_equal(sc_dist_msg_encode(buf, sizeof buf, &len, &hb), ZK_OK);
        assert_true(zmq_send(p->sock, buf, len, 0) >= 0);
    }
}

static void peer_expect(peer *p, sc_dist_msg *m, sc_dist_msg_type type, int timeout_ms)
{
    if (!peer_recv(p, m, timeout_ms))
        fail_msg("no message of type %d within %d ms", (int)type, timeout_ms);
    if (m->type != type)
        fail_msg("message type %d (%s), expected %d", (int)m->type, m->text, (int)type);
}

/* ------------------------------------------------------------ tests: the dispatcher */

/* Two real workers prove every batch exactly once; SIGTERM stops each with
 * exit 0 and a BYE. */
static void test_two_workers(void **state)
{
    (void)state;
    source *s = source_new(4, 2);
    set_frozen(s, true);
    char ep[256];
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, 200, 5000, 120000);
    pid_t a = worker_spawn(ep, "two-a", NULL), b = worker_spawn(ep, "two-b", NULL);
    WAIT_UNTIL(stats_of(d).workers == 2, 20000, "two workers");
    set_frozen(s, false);
    WAIT_UNTIL(source_all_proven(s), 120000, "every batch proven");
    /* (the source accepts inside done(); the counter moves right after) */
    WAIT_UNTIL(stats_of(d).proofs_accepted == 4, 5000, "the counter");
    expect_each_proven_once(s);
    sc_dist_stats st = stats_of(d);
    assert_int_equal(st.proofs_rejected, 0);
    assert_int_equal(st.jobs_sent, 4);
    assert_int_equal(s->give_backs, 0);
    /* Both took part (jobs go to the least-loaded worker), and each logged its proving times. */
    int pa = log_count("two-a", "msg=\"batch proven\""), pb = log_count("two-b", "msg=\"batch proven\"");
    assert_int_equal(pa + pb, 4);
    assert_true(pa >= 1 && pb >= 1);
    assert_int_equal(log_count("two-a", "prove_seconds="), pa);
    assert_int_equal(log_count("two-b", "fri_seconds="), pb); /* stage times from --bpf auto */
    worker_stop(a);
    worker_stop(b);
    WAIT_UNTIL(stats_of(d).workers == 0, 5000, "the workers' BYE");
    sc_dist_destroy(d);
    source_free(s);
}

/* A worker killed with SIGKILL in the middle of a proof: the job is re-issued
 * and another worker proves it. */
static void test_worker_killed(void **state)
{
    (void)state;
    source *s = source_new(2, 60);
    /* Only batch 2 (60 transfers, the slowest) is to be proven. */
    s->queued[0] = false;
    s->proven[0] = 1;
    set_frozen(s, true);
    char ep[256];
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, 200, 1000, 120000);
    pid_t a = worker_spawn(ep, "kill-a", NULL);
    WAIT_UNTIL(stats_of(d).workers == 1, 20000, "worker a");
    set_frozen(s, false);
    /* Polled every millisecond: the proof takes ~100 ms in the normal build. */
    int64_t until = now_ms() + 20000;
    while (log_count("kill-a", "msg=proving") == 0) {
        if (now_ms() > until)
            fail_msg("worker a did not start proving");
        usleep(1000);
    }
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    assert_int_equal(log_count("kill-a", "msg=\"batch proven\""), 0); /* killed mid-proof */
    WAIT_UNTIL(stats_of(d).jobs_reissued == 1, 5000, "the job re-issued");
    sc_dist_stats st = stats_of(d);
    assert_int_equal(st.workers_lost, 1);
    assert_int_equal(st.workers, 0);
    assert_int_equal(s->give_backs, 1);
    pid_t b = worker_spawn(ep, "kill-b", NULL);
    WAIT_UNTIL(source_all_proven(s), 120000, "batch 2 proven by worker b");
    WAIT_UNTIL(stats_of(d).proofs_accepted == 1, 5000, "the counter");
    expect_each_proven_once(s);
    WAIT_UNTIL(log_count("kill-b", "msg=\"batch proven\"") == 1, 5000, "worker b's log");
    worker_stop(b);
    sc_dist_destroy(d);
    source_free(s);
}

/* A worker written here that answers every job with a bad proof: garbage
 * bytes, then a real proof of another batch, then a stale result. None is
 * accepted; the worker is quarantined; a real worker proves everything. */
static void test_bad_proofs(void **state)
{
    (void)state;
    source *s = source_new(3, 2);
    /* Real proofs of batches 1 and 2, to be sent for the wrong batch. */
    uint8_t *real[2];
    size_t real_len[2];
    zk_error_detail e = { 0 };
    for (int k = 0; k < 2; k++)
        assert_int_equal(prv_batch_prove(&s->jobs[k], &params, &real[k], &real_len[k], &e), ZK_OK);
    char ep[256];
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, 200, 5000, 120000);
    zk_metrics *reg = NULL;
    assert_int_equal(zk_metrics_create(&reg), ZK_OK);
    assert_int_equal(sc_dist_register_metrics(d, reg), ZK_OK);
    assert_int_equal(sc_dist_register_metrics(d, reg), ZK_ERR_USAGE);
    peer *r = peer_new(ep, ZMQ_DEALER);
    peer_ready(r, 1, "rogue");
    sc_dist_msg m;
    peer_expect(r, &m, SC_DIST_WELCOME, 5000);
    assert_int_equal(m.version, SC_DIST_VERSION);
    assert_int_equal(m.heartbeat_ms, 200);

    /* 1: garbage bytes as the proof of the first job. */
    peer_expect(r, &m, SC_DIST_JOB, 5000);
    assert_int_equal(m.batch, 1);
    assert_memory_equal(&m.params, &params, sizeof params);
    prv_batch_job job;
    assert_int_equal(prv_batch_job_decode(&job, &e, m.payload, m.payload_len), ZK_OK);
    assert_int_equal(job.pub.number, 1);
    prv_batch_job_free(&job);
    uint8_t garbage[1000];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 131 + 17);
    uint64_t first_attempt = m.attempt;
    sc_dist_msg res = { .type = SC_DIST_RESULT, .attempt = m.attempt, .batch = m.batch, .prove_ms = 5,
                        .payload = garbage, .payload_len = sizeof garbage };
    peer_send(r, &res);
    WAIT_UNTIL(stats_of(d).proofs_rejected == 1, 5000, "the garbage proof rejected");
    assert_int_equal(s->rejected, 1);
    /* Quarantined for 1 s: no job meanwhile, though batch 1 is queued again. */
    int64_t t0 = now_ms();
    peer_expect(r, &m, SC_DIST_JOB, 5000);
    assert_true(now_ms() - t0 >= 800);
    assert_int_equal(m.batch, 1);
    assert_true(m.attempt != first_attempt);

    /* 2: a real proof, but of batch 2, for batch 1. */
    res = (sc_dist_msg){ .type = SC_DIST_RESULT, .attempt = m.attempt, .batch = m.batch, .prove_ms = 5,
                         .payload = real[1], .payload_len = real_len[1] };
    peer_send(r, &res);
    WAIT_UNTIL(stats_of(d).proofs_rejected == 2, 5000, "a proof of another batch rejected");
    /* 3: a result for an attempt that is not in flight, even with a valid
     * proof of the batch it names, is stale and ignored. */
    res = (sc_dist_msg){ .type = SC_DIST_RESULT, .attempt = first_attempt, .batch = 1, .prove_ms = 5,
                         .payload = real[0], .payload_len = real_len[0] };
    peer_send(r, &res);
    WAIT_UNTIL(stats_of(d).results_stale == 1, 5000, "a stale result ignored");
    assert_int_equal(s->proven[0], 0);

    /* A real worker proves all three while the rogue sits in quarantine (2 s,
     * then 4 s) and keeps answering whatever it gets with garbage. */
    pid_t w = worker_spawn(ep, "honest", NULL);
    int64_t until = now_ms() + 120000;
    while (!source_all_proven(s)) {
        assert_true(now_ms() < until);
        if (peer_recv(r, &m, 20) && m.type == SC_DIST_JOB) {
            res = (sc_dist_msg){ .type = SC_DIST_RESULT, .attempt = m.attempt, .batch = m.batch, .prove_ms = 5,
                                 .payload = garbage, .payload_len = sizeof garbage };
            peer_send(r, &res);
        }
        /* keep the rogue alive in the dispatcher's eyes */
        sc_dist_msg hb = { .type = SC_DIST_HEARTBEAT };
        peer_send(r, &hb);
    }
    WAIT_UNTIL(stats_of(d).proofs_accepted == 3, 5000, "the counter");
    expect_each_proven_once(s);
    sc_dist_stats st = stats_of(d);
    assert_int_equal(st.proofs_rejected, s->rejected);
    assert_true(st.proofs_rejected >= 2);
    /* The accepted proofs are the honest ones: they verify, and the one for batch 1 is not the rogue's. */
    for (int k = 0; k < 3; k++)
        assert_int_equal(prv_batch_verify(&s->jobs[k].pub, s->proof[k], s->proof_len[k], &e), ZK_OK);
    /* The metrics follow the counters, and promtool finds nothing to say. */
    st = stats_of(d);
    char *text = NULL;
    size_t tlen = 0;
    assert_int_equal(zk_metrics_render(reg, &text, &tlen), ZK_OK);
    char want[160];
    snprintf(want, sizeof want, "zkcar_remote_jobs_total{event=\"proof_rejected\"} %" PRIu64 "\n", st.proofs_rejected);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "zkcar_remote_jobs_total{event=\"proof_accepted\"} 3\n"));
    assert_non_null(strstr(text, "zkcar_remote_jobs_total{event=\"stale_result\"} 1\n"));
    assert_non_null(strstr(text, "zkcar_remote_workers 2\n"));
    snprintf(want, sizeof want, "zkcar_remote_jobs_total{event=\"sent\"} %" PRIu64 "\n", st.jobs_sent);
    assert_non_null(strstr(text, want));
    char pout[2048];
    if (promtool_check(text, pout, sizeof pout) != 0)
        fail_msg("promtool check metrics refused (%s):\n%s", pout, text);
    free(text);
    worker_stop(w);
    peer_free(r);
    sc_dist_destroy(d);
    zk_metrics_destroy(reg);
    free(real[0]);
    free(real[1]);
    source_free(s);
}

/* Silence, a lost attempt and a passed deadline each send the job back. */
static void test_timeouts(void **state)
{
    (void)state;
    source *s = source_new(1, 0);
    char ep[256];
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, 100, 500, 1500);
    peer *r = peer_new(ep, ZMQ_DEALER);
    peer_ready(r, 1, "quiet");
    sc_dist_msg m;
    peer_expect(r, &m, SC_DIST_WELCOME, 5000);
    /* Lost attempt: the worker heartbeats, but never names the attempt. */
    peer_expect(r, &m, SC_DIST_JOB, 5000);
    uint64_t lost = m.attempt;
    int64_t t0 = now_ms();
    while (stats_of(d).jobs_reissued < 1) {
        assert_true(now_ms() - t0 < 5000);
        sc_dist_msg hb = { .type = SC_DIST_HEARTBEAT, .attempt = 0 };
        peer_send(r, &hb);
        sleep_ms(50);
    }
    assert_true(now_ms() - t0 >= 450);
    assert_int_equal(stats_of(d).workers, 1);
    /* Deadline: the attempt is named in every heartbeat, but no result comes. */
    peer_expect(r, &m, SC_DIST_JOB, 5000);
    assert_true(m.attempt != lost);
    t0 = now_ms();
    while (stats_of(d).jobs_reissued < 2) {
        assert_true(now_ms() - t0 < 5000);
        sc_dist_msg hb = { .type = SC_DIST_HEARTBEAT, .attempt = m.attempt };
        peer_send(r, &hb);
        sleep_ms(50);
    }
    assert_true(now_ms() - t0 >= 1400);
    /* Silence: the worker says nothing at all: it is dropped with its job. */
    peer_expect(r, &m, SC_DIST_JOB, 5000);
    WAIT_UNTIL(stats_of(d).workers == 0, 5000, "the silent worker dropped");
    sc_dist_stats st = stats_of(d);
    assert_int_equal(st.jobs_reissued, 3);
    assert_int_equal(st.workers_lost, 1);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(s->give_backs, 3);
    assert_true(s->queued[0]);
    /* A late result for any of those attempts is stale. The worker is not
     * registered any more: it is told to say READY. */
    sc_dist_msg res = { .type = SC_DIST_RESULT, .attempt = lost, .batch = 1, .code = ZK_ERR_NOMEM };
    peer_send(r, &res);
    peer_expect(r, &m, SC_DIST_ERROR, 5000);
    assert_int_equal(m.code, ZK_ERR_WORKER_PROTOCOL);
    assert_non_null(strstr(m.text, "READY"));
    /* A worker that reports a failure gets the job given back at once. */
    peer_ready(r, 1, "quiet");
    peer_expect(r, &m, SC_DIST_WELCOME, 5000);
    peer_expect(r, &m, SC_DIST_JOB, 5000);
    res = (sc_dist_msg){ .type = SC_DIST_RESULT, .attempt = m.attempt, .batch = 1, .code = ZK_ERR_BATCH_WITNESS };
    snprintf(res.text, sizeof res.text, "witness");
    peer_send(r, &res);
    WAIT_UNTIL(stats_of(d).jobs_failed == 1, 5000, "the failure reported");
    assert_int_equal(s->give_backs, 4);
    /* ... and the worker gets no job for 1 s (quarantine), so that a job
     * nobody can prove is not retried in a hot loop. */
    int64_t t1 = now_ms();
    peer_wait_job(r, &m, 5000);
    assert_true(now_ms() - t1 >= 800);
    /* BYE: the worker leaves, its job goes back at once. */
    sc_dist_msg bye = { .type = SC_DIST_BYE };
    peer_send(r, &bye);
    WAIT_UNTIL(s->give_backs == 5, 5000, "the job given back on BYE");
    assert_int_equal(stats_of(d).workers, 0);
    peer_free(r);
    /* Stopping the dispatcher gives back what is in flight. */
    r = peer_new(ep, ZMQ_DEALER);
    peer_ready(r, 1, "last");
    peer_expect(r, &m, SC_DIST_WELCOME, 5000);
    peer_expect(r, &m, SC_DIST_JOB, 5000);
    sc_dist_destroy(d);
    assert_int_equal(s->give_backs, 6);
    assert_false(s->out[0]);
    peer_free(r);
    source_free(s);
}

/* Jobs go to the least-loaded worker (load = held / capacity), ties to the
 * one idle longest; never beyond a worker's capacity. */
static void test_load_balance(void **state)
{
    (void)state;
    source *s = source_new(5, 1);
    set_frozen(s, true);
    char ep[256];
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, 200, 5000, 120000);
    peer *a = peer_new(ep, ZMQ_DEALER), *b = peer_new(ep, ZMQ_DEALER);
    sc_dist_msg m;
    peer_ready(a, 2, "big");
    peer_expect(a, &m, SC_DIST_WELCOME, 5000);
    sleep_ms(20);
    peer_ready(b, 1, "small");
    peer_expect(b, &m, SC_DIST_WELCOME, 5000);
    set_frozen(s, false);
    /* a (idle longer) gets job 1, b (0/1 < 1/2) job 2, a job 3; then both are full. */
    uint64_t got_a[3] = { 0 }, got_b[3] = { 0 };
    int na = 0, nb = 0;
    int64_t until = now_ms() + 1500;
    while (now_ms() < until) {
        if (peer_recv(a, &m, 10) && m.type == SC_DIST_JOB && na < 3)
            got_a[na++] = m.batch;
        if (peer_recv(b, &m, 10) && m.type == SC_DIST_JOB && nb < 3)
            got_b[nb++] = m.batch;
        sc_dist_msg hb = { .type = SC_DIST_HEARTBEAT };
        peer_send(a, &hb);
        peer_send(b, &hb);
    }
    assert_int_equal(na, 2);
    assert_int_equal(nb, 1);
    assert_int_equal(got_a[0], 1);
    assert_int_equal(got_b[0], 2);
    assert_int_equal(got_a[1], 3);
    assert_int_equal(stats_of(d).in_flight, 3);
    sc_dist_destroy(d);
    assert_int_equal(s->give_backs, 3);
    peer_free(a);
    peer_free(b);
    source_free(s);
}

/* Garbage of every kind from a peer: answered with ERROR or dropped, never a
 * crash; the dispatcher goes on serving. */
static void test_garbage_frames(void **state)
{
    (void)state;
    source *s = source_new(1, 0);
    set_frozen(s, true);
    char ep[256];
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, 200, 5000, 120000);
    peer *g = peer_new(ep, ZMQ_DEALER);
    sc_dist_msg m;
    /* Bytes that are not a message. */
    peer_send_raw(g, "hello", 5, 0);
    peer_expect(g, &m, SC_DIST_ERROR, 5000);
    assert_int_equal(m.code, ZK_ERR_WORKER_PROTOCOL);
    peer_send_raw(g, "", 0, 0);
    peer_expect(g, &m, SC_DIST_ERROR, 5000);
    /* A multi-part message. */
    peer_send_raw(g, "\x91\x07", 2, ZMQ_SNDMORE);
    peer_send_raw(g, "\x91\x07", 2, 0);
    peer_expect(g, &m, SC_DIST_ERROR, 5000);
    assert_non_null(strstr(m.text, "one frame"));
    /* Messages a worker does not send, and messages before READY. */
    sc_dist_msg job = { .type = SC_DIST_JOB, .attempt = 1, .batch = 1, .params = params,
                        .payload = (const uint8_t *)"x", .payload_len = 1 };
    peer_send(g, &job);
    peer_expect(g, &m, SC_DIST_ERROR, 5000);
    sc_dist_msg hb = { .type = SC_DIST_HEARTBEAT, .attempt = 5 };
    peer_send(g, &hb);
    peer_expect(g, &m, SC_DIST_ERROR, 5000);
    assert_non_null(strstr(m.text, "READY"));
    /* Another protocol version. */
    sc_dist_msg ready = { .type = SC_DIST_READY, .version = SC_DIST_VERSION + 1, .capacity = 1 };
    snprintf(ready.text, sizeof ready.text, "future");
    peer_send(g, &ready);
    peer_expect(g, &m, SC_DIST_ERROR, 5000);
    assert_int_equal(m.code, ZK_ERR_UNSUPPORTED);
    assert_int_equal(stats_of(d).workers, 0);
    /* Mutations of valid frames, thousands of them. */
    uint8_t valid[64], buf[64];
    size_t vlen;
    ready.version = SC_DIST_VERSION;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 3000; i++) {
        sc_dist_msg v = i % 3 == 0 ? ready : i % 3 == 1 ? hb : (sc_dist_msg){ .type = SC_DIST_BYE };
        assert_int_equal(sc_dist_msg_encode(valid, sizeof valid, &vlen, &v), ZK_OK);
        memcpy(buf, valid, vlen);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = vlen - (x % 3 == 0 ? x % vlen : 0);
        buf[(x >> 8) % vlen] ^= (uint8_t)(x >> 16 | 1);
        if (x % 5 == 0)
            buf[(x >> 24) % vlen] = (uint8_t)(x >> 32);
        peer_send_raw(g, buf, len, ZMQ_DONTWAIT);
        while (peer_recv(g, &m, 0))
            ;
    }
    sleep_ms(300);
    assert_true(stats_of(d).frames_bad >= 6);
    /* A frame above the largest result: ZeroMQ drops the peer before buffering it. */
    peer *big = peer_new(ep, ZMQ_DEALER);
    size_t biglen = SC_DIST_PROOF_MAX + SC_DIST_CONTROL_MAX + 4096;
    uint8_t *huge = calloc(1, biglen);
    assert_non_null(huge);
    huge[0] = 0x91;
    peer_send_raw(big, huge, biglen, 0);
    free(huge);
    assert_false(peer_recv(big, &m, 500));
    peer_free(big);
    peer_free(g);
    /* Still serving: a proper worker registers and gets the job. */
    peer *w = peer_new(ep, ZMQ_DEALER);
    peer_ready(w, 1, "after-garbage");
    peer_expect(w, &m, SC_DIST_WELCOME, 5000);
    set_frozen(s, false);
    peer_expect(w, &m, SC_DIST_JOB, 5000);
    assert_int_equal(m.batch, 1);
    sc_dist_destroy(d);
    peer_free(w);
    source_free(s);
}

/* A worker started before its dispatcher registers once it appears; when the
 * dispatcher goes away and another binds the endpoint, the worker notices the
 * silence and registers again. */
static void test_worker_reconnects(void **state)
{
    (void)state;
    source *s = source_new(2, 1);
    s->queued[1] = false;
    char ep[256];
    endpoint_new(ep, sizeof ep);
    pid_t w = worker_spawn(ep, "roamer", NULL);
    sleep_ms(300);
    sc_dist *d = dist_new(ep, s, 200, 2000, 120000);
    WAIT_UNTIL(s->proven[0] == 1, 60000, "batch 1 proven through the first dispatcher");
    sc_dist_destroy(d);
    pthread_mutex_lock(&s->lock);
    s->queued[1] = true;
    pthread_mutex_unlock(&s->lock);
    d = dist_new(ep, s, 200, 2000, 120000);
    WAIT_UNTIL(source_all_proven(s), 60000, "batch 2 proven through the second dispatcher");
    expect_each_proven_once(s);
    /* (at least: a machine loaded enough to starve the pings for 2 s adds one) */
    assert_true(log_count("roamer", "msg=\"dispatcher lost\"") >= 1);
    assert_true(log_count("roamer", "msg=\"connected to the dispatcher\"") >= 2);
    worker_stop(w);
    sc_dist_destroy(d);
    source_free(s);
}

/* `zkcar worker`: usage errors exit 2; a dispatcher that refuses its
 * version makes it exit 1; --log-format json gives JSON lines. */
static void test_worker_command(void **state)
{
    (void)state;
    const char *bin = zkcar_bin();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s worker --help >/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "%s worker 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 --jobs 0 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 --bpf sometimes 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s worker --connect nonsense://x 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 extra 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);

    /* A ROUTER written here plays a dispatcher of another version. */
    char ep[256];
    endpoint_new(ep, sizeof ep);
    peer *r = peer_new(ep, ZMQ_ROUTER);
    pid_t w = worker_spawn(ep, "refused", "--log-format=json");
    uint8_t id[256], buf[1024];
    zmq_pollitem_t it = { .socket = r->sock, .events = ZMQ_POLLIN };
    assert_true(zmq_poll(&it, 1, 20000) == 1);
    int idn = zmq_recv(r->sock, id, sizeof id, 0);
    assert_true(idn > 0);
    int n = zmq_recv(r->sock, buf, sizeof buf, 0);
    assert_true(n > 0);
    sc_dist_msg m;
    zk_error_detail e = { 0 };
    assert_int_equal(sc_dist_msg_decode(&m, &e, buf, (size_t)n), ZK_OK);
    assert_int_equal(m.type, SC_DIST_READY);
    assert_int_equal(m.version, SC_DIST_VERSION);
    assert_int_equal(m.capacity, 1);
    assert_string_equal(m.text, "refused");
    sc_dist_msg err = { .type = SC_DIST_ERROR, .code = ZK_ERR_UNSUPPORTED };
    snprintf(err.text, sizeof err.text, "this dispatcher speaks version %d", SC_DIST_VERSION + 1);
    size_t len;
    assert_int_equal(sc_dist_msg_encode(buf, sizeof buf, &len, &err), ZK_OK);
    zmq_send(r->sock, id, (size_t)idn, ZMQ_SNDMORE);
    zmq_send(r->sock, buf, len, 0);
    assert_int_equal(wait_exit(w, 10000), 1);
    /* Every line is a JSON object. */
    assert_true(log_count("refused", "") >= 2);
    assert_int_equal(log_count("refused", "{\"ts\":"), log_count("refused", ""));
    assert_true(log_count("refused", "\"msg\":\"dispatcher refused this worker\"") == 1);
    peer_free(r);
}

static int group_setup(void **state)
{
    (void)state;
    if (dist_keys_setup() != 0 || workdir_create("zkcar-dist") != 0)
        return -1;
    /* The dispatcher's log lines go to a file the tests can read. */
    zk_log_set_level(ZK_LOG_INFO);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    workdir_remove();
    return 0;
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_workers, kill_leftovers),
        cmocka_unit_test_teardown(test_worker_killed, kill_leftovers),
        cmocka_unit_test_teardown(test_bad_proofs, kill_leftovers),
        cmocka_unit_test_teardown(test_timeouts, kill_leftovers),
        cmocka_unit_test_teardown(test_load_balance, kill_leftovers),
        cmocka_unit_test_teardown(test_garbage_frames, kill_leftovers),
        cmocka_unit_test_teardown(test_worker_reconnects, kill_leftovers),
        cmocka_unit_test_teardown(test_worker_command, kill_leftovers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
