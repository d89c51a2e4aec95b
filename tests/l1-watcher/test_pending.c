/*
 * tests/l1-watcher/test_pending.c — the view of unconfirmed and reorged
 * deposits (l1-watcher/pending.h) alone: the watcher's rounds (update,
 * confirmed), a consumer's messages (add, mark_reorged, clear), id reuse
 * after a reorg, the bounds, and lookups racing updates from another thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "l1-watcher/pending.h"

/* A deposit: `fork` tells apart two chains (block and tx hashes differ). */
static l1w_deposit dep(uint64_t id, uint64_t block, uint8_t fork)
{
    l1w_deposit d;
    memset(&d, 0, sizeof d);
    d.deposit_id = id;
    d.amount_gwei = 1000 + id;
    d.block_number = block;
    d.log_index = id % 3;
    d.block_hash[0] = (uint8_t)block;
    d.block_hash[1] = fork;
    d.tx_hash[0] = (uint8_t)id;
    d.tx_hash[1] = fork;
    d.tx_hash[2] = 0x7f;
    d.from[0] = 0xaa;
    d.to[19] = (uint8_t)id;
    return d;
}

typedef struct events {
    size_t n;
    l1w_pending_event ev[64];
    l1w_deposit d[64];
} events;

static void record(void *ctx, l1w_pending_event ev, const l1w_deposit *d)
{
    events *e = ctx;
    assert_true(e->n < 64);
    e->ev[e->n] = ev;
    e->d[e->n] = *d;
    e->n++;
}

static l1w_pending *view(size_t pmax, size_t rmax)
{
    l1w_pending *v = NULL;
    zk_error_detail err = { 0 };
    assert_int_equal(l1w_pending_create(&v, &err, pmax, rmax), ZK_OK);
    assert_non_null(v);
    return v;
}

static void expect(l1w_pending *v, uint64_t id, const l1w_deposit *want, bool want_reorged)
{
    l1w_deposit got;
    bool reorged = !want_reorged;
    assert_true(l1w_pending_lookup(v, id, &got, &reorged));
    assert_memory_equal(&got, want, sizeof got);
    assert_int_equal(reorged, want_reorged);
}

static void expect_unknown(l1w_pending *v, uint64_t id)
{
    l1w_deposit got;
    memset(&got, 0x5a, sizeof got);
    bool reorged = false;
    assert_false(l1w_pending_lookup(v, id, &got, &reorged));
    assert_int_equal(got.deposit_id, 0x5a5a5a5a5a5a5a5aull); /* untouched */
}

static void test_empty(void **state)
{
    l1w_pending *v = view(0, 0);
    expect_unknown(v, 0);
    size_t p = 9, r = 9;
    uint64_t t = 9;
    l1w_pending_counts(v, &p, &r, &t);
    assert_int_equal(p, 0);
    assert_int_equal(r, 0);
    assert_int_equal(t, 0);
    l1w_pending_counts(v, NULL, NULL, NULL);
    l1w_deposit out[1];
    assert_int_equal(l1w_pending_snapshot(v, out, 1), 0);
    l1w_pending_destroy(v);
    l1w_pending_destroy(NULL);
}

/* Rounds of the watcher: new deposits become pending (told in id order), a
 * round with the same set changes nothing, the committed one leaves quietly. */
static void test_update_and_confirm(void **state)
{
    l1w_pending *v = view(0, 0);
    events e = { 0 };
    l1w_deposit s[3] = { dep(0, 10, 0), dep(1, 11, 0), dep(2, 11, 0) };
    s[2].log_index = s[1].log_index + 1;
    /* given out of id order: told in id order */
    l1w_deposit shuffled[3] = { s[2], s[0], s[1] };
    assert_int_equal(l1w_pending_update(v, 10, shuffled, 3, record, &e), ZK_OK);
    assert_int_equal(e.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(e.ev[i], L1W_PENDING_SEEN);
        assert_memory_equal(&e.d[i], &s[i], sizeof s[i]);
        expect(v, i, &s[i], false);
    }
    e.n = 0;
    assert_int_equal(l1w_pending_update(v, 10, s, 3, record, &e), ZK_OK);
    assert_int_equal(e.n, 0);
    /* deposit 0 committed (same tx): dropped, no event, unknown to the view */
    l1w_pending_confirmed(v, &s[0], record, &e);
    assert_int_equal(e.n, 0);
    expect_unknown(v, 0);
    /* the next round starts above it */
    assert_int_equal(l1w_pending_update(v, 11, s + 1, 2, record, &e), ZK_OK);
    assert_int_equal(e.n, 0);
    size_t p, r;
    uint64_t t;
    l1w_pending_counts(v, &p, &r, &t);
    assert_int_equal(p, 2);
    assert_int_equal(r, 0);
    assert_int_equal(t, 0);
    /* a round without a callback */
    assert_int_equal(l1w_pending_update(v, 11, s + 1, 2, NULL, NULL), ZK_OK);
    l1w_pending_destroy(v);
}

/* A reorg replaces block 11: its deposits are reorged, the new chain's
 * deposits reuse their ids, and the canonical pending one wins a lookup. */
static void test_reorg_and_id_reuse(void **state)
{
    l1w_pending *v = view(0, 0);
    events e = { 0 };
    l1w_deposit a[2] = { dep(0, 10, 0), dep(1, 11, 0) };
    assert_int_equal(l1w_pending_update(v, 10, a, 2, record, &e), ZK_OK);
    e.n = 0;
    /* the new chain: block 10 stays, block 11 holds another deposit 1 */
    l1w_deposit b[2] = { a[0], dep(1, 11, 1) };
    assert_int_equal(l1w_pending_update(v, 10, b, 2, record, &e), ZK_OK);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.ev[0], L1W_PENDING_REORGED); /* reorged first */
    assert_memory_equal(&e.d[0], &a[1], sizeof a[1]);
    assert_int_equal(e.ev[1], L1W_PENDING_SEEN);
    assert_memory_equal(&e.d[1], &b[1], sizeof b[1]);
    expect(v, 1, &b[1], false);
    /* a reorg that leaves no deposit 1 at all: the newest reorged answers */
    e.n = 0;
    assert_int_equal(l1w_pending_update(v, 10, b, 1, record, &e), ZK_OK);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ev[0], L1W_PENDING_REORGED);
    expect(v, 1, &b[1], true);
    expect(v, 0, &a[0], false);
    /* the same transaction mined again in a new block 12 (same tx hash, new block
     * hash): pending again, with the new block */
    l1w_deposit again = b[1];
    again.block_number = 12;
    again.block_hash[0] = 12;
    l1w_deposit c[2] = { a[0], again };
    e.n = 0;
    assert_int_equal(l1w_pending_update(v, 10, c, 2, record, &e), ZK_OK);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ev[0], L1W_PENDING_SEEN);
    expect(v, 1, &again, false);
    uint64_t t;
    l1w_pending_counts(v, NULL, NULL, &t);
    assert_int_equal(t, 2);
    l1w_pending_destroy(v);
}

/* Committed with another tx hash than the one held pending: the held one is
 * reorged (the id now names the committed deposit). A pending deposit that
 * falls below the cursor without being committed is reorged too. */
static void test_confirmed_other_tx(void **state)
{
    l1w_pending *v = view(0, 0);
    events e = { 0 };
    l1w_deposit a[2] = { dep(5, 20, 0), dep(6, 21, 0) };
    assert_int_equal(l1w_pending_update(v, 20, a, 2, NULL, NULL), ZK_OK);
    l1w_deposit other = dep(5, 20, 3);
    l1w_pending_confirmed(v, &other, record, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ev[0], L1W_PENDING_REORGED);
    assert_memory_equal(&e.d[0], &a[0], sizeof a[0]);
    expect(v, 5, &a[0], true);
    /* confirming an id the view does not hold changes nothing */
    e.n = 0;
    l1w_deposit unknown = dep(9, 30, 0);
    l1w_pending_confirmed(v, &unknown, record, &e);
    assert_int_equal(e.n, 0);
    /* the cursor moves past block 21 (deposit 6 not committed: its block was
     * replaced by one without it); seen entries below the cursor are ignored */
    assert_int_equal(l1w_pending_update(v, 22, a, 2, record, &e), ZK_OK);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ev[0], L1W_PENDING_REORGED);
    expect(v, 6, &a[1], true);
    size_t p;
    l1w_pending_counts(v, &p, NULL, NULL);
    assert_int_equal(p, 0);
    l1w_pending_destroy(v);
}

/* Bounds: the lowest ids are kept pending; the ring keeps the newest reorged. */
static void test_bounds(void **state)
{
    l1w_pending *v = view(4, 3);
    events e = { 0 };
    l1w_deposit s[6];
    for (int i = 0; i < 6; i++)
        s[i] = dep((uint64_t)(5 - i), 40 + (uint64_t)(5 - i), 0); /* ids 5..0 */
    assert_int_equal(l1w_pending_update(v, 40, s, 6, record, &e), ZK_OK);
    assert_int_equal(e.n, 4); /* only what is kept is told */
    for (uint64_t id = 0; id < 4; id++) {
        l1w_deposit want = dep(id, 40 + id, 0);
        expect(v, id, &want, false);
    }
    expect_unknown(v, 4);
    expect_unknown(v, 5);
    /* a consumer's SEEN at the cap: a lower id evicts the highest, a higher one is dropped */
    l1w_pending_clear(v);
    for (uint64_t id = 10; id < 14; id++) {
        l1w_deposit d = dep(id, id, 0);
        assert_int_equal(l1w_pending_add(v, &d), ZK_OK);
    }
    l1w_deposit high = dep(20, 20, 0), low = dep(2, 2, 0);
    assert_int_equal(l1w_pending_add(v, &high), ZK_OK);
    expect_unknown(v, 20);
    assert_int_equal(l1w_pending_add(v, &low), ZK_OK);
    expect(v, 2, &low, false);
    expect_unknown(v, 13);
    size_t p;
    l1w_pending_counts(v, &p, NULL, NULL);
    assert_int_equal(p, 4);
    /* the ring: 5 reorged, the 3 newest remembered */
    for (uint64_t id = 100; id < 105; id++) {
        l1w_deposit d = dep(id, id, 0);
        l1w_pending_mark_reorged(v, &d);
    }
    expect_unknown(v, 100);
    expect_unknown(v, 101);
    for (uint64_t id = 102; id < 105; id++) {
        l1w_deposit d = dep(id, id, 0);
        expect(v, id, &d, true);
    }
    size_t r;
    uint64_t t;
    l1w_pending_counts(v, NULL, &r, &t);
    assert_int_equal(r, 3);
    assert_int_equal(t, 5);
    l1w_pending_destroy(v);
}

/* A consumer's messages: SEEN twice is one entry, REORGED moves it to the
 * ring, the newest reorged entry of an id answers, clear keeps the ring. */
static void test_consumer_side(void **state)
{
    l1w_pending *v = view(0, 0);
    l1w_deposit a = dep(7, 70, 0), b = dep(7, 70, 1), c = dep(8, 71, 1);
    assert_int_equal(l1w_pending_add(v, &a), ZK_OK);
    assert_int_equal(l1w_pending_add(v, &a), ZK_OK);
    size_t p;
    l1w_pending_counts(v, &p, NULL, NULL);
    assert_int_equal(p, 1);
    l1w_pending_mark_reorged(v, &a);
    expect(v, 7, &a, true);
    assert_int_equal(l1w_pending_add(v, &b), ZK_OK);
    expect(v, 7, &b, false); /* pending wins */
    l1w_pending_mark_reorged(v, &b);
    expect(v, 7, &b, true);  /* the newest reorged */
    assert_int_equal(l1w_pending_add(v, &c), ZK_OK);
    l1w_deposit snap[4];
    assert_int_equal(l1w_pending_snapshot(v, snap, 4), 1);
    assert_memory_equal(&snap[0], &c, sizeof c);
    assert_int_equal(l1w_pending_snapshot(v, snap, 0), 0);
    l1w_pending_clear(v);
    expect_unknown(v, 8);
    expect(v, 7, &b, true);
    /* a delivered record for a held SEEN */
    assert_int_equal(l1w_pending_add(v, &c), ZK_OK);
    l1w_pending_confirmed(v, &c, NULL, NULL);
    expect_unknown(v, 8);
    l1w_pending_destroy(v);
}

/* The node repeating a log in one answer gives one entry. */
static void test_duplicates_in_round(void **state)
{
    l1w_pending *v = view(0, 0);
    events e = { 0 };
    l1w_deposit s[3] = { dep(1, 5, 0), dep(1, 5, 0), dep(2, 6, 0) };
    assert_int_equal(l1w_pending_update(v, 5, s, 3, record, &e), ZK_OK);
    assert_int_equal(e.n, 2);
    size_t p;
    l1w_pending_counts(v, &p, NULL, NULL);
    assert_int_equal(p, 2);
    e.n = 0;
    assert_int_equal(l1w_pending_update(v, 5, s, 3, record, &e), ZK_OK);
    assert_int_equal(e.n, 0);
    l1w_pending_destroy(v);
}

/* Lookups from other threads while the watcher's thread updates: every answer
 * is a whole entry of one of the two chains (the sanitizer builds watch the rest). */
typedef struct race {
    l1w_pending *v;
    atomic_bool stop;
    atomic_ulong answers, wrong;
    atomic_int started;
} race;

static void *reader(void *p)
{
    race *r = p;
    atomic_fetch_add(&r->started, 1);
    while (!atomic_load(&r->stop)) {
        for (uint64_t id = 0; id < 64; id++) {
            l1w_deposit d;
            bool reorged;
            if (l1w_pending_lookup(r->v, id, &d, &reorged)) {
                l1w_deposit a = dep(id, 100 + id, 0), b = dep(id, 100 + id, 1);
                /* (no cmocka assertion off the test's thread: it would longjmp across threads) */
                if (memcmp(&d, &a, sizeof d) != 0 && memcmp(&d, &b, sizeof d) != 0)
                    atomic_fetch_add(&r->wrong, 1);
                atomic_fetch_add(&r->answers, 1);
            }
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    race r = { .v = view(0, 0) };
    atomic_init(&r.stop, false);
    atomic_init(&r.answers, 0);
    atomic_init(&r.wrong, 0);
    atomic_init(&r.started, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &r), 0);
    /* The race only means something while both readers run: wait for them,
     * then update until they have looked up many entries during the updates
     * (on a busy two-core machine 400 rounds can end before a reader is
     * scheduled at all). The deadline only bounds a broken view. */
    while (atomic_load(&r.started) < 2)
        sched_yield();
    l1w_deposit s[64];
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int round = 0;; round++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (round >= 400 && (atomic_load(&r.answers) >= 20000 || now.tv_sec - t0.tv_sec > 30))
            break;
        for (uint64_t id = 0; id < 64; id++)
            s[id] = dep(id, 100 + id, (uint8_t)(round & 1));
        assert_int_equal(l1w_pending_update(r.v, 100, s, (size_t)(round % 64) + 1, NULL, NULL), ZK_OK);
        if (round % 7 == 0)
            l1w_pending_confirmed(r.v, &s[0], NULL, NULL);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true(atomic_load(&r.answers) >= 20000);
    assert_int_equal(atomic_load(&r.wrong), 0);
    l1w_pending_destroy(r.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_update_and_confirm),
        cmocka_unit_test(test_reorg_and_id_reuse),
        cmocka_unit_test(test_confirmed_other_tx),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_consumer_side),
        cmocka_unit_test(test_duplicates_in_round),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
