/*
 * l1-watcher/watcher.c — the follower and the stream server, on one thread.
 *
 * The loop: one bounded step against L1 (a chunk of catch-up, or the head),
 * then serve the stream until the next poll is due or a newHeads wake-up
 * arrives. Nothing here trusts the node's "removed" flag or the ordering of
 * separate calls:
 *
 *  - Confirmed range [S, E] (E <= the confirmed height T): the header of S
 *    must name our cursor block as its parent (else a confirmed block was
 *    reorged: fatal); every log's blockHash must equal the header we hold or
 *    fetch for its number (else the chain moved between the calls: retry);
 *    deposit ids must continue densely (else fatal); then deposits and the
 *    cursor (E + 1, hash of E) are committed in one sqlite transaction.
 *  - Near the head a chain of recent headers is kept, linked by parentHash
 *    from the cursor block up. A new head is linked by walking its parents by
 *    hash until one matches a header we hold: that is the common ancestor;
 *    what we held above it was reorged out (counted, logged). An ancestor
 *    below the cursor block means a confirmed block changed: fatal.
 *  - Unconfirmed window [cursor, head]: once the confirmed range is caught
 *    up and the head moved, one eth_getLogs over it, each log's blockHash
 *    checked against the chain held (a mismatch is a race: the view is left
 *    as it was until the next round), feeds the pending view (pending.h) and,
 *    through it, SEEN and REORGED to the stream's consumers. Nothing there is
 *    committed or credited.
 *
 * Why deposits are delivered only at depth N (or finalized): see l1w.h.
 */
#include "l1-watcher/l1w.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/hex.h"
#include "common/log.h"
#include "l1-watcher/pending.h"

#define CHAIN_CAP (L1W_CONFIRMATIONS_MAX + 1024) /* headers held near the head */
#define FOLLOW_WINDOW 256       /* a head further ahead than this is caught up by range */
#define LOGS_CHUNK_START 1000   /* first eth_getLogs range, blocks */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PEERS_MAX 64
#define PEER_ID_MAX 255
#define PEER_IDLE_MS 10000      /* a consumer silent this long is forgotten */
#define HEARTBEAT_MS 500        /* STATUS to every consumer */
#define CREDIT_MAX 65536
#define PUMP_BATCH 256
#define DEPOSITS_MAX 100000     /* deposits committed in one transaction at most */
#define SUBSCRIBE_RETRY_MS 2000 /* between newHeads subscription attempts */

typedef struct peer {
    uint8_t id[PEER_ID_MAX];
    size_t idlen;
    uint64_t next;     /* next seq to send */
    uint64_t acked;    /* applied by the consumer */
    uint64_t credit;
    uint64_t version;  /* its HELLO's: SEEN and REORGED from version 2 */
    int64_t last_rx;
} peer;

struct l1w_watcher {
    l1w_config cfg;
    char *l1_rpc, *data_dir, *endpoint;
    l1w_deposit_fn on_deposit;
    void *ctx;
    l1w_rpc *rpc;
    l1w_outbox *ob;
    void *zctx, *router;
    atomic_bool stop;
    bool chain_checked;
    uint64_t chunk;        /* next eth_getLogs range, blocks */
    uint64_t chunk_good;   /* widest range answered lately */
    uint64_t chunk_bad;    /* narrowest range refused lately (0: none) */
    unsigned chunk_wins;   /* answers since chunk_bad was set */
    /* Recent headers, chain[i].number == chain[0].number + i, linked by parentHash. */
    l1w_header *chain;
    size_t chain_len;
    l1w_deposit *deps;
    l1w_record *recs;
    peer peers[PEERS_MAX];
    size_t npeers;
    int64_t last_heartbeat;
    int64_t subscribe_after;  /* no newHeads subscription attempt before this time */
    l1w_pending *pending;     /* unconfirmed and reorged deposits (pending.h) */
    bool scan_valid;          /* the last window scan was of (scan_next, scan_head) */
    uint64_t scan_next;
    uint8_t scan_head[32];
    pthread_mutex_t lock; /* guards stats */
    l1w_stats stats;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void l1w_config_defaults(l1w_config *c)
{
    memset(c, 0, sizeof *c);
    c->confirmations = 12;
    c->data_dir = "./zkcar-data";
    c->poll_ms = 1000;
    c->rpc_timeout_ms = 10000;
}

static bool is_fatal(zk_err rc)
{
    switch (rc) {
    case ZK_ERR_L1_CHAIN_ID:
    case ZK_ERR_L1_DEEP_REORG:
    case ZK_ERR_L1_DEPOSIT_GAP:
    case ZK_ERR_L1_DATA_DIR:
    case ZK_ERR_IO:
    case ZK_ERR_NOMEM:
    case ZK_ERR_INTERNAL:
    case ZK_ERR_USAGE:
        return true;
    default:
        return false;
    }
}

/* --------------------------------------------------------------- create */

zk_err l1w_watcher_create(l1w_watcher **out, zk_error_detail *err, const l1w_config *cfg,
                          l1w_deposit_fn on_deposit, void *ctx)
{
    *out = NULL;
    zk_err rc = ZK_OK;
    if (cfg->confirmations == 0
        || (cfg->confirmations > L1W_CONFIRMATIONS_MAX && cfg->confirmations != L1W_CONFIRMATIONS_FINALIZED))
        return zk_error_set(err, ZK_ERR_USAGE, "--confirmations must be 1..%d or finalized",
                            L1W_CONFIRMATIONS_MAX);
    if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0')
        return zk_error_set(err, ZK_ERR_USAGE, "--data-dir is empty");
    l1w_watcher *w = calloc(1, sizeof *w);
    if (w == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "watcher");
    pthread_mutex_init(&w->lock, NULL);
    w->cfg = *cfg;
    w->on_deposit = on_deposit;
    w->ctx = ctx;
    if (w->cfg.poll_ms <= 0)
        w->cfg.poll_ms = 1000;
    if (w->cfg.logs_chunk_max == 0)
        w->cfg.logs_chunk_max = 10000;
    w->chunk = w->cfg.logs_chunk_max < LOGS_CHUNK_START ? w->cfg.logs_chunk_max : LOGS_CHUNK_START;
    w->l1_rpc = cfg->l1_rpc ? strdup(cfg->l1_rpc) : NULL;
    w->data_dir = strdup(cfg->data_dir);
    w->endpoint = cfg->stream_endpoint ? strdup(cfg->stream_endpoint) : NULL;
    w->chain = calloc(CHAIN_CAP, sizeof *w->chain);
    w->deps = calloc(DEPOSITS_MAX, sizeof *w->deps);
    w->recs = calloc(PUMP_BATCH, sizeof *w->recs);
    if ((rc = l1w_pending_create(&w->pending, err, 0, 0)) != ZK_OK)
        goto cleanup;
    if (w->data_dir == NULL || w->chain == NULL || w->deps == NULL || w->recs == NULL
        || (cfg->l1_rpc && !w->l1_rpc) || (cfg->stream_endpoint && !w->endpoint)) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "watcher");
        goto cleanup;
    }
    w->cfg.l1_rpc = w->l1_rpc;
    w->cfg.data_dir = w->data_dir;
    w->cfg.stream_endpoint = w->endpoint;
    if ((rc = l1w_rpc_create(&w->rpc, err, w->l1_rpc, w->cfg.rpc_timeout_ms, w->cfg.reply_max)) != ZK_OK)
        goto cleanup;
    if (mkdir(w->data_dir, 0700) != 0 && errno != EEXIST) {
        rc = zk_error_set(err, ZK_ERR_IO, "--data-dir %.150s: %s", w->data_dir, strerror(errno));
        goto cleanup;
    }
    size_t plen = strlen(w->data_dir) + 32;
    char *path = malloc(plen);
    if (path == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "watcher");
        goto cleanup;
    }
    snprintf(path, plen, "%s/l1-watcher.sqlite", w->data_dir);
    rc = l1w_outbox_open(&w->ob, err, path, w->cfg.chain_id, w->cfg.bridge, w->cfg.from_block);
    free(path);
    if (rc != ZK_OK)
        goto cleanup;
    if (w->endpoint) {
        w->zctx = zmq_ctx_new();
        w->router = w->zctx ? zmq_socket(w->zctx, ZMQ_ROUTER) : NULL;
        int one = 1, zero = 0;
        if (w->router == NULL) {
            rc = zk_error_set(err, ZK_ERR_IO, "zmq: %s", zmq_strerror(zmq_errno()));
            goto cleanup;
        }
        /* Credit, not the high-water mark, bounds what is in flight to a consumer. */
        int hwm = 2 * CREDIT_MAX;
        zmq_setsockopt(w->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt(w->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(w->router, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_bind(w->router, w->endpoint) != 0) {
            /* a port in use is a runtime failure (exit 1), a malformed endpoint usage */
            int e = zmq_errno();
            rc = zk_error_set(err, e == EADDRINUSE ? ZK_ERR_IO : ZK_ERR_USAGE, "--stream %.150s: %s", w->endpoint,
                              zmq_strerror(e));
            goto cleanup;
        }
    }
    l1w_cursor c;
    l1w_outbox_cursor(w->ob, &c);
    w->stats.chain_id = w->cfg.chain_id;
    w->stats.l1_confirmed = c.next_block ? c.next_block - 1 : 0;
    w->stats.next_deposit_id = c.next_deposit_id;
    w->stats.last_seq = l1w_outbox_last_seq(w->ob);
    w->stats.logs_chunk = w->chunk;
    *out = w;
    w = NULL;
cleanup:
    l1w_watcher_destroy(w);
    return rc;
}

void l1w_watcher_destroy(l1w_watcher *w)
{
    if (w == NULL)
        return;
    if (w->router)
        zmq_close(w->router);
    if (w->zctx)
        zmq_ctx_term(w->zctx);
    l1w_outbox_close(w->ob);
    l1w_rpc_destroy(w->rpc);
    l1w_pending_destroy(w->pending);
    pthread_mutex_destroy(&w->lock);
    free(w->chain);
    free(w->deps);
    free(w->recs);
    free(w->l1_rpc);
    free(w->data_dir);
    free(w->endpoint);
    free(w);
}

void l1w_watcher_stop(l1w_watcher *w) { atomic_store(&w->stop, true); }

void l1w_watcher_stats(l1w_watcher *w, l1w_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->lock);
    size_t pending = 0;
    l1w_pending_counts(w->pending, &pending, NULL, &out->deposits_reorged_total);
    out->deposits_pending = pending;
}

l1w_pending *l1w_watcher_pending(l1w_watcher *w) { return w->pending; }

/* --------------------------------------------------------------- stream */

static void peer_send(l1w_watcher *w, size_t i, const l1w_msg *m, bool *gone, bool *full)
{
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    *gone = *full = false;
    if (l1w_msg_encode(buf, sizeof buf, &len, m) != ZK_OK)
        ZK_PANIC("stream message does not fit L1W_MSG_MAX");
    peer *p = &w->peers[i];
    if (zmq_send(w->router, p->id, p->idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EAGAIN)
            *full = true;
        else
            *gone = true;
        return;
    }
    if (zmq_send(w->router, buf, len, ZMQ_DONTWAIT) < 0)
        *gone = true;
}

static void peer_drop(l1w_watcher *w, size_t i)
{
    w->peers[i] = w->peers[--w->npeers];
}

/* Sends what each consumer's credit allows. */
static zk_err pump(l1w_watcher *w, zk_error_detail *err)
{
    uint64_t last = l1w_outbox_last_seq(w->ob);
    for (size_t i = 0; i < w->npeers;) {
        peer *p = &w->peers[i];
        bool gone = false, full = false;
        while (!gone && !full && p->next <= last && p->next <= p->acked + p->credit) {
            uint64_t want = p->acked + p->credit - p->next + 1;
            if (want > PUMP_BATCH)
                want = PUMP_BATCH;
            size_t n = 0;
            zk_err rc = l1w_outbox_read(w->ob, err, w->recs, (size_t)want, &n, p->next);
            if (rc != ZK_OK)
                return rc;
            if (n == 0)
                break;
            for (size_t k = 0; k < n && !gone && !full; k++) {
                l1w_msg m = { .type = L1W_MSG_DEPOSIT, .record = w->recs[k] };
                peer_send(w, i, &m, &gone, &full);
                if (!gone && !full)
                    p->next = w->recs[k].seq + 1;
            }
        }
        if (gone)
            peer_drop(w, i);
        else
            i++;
    }
    return ZK_OK;
}

static void heartbeat(l1w_watcher *w)
{
    int64_t now = now_ms();
    if (now - w->last_heartbeat < HEARTBEAT_MS)
        return;
    w->last_heartbeat = now;
    l1w_msg m = { .type = L1W_MSG_STATUS };
    pthread_mutex_lock(&w->lock);
    m.head = w->stats.l1_head;
    m.confirmed = w->stats.l1_confirmed;
    pthread_mutex_unlock(&w->lock);
    m.seq = l1w_outbox_last_seq(w->ob);
    for (size_t i = 0; i < w->npeers;) {
        bool gone, full;
        if (now - w->peers[i].last_rx > PEER_IDLE_MS) {
            peer_drop(w, i);
            continue;
        }
        peer_send(w, i, &m, &gone, &full);
        if (gone)
            peer_drop(w, i);
        else
            i++;
    }
}

static void send_error(l1w_watcher *w, const uint8_t *id, size_t idlen, zk_err code, const char *text)
{
    l1w_msg m = { .type = L1W_MSG_ERROR, .code = (uint64_t)code };
    snprintf(m.text, sizeof m.text, "%.127s", text);
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    if (l1w_msg_encode(buf, sizeof buf, &len, &m) != ZK_OK)
        return;
    if (zmq_send(w->router, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(w->router, buf, len, ZMQ_DONTWAIT);
}

static void handle_frame(l1w_watcher *w, const uint8_t *id, size_t idlen, const uint8_t *buf, size_t len)
{
    l1w_msg m;
    zk_error_detail e = { 0 };
    if (l1w_msg_decode(&m, &e, buf, len) != ZK_OK) {
        zk_log(ZK_LOG_WARN, "bad stream frame", ZKF_STR("error", e.text), ZKF_END);
        send_error(w, id, idlen, ZK_ERR_STREAM_PROTOCOL, e.text);
        return;
    }
    size_t i;
    for (i = 0; i < w->npeers; i++)
        if (w->peers[i].idlen == idlen && memcmp(w->peers[i].id, id, idlen) == 0)
            break;
    uint64_t sid = l1w_outbox_stream_id(w->ob), last = l1w_outbox_last_seq(w->ob);
    if (m.type == L1W_MSG_HELLO) {
        if (m.version < L1W_STREAM_VERSION_MIN || m.version > L1W_STREAM_VERSION) {
            send_error(w, id, idlen, ZK_ERR_UNSUPPORTED, "stream version not supported (this producer speaks 1 and 2)");
            return;
        }
        if (m.stream_id != 0 && m.stream_id != sid) {
            send_error(w, id, idlen, ZK_ERR_STREAM_CHANGED,
                       "stream id changed: the watcher's outbox was wiped; the consumer must not resume");
            return;
        }
        if (m.seq > last) {
            send_error(w, id, idlen, ZK_ERR_STREAM_CHANGED, "consumer applied more records than the outbox holds");
            return;
        }
        if (i == w->npeers) {
            if (w->npeers == PEERS_MAX || idlen > PEER_ID_MAX) {
                send_error(w, id, idlen, ZK_ERR_STREAM_PROTOCOL, "too many consumers");
                return;
            }
            w->npeers++;
            memcpy(w->peers[i].id, id, idlen);
            w->peers[i].idlen = idlen;
        }
        peer *p = &w->peers[i];
        p->acked = m.seq;
        p->next = m.seq + 1;
        p->credit = m.credit == 0 ? 1 : m.credit > CREDIT_MAX ? CREDIT_MAX : m.credit;
        p->version = m.version;
        p->last_rx = now_ms();
        l1w_msg wm = { .type = L1W_MSG_WELCOME, .version = m.version, .stream_id = sid, .seq = last };
        bool gone, full;
        peer_send(w, i, &wm, &gone, &full);
        if (gone || full) {
            peer_drop(w, i);
            return;
        }
        if (p->version >= 2) {
            /* The whole pending set (the consumer cleared its own on WELCOME).
             * w->deps is free here: confirm() and the window scan use it only
             * within a step, on this same thread. */
            size_t n = l1w_pending_snapshot(w->pending, w->deps, DEPOSITS_MAX);
            for (size_t k = 0; k < n && !gone && !full; k++) {
                l1w_msg sm = { .type = L1W_MSG_SEEN, .record = { .deposit = w->deps[k] } };
                peer_send(w, i, &sm, &gone, &full);
            }
            if (gone)
                peer_drop(w, i);
        }
        return;
    }
    if (m.type == L1W_MSG_ACK) {
        if (i == w->npeers)
            return; /* not in session (e.g. we restarted): it will say HELLO when idle */
        peer *p = &w->peers[i];
        p->last_rx = now_ms();
        if (m.seq < p->acked)
            return; /* a keepalive from before a re-HELLO */
        if (m.seq >= p->next) {
            send_error(w, id, idlen, ZK_ERR_STREAM_PROTOCOL, "ACK outside the records sent");
            peer_drop(w, i);
            return;
        }
        p->acked = m.seq;
        p->credit = m.credit == 0 ? 1 : m.credit > CREDIT_MAX ? CREDIT_MAX : m.credit;
        return;
    }
    send_error(w, id, idlen, ZK_ERR_STREAM_PROTOCOL, "a consumer sends only HELLO and ACK");
}

static void recv_frames(l1w_watcher *w)
{
    for (int budget = 0; budget < 1024; budget++) {
        uint8_t id[PEER_ID_MAX + 1], buf[L1W_MSG_MAX + 1];
        int idn = zmq_recv(w->router, id, sizeof id, ZMQ_DONTWAIT);
        if (idn < 0)
            return;
        int more = 0;
        size_t ms = sizeof more;
        zmq_getsockopt(w->router, ZMQ_RCVMORE, &more, &ms);
        if (!more)
            continue;
        int n = zmq_recv(w->router, buf, sizeof buf, ZMQ_DONTWAIT);
        /* Drop any further parts. */
        for (;;) {
            zmq_getsockopt(w->router, ZMQ_RCVMORE, &more, &ms);
            if (!more)
                break;
            uint8_t junk[64];
            if (zmq_recv(w->router, junk, sizeof junk, ZMQ_DONTWAIT) < 0)
                break;
            n = (int)sizeof buf; /* a multi-part message is not ours: reject below */
        }
        if (n < 0 || idn > PEER_ID_MAX)
            continue;
        if ((size_t)n > L1W_MSG_MAX) {
            send_error(w, id, (size_t)idn, ZK_ERR_STREAM_PROTOCOL, "frame too large or multi-part");
            continue;
        }
        handle_frame(w, id, (size_t)idn, buf, (size_t)n);
    }
}

/* Serves the stream for up to timeout_ms; returns early on a newHeads wake-up. */
static zk_err serve(l1w_watcher *w, int timeout_ms, zk_error_detail *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (w->router) {
            /* Frames first: during a long catch-up serve() is called with no time to
             * wait, and a consumer's HELLO or ACK must still be heard. */
            recv_frames(w);
            zk_err rc = pump(w, err);
            if (rc != ZK_OK)
                return rc;
            heartbeat(w);
        }
        int64_t left = deadline - now_ms();
        if (left <= 0 || atomic_load(&w->stop))
            return ZK_OK;
        zmq_pollitem_t items[2];
        int n = 0, sub_idx = -1;
        if (w->router)
            items[n++] = (zmq_pollitem_t){ .socket = w->router, .events = ZMQ_POLLIN };
        int sfd = -1;
        if (l1w_rpc_is_ipc(w->rpc) && now_ms() >= w->subscribe_after) {
            sfd = l1w_rpc_subscribe_heads(w->rpc);
            if (sfd < 0) /* node down, or no eth_subscribe: poll, and ask again later */
                w->subscribe_after = now_ms() + SUBSCRIBE_RETRY_MS;
        }
        if ((sfd >= 0) != w->stats.newheads) {
            pthread_mutex_lock(&w->lock);
            w->stats.newheads = sfd >= 0;
            pthread_mutex_unlock(&w->lock);
        }
        if (sfd >= 0) {
            sub_idx = n;
            items[n++] = (zmq_pollitem_t){ .fd = sfd, .events = ZMQ_POLLIN };
        }
        long slice = left > 100 ? 100 : (long)left; /* notice stop() soon */
        int r = n ? zmq_poll(items, n, slice) : (usleep((useconds_t)slice * 1000), 0);
        if (r < 0 && zmq_errno() != EINTR)
            return zk_error_set(err, ZK_ERR_IO, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        if (r <= 0)
            continue;
        if (sub_idx >= 0 && items[sub_idx].revents) {
            if (!l1w_rpc_drain_wakeups(w->rpc))
                l1w_rpc_unsubscribe(w->rpc);
            if (w->router) {
                zk_err rc = pump(w, err);
                if (rc != ZK_OK)
                    return rc;
            }
            return ZK_OK;
        }
    }
}

/* --------------------------------------------------------------- L1 */

static zk_err get_block(l1w_watcher *w, l1w_header *h, bool *found, zk_error_detail *err,
                        const char *method, json_object *param0)
{
    json_object *params = json_object_new_array();
    json_object_array_add(params, param0);
    json_object_array_add(params, json_object_new_boolean(0));
    json_object *res = NULL;
    int code;
    zk_err rc = l1w_rpc_call(w->rpc, &res, &code, err, method, params);
    json_object_put(params);
    *found = false;
    if (rc != ZK_OK)
        return rc;
    if (res != NULL) {
        zk_error_detail d;
        rc = l1w_header_decode(h, &d, res);
        if (rc != ZK_OK)
            rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "%s: %s", method, d.text);
        else
            *found = true;
    }
    json_object_put(res);
    return rc;
}

static zk_err block_by_tag(l1w_watcher *w, l1w_header *h, bool *found, zk_error_detail *err, const char *tag)
{
    return get_block(w, h, found, err, "eth_getBlockByNumber", json_object_new_string(tag));
}

static zk_err block_by_number(l1w_watcher *w, l1w_header *h, zk_error_detail *err, uint64_t n)
{
    /* Near the head, the linked chain answers. */
    if (w->chain_len && n >= w->chain[0].number && n < w->chain[0].number + w->chain_len) {
        *h = w->chain[n - w->chain[0].number];
        return ZK_OK;
    }
    char q[24];
    snprintf(q, sizeof q, "0x%llx", (unsigned long long)n);
    bool found;
    zk_err rc = get_block(w, h, &found, err, "eth_getBlockByNumber", json_object_new_string(q));
    if (rc == ZK_OK && !found)
        return zk_error_set(err, ZK_ERR_L1_RACE, "block %llu is unknown to the node", (unsigned long long)n);
    if (rc == ZK_OK && h->number != n)
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "asked for block %llu, got %llu",
                            (unsigned long long)n, (unsigned long long)h->number);
    return rc;
}

static zk_err block_by_hash(l1w_watcher *w, l1w_header *h, zk_error_detail *err, const uint8_t hash[32])
{
    char q[67];
    zk_hex_encode(q, hash, 32);
    bool found;
    zk_err rc = get_block(w, h, &found, err, "eth_getBlockByHash", json_object_new_string(q));
    if (rc == ZK_OK && !found)
        return zk_error_set(err, ZK_ERR_L1_RACE, "block %s is unknown to the node", q);
    if (rc == ZK_OK && memcmp(h->hash, hash, 32) != 0)
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_getBlockByHash answered another block");
    return rc;
}

static zk_err check_chain_id(l1w_watcher *w, zk_error_detail *err)
{
    json_object *res = NULL;
    zk_err rc = l1w_rpc_call(w->rpc, &res, NULL, err, "eth_chainId", NULL);
    if (rc != ZK_OK)
        return rc;
    uint64_t id = 0;
    zk_error_detail d;
    if (!json_object_is_type(res, json_type_string)
        || l1w_quantity_parse(&id, &d, json_object_get_string(res), (size_t)json_object_get_string_len(res))
               != ZK_OK)
        rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_chainId: result is not a quantity");
    else if (w->cfg.chain_id != 0 && id != w->cfg.chain_id)
        rc = zk_error_set(err, ZK_ERR_L1_CHAIN_ID, "the node is on chain %llu, configured for %llu",
                          (unsigned long long)id, (unsigned long long)w->cfg.chain_id);
    else if (l1w_outbox_chain_id(w->ob) != 0 && id != l1w_outbox_chain_id(w->ob))
        rc = zk_error_set(err, ZK_ERR_L1_CHAIN_ID, "the node is on chain %llu, the outbox holds chain %llu",
                          (unsigned long long)id, (unsigned long long)l1w_outbox_chain_id(w->ob));
    else if (l1w_outbox_chain_id(w->ob) == 0)
        rc = l1w_outbox_set_chain_id(w->ob, err, id); /* remembered: a later node must match */
    json_object_put(res);
    if (rc == ZK_OK) {
        pthread_mutex_lock(&w->lock);
        w->stats.chain_id = id;
        pthread_mutex_unlock(&w->lock);
    }
    return rc;
}

static void chain_prune(l1w_watcher *w, uint64_t keep_from)
{
    if (w->chain_len == 0 || keep_from <= w->chain[0].number)
        return;
    uint64_t drop = keep_from - w->chain[0].number;
    if (drop >= w->chain_len) {
        w->chain_len = 0;
        return;
    }
    memmove(w->chain, w->chain + drop, (w->chain_len - (size_t)drop) * sizeof *w->chain);
    w->chain_len -= (size_t)drop;
}

static zk_err deep_reorg(l1w_watcher *w, zk_error_detail *err, uint64_t number)
{
    return zk_error_set(err, ZK_ERR_L1_DEEP_REORG,
                        "block %llu, already confirmed, is no longer on the canonical chain: "
                        "a reorg deeper than the confirmation depth",
                        (unsigned long long)number);
}

/* Links `head` to the chain of recent headers (see the top of the file). */
static zk_err follow(l1w_watcher *w, const l1w_header *head, zk_error_detail *err)
{
    l1w_cursor c;
    l1w_outbox_cursor(w->ob, &c);
    if (w->chain_len == 0) {
        uint64_t base = c.next_block ? c.next_block - 1 : 0;
        if (head->number < base || head->number - base > FOLLOW_WINDOW)
            return ZK_OK; /* far behind: the range catch-up takes it */
        l1w_header b;
        zk_err rc = block_by_number(w, &b, err, base);
        if (rc != ZK_OK)
            return rc;
        if (c.has_prev && memcmp(b.hash, c.prev_hash, 32) != 0)
            return deep_reorg(w, err, base);
        w->chain[0] = b;
        w->chain_len = 1;
    }
    uint64_t base = w->chain[0].number, tip = base + w->chain_len - 1;
    if (head->number < base) /* a lagging or restarted node: wait for it (a changed chain shows later) */
        return zk_error_set(err, ZK_ERR_L1_RACE, "the node's head %llu is below the confirmed block %llu",
                            (unsigned long long)head->number, (unsigned long long)base);
    if (head->number <= tip && memcmp(w->chain[head->number - base].hash, head->hash, 32) == 0)
        return ZK_OK;
    if (head->number > tip + FOLLOW_WINDOW || head->number + 1 > base + CHAIN_CAP) {
        w->chain_len = 0;
        return ZK_OK;
    }
    l1w_header fresh[FOLLOW_WINDOW + 1];
    size_t nfresh = 0;
    fresh[nfresh++] = *head;
    for (;;) {
        const l1w_header *cur = &fresh[nfresh - 1];
        if (cur->number == 0 || cur->number - 1 < base) {
            /* The new chain does not pass through our base, the confirmed block. */
            return deep_reorg(w, err, base);
        }
        uint64_t pn = cur->number - 1;
        if (pn <= tip && memcmp(w->chain[pn - base].hash, cur->parent_hash, 32) == 0) {
            uint64_t removed = tip - pn;
            if (removed > 0) {
                pthread_mutex_lock(&w->lock);
                w->stats.reorgs_total++;
                if (removed > w->stats.reorg_depth_max)
                    w->stats.reorg_depth_max = removed;
                pthread_mutex_unlock(&w->lock);
                zk_log(ZK_LOG_WARN, "L1 reorg", ZKF_U64("depth", removed), ZKF_U64("ancestor", pn),
                       ZKF_U64("old_tip", tip), ZKF_U64("new_head", head->number), ZKF_END);
            }
            w->chain_len = (size_t)(pn - base + 1);
            for (size_t k = nfresh; k-- > 0;)
                w->chain[w->chain_len++] = fresh[k];
            return ZK_OK;
        }
        if (nfresh > FOLLOW_WINDOW) {
            w->chain_len = 0;
            return ZK_OK;
        }
        l1w_header p;
        zk_err rc = block_by_hash(w, &p, err, cur->parent_hash);
        if (rc != ZK_OK)
            return rc;
        if (p.number != pn)
            return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "parent of block %llu has number %llu",
                                (unsigned long long)cur->number, (unsigned long long)p.number);
        fresh[nfresh++] = p;
    }
}

/* Is this eth_getLogs failure the node saying "ask for less"? (REFERENCE.md §3) */
static bool logs_too_big(zk_err rc, int code, const char *text)
{
    if (rc == ZK_ERR_TOO_BIG || rc == ZK_ERR_TIMEOUT)
        return true;
    if (rc != ZK_ERR_L1_RPC)
        return false;
    if (code == -32005)
        return true;
    static const char *const hints[] = { "too many", "range", "limit", "exceed", "too large",
                                         "max", "10000 results", "response size" };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcasestr(text, hints[i]) != NULL)
            return true;
    return false;
}

/*
 * The eth_getLogs range adapts (REFERENCE.md §3): a refusal of width W halves
 * it (or falls back to the widest width answered lately, if narrower than W);
 * an answer grows it — doubling while no refusal is known, else halfway
 * towards the narrowest refused width, so it settles just under the node's
 * limit instead of bouncing off it. After CHUNK_RETRY answers the refusal is
 * forgotten and the range grows back (the limit may be on results, which
 * vary with deposit density).
 */
#define CHUNK_RETRY 64

static void chunk_refused(l1w_watcher *w, uint64_t width)
{
    w->chunk_bad = width;
    w->chunk_wins = 0;
    uint64_t half = width / 2 ? width / 2 : 1;
    w->chunk = w->chunk_good && w->chunk_good < width && w->chunk_good > half ? w->chunk_good : half;
    if (w->chunk_good >= width)
        w->chunk_good = 0;
}

static void chunk_answered(l1w_watcher *w, uint64_t width)
{
    w->chunk_good = width;
    if (w->chunk_bad && ++w->chunk_wins >= CHUNK_RETRY)
        w->chunk_bad = 0;
    uint64_t next = w->chunk_bad ? width + (w->chunk_bad - width) / 2 : width * 2;
    if (w->chunk_bad && next >= w->chunk_bad)
        next = w->chunk_bad - 1;
    if (next < width)
        next = width;
    w->chunk = next < w->cfg.logs_chunk_max ? next : w->cfg.logs_chunk_max;
}

/* eth_getLogs for the bridge's Deposit events in blocks [S, E]. */
static zk_err get_logs(l1w_watcher *w, json_object **logs, int *code, zk_error_detail *err, uint64_t S, uint64_t E)
{
    char from[24], to[24], addr[43];
    snprintf(from, sizeof from, "0x%llx", (unsigned long long)S);
    snprintf(to, sizeof to, "0x%llx", (unsigned long long)E);
    zk_hex_encode(addr, w->cfg.bridge, 20);
    json_object *filter = json_object_new_object();
    json_object_object_add(filter, "fromBlock", json_object_new_string(from));
    json_object_object_add(filter, "toBlock", json_object_new_string(to));
    json_object_object_add(filter, "address", json_object_new_string(addr));
    json_object *topics = json_object_new_array();
    json_object_array_add(topics, json_object_new_string("0x" L1W_DEPOSIT_TOPIC_HEX));
    json_object_object_add(filter, "topics", topics);
    json_object *params = json_object_new_array();
    json_object_array_add(params, filter);
    zk_err rc = l1w_rpc_call(w->rpc, logs, code, err, "eth_getLogs", params);
    json_object_put(params);
    return rc;
}

/* Delivers the confirmed deposits of [S, min(T, S + chunk - 1)]; *more when T is not reached. */
static zk_err confirm(l1w_watcher *w, uint64_t T, bool *more, zk_error_detail *err)
{
    l1w_cursor c;
    l1w_outbox_cursor(w->ob, &c);
    uint64_t S = c.next_block, E = T;
    if (E - S + 1 > w->chunk)
        E = S + w->chunk - 1;
    l1w_header hs, he;
    zk_err rc = block_by_number(w, &hs, err, S);
    if (rc != ZK_OK)
        return rc;
    if (c.has_prev && memcmp(hs.parent_hash, c.prev_hash, 32) != 0)
        return deep_reorg(w, err, S - 1);

    json_object *logs = NULL;
    int code = 0;
    rc = get_logs(w, &logs, &code, err, S, E);
    if (rc != ZK_OK) {
        if (logs_too_big(rc, code, err ? err->text : "") && E > S) {
            chunk_refused(w, E - S + 1);
            zk_log(ZK_LOG_INFO, "eth_getLogs range narrowed", ZKF_U64("blocks", w->chunk),
                   ZKF_STR("reason", err ? err->text : ""), ZKF_END);
            *more = true;
            rc = ZK_OK;
        }
        goto cleanup;
    }
    if (!json_object_is_type(logs, json_type_array)) {
        rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_getLogs: result is not an array");
        goto cleanup;
    }
    size_t n = json_object_array_length(logs);
    if (n > DEPOSITS_MAX) {
        if (E == S) {
            rc = zk_error_set(err, ZK_ERR_TOO_BIG, "more than %d deposits in block %llu", DEPOSITS_MAX,
                              (unsigned long long)S);
            goto cleanup;
        }
        chunk_refused(w, E - S + 1);
        *more = true;
        goto cleanup;
    }
    uint64_t next_id = c.next_deposit_id;
    l1w_header hb = { 0 };
    bool have_hb = false;
    for (size_t i = 0; i < n; i++) {
        l1w_deposit *d = &w->deps[i];
        zk_error_detail de;
        if ((rc = l1w_log_decode(d, &de, json_object_array_get_idx(logs, i), w->cfg.bridge)) != ZK_OK) {
            rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_getLogs: log %zu: %s", i, de.text);
            goto cleanup;
        }
        if (d->block_number < S || d->block_number > E
            || (i > 0 && (d->block_number < d[-1].block_number
                          || (d->block_number == d[-1].block_number && d->log_index <= d[-1].log_index)))) {
            rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_getLogs: log %zu out of range or order", i);
            goto cleanup;
        }
        if (!have_hb || hb.number != d->block_number) {
            if ((rc = block_by_number(w, &hb, err, d->block_number)) != ZK_OK)
                goto cleanup;
            have_hb = true;
        }
        if (memcmp(hb.hash, d->block_hash, 32) != 0) {
            rc = zk_error_set(err, ZK_ERR_L1_RACE, "log in block %llu names another block hash",
                              (unsigned long long)d->block_number);
            goto cleanup;
        }
        if (d->deposit_id != next_id) {
            rc = zk_error_set(err, ZK_ERR_L1_DEPOSIT_GAP,
                              "deposit id %llu in block %llu where %llu was expected",
                              (unsigned long long)d->deposit_id, (unsigned long long)d->block_number,
                              (unsigned long long)next_id);
            goto cleanup;
        }
        next_id++;
    }
    if ((rc = block_by_number(w, &he, err, E)) != ZK_OK)
        goto cleanup;
    l1w_cursor nc = { .next_block = E + 1, .next_deposit_id = next_id, .has_prev = true };
    memcpy(nc.prev_hash, he.hash, 32);
    uint64_t first_seq = l1w_outbox_last_seq(w->ob) + 1;
    if ((rc = l1w_outbox_commit(w->ob, err, w->deps, n, &nc)) != ZK_OK)
        goto cleanup;
    chain_prune(w, E);
    if (E - S + 1 == w->chunk)
        chunk_answered(w, E - S + 1);
    pthread_mutex_lock(&w->lock);
    w->stats.l1_confirmed = E;
    w->stats.next_deposit_id = next_id;
    w->stats.deposits_total += n;
    w->stats.last_seq = first_seq + n - 1;
    w->stats.logs_chunk = w->chunk;
    pthread_mutex_unlock(&w->lock);
    if (n > 0)
        zk_log(ZK_LOG_INFO, "deposits confirmed", ZKF_U64("count", n), ZKF_U64("first_id", next_id - n),
               ZKF_U64("to_block", E), ZKF_U64("last_seq", first_seq + n - 1), ZKF_END);
    /* Committed: no longer pending — after the embedder took it, so that a
     * lookup between the two finds it in one place or the other. The
     * consumers learn it from the records. */
    for (size_t i = 0; i < n; i++) {
        if (w->on_deposit) {
            l1w_record r = { .seq = first_seq + i, .deposit = w->deps[i] };
            w->on_deposit(w->ctx, &r);
        }
        l1w_pending_confirmed(w->pending, &w->deps[i], NULL, NULL);
    }
    *more = E < T;
cleanup:
    json_object_put(logs);
    return rc;
}

/* The pending view's changes go to every consumer that speaks version 2. */
static void tell_peers(void *ctx, l1w_pending_event ev, const l1w_deposit *d)
{
    l1w_watcher *w = ctx;
    if (ev == L1W_PENDING_REORGED)
        zk_log(ZK_LOG_WARN, "unconfirmed deposit reorged out", ZKF_U64("deposit_id", d->deposit_id),
               ZKF_U64("l1_block", d->block_number), ZKF_END);
    else
        zk_log(ZK_LOG_DEBUG, "deposit seen", ZKF_U64("deposit_id", d->deposit_id),
               ZKF_U64("l1_block", d->block_number), ZKF_END);
    if (w->router == NULL)
        return;
    l1w_msg m = { .type = ev == L1W_PENDING_SEEN ? L1W_MSG_SEEN : L1W_MSG_REORGED, .record = { .deposit = *d } };
    for (size_t i = 0; i < w->npeers;) {
        bool gone = false, full = false;
        if (w->peers[i].version >= 2)
            peer_send(w, i, &m, &gone, &full); /* full: this informational message is lost */
        if (gone)
            peer_drop(w, i);
        else
            i++;
    }
}

/* Reads the logs of the unconfirmed window [S, head] into w->deps; *n gets
 * the count. ZK_ERR_L1_RACE when a log names a block hash the chain we hold
 * does not have at its number (the caller made sure it holds S..head). */
static zk_err window_logs(l1w_watcher *w, size_t *n, zk_error_detail *err, uint64_t S, const l1w_header *head)
{
    json_object *logs = NULL;
    int code = 0;
    zk_err rc = get_logs(w, &logs, &code, err, S, head->number);
    if (rc != ZK_OK)
        goto cleanup;
    if (!json_object_is_type(logs, json_type_array)) {
        rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_getLogs: result is not an array");
        goto cleanup;
    }
    size_t count = json_object_array_length(logs);
    if (count > DEPOSITS_MAX) {
        rc = zk_error_set(err, ZK_ERR_TOO_BIG, "more than %d deposits above the confirmed block", DEPOSITS_MAX);
        goto cleanup;
    }
    uint64_t base = w->chain[0].number;
    for (size_t i = 0; i < count; i++) {
        l1w_deposit *d = &w->deps[i];
        zk_error_detail de;
        if ((rc = l1w_log_decode(d, &de, json_object_array_get_idx(logs, i), w->cfg.bridge)) != ZK_OK) {
            rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_getLogs: log %zu: %s", i, de.text);
            goto cleanup;
        }
        if (d->block_number < S || d->block_number > head->number
            || (i > 0 && (d->block_number < d[-1].block_number
                          || (d->block_number == d[-1].block_number && d->log_index <= d[-1].log_index)))) {
            rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_getLogs: log %zu out of range or order", i);
            goto cleanup;
        }
        if (memcmp(w->chain[d->block_number - base].hash, d->block_hash, 32) != 0) {
            rc = zk_error_set(err, ZK_ERR_L1_RACE, "log in block %llu names another block hash",
                              (unsigned long long)d->block_number);
            goto cleanup;
        }
    }
    *n = count;
cleanup:
    json_object_put(logs);
    return rc;
}

/* The unconfirmed window (see the top of the file). Informational: a failure
 * is logged and leaves the view as it was; it never holds up confirmed deposits. */
static void scan_window(l1w_watcher *w, const l1w_header *head)
{
    l1w_cursor c;
    l1w_outbox_cursor(w->ob, &c);
    if (w->scan_valid && w->scan_next == c.next_block && memcmp(w->scan_head, head->hash, 32) == 0)
        return; /* the head did not move: nothing to ask */
    uint64_t S = c.next_block;
    size_t n = 0;
    if (S <= head->number) {
        if (head->number - S + 1 > w->cfg.logs_chunk_max)
            return; /* a window this wide is a catch-up (or finalized lagging far): wait */
        /* The chain held must cover S..head with this very head. */
        if (w->chain_len == 0 || w->chain[0].number > S || w->chain[0].number + w->chain_len - 1 < head->number
            || memcmp(w->chain[head->number - w->chain[0].number].hash, head->hash, 32) != 0)
            return;
        zk_error_detail e = { 0 };
        zk_err rc = window_logs(w, &n, &e, S, head);
        if (rc != ZK_OK) {
            zk_log(rc == ZK_ERR_L1_RACE ? ZK_LOG_DEBUG : ZK_LOG_WARN, "unconfirmed window not scanned",
                   ZKF_STR("reason", zk_strerror(rc)), ZKF_STR("detail", e.text), ZKF_END);
            return;
        }
    }
    if (l1w_pending_update(w->pending, S, w->deps, n, tell_peers, w) != ZK_OK) {
        zk_log(ZK_LOG_WARN, "unconfirmed window not scanned", ZKF_STR("reason", zk_strerror(ZK_ERR_NOMEM)), ZKF_END);
        return;
    }
    w->scan_valid = true;
    w->scan_next = S;
    memcpy(w->scan_head, head->hash, 32);
}

static zk_err step(l1w_watcher *w, bool *more, zk_error_detail *err)
{
    *more = false;
    if (!w->chain_checked) {
        zk_err rc = check_chain_id(w, err);
        if (rc != ZK_OK)
            return rc;
        w->chain_checked = true;
    }
    l1w_header head;
    bool found;
    zk_err rc = block_by_tag(w, &head, &found, err, "latest");
    if (rc != ZK_OK)
        return rc;
    if (!found)
        return zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "the node has no latest block");
    if ((rc = follow(w, &head, err)) != ZK_OK)
        return rc;
    pthread_mutex_lock(&w->lock); /* after follow(): a head in the stats is linked */
    w->stats.l1_head = head.number;
    pthread_mutex_unlock(&w->lock);
    uint64_t T;
    bool have_t;
    if (w->cfg.confirmations == L1W_CONFIRMATIONS_FINALIZED) {
        l1w_header fin;
        zk_error_detail fe;
        /* geth errors until the consensus layer finalizes: that is "not yet". */
        rc = block_by_tag(w, &fin, &found, &fe, "finalized");
        if (rc == ZK_ERR_L1_RPC)
            found = false;
        else if (rc != ZK_OK)
            return zk_error_set(err, rc, "%s", fe.text);
        have_t = found;
        T = found ? fin.number : 0;
        if (found && fin.number <= head.number && w->chain_len && fin.number >= w->chain[0].number
            && fin.number < w->chain[0].number + w->chain_len
            && memcmp(w->chain[fin.number - w->chain[0].number].hash, fin.hash, 32) != 0)
            return zk_error_set(err, ZK_ERR_L1_RACE, "finalized block is not on the chain we hold yet");
    } else {
        have_t = head.number + 1 >= w->cfg.confirmations;
        T = have_t ? head.number + 1 - w->cfg.confirmations : 0;
    }
    l1w_cursor c;
    l1w_outbox_cursor(w->ob, &c);
    zk_log(ZK_LOG_DEBUG, "L1 step", ZKF_U64("head", head.number), ZKF_BOOL("have_confirmed", have_t),
           ZKF_U64("confirmed", T), ZKF_U64("next_block", c.next_block), ZKF_END);
    if (have_t && T >= c.next_block) {
        if ((rc = confirm(w, T, more, err)) != ZK_OK || *more)
            return rc;
    }
    scan_window(w, &head);
    return ZK_OK;
}

zk_err l1w_watcher_run(l1w_watcher *w, zk_error_detail *err)
{
    int backoff = 0;
    zk_err rc = ZK_OK;
    char bridge[43];
    zk_address_format(bridge, w->cfg.bridge);
    zk_log(ZK_LOG_INFO, "watcher started", ZKF_STR("bridge", bridge),
           ZKF_U64("stream_id", l1w_outbox_stream_id(w->ob)), ZKF_U64("last_seq", l1w_outbox_last_seq(w->ob)),
           ZKF_STR("stream", w->endpoint ? w->endpoint : ""), ZKF_END);
    while (!atomic_load(&w->stop)) {
        bool more = false;
        zk_error_detail e = { 0 };
        rc = step(w, &more, &e);
        int wait = w->cfg.poll_ms;
        if (rc != ZK_OK && is_fatal(rc)) {
            pthread_mutex_lock(&w->lock);
            w->stats.fatal = rc;
            snprintf(w->stats.fatal_text, sizeof w->stats.fatal_text, "%s", e.text);
            pthread_mutex_unlock(&w->lock);
            zk_log(ZK_LOG_ERROR, "ALERT: watcher stopped", ZKF_STR("reason", zk_strerror(rc)),
                   ZKF_I64("code", rc), ZKF_STR("detail", e.text), ZKF_END);
            zk_error_set(err, rc, "%s", e.text);
            return rc;
        }
        if (rc != ZK_OK) {
            pthread_mutex_lock(&w->lock);
            w->stats.rpc_errors_total++;
            pthread_mutex_unlock(&w->lock);
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
            if (backoff > BACKOFF_MAX_MS)
                backoff = BACKOFF_MAX_MS;
            if (rc == ZK_ERR_CLOSED || rc == ZK_ERR_TIMEOUT)
                w->chain_checked = false; /* a node that comes back may be another node */
            zk_log(ZK_LOG_WARN, "L1 step failed, retrying", ZKF_STR("reason", zk_strerror(rc)),
                   ZKF_STR("detail", e.text), ZKF_I64("backoff_ms", backoff), ZKF_END);
            wait = backoff;
        } else {
            backoff = 0;
            if (more)
                wait = 0;
        }
        zk_error_detail se = { 0 };
        if ((rc = serve(w, wait, &se)) != ZK_OK) {
            zk_error_set(err, rc, "%s", se.text);
            return rc;
        }
    }
    return ZK_OK;
}
