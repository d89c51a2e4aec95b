/*
 * sidecar/dist_msg.c — the proving-job protocol's messages: one msgpack
 * array per frame, encoded and decoded with bounds (sidecar/dist.h has the
 * contract, docs/sidecar.md "The protocol" the wire). Pure, thread-safe.
 */
#include "sidecar/dist.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "common/msgpack.h"

/* ------------------------------------------------------------- messages */

#define MSG_ELEMENTS_MAX 10
/* Element count of each type, index = type. */
static const uint8_t msg_sizes[] = { 0, 4, 4, 10, 2, 7, 1, 1, 3 };

static size_t payload_cap(sc_dist_msg_type t)
{
    return t == SC_DIST_JOB ? SC_DIST_JOB_MAX : t == SC_DIST_RESULT ? SC_DIST_PROOF_MAX : 0;
}

static void pack_text(msgpack_packer *pk, const char *s)
{
    size_t n = strnlen(s, SC_DIST_TEXT_MAX);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Everything but the payload's bytes (which come last). */
static zk_err encode_prefix(zk_mp_sink *w, const sc_dist_msg *m)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, w, zk_mp_sink_write);
    if (m->type < SC_DIST_READY || m->type > SC_DIST_ERROR)
        return ZK_ERR_INTERNAL;
    if (m->payload_len > payload_cap(m->type))
        return ZK_ERR_TOO_BIG;
    msgpack_pack_array(&pk, msg_sizes[m->type]);
    msgpack_pack_uint64(&pk, m->type);
    switch (m->type) {
    case SC_DIST_READY:
        msgpack_pack_uint64(&pk, m->version);
        msgpack_pack_uint64(&pk, m->capacity);
        pack_text(&pk, m->text);
        break;
    case SC_DIST_WELCOME:
        msgpack_pack_uint64(&pk, m->version);
        msgpack_pack_uint64(&pk, m->heartbeat_ms);
        msgpack_pack_uint64(&pk, m->timeout_ms);
        break;
    case SC_DIST_JOB:
        msgpack_pack_uint64(&pk, m->attempt);
        msgpack_pack_uint64(&pk, m->batch);
        msgpack_pack_uint64(&pk, m->params.hash);
        msgpack_pack_uint64(&pk, m->params.log_blowup);
        msgpack_pack_uint64(&pk, m->params.num_queries);
        msgpack_pack_uint64(&pk, m->params.grinding_bits);
        msgpack_pack_uint64(&pk, m->params.fri_log_arity);
        msgpack_pack_uint64(&pk, m->params.fri_log_final);
        msgpack_pack_bin(&pk, m->payload_len);
        break;
    case SC_DIST_HEARTBEAT:
        msgpack_pack_uint64(&pk, m->attempt);
        break;
    case SC_DIST_RESULT:
        msgpack_pack_uint64(&pk, m->attempt);
        msgpack_pack_uint64(&pk, m->batch);
        msgpack_pack_uint64(&pk, m->code);
        msgpack_pack_uint64(&pk, m->prove_ms);
        pack_text(&pk, m->text);
        msgpack_pack_bin(&pk, m->payload_len);
        break;
    case SC_DIST_PING:
    case SC_DIST_BYE:
        break;
    case SC_DIST_ERROR:
        msgpack_pack_uint64(&pk, m->code);
        pack_text(&pk, m->text);
        break;
    }
    return w->overflow ? ZK_ERR_TOO_BIG : ZK_OK;
}

size_t sc_dist_msg_encoded_max(const sc_dist_msg *m)
{
    return SC_DIST_CONTROL_MAX + m->payload_len;
}

zk_err sc_dist_msg_encode_head(uint8_t *buf, size_t cap, size_t *len, const sc_dist_msg *m)
{
    zk_mp_sink w = { .p = buf, .cap = cap };
    zk_err rc = encode_prefix(&w, m);
    *len = w.len;
    return rc;
}

zk_err sc_dist_msg_encode(uint8_t *buf, size_t cap, size_t *len, const sc_dist_msg *m)
{
    size_t head;
    zk_err rc = sc_dist_msg_encode_head(buf, cap, &head, m);
    if (rc != ZK_OK)
        return rc;
    if (m->payload_len > cap - head)
        return ZK_ERR_TOO_BIG;
    if (m->payload_len)
        memcpy(buf + head, m->payload, m->payload_len);
    *len = head + m->payload_len;
    return ZK_OK;
}

static zk_err get_u64(uint64_t *out, zk_error_detail *err, const zk_mp_item *it, const char *what,
                      uint64_t min, uint64_t max)
{
    if (it->kind != ZK_MP_UINT)
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "%s is not an unsigned integer", what);
    if (it->u < min || it->u > max)
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "%s %" PRIu64 " outside %" PRIu64 "..%" PRIu64, what,
                            it->u, min, max);
    *out = it->u;
    return ZK_OK;
}

static zk_err get_text(char *out, zk_error_detail *err, const zk_mp_item *it, const char *what, bool nonempty)
{
    if (it->kind != ZK_MP_STR || it->len > SC_DIST_TEXT_MAX || (nonempty && it->len == 0)
        || memchr(it->ptr, '\0', it->len) != NULL)
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "%s is not a string of %s%d bytes without NUL", what,
                            nonempty ? "1.." : "0..", SC_DIST_TEXT_MAX);
    memcpy(out, it->ptr, it->len);
    out[it->len] = '\0';
    return ZK_OK;
}

static zk_err get_payload(sc_dist_msg *m, zk_error_detail *err, const zk_mp_item *it, const char *what)
{
    if (it->kind != ZK_MP_BIN)
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "%s is not binary", what);
    if (it->len > payload_cap(m->type))
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "%s of %zu bytes exceeds its cap of %zu", what, it->len,
                            payload_cap(m->type));
    m->payload = it->len ? it->ptr : NULL;
    m->payload_len = it->len;
    return ZK_OK;
}

zk_err sc_dist_msg_decode(sc_dist_msg *m, zk_error_detail *err, const uint8_t *buf, size_t len)
{
    memset(m, 0, sizeof *m);
    if (len > SC_DIST_CONTROL_MAX + SC_DIST_JOB_MAX)
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "frame of %zu bytes exceeds every cap", len);
    zk_mp_item e[MSG_ELEMENTS_MAX];
    size_t n;
    const char *why;
    if (!zk_mp_read_flat(buf, len, e, MSG_ELEMENTS_MAX, &n, &why))
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "%s", why);
    uint64_t type = 0, v = 0;
    zk_err rc = get_u64(&type, err, &e[0], "message type", SC_DIST_READY, SC_DIST_ERROR);
    if (rc != ZK_OK)
        return rc;
    if (n != msg_sizes[type])
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "message type %" PRIu64 " with %zu elements, not %u", type,
                            n, msg_sizes[type]);
    m->type = (sc_dist_msg_type)type;
    /* Only JOB and RESULT carry a payload; every other message is small. */
    if (payload_cap(m->type) == 0 && len > SC_DIST_CONTROL_MAX)
        return zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "message type %" PRIu64 " of %zu bytes exceeds %d", type,
                            len, SC_DIST_CONTROL_MAX);
    switch (m->type) {
    case SC_DIST_READY:
        if ((rc = get_u64(&m->version, err, &e[1], "version", 0, UINT32_MAX)) == ZK_OK
            && (rc = get_u64(&m->capacity, err, &e[2], "capacity", 1, SC_DIST_CAPACITY_MAX)) == ZK_OK)
            rc = get_text(m->text, err, &e[3], "worker name", true);
        break;
    case SC_DIST_WELCOME:
        if ((rc = get_u64(&m->version, err, &e[1], "version", 0, UINT32_MAX)) == ZK_OK
            && (rc = get_u64(&m->heartbeat_ms, err, &e[2], "heartbeat_ms", 1, 60000)) == ZK_OK)
            rc = get_u64(&m->timeout_ms, err, &e[3], "timeout_ms", m->heartbeat_ms, 3600000);
        break;
    case SC_DIST_JOB:
        if ((rc = get_u64(&m->attempt, err, &e[1], "attempt", 1, UINT64_MAX)) != ZK_OK
            || (rc = get_u64(&m->batch, err, &e[2], "batch", 1, UINT64_MAX)) != ZK_OK)
            break;
        if ((rc = get_u64(&v, err, &e[3], "hash", 0, UINT8_MAX)) != ZK_OK)
            break;
        m->params.hash = (uint8_t)v;
        if ((rc = get_u64(&v, err, &e[4], "log_blowup", 0, UINT8_MAX)) != ZK_OK)
            break;
        m->params.log_blowup = (uint8_t)v;
        if ((rc = get_u64(&v, err, &e[5], "num_queries", 0, UINT16_MAX)) != ZK_OK)
            break;
        m->params.num_queries = (uint16_t)v;
        if ((rc = get_u64(&v, err, &e[6], "grinding_bits", 0, UINT8_MAX)) != ZK_OK)
            break;
        m->params.grinding_bits = (uint8_t)v;
        if ((rc = get_u64(&v, err, &e[7], "fri_log_arity", 0, UINT8_MAX)) != ZK_OK)
            break;
        m->params.fri_log_arity = (uint8_t)v;
        if ((rc = get_u64(&v, err, &e[8], "fri_log_final", 0, UINT8_MAX)) != ZK_OK)
            break;
        m->params.fri_log_final = (uint8_t)v;
        if ((rc = get_payload(m, err, &e[9], "job")) == ZK_OK && m->payload_len == 0)
            rc = zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "empty job");
        break;
    case SC_DIST_HEARTBEAT:
        rc = get_u64(&m->attempt, err, &e[1], "attempt", 0, UINT64_MAX);
        break;
    case SC_DIST_RESULT:
        if ((rc = get_u64(&m->attempt, err, &e[1], "attempt", 1, UINT64_MAX)) == ZK_OK
            && (rc = get_u64(&m->batch, err, &e[2], "batch", 1, UINT64_MAX)) == ZK_OK
            && (rc = get_u64(&m->code, err, &e[3], "code", 0, UINT32_MAX)) == ZK_OK
            && (rc = get_u64(&m->prove_ms, err, &e[4], "prove_ms", 0, UINT32_MAX)) == ZK_OK
            && (rc = get_text(m->text, err, &e[5], "failure text", false)) == ZK_OK
            && (rc = get_payload(m, err, &e[6], "proof")) == ZK_OK
            && (m->code == 0) != (m->payload_len > 0))
            rc = zk_error_set(err, ZK_ERR_WORKER_PROTOCOL, "a result carries a proof exactly when its code is 0");
        break;
    case SC_DIST_PING:
    case SC_DIST_BYE:
        break;
    case SC_DIST_ERROR:
        if ((rc = get_u64(&m->code, err, &e[1], "code", 0, UINT32_MAX)) == ZK_OK)
            rc = get_text(m->text, err, &e[2], "error text", false);
        break;
    }
    if (rc != ZK_OK)
        memset(m, 0, sizeof *m);
    return rc;
}
