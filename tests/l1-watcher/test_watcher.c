/*
 * tests/l1-watcher/test_watcher.c — the watcher against a real anvil, over IPC
 * and over HTTP: confirmations, exactly-once order, reorgs (shallow and deep),
 * a node restart, SIGKILL of the watcher and of the consumer.
 *
 * `test_watcher consumer ENDPOINT FILE TOTAL` is the consumer child used by the
 * consumer-kill test: it resumes from the last line of FILE, appends
 * "seq deposit_id stream_id" per applied record (fsync before ack) and exits
 * when TOTAL records are applied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "common/hex.h"
#include "common/log.h"
#include "l1-watcher/l1w.h"
#include "l1-watcher/pending.h"
#include "tests/l1-watcher/harness.h"

static const char *self_path;

typedef struct ctx {
    th_anvil a;
    bool ipc;
    l1w_watcher *w;
    pthread_t thr;
    bool running;
    zk_err run_rc;
    zk_error_detail run_err;
    char endpoint[320];
    char data_dir[320];
    pid_t child;               /* a zkcar watch or consumer process, killed by teardown */
    pthread_mutex_t cb_lock;   /* the on_deposit callback (embedding API) */
    l1w_record cb[16];
    size_t ncb;
} ctx;

static void on_deposit(void *p, const l1w_record *r)
{
    ctx *c = p;
    pthread_mutex_lock(&c->cb_lock);
    if (c->ncb < sizeof c->cb / sizeof c->cb[0])
        c->cb[c->ncb] = *r;
    c->ncb++;
    pthread_mutex_unlock(&c->cb_lock);
}

static void *run_thread(void *p)
{
    ctx *c = p;
    c->run_rc = l1w_watcher_run(c->w, &c->run_err);
    return NULL;
}

static void start_watcher_poll(ctx *c, uint32_t confirmations, uint64_t from_block, int poll_ms);

static void start_watcher(ctx *c, uint32_t confirmations, uint64_t from_block)
{
    start_watcher_poll(c, confirmations, from_block, 50);
}

static void start_watcher_poll(ctx *c, uint32_t confirmations, uint64_t from_block, int poll_ms)
{
    l1w_config cfg;
    l1w_config_defaults(&cfg);
    cfg.l1_rpc = c->ipc ? c->a.ipc_url : c->a.http_url;
    memcpy(cfg.bridge, c->a.bridge, 20);
    cfg.from_block = from_block;
    cfg.confirmations = confirmations;
    cfg.chain_id = 31337; /* anvil's default chain id */
    snprintf(c->data_dir, sizeof c->data_dir, "%s/data", c->a.dir);
    snprintf(c->endpoint, sizeof c->endpoint, "ipc://%s/stream.sock", c->a.dir);
    cfg.data_dir = c->data_dir;
    cfg.stream_endpoint = c->endpoint;
    cfg.poll_ms = poll_ms;
    cfg.rpc_timeout_ms = 2000;
    zk_error_detail e = { 0 };
    zk_err rc = l1w_watcher_create(&c->w, &e, &cfg, on_deposit, c);
    if (rc != ZK_OK)
        fail_msg("watcher_create: %s", e.text);
    assert_int_equal(pthread_create(&c->thr, NULL, run_thread, c), 0);
    c->running = true;
}

static zk_err stop_watcher(ctx *c)
{
    if (!c->running)
        return c->run_rc;
    l1w_watcher_stop(c->w);
    pthread_join(c->thr, NULL);
    c->running = false;
    return c->run_rc;
}

static void stats(ctx *c, l1w_stats *s) { l1w_watcher_stats(c->w, s); }

static int setup_ipc(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->cb_lock, NULL);
    c->ipc = true;
    th_anvil_start(&c->a, false, NULL);
    *state = c;
    return 0;
}

static int setup_http(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->cb_lock, NULL);
    c->ipc = false;
    th_anvil_start(&c->a, false, NULL);
    *state = c;
    return 0;
}

static int setup_ipc_state(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->cb_lock, NULL);
    c->ipc = true;
    th_anvil_start(&c->a, true, NULL);
    *state = c;
    return 0;
}

static int setup_http_state(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->cb_lock, NULL);
    c->ipc = false;
    th_anvil_start(&c->a, true, NULL);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    if (c->child > 0) {
        int st;
        kill(c->child, SIGKILL);
        waitpid(c->child, &st, 0);
    }
    stop_watcher(c);
    l1w_watcher_destroy(c->w);
    th_anvil_destroy(&c->a);
    pthread_mutex_destroy(&c->cb_lock);
    free(c);
    return 0;
}

static void addr_of(uint8_t out[20], int i)
{
    memset(out, 0, 20);
    out[0] = 0xd0;
    out[19] = (uint8_t)i;
    out[18] = (uint8_t)(i >> 8);
}

static void expect_record(l1w_consumer *k, l1w_record *r, int timeout_ms)
{
    zk_error_detail e = { 0 };
    zk_err rc = l1w_consumer_next(k, r, &e, timeout_ms);
    if (rc != ZK_OK)
        fail_msg("expected a record: %s (%s)", zk_strerror(rc), e.text);
    assert_int_equal(l1w_consumer_ack(k, &e, r->seq), ZK_OK);
}

static void expect_none(l1w_consumer *k, int ms)
{
    l1w_record r;
    zk_error_detail e = { 0 };
    zk_err rc = l1w_consumer_next(k, &r, &e, ms);
    if (rc == ZK_OK)
        fail_msg("unexpected record seq %" PRIu64 " deposit %" PRIu64 " block %" PRIu64, r.seq,
                 r.deposit.deposit_id, r.deposit.block_number);
    assert_int_equal(rc, ZK_ERR_TIMEOUT);
}

static void wait_head(ctx *c, uint64_t head)
{
    int64_t deadline = th_now_ms() + 10000;
    l1w_stats s;
    for (;;) {
        stats(c, &s);
        if (s.l1_head >= head)
            return;
        assert_true(th_now_ms() < deadline);
        th_sleep_ms(10);
    }
}

/* Deposits from several accounts arrive once, in order, only after N confirmations. */
static void test_confirmations(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    start_watcher(c, 3, d);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    char tx[6][67];
    for (int i = 0; i < 6; i++) {
        uint8_t to[20];
        addr_of(to, i);
        th_deposit(&c->a, tx[i], i % 3 + 1, to, 1000 + (uint64_t)i);
    }
    assert_int_equal(th_block_number(&c->a), d + 6);
    /* Head d+6, N = 3: blocks up to d+4 are confirmed, holding deposits 0..3. */
    for (int i = 0; i < 4; i++) {
        l1w_record r;
        expect_record(k, &r, 10000);
        assert_int_equal(r.seq, (uint64_t)i + 1);
        assert_int_equal(r.deposit.deposit_id, (uint64_t)i);
        assert_int_equal(r.deposit.amount_gwei, 1000 + (uint64_t)i);
        assert_int_equal(r.deposit.block_number, d + 1 + (uint64_t)i);
        uint8_t to[20], from[20], txb[32];
        addr_of(to, i);
        assert_memory_equal(r.deposit.to, to, 20);
        assert_int_equal(zk_hex_decode(from, 20, NULL, c->a.accounts[i % 3 + 1], 42), ZK_OK);
        assert_memory_equal(r.deposit.from, from, 20);
        assert_int_equal(zk_hex_decode(txb, 32, NULL, tx[i], 66), ZK_OK);
        assert_memory_equal(r.deposit.tx_hash, txb, 32);
    }
    expect_none(k, 800);
    th_mine(&c->a, 1);
    l1w_record r;
    expect_record(k, &r, 10000);
    assert_int_equal(r.deposit.deposit_id, 4);
    expect_none(k, 500);
    th_mine(&c->a, 1);
    expect_record(k, &r, 10000);
    assert_int_equal(r.deposit.deposit_id, 5);
    assert_int_equal(r.seq, 6);
    th_mine(&c->a, 5);
    expect_none(k, 500);
    uint64_t head, conf;
    l1w_consumer_status(k, &head, &conf);
    assert_true(head >= d + 6);
    l1w_stats s;
    stats(c, &s);
    assert_int_equal(s.next_deposit_id, 6);
    assert_int_equal(s.last_seq, 6);
    assert_int_equal(s.chain_id, 31337);
    /* The embedding callback saw the same six records, in order. */
    pthread_mutex_lock(&c->cb_lock);
    assert_int_equal(c->ncb, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(c->cb[i].seq, i + 1);
        assert_int_equal(c->cb[i].deposit.deposit_id, i);
        assert_int_equal(c->cb[i].deposit.amount_gwei, 1000 + i);
    }
    pthread_mutex_unlock(&c->cb_lock);
    l1w_consumer_destroy(k);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

static void reorg(ctx *c, int depth, int from_idx) { th_reorg(&c->a, depth, from_idx); }

/* Waits until the pending view `v` says deposit `id` is pending (or, with
 * `reorged`, reorged) with transaction `txhex` in block `block`. With a
 * consumer `k`, its messages are read meanwhile (no record may arrive). */
static void wait_view(l1w_pending *v, l1w_consumer *k, uint64_t id, const char *txhex, uint64_t block, bool reorged)
{
    uint8_t tx[32];
    assert_int_equal(zk_hex_decode(tx, 32, NULL, txhex, 66), ZK_OK);
    int64_t deadline = th_now_ms() + 10000;
    for (;;) {
        l1w_deposit d;
        bool r = false;
        if (l1w_pending_lookup(v, id, &d, &r) && r == reorged && memcmp(d.tx_hash, tx, 32) == 0) {
            assert_int_equal(d.block_number, block);
            return;
        }
        if (th_now_ms() > deadline)
            fail_msg("deposit %" PRIu64 " not %s in the %s's view", id, reorged ? "reorged" : "pending",
                     k ? "consumer" : "watcher");
        if (k != NULL)
            expect_none(k, 50);
        else
            th_sleep_ms(20);
    }
}

/* A deposit reorged out before it is confirmed is never delivered; a confirmed one is delivered once. */
static void test_reorg(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    th_mine(&c->a, 4);
    start_watcher(c, 3, d);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    uint8_t to[20];
    addr_of(to, 1);
    char tx0[67], tx1[67];
    th_deposit(&c->a, tx0, 1, to, 5);
    uint64_t b = th_block_number(&c->a);
    wait_head(c, b);
    /* Unconfirmed: pending in the watcher's view and, over the stream, in the consumer's. */
    wait_view(l1w_watcher_pending(c->w), NULL, 0, tx0, b, false);
    wait_view(l1w_consumer_pending(k), k, 0, tx0, b, false);
    reorg(c, 1, 2); /* block b re-mined with a transfer instead of the deposit */
    th_mine(&c->a, 5);
    wait_view(l1w_watcher_pending(c->w), NULL, 0, tx0, b, true);
    wait_view(l1w_consumer_pending(k), k, 0, tx0, b, true);
    expect_none(k, 500);
    l1w_stats s;
    stats(c, &s);
    assert_true(s.reorgs_total >= 1);
    assert_int_equal(s.next_deposit_id, 0);
    assert_int_equal(s.deposits_reorged_total, 1);
    assert_int_equal(s.deposits_pending, 0);
    /* The contract's state went back too: the next deposit is id 0 again,
     * and the canonical one wins over the reorged one in both views. */
    th_deposit(&c->a, tx1, 3, to, 7);
    uint64_t b1 = th_block_number(&c->a);
    wait_view(l1w_watcher_pending(c->w), NULL, 0, tx1, b1, false);
    wait_view(l1w_consumer_pending(k), k, 0, tx1, b1, false);
    stats(c, &s);
    assert_int_equal(s.deposits_pending, 1);
    th_mine(&c->a, 2);
    l1w_record r;
    expect_record(k, &r, 10000);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.deposit.deposit_id, 0);
    assert_int_equal(r.deposit.amount_gwei, 7);
    uint8_t h0[32], h1[32];
    assert_int_equal(zk_hex_decode(h0, 32, NULL, tx0, 66), ZK_OK);
    assert_int_equal(zk_hex_decode(h1, 32, NULL, tx1, 66), ZK_OK);
    assert_memory_equal(r.deposit.tx_hash, h1, 32);
    assert_memory_not_equal(r.deposit.tx_hash, h0, 32);
    /* Delivered and acked: no longer pending anywhere (the reorged tx0 is what remains of id 0). */
    expect_none(k, 300);
    wait_view(l1w_watcher_pending(c->w), NULL, 0, tx0, b, true);
    wait_view(l1w_consumer_pending(k), k, 0, tx0, b, true);
    stats(c, &s);
    assert_int_equal(s.deposits_pending, 0);
    /* A shallow reorg above the confirmed deposit changes nothing delivered. */
    uint64_t reorgs = s.reorgs_total;
    wait_head(c, th_block_number(&c->a));
    th_sleep_ms(200);
    reorg(c, 1, 4);
    th_mine(&c->a, 4);
    expect_none(k, 1000);
    stats(c, &s);
    assert_true(s.reorgs_total > reorgs);
    assert_int_equal(s.last_seq, 1);
    assert_int_equal(s.fatal, ZK_OK);
    l1w_consumer_destroy(k);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

/* Raw DEALER helpers: one message to / from the watcher. */
static void raw_send(void *sock, const l1w_msg *m)
{
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, m), ZK_OK);
    assert_true(zmq_send(sock, buf, len, 0) >= 0);
}

static bool raw_recv(void *sock, l1w_msg *m, int timeout_ms)
{
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return false;
    uint8_t buf[L1W_MSG_MAX];
    int n = zmq_recv(sock, buf, sizeof buf, 0);
    assert_true(n > 0);
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_msg_decode(m, &e, buf, (size_t)n), ZK_OK);
    return true;
}

/* Versions: a version-1 consumer is served without SEEN or REORGED; version
 * 3 is refused; a version-2 consumer that connects after a deposit was seen
 * gets the pending set right after WELCOME. */
static void test_stream_versions(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    start_watcher(c, 3, d);
    void *zctx = zmq_ctx_new();
    void *v1 = zmq_socket(zctx, ZMQ_DEALER), *v3 = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(v1, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(v3, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(v1, c->endpoint), 0);
    assert_int_equal(zmq_connect(v3, c->endpoint), 0);
    l1w_msg hello = { .type = L1W_MSG_HELLO, .version = 1, .credit = 8 }, m;
    raw_send(v1, &hello);
    do
        assert_true(raw_recv(v1, &m, 5000));
    while (m.type == L1W_MSG_STATUS);
    assert_int_equal(m.type, L1W_MSG_WELCOME);
    assert_int_equal(m.version, 1);
    hello.version = 3;
    raw_send(v3, &hello);
    do
        assert_true(raw_recv(v3, &m, 5000));
    while (m.type == L1W_MSG_STATUS);
    assert_int_equal(m.type, L1W_MSG_ERROR);
    assert_int_equal(m.code, ZK_ERR_UNSUPPORTED);

    uint8_t to[20];
    addr_of(to, 9);
    char tx[67];
    th_deposit(&c->a, tx, 1, to, 15);
    uint64_t b = th_block_number(&c->a);
    wait_view(l1w_watcher_pending(c->w), NULL, 0, tx, b, false);
    /* the version-1 peer hears STATUS only (keep it in session with an ACK) */
    l1w_msg ack = { .type = L1W_MSG_ACK, .seq = 0, .credit = 8 };
    raw_send(v1, &ack);
    int64_t until = th_now_ms() + 700;
    while (th_now_ms() < until)
        if (raw_recv(v1, &m, 100))
            assert_int_equal(m.type, L1W_MSG_STATUS);
    /* a version-2 consumer arriving now learns the pending deposit from the snapshot */
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 8), ZK_OK);
    wait_view(l1w_consumer_pending(k), k, 0, tx, b, false);
    /* confirmed: the version-1 peer gets the record */
    th_mine(&c->a, 2);
    l1w_record r;
    expect_record(k, &r, 10000);
    assert_int_equal(r.deposit.deposit_id, 0);
    do
        assert_true(raw_recv(v1, &m, 5000));
    while (m.type == L1W_MSG_STATUS);
    assert_int_equal(m.type, L1W_MSG_DEPOSIT);
    assert_int_equal(m.record.seq, 1);
    l1w_consumer_destroy(k);
    zmq_close(v1);
    zmq_close(v3);
    zmq_ctx_term(zctx);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

/* A reorg that reaches a confirmed block stops the watcher with an alert. */
static void test_deep_reorg(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    th_mine(&c->a, 4);
    start_watcher(c, 2, d);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    uint8_t to[20];
    addr_of(to, 2);
    char tx[67];
    th_deposit(&c->a, tx, 1, to, 9);
    th_mine(&c->a, 1);
    l1w_record r;
    expect_record(k, &r, 10000);
    assert_int_equal(r.deposit.deposit_id, 0);
    reorg(c, 3, 2); /* replaces the deposit's block */
    th_mine(&c->a, 3);
    int64_t deadline = th_now_ms() + 10000;
    l1w_stats s;
    do {
        th_sleep_ms(20);
        stats(c, &s);
    } while (s.fatal == ZK_OK && th_now_ms() < deadline);
    assert_int_equal(s.fatal, ZK_ERR_L1_DEEP_REORG);
    assert_non_null(strstr(s.fatal_text, "confirmation depth"));
    pthread_join(c->thr, NULL);
    c->running = false;
    assert_int_equal(c->run_rc, ZK_ERR_L1_DEEP_REORG);
    l1w_consumer_destroy(k);
}

/* The node stops and comes back (same state): the watcher recovers by itself. */
static void test_node_restart(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    start_watcher(c, 2, d);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    uint8_t to[20];
    addr_of(to, 3);
    char tx[67];
    th_deposit(&c->a, tx, 1, to, 11);
    th_deposit(&c->a, tx, 2, to, 12);
    th_mine(&c->a, 1);
    l1w_record r;
    expect_record(k, &r, 10000);
    expect_record(k, &r, 10000);
    assert_int_equal(r.deposit.deposit_id, 1);
    th_anvil_stop(&c->a, true);
    th_sleep_ms(1200);
    l1w_stats s;
    stats(c, &s);
    assert_true(s.rpc_errors_total > 0);
    assert_int_equal(s.fatal, ZK_OK);
    th_anvil_restart(&c->a, true, NULL);
    th_deposit(&c->a, tx, 3, to, 13);
    th_mine(&c->a, 1);
    expect_record(k, &r, 15000);
    assert_int_equal(r.deposit.deposit_id, 2);
    assert_int_equal(r.deposit.amount_gwei, 13);
    assert_int_equal(r.seq, 3);
    expect_none(k, 300);
    l1w_consumer_destroy(k);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

/* The node comes back without its chain (state lost): the watcher waits while the
 * new head is below its confirmed block, then stops with an alert once the block it
 * confirmed turns out to be another block. */
static void test_node_lost_state(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    th_mine(&c->a, 5);
    start_watcher(c, 2, d);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    uint8_t to[20];
    addr_of(to, 4);
    char tx[67];
    th_deposit(&c->a, tx, 1, to, 21);
    th_mine(&c->a, 1);
    l1w_record r;
    expect_record(k, &r, 10000);
    uint64_t confirmed = r.deposit.block_number;
    th_anvil_stop(&c->a, false);
    th_anvil_restart(&c->a, false, NULL); /* a fresh chain at block 0 */
    th_sleep_ms(1500);
    l1w_stats s;
    stats(c, &s);
    assert_int_equal(s.fatal, ZK_OK);
    assert_true(s.rpc_errors_total > 0);
    th_mine(&c->a, confirmed + 5);
    int64_t deadline = th_now_ms() + 15000;
    do {
        th_sleep_ms(20);
        stats(c, &s);
    } while (s.fatal == ZK_OK && th_now_ms() < deadline);
    assert_int_equal(s.fatal, ZK_ERR_L1_DEEP_REORG);
    pthread_join(c->thr, NULL);
    c->running = false;
    assert_int_equal(c->run_rc, ZK_ERR_L1_DEEP_REORG);
    expect_none(k, 200);
    l1w_consumer_destroy(k);
}

/* Many deposits in few blocks: automine off, send, mine. */
static void bulk_deposits(th_anvil *a, int n, int per_block)
{
    th_automine(a, false);
    char tx[67];
    for (int i = 0; i < n; i++) {
        uint8_t to[20];
        addr_of(to, i);
        th_deposit(a, tx, i % 5 + 1, to, 100 + (uint64_t)i);
        if ((i + 1) % per_block == 0 || i + 1 == n)
            th_mine(a, 1);
    }
    th_automine(a, true);
}

static pid_t spawn_zkcar_watch(ctx *c, uint64_t from_block)
{
    const char *bin = getenv("ZKCAR_BIN");
    assert_non_null(bin);
    char from[24], log[400];
    snprintf(from, sizeof from, "%" PRIu64, from_block);
    snprintf(log, sizeof log, "%s/watch.log", c->a.dir);
    snprintf(c->data_dir, sizeof c->data_dir, "%s/data", c->a.dir);
    snprintf(c->endpoint, sizeof c->endpoint, "ipc://%s/stream.sock", c->a.dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        execl(bin, bin, "watch", "--l1-rpc", c->ipc ? c->a.ipc_url : c->a.http_url, "--bridge",
              c->a.bridge_hex, "--from-block", from, "--confirmations", "2", "--chain-id", "31337",
              "--data-dir", c->data_dir, "--stream", c->endpoint, "--poll-ms", "50",
              "--logs-chunk-max", "4", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* SIGKILL of the watcher process mid-stream (and mid-catch-up): no gap, no duplicate. */
static void test_watcher_sigkill(void **state)
{
    ctx *c = *state;
    enum { TOTAL = 120 };
    uint64_t d = th_deploy_bridge(&c->a);
    bulk_deposits(&c->a, TOTAL, 4);
    th_mine(&c->a, 2);
    pid_t pid = spawn_zkcar_watch(c, d);
    c->child = pid;
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 8), ZK_OK);
    uint64_t next = 0;
    int kills = 0;
    while (next < TOTAL) {
        l1w_record r;
        zk_err rc = l1w_consumer_next(k, &r, &e, 20000);
        if (rc != ZK_OK)
            fail_msg("record %" PRIu64 ": %s (%s)", next, zk_strerror(rc), e.text);
        assert_int_equal(r.seq, next + 1);
        assert_int_equal(r.deposit.deposit_id, next);
        assert_int_equal(r.deposit.amount_gwei, 100 + next);
        next++;
        th_sleep_ms(2); /* "apply" */
        assert_int_equal(l1w_consumer_ack(k, &e, r.seq), ZK_OK);
        if ((next == 30 || next == 75) && kills < 2) {
            kill(pid, SIGKILL);
            int st;
            waitpid(pid, &st, 0);
            assert_true(WIFSIGNALED(st));
            kills++;
            pid = c->child = spawn_zkcar_watch(c, d);
        }
    }
    expect_none(k, 500);
    l1w_consumer_destroy(k);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    c->child = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Reads "seq id sid" lines of the consumer child's file; returns how many (at most max). */
static size_t read_applied(const char *file, unsigned long long (*rows)[3], size_t max)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return 0;
    char line[128];
    size_t n = 0;
    while (n < max && fgets(line, sizeof line, f) != NULL) {
        char *p = line, *end;
        for (int k = 0; k < 3; k++) {
            rows[n][k] = strtoull(p, &end, 10);
            if (end == p)
                goto done;
            p = end;
        }
        if (*p != '\n')
            break; /* a torn last line (killed mid-write) is not applied */
        n++;
    }
done:
    fclose(f);
    return n;
}

static pid_t spawn_consumer(const char *endpoint, const char *file, int total)
{
    char n[16];
    snprintf(n, sizeof n, "%d", total);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(self_path, self_path, "consumer", endpoint, file, n, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int count_lines(const char *file)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* SIGKILL of the consumer mid-stream, twice: it resumes without gap or duplicate. */
static void test_consumer_sigkill(void **state)
{
    ctx *c = *state;
    enum { TOTAL = 120 };
    uint64_t d = th_deploy_bridge(&c->a);
    bulk_deposits(&c->a, TOTAL, 30);
    th_mine(&c->a, 2);
    start_watcher(c, 2, d);
    char file[400];
    snprintf(file, sizeof file, "%s/applied.txt", c->a.dir);
    pid_t pid = c->child = spawn_consumer(c->endpoint, file, TOTAL);
    int st;
    for (int kill_at = 30; kill_at <= 80; kill_at += 50) {
        int64_t deadline = th_now_ms() + 20000;
        while (count_lines(file) < kill_at) {
            assert_true(th_now_ms() < deadline);
            assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
            th_sleep_ms(5);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        pid = c->child = spawn_consumer(c->endpoint, file, TOTAL);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    c->child = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    static unsigned long long rows[TOTAL + 8][3];
    size_t n = read_applied(file, rows, TOTAL + 8);
    uint64_t expect = 1;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i][0], expect);
        assert_int_equal(rows[i][1], expect - 1);
        assert_int_equal(rows[i][2], rows[0][2]);
        expect++;
    }
    assert_int_equal(expect, TOTAL + 1);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

/* --confirmations finalized: anvil's finalized tag is head - 64 (REFERENCE.md §3). */
static void test_finalized(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    start_watcher(c, L1W_CONFIRMATIONS_FINALIZED, d);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    uint8_t to[20];
    addr_of(to, 7);
    char tx[67];
    th_deposit(&c->a, tx, 1, to, 77);
    uint64_t b = th_block_number(&c->a);
    th_mine(&c->a, 63); /* head b + 63: finalized b - 1 */
    expect_none(k, 800);
    th_mine(&c->a, 1);  /* head b + 64: finalized b */
    l1w_record r;
    expect_record(k, &r, 10000);
    assert_int_equal(r.deposit.block_number, b);
    assert_int_equal(r.deposit.amount_gwei, 77);
    expect_none(k, 300);
    l1w_consumer_destroy(k);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

/* Over IPC a newHeads subscription wakes the watcher long before its poll is due. */
static void test_wakeup(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    start_watcher_poll(c, 2, d, 60000);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    int64_t deadline = th_now_ms() + 15000;
    l1w_stats s;
    do { /* first step done, subscribed */
        th_sleep_ms(10);
        stats(c, &s);
    } while ((!s.newheads || s.l1_head < d) && th_now_ms() < deadline);
    assert_true(s.newheads);
    uint8_t to[20];
    addr_of(to, 9);
    char tx[67];
    th_deposit(&c->a, tx, 1, to, 3);
    int64_t t0 = th_now_ms();
    th_mine(&c->a, 1);
    l1w_record r;
    expect_record(k, &r, 10000);
    assert_true(th_now_ms() - t0 < 10000); /* the poll would take 60 s */
    l1w_consumer_destroy(k);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

/* The outbox is wiped while a consumer holds records from it: the consumer is told, not fed. */
static void test_stream_wiped(void **state)
{
    ctx *c = *state;
    uint64_t d = th_deploy_bridge(&c->a);
    start_watcher(c, 1, d);
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, 0, 0, 64), ZK_OK);
    uint8_t to[20];
    addr_of(to, 8);
    char tx[67];
    th_deposit(&c->a, tx, 1, to, 5);
    l1w_record r;
    expect_record(k, &r, 10000);
    uint64_t sid = l1w_consumer_stream_id(k);
    assert_true(sid != 0);
    l1w_consumer_destroy(k);
    assert_int_equal(stop_watcher(c), ZK_OK);
    l1w_watcher_destroy(c->w);
    c->w = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->data_dir);
    assert_int_equal(system(cmd), 0);
    start_watcher(c, 1, d);
    assert_int_equal(l1w_consumer_create(&k, &e, c->endpoint, sid, 1, 64), ZK_OK);
    zk_err rc = l1w_consumer_next(k, &r, &e, 10000);
    assert_int_equal(rc, ZK_ERR_STREAM_CHANGED);
    assert_non_null(strstr(e.text, "wiped"));
    l1w_consumer_destroy(k);
    assert_int_equal(stop_watcher(c), ZK_OK);
}

static int run_zkcar(const char *const *args)
{
    const char *bin = getenv("ZKCAR_BIN");
    assert_non_null(bin);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, (char *const *)args);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `zkcar watch`: bad usage exits 2, a wrong chain id exits 1. */
static void test_cli(void **state)
{
    ctx *c = *state;
    const char *bin = getenv("ZKCAR_BIN");
    char dir[400], stream[400];
    snprintf(dir, sizeof dir, "%s/cli", c->a.dir);
    snprintf(stream, sizeof stream, "ipc://%s/cli.sock", c->a.dir);
    const char *no_bridge[] = { bin, "watch", "--l1-rpc", c->a.http_url, NULL };
    assert_int_equal(run_zkcar(no_bridge), 2);
    const char *bad_bridge[] = { bin, "watch", "--l1-rpc", c->a.http_url, "--bridge", "0x1234", NULL };
    assert_int_equal(run_zkcar(bad_bridge), 2);
    const char *bad_conf[] = { bin, "watch", "--l1-rpc", c->a.http_url, "--bridge",
                               "0x5fbdb2315678afecb367f032d93f642f64180aa3", "--confirmations", "0", NULL };
    assert_int_equal(run_zkcar(bad_conf), 2);
    const char *bad_conf2[] = { bin, "watch", "--l1-rpc", c->a.http_url, "--bridge",
                                "0x5fbdb2315678afecb367f032d93f642f64180aa3", "--confirmations", "final", NULL };
    assert_int_equal(run_zkcar(bad_conf2), 2);
    const char *bad_url[] = { bin, "watch", "--l1-rpc", "ws://x", "--bridge",
                              "0x5fbdb2315678afecb367f032d93f642f64180aa3", "--data-dir", dir, NULL };
    assert_int_equal(run_zkcar(bad_url), 2);
    const char *wrong_chain[] = { bin, "watch", "--l1-rpc", c->a.ipc_url, "--bridge",
                                  "0x5fbdb2315678afecb367f032d93f642f64180aa3", "--chain-id", "1",
                                  "--data-dir", dir, "--stream", stream, NULL };
    assert_int_equal(run_zkcar(wrong_chain), 1);
    /* Without --chain-id, the outbox's chain (1) must still match the node's (31337). */
    const char *outbox_chain[] = { bin, "watch", "--l1-rpc", c->a.ipc_url, "--bridge",
                                   "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                                   "--data-dir", dir, "--stream", stream, NULL };
    assert_int_equal(run_zkcar(outbox_chain), 1);
    /* The same data dir for another bridge: refused as configuration. */
    const char *other_bridge[] = { bin, "watch", "--l1-rpc", c->a.ipc_url, "--bridge",
                                   "0x0000000000000000000000000000000000000001", "--chain-id", "1",
                                   "--data-dir", dir, "--stream", stream, NULL };
    assert_int_equal(run_zkcar(other_bridge), 2);
    /* Values from an INI file are checked the same way. */
    char ini[400];
    snprintf(ini, sizeof ini, "%s/watch.ini", c->a.dir);
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fprintf(f, "[watch]\nl1-rpc = %s\nbridge = 0x1234\n", c->a.http_url);
    fclose(f);
    const char *ini_bad[] = { bin, "watch", "--config", ini, NULL };
    assert_int_equal(run_zkcar(ini_bad), 2);
    const char *help[] = { bin, "watch", "--help", NULL };
    assert_int_equal(run_zkcar(help), 0);
}

/* The consumer child: durable "applied" log, resume from its last line. */
static int consumer_main(const char *endpoint, const char *file, int total)
{
    static unsigned long long rows[100000][3];
    size_t n = read_applied(file, rows, 100000);
    uint64_t last = n ? rows[n - 1][0] : 0, sid = n ? rows[n - 1][2] : 0;
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0)
        return 1;
    l1w_consumer *k;
    zk_error_detail e = { 0 };
    if (l1w_consumer_create(&k, &e, endpoint, sid, last, 4) != ZK_OK)
        return 1;
    while (last < (uint64_t)total) {
        l1w_record r;
        zk_err rc = l1w_consumer_next(k, &r, &e, 20000);
        if (rc != ZK_OK) {
            fprintf(stderr, "consumer: %s\n", e.text);
            return 1;
        }
        char line[96];
        int len = snprintf(line, sizeof line, "%llu %llu %llu\n", (unsigned long long)r.seq,
                         (unsigned long long)r.deposit.deposit_id,
                         (unsigned long long)l1w_consumer_stream_id(k));
        if (write(fd, line, (size_t)len) != len || fdatasync(fd) != 0)
            return 1;
        last = r.seq;
        usleep(2000);
        if (l1w_consumer_ack(k, &e, r.seq) != ZK_OK)
            return 1;
    }
    l1w_consumer_destroy(k);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 5 && strcmp(argv[1], "consumer") == 0)
        return consumer_main(argv[2], argv[3], (int)strtol(argv[4], NULL, 10));
    signal(SIGPIPE, SIG_IGN);
    if (getenv("ZKCAR_TEST_DEBUG"))
        zk_log_set_level(ZK_LOG_DEBUG);
    if (getenv("ZKCAR_TEST_FILTER"))
        cmocka_set_test_filter(getenv("ZKCAR_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        { "confirmations_ipc", test_confirmations, setup_ipc, teardown, NULL },
        { "confirmations_http", test_confirmations, setup_http, teardown, NULL },
        { "finalized_ipc", test_finalized, setup_ipc, teardown, NULL },
        { "finalized_http", test_finalized, setup_http, teardown, NULL },
        { "reorg_ipc", test_reorg, setup_ipc, teardown, NULL },
        { "reorg_http", test_reorg, setup_http, teardown, NULL },
        { "stream_versions_ipc", test_stream_versions, setup_ipc, teardown, NULL },
        { "deep_reorg_ipc", test_deep_reorg, setup_ipc, teardown, NULL },
        { "deep_reorg_http", test_deep_reorg, setup_http, teardown, NULL },
        { "node_restart_ipc", test_node_restart, setup_ipc_state, teardown, NULL },
        { "node_restart_http", test_node_restart, setup_http_state, teardown, NULL },
        { "node_lost_state_ipc", test_node_lost_state, setup_ipc, teardown, NULL },
        { "watcher_sigkill_ipc", test_watcher_sigkill, setup_ipc, teardown, NULL },
        { "watcher_sigkill_http", test_watcher_sigkill, setup_http, teardown, NULL },
        { "consumer_sigkill_ipc", test_consumer_sigkill, setup_ipc, teardown, NULL },
        { "consumer_sigkill_http", test_consumer_sigkill, setup_http, teardown, NULL },
        { "stream_wiped_ipc", test_stream_wiped, setup_ipc, teardown, NULL },
        { "cli", test_cli, setup_ipc, teardown, NULL },
        { "wakeup_ipc", test_wakeup, setup_ipc, teardown, NULL },
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
