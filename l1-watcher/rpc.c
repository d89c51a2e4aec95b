/*
 * l1-watcher/rpc.c — JSON-RPC to the execution client over IPC or HTTP.
 *
 * IPC: geth and anvil write replies back to back on a unix stream socket, not
 * necessarily one per line, so replies are found by feeding bytes into an
 * incremental json-c tokener; the bytes after a complete value are kept for
 * the next one. Every reply is capped (reply_max) and every wait bounded
 * (timeout_ms). A transport failure closes the connection; the next call
 * reconnects, so reconnection needs no state machine here — the watcher adds
 * the backoff.
 */
#include "l1-watcher/l1w.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define IPC_READ_CHUNK 65536

struct l1w_rpc {
    bool ipc;
    char *url;             /* HTTP URL, or the socket path for IPC */
    int timeout_ms;
    size_t reply_max;
    uint64_t next_id;
    /* IPC */
    int fd;
    char *pending;         /* bytes received after the last reply */
    size_t pending_len, pending_cap;
    int sub_fd;            /* newHeads subscription connection */
    /* HTTP */
    CURL *curl;
    struct curl_slist *headers;
    json_tokener *tok;     /* the reply body is parsed as it arrives */
    json_object *body_doc; /* the parsed reply, once complete */
    size_t body_len;       /* bytes received, capped by reply_max */
    enum json_tokener_error body_jerr;
    size_t body_err_at;    /* byte offset of a parse error */
    bool body_too_big, body_trailing;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

zk_err l1w_rpc_create(l1w_rpc **out, zk_error_detail *err, const char *url, int timeout_ms,
                      size_t reply_max)
{
    *out = NULL;
    if (url == NULL || url[0] == '\0')
        return zk_error_set(err, ZK_ERR_USAGE, "--l1-rpc: empty URL");
    l1w_rpc *r = calloc(1, sizeof *r);
    if (r == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "rpc client");
    r->fd = -1;
    r->sub_fd = -1;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    r->reply_max = reply_max ? reply_max : L1W_REPLY_MAX_DEFAULT;
    r->next_id = 1;
    const char *path = NULL;
    if (strncmp(url, "ipc://", 6) == 0)
        path = url + 6;
    else if (url[0] == '/' || strncmp(url, "./", 2) == 0)
        path = url;
    if (path != NULL) {
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            free(r);
            return zk_error_set(err, ZK_ERR_USAGE, "--l1-rpc: socket path too long");
        }
        r->ipc = true;
        r->url = strdup(path);
    } else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        r->url = strdup(url);
    } else {
        free(r);
        return zk_error_set(err, ZK_ERR_USAGE,
                            "--l1-rpc: \"%.100s\" is not ipc://PATH, /PATH or http(s)://HOST:PORT", url);
    }
    if (r->url == NULL) {
        free(r);
        return zk_error_set(err, ZK_ERR_NOMEM, "rpc client");
    }
    if (!r->ipc) {
        pthread_once(&curl_once, curl_init_once);
        r->curl = curl_easy_init();
        r->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (r->curl == NULL || r->headers == NULL) {
            l1w_rpc_destroy(r);
            return zk_error_set(err, ZK_ERR_NOMEM, "curl");
        }
    }
    *out = r;
    return ZK_OK;
}

static void ipc_close(l1w_rpc *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->pending_len = 0;
}

void l1w_rpc_destroy(l1w_rpc *r)
{
    if (r == NULL)
        return;
    ipc_close(r);
    l1w_rpc_unsubscribe(r);
    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->headers);
    free(r->pending);
    json_object_put(r->body_doc);
    if (r->tok)
        json_tokener_free(r->tok);
    free(r->url);
    free(r);
}

bool l1w_rpc_is_ipc(const l1w_rpc *r) { return r->ipc; }

/* ------------------------------------------------------------ reply parsing */

static zk_err check_reply(json_object **result, int *rpc_code, zk_error_detail *err,
                          json_object *doc, uint64_t id)
{
    if (!json_object_is_type(doc, json_type_object))
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "reply is not a JSON object");
    json_object *v;
    if (!json_object_object_get_ex(doc, "jsonrpc", &v) || !json_object_is_type(v, json_type_string)
        || strcmp(json_object_get_string(v), "2.0") != 0)
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "reply lacks \"jsonrpc\": \"2.0\"");
    if (!json_object_object_get_ex(doc, "id", &v) || !json_object_is_type(v, json_type_int))
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "reply has no numeric \"id\"");
    uint64_t got = json_object_get_uint64(v);
    if (got != id || json_object_get_int64(v) < 0)
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "reply id %llu answers no request (expected %llu)",
                            (unsigned long long)got, (unsigned long long)id);
    json_object *e;
    if (json_object_object_get_ex(doc, "error", &e) && !json_object_is_type(e, json_type_null)) {
        if (!json_object_is_type(e, json_type_object))
            return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "\"error\" is not an object");
        json_object *code, *msg;
        if (!json_object_object_get_ex(e, "code", &code) || !json_object_is_type(code, json_type_int))
            return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "error object without an integer code");
        int64_t c = json_object_get_int64(code);
        if (c < INT32_MIN || c > INT32_MAX)
            return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "error code out of range");
        const char *text = "";
        if (json_object_object_get_ex(e, "message", &msg) && json_object_is_type(msg, json_type_string))
            text = json_object_get_string(msg);
        if (rpc_code)
            *rpc_code = (int)c;
        return zk_error_set(err, ZK_ERR_L1_RPC, "node error %lld: %.180s", (long long)c, text);
    }
    if (!json_object_object_get_ex(doc, "result", &v))
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "reply has neither \"result\" nor \"error\"");
    *result = json_object_get(v);
    return ZK_OK;
}

static json_tokener *new_tokener(void)
{
    json_tokener *tok = json_tokener_new_ex(L1W_JSON_DEPTH_MAX);
    if (tok)
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    return tok;
}

zk_err l1w_rpc_parse_reply(json_object **result, int *rpc_code, zk_error_detail *err,
                           const char *buf, size_t len, uint64_t id, size_t reply_max)
{
    *result = NULL;
    if (reply_max == 0)
        reply_max = L1W_REPLY_MAX_DEFAULT;
    if (len > reply_max)
        return zk_error_set(err, ZK_ERR_TOO_BIG, "reply of %zu bytes exceeds the cap of %zu", len, reply_max);
    if (len > INT32_MAX)
        return zk_error_set(err, ZK_ERR_TOO_BIG, "reply too large");
    json_tokener *tok = new_tokener();
    if (tok == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "json tokener");
    zk_err rc = ZK_OK;
    json_object *doc = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (doc == NULL) {
        if (jerr == json_tokener_continue)
            rc = zk_error_set(err, ZK_ERR_BAD_JSON, "truncated JSON after %zu bytes", len);
        else
            rc = zk_error_set(err, ZK_ERR_BAD_JSON, "not JSON: %s at byte %zu",
                              json_tokener_error_desc(jerr), json_tokener_get_parse_end(tok));
        goto cleanup;
    }
    /* Only whitespace may follow the value. */
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        char ch = buf[i];
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') {
            rc = zk_error_set(err, ZK_ERR_BAD_JSON, "garbage after the reply at byte %zu", i);
            goto cleanup;
        }
    }
    rc = check_reply(result, rpc_code, err, doc, id);
cleanup:
    json_object_put(doc);
    json_tokener_free(tok);
    return rc;
}

/* ------------------------------------------------------------------- IPC */

static int ipc_connect(const char *path, zk_error_detail *err, zk_err *rc)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *rc = zk_error_set(err, ZK_ERR_IO, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        *rc = zk_error_set(err, ZK_ERR_CLOSED, "connect %.150s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* A unix-socket connect does not block; the calls on it are bounded by poll(). */
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return fd;
}

static zk_err write_all(int fd, const char *buf, size_t len, int64_t deadline, zk_error_detail *err)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return zk_error_set(err, ZK_ERR_TIMEOUT, "IPC write timed out");
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            poll(&p, 1, (int)left);
            continue;
        }
        return zk_error_set(err, ZK_ERR_CLOSED, "IPC write: %s", strerror(errno));
    }
    return ZK_OK;
}

static zk_err pending_reserve(l1w_rpc *r, size_t extra)
{
    if (r->pending_len + extra <= r->pending_cap)
        return ZK_OK;
    size_t cap = r->pending_cap ? r->pending_cap : IPC_READ_CHUNK;
    while (cap < r->pending_len + extra)
        cap *= 2;
    char *p = realloc(r->pending, cap);
    if (p == NULL)
        return ZK_ERR_NOMEM;
    r->pending = p;
    r->pending_cap = cap;
    return ZK_OK;
}

/* Reads from fd until one complete JSON value is parsed; leftover bytes stay
 * in r->pending. The value's size (whitespace before it included) is capped. */
static zk_err ipc_read_value(l1w_rpc *r, int fd, json_object **doc, int64_t deadline,
                             zk_error_detail *err)
{
    *doc = NULL;
    json_tokener *tok = new_tokener();
    if (tok == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "json tokener");
    zk_err rc = ZK_OK;
    size_t consumed = 0; /* bytes of this value fed so far */
    for (;;) {
        /* Feed what we hold. */
        if (r->pending_len > 0) {
            size_t feed = r->pending_len;
            if (feed > INT32_MAX / 2)
                feed = INT32_MAX / 2;
            json_object *v = json_tokener_parse_ex(tok, r->pending, (int)feed);
            enum json_tokener_error je = json_tokener_get_error(tok);
            size_t used = json_tokener_get_parse_end(tok);
            if (v != NULL) {
                memmove(r->pending, r->pending + used, r->pending_len - used);
                r->pending_len -= used;
                *doc = v;
                goto cleanup;
            }
            if (je != json_tokener_continue) {
                rc = zk_error_set(err, ZK_ERR_BAD_JSON, "not JSON: %s at byte %zu of the reply",
                                  json_tokener_error_desc(je), consumed + used);
                goto cleanup;
            }
            consumed += feed;
            r->pending_len = 0;
            if (consumed > r->reply_max) {
                rc = zk_error_set(err, ZK_ERR_TOO_BIG, "reply exceeds the cap of %zu bytes", r->reply_max);
                goto cleanup;
            }
        }
        if (pending_reserve(r, IPC_READ_CHUNK) != ZK_OK) {
            rc = zk_error_set(err, ZK_ERR_NOMEM, "IPC buffer");
            goto cleanup;
        }
        ssize_t n = recv(fd, r->pending + r->pending_len, IPC_READ_CHUNK, 0);
        if (n > 0) {
            r->pending_len += (size_t)n;
            continue;
        }
        if (n == 0) {
            rc = consumed > 0
                     ? zk_error_set(err, ZK_ERR_CLOSED, "node closed the connection mid-reply "
                                    "(truncated JSON after %zu bytes)", consumed)
                     : zk_error_set(err, ZK_ERR_CLOSED, "node closed the connection");
            goto cleanup;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int64_t left = deadline - now_ms();
            if (left <= 0) {
                rc = zk_error_set(err, ZK_ERR_TIMEOUT, "no complete reply within %d ms", r->timeout_ms);
                goto cleanup;
            }
            struct pollfd p = { .fd = fd, .events = POLLIN };
            poll(&p, 1, (int)left);
            continue;
        }
        rc = zk_error_set(err, ZK_ERR_CLOSED, "IPC read: %s", strerror(errno));
        goto cleanup;
    }
cleanup:
    json_tokener_free(tok);
    return rc;
}

static zk_err ipc_call(l1w_rpc *r, json_object **result, int *rpc_code, zk_error_detail *err,
                       const char *req, size_t reqlen, uint64_t id)
{
    zk_err rc;
    int64_t deadline = now_ms() + r->timeout_ms;
    if (r->fd < 0) {
        r->fd = ipc_connect(r->url, err, &rc);
        if (r->fd < 0)
            return rc;
        r->pending_len = 0;
    }
    rc = write_all(r->fd, req, reqlen, deadline, err);
    if (rc != ZK_OK)
        goto fail;
    for (;;) {
        json_object *doc = NULL;
        rc = ipc_read_value(r, r->fd, &doc, deadline, err);
        if (rc != ZK_OK)
            goto fail;
        /* A subscription notification has no id: not ours, skip it. */
        json_object *idv;
        if (json_object_is_type(doc, json_type_object) && !json_object_object_get_ex(doc, "id", &idv)
            && json_object_object_get_ex(doc, "method", &idv)) {
            json_object_put(doc);
            continue;
        }
        rc = check_reply(result, rpc_code, err, doc, id);
        json_object_put(doc);
        if (rc == ZK_ERR_L1_BAD_REPLY)
            goto fail; /* out of step with the node: start over on a fresh connection */
        return rc;
    }
fail:
    ipc_close(r);
    return rc;
}

/* ------------------------------------------------------------------ HTTP */

/* Feeds the body to the tokener as curl delivers it: no second copy of a
 * large reply, and garbage is recognised at its first byte. */
static size_t body_write(char *data, size_t size, size_t nmemb, void *ud)
{
    l1w_rpc *r = ud;
    size_t n = size * nmemb;
    if (r->body_len + n > r->reply_max) {
        r->body_too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    size_t off = 0;
    if (r->body_doc == NULL && r->body_jerr == json_tokener_continue) {
        json_object *v = json_tokener_parse_ex(r->tok, data, (int)n);
        enum json_tokener_error je = json_tokener_get_error(r->tok);
        if (v != NULL) {
            r->body_doc = v;
            off = json_tokener_get_parse_end(r->tok);
        } else if (je != json_tokener_continue) {
            r->body_jerr = je;
            r->body_err_at = r->body_len + json_tokener_get_parse_end(r->tok);
        }
        if (v == NULL)
            off = n;
    }
    for (; off < n && r->body_doc != NULL; off++)
        if (data[off] != ' ' && data[off] != '\n' && data[off] != '\r' && data[off] != '\t')
            r->body_trailing = true;
    r->body_len += n;
    return n;
}

static zk_err http_call(l1w_rpc *r, json_object **result, int *rpc_code, zk_error_detail *err,
                        const char *req, size_t reqlen, uint64_t id)
{
    CURL *c = r->curl;
    if (r->tok == NULL && (r->tok = new_tokener()) == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "json tokener");
    json_tokener_reset(r->tok);
    json_object_put(r->body_doc);
    r->body_doc = NULL;
    r->body_len = 0;
    r->body_jerr = json_tokener_continue;
    r->body_err_at = 0;
    r->body_too_big = r->body_trailing = false;
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)reqlen);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (r->body_too_big)
            return zk_error_set(err, ZK_ERR_TOO_BIG, "reply exceeds the cap of %zu bytes", r->reply_max);
        if (cc == CURLE_OPERATION_TIMEDOUT)
            return zk_error_set(err, ZK_ERR_TIMEOUT, "no reply within %d ms", r->timeout_ms);
        if (cc == CURLE_PARTIAL_FILE)
            return zk_error_set(err, ZK_ERR_CLOSED, "node closed the connection mid-reply "
                                "(truncated after %zu bytes)", r->body_len);
        return zk_error_set(err, ZK_ERR_CLOSED, "HTTP: %s", curl_easy_strerror(cc));
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 429)
        return zk_error_set(err, ZK_ERR_L1_RATE_LIMITED, "HTTP 429 Too Many Requests");
    zk_err rc;
    if (r->body_doc == NULL && r->body_jerr != json_tokener_continue)
        rc = zk_error_set(err, ZK_ERR_BAD_JSON, "not JSON: %s at byte %zu",
                          json_tokener_error_desc(r->body_jerr), r->body_err_at);
    else if (r->body_doc == NULL)
        rc = zk_error_set(err, ZK_ERR_BAD_JSON, "truncated JSON after %zu bytes", r->body_len);
    else if (r->body_trailing)
        rc = zk_error_set(err, ZK_ERR_BAD_JSON, "garbage after the reply");
    else
        rc = check_reply(result, rpc_code, err, r->body_doc, id);
    json_object_put(r->body_doc);
    r->body_doc = NULL;
    if (status != 200 && rc != ZK_ERR_L1_RPC) {
        if (rc == ZK_OK) {
            json_object_put(*result);
            *result = NULL;
        }
        return zk_error_set(err, ZK_ERR_L1_HTTP_STATUS, "HTTP status %ld", status);
    }
    return rc;
}

zk_err l1w_rpc_call(l1w_rpc *r, json_object **result, int *rpc_code, zk_error_detail *err,
                    const char *method, json_object *params)
{
    *result = NULL;
    if (rpc_code)
        *rpc_code = 0;
    uint64_t id = r->next_id++;
    json_object *req = json_object_new_object();
    if (req == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "request");
    json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(req, "id", json_object_new_uint64(id));
    json_object_object_add(req, "method", json_object_new_string(method));
    json_object_object_add(req, "params", params ? json_object_get(params) : json_object_new_array());
    size_t len = 0;
    const char *text = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);
    zk_err rc;
    if (r->ipc)
        rc = ipc_call(r, result, rpc_code, err, text, len, id);
    else
        rc = http_call(r, result, rpc_code, err, text, len, id);
    json_object_put(req);
    if (rc != ZK_OK && err != NULL) {
        char tmp[sizeof err->text];
        memcpy(tmp, err->text, sizeof tmp);
        zk_error_set(err, rc, "%s: %s", method, tmp);
    }
    return rc;
}

/* ---------------------------------------------------------- subscription */

int l1w_rpc_subscribe_heads(l1w_rpc *r)
{
    if (!r->ipc)
        return -1;
    if (r->sub_fd >= 0)
        return r->sub_fd;
    zk_err rc;
    int fd = ipc_connect(r->url, NULL, &rc);
    if (fd < 0)
        return -1;
    static const char req[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}";
    int64_t deadline = now_ms() + r->timeout_ms;
    if (write_all(fd, req, sizeof req - 1, deadline, NULL) != ZK_OK) {
        close(fd);
        return -1;
    }
    /* Read the reply on a private buffer so that the main connection's stays apart. */
    char *save = r->pending;
    size_t save_len = r->pending_len, save_cap = r->pending_cap;
    r->pending = NULL;
    r->pending_len = r->pending_cap = 0;
    json_object *doc = NULL;
    rc = ipc_read_value(r, fd, &doc, deadline, NULL);
    free(r->pending);
    r->pending = save;
    r->pending_len = save_len;
    r->pending_cap = save_cap;
    json_object *res = NULL;
    if (rc == ZK_OK)
        rc = check_reply(&res, NULL, NULL, doc, 1);
    json_object_put(doc);
    json_object_put(res);
    if (rc != ZK_OK) {
        close(fd);
        return -1;
    }
    r->sub_fd = fd;
    return fd;
}

bool l1w_rpc_drain_wakeups(l1w_rpc *r)
{
    if (r->sub_fd < 0)
        return false;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(r->sub_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            continue; /* contents are only a hint; the watcher asks for the head itself */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        return false;
    }
}

void l1w_rpc_unsubscribe(l1w_rpc *r)
{
    if (r->sub_fd >= 0)
        close(r->sub_fd);
    r->sub_fd = -1;
}
