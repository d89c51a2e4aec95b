#include "prover/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

/*
 * One job at a time. The caller publishes the job under `mu`, bumps
 * `generation` and wakes the workers; every thread (caller included) then
 * claims chunk indices from the atomic `next` until none are left. Workers
 * whose index is >= job_workers sit the job out. The caller waits on
 * `done_cv` until `pending` (workers still inside the job) drops to zero, so
 * no worker can touch the job after the call returns.
 */
typedef struct job {
    void (*fn)(void *ctx, size_t begin, size_t end);
    void *ctx;
    size_t n, chunk, nchunks;
    atomic_size_t next;
} job;

static pthread_mutex_t call_mu = PTHREAD_MUTEX_INITIALIZER; /* serialises callers */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;      /* guards the fields below */
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static job current;
static unsigned long generation;
static unsigned job_workers; /* workers taking part in the current job */
static unsigned pending;     /* of those, how many have not finished yet */
static unsigned started;     /* workers created so far */
/* The generation current when each worker was created: it waits for the next one. */
static unsigned long start_generation[PRV_PARALLEL_MAX_THREADS];

static atomic_uint configured; /* 0 = not yet decided */
static _Thread_local bool in_job;

static void run_chunks(job *j)
{
    bool was = in_job;
    in_job = true;
    for (;;) {
        size_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= j->nchunks)
            break;
        size_t begin = c * j->chunk;
        size_t end = begin + j->chunk < j->n ? begin + j->chunk : j->n;
        j->fn(j->ctx, begin, end);
    }
    in_job = was;
}

static void *worker_main(void *arg)
{
    unsigned index = (unsigned)(size_t)arg;
    pthread_mutex_lock(&mu);
    unsigned long seen = start_generation[index];
    for (;;) {
        while (generation == seen)
            pthread_cond_wait(&work_cv, &mu);
        seen = generation;
        if (index >= job_workers)
            continue;
        pthread_mutex_unlock(&mu);
        run_chunks(&current);
        pthread_mutex_lock(&mu);
        if (--pending == 0)
            pthread_cond_signal(&done_cv);
    }
    return NULL;
}

unsigned prv_parallel_threads(void)
{
    unsigned n = atomic_load_explicit(&configured, memory_order_relaxed);
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores < 1 ? 1 : cores > PRV_PARALLEL_MAX_THREADS ? PRV_PARALLEL_MAX_THREADS : (unsigned)cores;
        unsigned expected = 0;
        atomic_compare_exchange_strong(&configured, &expected, n);
        n = atomic_load_explicit(&configured, memory_order_relaxed);
    }
    return n;
}

void prv_parallel_set_threads(unsigned n)
{
    if (n > PRV_PARALLEL_MAX_THREADS)
        n = PRV_PARALLEL_MAX_THREADS;
    atomic_store_explicit(&configured, n, memory_order_relaxed);
}

/* Starts workers up to `want` (called with mu held); returns how many exist. */
static unsigned ensure_workers(unsigned want)
{
    while (started < want) {
        pthread_t t;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0)
            break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        start_generation[started] = generation;
        int rc = pthread_create(&t, &attr, worker_main, (void *)(size_t)started);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        started++;
    }
    return started;
}

void prv_parallel_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t begin, size_t end),
                      void *ctx)
{
    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    unsigned threads = prv_parallel_threads();
    if (threads <= 1 || n <= grain || in_job) {
        bool was = in_job;
        in_job = true;
        fn(ctx, 0, n);
        in_job = was;
        return;
    }
    /* About four chunks per thread evens out uneven chunks without much overhead. */
    size_t chunk = (n + (size_t)threads * 4 - 1) / ((size_t)threads * 4);
    if (chunk < grain)
        chunk = grain;
    size_t nchunks = (n + chunk - 1) / chunk;

    pthread_mutex_lock(&call_mu);
    pthread_mutex_lock(&mu);
    unsigned workers = threads - 1;
    if ((size_t)workers > nchunks - 1)
        workers = (unsigned)(nchunks - 1);
    unsigned have = ensure_workers(workers);
    if (have < workers)
        workers = have;
    current.fn = fn;
    current.ctx = ctx;
    current.n = n;
    current.chunk = chunk;
    current.nchunks = nchunks;
    atomic_store_explicit(&current.next, 0, memory_order_relaxed);
    job_workers = workers;
    pending = workers;
    generation++;
    if (workers > 0)
        pthread_cond_broadcast(&work_cv);
    pthread_mutex_unlock(&mu);

    run_chunks(&current);

    pthread_mutex_lock(&mu);
    while (pending > 0)
        pthread_cond_wait(&done_cv, &mu);
    job_workers = 0;
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&call_mu);
}
