/*
 * tests/sidecar/dist_test_util.h — what the distributed-proving tests share
 * (test_dist.c, test_dist_auth.c): accounts and signed operations, a real
 * job source (batches built from a real shared-memory state by
 * ipc_batch_build, proofs verified with prv_batch_verify), `zkcar worker`
 * processes with their logs in a work directory, and clean-up.
 */
#ifndef ZKCAR_TESTS_SIDECAR_DIST_TEST_UTIL_H
#define ZKCAR_TESTS_SIDECAR_DIST_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/eip712.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/batch.h"
#include "prover/batch.h"
#include "sidecar/dist.h"
#include "tests/ipc/ipc_test_util.h"

/* ------------------------------------------------------------ helpers */

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ batches */

#define NKEYS 4
#define CHAIN_ID 31337
#define MAX_BATCHES 8

static uint8_t keys[NKEYS][32];
static uint8_t addrs[NKEYS][20];
static const uint8_t bridge[20] = { 0xb7, 0x1d, 0x9e };
static const uint8_t operator_addr[20] = { 0x0f, 0xee };
static zk_eip712_domain domain;

/* The proof parameters the dispatcher sends with every job. Not the default
 * set (blowup 2, 180 queries, 20 grinding bits: 107 provable bits), whose
 * grinding makes one proof take ~20 s in the ASan build, but blowup 8, 80
 * queries, no grinding: 118 provable bits for these batches (checked in
 * source_new), ~12x faster here. The verifier accepts either: it reads the
 * parameters from the proof and demands PRV_STARK_MIN_SECURITY_BITS. */
static prv_stark_params params;

static inline prv_batch_op op_deposit(uint64_t id, int to, uint64_t amount)
{
    prv_batch_op op = { .kind = PRV_OP_DEPOSIT, .amount = amount, .deposit_id = id };
    memset(op.from, 0xd0, 20);
    memcpy(op.to, addrs[to], 20);
    return op;
}

static inline prv_batch_op op_transfer(int from, int to, uint64_t amount, uint64_t fee, uint32_t nonce)
{
    prv_batch_op op = { .kind = PRV_OP_TRANSFER, .amount = amount, .fee = fee, .nonce = nonce };
    memcpy(op.from, addrs[from], 20);
    memcpy(op.to, addrs[to], 20);
    zk_tx tx = { .type = ZK_TX_TRANSFER, .amount = amount, .fee = fee, .nonce = nonce };
    memcpy(tx.from, op.from, 20);
    memcpy(tx.to, op.to, 20);
    uint8_t digest[32];
    zk_tx_hash(digest, &tx, &domain);
    if (zk_sig_sign(op.sig, NULL, digest, keys[from]) != ZK_OK)
        abort();
    return op;
}

/* A real job source: batches built from a real state, handed out in order,
 * proofs verified with prv_batch_verify before acceptance. */
typedef struct source {
    pthread_mutex_t lock;
    uint32_t nbatches;
    prv_batch_job jobs[MAX_BATCHES];       /* batch k+1 at index k */
    uint8_t *enc[MAX_BATCHES];
    size_t enc_len[MAX_BATCHES];
    bool queued[MAX_BATCHES];              /* may be taken */
    bool out[MAX_BATCHES];                 /* taken, not yet back or done */
    uint32_t proven[MAX_BATCHES];          /* accepted proofs per batch */
    uint8_t *proof[MAX_BATCHES];           /* the first accepted proof */
    size_t proof_len[MAX_BATCHES];
    uint32_t takes, give_backs, rejected;
    bool frozen;                           /* take() hands out nothing */
} source;

static inline bool src_take(void *ctx, uint64_t *batch, uint8_t **job, size_t *job_len, int timeout_ms)
{
    (void)timeout_ms;
    source *s = ctx;
    bool got = false;
    pthread_mutex_lock(&s->lock);
    for (uint32_t k = 0; k < s->nbatches && !s->frozen; k++) {
        if (!s->queued[k])
            continue;
        *job = malloc(s->enc_len[k]);
        if (*job == NULL)
            break;
        memcpy(*job, s->enc[k], s->enc_len[k]);
        *job_len = s->enc_len[k];
        *batch = k + 1;
        s->queued[k] = false;
        s->out[k] = true;
        s->takes++;
        got = true;
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return got;
}

static inline void src_give_back(void *ctx, uint64_t batch)
{
    source *s = ctx;
    pthread_mutex_lock(&s->lock);
    if (batch < 1 || batch > s->nbatches || !s->out[batch - 1])
        fail_msg("give_back of batch %" PRIu64 " that is not out", batch);
    s->out[batch - 1] = false;
    s->queued[batch - 1] = true;
    s->give_backs++;
    pthread_mutex_unlock(&s->lock);
}

static inline zk_err src_done(void *ctx, uint64_t batch, const uint8_t *proof, size_t proof_len, double secs,
                       zk_error_detail *err)
{
    (void)secs;
    source *s = ctx;
    pthread_mutex_lock(&s->lock);
    if (batch < 1 || batch > s->nbatches || !s->out[batch - 1])
        fail_msg("done for batch %" PRIu64 " that is not out", batch);
    s->out[batch - 1] = false;
    zk_err rc = prv_batch_verify(&s->jobs[batch - 1].pub, proof, proof_len, err);
    if (rc == ZK_OK) {
        if (s->proven[batch - 1]++ == 0) {
            s->proof[batch - 1] = malloc(proof_len);
            assert_non_null(s->proof[batch - 1]);
            memcpy(s->proof[batch - 1], proof, proof_len);
            s->proof_len[batch - 1] = proof_len;
        }
    } else {
        s->queued[batch - 1] = true; /* the job goes back to the queue */
        s->rejected++;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static inline sc_dist_source source_iface(source *s)
{
    return (sc_dist_source){ .ctx = s, .take = src_take, .give_back = src_give_back, .done = src_done };
}

/* Builds `n` batches on a fresh state: batch 1 deposits to every account,
 * the others are `transfers` signed transfers each. */
static inline source *source_new(uint32_t n, uint32_t transfers)
{
    assert_true(n >= 1 && n <= MAX_BATCHES);
    source *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pthread_mutex_init(&s->lock, NULL);
    char *dir = tdir_new();
    ipc_writer *w = NULL;
    ipc_writer_options o = { .capacity = 1u << 10, .threads = 1 };
    zk_error_detail e = { 0 };
    if (ipc_writer_open(&w, dir, &o, &e) != ZK_OK)
        fail_msg("ipc_writer_open: %s", e.text);
    uint32_t nonce[NKEYS] = { 0 };
    uint64_t next_deposit = 0;
    for (uint32_t k = 0; k < n; k++) {
        prv_batch_op ops[64];
        uint32_t nops = 0;
        if (k == 0) {
            for (int a = 0; a < NKEYS; a++)
                ops[nops++] = op_deposit(next_deposit + (uint64_t)a, a, 1000000);
        } else {
            assert_true(transfers <= 64);
            for (uint32_t t = 0; t < transfers; t++) {
                int from = (int)((k + t) % NKEYS), to = (int)((k + t + 1) % NKEYS);
                ops[nops++] = op_transfer(from, to, 10 + t, 1, nonce[from]++);
            }
        }
        prv_batch_public pub = { .chain_id = CHAIN_ID, .number = k + 1, .first_deposit_id = next_deposit,
                                 .nops = nops, .ops = ops };
        memcpy(pub.bridge, bridge, 20);
        memcpy(pub.operator_addr, operator_addr, 20);
        zk_err rc = ipc_batch_build(w, &pub, &s->jobs[k], &e);
        if (rc != ZK_OK)
            fail_msg("ipc_batch_build of batch %u: %s: %s", k + 1, zk_strerror(rc), e.text);
        next_deposit += pub.deposit_count;
        assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
        assert_int_equal(prv_batch_job_encode(&s->jobs[k], &s->enc[k], &s->enc_len[k]), ZK_OK);
        assert_true(prv_batch_security_bits(&s->jobs[k].pub, &params) >= PRV_STARK_MIN_SECURITY_BITS);
        s->queued[k] = true;
    }
    s->nbatches = n;
    ipc_writer_close(w);
    tdir_remove(dir);
    return s;
}

static inline void source_free(source *s)
{
    for (uint32_t k = 0; k < s->nbatches; k++) {
        prv_batch_job_free(&s->jobs[k]);
        free(s->enc[k]);
        free(s->proof[k]);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static inline bool source_all_proven(source *s)
{
    pthread_mutex_lock(&s->lock);
    bool all = true;
    for (uint32_t k = 0; k < s->nbatches; k++)
        all &= s->proven[k] > 0;
    pthread_mutex_unlock(&s->lock);
    return all;
}

static inline void expect_each_proven_once(source *s)
{
    pthread_mutex_lock(&s->lock);
    for (uint32_t k = 0; k < s->nbatches; k++) {
        if (s->proven[k] != 1)
            fail_msg("batch %u proven %u times", k + 1, s->proven[k]);
        assert_false(s->out[k]);
        assert_false(s->queued[k]);
    }
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ setup */

/* Keys, the EIP-712 domain and the proof parameters; 0 on success. */
static inline int dist_keys_setup(void)
{
    for (int i = 0; i < NKEYS; i++) {
        memset(keys[i], 0, 32);
        keys[i][0] = 0x42;
        keys[i][31] = (uint8_t)(i + 7);
        if (zk_sig_seckey_address(addrs[i], NULL, keys[i]) != ZK_OK)
            return -1;
    }
    zk_eip712_domain_zkcar(&domain, CHAIN_ID, bridge);
    params = prv_stark_params_default;
    params.log_blowup = 3;
    params.num_queries = 80;
    params.grinding_bits = 0;
    return 0;
}


/* ------------------------------------------------------------ worker processes */

static char *workdir;      /* endpoints and worker logs */
static int endpoint_seq;
#define SPAWNED_MAX 64
static pid_t spawned[SPAWNED_MAX]; /* every worker started, to clean up after a failed test */
static int nspawned;

static inline void endpoint_new(char *out, size_t cap)
{
    snprintf(out, cap, "ipc://%s/d%d.sock", workdir, endpoint_seq++);
}

static inline const char *zkcar_bin(void)
{
    const char *b = getenv("ZKCAR_BIN");
    if (b == NULL || access(b, X_OK) != 0)
        fail_msg("ZKCAR_BIN is not set to the zkcar binary (run through ctest)");
    return b;
}

/* Starts `zkcar worker --connect ep --name name --threads 1 [extra...]`
 * (extra: NULL-terminated, or NULL; at most 8) with its log in
 * workdir/name.log. */
static inline pid_t worker_spawn_argv(const char *ep, const char *name, const char *const *extra)
{
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/%s.log", workdir, name);
    const char *bin = zkcar_bin();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 2);
        dup2(fd, 1);
        close(fd);
        char *argv[20] = { (char *)bin, "worker", "--connect", (char *)ep, "--name", (char *)name, "--threads", "1" };
        int k = 8;
        for (int i = 0; extra != NULL && extra[i] != NULL && i < 8; i++)
            argv[k++] = (char *)extra[i];
        argv[k] = NULL;
        execv(bin, argv);
        _exit(127);
    }
    if (nspawned < SPAWNED_MAX)
        spawned[nspawned++] = pid;
    return pid;
}

/* Occurrences of `needle` in the log of worker `name`. */
static inline int log_count(const char *name, const char *needle)
{
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/%s.log", workdir, name);
    FILE *f = fopen(logpath, "r");
    if (f == NULL)
        return 0;
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

/* Waits for a process to exit; its status, or -1 after timeout_ms. */
static inline int wait_exit(pid_t pid, int timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (now_ms() > until)
            return -1;
        sleep_ms(10);
    }
}

static inline void worker_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st = wait_exit(pid, 10000);
    if (st != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("zkcar worker did not exit 0 on SIGTERM (status %d)", st);
    }
}

static inline sc_dist_stats stats_of(sc_dist *d)
{
    sc_dist_stats st;
    sc_dist_stats_get(d, &st);
    return st;
}

#define WAIT_UNTIL(cond, ms, what)                                          \
    do {                                                                    \
        int64_t until_ = now_ms() + (ms);                                   \
        while (!(cond)) {                                                   \
            if (now_ms() > until_)                                          \
                fail_msg("timed out after %d ms waiting for %s", (ms), what); \
            sleep_ms(10);                                                   \
        }                                                                   \
    } while (0)

static inline void set_frozen(source *s, bool frozen)
{
    pthread_mutex_lock(&s->lock);
    s->frozen = frozen;
    pthread_mutex_unlock(&s->lock);
}

/* Kills what a failed test left running (a worker outliving the test would
 * keep ctest waiting on its output). */
static inline int kill_leftovers(void **state)
{
    (void)state;
    for (int i = 0; i < nspawned; i++) {
        if (waitpid(spawned[i], NULL, WNOHANG) == 0) {
            kill(spawned[i], SIGKILL);
            waitpid(spawned[i], NULL, 0);
        }
    }
    nspawned = 0;
    return 0;
}

/* Makes workdir (/tmp/<prefix>-XXXXXX); 0 on success. */
static inline int workdir_create(const char *prefix)
{
    char tmpl[128];
    snprintf(tmpl, sizeof tmpl, "/tmp/%s-XXXXXX", prefix);
    workdir = strdup(tmpl);
    return workdir != NULL && mkdtemp(workdir) != NULL ? 0 : -1;
}

/* Kills leftovers, empties and removes workdir. */
static inline void workdir_remove(void)
{
    kill_leftovers(NULL);
    DIR *dir = opendir(workdir);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", workdir, e->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(workdir);
    free(workdir);
    workdir = NULL;
}

#endif
