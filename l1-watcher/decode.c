/*
 * l1-watcher/decode.c — reading blocks and Deposit logs out of JSON-RPC replies.
 *
 * Everything here is outside data: each field is looked up, type-checked and
 * length-checked, and a failure names the field.
 */
#include "l1-watcher/l1w.h"

#include <string.h>

#include "common/hex.h"

zk_err l1w_quantity_parse(uint64_t *out, zk_error_detail *err, const char *s, size_t len)
{
    if (len < 3 || s[0] != '0' || s[1] != 'x')
        return zk_error_set(err, ZK_ERR_BAD_HEX, "quantity is not 0x-prefixed hex");
    if (len - 2 > 16)
        return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "quantity above 64 bits");
    if (len > 3 && s[2] == '0')
        return zk_error_set(err, ZK_ERR_BAD_HEX, "quantity has a leading zero");
    uint64_t v = 0;
    for (size_t i = 2; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return zk_error_set(err, ZK_ERR_BAD_HEX, "quantity has a non-hex character");
        v = v << 4 | d;
    }
    *out = v;
    return ZK_OK;
}

static zk_err get_string(const char **s, size_t *len, zk_error_detail *err, const json_object *o,
                         const char *name)
{
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || json_object_is_type(v, json_type_null))
        return zk_error_set(err, ZK_ERR_MISSING_FIELD, "field \"%s\" is missing", name);
    if (!json_object_is_type(v, json_type_string))
        return zk_error_set(err, ZK_ERR_WRONG_TYPE, "field \"%s\" is not a string", name);
    *s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    return ZK_OK;
}

static zk_err get_quantity(uint64_t *out, zk_error_detail *err, const json_object *o, const char *name)
{
    const char *s = NULL;
    size_t len = 0;
    zk_err rc = get_string(&s, &len, err, o, name);
    if (rc != ZK_OK)
        return rc;
    zk_error_detail d;
    rc = l1w_quantity_parse(out, &d, s, len);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "field \"%s\": %s", name, d.text);
    return ZK_OK;
}

static zk_err get_bytes(uint8_t *out, size_t n, zk_error_detail *err, const json_object *o,
                        const char *name)
{
    const char *s = NULL;
    size_t len = 0;
    zk_err rc = get_string(&s, &len, err, o, name);
    if (rc != ZK_OK)
        return rc;
    zk_error_detail d;
    rc = zk_hex_decode(out, n, &d, s, len);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "field \"%s\": %s", name, d.text);
    return ZK_OK;
}

zk_err l1w_header_decode(l1w_header *out, zk_error_detail *err, const json_object *block)
{
    if (block == NULL || !json_object_is_type(block, json_type_object))
        return zk_error_set(err, ZK_ERR_WRONG_TYPE, "block is not an object");
    zk_err rc = get_quantity(&out->number, err, block, "number");
    if (rc == ZK_OK)
        rc = get_bytes(out->hash, 32, err, block, "hash");
    if (rc == ZK_OK)
        rc = get_bytes(out->parent_hash, 32, err, block, "parentHash");
    return rc;
}

zk_err l1w_log_decode(l1w_deposit *out, zk_error_detail *err, const json_object *log,
                      const uint8_t bridge[20])
{
    if (log == NULL || !json_object_is_type(log, json_type_object))
        return zk_error_set(err, ZK_ERR_WRONG_TYPE, "log is not an object");
    uint8_t addr[20];
    zk_err rc = get_bytes(addr, 20, err, log, "address");
    if (rc != ZK_OK)
        return rc;
    if (memcmp(addr, bridge, 20) != 0)
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "log of another contract");
    json_object *topics;
    if (!json_object_object_get_ex(log, "topics", &topics))
        return zk_error_set(err, ZK_ERR_MISSING_FIELD, "field \"topics\" is missing");
    if (!json_object_is_type(topics, json_type_array))
        return zk_error_set(err, ZK_ERR_WRONG_TYPE, "field \"topics\" is not an array");
    if (json_object_array_length(topics) != 4)
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "Deposit log with %zu topics, not 4",
                            json_object_array_length(topics));
    uint8_t t[4][32];
    for (size_t i = 0; i < 4; i++) {
        json_object *tv = json_object_array_get_idx(topics, i);
        if (!json_object_is_type(tv, json_type_string))
            return zk_error_set(err, ZK_ERR_WRONG_TYPE, "topic %zu is not a string", i);
        zk_error_detail d;
        rc = zk_hex_decode(t[i], 32, &d, json_object_get_string(tv),
                           (size_t)json_object_get_string_len(tv));
        if (rc != ZK_OK)
            return zk_error_set(err, rc, "topic %zu: %s", i, d.text);
    }
    uint8_t want[32];
    if (zk_hex_decode(want, 32, NULL, "0x" L1W_DEPOSIT_TOPIC_HEX, 66) != ZK_OK)
        ZK_PANIC("L1W_DEPOSIT_TOPIC_HEX");
    if (memcmp(t[0], want, 32) != 0)
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "topic 0 is not the Deposit event");
    /* depositId: uint64 in a 32-byte word; from, to: addresses (12 zero bytes first). */
    for (size_t i = 0; i < 24; i++)
        if (t[1][i] != 0)
            return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "depositId above 64 bits");
    for (size_t k = 2; k <= 3; k++)
        for (size_t i = 0; i < 12; i++)
            if (t[k][i] != 0)
                return zk_error_set(err, ZK_ERR_BAD_VALUE, "topic %zu is not an address", k);
    uint64_t id = 0;
    for (size_t i = 24; i < 32; i++)
        id = id << 8 | t[1][i];
    uint8_t data[32];
    rc = get_bytes(data, 32, err, log, "data");
    if (rc != ZK_OK)
        return rc;
    for (size_t i = 0; i < 24; i++)
        if (data[i] != 0)
            return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "amountGwei above 64 bits");
    uint64_t amount = 0;
    for (size_t i = 24; i < 32; i++)
        amount = amount << 8 | data[i];
    if (amount == 0 || amount >> 63)
        return zk_error_set(err, ZK_ERR_OUT_OF_RANGE, "amountGwei %llu outside 1..2^63-1",
                            (unsigned long long)amount);
    l1w_deposit d = { .deposit_id = id, .amount_gwei = amount };
    memcpy(d.from, t[2] + 12, 20);
    memcpy(d.to, t[3] + 12, 20);
    rc = get_quantity(&d.block_number, err, log, "blockNumber");
    if (rc == ZK_OK)
        rc = get_quantity(&d.log_index, err, log, "logIndex");
    if (rc == ZK_OK)
        rc = get_bytes(d.block_hash, 32, err, log, "blockHash");
    if (rc == ZK_OK)
        rc = get_bytes(d.tx_hash, 32, err, log, "transactionHash");
    if (rc != ZK_OK)
        return rc;
    *out = d;
    return ZK_OK;
}
