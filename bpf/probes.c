/*
 * bpf/probes.c — the USDT semaphores and the in-process stage timers
 * (bpf/probes.h). Linked into every library that has probe sites; it depends
 * on nothing but libc, so the prover and the state do not pull in libbpf.
 */
#include "bpf/probes.h"

#include <string.h>
#include <time.h>

/* sys/sdt.h names a semaphore <provider>_<probe>_semaphore and expects it in
 * ".probes"; the kernel increments it (uprobe ref_ctr_offset) while a probe is
 * attached and decrements it on detach. */
#define ZKBPF_SEMAPHORE_DEF(probe) \
    volatile unsigned short zkcar_##probe##_semaphore __attribute__((section(".probes"))) = 0
ZKBPF_SEMAPHORE_DEF(lde_begin);
ZKBPF_SEMAPHORE_DEF(lde_end);
ZKBPF_SEMAPHORE_DEF(commit_begin);
ZKBPF_SEMAPHORE_DEF(commit_end);
ZKBPF_SEMAPHORE_DEF(quotient_begin);
ZKBPF_SEMAPHORE_DEF(quotient_end);
ZKBPF_SEMAPHORE_DEF(fri_begin);
ZKBPF_SEMAPHORE_DEF(fri_end);
ZKBPF_SEMAPHORE_DEF(prove_batch_begin);
ZKBPF_SEMAPHORE_DEF(prove_batch_end);
ZKBPF_SEMAPHORE_DEF(tree_update_begin);
ZKBPF_SEMAPHORE_DEF(tree_update_end);

atomic_bool zkbpf_user_on = false;

/* The histograms live in plain memory updated with atomic adds, the same
 * arithmetic the BPF program does with __sync_fetch_and_add on its map. */
static struct zkbpf_hist user_hists[ZKBPF_NSTAGES];

/* Per-thread start times, the userspace twin of the BPF program's map keyed
 * by (tid, stage). 0 = no stage open. */
static _Thread_local uint64_t user_start[ZKBPF_NSTAGES];

static const char *const stage_names[ZKBPF_NSTAGES] = {
    [ZKBPF_STAGE_LDE] = "lde",
    [ZKBPF_STAGE_COMMIT] = "commit",
    [ZKBPF_STAGE_QUOTIENT] = "quotient",
    [ZKBPF_STAGE_FRI] = "fri",
    [ZKBPF_STAGE_PROVE_BATCH] = "prove_batch",
    [ZKBPF_STAGE_TREE_UPDATE] = "tree_update",
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock bpf_ktime_get_ns reads */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *zkbpf_stage_name(unsigned stage)
{
    return stage < ZKBPF_NSTAGES ? stage_names[stage] : NULL;
}

void zkbpf_user_begin(unsigned stage)
{
    if (stage < ZKBPF_NSTAGES)
        user_start[stage] = now_ns();
}

void zkbpf_user_observe(unsigned stage, uint64_t ns)
{
    if (stage >= ZKBPF_NSTAGES)
        return;
    struct zkbpf_hist *h = &user_hists[stage];
    __atomic_fetch_add(&h->buckets[zkbpf_bucket(ns)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum_ns, ns, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

void zkbpf_user_end(unsigned stage)
{
    if (stage >= ZKBPF_NSTAGES)
        return;
    uint64_t t0 = user_start[stage];
    if (t0 == 0)
        return;
    user_start[stage] = 0;
    zkbpf_user_observe(stage, now_ns() - t0);
}

void zkbpf_user_enable(bool on)
{
    atomic_store_explicit(&zkbpf_user_on, on, memory_order_relaxed);
}

void zkbpf_user_read(unsigned stage, struct zkbpf_hist *out)
{
    memset(out, 0, sizeof *out);
    if (stage >= ZKBPF_NSTAGES)
        return;
    const struct zkbpf_hist *h = &user_hists[stage];
    for (unsigned i = 0; i < ZKBPF_NBUCKETS; i++)
        out->buckets[i] = __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
    out->count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
    out->sum_ns = __atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED);
}

void zkbpf_user_reset(void)
{
    for (unsigned s = 0; s < ZKBPF_NSTAGES; s++) {
        struct zkbpf_hist *h = &user_hists[s];
        for (unsigned i = 0; i < ZKBPF_NBUCKETS; i++)
            __atomic_store_n(&h->buckets[i], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&h->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&h->sum_ns, 0, __ATOMIC_RELAXED);
    }
}
