/*
 * common/endian.h — little-endian integers in byte buffers, for our own file and
 * wire formats (write-ahead log, snapshots, proofs). Alignment-free and
 * independent of the host's byte order. Pure and thread-safe.
 */
#ifndef ZKCAR_COMMON_ENDIAN_H
#define ZKCAR_COMMON_ENDIAN_H

#include <stdint.h>

static inline void zk_le_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void zk_le_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t zk_le_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t zk_le_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
