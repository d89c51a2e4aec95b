/*
 * sidecar/run.c — `zkcar run`: the sidecar daemon (run.h, SPEC §1).
 *
 * Threads: main (signals, supervision, L1 figures), the node's sequencer and
 * prover threads, the store's committer, the embedded watcher or the stream
 * consumer, the API's connection threads, the metrics server, the remote
 * dispatcher. SIGINT and SIGTERM are blocked in all of them and taken by the
 * main thread with sigtimedwait, so no handler runs inside a library call.
 *
 * Stop order: the deposit source first (nothing new arrives), then the
 * dispatcher and the API (requests in flight finish: an acknowledged
 * transaction is durable), then the node (its sequencer and provers), then
 * /metrics, then everything is closed.
 */
#include "sidecar/run.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpf/loader.h"
#include "common/config.h"
#include "common/hex.h"
#include "common/log.h"
#include "l1-watcher/l1w.h"
#include "l1-watcher/pending.h"
#include "prover/batch.h"
#include "sidecar/api.h"
#include "sidecar/curve.h"
#include "sidecar/dist.h"
#include "sidecar/metrics.h"
#include "sidecar/node.h"

#define RUN_CREDIT 256              /* stream records in flight to this consumer */
#define RUN_OUTBOX_FILE "l1-watcher.sqlite"
#define RUN_REPLAY_CHUNK 256

static const char *const finalized_words[] = { "finalized", NULL };
static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "logfmt", "json", NULL };
static const char *const bpf_modes[] = { "on", "off", "auto", NULL };

static const zk_opt run_opts[] = {
    { "l1-rpc", ZK_OPT_STRING, "URL", NULL,
      "the execution client: ipc:///path, a bare socket path, or http://host:port (required unless --watcher)", 0, 0,
      NULL },
    { "watcher", ZK_OPT_STRING, "ENDPOINT", NULL, "consume an external `zkcar watch` instead of running the watcher inside",
      0, 0, NULL },
    { "bridge", ZK_OPT_STRING, "ADDRESS", NULL, "the bridge contract (required)", 0, 0, NULL },
    { "from-block", ZK_OPT_U64, "N", "0", "the block the bridge was deployed in", 0, 0, NULL },
    { "confirmations", ZK_OPT_U64, "N|finalized", "12",
      "credit a deposit once head - block + 1 >= N, or once finalized", 1, L1W_CONFIRMATIONS_MAX, finalized_words },
    { "data-dir", ZK_OPT_STRING, "DIR", "./zkcar-data",
      "the state's log and snapshots, sidecar.sqlite, batches/<n>.batch; names the shared-memory region", 0, 0, NULL },
    { "api", ZK_OPT_HOSTPORT, "HOST:PORT", "127.0.0.1:3050", "JSON-RPC for wallets and bridge UIs", 0, 0, NULL },
    { "metrics", ZK_OPT_HOSTPORT, "HOST:PORT", "127.0.0.1:9464", "Prometheus /metrics", 0, 0, NULL },
    { "batch-size", ZK_OPT_U64, "N", "1024", "seal a batch when it holds N operations (deposits included)", 1,
      PRV_BATCH_MAX_OPS, NULL },
    { "batch-interval-ms", ZK_OPT_U64, "N", "2000", "... or when its oldest operation is this old", 1, 3600000, NULL },
    { "prover-threads", ZK_OPT_U64, "N", NULL, "proving threads in this process (0 = only remote workers; default: cores)",
      0, 256, NULL },
    { "workers", ZK_OPT_STRING, "ENDPOINT", NULL, "ZeroMQ endpoint where remote `zkcar worker`s connect", 0, 0, NULL },
    { "keep-jobs", ZK_OPT_FLAG, NULL, NULL,
      "keep each batch's proving job (DATA_DIR/batches/N.job, ~2.3 KB per transfer) after it is proven", 0, 0, NULL },
    { "workers-key", ZK_OPT_STRING, "FILE", NULL,
      "the dispatcher's CURVE key file (zkcar keygen): workers must know its public key; traffic is encrypted", 0, 0,
      NULL },
    { "workers-allow", ZK_OPT_STRING, "FILE", NULL,
      "the workers' public keys, one per line (needs --workers-key; re-read when it changes; default: any key)", 0, 0,
      NULL },
    { "operator", ZK_OPT_STRING, "ADDRESS", "0x0000000000000000000000000000000000000000",
      "L2 account that collects fees", 0, 0, NULL },
    { "bpf", ZK_OPT_CHOICE, "MODE", "auto", "eBPF latency probes on the prover: on, off or auto", 0, 0, bpf_modes },
    { "chain-id", ZK_OPT_U64, "N", "0",
      "the L1 chain id (EIP-712 domain); 0 = ask --l1-rpc (required with --watcher and no --l1-rpc)", 0, 0, NULL },
    { "stream", ZK_OPT_STRING, "ENDPOINT", NULL, "the embedded watcher also serves its deposit stream here", 0, 0,
      NULL },
    { "mempool-max", ZK_OPT_U64, "N", "65536", "accepted, unsealed transactions; beyond, API error 1005", 1,
      1u << 24, NULL },
    { "log-level", ZK_OPT_CHOICE, "LEVEL", "info", "debug, info, warn or error", 0, 0, log_levels },
    { "log-format", ZK_OPT_CHOICE, "FORMAT", "logfmt", "logfmt or json", 0, 0, log_formats },
};
#define NOPTS (sizeof run_opts / sizeof run_opts[0])

/* ---- the deposit source: embedded watcher --------------------------------------- */

typedef struct run_ctx {
    sc_node *node;
    atomic_bool fatal;              /* a thread gave up: exit 1 */
    atomic_bool fatal_usage;        /* ... because of a flag's value: exit 2 */
    atomic_bool stop;
    char fatal_text[320];
    pthread_mutex_t fatal_mu;
    l1w_watcher *watcher;
} run_ctx;

static void set_fatal(run_ctx *r, const char *text)
{
    pthread_mutex_lock(&r->fatal_mu);
    if (!atomic_load(&r->fatal))
        snprintf(r->fatal_text, sizeof r->fatal_text, "%s", text);
    atomic_store(&r->fatal, true);
    pthread_mutex_unlock(&r->fatal_mu);
}

/* Called on the watcher's thread right after the outbox commit. A failure
 * here loses nothing: the record is in the outbox, and the next start
 * replays the outbox from the node's cursor (replay_outbox). That is also
 * why a stop skips the rest: a catch-up commits thousands of deposits at
 * once, and crediting them all would hold SIGINT/SIGTERM for seconds. */
static void on_deposit(void *ctx, const l1w_record *rec)
{
    run_ctx *r = ctx;
    if (atomic_load(&r->fatal) || atomic_load(&r->stop))
        return;
    zk_error_detail e = { 0 };
    if (sc_node_deposit(r->node, rec, &e) != ZK_OK) {
        char t[300];
        snprintf(t, sizeof t, "deposit %" PRIu64 " not credited: %.200s", rec->deposit.deposit_id, e.text);
        set_fatal(r, t);
        l1w_watcher_stop(r->watcher);
    }
}

/* Before the watcher runs: credit what its outbox holds beyond the node's
 * cursor (the process died between the outbox's commit and the node's). */
/* Whether one of `sigs` (blocked) is pending; it stays pending. */
static bool stop_pending(const sigset_t *sigs)
{
    sigset_t p;
    if (sigpending(&p) != 0)
        return false;
    return (sigismember(sigs, SIGINT) == 1 && sigismember(&p, SIGINT) == 1) ||
           (sigismember(sigs, SIGTERM) == 1 && sigismember(&p, SIGTERM) == 1);
}

static zk_err replay_outbox(sc_node *node, const char *data_dir, uint64_t chain_id, const uint8_t bridge[20],
                            uint64_t from_block, const sigset_t *stop_sigs, zk_error_detail *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", data_dir, RUN_OUTBOX_FILE) >= sizeof path)
        return zk_error_set(err, ZK_ERR_USAGE, "--data-dir: path too long");
    l1w_outbox *ob = NULL;
    l1w_record *recs = NULL;
    zk_err rc = l1w_outbox_open(&ob, err, path, chain_id, bridge, from_block);
    if (rc != ZK_OK)
        return rc;
    uint64_t stream_id, last_seq;
    sc_node_deposit_cursor(node, &stream_id, &last_seq);
    if ((rc = sc_node_set_stream_id(node, l1w_outbox_stream_id(ob), err)) != ZK_OK)
        goto cleanup;
    recs = calloc(RUN_REPLAY_CHUNK, sizeof *recs);
    if (recs == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    uint64_t replayed = 0;
    for (;;) {
        size_t n = 0;
        if ((rc = l1w_outbox_read(ob, err, recs, RUN_REPLAY_CHUNK, &n, last_seq + 1)) != ZK_OK)
            goto cleanup;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            /* SIGINT/SIGTERM (blocked, so pending) stop the replay between
             * two deposits: each credit is one fsync, and thousands of them
             * would hold the stop for seconds. The rest stays in the
             * outbox for the next start. */
            if (stop_pending(stop_sigs)) {
                zk_log(ZK_LOG_INFO, "stopping during the outbox replay; the rest is credited at the next start",
                       ZKF_U64("replayed", replayed), ZKF_END);
                rc = ZK_ERR_SC_STOPPING;
                goto cleanup;
            }
            if ((rc = sc_node_deposit(node, &recs[i], err)) != ZK_OK)
                goto cleanup;
            last_seq = recs[i].seq;
            replayed++;
        }
    }
    if (replayed > 0)
        zk_log(ZK_LOG_INFO, "replayed deposits from the watcher's outbox", ZKF_U64("count", replayed), ZKF_END);
cleanup:
    free(recs);
    l1w_outbox_close(ob);
    return rc;
}

/* ---- the deposit source: an external `zkcar watch` --------------------------------- */

typedef struct consumer_arg {
    run_ctx *r;
    const char *endpoint;
    l1w_pending *pending; /* one view across reconnections; zkcar_getDeposit asks it */
} consumer_arg;

static void *consumer_main(void *p)
{
    consumer_arg *a = p;
    run_ctx *r = a->r;
    int backoff_ms = 100;
    while (!atomic_load(&r->stop) && !atomic_load(&r->fatal)) {
        uint64_t sid, last;
        sc_node_deposit_cursor(r->node, &sid, &last);
        l1w_consumer *c = NULL;
        zk_error_detail e = { 0 };
        zk_err crc = l1w_consumer_create(&c, &e, a->endpoint, sid, last, RUN_CREDIT);
        if (crc != ZK_OK) {
            atomic_store(&r->fatal_usage, crc == ZK_ERR_USAGE); /* a malformed --watcher */
            set_fatal(r, e.text);
            break;
        }
        l1w_consumer_set_pending(c, a->pending);
        bool have_id = sid != 0;
        while (!atomic_load(&r->stop) && !atomic_load(&r->fatal)) {
            l1w_record rec;
            zk_err rc = l1w_consumer_next(c, &rec, &e, 200);
            uint64_t head, confirmed;
            l1w_consumer_status(c, &head, &confirmed);
            if (head > 0)
                sc_node_set_l1(r->node, head, confirmed);
            if (!have_id && l1w_consumer_stream_id(c) != 0) {
                zk_error_detail se = { 0 };
                if (sc_node_set_stream_id(r->node, l1w_consumer_stream_id(c), &se) != ZK_OK) {
                    set_fatal(r, se.text);
                    break;
                }
                have_id = true;
            }
            if (rc == ZK_ERR_TIMEOUT)
                continue;
            if (rc == ZK_ERR_STREAM_CHANGED) {
                set_fatal(r, e.text);
                break;
            }
            if (rc != ZK_OK) {
                zk_log(ZK_LOG_WARN, "deposit stream broke; reconnecting", ZKF_STR("error", e.text),
                       ZKF_I64("backoff_ms", backoff_ms), ZKF_END);
                break;
            }
            backoff_ms = 100;
            if (sc_node_deposit(r->node, &rec, &e) != ZK_OK) {
                set_fatal(r, e.text);
                break;
            }
            /* acknowledged only once durable in the node */
            if (l1w_consumer_ack(c, &e, rec.seq) != ZK_OK)
                zk_log(ZK_LOG_WARN, "stream ack failed", ZKF_STR("error", e.text), ZKF_END);
        }
        l1w_consumer_destroy(c);
        if (!atomic_load(&r->stop) && !atomic_load(&r->fatal)) {
            usleep((useconds_t)backoff_ms * 1000);
            backoff_ms = backoff_ms < 5000 ? 2 * backoff_ms : 5000;
        }
    }
    return NULL;
}

/* ---- chain id ------------------------------------------------------------------------------ */

/* Asks the L1 node for eth_chainId, retrying with backoff until it answers
 * or a signal arrives (the node may start after us). */
static zk_err ask_chain_id(uint64_t *out, const char *url, const sigset_t *sigs, zk_error_detail *err)
{
    l1w_rpc *rpc = NULL;
    zk_err rc = l1w_rpc_create(&rpc, err, url, 10000, 0);
    if (rc != ZK_OK)
        return rc;
    int backoff_ms = 100;
    for (;;) {
        json_object *res = NULL;
        rc = l1w_rpc_call(rpc, &res, NULL, err, "eth_chainId", NULL);
        if (rc == ZK_OK) {
            if (res == NULL || !json_object_is_type(res, json_type_string))
                rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_chainId: result is not a quantity");
            else
                rc = l1w_quantity_parse(out, err, json_object_get_string(res), (size_t)json_object_get_string_len(res));
            json_object_put(res);
            if (rc == ZK_OK && *out == 0)
                rc = zk_error_set(err, ZK_ERR_L1_BAD_REPLY, "eth_chainId: 0");
            break;
        }
        if (!zk_err_is_retryable(rc) && rc != ZK_ERR_L1_HTTP_STATUS)
            break;
        zk_log(ZK_LOG_WARN, "L1 not answering eth_chainId; retrying", ZKF_STR("error", err ? err->text : ""),
               ZKF_I64("backoff_ms", backoff_ms), ZKF_END);
        struct timespec ts = { .tv_sec = backoff_ms / 1000, .tv_nsec = (long)(backoff_ms % 1000) * 1000000L };
        if (sigtimedwait(sigs, NULL, &ts) > 0) {
            rc = ZK_ERR_SC_STOPPING;
            break;
        }
        backoff_ms = backoff_ms < 5000 ? 2 * backoff_ms : 5000;
    }
    l1w_rpc_destroy(rpc);
    return rc;
}

/* ---- main ---------------------------------------------------------------------------------- */

static bool parse_addr(uint8_t out[20], const char *flag, const char *text)
{
    zk_error_detail e = { 0 };
    if (zk_address_parse(out, &e, text, strlen(text)) != ZK_OK) {
        fprintf(stderr, "zkcar run: --%s: %s\n", flag, e.text);
        return false;
    }
    return true;
}

/* Each API connection is a descriptor, and a shell's soft limit (often
 * 1,024) would refuse connections long before the API's own cap: raise the
 * soft limit to the hard one (systemd's LimitNOFILE sets both). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        zk_log(ZK_LOG_DEBUG, "raised the open-files limit", ZKF_U64("from", (uint64_t)was),
               ZKF_U64("to", (uint64_t)rl.rlim_cur), ZKF_END);
}

int sc_run_main(int argc, char **argv)
{
    static const char synopsis[] = "[--config FILE] --l1-rpc URL --bridge ADDRESS [flags]";
    int status = 2;
    zk_config *cfg = NULL;
    zk_error_detail err = { 0 };
    run_ctx r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.fatal_mu, NULL);
    atomic_init(&r.fatal, false);
    atomic_init(&r.stop, false);
    atomic_init(&r.fatal_usage, false);
    sc_node *node = NULL;
    zk_metrics *metrics = NULL;
    zk_metrics_server *msrv = NULL;
    sc_api *api = NULL;
    sc_dist *dist = NULL;
    sc_curve_keypair wkey;
    memset(&wkey, 0, sizeof wkey);
    zkbpf *lat = NULL;
    l1w_watcher *watcher = NULL;
    l1w_watcher_thread *wthread = NULL;
    pthread_t cthread;
    bool consumer_started = false;
    consumer_arg carg;
    l1w_pending *consumer_view = NULL;
    bool node_opened = false;

    if (zk_config_parse(&cfg, &err, "run", run_opts, NOPTS, argc, argv) != ZK_OK) {
        fprintf(stderr, "zkcar run: %s\n", err.text);
        goto cleanup;
    }
    if (zk_config_help_requested(cfg)) {
        zk_config_usage(stdout, "run", synopsis, run_opts, NOPTS);
        printf("\nThe sidecar daemon: follows the bridge for deposits, accepts signed L2\n"
               "transactions over JSON-RPC, seals them into batches, proves every batch\n"
               "(DIR/batches/<n>.batch, checked by `zkcar verify`) and serves /metrics.\n"
               "Every flag may be set in the --config INI file (flags win).\n"
               "SIGINT/SIGTERM stop it cleanly. Exit: 0 clean, 1 runtime failure, 2 bad usage.\n");
        status = 0;
        goto cleanup;
    }
    if (zk_config_npositional(cfg) > 0) {
        fprintf(stderr, "zkcar run: unexpected argument \"%s\"\n", zk_config_positional(cfg, 0));
        goto cleanup;
    }
    zk_log_set_level((zk_log_level)zk_log_level_parse(zk_config_get(cfg, "log-level")));
    zk_log_set_format((zk_log_format)zk_log_format_parse(zk_config_get(cfg, "log-format")));

    const char *l1_rpc = zk_config_get(cfg, "l1-rpc");
    const char *watch_ep = zk_config_get(cfg, "watcher");
    const char *bridge_text = zk_config_get(cfg, "bridge");
    const char *workers = zk_config_get(cfg, "workers");
    const char *stream = zk_config_get(cfg, "stream");
    if (bridge_text == NULL) {
        fprintf(stderr, "zkcar run: --bridge is required\n");
        goto cleanup;
    }
    if (l1_rpc == NULL && watch_ep == NULL) {
        fprintf(stderr, "zkcar run: --l1-rpc is required (or --watcher ENDPOINT)\n");
        goto cleanup;
    }
    if (watch_ep != NULL && stream != NULL) {
        fprintf(stderr, "zkcar run: --stream serves the embedded watcher's stream; it cannot go with --watcher\n");
        goto cleanup;
    }
    sc_config nc;
    sc_config_defaults(&nc);
    if (!parse_addr(nc.bridge, "bridge", bridge_text)
        || !parse_addr(nc.operator_addr, "operator", zk_config_get(cfg, "operator")))
        goto cleanup;
    nc.data_dir = zk_config_get(cfg, "data-dir");
    nc.batch_size = (uint32_t)zk_config_get_u64(cfg, "batch-size");
    nc.batch_interval_ms = (uint32_t)zk_config_get_u64(cfg, "batch-interval-ms");
    nc.keep_jobs = zk_config_get_bool(cfg, "keep-jobs");
    nc.mempool_max = (uint32_t)zk_config_get_u64(cfg, "mempool-max");
    if (zk_config_get(cfg, "prover-threads") != NULL)
        nc.prover_threads = (unsigned)zk_config_get_u64(cfg, "prover-threads");
    if (nc.prover_threads == 0 && workers == NULL) {
        fprintf(stderr, "zkcar run: --prover-threads 0 needs --workers (nothing would prove the batches)\n");
        goto cleanup;
    }
    const char *workers_key = zk_config_get(cfg, "workers-key");
    const char *workers_allow = zk_config_get(cfg, "workers-allow");
    if (workers_allow != NULL && workers_key == NULL) {
        fprintf(stderr, "zkcar run: --workers-allow needs --workers-key (the allow list is enforced by CURVE)\n");
        goto cleanup;
    }
    if (workers_key != NULL && workers == NULL) {
        fprintf(stderr, "zkcar run: --workers-key needs --workers\n");
        goto cleanup;
    }
    if (workers_key != NULL && sc_curve_key_load(&wkey, workers_key, true, &err) != ZK_OK) {
        fprintf(stderr, "zkcar run: --workers-key %s\n", err.text);
        goto cleanup;
    }
    uint64_t confirmations = zk_config_get_u64(cfg, "confirmations");
    uint64_t from_block = zk_config_get_u64(cfg, "from-block");
    nc.chain_id = zk_config_get_u64(cfg, "chain-id");
    if (nc.chain_id == 0 && l1_rpc == NULL) {
        fprintf(stderr, "zkcar run: --chain-id is required with --watcher when there is no --l1-rpc\n");
        goto cleanup;
    }
    zkbpf_mode bpf_mode;
    const char *bpf_text = zk_config_get(cfg, "bpf");
    if (zkbpf_mode_parse(&bpf_mode, bpf_text, strlen(bpf_text)) != ZK_OK) {
        fprintf(stderr, "zkcar run: --bpf: \"%s\" is not on, off or auto\n", bpf_text);
        goto cleanup;
    }
    /* The URL's form is usage: refuse it now, not after the node has opened
     * (with --chain-id nothing else looks at it before the watcher starts). */
    if (l1_rpc != NULL) {
        l1w_rpc *probe = NULL;
        zk_err prc = l1w_rpc_create(&probe, &err, l1_rpc, 0, 0);
        l1w_rpc_destroy(probe);
        if (prc != ZK_OK) {
            fprintf(stderr, "zkcar run: %s\n", err.text);
            status = prc == ZK_ERR_USAGE ? 2 : 1;
            goto cleanup;
        }
    }

    /* From here on, failures are runtime failures. SIGINT/SIGTERM are
     * blocked before any thread starts, so every thread inherits the mask
     * and the main thread alone takes them. */
    status = 1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (nc.chain_id == 0) {
        zk_err rc = ask_chain_id(&nc.chain_id, l1_rpc, &sigs, &err);
        if (rc == ZK_ERR_SC_STOPPING) {
            status = 0;
            goto cleanup;
        }
        if (rc != ZK_OK) {
            zk_log_failure("run", "--l1-rpc: %s", err.text);
            status = rc == ZK_ERR_USAGE ? 2 : 1;
            goto cleanup;
        }
    }
    if (mkdir(nc.data_dir, 0700) != 0 && errno != EEXIST) {
        zk_log_failure("run", "--data-dir %s: %s", nc.data_dir, strerror(errno));
        goto cleanup;
    }

    if (zkbpf_start(&lat, bpf_mode, 0, &err) != ZK_OK) {
        zk_log_failure("run", "--bpf %s: %s", bpf_text, err.text);
        goto cleanup;
    }
    zk_err rc = sc_node_open(&node, &nc, &err);
    if (rc != ZK_OK) {
        zk_log_failure("run", "%s", err.text);
        status = rc == ZK_ERR_USAGE ? 2 : 1;
        goto cleanup;
    }
    r.node = node;
    node_opened = true;
    if (zk_metrics_create(&metrics) != ZK_OK || sc_node_register_metrics(node, metrics) != ZK_OK
        || (lat != NULL && zkbpf_metrics_register(lat, metrics) != ZK_OK)) {
        zk_log_failure("run", "cannot set up the metrics");
        goto cleanup;
    }
    raise_fd_limit();
    if (sc_api_create(&api, node, metrics, NULL) != ZK_OK) {
        zk_log_failure("run", "cannot create the API");
        goto cleanup;
    }
    if (sc_node_start(node, &err) != ZK_OK) {
        zk_log_failure("run", "%s", err.text);
        goto cleanup;
    }
    if (zk_metrics_server_start(&msrv, metrics, zk_config_get(cfg, "metrics"), &err) != ZK_OK) {
        zk_log_failure("run", "--metrics %s: %s", zk_config_get(cfg, "metrics"), err.text);
        goto cleanup;
    }
    if (sc_api_start(api, zk_config_get(cfg, "api"), &err) != ZK_OK) {
        zk_log_failure("run", "--api %s: %s", zk_config_get(cfg, "api"), err.text);
        goto cleanup;
    }
    if (workers != NULL) {
        sc_dist_config dc;
        sc_dist_config_defaults(&dc);
        dc.endpoint = workers;
        dc.params = nc.params;
        dc.curve_secret_z85 = workers_key != NULL ? wkey.secret_z85 : NULL;
        dc.curve_allow_file = workers_allow;
        rc = sc_dist_start_node(&dist, node, &dc, metrics, &err);
        explicit_bzero(&wkey, sizeof wkey); /* the dispatcher keeps its own copy */
        if (rc != ZK_OK) {
            zk_log_failure("run", "%s", err.text); /* it names --workers */
            status = rc == ZK_ERR_USAGE ? 2 : 1;
            goto cleanup;
        }
    }

    if (watch_ep == NULL) {
        l1w_config wc;
        l1w_config_defaults(&wc);
        wc.l1_rpc = l1_rpc;
        memcpy(wc.bridge, nc.bridge, 20);
        wc.from_block = from_block;
        wc.confirmations = confirmations == UINT64_MAX ? L1W_CONFIRMATIONS_FINALIZED : (uint32_t)confirmations;
        wc.chain_id = nc.chain_id;
        wc.data_dir = nc.data_dir;
        wc.stream_endpoint = stream;
        if ((rc = replay_outbox(node, nc.data_dir, nc.chain_id, nc.bridge, from_block, &sigs, &err)) ==
            ZK_ERR_SC_STOPPING) {
            status = 0;
            goto cleanup;
        }
        if (rc != ZK_OK) {
            zk_log_failure("run", "%s", err.text);
            status = rc == ZK_ERR_L1_DATA_DIR ? 2 : 1;
            goto cleanup;
        }
        if ((rc = l1w_watcher_create(&watcher, &err, &wc, on_deposit, &r)) != ZK_OK) {
            zk_log_failure("run", "watcher: %s", err.text);
            status = rc == ZK_ERR_USAGE ? 2 : 1;
            goto cleanup;
        }
        r.watcher = watcher;
        sc_node_set_pending(node, l1w_watcher_pending(watcher));
        if (l1w_watcher_start(&wthread, watcher, &err) != ZK_OK) {
            zk_log_failure("run", "%s", err.text);
            goto cleanup;
        }
    } else {
        carg.r = &r;
        carg.endpoint = watch_ep;
        if (l1w_pending_create(&consumer_view, &err, 0, 0) != ZK_OK) {
            zk_log_failure("run", "%s", err.text);
            goto cleanup;
        }
        carg.pending = consumer_view;
        sc_node_set_pending(node, consumer_view);
        if (pthread_create(&cthread, NULL, consumer_main, &carg) != 0) {
            zk_log_failure("run", "cannot start the stream consumer");
            goto cleanup;
        }
        consumer_started = true;
    }

    char bridge_hex[43];
    zk_address_format(bridge_hex, nc.bridge);
    zk_log(ZK_LOG_INFO, "zkcar run started", ZKF_STR("version", ZKCAR_VERSION), ZKF_U64("chain_id", nc.chain_id),
           ZKF_STR("bridge", bridge_hex), ZKF_STR("data_dir", nc.data_dir), ZKF_STR("api", zk_config_get(cfg, "api")),
           ZKF_U64("api_port", sc_api_port(api)), ZKF_STR("metrics", zk_config_get(cfg, "metrics")),
           ZKF_STR("deposits_from", watch_ep != NULL ? watch_ep : "embedded watcher"),
           ZKF_U64("prover_threads", nc.prover_threads), ZKF_STR("workers", workers != NULL ? workers : ""),
           ZKF_STR("latency_backend", lat != NULL ? zkbpf_backend_name(zkbpf_backend_of(lat)) : "none"), ZKF_END);

    /* Supervise: signals, a watcher or consumer that gave up, a failed node. */
    for (;;) {
        struct timespec ts = { .tv_sec = 0, .tv_nsec = 200000000L };
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            atomic_store(&r.stop, true); /* first: the watcher's handoffs end now */
            zk_log(ZK_LOG_INFO, "stopping", ZKF_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"), ZKF_END);
            status = 0;
            break;
        }
        if (watcher != NULL) {
            l1w_stats st;
            l1w_watcher_stats(watcher, &st);
            sc_node_set_l1(node, st.l1_head, st.l1_confirmed);
            if (l1w_watcher_done(wthread)) {
                zk_error_detail we = { 0 };
                zk_err wrc = l1w_watcher_join(wthread, &we);
                wthread = NULL;
                if (!atomic_load(&r.fatal))
                    set_fatal(&r, wrc != ZK_OK ? we.text : "the watcher stopped");
            }
        }
        if (sc_node_failed(node))
            set_fatal(&r, "the node failed (see the log above); restart to recover from what is durable");
        if (atomic_load(&r.fatal)) {
            zk_log(ZK_LOG_ERROR, "stopping after a fatal error", ZKF_STR("error", r.fatal_text), ZKF_END);
            if (zk_log_get_format() != ZK_LOG_FORMAT_JSON) /* the line above says it in JSON */
                fprintf(stderr, "zkcar run: %s\n", r.fatal_text);
            status = atomic_load(&r.fatal_usage) ? 2 : 1;
            break;
        }
    }

cleanup:
    explicit_bzero(&wkey, sizeof wkey);
    atomic_store(&r.stop, true);
    if (watcher != NULL)
        l1w_watcher_stop(watcher);
    if (wthread != NULL) {
        zk_error_detail we = { 0 };
        if (l1w_watcher_join(wthread, &we) != ZK_OK && status == 0)
            zk_log(ZK_LOG_WARN, "the watcher stopped with an error", ZKF_STR("error", we.text), ZKF_END);
    }
    if (consumer_started)
        pthread_join(cthread, NULL);
    sc_dist_destroy(dist);
    sc_api_stop(api);
    sc_node_stop(node);
    zk_metrics_server_stop(msrv);
    sc_api_destroy(api);
    if (node != NULL)
        sc_node_set_pending(node, NULL);
    l1w_watcher_destroy(watcher);
    l1w_pending_destroy(consumer_view);
    sc_node_close(node);
    zkbpf_stop(lat);
    zk_metrics_destroy(metrics);
    zk_config_destroy(cfg);
    pthread_mutex_destroy(&r.fatal_mu);
    if (node_opened)
        zk_log(ZK_LOG_INFO, "zkcar run stopped", ZKF_I64("exit", status), ZKF_END);
    return status;
}
