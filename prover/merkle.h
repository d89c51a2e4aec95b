/*
 * prover/merkle.h — binary Merkle trees over rows of field elements.
 *
 * A tree commits to 2^log_leaves leaves; leaf i is the digest of row i
 * (prv_hash_leaf of its elements), inner nodes are prv_hash_node(left, right).
 * An opening of leaf i is the row plus log_leaves sibling digests, bottom up.
 */
#ifndef ZKCAR_PROVER_MERKLE_H
#define ZKCAR_PROVER_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "prover/hash.h"

typedef struct prv_merkle {
    prv_hash_id hash;
    unsigned log_leaves;
    prv_digest *nodes; /* all levels, leaves first: 2^(log_leaves+1) - 1 digests */
} prv_merkle;

/* Builds the tree over `rows` (2^log_leaves rows of row_len elements, row-major),
 * hashing on all threads of the pool. Returns ZK_OK or ZK_ERR_NOMEM; on error
 * *m holds nothing to free. The tree owns its nodes; free with prv_merkle_free. */
zk_err prv_merkle_build(prv_merkle *m, prv_hash_id hash, const prv_gl *rows, unsigned log_leaves,
                        size_t row_len) ZK_MUST_CHECK;
/* Frees the nodes (m may be zeroed or already freed). */
void prv_merkle_free(prv_merkle *m);
/* The root. */
prv_digest prv_merkle_root(const prv_merkle *m);
/* Writes the log_leaves siblings of leaf `index` (bottom up) into path. */
void prv_merkle_path(const prv_merkle *m, size_t index, prv_digest *path);

/* Checks that `row` (row_len elements) is leaf `index` of the tree with `root`,
 * given its siblings. Returns 1 if it is, 0 otherwise. Pure, thread-safe. */
int prv_merkle_verify(prv_hash_id hash, const prv_digest *root, unsigned log_leaves, size_t index,
                      const prv_gl *row, size_t row_len, const prv_digest *path);

#endif
