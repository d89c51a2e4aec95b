/*
 * prover/parallel.h — the prover's process-wide thread pool.
 *
 * One pool serves the whole process: prv_parallel_for() splits [0, n) into
 * chunks, hands them to the pool's workers and to the calling thread, and
 * returns when every chunk has run. The workers are started lazily on the
 * first call that needs them and live until the process exits.
 *
 * Thread-safety: the pool runs one parallel_for at a time. Calls from several
 * threads at once are allowed but are serialised (the second caller waits for
 * the first to finish), so they gain nothing; the intended use is one driving
 * thread (the prover). A call made from inside a running fn (a nested call,
 * from a worker or from the caller's own share) runs inline on the calling
 * thread, so code may call prv_parallel_for at every level without deadlock.
 * (A fn that waits for ANOTHER thread which calls prv_parallel_for deadlocks:
 * that call waits for the running one.) prv_parallel_set_threads must not race
 * with a running prv_parallel_for.
 */
#ifndef ZKCAR_PROVER_PARALLEL_H
#define ZKCAR_PROVER_PARALLEL_H

#include <stddef.h>

/* Upper bound on the pool size; prv_parallel_set_threads clamps to it. */
#define PRV_PARALLEL_MAX_THREADS 256

/*
 * Runs fn(ctx, begin, end) over disjoint chunks covering [0, n) and waits for
 * all of them. Each chunk holds at least `grain` indices (except possibly the
 * last); grain 0 is taken as 1. Chunks run in any order on any thread; fn must
 * only touch state that belongs to its own chunk (or synchronise itself).
 * n == 0 returns at once without calling fn. With one thread, or n <= grain,
 * or when nested, fn(ctx, 0, n) runs inline on the caller.
 * Never fails: if a worker thread cannot be created the pool runs with the
 * threads it has (at worst inline).
 */
void prv_parallel_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t begin, size_t end),
                      void *ctx);

/*
 * Sets the number of threads prv_parallel_for uses, the caller included:
 * 1 runs everything inline; 0 restores the default (the number of online
 * cores). Values above PRV_PARALLEL_MAX_THREADS are clamped. Not to be called
 * while a prv_parallel_for is running.
 */
void prv_parallel_set_threads(unsigned n);

/* The number of threads prv_parallel_for uses now (>= 1). Thread-safe. */
unsigned prv_parallel_threads(void);

#endif
