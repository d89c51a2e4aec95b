/*
 * prover/merkle.c — Merkle trees for the trace, quotient and FRI layers.
 */
#include "prover/merkle.h"

#include <stdlib.h>
#include <string.h>

#include "prover/parallel.h"

struct leaf_ctx {
    prv_hash_id hash;
    const prv_gl *rows;
    size_t row_len;
    prv_digest *out;
};

static void leaf_range(void *vctx, size_t begin, size_t end)
{
    struct leaf_ctx *c = vctx;
    prv_hash_leaves(c->hash, c->out + begin, c->rows + begin * c->row_len, end - begin, c->row_len);
}

struct node_ctx {
    prv_hash_id hash;
    const prv_digest *in;
    prv_digest *out;
};

static void node_range(void *vctx, size_t begin, size_t end)
{
    struct node_ctx *c = vctx;
    prv_hash_nodes(c->hash, c->out + begin, c->in + 2 * begin, end - begin);
}

zk_err prv_merkle_build(prv_merkle *m, prv_hash_id hash, const prv_gl *rows, unsigned log_leaves,
                        size_t row_len)
{
    size_t n = (size_t)1 << log_leaves;
    m->hash = hash;
    m->log_leaves = log_leaves;
    m->nodes = malloc((2 * n - 1) * sizeof *m->nodes);
    if (!m->nodes)
        return ZK_ERR_NOMEM;
    struct leaf_ctx lc = { hash, rows, row_len, m->nodes };
    size_t grain = row_len > 64 ? 16 : 256;
    prv_parallel_for(n, grain, leaf_range, &lc);
    prv_digest *level = m->nodes;
    for (size_t width = n; width > 1; width /= 2) {
        struct node_ctx nc = { hash, level, level + width };
        prv_parallel_for(width / 2, 512, node_range, &nc);
        level += width;
    }
    return ZK_OK;
}

void prv_merkle_free(prv_merkle *m)
{
    free(m->nodes);
    m->nodes = NULL;
}

prv_digest prv_merkle_root(const prv_merkle *m)
{
    size_t n = (size_t)1 << m->log_leaves;
    return m->nodes[2 * n - 2];
}

void prv_merkle_path(const prv_merkle *m, size_t index, prv_digest *path)
{
    const prv_digest *level = m->nodes;
    size_t width = (size_t)1 << m->log_leaves;
    for (unsigned d = 0; d < m->log_leaves; d++) {
        path[d] = level[index ^ 1];
        level += width;
        width /= 2;
        index /= 2;
    }
}

int prv_merkle_verify(prv_hash_id hash, const prv_digest *root, unsigned log_leaves, size_t index,
                      const prv_gl *row, size_t row_len, const prv_digest *path)
{
    if (log_leaves < 64 && (index >> log_leaves) != 0)
        return 0;
    prv_digest cur;
    prv_hash_leaf(hash, &cur, row, row_len);
    for (unsigned d = 0; d < log_leaves; d++) {
        if (index & 1)
            prv_hash_node(hash, &cur, &path[d], &cur);
        else
            prv_hash_node(hash, &cur, &cur, &path[d]);
        index /= 2;
    }
    return memcmp(cur.w, root->w, sizeof cur.w) == 0;
}
