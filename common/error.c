#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *zk_strerror(zk_err code)
{
    switch (code) {
    case ZK_OK: return "success";
    case ZK_ERR_NOMEM: return "out of memory";
    case ZK_ERR_IO: return "I/O error";
    case ZK_ERR_TIMEOUT: return "timed out";
    case ZK_ERR_CLOSED: return "connection closed";
    case ZK_ERR_TOO_BIG: return "input too large";
    case ZK_ERR_USAGE: return "bad usage or configuration";
    case ZK_ERR_UNSUPPORTED: return "unsupported";
    case ZK_ERR_INTERNAL: return "internal error";
    case ZK_ERR_BAD_JSON: return "malformed JSON";
    case ZK_ERR_MISSING_FIELD: return "missing field";
    case ZK_ERR_WRONG_TYPE: return "wrong type";
    case ZK_ERR_BAD_NUMBER: return "not a decimal number";
    case ZK_ERR_OUT_OF_RANGE: return "out of range";
    case ZK_ERR_BAD_HEX: return "bad hex";
    case ZK_ERR_BAD_LENGTH: return "wrong length";
    case ZK_ERR_BAD_CHECKSUM: return "bad EIP-55 checksum";
    case ZK_ERR_BAD_VALUE: return "value not allowed";
    case ZK_ERR_UNKNOWN_FIELD: return "unknown field";
    case ZK_ERR_SIG_MALFORMED: return "malformed signature";
    case ZK_ERR_SIG_HIGH_S: return "signature has high s";
    case ZK_ERR_SIG_BAD_V: return "signature has bad v";
    case ZK_ERR_SIG_NO_RECOVER: return "signature does not recover";
    case ZK_ERR_SIG_WRONG_SIGNER: return "signature does not recover to sender";
    case ZK_ERR_TX_NONCE: return "wrong nonce";
    case ZK_ERR_TX_BALANCE: return "insufficient balance";
    case ZK_ERR_STATE_LOCKED: return "state is locked by another writer";
    case ZK_ERR_STATE_FULL: return "state capacity reached";
    case ZK_ERR_STATE_NO_REGION: return "no shared-memory state region";
    case ZK_ERR_STATE_BAD_REGION: return "incompatible shared-memory state region";
    case ZK_ERR_STATE_WRITER_FAILED: return "state writer stopped after a failed write";
    case ZK_ERR_LOG_TORN: return "torn log record";
    case ZK_ERR_LOG_BAD_RECORD: return "bad log record";
    case ZK_ERR_LOG_CORRUPT: return "corrupt write-ahead log";
    case ZK_ERR_SNAPSHOT_CORRUPT: return "corrupt snapshot";
    case ZK_ERR_TX_RANGE: return "amount or fee out of range";
    case ZK_ERR_PRV_PARAMS: return "proof parameters invalid or below the soundness bound";
    case ZK_ERR_PRV_SHAPE: return "trace or proof shape does not fit the statement";
    case ZK_ERR_PRV_TRACE: return "trace does not satisfy the AIR";
    case ZK_ERR_PRV_PROOF_MALFORMED: return "malformed proof";
    case ZK_ERR_PRV_PROOF_REJECTED: return "proof rejected";
    case ZK_ERR_BATCH_MALFORMED: return "malformed batch data";
    case ZK_ERR_BATCH_INCONSISTENT: return "inconsistent batch public data";
    case ZK_ERR_BATCH_WITNESS: return "batch witness does not match the state";
    case ZK_ERR_L1_RPC: return "L1 node returned an error";
    case ZK_ERR_L1_HTTP_STATUS: return "L1 node returned an unexpected HTTP status";
    case ZK_ERR_L1_RATE_LIMITED: return "L1 node is rate limiting (HTTP 429)";
    case ZK_ERR_L1_CHAIN_ID: return "L1 node is on the wrong chain";
    case ZK_ERR_L1_DEEP_REORG: return "L1 reorg deeper than the confirmation depth";
    case ZK_ERR_L1_DEPOSIT_GAP: return "gap in L1 deposit ids";
    case ZK_ERR_L1_BAD_REPLY: return "malformed JSON-RPC reply";
    case ZK_ERR_L1_RACE: return "L1 chain moved during a read";
    case ZK_ERR_L1_DATA_DIR: return "watcher data belongs to another chain or bridge";
    case ZK_ERR_STREAM_CHANGED: return "deposit stream id changed";
    case ZK_ERR_STREAM_PROTOCOL: return "deposit stream protocol violation";
    case ZK_ERR_SC_OVERLOADED: return "overloaded: the mempool is full, retry later";
    case ZK_ERR_SC_STOPPING: return "shutting down";
    case ZK_ERR_SC_STORE: return "sidecar store failure";
    case ZK_ERR_SC_DEPOSIT_ORDER: return "deposit out of order";
    case ZK_ERR_WORKER_PROTOCOL: return "proving worker protocol violation";
    }
    return "unknown error";
}

bool zk_err_is_retryable(zk_err code)
{
    return code == ZK_ERR_TIMEOUT || code == ZK_ERR_CLOSED || code == ZK_ERR_L1_RATE_LIMITED
           || code == ZK_ERR_L1_RACE || code == ZK_ERR_SC_OVERLOADED;
}

zk_err zk_error_set(zk_error_detail *d, zk_err code, const char *fmt, ...)
{
    if (d == NULL)
        return code;
    d->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->text, sizeof d->text, fmt, ap);
    va_end(ap);
    return code;
}

void zk_panic(const char *file, int line, const char *what)
{
    fprintf(stderr, "level=fatal msg=\"invariant broken\" what=\"%s\" at=%s:%d\n", what, file, line);
    fflush(stderr);
    abort();
}
