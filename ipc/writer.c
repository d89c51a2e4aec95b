/* ipc/writer.c — the one writer: lease, staging, group commit, apply,
 * snapshots and recovery (docs/state.md, "Durability" and "Recovery"). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/endian.h"
#include "common/log.h"
#include "ipc/region.h"
#include "ipc/wal.h"

#define SNAP_MAGIC UINT64_C(0x504e535241434b5a) /* "ZKCARSNP" */
#define SNAP_FORMAT 1u
#define SNAP_HEADER 64u
/* address 20, balance 8, nonce 4, proven balance 8, proven nonce 4, leaf
 * digest 32: the leaves spare a rebuild half of its hashing. */
#define SNAP_REC 76u
#define SNAP_CHUNK (1u << 20)
#define LOG_NAME "state.wal"
#define SNAP_NAME "state.snap"
#define LOCK_NAME "writer.lock"

struct ipc_writer {
    char *dir;
    int dir_fd, lock_fd, log_fd;
    char region_name[IPC_REGION_NAME_MAX];
    ipc_map map;
    ipc_writer_options opt;
    uint64_t log_id;
    uint64_t next_lsn;
    uint64_t log_end;
    uint64_t ops_since_snapshot;
    bool failed;
    /* the staged group */
    ipc_wal_op *ops;
    size_t nops;
    uint64_t staged_count;          /* accounts once the group is applied */
    uint32_t *ovl;                  /* address -> latest staged op + 1 */
    uint32_t *ovl_used;             /* overlay slots in use, to clear them */
    size_t novl_used;
    uint32_t ovl_mask;
    uint8_t *rec_buf;
    size_t rec_cap;
    uint32_t *dirty;
    ipc_tree_scratch *scratch;
    uint64_t *touched;              /* during a rebuild: ids the log replay changed (bitmap) */
};

/* ---- small helpers ------------------------------------------------------------ */

static zk_err io_error(zk_error_detail *err, const char *what, const char *path)
{
    return zk_error_set(err, ZK_ERR_IO, "%s %s: %s", what, path, strerror(errno));
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    while (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        if (errno != EINTR)
            ZK_PANIC("getrandom failed");
    return v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The writer stops at the first failed write or fsync: after a failed
 * fsync the kernel may have dropped the dirty pages and cleared the error,
 * so a retry could "succeed" without the data on disk (PostgreSQL's
 * fsyncgate, 2018). Only a fresh recovery from what the disk holds is safe. */
static zk_err writer_fail(ipc_writer *w, const char *what)
{
    int e = errno;
    w->failed = true;
    zk_log(ZK_LOG_ERROR, "state writer stopped", ZKF_STR("op", what), ZKF_STR("error", strerror(e)),
           ZKF_STR("dir", w->dir), ZKF_END);
    return ZK_ERR_STATE_WRITER_FAILED;
}

/* ---- applying to the region ------------------------------------------------------ */

static void seq_begin(_Atomic uint64_t *seq)
{
    /* Writer side of a seqlock: the odd value is stored first; the release
     * fence keeps it before every data store that follows, so a reader that
     * sees any new data also sees the odd (or a later) value on recheck. */
    uint64_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void seq_end(_Atomic uint64_t *seq)
{
    /* release: every data store above happens-before a reader's acquire
     * load that sees this even value. */
    uint64_t s = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, s + 1, memory_order_release);
}

static void index_insert(const ipc_map *m, const uint64_t a[3], uint32_t id)
{
    uint32_t s = ipc_index_hash(m, a);
    while (atomic_load_explicit(&m->slots[s], memory_order_relaxed) != 0)
        s = (s + 1) & m->slot_mask;
    /* release: the record's address (stored before) is visible to a reader
     * that acquires this slot. */
    atomic_store_explicit(&m->slots[s], id + 1, memory_order_release);
}

/* Creates account `id` (== the current count) with its values. The record is
 * unreachable until the slot and the count are published. */
static void account_create(const ipc_map *m, uint32_t id, const uint8_t address[IPC_ADDRESS_SIZE],
                           uint64_t balance, uint32_t nonce, uint64_t pbal, uint32_t pnonce)
{
    ipc_rec *r = &m->recs[id];
    uint64_t a[3];
    ipc_addr_pack(a, address);
    for (int i = 0; i < 3; i++)
        atomic_store_explicit(&r->addr[i], a[i], memory_order_relaxed);
    atomic_store_explicit(&r->balance, balance, memory_order_relaxed);
    atomic_store_explicit(&r->nonce, nonce, memory_order_relaxed);
    atomic_store_explicit(&r->proven_balance, pbal, memory_order_relaxed);
    atomic_store_explicit(&r->proven_nonce, pnonce, memory_order_relaxed);
    index_insert(m, a, id);
    atomic_store_explicit(&m->hdr->count, (uint64_t)id + 1, memory_order_release);
}

static void account_set(const ipc_map *m, uint32_t id, uint64_t balance, uint32_t nonce)
{
    ipc_rec *r = &m->recs[id];
    seq_begin(&r->seq);
    atomic_store_explicit(&r->balance, balance, memory_order_relaxed);
    atomic_store_explicit(&r->nonce, nonce, memory_order_relaxed);
    seq_end(&r->seq);
}

static void store_root(const ipc_map *m, const prv_gl root[IPC_DIGEST])
{
    for (int i = 0; i < IPC_DIGEST; i++)
        atomic_store_explicit(&m->hdr->root[i], root[i], memory_order_relaxed);
}

/* Checks that op k fits the region before it is applied: an existing id
 * carries its own address, a new id is the next one and its address is new.
 * For records read back from the log (the commit path builds valid groups). */
static zk_err op_check(const ipc_map *m, const ipc_wal_op *op, size_t k, uint64_t count, zk_error_detail *err)
{
    uint64_t a[3];
    ipc_addr_pack(a, op->address);
    if (op->id < count) {
        const ipc_rec *r = &m->recs[op->id];
        for (int i = 0; i < 3; i++)
            if (atomic_load_explicit(&r->addr[i], memory_order_relaxed) != a[i])
                return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "operation %zu: id %u belongs to another address", k,
                                    op->id);
        return ZK_OK;
    }
    if (op->id > count)
        return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "operation %zu: id %u skips ids (count %llu)", k, op->id,
                            (unsigned long long)count);
    if (count >= m->capacity)
        return zk_error_set(err, ZK_ERR_STATE_FULL, "the log holds more accounts than the capacity %u", m->capacity);
    if (ipc_index_find(m, a) != IPC_NO_ID)
        return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "operation %zu: new id %u for an address that has one", k,
                            op->id);
    return ZK_OK;
}

/* Applies a group to the region inside one step of the batch sequence.
 * tree: 0 = leave the tree (a rebuild hashes it once at the end),
 * 1 = batched update, 2 = operation by operation with witnesses.
 * With `check`, each operation is checked first; a failed check returns its
 * error with the group half applied: the caller must drop the region. */
static zk_err ops_apply(ipc_writer *w, const ipc_wal_op *ops, size_t n, uint64_t lsn, int tree,
                        ipc_witness *wit, bool check, zk_error_detail *err)
{
    const ipc_map *m = &w->map;
    ipc_header *h = m->hdr;
    zk_err rc = ZK_OK;
    seq_begin(&h->state_seq);
    uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
    prv_gl root[IPC_DIGEST];
    for (size_t k = 0; k < n; k++) {
        const ipc_wal_op *op = &ops[k];
        if (check && (rc = op_check(m, op, k, count, err)) != ZK_OK)
            break;
        ipc_witness *wt = tree == 2 ? &wit[k] : NULL;
        if (wt) {
            ipc_path path;
            ipc_tree_path(m, count, op->id, &path);
            wt->id = op->id;
            memcpy(wt->old_leaf, path.leaf, sizeof wt->old_leaf);
            memcpy(wt->siblings, path.siblings, sizeof wt->siblings);
            memcpy(wt->old_root, ipc_tree_node(m, count, IPC_TREE_DEPTH, 0), sizeof wt->old_root);
        }
        if (op->id == count) {
            account_create(m, op->id, op->address, op->balance, op->nonce, 0, 0);
            count++;
        } else {
            account_set(m, op->id, op->balance, op->nonce);
        }
        if (wt) {
            ipc_leaf_hash(wt->new_leaf, op->address, op->balance, op->nonce);
            ipc_tree_set_leaf(m, count, op->id, wt->new_leaf, wt->new_root);
            store_root(m, wt->new_root);
        } else if (tree == 1) {
            w->dirty[k] = op->id;
        } else if (w->touched) {
            w->touched[op->id / 64] |= UINT64_C(1) << (op->id % 64);
        }
    }
    if (rc == ZK_OK && tree == 1 && n > 0) {
        qsort(w->dirty, n, sizeof *w->dirty, cmp_u32);
        size_t nd = 1;
        for (size_t k = 1; k < n; k++)
            if (w->dirty[k] != w->dirty[nd - 1])
                w->dirty[nd++] = w->dirty[k];
        ipc_tree_update(m, w->scratch, w->dirty, nd, count, root);
        store_root(m, root);
    }
    if (rc == ZK_OK)
        atomic_store_explicit(&h->applied_lsn, lsn, memory_order_relaxed);
    seq_end(&h->state_seq);
    return rc;
}

static zk_err proven_apply(ipc_writer *w, const ipc_wal_record *rec, zk_error_detail *err)
{
    const ipc_map *m = &w->map;
    ipc_header *h = m->hdr;
    uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed);
    for (uint32_t i = 0; i < rec->count; i++) {
        ipc_wal_op e;
        ipc_wal_entry(rec, i, &e);
        if (e.id >= count)
            return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "proven record %llu: id %u has no account",
                                (unsigned long long)rec->lsn, e.id);
    }
    seq_begin(&h->state_seq);
    for (uint32_t i = 0; i < rec->count; i++) {
        ipc_wal_op e;
        ipc_wal_entry(rec, i, &e);
        ipc_rec *r = &m->recs[e.id];
        seq_begin(&r->seq);
        atomic_store_explicit(&r->proven_balance, e.balance, memory_order_relaxed);
        atomic_store_explicit(&r->proven_nonce, e.nonce, memory_order_relaxed);
        seq_end(&r->seq);
    }
    if (rec->batch > atomic_load_explicit(&h->proven_batch, memory_order_relaxed))
        atomic_store_explicit(&h->proven_batch, rec->batch, memory_order_relaxed);
    atomic_store_explicit(&h->applied_lsn, rec->lsn, memory_order_relaxed);
    seq_end(&h->state_seq);
    return ZK_OK;
}

/* Applies one decoded log record during recovery. */
static zk_err record_apply(ipc_writer *w, const ipc_wal_record *rec, int tree, zk_error_detail *err)
{
    if (rec->type == IPC_WAL_PROVEN)
        return proven_apply(w, rec, err);
    zk_err rc = ZK_OK;
    ipc_wal_op *ops = malloc((rec->count ? rec->count : 1) * sizeof *ops);
    uint32_t *dirty_saved = w->dirty;
    ipc_tree_scratch *scratch_saved = w->scratch, *big = NULL;
    uint32_t *dirty = NULL;
    if (ops == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "replaying a record of %u operations", rec->count);
        goto cleanup;
    }
    for (uint32_t i = 0; i < rec->count; i++)
        ipc_wal_entry(rec, i, &ops[i]);
    if (tree == 1 && rec->count > w->opt.max_group_ops) {
        /* A record bigger than this writer's groups: hash it with its own scratch. */
        big = ipc_tree_scratch_new(rec->count, w->opt.threads);
        dirty = malloc(rec->count * sizeof *dirty);
        if (big == NULL || dirty == NULL) {
            rc = zk_error_set(err, ZK_ERR_NOMEM, "replaying a record of %u operations", rec->count);
            goto cleanup;
        }
        w->scratch = big;
        w->dirty = dirty;
    }
    rc = ops_apply(w, ops, rec->count, rec->lsn, tree, NULL, true, err);
    if (rc != ZK_OK && err) {
        char why[sizeof err->text];
        memcpy(why, err->text, sizeof why);
        zk_error_set(err, rc, "log record %llu: %s", (unsigned long long)rec->lsn, why);
    }
cleanup:
    w->dirty = dirty_saved;
    w->scratch = scratch_saved;
    ipc_tree_scratch_free(big);
    free(dirty);
    free(ops);
    return rc;
}

/* ---- snapshots ---------------------------------------------------------------- */

typedef struct snapshot {
    uint8_t *data;      /* the whole file */
    size_t size;
    uint64_t log_id, lsn, count, proven_batch;
} snapshot;

static zk_err snapshot_load(snapshot *s, int dir_fd, zk_error_detail *err, bool *exists)
{
    zk_err rc = ZK_OK;
    memset(s, 0, sizeof *s);
    *exists = false;
    int fd = openat(dir_fd, SNAP_NAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ZK_OK;
        return io_error(err, "open", SNAP_NAME);
    }
    *exists = true;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = io_error(err, "fstat", SNAP_NAME);
        goto cleanup;
    }
    s->size = (size_t)st.st_size;
    if (s->size < SNAP_HEADER + 4) {
        rc = zk_error_set(err, ZK_ERR_SNAPSHOT_CORRUPT, "snapshot of %zu bytes is shorter than its header", s->size);
        goto cleanup;
    }
    s->data = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (s->data == MAP_FAILED) {
        s->data = NULL;
        rc = io_error(err, "mmap", SNAP_NAME);
        goto cleanup;
    }
    const uint8_t *p = s->data;
    if (zk_le_get64(p) != SNAP_MAGIC || zk_le_get32(p + 8) != SNAP_FORMAT || zk_le_get32(p + 12) != SNAP_REC) {
        rc = zk_error_set(err, ZK_ERR_SNAPSHOT_CORRUPT, "snapshot magic, format or record size is wrong");
        goto cleanup;
    }
    s->log_id = zk_le_get64(p + 16);
    s->lsn = zk_le_get64(p + 24);
    s->count = zk_le_get64(p + 32);
    s->proven_batch = zk_le_get64(p + 40);
    if (s->count > IPC_MAX_CAPACITY || s->size != SNAP_HEADER + s->count * SNAP_REC + 4) {
        rc = zk_error_set(err, ZK_ERR_SNAPSHOT_CORRUPT, "snapshot size %zu does not match its %llu accounts",
                          s->size, (unsigned long long)s->count);
        goto cleanup;
    }
    if (ipc_crc32c(0, p, s->size - 4) != zk_le_get32(p + s->size - 4)) {
        rc = zk_error_set(err, ZK_ERR_SNAPSHOT_CORRUPT, "snapshot checksum mismatch");
        goto cleanup;
    }
    for (uint64_t i = 0; i < s->count; i++) {
        const uint8_t *r = p + SNAP_HEADER + i * SNAP_REC;
        if (zk_le_get64(r + 20) > IPC_BALANCE_MAX || zk_le_get64(r + 32) > IPC_BALANCE_MAX) {
            rc = zk_error_set(err, ZK_ERR_SNAPSHOT_CORRUPT, "snapshot account %llu: balance above 2^63 - 1",
                              (unsigned long long)i);
            goto cleanup;
        }
    }
cleanup:
    close(fd);
    if (rc != ZK_OK && s->data) {
        munmap(s->data, s->size);
        s->data = NULL;
    }
    return rc;
}

static void snapshot_free(snapshot *s)
{
    if (s->data)
        munmap(s->data, s->size);
    s->data = NULL;
}

/* Creates DIR/name from `len` bytes atomically: temp file, fsync, rename, fsync DIR. */
static int file_replace(int dir_fd, const char *name, const char *tmp, const uint8_t *head, size_t len)
{
    int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, head, len, 0) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlinkat(dir_fd, tmp, 0);
        errno = e;
        return -1;
    }
    close(fd);
    if (renameat(dir_fd, tmp, dir_fd, name) != 0 || fsync(dir_fd) != 0)
        return -1;
    return 0;
}

static void log_header(uint8_t hdr[IPC_WAL_FILE_HEADER], uint64_t log_id, uint64_t base_lsn)
{
    memset(hdr, 0, IPC_WAL_FILE_HEADER);
    zk_le_put64(hdr, IPC_WAL_FILE_MAGIC);
    zk_le_put32(hdr + 8, IPC_WAL_FORMAT);
    zk_le_put64(hdr + 16, log_id);
    zk_le_put64(hdr + 24, base_lsn);
}

/* Starts an empty log whose first record will be `base_lsn`, replacing the old one. */
static int log_reset(ipc_writer *w, uint64_t base_lsn)
{
    uint8_t hdr[IPC_WAL_FILE_HEADER];
    log_header(hdr, w->log_id, base_lsn);
    if (file_replace(w->dir_fd, LOG_NAME, LOG_NAME ".tmp", hdr, sizeof hdr) != 0)
        return -1;
    int fd = openat(w->dir_fd, LOG_NAME, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (w->log_fd >= 0)
        close(w->log_fd);
    w->log_fd = fd;
    w->log_end = IPC_WAL_FILE_HEADER;
    return 0;
}

zk_err ipc_writer_snapshot(ipc_writer *w)
{
    if (w->failed)
        return ZK_ERR_STATE_WRITER_FAILED;
    if (w->nops != 0)
        ZK_PANIC("snapshot with staged operations");
    const ipc_map *m = &w->map;
    uint64_t count = atomic_load_explicit(&m->hdr->count, memory_order_relaxed);
    uint64_t lsn = w->next_lsn - 1;
    uint8_t *buf = malloc(SNAP_CHUNK);
    int fd = -1;
    zk_err rc = ZK_OK;
    if (buf == NULL)
        return ZK_ERR_NOMEM;
    fd = openat(w->dir_fd, SNAP_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = ZK_ERR_IO;
        goto cleanup;
    }
    memset(buf, 0, SNAP_HEADER);
    zk_le_put64(buf, SNAP_MAGIC);
    zk_le_put32(buf + 8, SNAP_FORMAT);
    zk_le_put32(buf + 12, SNAP_REC);
    zk_le_put64(buf + 16, w->log_id);
    zk_le_put64(buf + 24, lsn);
    zk_le_put64(buf + 32, count);
    zk_le_put64(buf + 40, atomic_load_explicit(&m->hdr->proven_batch, memory_order_relaxed));
    size_t used = SNAP_HEADER;
    uint64_t off = 0;
    uint32_t crc = 0;
    for (uint64_t i = 0; i <= count; i++) {
        if (used + SNAP_REC + 4 > SNAP_CHUNK || i == count) {
            crc = ipc_crc32c(crc, buf, used);
            if (i == count) {
                zk_le_put32(buf + used, crc);
                used += 4;
            }
            if (write_all(fd, buf, used, off) != 0) {
                rc = ZK_ERR_IO;
                goto cleanup;
            }
            off += used;
            used = 0;
            if (i == count)
                break;
        }
        const ipc_rec *r = &m->recs[i];
        uint64_t a[3];
        uint8_t *p = buf + used;
        for (int k = 0; k < 3; k++)
            a[k] = atomic_load_explicit(&r->addr[k], memory_order_relaxed);
        ipc_addr_unpack(p, a);
        zk_le_put64(p + 20, atomic_load_explicit(&r->balance, memory_order_relaxed));
        zk_le_put32(p + 28, (uint32_t)atomic_load_explicit(&r->nonce, memory_order_relaxed));
        zk_le_put64(p + 32, atomic_load_explicit(&r->proven_balance, memory_order_relaxed));
        zk_le_put32(p + 40, (uint32_t)atomic_load_explicit(&r->proven_nonce, memory_order_relaxed));
        const prv_gl *leaf = m->levels[0] + i * IPC_DIGEST;
        for (int k = 0; k < IPC_DIGEST; k++)
            zk_le_put64(p + 44 + 8 * k, leaf[k]);
        used += SNAP_REC;
    }
    if (fsync(fd) != 0) {
        rc = ZK_ERR_IO;
        goto cleanup;
    }
    close(fd);
    fd = -1;
    if (renameat(w->dir_fd, SNAP_NAME ".tmp", w->dir_fd, SNAP_NAME) != 0 || fsync(w->dir_fd) != 0) {
        /* The rename may or may not be on disk: either snapshot is valid
         * with the log as it stands, but go no further. */
        rc = writer_fail(w, "snapshot rename");
        goto cleanup;
    }
    if (log_reset(w, lsn + 1) != 0) {
        rc = writer_fail(w, "log reset");
        goto cleanup;
    }
    w->ops_since_snapshot = 0;
    zk_log(ZK_LOG_INFO, "state snapshot written", ZKF_U64("lsn", lsn), ZKF_U64("accounts", count),
           ZKF_U64("bytes", off), ZKF_END);
cleanup:
    if (rc == ZK_ERR_IO) {
        zk_log(ZK_LOG_WARN, "state snapshot failed; the log still holds everything",
               ZKF_STR("error", strerror(errno)), ZKF_END);
        unlinkat(w->dir_fd, SNAP_NAME ".tmp", 0);
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* ---- recovery -------------------------------------------------------------------- */

typedef struct log_scan {
    uint8_t *data;
    size_t size;
    uint64_t log_id, base_lsn;
    uint64_t last_lsn;     /* base_lsn - 1 when empty */
    size_t valid_end;      /* end of the last valid record */
} log_scan;

/* True if any valid record starts in data[from..size). */
static bool valid_record_after(const uint8_t *data, size_t size, size_t from)
{
    for (size_t q = from; q + IPC_WAL_RECORD_HEADER <= size; q++) {
        if (zk_le_get32(data + q) != IPC_WAL_MAGIC)
            continue;
        ipc_wal_record rec;
        if (ipc_wal_decode(&rec, data + q, size - q, NULL) == ZK_OK)
            return true;
    }
    return false;
}

static zk_err log_scan_file(log_scan *ls, int fd, zk_error_detail *err)
{
    struct stat st;
    memset(ls, 0, sizeof *ls);
    if (fstat(fd, &st) != 0)
        return io_error(err, "fstat", LOG_NAME);
    ls->size = (size_t)st.st_size;
    if (ls->size < IPC_WAL_FILE_HEADER)
        return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "log of %zu bytes is shorter than its header", ls->size);
    ls->data = mmap(NULL, ls->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (ls->data == MAP_FAILED) {
        ls->data = NULL;
        return io_error(err, "mmap", LOG_NAME);
    }
    if (zk_le_get64(ls->data) != IPC_WAL_FILE_MAGIC || zk_le_get32(ls->data + 8) != IPC_WAL_FORMAT)
        return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "log file magic or format is wrong");
    ls->log_id = zk_le_get64(ls->data + 16);
    ls->base_lsn = zk_le_get64(ls->data + 24);
    if (ls->base_lsn == 0)
        return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "log base sequence number 0");
    size_t off = IPC_WAL_FILE_HEADER;
    uint64_t expect = ls->base_lsn;
    while (off < ls->size) {
        ipc_wal_record rec;
        zk_error_detail why = { 0 };
        zk_err rc = ipc_wal_decode(&rec, ls->data + off, ls->size - off, &why);
        if (rc != ZK_OK) {
            if (valid_record_after(ls->data, ls->size, off + 1))
                return zk_error_set(err, ZK_ERR_LOG_CORRUPT,
                                    "log record at byte %zu (sequence %llu) is bad (%s) and valid records follow it",
                                    off, (unsigned long long)expect, why.text);
            zk_log(ZK_LOG_WARN, "torn log tail truncated", ZKF_U64("offset", off),
                   ZKF_U64("bytes", ls->size - off), ZKF_STR("why", why.text), ZKF_END);
            break;
        }
        if (rec.lsn != expect)
            return zk_error_set(err, ZK_ERR_LOG_CORRUPT, "log record at byte %zu has sequence %llu, expected %llu",
                                off, (unsigned long long)rec.lsn, (unsigned long long)expect);
        expect++;
        off += rec.size;
    }
    ls->valid_end = off;
    ls->last_lsn = expect - 1;
    return ZK_OK;
}

static void log_scan_free(log_scan *ls)
{
    if (ls->data)
        munmap(ls->data, ls->size);
    ls->data = NULL;
}

/* Replays the records of `ls` with sequence numbers above `after`. */
static zk_err log_replay(ipc_writer *w, const log_scan *ls, uint64_t after, int tree, zk_error_detail *err)
{
    size_t off = IPC_WAL_FILE_HEADER;
    while (off < ls->valid_end) {
        ipc_wal_record rec;
        if (ipc_wal_decode(&rec, ls->data + off, ls->valid_end - off, err) != ZK_OK)
            return ZK_ERR_INTERNAL; /* scanned valid a moment ago */
        if (rec.lsn > after) {
            zk_err rc = record_apply(w, &rec, tree, err);
            if (rc != ZK_OK)
                return rc;
        }
        off += rec.size;
    }
    return ZK_OK;
}

static void region_unmap(ipc_writer *w)
{
    if (w->map.base)
        munmap(w->map.base, w->map.size);
    memset(&w->map, 0, sizeof w->map);
}

/* Attaches to an existing region if it is intact and can take the log's
 * tail: returns true with w->map set. */
static bool region_attach(ipc_writer *w, const log_scan *ls, uint64_t snap_lsn)
{
    int fd = shm_open(w->region_name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct stat st;
    void *base = MAP_FAILED;
    const char *why = NULL;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(ipc_header)) {
        why = "too small";
        goto done;
    }
    base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        why = "cannot map";
        goto done;
    }
    ipc_header *h = base;
    zk_error_detail e;
    if (ipc_header_check(h, (size_t)st.st_size, &e) != ZK_OK) {
        why = e.text;
    } else if (h->log_id != w->log_id) {
        why = "caches another log";
    } else if (atomic_load_explicit(&h->state_seq, memory_order_relaxed) & 1) {
        why = "a writer died while applying a commit";
    } else {
        uint64_t applied = atomic_load_explicit(&h->applied_lsn, memory_order_relaxed);
        uint64_t disk = ls->last_lsn > snap_lsn ? ls->last_lsn : snap_lsn;
        if (applied > disk)
            why = "holds records the disk does not";
        else if (applied + 1 < ls->base_lsn && applied < disk)
            why = "is older than the log";
    }
    if (why == NULL) {
        ipc_map_init(&w->map, base, (size_t)st.st_size);
        base = MAP_FAILED;
    }
done:
    if (why != NULL) {
        zk_log(ZK_LOG_WARN, "state region rebuilt from disk", ZKF_STR("region", w->region_name),
               ZKF_STR("why", why), ZKF_END);
        if (base != MAP_FAILED && atomic_load_explicit(&((ipc_header *)base)->magic, memory_order_relaxed) ==
                                      IPC_REGION_MAGIC)
            atomic_store_explicit(&((ipc_header *)base)->retired, 1, memory_order_relaxed);
        shm_unlink(w->region_name);
    }
    if (base != MAP_FAILED)
        munmap(base, (size_t)st.st_size);
    close(fd);
    return why == NULL;
}

/* Builds a new region from the snapshot and the log. */
static zk_err region_rebuild(ipc_writer *w, const snapshot *snap, const log_scan *ls, zk_error_detail *err)
{
    zk_err rc = ZK_OK;
    ipc_header layout;
    uint32_t capacity = w->opt.capacity;
    if (snap->count > capacity)
        return zk_error_set(err, ZK_ERR_STATE_FULL, "the snapshot holds %llu accounts, the capacity is %u",
                            (unsigned long long)snap->count, capacity);
    int64_t t_start = ipc_now_ms();
    ipc_layout(&layout, capacity);
    layout.log_id = w->log_id;
    layout.hash_seed = random_u64();
    shm_unlink(w->region_name);
    int fd = shm_open(w->region_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    uint32_t *ids = NULL;
    if (fd < 0)
        return io_error(err, "shm_open", w->region_name);
    /* Readers open the region O_RDONLY; 0644 lets other users read, not write. */
    if (ftruncate(fd, (off_t)layout.total_size) != 0) {
        rc = io_error(err, "ftruncate", w->region_name);
        goto cleanup;
    }
    void *base = mmap(NULL, layout.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        rc = io_error(err, "mmap", w->region_name);
        goto cleanup;
    }
    memcpy(base, &layout, sizeof layout); /* magic is still 0: readers wait */
    ipc_map_init(&w->map, base, layout.total_size);
    const ipc_map *m = &w->map;
    for (uint64_t i = 0; i < snap->count; i++) {
        const uint8_t *r = snap->data + SNAP_HEADER + i * SNAP_REC;
        uint64_t a[3];
        ipc_addr_pack(a, r);
        if (ipc_index_find(m, a) != IPC_NO_ID) {
            rc = zk_error_set(err, ZK_ERR_SNAPSHOT_CORRUPT, "snapshot account %llu repeats an address",
                              (unsigned long long)i);
            goto cleanup;
        }
        account_create(m, (uint32_t)i, r, zk_le_get64(r + 20), zk_le_get32(r + 28), zk_le_get64(r + 32), zk_le_get32(r + 40));
        prv_gl *leaf = m->levels[0] + i * IPC_DIGEST;
        for (int k = 0; k < IPC_DIGEST; k++)
            leaf[k] = prv_gl_from_u64(zk_le_get64(r + 44 + 8 * k));
    }
    w->touched = calloc(((uint64_t)capacity + 63) / 64, sizeof *w->touched);
    if (w->touched == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "rebuild bitmap");
        goto cleanup;
    }
    atomic_store_explicit(&m->hdr->proven_batch, snap->proven_batch, memory_order_relaxed);
    atomic_store_explicit(&m->hdr->applied_lsn, snap->lsn, memory_order_relaxed);
    int64_t t_snap = ipc_now_ms();
    rc = log_replay(w, ls, snap->lsn, 0, err);
    if (rc != ZK_OK)
        goto cleanup;
    int64_t t_log = ipc_now_ms();
    uint64_t count = atomic_load_explicit(&m->hdr->count, memory_order_relaxed);
    prv_gl root[IPC_DIGEST];
    /* Leaves the log changed (and accounts it created) are hashed again;
     * the snapshot's own leaves are taken as they are (its checksum covers
     * them). Then every inner node is computed, densely. */
    size_t n = 0;
    ids = malloc((count ? count : 1) * sizeof *ids);
    if (ids == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "tree rebuild of %llu accounts", (unsigned long long)count);
        goto cleanup;
    }
    for (uint64_t i = 0; i < count; i++)
        if (i >= snap->count || (w->touched[i / 64] >> (i % 64) & 1))
            ids[n++] = (uint32_t)i;
    rc = ipc_tree_build(m, count, ids, n, w->opt.threads, root);
    if (rc != ZK_OK) {
        zk_error_set(err, rc, "tree rebuild of %llu accounts", (unsigned long long)count);
        goto cleanup;
    }
    store_root(m, root);
    zk_log(ZK_LOG_DEBUG, "state region rebuild timings", ZKF_I64("snapshot_ms", t_snap - t_start),
           ZKF_I64("log_ms", t_log - t_snap), ZKF_I64("tree_ms", ipc_now_ms() - t_log), ZKF_END);
    /* release: everything above is visible to a reader that sees the magic. */
    atomic_store_explicit(&m->hdr->magic, IPC_REGION_MAGIC, memory_order_release);
cleanup:
    free(w->touched);
    w->touched = NULL;
    free(ids);
    close(fd);
    if (rc != ZK_OK) {
        region_unmap(w);
        shm_unlink(w->region_name);
    }
    return rc;
}

static zk_err recover(ipc_writer *w, zk_error_detail *err)
{
    zk_err rc = ZK_OK;
    snapshot snap;
    log_scan ls = { 0 };
    bool have_snap;
    rc = snapshot_load(&snap, w->dir_fd, err, &have_snap);
    if (rc != ZK_OK)
        return rc;
    int fd = openat(w->dir_fd, LOG_NAME, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        rc = io_error(err, "open", LOG_NAME);
        goto cleanup;
    }
    if (fd < 0) {
        w->log_id = have_snap ? snap.log_id : random_u64();
        uint8_t hdr[IPC_WAL_FILE_HEADER];
        log_header(hdr, w->log_id, snap.lsn + 1);
        if (file_replace(w->dir_fd, LOG_NAME, LOG_NAME ".tmp", hdr, sizeof hdr) != 0) {
            rc = io_error(err, "create", LOG_NAME);
            goto cleanup;
        }
        fd = openat(w->dir_fd, LOG_NAME, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            rc = io_error(err, "open", LOG_NAME);
            goto cleanup;
        }
    }
    w->log_fd = fd;
    rc = log_scan_file(&ls, fd, err);
    if (rc != ZK_OK)
        goto cleanup;
    if (have_snap && ls.log_id != snap.log_id) {
        rc = zk_error_set(err, ZK_ERR_LOG_CORRUPT, "the log and the snapshot belong to different histories");
        goto cleanup;
    }
    if (have_snap ? ls.base_lsn > snap.lsn + 1 : ls.base_lsn != 1) {
        rc = zk_error_set(err, ZK_ERR_LOG_CORRUPT, "the log starts at sequence %llu but the %s ends at %llu",
                          (unsigned long long)ls.base_lsn, have_snap ? "snapshot" : "(missing) snapshot",
                          (unsigned long long)snap.lsn);
        goto cleanup;
    }
    w->log_id = ls.log_id;
    if (ls.valid_end < ls.size) {
        if (ftruncate(fd, (off_t)ls.valid_end) != 0 || fdatasync(fd) != 0) {
            rc = io_error(err, "truncate", LOG_NAME);
            goto cleanup;
        }
    }
    uint64_t disk_lsn = ls.last_lsn > snap.lsn ? ls.last_lsn : snap.lsn;
    if (region_attach(w, &ls, snap.lsn)) {
        uint64_t applied = atomic_load_explicit(&w->map.hdr->applied_lsn, memory_order_relaxed);
        rc = log_replay(w, &ls, applied, 1, err);
        if (rc != ZK_OK) {
            /* Half a record applied: nobody may use this region again. */
            atomic_store_explicit(&w->map.hdr->retired, 1, memory_order_relaxed);
            shm_unlink(w->region_name);
            region_unmap(w);
            goto cleanup;
        }
        zk_log(ZK_LOG_INFO, "state region attached", ZKF_STR("region", w->region_name),
               ZKF_U64("replayed", disk_lsn - applied), ZKF_U64("lsn", disk_lsn), ZKF_END);
    } else {
        rc = region_rebuild(w, &snap, &ls, err);
        if (rc != ZK_OK)
            goto cleanup;
        zk_log(ZK_LOG_INFO, "state region rebuilt", ZKF_STR("region", w->region_name),
               ZKF_U64("snapshot_lsn", snap.lsn), ZKF_U64("lsn", disk_lsn),
               ZKF_U64("accounts", atomic_load_explicit(&w->map.hdr->count, memory_order_relaxed)), ZKF_END);
    }
    w->next_lsn = disk_lsn + 1;
    w->log_end = ls.valid_end;
    if (ls.last_lsn < snap.lsn) {
        /* Every record in the log is in the snapshot: start a clean log. */
        if (log_reset(w, snap.lsn + 1) != 0) {
            rc = io_error(err, "reset", LOG_NAME);
            goto cleanup;
        }
    }
cleanup:
    log_scan_free(&ls);
    snapshot_free(&snap);
    return rc;
}

/* ---- the public writer API ---------------------------------------------------------- */

zk_err ipc_writer_open(ipc_writer **out, const char *data_dir, const ipc_writer_options *opt,
                       zk_error_detail *err)
{
    zk_err rc = ZK_OK;
    ipc_writer *w = calloc(1, sizeof *w);
    *out = NULL;
    if (w == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "writer handle");
    w->dir_fd = w->lock_fd = w->log_fd = -1;
    if (opt)
        w->opt = *opt;
    if (w->opt.capacity == 0)
        w->opt.capacity = IPC_DEFAULT_CAPACITY;
    if (w->opt.max_group_ops == 0)
        w->opt.max_group_ops = IPC_DEFAULT_MAX_GROUP_OPS;
    if (w->opt.snapshot_every == 0)
        w->opt.snapshot_every = IPC_DEFAULT_SNAPSHOT_EVERY;
    if (w->opt.threads == 0)
        w->opt.threads = 2;
    if (w->opt.capacity > IPC_MAX_CAPACITY || w->opt.max_group_ops > (1u << 20)) {
        rc = zk_error_set(err, ZK_ERR_USAGE, "capacity %u or group size %u above the caps (%u, %u)",
                          w->opt.capacity, w->opt.max_group_ops, IPC_MAX_CAPACITY, 1u << 20);
        goto cleanup;
    }
    w->dir = strdup(data_dir);
    if (w->dir == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "writer handle");
        goto cleanup;
    }
    if (mkdir(data_dir, 0700) == 0) {
        /* The new directory's entry must survive power loss too. */
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", data_dir);
        char *slash = strrchr(parent, '/');
        if (slash == parent)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            snprintf(parent, sizeof parent, ".");
        int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0 || fsync(pfd) != 0) {
            rc = io_error(err, "fsync the parent of", data_dir);
            if (pfd >= 0)
                close(pfd);
            goto cleanup;
        }
        close(pfd);
    } else if (errno != EEXIST) {
        rc = io_error(err, "mkdir", data_dir);
        goto cleanup;
    }
    w->dir_fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd < 0) {
        rc = io_error(err, "open", data_dir);
        goto cleanup;
    }
    /* The lease: an exclusive flock on DIR/writer.lock. The kernel drops it
     * when the holder exits or is killed, so a crashed writer cannot keep it
     * and no timeout is needed to take over. */
    w->lock_fd = openat(w->dir_fd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->lock_fd < 0) {
        rc = io_error(err, "open", LOCK_NAME);
        goto cleanup;
    }
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? zk_error_set(err, ZK_ERR_STATE_LOCKED, "another writer holds %s/%s", data_dir, LOCK_NAME)
                 : io_error(err, "flock", LOCK_NAME);
        goto cleanup;
    }
    if (ipc_region_name(w->region_name, sizeof w->region_name, data_dir) != ZK_OK) {
        rc = io_error(err, "realpath", data_dir);
        goto cleanup;
    }
    size_t g = w->opt.max_group_ops;
    uint32_t ovl_slots = 1;
    while (ovl_slots < 2 * g)
        ovl_slots <<= 1;
    w->ovl_mask = ovl_slots - 1;
    w->ops = malloc(g * sizeof *w->ops);
    w->ovl = calloc(ovl_slots, sizeof *w->ovl);
    w->ovl_used = malloc(g * sizeof *w->ovl_used);
    w->dirty = malloc(g * sizeof *w->dirty);
    w->rec_cap = ipc_wal_ops_size(g) > ipc_wal_proven_size(g) ? ipc_wal_ops_size(g) : ipc_wal_proven_size(g);
    w->rec_buf = malloc(w->rec_cap);
    w->scratch = ipc_tree_scratch_new(g, w->opt.threads);
    if (!w->ops || !w->ovl || !w->ovl_used || !w->dirty || !w->rec_buf || !w->scratch) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "writer buffers for %zu operations", g);
        goto cleanup;
    }
    rc = recover(w, err);
    if (rc != ZK_OK)
        goto cleanup;
    w->staged_count = atomic_load_explicit(&w->map.hdr->count, memory_order_relaxed);
    atomic_store_explicit(&w->map.hdr->writer_pid, (int64_t)getpid(), memory_order_relaxed);
    ipc_writer_heartbeat(w);
    *out = w;
    w = NULL;
cleanup:
    ipc_writer_close(w);
    return rc;
}

void ipc_writer_close(ipc_writer *w)
{
    if (w == NULL)
        return;
    if (w->map.base)
        atomic_store_explicit(&w->map.hdr->writer_pid, 0, memory_order_relaxed);
    region_unmap(w);
    if (w->log_fd >= 0)
        close(w->log_fd);
    if (w->lock_fd >= 0)
        close(w->lock_fd); /* drops the lease */
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    free(w->ops);
    free(w->ovl);
    free(w->ovl_used);
    free(w->dirty);
    free(w->rec_buf);
    ipc_tree_scratch_free(w->scratch);
    free(w->dir);
    free(w);
}

static uint32_t *ovl_slot(const ipc_writer *w, const uint8_t address[IPC_ADDRESS_SIZE])
{
    uint64_t a[3];
    ipc_addr_pack(a, address);
    uint32_t s = ipc_index_hash(&w->map, a) & w->ovl_mask;
    for (;;) {
        uint32_t v = w->ovl[s];
        if (v == 0 || memcmp(w->ops[v - 1].address, address, IPC_ADDRESS_SIZE) == 0)
            return &w->ovl[s];
        s = (s + 1) & w->ovl_mask;
    }
}

zk_err ipc_writer_stage(ipc_writer *w, uint32_t *id, const uint8_t address[IPC_ADDRESS_SIZE],
                        uint64_t balance, uint32_t nonce)
{
    if (w->failed)
        return ZK_ERR_STATE_WRITER_FAILED;
    if (balance > IPC_BALANCE_MAX)
        return ZK_ERR_OUT_OF_RANGE;
    if (w->nops >= w->opt.max_group_ops)
        return ZK_ERR_TOO_BIG;
    uint32_t *slot = ovl_slot(w, address);
    uint32_t aid;
    if (*slot != 0) {
        aid = w->ops[*slot - 1].id;
    } else {
        uint64_t a[3];
        ipc_addr_pack(a, address);
        aid = ipc_index_find(&w->map, a);
        if (aid == IPC_NO_ID) {
            if (w->staged_count >= w->map.capacity)
                return ZK_ERR_STATE_FULL;
            aid = (uint32_t)w->staged_count++;
        }
        w->ovl_used[w->novl_used++] = (uint32_t)(slot - w->ovl);
    }
    ipc_wal_op *op = &w->ops[w->nops];
    op->id = aid;
    memcpy(op->address, address, IPC_ADDRESS_SIZE);
    op->balance = balance;
    op->nonce = nonce;
    *slot = (uint32_t)++w->nops;
    if (id)
        *id = aid;
    return ZK_OK;
}

bool ipc_writer_get(const ipc_writer *w, ipc_account *out, const uint8_t address[IPC_ADDRESS_SIZE])
{
    const ipc_map *m = &w->map;
    uint64_t count = atomic_load_explicit(&m->hdr->count, memory_order_relaxed);
    uint32_t v = *ovl_slot(w, address);
    uint32_t id;
    if (v != 0) {
        id = w->ops[v - 1].id;
    } else {
        uint64_t a[3];
        ipc_addr_pack(a, address);
        id = ipc_index_find(m, a);
        if (id == IPC_NO_ID)
            return false;
    }
    memset(out, 0, sizeof *out);
    out->id = id;
    memcpy(out->address, address, IPC_ADDRESS_SIZE);
    if (id < count) {
        const ipc_rec *r = &m->recs[id];
        out->balance = atomic_load_explicit(&r->balance, memory_order_relaxed);
        out->nonce = (uint32_t)atomic_load_explicit(&r->nonce, memory_order_relaxed);
        out->proven_balance = atomic_load_explicit(&r->proven_balance, memory_order_relaxed);
        out->proven_nonce = (uint32_t)atomic_load_explicit(&r->proven_nonce, memory_order_relaxed);
    }
    if (v != 0) {
        out->balance = w->ops[v - 1].balance;
        out->nonce = w->ops[v - 1].nonce;
    }
    return true;
}

size_t ipc_writer_staged(const ipc_writer *w) { return w->nops; }

static void staging_clear(ipc_writer *w)
{
    for (size_t i = 0; i < w->novl_used; i++)
        w->ovl[w->ovl_used[i]] = 0;
    w->novl_used = 0;
    w->nops = 0;
    w->staged_count = atomic_load_explicit(&w->map.hdr->count, memory_order_relaxed);
}

/* Appends one encoded record and makes it durable. */
static zk_err log_append(ipc_writer *w, size_t size)
{
    if (write_all(w->log_fd, w->rec_buf, size, w->log_end) != 0)
        return writer_fail(w, "log write");
    /* fdatasync, not fsync: the file's size is data it flushes; its times are not needed. */
    if (fdatasync(w->log_fd) != 0)
        return writer_fail(w, "log fdatasync");
    w->log_end += size;
    w->next_lsn++;
    return ZK_OK;
}

zk_err ipc_writer_commit(ipc_writer *w, ipc_witness *witnesses, size_t nwit)
{
    if (w->failed)
        return ZK_ERR_STATE_WRITER_FAILED;
    if (w->nops == 0)
        return ZK_OK;
    if (witnesses && nwit < w->nops)
        ZK_PANIC("witness array smaller than the staged group");
    uint64_t lsn = w->next_lsn;
    size_t size = ipc_wal_encode_ops(w->rec_buf, w->rec_cap, lsn, w->ops, w->nops);
    zk_err rc = log_append(w, size);
    if (rc != ZK_OK) {
        staging_clear(w);
        return rc;
    }
    /* Durable: only now does the region (and so any reader) see the group. */
    if (ops_apply(w, w->ops, w->nops, lsn, witnesses ? 2 : 1, witnesses, false, NULL) != ZK_OK)
        ZK_PANIC("a staged group does not apply");
    w->ops_since_snapshot += w->nops;
    staging_clear(w);
    ipc_writer_heartbeat(w);
    if (w->ops_since_snapshot >= w->opt.snapshot_every) {
        zk_err s = ipc_writer_snapshot(w);
        if (s == ZK_ERR_STATE_WRITER_FAILED)
            return s;
    }
    return ZK_OK;
}

zk_err ipc_writer_mark_proven(ipc_writer *w, uint64_t batch, const uint32_t *ids, const uint64_t *balances,
                              const uint32_t *nonces, size_t n)
{
    if (w->failed)
        return ZK_ERR_STATE_WRITER_FAILED;
    if (w->nops != 0)
        ZK_PANIC("mark_proven with staged operations");
    const ipc_map *m = &w->map;
    uint64_t count = atomic_load_explicit(&m->hdr->count, memory_order_relaxed);
    if (batch <= atomic_load_explicit(&m->hdr->proven_batch, memory_order_relaxed))
        return ZK_ERR_BAD_VALUE;
    if (n > w->opt.max_group_ops)
        return ZK_ERR_TOO_BIG;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= count || balances[i] > IPC_BALANCE_MAX)
            return ZK_ERR_BAD_VALUE;
    uint64_t lsn = w->next_lsn;
    size_t size = ipc_wal_encode_proven(w->rec_buf, w->rec_cap, lsn, batch, ids, balances, nonces, n);
    zk_err rc = log_append(w, size);
    if (rc != ZK_OK)
        return rc;
    ipc_wal_record rec;
    if (ipc_wal_decode(&rec, w->rec_buf, size, NULL) != ZK_OK)
        ZK_PANIC("a proven record we encoded does not decode");
    if (proven_apply(w, &rec, NULL) != ZK_OK)
        ZK_PANIC("a checked proven record does not apply");
    ipc_writer_heartbeat(w);
    return ZK_OK;
}

void ipc_writer_heartbeat(ipc_writer *w)
{
    atomic_store_explicit(&w->map.hdr->heartbeat_ms, ipc_now_ms(), memory_order_relaxed);
}

void ipc_writer_root(const ipc_writer *w, prv_gl root[IPC_DIGEST])
{
    for (int i = 0; i < IPC_DIGEST; i++)
        root[i] = atomic_load_explicit(&w->map.hdr->root[i], memory_order_relaxed);
}

void ipc_writer_path(const ipc_writer *w, ipc_path *out, uint32_t id)
{
    ipc_tree_path(&w->map, atomic_load_explicit(&w->map.hdr->count, memory_order_relaxed), id, out);
}

uint32_t ipc_writer_count(const ipc_writer *w)
{
    return (uint32_t)atomic_load_explicit(&w->map.hdr->count, memory_order_relaxed);
}

uint64_t ipc_writer_lsn(const ipc_writer *w) { return w->next_lsn - 1; }

static zk_err preview(ipc_writer *w, ipc_witness *witnesses, size_t nwit, bool roots)
{
    if (nwit < w->nops || (w->nops > 0 && witnesses == NULL))
        ZK_PANIC("witness array smaller than the staged group");
    uint64_t count = atomic_load_explicit(&w->map.hdr->count, memory_order_relaxed);
    return ipc_tree_preview(&w->map, count, w->ops, w->nops, roots, witnesses);
}

zk_err ipc_writer_preview(ipc_writer *w, ipc_witness *witnesses, size_t nwit)
{
    return preview(w, witnesses, nwit, true);
}

zk_err ipc_writer_preview_siblings(ipc_writer *w, ipc_witness *witnesses, size_t nwit)
{
    return preview(w, witnesses, nwit, false);
}

void ipc_writer_discard(ipc_writer *w) { staging_clear(w); }
