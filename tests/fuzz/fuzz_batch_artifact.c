/* libFuzzer target: the batch files (prover/batch.h) — artifacts that
 * `zkcar verify` reads from anyone, and proving jobs that remote workers
 * receive. Any bytes must decode or give ZK_ERR_BATCH_MALFORMED (never a
 * read outside the buffer); a decodable input must re-encode to the same
 * bytes (one encoding per value), and the checks that follow decoding
 * (consistency, signatures, the proof) must answer without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prover/batch.h"

static void expect_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen || memcmp(a, b, alen) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan flags any overread. */
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    zk_error_detail err;
    uint8_t *again = NULL;
    size_t len = 0;

    prv_batch_artifact a;
    zk_err rc = prv_batch_artifact_decode(&a, &err, buf, size);
    if (rc == ZK_OK) {
        if (prv_batch_artifact_encode(&a.pub, a.proof, a.proof_len, &again, &len) != ZK_OK)
            abort();
        expect_same(again, len, buf, size);
        free(again);
        if (prv_batch_public_check(&a.pub, &err) == ZK_OK && prv_batch_check_signatures(&a.pub, &err) == ZK_OK)
            (void)prv_batch_verify(&a.pub, a.proof, a.proof_len, &err);
        prv_batch_artifact_free(&a);
    } else if (rc != ZK_ERR_BATCH_MALFORMED && rc != ZK_ERR_NOMEM) {
        abort();
    }

    prv_batch_job job;
    rc = prv_batch_job_decode(&job, &err, buf, size);
    if (rc == ZK_OK) {
        if (prv_batch_job_encode(&job, &again, &len) != ZK_OK)
            abort();
        if (buf[4] == 1) {
            /* A version-1 job re-encodes as version 2: the same job. */
            prv_batch_job back;
            if (prv_batch_job_decode(&back, &err, again, len) != ZK_OK || back.nupdates != job.nupdates ||
                memcmp(back.updates, job.updates, job.nupdates * sizeof *job.updates) != 0)
                abort();
            prv_batch_job_free(&back);
        } else {
            expect_same(again, len, buf, size);
        }
        free(again);
        (void)prv_batch_public_check(&job.pub, &err);
        prv_batch_job_free(&job);
    } else if (rc != ZK_ERR_BATCH_MALFORMED && rc != ZK_ERR_NOMEM) {
        abort();
    }

    prv_batch_public pub;
    rc = prv_batch_public_decode(&pub, &err, buf, size);
    if (rc == ZK_OK) {
        if (prv_batch_public_encode(&pub, &again, &len) != ZK_OK)
            abort();
        expect_same(again, len, buf, size);
        free(again);
        (void)prv_batch_public_check(&pub, &err);
        prv_batch_public_free(&pub);
    } else if (rc != ZK_ERR_BATCH_MALFORMED && rc != ZK_ERR_NOMEM) {
        abort();
    }
    free(buf);
    return 0;
}
