/*
 * common/error.h — the one error enum of zkcar.
 *
 * Every fallible function returns a zk_err. Values are stable and explicitly
 * numbered: logs, metrics and tests refer to them, so a retired number is never
 * reused. Ranges: 1–19 general, 20–39 decoding of outside data, 40–49
 * signatures, 50–59 transaction validity; later modules take 100–199 (state),
 * 200–299 (prover), 300–399 (L1 watcher), 400–499 (sidecar).
 *
 * Three kinds of failure are kept apart (house style):
 *   - bad outside data (RPC replies, API requests, frames, files) -> a zk_err
 *     and a message that says what was wrong (zk_error_detail);
 *   - a caller's bug -> assert();
 *   - a broken invariant -> zk_panic(), which aborts loudly.
 * Retryable conditions (ZK_ERR_TIMEOUT, ZK_ERR_CLOSED) and fatal ones are
 * different codes; zk_err_is_retryable() says which.
 */
#ifndef ZKCAR_COMMON_ERROR_H
#define ZKCAR_COMMON_ERROR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum zk_err {
    ZK_OK = 0,

    /* general */
    ZK_ERR_NOMEM = 1,          /* allocation failed */
    ZK_ERR_IO = 2,             /* a system call failed; errno-derived text in the detail */
    ZK_ERR_TIMEOUT = 3,        /* retryable: the peer did not answer in time */
    ZK_ERR_CLOSED = 4,         /* retryable: the peer went away */
    ZK_ERR_TOO_BIG = 5,        /* input exceeds a named cap */
    ZK_ERR_USAGE = 6,          /* bad command line or configuration (exit 2) */
    ZK_ERR_UNSUPPORTED = 7,    /* a version or feature this build does not know */
    ZK_ERR_INTERNAL = 8,       /* should not happen; reported, not asserted */

    /* decoding of outside data */
    ZK_ERR_BAD_JSON = 20,      /* not JSON, or not the JSON shape expected */
    ZK_ERR_MISSING_FIELD = 21, /* a required field is absent */
    ZK_ERR_WRONG_TYPE = 22,    /* a field has the wrong JSON type */
    ZK_ERR_BAD_NUMBER = 23,    /* not a canonical decimal number */
    ZK_ERR_OUT_OF_RANGE = 24,  /* a number outside its allowed range */
    ZK_ERR_BAD_HEX = 25,       /* not 0x-prefixed hex, or odd digit count */
    ZK_ERR_BAD_LENGTH = 26,    /* hex of the wrong byte length */
    ZK_ERR_BAD_CHECKSUM = 27,  /* mixed-case address whose EIP-55 checksum is wrong */
    ZK_ERR_BAD_VALUE = 28,     /* a well-typed value that is not allowed (e.g. unknown tx type) */
    ZK_ERR_UNKNOWN_FIELD = 29, /* an object field the format does not define */

    /* signatures */
    ZK_ERR_SIG_MALFORMED = 40, /* r or s zero or >= n, or unparsable */
    ZK_ERR_SIG_HIGH_S = 41,    /* s > n/2: malleable form, rejected */
    ZK_ERR_SIG_BAD_V = 42,     /* v not in {0, 1, 27, 28} */
    ZK_ERR_SIG_NO_RECOVER = 43,/* no public key recovers from this signature */
    ZK_ERR_SIG_WRONG_SIGNER = 44, /* recovers, but not to the claimed sender */

    /* transaction validity against the state */
    ZK_ERR_TX_NONCE = 50,      /* nonce is not the account's next nonce */
    ZK_ERR_TX_BALANCE = 51,    /* amount + fee exceeds the balance */

    /* state (ipc/) */
    ZK_ERR_STATE_LOCKED = 100,        /* another live writer holds the data directory's lease */
    ZK_ERR_STATE_FULL = 101,          /* the region's account capacity is reached */
    ZK_ERR_STATE_NO_REGION = 102,     /* no shared-memory region for this data directory */
    ZK_ERR_STATE_BAD_REGION = 103,    /* region header: wrong magic, format or struct sizes */
    ZK_ERR_STATE_WRITER_FAILED = 104, /* a failed write or fsync stopped the writer */
    ZK_ERR_LOG_TORN = 105,            /* a log record is incomplete (a torn tail) */
    ZK_ERR_LOG_BAD_RECORD = 106,      /* a log record fails its checksum or format */
    ZK_ERR_LOG_CORRUPT = 107,         /* a bad log record followed by valid ones: stop */
    ZK_ERR_SNAPSHOT_CORRUPT = 108,    /* a snapshot file fails its checksum or format */
    ZK_ERR_TX_RANGE = 52,      /* amount or fee >= 2^63, amount 0, or amount + fee >= 2^63 */

    /* STARK (prover/stark.h) */
    ZK_ERR_PRV_PARAMS = 220,          /* proof parameters invalid or below the soundness bound */
    ZK_ERR_PRV_SHAPE = 221,           /* trace or proof shape does not fit the AIR or statement */
    ZK_ERR_PRV_TRACE = 222,           /* the trace does not satisfy the AIR (prover refuses) */
    ZK_ERR_PRV_PROOF_MALFORMED = 223, /* proof bytes do not decode (version, length, encoding) */
    ZK_ERR_PRV_PROOF_REJECTED = 224,  /* a well-formed proof that does not verify */

    /* batches (prover/batch.h) */
    ZK_ERR_BATCH_MALFORMED = 230,     /* batch public data, job or artifact bytes do not decode */
    ZK_ERR_BATCH_INCONSISTENT = 231,  /* public data breaks its own rules (ids, deposit range, counts) */
    ZK_ERR_BATCH_WITNESS = 232,       /* a job's witnesses do not chain from the old root */

    /* L1 watcher (l1-watcher/l1w.h) */
    ZK_ERR_L1_RPC = 300,           /* the node answered with a JSON-RPC error object */
    ZK_ERR_L1_HTTP_STATUS = 301,   /* the node answered an HTTP status other than 200 */
    ZK_ERR_L1_RATE_LIMITED = 302,  /* retryable: HTTP 429 from the node or its provider */
    ZK_ERR_L1_CHAIN_ID = 303,      /* eth_chainId is not the configured chain */
    ZK_ERR_L1_DEEP_REORG = 304,    /* fatal: a reorg reached a block already confirmed */
    ZK_ERR_L1_DEPOSIT_GAP = 305,   /* fatal: deposit ids not dense (a gap or a repeat) */
    ZK_ERR_L1_BAD_REPLY = 306,     /* a JSON reply that is not the JSON-RPC shape expected */
    ZK_ERR_L1_RACE = 307,          /* retryable: the chain moved between two calls */
    ZK_ERR_L1_DATA_DIR = 308,      /* the outbox belongs to another chain, bridge or start block */
    ZK_ERR_STREAM_CHANGED = 320,   /* fatal: the producer's stream id changed (outbox wiped) */
    ZK_ERR_STREAM_PROTOCOL = 321,  /* a stream peer broke the protocol (bad frame, wrong version) */

    /* sidecar (sidecar/) */
    ZK_ERR_SC_OVERLOADED = 400,    /* retryable: the mempool is full (API code 1005) */
    ZK_ERR_SC_STOPPING = 401,      /* the daemon is shutting down */
    ZK_ERR_SC_STORE = 402,         /* the sidecar's store failed or is inconsistent */
    ZK_ERR_SC_DEPOSIT_ORDER = 403, /* a deposit out of id order (not the next one expected) */
    ZK_ERR_WORKER_PROTOCOL = 410,  /* a proving worker or dispatcher broke the job protocol */
} zk_err;

/* A short, stable, human-readable description of `code` ("bad hex").
 * Never NULL; unknown codes give "unknown error". Thread-safe. */
const char *zk_strerror(zk_err code);

/* True for conditions worth retrying after a backoff (timeouts, closed peers,
 * HTTP 429, an L1 chain that moved between two calls). */
bool zk_err_is_retryable(zk_err code);

/* Where a failure on outside data is explained: the code and one line of
 * context, e.g. "field \"amount\": not a decimal string". */
typedef struct zk_error_detail {
    zk_err code;
    char text[240];
} zk_error_detail;

/* Records `code` and a printf-formatted context line into `d` (which may be
 * NULL: then only the code is returned). Returns `code`, so callers can write
 * `return zk_error_set(err, ZK_ERR_BAD_HEX, "field %s", name);`. */
zk_err zk_error_set(zk_error_detail *d, zk_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Aborts the process after logging `what`: for broken invariants only. */
_Noreturn void zk_panic(const char *file, int line, const char *what);
#define ZK_PANIC(what) zk_panic(__FILE__, __LINE__, (what))

#define ZK_MUST_CHECK __attribute__((warn_unused_result))

#endif
