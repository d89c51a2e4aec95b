/*
 * bpf/probes.h — the static probes on the proving path, and the in-process
 * timers behind the same sites.
 *
 * A stage is bracketed by two statements in the code it observes:
 *
 *     ZKBPF_BEGIN(lde);
 *     ... the whole low-degree extension ...
 *     ZKBPF_END(lde);
 *
 * Each expands to a USDT probe (sys/sdt.h, provider "zkcar", probes
 * `<stage>_begin` and `<stage>_end`, no arguments) and an in-process timer.
 * Stages: lde, commit, quotient, fri, prove_batch, tree_update (bpf/stages.h
 * says what each one covers). Probe whole stages only: one probe hit costs
 * ~6–12 µs in this VM (REFERENCE.md §6), never put one on a per-hash or
 * per-butterfly path.
 *
 * Cost when nothing observes: each probe is guarded by its USDT semaphore
 * (`zkcar_<probe>_semaphore`, a counter the kernel increments while a uprobe
 * is attached; the names are fixed by sys/sdt.h), and the timer by one
 * relaxed flag. So a detached site is two loads and two not-taken branches;
 * the trap instruction (a nop) is only reached while a probe is attached.
 *
 * The in-process timers run only while the userspace backend is active
 * (bpf/loader.h decides; zkbpf_user_enable). They keep per-thread start
 * times per stage, as the BPF program does per tid and stage, and feed
 * histograms with the same layout and bucket function (bpf/stages.h), so the
 * exported metric is the same whichever backend measured it. A stage that is
 * left on an error path without its END leaves a stale start time that the
 * next BEGIN on that thread overwrites; nothing is recorded for it.
 *
 * Thread-safety: the macros and every function here may be called from any
 * thread. Each BEGIN must be matched by END on the same thread.
 */
#ifndef ZKCAR_BPF_PROBES_H
#define ZKCAR_BPF_PROBES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bpf/stages.h"

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* The semaphores, one per probe (defined in bpf/probes.c, in the ELF section
 * ".probes" where USDT tools look for them). */
#define ZKBPF_SEMAPHORE_DECL(probe) extern volatile unsigned short zkcar_##probe##_semaphore
ZKBPF_SEMAPHORE_DECL(lde_begin);
ZKBPF_SEMAPHORE_DECL(lde_end);
ZKBPF_SEMAPHORE_DECL(commit_begin);
ZKBPF_SEMAPHORE_DECL(commit_end);
ZKBPF_SEMAPHORE_DECL(quotient_begin);
ZKBPF_SEMAPHORE_DECL(quotient_end);
ZKBPF_SEMAPHORE_DECL(fri_begin);
ZKBPF_SEMAPHORE_DECL(fri_end);
ZKBPF_SEMAPHORE_DECL(prove_batch_begin);
ZKBPF_SEMAPHORE_DECL(prove_batch_end);
ZKBPF_SEMAPHORE_DECL(tree_update_begin);
ZKBPF_SEMAPHORE_DECL(tree_update_end);

/* Stage token -> number, for the macros. */
#define ZKBPF_ID_lde ZKBPF_STAGE_LDE
#define ZKBPF_ID_commit ZKBPF_STAGE_COMMIT
#define ZKBPF_ID_quotient ZKBPF_STAGE_QUOTIENT
#define ZKBPF_ID_fri ZKBPF_STAGE_FRI
#define ZKBPF_ID_prove_batch ZKBPF_STAGE_PROVE_BATCH
#define ZKBPF_ID_tree_update ZKBPF_STAGE_TREE_UPDATE

/* Set while the userspace backend is active. Read relaxed on every probe
 * site: a site that misses a flip just records or skips one observation. */
extern atomic_bool zkbpf_user_on;

#define ZKBPF_USDT(probe)                                                     \
    do {                                                                      \
        if (__builtin_expect(zkcar_##probe##_semaphore != 0, 0))              \
            DTRACE_PROBE(zkcar, probe);                                       \
    } while (0)

#define ZKBPF_USER_ON() __builtin_expect(atomic_load_explicit(&zkbpf_user_on, memory_order_relaxed), 0)

/* The probe fires before the timer starts and after it stops, so that the
 * in-process figure leaves the probe's own trap out. */
#define ZKBPF_BEGIN(stage)                                                    \
    do {                                                                      \
        ZKBPF_USDT(stage##_begin);                                            \
        if (ZKBPF_USER_ON())                                                  \
            zkbpf_user_begin(ZKBPF_ID_##stage);                               \
    } while (0)

#define ZKBPF_END(stage)                                                      \
    do {                                                                      \
        if (ZKBPF_USER_ON())                                                  \
            zkbpf_user_end(ZKBPF_ID_##stage);                                 \
        ZKBPF_USDT(stage##_end);                                              \
    } while (0)

/* Records the calling thread's start time for `stage` (CLOCK_MONOTONIC).
 * Called by ZKBPF_BEGIN; stage < ZKBPF_NSTAGES. */
void zkbpf_user_begin(unsigned stage);
/* Observes now − the calling thread's start time for `stage` into the
 * in-process histogram, and clears the start time; no-op without a start
 * (the timers were enabled mid-stage). Called by ZKBPF_END. */
void zkbpf_user_end(unsigned stage);

/* Adds one observation of `ns` nanoseconds to the in-process histogram of
 * `stage` (what zkbpf_user_end does; public for tests and golden files). */
void zkbpf_user_observe(unsigned stage, uint64_t ns);

/* Turns the in-process timers on or off (process-wide). The loader calls
 * this; tests call it to time the same stages beside the BPF backend. */
void zkbpf_user_enable(bool on);

/* A consistent-enough copy of the in-process histogram of `stage` (each
 * field read atomically; concurrent observations may be half-included). */
void zkbpf_user_read(unsigned stage, struct zkbpf_hist *out);

/* Zeroes every in-process histogram (tests; not while stages run). */
void zkbpf_user_reset(void);

/* "lde", "commit", "quotient", "fri", "prove_batch", "tree_update";
 * NULL for a number out of range. Static strings. */
const char *zkbpf_stage_name(unsigned stage);

#endif
