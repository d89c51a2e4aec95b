/*
 * l1-watcher/outbox.c — the durable outbox and cursor in one sqlite file.
 *
 * Why one transaction: the cursor says "every deposit below this block is in
 * the outbox". If the two were written apart, a crash between them would
 * either lose deposits (cursor first) or repeat them (records first). sqlite in
 * WAL mode with synchronous=FULL makes each commit durable before it returns,
 * so a record the stream has sent is never taken back by a crash.
 *
 * Why a stream id: a consumer remembers the last sequence number it applied.
 * If the outbox is wiped and rebuilt, the same numbers would name other
 * records; a fresh random id per outbox lets the consumer notice.
 */
#include "l1-watcher/l1w.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sqlite3.h>

#include "common/hex.h"

#define OUTBOX_FORMAT 1

struct l1w_outbox {
    sqlite3 *db;
    sqlite3_stmt *ins, *sel;
    uint64_t stream_id;
    uint64_t chain_id;
    uint64_t last_seq;
    l1w_cursor cursor;
};

static zk_err db_err(zk_error_detail *err, sqlite3 *db, const char *what)
{
    return zk_error_set(err, ZK_ERR_IO, "outbox %s: %s", what, db ? sqlite3_errmsg(db) : "no handle");
}

static zk_err exec(sqlite3 *db, zk_error_detail *err, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        zk_err rc = zk_error_set(err, ZK_ERR_IO, "outbox: %s", msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return rc;
    }
    return ZK_OK;
}

static zk_err meta_get(sqlite3 *db, zk_error_detail *err, const char *key, sqlite3_int64 *ival,
                       uint8_t *blob, size_t bloblen, bool *found)
{
    sqlite3_stmt *st = NULL;
    *found = false;
    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK)
        return db_err(err, db, "read meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    zk_err rc = ZK_OK;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        if (blob) {
            if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
                /* absent value */
            } else if ((size_t)sqlite3_column_bytes(st, 0) != bloblen) {
                rc = zk_error_set(err, ZK_ERR_IO, "outbox meta %s has the wrong size", key);
            } else {
                memcpy(blob, sqlite3_column_blob(st, 0), bloblen);
                *found = true;
            }
        } else {
            *ival = sqlite3_column_int64(st, 0);
            *found = true;
        }
    } else if (s != SQLITE_DONE) {
        rc = db_err(err, db, "read meta");
    }
    sqlite3_finalize(st);
    return rc;
}

static zk_err meta_put(sqlite3 *db, zk_error_detail *err, const char *key, sqlite3_int64 ival,
                       const uint8_t *blob, size_t bloblen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", -1, &st, NULL)
        != SQLITE_OK)
        return db_err(err, db, "write meta");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (blob)
        sqlite3_bind_blob(st, 2, blob, (int)bloblen, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 2, ival);
    zk_err rc = sqlite3_step(st) == SQLITE_DONE ? ZK_OK : db_err(err, db, "write meta");
    sqlite3_finalize(st);
    return rc;
}

static zk_err put_cursor(sqlite3 *db, zk_error_detail *err, const l1w_cursor *c)
{
    zk_err rc = meta_put(db, err, "next_block", (sqlite3_int64)c->next_block, NULL, 0);
    if (rc == ZK_OK)
        rc = meta_put(db, err, "next_deposit_id", (sqlite3_int64)c->next_deposit_id, NULL, 0);
    if (rc == ZK_OK && c->has_prev)
        rc = meta_put(db, err, "prev_hash", 0, c->prev_hash, 32);
    return rc;
}

zk_err l1w_outbox_open(l1w_outbox **out, zk_error_detail *err, const char *path, uint64_t chain_id,
                       const uint8_t bridge[20], uint64_t from_block)
{
    *out = NULL;
    zk_err rc = ZK_OK;
    l1w_outbox *ob = calloc(1, sizeof *ob);
    if (ob == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "outbox");
    if (sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = zk_error_set(err, ZK_ERR_IO, "outbox %.150s: %s", path,
                          ob->db ? sqlite3_errmsg(ob->db) : "cannot open");
        goto cleanup;
    }
    sqlite3_busy_timeout(ob->db, 5000);
    rc = exec(ob->db, err,
              "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
              "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);"
              "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, deposit_id INTEGER NOT NULL UNIQUE,"
              " amount INTEGER NOT NULL, block_number INTEGER NOT NULL, log_index INTEGER NOT NULL,"
              " block_hash BLOB NOT NULL, tx_hash BLOB NOT NULL, from_addr BLOB NOT NULL,"
              " to_addr BLOB NOT NULL);");
    if (rc != ZK_OK)
        goto cleanup;
    bool found;
    sqlite3_int64 v = 0;
    rc = meta_get(ob->db, err, "format", &v, NULL, 0, &found);
    if (rc != ZK_OK)
        goto cleanup;
    if (!found) {
        /* A new outbox. */
        uint64_t sid = 0;
        while (sid == 0 || sid >> 63)
            if (getrandom(&sid, sizeof sid, 0) != (ssize_t)sizeof sid) {
                rc = zk_error_set(err, ZK_ERR_IO, "getrandom failed");
                goto cleanup;
            }
        l1w_cursor c = { .next_block = from_block };
        if ((rc = exec(ob->db, err, "BEGIN IMMEDIATE")) != ZK_OK)
            goto cleanup;
        if ((rc = meta_put(ob->db, err, "format", OUTBOX_FORMAT, NULL, 0)) == ZK_OK
            && (rc = meta_put(ob->db, err, "stream_id", (sqlite3_int64)sid, NULL, 0)) == ZK_OK
            && (rc = meta_put(ob->db, err, "chain_id", (sqlite3_int64)chain_id, NULL, 0)) == ZK_OK
            && (rc = meta_put(ob->db, err, "bridge", 0, bridge, 20)) == ZK_OK
            && (rc = meta_put(ob->db, err, "from_block", (sqlite3_int64)from_block, NULL, 0)) == ZK_OK
            && (rc = put_cursor(ob->db, err, &c)) == ZK_OK)
            rc = exec(ob->db, err, "COMMIT");
        if (rc != ZK_OK) {
            exec(ob->db, NULL, "ROLLBACK");
            goto cleanup;
        }
    } else if (v != OUTBOX_FORMAT) {
        rc = zk_error_set(err, ZK_ERR_UNSUPPORTED, "outbox format %lld, this build reads %d",
                          (long long)v, OUTBOX_FORMAT);
        goto cleanup;
    }
    /* Whoever made it, it must be for this chain, bridge and start block. */
    sqlite3_int64 sid = 0, cid = 0, fb = 0, nb = 0, nd = 0;
    uint8_t br[20];
    bool f1, f2, f3, f4, f5, f6;
    if ((rc = meta_get(ob->db, err, "stream_id", &sid, NULL, 0, &f1)) != ZK_OK
        || (rc = meta_get(ob->db, err, "chain_id", &cid, NULL, 0, &f2)) != ZK_OK
        || (rc = meta_get(ob->db, err, "bridge", NULL, br, 20, &f3)) != ZK_OK
        || (rc = meta_get(ob->db, err, "from_block", &fb, NULL, 0, &f4)) != ZK_OK
        || (rc = meta_get(ob->db, err, "next_block", &nb, NULL, 0, &f5)) != ZK_OK
        || (rc = meta_get(ob->db, err, "next_deposit_id", &nd, NULL, 0, &f6)) != ZK_OK)
        goto cleanup;
    if (!(f1 && f2 && f3 && f4 && f5 && f6)) {
        rc = zk_error_set(err, ZK_ERR_IO, "outbox %.150s: metadata incomplete", path);
        goto cleanup;
    }
    if (chain_id != 0 && cid != 0 && (uint64_t)cid != chain_id) {
        rc = zk_error_set(err, ZK_ERR_L1_DATA_DIR, "outbox was made for chain %llu, not %llu",
                          (unsigned long long)cid, (unsigned long long)chain_id);
        goto cleanup;
    }
    if (memcmp(br, bridge, 20) != 0 || (uint64_t)fb != from_block) {
        char a[43];
        zk_address_format(a, br);
        rc = zk_error_set(err, ZK_ERR_L1_DATA_DIR, "outbox was made for bridge %s from block %llu", a,
                          (unsigned long long)fb);
        goto cleanup;
    }
    ob->stream_id = (uint64_t)sid;
    ob->chain_id = (uint64_t)cid;
    if (ob->chain_id == 0 && chain_id != 0) {
        if ((rc = meta_put(ob->db, err, "chain_id", (sqlite3_int64)chain_id, NULL, 0)) != ZK_OK)
            goto cleanup;
        ob->chain_id = chain_id;
    }
    ob->cursor.next_block = (uint64_t)nb;
    ob->cursor.next_deposit_id = (uint64_t)nd;
    rc = meta_get(ob->db, err, "prev_hash", NULL, ob->cursor.prev_hash, 32, &ob->cursor.has_prev);
    if (rc != ZK_OK)
        goto cleanup;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ob->db, "SELECT COALESCE(MAX(seq), 0) FROM outbox", -1, &st, NULL) != SQLITE_OK
        || sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        rc = db_err(err, ob->db, "read");
        goto cleanup;
    }
    ob->last_seq = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(ob->db,
                           "INSERT INTO outbox(seq, deposit_id, amount, block_number, log_index,"
                           " block_hash, tx_hash, from_addr, to_addr) VALUES(?,?,?,?,?,?,?,?,?)",
                           -1, &ob->ins, NULL) != SQLITE_OK
        || sqlite3_prepare_v2(ob->db,
                              "SELECT seq, deposit_id, amount, block_number, log_index, block_hash,"
                              " tx_hash, from_addr, to_addr FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?",
                              -1, &ob->sel, NULL) != SQLITE_OK) {
        rc = db_err(err, ob->db, "prepare");
        goto cleanup;
    }
    *out = ob;
    ob = NULL;
cleanup:
    l1w_outbox_close(ob);
    return rc;
}

void l1w_outbox_close(l1w_outbox *ob)
{
    if (ob == NULL)
        return;
    sqlite3_finalize(ob->ins);
    sqlite3_finalize(ob->sel);
    sqlite3_close(ob->db);
    free(ob);
}

uint64_t l1w_outbox_stream_id(const l1w_outbox *ob) { return ob->stream_id; }
uint64_t l1w_outbox_chain_id(const l1w_outbox *ob) { return ob->chain_id; }

zk_err l1w_outbox_set_chain_id(l1w_outbox *ob, zk_error_detail *err, uint64_t chain_id)
{
    zk_err rc = meta_put(ob->db, err, "chain_id", (sqlite3_int64)chain_id, NULL, 0);
    if (rc == ZK_OK)
        ob->chain_id = chain_id;
    return rc;
}
uint64_t l1w_outbox_last_seq(const l1w_outbox *ob) { return ob->last_seq; }
void l1w_outbox_cursor(const l1w_outbox *ob, l1w_cursor *out) { *out = ob->cursor; }

zk_err l1w_outbox_commit(l1w_outbox *ob, zk_error_detail *err, const l1w_deposit *deps, size_t n,
                         const l1w_cursor *cursor)
{
    assert(cursor->next_deposit_id == ob->cursor.next_deposit_id + n);
    zk_err rc = exec(ob->db, err, "BEGIN IMMEDIATE");
    if (rc != ZK_OK)
        return rc;
    uint64_t seq = ob->last_seq;
    for (size_t i = 0; i < n; i++) {
        const l1w_deposit *d = &deps[i];
        assert(d->deposit_id == ob->cursor.next_deposit_id + i);
        sqlite3_stmt *st = ob->ins;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)++seq);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)d->deposit_id);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)d->amount_gwei);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)d->block_number);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)d->log_index);
        sqlite3_bind_blob(st, 6, d->block_hash, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, d->tx_hash, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 8, d->from, 20, SQLITE_STATIC);
        sqlite3_bind_blob(st, 9, d->to, 20, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_err(err, ob->db, "insert");
            sqlite3_reset(st);
            goto rollback;
        }
    }
    sqlite3_reset(ob->ins);
    if ((rc = put_cursor(ob->db, err, cursor)) != ZK_OK)
        goto rollback;
    if ((rc = exec(ob->db, err, "COMMIT")) != ZK_OK)
        goto rollback;
    ob->last_seq = seq;
    ob->cursor = *cursor;
    return ZK_OK;
rollback:
    exec(ob->db, NULL, "ROLLBACK");
    return rc;
}

zk_err l1w_outbox_read(l1w_outbox *ob, zk_error_detail *err, l1w_record *out, size_t max, size_t *n,
                       uint64_t from_seq)
{
    *n = 0;
    sqlite3_stmt *st = ob->sel;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from_seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        l1w_record *r = &out[*n];
        r->seq = (uint64_t)sqlite3_column_int64(st, 0);
        r->deposit.deposit_id = (uint64_t)sqlite3_column_int64(st, 1);
        r->deposit.amount_gwei = (uint64_t)sqlite3_column_int64(st, 2);
        r->deposit.block_number = (uint64_t)sqlite3_column_int64(st, 3);
        r->deposit.log_index = (uint64_t)sqlite3_column_int64(st, 4);
        static const size_t sizes[4] = { 32, 32, 20, 20 };
        uint8_t *dst[4] = { r->deposit.block_hash, r->deposit.tx_hash, r->deposit.from, r->deposit.to };
        for (int k = 0; k < 4; k++) {
            if ((size_t)sqlite3_column_bytes(st, 5 + k) != sizes[k]) {
                sqlite3_reset(st);
                return zk_error_set(err, ZK_ERR_IO, "outbox record %llu is damaged",
                                    (unsigned long long)r->seq);
            }
            memcpy(dst[k], sqlite3_column_blob(st, 5 + k), sizes[k]);
        }
        (*n)++;
    }
    zk_err rc = s == SQLITE_DONE ? ZK_OK : db_err(err, ob->db, "read");
    sqlite3_reset(st);
    return rc;
}
