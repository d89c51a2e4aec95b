/* bench/state.c — `zkcar bench state`: the shared-memory state (ipc/).
 *
 * Figures (issue 4), at --accounts N (default 1,000,000):
 *   reads_per_s_per_core   random account reads (ipc_reader_get, seqlock) by
 *                          one reader process while the writer commits updates
 *   tree_updates_per_s     random updates of existing accounts committed in
 *                          groups of 65536 (log write + fdatasync + batched
 *                          tree update on both cores), per second
 *   durable_ops_per_s      operations made durable in groups of --group
 *                          (default 4096) with one fdatasync each; ack_p99_ms
 *                          is the 99th percentile time from staging an
 *                          operation to its commit returning
 *   recovery_s             writer open that rebuilds the region from the
 *                          snapshot and the log (region removed first)
 *   bytes_per_account      shared memory per account of capacity
 * The data directory is a fresh temporary one under --dir (default /tmp),
 * on the disk the sidecar would use; it is removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/log.h"
#include "ipc/state.h"
#include "prover/poseidon2.h"

#define READ_SECONDS 1.0
#define TREE_GROUP 65536u
#define TREE_GROUPS 8

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The reader process: random reads for READ_SECONDS of wall time; reports
 * reads per second of its own CPU time (per core: the machine is shared, so
 * wall time would count other processes' slices) and per wall second. */
static void reader_child(const char *dir, uint32_t n, int fd)
{
    ipc_reader *r = NULL;
    double rate[2] = { -1, -1 };
    if (ipc_reader_open(&r, dir, NULL) == ZK_OK) {
        uint64_t s = 0x9e3779b97f4a7c15ULL, reads = 0, sink = 0;
        uint64_t t0 = zkb_now_ns(), t1, c0 = cpu_ns();
        do {
            for (int i = 0; i < 4096; i++) {
                ipc_account a;
                ipc_reader_get(r, &a, (uint32_t)(((zkb_rng(&s) >> 32) * n) >> 32));
                sink += a.balance;
            }
            reads += 4096;
            t1 = zkb_now_ns();
        } while ((double)(t1 - t0) < READ_SECONDS * 1e9);
        uint64_t c1 = cpu_ns();
        rate[0] = (double)reads / ((double)(c1 - c0) / 1e9);
        rate[1] = (double)reads / ((double)(t1 - t0) / 1e9);
        if (sink == 42)
            rate[1] += 0; /* keeps the loads */
        ipc_reader_close(r);
    }
    if (write(fd, rate, sizeof rate) != (ssize_t)sizeof rate)
        _exit(1);
    _exit(0);
}

int zkb_state(zkb_report *r, int argc, char **argv)
{
    uint64_t accounts = 1000000, group = 4096, durable_groups = 64;
    const char *base = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            accounts = 100000;
            durable_groups = 16;
        } else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &accounts, 1024, IPC_MAX_CAPACITY) != 0) {
                fprintf(stderr, "zkcar bench state: --accounts wants 1024 .. %u\n", IPC_MAX_CAPACITY);
                return 2;
            }
        } else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc) {
            if (zkb_parse_u64(argv[++i], &group, 1, 65536) != 0) {
                fprintf(stderr, "zkcar bench state: --group wants 1 .. 65536\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else {
            fprintf(stderr, "usage: zkcar bench state [--quick] [--accounts N] [--group N] [--dir DIR]\n");
            return 2;
        }
    }
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/zkcar-bench-state-XXXXXX", base) >= (int)sizeof dir || mkdtemp(dir) == NULL) {
        fprintf(stderr, "zkcar bench state: cannot create a directory under %s: %s\n", base, strerror(errno));
        return 1;
    }
    zk_log_set_level(ZK_LOG_WARN);
    int rc = 1;
    ipc_writer *w = NULL;
    ipc_reader *rd = NULL;
    double *lat = NULL;
    uint64_t *staged_at = NULL;
    uint32_t cap = 1;
    while (cap < accounts)
        cap <<= 1;
    ipc_writer_options o = { .capacity = cap, .max_group_ops = TREE_GROUP, .snapshot_every = UINT64_MAX,
                             .threads = 2 };
    zk_error_detail e = { 0 };
    if (ipc_writer_open(&w, dir, &o, &e) != ZK_OK) {
        fprintf(stderr, "zkcar bench state: %s\n", e.text);
        goto cleanup;
    }
    uint8_t a[IPC_ADDRESS_SIZE];
    uint64_t seed = 0x2545f4914f6cdd1dULL;

    /* Accounts, in groups of TREE_GROUP, then a snapshot of them. */
    uint64_t t0 = zkb_now_ns();
    for (uint64_t k = 0; k < accounts; k++) {
        zkb_address_of(a, k);
        if (ipc_writer_stage(w, NULL, a, 1000000 + k, 0) != ZK_OK)
            goto cleanup;
        if (ipc_writer_staged(w) == TREE_GROUP || k + 1 == accounts)
            if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
                goto cleanup;
    }
    double populate_s = (double)(zkb_now_ns() - t0) / 1e9;
    t0 = zkb_now_ns();
    if (ipc_writer_snapshot(w) != ZK_OK)
        goto cleanup;
    double snapshot_s = (double)(zkb_now_ns() - t0) / 1e9;
    char snap_path[4200];
    struct stat snap_st;
    snprintf(snap_path, sizeof snap_path, "%s/state.snap", dir);
    if (stat(snap_path, &snap_st) != 0)
        goto cleanup;

    /* Tree updates: random existing accounts, committed in big groups. */
    double tree_rates[TREE_GROUPS];
    for (int g = 0; g < TREE_GROUPS; g++) {
        uint64_t g0 = zkb_now_ns();
        for (uint32_t i = 0; i < TREE_GROUP; i++) {
            zkb_address_of(a, zkb_rng(&seed) % accounts);
            if (ipc_writer_stage(w, NULL, a, zkb_rng(&seed) & 0xffffffffff, 1) != ZK_OK)
                goto cleanup;
        }
        if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
            goto cleanup;
        tree_rates[g] = TREE_GROUP / ((double)(zkb_now_ns() - g0) / 1e9);
    }

    /* Durable operations with group commit, and their acknowledgement latency. */
    lat = malloc(durable_groups * group * sizeof *lat);
    staged_at = malloc(group * sizeof *staged_at);
    if (lat == NULL || staged_at == NULL)
        goto cleanup;
    size_t nlat = 0;
    t0 = zkb_now_ns();
    for (uint64_t g = 0; g < durable_groups; g++) {
        for (uint64_t i = 0; i < group; i++) {
            zkb_address_of(a, zkb_rng(&seed) % accounts);
            staged_at[i] = zkb_now_ns();
            if (ipc_writer_stage(w, NULL, a, zkb_rng(&seed) & 0xffffffffff, 2) != ZK_OK)
                goto cleanup;
        }
        if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
            goto cleanup;
        uint64_t done = zkb_now_ns();
        for (uint64_t i = 0; i < group; i++)
            lat[nlat++] = (double)(done - staged_at[i]) / 1e6;
    }
    double durable_rate = (double)(durable_groups * group) / ((double)(zkb_now_ns() - t0) / 1e9);
    qsort(lat, nlat, sizeof *lat, cmp_double);
    double p50 = lat[nlat / 2], p99 = lat[(size_t)((double)nlat * 0.99)];

    /* Reads by another process while this one keeps committing updates. */
    int p[2];
    if (pipe(p) != 0)
        goto cleanup;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        goto cleanup;
    if (pid == 0) {
        close(p[0]);
        reader_child(dir, (uint32_t)accounts, p[1]);
    }
    close(p[1]);
    double read_rate[2] = { -1, -1 };
    uint64_t updates_during_reads = 0;
    for (;;) {
        for (int i = 0; i < 256; i++) {
            zkb_address_of(a, zkb_rng(&seed) % accounts);
            if (ipc_writer_stage(w, NULL, a, zkb_rng(&seed) & 0xffffffffff, 3) != ZK_OK)
                break;
        }
        if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
            break;
        updates_during_reads += 256;
        struct timeval tv = { 0, 0 };
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(p[0], &fds);
        if (select(p[0] + 1, &fds, NULL, NULL, &tv) > 0)
            break;
    }
    if (read(p[0], read_rate, sizeof read_rate) != (ssize_t)sizeof read_rate)
        read_rate[0] = read_rate[1] = -1;
    close(p[0]);
    waitpid(pid, NULL, 0);

    ipc_info info;
    if (ipc_reader_open(&rd, dir, NULL) != ZK_OK)
        goto cleanup;
    ipc_reader_info(rd, &info);
    ipc_reader_close(rd);
    rd = NULL;
    prv_gl root[IPC_DIGEST], root2[IPC_DIGEST];
    ipc_writer_root(w, root);
    uint64_t log_ops = (uint64_t)TREE_GROUPS * TREE_GROUP + durable_groups * group + updates_during_reads;
    ipc_writer_close(w);
    w = NULL;

    /* Recovery after a reboot: no region, snapshot + log on disk. */
    char name[64];
    if (ipc_region_name(name, sizeof name, dir) != ZK_OK)
        goto cleanup;
    shm_unlink(name);
    t0 = zkb_now_ns();
    if (ipc_writer_open(&w, dir, &o, &e) != ZK_OK) {
        fprintf(stderr, "zkcar bench state: recovery: %s\n", e.text);
        goto cleanup;
    }
    double recovery_s = (double)(zkb_now_ns() - t0) / 1e9;
    ipc_writer_root(w, root2);
    if (memcmp(root, root2, sizeof root) != 0) {
        fprintf(stderr, "zkcar bench state: the recovered root differs\n");
        goto cleanup;
    }
    ipc_writer_close(w);
    w = NULL;
    /* Recovery after a writer crash: the region is intact, only attach. */
    t0 = zkb_now_ns();
    if (ipc_writer_open(&w, dir, &o, &e) != ZK_OK)
        goto cleanup;
    double attach_s = (double)(zkb_now_ns() - t0) / 1e9;

    zkb_report_num(r, "accounts", (double)accounts);
    zkb_report_str(r, "poseidon2_backend", prv_p2_backend());
    zkb_report_num(r, "reads_per_s_per_core", read_rate[0]);
    zkb_report_num(r, "reads_per_wall_s", read_rate[1]);
    zkb_report_num(r, "writer_updates_during_reads", (double)updates_during_reads);
    zkb_report_num(r, "tree_updates_per_s", zkb_median(tree_rates, TREE_GROUPS));
    zkb_report_num(r, "durable_ops_per_s", durable_rate);
    zkb_report_num(r, "durable_group_ops", (double)group);
    zkb_report_num(r, "ack_p50_ms", p50);
    zkb_report_num(r, "ack_p99_ms", p99);
    zkb_report_num(r, "recovery_s", recovery_s);
    zkb_report_num(r, "recovery_log_ops", (double)log_ops);
    zkb_report_num(r, "attach_s", attach_s);
    zkb_report_num(r, "populate_s", populate_s);
    zkb_report_num(r, "snapshot_s", snapshot_s);
    zkb_report_num(r, "bytes_per_account", (double)info.region_bytes / info.capacity);
    zkb_report_num(r, "region_capacity", info.capacity);
    zkb_report_num(r, "snapshot_bytes_per_account", (double)snap_st.st_size / (double)accounts);
    rc = 0;
cleanup:
    if (rc != 0 && e.text[0] == '\0')
        fprintf(stderr, "zkcar bench state: failed (%s)\n", strerror(errno));
    ipc_reader_close(rd);
    ipc_writer_close(w);
    free(lat);
    free(staged_at);
    zkb_remove_state_dir(dir);
    return rc;
}
