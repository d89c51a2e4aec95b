/*
 * tests/sidecar/test_node.c — the node core (sidecar/node.h) with its real
 * parts: the shared-memory state, sqlite, the batch builder, the batch
 * prover and verifier, real files, and a real kill -9 of a child process.
 *
 * Keys are small integers (1, 2, 3, ...) as secp256k1 secret keys; the
 * transactions are signed with zk_sig_sign (common/sig.h, tested against
 * ethers in tests/common).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/eip712.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/state.h"
#include "prover/batch.h"
#include "sidecar/node.h"
#include "sidecar/store.h"

#define CHAIN_ID 31337
#define NKEYS 6

static uint8_t keys[NKEYS][32];
static uint8_t addrs[NKEYS][20];
static const uint8_t BRIDGE[20] = { 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42 };
static const uint8_t OPERATOR[20] = { 0x0f, 0xee };
static zk_eip712_domain domain;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int group_setup(void **state)
{
    for (int i = 0; i < NKEYS; i++) {
        memset(keys[i], 0, 32);
        keys[i][31] = (uint8_t)(i + 1);
        keys[i][0] = 0x11; /* a key that is not trivially small, still < n */
        if (zk_sig_seckey_address(addrs[i], NULL, keys[i]) != ZK_OK)
            return -1;
    }
    zk_eip712_domain_zkcar(&domain, CHAIN_ID, BRIDGE);
    zk_log_set_level(ZK_LOG_WARN);
    return 0;
}

/* ---- data directories --------------------------------------------------------- */

static void rm_rf(const char *dir)
{
    char name[64];
    if (ipc_region_name(name, sizeof name, dir) == ZK_OK)
        shm_unlink(name);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static char *tdir(void)
{
    char *p = strdup("/tmp/zkcar-node-test-XXXXXX");
    assert_non_null(p);
    assert_non_null(mkdtemp(p));
    return p;
}

static void cfg_for(sc_config *c, const char *dir)
{
    sc_config_defaults(c);
    c->data_dir = dir;
    c->chain_id = CHAIN_ID;
    memcpy(c->bridge, BRIDGE, 20);
    memcpy(c->operator_addr, OPERATOR, 20);
    c->prover_threads = 0;
    c->batch_size = 1000;
    c->batch_interval_ms = 600000;
    c->state_capacity = 1u << 12;
}

static sc_node *node_up(const sc_config *c)
{
    sc_node *n;
    zk_error_detail e = { 0 };
    if (sc_node_open(&n, c, &e) != ZK_OK)
        fail_msg("sc_node_open: %s", e.text);
    if (sc_node_start(n, &e) != ZK_OK)
        fail_msg("sc_node_start: %s", e.text);
    return n;
}

static void node_down(sc_node *n)
{
    sc_node_stop(n);
    sc_node_close(n);
}

/* ---- transactions and deposits ------------------------------------------------------ */

static zk_tx make_tx(zk_tx_type type, int from, const uint8_t to[20], uint64_t amount, uint64_t fee,
                     uint32_t nonce, int signer)
{
    zk_tx t;
    memset(&t, 0, sizeof t);
    t.type = type;
    memcpy(t.from, addrs[from], 20);
    memcpy(t.to, to, 20);
    t.amount = amount;
    t.fee = fee;
    t.nonce = nonce;
    uint8_t h[32];
    zk_tx_hash(h, &t, &domain);
    assert_int_equal(zk_sig_sign(t.sig, NULL, h, keys[signer]), ZK_OK);
    return t;
}

static zk_err submit(sc_node *n, const zk_tx *t, uint8_t hash[32])
{
    uint8_t h[32];
    zk_error_detail e = { 0 };
    return sc_node_submit(n, t, hash != NULL ? hash : h, &e);
}

static void deposit(sc_node *n, uint64_t id, uint64_t seq, const uint8_t to[20], uint64_t amount)
{
    l1w_record r;
    memset(&r, 0, sizeof r);
    r.seq = seq;
    r.deposit.deposit_id = id;
    r.deposit.amount_gwei = amount;
    r.deposit.block_number = 100 + id;
    r.deposit.from[0] = 0xd0;
    memcpy(r.deposit.to, to, 20);
    r.deposit.tx_hash[0] = (uint8_t)id;
    zk_error_detail e = { 0 };
    if (sc_node_deposit(n, &r, &e) != ZK_OK)
        fail_msg("deposit %" PRIu64 ": %s", id, e.text);
}

static void wait_status(sc_node *n, uint64_t last_batch, uint64_t last_proven, int timeout_ms)
{
    int64_t t0 = now_ms();
    sc_status_view s;
    for (;;) {
        sc_node_status(n, &s);
        if (s.last_batch >= last_batch && s.last_proven_batch >= last_proven)
            return;
        if (now_ms() - t0 > timeout_ms)
            fail_msg("waited %d ms for batch %" PRIu64 " / proven %" PRIu64 "; have %" PRIu64 " / %" PRIu64,
                     timeout_ms, last_batch, last_proven, s.last_batch, s.last_proven_batch);
        usleep(20000);
    }
}

/* ---- tests ---------------------------------------------------------------------------- */

/* SPEC §4's order: range (1004) before signature (1001) before nonce (1002)
 * before balance (1003), each checked against state + accepted transactions. */
static void test_validation_order(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    sc_node *n = node_up(&c);
    deposit(n, 0, 1, addrs[0], 1000);

    /* amount 0 with a forged signature, wrong nonce, overdraft: range first */
    zk_tx t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 0, 0, 9, 1);
    zk_err rc = submit(n, &t, NULL);
    assert_int_equal(rc, ZK_ERR_TX_RANGE);
    assert_int_equal(sc_rpc_code(rc), 1004);
    /* amount + fee = 2^63 */
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], UINT64_C(1) << 62, UINT64_C(1) << 62, 0, 0);
    assert_int_equal(sc_rpc_code(submit(n, &t, NULL)), 1004);
    /* signed by key 1 for account 0, with a wrong nonce and an overdraft: signature */
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 5000, 0, 9, 1);
    rc = submit(n, &t, NULL);
    assert_int_equal(rc, ZK_ERR_SIG_WRONG_SIGNER);
    assert_int_equal(sc_rpc_code(rc), 1001);
    /* a tampered signature byte (s above n/2 or not recovering) */
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 5, 0, 0, 0);
    t.sig[64] = 30;
    assert_int_equal(sc_rpc_code(submit(n, &t, NULL)), 1001);
    /* wrong nonce with an overdraft: nonce */
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 5000, 0, 1, 0);
    rc = submit(n, &t, NULL);
    assert_int_equal(rc, ZK_ERR_TX_NONCE);
    assert_int_equal(sc_rpc_code(rc), 1002);
    /* right nonce, overdraft (amount + fee > 1000): balance */
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 999, 2, 0, 0);
    rc = submit(n, &t, NULL);
    assert_int_equal(rc, ZK_ERR_TX_BALANCE);
    assert_int_equal(sc_rpc_code(rc), 1003);
    /* unfunded sender */
    t = make_tx(ZK_TX_WITHDRAW, 2, addrs[1], 1, 0, 0, 2);
    assert_int_equal(sc_rpc_code(submit(n, &t, NULL)), 1003);

    /* Two transactions spending the same balance: the second is refused
     * against the first, which is accepted but not sealed. */
    uint8_t h1[32], want[32];
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 600, 10, 0, 0);
    assert_int_equal(submit(n, &t, h1), ZK_OK);
    zk_tx_hash(want, &t, &domain);
    assert_memory_equal(h1, want, 32);
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 600, 0, 1, 0);
    assert_int_equal(submit(n, &t, NULL), ZK_ERR_TX_BALANCE);
    /* the same transaction again: its nonce is used */
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 600, 10, 0, 0);
    assert_int_equal(submit(n, &t, NULL), ZK_ERR_TX_NONCE);
    /* a nonce sequence: 1, 2 accepted, 4 refused */
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 100, 0, 1, 0);
    assert_int_equal(submit(n, &t, NULL), ZK_OK);
    t = make_tx(ZK_TX_WITHDRAW, 0, addrs[3], 100, 1, 2, 0);
    assert_int_equal(submit(n, &t, NULL), ZK_OK);
    t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 1, 0, 4, 0);
    assert_int_equal(submit(n, &t, NULL), ZK_ERR_TX_NONCE);
    /* the receiver can spend what it was sent before any batch */
    t = make_tx(ZK_TX_TRANSFER, 1, addrs[2], 700, 0, 0, 1);
    assert_int_equal(submit(n, &t, NULL), ZK_OK);
    t = make_tx(ZK_TX_TRANSFER, 1, addrs[2], 1, 0, 1, 1);
    assert_int_equal(submit(n, &t, NULL), ZK_ERR_TX_BALANCE);

    /* pending views: balances and nonces include accepted transactions */
    sc_account_view a;
    sc_node_get_account(n, addrs[0], &a);
    assert_false(a.exists); /* no batch yet: no id */
    assert_int_equal(a.balance, 1000 - 610 - 100 - 101);
    assert_int_equal(a.nonce, 3);
    assert_int_equal(a.proven_balance, 0);
    sc_node_get_account(n, addrs[2], &a);
    assert_int_equal(a.balance, 700);
    sc_node_get_account(n, OPERATOR, &a);
    assert_int_equal(a.balance, 11);
    sc_tx_view v;
    assert_true(sc_node_get_tx(n, h1, &v));
    assert_int_equal(v.status, SC_TX_PENDING);
    assert_int_equal(v.batch, 0);
    assert_int_equal(v.tx.amount, 600);
    uint8_t unknown[32] = { 1 };
    assert_false(sc_node_get_tx(n, unknown, &v));
    sc_status_view s;
    sc_node_status(n, &s);
    assert_int_equal(s.pending_txs, 4);
    assert_int_equal(s.next_deposit_id, 1);
    assert_int_equal(s.last_batch, 0);
    assert_int_equal(s.chain_id, CHAIN_ID);
    /* the genesis root: the empty tree */
    assert_memory_equal(s.state_root, ipc_empty_hash(32), 4 * sizeof(prv_gl));
    assert_int_equal(sc_rpc_code(ZK_ERR_SC_OVERLOADED), 1005);
    assert_int_equal(sc_rpc_code(ZK_ERR_BAD_HEX), -32602);
    assert_int_equal(sc_rpc_code(ZK_ERR_SC_STORE), -32603);

    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* A full mempool answers 1005 and accepts again once a batch is sealed. */
static void test_mempool_full(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    c.mempool_max = 3;
    sc_node *n = node_up(&c);
    deposit(n, 0, 1, addrs[0], 1000);
    for (uint32_t i = 0; i < 3; i++) {
        zk_tx t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 1, 0, i, 0);
        assert_int_equal(submit(n, &t, NULL), ZK_OK);
    }
    zk_tx t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 1, 0, 3, 0);
    zk_err rc = submit(n, &t, NULL);
    assert_int_equal(rc, ZK_ERR_SC_OVERLOADED);
    assert_int_equal(sc_rpc_code(rc), 1005);
    /* nothing changed */
    sc_account_view a;
    sc_node_get_account(n, addrs[0], &a);
    assert_int_equal(a.nonce, 3);
    node_down(n);

    /* A restart with a small batch seals them; then there is room again. */
    c.batch_size = 4;
    c.batch_interval_ms = 50;
    n = node_up(&c);
    wait_status(n, 1, 0, 20000);
    assert_int_equal(submit(n, &t, NULL), ZK_OK);
    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* Deposits: in id order, a repeat acknowledged and ignored, a gap refused;
 * the stream cursor and id survive a restart. */
static void test_deposits(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    sc_node *n = node_up(&c);
    zk_error_detail e = { 0 };
    uint64_t sid, seq;
    sc_node_deposit_cursor(n, &sid, &seq);
    assert_int_equal(sid, 0);
    assert_int_equal(seq, 0);
    assert_int_equal(sc_node_set_stream_id(n, 0x1234, &e), ZK_OK);
    deposit(n, 0, 1, addrs[0], 500);
    deposit(n, 1, 2, addrs[1], 70);
    deposit(n, 0, 1, addrs[0], 500); /* a repeat */
    deposit(n, 1, 3, addrs[1], 70);  /* a repeat under a later seq: moves the cursor */
    l1w_record r;
    memset(&r, 0, sizeof r);
    r.seq = 4;
    r.deposit.deposit_id = 5;
    r.deposit.amount_gwei = 1;
    assert_int_equal(sc_node_deposit(n, &r, &e), ZK_ERR_SC_DEPOSIT_ORDER);
    sc_account_view a;
    sc_node_get_account(n, addrs[0], &a);
    assert_int_equal(a.balance, 500);
    sc_node_get_account(n, addrs[1], &a);
    assert_int_equal(a.balance, 70);
    sc_deposit_view d;
    assert_true(sc_node_get_deposit(n, 1, &d));
    assert_int_equal(d.status, SC_DEP_CREDITED);
    assert_int_equal(d.deposit.amount_gwei, 70);
    assert_int_equal(d.deposit.block_number, 101);
    assert_memory_equal(d.deposit.to, addrs[1], 20);
    assert_int_equal(d.batch, 0);
    assert_false(sc_node_get_deposit(n, 2, &d));
    sc_node_deposit_cursor(n, &sid, &seq);
    assert_int_equal(sid, 0x1234);
    assert_int_equal(seq, 3);
    node_down(n);

    n = node_up(&c);
    sc_node_deposit_cursor(n, &sid, &seq);
    assert_int_equal(sid, 0x1234);
    assert_int_equal(seq, 3);
    assert_int_equal(sc_node_set_stream_id(n, 0x1234, &e), ZK_OK);
    assert_int_equal(sc_node_set_stream_id(n, 0x9999, &e), ZK_ERR_STREAM_CHANGED);
    sc_node_get_account(n, addrs[0], &a);
    assert_int_equal(a.balance, 500);
    deposit(n, 1, 2, addrs[1], 70); /* still a repeat after the restart */
    deposit(n, 2, 4, addrs[0], 1);
    sc_node_get_account(n, addrs[0], &a);
    assert_int_equal(a.balance, 501);
    sc_status_view s;
    sc_node_status(n, &s);
    assert_int_equal(s.next_deposit_id, 3);
    node_down(n);

    /* The data directory belongs to one chain and bridge. */
    c.chain_id = 1;
    sc_node *other;
    assert_int_equal(sc_node_open(&other, &c, &e), ZK_ERR_USAGE);
    rm_rf(dir);
    free(dir);
}

/* A batch is sealed when it holds batch_size operations, deposits first. */
static void test_seal_by_size(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    c.batch_size = 4;
    sc_node *n = node_up(&c);
    uint8_t h[3][32];
    deposit(n, 0, 1, addrs[0], 1000);
    zk_tx t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 300, 5, 0, 0);
    assert_int_equal(submit(n, &t, h[0]), ZK_OK);
    t = make_tx(ZK_TX_WITHDRAW, 0, addrs[4], 200, 0, 1, 0);
    assert_int_equal(submit(n, &t, h[1]), ZK_OK);
    usleep(200000);
    sc_status_view s;
    sc_node_status(n, &s);
    assert_int_equal(s.last_batch, 0); /* 3 operations: not yet */
    deposit(n, 1, 2, addrs[1], 50);    /* the 4th operation seals it, deposits first */
    wait_status(n, 1, 0, 20000);
    t = make_tx(ZK_TX_TRANSFER, 1, addrs[2], 10, 0, 0, 1);
    assert_int_equal(submit(n, &t, h[2]), ZK_OK);

    sc_batch_view b;
    assert_true(sc_node_get_batch(n, 1, &b));
    assert_int_equal(b.number, 1);
    assert_int_equal(b.status, SC_BATCH_SEALED);
    assert_int_equal(b.tx_count, 2);
    assert_int_equal(b.deposit_count, 2);
    assert_int_equal(b.nwithdrawals, 1);
    assert_memory_equal(b.withdrawals[0].to, addrs[4], 20);
    assert_int_equal(b.withdrawals[0].amount, 200);
    assert_int_equal(b.proof_size, 0);
    assert_memory_equal(b.prev_root, ipc_empty_hash(32), 4 * sizeof(prv_gl));
    sc_node_status(n, &s);
    assert_memory_equal(b.root, s.state_root, 4 * sizeof(prv_gl));
    assert_int_equal(s.accounts, 3); /* addrs[0], addrs[1], the operator; addrs[4] is an L1 payee */
    sc_batch_view_free(&b);
    assert_false(sc_node_get_batch(n, 2, &b));
    assert_false(sc_node_get_batch(n, 0, &b));

    sc_tx_view v;
    assert_true(sc_node_get_tx(n, h[0], &v));
    assert_int_equal(v.status, SC_TX_SEALED);
    assert_int_equal(v.batch, 1);
    assert_true(sc_node_get_tx(n, h[2], &v));
    assert_int_equal(v.status, SC_TX_PENDING);
    sc_deposit_view d;
    assert_true(sc_node_get_deposit(n, 1, &d));
    assert_int_equal(d.batch, 1);

    /* committed and pending values side by side */
    sc_account_view a;
    sc_node_get_account(n, addrs[1], &a);
    assert_true(a.exists);
    assert_int_equal(a.balance, 340);
    assert_int_equal(a.proven_balance, 0);
    sc_node_get_account(n, addrs[0], &a);
    assert_true(a.exists);
    assert_int_equal(a.id, 0);
    assert_int_equal(a.balance, 495);
    assert_int_equal(a.nonce, 2);
    sc_node_get_account(n, OPERATOR, &a);
    assert_int_equal(a.balance, 5);

    /* the job file is durable and decodes to the batch */
    char path[512];
    snprintf(path, sizeof path, "%s/batches/1.job", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* A batch is sealed once its oldest operation is batch_interval_ms old. */
static void test_seal_by_age(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    c.batch_interval_ms = 400;
    sc_node *n = node_up(&c);
    int64_t t0 = now_ms();
    deposit(n, 0, 1, addrs[0], 10);
    wait_status(n, 1, 0, 20000);
    int64_t dt = now_ms() - t0;
    assert_true(dt >= 390);
    sc_batch_view b;
    assert_true(sc_node_get_batch(n, 1, &b));
    assert_int_equal(b.deposit_count, 1);
    assert_int_equal(b.tx_count, 0);
    sc_batch_view_free(&b);
    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* Batches sealed without a prover are proven after a restart, in order;
 * artifacts verify; proven values reach the state; a result for a batch
 * already proven is ignored. */
static void test_restart_proves(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    c.batch_size = 3;
    c.batch_interval_ms = 100;
    sc_node *n = node_up(&c);
    uint8_t hashes[4][32];
    deposit(n, 0, 1, addrs[0], 1000);
    deposit(n, 1, 2, addrs[1], 1000);
    for (uint32_t i = 0; i < 4; i++) {
        zk_tx t = make_tx(i % 2 ? ZK_TX_WITHDRAW : ZK_TX_TRANSFER, 0, addrs[2], 10 + i, 1, i, 0);
        assert_int_equal(submit(n, &t, hashes[i]), ZK_OK);
    }
    sc_status_view s;
    int64_t t0 = now_ms();
    do {
        assert_true(now_ms() - t0 < 20000);
        usleep(20000);
        sc_node_status(n, &s);
    } while (s.pending_txs > 0);
    uint64_t last = s.last_batch;
    assert_true(last >= 2);
    node_down(n);

    c.prover_threads = 1;
    n = node_up(&c);
    sc_node_status(n, &s);
    assert_int_equal(s.last_batch, last);
    assert_int_equal(s.last_proven_batch, 0);
    wait_status(n, last, last, 240000);
    for (int i = 0; i < 4; i++) {
        sc_tx_view v;
        assert_true(sc_node_get_tx(n, hashes[i], &v));
        assert_int_equal(v.status, SC_TX_PROVEN);
    }
    sc_account_view a;
    sc_node_get_account(n, addrs[0], &a);
    assert_int_equal(a.nonce, 4);
    assert_int_equal(a.proven_nonce, 4);
    assert_int_equal(a.proven_balance, 1000 - (10 + 11 + 12 + 13) - 4);
    sc_node_get_account(n, addrs[2], &a);
    assert_int_equal(a.proven_balance, 10 + 12);
    for (uint64_t k = 1; k <= last; k++) {
        sc_batch_view b;
        assert_true(sc_node_get_batch(n, k, &b));
        assert_int_equal(b.status, SC_BATCH_PROVEN);
        assert_true(b.proof_size > 0);
        /* the job is gone once proven (keep_jobs is off by default) */
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/batches/%" PRIu64 ".job", dir, k);
        assert_int_equal(stat(path, &st), -1);
        /* the artifact verifies offline, as `zkcar verify` does */
        snprintf(path, sizeof path, "%s/batches/%" PRIu64 ".batch", dir, k);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc((size_t)len);
        assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        prv_batch_artifact art;
        zk_error_detail e = { 0 };
        assert_int_equal(prv_batch_artifact_decode(&art, &e, buf, (size_t)len), ZK_OK);
        assert_int_equal(art.pub.number, k);
        assert_memory_equal(art.pub.new_root, b.root, 4 * sizeof(prv_gl));
        assert_int_equal(prv_batch_verify(&art.pub, art.proof, art.proof_len, &e), ZK_OK);
        assert_int_equal(prv_batch_check_signatures(&art.pub, &e), ZK_OK);
        /* a proof for another batch is refused by job_done */
        /* a second result for a proven batch is ignored */
        assert_int_equal(sc_node_job_done(n, k, art.proof, art.proof_len, 1.0, &e), ZK_OK);
        prv_batch_artifact_free(&art);
        free(buf);
        sc_batch_view_free(&b);
    }
    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* Jobs through the job interface (as remote workers use it): a wrong proof
 * is refused and the job goes back; the right one is accepted. */
static void test_jobs(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    c.batch_interval_ms = 50;
    c.keep_jobs = true;
    sc_node *n = node_up(&c);
    deposit(n, 0, 1, addrs[0], 77);
    wait_status(n, 1, 0, 20000);
    uint64_t batch;
    uint8_t *job;
    size_t len;
    assert_true(sc_node_job_take(n, &batch, &job, &len, 5000));
    assert_int_equal(batch, 1);
    sc_batch_view b;
    assert_true(sc_node_get_batch(n, 1, &b));
    assert_int_equal(b.status, SC_BATCH_PROVING);
    sc_batch_view_free(&b);
    /* nothing else to take */
    uint64_t b2;
    uint8_t *j2;
    size_t l2;
    assert_false(sc_node_job_take(n, &b2, &j2, &l2, 50));
    prv_batch_job pj;
    zk_error_detail e = { 0 };
    assert_int_equal(prv_batch_job_decode(&pj, &e, job, len), ZK_OK);
    uint8_t *proof;
    size_t plen;
    assert_int_equal(prv_batch_prove(&pj, &c.params, &proof, &plen, &e), ZK_OK);
    prv_batch_job_free(&pj);
    /* a flipped byte: refused, the job is queued again */
    proof[plen / 2] ^= 1;
    assert_int_equal(sc_node_job_done(n, 1, proof, plen, 0.5, &e), ZK_ERR_PRV_PROOF_REJECTED);
    proof[plen / 2] ^= 1;
    uint8_t *job2;
    assert_true(sc_node_job_take(n, &b2, &job2, &l2, 1000));
    assert_int_equal(b2, 1);
    sc_node_job_return(n, 1);
    assert_true(sc_node_job_take(n, &b2, &j2, &l2, 1000));
    assert_int_equal(b2, 1);
    free(j2);
    free(job2);
    assert_int_equal(sc_node_job_done(n, 1, proof, plen, 0.5, &e), ZK_OK);
    sc_status_view s;
    sc_node_status(n, &s);
    assert_int_equal(s.last_proven_batch, 1);
    free(proof);
    free(job);
    /* keep_jobs: the proven batch's job stays, also across a restart ... */
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/batches/1.job", dir);
    assert_int_equal(stat(path, &st), 0);
    node_down(n);
    n = node_up(&c);
    assert_int_equal(stat(path, &st), 0);
    node_down(n);
    /* ... and a restart without it deletes it */
    c.keep_jobs = false;
    n = node_up(&c);
    assert_int_equal(stat(path, &st), -1);
    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* A crash between recording a sealed batch and applying it to the state:
 * simulated by putting back the state's log from before the batch. The
 * restart applies the batch from its job file (same root), and removes the
 * job file of a batch that was never recorded. */
static void test_recover_unapplied_batch(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    sc_node *n = node_up(&c);
    deposit(n, 0, 1, addrs[0], 100);
    uint8_t h[32];
    zk_tx t = make_tx(ZK_TX_TRANSFER, 0, addrs[1], 40, 2, 0, 0);
    assert_int_equal(submit(n, &t, h), ZK_OK);
    node_down(n);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir '%s/bk' && cp '%s/state.wal' '%s/bk/'", dir, dir, dir);
    assert_int_equal(system(cmd), 0);

    c.batch_interval_ms = 50;
    n = node_up(&c);
    wait_status(n, 1, 0, 20000);
    sc_status_view before;
    sc_node_status(n, &before);
    node_down(n);

    /* the state as it was before batch 1, its region gone (rebuilt from the log) */
    snprintf(cmd, sizeof cmd, "cp '%s/bk/state.wal' '%s/state.wal' && rm -f '%s/state.snap'", dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    char name[64];
    assert_int_equal(ipc_region_name(name, sizeof name, dir), ZK_OK);
    shm_unlink(name);
    /* and a job file of a batch the store never recorded */
    char orphan[600];
    snprintf(orphan, sizeof orphan, "%s/batches/2.job", dir);
    FILE *f = fopen(orphan, "wb");
    assert_non_null(f);
    fputs("not a job", f);
    fclose(f);

    c.prover_threads = 1;
    c.batch_interval_ms = 600000;
    n = node_up(&c);
    sc_status_view after;
    sc_node_status(n, &after);
    assert_int_equal(after.last_batch, 1);
    assert_memory_equal(after.state_root, before.state_root, sizeof after.state_root);
    assert_int_equal(after.accounts, 3);
    struct stat st;
    assert_int_not_equal(stat(orphan, &st), 0);
    sc_account_view a;
    sc_node_get_account(n, addrs[1], &a);
    assert_true(a.exists);
    assert_int_equal(a.balance, 40);
    wait_status(n, 1, 1, 120000);
    sc_tx_view v;
    assert_true(sc_node_get_tx(n, h, &v));
    assert_int_equal(v.status, SC_TX_PROVEN);
    sc_node_get_account(n, addrs[0], &a);
    assert_int_equal(a.proven_balance, 58);
    assert_int_equal(a.proven_nonce, 1);
    node_down(n);
    c.batch_interval_ms = 50;
    c.prover_threads = 0;
    n = node_up(&c);
    deposit(n, 1, 2, addrs[2], 5);
    wait_status(n, 2, 0, 20000);
    node_down(n);

    /* A state from another history (wiped: the genesis root is neither side
     * of batch 2) is refused, not silently reused. */
    snprintf(cmd, sizeof cmd, "rm -f '%s/state.wal' '%s/state.snap'", dir, dir);
    assert_int_equal(system(cmd), 0);
    shm_unlink(name);
    zk_error_detail e = { 0 };
    assert_int_equal(sc_node_open(&n, &c, &e), ZK_ERR_SC_STORE);
    assert_non_null(strstr(e.text, "neither"));
    rm_rf(dir);
    free(dir);
}

/* ---- kill -9 under load ------------------------------------------------------------ */

#define KILL_SENDERS 4

/* The child: a node under a steady stream of transfers from KILL_SENDERS
 * accounts; each acknowledged hash goes to the pipe (32 bytes) right after
 * sc_node_submit returns. Killed by the parent, it never returns. */
static void kill_child(const char *dir, int fd)
{
    sc_config c;
    cfg_for(&c, dir);
    c.batch_size = 32;
    c.batch_interval_ms = 600000; /* sealed by size only: few, full batches to prove */
    sc_node *n;
    zk_error_detail e = { 0 };
    if (sc_node_open(&n, &c, &e) != ZK_OK || sc_node_start(n, &e) != ZK_OK)
        _exit(3);
    for (int i = 0; i < KILL_SENDERS; i++) {
        l1w_record r;
        memset(&r, 0, sizeof r);
        r.seq = (uint64_t)i + 1;
        r.deposit.deposit_id = (uint64_t)i;
        r.deposit.amount_gwei = 1000000;
        memcpy(r.deposit.to, addrs[i], 20);
        if (sc_node_deposit(n, &r, &e) != ZK_OK)
            _exit(4);
    }
    for (uint32_t k = 0;; k++) {
        int s = (int)(k % KILL_SENDERS);
        zk_tx t = make_tx(ZK_TX_TRANSFER, s, addrs[(s + 1) % NKEYS], 1 + k % 7, k % 3, k / KILL_SENDERS, s);
        uint8_t h[32];
        if (sc_node_submit(n, &t, h, &e) != ZK_OK)
            _exit(5);
        if (write(fd, h, 32) != 32)
            _exit(6);
    }
}

static void test_kill9(void **state)
{
    char *dir = tdir();
    int p[2];
    assert_int_equal(pipe(p), 0);
    /* A small pipe keeps the child at most 128 acknowledgements ahead. */
    assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        kill_child(dir, p[1]);
        _exit(7);
    }
    close(p[1]);
    /* Bounded so that proving what was acknowledged stays quick under ASan:
     * about 50 transactions, one or two batches sealed before the kill. */
    enum { STOP_AT = 48, MAX_ACKS = 4096 };
    uint8_t (*acked)[32] = malloc(MAX_ACKS * 32);
    assert_non_null(acked);
    size_t nacked = 0;
    int64_t t0 = now_ms();
    /* Read acknowledgements for a while, then kill mid-stream. */
    while (now_ms() - t0 < 30000 && nacked < STOP_AT) {
        size_t got = 0;
        while (got < 32) {
            ssize_t k = read(p[0], acked[nacked] + got, 32 - got);
            if (k <= 0)
                fail_msg("child died early (read %zd, errno %d)", k, errno);
            got += (size_t)k;
        }
        nacked++;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    /* Acknowledgements still in the pipe were given before the kill: they count. */
    for (;;) {
        size_t got = 0;
        ssize_t k = 0;
        while (got < 32 && (k = read(p[0], acked[nacked] + got, 32 - got)) > 0)
            got += (size_t)k;
        if (got < 32)
            break;
        assert_true(++nacked < MAX_ACKS);
    }
    close(p[0]);
    fprintf(stderr, "kill -9 after %zu acknowledged transactions\n", nacked);
    assert_true(nacked >= STOP_AT);

    sc_config c;
    cfg_for(&c, dir);
    c.batch_size = 1024;
    c.batch_interval_ms = 100;
    c.prover_threads = 1;
    sc_node *n = node_up(&c);
    /* Every acknowledged transaction is there, exactly once (hashes are
     * unique per (sender, nonce), and each sender's nonce counts them). */
    uint32_t max_nonce[KILL_SENDERS] = { 0 };
    for (size_t i = 0; i < nacked; i++) {
        sc_tx_view v;
        if (!sc_node_get_tx(n, acked[i], &v))
            fail_msg("acknowledged transaction %zu is lost", i);
        assert_int_not_equal(v.status, SC_TX_REJECTED);
        for (int s = 0; s < KILL_SENDERS; s++)
            if (memcmp(v.tx.from, addrs[s], 20) == 0 && v.tx.nonce + 1 > max_nonce[s])
                max_nonce[s] = v.tx.nonce + 1;
    }
    for (int s = 0; s < KILL_SENDERS; s++) {
        sc_account_view a;
        sc_node_get_account(n, addrs[s], &a);
        /* at least what was acknowledged; at most one more per sender (durable, killed before its ack) */
        assert_true(a.nonce >= max_nonce[s]);
        assert_true(a.nonce <= max_nonce[s] + 1);
    }
    /* and eventually proven */
    sc_status_view s;
    int64_t t1 = now_ms();
    for (;;) {
        sc_node_status(n, &s);
        if (s.pending_txs == 0 && s.last_batch > 0 && s.last_proven_batch == s.last_batch)
            break;
        if (now_ms() - t1 > 280000)
            fail_msg("not proven in time: batch %" PRIu64 ", proven %" PRIu64, s.last_batch, s.last_proven_batch);
        /* still live: not stuck on a lost job */
        usleep(50000);
    }
    for (size_t i = 0; i < nacked; i++) {
        sc_tx_view v;
        assert_true(sc_node_get_tx(n, acked[i], &v));
        assert_int_equal(v.status, SC_TX_PROVEN);
    }
    for (int k = 0; k < KILL_SENDERS; k++) {
        sc_account_view a;
        sc_node_get_account(n, addrs[k], &a);
        assert_int_equal(a.proven_nonce, a.nonce);
    }
    free(acked);
    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* A second node on the same directory is refused while the first runs. */
static void test_locked(void **state)
{
    char *dir = tdir();
    sc_config c;
    cfg_for(&c, dir);
    sc_node *n = node_up(&c);
    sc_node *m;
    zk_error_detail e = { 0 };
    assert_int_equal(sc_node_open(&m, &c, &e), ZK_ERR_STATE_LOCKED);
    node_down(n);
    rm_rf(dir);
    free(dir);
}

/* The store alone: encodings and the group commit with many threads. */
static void test_store_encoding(void **state)
{
    zk_tx t = make_tx(ZK_TX_WITHDRAW, 1, addrs[2], 123456789, 42, 7, 1);
    uint8_t buf[SC_STORE_TX_BODY];
    sc_store_tx_encode(buf, &t);
    zk_tx u;
    assert_int_equal(sc_store_tx_decode(&u, buf, sizeof buf), ZK_OK);
    assert_memory_equal(&u.from, &t.from, 20);
    assert_int_equal(u.type, t.type);
    assert_int_equal(u.amount, t.amount);
    assert_int_equal(u.fee, t.fee);
    assert_int_equal(u.nonce, t.nonce);
    assert_memory_equal(u.sig, t.sig, 65);
    assert_int_equal(sc_store_tx_decode(&u, buf, sizeof buf - 1), ZK_ERR_SC_STORE);
    buf[0] = 9;
    assert_int_equal(sc_store_tx_decode(&u, buf, sizeof buf), ZK_ERR_SC_STORE);
    char hex[67];
    prv_gl r[4] = { 1, 2, UINT64_C(0xfedcba9876543210), 0 };
    sc_root_hex(hex, r);
    assert_string_equal(hex, "0x00000000000000010000000000000002fedcba98765432100000000000000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_encoding),
        cmocka_unit_test(test_validation_order),
        cmocka_unit_test(test_mempool_full),
        cmocka_unit_test(test_deposits),
        cmocka_unit_test(test_seal_by_size),
        cmocka_unit_test(test_seal_by_age),
        cmocka_unit_test(test_locked),
        cmocka_unit_test(test_jobs),
        cmocka_unit_test(test_restart_proves),
        cmocka_unit_test(test_recover_unapplied_batch),
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
