#include "common/tx.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/hex.h"
#include "common/sig.h"

static const char *const field_names[] = {
    "type", "from", "to", "amount", "fee", "nonce", "signature",
};
#define NFIELDS (sizeof field_names / sizeof field_names[0])

/* A printable copy of an outside string for an error message: at most 32
 * characters, anything that is not plain printable ASCII (or would need
 * escaping) shown as '?'. */
static void printable(char out[40], const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0' && i < 32; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* Fetches field `name` as a JSON string: ZK_ERR_MISSING_FIELD or ZK_ERR_WRONG_TYPE. */
static zk_err get_string(const char **s, size_t *len, zk_error_detail *err,
                         const struct json_object *o, const char *name)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, name, &v))
        return zk_error_set(err, ZK_ERR_MISSING_FIELD, "field \"%s\" is missing", name);
    if (!json_object_is_type(v, json_type_string))
        return zk_error_set(err, ZK_ERR_WRONG_TYPE, "field \"%s\" must be a string, not %s", name,
                            json_type_to_name(json_object_get_type(v)));
    *s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    return ZK_OK;
}

static zk_err get_address(uint8_t out[20], zk_error_detail *err, const struct json_object *o,
                          const char *name)
{
    const char *s;
    size_t len;
    zk_err rc = get_string(&s, &len, err, o, name);
    if (rc != ZK_OK)
        return rc;
    zk_error_detail inner;
    rc = zk_address_parse(out, &inner, s, len);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "field \"%s\": %s", name, inner.text);
    return ZK_OK;
}

/* A canonical decimal string: 1..ZK_TX_DECIMAL_MAX digits, no leading zero
 * unless it is "0". *value saturates at UINT64_MAX (anything that large is a
 * range error for the caller, not a form error). */
static zk_err get_decimal(uint64_t *value, zk_error_detail *err, const struct json_object *o,
                          const char *name)
{
    const char *s;
    size_t len;
    zk_err rc = get_string(&s, &len, err, o, name);
    if (rc != ZK_OK)
        return rc;
    if (len == 0)
        return zk_error_set(err, ZK_ERR_BAD_NUMBER, "field \"%s\" is an empty string", name);
    if (len > ZK_TX_DECIMAL_MAX)
        return zk_error_set(err, ZK_ERR_BAD_NUMBER, "field \"%s\" has more than %d digits", name,
                            ZK_TX_DECIMAL_MAX);
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return zk_error_set(err, ZK_ERR_BAD_NUMBER,
                                "field \"%s\" must be a decimal string of digits only "
                                "(no sign, spaces, point or exponent)", name);
    if (s[0] == '0' && len > 1)
        return zk_error_set(err, ZK_ERR_BAD_NUMBER, "field \"%s\" has a leading zero", name);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            v = UINT64_MAX;
            break;
        }
        v = v * 10 + d;
    }
    *value = v;
    return ZK_OK;
}

/* json-c parses integer literals beyond int64 by saturating (to INT64_MIN,
 * INT64_MAX or, for positive ones, UINT64_MAX) and keeps them json_type_int;
 * reals (1.0, 1e3) are json_type_double. So: require json_type_int, then the
 * saturated value is out of range whichever way it saturated. */
static zk_err get_nonce(uint32_t *out, zk_error_detail *err, const struct json_object *o)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, "nonce", &v))
        return zk_error_set(err, ZK_ERR_MISSING_FIELD, "field \"nonce\" is missing");
    if (!json_object_is_type(v, json_type_int))
        return zk_error_set(err, ZK_ERR_WRONG_TYPE,
                            "field \"nonce\" must be an integer JSON number, not %s",
                            json_type_to_name(json_object_get_type(v)));
    int64_t n = json_object_get_int64(v);
    if (n < 0 || n > (int64_t)UINT32_MAX)
        return zk_error_set(err, ZK_ERR_OUT_OF_RANGE,
                            "field \"nonce\" must be in [0, 4294967295]");
    *out = (uint32_t)n;
    return ZK_OK;
}

zk_err zk_tx_check_range(const zk_tx *tx, zk_error_detail *err)
{
    if (tx->amount >= ZK_TX_AMOUNT_LIMIT)
        return zk_error_set(err, ZK_ERR_TX_RANGE, "field \"amount\" must be below 2^63");
    if (tx->fee >= ZK_TX_AMOUNT_LIMIT)
        return zk_error_set(err, ZK_ERR_TX_RANGE, "field \"fee\" must be below 2^63");
    if (tx->amount == 0)
        return zk_error_set(err, ZK_ERR_TX_RANGE, "field \"amount\" must be greater than 0");
    if (tx->amount + tx->fee >= ZK_TX_AMOUNT_LIMIT) /* both < 2^63: the sum cannot wrap */
        return zk_error_set(err, ZK_ERR_TX_RANGE, "amount + fee must be below 2^63");
    return ZK_OK;
}

zk_err zk_tx_decode_object(zk_tx *out, zk_error_detail *err, const struct json_object *params)
{
    if (params == NULL || !json_object_is_type(params, json_type_object))
        return zk_error_set(err, ZK_ERR_BAD_JSON, "transaction must be a JSON object, not %s",
                            json_type_to_name(json_object_get_type(params)));
    json_object_object_foreach((struct json_object *)params, key, val) {
        (void)val;
        bool known = false;
        for (size_t i = 0; i < NFIELDS && !known; i++)
            known = strcmp(key, field_names[i]) == 0;
        if (!known) {
            char shown[40];
            printable(shown, key);
            return zk_error_set(err, ZK_ERR_UNKNOWN_FIELD,
                                "unknown field \"%s\" (a transaction has type, from, to, "
                                "amount, fee, nonce, signature)", shown);
        }
    }

    zk_tx tx;
    memset(&tx, 0, sizeof tx);
    const char *type;
    size_t type_len;
    zk_err rc = get_string(&type, &type_len, err, params, "type");
    if (rc != ZK_OK)
        return rc;
    if (type_len == 8 && memcmp(type, "transfer", 8) == 0)
        tx.type = ZK_TX_TRANSFER;
    else if (type_len == 8 && memcmp(type, "withdraw", 8) == 0)
        tx.type = ZK_TX_WITHDRAW;
    else
        return zk_error_set(err, ZK_ERR_BAD_VALUE,
                            "field \"type\" must be \"transfer\" or \"withdraw\"");
    if ((rc = get_address(tx.from, err, params, "from")) != ZK_OK ||
        (rc = get_address(tx.to, err, params, "to")) != ZK_OK ||
        (rc = get_decimal(&tx.amount, err, params, "amount")) != ZK_OK ||
        (rc = get_decimal(&tx.fee, err, params, "fee")) != ZK_OK ||
        (rc = get_nonce(&tx.nonce, err, params)) != ZK_OK)
        return rc;
    const char *sig;
    size_t sig_len;
    if ((rc = get_string(&sig, &sig_len, err, params, "signature")) != ZK_OK)
        return rc;
    /* 0x-hex is the field's form (-32602); hex of another length than 65
     * bytes is a malformed signature (1001, SPEC §4), which comes after
     * the range. */
    zk_error_detail inner;
    bool sig_length_wrong = false;
    if ((rc = zk_hex_decode(tx.sig, sizeof tx.sig, &inner, sig, sig_len)) == ZK_ERR_BAD_LENGTH)
        sig_length_wrong = true;
    else if (rc != ZK_OK)
        return zk_error_set(err, rc, "field \"signature\": %s", inner.text);
    /* Form is fine everywhere; only now the range (SPEC §4 order). */
    if ((rc = zk_tx_check_range(&tx, err)) != ZK_OK)
        return rc;
    if (sig_length_wrong)
        return zk_error_set(err, ZK_ERR_SIG_MALFORMED,
                            "field \"signature\": %zu bytes, a signature is 65 (r, s, v)", (sig_len - 2) / 2);
    *out = tx;
    return ZK_OK;
}

zk_err zk_tx_decode_json(zk_tx *out, zk_error_detail *err, const char *json, size_t len)
{
    zk_err rc;
    struct json_tokener *tok = NULL;
    struct json_object *obj = NULL;
    if (len > ZK_TX_JSON_MAX)
        return zk_error_set(err, ZK_ERR_TOO_BIG, "transaction text of %zu bytes exceeds %d",
                            len, ZK_TX_JSON_MAX);
    if (len == 0)
        return zk_error_set(err, ZK_ERR_BAD_JSON, "not valid JSON: empty input");
    tok = json_tokener_new_ex(ZK_TX_JSON_DEPTH);
    if (tok == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "cannot allocate a JSON parser");
        goto cleanup;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (obj == NULL) {
        /* A complete document that is a bare number has no terminator yet:
         * json-c waits for more. Anything incomplete is malformed here. */
        rc = zk_error_set(err, ZK_ERR_BAD_JSON, "not valid JSON: %s",
                          jerr == json_tokener_continue ? "unexpected end of input"
                                                        : json_tokener_error_desc(jerr));
        goto cleanup;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r') {
            rc = zk_error_set(err, ZK_ERR_BAD_JSON, "not valid JSON: data after the object");
            goto cleanup;
        }
    }
    rc = zk_tx_decode_object(out, err, obj);
cleanup:
    json_object_put(obj);
    if (tok != NULL)
        json_tokener_free(tok);
    return rc;
}

void zk_tx_struct_hash(uint8_t out[32], const zk_tx *tx)
{
    if (tx->type == ZK_TX_WITHDRAW)
        zk_eip712_hash_withdraw(out, tx->from, tx->to, tx->amount, tx->fee, tx->nonce);
    else
        zk_eip712_hash_transfer(out, tx->from, tx->to, tx->amount, tx->fee, tx->nonce);
}

void zk_tx_hash(uint8_t out[32], const zk_tx *tx, const zk_eip712_domain *d)
{
    uint8_t sh[32];
    zk_tx_struct_hash(sh, tx);
    zk_eip712_digest(out, d, sh);
}

zk_err zk_tx_verify(const zk_tx *tx, const zk_eip712_domain *d, uint8_t hash[32],
                    zk_error_detail *err)
{
    zk_err rc = zk_tx_check_range(tx, err);
    if (rc != ZK_OK)
        return rc;
    uint8_t digest[32], signer[20];
    zk_tx_hash(digest, tx, d);
    if (hash != NULL)
        memcpy(hash, digest, 32);
    zk_error_detail inner;
    rc = zk_sig_recover(signer, &inner, digest, tx->sig);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "field \"signature\": %s", inner.text);
    if (memcmp(signer, tx->from, 20) != 0) {
        char got[43], want[43];
        zk_address_format(got, signer);
        zk_address_format(want, tx->from);
        return zk_error_set(err, ZK_ERR_SIG_WRONG_SIGNER,
                            "field \"signature\": recovers to %s, not to from %s", got, want);
    }
    return ZK_OK;
}

int zk_tx_rpc_code(zk_err code)
{
    switch (code) {
    case ZK_OK:
        return 0;
    case ZK_ERR_TOO_BIG:
    case ZK_ERR_BAD_JSON:
    case ZK_ERR_MISSING_FIELD:
    case ZK_ERR_WRONG_TYPE:
    case ZK_ERR_BAD_NUMBER:
    case ZK_ERR_OUT_OF_RANGE:
    case ZK_ERR_BAD_HEX:
    case ZK_ERR_BAD_LENGTH:
    case ZK_ERR_BAD_CHECKSUM:
    case ZK_ERR_BAD_VALUE:
    case ZK_ERR_UNKNOWN_FIELD:
        return -32602;
    case ZK_ERR_TX_RANGE:
        return 1004;
    case ZK_ERR_SIG_MALFORMED:
    case ZK_ERR_SIG_HIGH_S:
    case ZK_ERR_SIG_BAD_V:
    case ZK_ERR_SIG_NO_RECOVER:
    case ZK_ERR_SIG_WRONG_SIGNER:
        return 1001;
    case ZK_ERR_TX_NONCE:
        return 1002;
    case ZK_ERR_TX_BALANCE:
        return 1003;
    default:
        return -32603;
    }
}

const char *zk_tx_type_name(zk_tx_type type)
{
    return type == ZK_TX_WITHDRAW ? "withdraw" : "transfer";
}

/* Adds key: value to `o`, taking ownership of `v`; false when out of memory. */
static bool add(struct json_object *o, const char *key, struct json_object *v)
{
    if (v == NULL)
        return false;
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

static bool add_address(struct json_object *o, const char *key, const uint8_t addr[20])
{
    char s[43];
    zk_address_format(s, addr);
    return add(o, key, json_object_new_string(s));
}

static bool add_decimal(struct json_object *o, const char *key, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    return add(o, key, json_object_new_string(s));
}

/* The fields both encoders share, in SPEC order. */
static bool add_common(struct json_object *o, const zk_tx *tx)
{
    return add(o, "type", json_object_new_string(zk_tx_type_name(tx->type))) &&
           add_address(o, "from", tx->from) && add_address(o, "to", tx->to) &&
           add_decimal(o, "amount", tx->amount) && add_decimal(o, "fee", tx->fee) &&
           add(o, "nonce", json_object_new_int64(tx->nonce));
}

zk_err zk_tx_to_json(struct json_object **out, const zk_tx *tx, const uint8_t hash[32])
{
    char h[67];
    *out = NULL;
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return ZK_ERR_NOMEM;
    zk_hex_encode(h, hash, 32);
    if (!add(o, "hash", json_object_new_string(h)) || !add_common(o, tx)) {
        json_object_put(o);
        return ZK_ERR_NOMEM;
    }
    *out = o;
    return ZK_OK;
}

zk_err zk_tx_to_params(struct json_object **out, const zk_tx *tx)
{
    char s[2 * 65 + 3];
    *out = NULL;
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return ZK_ERR_NOMEM;
    zk_hex_encode(s, tx->sig, sizeof tx->sig);
    if (!add_common(o, tx) || !add(o, "signature", json_object_new_string(s))) {
        json_object_put(o);
        return ZK_ERR_NOMEM;
    }
    *out = o;
    return ZK_OK;
}
