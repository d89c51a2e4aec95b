/*
 * ipc/region.h — the shared-memory layout (private to ipc/; docs/state.md
 * explains it). Offsets, never pointers: each process maps the region at its
 * own address.
 *
 *   [header 512 B][accounts: capacity x 64 B][index: slots x 4 B][tree levels]
 *
 * Tree level l (0 = leaves .. 32 = root) holds max(1, ceil(capacity / 2^l))
 * nodes of 32 bytes. The tree is the writer's: readers get the root from the
 * header.
 */
#ifndef ZKCAR_IPC_REGION_H
#define ZKCAR_IPC_REGION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/state.h"

#define IPC_REGION_MAGIC UINT64_C(0x3154535241434b5a) /* "ZKCARST1" */
#define IPC_REGION_FORMAT 1u
#define IPC_REGION_NAME_MAX 32

/* One account: exactly one cache line, so a record never straddles two and
 * two records never share one. */
typedef struct ipc_rec {
    _Atomic uint64_t seq;            /* seqlock: odd while the writer is inside */
    _Atomic uint64_t balance;
    _Atomic uint64_t nonce;
    _Atomic uint64_t proven_balance;
    _Atomic uint64_t proven_nonce;
    _Atomic uint64_t addr[3];        /* the 20 address bytes, little-endian words, zero-padded */
} ipc_rec;

typedef struct ipc_header {
    /* Line 0-1: identity, written once before `magic` is published. */
    _Atomic uint64_t magic;          /* stored last with release: the region is ready */
    uint32_t format;
    uint32_t header_size;
    uint32_t rec_size;
    uint32_t node_size;
    uint32_t capacity;
    uint32_t index_slots;            /* a power of two >= 2 x capacity */
    uint64_t total_size;
    uint64_t off_accounts;
    uint64_t off_index;
    uint64_t off_tree;
    uint64_t log_id;                 /* identity of the on-disk history this region caches */
    uint64_t hash_seed;              /* index hash key, random per region */
    uint8_t pad0[128 - 80];

    /* Line 2: the writer's liveness (written by the writer only). */
    _Atomic int64_t writer_pid;
    _Atomic int64_t heartbeat_ms;
    _Atomic uint64_t retired;        /* 1: a newer region replaced this one */
    uint8_t pad1[64 - 24];

    /* Line 3-4: the batch sequence and what it protects. */
    _Atomic uint64_t state_seq;      /* odd while a commit is being applied */
    _Atomic uint64_t applied_lsn;
    _Atomic uint64_t count;          /* accounts; published with release */
    _Atomic uint64_t proven_batch;
    _Atomic uint64_t root[IPC_DIGEST];
    uint8_t pad2[128 - 64];

    uint8_t pad3[512 - 320];
} ipc_header;

_Static_assert(sizeof(ipc_rec) == 64, "an account record is one cache line");
_Static_assert(sizeof(ipc_header) == 512, "header size");
_Static_assert(offsetof(ipc_header, writer_pid) == 128, "writer line");
_Static_assert(offsetof(ipc_header, state_seq) == 192, "sequence line");
_Static_assert(offsetof(ipc_header, root) == 224, "root in the sequence lines");

/* Where everything lies in a mapped region. */
typedef struct ipc_map {
    uint8_t *base;
    size_t size;
    ipc_header *hdr;
    ipc_rec *recs;
    _Atomic uint32_t *slots;         /* id + 1, 0 = empty */
    prv_gl *levels[IPC_TREE_DEPTH + 1];
    uint64_t level_nodes[IPC_TREE_DEPTH + 1];
    uint32_t capacity;
    uint32_t slot_mask;
    uint64_t seed;
} ipc_map;

/* Computes the layout of a region of `capacity` accounts into hdr's identity
 * fields (magic stays 0). */
void ipc_layout(ipc_header *hdr, uint32_t capacity);
/* Fills `m` from a mapped region whose identity fields are valid. */
void ipc_map_init(ipc_map *m, uint8_t *base, size_t size);
/* Checks a header before use: ZK_OK or ZK_ERR_STATE_BAD_REGION / NO_REGION. */
zk_err ipc_header_check(const ipc_header *hdr, size_t mapped, zk_error_detail *err);

/* Index slot to start probing for an address. */
uint32_t ipc_index_hash(const ipc_map *m, const uint64_t a[3]);
/* Address bytes <-> the record's three words. */
void ipc_addr_pack(uint64_t a[3], const uint8_t address[IPC_ADDRESS_SIZE]);
void ipc_addr_unpack(uint8_t address[IPC_ADDRESS_SIZE], const uint64_t a[3]);
/* Looks an address up (acquire on the slot, so the record's address is
 * visible). Returns IPC_NO_ID when absent. Safe in readers and the writer. */
uint32_t ipc_index_find(const ipc_map *m, const uint64_t a[3]);

/* Current time, Unix ms. */
int64_t ipc_now_ms(void);

/* ---- the tree (writer side; ipc/tree.c) ----------------------------------- */

typedef struct ipc_tree_scratch ipc_tree_scratch;

/* Scratch for updates of up to `max_ids` leaves with `threads` (1 or 2). */
ipc_tree_scratch *ipc_tree_scratch_new(size_t max_ids, unsigned threads);
void ipc_tree_scratch_free(ipc_tree_scratch *s);

/* Recomputes the leaves `ids` (sorted, unique, each < count) from the
 * records and every node above them; `count` is the number of accounts
 * (leaves at or beyond it are empty). Writes the root to out_root. */
void ipc_tree_update(const ipc_map *m, ipc_tree_scratch *s, const uint32_t *ids, size_t n,
                     uint64_t count, prv_gl out_root[IPC_DIGEST]);
/* Builds the whole tree over `count` accounts: first rehashes the leaves
 * ids[0..n) (sorted) from the records, takes every other leaf as stored at
 * level 0, then computes every inner level densely (`threads` 1 or 2).
 * Returns ZK_ERR_NOMEM if scratch cannot be allocated. */
zk_err ipc_tree_build(const ipc_map *m, uint64_t count, const uint32_t *ids, size_t n, unsigned threads,
                      prv_gl out_root[IPC_DIGEST]);
/* Node `i` of level `l`, or the empty hash when it covers no account. */
const prv_gl *ipc_tree_node(const ipc_map *m, uint64_t count, unsigned l, uint64_t i);
/* The path of `id` (siblings and leaf) in the tree over `count` accounts. */
void ipc_tree_path(const ipc_map *m, uint64_t count, uint32_t id, ipc_path *out);
/* Sets leaf `id` (id <= count - 1) to `leaf` and rewrites its path;
 * writes the root. For the writer's operation-by-operation mode. */
void ipc_tree_set_leaf(const ipc_map *m, uint64_t count, uint32_t id,
                       const prv_gl leaf[IPC_DIGEST], prv_gl out_root[IPC_DIGEST]);

struct ipc_wal_op;
/* The witnesses that applying ops[0..n) one by one to the tree over `count`
 * accounts would give (ipc_writer_commit's), computed level by level for all
 * ops together without writing to the region (ipc/preview.c). Every op must
 * fit: an existing id, or the next new one in order. With `roots` false only
 * ids, leaves and siblings are complete, plus the first op's old root and
 * the last op's new root (the other roots are zero): a proving job needs no
 * more, and it saves about a third of the hashing. One thread: the
 * sequencer calls it while provers hold the cores. ZK_ERR_NOMEM. */
zk_err ipc_tree_preview(const ipc_map *m, uint64_t count, const struct ipc_wal_op *ops, size_t n, bool roots,
                        ipc_witness *wit);
/* ipc_writer_preview with `roots` as above (for ipc_batch_build). */
zk_err ipc_writer_preview_siblings(ipc_writer *w, ipc_witness *witnesses, size_t nwit);

#endif
