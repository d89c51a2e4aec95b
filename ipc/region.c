/* ipc/region.c — the region's layout, its index, its name, and the readers. */
#include "ipc/region.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

void ipc_layout(ipc_header *hdr, uint32_t capacity)
{
    if (capacity == 0 || capacity > IPC_MAX_CAPACITY)
        ZK_PANIC("region capacity out of range");
    uint32_t slots = 1;
    while (slots < 2u * capacity)
        slots <<= 1;
    memset(hdr, 0, sizeof *hdr);
    hdr->format = IPC_REGION_FORMAT;
    hdr->header_size = (uint32_t)sizeof(ipc_header);
    hdr->rec_size = (uint32_t)sizeof(ipc_rec);
    hdr->node_size = (uint32_t)(IPC_DIGEST * sizeof(prv_gl));
    hdr->capacity = capacity;
    hdr->index_slots = slots;
    uint64_t off = 4096;
    hdr->off_accounts = off;
    off += (uint64_t)capacity * sizeof(ipc_rec);
    off = align_up(off, 4096);
    hdr->off_index = off;
    off += (uint64_t)slots * sizeof(uint32_t);
    off = align_up(off, 4096);
    hdr->off_tree = off;
    for (unsigned l = 0; l <= IPC_TREE_DEPTH; l++) {
        uint64_t n = ((uint64_t)capacity + (UINT64_C(1) << l) - 1) >> l;
        off += (n ? n : 1) * IPC_DIGEST * sizeof(prv_gl);
    }
    hdr->total_size = align_up(off, 4096);
}

void ipc_map_init(ipc_map *m, uint8_t *base, size_t size)
{
    ipc_header *h = (ipc_header *)base;
    memset(m, 0, sizeof *m);
    m->base = base;
    m->size = size;
    m->hdr = h;
    m->recs = (ipc_rec *)(base + h->off_accounts);
    m->slots = (_Atomic uint32_t *)(base + h->off_index);
    m->capacity = h->capacity;
    m->slot_mask = h->index_slots - 1;
    m->seed = h->hash_seed;
    uint64_t off = h->off_tree;
    for (unsigned l = 0; l <= IPC_TREE_DEPTH; l++) {
        uint64_t n = ((uint64_t)h->capacity + (UINT64_C(1) << l) - 1) >> l;
        m->level_nodes[l] = n ? n : 1;
        m->levels[l] = (prv_gl *)(base + off);
        off += m->level_nodes[l] * IPC_DIGEST * sizeof(prv_gl);
    }
}

zk_err ipc_header_check(const ipc_header *hdr, size_t mapped, zk_error_detail *err)
{
    if (mapped < sizeof *hdr)
        return zk_error_set(err, ZK_ERR_STATE_BAD_REGION, "region of %zu bytes is smaller than its header", mapped);
    uint64_t magic = atomic_load_explicit(&hdr->magic, memory_order_acquire);
    if (magic == 0)
        return zk_error_set(err, ZK_ERR_STATE_NO_REGION, "region is still being built by its writer");
    if (magic != IPC_REGION_MAGIC)
        return zk_error_set(err, ZK_ERR_STATE_BAD_REGION, "region magic %016llx is not zkcar's",
                            (unsigned long long)magic);
    if (hdr->format != IPC_REGION_FORMAT)
        return zk_error_set(err, ZK_ERR_STATE_BAD_REGION, "region format %u, this build reads %u",
                            hdr->format, IPC_REGION_FORMAT);
    if (hdr->header_size != sizeof(ipc_header) || hdr->rec_size != sizeof(ipc_rec) ||
        hdr->node_size != IPC_DIGEST * sizeof(prv_gl))
        return zk_error_set(err, ZK_ERR_STATE_BAD_REGION, "region struct sizes %u/%u/%u differ from this build's",
                            hdr->header_size, hdr->rec_size, hdr->node_size);
    if (hdr->capacity == 0 || hdr->capacity > IPC_MAX_CAPACITY)
        return zk_error_set(err, ZK_ERR_STATE_BAD_REGION, "region capacity %u out of range", hdr->capacity);
    ipc_header expect;
    ipc_layout(&expect, hdr->capacity);
    if (expect.index_slots != hdr->index_slots || expect.off_accounts != hdr->off_accounts ||
        expect.off_index != hdr->off_index || expect.off_tree != hdr->off_tree ||
        expect.total_size != hdr->total_size)
        return zk_error_set(err, ZK_ERR_STATE_BAD_REGION, "region layout does not match its capacity");
    if (hdr->total_size > mapped)
        return zk_error_set(err, ZK_ERR_STATE_BAD_REGION, "region is %zu bytes, its header says %llu",
                            mapped, (unsigned long long)hdr->total_size);
    return ZK_OK;
}

void ipc_addr_pack(uint64_t a[3], const uint8_t address[IPC_ADDRESS_SIZE])
{
    a[0] = a[1] = a[2] = 0;
    for (unsigned i = 0; i < IPC_ADDRESS_SIZE; i++)
        a[i / 8] |= (uint64_t)address[i] << (8 * (i % 8));
}

void ipc_addr_unpack(uint8_t address[IPC_ADDRESS_SIZE], const uint64_t a[3])
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(address, a, IPC_ADDRESS_SIZE); /* the words are little-endian already */
#else
    for (unsigned i = 0; i < IPC_ADDRESS_SIZE; i++)
        address[i] = (uint8_t)(a[i / 8] >> (8 * (i % 8)));
#endif
}

/* Keyed with a random per-region seed: addresses are chosen by users, who
 * could otherwise grind addresses into one probe chain. */
uint32_t ipc_index_hash(const ipc_map *m, const uint64_t a[3])
{
    uint64_t x = m->seed;
    for (int i = 0; i < 3; i++) {
        x ^= a[i];
        x *= UINT64_C(0x9e3779b97f4a7c15);
        x ^= x >> 29;
    }
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 32;
    return (uint32_t)x & m->slot_mask;
}

uint32_t ipc_index_find(const ipc_map *m, const uint64_t a[3])
{
    uint32_t s = ipc_index_hash(m, a);
    for (uint32_t probes = 0; probes <= m->slot_mask; probes++) {
        /* acquire: pairs with the writer's release store of the slot, which
         * it makes after writing the record's address. */
        uint32_t v = atomic_load_explicit(&m->slots[s], memory_order_acquire);
        if (v == 0)
            return IPC_NO_ID;
        uint32_t id = v - 1;
        if (id < m->capacity) {
            const ipc_rec *r = &m->recs[id];
            if (atomic_load_explicit(&r->addr[0], memory_order_relaxed) == a[0] &&
                atomic_load_explicit(&r->addr[1], memory_order_relaxed) == a[1] &&
                atomic_load_explicit(&r->addr[2], memory_order_relaxed) == a[2])
                return id;
        }
        s = (s + 1) & m->slot_mask;
    }
    return IPC_NO_ID;
}

int64_t ipc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

zk_err ipc_region_name(char *buf, size_t cap, const char *data_dir)
{
    char real[PATH_MAX];
    if (realpath(data_dir, real) == NULL)
        return ZK_ERR_IO;
    /* FNV-1a 64 of the canonical path: one name per directory. */
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const char *p = real; *p; p++) {
        h ^= (uint8_t)*p;
        h *= UINT64_C(0x100000001b3);
    }
    int n = snprintf(buf, cap, "/zkcar-%016llx", (unsigned long long)h);
    return n > 0 && (size_t)n < cap ? ZK_OK : ZK_ERR_TOO_BIG;
}

/* ---- readers --------------------------------------------------------------- */

struct ipc_reader {
    ipc_map map;
    /* The count last read from the header. Counts only grow, so it is a
     * valid lower bound; reads below it skip the header's cache line, which
     * the writer dirties on every commit. */
    _Atomic uint32_t known_count;
};

/* A sequence that stays odd is a writer that died inside a write, or a
 * region a newer writer replaced: checked every SPIN_CHECK spins. */
#define SPIN_CHECK 65536u

static bool region_abandoned(const ipc_map *m)
{
    if (atomic_load_explicit(&m->hdr->retired, memory_order_relaxed))
        return true;
    int64_t pid = atomic_load_explicit(&m->hdr->writer_pid, memory_order_relaxed);
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

zk_err ipc_reader_open(ipc_reader **out, const char *data_dir, zk_error_detail *err)
{
    zk_err rc = ZK_OK;
    char name[IPC_REGION_NAME_MAX];
    int fd = -1;
    void *base = MAP_FAILED;
    size_t size = 0;
    ipc_reader *r = NULL;
    *out = NULL;

    if (ipc_region_name(name, sizeof name, data_dir) != ZK_OK) {
        rc = zk_error_set(err, ZK_ERR_STATE_NO_REGION, "data directory %s: %s", data_dir, strerror(errno));
        goto cleanup;
    }
    fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = errno == ENOENT
                 ? zk_error_set(err, ZK_ERR_STATE_NO_REGION, "no state region %s for %s (no writer since boot)", name, data_dir)
                 : zk_error_set(err, ZK_ERR_IO, "shm_open %s: %s", name, strerror(errno));
        goto cleanup;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "fstat %s: %s", name, strerror(errno));
        goto cleanup;
    }
    size = (size_t)st.st_size;
    if (size < sizeof(ipc_header)) {
        rc = zk_error_set(err, ZK_ERR_STATE_NO_REGION, "region %s is still being created", name);
        goto cleanup;
    }
    /* PROT_READ on an O_RDONLY descriptor: the kernel refuses any write
     * (and any later mprotect to PROT_WRITE). */
    base = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        rc = zk_error_set(err, ZK_ERR_IO, "mmap %s: %s", name, strerror(errno));
        goto cleanup;
    }
    rc = ipc_header_check((const ipc_header *)base, size, err);
    if (rc != ZK_OK)
        goto cleanup;
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "reader handle");
        goto cleanup;
    }
    ipc_map_init(&r->map, base, size);
    *out = r;
    base = MAP_FAILED;
cleanup:
    if (base != MAP_FAILED)
        munmap(base, size);
    if (fd >= 0)
        close(fd);
    return rc;
}

void ipc_reader_close(ipc_reader *r)
{
    if (r == NULL)
        return;
    munmap(r->map.base, r->map.size);
    free(r);
}

uint32_t ipc_reader_count(const ipc_reader *r)
{
    /* acquire: ids below the count have their records and index slots written. */
    return (uint32_t)atomic_load_explicit(&r->map.hdr->count, memory_order_acquire);
}

void ipc_reader_info(const ipc_reader *r, ipc_info *out)
{
    const ipc_header *h = r->map.hdr;
    memset(out, 0, sizeof *out);
    out->capacity = h->capacity;
    out->region_bytes = h->total_size;
    out->writer_pid = (int32_t)atomic_load_explicit(&h->writer_pid, memory_order_relaxed);
    out->heartbeat_ms = atomic_load_explicit(&h->heartbeat_ms, memory_order_relaxed);
    out->retired = atomic_load_explicit(&h->retired, memory_order_relaxed) != 0;
    uint64_t t;
    do {
        if (ipc_reader_view_begin(r, &t) != ZK_OK) {
            out->retired = true; /* abandoned mid-commit: the fields below are not consistent */
            t = 0;
        }
        out->accounts = (uint32_t)atomic_load_explicit(&h->count, memory_order_relaxed);
        out->lsn = atomic_load_explicit(&h->applied_lsn, memory_order_relaxed);
        out->proven_batch = atomic_load_explicit(&h->proven_batch, memory_order_relaxed);
        for (int i = 0; i < IPC_DIGEST; i++)
            out->root[i] = atomic_load_explicit(&h->root[i], memory_order_relaxed);
    } while (!out->retired && ipc_reader_view_retry(r, t));
}

static void rec_load(const ipc_rec *rec, ipc_account *out, uint32_t id)
{
    uint64_t a[3];
    out->id = id;
    out->balance = atomic_load_explicit(&rec->balance, memory_order_relaxed);
    out->nonce = (uint32_t)atomic_load_explicit(&rec->nonce, memory_order_relaxed);
    out->proven_balance = atomic_load_explicit(&rec->proven_balance, memory_order_relaxed);
    out->proven_nonce = (uint32_t)atomic_load_explicit(&rec->proven_nonce, memory_order_relaxed);
    for (int i = 0; i < 3; i++)
        a[i] = atomic_load_explicit(&rec->addr[i], memory_order_relaxed);
    ipc_addr_unpack(out->address, a);
}

bool ipc_reader_get(const ipc_reader *r, ipc_account *out, uint32_t id)
{
    /* acquire/release on the cache carries the header count's acquire to
     * other threads of this process: the writer's record creation
     * happens-before its count store, which happens-before our acquire of
     * it, our release of known_count, and another thread's acquire here.
     * (On x86 both are plain moves.) */
    if (id >= atomic_load_explicit(&r->known_count, memory_order_acquire)) {
        uint32_t n = ipc_reader_count(r);
        if (id >= n)
            return false;
        atomic_store_explicit((_Atomic uint32_t *)&r->known_count, n, memory_order_release);
    }
    const ipc_rec *rec = &r->map.recs[id];
    for (uint32_t spins = 1;; spins++) {
        /* The seqlock read side (Boehm, "Can seqlocks get along with
         * programming language memory models?", 2012): acquire on the first
         * load orders the field loads after it; the acquire fence orders
         * them before the second load. If both loads see the same even
         * value, no write to the record overlapped the field loads. */
        uint64_t s1 = atomic_load_explicit(&rec->seq, memory_order_acquire);
        if (s1 & 1) {
            if (spins % SPIN_CHECK == 0 && region_abandoned(&r->map))
                return false;
            cpu_relax();
            continue;
        }
        rec_load(rec, out, id);
        atomic_thread_fence(memory_order_acquire);
        uint64_t s2 = atomic_load_explicit(&rec->seq, memory_order_relaxed);
        if (s1 == s2)
            return true;
    }
}

bool ipc_reader_find(const ipc_reader *r, uint32_t *id, const uint8_t address[IPC_ADDRESS_SIZE])
{
    uint64_t a[3];
    ipc_addr_pack(a, address);
    uint32_t found = ipc_index_find(&r->map, a);
    if (found == IPC_NO_ID || found >= ipc_reader_count(r))
        return false;
    if (id)
        *id = found;
    return true;
}

zk_err ipc_reader_view_begin(const ipc_reader *r, uint64_t *token)
{
    for (uint32_t spins = 1;; spins++) {
        uint64_t t = atomic_load_explicit(&r->map.hdr->state_seq, memory_order_acquire);
        if ((t & 1) == 0) {
            *token = t;
            return ZK_OK;
        }
        if (spins % SPIN_CHECK == 0 && region_abandoned(&r->map))
            return ZK_ERR_STATE_NO_REGION;
        cpu_relax();
    }
}

void ipc_reader_view_get(const ipc_reader *r, ipc_account *out, uint32_t id)
{
    if (id >= r->map.capacity) {
        memset(out, 0, sizeof *out);
        return;
    }
    rec_load(&r->map.recs[id], out, id);
}

bool ipc_reader_view_retry(const ipc_reader *r, uint64_t token)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&r->map.hdr->state_seq, memory_order_relaxed) != token;
}
