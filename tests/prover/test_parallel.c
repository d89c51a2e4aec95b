/* tests/prover/test_parallel.c — the prover's thread pool (prover/parallel.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "prover/parallel.h"

typedef struct cover_ctx {
    atomic_int *hits;
    size_t grain, n;
    atomic_int short_chunks; /* chunks below grain (only the last may be) */
    atomic_int calls;
} cover_ctx;

static void cover(void *vctx, size_t begin, size_t end)
{
    cover_ctx *c = vctx;
    assert_true(begin < end);
    assert_true(end <= c->n);
    if (end - begin < c->grain)
        atomic_fetch_add(&c->short_chunks, 1);
    atomic_fetch_add(&c->calls, 1);
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

static void check_cover(size_t n, size_t grain)
{
    atomic_int *hits = calloc(n ? n : 1, sizeof *hits);
    assert_non_null(hits);
    cover_ctx c = { .hits = hits, .grain = grain ? grain : 1, .n = n };
    prv_parallel_for(n, grain, cover, &c);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(atomic_load(&hits[i]), 1);
    assert_true(atomic_load(&c.short_chunks) <= 1);
    if (n == 0)
        assert_int_equal(atomic_load(&c.calls), 0);
    free(hits);
}

static void test_every_index_once(void **state)
{
    (void)state;
    static const unsigned threads[] = { 1, 2, 3, 8 };
    static const size_t sizes[] = { 0, 1, 2, 7, 64, 1000, 4097, 100000 };
    static const size_t grains[] = { 0, 1, 3, 64, 5000 };
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        prv_parallel_set_threads(threads[t]);
        assert_int_equal(prv_parallel_threads(), threads[t]);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
                check_cover(sizes[s], grains[g]);
    }
    prv_parallel_set_threads(0);
}

static void test_thread_count(void **state)
{
    (void)state;
    prv_parallel_set_threads(0);
    unsigned def = prv_parallel_threads();
    assert_true(def >= 1);
    prv_parallel_set_threads(1);
    assert_int_equal(prv_parallel_threads(), 1);
    prv_parallel_set_threads(100000);
    assert_int_equal(prv_parallel_threads(), PRV_PARALLEL_MAX_THREADS);
    prv_parallel_set_threads(0);
    assert_int_equal(prv_parallel_threads(), def);
}

/* With one thread every chunk runs on the caller, in one call. */
static pthread_t caller;
static void on_caller(void *vctx, size_t begin, size_t end)
{
    int *calls = vctx;
    assert_true(pthread_equal(pthread_self(), caller));
    assert_int_equal(begin, 0);
    assert_int_equal(end, 10);
    (*calls)++;
}

static void test_one_thread_inline(void **state)
{
    (void)state;
    prv_parallel_set_threads(1);
    caller = pthread_self();
    int calls = 0;
    prv_parallel_for(10, 1, on_caller, &calls);
    assert_int_equal(calls, 1);
    prv_parallel_set_threads(0);
}

/* A nested call runs inline on the thread that makes it (no deadlock). */
typedef struct nest_ctx {
    atomic_long sum;
} nest_ctx;

static void inner(void *vctx, size_t begin, size_t end)
{
    nest_ctx *c = vctx;
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&c->sum, (long)i);
}

typedef struct inline_check {
    pthread_t self;
    int calls;
} inline_check;

static void inner_check(void *vctx, size_t begin, size_t end)
{
    inline_check *c = vctx;
    assert_true(pthread_equal(pthread_self(), c->self));
    assert_int_equal(begin, 0);
    assert_int_equal(end, 1000);
    c->calls++;
}

static void outer(void *vctx, size_t begin, size_t end)
{
    for (size_t i = begin; i < end; i++) {
        prv_parallel_for(100, 1, inner, vctx);
        inline_check ic = { pthread_self(), 0 };
        prv_parallel_for(1000, 1, inner_check, &ic);
        assert_int_equal(ic.calls, 1);
    }
}

static void test_nested(void **state)
{
    (void)state;
    prv_parallel_set_threads(4);
    nest_ctx c = { 0 };
    prv_parallel_for(16, 1, outer, &c);
    assert_int_equal(atomic_load(&c.sum), 16L * (99L * 100 / 2));
    prv_parallel_set_threads(0);
}

/* Many short jobs back to back (wake-up/finish races), and thread count changes between them. */
static void test_many_jobs(void **state)
{
    (void)state;
    for (int round = 0; round < 2000; round++) {
        prv_parallel_set_threads((unsigned)(round % 4) + 1);
        nest_ctx c = { 0 };
        prv_parallel_for(64, 1, inner, &c);
        assert_int_equal(atomic_load(&c.sum), 63L * 64 / 2);
    }
    prv_parallel_set_threads(0);
}

/* Two threads calling at once are serialised, and both get complete results. */
static void *concurrent_caller(void *arg)
{
    (void)arg;
    for (int round = 0; round < 200; round++) {
        nest_ctx c = { 0 };
        prv_parallel_for(1000, 7, inner, &c);
        assert_int_equal(atomic_load(&c.sum), 999L * 1000 / 2);
    }
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    (void)state;
    prv_parallel_set_threads(3);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, concurrent_caller, NULL), 0);
    concurrent_caller(NULL);
    assert_int_equal(pthread_join(t, NULL), 0);
    prv_parallel_set_threads(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_index_once), cmocka_unit_test(test_thread_count),
        cmocka_unit_test(test_one_thread_inline), cmocka_unit_test(test_nested),
        cmocka_unit_test(test_many_jobs),         cmocka_unit_test(test_concurrent_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
