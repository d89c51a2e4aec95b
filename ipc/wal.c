/* ipc/wal.c — log record encoding and the bounds-checked decoder. */
#include "ipc/wal.h"

#include <assert.h>
#include <string.h>

#include "common/endian.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) ------------------ */

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
    __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc_soft(uint32_t c, const uint8_t *p, size_t len)
{
    if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE))
        crc_init(); /* idempotent: racing initialisations write the same table */
    while (len--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t len)
{
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t ipc_crc32c(uint32_t crc, const void *data, size_t len)
{
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2"))
        return ~crc_hw(c, data, len);
#endif
    return ~crc_soft(c, data, len);
}

/* ---- little-endian fields -------------------------------------------------- */

size_t ipc_wal_ops_size(size_t count)
{
    return IPC_WAL_RECORD_HEADER + 4 + count * IPC_WAL_OP_SIZE + IPC_WAL_RECORD_TRAILER;
}

size_t ipc_wal_proven_size(size_t count)
{
    return IPC_WAL_RECORD_HEADER + 12 + count * IPC_WAL_PROVEN_SIZE + IPC_WAL_RECORD_TRAILER;
}

static void put_header(uint8_t *buf, ipc_wal_type type, uint32_t payload, uint64_t lsn)
{
    memset(buf, 0, IPC_WAL_RECORD_HEADER);
    zk_le_put32(buf, IPC_WAL_MAGIC);
    buf[4] = (uint8_t)type;
    zk_le_put32(buf + 8, payload);
    zk_le_put64(buf + 16, lsn);
}

size_t ipc_wal_encode_ops(uint8_t *buf, size_t cap, uint64_t lsn, const ipc_wal_op *ops, size_t n)
{
    size_t size = ipc_wal_ops_size(n);
    assert(cap >= size && size - IPC_WAL_RECORD_HEADER - IPC_WAL_RECORD_TRAILER <= IPC_WAL_MAX_PAYLOAD);
    put_header(buf, IPC_WAL_OPS, (uint32_t)(size - IPC_WAL_RECORD_HEADER - IPC_WAL_RECORD_TRAILER), lsn);
    uint8_t *p = buf + IPC_WAL_RECORD_HEADER;
    zk_le_put32(p, (uint32_t)n);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        zk_le_put32(p, ops[i].id);
        memcpy(p + 4, ops[i].address, IPC_ADDRESS_SIZE);
        zk_le_put64(p + 24, ops[i].balance);
        zk_le_put32(p + 32, ops[i].nonce);
        p += IPC_WAL_OP_SIZE;
    }
    zk_le_put32(p, ipc_crc32c(0, buf, (size_t)(p - buf)));
    return size;
}

size_t ipc_wal_encode_proven(uint8_t *buf, size_t cap, uint64_t lsn, uint64_t batch, const uint32_t *ids,
                             const uint64_t *balances, const uint32_t *nonces, size_t n)
{
    size_t size = ipc_wal_proven_size(n);
    assert(cap >= size && size - IPC_WAL_RECORD_HEADER - IPC_WAL_RECORD_TRAILER <= IPC_WAL_MAX_PAYLOAD);
    put_header(buf, IPC_WAL_PROVEN, (uint32_t)(size - IPC_WAL_RECORD_HEADER - IPC_WAL_RECORD_TRAILER), lsn);
    uint8_t *p = buf + IPC_WAL_RECORD_HEADER;
    zk_le_put64(p, batch);
    zk_le_put32(p + 8, (uint32_t)n);
    p += 12;
    for (size_t i = 0; i < n; i++) {
        zk_le_put32(p, ids[i]);
        zk_le_put64(p + 4, balances[i]);
        zk_le_put32(p + 12, nonces[i]);
        p += IPC_WAL_PROVEN_SIZE;
    }
    zk_le_put32(p, ipc_crc32c(0, buf, (size_t)(p - buf)));
    return size;
}

zk_err ipc_wal_decode(ipc_wal_record *rec, const uint8_t *buf, size_t len, zk_error_detail *err)
{
    memset(rec, 0, sizeof *rec);
    /* A header cut short is torn only if what is there could start a record. */
    if (len < IPC_WAL_RECORD_HEADER) {
        uint8_t magic[4];
        zk_le_put32(magic, IPC_WAL_MAGIC);
        size_t k = len < 4 ? len : 4;
        if (memcmp(buf, magic, k) != 0)
            return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "record magic is wrong");
        return zk_error_set(err, ZK_ERR_LOG_TORN, "record header cut at %zu of %u bytes", len,
                            IPC_WAL_RECORD_HEADER);
    }
    if (zk_le_get32(buf) != IPC_WAL_MAGIC)
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "record magic is wrong");
    uint8_t type = buf[4];
    if (type != IPC_WAL_OPS && type != IPC_WAL_PROVEN)
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "unknown record type %u", type);
    if (buf[5] | buf[6] | buf[7] | buf[12] | buf[13] | buf[14] | buf[15])
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "reserved header bytes are not zero");
    uint32_t payload = zk_le_get32(buf + 8);
    if (payload > IPC_WAL_MAX_PAYLOAD)
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "payload of %u bytes exceeds the cap of %u",
                            payload, IPC_WAL_MAX_PAYLOAD);
    size_t fixed = type == IPC_WAL_OPS ? 4 : 12;
    size_t entry = type == IPC_WAL_OPS ? IPC_WAL_OP_SIZE : IPC_WAL_PROVEN_SIZE;
    if (payload < fixed || (payload - fixed) % entry != 0)
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "payload length %u does not fit the record type", payload);
    size_t size = IPC_WAL_RECORD_HEADER + (size_t)payload + IPC_WAL_RECORD_TRAILER;
    if (len < size)
        return zk_error_set(err, ZK_ERR_LOG_TORN, "record of %zu bytes cut at %zu", size, len);
    uint32_t crc = ipc_crc32c(0, buf, size - IPC_WAL_RECORD_TRAILER);
    if (crc != zk_le_get32(buf + size - IPC_WAL_RECORD_TRAILER))
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "record checksum mismatch");
    const uint8_t *p = buf + IPC_WAL_RECORD_HEADER;
    uint64_t lsn = zk_le_get64(buf + 16);
    if (lsn == 0)
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "record sequence number 0");
    uint32_t count;
    uint64_t batch = 0;
    if (type == IPC_WAL_OPS) {
        count = zk_le_get32(p);
        p += 4;
    } else {
        batch = zk_le_get64(p);
        count = zk_le_get32(p + 8);
        p += 12;
    }
    if ((size_t)count * entry != payload - fixed)
        return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "entry count %u does not match the payload", count);
    size_t boff = type == IPC_WAL_OPS ? 24 : 4;
    for (uint32_t i = 0; i < count; i++)
        if (zk_le_get64(p + (size_t)i * entry + boff) > IPC_BALANCE_MAX)
            return zk_error_set(err, ZK_ERR_LOG_BAD_RECORD, "entry %u: balance above 2^63 - 1", i);
    rec->type = (ipc_wal_type)type;
    rec->lsn = lsn;
    rec->batch = batch;
    rec->count = count;
    rec->entries = p;
    rec->size = size;
    return ZK_OK;
}

void ipc_wal_entry(const ipc_wal_record *rec, size_t i, ipc_wal_op *out)
{
    assert(i < rec->count);
    memset(out, 0, sizeof *out);
    if (rec->type == IPC_WAL_OPS) {
        const uint8_t *p = rec->entries + i * IPC_WAL_OP_SIZE;
        out->id = zk_le_get32(p);
        memcpy(out->address, p + 4, IPC_ADDRESS_SIZE);
        out->balance = zk_le_get64(p + 24);
        out->nonce = zk_le_get32(p + 32);
    } else {
        const uint8_t *p = rec->entries + i * IPC_WAL_PROVEN_SIZE;
        out->id = zk_le_get32(p);
        out->balance = zk_le_get64(p + 4);
        out->nonce = zk_le_get32(p + 12);
    }
}
