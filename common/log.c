#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_FIELDS_MAX 32

static atomic_int g_level = ZK_LOG_INFO;
static atomic_int g_format = ZK_LOG_FORMAT_LOGFMT;
static atomic_int g_fd = STDERR_FILENO;

void zk_log_set_level(zk_log_level level) { atomic_store(&g_level, (int)level); }
void zk_log_set_format(zk_log_format format) { atomic_store(&g_format, (int)format); }
zk_log_format zk_log_get_format(void) { return (zk_log_format)atomic_load(&g_format); }
void zk_log_set_fd(int fd) { atomic_store(&g_fd, fd); }

int zk_log_level_parse(const char *s)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int zk_log_format_parse(const char *s)
{
    if (strcmp(s, "logfmt") == 0)
        return ZK_LOG_FORMAT_LOGFMT;
    if (strcmp(s, "json") == 0)
        return ZK_LOG_FORMAT_JSON;
    return -1;
}

static const char *level_name(zk_log_level l)
{
    switch (l) {
    case ZK_LOG_DEBUG: return "debug";
    case ZK_LOG_INFO: return "info";
    case ZK_LOG_WARN: return "warn";
    case ZK_LOG_ERROR: return "error";
    }
    return "info";
}

/* A bounded string builder: writes past the end are dropped, never overflow. */
typedef struct sb {
    char *p;
    size_t cap, len;
} sb;

static void sb_putc(sb *b, char c)
{
    if (b->len + 1 < b->cap)
        b->p[b->len] = c;
    b->len++;
}

static void sb_puts(sb *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_puts(b, tmp);
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when there is none. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4;
    else
        return 0;
    uint32_t cp = p[0] & (0x3fu >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* JSON string body escaping; also used for logfmt quoted values. Values
 * may carry outside text (a node's error, a worker's name, a path): a byte
 * that is not part of well-formed UTF-8 becomes U+FFFD, since JSON text is
 * UTF-8 and one bad byte would make the whole line unreadable. */
static void sb_escaped(sb *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) {
                sb_printf(b, "\\u%04x", *p);
            } else if (*p < 0x80) {
                sb_putc(b, (char)*p);
            } else {
                size_t n = utf8_len(p);
                if (n == 0) {
                    sb_puts(b, "\\ufffd");
                } else {
                    for (size_t i = 0; i < n; i++)
                        sb_putc(b, (char)p[i]);
                    p += n - 1;
                }
            }
        }
    }
}

static bool logfmt_needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
            return true;
    return false;
}

static void put_value(sb *b, zk_log_format fmt, const zk_log_field *f)
{
    switch (f->type) {
    case ZK_LOG_FIELD_STR: {
        const char *s = f->v.s ? f->v.s : "";
        if (fmt == ZK_LOG_FORMAT_JSON || logfmt_needs_quotes(s)) {
            sb_putc(b, '"');
            sb_escaped(b, s);
            sb_putc(b, '"');
        } else {
            sb_puts(b, s);
        }
        break;
    }
    case ZK_LOG_FIELD_I64: sb_printf(b, "%lld", (long long)f->v.i); break;
    case ZK_LOG_FIELD_U64: sb_printf(b, "%llu", (unsigned long long)f->v.u); break;
    case ZK_LOG_FIELD_F64: sb_printf(b, "%.6g", f->v.f); break;
    case ZK_LOG_FIELD_BOOL: sb_puts(b, f->v.b ? "true" : "false"); break;
    case ZK_LOG_FIELD_END: break;
    }
}

size_t zk_log_format_line(char *buf, size_t bufsz, zk_log_format format, int64_t ts_ms,
                          zk_log_level level, const char *msg, const zk_log_field *fields,
                          size_t nfields)
{
    sb b = { buf, bufsz, 0 };
    char ts[40];
    time_t secs = (time_t)(ts_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(ts_ms % 1000));

    zk_log_field head[3] = { ZKF_STR("ts", ts), ZKF_STR("level", level_name(level)),
                             ZKF_STR("msg", msg ? msg : "") };
    /* A field that does not fit is dropped whole, with every one after it,
     * and the line says so (truncated=true): a cut in the middle of a value
     * would make a JSON line invalid. Room for that mark, the closing brace
     * and the newline is kept from the start. */
    const char *mark = format == ZK_LOG_FORMAT_JSON ? ",\"truncated\":true" : " truncated=true";
    size_t room = bufsz > strlen(mark) + 3 ? bufsz - strlen(mark) - 3 : 0;
    if (format == ZK_LOG_FORMAT_JSON)
        sb_putc(&b, '{');
    for (size_t i = 0; i < 3 + nfields; i++) {
        const zk_log_field *f = i < 3 ? &head[i] : &fields[i - 3];
        size_t before = b.len;
        if (i > 0)
            sb_putc(&b, format == ZK_LOG_FORMAT_JSON ? ',' : ' ');
        if (format == ZK_LOG_FORMAT_JSON) {
            sb_putc(&b, '"');
            sb_puts(&b, f->key);
            sb_puts(&b, "\":");
        } else {
            sb_puts(&b, f->key);
            sb_putc(&b, '=');
        }
        put_value(&b, format, f);
        if (i >= 3 && b.len > room) { /* (the head is always kept, cut if it must be) */
            b.len = before;
            sb_puts(&b, mark);
            break;
        }
    }
    if (format == ZK_LOG_FORMAT_JSON)
        sb_putc(&b, '}');
    /* Always end with a newline, even when truncated. */
    if (b.len + 2 > bufsz)
        b.len = bufsz - 2;
    buf[b.len++] = '\n';
    buf[b.len] = '\0';
    return b.len;
}

void zk_log(zk_log_level level, const char *msg, ...)
{
    if ((int)level < atomic_load(&g_level))
        return;
    zk_log_field fields[LOG_FIELDS_MAX];
    size_t n = 0;
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        zk_log_field f = va_arg(ap, zk_log_field);
        if (f.type == ZK_LOG_FIELD_END || f.key == NULL)
            break;
        if (n < LOG_FIELDS_MAX)
            fields[n++] = f;
    }
    va_end(ap);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    char line[LOG_LINE_MAX];
    size_t len = zk_log_format_line(line, sizeof line, (zk_log_format)atomic_load(&g_format),
                                    ts_ms, level, msg, fields, n);
    ssize_t w = write(atomic_load(&g_fd), line, len);
    (void)w; /* a lost log line is not worth failing the caller over */
}

void zk_log_failure(const char *command, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (zk_log_get_format() == ZK_LOG_FORMAT_JSON) {
        char msg[80];
        snprintf(msg, sizeof msg, "zkcar %s failed", command);
        zk_log(ZK_LOG_ERROR, msg, ZKF_STR("error", text), ZKF_END);
    } else {
        fprintf(stderr, "zkcar %s: %s\n", command, text);
    }
}
