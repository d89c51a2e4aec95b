/*
 * sidecar/main.c — the `zkcar` multi-call binary (SPEC §1).
 *
 * Each subcommand is a row in `commands`; a command appears here only once it
 * does what its help says.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "ipc/state.h"
#include "l1-watcher/l1w.h"
#include "prover/batch.h"
#include "sidecar/curve.h"
#include "sidecar/demo.h"
#include "sidecar/dist.h"
#include "sidecar/run.h"

typedef int (*command_fn)(int argc, char **argv);

static int cmd_help(int argc, char **argv);

static const struct command {
    const char *name;
    command_fn fn;
    const char *synopsis;
    const char *summary;
} commands[] = {
    { "bench", zkb_main, "NAME [--json] [flags]", "run a benchmark (zkcar bench --help lists them)" },
    { "demo", sc_demo_main, "[flags]", "the whole rollup on a local L1: deposits, transfers, proofs, a summary" },
    { "help", cmd_help, "[COMMAND]", "show help for zkcar or one command" },
    { "keygen", sc_curve_keygen_main, "FILE", "make a CURVE key pair for remote workers (FILE, FILE.pub)" },
    { "query", ipc_cmd_query, "[--data-dir DIR] account ADDRESS", "read an account straight from the shared-memory state" },
    { "run", sc_run_main, "[--config FILE] --l1-rpc URL --bridge ADDRESS [flags]", "the sidecar daemon: deposits, L2 transactions, batches, proofs, API, metrics" },
    { "verify", prv_cmd_verify, "[--json] FILE", "verify a batch artifact offline: its data, signatures and proof" },
    { "watch", l1w_watch_main, "--l1-rpc URL --bridge ADDRESS [flags]", "the L1 watcher alone, serving its deposit stream over ZeroMQ" },
    { "worker", sc_worker_main, "--connect ENDPOINT [flags]", "a remote proving worker for zkcar run --workers" },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "zkcar %s — a ZK-rollup sidecar\n\nusage: zkcar COMMAND [flags]\n\ncommands:\n",
            ZKCAR_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  zkcar --version      print the version\n"
               "  zkcar help COMMAND   details of one command\n");
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        argv[1] = "help";
    const struct command *c = find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "zkcar help: unknown command \"%s\"\n", argv[1]);
        return 2;
    }
    if (c->fn == cmd_help) {
        printf("usage: zkcar help %s\n  %s\n", c->synopsis, c->summary);
        return 0;
    }
    /* Every command answers --help with its full usage. */
    char *args[] = { argv[1], "--help", NULL };
    return c->fn(2, args);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        /* bad usage: one line on stderr (SPEC §1), the list is in zkcar help */
        fprintf(stderr, "zkcar: missing COMMAND (see zkcar help)\n");
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("zkcar %s\n", ZKCAR_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    const struct command *c = find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "zkcar: unknown command \"%s\" (see zkcar help)\n", argv[1]);
        return 2;
    }
    return c->fn(argc - 1, argv + 1);
}
