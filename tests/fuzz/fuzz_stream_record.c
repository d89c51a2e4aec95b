/* libFuzzer target: frames of the deposit stream (msgpack, from a ZeroMQ peer).
 * A frame that decodes must re-encode to a frame that decodes to the same message. */
#include <stdint.h>
#include <string.h>

#include "l1-watcher/l1w.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    l1w_msg m, back;
    zk_error_detail err;
    zk_err rc = l1w_msg_decode(&m, &err, data, size);
    if (rc != ZK_OK)
        return 0;
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    if (l1w_msg_encode(buf, sizeof buf, &len, &m) != ZK_OK)
        __builtin_trap();
    if (l1w_msg_decode(&back, &err, buf, len) != ZK_OK || memcmp(&m, &back, sizeof m) != 0)
        __builtin_trap();
    return 0;
}
