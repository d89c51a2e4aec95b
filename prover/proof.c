/*
 * prover/proof.c — proof shape, encoding and bounds-checked decoding.
 */
#include "prover/proof.h"

#include "common/endian.h"

#include <stdlib.h>
#include <string.h>

#include "prover/ntt.h"

zk_err prv_proof_shape_of(prv_proof_shape *s, const prv_stark_params *params, unsigned log_n,
                          unsigned ncols)
{
    memset(s, 0, sizeof *s);
    if (!prv_hash_id_valid(params->hash) || params->log_blowup < 1 || params->log_blowup > 6 ||
        params->num_queries < 1 || params->num_queries > PRV_STARK_MAX_QUERIES ||
        params->grinding_bits > 30 || params->fri_log_arity < 1 || params->fri_log_arity > 4 ||
        params->fri_log_final > 10)
        return ZK_ERR_PRV_PARAMS;
    if (log_n < 2 || log_n > PRV_STARK_MAX_LOG_N || ncols < 1 || ncols > PRV_AIR_MAX_COLS)
        return ZK_ERR_PRV_SHAPE;
    if (log_n + params->log_blowup > PRV_NTT_MAX_LOG)
        return ZK_ERR_PRV_SHAPE;
    s->log_n = log_n;
    s->log_lde = log_n + params->log_blowup;
    s->ncols = ncols;
    s->log_arity = params->fri_log_arity;
    s->num_queries = params->num_queries;
    unsigned d = log_n, lde = s->log_lde, off = 0, L = 0;
    while (d > params->fri_log_final && d >= s->log_arity) {
        if (L >= PRV_PROOF_MAX_LAYERS)
            return ZK_ERR_PRV_SHAPE;
        s->layer_log_leaves[L] = lde - s->log_arity;
        s->layer_path_off[L] = off;
        off += s->layer_log_leaves[L];
        d -= s->log_arity;
        lde -= s->log_arity;
        L++;
    }
    s->nlayers = L;
    s->layer_path_total = off;
    s->log_final = d;
    return ZK_OK;
}

zk_err prv_proof_alloc(prv_proof *p)
{
    const prv_proof_shape *s = &p->shape;
    size_t q = s->num_queries, arity = (size_t)1 << s->log_arity;
    p->ood_cur = calloc(s->ncols, sizeof *p->ood_cur);
    p->ood_next = calloc(s->ncols, sizeof *p->ood_next);
    p->layer_roots = calloc(s->nlayers + 1, sizeof *p->layer_roots);
    p->final_coeffs = calloc((size_t)1 << s->log_final, sizeof *p->final_coeffs);
    p->trace_rows = calloc(q * s->ncols, sizeof *p->trace_rows);
    p->trace_paths = calloc(q * s->log_lde, sizeof *p->trace_paths);
    p->quot_rows = calloc(q * PRV_PROOF_NQUOT, sizeof *p->quot_rows);
    p->quot_paths = calloc(q * s->log_lde, sizeof *p->quot_paths);
    p->layer_vals = calloc(q * s->nlayers * arity + 1, sizeof *p->layer_vals);
    p->layer_paths = calloc(q * s->layer_path_total + 1, sizeof *p->layer_paths);
    if (!p->ood_cur || !p->ood_next || !p->layer_roots || !p->final_coeffs || !p->trace_rows ||
        !p->trace_paths || !p->quot_rows || !p->quot_paths || !p->layer_vals || !p->layer_paths) {
        prv_proof_free(p);
        return ZK_ERR_NOMEM;
    }
    return ZK_OK;
}

void prv_proof_free(prv_proof *p)
{
    free(p->ood_cur);
    free(p->ood_next);
    free(p->layer_roots);
    free(p->final_coeffs);
    free(p->trace_rows);
    free(p->trace_paths);
    free(p->quot_rows);
    free(p->quot_paths);
    free(p->layer_vals);
    free(p->layer_paths);
    p->ood_cur = p->ood_next = p->final_coeffs = p->layer_vals = NULL;
    p->layer_roots = p->trace_paths = p->quot_paths = p->layer_paths = NULL;
    p->trace_rows = p->quot_rows = NULL;
}

size_t prv_proof_encoded_size(const prv_proof_shape *s)
{
    size_t arity = (size_t)1 << s->log_arity;
    size_t body = 2 * 32 + (2 * (size_t)s->ncols + PRV_PROOF_NQUOT) * 24 + (size_t)s->nlayers * 32 +
                  ((size_t)1 << s->log_final) * 24 + 8;
    size_t per_query = (size_t)s->ncols * 8 + (size_t)s->log_lde * 32 + PRV_PROOF_NQUOT * 8 +
                       (size_t)s->log_lde * 32 + (size_t)s->nlayers * arity * 24 +
                       (size_t)s->layer_path_total * 32;
    return PRV_PROOF_HEADER_BYTES + body + s->num_queries * per_query;
}

/* ---- writer --------------------------------------------------------------- */

typedef struct writer {
    uint8_t *p;
} writer;

static void put_bytes(writer *w, const void *b, size_t n)
{
    memcpy(w->p, b, n);
    w->p += n;
}
static void put_u8(writer *w, uint8_t v) { put_bytes(w, &v, 1); }
static void put_u16(writer *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    put_bytes(w, b, 2);
}
static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    zk_le_put32(b, v);
    put_bytes(w, b, 4);
}
static void put_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    zk_le_put64(b, v);
    put_bytes(w, b, 8);
}
static void put_gls(writer *w, const prv_gl *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_u64(w, v[i]);
}
static void put_gl3s(writer *w, const prv_gl3 *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_gls(w, v[i].c, 3);
}
static void put_digests(writer *w, const prv_digest *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_gls(w, d[i].w, 4);
}

zk_err prv_proof_encode(const prv_proof *p, uint8_t **out, size_t *out_len)
{
    const prv_proof_shape *s = &p->shape;
    size_t len = prv_proof_encoded_size(s);
    uint8_t *buf = malloc(len);
    if (!buf)
        return ZK_ERR_NOMEM;
    writer w = { buf };
    put_bytes(&w, PRV_PROOF_MAGIC, 4);
    put_u16(&w, PRV_PROOF_VERSION);
    put_u8(&w, p->params.hash);
    put_u8(&w, p->params.log_blowup);
    put_u16(&w, p->params.num_queries);
    put_u8(&w, p->params.grinding_bits);
    put_u8(&w, p->params.fri_log_arity);
    put_u8(&w, p->params.fri_log_final);
    put_u32(&w, p->air_id);
    put_u8(&w, (uint8_t)s->log_n);
    put_u16(&w, (uint16_t)s->ncols);
    put_digests(&w, &p->trace_root, 1);
    put_digests(&w, &p->quot_root, 1);
    put_gl3s(&w, p->ood_cur, s->ncols);
    put_gl3s(&w, p->ood_next, s->ncols);
    put_gl3s(&w, p->ood_quot, PRV_PROOF_NQUOT);
    put_digests(&w, p->layer_roots, s->nlayers);
    put_gl3s(&w, p->final_coeffs, (size_t)1 << s->log_final);
    put_u64(&w, p->pow_nonce);
    size_t arity = (size_t)1 << s->log_arity;
    for (size_t q = 0; q < s->num_queries; q++) {
        put_gls(&w, p->trace_rows + q * s->ncols, s->ncols);
        put_digests(&w, p->trace_paths + q * s->log_lde, s->log_lde);
        put_gls(&w, p->quot_rows + q * PRV_PROOF_NQUOT, PRV_PROOF_NQUOT);
        put_digests(&w, p->quot_paths + q * s->log_lde, s->log_lde);
        for (unsigned i = 0; i < s->nlayers; i++) {
            put_gl3s(&w, p->layer_vals + (q * s->nlayers + i) * arity, arity);
            put_digests(&w, p->layer_paths + q * s->layer_path_total + s->layer_path_off[i],
                        s->layer_log_leaves[i]);
        }
    }
    if ((size_t)(w.p - buf) != len) {
        free(buf);
        return ZK_ERR_INTERNAL;
    }
    *out = buf;
    *out_len = len;
    return ZK_OK;
}

/* ---- reader: every get checks the remaining length ------------------------ */

typedef struct reader {
    const uint8_t *p, *end;
    int bad; /* 1 once a read ran past the end or met a non-canonical value */
} reader;

static const uint8_t *take(reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *b = r->p;
    r->p += n;
    return b;
}
static uint64_t get_le(reader *r, size_t n)
{
    const uint8_t *b = take(r, n);
    uint64_t v = 0;
    if (!b)
        return 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}
static prv_gl get_gl(reader *r)
{
    uint64_t v = get_le(r, 8);
    if (v >= PRV_GL_P) {
        r->bad = 1;
        return 0;
    }
    return v;
}
static void get_gls(reader *r, prv_gl *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = get_gl(r);
}
static void get_gl3s(reader *r, prv_gl3 *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        get_gls(r, v[i].c, 3);
}
static void get_digests(reader *r, prv_hash_id h, prv_digest *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            d[i].w[k] = h == PRV_HASH_POSEIDON2 ? get_gl(r) : get_le(r, 8);
}

zk_err prv_proof_decode(prv_proof *p, const uint8_t *in, size_t len, zk_error_detail *err)
{
    memset(p, 0, sizeof *p);
    if (len > PRV_PROOF_MAX_BYTES)
        return zk_error_set(err, ZK_ERR_TOO_BIG, "proof of %zu bytes exceeds the cap", len);
    reader r = { in, in + len, 0 };
    const uint8_t *magic = take(&r, 4);
    if (!magic || memcmp(magic, PRV_PROOF_MAGIC, 4) != 0)
        return zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "not a zkcar STARK proof (magic)");
    unsigned version = (unsigned)get_le(&r, 2);
    if (r.bad || version != PRV_PROOF_VERSION)
        return zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "proof version %u not supported", version);
    p->params.hash = (uint8_t)get_le(&r, 1);
    p->params.log_blowup = (uint8_t)get_le(&r, 1);
    p->params.num_queries = (uint16_t)get_le(&r, 2);
    p->params.grinding_bits = (uint8_t)get_le(&r, 1);
    p->params.fri_log_arity = (uint8_t)get_le(&r, 1);
    p->params.fri_log_final = (uint8_t)get_le(&r, 1);
    p->air_id = (uint32_t)get_le(&r, 4);
    unsigned log_n = (unsigned)get_le(&r, 1);
    unsigned ncols = (unsigned)get_le(&r, 2);
    if (r.bad)
        return zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "truncated proof header");
    if (prv_proof_shape_of(&p->shape, &p->params, log_n, ncols) != ZK_OK)
        return zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "proof header out of range");
    if (prv_proof_encoded_size(&p->shape) != len)
        return zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "proof length %zu, header implies %zu", len,
                            prv_proof_encoded_size(&p->shape));
    if (prv_proof_alloc(p) != ZK_OK)
        return zk_error_set(err, ZK_ERR_NOMEM, "proof arrays");
    const prv_proof_shape *s = &p->shape;
    prv_hash_id h = (prv_hash_id)p->params.hash;
    get_digests(&r, h, &p->trace_root, 1);
    get_digests(&r, h, &p->quot_root, 1);
    get_gl3s(&r, p->ood_cur, s->ncols);
    get_gl3s(&r, p->ood_next, s->ncols);
    get_gl3s(&r, p->ood_quot, PRV_PROOF_NQUOT);
    get_digests(&r, h, p->layer_roots, s->nlayers);
    get_gl3s(&r, p->final_coeffs, (size_t)1 << s->log_final);
    p->pow_nonce = get_le(&r, 8);
    size_t arity = (size_t)1 << s->log_arity;
    for (size_t q = 0; q < s->num_queries && !r.bad; q++) {
        get_gls(&r, p->trace_rows + q * s->ncols, s->ncols);
        get_digests(&r, h, p->trace_paths + q * s->log_lde, s->log_lde);
        get_gls(&r, p->quot_rows + q * PRV_PROOF_NQUOT, PRV_PROOF_NQUOT);
        get_digests(&r, h, p->quot_paths + q * s->log_lde, s->log_lde);
        for (unsigned i = 0; i < s->nlayers; i++) {
            get_gl3s(&r, p->layer_vals + (q * s->nlayers + i) * arity, arity);
            get_digests(&r, h, p->layer_paths + q * s->layer_path_total + s->layer_path_off[i],
                        s->layer_log_leaves[i]);
        }
    }
    if (r.bad || r.p != r.end) {
        prv_proof_free(p);
        return zk_error_set(err, ZK_ERR_PRV_PROOF_MALFORMED, "non-canonical field element or digest");
    }
    return ZK_OK;
}
