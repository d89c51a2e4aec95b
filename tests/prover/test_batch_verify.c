/* `zkcar verify` (prover/verify_cmd.c) on a real artifact: a small batch
 * built from a real state (ipc_batch_build), proven with prv_batch_prove and
 * written with prv_batch_artifact_encode. The binary answers 0 for it, 1 for
 * any altered byte, malformed or re-signed data, 2 for a file it cannot
 * open; in-process, every byte outside the proof and a spread of bytes
 * inside it are flipped one at a time and each copy is rejected. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/eip712.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/batch.h"
#include "../ipc/ipc_test_util.h"

#define CHAIN_ID 31337

static char *state_dir;
static char art_path[256];
static uint8_t *art;
static size_t art_len;
static size_t proof_off;         /* where the proof starts in the artifact */
static prv_batch_public pub;     /* the proven batch (owns its ops) */
static uint8_t *proof;
static size_t proof_len;
static uint8_t keys[3][32], addrs[3][20];
static const uint8_t bridge[20] = { 0xb7, 0x1d };

static void sign(prv_batch_op *op, int key)
{
    zk_eip712_domain d;
    zk_eip712_domain_zkcar(&d, CHAIN_ID, bridge);
    zk_tx tx = { .type = op->kind == PRV_OP_TRANSFER ? ZK_TX_TRANSFER : ZK_TX_WITHDRAW,
                 .amount = op->amount, .fee = op->fee, .nonce = op->nonce };
    memcpy(tx.from, op->from, 20);
    memcpy(tx.to, op->to, 20);
    uint8_t digest[32];
    zk_tx_hash(digest, &tx, &d);
    if (zk_sig_sign(op->sig, NULL, digest, keys[key]) != ZK_OK)
        abort();
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b, 1, n, f) != n || fclose(f) != 0)
        abort();
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        memset(keys[i], 0, 32);
        keys[i][0] = 0x5a;
        keys[i][31] = (uint8_t)(i + 1);
        if (zk_sig_seckey_address(addrs[i], NULL, keys[i]) != ZK_OK)
            return -1;
    }
    state_dir = tdir_new();
    ipc_writer *w = NULL;
    ipc_writer_options o = { .capacity = 1024 };
    zk_error_detail e = { 0 };
    if (ipc_writer_open(&w, state_dir, &o, &e) != ZK_OK)
        return -1;
    /* Batch 1 (not proven here) gives accounts some history. */
    prv_batch_op first[2] = { { .kind = PRV_OP_DEPOSIT, .amount = 5000, .deposit_id = 0 },
                              { .kind = PRV_OP_DEPOSIT, .amount = 7000, .deposit_id = 1 } };
    memcpy(first[0].to, addrs[0], 20);
    memcpy(first[1].to, addrs[1], 20);
    prv_batch_public p1 = { .chain_id = CHAIN_ID, .number = 1, .nops = 2, .ops = first };
    memcpy(p1.bridge, bridge, 20);
    prv_batch_job job;
    if (ipc_batch_build(w, &p1, &job, &e) != ZK_OK || ipc_writer_commit(w, NULL, 0) != ZK_OK)
        return -1;
    prv_batch_job_free(&job);
    /* Batch 2, proven: a deposit, a transfer to a new account, a withdrawal,
     * fees to a new operator. */
    prv_batch_op *ops = calloc(3, sizeof *ops);
    ops[0] = (prv_batch_op){ .kind = PRV_OP_DEPOSIT, .amount = 11, .deposit_id = 2 };
    memset(ops[0].from, 0xd0, 20);
    memcpy(ops[0].to, addrs[0], 20);
    ops[1] = (prv_batch_op){ .kind = PRV_OP_TRANSFER, .amount = 1234, .fee = 3, .nonce = 0 };
    memcpy(ops[1].from, addrs[0], 20);
    memcpy(ops[1].to, addrs[2], 20);
    sign(&ops[1], 0);
    ops[2] = (prv_batch_op){ .kind = PRV_OP_WITHDRAW, .amount = 700, .fee = 1, .nonce = 0 };
    memcpy(ops[2].from, addrs[1], 20);
    memset(ops[2].to, 0xe1, 20);
    sign(&ops[2], 1);
    pub = (prv_batch_public){ .chain_id = CHAIN_ID, .number = 2, .first_deposit_id = 2, .nops = 3, .ops = ops };
    memcpy(pub.bridge, bridge, 20);
    memset(pub.operator_addr, 0x0f, 20);
    if (ipc_batch_build(w, &pub, &job, &e) != ZK_OK)
        return -1;
    zk_err rc = prv_batch_prove(&job, NULL, &proof, &proof_len, &e);
    prv_batch_job_free(&job);
    ipc_writer_discard(w);
    ipc_writer_close(w);
    if (rc != ZK_OK) {
        fprintf(stderr, "prv_batch_prove: %s: %s\n", zk_strerror(rc), e.text);
        return -1;
    }
    if (prv_batch_artifact_encode(&pub, proof, proof_len, &art, &art_len) != ZK_OK)
        return -1;
    proof_off = art_len - proof_len;
    snprintf(art_path, sizeof art_path, "%s/2.batch", state_dir);
    write_file(art_path, art, art_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(art);
    free(proof);
    free(pub.ops);
    tdir_remove(state_dir);
    return 0;
}

/* Runs `zkcar verify` with args; returns the exit status, stdout in out. */
static int run_verify(char *out, size_t cap, const char *a1, const char *a2)
{
    const char *bin = getenv("ZKCAR_BIN");
    if (bin == NULL)
        fail_msg("ZKCAR_BIN is not set (run through ctest)");
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        close(fds[0]);
        char *argv[] = { (char *)bin, "verify", (char *)a1, (char *)a2, NULL };
        execv(bin, argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], out + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* What the command checks, in-process: decode, consistency, signatures,
 * the proof. */
static zk_err artifact_verdict(const uint8_t *b, size_t n)
{
    prv_batch_artifact a;
    zk_error_detail e;
    zk_err rc = prv_batch_artifact_decode(&a, &e, b, n);
    if (rc == ZK_OK)
        rc = prv_batch_public_check(&a.pub, &e);
    if (rc == ZK_OK)
        rc = prv_batch_check_signatures(&a.pub, &e);
    if (rc == ZK_OK)
        rc = prv_batch_verify(&a.pub, a.proof, a.proof_len, &e);
    prv_batch_artifact_free(&a);
    return rc;
}

static void test_cli(void **state)
{
    (void)state;
    char out[4096], path[300];
    assert_int_equal(run_verify(out, sizeof out, art_path, NULL), 0);
    assert_non_null(strstr(out, "valid: batch 2, 3 operations"));
    assert_int_equal(run_verify(out, sizeof out, "--json", art_path), 0);
    assert_string_equal(out, "{\"valid\":true,\"number\":2,\"ops\":3,\"reason\":null}\n");
    /* Cannot open: missing, a directory; bad usage. */
    snprintf(path, sizeof path, "%s/missing.batch", state_dir);
    assert_int_equal(run_verify(out, sizeof out, path, NULL), 2);
    assert_int_equal(run_verify(out, sizeof out, "--json", path), 2);
    assert_string_equal(out, "{\"valid\":false,\"number\":null,\"ops\":null,"
                             "\"reason\":\"cannot open: No such file or directory\"}\n");
    assert_int_equal(run_verify(out, sizeof out, state_dir, NULL), 2);
    assert_int_equal(run_verify(out, sizeof out, NULL, NULL), 2);
    assert_int_equal(run_verify(out, sizeof out, "--frobnicate", art_path), 2);
    assert_int_equal(run_verify(out, sizeof out, "--help", NULL), 0);
    /* Empty, truncated, one byte longer: invalid. */
    snprintf(path, sizeof path, "%s/bad.batch", state_dir);
    write_file(path, art, 0);
    assert_int_equal(run_verify(out, sizeof out, "--json", path), 1);
    assert_non_null(strstr(out, "\"valid\":false,\"number\":null,\"ops\":null,\"reason\":\""));
    write_file(path, art, art_len - 1);
    assert_int_equal(run_verify(out, sizeof out, path, NULL), 1);
    assert_non_null(strstr(out, "invalid: "));
    uint8_t *c = malloc(art_len + 1);
    memcpy(c, art, art_len);
    c[art_len] = 0;
    write_file(path, c, art_len + 1);
    assert_int_equal(run_verify(out, sizeof out, path, NULL), 1);
    /* Bytes flipped in every part of the file: header, public data, its
     * hash, the proof's length, the proof's start, middle and end. */
    size_t spots[] = { 0, 5, 8, 12, 20, 60, 170, proof_off - 40, proof_off - 5, proof_off - 1, proof_off,
                       proof_off + 7, proof_off + 100, proof_off + proof_len / 2, art_len - 9, art_len - 1 };
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        memcpy(c, art, art_len);
        c[spots[i]] ^= 0x10;
        write_file(path, c, art_len);
        if (run_verify(out, sizeof out, "--json", path) != 1)
            fail_msg("byte %zu flipped: not answered 1 (%s)", spots[i], out);
        assert_non_null(strstr(out, "\"valid\":false"));
    }
    free(c);
}

/* The public data changed and the artifact rebuilt around it (so the hash
 * matches): signatures or the proof must catch it. */
static void test_reencoded(void **state)
{
    (void)state;
    prv_batch_op ops[3];
    prv_batch_public p = pub;
    p.ops = ops;
    struct { const char *what; zk_err want; } cases[] = {
        { "a deposit's amount", ZK_ERR_PRV_PROOF_REJECTED },
        { "a transfer's amount (re-signed by its sender)", ZK_ERR_PRV_PROOF_REJECTED },
        { "a transfer's amount (old signature)", ZK_ERR_SIG_WRONG_SIGNER },
        { "the new root", ZK_ERR_PRV_PROOF_REJECTED },
        { "the batch number", ZK_ERR_PRV_PROOF_REJECTED },
        { "operations reordered", ZK_ERR_PRV_PROOF_REJECTED },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(ops, pub.ops, sizeof ops);
        p = pub;
        p.ops = ops;
        switch (k) {
        case 0: ops[0].amount++; break;
        case 1: ops[1].amount++; sign(&ops[1], 0); break;
        case 2: ops[1].amount++; break;
        case 3: p.new_root[1] ^= 1; break;
        case 4: p.number++; break;
        case 5: ops[1] = pub.ops[2]; ops[2] = pub.ops[1]; break;
        default: break;
        }
        uint8_t *b = NULL;
        size_t n = 0;
        assert_int_equal(prv_batch_artifact_encode(&p, proof, proof_len, &b, &n), ZK_OK);
        zk_err rc = artifact_verdict(b, n);
        if (rc == ZK_OK)
            fail_msg("%s changed: accepted", cases[k].what);
        if (cases[k].want == ZK_ERR_SIG_WRONG_SIGNER && rc != cases[k].want)
            fail_msg("%s changed: %s, expected a signature error", cases[k].what, zk_strerror(rc));
        free(b);
    }
}

/* Every byte outside the proof, and a spread inside it, flipped one at a
 * time (in-process: the proof is ~0.7 MB and each verification takes
 * milliseconds; the sanitizer build takes a coarser spread). */
static void test_every_byte(void **state)
{
    (void)state;
    assert_int_equal(artifact_verdict(art, art_len), ZK_OK);
    uint8_t *c = malloc(art_len);
    memcpy(c, art, art_len);
    for (size_t i = 0; i < proof_off; i++) {
        c[i] ^= 0x01;
        if (artifact_verdict(c, art_len) == ZK_OK)
            fail_msg("byte %zu (outside the proof) flipped: accepted", i);
        c[i] ^= 0x01;
    }
#ifdef ZKCAR_SANITIZED
    size_t stride = proof_len / 64 + 1, head = 64;
#else
    size_t stride = proof_len / 1500 + 1, head = 512;
#endif
    size_t tried = 0;
    for (size_t j = 0; j < proof_len; j += (j < head ? 1 : stride)) {
        size_t i = proof_off + j;
        c[i] ^= (uint8_t)(1u << (j % 8));
        if (artifact_verdict(c, art_len) == ZK_OK)
            fail_msg("proof byte %zu flipped: accepted", j);
        c[i] ^= (uint8_t)(1u << (j % 8));
        tried++;
    }
    print_message("flipped %zu bytes outside the proof and %zu of its %zu bytes\n", proof_off, tried, proof_len);
    assert_memory_equal(c, art, art_len);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_reencoded),
        cmocka_unit_test(test_every_byte),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
