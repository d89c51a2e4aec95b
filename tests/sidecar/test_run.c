/*
 * tests/sidecar/test_run.c — `zkcar run` as a process: bad usage, and the
 * embedded watcher against a real anvil: deposits credited exactly once,
 * only once confirmed, a reorged unconfirmed deposit never credited, across
 * a clean restart and a kill -9; zkcar_getDeposit's three statuses
 * (pending_confirmations, reorged, credited) and an id reused after a reorg,
 * with the embedded watcher and with an external `zkcar watch`. Talks to the
 * daemon over its JSON-RPC API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "ipc/state.h"
#include "l1-watcher/devnet.h"
#include "tests/curl_body.h"
#include "tests/promtool_util.h"

static const char *zkcar_bin(void)
{
    const char *b = getenv("ZKCAR_BIN");
    return b != NULL ? b : "./zkcar";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs zkcar with `args`; returns the exit status, all of stderr in `out`
 * (as much as fits). */
static int run_zkcar_stderr(const char *const *args, char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        close(p[0]);
        const char *argv[32];
        int n = 0;
        argv[n++] = zkcar_bin();
        for (; args[n - 1] != NULL && n < 31; n++)
            argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(zkcar_bin(), (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t k;
    char spill[4096];
    /* read to the end (what does not fit is dropped), so the child never
     * blocks on a full pipe */
    while ((k = len < cap - 1 ? read(p[0], out + len, cap - 1 - len) : read(p[0], spill, sizeof spill)) > 0)
        if (len < cap - 1)
            len += (size_t)k;
    out[len] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs zkcar with `args`; returns the exit status, stderr's first line in `line`. */
static int run_zkcar(const char *const *args, char *line, size_t cap)
{
    int st = run_zkcar_stderr(args, line, cap);
    char *nl = strchr(line, '\n');
    if (nl != NULL)
        *nl = '\0';
    return st;
}

/* SPEC §1: bad usage exits 2 with a one-line reason; --help exits 0. */
static void test_usage(void **state)
{
    char line[4096];
    const char *const no_bridge[] = { "run", "--l1-rpc", "http://127.0.0.1:1", NULL };
    assert_int_equal(run_zkcar(no_bridge, line, sizeof line), 2);
    assert_non_null(strstr(line, "--bridge"));
    const char *const bad_size[] = { "run", "--batch-size", "abc", NULL };
    assert_int_equal(run_zkcar(bad_size, line, sizeof line), 2);
    assert_non_null(strstr(line, "batch-size"));
    const char *const no_source[] = { "run", "--bridge", "0x4242424242424242424242424242424242424242", NULL };
    assert_int_equal(run_zkcar(no_source, line, sizeof line), 2);
    assert_non_null(strstr(line, "--l1-rpc"));
    const char *const bad_addr[] = { "run", "--l1-rpc", "http://127.0.0.1:1", "--bridge", "0x42", NULL };
    assert_int_equal(run_zkcar(bad_addr, line, sizeof line), 2);
    const char *const bad_bpf[] = { "run", "--bpf", "maybe", NULL };
    assert_int_equal(run_zkcar(bad_bpf, line, sizeof line), 2);
    const char *const no_provers[] = { "run", "--l1-rpc", "http://127.0.0.1:1", "--bridge",
                                       "0x4242424242424242424242424242424242424242", "--prover-threads", "0", NULL };
    assert_int_equal(run_zkcar(no_provers, line, sizeof line), 2);
    const char *const watcher_no_chain[] = { "run", "--watcher", "tcp://127.0.0.1:1", "--bridge",
                                             "0x4242424242424242424242424242424242424242", NULL };
    assert_int_equal(run_zkcar(watcher_no_chain, line, sizeof line), 2);
    assert_non_null(strstr(line, "--chain-id"));
    /* The form of --l1-rpc is usage even with --chain-id (nothing asks the
     * node then): refused before anything opens, one line, exit 2. */
    char dir[] = "/tmp/zkcar-run-usage-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char data[64];
    snprintf(data, sizeof data, "%s/data", dir);
    const char *const bad_rpc[] = { "run", "--l1-rpc", "ftp://127.0.0.1:1", "--chain-id", "31337", "--bridge",
                                    "0x4242424242424242424242424242424242424242", "--data-dir", data, NULL };
    assert_int_equal(run_zkcar(bad_rpc, line, sizeof line), 2);
    assert_true(strncmp(line, "zkcar run: --l1-rpc: \"ftp://", 28) == 0);
    struct stat dst;
    assert_int_equal(stat(data, &dst), -1); /* nothing was created */
    rmdir(dir);
    const char *const unknown[] = { "run", "--no-such-flag", "1", NULL };
    assert_int_equal(run_zkcar(unknown, line, sizeof line), 2);
    const char *const help[] = { "run", "--help", NULL };
    assert_int_equal(run_zkcar(help, line, sizeof line), 0);
    /* a config file: flags win over it, its own errors name the line */
    char path[] = "/tmp/zkcar-run-ini-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char ini[] = "[run]\nbatch-size = 12x\n";
    assert_int_equal(write(fd, ini, sizeof ini - 1), (ssize_t)(sizeof ini - 1));
    close(fd);
    const char *const with_ini[] = { "run", "--config", path, NULL };
    assert_int_equal(run_zkcar(with_ini, line, sizeof line), 2);
    assert_non_null(strstr(line, ":2"));
    unlink(path);
    /* a misspelt section is refused, not skipped with everything in it */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    const char ini2[] = "bridge = 0x4242424242424242424242424242424242424242\n[rnu]\nl1-rpc = http://127.0.0.1:1\n";
    assert_int_equal(write(fd, ini2, sizeof ini2 - 1), (ssize_t)(sizeof ini2 - 1));
    close(fd);
    assert_int_equal(run_zkcar(with_ini, line, sizeof line), 2);
    assert_non_null(strstr(line, ":2: unknown section [rnu]"));
    unlink(path);
}

static int free_port(void);
static int held_port(int *port);
static int run_fresh_on(int api_port, const char *const *extra, char *out, size_t cap);

/* Checks that every line of `text` (modified) is a JSON object and one has
 * an "error" field containing `needle`; returns the number of lines. */
static int json_lines(char *text, const char *needle)
{
    int lines = 0;
    bool told = false;
    for (char *line = text, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        assert_non_null(nl); /* every line is whole */
        *nl = '\0';
        json_object *o = json_tokener_parse(line);
        if (o == NULL || !json_object_is_type(o, json_type_object))
            fail_msg("not a JSON line: %s", line);
        json_object *v;
        if (json_object_object_get_ex(o, "error", &v) && strstr(json_object_get_string(v), needle) != NULL)
            told = true;
        json_object_put(o);
        lines++;
    }
    if (!told)
        fail_msg("no JSON line has an error with \"%s\"", needle);
    return lines;
}

/* --log-format json: a runtime failure (here the --api port is taken) is a
 * JSON line like every other, not a bare "zkcar run: …" line among them. */
static void test_json_failure(void **state)
{
    int port;
    int fd = held_port(&port);
    const char *const extra[] = { "--l1-rpc", "http://127.0.0.1:1", "--log-format", "json", NULL };
    static char out[65536];
    assert_int_equal(run_fresh_on(port, extra, out, sizeof out), 1);
    close(fd);
    assert_true(json_lines(out, "--api") >= 2);
}

/* `zkcar run --chain-id 31337 --bridge … --bpf off` on a fresh data directory
 * with the API on `api_port` (0: a free one) and a free metrics port, with
 * `extra` (up to 9 arguments) after; returns the exit status, stderr in
 * `out`; removes the directory and its state region. */
static int run_fresh_on(int api_port, const char *const *extra, char *out, size_t cap)
{
    char dir[] = "/tmp/zkcar-run-fresh-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char data[64], api[32], metrics[32];
    snprintf(data, sizeof data, "%s/data", dir);
    int aport = api_port > 0 ? api_port : free_port(), mport;
    do
        mport = free_port();
    while (mport == aport);
    snprintf(api, sizeof api, "127.0.0.1:%d", aport);
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", mport);
    const char *args[24] = { "run", "--chain-id", "31337", "--bridge", "0x4242424242424242424242424242424242424242",
                             "--data-dir", data, "--api", api, "--metrics", metrics, "--bpf", "off" };
    int n = 13;
    for (int i = 0; extra[i] != NULL && n < 22; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    int rc = run_zkcar_stderr(args, out, cap);
    char name[64];
    if (ipc_region_name(name, sizeof name, data) == ZK_OK)
        shm_unlink(name);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return rc;
}

static int run_fresh(const char *const *extra, char *out, size_t cap) { return run_fresh_on(0, extra, out, cap); }

/* ZeroMQ endpoints: a malformed one is usage (exit 2) whichever flag names
 * it; a port in use is a runtime failure (exit 1), as it is for --api. */
static void test_endpoint_errors(void **state)
{
    static char out[65536];
    const char *const stream_bad[] = { "--l1-rpc", "http://127.0.0.1:1", "--stream", "nonsense", NULL };
    assert_int_equal(run_fresh(stream_bad, out, sizeof out), 2);
    assert_non_null(strstr(out, "--stream nonsense"));
    const char *const watcher_bad[] = { "--watcher", "nonsense", NULL };
    assert_int_equal(run_fresh(watcher_bad, out, sizeof out), 2);
    assert_non_null(strstr(out, "nonsense"));
    const char *const workers_bad[] = { "--l1-rpc", "http://127.0.0.1:1", "--workers", "nonsense", NULL };
    assert_int_equal(run_fresh(workers_bad, out, sizeof out), 2);
    assert_null(strstr(out, "--workers nonsense: --workers")); /* said once */

    int port;
    int fd = held_port(&port);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    const char *const workers_busy[] = { "--l1-rpc", "http://127.0.0.1:1", "--workers", ep, NULL };
    assert_int_equal(run_fresh(workers_busy, out, sizeof out), 1);
    assert_non_null(strstr(out, "Address already in use"));
    const char *const stream_busy[] = { "--l1-rpc", "http://127.0.0.1:1", "--stream", ep, NULL };
    assert_int_equal(run_fresh(stream_busy, out, sizeof out), 1);
    assert_non_null(strstr(out, "Address already in use"));
    close(fd);
}

/* A TCP port on 127.0.0.1 that is free right now: the kernel picks it for a
 * socket bound to port 0, which is then closed. (Ports derived from the pid
 * collided with other tests' ephemeral ports when ctest runs in parallel.) */
static int free_port(void)
{
    int port;
    close(held_port(&port));
    return port;
}

/* A listening socket on a port of 127.0.0.1 the kernel picked: the port is
 * taken while the caller holds the descriptor. */
static int held_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- the daemon with an embedded watcher ------------------------------------------ */

typedef struct daemon {
    pid_t pid;
    int api_port, metrics_port;
    char dir[512];
    char log[512];
} daemon_t;

/* Free API and metrics ports, the data dir and log inside the devnet's dir. */
static void daemon_init(daemon_t *d, const l1w_devnet *a)
{
    memset(d, 0, sizeof *d);
    d->api_port = free_port();
    do
        d->metrics_port = free_port();
    while (d->metrics_port == d->api_port);
    snprintf(d->dir, sizeof d->dir, "%s/data", a->dir);
    snprintf(d->log, sizeof d->log, "%s/zkcar-run.log", a->dir);
}

#define DAEMON_SOFT_NOFILE 128 /* the soft open-files limit the daemon starts with */

/* What a failed test leaves running; the teardown stops it. */
static pid_t live_daemon;
static l1w_devnet *live_devnet;

static void daemon_start_with(daemon_t *d, l1w_devnet *a, uint64_t from_block, const char *watcher_ep, bool prove);

static void daemon_start(daemon_t *d, l1w_devnet *a, uint64_t from_block, bool prove)
{
    daemon_start_with(d, a, from_block, NULL, prove);
}

/* With watcher_ep: `zkcar run --watcher watcher_ep --chain-id 31337` (no
 * --l1-rpc). Without `prove`: --prover-threads 0 and a --workers endpoint no
 * worker connects to, so that nothing is proven (a clean stop then does not
 * wait for a proof in progress, which takes long under the sanitizers). */
static void daemon_start_with(daemon_t *d, l1w_devnet *a, uint64_t from_block, const char *watcher_ep, bool prove)
{
    char from[24], api[32], metrics[32], workers[600];
    snprintf(workers, sizeof workers, "ipc://%s.workers", d->dir);
    snprintf(from, sizeof from, "%" PRIu64, from_block);
    snprintf(api, sizeof api, "127.0.0.1:%d", d->api_port);
    snprintf(metrics, sizeof metrics, "127.0.0.1:%d", d->metrics_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        dup2(fd, 1);
        /* A low soft limit on open files, as a login shell may have: the
         * daemon raises it to the hard limit (test_embedded_watcher opens
         * more connections than this). */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max > DAEMON_SOFT_NOFILE + 200) {
            rl.rlim_cur = DAEMON_SOFT_NOFILE;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        const char *argv[] = { zkcar_bin(), "run", "--l1-rpc", a->ipc_url, "--bridge", a->bridge_hex,
                               "--from-block", from, "--confirmations", "3", "--data-dir", d->dir,
                               "--api", api, "--metrics", metrics, "--batch-size", "64",
                               "--batch-interval-ms", "200", "--bpf", "off", "--prover-threads",
                               prove ? "1" : "0", prove ? NULL : "--workers", workers, NULL };
        const char *wargv[] = { zkcar_bin(), "run", "--watcher", watcher_ep, "--chain-id", "31337",
                                "--bridge", a->bridge_hex, "--data-dir", d->dir, "--api", api,
                                "--metrics", metrics, "--batch-size", "64", "--batch-interval-ms", "200",
                                "--bpf", "off", "--prover-threads", prove ? "1" : "0",
                                prove ? NULL : "--workers", workers, NULL };
        execv(zkcar_bin(), (char *const *)(watcher_ep != NULL ? wargv : argv));
        _exit(127);
    }
    d->pid = pid;
    live_daemon = pid;
}

static int daemon_stop(daemon_t *d, int sig)
{
    assert_int_equal(kill(d->pid, sig), 0);
    int st;
    assert_int_equal(waitpid(d->pid, &st, 0), d->pid);
    d->pid = 0;
    live_daemon = 0;
    if (sig == SIGKILL) {
        assert_true(WIFSIGNALED(st));
        return -1;
    }
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}


/* One JSON-RPC call; returns the "result" (caller puts it), or NULL when the
 * daemon is not answering yet. *is_null says the result was JSON null. */
static json_object *rpc(daemon_t *d, const char *method, const char *params, bool *ok)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[64], body[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", d->api_port);
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}", method, params);
    curl_body b = { 0 };
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    *ok = false;
    json_object *res = NULL;
    if (rc == CURLE_OK && b.p != NULL) {
        json_object *root = json_tokener_parse(b.p);
        json_object *r;
        if (root != NULL && json_object_object_get_ex(root, "result", &r)) {
            res = json_object_get(r);
            *ok = true;
        }
        json_object_put(root);
    }
    free(b.p);
    return res;
}

/* GET /metrics; the body (malloc'd). */
static char *scrape(daemon_t *d)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", d->metrics_port);
    curl_body b = { 0 };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    assert_non_null(b.p);
    return b.p;
}

/* `promtool check metrics` on `text` must report nothing (exit 0). */
static void promtool_clean(const char *text)
{
    char out[4096];
    int rc = promtool_check(text, out, sizeof out);
    if (rc != 0)
        fail_msg("promtool check metrics (exit %d): %s", rc, out);
}

static int64_t get_int(json_object *o, const char *key)
{
    json_object *v;
    assert_true(json_object_object_get_ex(o, key, &v));
    return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *key)
{
    json_object *v;
    assert_true(json_object_object_get_ex(o, key, &v));
    return json_object_get_string(v);
}

/* Waits until zkcar_status answers and `pred` holds. */
static json_object *wait_status(daemon_t *d, const char *what, int timeout_ms, bool (*pred)(json_object *, int64_t),
                                int64_t arg)
{
    int64_t t0 = now_ms();
    for (;;) {
        bool ok;
        json_object *s = rpc(d, "zkcar_status", "[]", &ok);
        if (s != NULL && pred(s, arg))
            return s;
        json_object_put(s);
        if (d->pid != 0) {
            int st;
            if (waitpid(d->pid, &st, WNOHANG) == d->pid)
                fail_msg("zkcar run exited while waiting for %s (log %s)", what, d->log);
        }
        if (now_ms() - t0 > timeout_ms)
            fail_msg("waited %d ms for %s (log %s)", timeout_ms, what, d->log);
        usleep(100000);
    }
}

static bool next_deposit_is(json_object *s, int64_t n) { return get_int(s, "nextDepositId") == n; }
static bool proven_at_least(json_object *s, int64_t n) { return get_int(s, "lastProvenBatch") >= n; }
static bool l1_head_at_least(json_object *s, int64_t n) { return get_int(s, "l1Head") >= n; }

/* Waits until deposit `id` is sealed into a batch (its "batch" is a number). */
static void wait_deposit_sealed(daemon_t *d, int id)
{
    char params[32];
    snprintf(params, sizeof params, "[%d]", id);
    int64_t t0 = now_ms();
    for (;;) {
        bool ok;
        json_object *dep = rpc(d, "zkcar_getDeposit", params, &ok);
        json_object *b;
        bool sealed = dep != NULL && json_object_object_get_ex(dep, "batch", &b) && b != NULL;
        json_object_put(dep);
        if (sealed)
            return;
        if (now_ms() - t0 > 20000)
            fail_msg("deposit %d not sealed in 20 s (log %s)", id, d->log);
        usleep(100000);
    }
}

/* Waits until zkcar_getDeposit(id) answers `status` for transaction `tx`;
 * returns the answer (the caller puts it). */
static json_object *wait_deposit_status(daemon_t *d, int id, const char *status, const char *tx, int timeout_ms)
{
    char params[32];
    snprintf(params, sizeof params, "[%d]", id);
    int64_t t0 = now_ms();
    for (;;) {
        bool ok;
        json_object *dep = rpc(d, "zkcar_getDeposit", params, &ok);
        json_object *v;
        if (dep != NULL && json_object_object_get_ex(dep, "status", &v) && strcmp(json_object_get_string(v), status) == 0
            && json_object_object_get_ex(dep, "l1TxHash", &v) && strcasecmp(json_object_get_string(v), tx) == 0)
            return dep;
        json_object_put(dep);
        if (now_ms() - t0 > timeout_ms)
            fail_msg("deposit %d not %s with tx %s in %d ms (log %s)", id, status, tx, timeout_ms, d->log);
        usleep(100000);
    }
}

/* The fields of a zkcar_getDeposit answer (SPEC §4); `batch` null unless credited and sealed. */
static void check_deposit(json_object *dep, int id, const char *from, const uint8_t to[20], const char *amount,
                          uint64_t block, bool batch_null)
{
    char to_hex[43];
    zk_hex_encode(to_hex, to, 20);
    assert_int_equal(get_int(dep, "depositId"), id);
    assert_int_equal(strcasecmp(get_str(dep, "from"), from), 0);
    assert_int_equal(strcasecmp(get_str(dep, "to"), to_hex), 0);
    assert_string_equal(get_str(dep, "amount"), amount);
    assert_int_equal(get_int(dep, "l1BlockNumber"), (int64_t)block);
    json_object *b;
    assert_true(json_object_object_get_ex(dep, "batch", &b));
    if (batch_null)
        assert_null(b);
}

static void account_balance(daemon_t *d, const uint8_t addr[20], const char *want)
{
    char hex[43], params[64];
    zk_hex_encode(hex, addr, 20);
    snprintf(params, sizeof params, "[\"%s\"]", hex);
    bool ok;
    json_object *a = rpc(d, "zkcar_getAccount", params, &ok);
    assert_non_null(a);
    assert_string_equal(get_str(a, "balance"), want);
    json_object_put(a);
}

static void addr_of(uint8_t out[20], int k)
{
    memset(out, 0, 20);
    out[0] = 0xa0;
    out[19] = (uint8_t)k;
}

static void test_embedded_watcher(void **state)
{
    static l1w_devnet a;
    zk_error_detail e = { 0 };
    if (l1w_devnet_start(&a, &e, false, NULL) != ZK_OK)
        fail_msg("anvil: %s", e.text);
    live_devnet = &a;
    uint64_t deployed;
    if (l1w_devnet_deploy_bridge(&a, &deployed, &e, NULL) != ZK_OK)
        fail_msg("deploy: %s", e.text);
    assert_int_equal(l1w_devnet_mine(&a, &e, 4), ZK_OK);

    daemon_t d;
    daemon_init(&d, &a);
    daemon_start(&d, &a, deployed, false);
    json_object *s = wait_status(&d, "the API", 30000, l1_head_at_least, 1);
    assert_int_equal(get_int(s, "chainId"), 31337);
    assert_int_equal(get_int(s, "lastBatch"), 0);
    json_object_put(s);
    /* More idle connections than the soft open-files limit the daemon was
     * started with: it still answers. */
    {
        enum { NIDLE = DAEMON_SOFT_NOFILE + 100 };
        int *fds = calloc(NIDLE, sizeof *fds);
        assert_non_null(fds);
        for (int i = 0; i < NIDLE; i++) {
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            assert_true(fds[i] >= 0);
            struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d.api_port) };
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0);
        }
        usleep(200000); /* let the server accept them all */
        bool ok = false;
        json_object *st = rpc(&d, "zkcar_status", "[]", &ok);
        assert_true(ok);
        json_object_put(st);
        for (int i = 0; i < NIDLE; i++)
            close(fds[i]);
        free(fds);
    }
    s = wait_status(&d, "the API", 30000, l1_head_at_least, 1);
    json_object_put(s);

    uint8_t x[20], y[20];
    addr_of(x, 1);
    addr_of(y, 2);
    /* Deposit 5 to x: pending_confirmations (--confirmations 3), then its
     * block is reorged away: reorged, and never credited. */
    char tx[67], tx_reorged[67];
    assert_int_equal(l1w_devnet_deposit(&a, tx_reorged, &e, 1, x, 5), ZK_OK);
    uint64_t b;
    assert_int_equal(l1w_devnet_block_number(&a, &b, &e), ZK_OK);
    json_object *dep = wait_deposit_status(&d, 0, "pending_confirmations", tx_reorged, 10000);
    check_deposit(dep, 0, a.accounts[1], x, "5", b, true);
    json_object_put(dep);
    assert_int_equal(l1w_devnet_reorg(&a, &e, 1, 2), ZK_OK);
    dep = wait_deposit_status(&d, 0, "reorged", tx_reorged, 10000);
    check_deposit(dep, 0, a.accounts[1], x, "5", b, true);
    json_object_put(dep);
    assert_int_equal(l1w_devnet_mine(&a, &e, 5), ZK_OK);
    /* Then two deposits that stay: ids 0 and 1 again. Not yet confirmed:
     * pending, and id 0 now names the new deposit. */
    char tx0[67], tx1[67];
    assert_int_equal(l1w_devnet_deposit(&a, tx0, &e, 3, x, 7), ZK_OK);
    uint64_t b0;
    assert_int_equal(l1w_devnet_block_number(&a, &b0, &e), ZK_OK);
    assert_int_equal(l1w_devnet_deposit(&a, tx1, &e, 4, y, 9), ZK_OK);
    dep = wait_deposit_status(&d, 0, "pending_confirmations", tx0, 10000);
    check_deposit(dep, 0, a.accounts[3], x, "7", b0, true);
    json_object_put(dep);
    dep = wait_deposit_status(&d, 1, "pending_confirmations", tx1, 10000);
    check_deposit(dep, 1, a.accounts[4], y, "9", b0 + 1, true);
    json_object_put(dep);
    bool ok;
    json_object *st = rpc(&d, "zkcar_status", "[]", &ok);
    assert_non_null(st);
    assert_int_equal(get_int(st, "nextDepositId"), 0); /* pending is not credited */
    json_object_put(st);
    /* ... and /metrics says the same: two pending, one reorged */
    char *text = scrape(&d);
    assert_non_null(strstr(text, "\nzkcar_deposits_pending 2\n"));
    assert_non_null(strstr(text, "\nzkcar_deposits_reorged_total 1\n"));
    promtool_clean(text);
    free(text);
    assert_int_equal(l1w_devnet_mine(&a, &e, 3), ZK_OK);
    json_object_put(wait_status(&d, "2 deposits credited", 20000, next_deposit_is, 2));
    wait_deposit_sealed(&d, 1);
    account_balance(&d, x, "7");
    account_balance(&d, y, "9");
    dep = wait_deposit_status(&d, 0, "credited", tx0, 1000);
    check_deposit(dep, 0, a.accounts[3], x, "7", b0, false);
    assert_true(get_int(dep, "batch") >= 1);
    json_object_put(dep);
    dep = rpc(&d, "zkcar_getDeposit", "[2]", &ok);
    assert_true(ok);
    assert_null(dep);
    /* SPEC §5's node families on /metrics, and promtool finds nothing to say */
    char *m = scrape(&d);
    assert_non_null(strstr(m, "zkcar_deposits_credited_total 2\n"));
    assert_non_null(strstr(m, "zkcar_l1_head_block "));
    assert_non_null(strstr(m, "zkcar_l1_confirmed_block "));
    assert_non_null(strstr(m, "zkcar_l2_transactions_total{type=\"transfer\",result=\"accepted\"} 0\n"));
    assert_non_null(strstr(m, "zkcar_mempool_transactions 0\n"));
    assert_non_null(strstr(m, "zkcar_accounts "));
    assert_non_null(strstr(m, "zkcar_batches_total{status=\"sealed\"} "));
    assert_non_null(strstr(m, "zkcar_batch_prove_seconds_bucket{le=\"+Inf\"} "));
    promtool_clean(m);
    free(m);

    /* A clean stop (exit 0) and a restart: nothing credited twice. */
    assert_int_equal(daemon_stop(&d, SIGTERM), 0);
    assert_int_equal(l1w_devnet_mine(&a, &e, 2), ZK_OK);
    daemon_start(&d, &a, deployed, false);
    json_object_put(wait_status(&d, "the API after a restart", 30000, next_deposit_is, 2));
    account_balance(&d, x, "7");
    /* One more deposit, then kill -9 and restart: still exactly once. */
    assert_int_equal(l1w_devnet_deposit(&a, tx, &e, 5, y, 11), ZK_OK);
    assert_int_equal(l1w_devnet_mine(&a, &e, 3), ZK_OK);
    json_object_put(wait_status(&d, "deposit 2 credited", 20000, next_deposit_is, 3));
    daemon_stop(&d, SIGKILL);
    daemon_start(&d, &a, deployed, true);
    json_object_put(wait_status(&d, "the API after kill -9", 30000, next_deposit_is, 3));
    assert_int_equal(l1w_devnet_mine(&a, &e, 3), ZK_OK);
    wait_deposit_sealed(&d, 2);
    usleep(500000);
    account_balance(&d, x, "7");
    account_balance(&d, y, "20");
    /* Batches get proven (test_node covers proving at length; here the
     * first artifact, checked with `zkcar verify`). */
    json_object_put(wait_status(&d, "batch 1 proven", 240000, proven_at_least, 1));
    char path[700], line[4096];
    snprintf(path, sizeof path, "%s/batches/1.batch", d.dir);
    const char *const verify[] = { "verify", path, NULL };
    assert_int_equal(run_zkcar(verify, line, sizeof line), 0);
    /* without --keep-jobs, a proven batch's job file is gone */
    struct stat jst;
    snprintf(path, sizeof path, "%s/batches/1.job", d.dir);
    assert_int_equal(stat(path, &jst), -1);
    /* (the clean stop was checked above; now a proof may be in progress) */
    daemon_stop(&d, SIGKILL);

    char name[64];
    if (ipc_region_name(name, sizeof name, d.dir) == ZK_OK)
        shm_unlink(name);
    l1w_devnet_destroy(&a);
    live_devnet = NULL;
}

static pid_t live_watch;

/* `zkcar watch` as its own process, serving the stream on `ep`. */
static pid_t watch_start(l1w_devnet *a, const char *dir, const char *ep, uint64_t from_block, const char *log)
{
    char from[24];
    snprintf(from, sizeof from, "%" PRIu64, from_block);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        dup2(fd, 1);
        const char *argv[] = { zkcar_bin(), "watch", "--l1-rpc", a->ipc_url, "--bridge", a->bridge_hex,
                               "--from-block", from, "--confirmations", "2", "--data-dir", dir,
                               "--stream", ep, "--poll-ms", "100", NULL };
        execv(zkcar_bin(), (char *const *)argv);
        _exit(127);
    }
    live_watch = pid;
    return pid;
}

/* `zkcar run --watcher`: deposits come from a separate `zkcar watch`; a
 * kill -9 of the watcher process and of the daemon loses and repeats nothing. */
static void test_external_watcher(void **state)
{
    static l1w_devnet a;
    zk_error_detail e = { 0 };
    if (l1w_devnet_start(&a, &e, false, NULL) != ZK_OK)
        fail_msg("anvil: %s", e.text);
    live_devnet = &a;
    uint64_t deployed;
    assert_int_equal(l1w_devnet_deploy_bridge(&a, &deployed, &e, NULL), ZK_OK);
    char wdir[600], ep[700], wlog[600];
    snprintf(wdir, sizeof wdir, "%s/watch", a.dir);
    snprintf(ep, sizeof ep, "ipc://%s/stream.sock", a.dir);
    snprintf(wlog, sizeof wlog, "%s/zkcar-watch.log", a.dir);
    pid_t w = watch_start(&a, wdir, ep, deployed, wlog);

    daemon_t d;
    daemon_init(&d, &a);
    daemon_start_with(&d, &a, deployed, ep, false);
    json_object_put(wait_status(&d, "the API", 30000, next_deposit_is, 0));

    uint8_t x[20];
    addr_of(x, 7);
    char tx[67];
    assert_int_equal(l1w_devnet_deposit(&a, tx, &e, 1, x, 3), ZK_OK);
    /* pending_confirmations over the stream (SEEN), then credited */
    uint64_t b;
    assert_int_equal(l1w_devnet_block_number(&a, &b, &e), ZK_OK);
    json_object *dep = wait_deposit_status(&d, 0, "pending_confirmations", tx, 10000);
    check_deposit(dep, 0, a.accounts[1], x, "3", b, true);
    json_object_put(dep);
    assert_int_equal(l1w_devnet_mine(&a, &e, 2), ZK_OK);
    json_object_put(wait_status(&d, "deposit 0 via the stream", 20000, next_deposit_is, 1));
    json_object_put(wait_deposit_status(&d, 0, "credited", tx, 1000));
    /* a deposit seen, then reorged out (REORGED over the stream) */
    char tx_reorged[67];
    assert_int_equal(l1w_devnet_deposit(&a, tx_reorged, &e, 2, x, 100), ZK_OK);
    json_object_put(wait_deposit_status(&d, 1, "pending_confirmations", tx_reorged, 10000));
    assert_int_equal(l1w_devnet_reorg(&a, &e, 1, 3), ZK_OK);
    json_object_put(wait_deposit_status(&d, 1, "reorged", tx_reorged, 10000));
    json_object *s = wait_status(&d, "L1 figures via the stream", 10000, l1_head_at_least, 1);
    json_object_put(s);

    /* kill -9 the watcher; a deposit while it is down; restart it */
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    assert_int_equal(l1w_devnet_deposit(&a, tx, &e, 2, x, 4), ZK_OK);
    assert_int_equal(l1w_devnet_mine(&a, &e, 2), ZK_OK);
    w = watch_start(&a, wdir, ep, deployed, wlog);
    json_object_put(wait_status(&d, "deposit 1 after the watcher's restart", 30000, next_deposit_is, 2));
    dep = wait_deposit_status(&d, 1, "credited", tx, 1000); /* id 1 reused: the 4 gwei one */
    assert_string_equal(get_str(dep, "amount"), "4");
    json_object_put(dep);
    /* kill -9 the daemon; one more deposit; restart it: resumes from its cursor */
    daemon_stop(&d, SIGKILL);
    assert_int_equal(l1w_devnet_deposit(&a, tx, &e, 3, x, 5), ZK_OK);
    assert_int_equal(l1w_devnet_mine(&a, &e, 2), ZK_OK);
    daemon_start_with(&d, &a, deployed, ep, false);
    json_object_put(wait_status(&d, "deposit 2 after the daemon's restart", 30000, next_deposit_is, 3));
    wait_deposit_sealed(&d, 2);
    usleep(300000);
    account_balance(&d, x, "12");
    assert_int_equal(daemon_stop(&d, SIGTERM), 0);
    /* The data directory is this bridge's: another is refused (exit 2), in
     * words an operator knows (not the store's key names). */
    {
        static char out[16384];
        char api[32], metrics[32];
        snprintf(api, sizeof api, "127.0.0.1:%d", d.api_port);
        snprintf(metrics, sizeof metrics, "127.0.0.1:%d", d.metrics_port);
        const char *const other[] = { "run", "--watcher", ep, "--chain-id", "31337", "--bridge",
                                      "0x4242424242424242424242424242424242424242", "--data-dir", d.dir,
                                      "--api", api, "--metrics", metrics, "--bpf", "off", NULL };
        assert_int_equal(run_zkcar_stderr(other, out, sizeof out), 2);
        if (strstr(out, "belongs to another bridge than 0x4242424242424242424242424242424242424242") == NULL)
            fail_msg("unexpected: %s", out);
        /* `zkcar watch --log-format json` that fails at run time (a node of
         * another chain): its last word is a JSON line too */
        char wdir2[700], wep[720];
        snprintf(wdir2, sizeof wdir2, "%s/watch-json", a.dir);
        snprintf(wep, sizeof wep, "ipc://%s/watch-json.sock", a.dir);
        const char *const wrong_chain[] = { "watch", "--l1-rpc", a.ipc_url, "--bridge", a.bridge_hex, "--chain-id",
                                            "1", "--data-dir", wdir2, "--stream", wep,
                                            "--log-format", "json", NULL };
        assert_int_equal(run_zkcar_stderr(wrong_chain, out, sizeof out), 1);
        json_lines(out, "chain");
    }
    kill(w, SIGTERM);
    int st;
    waitpid(w, &st, 0);
    live_watch = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char name[64];
    if (ipc_region_name(name, sizeof name, d.dir) == ZK_OK)
        shm_unlink(name);
    l1w_devnet_destroy(&a);
    live_devnet = NULL;
}

/* Occurrences of `needle` in the file at `path` after the first `after`
 * (from the start when `after` is NULL); -1 when `after` is not there. */
static int log_count(const char *path, const char *after, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return after != NULL ? -1 : 0;
    char line[2048];
    bool counting = after == NULL;
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (!counting && strstr(line, after) != NULL)
            counting = true;
        else if (counting && strstr(line, needle) != NULL)
            n++;
    }
    fclose(f);
    return counting ? n : -1;
}

/* SIGINT in the middle of a catch-up: the watcher has committed hundreds of
 * deposits to its outbox at once and hands them to the node one by one. The
 * stop must not wait for them all (they stay in the outbox): exit 0 at
 * once, and the next start credits the rest, each exactly once. */
static void test_stop_during_catchup(void **state)
{
    enum { NDEP = 1000, NADDR = 50 };
    static l1w_devnet a;
    zk_error_detail e = { 0 };
    if (l1w_devnet_start(&a, &e, false, NULL) != ZK_OK)
        fail_msg("anvil: %s", e.text);
    live_devnet = &a;
    uint64_t deployed;
    assert_int_equal(l1w_devnet_deploy_bridge(&a, &deployed, &e, NULL), ZK_OK);
    assert_int_equal(l1w_devnet_automine(&a, &e, false), ZK_OK);
    for (int i = 0; i < NDEP; i++) {
        uint8_t to[20];
        char tx[67];
        addr_of(to, i % NADDR);
        if (l1w_devnet_deposit(&a, tx, &e, i % 9 + 1, to, 1) != ZK_OK)
            fail_msg("deposit %d: %s", i, e.text);
        if ((i + 1) % 100 == 0)
            assert_int_equal(l1w_devnet_mine(&a, &e, 1), ZK_OK);
    }
    assert_int_equal(l1w_devnet_automine(&a, &e, true), ZK_OK);
    assert_int_equal(l1w_devnet_mine(&a, &e, 3), ZK_OK);

    daemon_t d;
    daemon_init(&d, &a);
    daemon_start(&d, &a, deployed, false);
    int64_t t0 = now_ms();
    while (log_count(d.log, NULL, "msg=\"deposit credited\"") < 1) {
        if (now_ms() - t0 > 60000)
            fail_msg("no deposit credited in 60 s (log %s)", d.log);
        usleep(2000);
    }
    assert_int_equal(daemon_stop(&d, SIGINT), 0);
    /* Before the fix every committed deposit was credited after "stopping"
     * (seconds of fsyncs); now the one in hand, or a few more when the main
     * thread is descheduled between its log line and the stop flag. */
    int after = log_count(d.log, "msg=stopping", "msg=\"deposit credited\"");
    print_message("credited before the stop: %d of %d; after: %d\n",
                  log_count(d.log, NULL, "msg=\"deposit credited\"") - after, NDEP, after);
    if (after < 0 || after > 50)
        fail_msg("%d deposits credited after the stop began (log %s)", after, d.log);
    assert_int_equal(log_count(d.log, "msg=stopping", "msg=\"zkcar run stopped\" exit=0"), 1);

    /* The next start first replays the outbox, a credit (an fsync) each:
     * SIGINT in the middle stops it between two deposits, exit 0. */
    int before = log_count(d.log, NULL, "msg=\"deposit credited\"");
    daemon_start(&d, &a, deployed, false);
    t0 = now_ms();
    while (log_count(d.log, NULL, "msg=\"deposit credited\"") == before) {
        if (now_ms() - t0 > 60000)
            fail_msg("no deposit replayed in 60 s (log %s)", d.log);
        usleep(1000);
    }
    assert_int_equal(daemon_stop(&d, SIGINT), 0);
    const char *mark = "msg=\"stopping during the outbox replay";
    if (log_count(d.log, NULL, mark) == 1) {
        int late = log_count(d.log, mark, "msg=\"deposit credited\"");
        print_message("replay stopped after %d deposits; after the stop: %d\n",
                      log_count(d.log, NULL, "msg=\"deposit credited\"") - before, late);
        assert_int_equal(late, 0);
        assert_int_equal(log_count(d.log, mark, "msg=\"zkcar run started\""), 0);
    } else {
        print_message("the replay ended before the signal: not exercised this time\n");
    }

    daemon_start(&d, &a, deployed, false);
    json_object_put(wait_status(&d, "every deposit after the restart", 120000, next_deposit_is, NDEP));
    wait_deposit_sealed(&d, NDEP - 1);
    uint8_t x[20];
    char want[16];
    snprintf(want, sizeof want, "%d", NDEP / NADDR);
    addr_of(x, 0);
    account_balance(&d, x, want);
    addr_of(x, NADDR - 1);
    account_balance(&d, x, want);
    assert_int_equal(daemon_stop(&d, SIGTERM), 0);
    char name[64];
    if (ipc_region_name(name, sizeof name, d.dir) == ZK_OK)
        shm_unlink(name);
    l1w_devnet_destroy(&a);
    live_devnet = NULL;
}

static int teardown(void **state)
{
    if (live_watch > 0) {
        kill(live_watch, SIGKILL);
        waitpid(live_watch, NULL, 0);
        live_watch = 0;
    }
    if (live_daemon > 0) {
        kill(live_daemon, SIGKILL);
        waitpid(live_daemon, NULL, 0);
        live_daemon = 0;
    }
    if (live_devnet != NULL) {
        l1w_devnet_destroy(live_devnet);
        live_devnet = NULL;
    }
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_json_failure),
        cmocka_unit_test(test_endpoint_errors),
        cmocka_unit_test_teardown(test_embedded_watcher, teardown),
        cmocka_unit_test_teardown(test_external_watcher, teardown),
        cmocka_unit_test_teardown(test_stop_during_catchup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
