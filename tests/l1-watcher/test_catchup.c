/*
 * tests/l1-watcher/test_catchup.c — catch-up over 10,000 historical deposits
 * (100 blocks of 100), over IPC and over HTTP: every deposit arrives once, in
 * order, with its amount, and the watcher then follows the head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l1-watcher/l1w.h"
#include "tests/l1-watcher/harness.h"

enum { TOTAL = 10000, PER_BLOCK = 100 };

/* Catches up from scratch over `existing` confirmed deposits: the TOTAL made by
 * test_catchup, then one per earlier pass (amount FOLLOW_AMOUNT), then follows
 * the head for one more. Each pass adds a deposit, so each pass must know how
 * many the chain already holds. */
#define FOLLOW_AMOUNT 424242
static void catch_up(th_anvil *a, uint64_t deploy, bool ipc, uint64_t existing)
{
    char dir[400], ep[400];
    snprintf(dir, sizeof dir, "%s/data-%s", a->dir, ipc ? "ipc" : "http");
    snprintf(ep, sizeof ep, "ipc://%s/stream-%s.sock", a->dir, ipc ? "ipc" : "http");
    l1w_config cfg;
    l1w_config_defaults(&cfg);
    cfg.l1_rpc = ipc ? a->ipc_url : a->http_url;
    memcpy(cfg.bridge, a->bridge, 20);
    cfg.from_block = deploy;
    cfg.confirmations = 12;
    cfg.chain_id = 31337;
    cfg.data_dir = dir;
    cfg.stream_endpoint = ep;
    cfg.poll_ms = 50;
    l1w_watcher *w;
    zk_error_detail e = { 0 };
    if (l1w_watcher_create(&w, &e, &cfg, NULL, NULL) != ZK_OK)
        fail_msg("%s", e.text);
    l1w_watcher_thread *t;
    int64_t t0 = th_now_ms();
    assert_int_equal(l1w_watcher_start(&t, w, &e), ZK_OK);
    l1w_consumer *k;
    assert_int_equal(l1w_consumer_create(&k, &e, ep, 0, 0, 1024), ZK_OK);
    for (uint64_t i = 0; i < existing; i++) {
        l1w_record r;
        zk_err rc = l1w_consumer_next(k, &r, &e, 30000);
        if (rc != ZK_OK)
            fail_msg("record %" PRIu64 ": %s", i, e.text);
        assert_int_equal(r.seq, i + 1);
        assert_int_equal(r.deposit.deposit_id, i);
        if (i < TOTAL) {
            assert_int_equal(r.deposit.amount_gwei, 1 + i);
            assert_int_equal(r.deposit.to[19], (uint8_t)i);
        } else {
            assert_int_equal(r.deposit.amount_gwei, FOLLOW_AMOUNT);
        }
        if ((i + 1) % 256 == 0 || i + 1 == existing)
            assert_int_equal(l1w_consumer_ack(k, &e, r.seq), ZK_OK);
    }
    int64_t ms = th_now_ms() - t0;
    fprintf(stderr, "catch-up over %s: %" PRIu64 " deposits in %" PRId64 " ms\n", ipc ? "IPC" : "HTTP", existing, ms);
    /* Then it follows the head: one more deposit, 12 confirmations. */
    uint8_t to[20] = { 0 };
    char tx[67];
    th_deposit(a, tx, 1, to, FOLLOW_AMOUNT);
    th_mine(a, 11);
    l1w_record r;
    zk_err rc = l1w_consumer_next(k, &r, &e, 10000);
    if (rc != ZK_OK)
        fail_msg("after catch-up: %s", e.text);
    assert_int_equal(r.deposit.deposit_id, existing);
    assert_int_equal(r.deposit.amount_gwei, FOLLOW_AMOUNT);
    l1w_consumer_destroy(k);
    l1w_watcher_stop(w);
    assert_int_equal(l1w_watcher_join(t, &e), ZK_OK);
    l1w_stats s;
    l1w_watcher_stats(w, &s);
    assert_int_equal(s.next_deposit_id, existing + 1);
    assert_int_equal(s.last_seq, existing + 1);
    l1w_watcher_destroy(w);
}

static void test_catchup(void **state)
{
    th_anvil a;
    th_anvil_start(&a, false, NULL);
    uint64_t deploy = th_deploy_bridge(&a);
    int64_t t0 = th_now_ms();
    th_automine(&a, false);
    for (int i = 0; i < TOTAL; i++) {
        uint8_t to[20] = { 0xd0 };
        to[19] = (uint8_t)i;
        char tx[67];
        th_deposit(&a, tx, i % 9 + 1, to, 1 + (uint64_t)i);
        if ((i + 1) % PER_BLOCK == 0)
            th_mine(&a, 1);
    }
    th_automine(&a, true);
    th_mine(&a, 12);
    fprintf(stderr, "made %d deposits in %" PRId64 " ms\n", TOTAL, th_now_ms() - t0);
    catch_up(&a, deploy, true, TOTAL);
    catch_up(&a, deploy, false, TOTAL + 1);
    th_anvil_destroy(&a);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catchup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
