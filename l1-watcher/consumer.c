/*
 * l1-watcher/consumer.c — the receiving end of the deposit stream.
 *
 * A DEALER socket; the session is HELLO (last applied seq) -> WELCOME, then
 * DEPOSIT records within the credit window, ACKs as records are applied, and
 * STATUS heartbeats from the producer. Silence means the producer restarted
 * or the link broke: say HELLO again from the last delivered record (ZeroMQ
 * reconnects by itself). Duplicates are dropped, a gap asks again; a changed
 * stream id is an alert the caller must not paper over.
 *
 * Version 2 adds SEEN and REORGED, which feed the pending view (pending.h)
 * and nothing else. A version-1 producer answers our HELLO with ERROR
 * ZK_ERR_UNSUPPORTED: we say HELLO again as version 1 and go on without
 * them (a rolling upgrade may update the consumer first).
 */
#include "l1-watcher/l1w.h"
#include "l1-watcher/pending.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#define SILENCE_MS 1500    /* no frame this long: HELLO again */
#define KEEPALIVE_MS 1000  /* ACK at least this often so the producer keeps our session */

struct l1w_consumer {
    void *zctx, *sock;
    uint64_t expect_sid;   /* stream id the caller applied from (0 none yet) */
    uint64_t delivered;    /* last seq handed to the caller */
    uint64_t acked;
    uint32_t credit;
    bool welcomed;
    uint64_t version;      /* the version we say HELLO with */
    int64_t last_rx, last_tx;
    uint64_t head, confirmed;
    l1w_pending *pending;  /* the view fed; own_pending or the caller's */
    l1w_pending *own_pending;
    bool unsettled;        /* `last` is delivered and still in the pending view */
    l1w_deposit last;
};

/* The record delivered last leaves the pending view once the caller has
 * applied it (it acks, or asks for the next one): a lookup in between finds
 * it in the view or in the caller's store, never in neither. */
static void settle(l1w_consumer *c)
{
    if (c->unsettled)
        l1w_pending_confirmed(c->pending, &c->last, NULL, NULL);
    c->unsettled = false;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static zk_err send_msg(l1w_consumer *c, zk_error_detail *err, const l1w_msg *m)
{
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    if (l1w_msg_encode(buf, sizeof buf, &len, m) != ZK_OK)
        return zk_error_set(err, ZK_ERR_INTERNAL, "message encoding");
    /* DONTWAIT: if the pipe is full the producer is gone or stuck; the next
     * silence timeout tries again. */
    zmq_send(c->sock, buf, len, ZMQ_DONTWAIT);
    c->last_tx = now_ms();
    return ZK_OK;
}

static zk_err hello(l1w_consumer *c, zk_error_detail *err)
{
    l1w_msg m = { .type = L1W_MSG_HELLO, .version = c->version, .stream_id = c->expect_sid,
                  .seq = c->delivered, .credit = c->credit };
    c->welcomed = false;
    c->last_rx = now_ms(); /* restart the silence clock */
    return send_msg(c, err, &m);
}

zk_err l1w_consumer_create(l1w_consumer **out, zk_error_detail *err, const char *endpoint,
                           uint64_t stream_id, uint64_t last_applied, uint32_t credit)
{
    *out = NULL;
    if (credit == 0 || credit > 65536)
        return zk_error_set(err, ZK_ERR_USAGE, "credit must be 1..65536");
    zk_err rc = ZK_OK;
    l1w_consumer *c = calloc(1, sizeof *c);
    if (c == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "consumer");
    c->expect_sid = stream_id;
    c->delivered = c->acked = last_applied;
    c->credit = credit;
    c->version = L1W_STREAM_VERSION;
    if ((rc = l1w_pending_create(&c->own_pending, err, 0, 0)) != ZK_OK)
        goto cleanup;
    c->pending = c->own_pending;
    c->zctx = zmq_ctx_new();
    c->sock = c->zctx ? zmq_socket(c->zctx, ZMQ_DEALER) : NULL;
    if (c->sock == NULL) {
        rc = zk_error_set(err, ZK_ERR_IO, "zmq: %s", zmq_strerror(zmq_errno()));
        goto cleanup;
    }
    int zero = 0, ivl = 100;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (zmq_connect(c->sock, endpoint) != 0) {
        rc = zk_error_set(err, ZK_ERR_USAGE, "stream endpoint %.150s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto cleanup;
    }
    if ((rc = hello(c, err)) != ZK_OK)
        goto cleanup;
    *out = c;
    c = NULL;
cleanup:
    l1w_consumer_destroy(c);
    return rc;
}

void l1w_consumer_destroy(l1w_consumer *c)
{
    if (c == NULL)
        return;
    if (c->sock)
        zmq_close(c->sock);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    l1w_pending_destroy(c->own_pending);
    free(c);
}

l1w_pending *l1w_consumer_pending(l1w_consumer *c) { return c->pending; }

void l1w_consumer_set_pending(l1w_consumer *c, l1w_pending *view)
{
    l1w_pending_destroy(c->own_pending);
    c->own_pending = NULL;
    c->pending = view;
}

uint64_t l1w_consumer_stream_id(const l1w_consumer *c) { return c->welcomed ? c->expect_sid : 0; }

void l1w_consumer_status(const l1w_consumer *c, uint64_t *head, uint64_t *confirmed)
{
    *head = c->head;
    *confirmed = c->confirmed;
}

zk_err l1w_consumer_next(l1w_consumer *c, l1w_record *rec, zk_error_detail *err, int timeout_ms)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    settle(c);
    for (;;) {
        int64_t now = now_ms();
        zk_err rc;
        if (now - c->last_rx > SILENCE_MS && (rc = hello(c, err)) != ZK_OK)
            return rc;
        if (c->welcomed && now - c->last_tx > KEEPALIVE_MS) {
            l1w_msg a = { .type = L1W_MSG_ACK, .seq = c->acked, .credit = c->credit };
            if ((rc = send_msg(c, err, &a)) != ZK_OK)
                return rc;
        }
        int64_t left = deadline - now;
        if (left < 0)
            left = 0;
        zmq_pollitem_t it = { .socket = c->sock, .events = ZMQ_POLLIN };
        int r = zmq_poll(&it, 1, left > 200 ? 200 : (long)left);
        if (r < 0 && zmq_errno() != EINTR)
            return zk_error_set(err, ZK_ERR_IO, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        if (r <= 0) {
            if (now_ms() >= deadline)
                return zk_error_set(err, ZK_ERR_TIMEOUT, "no record within %d ms", timeout_ms);
            continue;
        }
        uint8_t buf[L1W_MSG_MAX + 1];
        int n = zmq_recv(c->sock, buf, sizeof buf, ZMQ_DONTWAIT);
        if (n < 0)
            continue;
        c->last_rx = now_ms();
        l1w_msg m;
        if ((size_t)n > L1W_MSG_MAX)
            return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "frame above %d bytes", L1W_MSG_MAX);
        if ((rc = l1w_msg_decode(&m, err, buf, (size_t)n)) != ZK_OK)
            return rc;
        switch (m.type) {
        case L1W_MSG_WELCOME:
            if (m.version != c->version)
                return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "producer speaks version %llu",
                                    (unsigned long long)m.version);
            if (c->expect_sid != 0 && m.stream_id != c->expect_sid)
                return zk_error_set(err, ZK_ERR_STREAM_CHANGED,
                                    "stream id %llu, records were applied from %llu: the watcher's "
                                    "outbox was wiped",
                                    (unsigned long long)m.stream_id, (unsigned long long)c->expect_sid);
            if (m.seq < c->delivered)
                return zk_error_set(err, ZK_ERR_STREAM_CHANGED, "producer holds %llu records, %llu applied",
                                    (unsigned long long)m.seq, (unsigned long long)c->delivered);
            c->expect_sid = m.stream_id;
            c->welcomed = true;
            l1w_pending_clear(c->pending); /* the producer's pending set follows */
            break;
        case L1W_MSG_DEPOSIT:
            if (!c->welcomed || m.record.seq <= c->delivered)
                break; /* before the session, or a duplicate */
            if (m.record.seq != c->delivered + 1) {
                if ((rc = hello(c, err)) != ZK_OK) /* a gap: ask again from what we hold */
                    return rc;
                break;
            }
            c->delivered = m.record.seq;
            c->last = m.record.deposit;
            c->unsettled = true;
            *rec = m.record;
            return ZK_OK;
        case L1W_MSG_SEEN:
            if (c->welcomed) {
                /* A view short of memory answers null for a while: not the stream's failure. */
                zk_err arc = l1w_pending_add(c->pending, &m.record.deposit);
                (void)arc;
            }
            break;
        case L1W_MSG_REORGED:
            if (c->welcomed)
                l1w_pending_mark_reorged(c->pending, &m.record.deposit);
            break;
        case L1W_MSG_STATUS:
            c->head = m.head;
            c->confirmed = m.confirmed;
            break;
        case L1W_MSG_ERROR:
            if (m.code == ZK_ERR_UNSUPPORTED && !c->welcomed && c->version > L1W_STREAM_VERSION_MIN) {
                c->version = L1W_STREAM_VERSION_MIN; /* an older producer */
                if ((rc = hello(c, err)) != ZK_OK)
                    return rc;
                break;
            }
            return zk_error_set(err, m.code == ZK_ERR_STREAM_CHANGED ? ZK_ERR_STREAM_CHANGED : ZK_ERR_STREAM_PROTOCOL,
                                "producer: %s", m.text);
        default:
            return zk_error_set(err, ZK_ERR_STREAM_PROTOCOL, "unexpected message type %d from the producer",
                                (int)m.type);
        }
    }
}

zk_err l1w_consumer_ack(l1w_consumer *c, zk_error_detail *err, uint64_t seq)
{
    if (seq < c->acked || seq > c->delivered)
        return zk_error_set(err, ZK_ERR_USAGE, "ack %llu outside %llu..%llu", (unsigned long long)seq,
                            (unsigned long long)c->acked, (unsigned long long)c->delivered);
    c->acked = seq;
    if (seq == c->delivered)
        settle(c);
    l1w_msg a = { .type = L1W_MSG_ACK, .seq = seq, .credit = c->credit };
    return send_msg(c, err, &a);
}
