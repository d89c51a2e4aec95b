/*
 * sidecar/node_prove.c — proving in order: the job interface and the in-process provers.
 */
#include "sidecar/node_internal.h"

/* ---- proving ---------------------------------------------------------------------------- */

/* Index of `x` in ids[0..k), or k. */
static size_t slot_of(const uint32_t *ids, size_t k, uint32_t x)
{
    size_t s = 0;
    while (s < k && ids[s] != x)
        s++;
    return s;
}

/* The touched accounts' values after the batch: replay its operations over
 * the values its witnesses hold before each account's first update. */
static zk_err post_values(const prv_batch_job *job, uint32_t **ids, uint64_t **bal, uint32_t **nonces, size_t *count)
{
    const prv_batch_public *pub = &job->pub;
    size_t cap = job->nupdates + 1;
    uint32_t *id = calloc(cap, sizeof *id);
    uint64_t *b = calloc(cap, sizeof *b);
    uint32_t *nc = calloc(cap, sizeof *nc);
    if (id == NULL || b == NULL || nc == NULL) {
        free(id);
        free(b);
        free(nc);
        return ZK_ERR_NOMEM;
    }
    size_t k = 0;
    for (uint32_t u = 0; u < job->nupdates; u++) {
        size_t j;
        for (j = 0; j < k; j++)
            if (id[j] == job->updates[u].id)
                break;
        if (j == k) {
            id[k] = job->updates[u].id;
            b[k] = job->updates[u].old_balance;
            nc[k] = job->updates[u].old_nonce;
            k++;
        }
    }
    uint64_t fees = 0;
    zk_err rc = ZK_OK;
    for (uint32_t i = 0; i < pub->nops && rc == ZK_OK; i++) {
        const prv_batch_op *o = &pub->ops[i];
        if (o->kind != PRV_OP_DEPOSIT) {
            size_t s = slot_of(id, k, o->from_id);
            if (s == k) {
                rc = ZK_ERR_BATCH_INCONSISTENT;
                break;
            }
            b[s] -= o->amount + o->fee;
            nc[s]++;
            fees += o->fee;
        }
        if (o->kind != PRV_OP_WITHDRAW) {
            size_t s = slot_of(id, k, o->to_id);
            if (s == k) {
                rc = ZK_ERR_BATCH_INCONSISTENT;
                break;
            }
            b[s] += o->amount;
        }
    }
    if (rc == ZK_OK && fees > 0) {
        size_t s = slot_of(id, k, pub->operator_id);
        if (s == k)
            rc = ZK_ERR_BATCH_INCONSISTENT;
        else
            b[s] += fees;
    }
    if (rc != ZK_OK) {
        free(id);
        free(b);
        free(nc);
        return rc;
    }
    *ids = id;
    *bal = b;
    *nonces = nc;
    *count = k;
    return ZK_OK;
}

/* Moves the proven mark forward over every batch whose proof is done, in
 * order: the state records each (ipc_writer_mark_proven) with the touched
 * accounts' values, so readers' provenBalance/provenNonce follow. */
zk_err scn_advance_proven(sc_node *n, zk_error_detail *err)
{
    zk_err rc = ZK_OK;
    pthread_mutex_lock(&n->prove_lock);
    for (;;) {
        pthread_mutex_lock(&n->mu);
        bool ready = n->njobs > 0 && n->jobs[0].state == JOB_DONE && n->jobs[0].number == n->last_proven + 1;
        uint64_t number = ready ? n->jobs[0].number : 0;
        pthread_mutex_unlock(&n->mu);
        if (!ready)
            break;
        prv_batch_job job;
        if ((rc = scn_load_job(n, number, &job, NULL, NULL, err)) != ZK_OK)
            break;
        uint32_t *ids = NULL, *nonces = NULL;
        uint64_t *bal = NULL;
        size_t cnt = 0;
        rc = post_values(&job, &ids, &bal, &nonces, &cnt);
        prv_batch_job_free(&job);
        if (rc != ZK_OK) {
            zk_error_set(err, rc, "batch %" PRIu64 ": job inconsistent", number);
            break;
        }
        pthread_mutex_lock(&n->wlock);
        rc = ipc_writer_mark_proven(n->w, number, ids, bal, nonces, cnt);
        pthread_mutex_unlock(&n->wlock);
        free(ids);
        free(bal);
        free(nonces);
        if (rc != ZK_OK) {
            zk_error_set(err, rc, "marking batch %" PRIu64 " proven in the state: %s", number, zk_strerror(rc));
            break;
        }
        pthread_mutex_lock(&n->mu);
        n->last_proven = number;
        memmove(n->jobs, n->jobs + 1, (n->njobs - 1) * sizeof *n->jobs);
        n->njobs--;
        pthread_mutex_unlock(&n->mu);
        minc(n->m.batches[1]);
        zk_log(ZK_LOG_INFO, "batch proven", ZKF_U64("number", number), ZKF_END);
        /* The artifact, the store and the state all say proven now (each
         * durable): nothing reads the job again. */
        if (!n->cfg.keep_jobs)
            scn_drop_job(n, number);
    }
    pthread_mutex_unlock(&n->prove_lock);
    return rc;
}

bool sc_node_job_take(sc_node *n, uint64_t *batch, uint8_t **job, size_t *job_len, int timeout_ms)
{
    struct timespec ts;
    deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&n->mu);
    for (;;) {
        if (n->stopping || n->failed) {
            pthread_mutex_unlock(&n->mu);
            return false;
        }
        job_slot *s = NULL;
        for (size_t i = 0; i < n->njobs; i++)
            if (n->jobs[i].state == JOB_QUEUED) {
                s = &n->jobs[i];
                break;
            }
        if (s != NULL) {
            s->state = JOB_TAKEN;
            uint64_t number = s->number;
            pthread_mutex_unlock(&n->mu);
            zk_error_detail e = { 0 };
            if (scn_load_job(n, number, NULL, job, job_len, &e) != ZK_OK) {
                scn_node_fail(n, "proving: cannot read a job file", &e);
                return false;
            }
            *batch = number;
            return true;
        }
        if (pthread_cond_timedwait(&n->job_cond, &n->mu, &ts) != 0) {
            pthread_mutex_unlock(&n->mu);
            return false;
        }
    }
}

void sc_node_job_return(sc_node *n, uint64_t batch)
{
    pthread_mutex_lock(&n->mu);
    job_slot *s = scn_jobs_find(n, batch);
    if (s != NULL && s->state == JOB_TAKEN) {
        s->state = JOB_QUEUED;
        pthread_cond_broadcast(&n->job_cond);
    }
    pthread_mutex_unlock(&n->mu);
}

static void job_set_state(sc_node *n, uint64_t batch, int state)
{
    pthread_mutex_lock(&n->mu);
    job_slot *s = scn_jobs_find(n, batch);
    if (s != NULL)
        s->state = state;
    if (state == JOB_QUEUED)
        pthread_cond_broadcast(&n->job_cond);
    pthread_mutex_unlock(&n->mu);
}

zk_err sc_node_job_done(sc_node *n, uint64_t batch, const uint8_t *proof, size_t proof_len, double prove_seconds,
                        zk_error_detail *err)
{
    pthread_mutex_lock(&n->mu);
    job_slot *s = scn_jobs_find(n, batch);
    int state = s != NULL ? s->state : 0;
    bool proven = batch <= n->last_proven;
    pthread_mutex_unlock(&n->mu);
    if (proven || state == JOB_DONE)
        return ZK_OK; /* a second result for a re-issued job */
    if (s == NULL)
        return zk_error_set(err, ZK_ERR_USAGE, "no batch %" PRIu64 " to prove", batch);

    prv_batch_job job;
    uint8_t *art = NULL;
    size_t art_len = 0;
    zk_err rc = scn_load_job(n, batch, &job, NULL, NULL, err);
    if (rc != ZK_OK) {
        job_set_state(n, batch, JOB_QUEUED);
        return rc;
    }
    rc = prv_batch_verify(&job.pub, proof, proof_len, err);
    if (rc != ZK_OK) {
        zk_log(ZK_LOG_WARN, "proof refused; the job goes back to the queue", ZKF_U64("batch", batch),
               ZKF_STR("error", err != NULL ? err->text : zk_strerror(rc)), ZKF_END);
        job_set_state(n, batch, JOB_QUEUED);
        prv_batch_job_free(&job);
        return rc == ZK_ERR_NOMEM ? rc : zk_error_set(err, ZK_ERR_PRV_PROOF_REJECTED, "batch %" PRIu64 ": proof refused", batch);
    }
    rc = prv_batch_artifact_encode(&job.pub, proof, proof_len, &art, &art_len);
    prv_batch_job_free(&job);
    if (rc != ZK_OK) {
        job_set_state(n, batch, JOB_QUEUED);
        return zk_error_set(err, rc, "batch %" PRIu64 ": artifact encoding failed", batch);
    }
    char name[64];
    snprintf(name, sizeof name, "%" PRIu64 ".batch", batch);
    rc = zk_file_replace(n->batches_dir, name, art, art_len, err);
    free(art);
    uint64_t ms = (uint64_t)(prove_seconds * 1e3 + 0.5);
    if (rc == ZK_OK)
        rc = sc_store_batch_proven(n->store, batch, proof_len, ms, err);
    if (rc != ZK_OK) {
        job_set_state(n, batch, JOB_QUEUED);
        scn_node_fail(n, "recording a proof", err);
        return rc;
    }
    job_set_state(n, batch, JOB_DONE);
    if (n->m.prove_seconds != NULL)
        zk_metric_observe(n->m.prove_seconds, prove_seconds);
    zk_log(ZK_LOG_INFO, "proof accepted", ZKF_U64("batch", batch), ZKF_U64("proof_bytes", proof_len),
           ZKF_F64("prove_s", prove_seconds), ZKF_END);
    zk_error_detail e = { 0 };
    if ((rc = scn_advance_proven(n, &e)) != ZK_OK) {
        scn_node_fail(n, "marking proven", &e);
        if (err != NULL)
            *err = e;
    }
    return rc;
}

void *scn_prover_main(void *p)
{
    sc_node *n = p;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        bool stop = n->stopping || n->failed;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
        uint64_t batch;
        uint8_t *bytes;
        size_t len;
        if (!sc_node_job_take(n, &batch, &bytes, &len, 500))
            continue;
        prv_batch_job job;
        zk_error_detail e = { 0 };
        zk_err rc = prv_batch_job_decode(&job, &e, bytes, len);
        free(bytes);
        if (rc != ZK_OK) {
            job_set_state(n, batch, JOB_FAILED);
            if (sc_store_batch_failed(n->store, batch, NULL) != ZK_OK)
                zk_log(ZK_LOG_ERROR, "store: cannot record a failed batch", ZKF_U64("batch", batch), ZKF_END);
            minc(n->m.batches[2]);
            zk_log(ZK_LOG_ERROR, "batch job unreadable", ZKF_U64("batch", batch), ZKF_STR("error", e.text), ZKF_END);
            continue;
        }
        double t0 = mono_s();
        uint8_t *proof = NULL;
        size_t proof_len = 0;
        rc = prv_batch_prove(&job, &n->cfg.params, &proof, &proof_len, &e);
        double secs = mono_s() - t0;
        prv_batch_job_free(&job);
        if (rc == ZK_OK) {
            rc = sc_node_job_done(n, batch, proof, proof_len, secs, &e);
            if (rc != ZK_OK)
                zk_log(ZK_LOG_ERROR, "own proof not accepted", ZKF_U64("batch", batch), ZKF_STR("error", e.text),
                       ZKF_END);
        } else if (rc == ZK_ERR_NOMEM) {
            sc_node_job_return(n, batch);
            zk_log(ZK_LOG_WARN, "proving: out of memory; retrying", ZKF_U64("batch", batch), ZKF_END);
            usleep(1000000);
        } else {
            job_set_state(n, batch, JOB_FAILED);
            if (sc_store_batch_failed(n->store, batch, NULL) != ZK_OK)
                zk_log(ZK_LOG_ERROR, "store: cannot record a failed batch", ZKF_U64("batch", batch), ZKF_END);
            minc(n->m.batches[2]);
            zk_log(ZK_LOG_ERROR, "the prover refused a batch", ZKF_U64("batch", batch), ZKF_STR("error", e.text),
                   ZKF_END);
        }
        free(proof);
    }
    return NULL;
}

