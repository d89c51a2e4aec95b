/* Tests of common/config.h: defaults < file < flags, validation, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

static const char *const conf_words[] = { "finalized", NULL };
static const char *const bpf_words[] = { "on", "off", "auto", NULL };

static const zk_opt opts[] = {
    { .name = "bridge", .type = ZK_OPT_STRING, .metavar = "ADDRESS", .help = "bridge" },
    { .name = "batch-size", .type = ZK_OPT_U64, .metavar = "N", .def = "1024", .min = 1, .max = 65536 },
    { .name = "confirmations", .type = ZK_OPT_U64, .metavar = "N", .def = "12", .words = conf_words },
    { .name = "api", .type = ZK_OPT_HOSTPORT, .metavar = "HOST:PORT", .def = "127.0.0.1:3050" },
    { .name = "bpf", .type = ZK_OPT_CHOICE, .metavar = "MODE", .def = "auto", .words = bpf_words },
    { .name = "verbose", .type = ZK_OPT_FLAG },
    { .name = "fsync", .type = ZK_OPT_BOOL, .def = "true" },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static zk_err parse(zk_config **c, zk_error_detail *e, int argc, const char **argv)
{
    memset(e, 0, sizeof *e);
    return zk_config_parse(c, e, "run", opts, NOPTS, argc, (char **)argv);
}

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/zkcar-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    zk_config *c;
    zk_error_detail e;
    const char *argv[] = { "run" };
    assert_int_equal(parse(&c, &e, 1, argv), ZK_OK);
    assert_int_equal(zk_config_get_u64(c, "batch-size"), 1024);
    assert_string_equal(zk_config_get(c, "api"), "127.0.0.1:3050");
    assert_string_equal(zk_config_source(c, "api"), "default");
    assert_null(zk_config_get(c, "bridge"));
    assert_null(zk_config_source(c, "bridge"));
    assert_false(zk_config_get_bool(c, "verbose"));
    assert_true(zk_config_get_bool(c, "fsync"));
    assert_false(zk_config_help_requested(c));
    zk_config_destroy(c);
}

static void test_flags_and_words(void **state)
{
    zk_config *c;
    zk_error_detail e;
    const char *argv[] = { "run", "--batch-size", "7", "--confirmations=finalized", "--verbose",
                           "pos1", "--bpf", "off", "--", "--not-a-flag" };
    assert_int_equal(parse(&c, &e, 10, argv), ZK_OK);
    assert_int_equal(zk_config_get_u64(c, "batch-size"), 7);
    assert_int_equal(zk_config_get_u64(c, "confirmations"), UINT64_MAX);
    assert_string_equal(zk_config_get(c, "confirmations"), "finalized");
    assert_true(zk_config_get_bool(c, "verbose"));
    assert_string_equal(zk_config_get(c, "bpf"), "off");
    assert_int_equal(zk_config_npositional(c), 2);
    assert_string_equal(zk_config_positional(c, 0), "pos1");
    assert_string_equal(zk_config_positional(c, 1), "--not-a-flag");
    assert_null(zk_config_positional(c, 2));
    zk_config_destroy(c);
}

static void test_file_then_flags_win(void **state)
{
    char *path = write_file("# comment\nbatch-size = 99\n[watch]\nbogus = 1\n[run]\n"
                            "bridge = \"0xabc\"\n; another\nconfirmations=3\n");
    zk_config *c;
    zk_error_detail e;
    const char *argv[] = { "run", "--confirmations", "5", "--config", path };
    assert_int_equal(parse(&c, &e, 5, argv), ZK_OK);
    assert_int_equal(zk_config_get_u64(c, "batch-size"), 99);
    assert_string_equal(zk_config_source(c, "batch-size"), "file");
    assert_string_equal(zk_config_get(c, "bridge"), "0xabc");
    /* the flag comes before --config on the line, and still wins */
    assert_int_equal(zk_config_get_u64(c, "confirmations"), 5);
    assert_string_equal(zk_config_source(c, "confirmations"), "flag");
    zk_config_destroy(c);
    unlink(path);
}

static void expect_usage_error(int argc, const char **argv, const char *needle)
{
    zk_config *c = (zk_config *)0x1;
    zk_error_detail e;
    assert_int_equal(parse(&c, &e, argc, argv), ZK_ERR_USAGE);
    assert_null(c);
    assert_int_equal(e.code, ZK_ERR_USAGE);
    if (strstr(e.text, needle) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", e.text, needle);
    assert_null(strchr(e.text, '\n')); /* one line */
}

static void test_bad_values(void **state)
{
    const char *a1[] = { "run", "--batch-size", "abc" };
    expect_usage_error(3, a1, "--batch-size: \"abc\" is not an integer in [1, 65536]");
    const char *a2[] = { "run", "--batch-size", "0" };
    expect_usage_error(3, a2, "--batch-size");
    const char *a3[] = { "run", "--batch-size", "65537" };
    expect_usage_error(3, a3, "65537");
    const char *a4[] = { "run", "--batch-size", "99999999999999999999999" };
    expect_usage_error(3, a4, "--batch-size");
    const char *a5[] = { "run", "--batch-size", "012" };
    expect_usage_error(3, a5, "--batch-size");
    const char *a6[] = { "run", "--bpf", "maybe" };
    expect_usage_error(3, a6, "not one of on|off|auto");
    const char *a7[] = { "run", "--api", "localhost" };
    expect_usage_error(3, a7, "HOST:PORT");
    const char *a8[] = { "run", "--api", "h:0" };
    expect_usage_error(3, a8, "HOST:PORT");
    const char *a9[] = { "run", "--nosuch", "1" };
    expect_usage_error(3, a9, "--nosuch: unknown flag");
    const char *a10[] = { "run", "--batch-size" };
    expect_usage_error(2, a10, "missing value");
    const char *a11[] = { "run", "-x" };
    expect_usage_error(2, a11, "unknown flag");
    const char *a12[] = { "run", "--fsync", "perhaps" };
    expect_usage_error(3, a12, "not a boolean");
    const char *a13[] = { "run", "--bridge", "" };
    expect_usage_error(3, a13, "empty value");
    const char *a14[] = { "run", "--confirmations", "finalised" };
    expect_usage_error(3, a14, "or one of finalized");
}

static void test_bad_files(void **state)
{
    zk_config *c;
    zk_error_detail e;
    const char *missing[] = { "run", "--config", "/nonexistent/zkcar.ini" };
    assert_int_equal(parse(&c, &e, 3, missing), ZK_ERR_IO);
    assert_non_null(strstr(e.text, "/nonexistent/zkcar.ini"));

    struct {
        const char *text, *needle;
    } cases[] = {
        { "batchsize = 3\n", ":1: unknown key \"batchsize\"" },
        { "\n\nbatch-size = x\n", ":3: batch-size: \"x\" is not an integer" },
        { "justakey\n", ":1: expected key = value" },
        { "[run\n", ":1: malformed section header" },
        { "config = other.ini\n", "unknown key \"config\"" },
        /* a section that names no command would skip its keys unseen */
        { "batch-size = 3\n[rnu]\nbatch-size = 5\n", ":2: unknown section [rnu]" },
        { "[Run]\n", ":1: unknown section [Run]" },
        { "[]\n", ":1: unknown section []" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_file(cases[i].text);
        const char *argv[] = { "run", "--config", path };
        expect_usage_error(3, argv, cases[i].needle);
        unlink(path);
    }
    /* a line longer than the cap is an error, not a silent split */
    char *big = malloc(ZK_CONFIG_LINE_MAX + 100);
    memset(big, 'a', ZK_CONFIG_LINE_MAX + 98);
    big[ZK_CONFIG_LINE_MAX + 98] = '\n';
    big[ZK_CONFIG_LINE_MAX + 99] = '\0';
    char *path = write_file(big);
    free(big);
    const char *argv[] = { "run", "--config", path };
    expect_usage_error(3, argv, "line longer than");
    unlink(path);
}

static void test_help(void **state)
{
    zk_config *c;
    zk_error_detail e;
    const char *argv[] = { "run", "--batch-size", "bad", "--help" };
    /* --help wins over bad values: the user asked how to use it */
    assert_int_equal(parse(&c, &e, 4, argv), ZK_OK);
    assert_true(zk_config_help_requested(c));
    zk_config_destroy(c);

    char buf[4096] = { 0 };
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    zk_config_usage(f, "run", "[--config FILE] [flags]", opts, NOPTS);
    fclose(f);
    assert_non_null(strstr(buf, "usage: zkcar run [--config FILE] [flags]"));
    assert_non_null(strstr(buf, "--batch-size N"));
    assert_non_null(strstr(buf, "(default 1024)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_flags_and_words),
        cmocka_unit_test(test_file_then_flags_win), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_files),    cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
