/*
 * bench/watcher.c — `zkcar bench watcher`: the L1 watcher against a real anvil.
 *
 *   catchup_deposits_per_s       historical deposits (100 per block) found,
 *                                committed to the outbox and received by a
 *                                stream consumer, per second of wall time,
 *                                over IPC (…_http_… over HTTP)
 *   confirm_to_deliver_ms_p50    from the anvil_mine call that makes a
 *                                deposit's block N deep to the consumer holding
 *                                the record (IPC, newHeads wake-up), median
 *
 * Flags: --deposits N (10000), --samples N (20), --confirmations N (12),
 * --quick (2000 deposits, 10 samples). Run from the repository root (it needs
 * node_modules/ and contracts/build/).
 */
#include "bench/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "l1-watcher/devnet.h"
#include "l1-watcher/l1w.h"

typedef struct session {
    l1w_watcher *w;
    l1w_consumer *k;
    l1w_watcher_thread *t;
} session;

static int session_start(session *s, l1w_devnet *d, bool ipc, uint64_t from, uint32_t conf, const char *tag)
{
    char dir[400], ep[400];
    snprintf(dir, sizeof dir, "%s/data-%s", d->dir, tag);
    snprintf(ep, sizeof ep, "ipc://%s/stream-%s.sock", d->dir, tag);
    l1w_config cfg;
    l1w_config_defaults(&cfg);
    cfg.l1_rpc = ipc ? d->ipc_url : d->http_url;
    memcpy(cfg.bridge, d->bridge, 20);
    cfg.from_block = from;
    cfg.confirmations = conf;
    cfg.data_dir = dir;
    cfg.stream_endpoint = ep;
    cfg.poll_ms = 100;
    zk_error_detail e = { 0 };
    memset(s, 0, sizeof *s);
    if (l1w_watcher_create(&s->w, &e, &cfg, NULL, NULL) != ZK_OK
        || l1w_consumer_create(&s->k, &e, ep, 0, 0, 4096) != ZK_OK) {
        fprintf(stderr, "zkcar bench watcher: %s\n", e.text);
        return 1;
    }
    if (l1w_watcher_start(&s->t, s->w, &e) != ZK_OK) {
        fprintf(stderr, "zkcar bench watcher: %s\n", e.text);
        return 1;
    }
    return 0;
}

static void session_stop(session *s, const char *dir_base, const char *tag)
{
    if (s->t != NULL) {
        l1w_watcher_stop(s->w);
        zk_error_detail e = { 0 };
        if (l1w_watcher_join(s->t, &e) != ZK_OK)
            fprintf(stderr, "zkcar bench watcher: the watcher stopped: %s\n", e.text);
        s->t = NULL;
    }
    l1w_consumer_destroy(s->k);
    l1w_watcher_destroy(s->w);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/data-%s' '%s/stream-%s.sock'", dir_base, tag, dir_base, tag);
    if (system(cmd) != 0)
        fprintf(stderr, "zkcar bench watcher: could not clean %s\n", dir_base);
}

/* Receives `n` records (acking as it goes); returns 0 on success. */
static int receive(session *s, uint64_t n)
{
    zk_error_detail e = { 0 };
    for (uint64_t i = 0; i < n; i++) {
        l1w_record r;
        if (l1w_consumer_next(s->k, &r, &e, 60000) != ZK_OK) {
            fprintf(stderr, "zkcar bench watcher: record %llu: %s\n", (unsigned long long)i, e.text);
            return 1;
        }
        if (((i + 1) % 1024 == 0 || i + 1 == n) && l1w_consumer_ack(s->k, &e, r.seq) != ZK_OK) {
            fprintf(stderr, "zkcar bench watcher: ack: %s\n", e.text);
            return 1;
        }
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int zkb_watcher(zkb_report *r, int argc, char **argv)
{
    uint64_t deposits = 10000, samples = 20, conf = 12;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            deposits = 2000;
            samples = 10;
        } else if (i + 1 < argc && strcmp(argv[i], "--deposits") == 0) {
            if (parse_u64(argv[++i], &deposits) != 0 || deposits == 0 || deposits > 1000000) {
                fprintf(stderr, "zkcar bench watcher: --deposits takes 1..1000000\n");
                return 2;
            }
        } else if (i + 1 < argc && strcmp(argv[i], "--samples") == 0) {
            if (parse_u64(argv[++i], &samples) != 0 || samples == 0 || samples > 1000) {
                fprintf(stderr, "zkcar bench watcher: --samples takes 1..1000\n");
                return 2;
            }
        } else if (i + 1 < argc && strcmp(argv[i], "--confirmations") == 0) {
            if (parse_u64(argv[++i], &conf) != 0 || conf == 0 || conf > 64) {
                fprintf(stderr, "zkcar bench watcher: --confirmations takes 1..64\n");
                return 2;
            }
        } else {
            fprintf(stderr, "zkcar bench watcher: unknown flag \"%s\"\n", argv[i]);
            return 2;
        }
    }
    zk_log_set_level(ZK_LOG_WARN);
    int rc = 1;
    double *lat = calloc(samples, sizeof *lat);
    l1w_devnet d;
    zk_error_detail e = { 0 };
    if (lat == NULL)
        return 1;
    if (l1w_devnet_start(&d, &e, false, NULL) != ZK_OK) {
        fprintf(stderr, "zkcar bench watcher: %s\n", e.text);
        free(lat);
        return 1;
    }
    uint64_t deploy;
    if (l1w_devnet_deploy_bridge(&d, &deploy, &e, NULL) != ZK_OK || l1w_devnet_automine(&d, &e, false) != ZK_OK)
        goto fail;
    for (uint64_t i = 0; i < deposits; i++) {
        uint8_t to[20] = { 0xd0 };
        to[18] = (uint8_t)(i >> 8);
        to[19] = (uint8_t)i;
        char tx[67];
        if (l1w_devnet_deposit(&d, tx, &e, (int)(i % 9) + 1, to, 1 + i) != ZK_OK)
            goto fail;
        if ((i + 1) % 100 == 0 && l1w_devnet_mine(&d, &e, 1) != ZK_OK)
            goto fail;
    }
    if (l1w_devnet_automine(&d, &e, true) != ZK_OK || l1w_devnet_mine(&d, &e, conf + 1) != ZK_OK)
        goto fail;

    /* Catch-up, over IPC then HTTP, each from an empty outbox. */
    static const char *const tags[2] = { "ipc", "http" };
    for (int t = 0; t < 2; t++) {
        session s;
        uint64_t t0 = zkb_now_ns();
        if (session_start(&s, &d, t == 0, deploy, (uint32_t)conf, tags[t]) != 0 || receive(&s, deposits) != 0) {
            session_stop(&s, d.dir, tags[t]);
            goto fail;
        }
        double secs = (double)(zkb_now_ns() - t0) / 1e9;
        zkb_report_num(r, t == 0 ? "catchup_deposits_per_s" : "catchup_http_deposits_per_s",
                       (double)deposits / secs);
        if (t == 1) {
            session_stop(&s, d.dir, tags[t]);
            break;
        }
        /* Confirm-to-deliver on the IPC session, now following the head. */
        for (uint64_t k = 0; k < samples; k++) {
            uint8_t to[20] = { 0xee };
            char tx[67];
            if (l1w_devnet_deposit(&d, tx, &e, 1, to, 1000 + k) != ZK_OK
                || (conf > 2 && l1w_devnet_mine(&d, &e, conf - 2) != ZK_OK)) {
                session_stop(&s, d.dir, tags[t]);
                goto fail;
            }
            /* The deposit's block is now conf - 1 deep; let the watcher settle, then make it conf deep. */
            l1w_record rec;
            zk_error_detail ce = { 0 };
            if (l1w_consumer_next(s.k, &rec, &ce, 300) == ZK_OK) {
                fprintf(stderr, "zkcar bench watcher: delivered before %llu confirmations\n",
                        (unsigned long long)conf);
                session_stop(&s, d.dir, tags[t]);
                goto fail;
            }
            uint64_t m0 = zkb_now_ns();
            if (conf > 1 && l1w_devnet_mine(&d, &e, 1) != ZK_OK) {
                session_stop(&s, d.dir, tags[t]);
                goto fail;
            }
            if (l1w_consumer_next(s.k, &rec, &ce, 10000) != ZK_OK) {
                fprintf(stderr, "zkcar bench watcher: sample %llu: %s\n", (unsigned long long)k, ce.text);
                session_stop(&s, d.dir, tags[t]);
                goto fail;
            }
            lat[k] = (double)(zkb_now_ns() - m0) / 1e6;
            if (l1w_consumer_ack(s.k, &ce, rec.seq) != ZK_OK) {
                session_stop(&s, d.dir, tags[t]);
                goto fail;
            }
        }
        session_stop(&s, d.dir, tags[t]);
    }
    double p50 = zkb_median(lat, (int)samples); /* sorts lat */
    zkb_report_num(r, "confirm_to_deliver_ms_p50", p50);
    zkb_report_num(r, "confirm_to_deliver_ms_max", lat[samples - 1]);
    zkb_report_num(r, "deposits", (double)deposits);
    zkb_report_num(r, "confirmations", (double)conf);
    rc = 0;
    goto done;
fail:
    if (e.text[0])
        fprintf(stderr, "zkcar bench watcher: %s\n", e.text);
done:
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'/data-* '%s'/stream-*", d.dir, d.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "zkcar bench watcher: could not clean %s\n", d.dir);
    }
    l1w_devnet_destroy(&d);
    free(lat);
    return rc;
}
