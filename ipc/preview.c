/* ipc/preview.c — the witnesses of a staged group, computed level by level
 * against the committed tree without writing to it (ipc_writer_preview).
 *
 * Applying a group operation by operation (ipc_writer_commit with witnesses)
 * hashes each path from leaf to root before the next operation starts: 33
 * dependent permutations per operation, none of them batched. Here the same
 * values are computed one tree level at a time for all operations together:
 *
 *   cur[j]      the node of op j's path at level l, as op j leaves it;
 *   sibling     of op j at level l = the node (l, (id_j >> l) ^ 1) as the
 *               ops before j left it: cur[j'] of the last j' < j whose path
 *               passes through that node, or the committed node if none does.
 *
 * A per-level hash map (node index -> last op through it) answers "the last
 * j' < j" while j runs in order; the parents at level l + 1 are then one
 * batched compression (prv_p2_compress_many). The committed tree is only
 * read; nodes the group has changed live in cur[] and the map.
 *
 * Without the roots (a proving job needs the siblings only), op j's path is
 * hashed only as high as a later op can read it. Let m_j be the highest bit
 * in which id_j and id_{j+1} differ. At a level l > m_j the next op inside
 * the level-(l+1) subtree of id_j is j + 1, in the same half, so it
 * overwrites op j's node before any op can take it as a sibling; at l = m_j
 * op j + 1 is in the other half and reads it. So op j's nodes are needed up
 * to level m_j exactly (the leaf alone when id_{j+1} = id_j), and all 32
 * levels for the last op (the new root). Over 2^20 accounts that is about 20
 * levels instead of 32 per op.
 */
#include <stdlib.h>
#include <string.h>

#include "ipc/region.h"
#include "ipc/wal.h"
#include "prover/poseidon2.h"

typedef struct node_map {
    uint32_t *key;      /* node index at the current level */
    uint32_t *op;       /* the last op (so far) whose path passes through it */
    uint8_t *stamp;     /* level + 1 when the slot is in use at this level */
    uint32_t mask;
    unsigned shift;
} node_map;

static inline uint32_t slot_of(const node_map *h, uint32_t key)
{
    return (uint32_t)(((uint64_t)key * UINT64_C(0x9e3779b97f4a7c15)) >> h->shift) & h->mask;
}

/* Finds `key` at level stamp `st`; returns the op index or UINT32_MAX. */
static uint32_t map_find(const node_map *h, uint8_t st, uint32_t key)
{
    for (uint32_t s = slot_of(h, key);; s = (s + 1) & h->mask) {
        if (h->stamp[s] != st)
            return UINT32_MAX;
        if (h->key[s] == key)
            return h->op[s];
    }
}

static void map_put(node_map *h, uint8_t st, uint32_t key, uint32_t op)
{
    for (uint32_t s = slot_of(h, key);; s = (s + 1) & h->mask) {
        if (h->stamp[s] != st) {
            h->stamp[s] = st;
            h->key[s] = key;
            h->op[s] = op;
            return;
        }
        if (h->key[s] == key) {
            h->op[s] = op;
            return;
        }
    }
}

static void leaf_state(prv_gl st[PRV_P2_W8], const ipc_wal_op *op)
{
    st[0] = IPC_LEAF_TAG;
    for (int i = 0; i < 5; i++)
        st[1 + i] = (prv_gl)op->address[4 * i] << 24 | (prv_gl)op->address[4 * i + 1] << 16 |
                    (prv_gl)op->address[4 * i + 2] << 8 | (prv_gl)op->address[4 * i + 3];
    st[6] = op->balance;
    st[7] = op->nonce;
}

zk_err ipc_tree_preview(const ipc_map *m, uint64_t count, const ipc_wal_op *ops, size_t n, bool roots,
                        ipc_witness *wit)
{
    if (n == 0)
        return ZK_OK;
    if (n > UINT32_MAX / 4)
        return ZK_ERR_TOO_BIG;
    zk_err rc = ZK_OK;
    node_map h = { 0 };
    uint32_t slots = 16;
    while (slots < 2 * n)
        slots <<= 1;
    h.mask = slots - 1;
    h.shift = 64u - (unsigned)__builtin_ctz(slots);
    h.key = malloc(slots * sizeof *h.key);
    h.op = malloc(slots * sizeof *h.op);
    h.stamp = calloc(slots, 1);
    prv_gl *cur = malloc(n * PRV_P2_W8 * sizeof *cur); /* 8 lanes: leaf states, then pairs */
    prv_gl *val = malloc(n * IPC_DIGEST * sizeof *val);
    prv_gl *parents = malloc(n * IPC_DIGEST * sizeof *parents);
    uint32_t *active = malloc(n * sizeof *active);
    uint8_t *height = malloc(n);                   /* levels of op j's path to hash */
    if (!h.key || !h.op || !h.stamp || !cur || !val || !parents || !active || !height) {
        rc = ZK_ERR_NOMEM;
        goto cleanup;
    }

    for (size_t j = 0; j < n; j++) {
        uint32_t diff = j + 1 < n ? ops[j].id ^ ops[j + 1].id : 0;
        height[j] = roots || j + 1 == n ? IPC_TREE_DEPTH : diff == 0 ? 0 : (uint8_t)(32 - __builtin_clz(diff) - 1);
        leaf_state(cur + j * PRV_P2_W8, &ops[j]);
    }
    prv_p2_permute8_many(cur, n);
    for (size_t j = 0; j < n; j++) {
        memcpy(val + j * IPC_DIGEST, cur + j * PRV_P2_W8, IPC_DIGEST * sizeof *val);
        wit[j].id = ops[j].id;
        memcpy(wit[j].new_leaf, val + j * IPC_DIGEST, sizeof wit[j].new_leaf);
    }

    for (unsigned l = 0; l < IPC_TREE_DEPTH; l++) {
        uint8_t st = (uint8_t)(l + 1);
        for (size_t j = 0; j < n; j++) {
            uint32_t node = (uint32_t)((uint64_t)ops[j].id >> l);
            uint32_t sib = node ^ 1;
            if (l == 0) {
                uint32_t prev = map_find(&h, st, node);
                memcpy(wit[j].old_leaf,
                       prev == UINT32_MAX ? ipc_tree_node(m, count, 0, node) : val + (size_t)prev * IPC_DIGEST,
                       sizeof wit[j].old_leaf);
            }
            uint32_t prev = map_find(&h, st, sib);
            const prv_gl *s = prev == UINT32_MAX ? ipc_tree_node(m, count, l, sib) : val + (size_t)prev * IPC_DIGEST;
            memcpy(wit[j].siblings[l], s, sizeof wit[j].siblings[l]);
            map_put(&h, st, node, (uint32_t)j);
        }
        /* Every sibling is read: the parents can replace the level (for
         * the ops whose path is still needed above it). */
        size_t na = 0;
        for (size_t j = 0; j < n; j++) {
            if (height[j] <= l)
                continue;
            prv_gl *pair = cur + na * PRV_P2_W8;
            bool right = (ops[j].id >> l) & 1;
            memcpy(pair + (right ? 4 : 0), val + j * IPC_DIGEST, IPC_DIGEST * sizeof *pair);
            memcpy(pair + (right ? 0 : 4), wit[j].siblings[l], IPC_DIGEST * sizeof *pair);
            active[na++] = (uint32_t)j;
        }
        prv_p2_compress_many(parents, cur, na);
        for (size_t k = 0; k < na; k++)
            memcpy(val + (size_t)active[k] * IPC_DIGEST, parents + k * IPC_DIGEST, IPC_DIGEST * sizeof *val);
    }

    memcpy(wit[0].old_root, ipc_tree_node(m, count, IPC_TREE_DEPTH, 0), sizeof wit[0].old_root);
    for (size_t j = 0; j < n; j++) {
        if (roots || j + 1 == n)
            memcpy(wit[j].new_root, val + j * IPC_DIGEST, sizeof wit[j].new_root);
        else
            memset(wit[j].new_root, 0, sizeof wit[j].new_root);
        if (j + 1 < n) {
            if (roots)
                memcpy(wit[j + 1].old_root, wit[j].new_root, sizeof wit[j + 1].old_root);
            else
                memset(wit[j + 1].old_root, 0, sizeof wit[j + 1].old_root);
        }
    }
cleanup:
    free(h.key);
    free(h.op);
    free(h.stamp);
    free(cur);
    free(val);
    free(parents);
    free(active);
    free(height);
    return rc;
}
