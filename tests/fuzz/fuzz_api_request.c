/* libFuzzer target: a JSON-RPC request body (outside data from any HTTP
 * client) through sc_api_handle, the API's pure request handler, over a REAL
 * node on a temporary data directory (opened once, two funded accounts,
 * prover threads 0), so that parsing, batches, every method's params and the
 * node's queries and submit checks all run on fuzzed input. Every answer must
 * be valid JSON: an object, an array of objects, or nothing (notifications).
 *
 * A fuzzed transaction that passes every check would be accepted and made
 * durable like any other; that is the node working, not a finding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/file.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/sig.h"
#include "ipc/state.h"
#include "sidecar/api.h"
#include "sidecar/node.h"

static sc_node *g_node;
static sc_api *g_api;
static char g_dir[] = "/tmp/zkcar-fuzz-api-XXXXXX";

/* At exit: stop the node, remove its region and data directory. */
static void cleanup(void)
{
    sc_api_destroy(g_api);
    sc_node_stop(g_node);
    sc_node_close(g_node);
    char name[128];
    if (ipc_region_name(name, sizeof name, g_dir) == ZK_OK)
        shm_unlink(name);
    zk_file_remove_tree(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = g_dir;
    zk_log_set_level(ZK_LOG_ERROR);
    if (mkdtemp(g_dir) == NULL)
        abort();
    sc_config cfg;
    sc_config_defaults(&cfg);
    cfg.data_dir = dir;
    cfg.chain_id = 31337;
    memset(cfg.bridge, 0xbb, 20);
    cfg.prover_threads = 0;
    cfg.batch_size = 2;
    cfg.batch_interval_ms = 50;
    cfg.mempool_max = 64;
    cfg.state_capacity = 1024;
    zk_error_detail err = { 0 };
    if (sc_node_open(&g_node, &cfg, &err) != ZK_OK || sc_node_start(g_node, &err) != ZK_OK ||
        sc_node_set_stream_id(g_node, 1, &err) != ZK_OK) {
        fprintf(stderr, "fuzz_api_request: node: %s\n", err.text);
        abort();
    }
    /* Two funded accounts (keys keccak(1), keccak(2) of a u64), so that
     * getAccount, getDeposit and getBatch have something to find. */
    for (uint64_t i = 0; i < 2; i++) {
        uint64_t seed = i + 1;
        uint8_t key[32];
        l1w_record rec;
        memset(&rec, 0, sizeof rec);
        zk_keccak256(key, &seed, sizeof seed);
        if (zk_sig_seckey_address(rec.deposit.to, NULL, key) != ZK_OK)
            abort();
        rec.seq = i + 1;
        rec.deposit.deposit_id = i;
        rec.deposit.amount_gwei = 1000000000;
        rec.deposit.block_number = 10 + i;
        memcpy(rec.deposit.from, rec.deposit.to, 20);
        if (sc_node_deposit(g_node, &rec, &err) != ZK_OK)
            abort();
    }
    sc_api_options o = { .body_max = 16384, .batch_max = 16 };
    if (sc_api_create(&g_api, g_node, NULL, &o) != ZK_OK)
        abort();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan catches any read past the length. */
    char *body = malloc(size ? size : 1);
    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    char *out = NULL;
    size_t len = 0;
    if (sc_api_handle(g_api, body, size, &out, &len) != ZK_OK)
        abort();
    if (out != NULL) {
        if (strlen(out) != len)
            abort();
        struct json_object *o = json_tokener_parse(out);
        if (o == NULL || !(json_object_is_type(o, json_type_object) || json_object_is_type(o, json_type_array)))
            abort();
        json_object_put(o);
    }
    free(out);
    free(body);
    return 0;
}
