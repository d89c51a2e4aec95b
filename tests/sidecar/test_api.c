/*
 * tests/sidecar/test_api.c — the JSON-RPC API (SPEC §4) over real HTTP
 * (libcurl and raw sockets) against a real node on a temporary data
 * directory, funded with deposits as the watcher would deliver them.
 *
 * Two nodes: `main` seals small batches quickly (so transactions reach
 * `sealed` and batches exist); `flood` has a tiny mempool and never seals
 * during the test, so a flood gets 1005. Neither proves (prover threads 0):
 * proofs are the node's and the prover's tests; here a batch stays `sealed`.
 *
 * The first group (no node) checks the protocol layer through the pure
 * handler sc_api_handle. The server under concurrency (suspended
 * connections, stalled and vanishing clients, stopping under load) is
 * test_api_server.c; the fixture is api_fixture.h.
 */
#include "tests/sidecar/api_fixture.h"

static tnode g_main, g_flood;

static int group_setup(void **state)
{
    memset(g_bridge, 0xbb, 20);
    zk_eip712_domain_zkcar(&g_domain, CHAIN_ID, g_bridge);
    tnode_open(&g_main, "main", NACCOUNTS, 4096, 1024, 100, 1000);
    /* The deposits fill one batch (sealed by size at once); the flood then
     * never reaches a batch's size and the interval is far away. */
    tnode_open(&g_flood, "flood", FLOOD_ACCOUNTS, FLOOD_MEMPOOL, FLOOD_ACCOUNTS, 600000, 5000);
    return 0;
}

static int group_teardown(void **state)
{
    tnode_close(&g_main);
    tnode_close(&g_flood);
    return 0;
}

/* ---- the pure handler without a node ------------------------------------------------ */

static char *handle(sc_api *a, const char *body)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(sc_api_handle(a, body, strlen(body), &out, &len), ZK_OK);
    if (out != NULL)
        assert_int_equal(strlen(out), len);
    return out;
}

static int handled_code(sc_api *a, const char *body)
{
    char *out = handle(a, body);
    assert_true(out != NULL);
    struct json_object *o = json_tokener_parse(out);
    if (o == NULL)
        fail_msg("not JSON: %s", out);
    int code = error_code(o);
    assert_true(is_null(o, "id") || num(o, "id") == 42);
    json_object_put(o);
    free(out);
    return code;
}

static void test_handler_protocol(void **state)
{
    sc_api *a = NULL;
    sc_api_options o = { .body_max = 4096, .batch_max = 3 };
    assert_int_equal(sc_api_create(&a, NULL, NULL, &o), ZK_OK);
    /* not JSON */
    assert_int_equal(handled_code(a, ""), -32700);
    assert_int_equal(handled_code(a, "{"), -32700);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\"} x"), -32700);
    assert_int_equal(handled_code(a, "{'jsonrpc':'2.0'}"), -32700);
    assert_int_equal(handled_code(a, "{\"a\":\"\xff\xfe\"}"), -32700);
    assert_int_equal(handled_code(a, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"), -32700);
    char big[5000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(handled_code(a, big), -32600); /* over body_max */
    /* JSON, but not a request */
    assert_int_equal(handled_code(a, "5"), -32600);
    assert_int_equal(handled_code(a, "\"x\""), -32600);
    assert_int_equal(handled_code(a, "null"), -32600);
    assert_int_equal(handled_code(a, "{}"), -32600);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"1.0\",\"id\":42,\"method\":\"zkcar_status\"}"), -32600);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":7}"), -32600);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_status\",\"params\":5}"), -32600);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"zkcar_status\"}"), -32600);
    assert_int_equal(handled_code(a, "[]"), -32600);
    assert_int_equal(handled_code(a, "[1,2,3,4]"), -32600); /* over batch_max */
    /* methods and params */
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"eth_call\"}"), -32601);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_status\\u0000x\"}"), -32601);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getAccount\"}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getAccount\",\"params\":[]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getAccount\",\"params\":[\"0x12\"]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getAccount\",\"params\":[1]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getAccount\",\"params\":[\"0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",1]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getTransaction\",\"params\":[\"0x00\"]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getDeposit\",\"params\":[-1]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getDeposit\",\"params\":[\"1\"]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getDeposit\",\"params\":[1.5]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getBatch\",\"params\":{\"n\":1}}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_status\",\"params\":[1]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_sendTransaction\",\"params\":[]}"), -32602);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_sendTransaction\",\"params\":[{\"type\":\"transfer\"}]}"), -32602);
    /* well-formed params, no node behind: an internal error, not a crash */
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_status\",\"params\":[]}"), -32603);
    assert_int_equal(handled_code(a, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_getBatch\",\"params\":{\"number\":1}}"), -32603);
    /* notifications: no answer at all */
    assert_true(handle(a, "{\"jsonrpc\":\"2.0\",\"method\":\"zkcar_status\"}") == NULL);
    assert_true(handle(a, "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\"}") == NULL);
    assert_true(handle(a, "[{\"jsonrpc\":\"2.0\",\"method\":\"zkcar_status\"},{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]") == NULL);
    /* ids come back as sent (string, number, null) */
    char *out = handle(a, "[{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"x\"},{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"},"
                          "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]");
    assert_true(out != NULL);
    struct json_object *arr = json_tokener_parse(out);
    assert_true(arr != NULL && json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 2);
    assert_string_equal(str(json_object_array_get_idx(arr, 0), "id"), "abc");
    assert_true(is_null(json_object_array_get_idx(arr, 1), "id"));
    json_object_put(arr);
    free(out);
    /* odd but valid ids come back as valid JSON (strictly parsed) */
    static const char *const odd[] = { "1e400", "-0.0", "123456789012345678901234567890", "\"\\u0000\"" };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char req[160];
        snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"x\"}", odd[i]);
        out = handle(a, req);
        assert_true(out != NULL);
        struct json_tokener *tok = json_tokener_new();
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        struct json_object *parsed = json_tokener_parse_ex(tok, out, (int)strlen(out) + 1);
        if (json_tokener_get_error(tok) != json_tokener_success)
            fail_msg("not strict JSON: %s", out);
        json_object_put(parsed);
        json_tokener_free(tok);
        free(out);
    }
    sc_api_destroy(a);
    sc_api_destroy(NULL);
}

/* Each request is logged at debug level (method, code, time), and only then. */
static void test_request_logging(void **state)
{
    sc_api *a = NULL;
    assert_int_equal(sc_api_create(&a, NULL, NULL, NULL), ZK_OK);
    int p[2];
    assert_int_equal(pipe(p), 0);
    zk_log_set_fd(p[1]);
    zk_log_set_level(ZK_LOG_INFO);
    free(handle(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zkcar_getBatch\",\"params\":[1]}"));
    zk_log_set_level(ZK_LOG_DEBUG);
    free(handle(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zkcar_status\"}"));
    zk_log_set_fd(2);
    zk_log_set_level(ZK_LOG_WARN);
    close(p[1]);
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_true(strstr(buf, "level=debug msg=\"api request\" method=zkcar_status code=-32603 ms=") != NULL);
    assert_true(strstr(buf, "zkcar_getBatch") == NULL);
    sc_api_destroy(a);
}

/* ---- every method ------------------------------------------------------------------- */

static void test_status(void **state)
{
    struct json_object *resp = call(&g_main, "zkcar_status", NULL);
    struct json_object *s = result(resp);
    assert_int_equal(num(s, "chainId"), CHAIN_ID);
    char bridge[43];
    addr_text(bridge, g_bridge);
    assert_string_equal(str(s, "bridge"), bridge);
    assert_true(num(s, "l1Head") >= 0);
    assert_true(num(s, "l1Confirmed") >= 0);
    assert_int_equal(num(s, "nextDepositId"), NACCOUNTS);
    assert_true(num(s, "lastBatch") >= 1); /* the deposits were sealed */
    assert_true(num(s, "lastProvenBatch") >= 0);
    assert_true(num(s, "pendingTxs") >= 0);
    assert_true(num(s, "accounts") >= NACCOUNTS);
    assert_true(is_hex(str(s, "stateRoot"), 64));
    json_object_put(resp);
    /* params as [] and {} are accepted too */
    resp = call(&g_main, "zkcar_status", "[]");
    result(resp);
    json_object_put(resp);
    resp = call(&g_main, "zkcar_status", "{}");
    result(resp);
    json_object_put(resp);
}

static void test_get_account(void **state)
{
    char a[43], p[80];
    addr_text(a, g_main.addrs[1]);
    snprintf(p, sizeof p, "[\"%s\"]", a);
    struct json_object *resp = call(&g_main, "zkcar_getAccount", p);
    struct json_object *r = result(resp);
    assert_string_equal(str(r, "address"), a);
    assert_true(num(r, "id") >= 0);
    assert_true(strtoull(str(r, "balance"), NULL, 10) > 0);
    assert_true(num(r, "nonce") >= 0);
    assert_true(json_object_is_type(field(r, "provenBalance"), json_type_string));
    assert_true(num(r, "provenNonce") >= 0);
    json_object_put(resp);

    /* by name, and lower case */
    for (char *c = a + 2; *c; c++)
        if (*c >= 'A' && *c <= 'F')
            *c = (char)(*c - 'A' + 'a');
    snprintf(p, sizeof p, "{\"address\":\"%s\"}", a);
    resp = call(&g_main, "zkcar_getAccount", p);
    result(resp);
    json_object_put(resp);

    /* unknown: id null, balances "0" */
    resp = call(&g_main, "zkcar_getAccount", "[\"0x00000000000000000000000000000000000000aa\"]");
    r = result(resp);
    /* EIP-55 form, as ethers.getAddress gives it */
    assert_string_equal(str(r, "address"), "0x00000000000000000000000000000000000000AA");
    assert_true(is_null(r, "id"));
    assert_string_equal(str(r, "balance"), "0");
    assert_int_equal(num(r, "nonce"), 0);
    assert_string_equal(str(r, "provenBalance"), "0");
    assert_int_equal(num(r, "provenNonce"), 0);
    json_object_put(resp);

    /* a wrong EIP-55 checksum is a form error */
    addr_text(a, g_main.addrs[1]);
    for (char *c = a + 2; *c; c++) {
        if (*c >= 'a' && *c <= 'f') {
            *c = (char)(*c - 'a' + 'A');
            break;
        }
        if (*c >= 'A' && *c <= 'F') {
            *c = (char)(*c - 'A' + 'a');
            break;
        }
    }
    snprintf(p, sizeof p, "[\"%s\"]", a);
    resp = call(&g_main, "zkcar_getAccount", p);
    assert_int_equal(error_code(resp), -32602);
    json_object_put(resp);
}

static void wait_status(tnode *t, const char *hash, const char *want, struct json_object **out)
{
    char p[100];
    snprintf(p, sizeof p, "[\"%s\"]", hash);
    for (int i = 0; i < 1500; i++) {
        struct json_object *resp = call(t, "zkcar_getTransaction", p);
        struct json_object *r = result(resp);
        assert_true(r != NULL);
        if (strcmp(str(r, "status"), want) == 0) {
            *out = resp;
            return;
        }
        json_object_put(resp);
        usleep(20000);
    }
    fail_msg("transaction %s never became %s", hash, want);
}

static void test_send_and_query(void **state)
{
    tnode *t = &g_main;
    uint64_t bal0, bal1, to_bal0, to_bal;
    int64_t nonce0, nonce1, to_nonce;
    get_account(t, t->addrs[2], &bal0, &nonce0);
    get_account(t, t->addrs[3], &to_bal0, &to_nonce);

    zk_tx tx;
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[2], t->addrs[3], 12345, 7, (uint32_t)nonce0);
    uint8_t h[32];
    zk_tx_hash(h, &tx, &g_domain);
    char want_hash[67];
    zk_hex_encode(want_hash, h, 32);
    struct json_object *resp = send_tx(t, &tx);
    struct json_object *r = result(resp);
    assert_true(json_object_is_type(r, json_type_string));
    assert_string_equal(json_object_get_string(r), want_hash);
    json_object_put(resp);

    /* the balance and nonce reflect it at once (accepted, not yet sealed) */
    get_account(t, t->addrs[2], &bal1, &nonce1);
    assert_int_equal(bal1, bal0 - 12345 - 7);
    assert_int_equal(nonce1, nonce0 + 1);
    get_account(t, t->addrs[3], &to_bal, &to_nonce);
    assert_int_equal(to_bal, to_bal0 + 12345);

    /* getTransaction: every field */
    char p[100];
    snprintf(p, sizeof p, "[\"%s\"]", want_hash);
    resp = call(t, "zkcar_getTransaction", p);
    r = result(resp);
    char from[43], to[43];
    addr_text(from, t->addrs[2]);
    addr_text(to, t->addrs[3]);
    assert_string_equal(str(r, "hash"), want_hash);
    assert_string_equal(str(r, "type"), "transfer");
    assert_string_equal(str(r, "from"), from);
    assert_string_equal(str(r, "to"), to);
    assert_string_equal(str(r, "amount"), "12345");
    assert_string_equal(str(r, "fee"), "7");
    assert_int_equal(num(r, "nonce"), nonce0);
    const char *st = str(r, "status");
    assert_true(strcmp(st, "pending") == 0 || strcmp(st, "sealed") == 0);
    assert_true(is_null(r, "error"));
    json_object_put(resp);

    /* sealed into a batch: getBatch shows it */
    wait_status(t, want_hash, "sealed", &resp);
    r = result(resp);
    int64_t batch = num(r, "batch");
    assert_true(batch >= 1);
    json_object_put(resp);
    snprintf(p, sizeof p, "[%lld]", (long long)batch);
    resp = call(t, "zkcar_getBatch", p);
    r = result(resp);
    assert_int_equal(num(r, "number"), batch);
    st = str(r, "status");
    assert_true(strcmp(st, "sealed") == 0 || strcmp(st, "proving") == 0);
    assert_true(is_hex(str(r, "prevStateRoot"), 64));
    assert_true(is_hex(str(r, "stateRoot"), 64));
    assert_string_not_equal(str(r, "prevStateRoot"), str(r, "stateRoot"));
    assert_true(num(r, "txCount") >= 1);
    assert_true(num(r, "depositCount") >= 0);
    assert_true(json_object_is_type(field(r, "withdrawals"), json_type_array));
    assert_true(is_null(r, "proofSize"));
    assert_true(is_null(r, "provingTimeMs"));
    json_object_put(resp);

    /* a withdrawal shows in its batch's withdrawals */
    get_account(t, t->addrs[2], &bal1, &nonce1);
    uint8_t l1[20];
    memset(l1, 0x4e, 20);
    signed_tx(&tx, ZK_TX_WITHDRAW, t->keys[2], l1, 5000, 0, (uint32_t)nonce1);
    zk_tx_hash(h, &tx, &g_domain);
    zk_hex_encode(want_hash, h, 32);
    resp = send_tx(t, &tx);
    result(resp);
    json_object_put(resp);
    wait_status(t, want_hash, "sealed", &resp);
    batch = num(result(resp), "batch");
    assert_string_equal(str(result(resp), "type"), "withdraw");
    json_object_put(resp);
    snprintf(p, sizeof p, "{\"number\":%lld}", (long long)batch);
    resp = call(t, "zkcar_getBatch", p);
    r = result(resp);
    struct json_object *w = field(r, "withdrawals");
    assert_true(json_object_array_length(w) >= 1);
    char l1t[43];
    addr_text(l1t, l1);
    bool found = false;
    for (size_t i = 0; i < json_object_array_length(w); i++) {
        struct json_object *x = json_object_array_get_idx(w, i);
        if (strcmp(str(x, "to"), l1t) == 0 && strcmp(str(x, "amount"), "5000") == 0)
            found = true;
    }
    assert_true(found);
    json_object_put(resp);

    /* batch 0: the genesis state, whose root is batch 1's previous root */
    resp = call(t, "zkcar_getBatch", "[1]");
    char genesis[67];
    snprintf(genesis, sizeof genesis, "%s", str(result(resp), "prevStateRoot"));
    json_object_put(resp);
    resp = call(t, "zkcar_getBatch", "[0]");
    r = result(resp);
    assert_int_equal(num(r, "number"), 0);
    assert_string_equal(str(r, "status"), "proven");
    assert_true(is_null(r, "prevStateRoot"));
    assert_string_equal(str(r, "stateRoot"), genesis);
    assert_int_equal(num(r, "txCount"), 0);
    assert_int_equal(num(r, "depositCount"), 0);
    assert_int_equal(json_object_array_length(field(r, "withdrawals")), 0);
    json_object_put(resp);

    /* unknown hash and batch: null */
    resp = call(t, "zkcar_getTransaction", "[\"0x0000000000000000000000000000000000000000000000000000000000000001\"]");
    assert_true(result(resp) == NULL);
    json_object_put(resp);
    resp = call(t, "zkcar_getBatch", "[999999]");
    assert_true(result(resp) == NULL);
    json_object_put(resp);
}

static void test_get_deposit(void **state)
{
    struct json_object *resp = call(&g_main, "zkcar_getDeposit", "[3]");
    struct json_object *r = result(resp);
    char to[43];
    addr_text(to, g_main.addrs[3]);
    assert_int_equal(num(r, "depositId"), 3);
    assert_string_equal(str(r, "status"), "credited");
    /* EIP-55 form, as ethers.getAddress gives it */
    assert_string_equal(str(r, "from"), "0xF0F0F0f0f0F0F0f0f0F0f0f0f0f0F0F0f0f0f0F0");
    assert_string_equal(str(r, "to"), to);
    assert_string_equal(str(r, "amount"), "1000000000");
    assert_int_equal(num(r, "l1BlockNumber"), 103);
    assert_string_equal(str(r, "l1TxHash"), "0x1313131313131313131313131313131313131313131313131313131313131313");
    assert_true(num(r, "batch") >= 1);
    json_object_put(resp);
    resp = call(&g_main, "zkcar_getDeposit", "{\"depositId\":123456}");
    assert_true(result(resp) == NULL);
    json_object_put(resp);
    resp = call(&g_main, "zkcar_getDeposit", "[\"3\"]");
    assert_int_equal(error_code(resp), -32602);
    json_object_put(resp);
}

/* ---- bad input: the specified error, nothing changes ------------------------------------ */

static void expect_code_unchanged(tnode *t, size_t who, struct json_object *resp, int code)
{
    assert_int_equal(error_code(resp), code);
    json_object_put(resp);
}

/* zkcar_sendTransaction of a transfer with these fields, each given as its
 * JSON text (amount "\"5\"" or 5), and `extra` fields appended. */
static struct json_object *send_fields(tnode *t, const char *from, const char *to, const char *amount,
                                       const char *fee, const char *nonce, const char *sig, const char *extra)
{
    char body[2048];
    snprintf(body, sizeof body,
             "[{\"type\":\"transfer\",\"from\":\"%s\",\"to\":\"%s\",\"amount\":%s,\"fee\":%s,\"nonce\":%s,"
             "\"signature\":\"%s\"%s}]",
             from, to, amount, fee, nonce, sig, extra);
    return call(t, "zkcar_sendTransaction", body);
}

static void test_bad_transactions(void **state)
{
    tnode *t = &g_main;
    uint64_t bal0, bal1, to0, to1;
    int64_t n0, n1, tn0, tn1;
    get_account(t, t->addrs[4], &bal0, &n0);
    get_account(t, t->addrs[5], &to0, &tn0);
    zk_tx tx;

    /* wrong signature: signed by another key */
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[6], t->addrs[5], 100, 1, (uint32_t)n0);
    memcpy(tx.from, t->addrs[4], 20);
    expect_code_unchanged(t, 4, send_tx(t, &tx), 1001);
    /* high s */
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[4], t->addrs[5], 100, 1, (uint32_t)n0);
    tx.sig[32] |= 0x80;
    expect_code_unchanged(t, 4, send_tx(t, &tx), 1001);
    /* a nonce from the future, then a replay of an accepted one */
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[4], t->addrs[5], 100, 1, (uint32_t)n0 + 5);
    expect_code_unchanged(t, 4, send_tx(t, &tx), 1002);
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[4], t->addrs[5], 100, 1, (uint32_t)n0);
    struct json_object *resp = send_tx(t, &tx);
    result(resp);
    json_object_put(resp);
    get_account(t, t->addrs[4], &bal0, &n0);
    get_account(t, t->addrs[5], &to0, &tn0);
    expect_code_unchanged(t, 4, send_tx(t, &tx), 1002);
    /* overdraft: amount + fee one above the balance */
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[4], t->addrs[5], bal0, 1, (uint32_t)n0);
    expect_code_unchanged(t, 4, send_tx(t, &tx), 1003);
    /* amount >= 2^63, and amount + fee >= 2^63 */
    char a[43], b[43], sig[133], nonce[24], sig66[136], shortsig[133];
    addr_text(a, t->addrs[4]);
    addr_text(b, t->addrs[5]);
    zk_hex_encode(sig, tx.sig, 65);
    snprintf(nonce, sizeof nonce, "%lld", (long long)n0);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "\"9223372036854775808\"", "\"0\"", nonce, sig, ""), 1004);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "\"9223372036854775000\"", "\"808\"", nonce, sig, ""), 1004);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "\"0\"", "\"1\"", nonce, sig, ""), 1004);
    /* a signature of 64 and of 66 bytes is malformed: 1001, counted as a bad signature */
    zk_hex_encode(shortsig, tx.sig, 64);
    snprintf(sig66, sizeof sig66, "%s00", sig);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "\"100\"", "\"1\"", nonce, shortsig, ""), 1001);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "\"100\"", "\"1\"", nonce, sig66, ""), 1001);
    /* wrong types: amount as a number, nonce as a string, an extra field */
    char qnonce[26];
    snprintf(qnonce, sizeof qnonce, "\"%lld\"", (long long)n0);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "100", "\"1\"", nonce, sig, ""), -32602);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "\"100\"", "\"1\"", qnonce, sig, ""), -32602);
    expect_code_unchanged(t, 4, send_fields(t, a, b, "\"100\"", "\"1\"", nonce, sig, ",\"gasPrice\":\"1\""),
                          -32602);
    /* malformed JSON */
    resp = post(t, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"zkcar_sendTransaction\",\"params\":[{\"type\":");
    assert_int_equal(error_code(resp), -32700);
    assert_true(is_null(resp, "id"));
    json_object_put(resp);

    /* nothing changed */
    get_account(t, t->addrs[4], &bal1, &n1);
    get_account(t, t->addrs[5], &to1, &tn1);
    assert_int_equal(bal1, bal0);
    assert_int_equal(n1, n0);
    assert_int_equal(to1, to0);
    assert_int_equal(tn1, tn0);
    /* and the API still serves, and accepts the right transaction */
    signed_tx(&tx, ZK_TX_TRANSFER, t->keys[4], t->addrs[5], 100, 1, (uint32_t)n0);
    resp = send_tx(t, &tx);
    result(resp);
    json_object_put(resp);
}

/* ---- HTTP: 413, CORS, paths, batches ------------------------------------------------------ */

static void check_413(const reply *r)
{
    assert_int_equal(r->status, 413);
    struct json_object *o = json_tokener_parse(r->body);
    if (o == NULL)
        fail_msg("413 body not JSON: %s", r->body);
    assert_int_equal(error_code(o), -32600);
    json_object_put(o);
}

/* A raw client that sends the whole oversized body without waiting, then
 * reads: the 413 must arrive intact (drained, not reset). */
static void raw_oversized(uint16_t port, size_t body_len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char head[256];
    int hl = snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                         "Content-Length: %zu\r\n\r\n", body_len);
    assert_int_equal(write(fd, head, (size_t)hl), hl);
    char *body = malloc(body_len);
    assert_true(body != NULL);
    memset(body, ' ', body_len);
    size_t sent = 0;
    while (sent < body_len) {
        ssize_t n = write(fd, body + sent, body_len - sent);
        assert_true(n > 0);
        sent += (size_t)n;
    }
    free(body);
    char resp[4096];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, resp + got, sizeof resp - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        resp[got] = '\0';
        if (strstr(resp, "\r\n\r\n") && strstr(resp, "}"))
            break;
    }
    resp[got] = '\0';
    close(fd);
    if (strncmp(resp, "HTTP/1.1 413", 12) != 0)
        fail_msg("expected 413, got: %s", resp);
    assert_true(strstr(resp, "-32600") != NULL);
}

static void test_oversized_body(void **state)
{
    tnode *t = &g_main;
    size_t n = 200 * 1024; /* the test API's cap is 64 KiB */
    char *body = malloc(n);
    assert_true(body != NULL);
    memset(body, ' ', n);
    static const char prefix[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zkcar_status\",\"params\":[\"";
    memcpy(body, prefix, sizeof prefix - 1);
    body[n - 3] = '"';
    body[n - 2] = ']';
    body[n - 1] = '}';
    reply r;
    /* curl waits for 100-continue on a large body: refused before it is sent */
    static const char *const expect[] = { "Expect: 100-continue", NULL };
    http(&r, t->port, "POST", "/", body, n, expect);
    check_413(&r);
    free(r.body);
    /* no Expect: the body is read and dropped, then the 413 */
    static const char *const no_expect[] = { "Expect:", NULL };
    http(&r, t->port, "POST", "/", body, n, no_expect);
    check_413(&r);
    free(r.body);
    /* chunked, without a length */
    static const char *const chunked[] = { "Expect:", "Transfer-Encoding: chunked", NULL };
    http(&r, t->port, "POST", "/", body, n, chunked);
    check_413(&r);
    free(r.body);
    free(body);
    raw_oversized(t->port, 1u << 20);
    /* just under the cap is served */
    struct json_object *resp = call(t, "zkcar_status", NULL);
    result(resp);
    json_object_put(resp);
}

static void test_cors_and_paths(void **state)
{
    tnode *t = &g_main;
    reply r;
    static const char *const pre[] = { "Origin: http://wallet.example", "Access-Control-Request-Method: POST",
                                       "Access-Control-Request-Headers: content-type", NULL };
    http(&r, t->port, "OPTIONS", "/", NULL, 0, pre);
    assert_int_equal(r.status, 204);
    assert_true(has_header(&r, "Access-Control-Allow-Origin: *"));
    assert_true(has_header(&r, "Access-Control-Allow-Methods: POST, OPTIONS"));
    assert_true(has_header(&r, "Access-Control-Allow-Headers: content-type"));
    assert_true(has_header(&r, "Access-Control-Max-Age: 86400"));
    free(r.body);
    static const char *const origin[] = { "Origin: http://wallet.example", NULL };
    const char *b = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zkcar_status\"}";
    http(&r, t->port, "POST", "/", b, strlen(b), origin);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Access-Control-Allow-Origin: *"));
    free(r.body);
    http(&r, t->port, "GET", "/", NULL, 0, NULL);
    assert_int_equal(r.status, 405);
    assert_true(has_header(&r, "Allow: POST, OPTIONS"));
    free(r.body);
    http(&r, t->port, "POST", "/rpc", b, strlen(b), NULL);
    assert_int_equal(r.status, 404);
    free(r.body);
    /* notifications only: 204, no body */
    const char *note = "{\"jsonrpc\":\"2.0\",\"method\":\"zkcar_status\"}";
    http(&r, t->port, "POST", "/", note, strlen(note), NULL);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    free(r.body);
}

static void test_batch_requests(void **state)
{
    tnode *t = &g_main;
    char a[43], body[2048];
    addr_text(a, t->addrs[0]);
    snprintf(body, sizeof body,
             "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zkcar_status\"},"
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"zkcar_getAccount\",\"params\":[\"%s\"]},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"zkcar_status\"},"
             "{\"jsonrpc\":\"2.0\",\"id\":\"four\",\"method\":\"nope\"},"
             "5,"
             "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"zkcar_getDeposit\",\"params\":[0]}]", a);
    struct json_object *arr = post(t, body);
    assert_true(json_object_is_type(arr, json_type_array));
    assert_int_equal(json_object_array_length(arr), 5);
    struct json_object *m0 = json_object_array_get_idx(arr, 0), *m1 = json_object_array_get_idx(arr, 1);
    struct json_object *m2 = json_object_array_get_idx(arr, 2), *m3 = json_object_array_get_idx(arr, 3);
    struct json_object *m4 = json_object_array_get_idx(arr, 4);
    assert_int_equal(num(m0, "id"), 1);
    assert_int_equal(num(field(m0, "result"), "chainId"), CHAIN_ID);
    assert_int_equal(num(m1, "id"), 2);
    assert_string_equal(str(field(m1, "result"), "address"), a);
    assert_string_equal(str(m2, "id"), "four");
    assert_int_equal(error_code(m2), -32601);
    assert_true(is_null(m3, "id"));
    assert_int_equal(error_code(m3), -32600);
    assert_int_equal(num(m4, "id"), 6);
    assert_int_equal(num(field(m4, "result"), "depositId"), 0);
    json_object_put(arr);
    /* an empty batch: one error object */
    struct json_object *o = post(t, "[]");
    assert_true(json_object_is_type(o, json_type_object));
    assert_int_equal(error_code(o), -32600);
    json_object_put(o);
    /* over the cap (20 in this test): one error, nothing runs */
    char big[4096] = "[";
    for (int i = 0; i < 21; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"zkcar_status\"}",
                 i ? "," : "", i);
    strncat(big, "]", sizeof big - strlen(big) - 1);
    o = post(t, big);
    assert_true(json_object_is_type(o, json_type_object));
    assert_int_equal(error_code(o), -32600);
    json_object_put(o);
}

/* ---- the mempool flood ---------------------------------------------------------------- */

static void test_flood_1005(void **state)
{
    tnode *t = &g_flood;
    int accepted = 0, overloaded = 0;
    bool refused[FLOOD_ACCOUNTS] = { false };
    for (size_t i = 0; i < FLOOD_ACCOUNTS; i++) {
        zk_tx tx;
        signed_tx(&tx, ZK_TX_TRANSFER, t->keys[i], t->addrs[(i + 1) % FLOOD_ACCOUNTS], 10, 0, 0);
        struct json_object *resp = send_tx(t, &tx);
        struct json_object *e = NULL;
        if (json_object_object_get_ex(resp, "error", &e)) {
            assert_int_equal(error_code(resp), 1005);
            assert_true(strstr(str(e, "message"), "retry") != NULL);
            overloaded++;
            refused[i] = true;
        } else {
            accepted++;
        }
        json_object_put(resp);
    }
    assert_int_equal(accepted, FLOOD_MEMPOOL);
    assert_int_equal(overloaded, FLOOD_ACCOUNTS - FLOOD_MEMPOOL);
    /* the refused changed nothing: nonce still 0; the daemon keeps serving */
    for (size_t i = 0; i < FLOOD_ACCOUNTS; i++) {
        uint64_t bal;
        int64_t nonce;
        get_account(t, t->addrs[i], &bal, &nonce);
        if (refused[i])
            assert_int_equal(nonce, 0);
        else
            assert_int_equal(nonce, 1);
    }
    struct json_object *resp = call(t, "zkcar_status", NULL);
    assert_int_equal(num(result(resp), "pendingTxs"), FLOOD_MEMPOOL);
    json_object_put(resp);
}

/* ---- metrics of the API -------------------------------------------------------------------- */

static void test_api_metrics(void **state)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(zk_metrics_render(g_main.metrics, &text, &len), ZK_OK);
    assert_true(strstr(text, "zkcar_api_requests_total{method=\"zkcar_getAccount\",result=\"ok\"}") != NULL);
    assert_true(strstr(text, "zkcar_api_requests_total{method=\"zkcar_sendTransaction\",result=\"error\"}") != NULL);
    assert_true(strstr(text, "zkcar_api_http_responses_total{code=\"413\"} 0\n") == NULL);
    assert_true(strstr(text, "zkcar_api_request_seconds_bucket{method=\"zkcar_status\",le=\"+Inf\"}") != NULL);
    /* errors by code: every one of these was answered above */
    static const char *const codes[] = { "-32700", "-32600", "-32601", "-32602", "1001", "1002", "1003", "1004" };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char series[96];
        snprintf(series, sizeof series, "zkcar_api_errors_total{code=\"%s\"} ", codes[i]);
        const char *at = strstr(text, series);
        assert_true(at != NULL);
        assert_true(strtoull(at + strlen(series), NULL, 10) > 0);
    }
    /* the node's families and the API's in one registry: promtool is content */
    assert_true(strstr(text, "zkcar_l2_transactions_total{type=\"transfer\",result=\"accepted\"}") != NULL);
    /* every refusal of test_bad_transactions is counted by outcome, the
     * 1004s too (the decoder refuses them before the node sees them) */
    static const char *const results[] = { "bad_signature", "bad_nonce", "insufficient_balance", "out_of_range" };
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
        char series[128];
        snprintf(series, sizeof series, "zkcar_l2_transactions_total{type=\"transfer\",result=\"%s\"} ", results[i]);
        const char *at = strstr(text, series);
        if (at == NULL || strtoull(at + strlen(series), NULL, 10) == 0)
            fail_msg("%s is missing or 0", series);
    }
    char out[2048];
    int st = promtool_check(text, out, sizeof out);
    if (st != 0 || out[0] != '\0')
        fail_msg("promtool check metrics (exit %d; promtool is installed by scripts/setup.sh): %s", st, out);
    free(text);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    zk_log_set_level(ZK_LOG_WARN);
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_handler_protocol),
        cmocka_unit_test(test_request_logging),
    };
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_get_account),
        cmocka_unit_test(test_send_and_query),
        cmocka_unit_test(test_get_deposit),
        cmocka_unit_test(test_bad_transactions),
        cmocka_unit_test(test_oversized_body),
        cmocka_unit_test(test_cors_and_paths),
        cmocka_unit_test(test_batch_requests),
        cmocka_unit_test(test_flood_1005),
        cmocka_unit_test(test_api_metrics),
    };
    int rc = cmocka_run_group_tests_name("handler", unit, NULL, NULL);
    rc |= cmocka_run_group_tests_name("live", live, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
