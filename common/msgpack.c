/*
 * common/msgpack.c — bounded reader for flat msgpack arrays (see msgpack.h).
 */
#include "common/msgpack.h"

#include <string.h>

static bool take(zk_mp_reader *r, uint64_t *out, size_t n)
{
    if (r->left < n)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    r->left -= n;
    *out = v;
    return true;
}

bool zk_mp_read_array(zk_mp_reader *r, uint64_t *n, const char **why)
{
    uint64_t b;
    if (!take(r, &b, 1)) {
        *why = "empty message";
        return false;
    }
    if (b >= 0x90 && b <= 0x9f) {
        *n = b & 0x0f;
        return true;
    }
    if (b == 0xdc || b == 0xdd) {
        if (!take(r, n, b == 0xdc ? 2 : 4)) {
            *why = "message ends early";
            return false;
        }
        return true;
    }
    *why = "message is not a msgpack array";
    return false;
}

bool zk_mp_read_item(zk_mp_reader *r, zk_mp_item *it, const char **why)
{
    uint64_t b, n = 0;
    *why = "message ends early";
    if (!take(r, &b, 1))
        return false;
    size_t lenbytes = 0;
    if (b <= 0x7f) {
        it->kind = ZK_MP_UINT;
        it->u = b;
        return true;
    }
    if (b >= 0xcc && b <= 0xcf) {
        it->kind = ZK_MP_UINT;
        return take(r, &it->u, (size_t)1 << (b - 0xcc));
    }
    if (b >= 0xa0 && b <= 0xbf) {
        it->kind = ZK_MP_STR;
        n = b & 0x1f;
    } else if (b >= 0xc4 && b <= 0xc6) {
        it->kind = ZK_MP_BIN;
        lenbytes = (size_t)1 << (b - 0xc4);
    } else if (b >= 0xd9 && b <= 0xdb) {
        it->kind = ZK_MP_STR;
        lenbytes = (size_t)1 << (b - 0xd9);
    } else {
        *why = "a msgpack type that is not allowed here (only unsigned integers, bin and str)";
        return false;
    }
    if (lenbytes && !take(r, &n, lenbytes))
        return false;
    if (n > r->left) {
        *why = "a bin or str longer than the bytes left";
        return false;
    }
    it->ptr = r->p;
    it->len = (size_t)n;
    r->p += n;
    r->left -= (size_t)n;
    return true;
}

bool zk_mp_read_flat(const uint8_t *buf, size_t len, zk_mp_item *items, size_t max_items, size_t *n,
                     const char **why)
{
    zk_mp_reader r = { .p = buf, .left = len };
    uint64_t count;
    *n = 0;
    if (!zk_mp_read_array(&r, &count, why))
        return false;
    if (count == 0 || count > max_items) {
        *why = "message array with a wrong number of elements";
        return false;
    }
    for (size_t i = 0; i < count; i++)
        if (!zk_mp_read_item(&r, &items[i], why))
            return false;
    if (r.left != 0) {
        *why = "bytes after the message";
        return false;
    }
    *n = (size_t)count;
    return true;
}

int zk_mp_sink_write(void *sink, const char *buf, size_t len)
{
    zk_mp_sink *s = sink;
    if (s->overflow || len > s->cap - s->len) {
        s->overflow = true;
        return -1;
    }
    memcpy(s->p + s->len, buf, len);
    s->len += len;
    return 0;
}
