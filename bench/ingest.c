/*
 * bench/ingest.c — the sidecar API benchmarks (issue 7), over loopback HTTP
 * against a real node (sidecar/node.h) on a temporary data directory.
 *
 *   zkcar bench ingest  accepted_tx_per_s, ack_p99_ms
 *       Signed transfers sent as zkcar_sendTransaction over many keep-alive
 *       connections, each answered only once validated (form, range,
 *       signature, nonce, balance) and durable. The transactions are signed
 *       before the clock starts; the client is a small epoll loop in this
 *       process (one thread), the server uses both cores. The node seals
 *       batches as usual but proves nothing (prover threads 0), so the
 *       figure is the ingest path alone.
 *       Flags: --txs N (default 60000), --connections C (64), --quick.
 *       Each connection has one request in flight (closed loop), so by
 *       Little's law the latency is connections / throughput: 64 already
 *       saturates both cores (docs/BENCHMARKS.md has the sweep), and more
 *       connections add queueing, not throughput.
 *
 *   zkcar bench api     get_account_req_per_s, p99_ms
 *       zkcar_getAccount over HTTP measured by wrk (Debian package wrk) with a
 *       Lua script cycling through the funded accounts; wrk's own latency
 *       distribution gives p99.
 *       Flags: --seconds S (10), --connections C (32), --threads T (1), --quick.
 *
 *   zkcar bench e2e     tx_to_proven_s_p50, tx_to_proven_s_p90
 *       Transfers at a steady rate (default 200/s) over HTTP into a node with
 *       in-process provers (default batch size and interval); the time from
 *       sending each transaction to the moment the API reports it `proven`.
 *       Flags: --rate R (200), --seconds S (20), --prover-threads N (2), --quick.
 *
 * Each bench records the machine in its output; figures from a shared
 * machine are noisy: run several times and take the median.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/state.h"
#include "sidecar/api.h"
#include "sidecar/node.h"

#define BENCH_CHAIN_ID 31337
#define HTTP_RESPONSE_MAX 16384 /* longest response the client accepts, bytes */
#define FUND_GWEI (UINT64_C(1) << 50)

/* ---- a node on a temporary directory ------------------------------------------------- */

typedef struct bench_node {
    char dir[64];
    sc_node *node;
    sc_api *api;
    uint8_t bridge[20];
    zk_eip712_domain domain;
    size_t naccounts;
    uint8_t (*keys)[32];
    uint8_t (*addrs)[20];
} bench_node;

static void bench_node_close(bench_node *b)
{
    if (b->api != NULL)
        sc_api_destroy(b->api);
    if (b->node != NULL) {
        sc_node_stop(b->node);
        sc_node_close(b->node);
    }
    if (b->dir[0] != '\0') {
        char name[128];
        if (ipc_region_name(name, sizeof name, b->dir) == ZK_OK)
            shm_unlink(name);
        zk_file_remove_tree(b->dir);
    }
    free(b->keys);
    free(b->addrs);
    memset(b, 0, sizeof *b);
}

static bool credited(bench_node *b, uint64_t amount)
{
    for (size_t i = 0; i < b->naccounts; i++) {
        sc_account_view v;
        sc_node_get_account(b->node, b->addrs[i], &v);
        if (!v.exists || v.balance < amount)
            return false;
    }
    return true;
}

/* Opens a node, funds `naccounts` keys with deposits, waits until they are
 * spendable, and starts the API on a free loopback port. */
static int bench_node_open(bench_node *b, const char *what, size_t naccounts, unsigned prover_threads)
{
    zk_error_detail err = { 0 };
    /* The node's per-batch info lines would drown the figures. */
    zk_log_set_level(ZK_LOG_WARN);
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/zkcar-bench-%s-XXXXXX", what);
    if (mkdtemp(b->dir) == NULL) {
        fprintf(stderr, "zkcar bench %s: mkdtemp: %s\n", what, strerror(errno));
        b->dir[0] = '\0';
        return 1;
    }
    memset(b->bridge, 0xbb, sizeof b->bridge);
    zk_eip712_domain_zkcar(&b->domain, BENCH_CHAIN_ID, b->bridge);
    sc_config cfg;
    sc_config_defaults(&cfg);
    cfg.data_dir = b->dir;
    cfg.chain_id = BENCH_CHAIN_ID;
    memcpy(cfg.bridge, b->bridge, 20);
    cfg.prover_threads = prover_threads;
    cfg.state_capacity = (uint32_t)(2 * naccounts + 1024);
    if (sc_node_open(&b->node, &cfg, &err) != ZK_OK || sc_node_start(b->node, &err) != ZK_OK) {
        fprintf(stderr, "zkcar bench %s: node: %s (%s)\n", what, err.text, zk_strerror(err.code));
        return 1;
    }
    b->naccounts = naccounts;
    b->keys = calloc(naccounts, 32);
    b->addrs = calloc(naccounts, 20);
    if (b->keys == NULL || b->addrs == NULL)
        return 1;
    if (sc_node_set_stream_id(b->node, 1, &err) != ZK_OK) {
        fprintf(stderr, "zkcar bench %s: stream id: %s\n", what, err.text);
        return 1;
    }
    for (size_t i = 0; i < naccounts; i++) {
        uint64_t seed = i + 1;
        zk_keccak256(b->keys[i], &seed, sizeof seed);
        if (zk_sig_seckey_address(b->addrs[i], NULL, b->keys[i]) != ZK_OK)
            return 1;
        l1w_record rec;
        memset(&rec, 0, sizeof rec);
        rec.seq = i + 1;
        rec.deposit.deposit_id = i;
        rec.deposit.amount_gwei = FUND_GWEI;
        rec.deposit.block_number = 1 + i / 16;
        rec.deposit.log_index = i % 16;
        zk_keccak256(rec.deposit.tx_hash, &seed, sizeof seed - 1);
        memcpy(rec.deposit.block_hash, rec.deposit.tx_hash, 32);
        memcpy(rec.deposit.from, b->addrs[i], 20);
        memcpy(rec.deposit.to, b->addrs[i], 20);
        if (sc_node_deposit(b->node, &rec, &err) != ZK_OK) {
            fprintf(stderr, "zkcar bench %s: deposit %zu: %s\n", what, i, err.text);
            return 1;
        }
    }
    uint64_t t0 = zkb_now_ns();
    while (!credited(b, FUND_GWEI)) {
        if (zkb_now_ns() - t0 > UINT64_C(120) * 1000000000u) {
            fprintf(stderr, "zkcar bench %s: the deposits were not credited within 120 s\n", what);
            return 1;
        }
        usleep(20000);
    }
    if (sc_api_create(&b->api, b->node, NULL, NULL) != ZK_OK ||
        sc_api_start(b->api, "127.0.0.1:0", &err) != ZK_OK) {
        fprintf(stderr, "zkcar bench %s: api: %s\n", what, err.text);
        return 1;
    }
    return 0;
}

/* A signed transfer from account `from` with `nonce`, as an HTTP request. */
typedef struct prepared {
    char *text;
    size_t len;
    uint8_t hash[32];
} prepared;

static int prepare_transfer(prepared *p, bench_node *b, size_t from, size_t to, uint32_t nonce, uint64_t id)
{
    zk_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = ZK_TX_TRANSFER;
    memcpy(tx.from, b->addrs[from], 20);
    memcpy(tx.to, b->addrs[to], 20);
    tx.amount = 1000 + (nonce % 7);
    tx.fee = 1;
    tx.nonce = nonce;
    zk_tx_hash(p->hash, &tx, &b->domain);
    if (zk_sig_sign(tx.sig, NULL, p->hash, b->keys[from]) != ZK_OK)
        return 1;
    struct json_object *params = NULL;
    if (zk_tx_to_params(&params, &tx) != ZK_OK)
        return 1;
    char body[1024];
    int blen = snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"zkcar_sendTransaction\",\"params\":[%s]}",
                        id, json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN));
    json_object_put(params);
    if (blen <= 0 || (size_t)blen >= sizeof body)
        return 1;
    char head[160];
    int hlen = snprintf(head, sizeof head,
                        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n",
                        blen);
    p->len = (size_t)hlen + (size_t)blen;
    p->text = malloc(p->len + 1);
    if (p->text == NULL)
        return 1;
    memcpy(p->text, head, (size_t)hlen);
    memcpy(p->text + hlen, body, (size_t)blen + 1);
    return 0;
}

/* ---- a minimal keep-alive HTTP/1.1 client on epoll --------------------------------------- */

typedef struct hconn {
    int fd;
    size_t *queue;       /* request indices in sending order */
    size_t nqueue, next;
    long cur;            /* index in flight, -1 when idle */
    size_t sent;
    char buf[HTTP_RESPONSE_MAX + 1];
    size_t got;
} hconn;

typedef struct hresult {
    uint64_t t_send, t_ack;  /* ns */
    int code;                /* 0 accepted, else the JSON-RPC error code (or -1: HTTP failure) */
} hresult;

typedef struct hclient {
    int ep;
    hconn *conns;
    size_t nconns;
    prepared *reqs;
    hresult *res;
    /* paced mode: request i may start at start_ns + i * interval_ns */
    uint64_t start_ns, interval_ns;
    size_t next_global, nglobal;
    size_t done, accepted;
    char first_error[256];
} hclient;

static int connect_loopback(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int conn_send(hclient *c, hconn *k)
{
    prepared *p = &c->reqs[k->cur];
    while (k->sent < p->len) {
        ssize_t n = write(k->fd, p->text + k->sent, p->len - k->sent);
        if (n < 0) {
            if (errno == EAGAIN)
                return 0; /* EPOLLOUT continues */
            return -1;
        }
        k->sent += (size_t)n;
    }
    return 0;
}

static int conn_start(hclient *c, hconn *k, size_t idx)
{
    k->cur = (long)idx;
    k->sent = 0;
    k->got = 0;
    c->res[idx].t_send = zkb_now_ns();
    return conn_send(c, k);
}

/* A complete response in k->buf: its status and body. 1 when complete, 0 when
 * more is needed, -1 when malformed. */
static int parse_response(hconn *k, int *status, const char **body, size_t *blen)
{
    k->buf[k->got] = '\0';
    char *end = strstr(k->buf, "\r\n\r\n");
    if (end == NULL)
        return k->got >= HTTP_RESPONSE_MAX ? -1 : 0;
    if (strncmp(k->buf, "HTTP/1.1 ", 9) != 0)
        return -1;
    *status = (int)strtol(k->buf + 9, NULL, 10);
    size_t clen = 0;
    for (char *h = strstr(k->buf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
            clen = (size_t)strtoull(h + 17, NULL, 10);
    }
    size_t head = (size_t)(end - k->buf) + 4;
    if (head + clen > HTTP_RESPONSE_MAX)
        return -1;
    if (k->got < head + clen)
        return 0;
    *body = k->buf + head;
    *blen = clen;
    return 1;
}

static void record(hclient *c, hconn *k, int status, const char *body, size_t blen)
{
    hresult *r = &c->res[k->cur];
    r->t_ack = zkb_now_ns();
    char save = body[blen];
    ((char *)body)[blen] = '\0';
    if (status == 200 && strstr(body, "\"result\"") != NULL) {
        r->code = 0;
        c->accepted++;
    } else {
        const char *cp = strstr(body, "\"code\":");
        r->code = cp ? (int)strtol(cp + 7, NULL, 10) : -1;
        if (c->first_error[0] == '\0')
            snprintf(c->first_error, sizeof c->first_error, "HTTP %d: %s", status, body);
    }
    ((char *)body)[blen] = save;
    c->done++;
    k->cur = -1;
}

/* The next request for an idle connection: its own queue, or (paced) the
 * global sequence once its time has come. */
static long next_request(hclient *c, hconn *k, uint64_t now)
{
    if (k->queue != NULL)
        return k->next < k->nqueue ? (long)k->queue[k->next++] : -1;
    if (c->next_global < c->nglobal && now >= c->start_ns + c->next_global * c->interval_ns)
        return (long)c->next_global++;
    return -1;
}

/* Runs until every request is answered. Returns 0, or 1 on a broken
 * connection. */
static int client_run(hclient *c, size_t total)
{
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = zkb_now_ns();
        for (size_t i = 0; i < c->nconns; i++) {
            hconn *k = &c->conns[i];
            if (k->cur >= 0)
                continue;
            long idx = next_request(c, k, now);
            if (idx >= 0 && conn_start(c, k, (size_t)idx) != 0)
                return 1;
        }
        if (c->done == total)
            return 0;
        int timeout = -1;
        if (c->interval_ns != 0 && c->next_global < c->nglobal) {
            uint64_t due = c->start_ns + c->next_global * c->interval_ns;
            timeout = due > now ? (int)((due - now) / 1000000u) : 0;
        }
        int n = epoll_wait(c->ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < n; i++) {
            hconn *k = evs[i].data.ptr;
            if (k->cur < 0)
                continue;
            if (evs[i].events & EPOLLOUT && conn_send(c, k) != 0)
                return 1;
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            for (;;) {
                ssize_t r = read(k->fd, k->buf + k->got, HTTP_RESPONSE_MAX - k->got);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    fprintf(stderr, "zkcar bench: the server closed a connection\n");
                    return 1;
                }
                k->got += (size_t)r;
                int status = 0;
                const char *body = NULL;
                size_t blen = 0;
                int pr = parse_response(k, &status, &body, &blen);
                if (pr < 0) {
                    fprintf(stderr, "zkcar bench: malformed HTTP response\n");
                    return 1;
                }
                if (pr == 1) {
                    record(c, k, status, body, blen);
                    break;
                }
            }
        }
    }
}

static int client_open(hclient *c, uint16_t port, size_t nconns)
{
    c->ep = epoll_create1(EPOLL_CLOEXEC);
    c->conns = calloc(nconns, sizeof *c->conns);
    if (c->ep < 0 || c->conns == NULL)
        return 1;
    c->nconns = nconns;
    for (size_t i = 0; i < nconns; i++) {
        hconn *k = &c->conns[i];
        k->cur = -1;
        k->fd = connect_loopback(port);
        if (k->fd < 0) {
            fprintf(stderr, "zkcar bench: connect: %s\n", strerror(errno));
            return 1;
        }
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = k };
        if (epoll_ctl(c->ep, EPOLL_CTL_ADD, k->fd, &ev) != 0)
            return 1;
    }
    return 0;
}

static void client_close(hclient *c)
{
    for (size_t i = 0; c->conns != NULL && i < c->nconns; i++) {
        if (c->conns[i].fd > 0)
            close(c->conns[i].fd);
        free(c->conns[i].queue);
    }
    free(c->conns);
    if (c->ep > 0)
        close(c->ep);
}

static double percentile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    zkb_median(v, (int)n); /* sorts */
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- zkcar bench ingest ---------------------------------------------------------------- */

int zkb_ingest(zkb_report *r, int argc, char **argv)
{
    size_t ntx = 60000, nconns = 64;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            ntx = 4000;
            nconns = 32;
        } else if (strcmp(argv[i], "--txs") == 0 && i + 1 < argc) {
            ntx = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
            nconns = strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "zkcar bench ingest: unknown flag %s (flags: --txs N, --connections C, --quick, --json)\n",
                    argv[i]);
            return 2;
        }
    }
    if (ntx == 0 || nconns == 0 || nconns > 4096 || ntx > 10000000) {
        fprintf(stderr, "zkcar bench ingest: --txs 1..10^7, --connections 1..4096\n");
        return 2;
    }
    /* Accounts per connection: each connection sends its accounts' transfers
     * in nonce order, one at a time; 4 accounts each keep the nonces apart. */
    size_t per_conn = 4, naccounts = nconns * per_conn;
    int rc = 1;
    bench_node b;
    hclient c;
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    prepared *reqs = calloc(ntx, sizeof *reqs);
    hresult *res = calloc(ntx, sizeof *res);
    double *lat = calloc(ntx, sizeof *lat);
    if (reqs == NULL || res == NULL || lat == NULL)
        goto cleanup;
    if (bench_node_open(&b, "ingest", naccounts, 0) != 0)
        goto cleanup;
    if (client_open(&c, sc_api_port(b.api), nconns) != 0)
        goto cleanup;
    for (size_t k = 0; k < nconns; k++) {
        c.conns[k].queue = calloc(ntx / nconns + 1, sizeof(size_t));
        if (c.conns[k].queue == NULL)
            goto cleanup;
    }
    /* Transfer i: connection i % nconns, its account (i / nconns) % per_conn,
     * nonce i / naccounts; to the next account. Signed now, before timing. */
    for (size_t i = 0; i < ntx; i++) {
        size_t k = i % nconns, slot = (i / nconns) % per_conn;
        size_t from = k * per_conn + slot;
        if (prepare_transfer(&reqs[i], &b, from, (from + 1) % naccounts, (uint32_t)(i / naccounts), i + 1) != 0)
            goto cleanup;
        c.conns[k].queue[c.conns[k].nqueue++] = i;
    }
    c.reqs = reqs;
    c.res = res;
    uint64_t t0 = zkb_now_ns();
    if (client_run(&c, ntx) != 0)
        goto cleanup;
    double secs = (double)(zkb_now_ns() - t0) / 1e9;
    size_t nlat = 0;
    for (size_t i = 0; i < ntx; i++)
        if (res[i].code == 0)
            lat[nlat++] = (double)(res[i].t_ack - res[i].t_send) / 1e6;
    if (c.accepted != ntx)
        fprintf(stderr, "zkcar bench ingest: %zu of %zu refused; first: %s\n", ntx - c.accepted, ntx, c.first_error);
    zkb_report_num(r, "accepted_tx_per_s", (double)c.accepted / secs);
    double p50 = percentile(lat, nlat, 0.50);
    double p99 = percentile(lat, nlat, 0.99);
    zkb_report_num(r, "ack_p99_ms", p99);
    zkb_report_num(r, "ack_p50_ms", p50);
    zkb_report_num(r, "txs_sent", (double)ntx);
    zkb_report_num(r, "txs_refused", (double)(ntx - c.accepted));
    zkb_report_num(r, "connections", (double)nconns);
    rc = c.accepted == ntx ? 0 : 1;
cleanup:
    client_close(&c);
    bench_node_close(&b);
    for (size_t i = 0; reqs != NULL && i < ntx; i++)
        free(reqs[i].text);
    free(reqs);
    free(res);
    free(lat);
    return rc;
}

/* ---- zkcar bench api (wrk) ----------------------------------------------------------- */

/* Runs `argv` with stdout captured into `out`; returns the exit status. */
static int run_capture(char *const argv[], char *out, size_t cap)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    for (;;) {
        ssize_t k = read(pfd[0], out + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n == cap - 1)
            break;
    }
    out[n] = '\0';
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* wrk prints durations as 1.23us, 4.56ms, 1.00s, 2.00m: in milliseconds. */
static double wrk_ms(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == NULL || end == s)
        return -1;
    if (strncmp(end, "us", 2) == 0)
        return v / 1000;
    if (strncmp(end, "ms", 2) == 0)
        return v;
    if (strncmp(end, "s", 1) == 0)
        return v * 1000;
    if (strncmp(end, "m", 1) == 0)
        return v * 60000;
    return -1;
}

int zkb_api(zkb_report *r, int argc, char **argv)
{
    unsigned seconds = 10, nconns = 32, threads = 1;
    size_t naccounts = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            seconds = 3;
            naccounts = 100;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
            nconns = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "zkcar bench api: unknown flag %s (flags: --seconds S, --connections C, --threads T, "
                            "--quick, --json)\n", argv[i]);
            return 2;
        }
    }
    if (seconds == 0 || seconds > 3600 || nconns == 0 || nconns > 4096 || threads == 0 || threads > nconns) {
        fprintf(stderr, "zkcar bench api: --seconds 1..3600, --connections 1..4096, --threads 1..C\n");
        return 2;
    }
    int rc = 1;
    bench_node b;
    memset(&b, 0, sizeof b);
    char script[] = "/tmp/zkcar-bench-wrk-XXXXXX";
    int sfd = -1;
    char *out = malloc(65536);
    if (out == NULL)
        return 1;
    if (bench_node_open(&b, "api", naccounts, 0) != 0)
        goto cleanup;
    /* The Lua script: POST bodies for every funded account, cycled. */
    sfd = mkstemp(script);
    FILE *f = sfd >= 0 ? fdopen(sfd, "w") : NULL;
    if (f == NULL)
        goto cleanup;
    sfd = -1;
    fprintf(f, "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nlocal bodies = {\n");
    for (size_t i = 0; i < naccounts; i++) {
        char a[43];
        zk_address_format(a, b.addrs[i]);
        fprintf(f, "  '{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"zkcar_getAccount\",\"params\":[\"%s\"]}',\n", i + 1, a);
    }
    fprintf(f, "}\nlocal reqs = {}\nfor i, body in ipairs(bodies) do reqs[i] = wrk.format(nil, \"/\", nil, body) end\n"
               "local n = 0\nrequest = function()\n  n = n %% #reqs + 1\n  return reqs[n]\nend\n"
               "local errors = 0\nresponse = function(status, headers, body)\n"
               "  if status ~= 200 or not string.find(body, '\"balance\"', 1, true) then errors = errors + 1 end\nend\n");
    fclose(f);
    char url[64], dur[16], conns[16], thr[16];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)sc_api_port(b.api));
    snprintf(dur, sizeof dur, "%us", seconds);
    snprintf(conns, sizeof conns, "%u", nconns);
    snprintf(thr, sizeof thr, "%u", threads);
    char *wargv[] = { "wrk", "-t", thr, "-c", conns, "-d", dur, "--latency", "-s", script, url, NULL };
    int st = run_capture(wargv, out, 65536);
    if (st == 127) {
        fprintf(stderr, "zkcar bench api: wrk is not installed (Debian package wrk; scripts/setup.sh installs it)\n");
        goto cleanup;
    }
    if (st != 0) {
        fprintf(stderr, "zkcar bench api: wrk exited with %d:\n%s\n", st, out);
        goto cleanup;
    }
    const char *rps = strstr(out, "Requests/sec:");
    const char *p99 = strstr(out, "     99%");
    const char *p50 = strstr(out, "     50%");
    if (rps == NULL || p99 == NULL || p50 == NULL) {
        fprintf(stderr, "zkcar bench api: cannot read wrk's output:\n%s\n", out);
        goto cleanup;
    }
    if (strstr(out, "Non-2xx") != NULL || strstr(out, "Socket errors") != NULL)
        fprintf(stderr, "zkcar bench api: wrk saw errors:\n%s\n", out);
    double req_s = strtod(rps + 13, NULL);
    double ms99 = wrk_ms(p99 + 8 + strspn(p99 + 8, " "));
    double ms50 = wrk_ms(p50 + 8 + strspn(p50 + 8, " "));
    zkb_report_num(r, "get_account_req_per_s", req_s);
    zkb_report_num(r, "p99_ms", ms99);
    zkb_report_num(r, "p50_ms", ms50);
    zkb_report_num(r, "connections", nconns);
    zkb_report_num(r, "wrk_threads", threads);
    rc = 0;
cleanup:
    if (sfd >= 0)
        close(sfd);
    unlink(script);
    bench_node_close(&b);
    free(out);
    return rc;
}

/* ---- zkcar bench e2e ------------------------------------------------------------------- */

/* Polls the node's last proven batch and stamps each batch's proof time. */
typedef struct follower {
    sc_node *node;
    pthread_t thread;
    _Atomic uint64_t *proven_ns; /* [batch] = when it was first seen proven (0: not yet) */
    size_t cap;
    atomic_bool stop;
} follower;

static void *follow_batches(void *arg)
{
    follower *f = arg;
    uint64_t seen = 0;
    while (!atomic_load(&f->stop)) {
        sc_status_view st;
        sc_node_status(f->node, &st);
        uint64_t now = zkb_now_ns();
        for (; seen < st.last_proven_batch && seen + 1 < f->cap; seen++)
            atomic_store(&f->proven_ns[seen + 1], now);
        usleep(2000);
    }
    return NULL;
}

int zkb_e2e(zkb_report *r, int argc, char **argv)
{
    unsigned rate = 200, seconds = 20, provers = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            seconds = 5;
        } else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
            rate = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--prover-threads") == 0 && i + 1 < argc) {
            provers = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "zkcar bench e2e: unknown flag %s (flags: --rate R, --seconds S, --prover-threads N, "
                            "--quick, --json)\n", argv[i]);
            return 2;
        }
    }
    if (rate == 0 || rate > 100000 || seconds == 0 || seconds > 3600 || provers == 0 || provers > 64) {
        fprintf(stderr, "zkcar bench e2e: --rate 1..100000, --seconds 1..3600, --prover-threads 1..64\n");
        return 2;
    }
    size_t ntx = (size_t)rate * seconds;
    /* Enough accounts that one account's consecutive transfers are a second
     * apart: never two of them in flight at once. */
    size_t naccounts = rate < 16 ? 16 : rate;
    size_t nconns = 16;
    int rc = 1;
    bench_node b;
    hclient c;
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    prepared *reqs = calloc(ntx, sizeof *reqs);
    hresult *res = calloc(ntx, sizeof *res);
    double *lat = calloc(ntx, sizeof *lat);
    uint64_t *proven_at = calloc(ntx, sizeof *proven_at);
    if (reqs == NULL || res == NULL || lat == NULL || proven_at == NULL)
        goto cleanup;
    if (bench_node_open(&b, "e2e", naccounts, provers) != 0)
        goto cleanup;
    if (client_open(&c, sc_api_port(b.api), nconns) != 0)
        goto cleanup;
    for (size_t i = 0; i < ntx; i++) {
        size_t from = i % naccounts;
        if (prepare_transfer(&reqs[i], &b, from, (from + 1) % naccounts, (uint32_t)(i / naccounts), i + 1) != 0)
            goto cleanup;
    }
    c.reqs = reqs;
    c.res = res;
    c.nglobal = ntx;
    c.interval_ns = 1000000000u / rate;
    /* A follower thread notes when each batch becomes proven while the
     * client is still sending (reading the times only after the run would
     * charge every early transaction with the rest of the run). */
    follower fw;
    memset(&fw, 0, sizeof fw);
    fw.node = b.node;
    fw.cap = 1u << 16;
    fw.proven_ns = calloc(fw.cap, sizeof *fw.proven_ns);
    if (fw.proven_ns == NULL || pthread_create(&fw.thread, NULL, follow_batches, &fw) != 0) {
        free(fw.proven_ns);
        goto cleanup;
    }
    c.start_ns = zkb_now_ns();
    int crc = client_run(&c, ntx);
    /* Wait until every accepted transaction's batch is proven. */
    uint64_t deadline = zkb_now_ns() + UINT64_C(600) * 1000000000u;
    size_t first = 0;
    while (crc == 0 && first < ntx && zkb_now_ns() < deadline) {
        sc_tx_view v;
        if (res[first].code != 0) {
            first++;
        } else if (sc_node_get_tx(b.node, reqs[first].hash, &v) && v.status == SC_TX_PROVEN &&
                   v.batch < fw.cap && atomic_load(&fw.proven_ns[v.batch]) != 0) {
            proven_at[first++] = atomic_load(&fw.proven_ns[v.batch]);
        } else {
            usleep(10000);
        }
    }
    atomic_store(&fw.stop, true);
    pthread_join(fw.thread, NULL);
    free(fw.proven_ns);
    if (crc != 0)
        goto cleanup;
    if (first < ntx) {
        fprintf(stderr, "zkcar bench e2e: %zu transactions not proven within 600 s\n", ntx - first);
        goto cleanup;
    }
    size_t n = 0;
    for (size_t i = 0; i < ntx; i++)
        if (res[i].code == 0)
            lat[n++] = (double)(proven_at[i] - res[i].t_send) / 1e9;
    if (c.accepted != ntx)
        fprintf(stderr, "zkcar bench e2e: %zu of %zu refused; first: %s\n", ntx - c.accepted, ntx, c.first_error);
    double p50 = percentile(lat, n, 0.5), p90 = percentile(lat, n, 0.9);
    zkb_report_num(r, "tx_to_proven_s_p50", p50);
    zkb_report_num(r, "tx_to_proven_s_p90", p90);
    zkb_report_num(r, "rate_tx_per_s", rate);
    zkb_report_num(r, "txs_sent", (double)ntx);
    zkb_report_num(r, "prover_threads", provers);
    rc = c.accepted == ntx ? 0 : 1;
cleanup:
    client_close(&c);
    bench_node_close(&b);
    for (size_t i = 0; reqs != NULL && i < ntx; i++)
        free(reqs[i].text);
    free(reqs);
    free(res);
    free(lat);
    free(proven_at);
    return rc;
}
