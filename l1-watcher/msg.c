/*
 * l1-watcher/msg.c — the stream's messages as msgpack arrays (docs/l1-watcher.md).
 *
 * Each message is one ZeroMQ frame holding one msgpack array whose first
 * element is the type. The decoder accepts exactly the shape its type defines
 * (element count, integer signs and ranges, binary lengths) and nothing after
 * the array: a frame from an unknown peer is outside data.
 */
#include "l1-watcher/l1w.h"

#include <string.h>

#include <msgpack.h>

#include "common/msgpack.h"

/* ------------------------------------------------------------- encoding */

static void pack_bin(msgpack_packer *pk, const uint8_t *b, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, b, n);
}

/* The 8 fields of a deposit, as DEPOSIT, SEEN and REORGED carry them. */
static void pack_deposit(msgpack_packer *pk, const l1w_deposit *d)
{
    msgpack_pack_uint64(pk, d->deposit_id);
    pack_bin(pk, d->from, 20);
    pack_bin(pk, d->to, 20);
    msgpack_pack_uint64(pk, d->amount_gwei);
    msgpack_pack_uint64(pk, d->block_number);
    pack_bin(pk, d->block_hash, 32);
    pack_bin(pk, d->tx_hash, 32);
    msgpack_pack_uint64(pk, d->log_index);
}

zk_err l1w_msg_encode(uint8_t *buf, size_t cap, size_t *len, const l1w_msg *m)
{
    zk_mp_sink w = { .p = buf, .cap = cap };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, zk_mp_sink_write);
    switch (m->type) {
    case L1W_MSG_HELLO:
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint64(&pk, m->type);
        msgpack_pack_uint64(&pk, m->version);
        msgpack_pack_uint64(&pk, m->stream_id);
        msgpack_pack_uint64(&pk, m->seq);
        msgpack_pack_uint64(&pk, m->credit);
        break;
    case L1W_MSG_ACK:
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, m->type);
        msgpack_pack_uint64(&pk, m->seq);
        msgpack_pack_uint64(&pk, m->credit);
        break;
    case L1W_MSG_WELCOME:
        msgpack_pack_array(&pk, 4);
        msgpack_pack_uint64(&pk, m->type);
        msgpack_pack_uint64(&pk, m->version);
        msgpack_pack_uint64(&pk, m->stream_id);
        msgpack_pack_uint64(&pk, m->seq);
        break;
    case L1W_MSG_DEPOSIT:
        /* [type, seq, deposit...]; SEEN and REORGED are the same without seq */
        msgpack_pack_array(&pk, 10);
        msgpack_pack_uint64(&pk, m->type);
        msgpack_pack_uint64(&pk, m->record.seq);
        pack_deposit(&pk, &m->record.deposit);
        break;
    case L1W_MSG_SEEN:
    case L1W_MSG_REORGED:
        msgpack_pack_array(&pk, 9);
        msgpack_pack_uint64(&pk, m->type);
        pack_deposit(&pk, &m->record.deposit);
        break;
    case L1W_MSG_STATUS:
        msgpack_pack_array(&pk, 4);
        msgpack_pack_uint64(&pk, m->type);
        msgpack_pack_uint64(&pk, m->head);
        msgpack_pack_uint64(&pk, m->confirmed);
        msgpack_pack_uint64(&pk, m->seq);
        break;
    case L1W_MSG_ERROR: {
        size_t n = strnlen(m->text, sizeof m->text - 1);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, m->type);
        msgpack_pack_uint64(&pk, m->code);
        msgpack_pack_str(&pk, n);
        msgpack_pack_str_body(&pk, m->text, n);
        break;
    }
    default:
        return ZK_ERR_INTERNAL;
    }
    if (w.overflow)
        return ZK_ERR_TOO_BIG;
    *len = w.len;
    return ZK_OK;
}

/* ------------------------------------------------------------- decoding */

/* The decoder reads msgpack with the bounded reader of common/msgpack.h
 * (msgpack-c's unpacker allocates what a header announces: see there). */

static zk_err get_u64(uint64_t *out, zk_error_detail *err, const zk_mp_item *it, const char *what)
{
    if (it->kind != ZK_MP_UINT)
        return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "%s is not an unsigned integer", what);
    *out = it->u;
    return ZK_OK;
}

static zk_err get_bin(uint8_t *out, size_t n, zk_error_detail *err, const zk_mp_item *it, const char *what)
{
    if (it->kind != ZK_MP_BIN || it->len != n)
        return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "%s is not %zu bytes of binary", what, n);
    memcpy(out, it->ptr, n);
    return ZK_OK;
}

#define MSG_ELEMENTS_MAX 10
/* The 8 fields of a deposit from e[0..8) (pack_deposit's order), amount in 1..2^63-1. */
static zk_err get_deposit(l1w_deposit *d, zk_error_detail *err, const zk_mp_item *e)
{
    zk_err rc;
    if ((rc = get_u64(&d->deposit_id, err, &e[0], "deposit id")) == ZK_OK
        && (rc = get_bin(d->from, 20, err, &e[1], "from")) == ZK_OK
        && (rc = get_bin(d->to, 20, err, &e[2], "to")) == ZK_OK
        && (rc = get_u64(&d->amount_gwei, err, &e[3], "amount")) == ZK_OK
        && (rc = get_u64(&d->block_number, err, &e[4], "block number")) == ZK_OK
        && (rc = get_bin(d->block_hash, 32, err, &e[5], "block hash")) == ZK_OK
        && (rc = get_bin(d->tx_hash, 32, err, &e[6], "tx hash")) == ZK_OK)
        rc = get_u64(&d->log_index, err, &e[7], "log index");
    if (rc == ZK_OK && (d->amount_gwei == 0 || d->amount_gwei >> 63))
        rc = zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "deposit with amount outside 1..2^63-1");
    return rc;
}

static const uint32_t msg_sizes[] = { 0, 5, 3, 4, 10, 4, 3, 9, 9 };
_Static_assert(sizeof msg_sizes / sizeof msg_sizes[0] == L1W_MSG_REORGED + 1, "a size for every type");

zk_err l1w_msg_decode(l1w_msg *m, zk_error_detail *err, const uint8_t *buf, size_t len)
{
    memset(m, 0, sizeof *m);
    if (len > L1W_MSG_MAX)
        return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "message of %zu bytes exceeds %d", len,
                            L1W_MSG_MAX);
    zk_mp_item e[MSG_ELEMENTS_MAX];
    size_t n;
    const char *why;
    zk_err rc;
    if (!zk_mp_read_flat(buf, len, e, MSG_ELEMENTS_MAX, &n, &why))
        return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "%s", why);
    uint64_t type = 0;
    if ((rc = get_u64(&type, err, &e[0], "type")) != ZK_OK)
        return rc;
    if (type < L1W_MSG_HELLO || type > L1W_MSG_REORGED)
        return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "unknown message type %llu",
                            (unsigned long long)type);
    if (n != msg_sizes[type])
        return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "message type %llu with %zu elements, not %u",
                            (unsigned long long)type, n, msg_sizes[type]);
    m->type = (l1w_msg_type)type;
    switch (m->type) {
    case L1W_MSG_HELLO:
        if ((rc = get_u64(&m->version, err, &e[1], "version")) == ZK_OK
            && (rc = get_u64(&m->stream_id, err, &e[2], "stream id")) == ZK_OK
            && (rc = get_u64(&m->seq, err, &e[3], "last applied")) == ZK_OK)
            rc = get_u64(&m->credit, err, &e[4], "credit");
        break;
    case L1W_MSG_ACK:
        if ((rc = get_u64(&m->seq, err, &e[1], "acked seq")) == ZK_OK)
            rc = get_u64(&m->credit, err, &e[2], "credit");
        break;
    case L1W_MSG_WELCOME:
        if ((rc = get_u64(&m->version, err, &e[1], "version")) == ZK_OK
            && (rc = get_u64(&m->stream_id, err, &e[2], "stream id")) == ZK_OK)
            rc = get_u64(&m->seq, err, &e[3], "last seq");
        break;
    case L1W_MSG_DEPOSIT:
        if ((rc = get_u64(&m->record.seq, err, &e[1], "seq")) == ZK_OK)
            rc = get_deposit(&m->record.deposit, err, &e[2]);
        if (rc == ZK_OK && m->record.seq == 0)
            rc = zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "deposit record with seq 0");
        break;
    case L1W_MSG_SEEN:
    case L1W_MSG_REORGED:
        rc = get_deposit(&m->record.deposit, err, &e[1]);
        break;
    case L1W_MSG_STATUS:
        if ((rc = get_u64(&m->head, err, &e[1], "head")) == ZK_OK
            && (rc = get_u64(&m->confirmed, err, &e[2], "confirmed")) == ZK_OK)
            rc = get_u64(&m->seq, err, &e[3], "last seq");
        break;
    case L1W_MSG_ERROR:
        if ((rc = get_u64(&m->code, err, &e[1], "code")) != ZK_OK)
            break;
        if (e[2].kind != ZK_MP_STR || e[2].len >= sizeof m->text || memchr(e[2].ptr, '\0', e[2].len) != NULL) {
            rc = zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "error text is not a string of < %zu bytes",
                              sizeof m->text);
            break;
        }
        memcpy(m->text, e[2].ptr, e[2].len);
        m->text[e[2].len] = '\0';
        break;
    }
    if (rc != ZK_OK)
        memset(m, 0, sizeof *m);
    return rc;
}
