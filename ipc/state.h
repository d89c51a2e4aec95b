/*
 * ipc/state.h — the L2 state: accounts in shared memory, durable on disk.
 *
 * One writer (the sidecar) and any number of readers in other processes
 * share one memory region named after the data directory. The region holds
 * a header, a dense account array indexed by account id (one seqlock per
 * record), an insert-only address -> id index and the account Merkle tree
 * (depth 32, Poseidon2). The truth is on disk: a write-ahead log of groups
 * of operations and periodic snapshots in the data directory; the region is
 * a cache that the writer rebuilds from them after a reboot or repairs after
 * a crash. docs/state.md describes the layout, the memory ordering argument,
 * the durability protocol and recovery.
 *
 * Writer: ipc_writer_open takes the data directory's lease (an exclusive
 * flock(2) the kernel drops when the holder dies, so a crashed writer cannot
 * keep it), recovers, and serves stage/commit calls. An operation sets one
 * account to absolute values (address, balance, nonce). Staged operations
 * become durable together at ipc_writer_commit (one fdatasync for the group);
 * only then are they applied to the region, so readers never see a value
 * that a crash could take back. A writer handle is not thread-safe: one
 * thread at a time.
 *
 * Readers: ipc_reader_open maps the region read-only. Reads never block the
 * writer: a reader retries when it raced with a write. A reader handle may be
 * shared by threads.
 */
#ifndef ZKCAR_IPC_STATE_H
#define ZKCAR_IPC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "prover/field.h"

#define IPC_ADDRESS_SIZE 20
#define IPC_TREE_DEPTH 32            /* leaves are account ids 0 .. 2^32 - 1 */
#define IPC_DIGEST 4                 /* a tree node: 4 Goldilocks elements */
#define IPC_BALANCE_MAX ((UINT64_C(1) << 63) - 1) /* balances are u63 gwei (SPEC §3) */
#define IPC_NO_ID UINT32_MAX

/* Capacity of a region (accounts) when the options leave it 0. The region is
 * sparse: memory is only used for accounts that exist (docs/state.md). */
#define IPC_DEFAULT_CAPACITY (UINT32_C(1) << 22)
/* Largest capacity: ids must fit below the tree's 2^32 leaves, and the index
 * (2 slots per account, a power of two) must fit 32-bit slot numbers. */
#define IPC_MAX_CAPACITY (UINT32_C(1) << 30)
/* Operations one group (one commit) may hold when the options leave it 0. */
#define IPC_DEFAULT_MAX_GROUP_OPS 65536u
/* Operations between automatic snapshots when the options leave it 0. */
#define IPC_DEFAULT_SNAPSHOT_EVERY 1000000u

/* The domain tag in lane 0 of a leaf permutation: ASCII "leaf". */
#define IPC_LEAF_TAG UINT64_C(0x6c656166)

/* One account as readers see it. */
typedef struct ipc_account {
    uint32_t id;
    uint8_t address[IPC_ADDRESS_SIZE];
    uint64_t balance;         /* gwei, <= IPC_BALANCE_MAX */
    uint32_t nonce;
    uint64_t proven_balance;  /* as of the last proven batch */
    uint32_t proven_nonce;
} ipc_account;

/* ---- the account tree's hashes (pure, thread-safe) ----------------------- */

/* The leaf of an account: the first 4 lanes of the Poseidon2 width-8
 * permutation (prover/poseidon2.h) of
 *     [IPC_LEAF_TAG, a0, a1, a2, a3, a4, balance, nonce]
 * where a0..a4 are the address's 20 bytes read as five big-endian 32-bit
 * words (a0 = bytes 0..3). Every lane is below 2^63 < p, so the encoding is
 * injective. An id without an account has the empty leaf: the leaf of the
 * zero address with balance 0 and nonce 0. */
void ipc_leaf_hash(prv_gl out[IPC_DIGEST], const uint8_t address[IPC_ADDRESS_SIZE],
                   uint64_t balance, uint32_t nonce);

/* Inner node: prv_p2_compress(left, right) (Plonky3 TruncatedPermutation). */
void ipc_node_hash(prv_gl out[IPC_DIGEST], const prv_gl left[IPC_DIGEST],
                   const prv_gl right[IPC_DIGEST]);

/* The hash of an empty subtree of height `level` (0 = the empty leaf,
 * 32 = the root of the empty tree, which is the genesis state root).
 * Returns a pointer to 4 precomputed elements, valid for the process. */
const prv_gl *ipc_empty_hash(unsigned level);

/* ---- Merkle witnesses for the prover -------------------------------------- */

/* The path of leaf `id`: siblings[0] is the leaf's sibling, siblings[31] the
 * root's child. Bit l of id says whether the node at level l is a right
 * child (1) or a left child (0). */
typedef struct ipc_path {
    uint32_t id;
    prv_gl leaf[IPC_DIGEST];
    prv_gl siblings[IPC_TREE_DEPTH][IPC_DIGEST];
} ipc_path;

/* One applied operation: the same siblings serve the old and the new leaf
 * (old_root = fold(old_leaf), new_root = fold(new_leaf)). */
typedef struct ipc_witness {
    uint32_t id;
    prv_gl old_leaf[IPC_DIGEST];
    prv_gl new_leaf[IPC_DIGEST];
    prv_gl siblings[IPC_TREE_DEPTH][IPC_DIGEST];
    prv_gl old_root[IPC_DIGEST];
    prv_gl new_root[IPC_DIGEST];
} ipc_witness;

/* Folds `leaf` up the path of `id` with `siblings`; writes the root. Pure. */
void ipc_path_root(prv_gl root[IPC_DIGEST], uint32_t id, const prv_gl leaf[IPC_DIGEST],
                   const prv_gl siblings[IPC_TREE_DEPTH][IPC_DIGEST]);

/* ---- the writer ----------------------------------------------------------- */

typedef struct ipc_writer ipc_writer;

typedef struct ipc_writer_options {
    uint32_t capacity;         /* accounts; 0 = IPC_DEFAULT_CAPACITY; used when the region is created */
    uint32_t max_group_ops;    /* operations per commit; 0 = IPC_DEFAULT_MAX_GROUP_OPS */
    uint64_t snapshot_every;   /* operations between snapshots; 0 = IPC_DEFAULT_SNAPSHOT_EVERY */
    unsigned threads;          /* threads for tree updates, 1 or 2; 0 = 2 */
} ipc_writer_options;

/* Opens the writer on `data_dir` (created if missing, mode 0700): takes the
 * lease, then recovers. Recovery attaches to an intact region and replays the
 * log's tail into it; a missing, foreign or half-updated region is rebuilt
 * from the last snapshot and the log. A torn log tail is truncated; a corrupt
 * record followed by valid ones stops recovery with ZK_ERR_LOG_CORRUPT.
 * `opt` may be NULL (defaults). On success *w owns the lease until
 * ipc_writer_close. Errors: ZK_ERR_STATE_LOCKED (another live writer),
 * ZK_ERR_LOG_CORRUPT, ZK_ERR_SNAPSHOT_CORRUPT, ZK_ERR_STATE_FULL (the disk
 * state holds more accounts than the capacity), ZK_ERR_USAGE (options above
 * IPC_MAX_CAPACITY or 2^20 group operations), ZK_ERR_IO, ZK_ERR_NOMEM;
 * `err` (may be NULL) says what was wrong. The caller owns *w and frees it
 * with ipc_writer_close. Not thread-safe; one writer per data directory. */
zk_err ipc_writer_open(ipc_writer **w, const char *data_dir, const ipc_writer_options *opt,
                       zk_error_detail *err) ZK_MUST_CHECK;

/* Drops staged operations, releases the lease and unmaps. The region and the
 * files stay (readers keep working; the next writer attaches). NULL is fine. */
void ipc_writer_close(ipc_writer *w);

/* Stages one operation: account `address` gets `balance` and `nonce`. A new
 * address gets the next free id (ids are dense, in staging order). *id (may
 * be NULL) receives the id. Nothing is durable or visible before commit.
 * Errors: ZK_ERR_OUT_OF_RANGE (balance > IPC_BALANCE_MAX), ZK_ERR_STATE_FULL
 * (capacity reached), ZK_ERR_TOO_BIG (the group holds max_group_ops; commit
 * first), ZK_ERR_STATE_WRITER_FAILED. */
zk_err ipc_writer_stage(ipc_writer *w, uint32_t *id, const uint8_t address[IPC_ADDRESS_SIZE],
                        uint64_t balance, uint32_t nonce) ZK_MUST_CHECK;

/* The account as the next commit will leave it (staged operations included).
 * Returns false for an address that has no account and none staged. */
bool ipc_writer_get(const ipc_writer *w, ipc_account *out, const uint8_t address[IPC_ADDRESS_SIZE]);

/* Number of staged operations. */
size_t ipc_writer_staged(const ipc_writer *w);

/* Makes the staged group durable (one log record, one fdatasync), then
 * applies it to the region and the tree as one step of the region's batch
 * sequence. Acknowledge operations only after this returns ZK_OK.
 * With `witnesses` non-NULL (room for `nwit` >= ipc_writer_staged() entries)
 * the tree is updated operation by operation and the witness of each is
 * written in order; otherwise the tree is updated in one batched pass.
 * May take a snapshot afterwards (options.snapshot_every); a failed snapshot
 * is logged and retried at the next commit — the log still holds everything.
 * A failed write or fdatasync stops the writer: this and every later call
 * returns ZK_ERR_STATE_WRITER_FAILED (the operations of the group are not
 * durable; a new writer recovers what the disk holds). An empty group is a
 * no-op. */
zk_err ipc_writer_commit(ipc_writer *w, ipc_witness *witnesses, size_t nwit) ZK_MUST_CHECK;

/* The witnesses ipc_writer_commit(w, witnesses, nwit) would write for the
 * staged group, computed against the committed tree without changing it
 * (the region, the log and the staged group stay as they are). nwit >=
 * ipc_writer_staged(w). ZK_ERR_NOMEM. */
zk_err ipc_writer_preview(ipc_writer *w, ipc_witness *witnesses, size_t nwit) ZK_MUST_CHECK;

/* Drops every staged operation (ids handed out to new addresses are
 * released). */
void ipc_writer_discard(ipc_writer *w);

/* Records that batch `batch` is proven and that, as of it, the accounts
 * ids[i] have balances[i] and nonces[i] (the sidecar passes the touched
 * accounts' post-batch values). Durable (own log record and fdatasync)
 * before it is applied: readers then see these as provenBalance /
 * provenNonce and ipc_reader_info's proven_batch. `batch` must exceed the
 * previous proven batch (ZK_ERR_BAD_VALUE); an id without an account gives
 * ZK_ERR_BAD_VALUE. No operations may be staged (assert). */
zk_err ipc_writer_mark_proven(ipc_writer *w, uint64_t batch, const uint32_t *ids,
                              const uint64_t *balances, const uint32_t *nonces,
                              size_t n) ZK_MUST_CHECK;

/* Writes a snapshot now: DIR/state.snap.tmp, fsync, rename to state.snap,
 * fsync DIR; then starts an empty log. No operations may be staged. */
zk_err ipc_writer_snapshot(ipc_writer *w) ZK_MUST_CHECK;

/* Stores the current time in the region header's heartbeat (readers use it
 * to tell a live writer from a dead one). Commits do it too. */
void ipc_writer_heartbeat(ipc_writer *w);

/* The committed state root (the root of the tree over all accounts). */
void ipc_writer_root(const ipc_writer *w, prv_gl root[IPC_DIGEST]);

/* The Merkle path of `id` in the committed state (id may be any u32: ids
 * without an account have the empty leaf). */
void ipc_writer_path(const ipc_writer *w, ipc_path *out, uint32_t id);

/* Number of accounts committed. */
uint32_t ipc_writer_count(const ipc_writer *w);

/* Sequence number of the last durable log record (0 for a new state). */
uint64_t ipc_writer_lsn(const ipc_writer *w);

/* ---- readers -------------------------------------------------------------- */

typedef struct ipc_reader ipc_reader;

/* Header facts, read atomically field by field. */
typedef struct ipc_info {
    uint32_t capacity;
    uint32_t accounts;
    uint64_t region_bytes;      /* size of the mapped region */
    uint64_t lsn;               /* last log record applied */
    uint64_t proven_batch;      /* 0 until a batch is proven */
    prv_gl root[IPC_DIGEST];    /* state root after `lsn` */
    int32_t writer_pid;         /* 0 when no writer is attached */
    int64_t heartbeat_ms;       /* Unix ms of the writer's last heartbeat */
    bool retired;               /* a writer replaced this region, or its writer died
                                   inside a commit: reopen (the other fields may then
                                   be inconsistent) */
} ipc_info;

/* Maps the region of `data_dir` read-only and checks its header (magic,
 * format, struct sizes). Errors: ZK_ERR_STATE_NO_REGION (no region: the
 * writer never ran since boot, or is still recovering), ZK_ERR_STATE_BAD_REGION
 * (a region this build cannot read), ZK_ERR_IO. */
zk_err ipc_reader_open(ipc_reader **r, const char *data_dir, zk_error_detail *err) ZK_MUST_CHECK;
/* Unmaps and frees a reader (the caller owns it after open). NULL is fine. */
void ipc_reader_close(ipc_reader *r);

/* A consistent snapshot of the header. The root and lsn belong together. */
void ipc_reader_info(const ipc_reader *r, ipc_info *out);

/* Number of accounts (ids 0 .. n-1 exist). */
uint32_t ipc_reader_count(const ipc_reader *r);

/* Reads account `id` through its seqlock: never torn. Returns false when id
 * has no account, or when the record was left half-written by a writer that
 * died (then the region is abandoned: ipc_reader_info says retired or shows
 * a dead writer_pid; reopen once a new writer has rebuilt it). Lock-free;
 * retries while the writer is inside the record. */
bool ipc_reader_get(const ipc_reader *r, ipc_account *out, uint32_t id);

/* Finds the id of `address`. Returns false when it has no account. */
bool ipc_reader_find(const ipc_reader *r, uint32_t *id, const uint8_t address[IPC_ADDRESS_SIZE]);

/* Consistent view of many accounts (the region's batch sequence):
 *     uint64_t t;
 *     do { if (ipc_reader_view_begin(r, &t) != ZK_OK) ...reopen...;
 *          ...ipc_reader_view_get(...)... }
 *     while (ipc_reader_view_retry(r, t));
 * Values read between begin and a retry() that returns false all belong to
 * the same committed state. view_get results must not be trusted before
 * view_retry says false. begin spins (without blocking the writer) while a
 * commit is being applied; it returns ZK_ERR_STATE_NO_REGION when the
 * region is abandoned: retired by a newer writer, or its writer died in the
 * middle of a commit (the next writer rebuilds a new region). */
zk_err ipc_reader_view_begin(const ipc_reader *r, uint64_t *token) ZK_MUST_CHECK;
/* Reads account `id` (< the count seen in this view) without its record lock. */
void ipc_reader_view_get(const ipc_reader *r, ipc_account *out, uint32_t id);
/* True when the state changed since `token`: discard what was read and retry. */
bool ipc_reader_view_retry(const ipc_reader *r, uint64_t token);

/* The region's shared-memory name for `data_dir` ("/zkcar-" and 16 hex
 * digits of a hash of the directory's real path) into buf (>= 32 bytes).
 * The directory must exist. Returns ZK_ERR_IO if it cannot be resolved. */
zk_err ipc_region_name(char *buf, size_t cap, const char *data_dir);

/* ---- the `zkcar query` command -------------------------------------------- */

/* `zkcar query --data-dir DIR account ADDRESS`: prints the account as
 * zkcar_getAccount's JSON object. Exit 0, 2 on bad usage, 1 on failure. */
int ipc_cmd_query(int argc, char **argv);

#endif
