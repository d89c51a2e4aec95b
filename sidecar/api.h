/*
 * sidecar/api.h — the JSON-RPC 2.0 API for wallets and bridge UIs (SPEC §4),
 * on libmicrohttpd.
 *
 * Two layers:
 *   - sc_api_handle: a pure function from a request body to a response body
 *     (parsing, batch requests, methods, error objects). Unit tests and the
 *     fuzz target call it directly.
 *   - sc_api_start: the HTTP server around it: POST / only, CORS (any origin
 *     by default; OPTIONS preflight answered 204), a body-size cap answered
 *     with HTTP 413 that the client can read, and a pool of epoll threads
 *     (one per core) where nothing blocks: a zkcar_sendTransaction is
 *     validated and queued (sc_node_submit_async) and its connection is
 *     suspended until the group commit makes it durable, so waiting never
 *     holds up another client and the transactions of many connections
 *     share one fsync.
 *
 * Protocol details a client can rely on:
 *   - Every JSON-RPC answer is HTTP 200, errors included (as geth does); HTTP
 *     413 (body too big), 404 (a path other than /), 405 (a method other than
 *     POST or OPTIONS) carry a JSON-RPC error object as their body too, with
 *     id null.
 *   - A body that is not JSON: -32700. Valid JSON that is not a request
 *     (not an object, no "jsonrpc":"2.0", method not a string, params neither
 *     array nor object, id neither string, number nor null): -32600, with the
 *     request's id when it had a valid one. An empty batch: one -32600. A
 *     batch of more than batch_max members: one -32600 and nothing runs.
 *   - A request without "id" is a notification: it runs and gets no answer;
 *     a body of notifications only gets HTTP 204 with no body.
 *   - params: by position ([x]) or by name ({"hash": x}, {"address": x},
 *     {"depositId": x}, {"number": x}); for zkcar_sendTransaction the params
 *     object may also be the transaction itself (as the SPEC's table shows
 *     it), or [transaction]. zkcar_status takes none ([], {} or absent).
 *   - Error codes: zk_tx_rpc_code and sc_rpc_code (1001..1005, -32602); a
 *     failure of our own is -32603. Each message is readable and says what
 *     was wrong, e.g. "wrong nonce: account 0x.. expects 3, got 5".
 *
 * Thread-safety: sc_api_handle may be called from any number of threads at
 * once. create/start/stop/destroy from one thread.
 */
#ifndef ZKCAR_SIDECAR_API_H
#define ZKCAR_SIDECAR_API_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "sidecar/metrics.h"
#include "sidecar/node.h"

#define SC_API_BODY_MAX (256u * 1024u)   /* default request body cap, bytes (HTTP 413 beyond) */
#define SC_API_DRAIN_MAX (64u << 20)     /* an oversized body up to this is read and dropped so
                                            the client reads its 413; beyond, we answer at once
                                            and close */
#define SC_API_BATCH_MAX 1000u           /* default cap on members of a batch request */
#define SC_API_CONNECTIONS_MAX 4096u     /* default cap on open connections */
#define SC_API_JSON_DEPTH 16             /* deepest nesting accepted in a request */
#define SC_API_DEFAULT_LISTEN "127.0.0.1:3050"

typedef struct sc_api_options {
    size_t body_max;            /* 0 = SC_API_BODY_MAX */
    size_t batch_max;           /* 0 = SC_API_BATCH_MAX */
    unsigned connections_max;   /* 0 = SC_API_CONNECTIONS_MAX */
    unsigned idle_timeout_s;    /* close a connection idle this long; 0 = 60 */
    const char *cors_origin;    /* Access-Control-Allow-Origin; NULL = "*" */
} sc_api_options;

typedef struct sc_api sc_api;

/* Creates the API over `node` (borrowed; it must outlive the API; NULL gives
 * a node-less API that answers every method with -32603 "no node" after
 * checking its params fully — the mode of the fuzz target). `metrics` may be
 * NULL; otherwise the API registers zkcar_api_requests_total{method,result}
 * and zkcar_api_request_seconds{method} there. `opt` may be NULL (defaults).
 * Returns ZK_OK or ZK_ERR_NOMEM. Nothing listens until sc_api_start. */
zk_err sc_api_create(sc_api **out, sc_node *node, zk_metrics *metrics,
                     const sc_api_options *opt) ZK_MUST_CHECK;

/* Answers one request body `body[0..len)` (need not be NUL-terminated).
 * On ZK_OK, *out is the response body (malloc'd, NUL-terminated; the caller
 * frees it) and *out_len its length, or *out is NULL and *out_len 0 when there
 * is nothing to answer (notifications only). Bad input of any kind is an
 * answer (a JSON-RPC error object), not an error; the function fails only
 * with ZK_ERR_NOMEM. Bodies longer than body_max get the -32600 "too large"
 * answer (the server answers them with HTTP 413 before calling this).
 * Thread-safe. */
zk_err sc_api_handle(sc_api *api, const char *body, size_t len, char **out,
                     size_t *out_len) ZK_MUST_CHECK;

/* Starts the HTTP server on `listen` (HOST:PORT; port 0 picks a free one).
 * Errors: ZK_ERR_USAGE (bad address), ZK_ERR_IO (bind: e.g. in use; the
 * detail says so), ZK_ERR_INTERNAL (already started). */
zk_err sc_api_start(sc_api *api, const char *listen, zk_error_detail *err) ZK_MUST_CHECK;

/* The port the server listens on (0 before sc_api_start). */
uint16_t sc_api_port(const sc_api *api);

/* Stops the server: stops accepting connections, answers a body that
 * arrives from now on with HTTP 503 (-32603 "the server is stopping"), waits
 * for the bodies in flight (a sendTransaction in its commit is answered
 * first; the node and its store must still be open), closes connections.
 * Safe to call when not started. */
void sc_api_stop(sc_api *api);

/* Stops (if needed) and frees. NULL is allowed. */
void sc_api_destroy(sc_api *api);

#endif
