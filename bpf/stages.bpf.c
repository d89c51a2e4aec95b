// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bpf/stages.bpf.c — per-stage latency histograms from the USDT probes of
 * bpf/probes.h, kept in BPF memory and read by the loader at scrape time.
 *
 * The loader attaches `stage_begin` to every <stage>_begin probe and
 * `stage_end` to every <stage>_end probe of one process, with the stage
 * number (bpf/stages.h) as the BPF cookie. begin stores the time per (thread,
 * stage); end takes it out, and adds the difference to the stage's log2
 * histogram, its sum and its count. The histograms are a global array, so
 * they live in the object's .bss map, which libbpf memory-maps: the collector
 * reads them with plain loads (no bpf() call, so it keeps working after the
 * loader drops its capabilities, on every kernel).
 *
 * CO-RE: nothing here reads kernel structures beyond the USDT helpers'
 * struct pt_regs, which vmlinux.h describes with preserve_access_index.
 * Built by bpf/CMakeLists.txt (clang -target bpf, bpftool gen skeleton).
 * The licence must be GPL-compatible: the USDT helpers use
 * bpf_probe_read_kernel.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>

#include "bpf/stages.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct start_key {
    __u32 tid;
    __u32 stage;
};

/* Open stages. LRU, so that starts left behind by a stage abandoned on an
 * error path (begin without end) are evicted rather than filling the map. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct start_key);
    __type(value, __u64);
} starts SEC(".maps");

/* One histogram per stage (bpf/stages.h), in .bss. */
struct zkbpf_hist hists[ZKBPF_NSTAGES];

SEC("usdt")
int BPF_USDT(stage_begin)
{
    long stage = bpf_usdt_cookie(ctx);
    if (stage < 0 || stage >= ZKBPF_NSTAGES)
        return 0;
    struct start_key key = { .tid = (__u32)bpf_get_current_pid_tgid(), .stage = (__u32)stage };
    __u64 now = bpf_ktime_get_ns();
    bpf_map_update_elem(&starts, &key, &now, BPF_ANY);
    return 0;
}

SEC("usdt")
int BPF_USDT(stage_end)
{
    __u64 now = bpf_ktime_get_ns();
    long stage = bpf_usdt_cookie(ctx);
    if (stage < 0 || stage >= ZKBPF_NSTAGES)
        return 0;
    struct start_key key = { .tid = (__u32)bpf_get_current_pid_tgid(), .stage = (__u32)stage };
    __u64 *start = bpf_map_lookup_elem(&starts, &key);
    if (!start)
        return 0; /* attached in the middle of this stage */
    __u64 delta = now - *start;
    bpf_map_delete_elem(&starts, &key);
    unsigned b = zkbpf_bucket(delta) & (ZKBPF_NBUCKETS - 1);
    struct zkbpf_hist *h = &hists[stage];
    __sync_fetch_and_add(&h->buckets[b], 1);
    __sync_fetch_and_add(&h->sum_ns, delta);
    __sync_fetch_and_add(&h->count, 1);
    return 0;
}
