/*
 * common/config.h — command-line flags and INI config files, one table per command.
 *
 * A command describes its options once (zk_opt[]); zk_config_parse() reads, in
 * this order, the defaults, the INI file named by --config (if any), then the
 * flags, so flags win over the file and the file over the defaults. Every value
 * is validated as it is read: a bad one is a one-line error that names where it
 * came from ("--batch-size: \"abc\" is not a non-negative integer", or
 * "zkcar.ini:12: unknown key \"batchsize\""), and the command exits 2.
 *
 * Flags: --name VALUE, --name=VALUE, and --name for ZK_OPT_FLAG. `--` ends the
 * flags. --config FILE and --help are understood by every command.
 * INI: "key = value" lines, '#' or ';' comments, [section] headers. Keys before
 * any section, or in the section named after the command ([run]), apply;
 * the sections of other commands ([watch], [worker], [demo], [keygen]) are
 * skipped so that one file can serve several commands; any other section
 * name is an error (a misspelt [rnu] must not silently drop its keys).
 * Unknown keys in an applying section are errors (a typo must not silently
 * fall back to a default). Values may be wrapped in double quotes.
 */
#ifndef ZKCAR_COMMON_CONFIG_H
#define ZKCAR_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

#define ZK_CONFIG_VALUE_MAX 1024   /* longest accepted value, bytes */
#define ZK_CONFIG_LINE_MAX 4096    /* longest accepted INI line, bytes */
#define ZK_CONFIG_FILE_MAX (1 << 20)

typedef enum zk_opt_type {
    ZK_OPT_STRING = 0, /* any non-empty string up to ZK_CONFIG_VALUE_MAX */
    ZK_OPT_U64,        /* decimal integer in [min, max]; or one of `words` if given */
    ZK_OPT_BOOL,       /* true/false/yes/no/on/off/1/0 */
    ZK_OPT_CHOICE,     /* one of `words` */
    ZK_OPT_HOSTPORT,   /* HOST:PORT with PORT in 1..65535 */
    ZK_OPT_FLAG,       /* no value on the command line: present = true; BOOL in a file */
} zk_opt_type;

typedef struct zk_opt {
    const char *name;              /* "batch-size": flag --batch-size, INI key batch-size */
    zk_opt_type type;
    const char *metavar;           /* "N" in the usage text; NULL for flags */
    const char *def;               /* default, written as on the command line; NULL = unset */
    const char *help;              /* one line */
    uint64_t min, max;             /* ZK_OPT_U64; max 0 means UINT64_MAX */
    const char *const *words;      /* ZK_OPT_CHOICE, or extra words for ZK_OPT_U64; NULL-terminated */
} zk_opt;

typedef struct zk_config zk_config;

/* Parses argv[1..argc-1] of `command` against `opts`. On success *out owns the
 * result (free with zk_config_destroy). On failure returns ZK_ERR_USAGE (or
 * ZK_ERR_IO for an unreadable --config file) with a one-line reason in `err`.
 * argv[0] is the command name and is skipped. */
zk_err zk_config_parse(zk_config **out, zk_error_detail *err, const char *command,
                       const zk_opt *opts, size_t nopts, int argc, char **argv) ZK_MUST_CHECK;
void zk_config_destroy(zk_config *cfg);

/* True when --help was given (the caller prints zk_config_usage and exits 0). */
bool zk_config_help_requested(const zk_config *cfg);

/* The value of option `name` as text, or NULL if it has no value. `name` must be in the table. */
const char *zk_config_get(const zk_config *cfg, const char *name);
/* Typed access; `name` must be of the matching type and set (asserted). For a
 * ZK_OPT_U64 whose value is one of its words, zk_config_get_u64 returns UINT64_MAX. */
uint64_t zk_config_get_u64(const zk_config *cfg, const char *name);
bool zk_config_get_bool(const zk_config *cfg, const char *name);
/* Where the value came from: "default", "file" or "flag"; NULL when unset. */
const char *zk_config_source(const zk_config *cfg, const char *name);

/* Positional arguments (those that are not flags), in order. */
size_t zk_config_npositional(const zk_config *cfg);
const char *zk_config_positional(const zk_config *cfg, size_t i);

/* Prints "usage: zkcar COMMAND SYNOPSIS" and one line per option with its default. */
void zk_config_usage(FILE *f, const char *command, const char *synopsis, const zk_opt *opts,
                     size_t nopts);

#endif
