/* libFuzzer target: write-ahead log records (ipc/wal.h). The log is read
 * back from disk after crashes and disk faults, so its decoder treats it as
 * outside data: any bytes must give ZK_OK, ZK_ERR_LOG_TORN or
 * ZK_ERR_LOG_BAD_RECORD, and never a read past the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan flags any overread. */
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    size_t off = 0;
    /* Decode records back to back, as recovery scans a log. */
    while (off < size) {
        ipc_wal_record rec;
        zk_error_detail err;
        zk_err rc = ipc_wal_decode(&rec, buf + off, size - off, &err);
        if (rc != ZK_OK) {
            if (rc != ZK_ERR_LOG_TORN && rc != ZK_ERR_LOG_BAD_RECORD)
                abort();
            break;
        }
        if (rec.size == 0 || rec.size > size - off)
            abort();
        uint64_t sum = 0;
        for (uint32_t i = 0; i < rec.count; i++) {
            ipc_wal_op op;
            ipc_wal_entry(&rec, i, &op);
            if (op.balance > IPC_BALANCE_MAX)
                abort();
            sum += op.balance + op.id + op.nonce + op.address[19];
        }
        (void)sum;
        off += rec.size;
    }
    free(buf);
    return 0;
}
