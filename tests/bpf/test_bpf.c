/*
 * tests/bpf/test_bpf.c — stage latency probes: bucket arithmetic, the
 * exposition against a golden file, the in-process backend on real proofs
 * and tree updates, the eBPF backend as root (counts, sums against the
 * in-process timers, every thread of the process, capabilities dropped), the
 * fallback without privileges, and promtool on a live scrape.
 *
 * The root and unprivileged cases run in a fresh process (this program
 * re-executed with --child MODE): the BPF backend drops capabilities for the
 * rest of its process's life, the unprivileged case gives up root for good,
 * and a fork of a process whose prover thread pool runs is not safe to use.
 * A child exits 0 (passed), 1 (failed, reason on stderr) or 77 (skipped).
 */
#include <curl/curl.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bpf/loader.h"
#include "bpf/probes.h"
#include "prover/airs/hashchain.h"
#include "prover/stark.h"
#include "sidecar/metrics.h"
#include "tests/ipc/ipc_test_util.h"
#include "tests/curl_body.h"
#include "tests/promtool_util.h"

#define CHILD_SKIP 77
#define PROOFS 3            /* proofs per run: counts must equal this */
#define PROOF_LOG_N 12      /* 128 permutations: each stage takes milliseconds, far above a probe hit */
#define TREE_COMMITS 4
#define SCRAPE_MAX (1u << 20)

static const unsigned prover_stages[] = { ZKBPF_STAGE_LDE, ZKBPF_STAGE_COMMIT, ZKBPF_STAGE_QUOTIENT,
                                          ZKBPF_STAGE_FRI };
#define NPROVER_STAGES (sizeof prover_stages / sizeof prover_stages[0])

/* ---- helpers ------------------------------------------------------------------ */

static const char *source_dir(void)
{
    const char *d = getenv("ZKCAR_SOURCE_DIR");
    return d ? d : ".";
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(SCRAPE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SCRAPE_MAX, f) : 0;
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A secure parameter set without proof-of-work: blowup 8 and 80 queries
 * give more than 100 provable bits for this statement (prove_one asserts it
 * through the secure entry points, which refuse less), while the default's
 * 2^20-hash grinding would take ~20 s per proof under ASan. These tests need
 * the stages' counts and timings; the proofs are real and verified. */
static prv_stark_params test_params(void)
{
    prv_stark_params p = prv_stark_params_default;
    p.log_blowup = 3;
    p.num_queries = 80;
    p.grinding_bits = 0;
    return p;
}

/* One real proof of a Poseidon2 hash chain. */
static int prove_one(unsigned seed)
{
    prv_stark_params params = test_params();
    size_t n = (size_t)1 << PROOF_LOG_N;
    prv_gl *trace = malloc(PRV_HASHCHAIN_NCOLS * n * sizeof *trace);
    prv_gl pub[PRV_HASHCHAIN_NPUBLIC], in[8];
    if (trace == NULL)
        return -1;
    for (int j = 0; j < 8; j++)
        in[j] = (prv_gl)(seed * 8 + (unsigned)j);
    prv_hashchain_trace(trace, PROOF_LOG_N, in, pub);
    uint8_t *proof = NULL;
    size_t len = 0;
    zk_error_detail err = { 0 };
    if (prv_stark_security_bits(&prv_hashchain_air, &params, PROOF_LOG_N) < PRV_STARK_MIN_SECURITY_BITS) {
        fprintf(stderr, "proof: the test parameters give fewer than %d provable bits\n",
                PRV_STARK_MIN_SECURITY_BITS);
        free(trace);
        return -1;
    }
    zk_err rc = prv_stark_prove(&prv_hashchain_air, &params, trace, PROOF_LOG_N, pub, &proof, &len, &err);
    if (rc == ZK_OK)
        rc = prv_stark_verify(&prv_hashchain_air, pub, proof, len, &err);
    if (rc != ZK_OK)
        fprintf(stderr, "proof: %s: %s\n", zk_strerror(rc), err.text);
    free(proof);
    free(trace);
    return rc == ZK_OK ? 0 : -1;
}

static void *prove_thread(void *arg)
{
    *(int *)arg = prove_one(99);
    return NULL;
}

/* `count` proofs: the last one on a thread of its own, so that a backend that
 * only saw the main thread would come up one short. */
static int prove_n(unsigned count)
{
    for (unsigned i = 0; i + 1 < count; i++)
        if (prove_one(i) != 0)
            return -1;
    int rc = -1;
    pthread_t th;
    if (pthread_create(&th, NULL, prove_thread, &rc) != 0)
        return -1;
    pthread_join(th, NULL);
    return rc;
}

/* TREE_COMMITS batched commits of the state: one ipc_tree_update each. */
static int tree_commits(void)
{
    char *dir = tdir_new();
    ipc_writer *w = NULL;
    zk_error_detail err = { 0 };
    int ok = -1;
    ipc_writer_options o = { .capacity = 1 << 12, .threads = 1 };
    if (ipc_writer_open(&w, dir, &o, &err) != ZK_OK) {
        fprintf(stderr, "ipc_writer_open: %s\n", err.text);
        goto cleanup;
    }
    for (uint32_t c = 0; c < TREE_COMMITS; c++) {
        for (uint32_t k = 0; k < 16; k++) {
            uint8_t a[IPC_ADDRESS_SIZE];
            taddr(a, c * 16 + k);
            if (ipc_writer_stage(w, NULL, a, 1000 + k, 0) != ZK_OK)
                goto cleanup;
        }
        if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
            goto cleanup;
    }
    ok = 0;
cleanup:
    ipc_writer_close(w);
    tdir_remove(dir);
    return ok;
}

static int render(zk_metrics *m, char **out)
{
    size_t len;
    return zk_metrics_render(m, out, &len) == ZK_OK ? 0 : -1;
}

/* `promtool check metrics` on `text`: 0 when it reports nothing. */
static int promtool_clean(const char *text)
{
    char out[4096];
    int st = promtool_check(text, out, sizeof out);
    if (out[0] != '\0')
        fprintf(stderr, "promtool: %s", out);
    return st == 0 && out[0] == '\0' ? 0 : -1;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* ---- child processes ---------------------------------------------------------------- */

#define CHECK(cond, ...)                                                                \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "child %s:%d: ", __FILE__, __LINE__);                       \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            goto cleanup;                                                               \
        }                                                                               \
    } while (0)

static bool has_cap(const struct __user_cap_data_struct *d, int cap, bool permitted)
{
    uint32_t set = permitted ? d[cap / 32].permitted : d[cap / 32].effective;
    return (set >> (cap % 32)) & 1;
}

/* As root: the BPF backend on this process. */
static int child_root(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: the eBPF backend test needs root (CI runs as root)\n");
        return CHILD_SKIP;
    }
    int rc = 1;
    zkbpf *b = NULL;
    zk_metrics *m = NULL;
    char *text = NULL;
    zk_error_detail err = { 0 };
    zk_err e = zkbpf_start(&b, ZKBPF_MODE_ON, 0, &err);
    if (e != ZK_OK && !zkbpf_built_with_bpf()) {
        fprintf(stderr, "skipped: built without the eBPF backend (clang or bpftool missing)\n");
        return CHILD_SKIP;
    }
    CHECK(e == ZK_OK, "zkbpf_start(on) as root: %s: %s", zk_strerror(e), err.text);
    CHECK(zkbpf_backend_of(b) == ZKBPF_BACKEND_BPF, "backend %s", zkbpf_backend_name(zkbpf_backend_of(b)));

    /* Attached, then dropped: no CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN left. */
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
    CHECK(syscall(SYS_capget, &hdr, caps) == 0, "capget: %s", strerror(errno));
    int dropped[] = { 39 /* CAP_BPF */, 38 /* CAP_PERFMON */, CAP_SYS_ADMIN };
    for (size_t i = 0; i < 3; i++)
        CHECK(!has_cap(caps, dropped[i], false) && !has_cap(caps, dropped[i], true),
              "capability %d still held after attaching", dropped[i]);
    CHECK(has_cap(caps, CAP_DAC_OVERRIDE, true), "dropped more than the three capabilities");

    /* The in-process timers beside the probes, as the reference timing. */
    zkbpf_user_reset();
    zkbpf_user_enable(true);
    CHECK(prove_n(PROOFS) == 0, "proving failed");
    CHECK(tree_commits() == 0, "tree commits failed");
    zkbpf_user_enable(false);
    for (size_t i = 0; i < NPROVER_STAGES; i++) {
        unsigned s = prover_stages[i];
        struct zkbpf_hist hb, hu;
        zkbpf_read(b, s, &hb);
        zkbpf_user_read(s, &hu);
        CHECK(hb.count == PROOFS, "stage %s: bpf count %llu, want %d", zkbpf_stage_name(s),
              (unsigned long long)hb.count, PROOFS);
        CHECK(hu.count == PROOFS, "stage %s: in-process count %llu", zkbpf_stage_name(s),
              (unsigned long long)hu.count);
        double bs = (double)hb.sum_ns, us = (double)hu.sum_ns;
        fprintf(stderr, "stage %-8s bpf %.3f ms, in-process %.3f ms over %d proofs\n", zkbpf_stage_name(s),
                bs / 1e6, us / 1e6, PROOFS);
        CHECK(bs >= 0.9 * us && bs <= 1.1 * us, "stage %s: bpf sum %.0f ns vs in-process %.0f ns (> 10%%)",
              zkbpf_stage_name(s), bs, us);
    }
    struct zkbpf_hist ht;
    zkbpf_read(b, ZKBPF_STAGE_TREE_UPDATE, &ht);
    CHECK(ht.count == TREE_COMMITS, "tree_update: bpf count %llu, want %d", (unsigned long long)ht.count,
          TREE_COMMITS);

    /* The exposition: backend bpf, the counts, and promtool happy. */
    CHECK(zk_metrics_create(&m) == ZK_OK, "metrics");
    CHECK(zkbpf_metrics_register(b, m) == ZK_OK, "register");
    CHECK(render(m, &text) == 0, "render");
    CHECK(has_line(text, "zkcar_latency_backend_info{backend=\"bpf\"} 1"), "no backend=bpf line:\n%s", text);
    CHECK(has_line(text, "zkcar_prover_stage_seconds_count{stage=\"lde\"} 3"), "lde count:\n%s", text);
    CHECK(has_line(text, "zkcar_prover_stage_seconds_count{stage=\"tree_update\"} 4"), "tree count:\n%s", text);
    CHECK(promtool_clean(text) == 0, "promtool check metrics failed");
    rc = 0;
cleanup:
    free(text);
    zk_metrics_destroy(m);
    zkbpf_stop(b);
    return rc;
}

/* Not root, only the capabilities docs/observability.md tells operators to
 * grant: the eBPF backend loads and attaches, then holds none of them.
 * CAP_BPF + CAP_PERFMON load the program; creating the uprobes needs
 * CAP_SYS_ADMIN on current kernels (perf_uprobe_event_init went back from
 * CAP_PERFMON to CAP_SYS_ADMIN in 2025, backported to stable; this kernel
 * answers EACCES without it). */
static int child_caps_only(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: setting up a process with only CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN needs root\n");
        return CHILD_SKIP;
    }
    if (!zkbpf_built_with_bpf()) {
        fprintf(stderr, "skipped: built without the eBPF backend (clang or bpftool missing)\n");
        return CHILD_SKIP;
    }
    int rc = 1;
    zkbpf *b = NULL;
    zk_error_detail err = { 0 };
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
    /* Keep the permitted set across the uid change, then keep only the three. */
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0, "PR_SET_KEEPCAPS: %s", strerror(errno));
    CHECK(setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0, "becoming nobody: %s",
          strerror(errno));
    memset(caps, 0, sizeof caps);
    caps[1].permitted = caps[1].effective = (1u << (38 - 32)) | (1u << (39 - 32)); /* CAP_PERFMON, CAP_BPF */
    caps[0].permitted = caps[0].effective = 1u << CAP_SYS_ADMIN;
    CHECK(syscall(SYS_capset, &hdr, caps) == 0, "capset: %s", strerror(errno));
    zk_err e = zkbpf_start(&b, ZKBPF_MODE_ON, 0, &err);
    CHECK(e == ZK_OK, "zkbpf_start(on) as nobody with CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN: %s: %s",
          zk_strerror(e), err.text);
    CHECK(zkbpf_backend_of(b) == ZKBPF_BACKEND_BPF, "backend %s", zkbpf_backend_name(zkbpf_backend_of(b)));
    CHECK(syscall(SYS_capget, &hdr, caps) == 0, "capget: %s", strerror(errno));
    CHECK(caps[0].permitted == 0 && caps[1].permitted == 0, "capabilities left after attaching: %08x %08x",
          caps[0].permitted, caps[1].permitted);
    CHECK(prove_one(5) == 0, "proving failed");
    struct zkbpf_hist h;
    zkbpf_read(b, ZKBPF_STAGE_FRI, &h);
    CHECK(h.count == 1, "fri count %llu after one proof", (unsigned long long)h.count);
    rc = 0;
cleanup:
    zkbpf_stop(b);
    return rc;
}

/* Without privileges: the eBPF backend refuses, the timers take over. */
static int child_unprivileged(void)
{
    int rc = 1;
    zkbpf *b = NULL;
    zk_metrics *m = NULL;
    char *text = NULL;
    zk_error_detail err = { 0 };
    if (geteuid() == 0) {
        /* Become nobody: a uid change away from 0 clears every capability. */
        CHECK(setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0, "dropping root: %s",
              strerror(errno));
    }
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
    CHECK(syscall(SYS_capget, &hdr, caps) == 0, "capget: %s", strerror(errno));
    CHECK(caps[0].effective == 0 && caps[1].effective == 0, "still privileged");

    zk_err e = zkbpf_start(&b, ZKBPF_MODE_ON, 0, &err);
    CHECK(e == ZK_ERR_UNSUPPORTED, "zkbpf_start(on) unprivileged: %s", zk_strerror(e));
    CHECK(strstr(err.text, "--bpf on") != NULL, "detail does not name the flag: %s", err.text);
    if (zkbpf_built_with_bpf())
        CHECK(strstr(err.text, "CAP_BPF") != NULL, "detail does not name the capability: %s", err.text);
    fprintf(stderr, "expected refusal: %s\n", err.text);

    e = zkbpf_start(&b, ZKBPF_MODE_AUTO, 0, &err);
    CHECK(e == ZK_OK, "zkbpf_start(auto): %s: %s", zk_strerror(e), err.text);
    CHECK(zkbpf_backend_of(b) == ZKBPF_BACKEND_USERSPACE, "backend %s", zkbpf_backend_name(zkbpf_backend_of(b)));
    CHECK(zkbpf_fallback_reason(b)[0] != '\0', "no fallback reason");
    CHECK(prove_n(PROOFS) == 0, "proving failed");
    for (size_t i = 0; i < NPROVER_STAGES; i++) {
        struct zkbpf_hist h;
        zkbpf_read(b, prover_stages[i], &h);
        CHECK(h.count == PROOFS, "stage %s: count %llu", zkbpf_stage_name(prover_stages[i]),
              (unsigned long long)h.count);
    }
    CHECK(zk_metrics_create(&m) == ZK_OK, "metrics");
    CHECK(zkbpf_metrics_register(b, m) == ZK_OK, "register");
    CHECK(render(m, &text) == 0, "render");
    CHECK(has_line(text, "zkcar_latency_backend_info{backend=\"userspace\"} 1"), "no backend line:\n%s", text);
    for (unsigned s = 0; s < ZKBPF_NSTAGES; s++) {
        char line[128];
        snprintf(line, sizeof line, "zkcar_prover_stage_seconds_count{stage=\"%s\"} %d", zkbpf_stage_name(s),
                 s < NPROVER_STAGES ? PROOFS : 0);
        CHECK(has_line(text, line), "missing \"%s\" in:\n%s", line, text);
    }
    rc = 0;
cleanup:
    free(text);
    zk_metrics_destroy(m);
    zkbpf_stop(b);
    return rc;
}

static const char *self_exe;

/* Runs this program with --child MODE; returns its exit status (-1: signal). */
static int run_child(const char *mode)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self_exe, self_exe, "--child", mode, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_mode_parse(void **state)
{
    (void)state;
    zkbpf_mode m = ZKBPF_MODE_AUTO;
    assert_int_equal(zkbpf_mode_parse(&m, "on", 2), ZK_OK);
    assert_int_equal(m, ZKBPF_MODE_ON);
    assert_int_equal(zkbpf_mode_parse(&m, "off", 3), ZK_OK);
    assert_int_equal(m, ZKBPF_MODE_OFF);
    assert_int_equal(zkbpf_mode_parse(&m, "auto", 4), ZK_OK);
    assert_int_equal(m, ZKBPF_MODE_AUTO);
    /* Length-delimited: the bytes after len do not count, the ones before do. */
    assert_int_equal(zkbpf_mode_parse(&m, "onward", 2), ZK_OK);
    assert_int_equal(m, ZKBPF_MODE_ON);
    const char *bad[] = { "", "ON", "Auto", "of", "offf", "auto ", " on", "yes", "1", "on\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = ZKBPF_MODE_AUTO;
        assert_int_equal(zkbpf_mode_parse(&m, bad[i], strlen(bad[i])), ZK_ERR_USAGE);
        assert_int_equal(m, ZKBPF_MODE_AUTO);
    }
    assert_int_equal(zkbpf_mode_parse(&m, "on\0", 3), ZK_ERR_USAGE);
    assert_int_equal(zkbpf_mode_parse(&m, NULL, 0), ZK_ERR_USAGE);
    assert_string_equal(zkbpf_mode_name(ZKBPF_MODE_ON), "on");
    assert_string_equal(zkbpf_backend_name(ZKBPF_BACKEND_BPF), "bpf");
    assert_string_equal(zkbpf_backend_name(ZKBPF_BACKEND_USERSPACE), "userspace");
    assert_null(zkbpf_stage_name(ZKBPF_NSTAGES));
}

/* The bucket of v ns is the first bound 2^k µs with v <= bound (inclusive,
 * as Prometheus `le`), +Inf beyond 2^30 µs — checked against the registry's
 * own bounds and, exhaustively, against a plain search. */
static void test_bucket_arithmetic(void **state)
{
    (void)state;
    double bounds[ZKBPF_NBOUNDS + 1];
    assert_int_equal(zk_metrics_log2_bounds(bounds, ZKBPF_NBOUNDS + 1), ZKBPF_NBOUNDS);
    for (unsigned k = 0; k < ZKBPF_NBOUNDS; k++) {
        uint64_t bound_ns = ((uint64_t)1 << k) * 1000;
        assert_true(bounds[k] * 1e9 == (double)bound_ns); /* 2^k µs exactly */
        assert_int_equal(zkbpf_bucket(bound_ns), k);       /* on the bound: that bucket */
        assert_int_equal(zkbpf_bucket(bound_ns + 1), k + 1); /* one ns above: the next (31 = +Inf) */
        if (k > 0)
            assert_int_equal(zkbpf_bucket(bound_ns / 2 + 1), k);
    }
    assert_int_equal(zkbpf_bucket(0), 0);
    assert_int_equal(zkbpf_bucket(1), 0);
    assert_int_equal(zkbpf_bucket(999), 0);
    assert_int_equal(zkbpf_bucket(1000), 0);
    assert_int_equal(zkbpf_bucket(1001), 1);
    assert_int_equal(zkbpf_bucket(UINT64_MAX), ZKBPF_NBUCKETS - 1);
    assert_int_equal(zkbpf_bucket((uint64_t)1 << 62), ZKBPF_NBUCKETS - 1);
    /* Every value up to 2^21 ns, and a sparse walk above it. */
    for (uint64_t v = 0; v < ((uint64_t)1 << 21); v++) {
        unsigned want = ZKBPF_NBUCKETS - 1;
        for (unsigned k = 0; k < ZKBPF_NBOUNDS; k++) {
            if (v <= ((uint64_t)1 << k) * 1000) {
                want = k;
                break;
            }
        }
        if (zkbpf_bucket(v) != want)
            fail_msg("bucket(%llu) = %u, want %u", (unsigned long long)v, zkbpf_bucket(v), want);
    }
    for (uint64_t v = (uint64_t)1 << 21; v < ((uint64_t)1 << 42); v += v / 1009 + 1) {
        unsigned want = ZKBPF_NBUCKETS - 1;
        for (unsigned k = 0; k < ZKBPF_NBOUNDS; k++) {
            if (v <= ((uint64_t)1 << k) * 1000) {
                want = k;
                break;
            }
        }
        if (zkbpf_bucket(v) != want)
            fail_msg("bucket(%llu) = %u, want %u", (unsigned long long)v, zkbpf_bucket(v), want);
    }

    /* Cumulative counts, the total and the sum in seconds. */
    struct zkbpf_hist h;
    memset(&h, 0, sizeof h);
    h.buckets[0] = 2;
    h.buckets[3] = 5;
    h.buckets[30] = 1;
    h.buckets[31] = 4;
    h.sum_ns = 2500000000u;
    uint64_t cum[ZKBPF_NBOUNDS], count;
    double sum;
    zkbpf_hist_cumulative(&h, cum, &count, &sum);
    assert_int_equal(cum[0], 2);
    assert_int_equal(cum[2], 2);
    assert_int_equal(cum[3], 7);
    assert_int_equal(cum[29], 7);
    assert_int_equal(cum[30], 8);
    assert_int_equal(count, 12);
    assert_true(sum == 2.5);
}

/* Known observations through the in-process backend, rendered by the
 * registry, byte for byte against tests/bpf/golden/stages.prom. */
static void test_exposition_golden(void **state)
{
    (void)state;
    zkbpf *b = NULL;
    zk_error_detail err = { 0 };
    assert_int_equal(zkbpf_start(&b, ZKBPF_MODE_OFF, 0, &err), ZK_OK);
    assert_int_equal(zkbpf_backend_of(b), ZKBPF_BACKEND_USERSPACE);
    assert_string_equal(zkbpf_fallback_reason(b), "");
    zkbpf_user_enable(false); /* only the observations below, no stray stage */
    /* lde: on the 1 µs bound, just above it, and 3 ms (bucket 2^12 µs). */
    zkbpf_user_observe(ZKBPF_STAGE_LDE, 1000);
    zkbpf_user_observe(ZKBPF_STAGE_LDE, 1001);
    zkbpf_user_observe(ZKBPF_STAGE_LDE, 3000000);
    /* fri: exactly 2^30 µs (the last finite bound) and beyond it (+Inf only). */
    zkbpf_user_observe(ZKBPF_STAGE_FRI, ((uint64_t)1 << 30) * 1000);
    zkbpf_user_observe(ZKBPF_STAGE_FRI, ((uint64_t)1 << 30) * 1000 + 1);
    /* prove_batch: 0.25 s = 250000 µs, in the 2^18 µs bucket. */
    zkbpf_user_observe(ZKBPF_STAGE_PROVE_BATCH, 250000000);
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    assert_int_equal(zkbpf_metrics_register(b, m), ZK_OK);
    char *text = NULL;
    assert_int_equal(render(m, &text), 0);

    char path[512];
    snprintf(path, sizeof path, "%s/tests/bpf/golden/stages.prom", source_dir());
    if (getenv("ZKCAR_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
    size_t glen = 0;
    char *golden = read_file(path, &glen);
    if (golden == NULL)
        fail_msg("cannot read %s", path);
    if (strcmp(text, golden) != 0) {
        fprintf(stderr, "--- rendered ---\n%s--- golden (%s) ---\n%s", text, path, golden);
        fail_msg("exposition differs from the golden file");
    }
    /* A second scrape renders the same (the collector replaces, never adds). */
    char *again = NULL;
    assert_int_equal(render(m, &again), 0);
    assert_string_equal(again, text);
    free(again);
    free(golden);
    free(text);
    zk_metrics_destroy(m);
    zkbpf_stop(b);
}

/* The in-process backend on real proofs (one from another thread) and real
 * tree updates of the state. */
static void test_userspace_counts(void **state)
{
    (void)state;
    zkbpf *b = NULL;
    zk_error_detail err = { 0 };
    assert_int_equal(zkbpf_start(&b, ZKBPF_MODE_OFF, 0, &err), ZK_OK);
    zkbpf *again = NULL;
    assert_int_equal(zkbpf_start(&again, ZKBPF_MODE_OFF, 0, &err), ZK_ERR_USAGE);
    assert_int_equal(prove_n(PROOFS), 0);
    assert_int_equal(tree_commits(), 0);
    for (size_t i = 0; i < NPROVER_STAGES; i++) {
        struct zkbpf_hist h;
        zkbpf_read(b, prover_stages[i], &h);
        assert_int_equal(h.count, PROOFS);
        assert_true(h.sum_ns > 0);
    }
    struct zkbpf_hist h;
    zkbpf_read(b, ZKBPF_STAGE_TREE_UPDATE, &h);
    assert_int_equal(h.count, TREE_COMMITS);
    zkbpf_stop(b);
    /* Stopped: the timers are off, the sites record nothing. */
    assert_int_equal(prove_one(7), 0);
    struct zkbpf_hist after;
    zkbpf_user_read(ZKBPF_STAGE_LDE, &after);
    assert_int_equal(after.count, PROOFS);
}

/* auto picks bpf exactly when this process may load it. Capabilities are
 * kept (the rest of this program still runs as it started). */
static void test_auto(void **state)
{
    (void)state;
    zkbpf *b = NULL;
    zk_error_detail err = { 0 };
    assert_int_equal(zkbpf_start(&b, ZKBPF_MODE_AUTO, ZKBPF_KEEP_CAPS, &err), ZK_OK);
    if (geteuid() == 0 && zkbpf_built_with_bpf()) {
        if (zkbpf_backend_of(b) != ZKBPF_BACKEND_BPF)
            fail_msg("root, but auto fell back: %s", zkbpf_fallback_reason(b));
        /* Detach and attach again (what the benchmark does). */
        assert_int_equal(zkbpf_detach(b, &err), ZK_OK);
        assert_int_equal(prove_one(3), 0);
        struct zkbpf_hist h;
        zkbpf_read(b, ZKBPF_STAGE_LDE, &h);
        assert_int_equal(h.count, 0);
        assert_int_equal(zkbpf_attach(b, &err), ZK_OK);
        assert_int_equal(prove_one(4), 0);
        zkbpf_read(b, ZKBPF_STAGE_LDE, &h);
        assert_int_equal(h.count, 1);
    } else {
        assert_int_equal(zkbpf_backend_of(b), ZKBPF_BACKEND_USERSPACE);
        assert_true(zkbpf_fallback_reason(b)[0] != '\0');
        assert_int_equal(zkbpf_detach(b, &err), ZK_ERR_USAGE);
    }
    zkbpf_stop(b);
}

static void test_bpf_as_root(void **state)
{
    (void)state;
    int st = run_child("root");
    if (st == CHILD_SKIP)
        skip();
    assert_int_equal(st, 0);
}

static void test_caps_only(void **state)
{
    (void)state;
    int st = run_child("caps");
    if (st == CHILD_SKIP)
        skip();
    assert_int_equal(st, 0);
}

static void test_unprivileged_fallback(void **state)
{
    (void)state;
    assert_int_equal(run_child("unprivileged"), 0);
}


/* A live scrape over HTTP, checked by the real promtool. */
static void test_promtool_live_scrape(void **state)
{
    (void)state;
    zkbpf *b = NULL;
    zk_error_detail err = { 0 };
    assert_int_equal(zkbpf_start(&b, ZKBPF_MODE_OFF, 0, &err), ZK_OK);
    assert_int_equal(prove_one(11), 0);
    zk_metrics *m = NULL;
    assert_int_equal(zk_metrics_create(&m), ZK_OK);
    assert_int_equal(zkbpf_metrics_register(b, m), ZK_OK);
    zk_metrics_server *srv = NULL;
    if (zk_metrics_server_start(&srv, m, "127.0.0.1:0", &err) != ZK_OK)
        fail_msg("metrics server: %s", err.text);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", (unsigned)zk_metrics_server_port(srv));
    curl_body body = { .cap = SCRAPE_MAX };
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    zk_metrics_server_stop(srv);
    if (cr != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(cr));
    assert_int_equal(status, 200);
    assert_non_null(body.p);
    assert_true(has_line(body.p, "zkcar_latency_backend_info{backend=\"userspace\"} 1"));
    assert_true(has_line(body.p, "zkcar_prover_stage_seconds_count{stage=\"fri\"} 1"));
    assert_int_equal(promtool_clean(body.p), 0);
    free(body.p);
    zk_metrics_destroy(m);
    zkbpf_stop(b);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        if (strcmp(argv[2], "root") == 0)
            return child_root();
        if (strcmp(argv[2], "caps") == 0)
            return child_caps_only();
        if (strcmp(argv[2], "unprivileged") == 0)
            return child_unprivileged();
        return 2;
    }
    self_exe = "/proc/self/exe";
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        self_exe = exe;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_parse),
        cmocka_unit_test(test_bucket_arithmetic),
        cmocka_unit_test(test_exposition_golden),
        cmocka_unit_test(test_userspace_counts),
        cmocka_unit_test(test_auto),
        cmocka_unit_test(test_bpf_as_root),
        cmocka_unit_test(test_caps_only),
        cmocka_unit_test(test_unprivileged_fallback),
        cmocka_unit_test(test_promtool_live_scrape),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
