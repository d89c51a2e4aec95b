/*
 * sidecar/demo.c — `zkcar demo` (see demo.h).
 *
 * Everything goes through the product's public surfaces: the bridge on a real
 * anvil, `zkcar run` as a separate process (this very binary), its JSON-RPC
 * API, and `zkcar verify` on the artifacts it wrote. The demo keeps the pids
 * it started and stops them on every way out (normal end, failure, SIGINT,
 * SIGTERM); its children also get PR_SET_PDEATHSIG so that a SIGKILL of the
 * demo does not leave the daemon behind.
 */
#include "sidecar/demo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/config.h"
#include "common/eip712.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/keccak.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/state.h"
#include "l1-watcher/devnet.h"
#include "l1-watcher/l1w.h"
#include "sidecar/http.h"

#define DEMO_ADDR_MAX 100              /* --api / --metrics HOST:PORT, bytes with the NUL */
#define DEMO_WALLETS 4                 /* alice, bob, carol, dave */
#define DEMO_TXS_MAX 32
#define DEMO_API_TIMEOUT_MS 10000
#define DEMO_START_TIMEOUT_MS 60000    /* the daemon's API answers within this */
#define DEMO_PROVE_TIMEOUT_MS 600000   /* every batch proven within this */
#define DEMO_STOP_TIMEOUT_MS 30000     /* SIGTERM, then SIGKILL */
#define DEMO_PATH_MAX 1024
#define GWEI_PER_ETH UINT64_C(1000000000)

static const char *const wallet_names[DEMO_WALLETS] = { "alice", "bob", "carol", "dave" };

static const zk_opt demo_opts[] = {
    { "api", ZK_OPT_HOSTPORT, "HOST:PORT", "127.0.0.1:3050", "the daemon's JSON-RPC API", 0, 0, NULL },
    { "metrics", ZK_OPT_HOSTPORT, "HOST:PORT", "127.0.0.1:9464", "the daemon's Prometheus /metrics", 0, 0, NULL },
    { "batch-size", ZK_OPT_U64, "N", "8", "operations per batch", 1, 65536, NULL },
    { "batch-interval-ms", ZK_OPT_U64, "MS", "500", "seal a batch when its oldest operation is this old", 10,
      600000, NULL },
    { "prover-threads", ZK_OPT_U64, "N", "0", "proving threads in the daemon (0: its default, the cores)", 0, 1024,
      NULL },
    { "data-dir", ZK_OPT_STRING, "DIR", NULL, "keep the daemon's data here (default: a temporary dir, removed)", 0,
      0, NULL },
    { "keep", ZK_OPT_FLAG, NULL, NULL, "leave anvil and the daemon running after the summary, until Ctrl-C", 0, 0,
      NULL },
};
#define NOPTS (sizeof demo_opts / sizeof demo_opts[0])

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct wallet {
    const char *name;
    uint8_t key[32];
    uint8_t addr[20];
    char hex[43];
    uint32_t nonce;
} wallet;

typedef struct demo {
    l1w_devnet dev;
    bool dev_started;
    pid_t daemon;
    char exe[DEMO_PATH_MAX];
    char data_dir[DEMO_PATH_MAX];
    bool remove_data_dir;
    char log_path[DEMO_PATH_MAX + 16];
    char api_url[128];
    char metrics_url[128];
    l1w_rpc *api;
    zk_eip712_domain domain;
    wallet w[DEMO_WALLETS];
    uint8_t operator_addr[20];
    char tx_hash[DEMO_TXS_MAX][67];
    size_t ntx;
} demo;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps up to `ms`, returning early (false) on SIGINT/SIGTERM. */
static bool nap(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    if (!interrupted)
        nanosleep(&ts, NULL);
    return !interrupted;
}

static void eth(char out[40], uint64_t gwei)
{
    snprintf(out, 40, "%llu.%09llu ETH", (unsigned long long)(gwei / GWEI_PER_ETH),
             (unsigned long long)(gwei % GWEI_PER_ETH));
}

/* out = a + b (b starts with '/'); false when it does not fit. */
static bool path_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s%s", a, b);
    return n > 0 && (size_t)n < cap;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The directory two levels above the binary (build/zkcar -> the source tree),
 * used to find contracts/ and node_modules/ from any working directory. */
static void source_dir(char *out, size_t cap, const char *exe)
{
    const char *env = getenv("ZKCAR_SOURCE_DIR");
    static const char bridge[] = "/contracts/build/ZkcarBridge.json";
    char probe[DEMO_PATH_MAX + 64];
    if (env != NULL && path_join(probe, sizeof probe, env, bridge) && file_exists(probe)
        && path_join(out, cap, env, ""))
        return;
    char dir[DEMO_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", exe);
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL || slash == dir)
            break;
        *slash = '\0';
        if (path_join(probe, sizeof probe, dir, bridge) && file_exists(probe) && path_join(out, cap, dir, ""))
            return;
    }
    snprintf(out, cap, "%s", ".");
}

/* Where anvil is: $ZKCAR_NODE_MODULES, SRC/node_modules (both the pinned npm
 * package), else PATH. Sets ZKCAR_NODE_MODULES for devnet.c when it found the
 * pinned one. Returns false with a reason when there is none. */
static bool find_anvil(const char *src, char *found, size_t cap)
{
    static const char rel[] = "/@foundry-rs/anvil-linux-amd64/bin/anvil";
    const char *nm = getenv("ZKCAR_NODE_MODULES");
    char dirs[2][DEMO_PATH_MAX];
    int n = 0;
    if (nm != NULL && path_join(dirs[n], DEMO_PATH_MAX, nm, ""))
        n++;
    if (path_join(dirs[n], DEMO_PATH_MAX, src, "/node_modules"))
        n++;
    for (int i = 0; i < n; i++) {
        if (path_join(found, cap, dirs[i], rel) && access(found, X_OK) == 0) {
            setenv("ZKCAR_NODE_MODULES", dirs[i], 1);
            return true;
        }
    }
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len < DEMO_PATH_MAX) {
            int w = snprintf(found, cap, "%.*s/anvil", (int)len, path);
            if (w > 0 && (size_t)w < cap && access(found, X_OK) == 0) {
                unsetenv("ZKCAR_NODE_MODULES"); /* devnet.c then runs `anvil` from PATH */
                return true;
            }
        }
        path = end ? end + 1 : NULL;
    }
    return false;
}

/* ---- the daemon as a child process ------------------------------------------ */

static pid_t spawn_self(const char *exe, char *const argv[], const char *out_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid; /* parent (or -1) */
    /* Child: die with the demo; output to the log (or /dev/null). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(127);
    int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
    }
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0)
        dup2(null, STDIN_FILENO);
    execv(exe, argv);
    _exit(127);
}

/* Waits for `pid` up to timeout_ms; true with *status when it exited. */
static bool wait_child(pid_t pid, int *status, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return true; /* not our child any more */
        if (now_ms() > deadline)
            return false;
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static void stop_daemon(demo *d)
{
    if (d->daemon <= 0)
        return;
    int status = 0;
    kill(d->daemon, SIGTERM);
    if (!wait_child(d->daemon, &status, DEMO_STOP_TIMEOUT_MS)) {
        fprintf(stderr, "zkcar demo: the daemon did not stop within %d s of SIGTERM; killing it\n",
                DEMO_STOP_TIMEOUT_MS / 1000);
        kill(d->daemon, SIGKILL);
        wait_child(d->daemon, &status, DEMO_STOP_TIMEOUT_MS);
    }
    d->daemon = 0;
}

static void print_log_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char lines[12][512];
    size_t n = 0;
    while (fgets(lines[n % 12], sizeof lines[0], f) != NULL)
        n++;
    fclose(f);
    size_t first = n > 12 ? n - 12 : 0;
    fprintf(stderr, "--- last lines of %s ---\n", path);
    for (size_t i = first; i < n; i++)
        fputs(lines[i % 12], stderr);
}

static bool daemon_alive(demo *d)
{
    int status;
    if (d->daemon > 0 && waitpid(d->daemon, &status, WNOHANG) == d->daemon) {
        fprintf(stderr, "zkcar demo: zkcar run exited (%s %d)\n", WIFEXITED(status) ? "status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        print_log_tail(d->log_path);
        d->daemon = 0;
        return false;
    }
    return d->daemon > 0;
}

/* ---- the API ------------------------------------------------------------------ */

/* Calls the API; takes `params` (may be NULL: []) and frees it; *result
 * (may be NULL for JSON null) is the caller's. */
static zk_err api_call(demo *d, json_object **result, zk_error_detail *err, const char *method,
                       json_object *params)
{
    int code = 0;
    zk_err rc = l1w_rpc_call(d->api, result, &code, err, method, params);
    json_object_put(params);
    return rc;
}

static json_object *params1(json_object *v)
{
    json_object *a = json_object_new_array();
    json_object_array_add(a, v);
    return a;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return -1;
    return json_object_get_int64(v);
}

/* A decimal quantity (SPEC §4: amounts are decimal strings of u63 gwei);
 * 0 when absent or not a decimal below 2^64. */
static uint64_t jdec(json_object *o, const char *key)
{
    const char *s = jstr(o, key);
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return v;
}

/* The demo's default ports (3050, 9464) may be taken on a machine that runs
 * something else there: then, unless the address was asked for
 * explicitly, take a free loopback port instead (and say so) rather than
 * fail the README's first command. */
static bool free_or_default(char *out, size_t cap, const zk_config *cfg, const char *name)
{
    const char *want = zk_config_get(cfg, name);
    if ((size_t)snprintf(out, cap, "%s", want) >= cap) {
        fprintf(stderr, "zkcar demo: --%s: longer than %zu bytes\n", name, cap - 1);
        return false;
    }
    const char *src = zk_config_source(cfg, name);
    if (src == NULL || strcmp(src, "default") != 0)
        return true;
    int fd = -1;
    uint16_t port = 0;
    zk_error_detail e = { 0 };
    if (sc_http_listen(&fd, &port, want, &e) == ZK_OK) {
        close(fd);
        return true;
    }
    if (sc_http_listen(&fd, &port, "127.0.0.1:0", &e) != ZK_OK)
        return true; /* zkcar run will say what is wrong */
    close(fd);
    snprintf(out, cap, "127.0.0.1:%u", (unsigned)port);
    printf("   (%s is in use: --%s %s instead)\n", want, name, out);
    return true;
}

static zk_err wait_api(demo *d, zk_error_detail *err)
{
    int64_t deadline = now_ms() + DEMO_START_TIMEOUT_MS;
    while (!interrupted) {
        if (!daemon_alive(d))
            return zk_error_set(err, ZK_ERR_IO, "zkcar run exited at start (log: %.180s)", d->log_path);
        json_object *r = NULL;
        zk_error_detail e = { 0 };
        if (api_call(d, &r, &e, "zkcar_status", NULL) == ZK_OK) {
            json_object_put(r);
            return ZK_OK;
        }
        if (now_ms() > deadline)
            return zk_error_set(err, ZK_ERR_TIMEOUT, "the API did not answer within %d s: %.160s",
                                DEMO_START_TIMEOUT_MS / 1000, e.text);
        nap(100);
    }
    return zk_error_set(err, ZK_ERR_CLOSED, "interrupted");
}

/* Polls zkcar_getDeposit(id) until credited. */
static zk_err wait_deposit(demo *d, uint64_t id, zk_error_detail *err)
{
    int64_t deadline = now_ms() + DEMO_START_TIMEOUT_MS;
    while (!interrupted && daemon_alive(d)) {
        json_object *r = NULL;
        zk_err rc = api_call(d, &r, err, "zkcar_getDeposit", params1(json_object_new_int64((int64_t)id)));
        bool done = rc == ZK_OK && jstr(r, "status") != NULL && strcmp(jstr(r, "status"), "credited") == 0;
        json_object_put(r);
        if (done)
            return ZK_OK;
        if (now_ms() > deadline)
            return zk_error_set(err, ZK_ERR_TIMEOUT, "deposit %llu not credited within %d s",
                                (unsigned long long)id, DEMO_START_TIMEOUT_MS / 1000);
        nap(100);
    }
    return zk_error_set(err, ZK_ERR_CLOSED, interrupted ? "interrupted" : "the daemon exited");
}

/* Signs and sends one transaction; prints a line. */
static zk_err send_tx(demo *d, zk_error_detail *err, zk_tx_type type, wallet *from, const uint8_t to[20],
                      const char *to_name, uint64_t amount, uint64_t fee)
{
    zk_tx tx = { .type = type, .amount = amount, .fee = fee, .nonce = from->nonce };
    memcpy(tx.from, from->addr, 20);
    memcpy(tx.to, to, 20);
    uint8_t digest[32];
    zk_tx_hash(digest, &tx, &d->domain);
    zk_err rc = zk_sig_sign(tx.sig, err, digest, from->key);
    if (rc != ZK_OK)
        return rc;
    json_object *p = NULL, *r = NULL;
    if ((rc = zk_tx_to_params(&p, &tx)) != ZK_OK)
        return zk_error_set(err, rc, "cannot build the transaction's params");
    rc = api_call(d, &r, err, "zkcar_sendTransaction", params1(p));
    if (rc == ZK_OK && !json_object_is_type(r, json_type_string))
        rc = zk_error_set(err, ZK_ERR_WRONG_TYPE, "zkcar_sendTransaction returned no hash");
    if (rc == ZK_OK) {
        if (d->ntx < DEMO_TXS_MAX)
            snprintf(d->tx_hash[d->ntx++], 67, "%s", json_object_get_string(r));
        from->nonce++;
        char e[40], f[40];
        eth(e, amount);
        eth(f, fee);
        printf("  %-8s %-6s -> %-24s %s (fee %s)  tx %.18s…\n", type == ZK_TX_TRANSFER ? "transfer" : "withdraw",
               from->name, to_name, e, f, json_object_get_string(r));
    }
    json_object_put(r);
    return rc;
}

static zk_err wait_proven(demo *d, zk_error_detail *err)
{
    int64_t start = now_ms(), deadline = start + DEMO_PROVE_TIMEOUT_MS;
    size_t next = 0;
    int64_t last_reported = -1;
    while (!interrupted && daemon_alive(d)) {
        while (next < d->ntx) {
            json_object *r = NULL;
            zk_err rc = api_call(d, &r, err, "zkcar_getTransaction", params1(json_object_new_string(d->tx_hash[next])));
            const char *st = rc == ZK_OK ? jstr(r, "status") : NULL;
            bool proven = st != NULL && strcmp(st, "proven") == 0;
            bool rejected = st != NULL && strcmp(st, "rejected") == 0;
            if (rejected)
                rc = zk_error_set(err, ZK_ERR_BAD_VALUE, "transaction %s rejected: %.100s", d->tx_hash[next],
                                  jstr(r, "error") ? jstr(r, "error") : "?");
            json_object_put(r);
            if (rejected)
                return rc;
            if (!proven)
                break;
            next++;
        }
        json_object *s = NULL;
        zk_error_detail e = { 0 };
        if (api_call(d, &s, &e, "zkcar_status", NULL) == ZK_OK) {
            int64_t proven = jint(s, "lastProvenBatch"), sealed = jint(s, "lastBatch");
            if (proven != last_reported && sealed > 0) {
                printf("  batches proven: %lld of %lld sealed (%.1f s)\n", (long long)proven, (long long)sealed,
                       (double)(now_ms() - start) / 1000.0);
                fflush(stdout);
                last_reported = proven;
            }
            bool all = next == d->ntx && proven == sealed && jint(s, "pendingTxs") == 0;
            json_object_put(s);
            if (all)
                return ZK_OK;
        }
        if (now_ms() > deadline)
            return zk_error_set(err, ZK_ERR_TIMEOUT, "not every batch proven within %d s", DEMO_PROVE_TIMEOUT_MS / 1000);
        nap(200);
    }
    return zk_error_set(err, ZK_ERR_CLOSED, interrupted ? "interrupted" : "the daemon exited");
}

/* Runs `zkcar verify FILE`; returns its exit status (-1 if it did not run). */
static int run_verify(demo *d, const char *file)
{
    char *argv[] = { d->exe, "verify", (char *)file, NULL };
    pid_t pid = spawn_self(d->exe, argv, NULL);
    if (pid < 0)
        return -1;
    int status = 0;
    if (!wait_child(pid, &status, 300000)) {
        kill(pid, SIGKILL);
        wait_child(pid, &status, 5000);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The summary: balances, batches (verified with `zkcar verify`), addresses.
 * Returns false when an artifact did not verify. */
static bool summary(demo *d)
{
    bool ok = true;
    json_object *s = NULL;
    zk_error_detail e = { 0 };
    if (api_call(d, &s, &e, "zkcar_status", NULL) != ZK_OK) {
        fprintf(stderr, "zkcar demo: zkcar_status: %s\n", e.text);
        return false;
    }
    int64_t nb = jint(s, "lastBatch");
    printf("\nL2 accounts (zkcar_getAccount)\n");
    printf("  %-9s %-42s %24s %6s\n", "", "address", "balance", "nonce");
    const uint8_t *addrs[DEMO_WALLETS + 2];
    const char *names[DEMO_WALLETS + 2];
    static const uint8_t erin_seed[] = "zkcar demo erin";
    uint8_t erin[32];
    zk_keccak256(erin, erin_seed, sizeof erin_seed - 1);
    size_t n = 0;
    for (int i = 0; i < DEMO_WALLETS; i++) {
        addrs[n] = d->w[i].addr;
        names[n++] = d->w[i].name;
    }
    addrs[n] = erin + 12;
    names[n++] = "erin";
    addrs[n] = d->operator_addr;
    names[n++] = "operator";
    for (size_t i = 0; i < n; i++) {
        char hex[43];
        zk_address_format(hex, addrs[i]);
        json_object *a = NULL;
        if (api_call(d, &a, &e, "zkcar_getAccount", params1(json_object_new_string(hex))) != ZK_OK) {
            fprintf(stderr, "zkcar demo: zkcar_getAccount: %s\n", e.text);
            ok = false;
            continue;
        }
        char b[40];
        eth(b, jdec(a, "balance"));
        printf("  %-9s %-42s %24s %6lld\n", names[i], hex, b, (long long)jint(a, "nonce"));
        json_object_put(a);
    }
    printf("\nBatches (zkcar_getBatch, then zkcar verify DIR/batches/N.batch)\n");
    printf("  %5s %4s %8s %11s %11s %10s  %-8s %s\n", "batch", "txs", "deposits", "withdrawals", "proving ms",
           "proof", "verify", "state root");
    for (int64_t b = 1; b <= nb; b++) {
        json_object *r = NULL;
        if (api_call(d, &r, &e, "zkcar_getBatch", params1(json_object_new_int64(b))) != ZK_OK || r == NULL) {
            fprintf(stderr, "zkcar demo: zkcar_getBatch %lld: %s\n", (long long)b, e.text);
            ok = false;
            json_object_put(r);
            continue;
        }
        json_object *w = NULL;
        size_t nw = json_object_object_get_ex(r, "withdrawals", &w) ? json_object_array_length(w) : 0;
        char file[DEMO_PATH_MAX + 64];
        snprintf(file, sizeof file, "%s/batches/%lld.batch", d->data_dir, (long long)b);
        int v = run_verify(d, file);
        if (v != 0)
            ok = false;
        const char *root = jstr(r, "stateRoot");
        printf("  %5lld %4lld %8lld %11zu %11lld %8.1fKiB  %-8s %.18s…\n", (long long)b, (long long)jint(r, "txCount"),
               (long long)jint(r, "depositCount"), nw, (long long)jint(r, "provingTimeMs"),
               (double)jint(r, "proofSize") / 1024.0, v == 0 ? "valid" : v == 1 ? "INVALID" : "ERROR",
               root ? root : "?");
        json_object_put(r);
    }
    const char *root = jstr(s, "stateRoot");
    printf("\nState root after batch %lld: %s\n", (long long)nb, root ? root : "?");
    json_object_put(s);
    return ok;
}

/* ---- main ----------------------------------------------------------------------- */

static void usage_text(void)
{
    zk_config_usage(stdout, "demo", "[flags]", demo_opts, NOPTS);
    printf("\nStarts anvil (pinned, from node_modules/), deploys the bridge, runs `zkcar run`\n"
           "with small batches, deposits from several accounts, sends signed transfers and\n"
           "withdrawals over the API, waits until every batch is proven, verifies each\n"
           "artifact with `zkcar verify`, prints a summary and stops what it started.\n"
           "Exit 0 when every batch verified, 1 otherwise, 2 on bad usage; Ctrl-C stops it\n"
           "and what it started (exit 130 when that cut the demo short).\n");
}

/* A step's failure on stderr; an interrupted step says nothing, since the
 * clean-up says "interrupted" once for the whole run. */
static void say_error(const zk_error_detail *err)
{
    if (!interrupted)
        fprintf(stderr, "zkcar demo: %s\n", err->text);
}

int sc_demo_main(int argc, char **argv)
{
    zk_config *cfg = NULL;
    zk_error_detail err = { 0 };
    demo *d = NULL;
    int status = 2;
    if (zk_config_parse(&cfg, &err, "demo", demo_opts, NOPTS, argc, argv) != ZK_OK) {
        say_error(&err);
        goto cleanup;
    }
    if (zk_config_help_requested(cfg)) {
        usage_text();
        status = 0;
        goto cleanup;
    }
    if (zk_config_npositional(cfg) > 0) {
        fprintf(stderr, "zkcar demo: unexpected argument \"%s\"\n", zk_config_positional(cfg, 0));
        goto cleanup;
    }
    status = 1;
    d = calloc(1, sizeof *d);
    if (d == NULL) {
        fprintf(stderr, "zkcar demo: out of memory\n");
        goto cleanup;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int64_t t_start = now_ms();

    ssize_t len = readlink("/proc/self/exe", d->exe, sizeof d->exe - 1);
    if (len <= 0) {
        fprintf(stderr, "zkcar demo: cannot find its own binary: %s\n", strerror(errno));
        goto cleanup;
    }
    d->exe[len] = '\0';
    char src[DEMO_PATH_MAX], anvil[DEMO_PATH_MAX + 64], artifact[DEMO_PATH_MAX + 64];
    source_dir(src, sizeof src, d->exe);
    snprintf(artifact, sizeof artifact, "%s/contracts/build/ZkcarBridge.json", src);
    if (!file_exists(artifact)) {
        fprintf(stderr, "zkcar demo: the compiled bridge (contracts/build/ZkcarBridge.json) is not beside the "
                        "binary nor in $ZKCAR_SOURCE_DIR; run from the source tree\n");
        goto cleanup;
    }
    if (!find_anvil(src, anvil, sizeof anvil)) {
        fprintf(stderr, "zkcar demo: anvil not found: not in %s/node_modules (run scripts/setup.sh, which installs "
                        "the pinned one with npm), nor $ZKCAR_NODE_MODULES, nor on PATH\n", src);
        goto cleanup;
    }

    printf("zkcar demo\n\n1. L1: starting anvil (%s)\n", anvil);
    fflush(stdout);
    if (l1w_devnet_start(&d->dev, &err, false, NULL) != ZK_OK) {
        fprintf(stderr, "zkcar demo: anvil: %s\n", err.text);
        goto cleanup;
    }
    d->dev_started = true;
    uint64_t bridge_block = 0;
    if (l1w_devnet_deploy_bridge(&d->dev, &bridge_block, &err, artifact) != ZK_OK) {
        fprintf(stderr, "zkcar demo: deploying the bridge: %s\n", err.text);
        goto cleanup;
    }
    json_object *cid = NULL;
    if (l1w_devnet_call(&d->dev, &cid, &err, "eth_chainId", "[]") != ZK_OK || !json_object_is_type(cid, json_type_string)) {
        json_object_put(cid);
        fprintf(stderr, "zkcar demo: eth_chainId: %s\n", err.text);
        goto cleanup;
    }
    uint64_t chain_id = strtoull(json_object_get_string(cid), NULL, 16);
    json_object_put(cid);
    zk_eip712_domain_zkcar(&d->domain, chain_id, d->dev.bridge);
    printf("   anvil at %s (chain id %llu), IPC %s\n   bridge %s deployed in block %llu\n", d->dev.http_url,
           (unsigned long long)chain_id, d->dev.ipc_url, d->dev.bridge_hex, (unsigned long long)bridge_block);

    /* The daemon. */
    const char *dd = zk_config_get(cfg, "data-dir");
    if (dd != NULL) {
        snprintf(d->data_dir, sizeof d->data_dir, "%s", dd);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(d->data_dir, sizeof d->data_dir, "%s/zkcar-demo-XXXXXX", tmp ? tmp : "/tmp");
        if (mkdtemp(d->data_dir) == NULL) {
            fprintf(stderr, "zkcar demo: mkdtemp %s: %s\n", d->data_dir, strerror(errno));
            goto cleanup;
        }
        d->remove_data_dir = true;
    }
    if (mkdir(d->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "zkcar demo: mkdir %s: %s\n", d->data_dir, strerror(errno));
        goto cleanup;
    }
    snprintf(d->log_path, sizeof d->log_path, "%s/zkcar.log", d->data_dir);
    static const uint8_t op_seed[] = "zkcar demo operator";
    uint8_t op_hash[32];
    zk_keccak256(op_hash, op_seed, sizeof op_seed - 1);
    memcpy(d->operator_addr, op_hash + 12, 20);
    char op_hex[43], from_block[24], batch_size[24], interval[24], threads[24];
    zk_address_format(op_hex, d->operator_addr);
    snprintf(from_block, sizeof from_block, "%llu", (unsigned long long)bridge_block);
    snprintf(batch_size, sizeof batch_size, "%s", zk_config_get(cfg, "batch-size"));
    snprintf(interval, sizeof interval, "%s", zk_config_get(cfg, "batch-interval-ms"));
    snprintf(threads, sizeof threads, "%s", zk_config_get(cfg, "prover-threads"));
    char api[DEMO_ADDR_MAX], metrics[DEMO_ADDR_MAX];
    if (!free_or_default(api, sizeof api, cfg, "api") || !free_or_default(metrics, sizeof metrics, cfg, "metrics"))
        goto cleanup;
    char *rargv[32];
    int ra = 0;
    rargv[ra++] = d->exe;
    rargv[ra++] = "run";
    rargv[ra++] = "--l1-rpc";
    rargv[ra++] = d->dev.ipc_url;
    rargv[ra++] = "--bridge";
    rargv[ra++] = d->dev.bridge_hex;
    rargv[ra++] = "--from-block";
    rargv[ra++] = from_block;
    rargv[ra++] = "--confirmations";
    rargv[ra++] = "1";
    rargv[ra++] = "--data-dir";
    rargv[ra++] = d->data_dir;
    rargv[ra++] = "--api";
    rargv[ra++] = api;
    rargv[ra++] = "--metrics";
    rargv[ra++] = metrics;
    rargv[ra++] = "--batch-size";
    rargv[ra++] = batch_size;
    rargv[ra++] = "--batch-interval-ms";
    rargv[ra++] = interval;
    rargv[ra++] = "--operator";
    rargv[ra++] = op_hex;
    if (strcmp(threads, "0") != 0) {
        rargv[ra++] = "--prover-threads";
        rargv[ra++] = threads;
    }
    rargv[ra] = NULL;
    printf("\n2. L2: starting zkcar run (batches of %s operations or %s ms; log %s)\n", batch_size, interval,
           d->log_path);
    fflush(stdout);
    d->daemon = spawn_self(d->exe, rargv, d->log_path);
    if (d->daemon < 0) {
        fprintf(stderr, "zkcar demo: fork: %s\n", strerror(errno));
        d->daemon = 0;
        goto cleanup;
    }
    snprintf(d->api_url, sizeof d->api_url, "http://%s/", api);
    snprintf(d->metrics_url, sizeof d->metrics_url, "http://%s/metrics", metrics);
    if (l1w_rpc_create(&d->api, &err, d->api_url, DEMO_API_TIMEOUT_MS, 0) != ZK_OK) {
        say_error(&err);
        goto cleanup;
    }
    if (wait_api(d, &err) != ZK_OK) {
        say_error(&err);
        goto cleanup;
    }
    printf("   API %s, metrics %s\n", d->api_url, d->metrics_url);

    /* Wallets and deposits: dev account i+1 deposits to wallet i. */
    printf("\n3. Deposits on L1 (bridge.deposit, credited after 1 confirmation)\n");
    static const uint64_t deposit_gwei[DEMO_WALLETS] = { 2000000000, 1500000000, 1000000000, 500000000 };
    for (int i = 0; i < DEMO_WALLETS; i++) {
        wallet *w = &d->w[i];
        w->name = wallet_names[i];
        char seed[64];
        int sl = snprintf(seed, sizeof seed, "zkcar demo wallet %d", i + 1);
        zk_keccak256(w->key, seed, (size_t)sl);
        if (zk_sig_seckey_address(w->addr, &err, w->key) != ZK_OK) {
            fprintf(stderr, "zkcar demo: wallet key: %s\n", err.text);
            goto cleanup;
        }
        zk_address_format(w->hex, w->addr);
        char txh[67], e[40];
        if (l1w_devnet_deposit(&d->dev, txh, &err, i + 1, w->addr, deposit_gwei[i]) != ZK_OK) {
            fprintf(stderr, "zkcar demo: deposit: %s\n", err.text);
            goto cleanup;
        }
        eth(e, deposit_gwei[i]);
        printf("  deposit %d: %s -> %-6s %s  (L1 tx %.18s…)\n", i, d->dev.accounts[i + 1], w->name, e, txh);
    }
    /* One more block so the last deposit is as settled as the others. */
    if (l1w_devnet_mine(&d->dev, &err, 1) != ZK_OK) {
        fprintf(stderr, "zkcar demo: anvil_mine: %s\n", err.text);
        goto cleanup;
    }
    if (wait_deposit(d, DEMO_WALLETS - 1, &err) != ZK_OK) {
        say_error(&err);
        goto cleanup;
    }
    printf("  all %d deposits credited on L2\n", DEMO_WALLETS);

    /* Transfers and withdrawals, signed with EIP-712 like a wallet does. */
    printf("\n4. L2 transactions (EIP-712 signed, zkcar_sendTransaction)\n");
    static const uint8_t erin_seed[] = "zkcar demo erin";
    uint8_t erin[32];
    zk_keccak256(erin, erin_seed, sizeof erin_seed - 1);
    const uint64_t fee = 21000;
    wallet *w = d->w;
    struct {
        zk_tx_type type;
        int from, to; /* wallet index; to -1: erin (a new L2 account); to -2: the sender's L1 address */
        uint64_t amount;
    } plan[] = {
        { ZK_TX_TRANSFER, 0, 1, 250000000 }, { ZK_TX_TRANSFER, 1, 2, 400000000 },
        { ZK_TX_TRANSFER, 2, 3, 125000000 }, { ZK_TX_TRANSFER, 3, 0, 50000000 },
        { ZK_TX_TRANSFER, 0, -1, 100000000 }, { ZK_TX_WITHDRAW, 1, -2, 300000000 },
        { ZK_TX_TRANSFER, 2, 0, 75000000 },  { ZK_TX_WITHDRAW, 0, -2, 500000000 },
        { ZK_TX_TRANSFER, 3, 1, 20000000 },  { ZK_TX_WITHDRAW, 2, -2, 100000000 },
        { ZK_TX_TRANSFER, 1, 3, 60000000 },  { ZK_TX_TRANSFER, 0, 2, 10000000 },
    };
    for (size_t k = 0; k < sizeof plan / sizeof plan[0] && !interrupted; k++) {
        const uint8_t *to;
        char to_name[32];
        if (plan[k].to >= 0) {
            to = w[plan[k].to].addr;
            snprintf(to_name, sizeof to_name, "%s", w[plan[k].to].name);
        } else if (plan[k].to == -1) {
            to = erin + 12;
            snprintf(to_name, sizeof to_name, "erin (new account)");
        } else {
            to = w[plan[k].from].addr;
            snprintf(to_name, sizeof to_name, "%s on L1", w[plan[k].from].name);
        }
        if (send_tx(d, &err, plan[k].type, &w[plan[k].from], to, to_name, plan[k].amount, fee) != ZK_OK) {
            say_error(&err);
            goto cleanup;
        }
    }
    fflush(stdout);

    printf("\n5. Proving (a STARK per batch)\n");
    fflush(stdout);
    if (wait_proven(d, &err) != ZK_OK) {
        say_error(&err);
        goto cleanup;
    }
    bool ok = summary(d);
    printf("\nWhile it ran:\n  JSON-RPC API  %s   e.g. curl -s -d "
           "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zkcar_status\"}' %s\n"
           "  metrics       %s\n  data dir      %s%s\n  L1 (anvil)    %s\n",
           d->api_url, d->api_url, d->metrics_url, d->data_dir, d->remove_data_dir ? " (removed at exit)" : "",
           d->dev.http_url);
    printf("\n%s in %.1f s.\n", ok ? "Every batch proven and verified" : "SOME ARTIFACTS DID NOT VERIFY",
           (double)(now_ms() - t_start) / 1000.0);
    fflush(stdout);
    status = ok ? 0 : 1;
    if (ok && zk_config_get_bool(cfg, "keep")) {
        printf("\n--keep: anvil and zkcar run stay up; Ctrl-C stops them.\n");
        fflush(stdout);
        while (!interrupted && daemon_alive(d))
            nap(500);
    }

cleanup:
    if (d != NULL) {
        if (interrupted && status != 0 && status != 2) {
            fprintf(stderr, "zkcar demo: interrupted; stopping what it started\n");
            status = 130;
        }
        stop_daemon(d);
        l1w_rpc_destroy(d->api);
        if (d->dev_started)
            l1w_devnet_destroy(&d->dev);
        /* A failed run keeps its data dir (the daemon's log, the artifacts). */
        if (d->remove_data_dir && status == 1 && !interrupted)
            fprintf(stderr, "zkcar demo: kept %s for inspection\n", d->data_dir);
        else if (d->remove_data_dir) {
            /* The state's shared-memory region is named after the data dir:
             * it goes with it. */
            char region[64];
            if (ipc_region_name(region, sizeof region, d->data_dir) == ZK_OK)
                shm_unlink(region);
            zk_file_remove_tree(d->data_dir);
        }
        free(d);
    }
    zk_config_destroy(cfg);
    return status;
}
