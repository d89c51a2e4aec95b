/*
 * sidecar/store.c — the sidecar's sqlite store and its group committer
 * (store.h; docs/sidecar.md, "Store").
 */
#include "sidecar/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "common/log.h"

#define PATH_MAX_LEN 4096

struct sc_store {
    sqlite3 *wdb;                  /* writes: committer and the other writers, under wmu */
    sqlite3 *rdb;                  /* reads, under rmu */
    sqlite3 *cdb;                  /* checkpoints, under cmu */
    pthread_mutex_t wmu, rmu, cmu;

    pthread_mutex_t qmu;           /* the group commit queue */
    pthread_cond_t qcond;          /* the committer waits here for work; each
                                      submitter waits on its waiter's own cond,
                                      so a group's commit wakes that group only */
    sc_store_waiter *qhead, *qtail;
    bool stopping;
    pthread_t committer;
    bool committer_started;

    sc_store_commit_fn hook;
    void *hook_ctx;
};

static const char *const SCHEMA =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS txs (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
    "  body BLOB NOT NULL, status INTEGER NOT NULL, batch INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT);"
    "CREATE INDEX IF NOT EXISTS txs_status ON txs(status) WHERE status = 1;"
    "CREATE TABLE IF NOT EXISTS deposits (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
    "  body BLOB NOT NULL, batch INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS batches (number INTEGER PRIMARY KEY, prev_root BLOB NOT NULL,"
    "  root BLOB NOT NULL, tx_count INTEGER NOT NULL, deposit_count INTEGER NOT NULL,"
    "  first_deposit INTEGER NOT NULL, sealed_ms INTEGER NOT NULL,"
    "  proof_done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,"
    "  proof_size INTEGER NOT NULL DEFAULT 0, proving_ms INTEGER NOT NULL DEFAULT 0,"
    "  withdrawals BLOB);";

/* ---- encodings ------------------------------------------------------------ */

void sc_store_tx_encode(uint8_t out[SC_STORE_TX_BODY], const zk_tx *tx)
{
    out[0] = (uint8_t)tx->type;
    memcpy(out + 1, tx->from, 20);
    memcpy(out + 21, tx->to, 20);
    zk_le_put64(out + 41, tx->amount);
    zk_le_put64(out + 49, tx->fee);
    zk_le_put32(out + 57, tx->nonce);
    memcpy(out + 61, tx->sig, 65);
}

zk_err sc_store_tx_decode(zk_tx *tx, const uint8_t *buf, size_t len)
{
    if (len != SC_STORE_TX_BODY || (buf[0] != ZK_TX_TRANSFER && buf[0] != ZK_TX_WITHDRAW))
        return ZK_ERR_SC_STORE;
    memset(tx, 0, sizeof *tx);
    tx->type = (zk_tx_type)buf[0];
    memcpy(tx->from, buf + 1, 20);
    memcpy(tx->to, buf + 21, 20);
    tx->amount = zk_le_get64(buf + 41);
    tx->fee = zk_le_get64(buf + 49);
    tx->nonce = zk_le_get32(buf + 57);
    memcpy(tx->sig, buf + 61, 65);
    return ZK_OK;
}

#define DEPOSIT_BODY (8 + 8 + 8 + 32 + 32 + 20 + 20)

static void deposit_encode(uint8_t out[DEPOSIT_BODY], const l1w_deposit *d)
{
    zk_le_put64(out, d->amount_gwei);
    zk_le_put64(out + 8, d->block_number);
    zk_le_put64(out + 16, d->log_index);
    memcpy(out + 24, d->block_hash, 32);
    memcpy(out + 56, d->tx_hash, 32);
    memcpy(out + 88, d->from, 20);
    memcpy(out + 108, d->to, 20);
}

static bool deposit_decode(l1w_deposit *d, const uint8_t *buf, size_t len)
{
    if (len != DEPOSIT_BODY)
        return false;
    d->amount_gwei = zk_le_get64(buf);
    d->block_number = zk_le_get64(buf + 8);
    d->log_index = zk_le_get64(buf + 16);
    memcpy(d->block_hash, buf + 24, 32);
    memcpy(d->tx_hash, buf + 56, 32);
    memcpy(d->from, buf + 88, 20);
    memcpy(d->to, buf + 108, 20);
    return true;
}

static void root_encode(uint8_t out[32], const prv_gl r[4])
{
    for (int i = 0; i < 4; i++)
        zk_le_put64(out + 8 * i, r[i]);
}

static bool root_decode(prv_gl r[4], const void *p, int len)
{
    if (p == NULL || len != 32)
        return false;
    for (int i = 0; i < 4; i++)
        r[i] = zk_le_get64((const uint8_t *)p + 8 * i);
    return true;
}

/* ---- sqlite helpers --------------------------------------------------------- */

static zk_err db_err(zk_error_detail *err, sqlite3 *db, const char *what)
{
    return zk_error_set(err, ZK_ERR_SC_STORE, "store: %s: %s", what, sqlite3_errmsg(db));
}

static zk_err exec(sqlite3 *db, const char *sql, zk_error_detail *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        zk_err rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: %s", msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return rc;
    }
    return ZK_OK;
}

/* A failed statement inside a write transaction: roll back what it started. */
static void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- the committer ------------------------------------------------------------ */

static zk_err commit_group(sc_store *s, sc_store_waiter *first)
{
    zk_error_detail e = { 0 };
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&s->wmu);
    if ((rc = exec(s->wdb, "BEGIN IMMEDIATE", &e)) != ZK_OK)
        goto cleanup;
    /* OR REPLACE: a transaction rejected at sealing may be sent again with
     * the same hash; the new row (a new arrival) replaces the old one. */
    if (sqlite3_prepare_v2(s->wdb, "INSERT OR REPLACE INTO txs(seq, hash, body, status) VALUES (?, ?, ?, 1)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(&e, s->wdb, "prepare insert");
        goto cleanup;
    }
    for (sc_store_waiter *w = first; w != NULL; w = w->next) {
        uint8_t body[SC_STORE_TX_BODY];
        sc_store_tx_encode(body, &w->rec.tx);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)w->rec.seq);
        sqlite3_bind_blob(st, 2, w->rec.hash, 32, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, body, sizeof body, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_err(&e, s->wdb, "insert transaction");
            goto cleanup;
        }
    }
    if ((rc = exec(s->wdb, "COMMIT", &e)) != ZK_OK)
        goto cleanup;
cleanup:
    sqlite3_finalize(st);
    if (rc != ZK_OK) {
        rollback(s->wdb);
        zk_log(ZK_LOG_ERROR, "store: group commit failed", ZKF_STR("error", e.text), ZKF_END);
    }
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

static void *committer_main(void *p)
{
    sc_store *s = p;
    pthread_mutex_lock(&s->qmu);
    for (;;) {
        while (s->qhead == NULL && !s->stopping)
            pthread_cond_wait(&s->qcond, &s->qmu);
        if (s->qhead == NULL && s->stopping)
            break;
        sc_store_waiter *group = s->qhead;
        s->qhead = s->qtail = NULL;
        pthread_mutex_unlock(&s->qmu);

        zk_err rc = commit_group(s, group);
        if (s->hook != NULL)
            s->hook(s->hook_ctx, group, rc);

        /* Callback waiters are set apart first: a blocking waiter may
         * vanish as soon as it sees done, so the list cannot be walked
         * twice. */
        sc_store_waiter *calls = NULL, **tail = &calls;
        pthread_mutex_lock(&s->qmu);
        for (sc_store_waiter *w = group; w != NULL;) {
            sc_store_waiter *next = w->next; /* w may vanish once done is seen */
            w->rc = rc;
            if (w->on_done != NULL) {
                w->next = NULL;
                *tail = w;
                tail = &w->next;
            } else {
                w->done = true;
                pthread_cond_signal(&w->cond); /* under qmu: the waiter cannot be gone yet */
            }
            w = next;
        }
        if (calls != NULL) {
            pthread_mutex_unlock(&s->qmu);
            for (sc_store_waiter *w = calls; w != NULL;) {
                sc_store_waiter *next = w->next; /* on_done may free w */
                w->on_done(w);
                w = next;
            }
            pthread_mutex_lock(&s->qmu);
        }
    }
    pthread_mutex_unlock(&s->qmu);
    return NULL;
}

void sc_store_set_commit_hook(sc_store *s, sc_store_commit_fn fn, void *ctx)
{
    s->hook = fn;
    s->hook_ctx = ctx;
}

zk_err sc_store_tx_enqueue(sc_store *s, sc_store_waiter *w)
{
    w->done = false;
    w->rc = ZK_OK;
    w->next = NULL;
    if (w->on_done == NULL)
        pthread_cond_init(&w->cond, NULL);
    pthread_mutex_lock(&s->qmu);
    zk_err rc = ZK_OK;
    if (s->stopping) {
        w->rc = rc = ZK_ERR_SC_STOPPING;
        w->done = true;
    } else {
        if (s->qtail != NULL)
            s->qtail->next = w;
        else
            s->qhead = w;
        s->qtail = w;
        pthread_cond_signal(&s->qcond);
    }
    pthread_mutex_unlock(&s->qmu);
    return rc;
}

zk_err sc_store_tx_wait(sc_store *s, sc_store_waiter *w)
{
    pthread_mutex_lock(&s->qmu);
    while (!w->done)
        pthread_cond_wait(&w->cond, &s->qmu);
    zk_err rc = w->rc;
    pthread_mutex_unlock(&s->qmu);
    pthread_cond_destroy(&w->cond);
    return rc;
}

/* ---- open / close ------------------------------------------------------------- */

static zk_err open_db(sqlite3 **db, const char *path, bool readonly, zk_error_detail *err)
{
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        zk_err rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: open %s: %s", path,
                                 *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(*db, 10000);
    return ZK_OK;
}

zk_err sc_store_open(sc_store **out, const char *dir, zk_error_detail *err)
{
    *out = NULL;
    char path[PATH_MAX_LEN];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, SC_STORE_FILE) >= sizeof path)
        return zk_error_set(err, ZK_ERR_SC_STORE, "store: data directory path too long");
    sc_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "store: out of memory");
    pthread_mutex_init(&s->wmu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcond, NULL);
    zk_err rc;
    if ((rc = open_db(&s->wdb, path, false, err)) != ZK_OK)
        goto cleanup;
    /* WAL + synchronous=FULL: COMMIT returns after the WAL is fsynced, so a
     * committed transaction survives power loss; readers run beside writers. */
    if ((rc = exec(s->wdb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err)) != ZK_OK)
        goto cleanup;
    if ((rc = exec(s->wdb, SCHEMA, err)) != ZK_OK)
        goto cleanup;
    /* No checkpoint inside a commit: the group's submitters would wait for
     * it. sc_store_checkpoint copies the WAL back on its own connection. */
    if ((rc = exec(s->wdb, "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;", err)) != ZK_OK)
        goto cleanup;
    if ((rc = open_db(&s->rdb, path, true, err)) != ZK_OK)
        goto cleanup;
    if ((rc = open_db(&s->cdb, path, false, err)) != ZK_OK)
        goto cleanup;
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "store: cannot start the committer thread");
        goto cleanup;
    }
    s->committer_started = true;
    *out = s;
    return ZK_OK;
cleanup:
    sc_store_close(s);
    return rc;
}

void sc_store_close(sc_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->qmu);
    s->stopping = true;
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qmu);
    if (s->committer_started)
        pthread_join(s->committer, NULL);
    sqlite3_close(s->cdb);
    sqlite3_close(s->rdb);
    sqlite3_close(s->wdb);
    pthread_cond_destroy(&s->qcond);
    pthread_mutex_destroy(&s->qmu);
    pthread_mutex_destroy(&s->cmu);
    pthread_mutex_destroy(&s->rmu);
    pthread_mutex_destroy(&s->wmu);
    free(s);
}

/* ---- meta --------------------------------------------------------------------- */

zk_err sc_store_meta_get(sc_store *s, const char *key, uint64_t *value, bool *found)
{
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    *found = false;
    *value = 0;
    pthread_mutex_lock(&s->wmu);
    if (sqlite3_prepare_v2(s->wdb, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = ZK_ERR_SC_STORE;
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *value = (uint64_t)sqlite3_column_int64(st, 0);
        *found = true;
    } else if (r != SQLITE_DONE) {
        rc = ZK_ERR_SC_STORE;
    }
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

static zk_err meta_set_locked(sc_store *s, const char *key, uint64_t value, zk_error_detail *err)
{
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    if (sqlite3_prepare_v2(s->wdb, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", -1, &st, NULL)
        != SQLITE_OK)
        return db_err(err, s->wdb, "prepare meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(err, s->wdb, "set meta");
    sqlite3_finalize(st);
    return rc;
}

zk_err sc_store_meta_set(sc_store *s, const char *key, uint64_t value)
{
    pthread_mutex_lock(&s->wmu);
    zk_err rc = meta_set_locked(s, key, value, NULL);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

/* ---- deposits and batches -------------------------------------------------------- */

zk_err sc_store_deposit_add(sc_store *s, const l1w_record *rec, zk_error_detail *err)
{
    sqlite3_stmt *st = NULL;
    zk_err rc;
    uint8_t body[DEPOSIT_BODY];
    deposit_encode(body, &rec->deposit);
    pthread_mutex_lock(&s->wmu);
    if ((rc = exec(s->wdb, "BEGIN IMMEDIATE", err)) != ZK_OK)
        goto cleanup;
    if (sqlite3_prepare_v2(s->wdb, "INSERT INTO deposits(id, seq, body) VALUES (?, ?, ?)", -1, &st, NULL)
        != SQLITE_OK) {
        rc = db_err(err, s->wdb, "prepare deposit");
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)rec->deposit.deposit_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)rec->seq);
    sqlite3_bind_blob(st, 3, body, sizeof body, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(err, s->wdb, "insert deposit");
        goto cleanup;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->wdb,
                           "INSERT INTO meta(key, value) VALUES ('stream_last_seq', ?1) "
                           "ON CONFLICT(key) DO UPDATE SET value = max(value, ?1)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(err, s->wdb, "prepare cursor");
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)rec->seq);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(err, s->wdb, "update cursor");
        goto cleanup;
    }
    rc = exec(s->wdb, "COMMIT", err);
cleanup:
    sqlite3_finalize(st);
    if (rc != ZK_OK)
        rollback(s->wdb);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

static zk_err reject_locked(sc_store *s, const uint64_t *rejected, const char *const *reasons, size_t n,
                            zk_error_detail *err)
{
    if (n == 0)
        return ZK_OK;
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    if (sqlite3_prepare_v2(s->wdb, "UPDATE txs SET status = 4, batch = 0, error = ? WHERE seq = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return db_err(err, s->wdb, "prepare reject");
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, reasons[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)rejected[i]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_err(err, s->wdb, "reject");
            break;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

zk_err sc_store_seal(sc_store *s, const sc_store_batch *b, const uint64_t *seqs, size_t nseqs,
                     const uint64_t *rejected, const char *const *reasons, size_t nrejected,
                     zk_error_detail *err)
{
    sqlite3_stmt *st = NULL;
    zk_err rc;
    uint8_t prev[32], root[32];
    root_encode(prev, b->prev_root);
    root_encode(root, b->root);
    pthread_mutex_lock(&s->wmu);
    if ((rc = exec(s->wdb, "BEGIN IMMEDIATE", err)) != ZK_OK)
        goto cleanup;
    if (sqlite3_prepare_v2(s->wdb,
                           "INSERT INTO batches(number, prev_root, root, tx_count, deposit_count, first_deposit,"
                           " sealed_ms, withdrawals) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(err, s->wdb, "prepare batch");
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)b->number);
    sqlite3_bind_blob(st, 2, prev, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, root, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, b->tx_count);
    sqlite3_bind_int64(st, 5, b->deposit_count);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)b->first_deposit_id);
    sqlite3_bind_int64(st, 7, b->sealed_ms);
    if (b->withdrawals_len > 0)
        sqlite3_bind_blob(st, 8, b->withdrawals, (int)b->withdrawals_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 8);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(err, s->wdb, "insert batch");
        goto cleanup;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->wdb, "UPDATE txs SET status = 2, batch = ? WHERE seq = ?", -1, &st, NULL)
        != SQLITE_OK) {
        rc = db_err(err, s->wdb, "prepare seal");
        goto cleanup;
    }
    for (size_t i = 0; i < nseqs; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)b->number);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)seqs[i]);
        if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(s->wdb) != 1) {
            rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: sealing transaction seq %llu: not stored",
                              (unsigned long long)seqs[i]);
            goto cleanup;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (b->deposit_count > 0) {
        if (sqlite3_prepare_v2(s->wdb, "UPDATE deposits SET batch = ? WHERE id >= ? AND id < ?", -1, &st, NULL)
            != SQLITE_OK) {
            rc = db_err(err, s->wdb, "prepare deposits");
            goto cleanup;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)b->number);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)b->first_deposit_id);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)(b->first_deposit_id + b->deposit_count));
        if (sqlite3_step(st) != SQLITE_DONE || (uint64_t)sqlite3_changes(s->wdb) != b->deposit_count) {
            rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: batch %llu consumes deposits that are not stored",
                              (unsigned long long)b->number);
            goto cleanup;
        }
    }
    if ((rc = reject_locked(s, rejected, reasons, nrejected, err)) != ZK_OK)
        goto cleanup;
    rc = exec(s->wdb, "COMMIT", err);
cleanup:
    sqlite3_finalize(st);
    if (rc != ZK_OK)
        rollback(s->wdb);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

zk_err sc_store_reject(sc_store *s, const uint64_t *rejected, const char *const *reasons, size_t n,
                       zk_error_detail *err)
{
    pthread_mutex_lock(&s->wmu);
    zk_err rc = exec(s->wdb, "BEGIN IMMEDIATE", err);
    if (rc == ZK_OK)
        rc = reject_locked(s, rejected, reasons, n, err);
    if (rc == ZK_OK)
        rc = exec(s->wdb, "COMMIT", err);
    if (rc != ZK_OK)
        rollback(s->wdb);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

static zk_err batch_update(sc_store *s, const char *sql, uint64_t number, uint64_t a, uint64_t b,
                           zk_error_detail *err)
{
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&s->wmu);
    if (sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(err, s->wdb, "prepare batch update");
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)a);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)b);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)number);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(err, s->wdb, "batch update");
    else if (sqlite3_changes(s->wdb) != 1)
        rc = zk_error_set(err, ZK_ERR_SC_STORE, "store: no batch %llu", (unsigned long long)number);
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

zk_err sc_store_batch_proven(sc_store *s, uint64_t number, uint64_t proof_size, uint64_t proving_ms,
                             zk_error_detail *err)
{
    return batch_update(s, "UPDATE batches SET proof_done = 1, failed = 0, proof_size = ?, proving_ms = ?"
                           " WHERE number = ?", number, proof_size, proving_ms, err);
}

zk_err sc_store_batch_failed(sc_store *s, uint64_t number, zk_error_detail *err)
{
    /* ?3 is the number; ?1 and ?2 are bound and unused (sqlite allows that). */
    return batch_update(s, "UPDATE batches SET failed = 1 WHERE number = ?3", number, 0, 0, err);
}

/* ---- reads ----------------------------------------------------------------------- */

static bool tx_row(sqlite3_stmt *st, sc_store_tx *out)
{
    memset(out, 0, sizeof *out);
    out->seq = (uint64_t)sqlite3_column_int64(st, 0);
    const void *h = sqlite3_column_blob(st, 1);
    if (h == NULL || sqlite3_column_bytes(st, 1) != 32)
        return false;
    memcpy(out->hash, h, 32);
    const void *body = sqlite3_column_blob(st, 2);
    if (body == NULL || sc_store_tx_decode(&out->tx, body, (size_t)sqlite3_column_bytes(st, 2)) != ZK_OK)
        return false;
    out->status = sqlite3_column_int(st, 3);
    out->batch = (uint64_t)sqlite3_column_int64(st, 4);
    const unsigned char *e = sqlite3_column_text(st, 5);
    if (e != NULL)
        snprintf(out->error, sizeof out->error, "%s", (const char *)e);
    return true;
}

bool sc_store_tx_get(sc_store *s, const uint8_t hash[32], sc_store_tx *out)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    pthread_mutex_lock(&s->rmu);
    if (sqlite3_prepare_v2(s->rdb, "SELECT seq, hash, body, status, batch, error FROM txs WHERE hash = ?", -1,
                           &st, NULL) != SQLITE_OK)
        goto cleanup;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        found = tx_row(st, out);
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rmu);
    return found;
}

static bool deposit_row(sqlite3_stmt *st, sc_store_deposit *out)
{
    memset(out, 0, sizeof *out);
    out->rec.deposit.deposit_id = (uint64_t)sqlite3_column_int64(st, 0);
    out->rec.seq = (uint64_t)sqlite3_column_int64(st, 1);
    const void *body = sqlite3_column_blob(st, 2);
    if (body == NULL || !deposit_decode(&out->rec.deposit, body, (size_t)sqlite3_column_bytes(st, 2)))
        return false;
    out->batch = (uint64_t)sqlite3_column_int64(st, 3);
    return true;
}

bool sc_store_deposit_get(sc_store *s, uint64_t id, sc_store_deposit *out)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (id > (uint64_t)INT64_MAX)
        return false;
    pthread_mutex_lock(&s->rmu);
    if (sqlite3_prepare_v2(s->rdb, "SELECT id, seq, body, batch FROM deposits WHERE id = ?", -1, &st, NULL)
        != SQLITE_OK)
        goto cleanup;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    if (sqlite3_step(st) == SQLITE_ROW)
        found = deposit_row(st, out);
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rmu);
    return found;
}

#define BATCH_COLUMNS "number, prev_root, root, tx_count, deposit_count, first_deposit, sealed_ms," \
                      " proof_done, failed, proof_size, proving_ms, withdrawals"

static bool batch_row(sqlite3_stmt *st, sc_store_batch *out, bool with_withdrawals)
{
    memset(out, 0, sizeof *out);
    out->number = (uint64_t)sqlite3_column_int64(st, 0);
    if (!root_decode(out->prev_root, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1))
        || !root_decode(out->root, sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2)))
        return false;
    out->tx_count = (uint32_t)sqlite3_column_int64(st, 3);
    out->deposit_count = (uint32_t)sqlite3_column_int64(st, 4);
    out->first_deposit_id = (uint64_t)sqlite3_column_int64(st, 5);
    out->sealed_ms = sqlite3_column_int64(st, 6);
    out->proof_done = sqlite3_column_int(st, 7) != 0;
    out->failed = sqlite3_column_int(st, 8) != 0;
    out->proof_size = (uint64_t)sqlite3_column_int64(st, 9);
    out->proving_ms = (uint64_t)sqlite3_column_int64(st, 10);
    if (with_withdrawals) {
        const void *w = sqlite3_column_blob(st, 11);
        int n = sqlite3_column_bytes(st, 11);
        if (w != NULL && n > 0) {
            if ((size_t)n > SC_STORE_WITHDRAWALS_MAX || n % 28 != 0)
                return false;
            out->withdrawals = malloc((size_t)n);
            if (out->withdrawals == NULL)
                return false;
            memcpy(out->withdrawals, w, (size_t)n);
            out->withdrawals_len = (size_t)n;
        }
    }
    return true;
}

bool sc_store_batch_get(sc_store *s, uint64_t number, sc_store_batch *out)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (number > (uint64_t)INT64_MAX)
        return false;
    pthread_mutex_lock(&s->rmu);
    if (sqlite3_prepare_v2(s->rdb, "SELECT " BATCH_COLUMNS " FROM batches WHERE number = ?", -1, &st, NULL)
        != SQLITE_OK)
        goto cleanup;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)number);
    if (sqlite3_step(st) == SQLITE_ROW)
        found = batch_row(st, out, true);
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->rmu);
    return found;
}

/* Scans run on the write connection: they serve recovery, which must see
 * everything the writer has committed. */
zk_err sc_store_scan_pending_txs(sc_store *s, sc_store_tx_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&s->wmu);
    if (sqlite3_prepare_v2(s->wdb, "SELECT seq, hash, body, status, batch, error FROM txs WHERE status = 1"
                                   " ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
        rc = ZK_ERR_SC_STORE;
        goto cleanup;
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        sc_store_tx t;
        if (!tx_row(st, &t)) {
            rc = ZK_ERR_SC_STORE;
            goto cleanup;
        }
        if (!fn(ctx, &t))
            goto cleanup;
    }
    if (r != SQLITE_DONE)
        rc = ZK_ERR_SC_STORE;
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

zk_err sc_store_scan_unsealed_deposits(sc_store *s, sc_store_deposit_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&s->wmu);
    if (sqlite3_prepare_v2(s->wdb, "SELECT id, seq, body, batch FROM deposits WHERE batch = 0 ORDER BY id", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = ZK_ERR_SC_STORE;
        goto cleanup;
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        sc_store_deposit d;
        if (!deposit_row(st, &d)) {
            rc = ZK_ERR_SC_STORE;
            goto cleanup;
        }
        if (!fn(ctx, &d))
            goto cleanup;
    }
    if (r != SQLITE_DONE)
        rc = ZK_ERR_SC_STORE;
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

zk_err sc_store_scan_batches(sc_store *s, uint64_t from, sc_store_batch_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&s->wmu);
    if (sqlite3_prepare_v2(s->wdb, "SELECT " BATCH_COLUMNS " FROM batches WHERE number >= ? ORDER BY number",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = ZK_ERR_SC_STORE;
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        sc_store_batch b;
        if (!batch_row(st, &b, false)) {
            rc = ZK_ERR_SC_STORE;
            goto cleanup;
        }
        if (!fn(ctx, &b))
            goto cleanup;
    }
    if (r != SQLITE_DONE)
        rc = ZK_ERR_SC_STORE;
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

static zk_err scalar(sc_store *s, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    zk_err rc = ZK_OK;
    *out = 0;
    if (sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL) != SQLITE_OK)
        return ZK_ERR_SC_STORE;
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    else
        rc = ZK_ERR_SC_STORE;
    sqlite3_finalize(st);
    return rc;
}

zk_err sc_store_counts(sc_store *s, uint64_t *max_tx_seq, uint64_t *next_deposit_id, uint64_t *last_batch)
{
    pthread_mutex_lock(&s->wmu);
    zk_err rc = scalar(s, "SELECT coalesce(max(seq), 0) FROM txs", max_tx_seq);
    if (rc == ZK_OK)
        rc = scalar(s, "SELECT coalesce(max(id) + 1, 0) FROM deposits", next_deposit_id);
    if (rc == ZK_OK)
        rc = scalar(s, "SELECT coalesce(max(number), 0) FROM batches", last_batch);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

void sc_store_checkpoint(sc_store *s)
{
    int log_frames = 0, done = 0;
    pthread_mutex_lock(&s->cmu);
    int rc = sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &done);
    pthread_mutex_unlock(&s->cmu);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        zk_log(ZK_LOG_WARN, "store: checkpoint failed; the WAL keeps everything", ZKF_I64("sqlite", rc), ZKF_END);
}
