#include "common/abi.h"

#include <string.h>

static void put_be(uint8_t word[32], uint64_t v)
{
    memset(word, 0, 24);
    for (int i = 0; i < 8; i++)
        word[31 - i] = (uint8_t)(v >> (8 * i));
}

void zk_abi_put_u64(uint8_t word[32], uint64_t v)
{
    put_be(word, v);
}

void zk_abi_put_u32(uint8_t word[32], uint32_t v)
{
    put_be(word, v);
}

void zk_abi_put_address(uint8_t word[32], const uint8_t addr[20])
{
    memset(word, 0, 12);
    memcpy(word + 12, addr, 20);
}

void zk_abi_put_bytes32(uint8_t word[32], const uint8_t b[32])
{
    memmove(word, b, 32);
}

/* Index of the first non-zero byte in word[0..n), or n. */
static size_t first_nonzero(const uint8_t *word, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (word[i] != 0)
            return i;
    return n;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

zk_err zk_abi_get_u64(uint64_t *out, zk_error_detail *err, const uint8_t word[32])
{
    if (first_nonzero(word, 24) < 24)
        return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "ABI word does not fit in uint64");
    *out = get_be64(word + 24);
    return ZK_OK;
}

zk_err zk_abi_get_u64_max(uint64_t *out, zk_error_detail *err, const uint8_t word[32],
                          uint64_t max)
{
    uint64_t v = 0;
    zk_err rc = zk_abi_get_u64(&v, err, word);
    if (rc != ZK_OK)
        return rc;
    if (v > max)
        return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "ABI word %llu exceeds %llu",
                            (unsigned long long)v, (unsigned long long)max);
    *out = v;
    return ZK_OK;
}

zk_err zk_abi_get_u32(uint32_t *out, zk_error_detail *err, const uint8_t word[32])
{
    if (first_nonzero(word, 28) < 28)
        return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "ABI word does not fit in uint32");
    *out = (uint32_t)get_be64(word + 24);
    return ZK_OK;
}

zk_err zk_abi_get_address(uint8_t out[20], zk_error_detail *err, const uint8_t word[32])
{
    if (first_nonzero(word, 12) < 12)
        return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "ABI word is not an address (uint160)");
    memcpy(out, word + 12, 20);
    return ZK_OK;
}

void zk_abi_get_bytes32(uint8_t out[32], const uint8_t word[32])
{
    memmove(out, word, 32);
}
