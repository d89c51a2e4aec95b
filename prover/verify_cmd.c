/* prover/verify_cmd.c — `zkcar verify FILE`: checks a batch artifact offline
 * (SPEC §1). Exit 0 valid; 1 invalid, which includes a malformed file or any
 * altered byte; 2 the file cannot be opened (or bad usage). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/file.h"
#include "prover/batch.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: zkcar verify [--json] FILE\n"
               "\n"
               "Verifies a batch artifact (DIR/batches/<number>.batch) offline: decodes it\n"
               "(format, lengths, the Keccak-256 of the public data), checks the public\n"
               "data's own consistency, every transfer's and withdrawal's EIP-712\n"
               "signature, and the STARK proof that the operations take the state from the\n"
               "old root to the new one.\n"
               "\n"
               "  --json   print one JSON object {valid, number, ops, reason}\n"
               "\n"
               "Exit status: 0 valid; 1 invalid (including a malformed file or any altered\n"
               "byte); 2 the file cannot be opened, or bad usage.\n");
}

static void root_hex(char out[67], const prv_gl root[PRV_BATCH_DIGEST])
{
    out[0] = '0';
    out[1] = 'x';
    for (int k = 0; k < PRV_BATCH_DIGEST; k++)
        snprintf(out + 2 + 16 * k, 17, "%016" PRIx64, root[k]);
}

/* The checks, in order; the first failure is the answer (its detail in *err). */
static zk_err verify_bytes(prv_batch_artifact *a, const uint8_t *buf, size_t len, zk_error_detail *err)
{
    zk_err rc = prv_batch_artifact_decode(a, err, buf, len);
    if (rc != ZK_OK)
        return rc;
    rc = prv_batch_public_check(&a->pub, err);
    if (rc != ZK_OK)
        return rc;
    rc = prv_batch_check_signatures(&a->pub, err);
    if (rc != ZK_OK)
        return rc;
    uint8_t h[32];
    rc = prv_batch_public_hash(&a->pub, h);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "re-encoding the public data failed");
    if (memcmp(h, a->pub_hash, 32) != 0)
        return zk_error_set(err, ZK_ERR_BATCH_MALFORMED, "the public data's hash does not match");
    return prv_batch_verify(&a->pub, a->proof, a->proof_len, err);
}

int prv_cmd_verify(int argc, char **argv)
{
    bool json = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "zkcar verify: unknown flag %s (see zkcar verify --help)\n", argv[i]);
            return 2;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "zkcar verify: one FILE only (see zkcar verify --help)\n");
            return 2;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "zkcar verify: expected a FILE (see zkcar verify --help)\n");
        return 2;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    zk_error_detail ferr = { 0 };
    zk_err frc = zk_file_read(path, PRV_BATCH_ARTIFACT_MAX_BYTES, &buf, &len, &ferr);
    if (frc != ZK_OK && frc != ZK_ERR_TOO_BIG) {
        fprintf(stderr, "zkcar verify: cannot open %s: %s\n", path, ferr.text);
        if (json) {
            json_object *o = json_object_new_object();
            if (o) {
                char r[sizeof ferr.text + 16];
                snprintf(r, sizeof r, "cannot open: %s", ferr.text);
                json_object_object_add(o, "valid", json_object_new_boolean(false));
                json_object_object_add(o, "number", NULL);
                json_object_object_add(o, "ops", NULL);
                json_object_object_add(o, "reason", json_object_new_string(r));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
            }
        }
        return 2;
    }
    /* A file larger than any artifact is an invalid artifact, not an unreadable one. */
    prv_batch_artifact a;
    memset(&a, 0, sizeof a);
    zk_error_detail err = { 0 };
    zk_err rc = frc == ZK_ERR_TOO_BIG ? zk_error_set(&err, frc, "%s: %s", path, ferr.text) : verify_bytes(&a, buf, len, &err);
    free(buf);
    bool decoded = a.pub.ops != NULL;
    const char *reason = rc == ZK_OK ? NULL : (err.text[0] ? err.text : zk_strerror(rc));
    char reason_buf[sizeof err.text + 64];
    if (reason) {
        snprintf(reason_buf, sizeof reason_buf, "%s: %s", zk_strerror(rc), reason);
        reason = reason_buf;
    }
    if (json) {
        json_object *o = json_object_new_object();
        if (o == NULL) {
            prv_batch_artifact_free(&a);
            fprintf(stderr, "zkcar verify: out of memory\n");
            return 1;
        }
        json_object_object_add(o, "valid", json_object_new_boolean(rc == ZK_OK));
        json_object_object_add(o, "number", decoded ? json_object_new_uint64(a.pub.number) : NULL);
        json_object_object_add(o, "ops", decoded ? json_object_new_int64(a.pub.nops) : NULL);
        json_object_object_add(o, "reason", reason ? json_object_new_string(reason) : NULL);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else if (rc == ZK_OK) {
        char r0[67], r1[67];
        root_hex(r0, a.pub.old_root);
        root_hex(r1, a.pub.new_root);
        printf("valid: batch %" PRIu64 ", %u operations (%" PRIu64 " deposits), %zu-byte proof\n"
               "  state root %s\n          -> %s\n",
               a.pub.number, a.pub.nops, a.pub.deposit_count, a.proof_len, r0, r1);
    } else {
        printf("invalid: %s\n", reason);
    }
    prv_batch_artifact_free(&a);
    return rc == ZK_OK ? 0 : 1;
}
