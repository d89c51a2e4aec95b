/* libFuzzer target: zkcar_sendTransaction params (outside data from any HTTP
 * client) through zk_tx_decode_json, and the same bytes through the hex and
 * address parsers. A decoded transaction must re-encode and decode to itself,
 * and verification must answer (not crash) whatever the signature bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/hex.h"
#include "common/sig.h"
#include "common/tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan catches any read past the length. */
    char *text = malloc(size ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);

    zk_tx tx;
    zk_error_detail err;
    zk_err rc = zk_tx_decode_json(&tx, &err, text, size);
    if (rc == ZK_OK) {
        struct json_object *p = NULL;
        if (zk_tx_to_params(&p, &tx) != ZK_OK)
            abort();
        size_t len;
        const char *again = json_object_to_json_string_length(p, JSON_C_TO_STRING_PLAIN, &len);
        zk_tx back;
        if (zk_tx_decode_json(&back, &err, again, len) != ZK_OK ||
            memcmp(&back, &tx, sizeof tx) != 0)
            abort();
        json_object_put(p);
        static const uint8_t bridge[20] = { 1 };
        zk_eip712_domain d;
        zk_eip712_domain_zkcar(&d, 31337, bridge);
        uint8_t hash[32];
        rc = zk_tx_verify(&tx, &d, hash, &err);
        if (zk_tx_rpc_code(rc) != 1001 && rc != ZK_OK)
            abort();
    } else if (err.code != rc || memchr(err.text, '\0', sizeof err.text) == NULL) {
        abort();
    }

    uint8_t addr[20], buf[65];
    if (zk_address_parse(addr, &err, text, size) == ZK_OK) {
        char s[43];
        zk_address_format(s, addr);
        uint8_t back[20];
        if (zk_address_parse(back, &err, s, 42) != ZK_OK || memcmp(back, addr, 20) != 0)
            abort();
    }
    if (size <= 2 + 2 * sizeof buf)
        (void)!zk_hex_decode(buf, size > 2 ? (size - 2) / 2 : 0, &err, text, size);
    if (size == 65) {
        uint8_t digest[32] = { 0 };
        (void)!zk_sig_recover(addr, &err, digest, data);
    }
    free(text);
    return 0;
}
