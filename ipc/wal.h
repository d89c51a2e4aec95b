/*
 * ipc/wal.h — the write-ahead log's record format: encoder and decoder.
 *
 * The log file (DIR/state.wal) is a 32-byte file header followed by records
 * back to back. All integers little-endian. A record:
 *
 *     offset size
 *       0     4   magic "ZKWR" (0x52574b5a)
 *       4     1   type: 1 = ops (a committed group), 2 = proven (a proven batch)
 *       5     3   zero
 *       8     4   payload length in bytes (<= IPC_WAL_MAX_PAYLOAD)
 *      12     4   zero
 *      16     8   lsn: records are numbered 1, 2, 3, ... without gaps
 *      24     n   payload
 *    24+n     4   CRC-32C (Castagnoli) of bytes 0 .. 24+n-1
 *
 * ops payload:    u32 count, then count x { u32 id, 20-byte address,
 *                 u64 balance (< 2^63), u32 nonce }             (36 bytes each)
 * proven payload: u64 batch, u32 count, then count x { u32 id,
 *                 u64 balance (< 2^63), u32 nonce }             (16 bytes each)
 *
 * Operations hold absolute post-values, so replaying a record twice gives the
 * same state (recovery relies on it). The decoder reads outside data (a file
 * that a crash or a disk may have damaged): it checks every length against
 * the buffer and the caps, and never reads past `len`.
 */
#ifndef ZKCAR_IPC_WAL_H
#define ZKCAR_IPC_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ipc/state.h"

#define IPC_WAL_MAGIC UINT32_C(0x52574b5a)          /* "ZKWR" */
#define IPC_WAL_FILE_MAGIC UINT64_C(0x4c41575241434b5a) /* "ZKCARWAL" */
#define IPC_WAL_FORMAT 1u
#define IPC_WAL_FILE_HEADER 32u
#define IPC_WAL_RECORD_HEADER 24u
#define IPC_WAL_RECORD_TRAILER 4u
#define IPC_WAL_OP_SIZE 36u
#define IPC_WAL_PROVEN_SIZE 16u
/* Largest payload: 1M operations. A length above it is a bad record. */
#define IPC_WAL_MAX_PAYLOAD (4u + (1u << 20) * IPC_WAL_OP_SIZE)

typedef enum ipc_wal_type {
    IPC_WAL_OPS = 1,
    IPC_WAL_PROVEN = 2,
} ipc_wal_type;

/* A decoded record; `payload` points into the decoded buffer. */
typedef struct ipc_wal_record {
    ipc_wal_type type;
    uint64_t lsn;
    uint64_t batch;           /* proven records only */
    uint32_t count;           /* operations or proven entries */
    const uint8_t *entries;   /* count entries of IPC_WAL_OP_SIZE or IPC_WAL_PROVEN_SIZE */
    size_t size;              /* bytes the record takes in the log */
} ipc_wal_record;

/* One operation of an ops record (or a proven entry: address zero). */
typedef struct ipc_wal_op {
    uint32_t id;
    uint8_t address[IPC_ADDRESS_SIZE];
    uint64_t balance;
    uint32_t nonce;
} ipc_wal_op;

/* CRC-32C of `len` bytes, continuing from `crc` (start with 0). Uses the
 * SSE4.2 instruction when the CPU has it. Pure, thread-safe. */
uint32_t ipc_crc32c(uint32_t crc, const void *data, size_t len);

/* Bytes an ops record of `count` operations takes. */
size_t ipc_wal_ops_size(size_t count);
/* Bytes a proven record of `count` entries takes. */
size_t ipc_wal_proven_size(size_t count);

/* Encodes an ops record into buf (cap >= ipc_wal_ops_size(n), asserted).
 * Returns the bytes written. */
size_t ipc_wal_encode_ops(uint8_t *buf, size_t cap, uint64_t lsn, const ipc_wal_op *ops, size_t n);
/* Encodes a proven record (ids[i], balances[i], nonces[i]). */
size_t ipc_wal_encode_proven(uint8_t *buf, size_t cap, uint64_t lsn, uint64_t batch,
                             const uint32_t *ids, const uint64_t *balances,
                             const uint32_t *nonces, size_t n);

/* Decodes the record at the start of buf[0..len). Returns ZK_OK and fills
 * *rec; ZK_ERR_LOG_TORN when buf ends before the record does (a length that
 * fits the caps but runs past len); ZK_ERR_LOG_BAD_RECORD for a wrong magic,
 * type, reserved byte, length, checksum or a balance >= 2^63. `err` (may be
 * NULL) says which. Pure, thread-safe. */
zk_err ipc_wal_decode(ipc_wal_record *rec, const uint8_t *buf, size_t len,
                      zk_error_detail *err) ZK_MUST_CHECK;

/* Entry i (< rec->count) of a decoded record. */
void ipc_wal_entry(const ipc_wal_record *rec, size_t i, ipc_wal_op *out);

#endif
