/*
 * l1-watcher/devnet.c — anvil as a local L1 (see devnet.h).
 */
#include "l1-watcher/devnet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"

#define START_TIMEOUT_MS 30000
#define LOG_HEAD_MAX 8192
#define RECEIPT_TIMEOUT_MS 60000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static const char *anvil_path(char *buf, size_t cap)
{
    const char *nm = getenv("ZKCAR_NODE_MODULES");
    snprintf(buf, cap, "%s/@foundry-rs/anvil-linux-amd64/bin/anvil", nm ? nm : "node_modules");
    if (access(buf, X_OK) == 0)
        return buf;
    return "anvil";
}

static zk_err spawn(l1w_devnet *d, zk_error_detail *err, bool state, const char *const *extra, int port)
{
    char logpath[300], portstr[16], bin[512];
    snprintf(logpath, sizeof logpath, "%s/anvil.log", d->dir);
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *argv[48];
    int n = 0;
    argv[n++] = anvil_path(bin, sizeof bin);
    argv[n++] = "--port";
    argv[n++] = portstr;
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--ipc";
    argv[n++] = d->ipc_url + 6;
    if (state) {
        argv[n++] = "--state";
        argv[n++] = d->state;
    }
    for (size_t i = 0; extra && extra[i] && n < 46; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    unlink(d->ipc_url + 6);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return zk_error_set(err, ZK_ERR_IO, "%s: %s", logpath, strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return zk_error_set(err, ZK_ERR_IO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd);
    d->pid = pid;
    /* Wait for "Listening on 127.0.0.1:PORT" and the IPC socket. */
    int64_t deadline = now_ms() + START_TIMEOUT_MS;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            d->pid = 0;
            char first[121] = { 0 };
            FILE *lf = fopen(logpath, "r");
            if (lf) {
                if (fgets(first, sizeof first, lf) == NULL)
                    first[0] = '\0';
                fclose(lf);
            }
            first[strcspn(first, "\n")] = '\0';
            return zk_error_set(err, ZK_ERR_IO, "anvil (%.200s) exited at start: %s", argv[0],
                                first[0] ? first : "no output (is it installed? run scripts/setup.sh)");
        }
        if (now_ms() > deadline) {
            l1w_devnet_stop(d, false);
            return zk_error_set(err, ZK_ERR_TIMEOUT, "anvil did not start within %d ms", START_TIMEOUT_MS);
        }
        char buf[LOG_HEAD_MAX] = { 0 };
        FILE *f = fopen(logpath, "r");
        if (f) {
            size_t got = fread(buf, 1, sizeof buf - 1, f);
            buf[got] = '\0';
            fclose(f);
        }
        static const char tag[] = "Listening on 127.0.0.1:";
        char *p = strstr(buf, tag);
        struct stat sb;
        if (p && strchr(p, '\n') && stat(d->ipc_url + 6, &sb) == 0) {
            long v = strtol(p + sizeof tag - 1, NULL, 10);
            if (v <= 0 || v > 65535) {
                l1w_devnet_stop(d, false);
                return zk_error_set(err, ZK_ERR_BAD_VALUE, "anvil printed a bad port");
            }
            d->port = (int)v;
            break;
        }
        sleep_ms(20);
    }
    snprintf(d->http_url, sizeof d->http_url, "http://127.0.0.1:%d", d->port);
    l1w_rpc_destroy(d->rpc);
    d->rpc = NULL;
    return l1w_rpc_create(&d->rpc, err, d->http_url, 20000, 0);
}

zk_err l1w_devnet_start(l1w_devnet *d, zk_error_detail *err, bool state, const char *const *extra)
{
    memset(d, 0, sizeof *d);
    const char *tmp = getenv("TMPDIR");
    snprintf(d->dir, sizeof d->dir, "%s/zkcar-devnet-XXXXXX", tmp && strlen(tmp) < 100 ? tmp : "/tmp");
    if (mkdtemp(d->dir) == NULL) {
        zk_err rc = zk_error_set(err, ZK_ERR_IO, "mkdtemp: %s", strerror(errno));
        d->dir[0] = '\0';
        return rc;
    }
    snprintf(d->ipc_url, sizeof d->ipc_url, "ipc://%s/anvil.ipc", d->dir);
    snprintf(d->state, sizeof d->state, "%s/state.json", d->dir);
    json_object *acc = NULL;
    zk_err rc = spawn(d, err, state, extra, 0);
    if (rc != ZK_OK)
        goto cleanup;
    if ((rc = l1w_devnet_call(d, &acc, err, "eth_accounts", "[]")) != ZK_OK)
        goto cleanup;
    if (!json_object_is_type(acc, json_type_array) || json_object_array_length(acc) < L1W_DEVNET_ACCOUNTS) {
        rc = zk_error_set(err, ZK_ERR_BAD_VALUE, "anvil has fewer than %d accounts", L1W_DEVNET_ACCOUNTS);
        goto cleanup;
    }
    for (size_t i = 0; i < L1W_DEVNET_ACCOUNTS; i++)
        snprintf(d->accounts[i], sizeof d->accounts[i], "%.42s",
                 json_object_get_string(json_object_array_get_idx(acc, i)));
cleanup:
    json_object_put(acc);
    if (rc != ZK_OK)
        l1w_devnet_destroy(d); /* nothing left behind: no process, no directory */
    return rc;
}

zk_err l1w_devnet_restart(l1w_devnet *d, zk_error_detail *err, bool state, const char *const *extra)
{
    if (d->pid != 0)
        return zk_error_set(err, ZK_ERR_USAGE, "devnet is still running");
    return spawn(d, err, state, extra, d->port);
}

void l1w_devnet_stop(l1w_devnet *d, bool graceful)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, graceful ? SIGTERM : SIGKILL);
    int st;
    waitpid(d->pid, &st, 0);
    d->pid = 0;
}

void l1w_devnet_destroy(l1w_devnet *d)
{
    l1w_devnet_stop(d, false);
    l1w_rpc_destroy(d->rpc);
    d->rpc = NULL;
    if (d->dir[0]) {
        static const char *const files[] = { "anvil.ipc", "anvil.log", "state.json" };
        char p[400];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(p, sizeof p, "%s/%s", d->dir, files[i]);
            unlink(p);
        }
        rmdir(d->dir); /* fails if callers left files: theirs to clean */
        d->dir[0] = '\0';
    }
}

zk_err l1w_devnet_call(l1w_devnet *d, json_object **result, zk_error_detail *err, const char *method,
                       const char *params_json)
{
    *result = NULL;
    json_object *params = json_tokener_parse(params_json);
    if (params == NULL)
        return zk_error_set(err, ZK_ERR_BAD_JSON, "params of %s are not JSON", method);
    zk_err rc = l1w_rpc_call(d->rpc, result, NULL, err, method, params);
    json_object_put(params);
    return rc;
}

static zk_err quantity_of(uint64_t *out, zk_error_detail *err, json_object *v, const char *what)
{
    if (!json_object_is_type(v, json_type_string))
        return zk_error_set(err, ZK_ERR_WRONG_TYPE, "%s is not a quantity", what);
    return l1w_quantity_parse(out, err, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

zk_err l1w_devnet_block_number(l1w_devnet *d, uint64_t *out, zk_error_detail *err)
{
    json_object *r = NULL;
    zk_err rc = l1w_devnet_call(d, &r, err, "eth_blockNumber", "[]");
    if (rc == ZK_OK)
        rc = quantity_of(out, err, r, "eth_blockNumber");
    json_object_put(r);
    return rc;
}

zk_err l1w_devnet_mine(l1w_devnet *d, zk_error_detail *err, uint64_t blocks)
{
    char p[64];
    snprintf(p, sizeof p, "[\"0x%llx\"]", (unsigned long long)blocks);
    json_object *r = NULL;
    zk_err rc = l1w_devnet_call(d, &r, err, "anvil_mine", p);
    json_object_put(r);
    return rc;
}

zk_err l1w_devnet_automine(l1w_devnet *d, zk_error_detail *err, bool on)
{
    json_object *r = NULL;
    zk_err rc = l1w_devnet_call(d, &r, err, "evm_setAutomine", on ? "[true]" : "[false]");
    json_object_put(r);
    if (rc == ZK_OK)
        d->automine_off = !on;
    return rc;
}

static zk_err receipt(l1w_devnet *d, json_object **out, zk_error_detail *err, const char *txhash)
{
    char p[128];
    snprintf(p, sizeof p, "[\"%.66s\"]", txhash);
    int64_t deadline = now_ms() + RECEIPT_TIMEOUT_MS;
    do {
        zk_err rc = l1w_devnet_call(d, out, err, "eth_getTransactionReceipt", p);
        if (rc != ZK_OK || *out != NULL)
            return rc;
        sleep_ms(5);
    } while (now_ms() < deadline);
    return zk_error_set(err, ZK_ERR_TIMEOUT, "no receipt for %.66s within %d ms", txhash, RECEIPT_TIMEOUT_MS);
}

zk_err l1w_devnet_deploy_bridge(l1w_devnet *d, uint64_t *block, zk_error_detail *err, const char *artifact)
{
    char path[512];
    if (artifact == NULL) {
        const char *src = getenv("ZKCAR_SOURCE_DIR");
        snprintf(path, sizeof path, "%s/contracts/build/ZkcarBridge.json", src ? src : ".");
        artifact = path;
    }
    zk_err rc = ZK_OK;
    json_object *art = json_object_from_file(artifact), *params = NULL, *res = NULL, *r = NULL, *bc, *ca, *bn;
    if (art == NULL || !json_object_object_get_ex(art, "bytecode", &bc)) {
        rc = zk_error_set(err, ZK_ERR_IO, "%.200s: no bytecode", artifact);
        goto cleanup;
    }
    json_object *tx = json_object_new_object();
    json_object_object_add(tx, "from", json_object_new_string(d->accounts[0]));
    json_object_object_add(tx, "data", json_object_get(bc));
    json_object_object_add(tx, "gas", json_object_new_string("0x200000"));
    params = json_object_new_array();
    json_object_array_add(params, tx);
    if ((rc = l1w_rpc_call(d->rpc, &res, NULL, err, "eth_sendTransaction", params)) != ZK_OK)
        goto cleanup;
    if (!json_object_is_type(res, json_type_string)) {
        rc = zk_error_set(err, ZK_ERR_WRONG_TYPE, "eth_sendTransaction: no hash");
        goto cleanup;
    }
    if ((rc = receipt(d, &r, err, json_object_get_string(res))) != ZK_OK)
        goto cleanup;
    if (!json_object_object_get_ex(r, "contractAddress", &ca) || !json_object_is_type(ca, json_type_string)
        || !json_object_object_get_ex(r, "blockNumber", &bn)) {
        rc = zk_error_set(err, ZK_ERR_MISSING_FIELD, "deployment receipt without contractAddress");
        goto cleanup;
    }
    if ((rc = zk_hex_decode(d->bridge, 20, err, json_object_get_string(ca),
                            (size_t)json_object_get_string_len(ca))) != ZK_OK)
        goto cleanup;
    zk_hex_encode(d->bridge_hex, d->bridge, 20);
    rc = quantity_of(block, err, bn, "blockNumber");
cleanup:
    json_object_put(art);
    json_object_put(params);
    json_object_put(res);
    json_object_put(r);
    return rc;
}

zk_err l1w_devnet_deposit(l1w_devnet *d, char txhash[67], zk_error_detail *err, int from_idx,
                          const uint8_t to[20], uint64_t gwei)
{
    if (gwei == 0 || gwei >= 18000000000ull || from_idx < 0 || from_idx >= L1W_DEVNET_ACCOUNTS)
        return zk_error_set(err, ZK_ERR_USAGE, "devnet deposit: amount or account out of range");
    /* deposit(address): selector 0xf340fa01 (tests/contracts/test_bridge.js checks it). */
    char data[2 + 8 + 64 + 1], toh[43], p[512];
    zk_hex_encode(toh, to, 20);
    snprintf(data, sizeof data, "0xf340fa01000000000000000000000000%.40s", toh + 2);
    snprintf(p, sizeof p,
             "[{\"from\":\"%s\",\"to\":\"%s\",\"value\":\"0x%llx\",\"data\":\"%s\",\"gas\":\"0x30000\"}]",
             d->accounts[from_idx], d->bridge_hex, (unsigned long long)(gwei * 1000000000ull), data);
    json_object *r = NULL;
    zk_err rc = l1w_devnet_call(d, &r, err, "eth_sendTransaction", p);
    if (rc == ZK_OK && !json_object_is_type(r, json_type_string))
        rc = zk_error_set(err, ZK_ERR_WRONG_TYPE, "eth_sendTransaction: no hash");
    if (rc == ZK_OK)
        snprintf(txhash, 67, "%.66s", json_object_get_string(r));
    json_object_put(r);
    if (rc != ZK_OK || d->automine_off)
        return rc;
    json_object *rec = NULL, *st;
    if ((rc = receipt(d, &rec, err, txhash)) == ZK_OK
        && (!json_object_object_get_ex(rec, "status", &st) || strcmp(json_object_get_string(st), "0x1") != 0))
        rc = zk_error_set(err, ZK_ERR_BAD_VALUE, "deposit %.66s reverted", txhash);
    json_object_put(rec);
    return rc;
}

zk_err l1w_devnet_reorg(l1w_devnet *d, zk_error_detail *err, int depth, int from_idx)
{
    char p[400];
    snprintf(p, sizeof p, "[%d, [[{\"from\":\"%s\",\"to\":\"%s\",\"value\":\"0x1\"}, 0]]]", depth,
             d->accounts[from_idx], d->accounts[9]);
    json_object *r = NULL;
    zk_err rc = l1w_devnet_call(d, &r, err, "anvil_reorg", p);
    json_object_put(r);
    return rc;
}
