/* ipc/tree.c — the account Merkle tree: leaf encoding, empty subtrees, and
 * batched updates of a dense id-indexed tree stored level by level. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/probes.h"
#include "ipc/region.h"
#include "prover/poseidon2.h"

/* Leaves hashed per call of the batched permutation. */
#define CHUNK 256

void ipc_leaf_hash(prv_gl out[IPC_DIGEST], const uint8_t address[IPC_ADDRESS_SIZE],
                   uint64_t balance, uint32_t nonce)
{
    prv_gl st[PRV_P2_W8];
    st[0] = IPC_LEAF_TAG;
    for (int i = 0; i < 5; i++)
        st[1 + i] = (prv_gl)address[4 * i] << 24 | (prv_gl)address[4 * i + 1] << 16 |
                    (prv_gl)address[4 * i + 2] << 8 | (prv_gl)address[4 * i + 3];
    st[6] = balance;
    st[7] = nonce;
    prv_p2_permute8(st);
    memcpy(out, st, IPC_DIGEST * sizeof(prv_gl));
}

void ipc_node_hash(prv_gl out[IPC_DIGEST], const prv_gl left[IPC_DIGEST], const prv_gl right[IPC_DIGEST])
{
    prv_p2_compress(out, left, right);
}

static prv_gl empty[IPC_TREE_DEPTH + 1][IPC_DIGEST];
static pthread_once_t empty_once = PTHREAD_ONCE_INIT;

static void empty_init(void)
{
    static const uint8_t zero[IPC_ADDRESS_SIZE];
    ipc_leaf_hash(empty[0], zero, 0, 0);
    for (unsigned l = 1; l <= IPC_TREE_DEPTH; l++)
        prv_p2_compress(empty[l], empty[l - 1], empty[l - 1]);
}

const prv_gl *ipc_empty_hash(unsigned level)
{
    if (level > IPC_TREE_DEPTH)
        ZK_PANIC("empty hash level above the tree");
    pthread_once(&empty_once, empty_init);
    return empty[level];
}

void ipc_path_root(prv_gl root[IPC_DIGEST], uint32_t id, const prv_gl leaf[IPC_DIGEST],
                   const prv_gl siblings[IPC_TREE_DEPTH][IPC_DIGEST])
{
    prv_gl cur[IPC_DIGEST];
    memcpy(cur, leaf, sizeof cur);
    for (unsigned l = 0; l < IPC_TREE_DEPTH; l++) {
        if ((id >> l) & 1)
            prv_p2_compress(cur, siblings[l], cur);
        else
            prv_p2_compress(cur, cur, siblings[l]);
    }
    memcpy(root, cur, sizeof cur);
}

/* A node exists (is stored) when it covers at least one account. */
static inline bool node_exists(uint64_t count, unsigned l, uint64_t i)
{
    return l <= IPC_TREE_DEPTH && (i << l) < count;
}

const prv_gl *ipc_tree_node(const ipc_map *m, uint64_t count, unsigned l, uint64_t i)
{
    if (!node_exists(count, l, i))
        return ipc_empty_hash(l);
    return m->levels[l] + i * IPC_DIGEST;
}

void ipc_tree_path(const ipc_map *m, uint64_t count, uint32_t id, ipc_path *out)
{
    out->id = id;
    memcpy(out->leaf, ipc_tree_node(m, count, 0, id), sizeof out->leaf);
    for (unsigned l = 0; l < IPC_TREE_DEPTH; l++)
        memcpy(out->siblings[l], ipc_tree_node(m, count, l, ((uint64_t)id >> l) ^ 1),
               sizeof out->siblings[l]);
}

void ipc_tree_set_leaf(const ipc_map *m, uint64_t count, uint32_t id, const prv_gl leaf[IPC_DIGEST],
                       prv_gl out_root[IPC_DIGEST])
{
    prv_gl cur[IPC_DIGEST];
    memcpy(cur, leaf, sizeof cur);
    memcpy(m->levels[0] + (uint64_t)id * IPC_DIGEST, cur, sizeof cur);
    uint64_t i = id;
    for (unsigned l = 0; l < IPC_TREE_DEPTH; l++) {
        const prv_gl *sib = ipc_tree_node(m, count, l, i ^ 1);
        if (i & 1)
            prv_p2_compress(cur, sib, cur);
        else
            prv_p2_compress(cur, cur, sib);
        i >>= 1;
        memcpy(m->levels[l + 1] + i * IPC_DIGEST, cur, sizeof cur);
    }
    memcpy(out_root, cur, sizeof cur);
}

/* ---- batched updates ------------------------------------------------------- */

typedef struct part {
    uint32_t *cur, *next;        /* dirty node indices of this level / the next */
    prv_gl *buf;                 /* CHUNK permutation states */
    uint64_t *idx64;
} part;

struct ipc_tree_scratch {
    size_t max_ids;
    unsigned threads;
    part parts[2];
};

ipc_tree_scratch *ipc_tree_scratch_new(size_t max_ids, unsigned threads)
{
    ipc_tree_scratch *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->max_ids = max_ids ? max_ids : 1;
    s->threads = threads >= 2 ? 2 : 1;
    for (unsigned t = 0; t < 2; t++) {
        part *p = &s->parts[t];
        p->cur = malloc(s->max_ids * sizeof *p->cur);
        p->next = malloc(s->max_ids * sizeof *p->next);
        p->buf = malloc(CHUNK * PRV_P2_W8 * sizeof *p->buf);
        if (p->cur == NULL || p->next == NULL || p->buf == NULL) {
            ipc_tree_scratch_free(s);
            return NULL;
        }
    }
    return s;
}

void ipc_tree_scratch_free(ipc_tree_scratch *s)
{
    if (s == NULL)
        return;
    for (unsigned t = 0; t < 2; t++) {
        free(s->parts[t].cur);
        free(s->parts[t].next);
        free(s->parts[t].buf);
    }
    free(s);
}

/* Leaf hashes of ids[0..n) from the records, CHUNK at a time. */
static void hash_leaves(const ipc_map *m, part *p, const uint32_t *ids, size_t n)
{
    for (size_t k = 0; k < n; k += CHUNK) {
        size_t c = n - k < CHUNK ? n - k : CHUNK;
        for (size_t j = 0; j < c; j++) {
            const ipc_rec *r = &m->recs[ids[k + j]];
            uint64_t a[3];
            uint8_t addr[IPC_ADDRESS_SIZE];
            for (int i = 0; i < 3; i++)
                a[i] = atomic_load_explicit(&r->addr[i], memory_order_relaxed);
            ipc_addr_unpack(addr, a);
            prv_gl *st = p->buf + j * PRV_P2_W8;
            st[0] = IPC_LEAF_TAG;
            for (int i = 0; i < 5; i++)
                st[1 + i] = (prv_gl)addr[4 * i] << 24 | (prv_gl)addr[4 * i + 1] << 16 |
                            (prv_gl)addr[4 * i + 2] << 8 | (prv_gl)addr[4 * i + 3];
            st[6] = atomic_load_explicit(&r->balance, memory_order_relaxed);
            st[7] = atomic_load_explicit(&r->nonce, memory_order_relaxed);
        }
        prv_p2_permute8_many(p->buf, c);
        for (size_t j = 0; j < c; j++)
            memcpy(m->levels[0] + (uint64_t)ids[k + j] * IPC_DIGEST, p->buf + j * PRV_P2_W8,
                   IPC_DIGEST * sizeof(prv_gl));
    }
}

/* Moves the dirty set p->cur[0..n) of level l one level up, hashing the
 * parents; returns the number of dirty parents (in p->cur afterwards). */
static size_t step_up(const ipc_map *m, part *p, size_t n, unsigned l, uint64_t count)
{
    size_t np = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t parent = p->cur[k] >> 1;
        if (np == 0 || p->next[np - 1] != parent)
            p->next[np++] = parent;
    }
    for (size_t k = 0; k < np; k += CHUNK / 2) {
        size_t c = np - k < CHUNK / 2 ? np - k : CHUNK / 2;
        for (size_t j = 0; j < c; j++) {
            uint64_t parent = p->next[k + j];
            memcpy(p->buf + j * 8, ipc_tree_node(m, count, l, 2 * parent), IPC_DIGEST * sizeof(prv_gl));
            memcpy(p->buf + j * 8 + 4, ipc_tree_node(m, count, l, 2 * parent + 1),
                   IPC_DIGEST * sizeof(prv_gl));
        }
        prv_p2_compress_many(p->buf, p->buf, c);
        for (size_t j = 0; j < c; j++)
            memcpy(m->levels[l + 1] + (uint64_t)p->next[k + j] * IPC_DIGEST, p->buf + j * 4,
                   IPC_DIGEST * sizeof(prv_gl));
    }
    uint32_t *t = p->cur;
    p->cur = p->next;
    p->next = t;
    return np;
}

typedef struct job {
    const ipc_map *m;
    part *p;
    const uint32_t *ids;
    size_t n;
    unsigned top;        /* levels 0 .. top-1 are stepped up */
    uint64_t count;
    size_t out_n;        /* dirty nodes at level `top` */
} job;

static void run_job(job *j)
{
    hash_leaves(j->m, j->p, j->ids, j->n);
    memcpy(j->p->cur, j->ids, j->n * sizeof *j->ids);
    size_t n = j->n;
    for (unsigned l = 0; l < j->top; l++)
        n = step_up(j->m, j->p, n, l, j->count);
    j->out_n = n;
}

static void *job_thread(void *arg)
{
    run_job(arg);
    return NULL;
}

/* Levels that the ids below `split` and those at or above it climb in
 * disjoint subtrees: k where split is an odd multiple of 2^k. */
static unsigned trailing_levels(uint32_t split)
{
    return split == 0 ? IPC_TREE_DEPTH : (unsigned)__builtin_ctz(split);
}

void ipc_tree_update(const ipc_map *m, ipc_tree_scratch *s, const uint32_t *ids, size_t n,
                     uint64_t count, prv_gl out_root[IPC_DIGEST])
{
    if (n > s->max_ids)
        ZK_PANIC("tree update larger than its scratch");
    ZKBPF_BEGIN(tree_update);
    size_t n0 = n, n1 = 0;
    unsigned top = IPC_TREE_DEPTH;
    if (s->threads >= 2 && n >= 1024) {
        /* Split at a boundary aligned to 2^k near the median id, with k as
         * large as keeps each side at least a quarter of the ids: below
         * level k the two halves touch disjoint subtrees and run on two
         * threads without locks; the levels above run on this thread. */
        uint32_t med = ids[n / 2];
        for (unsigned k = 31; k >= 1; k--) {
            uint32_t b = med & ~((UINT32_C(1) << k) - 1);
            if (b == 0)
                continue;
            size_t lo = 0, hi = n; /* first index with ids[i] >= b */
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (ids[mid] < b)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo >= n / 4 && n - lo >= n / 4) {
                n0 = lo;
                n1 = n - lo;
                top = trailing_levels(b);
                break;
            }
        }
    }
    if (n1 == 0) {
        job j = { m, &s->parts[0], ids, n, IPC_TREE_DEPTH, count, 0 };
        run_job(&j);
    } else {
        job j0 = { m, &s->parts[0], ids, n0, top, count, 0 };
        job j1 = { m, &s->parts[1], ids + n0, n1, top, count, 0 };
        pthread_t th;
        bool threaded = pthread_create(&th, NULL, job_thread, &j1) == 0;
        run_job(&j0);
        if (threaded)
            pthread_join(th, NULL);
        else
            run_job(&j1);
        part *p = &s->parts[0];
        memcpy(p->cur + j0.out_n, s->parts[1].cur, j1.out_n * sizeof *p->cur);
        size_t k = j0.out_n + j1.out_n;
        for (unsigned l = top; l < IPC_TREE_DEPTH; l++)
            k = step_up(m, p, k, l, count);
    }
    if (count == 0)
        memcpy(out_root, ipc_empty_hash(IPC_TREE_DEPTH), IPC_DIGEST * sizeof(prv_gl));
    else
        memcpy(out_root, m->levels[IPC_TREE_DEPTH], IPC_DIGEST * sizeof(prv_gl));
    ZKBPF_END(tree_update);
}

/* ---- dense builds ----------------------------------------------------------- */

typedef struct leaf_job {
    const ipc_map *m;
    const uint32_t *ids;
    size_t n;
    prv_gl *buf;
} leaf_job;

static void *leaf_thread(void *arg)
{
    leaf_job *j = arg;
    part p = { .buf = j->buf };
    hash_leaves(j->m, &p, j->ids, j->n);
    return NULL;
}

typedef struct level_job {
    prv_gl *out;
    const prv_gl *in;
    size_t pairs;
} level_job;

static void *level_thread(void *arg)
{
    level_job *j = arg;
    prv_p2_compress_many(j->out, j->in, j->pairs);
    return NULL;
}

zk_err ipc_tree_build(const ipc_map *m, uint64_t count, const uint32_t *ids, size_t n, unsigned threads,
                      prv_gl out_root[IPC_DIGEST])
{
    if (count == 0) {
        memcpy(out_root, ipc_empty_hash(IPC_TREE_DEPTH), IPC_DIGEST * sizeof(prv_gl));
        return ZK_OK;
    }
    prv_gl *buf = malloc(2 * CHUNK * PRV_P2_W8 * sizeof *buf);
    if (buf == NULL)
        return ZK_ERR_NOMEM;
    leaf_job lo = { m, ids, n, buf }, hi = { m, ids + n / 2, n - n / 2, buf + CHUNK * PRV_P2_W8 };
    pthread_t leaf_th;
    if (threads >= 2 && n >= 4096 && pthread_create(&leaf_th, NULL, leaf_thread, &hi) == 0) {
        lo.n = n / 2;
        leaf_thread(&lo);
        pthread_join(leaf_th, NULL);
    } else {
        leaf_thread(&lo);
    }
    free(buf);
    uint64_t len = count;
    for (unsigned l = 0; l < IPC_TREE_DEPTH; l++) {
        uint64_t full = len / 2;
        prv_gl *in = m->levels[l], *out = m->levels[l + 1];
        if (threads >= 2 && full >= 4096) {
            /* Level l+1 is independent pair by pair: split it in two. */
            size_t half = (size_t)full / 2;
            level_job j = { out + half * IPC_DIGEST, in + half * 2 * IPC_DIGEST, (size_t)full - half };
            pthread_t th;
            bool threaded = pthread_create(&th, NULL, level_thread, &j) == 0;
            prv_p2_compress_many(out, in, half);
            if (threaded)
                pthread_join(th, NULL);
            else
                level_thread(&j);
        } else {
            prv_p2_compress_many(out, in, (size_t)full);
        }
        if (len & 1)
            prv_p2_compress(out + full * IPC_DIGEST, in + (len - 1) * IPC_DIGEST, ipc_empty_hash(l));
        len = (len + 1) / 2;
    }
    memcpy(out_root, m->levels[IPC_TREE_DEPTH], IPC_DIGEST * sizeof(prv_gl));
    return ZK_OK;
}
