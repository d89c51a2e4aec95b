/* libFuzzer target: frames of the proving-job protocol (sidecar/dist.h), outside
 * data from any ZeroMQ peer of the dispatcher or of a worker. A frame that
 * decodes must re-encode to the same bytes (the encoding is canonical for what
 * the decoder accepts, except integer widths) and decode to the same message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/dist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_dist_msg m, back;
    zk_error_detail err;
    if (sc_dist_msg_decode(&m, &err, data, size) != ZK_OK)
        return 0;
    if (m.payload_len > 0 && (m.payload < data || m.payload + m.payload_len > data + size))
        __builtin_trap(); /* the payload must point into the frame */
    size_t cap = sc_dist_msg_encoded_max(&m), len;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return 0;
    if (sc_dist_msg_encode(buf, cap, &len, &m) != ZK_OK)
        __builtin_trap();
    if (len > size) /* msgpack-c picks the shortest form of each integer and length */
        __builtin_trap();
    if (sc_dist_msg_decode(&back, &err, buf, len) != ZK_OK)
        __builtin_trap();
    if (back.type != m.type || back.version != m.version || back.capacity != m.capacity
        || back.heartbeat_ms != m.heartbeat_ms || back.timeout_ms != m.timeout_ms || back.attempt != m.attempt
        || back.batch != m.batch || memcmp(&back.params, &m.params, sizeof m.params) != 0 || back.code != m.code
        || back.prove_ms != m.prove_ms || strcmp(back.text, m.text) != 0 || back.payload_len != m.payload_len
        || (m.payload_len && memcmp(back.payload, m.payload, m.payload_len) != 0))
        __builtin_trap();
    free(buf);
    return 0;
}
