/*
 * sidecar/api.c — the JSON-RPC 2.0 API (SPEC §4). See api.h for the contract.
 */
#include "sidecar/api.h"

#include <inttypes.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/log.h"
#include "common/tx.h"
#include "ipc/state.h"
#include "sidecar/http.h"

#define API_MESSAGE_MAX 320          /* an error message, bytes */
#define API_ORIGIN_MAX 256           /* the configured CORS origin, bytes */
#define API_THREAD_STACK (512u << 10) /* per server thread: json-c, secp256k1, sqlite */
#define API_POOL_MAX 16u              /* server threads at most (one per core below that) */

/* ---- calls: one request body, and the transactions it waits for ------------------ */

/* A zkcar_sendTransaction is answered only once its transaction is durable
 * (the group commit). Methods run without blocking: a submitted transaction
 * leaves a ticket here, and the body's answer is finished when every ticket
 * is done — by sc_api_handle waiting on a condition variable, or, in the
 * server, by suspending the connection until the committer resumes it, so
 * that a few threads serve every connection. */
typedef struct api_call api_call;

typedef struct api_pending {
    sc_node_ticket t;
    api_call *call;
    struct json_object *reply; /* the member's response (NULL: a notification) */
    size_t slot;               /* method slot, for the metrics */
    uint64_t t0;
    zk_err rc;                 /* set by the committer */
    struct api_pending *next;
} api_pending;

struct api_call {
    sc_api *a;
    pthread_mutex_t mu;
    pthread_cond_t cond;            /* sc_api_handle waits here */
    size_t outstanding;             /* tickets not done yet, under mu */
    bool suspended;                 /* conn is suspended until outstanding is 0 */
    struct MHD_Connection *conn;
    api_pending *list;              /* every ticket of this call */
    api_pending *unbound;           /* the ticket of the member being handled */
    struct json_object *resp;       /* the answer under construction */
};

/* The call the current thread is handling (set around the dispatch of one
 * body, so that the method table keeps one signature). */
static _Thread_local api_call *tl_call;

/* ---- methods ------------------------------------------------------------------ */

typedef struct rpc_error {
    int code;
    char message[API_MESSAGE_MAX];
} rpc_error;

/* A method fills *result (NULL is the JSON null) and returns 0, or fills `e`
 * and returns -1. */
typedef int (*method_fn)(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e);

static void pending_done(sc_node_ticket *t, zk_err rc);
static int m_send_transaction(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e);
static int m_get_transaction(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e);
static int m_get_account(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e);
static int m_get_deposit(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e);
static int m_get_batch(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e);
static int m_status(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e);

static const struct method {
    const char *name;
    method_fn fn;
} methods[] = {
    { "zkcar_sendTransaction", m_send_transaction },
    { "zkcar_getTransaction", m_get_transaction },
    { "zkcar_getAccount", m_get_account },
    { "zkcar_getDeposit", m_get_deposit },
    { "zkcar_getBatch", m_get_batch },
    { "zkcar_status", m_status },
};
#define NMETHODS (sizeof methods / sizeof methods[0])
#define METHOD_OTHER NMETHODS /* metrics slot: unknown methods and invalid requests */

static const unsigned http_codes[] = { 200, 204, 404, 405, 413, 500, 503 };
#define NHTTP_CODES (sizeof http_codes / sizeof http_codes[0])

/* The JSON-RPC error codes the API answers (SPEC §4), for
 * zkcar_api_errors_total{code}. */
static const int rpc_codes[] = { -32700, -32600, -32601, -32602, -32603, 1001, 1002, 1003, 1004, 1005 };
#define NRPC_CODES (sizeof rpc_codes / sizeof rpc_codes[0])

struct sc_api {
    sc_node *node;
    size_t body_max, batch_max;
    unsigned connections_max, idle_timeout_s;
    char cors_origin[API_ORIGIN_MAX];
    struct MHD_Daemon *daemon;
    uint16_t port;
    _Atomic unsigned busy;       /* bodies being answered (suspended ones included) */
    _Atomic bool stopping;       /* sc_api_stop: refuse new bodies */
    /* metrics (NULL when there is no registry: zk_metric_* accept NULL) */
    zk_metric *requests_ok[NMETHODS + 1], *requests_error[NMETHODS + 1];
    zk_metric *latency[NMETHODS + 1];
    zk_metric *http_responses[NHTTP_CODES];
    zk_metric *errors[NRPC_CODES];
};

static void count_error(sc_api *a, int code)
{
    for (size_t i = 0; i < NRPC_CODES; i++)
        if (rpc_codes[i] == code)
            zk_metric_inc(a->errors[i]);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int fail(rpc_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(rpc_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* The readable head of each code's message (SPEC §4). */
static const char *code_text(int code)
{
    switch (code) {
    case -32700:
        return "parse error";
    case -32600:
        return "invalid request";
    case -32601:
        return "method not found";
    case -32602:
        return "invalid params";
    case 1001:
        return "bad signature";
    case 1002:
        return "wrong nonce";
    case 1003:
        return "insufficient balance";
    case 1004:
        return "amount or fee out of range";
    case 1005:
        return "overloaded: the mempool is full, retry later";
    default:
        return "internal error";
    }
}

static int fail_detail(rpc_error *e, int code, const zk_error_detail *d, zk_err rc)
{
    const char *why = d->text[0] != '\0' ? d->text : zk_strerror(rc);
    if (code == 1005)
        return fail(e, code, "%s", code_text(code));
    return fail(e, code, "%s: %s", code_text(code), why);
}

/* The single parameter of a method: params = [x] or {name: x}. */
static int one_param(struct json_object *params, const char *name, struct json_object **out, rpc_error *e)
{
    if (params != NULL && json_object_is_type(params, json_type_array)) {
        if (json_object_array_length(params) != 1)
            return fail(e, -32602, "invalid params: expected 1 parameter (%s), got %zu", name,
                        json_object_array_length(params));
        *out = json_object_array_get_idx(params, 0);
        return 0;
    }
    if (params != NULL && json_object_is_type(params, json_type_object)) {
        struct json_object *v = NULL;
        if (json_object_object_length(params) != 1 || !json_object_object_get_ex(params, name, &v))
            return fail(e, -32602, "invalid params: expected {\"%s\": ...}", name);
        *out = v;
        return 0;
    }
    return fail(e, -32602, "invalid params: expected [%s]", name);
}

static int no_node(sc_api *a, rpc_error *e)
{
    if (a->node != NULL)
        return 0;
    return fail(e, -32603, "internal error: no node behind this API");
}

static struct json_object *decimal(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_object_new_string(buf);
}

static struct json_object *hex_string(const uint8_t *bytes, size_t n)
{
    char buf[2 * 64 + 3];
    zk_hex_encode(buf, bytes, n);
    return json_object_new_string(buf);
}

static struct json_object *address_string(const uint8_t addr[20])
{
    char buf[43];
    zk_address_format(buf, addr);
    return json_object_new_string(buf);
}

static struct json_object *root_string(const prv_gl root[4])
{
    char buf[67];
    sc_root_hex(buf, root);
    return json_object_new_string(buf);
}

/* A batch or id number: 0 means "none yet" and shows as null. */
static struct json_object *number_or_null(uint64_t v)
{
    return v == 0 ? NULL : json_object_new_uint64(v);
}

/* A JSON integer in [0, 2^63): depositId, batch number. */
static int integer_param(struct json_object *v, const char *name, uint64_t *out, rpc_error *e)
{
    if (v == NULL || !json_object_is_type(v, json_type_int))
        return fail(e, -32602, "invalid params: %s must be a JSON integer", name);
    int64_t i = json_object_get_int64(v);
    if (i < 0)
        return fail(e, -32602, "invalid params: %s must not be negative", name);
    *out = (uint64_t)i;
    return 0;
}

/* json-c's *_add and *_new fail only on allocation; the caller maps a NULL
 * result object to -32603. */
static void put(struct json_object *o, const char *key, struct json_object *v)
{
    json_object_object_add(o, key, v);
}

static int m_send_transaction(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e)
{
    struct json_object *txobj = NULL;
    /* The SPEC's table shows the params as the transaction object itself;
     * JSON-RPC clients send it by position: accept both. */
    if (params != NULL && json_object_is_type(params, json_type_object)) {
        txobj = params;
    } else if (params != NULL && json_object_is_type(params, json_type_array) &&
               json_object_array_length(params) == 1) {
        txobj = json_object_array_get_idx(params, 0);
    } else {
        return fail(e, -32602, "invalid params: expected [transaction]");
    }
    zk_tx tx;
    zk_error_detail d = { 0 };
    zk_err rc = zk_tx_decode_object(&tx, &d, txobj);
    if ((rc == ZK_ERR_TX_RANGE || zk_tx_rpc_code(rc) == 1001) && a->node != NULL) {
        /* The form is valid, so "type" is "transfer" or "withdraw". */
        struct json_object *type = NULL;
        json_object_object_get_ex(txobj, "type", &type);
        sc_node_count_refused(a->node,
                              strcmp(json_object_get_string(type), "withdraw") == 0 ? ZK_TX_WITHDRAW : ZK_TX_TRANSFER,
                              rc);
    }
    if (rc != ZK_OK)
        return fail_detail(e, zk_tx_rpc_code(rc), &d, rc);
    if (no_node(a, e) != 0)
        return -1;
    uint8_t hash[32];
    api_call *call = tl_call;
    if (call == NULL) {
        rc = sc_node_submit(a->node, &tx, hash, &d);
        if (rc != ZK_OK)
            return fail_detail(e, sc_rpc_code(rc), &d, rc);
    } else {
        api_pending *p = calloc(1, sizeof *p);
        if (p == NULL)
            return fail(e, -32603, "internal error: out of memory");
        p->call = call;
        p->t.done = pending_done;
        p->t.ctx = p;
        pthread_mutex_lock(&call->mu);
        call->outstanding++; /* before the submit: done may come at once */
        pthread_mutex_unlock(&call->mu);
        rc = sc_node_submit_async(a->node, &tx, hash, &p->t, &d);
        if (rc != ZK_OK) {
            pthread_mutex_lock(&call->mu);
            call->outstanding--;
            pthread_mutex_unlock(&call->mu);
            free(p);
            return fail_detail(e, sc_rpc_code(rc), &d, rc);
        }
        p->next = call->list;
        call->list = p;
        call->unbound = p;
    }
    *result = hex_string(hash, 32);
    return 0;
}

static const char *tx_status_name(sc_tx_status s)
{
    switch (s) {
    case SC_TX_PENDING:
        return "pending";
    case SC_TX_SEALED:
        return "sealed";
    case SC_TX_PROVEN:
        return "proven";
    case SC_TX_REJECTED:
        return "rejected";
    }
    return "unknown";
}

static int hash_param(struct json_object *params, uint8_t hash[32], rpc_error *e)
{
    struct json_object *v = NULL;
    if (one_param(params, "hash", &v, e) != 0)
        return -1;
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return fail(e, -32602, "invalid params: hash must be a 0x-hex string");
    zk_error_detail d = { 0 };
    zk_err rc = zk_hex_decode(hash, 32, &d, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    if (rc != ZK_OK)
        return fail(e, -32602, "invalid params: hash: %s", d.text[0] ? d.text : zk_strerror(rc));
    return 0;
}

static int m_get_transaction(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e)
{
    uint8_t hash[32];
    if (hash_param(params, hash, e) != 0 || no_node(a, e) != 0)
        return -1;
    sc_tx_view v;
    memset(&v, 0, sizeof v);
    if (!sc_node_get_tx(a->node, hash, &v)) {
        *result = NULL;
        return 0;
    }
    struct json_object *o = NULL;
    if (zk_tx_to_json(&o, &v.tx, v.hash) != ZK_OK)
        return fail(e, -32603, "internal error: out of memory");
    put(o, "status", json_object_new_string(tx_status_name(v.status)));
    put(o, "batch", number_or_null(v.batch));
    v.error[sizeof v.error - 1] = '\0';
    put(o, "error", v.status == SC_TX_REJECTED ? json_object_new_string(v.error) : NULL);
    *result = o;
    return 0;
}

static int m_get_account(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e)
{
    struct json_object *v = NULL;
    if (one_param(params, "address", &v, e) != 0)
        return -1;
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return fail(e, -32602, "invalid params: address must be a 0x-hex string");
    uint8_t addr[20];
    zk_error_detail d = { 0 };
    zk_err rc = zk_address_parse(addr, &d, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    if (rc != ZK_OK)
        return fail(e, -32602, "invalid params: address: %s", d.text[0] ? d.text : zk_strerror(rc));
    if (no_node(a, e) != 0)
        return -1;
    sc_account_view av;
    memset(&av, 0, sizeof av);
    sc_node_get_account(a->node, addr, &av);
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return fail(e, -32603, "internal error: out of memory");
    put(o, "address", address_string(addr));
    put(o, "id", av.exists ? json_object_new_uint64(av.id) : NULL);
    put(o, "balance", decimal(av.balance));
    put(o, "nonce", json_object_new_uint64(av.nonce));
    put(o, "provenBalance", decimal(av.exists ? av.proven_balance : 0));
    put(o, "provenNonce", json_object_new_uint64(av.exists ? av.proven_nonce : 0));
    *result = o;
    return 0;
}

static const char *deposit_status_name(sc_deposit_status s)
{
    switch (s) {
    case SC_DEP_PENDING_CONFIRMATIONS:
        return "pending_confirmations";
    case SC_DEP_CREDITED:
        return "credited";
    case SC_DEP_REORGED:
        return "reorged";
    }
    return "unknown";
}

static int m_get_deposit(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e)
{
    struct json_object *v = NULL;
    uint64_t id = 0;
    if (one_param(params, "depositId", &v, e) != 0 || integer_param(v, "depositId", &id, e) != 0 ||
        no_node(a, e) != 0)
        return -1;
    sc_deposit_view dv;
    memset(&dv, 0, sizeof dv);
    if (!sc_node_get_deposit(a->node, id, &dv)) {
        *result = NULL;
        return 0;
    }
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return fail(e, -32603, "internal error: out of memory");
    put(o, "depositId", json_object_new_uint64(dv.deposit.deposit_id));
    put(o, "status", json_object_new_string(deposit_status_name(dv.status)));
    put(o, "from", address_string(dv.deposit.from));
    put(o, "to", address_string(dv.deposit.to));
    put(o, "amount", decimal(dv.deposit.amount_gwei));
    put(o, "l1BlockNumber", json_object_new_uint64(dv.deposit.block_number));
    put(o, "l1TxHash", hex_string(dv.deposit.tx_hash, 32));
    put(o, "batch", number_or_null(dv.batch));
    *result = o;
    return 0;
}

static const char *batch_status_name(sc_batch_status s)
{
    switch (s) {
    case SC_BATCH_SEALED:
        return "sealed";
    case SC_BATCH_PROVING:
        return "proving";
    case SC_BATCH_PROVEN:
        return "proven";
    case SC_BATCH_FAILED:
        return "failed";
    }
    return "unknown";
}

/* Batch 0 is the genesis state (SPEC §4): the empty tree's root, nothing in
 * it, and no proof to wait for — shown as `proven`, since a client waiting for
 * "proven" must not wait on it (lastProvenBatch is 0 from the start). */
static int genesis_batch(struct json_object **result, rpc_error *e)
{
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return fail(e, -32603, "internal error: out of memory");
    put(o, "number", json_object_new_uint64(0));
    put(o, "status", json_object_new_string("proven"));
    put(o, "prevStateRoot", NULL);
    put(o, "stateRoot", root_string(ipc_empty_hash(32)));
    put(o, "txCount", json_object_new_uint64(0));
    put(o, "depositCount", json_object_new_uint64(0));
    put(o, "withdrawals", json_object_new_array());
    put(o, "proofSize", NULL);
    put(o, "provingTimeMs", NULL);
    *result = o;
    return 0;
}

static int m_get_batch(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e)
{
    struct json_object *v = NULL;
    uint64_t number = 0;
    if (one_param(params, "number", &v, e) != 0 || integer_param(v, "number", &number, e) != 0 ||
        no_node(a, e) != 0)
        return -1;
    if (number == 0)
        return genesis_batch(result, e);
    sc_batch_view bv;
    memset(&bv, 0, sizeof bv);
    if (!sc_node_get_batch(a->node, number, &bv)) {
        *result = NULL;
        return 0;
    }
    struct json_object *o = json_object_new_object();
    struct json_object *w = json_object_new_array_ext((int)(bv.nwithdrawals < 1024 ? bv.nwithdrawals : 1024));
    if (o == NULL || w == NULL) {
        json_object_put(o);
        json_object_put(w);
        sc_batch_view_free(&bv);
        return fail(e, -32603, "internal error: out of memory");
    }
    for (size_t i = 0; i < bv.nwithdrawals; i++) {
        struct json_object *x = json_object_new_object();
        if (x == NULL)
            continue;
        put(x, "to", address_string(bv.withdrawals[i].to));
        put(x, "amount", decimal(bv.withdrawals[i].amount));
        json_object_array_add(w, x);
    }
    bool proven = bv.status == SC_BATCH_PROVEN;
    put(o, "number", json_object_new_uint64(bv.number));
    put(o, "status", json_object_new_string(batch_status_name(bv.status)));
    put(o, "prevStateRoot", root_string(bv.prev_root));
    put(o, "stateRoot", root_string(bv.root));
    put(o, "txCount", json_object_new_uint64(bv.tx_count));
    put(o, "depositCount", json_object_new_uint64(bv.deposit_count));
    put(o, "withdrawals", w);
    /* Not known before the proof exists: null rather than a misleading 0. */
    put(o, "proofSize", proven ? json_object_new_uint64(bv.proof_size) : NULL);
    put(o, "provingTimeMs", proven ? json_object_new_uint64(bv.proving_ms) : NULL);
    sc_batch_view_free(&bv);
    *result = o;
    return 0;
}

static int m_status(sc_api *a, struct json_object *params, struct json_object **result, rpc_error *e)
{
    bool empty = params == NULL ||
                 (json_object_is_type(params, json_type_array) && json_object_array_length(params) == 0) ||
                 (json_object_is_type(params, json_type_object) && json_object_object_length(params) == 0);
    if (!empty)
        return fail(e, -32602, "invalid params: zkcar_status takes no parameters");
    if (no_node(a, e) != 0)
        return -1;
    sc_status_view s;
    memset(&s, 0, sizeof s);
    sc_node_status(a->node, &s);
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return fail(e, -32603, "internal error: out of memory");
    put(o, "chainId", json_object_new_uint64(s.chain_id));
    put(o, "bridge", address_string(s.bridge));
    put(o, "l1Head", json_object_new_uint64(s.l1_head));
    put(o, "l1Confirmed", json_object_new_uint64(s.l1_confirmed));
    put(o, "nextDepositId", json_object_new_uint64(s.next_deposit_id));
    put(o, "lastBatch", json_object_new_uint64(s.last_batch));
    put(o, "lastProvenBatch", json_object_new_uint64(s.last_proven_batch));
    put(o, "pendingTxs", json_object_new_uint64(s.pending_txs));
    put(o, "accounts", json_object_new_uint64(s.accounts));
    put(o, "stateRoot", root_string(s.state_root));
    *result = o;
    return 0;
}

/* ---- requests --------------------------------------------------------------------- */

/* {"code": e->code, "message": e->message}; NULL when out of memory. */
static struct json_object *error_object(const rpc_error *e)
{
    struct json_object *err = json_object_new_object();
    if (err != NULL) {
        put(err, "code", json_object_new_int(e->code));
        put(err, "message", json_object_new_string(e->message));
    }
    return err;
}

/* {"jsonrpc":"2.0","id":id,"result"|"error":...}; takes ownership of
 * `result`; `id` is borrowed (its reference count is raised). */
static struct json_object *response(struct json_object *id, struct json_object *result, const rpc_error *e)
{
    struct json_object *o = json_object_new_object();
    if (o == NULL) {
        json_object_put(result);
        return NULL;
    }
    put(o, "jsonrpc", json_object_new_string("2.0"));
    put(o, "id", json_object_get(id));
    if (e != NULL)
        put(o, "error", error_object(e));
    else
        put(o, "result", result);
    return o;
}

static struct json_object *error_response(sc_api *a, struct json_object *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static struct json_object *error_response(sc_api *a, struct json_object *id, int code, const char *fmt, ...)
{
    rpc_error e = { .code = code };
    count_error(a, code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    return response(id, NULL, &e);
}

static bool valid_id(struct json_object *id)
{
    return id == NULL || json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_int) ||
           json_object_is_type(id, json_type_double);
}

static void account(sc_api *a, size_t slot, bool ok, uint64_t t0)
{
    zk_metric_inc(ok ? a->requests_ok[slot] : a->requests_error[slot]);
    zk_metric_observe(a->latency[slot], (double)(now_ns() - t0) * 1e-9);
}

/* One request object. Returns the response, or NULL for a notification
 * (*nomem tells an allocation failure apart). */
static struct json_object *handle_one(sc_api *a, struct json_object *req, bool *nomem)
{
    uint64_t t0 = now_ns();
    struct json_object *out = NULL;
    int code = -32600;
    bool notification = false;
    if (!json_object_is_type(req, json_type_object)) {
        account(a, METHOD_OTHER, false, t0);
        out = error_response(a, NULL, -32600, "invalid request: a request must be a JSON object");
        goto done;
    }
    struct json_object *ver = NULL, *method = NULL, *params = NULL, *id = NULL;
    bool has_id = json_object_object_get_ex(req, "id", &id);
    json_object_object_get_ex(req, "jsonrpc", &ver);
    json_object_object_get_ex(req, "method", &method);
    bool has_params = json_object_object_get_ex(req, "params", &params);
    if (!valid_id(id)) {
        account(a, METHOD_OTHER, false, t0);
        out = error_response(a, NULL, -32600, "invalid request: id must be a string, a number or null");
        goto done;
    }
    if (ver == NULL || !json_object_is_type(ver, json_type_string) ||
        strcmp(json_object_get_string(ver), "2.0") != 0) {
        account(a, METHOD_OTHER, false, t0);
        out = error_response(a, id, -32600, "invalid request: \"jsonrpc\" must be \"2.0\"");
        goto done;
    }
    if (method == NULL || !json_object_is_type(method, json_type_string)) {
        account(a, METHOD_OTHER, false, t0);
        out = error_response(a, id, -32600, "invalid request: \"method\" must be a string");
        goto done;
    }
    if (has_params && !json_object_is_type(params, json_type_array) &&
        !json_object_is_type(params, json_type_object)) {
        account(a, METHOD_OTHER, false, t0);
        out = error_response(a, id, -32600, "invalid request: \"params\" must be an array or an object");
        goto done;
    }
    const char *name = json_object_get_string(method);
    size_t slot = METHOD_OTHER;
    size_t name_len = (size_t)json_object_get_string_len(method);
    for (size_t i = 0; i < NMETHODS; i++)
        if (strlen(methods[i].name) == name_len && memcmp(methods[i].name, name, name_len) == 0)
            slot = i;
    if (slot == METHOD_OTHER) {
        account(a, METHOD_OTHER, false, t0);
        code = -32601;
        notification = !has_id;
        if (notification)
            goto done; /* no answer to a notification, even an error */
        out = error_response(a, id, -32601, "method not found: %.80s", name);
        goto done;
    }
    struct json_object *result = NULL;
    rpc_error e = { 0 };
    int rc = methods[slot].fn(a, params, &result, &e);
    api_pending *p = tl_call != NULL ? tl_call->unbound : NULL;
    if (p != NULL) {
        /* Counted when durable (call_finish), its latency with the commit. */
        tl_call->unbound = NULL;
        p->slot = slot;
        p->t0 = t0;
    } else {
        account(a, slot, rc == 0, t0);
    }
    if (rc != 0)
        count_error(a, e.code);
    zk_log(ZK_LOG_DEBUG, "api request", ZKF_STR("method", methods[slot].name), ZKF_I64("code", rc == 0 ? 0 : e.code),
           ZKF_F64("ms", (double)(now_ns() - t0) * 1e-6), ZKF_END);
    if (!has_id) {
        json_object_put(result);
        return NULL; /* a notification: it ran, nobody hears back */
    }
    out = response(id, result, rc == 0 ? NULL : &e);
    if (out == NULL)
        *nomem = true;
    else if (p != NULL)
        p->reply = out; /* borrowed: the body's answer owns it */
    return out;
done:
    zk_log(ZK_LOG_DEBUG, "api request", ZKF_STR("method", "-"), ZKF_I64("code", code),
           ZKF_F64("ms", (double)(now_ns() - t0) * 1e-6), ZKF_END);
    if (out == NULL && !notification)
        *nomem = true;
    return out;
}

/* Parses the body as one JSON text (strict, valid UTF-8, bounded depth,
 * nothing but white space after it) into *out (NULL for the JSON null).
 * Returns false when it is not JSON (or on allocation failure, *nomem). */
static bool parse_body(struct json_object **out, const char *body, size_t len, bool *nomem)
{
    bool ok = false;
    *out = NULL;
    /* json-c needs a terminator to finish a bare number at the end: parse a
     * NUL-terminated copy, including the NUL. */
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        *nomem = true;
        return false;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    struct json_tokener *tok = json_tokener_new_ex(SC_API_JSON_DEPTH);
    struct json_object *obj = NULL;
    if (tok == NULL) {
        *nomem = true;
        goto cleanup;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, copy, (int)len + 1);
    /* JSON null parses to NULL: the tokener's state tells success apart. */
    if (json_tokener_get_error(tok) != json_tokener_success)
        goto cleanup;
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (copy[i] != ' ' && copy[i] != '\t' && copy[i] != '\n' && copy[i] != '\r')
            goto cleanup;
    }
    *out = obj;
    obj = NULL;
    ok = true;
cleanup:
    json_object_put(obj);
    if (tok != NULL)
        json_tokener_free(tok);
    free(copy);
    return ok;
}

/* json-c refuses to parse more than INT_MAX bytes; the body cap keeps far
 * below that. */
_Static_assert(SC_API_DRAIN_MAX < 0x7fffffff, "body sizes fit json-c's int length");

static void pending_done(sc_node_ticket *t, zk_err rc)
{
    api_pending *p = t->ctx;
    api_call *call = p->call;
    pthread_mutex_lock(&call->mu);
    p->rc = rc;
    if (--call->outstanding == 0) {
        if (call->suspended) {
            call->suspended = false;
            MHD_resume_connection(call->conn);
        } else {
            pthread_cond_signal(&call->cond);
        }
    }
    /* The last touch of call: its owner takes mu before freeing it. */
    pthread_mutex_unlock(&call->mu);
}

static api_call *call_new(sc_api *a)
{
    api_call *call = calloc(1, sizeof *call);
    if (call == NULL)
        return NULL;
    call->a = a;
    pthread_mutex_init(&call->mu, NULL);
    pthread_cond_init(&call->cond, NULL);
    return call;
}

/* Frees a call whose tickets are all done. */
static void call_free(api_call *call)
{
    if (call == NULL)
        return;
    pthread_mutex_lock(&call->mu); /* the committer's last unlock is over */
    if (call->outstanding != 0)
        ZK_PANIC("api: a call freed with transactions in its commit");
    pthread_mutex_unlock(&call->mu);
    for (api_pending *p = call->list; p != NULL;) {
        api_pending *next = p->next;
        free(p);
        p = next;
    }
    json_object_put(call->resp);
    pthread_cond_destroy(&call->cond);
    pthread_mutex_destroy(&call->mu);
    free(call);
}

/* Runs every request of the body; call->resp gets the answer (NULL when
 * there is none). Submitted transactions leave tickets in the call.
 * Returns ZK_ERR_NOMEM only (call->resp is then NULL). */
static zk_err call_begin(api_call *call, const char *body, size_t len)
{
    sc_api *a = call->a;
    struct json_object *req = NULL, *resp = NULL;
    bool nomem = false;
    if (len > a->body_max) {
        resp = error_response(a, NULL, -32600, "invalid request: body of %zu bytes exceeds the limit of %zu", len,
                              a->body_max);
        goto done;
    }
    bool parsed = parse_body(&req, body, len, &nomem);
    if (nomem)
        goto done;
    if (!parsed) {
        account(a, METHOD_OTHER, false, now_ns());
        resp = error_response(a, NULL, -32700, "parse error: the body is not valid JSON");
        goto done;
    }
    tl_call = call;
    if (json_object_is_type(req, json_type_array)) {
        size_t n = json_object_array_length(req);
        if (n == 0) {
            resp = error_response(a, NULL, -32600, "invalid request: empty batch");
        } else if (n > a->batch_max) {
            resp = error_response(a, NULL, -32600, "invalid request: batch of %zu requests exceeds the limit of %zu",
                                  n, a->batch_max);
        } else {
            resp = json_object_new_array_ext((int)n);
            if (resp == NULL) {
                nomem = true;
            } else {
                for (size_t i = 0; i < n; i++) {
                    struct json_object *r = handle_one(a, json_object_array_get_idx(req, i), &nomem);
                    if (r != NULL)
                        json_object_array_add(resp, r);
                }
                if (json_object_array_length(resp) == 0) {
                    json_object_put(resp);
                    resp = NULL;
                }
            }
        }
    } else {
        resp = handle_one(a, req, &nomem);
    }
    tl_call = NULL;
done:
    json_object_put(req);
    if (nomem) {
        json_object_put(resp);
        resp = NULL;
        for (api_pending *p = call->list; p != NULL; p = p->next)
            p->reply = NULL; /* they lived in resp */
    }
    call->resp = resp;
    return nomem ? ZK_ERR_NOMEM : ZK_OK;
}

/* Once every ticket is done: accounts for the transactions, turns the
 * answer of any that could not be made durable into an error, and renders
 * the answer into *out (malloc'd; NULL when there is none). */
static zk_err call_finish(api_call *call, char **out, size_t *out_len)
{
    sc_api *a = call->a;
    *out = NULL;
    *out_len = 0;
    for (api_pending *p = call->list; p != NULL; p = p->next) {
        account(a, p->slot, p->rc == ZK_OK, p->t0);
        if (p->rc == ZK_OK)
            continue;
        int code = sc_rpc_code(p->rc);
        count_error(a, code);
        zk_log(ZK_LOG_WARN, "api: an accepted transaction could not be made durable",
               ZKF_STR("error", zk_strerror(p->rc)), ZKF_END);
        if (p->reply == NULL)
            continue;
        rpc_error e;
        fail(&e, code, "%s: the transaction could not be made durable (%s)", code_text(code), zk_strerror(p->rc));
        struct json_object *err = error_object(&e);
        if (err == NULL)
            return ZK_ERR_NOMEM;
        json_object_object_del(p->reply, "result");
        put(p->reply, "error", err);
    }
    if (call->resp == NULL)
        return ZK_OK;
    size_t n = 0;
    const char *text =
        json_object_to_json_string_length(call->resp, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (text == NULL || (*out = malloc(n + 1)) == NULL)
        return ZK_ERR_NOMEM;
    memcpy(*out, text, n + 1);
    *out_len = n;
    return ZK_OK;
}

zk_err sc_api_handle(sc_api *a, const char *body, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    api_call *call = call_new(a);
    if (call == NULL)
        return ZK_ERR_NOMEM;
    zk_err rc = call_begin(call, body, len);
    pthread_mutex_lock(&call->mu);
    while (call->outstanding > 0)
        pthread_cond_wait(&call->cond, &call->mu);
    pthread_mutex_unlock(&call->mu);
    if (rc == ZK_OK)
        rc = call_finish(call, out, out_len);
    if (rc != ZK_OK) {
        free(*out);
        *out = NULL;
        *out_len = 0;
    }
    call_free(call);
    return rc;
}

/* ---- lifecycle --------------------------------------------------------------------- */

static void register_metrics(sc_api *a, zk_metrics *m)
{
    static const double bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
    for (size_t i = 0; i <= NMETHODS; i++) {
        char lab[96];
        const char *name = i < NMETHODS ? methods[i].name : "other";
        snprintf(lab, sizeof lab, "method=%s,result=ok", name);
        a->requests_ok[i] = zk_metrics_series(m, "zkcar_api_requests_total",
                                              "JSON-RPC requests answered, by method and outcome.",
                                              ZK_METRIC_COUNTER, lab, NULL, 0);
        snprintf(lab, sizeof lab, "method=%s,result=error", name);
        a->requests_error[i] = zk_metrics_series(m, "zkcar_api_requests_total",
                                                 "JSON-RPC requests answered, by method and outcome.",
                                                 ZK_METRIC_COUNTER, lab, NULL, 0);
        snprintf(lab, sizeof lab, "method=%s", name);
        a->latency[i] = zk_metrics_series(m, "zkcar_api_request_seconds",
                                          "Time to answer one JSON-RPC request (a sendTransaction includes its commit).",
                                          ZK_METRIC_HISTOGRAM, lab, bounds, sizeof bounds / sizeof bounds[0]);
    }
    for (size_t i = 0; i < NRPC_CODES; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "code=%d", rpc_codes[i]);
        a->errors[i] = zk_metrics_series(m, "zkcar_api_errors_total",
                                         "JSON-RPC error objects answered, by code (-32602: malformed input, "
                                         "1001..1005: SPEC section 4).",
                                         ZK_METRIC_COUNTER, lab, NULL, 0);
    }
    for (size_t i = 0; i < NHTTP_CODES; i++) {
        char lab[32];
        snprintf(lab, sizeof lab, "code=%u", http_codes[i]);
        a->http_responses[i] = zk_metrics_series(m, "zkcar_api_http_responses_total",
                                                 "HTTP responses of the API server, by status code.",
                                                 ZK_METRIC_COUNTER, lab, NULL, 0);
    }
}

zk_err sc_api_create(sc_api **out, sc_node *node, zk_metrics *metrics, const sc_api_options *opt)
{
    sc_api *a = calloc(1, sizeof *a);
    if (a == NULL)
        return ZK_ERR_NOMEM;
    sc_api_options o = { 0 };
    if (opt != NULL)
        o = *opt;
    a->node = node;
    a->body_max = o.body_max ? o.body_max : SC_API_BODY_MAX;
    if (a->body_max > SC_API_DRAIN_MAX)
        a->body_max = SC_API_DRAIN_MAX;
    a->batch_max = o.batch_max ? o.batch_max : SC_API_BATCH_MAX;
    a->connections_max = o.connections_max ? o.connections_max : SC_API_CONNECTIONS_MAX;
    a->idle_timeout_s = o.idle_timeout_s ? o.idle_timeout_s : 60;
    snprintf(a->cors_origin, sizeof a->cors_origin, "%s", o.cors_origin ? o.cors_origin : "*");
    if (metrics != NULL)
        register_metrics(a, metrics);
    *out = a;
    return ZK_OK;
}

/* ---- HTTP ----------------------------------------------------------------------------- */

typedef struct req_ctx {
    char *body;
    size_t len, cap;
    size_t dropped;      /* bytes of an oversized body read and discarded */
    bool too_big;
    bool nomem;          /* running the body ran out of memory */
    bool busy;           /* counted in sc_api.busy until answered */
    api_call *call;      /* once the body is in: its requests have run */
} req_ctx;

static void count_http(sc_api *a, unsigned status)
{
    for (size_t i = 0; i < NHTTP_CODES; i++)
        if (http_codes[i] == status)
            zk_metric_inc(a->http_responses[i]);
}

static void add_cors(sc_api *a, struct MHD_Response *r)
{
    MHD_add_response_header(r, "Access-Control-Allow-Origin", a->cors_origin);
    if (strcmp(a->cors_origin, "*") != 0)
        MHD_add_response_header(r, "Vary", "Origin");
}

/* Queues `body` (taken: freed by libmicrohttpd) with `status`. */
static enum MHD_Result queue(sc_api *a, struct MHD_Connection *c, unsigned status, char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body ? body : (void *)"",
                                                             body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    if (len > 0)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    add_cors(a, r);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST, OPTIONS");
    count_http(a, status);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result queue_error(sc_api *a, struct MHD_Connection *c, unsigned status, int code, const char *fmt,
                                   ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result queue_error(sc_api *a, struct MHD_Connection *c, unsigned status, int code, const char *fmt,
                                   ...)
{
    char msg[API_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct json_object *r = error_response(a, NULL, code, "%s", msg);
    const char *text = r ? json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN) : NULL;
    char *copy = text ? strdup(text) : NULL;
    json_object_put(r);
    if (copy == NULL)
        return MHD_NO;
    return queue(a, c, status, copy, strlen(copy));
}

static enum MHD_Result preflight(sc_api *a, struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    add_cors(a, r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
    /* Browsers ask for the headers they will send (Content-Type for JSON,
     * sometimes Authorization from wallet libraries): allow what is asked. */
    const char *asked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            asked && strlen(asked) < 1024 ? asked : "Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    count_http(a, MHD_HTTP_NO_CONTENT);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result too_big(sc_api *a, struct MHD_Connection *c)
{
    return queue_error(a, c, 413, -32600,
                       "invalid request: body exceeds the limit of %zu bytes", a->body_max);
}

/* The body of `ctx` is answered (or given up): it no longer holds up
 * sc_api_stop. Returns `rc`. */
static enum MHD_Result answered(sc_api *a, req_ctx *ctx, enum MHD_Result rc)
{
    if (ctx->busy) {
        ctx->busy = false;
        atomic_fetch_sub(&a->busy, 1);
    }
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    sc_api *a = cls;
    req_ctx *ctx = *req_cls;
    if (ctx == NULL) {
        /* First call: the headers. */
        if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
            return preflight(a, c);
        if (strcmp(url, "/") != 0)
            return queue_error(a, c, MHD_HTTP_NOT_FOUND, -32600, "not found: the API is at POST /");
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return queue_error(a, c, MHD_HTTP_METHOD_NOT_ALLOWED, -32600,
                               "method not allowed: send JSON-RPC with POST /");
        ctx = calloc(1, sizeof *ctx);
        if (ctx == NULL)
            return MHD_NO;
        *req_cls = ctx;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            /* libmicrohttpd has validated the number already. */
            unsigned long long n = strtoull(cl, NULL, 10);
            if (n > a->body_max) {
                ctx->too_big = true;
                /* A client that waits for "100 Continue" can be answered now
                 * (it never sends the body); a body too big to drain is
                 * answered now as well, and the connection closes. */
                const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
                if ((expect != NULL && strcasecmp(expect, "100-continue") == 0) || n > SC_API_DRAIN_MAX)
                    return too_big(a, c);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!ctx->too_big && ctx->len + n > a->body_max) {
            ctx->too_big = true;
            ctx->dropped = ctx->len;
            free(ctx->body);
            ctx->body = NULL;
            ctx->len = ctx->cap = 0;
        }
        if (ctx->too_big) {
            /* Read and drop the rest, so the client is reading when the 413
             * comes (a close with unread data would reset the connection and
             * lose the answer). */
            ctx->dropped += n;
            if (ctx->dropped > SC_API_DRAIN_MAX)
                return too_big(a, c);
            return MHD_YES;
        }
        if (ctx->len + n > ctx->cap) {
            size_t cap = ctx->cap ? ctx->cap : 1024;
            while (cap < ctx->len + n)
                cap *= 2;
            if (cap > a->body_max)
                cap = a->body_max;
            char *p = realloc(ctx->body, cap);
            if (p == NULL)
                return MHD_NO;
            ctx->body = p;
            ctx->cap = cap;
        }
        memcpy(ctx->body + ctx->len, upload_data, n);
        ctx->len += n;
        return MHD_YES;
    }
    /* The whole body is in. */
    if (ctx->too_big)
        return too_big(a, c);
    if (ctx->call == NULL) {
        /* Counted before the check, so that sc_api_stop (which sets
         * stopping, then waits for busy to drain) misses no body. */
        atomic_fetch_add(&a->busy, 1);
        ctx->busy = true;
        if (atomic_load(&a->stopping))
            return answered(a, ctx, queue_error(a, c, MHD_HTTP_SERVICE_UNAVAILABLE, -32603,
                                                "internal error: the server is stopping"));
        /* Run its requests; if transactions wait for their group commit,
         * sleep without a thread until the committer resumes us, and come
         * back here. */
        if ((ctx->call = call_new(a)) == NULL)
            return answered(a, ctx, queue_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, -32603,
                                                "internal error: out of memory"));
        ctx->call->conn = c;
        ctx->nomem = call_begin(ctx->call, ctx->body ? ctx->body : "", ctx->len) != ZK_OK;
        pthread_mutex_lock(&ctx->call->mu);
        bool wait = ctx->call->outstanding > 0;
        if (wait) {
            ctx->call->suspended = true;
            MHD_suspend_connection(c);
        }
        pthread_mutex_unlock(&ctx->call->mu);
        if (wait)
            return MHD_YES;
    }
    char *out = NULL;
    size_t out_len = 0;
    if (ctx->nomem || call_finish(ctx->call, &out, &out_len) != ZK_OK) {
        free(out);
        return answered(a, ctx, queue_error(a, c, MHD_HTTP_INTERNAL_SERVER_ERROR, -32603,
                                            "internal error: out of memory"));
    }
    if (out == NULL)
        return answered(a, ctx, queue(a, c, MHD_HTTP_NO_CONTENT, NULL, 0));
    return answered(a, ctx, queue(a, c, MHD_HTTP_OK, out, out_len));
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    req_ctx *ctx = *req_cls;
    if (ctx != NULL) {
        answered(cls, ctx, MHD_YES);
        call_free(ctx->call);
        free(ctx->body);
        free(ctx);
        *req_cls = NULL;
    }
}

zk_err sc_api_start(sc_api *a, const char *listen, zk_error_detail *err)
{
    if (a->daemon != NULL)
        return zk_error_set(err, ZK_ERR_INTERNAL, "the API server is already running");
    int fd = -1;
    uint16_t port = 0;
    zk_err rc = sc_http_listen(&fd, &port, listen, err);
    if (rc != ZK_OK)
        return rc;
    /* A pool of epoll threads, one per core: no request blocks its thread
     * (a sendTransaction suspends its connection until the group commit),
     * so a few threads serve every connection, and under load each wake-up
     * answers many of them. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = cpus < 2 ? 2u : cpus > API_POOL_MAX ? API_POOL_MAX : (unsigned)cpus;
    a->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC, 0,
        NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_CONNECTION_LIMIT, a->connections_max, MHD_OPTION_CONNECTION_TIMEOUT, a->idle_timeout_s,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_THREAD_STACK, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
        MHD_OPTION_END);
    if (a->daemon == NULL) {
        close(fd);
        return zk_error_set(err, ZK_ERR_IO, "API server on %s: libmicrohttpd did not start", listen);
    }
    a->port = port;
    zk_log(ZK_LOG_INFO, "api listening", ZKF_STR("addr", listen), ZKF_U64("port", port), ZKF_END);
    return ZK_OK;
}

uint16_t sc_api_port(const sc_api *a)
{
    return a->port;
}

void sc_api_stop(sc_api *a)
{
    if (a == NULL || a->daemon == NULL)
        return;
    /* Stop accepting connections and bodies, then let every body being
     * answered finish — those waiting for their commit are one group commit
     * away (the store commits what is queued even while closing):
     * libmicrohttpd must not stop with a connection suspended, and an
     * acknowledged transaction must get its answer. */
    int lfd = (int)MHD_quiesce_daemon(a->daemon);
    atomic_store(&a->stopping, true);
    while (atomic_load(&a->busy) > 0) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(a->daemon);
    if (lfd >= 0)
        close(lfd);
    atomic_store(&a->stopping, false);
    a->daemon = NULL;
    a->port = 0;
}

void sc_api_destroy(sc_api *a)
{
    if (a == NULL)
        return;
    sc_api_stop(a);
    free(a);
}
