/*
 * common/log.h — structured logging: one line per event on stderr.
 *
 * Two formats (SPEC §1): logfmt by default
 *     ts=2026-11-25T19:43:41.123Z level=info msg="batch sealed" number=7 txs=1024
 * and JSON lines with --log-format json
 *     {"ts":"2026-11-25T19:43:41.123Z","level":"info","msg":"batch sealed","number":7,"txs":1024}
 *
 * Fields are typed, so both formats quote and escape correctly:
 *     zk_log(ZK_LOG_INFO, "batch sealed", ZKF_U64("number", n), ZKF_STR("root", hex), ZKF_END);
 * The field list must end with ZKF_END. Each call writes its line with one
 * write(2), so lines from different threads never interleave. Thread-safe.
 */
#ifndef ZKCAR_COMMON_LOG_H
#define ZKCAR_COMMON_LOG_H

#include <stdint.h>
#include <stdio.h>

typedef enum zk_log_level {
    ZK_LOG_DEBUG = 0,
    ZK_LOG_INFO = 1,
    ZK_LOG_WARN = 2,
    ZK_LOG_ERROR = 3,
} zk_log_level;

typedef enum zk_log_format {
    ZK_LOG_FORMAT_LOGFMT = 0,
    ZK_LOG_FORMAT_JSON = 1,
} zk_log_format;

typedef enum zk_log_field_type {
    ZK_LOG_FIELD_END = 0,
    ZK_LOG_FIELD_STR,
    ZK_LOG_FIELD_I64,
    ZK_LOG_FIELD_U64,
    ZK_LOG_FIELD_F64,
    ZK_LOG_FIELD_BOOL,
} zk_log_field_type;

typedef struct zk_log_field {
    const char *key;          /* [A-Za-z0-9_.]+, not escaped */
    zk_log_field_type type;
    union {
        const char *s;        /* NULL prints as an empty string */
        int64_t i;
        uint64_t u;
        double f;
        int b;
    } v;
} zk_log_field;

#define ZKF_STR(k, x)  ((zk_log_field){ .key = (k), .type = ZK_LOG_FIELD_STR, .v.s = (x) })
#define ZKF_I64(k, x)  ((zk_log_field){ .key = (k), .type = ZK_LOG_FIELD_I64, .v.i = (int64_t)(x) })
#define ZKF_U64(k, x)  ((zk_log_field){ .key = (k), .type = ZK_LOG_FIELD_U64, .v.u = (uint64_t)(x) })
#define ZKF_F64(k, x)  ((zk_log_field){ .key = (k), .type = ZK_LOG_FIELD_F64, .v.f = (double)(x) })
#define ZKF_BOOL(k, x) ((zk_log_field){ .key = (k), .type = ZK_LOG_FIELD_BOOL, .v.b = !!(x) })
#define ZKF_END        ((zk_log_field){ .key = NULL, .type = ZK_LOG_FIELD_END })

/* Process-wide settings; call before starting threads. Defaults: INFO, logfmt, stderr. */
void zk_log_set_level(zk_log_level level);
void zk_log_set_format(zk_log_format format);
/* The format set now. */
zk_log_format zk_log_get_format(void);
/* A command's failure once its log has begun: with the JSON format an
 * error line (msg "zkcar COMMAND failed", error=the text), so that a reader
 * of JSON lines never meets a bare text line; with logfmt the usual
 * "zkcar COMMAND: text" line on stderr. Thread-safe. */
void zk_log_failure(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Redirect output to a file descriptor (tests capture it through a pipe). */
void zk_log_set_fd(int fd);

/* Parses "debug" | "info" | "warn" | "error"; returns -1 for anything else. */
int zk_log_level_parse(const char *s);
/* Parses "logfmt" | "json"; returns -1 for anything else. */
int zk_log_format_parse(const char *s);

/* Emits one event; the variadic part is zk_log_field values ending with ZKF_END. */
void zk_log(zk_log_level level, const char *msg, ...);

/* Formats one event into buf (NUL-terminated, newline included) without
 * writing it; returns the length, truncating at bufsz - 1. `ts_ms` is the
 * Unix time in milliseconds. For tests and for zk_log itself. */
size_t zk_log_format_line(char *buf, size_t bufsz, zk_log_format format, int64_t ts_ms,
                          zk_log_level level, const char *msg, const zk_log_field *fields,
                          size_t nfields);

#endif
