/* Helpers shared by the ipc/ test programs: temporary data directories and a
 * from-scratch recomputation of the state root. */
#ifndef ZKCAR_TESTS_IPC_UTIL_H
#define ZKCAR_TESTS_IPC_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ipc/state.h"

/* A fresh directory under /tmp; the caller frees the path with tdir_remove. */
static inline char *tdir_new(void)
{
    char *p = strdup("/tmp/zkcar-ipc-test-XXXXXX");
    if (p == NULL || mkdtemp(p) == NULL)
        abort();
    return p;
}

/* Removes the region of `dir`, then its files and the directory. */
static inline void tdir_remove(char *dir)
{
    char name[64];
    if (ipc_region_name(name, sizeof name, dir) == ZK_OK)
        shm_unlink(name);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static inline void tregion_unlink(const char *dir)
{
    char name[64];
    if (ipc_region_name(name, sizeof name, dir) == ZK_OK)
        shm_unlink(name);
}

/* A deterministic address for account number k. */
static inline void taddr(uint8_t a[IPC_ADDRESS_SIZE], uint32_t k)
{
    uint64_t x = k * UINT64_C(0x9e3779b97f4a7c15) + 12345;
    for (int i = 0; i < IPC_ADDRESS_SIZE; i++) {
        x ^= x >> 31;
        x *= UINT64_C(0xbf58476d1ce4e5b9);
        a[i] = (uint8_t)(x >> 56);
    }
}

/* The root of the depth-32 tree whose leaves 0..n-1 are leaves[] and whose
 * other leaves are empty, computed level by level without the region. */
static inline void troot_from_leaves(prv_gl root[IPC_DIGEST], const prv_gl *leaves, size_t n)
{
    prv_gl *cur = malloc((n ? n : 1) * IPC_DIGEST * sizeof *cur);
    if (cur == NULL)
        abort();
    if (n > 0)
        memcpy(cur, leaves, n * IPC_DIGEST * sizeof *cur);
    size_t len = n;
    for (unsigned l = 0; l < IPC_TREE_DEPTH; l++) {
        if (len == 0) {
            memcpy(cur, ipc_empty_hash(l), IPC_DIGEST * sizeof *cur);
            len = 1;
        }
        size_t next = (len + 1) / 2;
        for (size_t i = 0; i < next; i++) {
            const prv_gl *left = cur + 2 * i * IPC_DIGEST;
            const prv_gl *right = 2 * i + 1 < len ? cur + (2 * i + 1) * IPC_DIGEST : ipc_empty_hash(l);
            prv_gl out[IPC_DIGEST];
            ipc_node_hash(out, left, right);
            memcpy(cur + i * IPC_DIGEST, out, sizeof out);
        }
        len = next;
    }
    if (n == 0)
        memcpy(root, ipc_empty_hash(IPC_TREE_DEPTH), IPC_DIGEST * sizeof *root);
    else
        memcpy(root, cur, IPC_DIGEST * sizeof *root);
    free(cur);
}

/* The root recomputed from every account a reader sees. */
static inline void troot_from_reader(prv_gl root[IPC_DIGEST], const ipc_reader *r)
{
    uint32_t n = ipc_reader_count(r);
    prv_gl *leaves = malloc((n ? n : 1) * IPC_DIGEST * sizeof *leaves);
    if (leaves == NULL)
        abort();
    for (uint32_t i = 0; i < n; i++) {
        ipc_account a;
        if (!ipc_reader_get(r, &a, i))
            abort();
        ipc_leaf_hash(leaves + i * IPC_DIGEST, a.address, a.balance, a.nonce);
    }
    troot_from_leaves(root, leaves, n);
    free(leaves);
}

#endif
