/*
 * tests/sidecar/api_fixture.h — what the API test programs share: a real
 * node on a temporary data directory, funded with deposits as the watcher
 * would deliver them, with the API listening on a free loopback port; and
 * small HTTP (libcurl) and JSON helpers. test_api.c checks the protocol and
 * every method; test_api_server.c the server under concurrency.
 */
#ifndef ZKCAR_TESTS_SIDECAR_API_FIXTURE_H
#define ZKCAR_TESTS_SIDECAR_API_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/file.h"
#include "common/hex.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/state.h"
#include "sidecar/api.h"
#include "sidecar/metrics.h"
#include "sidecar/node.h"
#include "tests/curl_body.h"
#include "tests/promtool_util.h"

#define CHAIN_ID 31337
#define NACCOUNTS 8
#define FLOOD_ACCOUNTS 24
#define FLOOD_MEMPOOL 8
#define FUND 1000000000ull /* 1 ETH in gwei */

/* ---- fixtures ------------------------------------------------------------------ */

typedef struct tnode {
    char dir[64];
    sc_node *node;
    sc_api *api;
    zk_metrics *metrics;
    uint16_t port;
    size_t naccounts;
    uint8_t keys[FLOOD_ACCOUNTS][32];
    uint8_t addrs[FLOOD_ACCOUNTS][20];
} tnode;

static uint8_t g_bridge[20];
static zk_eip712_domain g_domain;

static inline void key_for(uint8_t key[32], uint8_t addr[20], uint64_t seed)
{
    zk_keccak256(key, &seed, sizeof seed);
    assert_int_equal(zk_sig_seckey_address(addr, NULL, key), ZK_OK);
}

static inline void account(tnode *t, const uint8_t addr[20], sc_account_view *v)
{
    sc_node_get_account(t->node, addr, v);
}

static inline void tnode_open(tnode *t, const char *name, size_t naccounts, uint32_t mempool, uint32_t batch_size,
                       uint32_t interval_ms, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/zkcar-api-%s-XXXXXX", name);
    assert_true(mkdtemp(t->dir) != NULL);
    sc_config cfg;
    sc_config_defaults(&cfg);
    cfg.data_dir = t->dir;
    cfg.chain_id = CHAIN_ID;
    memcpy(cfg.bridge, g_bridge, 20);
    cfg.prover_threads = 0;
    cfg.batch_size = batch_size;
    cfg.batch_interval_ms = interval_ms;
    cfg.mempool_max = mempool;
    cfg.state_capacity = 1024;
    zk_error_detail err = { 0 };
    assert_int_equal(zk_metrics_create(&t->metrics), ZK_OK);
    if (sc_node_open(&t->node, &cfg, &err) != ZK_OK)
        fail_msg("node: %s", err.text);
    assert_int_equal(sc_node_register_metrics(t->node, t->metrics), ZK_OK);
    if (sc_node_start(t->node, &err) != ZK_OK)
        fail_msg("node: %s", err.text);
    assert_int_equal(sc_node_set_stream_id(t->node, 7, &err), ZK_OK);
    t->naccounts = naccounts;
    for (size_t i = 0; i < naccounts; i++) {
        key_for(t->keys[i], t->addrs[i], seed + i);
        l1w_record rec;
        memset(&rec, 0, sizeof rec);
        rec.seq = i + 1;
        rec.deposit.deposit_id = i;
        rec.deposit.amount_gwei = FUND;
        rec.deposit.block_number = 100 + i;
        rec.deposit.log_index = 0;
        memset(rec.deposit.tx_hash, (int)(0x10 + i), 32);
        memset(rec.deposit.block_hash, (int)(0x20 + i), 32);
        memset(rec.deposit.from, 0xf0, 20);
        memcpy(rec.deposit.to, t->addrs[i], 20);
        if (sc_node_deposit(t->node, &rec, &err) != ZK_OK)
            fail_msg("deposit %zu: %s", i, err.text);
    }
    /* Deposits count once sealed into a batch: wait until every account
     * can spend. */
    for (int tries = 0;; tries++) {
        size_t ok = 0;
        for (size_t i = 0; i < naccounts; i++) {
            sc_account_view v;
            account(t, t->addrs[i], &v);
            ok += v.exists && v.balance == FUND;
        }
        if (ok == naccounts)
            break;
        if (tries > 3000)
            fail_msg("deposits not credited after 60 s");
        usleep(20000);
    }
    sc_api_options o = { .body_max = 64 * 1024, .batch_max = 20 };
    assert_int_equal(sc_api_create(&t->api, t->node, t->metrics, &o), ZK_OK);
    if (sc_api_start(t->api, "127.0.0.1:0", &err) != ZK_OK)
        fail_msg("api: %s", err.text);
    t->port = sc_api_port(t->api);
    assert_true(t->port != 0);
}

static inline void tnode_close(tnode *t)
{
    sc_api_destroy(t->api);
    if (t->node != NULL) {
        sc_node_stop(t->node);
        sc_node_close(t->node);
    }
    zk_metrics_destroy(t->metrics);
    char name[128];
    if (ipc_region_name(name, sizeof name, t->dir) == ZK_OK)
        shm_unlink(name);
    zk_file_remove_tree(t->dir);
    memset(t, 0, sizeof *t);
}

/* ---- HTTP --------------------------------------------------------------------- */

typedef struct reply {
    long status;
    char *body;
    size_t len;
    char headers[4096];
    size_t hlen;
} reply;

static inline size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    return curl_body_append(&r->body, &r->len, 0, p, size * n) ? size * n : 0;
}

static inline size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t k = size * n;
    if (r->hlen + k < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

/* An HTTP request; `extra` is a NULL-terminated list of header lines. */
static inline void http(reply *r, uint16_t port, const char *method, const char *path, const char *body, size_t len,
                 const char *const *extra)
{
    memset(r, 0, sizeof *r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    CURL *c = curl_easy_init();
    assert_true(c != NULL);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        h = curl_slist_append(h, extra[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (r->body == NULL)
        r->body = calloc(1, 1);
}

static inline bool has_header(const reply *r, const char *line)
{
    /* case-insensitive header name, exact value */
    const char *colon = strchr(line, ':');
    size_t nlen = (size_t)(colon - line);
    for (const char *p = r->headers; (p = strstr(p, "\r\n")) != NULL;) {
        p += 2;
        if (strncasecmp(p, line, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = strcspn(v, "\r\n");
            if (vlen == strlen(colon + 1 + strspn(colon + 1, " ")) &&
                strncmp(v, colon + 1 + strspn(colon + 1, " "), vlen) == 0)
                return true;
        }
    }
    return false;
}

/* POSTs `body` to `t` and parses the JSON answer (the caller puts it). */
static inline struct json_object *post(tnode *t, const char *body)
{
    reply r;
    http(&r, t->port, "POST", "/", body, strlen(body), NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: application/json"));
    struct json_object *o = json_tokener_parse(r.body);
    if (o == NULL)
        fail_msg("not JSON: %s", r.body);
    free(r.body);
    return o;
}

static inline struct json_object *call(tnode *t, const char *method, const char *params)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"%s\"%s%s}", method,
             params ? ",\"params\":" : "", params ? params : "");
    return post(t, body);
}

static inline struct json_object *field(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
    return v;
}

static inline const char *str(struct json_object *o, const char *key)
{
    struct json_object *v = field(o, key);
    if (!json_object_is_type(v, json_type_string))
        fail_msg("\"%s\" is not a string in %s", key, json_object_to_json_string(o));
    return json_object_get_string(v);
}

static inline int64_t num(struct json_object *o, const char *key)
{
    struct json_object *v = field(o, key);
    if (!json_object_is_type(v, json_type_int))
        fail_msg("\"%s\" is not an integer in %s", key, json_object_to_json_string(o));
    return json_object_get_int64(v);
}

static inline bool is_null(struct json_object *o, const char *key)
{
    return field(o, key) == NULL;
}

/* The error code of a response (asserting it is an error with id 42 or null
 * and a non-empty message). */
static inline int error_code(struct json_object *resp)
{
    struct json_object *e = NULL;
    if (!json_object_object_get_ex(resp, "error", &e) || e == NULL)
        fail_msg("not an error: %s", json_object_to_json_string(resp));
    assert_false(json_object_object_get_ex(resp, "result", NULL));
    assert_string_equal(str(resp, "jsonrpc"), "2.0");
    assert_true(strlen(str(e, "message")) > 5);
    return (int)num(e, "code");
}

static inline struct json_object *result(struct json_object *resp)
{
    struct json_object *e = NULL;
    if (json_object_object_get_ex(resp, "error", &e))
        fail_msg("error: %s", json_object_to_json_string(resp));
    assert_int_equal(num(resp, "id"), 42);
    return field(resp, "result");
}

/* ---- transactions ------------------------------------------------------------ */

static inline void signed_tx(zk_tx *tx, zk_tx_type type, const uint8_t key[32], const uint8_t to[20], uint64_t amount,
                      uint64_t fee, uint32_t nonce)
{
    memset(tx, 0, sizeof *tx);
    tx->type = type;
    assert_int_equal(zk_sig_seckey_address(tx->from, NULL, key), ZK_OK);
    memcpy(tx->to, to, 20);
    tx->amount = amount;
    tx->fee = fee;
    tx->nonce = nonce;
    uint8_t h[32];
    zk_tx_hash(h, tx, &g_domain);
    assert_int_equal(zk_sig_sign(tx->sig, NULL, h, key), ZK_OK);
}

/* zkcar_sendTransaction for `tx` (params by position). */
static inline struct json_object *send_tx(tnode *t, const zk_tx *tx)
{
    struct json_object *p = NULL;
    assert_int_equal(zk_tx_to_params(&p, tx), ZK_OK);
    char params[2048];
    snprintf(params, sizeof params, "[%s]", json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
    json_object_put(p);
    return call(t, "zkcar_sendTransaction", params);
}

static inline void addr_text(char out[43], const uint8_t a[20])
{
    zk_address_format(out, a);
}

static inline void get_account(tnode *t, const uint8_t a[20], uint64_t *balance, int64_t *nonce)
{
    char p[64], at[43];
    addr_text(at, a);
    snprintf(p, sizeof p, "[\"%s\"]", at);
    struct json_object *resp = call(t, "zkcar_getAccount", p);
    struct json_object *res = result(resp);
    *balance = strtoull(str(res, "balance"), NULL, 10);
    *nonce = num(res, "nonce");
    json_object_put(resp);
}

static inline bool is_hex(const char *s, size_t digits)
{
    if (strncmp(s, "0x", 2) != 0 || strlen(s) != digits + 2)
        return false;
    return strspn(s + 2, "0123456789abcdefABCDEF") == digits;
}


static inline void tx_request(char *out, size_t cap, const zk_tx *tx, int id)
{
    struct json_object *p = NULL;
    assert_int_equal(zk_tx_to_params(&p, tx), ZK_OK);
    char idtext[32] = "";
    if (id >= 0)
        snprintf(idtext, sizeof idtext, ",\"id\":%d", id);
    snprintf(out, cap, "{\"jsonrpc\":\"2.0\"%s,\"method\":\"zkcar_sendTransaction\",\"params\":[%s]}", idtext,
             json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
    json_object_put(p);
}

#endif
