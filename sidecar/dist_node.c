/*
 * sidecar/dist_node.c — the node as the dispatcher's job source, for
 * `zkcar run --workers ENDPOINT` (sidecar/dist.h, sc_dist_start_node).
 * Kept apart from dist.c so that the dispatcher links without the node.
 */
#include "sidecar/dist.h"

#include "sidecar/node.h"

static bool node_take(void *ctx, uint64_t *batch, uint8_t **job, size_t *job_len, int timeout_ms)
{
    return sc_node_job_take(ctx, batch, job, job_len, timeout_ms);
}

static void node_give_back(void *ctx, uint64_t batch)
{
    sc_node_job_return(ctx, batch);
}

static zk_err node_done(void *ctx, uint64_t batch, const uint8_t *proof, size_t proof_len, double prove_seconds,
                        zk_error_detail *err)
{
    return sc_node_job_done(ctx, batch, proof, proof_len, prove_seconds, err);
}

zk_err sc_dist_start_node(sc_dist **out, sc_node *node, const sc_dist_config *cfg, struct zk_metrics *metrics,
                          zk_error_detail *err)
{
    sc_dist_source src = { .ctx = node, .take = node_take, .give_back = node_give_back, .done = node_done };
    sc_dist *d = NULL;
    zk_err rc = sc_dist_create(&d, cfg, &src, err);
    if (rc == ZK_OK && metrics != NULL && (rc = sc_dist_register_metrics(d, metrics)) != ZK_OK)
        zk_error_set(err, rc, "dispatcher metrics");
    if (rc == ZK_OK)
        rc = sc_dist_start(d, err);
    if (rc != ZK_OK) {
        sc_dist_destroy(d);
        d = NULL;
    }
    *out = d;
    return rc;
}
