/*
 * l1-watcher/cmd.c — `zkcar watch`: the watcher alone, serving its stream over ZeroMQ.
 */
#include "l1-watcher/l1w.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/hex.h"
#include "common/log.h"

static const char *const finalized_words[] = { "finalized", NULL };
static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "logfmt", "json", NULL };

static const zk_opt watch_opts[] = {
    { "l1-rpc", ZK_OPT_STRING, "URL", NULL,
      "the execution client: ipc:///path, a bare socket path, or http://host:port (required)", 0, 0, NULL },
    { "bridge", ZK_OPT_STRING, "ADDRESS", NULL, "the bridge contract (required)", 0, 0, NULL },
    { "from-block", ZK_OPT_U64, "N", "0", "the block the bridge was deployed in", 0, 0, NULL },
    { "confirmations", ZK_OPT_U64, "N|finalized", "12",
      "deliver a deposit once head - block + 1 >= N, or once finalized", 1, L1W_CONFIRMATIONS_MAX,
      finalized_words },
    { "chain-id", ZK_OPT_U64, "N", "0", "refuse a node whose eth_chainId differs (0: any)", 0, 0, NULL },
    { "data-dir", ZK_OPT_STRING, "DIR", "./zkcar-data", "holds the outbox l1-watcher.sqlite", 0, 0, NULL },
    { "stream", ZK_OPT_STRING, "ENDPOINT", "tcp://127.0.0.1:3052",
      "ZeroMQ endpoint the deposit stream is served on", 0, 0, NULL },
    { "poll-ms", ZK_OPT_U64, "MS", "1000", "head polling interval (IPC newHeads wakes sooner)", 10, 600000, NULL },
    { "rpc-timeout-ms", ZK_OPT_U64, "MS", "10000", "timeout of one JSON-RPC call", 100, 600000, NULL },
    { "logs-chunk-max", ZK_OPT_U64, "BLOCKS", "10000", "largest eth_getLogs range", 1, 1000000, NULL },
    { "log-level", ZK_OPT_CHOICE, "LEVEL", "info", "debug, info, warn or error", 0, 0, log_levels },
    { "log-format", ZK_OPT_CHOICE, "FORMAT", "logfmt", "logfmt or json", 0, 0, log_formats },
};
#define NOPTS (sizeof watch_opts / sizeof watch_opts[0])

static l1w_watcher *running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        l1w_watcher_stop(running);
}

int l1w_watch_main(int argc, char **argv)
{
    static const char synopsis[] = "--l1-rpc URL --bridge ADDRESS [flags]";
    zk_config *cfg = NULL;
    l1w_watcher *w = NULL;
    zk_error_detail err = { 0 };
    int status = 2;
    if (zk_config_parse(&cfg, &err, "watch", watch_opts, NOPTS, argc, argv) != ZK_OK) {
        fprintf(stderr, "zkcar watch: %s\n", err.text);
        goto cleanup;
    }
    if (zk_config_help_requested(cfg)) {
        zk_config_usage(stdout, "watch", synopsis, watch_opts, NOPTS);
        printf("\nFollows the bridge on L1 and serves its confirmed deposits over ZeroMQ\n"
               "(protocol: docs/l1-watcher.md). SIGINT/SIGTERM stop it cleanly.\n");
        status = 0;
        goto cleanup;
    }
    if (zk_config_npositional(cfg) > 0) {
        fprintf(stderr, "zkcar watch: unexpected argument \"%s\"\n", zk_config_positional(cfg, 0));
        goto cleanup;
    }
    zk_log_set_level((zk_log_level)zk_log_level_parse(zk_config_get(cfg, "log-level")));
    zk_log_set_format((zk_log_format)zk_log_format_parse(zk_config_get(cfg, "log-format")));
    l1w_config c;
    l1w_config_defaults(&c);
    c.l1_rpc = zk_config_get(cfg, "l1-rpc");
    const char *bridge = zk_config_get(cfg, "bridge");
    if (c.l1_rpc == NULL || bridge == NULL) {
        fprintf(stderr, "zkcar watch: --l1-rpc and --bridge are required\n");
        goto cleanup;
    }
    if (zk_address_parse(c.bridge, &err, bridge, strlen(bridge)) != ZK_OK) {
        fprintf(stderr, "zkcar watch: --bridge: %s\n", err.text);
        goto cleanup;
    }
    c.from_block = zk_config_get_u64(cfg, "from-block");
    uint64_t conf = zk_config_get_u64(cfg, "confirmations");
    c.confirmations = conf == UINT64_MAX ? L1W_CONFIRMATIONS_FINALIZED : (uint32_t)conf;
    c.chain_id = zk_config_get_u64(cfg, "chain-id");
    c.data_dir = zk_config_get(cfg, "data-dir");
    c.stream_endpoint = zk_config_get(cfg, "stream");
    c.poll_ms = (int)zk_config_get_u64(cfg, "poll-ms");
    c.rpc_timeout_ms = (int)zk_config_get_u64(cfg, "rpc-timeout-ms");
    c.logs_chunk_max = zk_config_get_u64(cfg, "logs-chunk-max");
    zk_err rc = l1w_watcher_create(&w, &err, &c, NULL, NULL);
    if (rc != ZK_OK) {
        fprintf(stderr, "zkcar watch: %s\n", err.text);
        status = rc == ZK_ERR_USAGE || rc == ZK_ERR_L1_DATA_DIR ? 2 : 1;
        goto cleanup;
    }
    running = w;
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = l1w_watcher_run(w, &err);
    running = NULL;
    if (rc != ZK_OK) {
        zk_log_failure("watch", "%s: %s", zk_strerror(rc), err.text);
        status = 1;
        goto cleanup;
    }
    zk_log(ZK_LOG_INFO, "watcher stopped", ZKF_END);
    status = 0;
cleanup:
    l1w_watcher_destroy(w);
    zk_config_destroy(cfg);
    return status;
}
