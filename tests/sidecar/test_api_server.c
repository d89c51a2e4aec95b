/*
 * tests/sidecar/test_api_server.c — the API server under concurrency, over
 * real HTTP against a real node (api_fixture.h): a zkcar_sendTransaction is
 * answered once durable while its connection waits suspended, holding no
 * thread; many clients at once, bodies with several transactions, clients
 * that stall or hang up, and a stop in the middle of a stream.
 */
#include "tests/sidecar/api_fixture.h"

static tnode g_srv;

static int group_setup(void **state)
{
    memset(g_bridge, 0xbb, 20);
    zk_eip712_domain_zkcar(&g_domain, CHAIN_ID, g_bridge);
    tnode_open(&g_srv, "server", NACCOUNTS, 4096, 1024, 100, 1000);
    return 0;
}

static int group_teardown(void **state)
{
    tnode_close(&g_srv);
    return 0;
}

/* ---- many concurrent clients ------------------------------------------------------------- */

typedef struct worker_arg {
    tnode *t;
    size_t idx;
    int ok;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    tnode *t = w->t;
    char a[43], body[512];
    zk_address_format(a, t->addrs[w->idx % t->naccounts]);
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getAccount\",\"params\":[\"%s\"]}", a);
    CURL *c = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)t->port);
    for (int i = 0; i < 40; i++) {
        reply r;
        memset(&r, 0, sizeof r);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
            status == 200 && r.body != NULL && strstr(r.body, "\"balance\"") != NULL)
            w->ok++;
        free(r.body);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    enum { NTHREADS = 24 };
    pthread_t th[NTHREADS];
    worker_arg args[NTHREADS];
    for (size_t i = 0; i < NTHREADS; i++) {
        args[i] = (worker_arg){ .t = &g_srv, .idx = i };
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    /* meanwhile, transactions from this thread go through */
    tnode *t = &g_srv;
    uint64_t bal;
    int64_t nonce;
    get_account(t, t->addrs[7], &bal, &nonce);
    for (int i = 0; i < 5; i++) {
        zk_tx tx;
        signed_tx(&tx, ZK_TX_TRANSFER, t->keys[7], t->addrs[0], 1, 0, (uint32_t)(nonce + i));
        struct json_object *resp = send_tx(t, &tx);
        result(resp);
        json_object_put(resp);
    }
    for (size_t i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 40);
    }
}

/* ---- the server's asynchronous path: answers wait for the group commit, threads do not ---- */

/* A batch of transactions in one body: each member is validated against the
 * ones before it, the body is answered once all are durable, a bad member
 * gets its own error, a notification runs without an answer. */
static void test_batch_of_transactions(void **state)
{
    tnode t;
    tnode_open(&t, "txbatch", 4, 4096, 1024, 100, 7000);
    zk_tx tx[6];
    signed_tx(&tx[0], ZK_TX_TRANSFER, t.keys[0], t.addrs[1], 10, 1, 0);
    signed_tx(&tx[1], ZK_TX_TRANSFER, t.keys[0], t.addrs[1], 20, 1, 1);
    signed_tx(&tx[2], ZK_TX_TRANSFER, t.keys[0], t.addrs[1], 30, 1, 5); /* wrong nonce */
    signed_tx(&tx[3], ZK_TX_TRANSFER, t.keys[0], t.addrs[1], 40, 1, 2); /* a notification */
    signed_tx(&tx[4], ZK_TX_TRANSFER, t.keys[2], t.addrs[3], 50, 1, 0);
    signed_tx(&tx[5], ZK_TX_TRANSFER, t.keys[2], t.addrs[3], FUND, 0, 1); /* overdraft */
    static const int ids[6] = { 1, 2, 3, -1, 5, 6 };
    size_t cap = 6 * 2048 + 256, len = 1;
    char *body = malloc(cap);
    assert_non_null(body);
    body[0] = '[';
    for (int i = 0; i < 6; i++) {
        char one[2048];
        tx_request(one, sizeof one, &tx[i], ids[i]);
        len += (size_t)snprintf(body + len, cap - len, "%s%s", i ? "," : "", one);
    }
    snprintf(body + len, cap - len, ",{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"zkcar_status\"}]");
    struct json_object *arr = post(&t, body);
    free(body);
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 6);
    static const int want_ids[6] = { 1, 2, 3, 5, 6, 7 };
    static const int want_code[6] = { 0, 0, 1002, 0, 1003, 0 };
    for (size_t i = 0; i < 6; i++) {
        struct json_object *m = json_object_array_get_idx(arr, i);
        assert_int_equal(num(m, "id"), want_ids[i]);
        if (want_code[i] != 0) {
            assert_int_equal(error_code(m), want_code[i]);
        } else if (want_ids[i] != 7) {
            const char *h = json_object_get_string(field(m, "result"));
            assert_true(is_hex(h, 64));
            uint8_t hash[32];
            assert_int_equal(zk_hex_decode(hash, 32, NULL, h, strlen(h)), ZK_OK);
            sc_tx_view v;
            assert_true(sc_node_get_tx(t.node, hash, &v)); /* durable before the answer */
        }
    }
    /* pendingTxs counts the notification too: it ran before status */
    assert_int_equal(num(field(json_object_array_get_idx(arr, 5), "result"), "pendingTxs"), 4);
    json_object_put(arr);
    uint64_t bal;
    int64_t nonce;
    get_account(&t, t.addrs[0], &bal, &nonce);
    assert_int_equal(nonce, 3);
    assert_int_equal(bal, FUND - 10 - 20 - 40 - 3);
    get_account(&t, t.addrs[2], &bal, &nonce);
    assert_int_equal(nonce, 1);
    tnode_close(&t);
}

/* Clients that send half a request and stall hold no server thread: with
 * more of them than the server has threads, a transaction still goes
 * through at once. */
static void test_stalled_clients(void **state)
{
    tnode *t = &g_srv;
    enum { NSTALLED = 40 };
    int fds[NSTALLED];
    for (int i = 0; i < NSTALLED; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(t->port) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0);
        static const char part[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   "Content-Length: 200\r\n\r\n{\"jsonrpc\":\"2.0\",";
        assert_int_equal(send(fds[i], part, sizeof part - 1, 0), (ssize_t)(sizeof part - 1));
    }
    uint64_t bal;
    int64_t nonce;
    get_account(t, t->addrs[5], &bal, &nonce);
    zk_tx tx;
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[5], t->addrs[6], 1, 0, (uint32_t)nonce);
    struct json_object *resp = send_tx(t, &tx);
    assert_true(is_hex(json_object_get_string(result(resp)), 64));
    json_object_put(resp);
    for (int i = 0; i < NSTALLED; i++)
        close(fds[i]);
}

/* Clients that send a transaction and hang up at once, before the answer
 * (often while their connection waits for the group commit): the server
 * neither crashes nor stalls, and what it accepted it accepted once. */
static void test_clients_hang_up(void **state)
{
    enum { NACC = 20, ROUNDS = 3 };
    tnode t;
    tnode_open(&t, "hangup", NACC, 4096, 1024, 100, 11000);
    uint8_t sink[20];
    memset(sink, 0x55, sizeof sink);
    for (uint32_t round = 0; round < ROUNDS; round++) {
        for (size_t k = 0; k < NACC; k++) {
            zk_tx tx;
            signed_tx(&tx, ZK_TX_TRANSFER, t.keys[k], sink, 1, 0, round);
            char body[2048], req[2600];
            tx_request(body, sizeof body, &tx, 1);
            int n = snprintf(req, sizeof req,
                             "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            assert_true(fd >= 0);
            struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(t.port) };
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
            assert_int_equal(send(fd, req, (size_t)n, 0), n);
            /* hang up at once, or once the request has likely been read and
             * checked and waits for its commit */
            if (k % 2 == 1)
                usleep(300);
            close(fd);
        }
    }
    usleep(300000); /* the last commits land */
    /* still serving; each sender's nonce says how many of its transfers went
     * through, each exactly once */
    int64_t total = 0;
    for (size_t k = 0; k < NACC; k++) {
        uint64_t bal;
        int64_t nonce;
        get_account(&t, t.addrs[k], &bal, &nonce);
        assert_true(nonce >= 0 && nonce <= ROUNDS);
        assert_int_equal(bal, FUND - (uint64_t)nonce);
        total += nonce;
    }
    uint64_t sunk;
    int64_t sink_nonce;
    get_account(&t, sink, &sunk, &sink_nonce);
    assert_int_equal(sunk, (uint64_t)total);
    zk_tx tx;
    int64_t nonce0;
    uint64_t bal0;
    get_account(&t, t.addrs[0], &bal0, &nonce0);
    signed_tx(&tx, ZK_TX_TRANSFER, t.keys[0], sink, 1, 0, (uint32_t)nonce0);
    struct json_object *resp = send_tx(&t, &tx);
    assert_true(is_hex(json_object_get_string(result(resp)), 64));
    json_object_put(resp);
    tnode_close(&t);
}

typedef struct stop_arg {
    tnode *t;
    size_t idx;
    size_t acked;
    uint8_t hashes[400][32];
} stop_arg;

/* Sends transfers one after the other until the server goes away. */
static void *stop_sender(void *p)
{
    stop_arg *w = p;
    tnode *t = w->t;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)t->port);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    for (uint32_t nonce = 0; nonce < 400; nonce++) {
        zk_tx tx;
        signed_tx(&tx, ZK_TX_TRANSFER, t->keys[w->idx], t->addrs[(w->idx + 1) % t->naccounts], 1, 0, nonce);
        char body[2048];
        tx_request(body, sizeof body, &tx, 1);
        reply r;
        memset(&r, 0, sizeof r);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        long status = 0;
        bool ok = curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
                  status == 200 && r.body != NULL;
        struct json_object *o = ok ? json_tokener_parse(r.body) : NULL;
        struct json_object *res = NULL;
        free(r.body);
        if (o == NULL || !json_object_object_get_ex(o, "result", &res) ||
            zk_hex_decode(w->hashes[w->acked], 32, NULL, json_object_get_string(res),
                          (size_t)json_object_get_string_len(res)) != ZK_OK) {
            json_object_put(o);
            break; /* refused or gone: stop sending */
        }
        json_object_put(o);
        __atomic_add_fetch(&w->acked, 1, __ATOMIC_RELEASE); /* the main thread watches it */
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

/* Stopping the server while transactions wait for their commit: the stop
 * waits for them, and every transaction acknowledged is in the node. */
static void test_stop_under_load(void **state)
{
    enum { NSENDERS = 6 };
    tnode t;
    tnode_open(&t, "stop", NSENDERS, 4096, 1024, 100, 9000);
    pthread_t th[NSENDERS];
    stop_arg *args = calloc(NSENDERS, sizeof *args);
    assert_non_null(args);
    for (size_t i = 0; i < NSENDERS; i++) {
        args[i].t = &t;
        args[i].idx = i;
        assert_int_equal(pthread_create(&th[i], NULL, stop_sender, &args[i]), 0);
    }
    /* let them get going, then stop in the middle of the stream */
    for (int tries = 0; tries < 500; tries++) {
        size_t sum = 0;
        for (size_t i = 0; i < NSENDERS; i++)
            sum += __atomic_load_n(&args[i].acked, __ATOMIC_RELAXED);
        if (sum >= 60)
            break;
        usleep(10000);
    }
    sc_api_stop(t.api);
    size_t total = 0;
    for (size_t i = 0; i < NSENDERS; i++) {
        pthread_join(th[i], NULL);
        total += args[i].acked;
        for (size_t k = 0; k < args[i].acked; k++) {
            sc_tx_view v;
            assert_true(sc_node_get_tx(t.node, args[i].hashes[k], &v));
        }
    }
    assert_true(total >= 60);
    free(args);
    tnode_close(&t);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    zk_log_set_level(ZK_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_batch_of_transactions),
        cmocka_unit_test(test_stalled_clients),
        cmocka_unit_test(test_clients_hang_up),
        cmocka_unit_test(test_stop_under_load),
    };
    int rc = cmocka_run_group_tests_name("server", tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
