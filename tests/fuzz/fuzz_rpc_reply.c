/* libFuzzer target: JSON-RPC replies from the execution client (outside data),
 * and the block and Deposit-log decoders applied to whatever they carry. */
#include <stdint.h>
#include <string.h>

#include "l1-watcher/l1w.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t bridge[20] = { 0x5f, 0xbd, 0xb2, 0x31, 0x56, 0x78, 0xaf, 0xec, 0xb3, 0x67,
                                        0xf0, 0x32, 0xd9, 0x3f, 0x64, 0x2f, 0x64, 0x18, 0x0a, 0xa3 };
    json_object *res = NULL;
    int code = 0;
    zk_error_detail err;
    zk_err rc = l1w_rpc_parse_reply(&res, &code, &err, (const char *)data, size, 1, 1 << 20);
    if (rc != ZK_OK) {
        /* Every failure explains itself. */
        if (err.code != rc || memchr(err.text, '\0', sizeof err.text) == NULL)
            __builtin_trap();
        return 0;
    }
    l1w_header h;
    l1w_deposit d;
    if (json_object_is_type(res, json_type_object)) {
        (void)l1w_header_decode(&h, &err, res);
        if (l1w_log_decode(&d, &err, res, bridge) == ZK_OK && (d.amount_gwei == 0 || d.amount_gwei >> 63))
            __builtin_trap();
    } else if (json_object_is_type(res, json_type_array)) {
        size_t n = json_object_array_length(res);
        for (size_t i = 0; i < n && i < 64; i++)
            if (l1w_log_decode(&d, &err, json_object_array_get_idx(res, i), bridge) == ZK_OK
                && (d.amount_gwei == 0 || d.amount_gwei >> 63))
                __builtin_trap();
    } else if (json_object_is_type(res, json_type_string)) {
        uint64_t q;
        (void)l1w_quantity_parse(&q, &err, json_object_get_string(res), (size_t)json_object_get_string_len(res));
    }
    json_object_put(res);
    return 0;
}
