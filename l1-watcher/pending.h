/*
 * l1-watcher/pending.h — what is on L1 but not (yet) delivered: the deposits
 * seen on the canonical chain above the watcher's cursor, waiting for their
 * confirmations, and the recent ones that left the chain in a reorg.
 *
 * The outbox (l1w.h) holds only confirmed deposits, and only those can be
 * credited. This view is informational: it lets zkcar_getDeposit (SPEC §4)
 * answer `pending_confirmations` and `reorged` instead of null. Nothing in
 * it is durable or ever credited; a restart starts it empty, and the next
 * scan of the unconfirmed window fills it again.
 *
 * Entries are identified by (deposit_id, block_hash, tx_hash, log_index). The
 * bridge numbers deposits sequentially, so after a reorg the same id names
 * another deposit: a canonical pending entry always wins over a reorged one
 * with the same id, and the node's credited deposit wins over both.
 *
 * Two ways to feed a view:
 *   - the watcher, which knows the whole canonical window each round:
 *     l1w_pending_update with the complete set, l1w_pending_confirmed for
 *     each deposit it commits to the outbox;
 *   - a stream consumer, which hears about one deposit at a time:
 *     l1w_pending_add (SEEN), l1w_pending_mark_reorged (REORGED),
 *     l1w_pending_confirmed (a DEPOSIT record), l1w_pending_clear (a new
 *     session: the producer's snapshot of its pending set follows).
 *
 * Bounds: at most `pending_max` pending entries (beyond: the lowest ids are
 * kept, logged once) and a ring of the `reorged_max` newest reorged ones.
 *
 * Thread-safety: every function may be called from any thread (one mutex);
 * callbacks run with it held and must not call back into the view.
 */
#ifndef ZKCAR_L1_WATCHER_PENDING_H
#define ZKCAR_L1_WATCHER_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "l1-watcher/l1w.h"

#define L1W_PENDING_MAX_DEFAULT 65536u /* pending deposits held at most */
#define L1W_REORGED_MAX_DEFAULT 4096u  /* reorged deposits remembered (a ring) */

typedef struct l1w_pending l1w_pending;

typedef enum l1w_pending_event {
    L1W_PENDING_SEEN = 1, /* a deposit became pending */
    L1W_PENDING_REORGED,  /* a pending deposit left the canonical chain */
} l1w_pending_event;

/* Told of each change an update or confirmation makes, with the lock held. */
typedef void (*l1w_pending_fn)(void *ctx, l1w_pending_event ev, const l1w_deposit *d);

/* Creates an empty view holding at most `pending_max` pending entries and
 * `reorged_max` reorged ones (0: the defaults above). ZK_ERR_NOMEM. The
 * caller owns *out (l1w_pending_destroy). */
zk_err l1w_pending_create(l1w_pending **out, zk_error_detail *err, size_t pending_max,
                          size_t reorged_max) ZK_MUST_CHECK;
/* Frees. NULL is fine. No other call may be in progress. */
void l1w_pending_destroy(l1w_pending *v);

/* The watcher's round: `seen[0..n)` is the complete set of Deposit logs on the
 * canonical chain in [next_block, head] (borrowed; entries below next_block
 * are ignored: everything there is committed to the outbox). Every pending
 * entry not in `seen` becomes reorged — its block was replaced, or it fell
 * below next_block without being committed (a committed one was removed by
 * l1w_pending_confirmed). Entries of `seen` not held become pending. `fn`
 * (may be NULL) hears of each change: REORGED first, then SEEN in id order.
 * ZK_ERR_NOMEM leaves the view as it was. */
zk_err l1w_pending_update(l1w_pending *v, uint64_t next_block, const l1w_deposit *seen, size_t n,
                          l1w_pending_fn fn, void *ctx) ZK_MUST_CHECK;

/* `d` was committed (it is now the node's `credited`): a pending entry with
 * its id and tx hash is dropped, one with its id and another tx hash becomes
 * reorged (told to `fn`, may be NULL). */
void l1w_pending_confirmed(l1w_pending *v, const l1w_deposit *d, l1w_pending_fn fn, void *ctx);

/* A consumer's SEEN: adds `d` as pending unless held already. At the cap, a
 * lower id than the highest held evicts that one; otherwise `d` is dropped.
 * ZK_ERR_NOMEM. */
zk_err l1w_pending_add(l1w_pending *v, const l1w_deposit *d) ZK_MUST_CHECK;
/* A consumer's REORGED: drops the identical pending entry if held, and
 * remembers `d` as reorged. */
void l1w_pending_mark_reorged(l1w_pending *v, const l1w_deposit *d);
/* Drops every pending entry; the reorged ring stays. */
void l1w_pending_clear(l1w_pending *v);

/* What deposit `deposit_id` is as far as L1 goes: a pending entry with that id
 * (*reorged = false), else the newest reorged one (*reorged = true). Returns
 * false when the view holds neither; *out is then untouched. */
bool l1w_pending_lookup(l1w_pending *v, uint64_t deposit_id, l1w_deposit *out, bool *reorged);

/* Copies up to `max` pending entries, in id order, into `out`; returns the
 * count copied. */
size_t l1w_pending_snapshot(l1w_pending *v, l1w_deposit *out, size_t max);

/* Figures: pending entries held, reorged ones held in the ring, and deposits
 * that became reorged since create. Any pointer may be NULL. */
void l1w_pending_counts(l1w_pending *v, size_t *pending, size_t *reorged, uint64_t *reorged_total);

#endif
