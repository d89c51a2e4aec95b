#include "common/config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"

enum source { SRC_UNSET = 0, SRC_DEFAULT, SRC_FILE, SRC_FLAG };

/* The commands that read --config: the only names an INI section may have. */
static const char *const config_sections[] = { "run", "watch", "worker", "demo", "keygen", NULL };

struct zk_config {
    const zk_opt *opts;
    size_t nopts;
    char **values;        /* per option, owned; NULL when unset */
    enum source *sources;
    char **positional;    /* pointers into argv, not owned */
    size_t npositional;
    bool help;
};

static const char *source_name(enum source s)
{
    switch (s) {
    case SRC_DEFAULT: return "default";
    case SRC_FILE: return "file";
    case SRC_FLAG: return "flag";
    case SRC_UNSET: break;
    }
    return NULL;
}

static bool parse_u64_text(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    if (s[0] == '0' && s[1] != '\0')
        return false; /* no leading zeros: "012" is more likely a mistake than twelve */
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static int parse_bool_text(const char *s)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0)
            return 1;
        if (strcmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

static bool in_words(const char *const *words, const char *s)
{
    for (; words && *words; words++)
        if (strcmp(*words, s) == 0)
            return true;
    return false;
}

static void words_list(char *buf, size_t cap, const char *const *words)
{
    size_t len = 0;
    buf[0] = '\0';
    for (; words && *words; words++)
        len += (size_t)snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, "%s%s",
                                len ? "|" : "", *words);
}

/* Validates `value` for `o`; on failure writes the reason (without the prefix) into why. */
static bool validate(const zk_opt *o, const char *value, char *why, size_t whylen)
{
    size_t len = strlen(value);
    if (len > ZK_CONFIG_VALUE_MAX) {
        snprintf(why, whylen, "value longer than %d bytes", ZK_CONFIG_VALUE_MAX);
        return false;
    }
    char words[256];
    switch (o->type) {
    case ZK_OPT_STRING:
        if (len == 0) {
            snprintf(why, whylen, "empty value");
            return false;
        }
        return true;
    case ZK_OPT_U64: {
        uint64_t v, max = o->max ? o->max : UINT64_MAX;
        if (in_words(o->words, value))
            return true;
        if (!parse_u64_text(value, &v) || v < o->min || v > max) {
            words_list(words, sizeof words, o->words);
            snprintf(why, whylen, "\"%.64s\" is not an integer in [%llu, %llu]%s%s", value,
                     (unsigned long long)o->min, (unsigned long long)max,
                     words[0] ? " or one of " : "", words);
            return false;
        }
        return true;
    }
    case ZK_OPT_BOOL:
    case ZK_OPT_FLAG:
        if (parse_bool_text(value) < 0) {
            snprintf(why, whylen, "\"%.64s\" is not a boolean (true/false)", value);
            return false;
        }
        return true;
    case ZK_OPT_CHOICE:
        if (!in_words(o->words, value)) {
            words_list(words, sizeof words, o->words);
            snprintf(why, whylen, "\"%.64s\" is not one of %s", value, words);
            return false;
        }
        return true;
    case ZK_OPT_HOSTPORT: {
        const char *colon = strrchr(value, ':');
        uint64_t port;
        if (colon == NULL || colon == value || !parse_u64_text(colon + 1, &port) || port < 1 ||
            port > 65535) {
            snprintf(why, whylen, "\"%.64s\" is not HOST:PORT with a port in 1..65535", value);
            return false;
        }
        return true;
    }
    }
    snprintf(why, whylen, "unknown option type");
    return false;
}

static const zk_opt *find_opt(const zk_config *c, const char *name, size_t namelen, size_t *idx)
{
    for (size_t i = 0; i < c->nopts; i++) {
        if (strlen(c->opts[i].name) == namelen && memcmp(c->opts[i].name, name, namelen) == 0) {
            *idx = i;
            return &c->opts[i];
        }
    }
    return NULL;
}

static zk_err set_value(zk_config *c, size_t i, const char *value, enum source src)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return ZK_ERR_NOMEM;
    free(c->values[i]);
    c->values[i] = copy;
    c->sources[i] = src;
    return ZK_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Reads the whole file (capped at ZK_CONFIG_FILE_MAX) into a NUL-terminated buffer. */
static zk_err read_file(zk_error_detail *err, const char *path, char **out, size_t *outlen)
{
    uint8_t *buf;
    zk_error_detail e = { 0 };
    zk_err rc = zk_file_read(path, ZK_CONFIG_FILE_MAX, &buf, outlen, &e);
    if (rc == ZK_ERR_TOO_BIG)
        return zk_error_set(err, ZK_ERR_USAGE, "%s: larger than %d bytes", path, ZK_CONFIG_FILE_MAX);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "--config: cannot read %s: %s", path, e.text);
    *out = (char *)buf;
    return ZK_OK;
}

static zk_err load_file(zk_config *c, zk_error_detail *err, const char *command, const char *path)
{
    char *text = NULL;
    size_t textlen = 0;
    zk_err rc = read_file(err, path, &text, &textlen);
    if (rc != ZK_OK)
        return rc;
    unsigned lineno = 0;
    bool applies = true;
    for (size_t pos = 0; pos < textlen;) {
        lineno++;
        char *line = text + pos;
        char *nl = memchr(line, '\n', textlen - pos);
        size_t len = nl ? (size_t)(nl - line) : textlen - pos;
        pos += len + 1;
        if (len > ZK_CONFIG_LINE_MAX) {
            rc = zk_error_set(err, ZK_ERR_USAGE, "%s:%u: line longer than %d bytes", path, lineno,
                              ZK_CONFIG_LINE_MAX);
            goto cleanup;
        }
        if (memchr(line, '\0', len) != NULL) {
            rc = zk_error_set(err, ZK_ERR_USAGE, "%s:%u: NUL byte", path, lineno);
            goto cleanup;
        }
        line[len] = '\0';
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (end == NULL || end[1] != '\0') {
                rc = zk_error_set(err, ZK_ERR_USAGE, "%s:%u: malformed section header", path, lineno);
                goto cleanup;
            }
            *end = '\0';
            const char *section = trim(s + 1);
            applies = strcmp(section, command) == 0;
            /* A misspelt section would silently skip its keys: refuse it. */
            if (!applies && !in_words(config_sections, section)) {
                rc = zk_error_set(err, ZK_ERR_USAGE,
                                  "%s:%u: unknown section [%.64s] (a section names a command: run, watch, worker, demo, keygen)",
                                  path, lineno, section);
                goto cleanup;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            rc = zk_error_set(err, ZK_ERR_USAGE, "%s:%u: expected key = value", path, lineno);
            goto cleanup;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        if (!applies)
            continue;
        size_t idx;
        const zk_opt *o = find_opt(c, key, strlen(key), &idx);
        if (o == NULL || strcmp(key, "config") == 0) {
            rc = zk_error_set(err, ZK_ERR_USAGE, "%s:%u: unknown key \"%.64s\" for zkcar %s", path,
                              lineno, key, command);
            goto cleanup;
        }
        char why[200];
        if (!validate(o, value, why, sizeof why)) {
            rc = zk_error_set(err, ZK_ERR_USAGE, "%s:%u: %s: %s", path, lineno, key, why);
            goto cleanup;
        }
        if ((rc = set_value(c, idx, value, SRC_FILE)) != ZK_OK)
            goto cleanup;
    }
cleanup:
    free(text);
    return rc;
}

zk_err zk_config_parse(zk_config **out, zk_error_detail *err, const char *command,
                       const zk_opt *opts, size_t nopts, int argc, char **argv)
{
    zk_err rc = ZK_OK;
    *out = NULL;
    zk_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "out of memory");
    c->opts = opts;
    c->nopts = nopts;
    c->values = calloc(nopts ? nopts : 1, sizeof *c->values);
    c->sources = calloc(nopts ? nopts : 1, sizeof *c->sources);
    c->positional = calloc((size_t)(argc > 0 ? argc : 1), sizeof *c->positional);
    if (c->values == NULL || c->sources == NULL || c->positional == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nopts; i++) {
        char why[200];
        if (opts[i].def == NULL)
            continue;
        if (!validate(&opts[i], opts[i].def, why, sizeof why))
            ZK_PANIC("config: an option's default is not valid");
        if ((rc = set_value(c, i, opts[i].def, SRC_DEFAULT)) != ZK_OK)
            goto fail;
    }

    /* First pass: --config and --help, so the file is applied before any flag. */
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            c->help = true;
            *out = c;
            return ZK_OK;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                rc = zk_error_set(err, ZK_ERR_USAGE, "--config: missing value");
                goto fail;
            }
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        }
    }
    if (config_path != NULL && (rc = load_file(c, err, command, config_path)) != ZK_OK)
        goto fail;

    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (flags_done || a[0] != '-' || strcmp(a, "-") == 0) {
            c->positional[c->npositional++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (a[1] != '-') {
            rc = zk_error_set(err, ZK_ERR_USAGE, "%.64s: unknown flag (flags are --long-form)", a);
            goto fail;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
        if (namelen == 6 && strncmp(name, "config", 6) == 0) {
            if (eq == NULL)
                i++;
            continue;
        }
        size_t idx;
        const zk_opt *o = find_opt(c, name, namelen, &idx);
        if (o == NULL) {
            rc = zk_error_set(err, ZK_ERR_USAGE, "--%.*s: unknown flag for zkcar %s (see zkcar help %s)",
                              (int)(namelen > 64 ? 64 : namelen), name, command, command);
            goto fail;
        }
        const char *value;
        if (eq != NULL)
            value = eq + 1;
        else if (o->type == ZK_OPT_FLAG)
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            rc = zk_error_set(err, ZK_ERR_USAGE, "--%s: missing value", o->name);
            goto fail;
        }
        char why[200];
        if (!validate(o, value, why, sizeof why)) {
            rc = zk_error_set(err, ZK_ERR_USAGE, "--%s: %s", o->name, why);
            goto fail;
        }
        if ((rc = set_value(c, idx, value, SRC_FLAG)) != ZK_OK)
            goto fail;
    }
    *out = c;
    return ZK_OK;
fail:
    zk_config_destroy(c);
    return rc;
}

void zk_config_destroy(zk_config *c)
{
    if (c == NULL)
        return;
    if (c->values)
        for (size_t i = 0; i < c->nopts; i++)
            free(c->values[i]);
    free(c->values);
    free(c->sources);
    free(c->positional);
    free(c);
}

bool zk_config_help_requested(const zk_config *c) { return c->help; }

static size_t index_of(const zk_config *c, const char *name)
{
    size_t idx;
    const zk_opt *o = find_opt(c, name, strlen(name), &idx);
    if (o == NULL)
        ZK_PANIC("config: option not in the table");
    return idx;
}

const char *zk_config_get(const zk_config *c, const char *name)
{
    return c->values[index_of(c, name)];
}

const char *zk_config_source(const zk_config *c, const char *name)
{
    return source_name(c->sources[index_of(c, name)]);
}

uint64_t zk_config_get_u64(const zk_config *c, const char *name)
{
    size_t i = index_of(c, name);
    assert(c->opts[i].type == ZK_OPT_U64 && c->values[i] != NULL);
    uint64_t v;
    if (in_words(c->opts[i].words, c->values[i]) || !parse_u64_text(c->values[i], &v))
        return UINT64_MAX;
    return v;
}

bool zk_config_get_bool(const zk_config *c, const char *name)
{
    size_t i = index_of(c, name);
    assert((c->opts[i].type == ZK_OPT_BOOL || c->opts[i].type == ZK_OPT_FLAG));
    return c->values[i] != NULL && parse_bool_text(c->values[i]) == 1;
}

size_t zk_config_npositional(const zk_config *c) { return c->npositional; }

const char *zk_config_positional(const zk_config *c, size_t i)
{
    return i < c->npositional ? c->positional[i] : NULL;
}

void zk_config_usage(FILE *f, const char *command, const char *synopsis, const zk_opt *opts,
                     size_t nopts)
{
    fprintf(f, "usage: zkcar %s %s\n\noptions (also settable as key = value in --config FILE; flags win):\n",
            command, synopsis ? synopsis : "[flags]");
    for (size_t i = 0; i < nopts; i++) {
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
                 opts[i].metavar ? opts[i].metavar : "");
        fprintf(f, "  %-28s %s", left, opts[i].help ? opts[i].help : "");
        if (opts[i].def)
            fprintf(f, " (default %s)", opts[i].def);
        fputc('\n', f);
    }
    fprintf(f, "  %-28s %s\n  %-28s %s\n", "--config FILE", "read options from an INI file",
            "--help", "print this help");
}
