#include "common/keccak.h"

#include <string.h>

/* Lanes are little-endian 64-bit words (FIPS 202 §B.1). The byte loop is
 * recognised by gcc and clang as one load on little-endian machines. */
static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static void absorb_block(struct sha3_state *st, const uint8_t *block)
{
    for (size_t i = 0; i < ZK_KECCAK256_RATE / 8; i++)
        st->a[i] ^= load_le64(block + 8 * i);
    nettle_sha3_permute(st);
}

void zk_keccak256_init(zk_keccak256_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
}

void zk_keccak256_update(zk_keccak256_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0)
        return;
    if (ctx->used > 0) {
        size_t take = ZK_KECCAK256_RATE - ctx->used;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += take;
        p += take;
        len -= take;
        if (ctx->used < ZK_KECCAK256_RATE)
            return;
        absorb_block(&ctx->state, ctx->block);
        ctx->used = 0;
    }
    while (len >= ZK_KECCAK256_RATE) {
        absorb_block(&ctx->state, p);
        p += ZK_KECCAK256_RATE;
        len -= ZK_KECCAK256_RATE;
    }
    if (len > 0) {
        memcpy(ctx->block, p, len);
        ctx->used = len;
    }
}

void zk_keccak256_final(zk_keccak256_ctx *ctx, uint8_t out[32])
{
    /* Keccak pad10*1 with the original domain byte 0x01 (SHA3 would use 0x06). */
    memset(ctx->block + ctx->used, 0, ZK_KECCAK256_RATE - ctx->used);
    ctx->block[ctx->used] ^= 0x01;
    ctx->block[ZK_KECCAK256_RATE - 1] ^= 0x80;
    absorb_block(&ctx->state, ctx->block);
    for (size_t i = 0; i < ZK_KECCAK256_SIZE / 8; i++) {
        uint64_t w = ctx->state.a[i];
        for (size_t j = 0; j < 8; j++)
            out[8 * i + j] = (uint8_t)(w >> (8 * j));
    }
    zk_keccak256_init(ctx);
}

void zk_keccak256(uint8_t out[32], const void *data, size_t len)
{
    zk_keccak256_ctx ctx;
    zk_keccak256_init(&ctx);
    zk_keccak256_update(&ctx, data, len);
    zk_keccak256_final(&ctx, out);
}
