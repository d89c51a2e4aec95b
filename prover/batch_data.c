/* prover/batch_data.c — a batch's public data, proving job and artifact:
 * their own consistency rules, the signatures they carry, and their
 * versioned, canonical, bounds-checked encodings (docs/prover.md, "Batch
 * files"). Everything here is pure and thread-safe. */
#include <stdlib.h>
#include <string.h>

#include "common/eip712.h"
#include "common/endian.h"
#include "common/keccak.h"
#include "common/tx.h"
#include "prover/airs/batch.h"
#include "prover/batch.h"

#define AMOUNT_LIMIT (UINT64_C(1) << 63) /* amount, fee, amount + fee, balances stay below */
#define FILE_HEADER 8                    /* magic, u16 version, u16 reserved */
#define OP_DEPOSIT_BYTES 61
#define OP_TRANSFER_BYTES 134
#define OP_WITHDRAW_BYTES 130

_Static_assert(OP_TRANSFER_BYTES == PRV_BATCH_OP_MAX_BYTES, "largest operation");
_Static_assert(4 + PRV_BATCH_ADDRESS + 8 + 4 + PRV_BATCH_TREE_DEPTH * PRV_BATCH_DIGEST * 8 == PRV_BATCH_UPDATE_V1_BYTES,
               "leaf update size");

/* ---- byte writer and reader ------------------------------------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t off;
} wbuf;

static void put_bytes(wbuf *w, const void *b, size_t n)
{
    memcpy(w->p + w->off, b, n);
    w->off += n;
}
static void put8(wbuf *w, uint8_t v) { w->p[w->off++] = v; }
static void put16(wbuf *w, uint16_t v)
{
    w->p[w->off++] = (uint8_t)v;
    w->p[w->off++] = (uint8_t)(v >> 8);
}
static void put32(wbuf *w, uint32_t v)
{
    zk_le_put32(w->p + w->off, v);
    w->off += 4;
}
static void put64(wbuf *w, uint64_t v)
{
    zk_le_put64(w->p + w->off, v);
    w->off += 8;
}

/* Reads never run past `len`: each get first checks the bytes are there. */
typedef struct rbuf {
    const uint8_t *p;
    size_t len, off;
} rbuf;

static bool have(const rbuf *r, size_t n) { return r->len - r->off >= n; }
static bool get_bytes(rbuf *r, void *out, size_t n)
{
    if (!have(r, n))
        return false;
    memcpy(out, r->p + r->off, n);
    r->off += n;
    return true;
}
static bool get8(rbuf *r, uint8_t *v) { return get_bytes(r, v, 1); }
static bool get16(rbuf *r, uint16_t *v)
{
    if (!have(r, 2))
        return false;
    *v = (uint16_t)(r->p[r->off] | r->p[r->off + 1] << 8);
    r->off += 2;
    return true;
}
static bool get32(rbuf *r, uint32_t *v)
{
    if (!have(r, 4))
        return false;
    *v = zk_le_get32(r->p + r->off);
    r->off += 4;
    return true;
}
static bool get64(rbuf *r, uint64_t *v)
{
    if (!have(r, 8))
        return false;
    *v = zk_le_get64(r->p + r->off);
    r->off += 8;
    return true;
}
static bool get_gl(rbuf *r, prv_gl *v) { return get64(r, v) && *v < PRV_GL_P; }

/* A reader over buf[0..len); buf may be NULL only when len is 0. */
static rbuf reader(const uint8_t *buf, size_t len)
{
    static const uint8_t none[1];
    if (buf == NULL && len != 0)
        ZK_PANIC("a NULL buffer with a length");
    return (rbuf){ buf ? buf : none, len, 0 };
}

/* Reads the header; accepts versions first .. last and stores the one read
 * in *version. */
static zk_err file_header_get(rbuf *r, const char *magic, const char *what, uint16_t first, uint16_t last,
                              uint16_t *version, zk_error_detail *err)
{
    uint8_t m[4];
    uint16_t reserved;
    if (!get_bytes(r, m, 4) || !get16(r, version) || !get16(r, &reserved))
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "%s: %zu bytes, shorter than its header", what, r->len);
    if (memcmp(m, magic, 4) != 0)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "%s: wrong magic", what);
    if (*version < first || *version > last) {
        if (first == last)
            return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "%s: version %u, this build reads %u", what,
                                (unsigned)*version, (unsigned)last);
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "%s: version %u, this build reads %u to %u", what,
                            (unsigned)*version, (unsigned)first, (unsigned)last);
    }
    if (reserved != 0)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "%s: reserved header bits set", what);
    return ZK_OK;
}

static void file_header_put(wbuf *w, const char *magic, uint16_t version)
{
    put_bytes(w, magic, 4);
    put16(w, version);
    put16(w, 0);
}

/* ---- counting ------------------------------------------------------------------ */

static bool has_fees(const prv_batch_public *pub)
{
    for (uint32_t i = 0; i < pub->nops; i++)
        if (pub->ops[i].fee != 0)
            return true;
    return false;
}

uint32_t prv_batch_count_updates(const prv_batch_public *pub)
{
    if (pub->ops == NULL)
        return 0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < pub->nops; i++) {
        switch (pub->ops[i].kind) {
        case PRV_OP_DEPOSIT:
        case PRV_OP_WITHDRAW:
            n += 1;
            break;
        case PRV_OP_TRANSFER:
            n += 2;
            break;
        default:
            break;
        }
    }
    if (has_fees(pub))
        n += 1;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* ---- consistency of the public data ------------------------------------------ */

/* id <-> address, both ways, for the accounts a batch touches. */
typedef struct acct_map {
    uint32_t *ids;       /* id + 1, 0 = empty */
    uint8_t (*addr)[PRV_BATCH_ADDRESS];
    uint32_t *by_addr;   /* index into ids/addr of the slot holding this address + 1 */
    uint32_t mask;
} acct_map;

static uint32_t mix32(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (uint32_t)x;
}

static uint32_t addr_hash(const uint8_t a[PRV_BATCH_ADDRESS])
{
    uint64_t x = 0, y = 0;
    memcpy(&x, a, 8);
    memcpy(&y, a + 8, 8);
    return mix32(x * UINT64_C(0x9e3779b97f4a7c15) ^ y ^ (uint64_t)zk_le_get32(a + 16) << 17);
}

/* Records that `id` has `address`. False when either is already paired
 * with something else. */
static bool acct_bind(acct_map *m, uint32_t id, const uint8_t address[PRV_BATCH_ADDRESS])
{
    uint32_t s = mix32(id) & m->mask;
    while (m->ids[s] != 0 && m->ids[s] != id + 1)
        s = (s + 1) & m->mask;
    if (m->ids[s] != 0)
        return memcmp(m->addr[s], address, PRV_BATCH_ADDRESS) == 0;
    uint32_t a = addr_hash(address) & m->mask;
    while (m->by_addr[a] != 0) {
        if (memcmp(m->addr[m->by_addr[a] - 1], address, PRV_BATCH_ADDRESS) == 0)
            return false; /* the address already belongs to another id */
        a = (a + 1) & m->mask;
    }
    m->ids[s] = id + 1;
    memcpy(m->addr[s], address, PRV_BATCH_ADDRESS);
    m->by_addr[a] = s + 1;
    return true;
}

static bool zero_bytes(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* An account reference of op i in a receiving position (`may_create`) or a
 * sending one. *next is the id the next new account gets. */
static zk_err account_ref(acct_map *m, uint32_t *next, uint32_t id, const uint8_t address[PRV_BATCH_ADDRESS],
                          bool may_create, const char *role, uint32_t i, zk_error_detail *err)
{
    if (id >= PRV_BATCH_ID_LIMIT)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: %s id %u is not below 2^30", i, role, id);
    if (id > *next || (id == *next && !may_create))
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT,
                            "operation %u: %s id %u does not exist (next new id %u)", i, role, id, *next);
    if (id == *next)
        (*next)++;
    if (!acct_bind(m, id, address))
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT,
                            "operation %u: %s id %u and its address disagree with an earlier operation", i, role, id);
    return ZK_OK;
}

zk_err prv_batch_public_check(const prv_batch_public *pub, zk_error_detail *err)
{
    if (pub->nops == 0 || pub->nops > PRV_BATCH_MAX_OPS || pub->ops == NULL)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%u operations (1 .. %u allowed)", pub->nops,
                            (unsigned)PRV_BATCH_MAX_OPS);
    if (pub->number == 0)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "batch number 0 (the genesis state has no batch)");
    for (int k = 0; k < PRV_BATCH_DIGEST; k++)
        if (pub->old_root[k] >= PRV_GL_P || pub->new_root[k] >= PRV_GL_P)
            return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "a state root word is not a field element");
    if (pub->old_accounts > PRV_BATCH_ID_LIMIT || pub->new_accounts > PRV_BATCH_ID_LIMIT)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "account counts %u, %u above 2^30", pub->old_accounts,
                            pub->new_accounts);
    if (pub->first_deposit_id > UINT64_MAX - pub->deposit_count)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "deposit id range overflows");

    zk_err rc = ZK_OK;
    size_t slots = 16;
    while (slots < 4 * ((size_t)pub->nops + 1))
        slots <<= 1;
    acct_map m = { calloc(slots, sizeof *m.ids), calloc(slots, sizeof *m.addr), calloc(slots, sizeof *m.by_addr),
                   (uint32_t)slots - 1 };
    if (m.ids == NULL || m.addr == NULL || m.by_addr == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "checking %u operations", pub->nops);
        goto cleanup;
    }
    uint32_t next = pub->old_accounts;
    uint64_t deposits = 0, fees = 0;
    for (uint32_t i = 0; i < pub->nops; i++) {
        const prv_batch_op *op = &pub->ops[i];
        if (op->kind != PRV_OP_DEPOSIT && op->kind != PRV_OP_TRANSFER && op->kind != PRV_OP_WITHDRAW) {
            rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: unknown kind %u", i, op->kind);
            goto cleanup;
        }
        if (op->amount == 0 || op->amount >= AMOUNT_LIMIT || op->fee >= AMOUNT_LIMIT ||
            op->amount + op->fee >= AMOUNT_LIMIT) {
            rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT,
                              "operation %u: amount %llu, fee %llu outside 1 <= amount, amount + fee < 2^63", i,
                              (unsigned long long)op->amount, (unsigned long long)op->fee);
            goto cleanup;
        }
        if (op->kind == PRV_OP_DEPOSIT) {
            if (op->from_id != 0 || op->fee != 0 || op->nonce != 0 || !zero_bytes(op->sig, sizeof op->sig)) {
                rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT,
                                  "operation %u: a deposit with a sender id, fee, nonce or signature", i);
                goto cleanup;
            }
            if (op->deposit_id != pub->first_deposit_id + deposits) {
                rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT,
                                  "operation %u: deposit id %llu, expected %llu (consecutive from %llu)", i,
                                  (unsigned long long)op->deposit_id,
                                  (unsigned long long)(pub->first_deposit_id + deposits),
                                  (unsigned long long)pub->first_deposit_id);
                goto cleanup;
            }
            deposits++;
            rc = account_ref(&m, &next, op->to_id, op->to, true, "receiver", i, err);
            if (rc != ZK_OK)
                goto cleanup;
            continue;
        }
        if (op->deposit_id != 0 || (op->kind == PRV_OP_WITHDRAW && op->to_id != 0)) {
            rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT,
                              "operation %u: a %s with a deposit id or an L2 receiver id", i,
                              op->kind == PRV_OP_TRANSFER ? "transfer" : "withdrawal");
            goto cleanup;
        }
        fees += op->fee; /* < 2^63 each, at most 2^16 of them: no overflow of u64 before the check */
        if (fees >= AMOUNT_LIMIT) {
            rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: the fees sum to 2^63 or more", i);
            goto cleanup;
        }
        rc = account_ref(&m, &next, op->from_id, op->from, false, "sender", i, err);
        if (rc == ZK_OK && op->kind == PRV_OP_TRANSFER)
            rc = account_ref(&m, &next, op->to_id, op->to, true, "receiver", i, err);
        if (rc != ZK_OK)
            goto cleanup;
    }
    if (deposits != pub->deposit_count) {
        rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "deposit_count %llu but the operations hold %llu deposits",
                          (unsigned long long)pub->deposit_count, (unsigned long long)deposits);
        goto cleanup;
    }
    if (fees > 0) {
        rc = account_ref(&m, &next, pub->operator_id, pub->operator_addr, true, "operator", pub->nops, err);
        if (rc != ZK_OK)
            goto cleanup;
    } else if (pub->operator_id != 0) {
        rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operator id %u in a batch without fees (must be 0)",
                          pub->operator_id);
        goto cleanup;
    }
    if (next != pub->new_accounts)
        rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "new_accounts %u but the operations create up to %u",
                          pub->new_accounts, next);
cleanup:
    free(m.ids);
    free(m.addr);
    free(m.by_addr);
    return rc;
}

/* ---- signatures ------------------------------------------------------------------ */

zk_err prv_batch_check_signatures(const prv_batch_public *pub, zk_error_detail *err)
{
    zk_eip712_domain d;
    zk_eip712_domain_zkcar(&d, pub->chain_id, pub->bridge);
    for (uint32_t i = 0; i < pub->nops; i++) {
        const prv_batch_op *op = &pub->ops[i];
        if (op->kind != PRV_OP_TRANSFER && op->kind != PRV_OP_WITHDRAW)
            continue;
        zk_tx tx = { .type = op->kind == PRV_OP_TRANSFER ? ZK_TX_TRANSFER : ZK_TX_WITHDRAW,
                     .amount = op->amount,
                     .fee = op->fee,
                     .nonce = op->nonce };
        memcpy(tx.from, op->from, sizeof tx.from);
        memcpy(tx.to, op->to, sizeof tx.to);
        memcpy(tx.sig, op->sig, sizeof tx.sig);
        zk_error_detail why = { 0 };
        zk_err rc = zk_tx_verify(&tx, &d, NULL, &why);
        if (rc != ZK_OK)
            return zk_error_set(err, rc, "operation %u (%s): %s", i, zk_tx_type_name(tx.type),
                                why.text[0] ? why.text : zk_strerror(rc));
    }
    return ZK_OK;
}

/* ---- public data encoding ------------------------------------------------------ */

static size_t op_bytes(uint8_t kind)
{
    switch (kind) {
    case PRV_OP_DEPOSIT:
        return OP_DEPOSIT_BYTES;
    case PRV_OP_TRANSFER:
        return OP_TRANSFER_BYTES;
    case PRV_OP_WITHDRAW:
        return OP_WITHDRAW_BYTES;
    default:
        return 0;
    }
}

/* Size of the public data's encoding, or 0 when it cannot be encoded
 * (operation count outside 1 .. PRV_BATCH_MAX_OPS, an unknown kind, a root
 * word that is not a field element). */
static size_t public_size(const prv_batch_public *pub)
{
    if (pub->nops == 0 || pub->nops > PRV_BATCH_MAX_OPS || pub->ops == NULL)
        return 0;
    for (int k = 0; k < PRV_BATCH_DIGEST; k++)
        if (pub->old_root[k] >= PRV_GL_P || pub->new_root[k] >= PRV_GL_P)
            return 0;
    size_t n = PRV_BATCH_PUBLIC_HEADER_BYTES;
    for (uint32_t i = 0; i < pub->nops; i++) {
        size_t b = op_bytes(pub->ops[i].kind);
        if (b == 0)
            return 0;
        n += b;
    }
    return n;
}

static void public_put(wbuf *w, const prv_batch_public *pub)
{
    file_header_put(w, PRV_BATCH_PUBLIC_MAGIC, PRV_BATCH_FORMAT_VERSION);
    put64(w, pub->chain_id);
    put_bytes(w, pub->bridge, PRV_BATCH_ADDRESS);
    put64(w, pub->number);
    for (int k = 0; k < PRV_BATCH_DIGEST; k++)
        put64(w, pub->old_root[k]);
    for (int k = 0; k < PRV_BATCH_DIGEST; k++)
        put64(w, pub->new_root[k]);
    put32(w, pub->old_accounts);
    put32(w, pub->new_accounts);
    put64(w, pub->first_deposit_id);
    put64(w, pub->deposit_count);
    put_bytes(w, pub->operator_addr, PRV_BATCH_ADDRESS);
    put32(w, pub->operator_id);
    put32(w, pub->nops);
    for (uint32_t i = 0; i < pub->nops; i++) {
        const prv_batch_op *op = &pub->ops[i];
        put8(w, op->kind);
        switch (op->kind) {
        case PRV_OP_DEPOSIT:
            put32(w, op->to_id);
            put_bytes(w, op->from, PRV_BATCH_ADDRESS);
            put_bytes(w, op->to, PRV_BATCH_ADDRESS);
            put64(w, op->amount);
            put64(w, op->deposit_id);
            break;
        case PRV_OP_TRANSFER:
        case PRV_OP_WITHDRAW:
            put32(w, op->from_id);
            if (op->kind == PRV_OP_TRANSFER)
                put32(w, op->to_id);
            put_bytes(w, op->from, PRV_BATCH_ADDRESS);
            put_bytes(w, op->to, PRV_BATCH_ADDRESS);
            put64(w, op->amount);
            put64(w, op->fee);
            put32(w, op->nonce);
            put_bytes(w, op->sig, sizeof op->sig);
            break;
        default:
            ZK_PANIC("public_put on an unchecked operation kind");
        }
    }
}

zk_err prv_batch_public_encode(const prv_batch_public *pub, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t n = public_size(pub);
    if (n == 0)
        return ZK_ERR_BAD_VALUE;
    wbuf w = { malloc(n), 0 };
    if (w.p == NULL)
        return ZK_ERR_NOMEM;
    public_put(&w, pub);
    if (w.off != n)
        ZK_PANIC("public data size mismatch");
    *out = w.p;
    *len = n;
    return ZK_OK;
}

/* Decodes the public data at r->off, which must span exactly `len` bytes. */
static zk_err public_get(prv_batch_public *pub, rbuf *outer, size_t len, zk_error_detail *err)
{
    memset(pub, 0, sizeof *pub);
    if (!have(outer, len))
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "public data: %zu bytes declared, %zu present", len,
                            outer->len - outer->off);
    rbuf r = { outer->p + outer->off, len, 0 };
    outer->off += len;
    if (len > PRV_BATCH_PUBLIC_MAX_BYTES)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "public data: %zu bytes, above the cap %zu", len,
                            (size_t)PRV_BATCH_PUBLIC_MAX_BYTES);
    uint16_t version;
    zk_err rc = file_header_get(&r, PRV_BATCH_PUBLIC_MAGIC, "public data", PRV_BATCH_FORMAT_VERSION,
                                PRV_BATCH_FORMAT_VERSION, &version, err);
    if (rc != ZK_OK)
        return rc;
    bool ok = get64(&r, &pub->chain_id) && get_bytes(&r, pub->bridge, PRV_BATCH_ADDRESS) && get64(&r, &pub->number);
    for (int k = 0; ok && k < PRV_BATCH_DIGEST; k++)
        ok = get_gl(&r, &pub->old_root[k]);
    for (int k = 0; ok && k < PRV_BATCH_DIGEST; k++)
        ok = get_gl(&r, &pub->new_root[k]);
    ok = ok && get32(&r, &pub->old_accounts) && get32(&r, &pub->new_accounts) &&
         get64(&r, &pub->first_deposit_id) && get64(&r, &pub->deposit_count) &&
         get_bytes(&r, pub->operator_addr, PRV_BATCH_ADDRESS) && get32(&r, &pub->operator_id) &&
         get32(&r, &pub->nops);
    if (!ok)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED,
                            "public data: header truncated or a state root word not below p");
    if (pub->nops == 0 || pub->nops > PRV_BATCH_MAX_OPS)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "public data: %u operations (1 .. %u allowed)", pub->nops,
                            (unsigned)PRV_BATCH_MAX_OPS);
    /* Every operation takes at least OP_DEPOSIT_BYTES: refuse a count the
     * bytes cannot hold before allocating for it. */
    if ((r.len - r.off) / OP_DEPOSIT_BYTES < pub->nops)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "public data: %u operations cannot fit in %zu bytes",
                            pub->nops, r.len - r.off);
    uint32_t nops = pub->nops;
    pub->ops = calloc(nops, sizeof *pub->ops);
    if (pub->ops == NULL) {
        pub->nops = 0;
        return zk_error_set(err, ZK_ERR_NOMEM, "public data: %u operations", nops);
    }
    for (uint32_t i = 0; i < nops; i++) {
        prv_batch_op *op = &pub->ops[i];
        if (!get8(&r, &op->kind))
            goto truncated;
        switch (op->kind) {
        case PRV_OP_DEPOSIT:
            ok = get32(&r, &op->to_id) && get_bytes(&r, op->from, PRV_BATCH_ADDRESS) &&
                 get_bytes(&r, op->to, PRV_BATCH_ADDRESS) && get64(&r, &op->amount) && get64(&r, &op->deposit_id);
            break;
        case PRV_OP_TRANSFER:
        case PRV_OP_WITHDRAW:
            ok = get32(&r, &op->from_id) && (op->kind == PRV_OP_WITHDRAW || get32(&r, &op->to_id)) &&
                 get_bytes(&r, op->from, PRV_BATCH_ADDRESS) && get_bytes(&r, op->to, PRV_BATCH_ADDRESS) &&
                 get64(&r, &op->amount) && get64(&r, &op->fee) && get32(&r, &op->nonce) &&
                 get_bytes(&r, op->sig, sizeof op->sig);
            break;
        default: {
            unsigned kind = op->kind;
            prv_batch_public_free(pub);
            return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "public data: operation %u has unknown kind %u", i,
                                kind);
        }
        }
        if (!ok)
            goto truncated;
    }
    if (r.off != r.len) {
        prv_batch_public_free(pub);
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "public data: %zu bytes after the last operation",
                            r.len - r.off);
    }
    return ZK_OK;
truncated:
    prv_batch_public_free(pub);
    return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "public data: truncated in an operation");
}

zk_err prv_batch_public_decode(prv_batch_public *pub, zk_error_detail *err, const uint8_t *buf, size_t len)
{
    rbuf r = reader(buf, len);
    return public_get(pub, &r, len, err);
}

void prv_batch_public_free(prv_batch_public *pub)
{
    if (pub == NULL)
        return;
    free(pub->ops);
    pub->ops = NULL;
    pub->nops = 0;
}

zk_err prv_batch_public_hash(const prv_batch_public *pub, uint8_t out[32])
{
    uint8_t *enc = NULL;
    size_t len = 0;
    zk_err rc = prv_batch_public_encode(pub, &enc, &len);
    if (rc != ZK_OK)
        return rc;
    zk_keccak256(out, enc, len);
    free(enc);
    return ZK_OK;
}

/* ---- the proving job ------------------------------------------------------------- */

/* Bit l of the mask of a version-2 update: sibling l is the empty subtree
 * of height l, and is not written. */
static uint32_t empty_mask(const prv_batch_update *up)
{
    uint32_t mask = 0;
    for (unsigned l = 0; l < PRV_BATCH_TREE_DEPTH; l++)
        if (memcmp(up->siblings[l], prv_batch_empty_hash(l), sizeof up->siblings[l]) == 0)
            mask |= UINT32_C(1) << l;
    return mask;
}

static size_t popcount32(uint32_t v) { return (size_t)__builtin_popcount(v); }

zk_err prv_batch_job_encode(const prv_batch_job *job, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t pn = public_size(&job->pub);
    if (pn == 0 || job->nupdates != prv_batch_count_updates(&job->pub) ||
        (job->nupdates > 0 && job->updates == NULL))
        return ZK_ERR_BAD_VALUE;
    _Static_assert(PRV_BATCH_TREE_DEPTH == 32, "one u32 mask bit per level");
    uint32_t *masks = malloc((job->nupdates ? job->nupdates : 1) * sizeof *masks);
    if (masks == NULL)
        return ZK_ERR_NOMEM;
    size_t n = FILE_HEADER + 4 + pn + 4;
    for (uint32_t u = 0; u < job->nupdates; u++) {
        const prv_batch_update *up = &job->updates[u];
        bool ok = up->old_balance < AMOUNT_LIMIT;
        for (int l = 0; ok && l < PRV_BATCH_TREE_DEPTH; l++)
            for (int k = 0; k < PRV_BATCH_DIGEST; k++)
                ok = ok && up->siblings[l][k] < PRV_GL_P;
        if (!ok) {
            free(masks);
            return ZK_ERR_BAD_VALUE;
        }
        masks[u] = empty_mask(up);
        n += PRV_BATCH_UPDATE_BYTES - popcount32(masks[u]) * PRV_BATCH_DIGEST * 8;
    }
    wbuf w = { malloc(n), 0 };
    if (w.p == NULL) {
        free(masks);
        return ZK_ERR_NOMEM;
    }
    file_header_put(&w, PRV_BATCH_JOB_MAGIC, PRV_BATCH_JOB_VERSION);
    put32(&w, (uint32_t)pn);
    public_put(&w, &job->pub);
    put32(&w, job->nupdates);
    for (uint32_t u = 0; u < job->nupdates; u++) {
        const prv_batch_update *up = &job->updates[u];
        put32(&w, up->id);
        put_bytes(&w, up->old_address, PRV_BATCH_ADDRESS);
        put64(&w, up->old_balance);
        put32(&w, up->old_nonce);
        put32(&w, masks[u]);
        for (int l = 0; l < PRV_BATCH_TREE_DEPTH; l++)
            if (!(masks[u] >> l & 1))
                for (int k = 0; k < PRV_BATCH_DIGEST; k++)
                    put64(&w, up->siblings[l][k]);
    }
    free(masks);
    if (w.off != n)
        ZK_PANIC("job size mismatch");
    *out = w.p;
    *len = n;
    return ZK_OK;
}

/* One leaf update of a job of `version`; false when malformed. A version-2
 * update is canonical: a sibling equal to its level's empty hash must be
 * given by the mask, never written out. */
static bool update_get(rbuf *r, uint16_t version, prv_batch_update *up)
{
    if (!get32(r, &up->id) || !get_bytes(r, up->old_address, PRV_BATCH_ADDRESS) || !get64(r, &up->old_balance) ||
        !get32(r, &up->old_nonce) || up->old_balance >= AMOUNT_LIMIT)
        return false;
    uint32_t mask = 0;
    if (version >= 2 && !get32(r, &mask))
        return false;
    for (unsigned l = 0; l < PRV_BATCH_TREE_DEPTH; l++) {
        if (mask >> l & 1) {
            memcpy(up->siblings[l], prv_batch_empty_hash(l), sizeof up->siblings[l]);
            continue;
        }
        for (int k = 0; k < PRV_BATCH_DIGEST; k++)
            if (!get_gl(r, &up->siblings[l][k]))
                return false;
        if (version >= 2 && memcmp(up->siblings[l], prv_batch_empty_hash(l), sizeof up->siblings[l]) == 0)
            return false;
    }
    return true;
}

zk_err prv_batch_job_decode(prv_batch_job *job, zk_error_detail *err, const uint8_t *buf, size_t len)
{
    memset(job, 0, sizeof *job);
    if (len > PRV_BATCH_JOB_MAX_BYTES)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "job: %zu bytes, above the cap %zu", len,
                            (size_t)PRV_BATCH_JOB_MAX_BYTES);
    rbuf r = reader(buf, len);
    uint16_t version;
    zk_err rc = file_header_get(&r, PRV_BATCH_JOB_MAGIC, "job", 1, PRV_BATCH_JOB_VERSION, &version, err);
    if (rc != ZK_OK)
        return rc;
    uint32_t pn;
    if (!get32(&r, &pn))
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "job: truncated before the public data");
    rc = public_get(&job->pub, &r, pn, err);
    if (rc != ZK_OK)
        return rc;
    uint32_t nup;
    if (!get32(&r, &nup)) {
        rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "job: truncated before the leaf updates");
        goto fail;
    }
    uint32_t want = prv_batch_count_updates(&job->pub);
    if (nup != want) {
        rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "job: %u leaf updates, the operations imply %u", nup, want);
        goto fail;
    }
    /* Checked before allocating for them: the bytes left hold nup updates. */
    size_t left = r.len - r.off;
    bool fits = version == 1 ? left % PRV_BATCH_UPDATE_V1_BYTES == 0 && left / PRV_BATCH_UPDATE_V1_BYTES == nup
                             : left / PRV_BATCH_UPDATE_MIN_BYTES >= nup && left / PRV_BATCH_UPDATE_BYTES <= nup;
    if (!fits) {
        rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "job: %zu bytes left for %u leaf updates (version %u)", left,
                          nup, (unsigned)version);
        goto fail;
    }
    job->updates = calloc(nup ? nup : 1, sizeof *job->updates);
    if (job->updates == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "job: %u leaf updates", nup);
        goto fail;
    }
    job->nupdates = nup;
    for (uint32_t u = 0; u < nup; u++) {
        if (!update_get(&r, version, &job->updates[u])) {
            rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED,
                              "job: leaf update %u is truncated, has a balance of 2^63 or more, a sibling word not "
                              "below p, or an empty subtree written out",
                              u);
            goto fail;
        }
    }
    if (r.off != r.len) {
        rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "job: %zu bytes after the last leaf update", r.len - r.off);
        goto fail;
    }
    return ZK_OK;
fail:
    prv_batch_job_free(job);
    return rc;
}

void prv_batch_job_free(prv_batch_job *job)
{
    if (job == NULL)
        return;
    prv_batch_public_free(&job->pub);
    free(job->updates);
    job->updates = NULL;
    job->nupdates = 0;
}

/* ---- the artifact ------------------------------------------------------------------ */

zk_err prv_batch_artifact_encode(const prv_batch_public *pub, const uint8_t *proof, size_t proof_len, uint8_t **out,
                                 size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t pn = public_size(pub);
    if (pn == 0 || proof_len == 0 || proof_len > PRV_BATCH_PROOF_MAX_BYTES || proof == NULL)
        return ZK_ERR_BAD_VALUE;
    size_t n = FILE_HEADER + 4 + pn + 32 + 4 + proof_len;
    wbuf w = { malloc(n), 0 };
    if (w.p == NULL)
        return ZK_ERR_NOMEM;
    file_header_put(&w, PRV_BATCH_ARTIFACT_MAGIC, PRV_BATCH_FORMAT_VERSION);
    put32(&w, (uint32_t)pn);
    size_t pub_off = w.off;
    public_put(&w, pub);
    uint8_t hash[32];
    zk_keccak256(hash, w.p + pub_off, pn);
    put_bytes(&w, hash, 32);
    put32(&w, (uint32_t)proof_len);
    put_bytes(&w, proof, proof_len);
    if (w.off != n)
        ZK_PANIC("artifact size mismatch");
    *out = w.p;
    *len = n;
    return ZK_OK;
}

zk_err prv_batch_artifact_decode(prv_batch_artifact *a, zk_error_detail *err, const uint8_t *buf, size_t len)
{
    memset(a, 0, sizeof *a);
    if (len > PRV_BATCH_ARTIFACT_MAX_BYTES)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "artifact: %zu bytes, above the cap %zu", len,
                            (size_t)PRV_BATCH_ARTIFACT_MAX_BYTES);
    rbuf r = reader(buf, len);
    uint16_t version;
    zk_err rc = file_header_get(&r, PRV_BATCH_ARTIFACT_MAGIC, "artifact", PRV_BATCH_FORMAT_VERSION,
                                PRV_BATCH_FORMAT_VERSION, &version, err);
    if (rc != ZK_OK)
        return rc;
    uint32_t pn, proof_len;
    if (!get32(&r, &pn))
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "artifact: truncated before the public data");
    size_t pub_off = r.off;
    rc = public_get(&a->pub, &r, pn, err);
    if (rc != ZK_OK)
        return rc;
    uint8_t want[32];
    if (!get_bytes(&r, a->pub_hash, 32) || !get32(&r, &proof_len)) {
        rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "artifact: truncated after the public data");
        goto fail;
    }
    zk_keccak256(want, buf + pub_off, pn);
    if (memcmp(want, a->pub_hash, 32) != 0) {
        rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "artifact: the public data does not match its Keccak-256");
        goto fail;
    }
    if (proof_len == 0 || proof_len > PRV_BATCH_PROOF_MAX_BYTES || r.len - r.off != proof_len) {
        rc = zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "artifact: proof of %u bytes declared, %zu present",
                          proof_len, r.len - r.off);
        goto fail;
    }
    a->proof = malloc(proof_len);
    if (a->proof == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "artifact: a proof of %u bytes", proof_len);
        goto fail;
    }
    memcpy(a->proof, buf + r.off, proof_len);
    a->proof_len = proof_len;
    return ZK_OK;
fail:
    prv_batch_artifact_free(a);
    return rc;
}

void prv_batch_artifact_free(prv_batch_artifact *a)
{
    if (a == NULL)
        return;
    prv_batch_public_free(&a->pub);
    free(a->proof);
    a->proof = NULL;
    a->proof_len = 0;
}
