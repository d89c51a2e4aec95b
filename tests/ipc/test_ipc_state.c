/* Tests of ipc/: the leaf encoding and tree, the log record codec, the
 * writer and readers, recovery from torn and corrupt logs, missing regions,
 * snapshots, read-only readers, failed writes and `zkcar query`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/hex.h"
#include "ipc/region.h"
#include "ipc/wal.h"
#include "ipc_test_util.h"
#include "prover/poseidon2.h"

static ipc_writer_options small_opts(void)
{
    ipc_writer_options o = { .capacity = 1024, .max_group_ops = 512, .snapshot_every = 1u << 30, .threads = 2 };
    return o;
}

static ipc_writer *open_writer(const char *dir, const ipc_writer_options *o)
{
    ipc_writer *w = NULL;
    zk_error_detail e = { 0 };
    zk_err rc = ipc_writer_open(&w, dir, o, &e);
    if (rc != ZK_OK)
        fprintf(stderr, "ipc_writer_open: %s: %s\n", zk_strerror(rc), e.text);
    assert_int_equal(rc, ZK_OK);
    return w;
}

static void commit_ok(ipc_writer *w)
{
    assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
}

static void stage_ok(ipc_writer *w, uint32_t k, uint64_t bal, uint32_t nonce)
{
    uint8_t a[IPC_ADDRESS_SIZE];
    taddr(a, k);
    assert_int_equal(ipc_writer_stage(w, NULL, a, bal, nonce), ZK_OK);
}

static bool root_eq(const prv_gl *a, const prv_gl *b)
{
    return memcmp(a, b, IPC_DIGEST * sizeof(prv_gl)) == 0;
}

/* ---- hashes --------------------------------------------------------------- */

/* Plonky3 goldilocks/src/poseidon2.rs test vector (REFERENCE.md §1): the
 * permutation that the leaves and nodes use, on input 0..7. */
static void test_poseidon2_vector(void **state)
{
    prv_gl s[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    static const prv_gl expect[8] = { 0x020cf04a1b214d14ULL, 0x84e14aaaeacaed25ULL, 0x1ae0f640e81c7457ULL,
                                      0xa4d204cbaeb0d8a5ULL, 0x0cf637b627b3a7ffULL, 0x788d304d948b486bULL,
                                      0x7327133ea1949af4ULL, 0xf415abb924da395bULL };
    prv_p2_permute8(s);
    assert_memory_equal(s, expect, sizeof expect);
}

static void test_leaf_encoding(void **state)
{
    uint8_t a[IPC_ADDRESS_SIZE];
    for (int i = 0; i < IPC_ADDRESS_SIZE; i++)
        a[i] = (uint8_t)(0xf0 + i);
    prv_gl st[8] = { IPC_LEAF_TAG, 0xf0f1f2f3, 0xf4f5f6f7, 0xf8f9fafb, 0xfcfdfeff, 0x00010203,
                     UINT64_C(0x7fffffffffffffff), 0xffffffff };
    a[16] = 0x00, a[17] = 0x01, a[18] = 0x02, a[19] = 0x03;
    prv_p2_permute8(st);
    prv_gl leaf[4];
    ipc_leaf_hash(leaf, a, UINT64_C(0x7fffffffffffffff), 0xffffffff);
    assert_memory_equal(leaf, st, sizeof leaf);
    /* Each field changes the leaf. */
    prv_gl other[4];
    ipc_leaf_hash(other, a, UINT64_C(0x7ffffffffffffffe), 0xffffffff);
    assert_false(root_eq(leaf, other));
    ipc_leaf_hash(other, a, UINT64_C(0x7fffffffffffffff), 0xfffffffe);
    assert_false(root_eq(leaf, other));
    a[19] ^= 1;
    ipc_leaf_hash(other, a, UINT64_C(0x7fffffffffffffff), 0xffffffff);
    assert_false(root_eq(leaf, other));
}

static void test_empty_hashes(void **state)
{
    static const uint8_t zero[IPC_ADDRESS_SIZE];
    prv_gl leaf[4], node[4];
    ipc_leaf_hash(leaf, zero, 0, 0);
    assert_memory_equal(ipc_empty_hash(0), leaf, sizeof leaf);
    for (unsigned l = 1; l <= IPC_TREE_DEPTH; l++) {
        prv_p2_compress(node, ipc_empty_hash(l - 1), ipc_empty_hash(l - 1));
        assert_memory_equal(ipc_empty_hash(l), node, sizeof node);
    }
    prv_gl root[4];
    troot_from_leaves(root, NULL, 0);
    assert_memory_equal(root, ipc_empty_hash(IPC_TREE_DEPTH), sizeof root);
}

/* ---- the log record codec ------------------------------------------------------ */

/* CRC-32C check value of "123456789" (RFC 3720 appendix B.4; the catalogue
 * of parametrised CRCs, CRC-32/ISCSI): 0xe3069283. */
static void test_crc32c_vector(void **state)
{
    assert_int_equal(ipc_crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(ipc_crc32c(ipc_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
    assert_int_equal(ipc_crc32c(0, "", 0), 0);
    uint8_t zeros[32] = { 0 }; /* RFC 3720 B.4: 32 bytes of zeros -> 0x8a9136aa */
    assert_int_equal(ipc_crc32c(0, zeros, 32), 0x8a9136aau);
}

static size_t sample_ops(ipc_wal_op *ops, size_t n)
{
    memset(ops, 0, n * sizeof *ops); /* padding too: the tests compare whole structs */
    for (size_t i = 0; i < n; i++) {
        ops[i].id = (uint32_t)(i * 7);
        taddr(ops[i].address, (uint32_t)i);
        ops[i].balance = IPC_BALANCE_MAX - i;
        ops[i].nonce = (uint32_t)(0xfffffff0u + i);
    }
    return n;
}

static void test_wal_roundtrip(void **state)
{
    ipc_wal_op ops[5], back;
    sample_ops(ops, 5);
    uint8_t buf[512];
    size_t n = ipc_wal_encode_ops(buf, sizeof buf, 77, ops, 5);
    assert_int_equal(n, ipc_wal_ops_size(5));
    ipc_wal_record rec;
    assert_int_equal(ipc_wal_decode(&rec, buf, n, NULL), ZK_OK);
    assert_int_equal(rec.type, IPC_WAL_OPS);
    assert_int_equal(rec.lsn, 77);
    assert_int_equal(rec.count, 5);
    assert_int_equal(rec.size, n);
    for (size_t i = 0; i < 5; i++) {
        ipc_wal_entry(&rec, i, &back);
        assert_memory_equal(&back, &ops[i], sizeof back);
    }
    /* Trailing bytes are the next record's business. */
    assert_int_equal(ipc_wal_decode(&rec, buf, sizeof buf, NULL), ZK_OK);
    uint32_t ids[2] = { 3, 9 };
    uint64_t bals[2] = { 1, IPC_BALANCE_MAX };
    uint32_t nonces[2] = { 0, 0xffffffffu };
    n = ipc_wal_encode_proven(buf, sizeof buf, 78, 42, ids, bals, nonces, 2);
    assert_int_equal(ipc_wal_decode(&rec, buf, n, NULL), ZK_OK);
    assert_int_equal(rec.type, IPC_WAL_PROVEN);
    assert_int_equal(rec.batch, 42);
    assert_int_equal(rec.count, 2);
    ipc_wal_entry(&rec, 1, &back);
    assert_int_equal(back.id, 9);
    assert_true(back.balance == IPC_BALANCE_MAX);
    assert_int_equal(back.nonce, 0xffffffffu);
    /* An empty group encodes and decodes. */
    n = ipc_wal_encode_ops(buf, sizeof buf, 1, ops, 0);
    assert_int_equal(ipc_wal_decode(&rec, buf, n, NULL), ZK_OK);
    assert_int_equal(rec.count, 0);
}

static void test_wal_torn_and_flipped(void **state)
{
    ipc_wal_op ops[3];
    sample_ops(ops, 3);
    uint8_t buf[256];
    size_t n = ipc_wal_encode_ops(buf, sizeof buf, 5, ops, 3);
    ipc_wal_record rec;
    zk_error_detail e;
    /* Every proper prefix is torn, never accepted. */
    for (size_t len = 1; len < n; len++)
        assert_int_equal(ipc_wal_decode(&rec, buf, len, &e), ZK_ERR_LOG_TORN);
    /* Every single-bit flip is rejected (bad or, for a length bit, torn). */
    for (size_t bit = 0; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        zk_err rc = ipc_wal_decode(&rec, buf, n, &e);
        assert_true(rc == ZK_ERR_LOG_BAD_RECORD || rc == ZK_ERR_LOG_TORN);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(ipc_wal_decode(&rec, buf, n, NULL), ZK_OK);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void reseal(uint8_t *buf, size_t n)
{
    put32(buf + n - 4, ipc_crc32c(0, buf, n - 4));
}

static void test_wal_rejects(void **state)
{
    ipc_wal_op ops[2];
    sample_ops(ops, 2);
    uint8_t buf[256], bad[256];
    size_t n = ipc_wal_encode_ops(buf, sizeof buf, 5, ops, 2);
    ipc_wal_record rec;
    zk_error_detail e;
    /* Balance 2^63 with a valid checksum. */
    memcpy(bad, buf, n);
    bad[24 + 4 + 24 + 7] = 0x80;
    reseal(bad, n);
    assert_int_equal(ipc_wal_decode(&rec, bad, n, &e), ZK_ERR_LOG_BAD_RECORD);
    assert_non_null(strstr(e.text, "balance"));
    /* Payload length above the cap: bad at once, not "wait for more". */
    memcpy(bad, buf, n);
    put32(bad + 8, IPC_WAL_MAX_PAYLOAD + 36);
    assert_int_equal(ipc_wal_decode(&rec, bad, n, &e), ZK_ERR_LOG_BAD_RECORD);
    /* Count that disagrees with the payload. */
    memcpy(bad, buf, n);
    put32(bad + 24, 3);
    reseal(bad, n);
    assert_int_equal(ipc_wal_decode(&rec, bad, n, &e), ZK_ERR_LOG_BAD_RECORD);
    /* Unknown type, reserved bytes, sequence 0. */
    memcpy(bad, buf, n);
    bad[4] = 9;
    reseal(bad, n);
    assert_int_equal(ipc_wal_decode(&rec, bad, n, &e), ZK_ERR_LOG_BAD_RECORD);
    memcpy(bad, buf, n);
    bad[13] = 1;
    reseal(bad, n);
    assert_int_equal(ipc_wal_decode(&rec, bad, n, &e), ZK_ERR_LOG_BAD_RECORD);
    memcpy(bad, buf, n);
    memset(bad + 16, 0, 8);
    reseal(bad, n);
    assert_int_equal(ipc_wal_decode(&rec, bad, n, &e), ZK_ERR_LOG_BAD_RECORD);
    /* Zeros (a preallocated or zero-filled tail) are not a record. */
    memset(bad, 0, sizeof bad);
    assert_int_equal(ipc_wal_decode(&rec, bad, sizeof bad, &e), ZK_ERR_LOG_BAD_RECORD);
    assert_int_equal(ipc_wal_decode(&rec, bad, 3, &e), ZK_ERR_LOG_BAD_RECORD);
}

/* ---- writer, readers, tree --------------------------------------------------------- */

static void test_writer_basics(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    prv_gl root[4];
    ipc_writer_root(w, root);
    assert_memory_equal(root, ipc_empty_hash(IPC_TREE_DEPTH), sizeof root);
    assert_int_equal(ipc_writer_count(w), 0);
    assert_int_equal(ipc_writer_lsn(w), 0);

    /* A second writer is refused while the lease is held. */
    ipc_writer *w2 = NULL;
    zk_error_detail e = { 0 };
    assert_int_equal(ipc_writer_open(&w2, dir, &o, &e), ZK_ERR_STATE_LOCKED);
    assert_null(w2);

    uint8_t a0[20], a1[20], a2[20];
    taddr(a0, 0), taddr(a1, 1), taddr(a2, 2);
    uint32_t id;
    assert_int_equal(ipc_writer_stage(w, &id, a0, 100, 0), ZK_OK);
    assert_int_equal(id, 0);
    assert_int_equal(ipc_writer_stage(w, &id, a1, 50, 0), ZK_OK);
    assert_int_equal(id, 1);
    assert_int_equal(ipc_writer_stage(w, &id, a0, 90, 1), ZK_OK);
    assert_int_equal(id, 0);
    assert_int_equal(ipc_writer_stage(w, &id, a2, IPC_BALANCE_MAX + 1, 0), ZK_ERR_OUT_OF_RANGE);
    assert_int_equal(ipc_writer_staged(w), 3);
    ipc_account acc;
    assert_true(ipc_writer_get(w, &acc, a0));
    assert_int_equal(acc.balance, 90);
    assert_int_equal(acc.nonce, 1);
    assert_false(ipc_writer_get(w, &acc, a2));

    /* Readers see nothing before the commit. */
    ipc_reader *r = NULL;
    assert_int_equal(ipc_reader_open(&r, dir, &e), ZK_OK);
    assert_int_equal(ipc_reader_count(r), 0);
    assert_false(ipc_reader_find(r, &id, a0));
    commit_ok(w);
    assert_int_equal(ipc_writer_staged(w), 0);
    assert_int_equal(ipc_writer_lsn(w), 1);
    assert_int_equal(ipc_reader_count(r), 2);
    assert_true(ipc_reader_find(r, &id, a1));
    assert_int_equal(id, 1);
    assert_true(ipc_reader_get(r, &acc, 0));
    assert_memory_equal(acc.address, a0, 20);
    assert_int_equal(acc.balance, 90);
    assert_int_equal(acc.nonce, 1);
    assert_int_equal(acc.proven_balance, 0);
    assert_false(ipc_reader_get(r, &acc, 2));
    assert_false(ipc_reader_find(r, &id, a2));

    ipc_info info;
    ipc_reader_info(r, &info);
    assert_int_equal(info.accounts, 2);
    assert_int_equal(info.lsn, 1);
    assert_int_equal(info.capacity, 1024);
    assert_int_equal(info.writer_pid, getpid());
    assert_false(info.retired);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    assert_true(info.heartbeat_ms <= now_ms && info.heartbeat_ms > now_ms - 60000);
    int64_t hb = info.heartbeat_ms;
    usleep(3000);
    ipc_writer_heartbeat(w);
    ipc_reader_info(r, &info);
    assert_true(info.heartbeat_ms > hb);
    ipc_writer_root(w, root);
    assert_memory_equal(info.root, root, sizeof root);
    prv_gl expect[4];
    troot_from_reader(expect, r);
    assert_memory_equal(root, expect, sizeof root);

    /* Proven values. */
    uint32_t ids[1] = { 0 };
    uint64_t bals[1] = { 90 };
    uint32_t nonces[1] = { 1 };
    assert_int_equal(ipc_writer_mark_proven(w, 1, ids, bals, nonces, 1), ZK_OK);
    assert_int_equal(ipc_writer_mark_proven(w, 1, ids, bals, nonces, 1), ZK_ERR_BAD_VALUE);
    ids[0] = 7;
    assert_int_equal(ipc_writer_mark_proven(w, 2, ids, bals, nonces, 1), ZK_ERR_BAD_VALUE);
    assert_true(ipc_reader_get(r, &acc, 0));
    assert_int_equal(acc.proven_balance, 90);
    assert_int_equal(acc.proven_nonce, 1);
    ipc_reader_info(r, &info);
    assert_int_equal(info.proven_batch, 1);
    assert_int_equal(info.lsn, 2);

    /* Closing keeps the region; reopening attaches to it. */
    ipc_writer_close(w);
    ipc_reader_info(r, &info);
    assert_int_equal(info.writer_pid, 0);
    w = open_writer(dir, &o);
    prv_gl root2[4];
    ipc_writer_root(w, root2);
    assert_memory_equal(root, root2, sizeof root);
    assert_int_equal(ipc_writer_lsn(w), 2);
    ipc_reader_info(r, &info);
    assert_false(info.retired);
    ipc_writer_close(w);
    ipc_reader_close(r);
    tdir_remove(dir);
}

static void test_capacity_and_group_caps(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = { .capacity = 4, .max_group_ops = 3, .threads = 1 };
    ipc_writer *w = open_writer(dir, &o);
    uint8_t a[20];
    for (uint32_t k = 0; k < 3; k++)
        stage_ok(w, k, 1, 0);
    taddr(a, 3);
    assert_int_equal(ipc_writer_stage(w, NULL, a, 1, 0), ZK_ERR_TOO_BIG);
    commit_ok(w);
    stage_ok(w, 3, 1, 0);
    taddr(a, 4);
    assert_int_equal(ipc_writer_stage(w, NULL, a, 1, 0), ZK_ERR_STATE_FULL);
    commit_ok(w);
    assert_int_equal(ipc_writer_count(w), 4);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* Batched updates (both threads), operation-by-operation witnesses and a
 * from-scratch recomputation agree; each witness folds to its roots. */
static void test_tree_batched_and_witnessed(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = { .capacity = 8192, .max_group_ops = 4096, .threads = 2 };
    ipc_writer *w = open_writer(dir, &o);
    ipc_reader *r = NULL;
    assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_OK);
    uint64_t x = 1;
    /* Groups large enough for the two-thread split (>= 1024 leaves). */
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 3000; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            stage_ok(w, (uint32_t)((x >> 33) % 5000), (x >> 20) & 0xffffff, (uint32_t)round);
        }
        commit_ok(w);
        prv_gl root[4], expect[4];
        ipc_writer_root(w, root);
        troot_from_reader(expect, r);
        assert_memory_equal(root, expect, sizeof root);
    }
    /* Witnessed commit: new and existing accounts, one touched twice. */
    stage_ok(w, 1, 11, 1);
    stage_ok(w, 6000, 22, 0);
    stage_ok(w, 1, 33, 2);
    stage_ok(w, 6001, 44, 0);
    ipc_witness wit[4];
    prv_gl before[4];
    ipc_writer_root(w, before);
    assert_int_equal(ipc_writer_commit(w, wit, 4), ZK_OK);
    prv_gl cur[4];
    memcpy(cur, before, sizeof cur);
    for (int k = 0; k < 4; k++) {
        prv_gl rt[4];
        assert_memory_equal(wit[k].old_root, cur, sizeof cur);
        ipc_path_root(rt, wit[k].id, wit[k].old_leaf, (const prv_gl(*)[4])wit[k].siblings);
        assert_memory_equal(rt, wit[k].old_root, sizeof rt);
        ipc_path_root(rt, wit[k].id, wit[k].new_leaf, (const prv_gl(*)[4])wit[k].siblings);
        assert_memory_equal(rt, wit[k].new_root, sizeof rt);
        memcpy(cur, wit[k].new_root, sizeof cur);
    }
    assert_memory_equal(wit[1].old_leaf, ipc_empty_hash(0), sizeof wit[1].old_leaf);
    prv_gl root[4], expect[4];
    ipc_writer_root(w, root);
    assert_memory_equal(root, cur, sizeof root);
    troot_from_reader(expect, r);
    assert_memory_equal(root, expect, sizeof root);
    /* Paths of the committed state: an account and an empty id. */
    ipc_path p;
    uint32_t ids[2] = { 17, 7000 };
    for (int k = 0; k < 2; k++) {
        ipc_writer_path(w, &p, ids[k]);
        prv_gl rt[4];
        ipc_path_root(rt, p.id, p.leaf, (const prv_gl(*)[4])p.siblings);
        assert_memory_equal(rt, root, sizeof rt);
    }
    assert_memory_equal(p.leaf, ipc_empty_hash(0), sizeof p.leaf);
    ipc_reader_close(r);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* A rebuild large enough for the two-thread paths of the dense tree build
 * (>= 4096 rehashed leaves, >= 4096 pairs on a level) gives the same root
 * as the batched updates and as a from-scratch recomputation. */
static void test_rebuild_large_tree(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = { .capacity = 16384, .max_group_ops = 4096, .threads = 2 };
    ipc_writer *w = open_writer(dir, &o);
    for (uint32_t k = 0; k < 9000; k++) {
        stage_ok(w, k, k * 3 + 1, 0);
        if (ipc_writer_staged(w) == 4096)
            commit_ok(w);
    }
    commit_ok(w);
    assert_int_equal(ipc_writer_snapshot(w), ZK_OK);
    uint64_t x = 7;
    for (int i = 0; i < 3 * 4096; i++) { /* about 7000 distinct leaves, 2000 of them new */
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        stage_ok(w, (uint32_t)((x >> 33) % 11000), x >> 44, 1);
        if (ipc_writer_staged(w) == 4096)
            commit_ok(w);
    }
    commit_ok(w);
    prv_gl root[4], after[4], expect[4];
    ipc_writer_root(w, root);
    ipc_writer_close(w);
    tregion_unlink(dir);
    w = open_writer(dir, &o);
    ipc_writer_root(w, after);
    assert_memory_equal(after, root, sizeof root);
    ipc_reader *r = NULL;
    assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_OK);
    troot_from_reader(expect, r);
    assert_memory_equal(after, expect, sizeof after);
    ipc_reader_close(r);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* ---- durability and recovery ----------------------------------------------------------- */

static void read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(*len + 1);
    assert_int_equal(fread(*data, 1, *len, f), *len);
    fclose(f);
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Ten commits of 3 operations; returns the root. */
static void fill(ipc_writer *w, int commits, uint32_t salt)
{
    for (int c = 0; c < commits; c++) {
        for (uint32_t k = 0; k < 3; k++)
            stage_ok(w, (uint32_t)c * 2 + k, 1000 + salt + (uint32_t)c + k, (uint32_t)c);
        commit_ok(w);
    }
}

static void test_torn_tail_truncated(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    fill(w, 10, 0);
    prv_gl root[4];
    ipc_writer_root(w, root);
    ipc_writer_close(w);

    char path[512];
    snprintf(path, sizeof path, "%s/state.wal", dir);
    uint8_t *data;
    size_t len;
    read_file(path, &data, &len);
    /* A crash in the middle of appending record 11: half of it on disk. */
    ipc_wal_op ops[3];
    sample_ops(ops, 3);
    uint8_t rec[256];
    size_t n = ipc_wal_encode_ops(rec, sizeof rec, 11, ops, 3);
    uint8_t *torn = malloc(len + n);
    memcpy(torn, data, len);
    memcpy(torn + len, rec, n / 2);
    write_file(path, torn, len + n / 2);
    tregion_unlink(dir); /* and the machine rebooted */
    w = open_writer(dir, &o);
    prv_gl after[4];
    ipc_writer_root(w, after);
    assert_memory_equal(after, root, sizeof root);
    assert_int_equal(ipc_writer_lsn(w), 10);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, len); /* truncated back */
    /* The log continues cleanly after the truncation. */
    fill(w, 1, 7);
    ipc_writer_close(w);
    tregion_unlink(dir);
    w = open_writer(dir, &o);
    assert_int_equal(ipc_writer_lsn(w), 11);
    ipc_writer_close(w);
    free(torn);
    free(data);
    tdir_remove(dir);
}

static void test_corrupt_middle_record_stops(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    fill(w, 10, 0);
    ipc_writer_close(w);
    char path[512];
    snprintf(path, sizeof path, "%s/state.wal", dir);
    uint8_t *data;
    size_t len;
    read_file(path, &data, &len);
    size_t rec = ipc_wal_ops_size(3);
    data[IPC_WAL_FILE_HEADER + 4 * rec + 40] ^= 0x10; /* inside record 5 */
    write_file(path, data, len);
    tregion_unlink(dir);
    ipc_writer *w2 = NULL;
    zk_error_detail e = { 0 };
    assert_int_equal(ipc_writer_open(&w2, dir, &o, &e), ZK_ERR_LOG_CORRUPT);
    assert_null(w2);
    assert_non_null(strstr(e.text, "valid records follow"));
    /* Nothing was truncated: the evidence stays for the operator. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, len);
    free(data);
    tdir_remove(dir);
}

static void test_missing_region_rebuilt(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    fill(w, 20, 3);
    uint32_t ids[2] = { 0, 5 };
    uint64_t bals[2] = { 7, 8 };
    uint32_t nonces[2] = { 1, 2 };
    assert_int_equal(ipc_writer_mark_proven(w, 3, ids, bals, nonces, 2), ZK_OK);
    prv_gl root[4];
    ipc_writer_root(w, root);
    uint32_t count = ipc_writer_count(w);
    ipc_writer_close(w);
    ipc_reader *old = NULL;
    assert_int_equal(ipc_reader_open(&old, dir, NULL), ZK_OK);
    tregion_unlink(dir);
    ipc_reader *r = NULL;
    assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_ERR_STATE_NO_REGION);
    w = open_writer(dir, &o);
    prv_gl after[4];
    ipc_writer_root(w, after);
    assert_memory_equal(after, root, sizeof root);
    assert_int_equal(ipc_writer_count(w), count);
    assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_OK);
    ipc_account a;
    assert_true(ipc_reader_get(r, &a, 5));
    assert_int_equal(a.proven_balance, 8);
    assert_int_equal(a.proven_nonce, 2);
    ipc_info info;
    ipc_reader_info(r, &info);
    assert_int_equal(info.proven_batch, 3);
    /* A region with a wrong format is rebuilt too, and a reader that still
     * maps the region the writer replaced is told it is retired. */
    ipc_writer_close(w);
    char name[64];
    assert_int_equal(ipc_region_name(name, sizeof name, dir), ZK_OK);
    int fd = shm_open(name, O_RDWR, 0);
    assert_true(fd >= 0);
    uint32_t bad = 99;
    assert_int_equal(pwrite(fd, &bad, 4, 8), 4);
    close(fd);
    ipc_reader *r2 = NULL;
    zk_error_detail e = { 0 };
    assert_int_equal(ipc_reader_open(&r2, dir, &e), ZK_ERR_STATE_BAD_REGION);
    assert_non_null(strstr(e.text, "format"));
    w = open_writer(dir, &o);
    ipc_writer_root(w, after);
    assert_memory_equal(after, root, sizeof root);
    assert_int_equal(ipc_reader_open(&r2, dir, NULL), ZK_OK);
    ipc_reader_info(r2, &info);
    assert_false(info.retired);
    ipc_writer_close(w);
    ipc_reader_close(r2);
    ipc_reader_close(r);
    ipc_reader_close(old);
    tdir_remove(dir);
}

/* The same operations with a snapshot in the middle and without one give
 * the same state; and a snapshot alone (empty log) restores it. */
static void test_snapshot_plus_log_equals_full_replay(void **state)
{
    char *d1 = tdir_new(), *d2 = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w1 = open_writer(d1, &o);
    o.snapshot_every = 25; /* automatic snapshots every ~8 commits */
    ipc_writer *w2 = open_writer(d2, &o);
    for (int c = 0; c < 30; c++) {
        for (uint32_t k = 0; k < 3; k++) {
            stage_ok(w1, (uint32_t)(c * 5 + k) % 40, (uint32_t)(c * 31 + k), (uint32_t)c);
            stage_ok(w2, (uint32_t)(c * 5 + k) % 40, (uint32_t)(c * 31 + k), (uint32_t)c);
        }
        commit_ok(w1);
        commit_ok(w2);
        if (c == 10) {
            uint32_t ids[1] = { 2 };
            uint64_t b[1] = { 5 };
            uint32_t nn[1] = { 6 };
            assert_int_equal(ipc_writer_mark_proven(w1, 1, ids, b, nn, 1), ZK_OK);
            assert_int_equal(ipc_writer_mark_proven(w2, 1, ids, b, nn, 1), ZK_OK);
        }
    }
    char path[512];
    snprintf(path, sizeof path, "%s/state.snap", d2);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    prv_gl r1[4], r2[4];
    ipc_writer_root(w1, r1);
    ipc_writer_root(w2, r2);
    assert_memory_equal(r1, r2, sizeof r1);
    assert_int_equal(ipc_writer_lsn(w1), ipc_writer_lsn(w2));
    ipc_writer_close(w1);
    ipc_writer_close(w2);
    tregion_unlink(d1);
    tregion_unlink(d2);
    o.snapshot_every = 0;
    w1 = open_writer(d1, &o);
    w2 = open_writer(d2, &o);
    ipc_writer_root(w1, r1);
    ipc_writer_root(w2, r2);
    assert_memory_equal(r1, r2, sizeof r1);
    assert_int_equal(ipc_writer_lsn(w1), ipc_writer_lsn(w2));
    ipc_reader *a = NULL, *b = NULL;
    assert_int_equal(ipc_reader_open(&a, d1, NULL), ZK_OK);
    assert_int_equal(ipc_reader_open(&b, d2, NULL), ZK_OK);
    assert_int_equal(ipc_reader_count(a), ipc_reader_count(b));
    for (uint32_t i = 0; i < ipc_reader_count(a); i++) {
        ipc_account x, y;
        assert_true(ipc_reader_get(a, &x, i));
        assert_true(ipc_reader_get(b, &y, i));
        assert_memory_equal(x.address, y.address, sizeof x.address);
        assert_true(x.id == y.id && x.balance == y.balance && x.nonce == y.nonce &&
                    x.proven_balance == y.proven_balance && x.proven_nonce == y.proven_nonce);
    }
    /* An explicit snapshot, then only the snapshot is left to restore from. */
    assert_int_equal(ipc_writer_snapshot(w2), ZK_OK);
    ipc_writer_close(w2);
    tregion_unlink(d2);
    w2 = open_writer(d2, &o);
    ipc_writer_root(w2, r2);
    assert_memory_equal(r1, r2, sizeof r1);
    /* A damaged snapshot is refused, not half-used. */
    ipc_writer_close(w2);
    uint8_t *data;
    size_t len;
    read_file(path, &data, &len);
    data[len / 2] ^= 1;
    write_file(path, data, len);
    free(data);
    tregion_unlink(d2);
    zk_error_detail e = { 0 };
    assert_int_equal(ipc_writer_open(&w2, d2, &o, &e), ZK_ERR_SNAPSHOT_CORRUPT);
    ipc_reader_close(a);
    ipc_reader_close(b);
    ipc_writer_close(w1);
    tdir_remove(d1);
    tdir_remove(d2);
}

/* The reader's mapping is read-only: the kernel refuses writes into it and
 * refuses to make it writable. */
static void test_reader_cannot_write(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    fill(w, 2, 0);
    ipc_writer_close(w); /* only the reader maps it now */
    ipc_reader *r = NULL;
    assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_OK);
    char name[64], line[512];
    assert_int_equal(ipc_region_name(name, sizeof name, dir), ZK_OK);
    FILE *maps = fopen("/proc/self/maps", "r");
    assert_non_null(maps);
    unsigned long lo = 0, hi = 0;
    char perms[8] = "";
    while (fgets(line, sizeof line, maps)) {
        if (strstr(line, name + 1) == NULL)
            continue;
        char *end;
        lo = strtoul(line, &end, 16);
        hi = strtoul(end + 1, &end, 16);
        memcpy(perms, end + 1, 4);
        break;
    }
    fclose(maps);
    assert_true(lo != 0 && hi > lo);
    assert_string_equal(perms, "r--s");
    void *base = (void *)lo;
    /* write(2) into the mapping through the kernel: EFAULT. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "XXXXXXXX", 8), 8);
    errno = 0;
    assert_int_equal(read(p[0], base, 8), -1);
    assert_int_equal(errno, EFAULT);
    close(p[0]);
    close(p[1]);
    /* mprotect to writable: EACCES (the descriptor was opened read-only). */
    assert_int_equal(mprotect(base, 4096, PROT_READ | PROT_WRITE), -1);
    assert_int_equal(errno, EACCES);
    /* A plain store faults: checked in a child, which dies of SIGSEGV. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigaction(SIGSEGV, &sa, NULL);
        *(volatile uint8_t *)base = 1;
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    ipc_account a;
    assert_true(ipc_reader_get(r, &a, 0));
    ipc_reader_close(r);
    tdir_remove(dir);
}

/* A writer that dies inside a commit leaves odd sequences behind: readers
 * must not spin forever, and the next writer rebuilds. The child maps the
 * region as the writer does and dies with the sequences odd. */
static void test_abandoned_region(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    fill(w, 2, 0);
    prv_gl root[4];
    ipc_writer_root(w, root);
    ipc_writer_close(w);
    ipc_reader *r = NULL;
    assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_OK);
    uint64_t t;
    assert_int_equal(ipc_reader_view_begin(r, &t), ZK_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char name[64];
        if (ipc_region_name(name, sizeof name, dir) != ZK_OK)
            _exit(1);
        int fd = shm_open(name, O_RDWR, 0);
        if (fd < 0)
            _exit(2);
        uint8_t *base = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED)
            _exit(3);
        ipc_header *h = (ipc_header *)base;
        ipc_rec *rec0 = (ipc_rec *)(base + h->off_accounts);
        atomic_store(&h->writer_pid, (int64_t)getpid());
        atomic_fetch_add(&h->state_seq, 1);
        atomic_fetch_add(&rec0->seq, 1);
        _exit(0); /* dies inside its "commit" */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(ipc_reader_view_begin(r, &t), ZK_ERR_STATE_NO_REGION);
    ipc_account a;
    assert_false(ipc_reader_get(r, &a, 0));
    assert_true(ipc_reader_get(r, &a, 1)); /* untouched records still read */
    ipc_info info;
    ipc_reader_info(r, &info);
    assert_true(info.retired);
    w = open_writer(dir, &o); /* rebuilds: the sequence was odd */
    prv_gl after[4];
    ipc_writer_root(w, after);
    assert_memory_equal(after, root, sizeof root);
    ipc_reader *r2 = NULL;
    assert_int_equal(ipc_reader_open(&r2, dir, NULL), ZK_OK);
    assert_int_equal(ipc_reader_view_begin(r2, &t), ZK_OK);
    assert_true(ipc_reader_get(r2, &a, 0));
    ipc_reader_info(r2, &info);
    assert_false(info.retired);
    ipc_reader_close(r2);
    ipc_reader_close(r);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* A write that fails (here: the file size limit, a real EFBIG from the
 * kernel) stops the writer for good; what was durable survives. */
static void test_failed_write_stops_writer(void **state)
{
    char *dir = tdir_new();
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    fill(w, 3, 0);
    prv_gl root[4];
    ipc_writer_root(w, root);
    ipc_writer_close(w);
    char path[512];
    snprintf(path, sizeof path, "%s/state.wal", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        ipc_writer *cw = NULL;
        if (ipc_writer_open(&cw, dir, &o, NULL) != ZK_OK)
            _exit(10);
        struct rlimit rl = { (rlim_t)st.st_size + 10, (rlim_t)st.st_size + 10 };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(11);
        uint8_t a[20];
        taddr(a, 999);
        if (ipc_writer_stage(cw, NULL, a, 1, 0) != ZK_OK)
            _exit(12);
        if (ipc_writer_commit(cw, NULL, 0) != ZK_ERR_STATE_WRITER_FAILED)
            _exit(13);
        if (ipc_writer_stage(cw, NULL, a, 1, 0) != ZK_ERR_STATE_WRITER_FAILED)
            _exit(14);
        if (ipc_writer_commit(cw, NULL, 0) != ZK_ERR_STATE_WRITER_FAILED)
            _exit(15);
        if (ipc_writer_snapshot(cw) != ZK_ERR_STATE_WRITER_FAILED)
            _exit(16);
        ipc_writer_close(cw);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    w = open_writer(dir, &o);
    prv_gl after[4];
    ipc_writer_root(w, after);
    assert_memory_equal(after, root, sizeof root);
    assert_int_equal(ipc_writer_lsn(w), 3);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* ---- zkcar query ---------------------------------------------------------------------- */

static int run_query(char *out, size_t cap, int argc, char **argv)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        int rc = ipc_cmd_query(argc, argv);
        fflush(stdout);
        _exit(rc);
    }
    close(p[1]);
    size_t used = 0;
    ssize_t n;
    while (used + 1 < cap && (n = read(p[0], out + used, cap - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_query_command(void **state)
{
    char *dir = tdir_new();
    char out[1024];
    /* The known EIP-55 example address from the EIP itself. */
    const char *addr = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    char *argv_none[] = { "query", "--data-dir", dir, "account", (char *)addr, NULL };
    assert_int_equal(run_query(out, sizeof out, 5, argv_none), 1); /* no region yet */
    ipc_writer_options o = small_opts();
    ipc_writer *w = open_writer(dir, &o);
    uint8_t a[20];
    assert_int_equal(zk_address_parse(a, NULL, addr, strlen(addr)), ZK_OK);
    assert_int_equal(ipc_writer_stage(w, NULL, a, 1234567890123ULL, 7), ZK_OK);
    commit_ok(w);
    uint32_t ids[1] = { 0 };
    uint64_t b[1] = { 1000 };
    uint32_t nn[1] = { 3 };
    assert_int_equal(ipc_writer_mark_proven(w, 1, ids, b, nn, 1), ZK_OK);
    ipc_writer_close(w); /* a stopped sidecar: the region stays readable */
    char lower[64];
    for (size_t i = 0; i <= strlen(addr); i++)
        lower[i] = (char)(addr[i] >= 'A' && addr[i] <= 'F' ? addr[i] + 32 : addr[i]);
    char *argv_ok[] = { "query", "--data-dir", dir, "account", lower, NULL };
    assert_int_equal(run_query(out, sizeof out, 5, argv_ok), 0);
    assert_string_equal(out, "{\"address\":\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\",\"id\":0,"
                             "\"balance\":\"1234567890123\",\"nonce\":7,\"provenBalance\":\"1000\",\"provenNonce\":3}\n");
    char *argv_unknown[] = { "query", "--data-dir", dir, "account",
                             "0x0000000000000000000000000000000000000001", NULL };
    assert_int_equal(run_query(out, sizeof out, 5, argv_unknown), 0);
    assert_string_equal(out, "{\"address\":\"0x0000000000000000000000000000000000000001\",\"id\":null,"
                             "\"balance\":\"0\",\"nonce\":0,\"provenBalance\":\"0\",\"provenNonce\":0}\n");
    char *argv_bad[] = { "query", "--data-dir", dir, "account", "0x1234", NULL };
    assert_int_equal(run_query(out, sizeof out, 5, argv_bad), 2);
    char *argv_badsum[] = { "query", "--data-dir", dir, "account",
                            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", NULL };
    assert_int_equal(run_query(out, sizeof out, 5, argv_badsum), 2);
    char *argv_usage[] = { "query", "--data-dir", dir, "balance", (char *)addr, NULL };
    assert_int_equal(run_query(out, sizeof out, 5, argv_usage), 2);
    char *argv_flag[] = { "query", "--bogus", NULL };
    assert_int_equal(run_query(out, sizeof out, 2, argv_flag), 2);
    char *argv_help[] = { "query", "--help", NULL };
    assert_int_equal(run_query(out, sizeof out, 2, argv_help), 0);
    assert_non_null(strstr(out, "usage: zkcar query"));
    tdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poseidon2_vector),
        cmocka_unit_test(test_leaf_encoding),
        cmocka_unit_test(test_empty_hashes),
        cmocka_unit_test(test_crc32c_vector),
        cmocka_unit_test(test_wal_roundtrip),
        cmocka_unit_test(test_wal_torn_and_flipped),
        cmocka_unit_test(test_wal_rejects),
        cmocka_unit_test(test_writer_basics),
        cmocka_unit_test(test_capacity_and_group_caps),
        cmocka_unit_test(test_tree_batched_and_witnessed),
        cmocka_unit_test(test_rebuild_large_tree),
        cmocka_unit_test(test_torn_tail_truncated),
        cmocka_unit_test(test_corrupt_middle_record_stops),
        cmocka_unit_test(test_missing_region_rebuilt),
        cmocka_unit_test(test_snapshot_plus_log_equals_full_replay),
        cmocka_unit_test(test_reader_cannot_write),
        cmocka_unit_test(test_abandoned_region),
        cmocka_unit_test(test_failed_write_stops_writer),
        cmocka_unit_test(test_query_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
