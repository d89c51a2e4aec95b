/*
 * prover/hash.c — the commitment hashes behind the Merkle trees (Keccak-256 and
 * Poseidon2), with the batched forms the prover uses.
 */
#include "prover/hash.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "prover/hash_simd.h"
#include "prover/poseidon2.h"

/* The one Keccak-256 of the project (common/keccak.h); the 4-way AVX2 form for
 * Merkle leaves and nodes lives in keccak_avx2.c and is tested against it. */
void prv_keccak256(uint8_t out[32], const void *in, size_t len)
{
    zk_keccak256(out, in, len);
}

int prv_hash_id_valid(unsigned h) { return h == PRV_HASH_POSEIDON2 || h == PRV_HASH_KECCAK; }

void prv_hash_leaf(prv_hash_id h, prv_digest *out, const prv_gl *in, size_t n)
{
    if (h == PRV_HASH_POSEIDON2) {
        prv_p2_hash(out->w, in, n);
        return;
    }
    /* prv_gl is a uint64_t in little-endian memory: the bytes are the LE encoding. */
    prv_keccak256((uint8_t *)out->w, in, n * sizeof(prv_gl));
}

void prv_hash_node(prv_hash_id h, prv_digest *out, const prv_digest *left, const prv_digest *right)
{
    if (h == PRV_HASH_POSEIDON2) {
        prv_p2_compress(out->w, left->w, right->w);
        return;
    }
    uint64_t buf[8];
    memcpy(buf, left->w, 32);
    memcpy(buf + 4, right->w, 32);
    prv_keccak256((uint8_t *)out->w, buf, sizeof buf);
}

void prv_hash_nodes(prv_hash_id h, prv_digest *out, const prv_digest *in, size_t n)
{
    if (h == PRV_HASH_POSEIDON2) {
        /* prv_digest is four packed uint64_t: the array is the flat layout compress_many wants. */
        _Static_assert(sizeof(prv_digest) == 4 * sizeof(prv_gl), "digest layout");
        prv_p2_compress_many(out->w, in->w, n);
        return;
    }
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        /* left || right are adjacent in `in`: 64 contiguous bytes per node. */
        uint8_t *const o[4] = { (uint8_t *)out[i].w, (uint8_t *)out[i + 1].w, (uint8_t *)out[i + 2].w,
                                (uint8_t *)out[i + 3].w };
        const void *const src[4] = { in[2 * i].w, in[2 * i + 2].w, in[2 * i + 4].w, in[2 * i + 6].w };
        prv_keccak256_x4(o, src, 2 * sizeof(prv_digest));
    }
    for (; i < n; i++)
        prv_hash_node(h, &out[i], &in[2 * i], &in[2 * i + 1]);
}

#ifdef PRV_HAVE_KECCAK_AVX2
/* 1 = AVX2, 2 = scalar; 0 = not decided yet (a benign race: every thread
 * decides the same). */
static _Atomic int keccak_path;
#endif

static int use_avx2(void)
{
#ifdef PRV_HAVE_KECCAK_AVX2
    int p = atomic_load_explicit(&keccak_path, memory_order_relaxed);
    if (p == 0) {
        const char *env = getenv("ZKCAR_SIMD");
        __builtin_cpu_init();
        p = (env && strcmp(env, "scalar") == 0) || !__builtin_cpu_supports("avx2") ? 2 : 1;
        atomic_store_explicit(&keccak_path, p, memory_order_relaxed);
    }
    return p == 1;
#else
    return 0;
#endif
}

const char *prv_keccak_backend(void) { return use_avx2() ? "avx2" : "scalar"; }

void prv_keccak256_x4(uint8_t *const out[4], const void *const in[4], size_t len)
{
#ifdef PRV_HAVE_KECCAK_AVX2
    if (use_avx2()) {
        const uint8_t *const b[4] = { in[0], in[1], in[2], in[3] };
        prv_keccak256_x4_avx2(out, b, len);
        return;
    }
#endif
    for (int m = 0; m < 4; m++)
        prv_keccak256(out[m], in[m], len);
}

void prv_hash_leaves(prv_hash_id h, prv_digest *out, const prv_gl *rows, size_t n, size_t row_len)
{
    if (h == PRV_HASH_POSEIDON2) {
        prv_p2_hash_many(out->w, rows, n, row_len);
        return;
    }
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint8_t *const o[4] = { (uint8_t *)out[i].w, (uint8_t *)out[i + 1].w, (uint8_t *)out[i + 2].w,
                                (uint8_t *)out[i + 3].w };
        const void *const in[4] = { rows + i * row_len, rows + (i + 1) * row_len, rows + (i + 2) * row_len,
                                    rows + (i + 3) * row_len };
        prv_keccak256_x4(o, in, row_len * sizeof(prv_gl));
    }
    for (; i < n; i++)
        prv_hash_leaf(h, &out[i], rows + i * row_len, row_len);
}
