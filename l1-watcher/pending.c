/*
 * l1-watcher/pending.c — the view of unconfirmed and reorged deposits
 * (pending.h).
 *
 * Pending entries live in one array sorted by (deposit_id, block_hash,
 * tx_hash, log_index): a lookup by id is a binary search, and an update
 * merges the watcher's window into it in O((held + seen) log). Reorged
 * entries live in a ring; a lookup scans it newest first (at most
 * reorged_max entries, a few microseconds, on an API call).
 */
#include "l1-watcher/pending.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define PENDING_INITIAL 256 /* pending slots allocated at create; grown by doubling */

enum { MARK_OLD = 0, MARK_KEPT, MARK_NEW };

typedef struct entry {
    l1w_deposit d;
    uint8_t mark; /* during an update: held and not seen yet / held and seen / new */
} entry;

struct l1w_pending {
    pthread_mutex_t lock;
    size_t pending_max, reorged_max;
    entry *pend;            /* sorted by key */
    size_t npend, cap;
    l1w_deposit *ring;      /* reorged_max slots; the newest at (ring_head - 1) */
    size_t ring_head, nring;
    uint64_t reorged_total;
    bool warned_cap;
};

static int key_cmp(const l1w_deposit *a, const l1w_deposit *b)
{
    if (a->deposit_id != b->deposit_id)
        return a->deposit_id < b->deposit_id ? -1 : 1;
    int c = memcmp(a->block_hash, b->block_hash, 32);
    if (c == 0)
        c = memcmp(a->tx_hash, b->tx_hash, 32);
    if (c == 0 && a->log_index != b->log_index)
        c = a->log_index < b->log_index ? -1 : 1;
    return c;
}

static int entry_cmp(const void *a, const void *b)
{
    return key_cmp(&((const entry *)a)->d, &((const entry *)b)->d);
}

/* First index in pend[0..n) whose key is >= d's (n when none). */
static size_t lower_bound(const l1w_pending *v, size_t n, const l1w_deposit *d)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(&v->pend[mid].d, d) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index whose deposit id is >= id. */
static size_t lower_bound_id(const l1w_pending *v, uint64_t id)
{
    size_t lo = 0, hi = v->npend;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->pend[mid].d.deposit_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool grow(l1w_pending *v, size_t need)
{
    if (need <= v->cap)
        return true;
    size_t cap = v->cap ? v->cap : PENDING_INITIAL;
    while (cap < need)
        cap *= 2;
    entry *p = realloc(v->pend, cap * sizeof *p);
    if (p == NULL)
        return false;
    v->pend = p;
    v->cap = cap;
    return true;
}

static void ring_push(l1w_pending *v, const l1w_deposit *d)
{
    v->ring[v->ring_head] = *d;
    v->ring_head = (v->ring_head + 1) % v->reorged_max;
    if (v->nring < v->reorged_max)
        v->nring++;
    v->reorged_total++;
}

static void warn_cap(l1w_pending *v)
{
    if (v->warned_cap)
        return;
    v->warned_cap = true;
    zk_log(ZK_LOG_WARN, "too many unconfirmed deposits: the pending view keeps the lowest ids",
           ZKF_U64("cap", v->pending_max), ZKF_END);
}

zk_err l1w_pending_create(l1w_pending **out, zk_error_detail *err, size_t pending_max, size_t reorged_max)
{
    *out = NULL;
    l1w_pending *v = calloc(1, sizeof *v);
    if (v == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "pending view");
    pthread_mutex_init(&v->lock, NULL);
    v->pending_max = pending_max ? pending_max : L1W_PENDING_MAX_DEFAULT;
    v->reorged_max = reorged_max ? reorged_max : L1W_REORGED_MAX_DEFAULT;
    v->ring = calloc(v->reorged_max, sizeof *v->ring);
    if (v->ring == NULL || !grow(v, v->pending_max < PENDING_INITIAL ? v->pending_max : PENDING_INITIAL)) {
        l1w_pending_destroy(v);
        return zk_error_set(err, ZK_ERR_NOMEM, "pending view");
    }
    *out = v;
    return ZK_OK;
}

void l1w_pending_destroy(l1w_pending *v)
{
    if (v == NULL)
        return;
    pthread_mutex_destroy(&v->lock);
    free(v->pend);
    free(v->ring);
    free(v);
}

zk_err l1w_pending_update(l1w_pending *v, uint64_t next_block, const l1w_deposit *seen, size_t n,
                          l1w_pending_fn fn, void *ctx)
{
    pthread_mutex_lock(&v->lock);
    if (!grow(v, v->npend + n)) {
        pthread_mutex_unlock(&v->lock);
        return ZK_ERR_NOMEM;
    }
    size_t held = v->npend, total = held;
    for (size_t i = 0; i < held; i++)
        v->pend[i].mark = MARK_OLD;
    /* Seen entries: held ones are kept, the others appended (unsorted) after the held. */
    for (size_t i = 0; i < n; i++) {
        if (seen[i].block_number < next_block)
            continue;
        size_t at = lower_bound(v, held, &seen[i]);
        if (at < held && key_cmp(&v->pend[at].d, &seen[i]) == 0) {
            v->pend[at].mark = MARK_KEPT;
            continue;
        }
        v->pend[total].d = seen[i];
        v->pend[total].mark = MARK_NEW;
        total++;
    }
    /* Held and not seen: off the canonical chain. */
    size_t w = 0;
    for (size_t i = 0; i < total; i++) {
        if (i < held && v->pend[i].mark == MARK_OLD) {
            ring_push(v, &v->pend[i].d);
            if (fn)
                fn(ctx, L1W_PENDING_REORGED, &v->pend[i].d);
            continue;
        }
        v->pend[w++] = v->pend[i];
    }
    qsort(v->pend, w, sizeof *v->pend, entry_cmp);
    /* A node repeating a log gives a duplicate: keep one. */
    size_t u = 0;
    for (size_t i = 0; i < w; i++) {
        if (u > 0 && key_cmp(&v->pend[u - 1].d, &v->pend[i].d) == 0) {
            if (v->pend[i].mark != MARK_NEW)
                v->pend[u - 1].mark = v->pend[i].mark;
            continue;
        }
        v->pend[u++] = v->pend[i];
    }
    if (u > v->pending_max) {
        warn_cap(v);
        u = v->pending_max;
    }
    v->npend = u;
    for (size_t i = 0; i < u; i++)
        if (v->pend[i].mark == MARK_NEW && fn)
            fn(ctx, L1W_PENDING_SEEN, &v->pend[i].d);
    pthread_mutex_unlock(&v->lock);
    return ZK_OK;
}

void l1w_pending_confirmed(l1w_pending *v, const l1w_deposit *d, l1w_pending_fn fn, void *ctx)
{
    pthread_mutex_lock(&v->lock);
    size_t i = lower_bound_id(v, d->deposit_id), w = i;
    size_t end = i;
    while (end < v->npend && v->pend[end].d.deposit_id == d->deposit_id)
        end++;
    for (; i < end; i++) {
        if (memcmp(v->pend[i].d.tx_hash, d->tx_hash, 32) == 0)
            continue; /* the same deposit, now credited */
        ring_push(v, &v->pend[i].d); /* the id now names another deposit */
        if (fn)
            fn(ctx, L1W_PENDING_REORGED, &v->pend[i].d);
    }
    memmove(v->pend + w, v->pend + end, (v->npend - end) * sizeof *v->pend);
    v->npend -= end - w;
    pthread_mutex_unlock(&v->lock);
}

zk_err l1w_pending_add(l1w_pending *v, const l1w_deposit *d)
{
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&v->lock);
    size_t at = lower_bound(v, v->npend, d);
    if (at < v->npend && key_cmp(&v->pend[at].d, d) == 0)
        goto cleanup;
    if (v->npend == v->pending_max) {
        warn_cap(v);
        if (at == v->npend)
            goto cleanup; /* higher than everything held: dropped */
        v->npend--;       /* the highest gives way */
    }
    if (!grow(v, v->npend + 1)) {
        rc = ZK_ERR_NOMEM;
        goto cleanup;
    }
    memmove(v->pend + at + 1, v->pend + at, (v->npend - at) * sizeof *v->pend);
    v->pend[at].d = *d;
    v->pend[at].mark = MARK_OLD;
    v->npend++;
cleanup:
    pthread_mutex_unlock(&v->lock);
    return rc;
}

void l1w_pending_mark_reorged(l1w_pending *v, const l1w_deposit *d)
{
    pthread_mutex_lock(&v->lock);
    size_t at = lower_bound(v, v->npend, d);
    if (at < v->npend && key_cmp(&v->pend[at].d, d) == 0) {
        memmove(v->pend + at, v->pend + at + 1, (v->npend - at - 1) * sizeof *v->pend);
        v->npend--;
    }
    ring_push(v, d);
    pthread_mutex_unlock(&v->lock);
}

void l1w_pending_clear(l1w_pending *v)
{
    pthread_mutex_lock(&v->lock);
    v->npend = 0;
    pthread_mutex_unlock(&v->lock);
}

bool l1w_pending_lookup(l1w_pending *v, uint64_t deposit_id, l1w_deposit *out, bool *reorged)
{
    bool found = false;
    pthread_mutex_lock(&v->lock);
    size_t at = lower_bound_id(v, deposit_id);
    if (at < v->npend && v->pend[at].d.deposit_id == deposit_id) {
        *out = v->pend[at].d;
        *reorged = false;
        found = true;
    } else {
        for (size_t k = 1; k <= v->nring; k++) {
            const l1w_deposit *r = &v->ring[(v->ring_head + v->reorged_max - k) % v->reorged_max];
            if (r->deposit_id == deposit_id) {
                *out = *r;
                *reorged = true;
                found = true;
                break;
            }
        }
    }
    pthread_mutex_unlock(&v->lock);
    return found;
}

size_t l1w_pending_snapshot(l1w_pending *v, l1w_deposit *out, size_t max)
{
    pthread_mutex_lock(&v->lock);
    size_t n = v->npend < max ? v->npend : max;
    for (size_t i = 0; i < n; i++)
        out[i] = v->pend[i].d;
    pthread_mutex_unlock(&v->lock);
    return n;
}

void l1w_pending_counts(l1w_pending *v, size_t *pending, size_t *reorged, uint64_t *reorged_total)
{
    pthread_mutex_lock(&v->lock);
    if (pending)
        *pending = v->npend;
    if (reorged)
        *reorged = v->nring;
    if (reorged_total)
        *reorged_total = v->reorged_total;
    pthread_mutex_unlock(&v->lock);
}
