/* Tests of common/log.h: logfmt and JSON lines, escaping, level filter, one write per line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* 2026-11-25T19:43:41.123Z */
#define TS 1795635821123LL

static void test_logfmt(void **state)
{
    char buf[512];
    zk_log_field f[] = { ZKF_U64("number", 7), ZKF_STR("root", "0xab"), ZKF_STR("why", "two words"),
                         ZKF_I64("delta", -3), ZKF_BOOL("ok", 1), ZKF_STR("empty", "") };
    size_t n = zk_log_format_line(buf, sizeof buf, ZK_LOG_FORMAT_LOGFMT, TS, ZK_LOG_INFO,
                                  "batch sealed", f, 6);
    assert_string_equal(buf, "ts=2026-11-25T19:43:41.123Z level=info msg=\"batch sealed\" number=7 "
                             "root=0xab why=\"two words\" delta=-3 ok=true empty=\"\"\n");
    assert_int_equal(n, strlen(buf));
}

static void test_json_roundtrip(void **state)
{
    char buf[512];
    const char *nasty = "quote\" back\\slash\nnewline\x01" "ctl=eq";
    zk_log_field f[] = { ZKF_STR("s", nasty), ZKF_U64("big", UINT64_MAX), ZKF_F64("x", 0.5) };
    zk_log_format_line(buf, sizeof buf, ZK_LOG_FORMAT_JSON, TS, ZK_LOG_WARN, "m\"sg", f, 3);
    assert_int_equal(buf[strlen(buf) - 1], '\n');
    json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "s", &v));
    assert_string_equal(json_object_get_string(v), nasty);
    assert_true(json_object_object_get_ex(o, "msg", &v));
    assert_string_equal(json_object_get_string(v), "m\"sg");
    assert_true(json_object_object_get_ex(o, "level", &v));
    assert_string_equal(json_object_get_string(v), "warn");
    assert_true(json_object_object_get_ex(o, "ts", &v));
    assert_string_equal(json_object_get_string(v), "2026-11-25T19:43:41.123Z");
    json_object_put(o);

    /* logfmt escapes the same string inside quotes */
    zk_log_format_line(buf, sizeof buf, ZK_LOG_FORMAT_LOGFMT, TS, ZK_LOG_INFO, "m", f, 1);
    assert_non_null(strstr(buf, "s=\"quote\\\" back\\\\slash\\nnewline\\u0001ctl=eq\""));
}

/* Bytes that are not well-formed UTF-8 (a path, a peer's text) become
 * U+FFFD: a JSON line stays UTF-8 (RFC 8259 §8.1); good sequences pass. */
static void test_invalid_utf8(void **state)
{
    char buf[512];
    /* é, a lone 0xff, C3 without its continuation, an encoded surrogate
     * (ED A0 80), an overlong '/' (C0 AF), then U+1F600 */
    const char *in = "a \xc3\xa9 \xff \xc3( \xed\xa0\x80 \xc0\xaf \xf0\x9f\x98\x80 z";
    const char *want = "a \xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd( \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                       "\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80 z";
    zk_log_field f[] = { ZKF_STR("s", in) };
    zk_log_format_line(buf, sizeof buf, ZK_LOG_FORMAT_JSON, TS, ZK_LOG_INFO, "m", f, 1);
    assert_null(strchr(buf, '\xff'));
    json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "s", &v));
    assert_string_equal(json_object_get_string(v), want);
    json_object_put(o);
    zk_log_format_line(buf, sizeof buf, ZK_LOG_FORMAT_LOGFMT, TS, ZK_LOG_INFO, "m", f, 1);
    assert_non_null(strstr(buf, "s=\"a \xc3\xa9 \\ufffd \\ufffd( "));
}

static void test_truncation_keeps_newline(void **state)
{
    char buf[40];
    zk_log_field f[] = { ZKF_STR("long", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") };
    size_t n = zk_log_format_line(buf, sizeof buf, ZK_LOG_FORMAT_LOGFMT, TS, ZK_LOG_INFO, "m", f, 1);
    assert_int_equal(n, sizeof buf - 1);
    assert_int_equal(buf[n - 1], '\n');
    assert_int_equal(buf[n], '\0');
}

/* A line too long for its buffer drops whole fields and says so: every
 * JSON line stays valid JSON, with every field that fitted. */
static void test_truncation_drops_whole_fields(void **state)
{
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    char buf[4096];
    for (int fmt = 0; fmt < 2; fmt++) {
        zk_log_field f[] = { ZKF_U64("batch", 7), ZKF_STR("error", big), ZKF_STR("after", "y") };
        size_t n = zk_log_format_line(buf, sizeof buf, fmt ? ZK_LOG_FORMAT_JSON : ZK_LOG_FORMAT_LOGFMT, TS,
                                      ZK_LOG_ERROR, "m", f, 3);
        assert_true(n < sizeof buf);
        assert_int_equal(buf[n - 1], '\n');
        assert_null(strstr(buf, "xxx"));
        assert_null(strstr(buf, "after"));
        if (fmt) {
            struct json_object *o = json_tokener_parse(buf);
            assert_non_null(o);
            struct json_object *v;
            assert_true(json_object_object_get_ex(o, "truncated", &v) && json_object_get_boolean(v));
            assert_true(json_object_object_get_ex(o, "batch", &v) && json_object_get_int64(v) == 7);
            json_object_put(o);
        } else {
            assert_non_null(strstr(buf, "batch=7 truncated=true\n"));
        }
    }
    /* A value that fits is kept whole, right up to the buffer's end. */
    memset(big, 'x', 3000);
    big[3000] = '\0';
    zk_log_field g[] = { ZKF_STR("error", big) };
    size_t n = zk_log_format_line(buf, sizeof buf, ZK_LOG_FORMAT_JSON, TS, ZK_LOG_ERROR, "m", g, 1);
    assert_null(strstr(buf, "truncated"));
    assert_int_equal(buf[n - 3], '"');
}

static void test_emit_and_filter(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    zk_log_set_fd(p[1]);
    zk_log_set_format(ZK_LOG_FORMAT_JSON);
    zk_log_set_level(ZK_LOG_WARN);
    zk_log(ZK_LOG_INFO, "dropped", ZKF_U64("a", 1), ZKF_END);
    zk_log(ZK_LOG_ERROR, "kept", ZKF_U64("a", 2), ZKF_STR("b", "x"), ZKF_END);
    close(p[1]);
    char buf[1024] = { 0 };
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(n > 0);
    assert_null(strstr(buf, "dropped"));
    assert_non_null(strstr(buf, "\"level\":\"error\",\"msg\":\"kept\",\"a\":2,\"b\":\"x\"}\n"));
    zk_log_set_fd(2);
    zk_log_set_format(ZK_LOG_FORMAT_LOGFMT);
    zk_log_set_level(ZK_LOG_INFO);
}

/* A command's failure: a JSON error line in the JSON format, the bare
 * "zkcar CMD: text" line on stderr with logfmt. */
static void test_failure_line(void **state)
{
    int p[2];
    char buf[1024] = { 0 };
    assert_int_equal(pipe(p), 0);
    zk_log_set_fd(p[1]);
    zk_log_set_format(ZK_LOG_FORMAT_JSON);
    zk_log_failure("run", "--api %s: %s", "127.0.0.1:1", "in use");
    close(p[1]);
    assert_true(read(p[0], buf, sizeof buf - 1) > 0);
    close(p[0]);
    struct json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    struct json_object *v;
    assert_true(json_object_object_get_ex(o, "msg", &v));
    assert_string_equal(json_object_get_string(v), "zkcar run failed");
    assert_true(json_object_object_get_ex(o, "error", &v));
    assert_string_equal(json_object_get_string(v), "--api 127.0.0.1:1: in use");
    json_object_put(o);
    zk_log_set_fd(2);

    zk_log_set_format(ZK_LOG_FORMAT_LOGFMT);
    assert_int_equal(pipe(p), 0);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(p[1], 2) >= 0);
    zk_log_failure("watch", "%s", "node gone");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    memset(buf, 0, sizeof buf);
    assert_true(read(p[0], buf, sizeof buf - 1) > 0);
    close(p[0]);
    assert_string_equal(buf, "zkcar watch: node gone\n");
}

static void test_parse_names(void **state)
{
    assert_int_equal(zk_log_level_parse("debug"), ZK_LOG_DEBUG);
    assert_int_equal(zk_log_level_parse("error"), ZK_LOG_ERROR);
    assert_int_equal(zk_log_level_parse("loud"), -1);
    assert_int_equal(zk_log_format_parse("json"), ZK_LOG_FORMAT_JSON);
    assert_int_equal(zk_log_format_parse("logfmt"), ZK_LOG_FORMAT_LOGFMT);
    assert_int_equal(zk_log_format_parse("xml"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt), cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_truncation_keeps_newline),
        cmocka_unit_test(test_truncation_drops_whole_fields), cmocka_unit_test(test_emit_and_filter),
        cmocka_unit_test(test_failure_line), cmocka_unit_test(test_parse_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
