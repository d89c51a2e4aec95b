/*
 * l1-watcher/thread.c — one way to run a watcher on a thread of its own
 * (l1w_watcher_start / l1w_watcher_join), shared by `zkcar run`, the
 * watcher benchmark and the tests instead of a trampoline in each.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "l1-watcher/l1w.h"

struct l1w_watcher_thread {
    l1w_watcher *w;
    pthread_t tid;
    zk_err rc;
    zk_error_detail detail;
    atomic_bool done;
};

static void *watcher_main(void *p)
{
    l1w_watcher_thread *t = p;
    t->rc = l1w_watcher_run(t->w, &t->detail);
    /* release: rc and detail are written before `done` is seen as true */
    atomic_store_explicit(&t->done, true, memory_order_release);
    return NULL;
}

zk_err l1w_watcher_start(l1w_watcher_thread **out, l1w_watcher *w, zk_error_detail *err)
{
    *out = NULL;
    l1w_watcher_thread *t = calloc(1, sizeof *t);
    if (t == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "watcher thread: out of memory");
    t->w = w;
    atomic_init(&t->done, false);
    int rc = pthread_create(&t->tid, NULL, watcher_main, t);
    if (rc != 0) {
        free(t);
        return zk_error_set(err, ZK_ERR_IO, "watcher thread: pthread_create: %s", strerror(rc));
    }
    *out = t;
    return ZK_OK;
}

bool l1w_watcher_done(const l1w_watcher_thread *t)
{
    return atomic_load_explicit(&t->done, memory_order_acquire);
}

zk_err l1w_watcher_join(l1w_watcher_thread *t, zk_error_detail *err)
{
    if (t == NULL)
        return ZK_OK;
    pthread_join(t->tid, NULL);
    zk_err rc = t->rc;
    if (err != NULL && rc != ZK_OK)
        *err = t->detail;
    free(t);
    return rc;
}
