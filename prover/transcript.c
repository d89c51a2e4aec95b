/*
 * prover/transcript.c — Keccak-256 Fiat–Shamir transcript and grinding.
 */
#include "prover/transcript.h"

#include <stdatomic.h>
#include <string.h>

#include "prover/parallel.h"

#define TAG_SQUEEZE 0xff
#define TAG_POW 0xfe
#define ABSORB_CHUNK 4096

void prv_transcript_init(prv_transcript *t, const char *label)
{
    memset(t, 0, sizeof *t);
    prv_keccak256(t->state, label, strlen(label));
}

void prv_transcript_absorb(prv_transcript *t, uint8_t tag, const void *data, size_t len)
{
    /* keccak(state || tag || len || data), streamed through a bounded buffer:
     * hash chunks of data one after the other so no allocation is needed. */
    const uint8_t *p = data;
    uint8_t buf[32 + 1 + 8 + ABSORB_CHUNK];
    size_t off = 0;
    do {
        size_t n = len - off < ABSORB_CHUNK ? len - off : ABSORB_CHUNK;
        uint64_t l = len;
        memcpy(buf, t->state, 32);
        buf[32] = tag;
        memcpy(buf + 33, &l, 8);
        if (n)
            memcpy(buf + 41, p + off, n);
        prv_keccak256(t->state, buf, 41 + n);
        off += n;
    } while (off < len);
    t->counter = 0;
    t->npool = 0;
}

void prv_transcript_absorb_u64(prv_transcript *t, uint8_t tag, uint64_t v)
{
    prv_transcript_absorb(t, tag, &v, sizeof v);
}

void prv_transcript_absorb_digest(prv_transcript *t, const prv_digest *d)
{
    prv_transcript_absorb(t, 'D', d->w, sizeof d->w);
}

void prv_transcript_absorb_gl3s(prv_transcript *t, const prv_gl3 *v, size_t n)
{
    prv_transcript_absorb(t, 'E', v, n * sizeof *v);
}

uint64_t prv_transcript_u64(prv_transcript *t)
{
    if (t->npool == 0) {
        uint8_t buf[32 + 1 + 8];
        memcpy(buf, t->state, 32);
        buf[32] = TAG_SQUEEZE;
        memcpy(buf + 33, &t->counter, 8);
        t->counter++;
        uint8_t out[32];
        prv_keccak256(out, buf, sizeof buf);
        memcpy(t->pool, out, 32);
        t->npool = 4;
    }
    return t->pool[4 - t->npool--];
}

prv_gl prv_transcript_gl(prv_transcript *t)
{
    for (;;) {
        uint64_t v = prv_transcript_u64(t);
        if (v < PRV_GL_P)
            return v;
    }
}

prv_gl3 prv_transcript_gl3(prv_transcript *t)
{
    prv_gl3 r;
    for (int i = 0; i < 3; i++)
        r.c[i] = prv_transcript_gl(t);
    return r;
}

uint64_t prv_transcript_index(prv_transcript *t, unsigned log_n)
{
    uint64_t v = prv_transcript_u64(t);
    return log_n == 0 ? 0 : v & ((1ULL << log_n) - 1);
}

static int pow_word_ok(const uint8_t digest[32], unsigned bits)
{
    uint64_t w;
    memcpy(&w, digest, 8);
    return (w >> (64 - bits)) == 0;
}

int prv_transcript_pow_ok(const prv_transcript *t, unsigned bits, uint64_t nonce)
{
    if (bits == 0)
        return 1;
    uint8_t buf[32 + 1 + 8], out[32];
    memcpy(buf, t->state, 32);
    buf[32] = TAG_POW;
    memcpy(buf + 33, &nonce, 8);
    prv_keccak256(out, buf, sizeof buf);
    return pow_word_ok(out, bits);
}

struct pow_ctx {
    const prv_transcript *t;
    unsigned bits;
    uint64_t base;
    _Atomic uint64_t best;
};

static void pow_range(void *vctx, size_t begin, size_t end)
{
    struct pow_ctx *c = vctx;
    if (c->bits == 0) {
        uint64_t cur = atomic_load(&c->best), nonce = c->base + begin;
        while (nonce < cur && !atomic_compare_exchange_weak(&c->best, &cur, nonce)) {
        }
        return;
    }
    /* Four candidates per 4-way Keccak call, checked in increasing order. */
    uint8_t buf[4][32 + 1 + 8], out[4][32];
    uint8_t *const o[4] = { out[0], out[1], out[2], out[3] };
    const void *const in[4] = { buf[0], buf[1], buf[2], buf[3] };
    for (int m = 0; m < 4; m++) {
        memcpy(buf[m], c->t->state, 32);
        buf[m][32] = TAG_POW;
    }
    for (size_t i = begin; i < end; i += 4) {
        uint64_t nonce0 = c->base + i;
        if (nonce0 >= atomic_load_explicit(&c->best, memory_order_relaxed))
            return;
        for (int m = 0; m < 4; m++) {
            uint64_t nonce = nonce0 + (uint64_t)m;
            memcpy(buf[m] + 33, &nonce, 8);
        }
        prv_keccak256_x4(o, in, sizeof buf[0]);
        for (int m = 0; m < 4 && i + (size_t)m < end; m++) {
            if (pow_word_ok(out[m], c->bits)) {
                uint64_t nonce = nonce0 + (uint64_t)m;
                uint64_t cur = atomic_load(&c->best);
                while (nonce < cur && !atomic_compare_exchange_weak(&c->best, &cur, nonce)) {
                }
                return;
            }
        }
    }
}

uint64_t prv_transcript_pow_search(const prv_transcript *t, unsigned bits)
{
    struct pow_ctx c = { .t = t, .bits = bits, .base = 0 };
    atomic_init(&c.best, UINT64_MAX);
    const size_t window = (size_t)1 << 16;
    for (;;) {
        prv_parallel_for(window, 1024, pow_range, &c);
        uint64_t b = atomic_load(&c.best);
        if (b != UINT64_MAX)
            return b;
        c.base += window;
    }
}
