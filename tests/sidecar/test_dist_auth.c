/* Remote workers over ZeroMQ CURVE (sidecar/curve.h, sidecar/dist.h): key
 * and allow files (known-answer keys from the zmq_curve(7) manual page, bad
 * lengths, bad alphabets, missing and group-readable files), `zkcar keygen`,
 * and the dispatcher with real sockets: an allowed `zkcar worker` process
 * proves a real batch (verified by prv_batch_verify); a worker with an
 * unknown key, one with the wrong server key and one without CURVE never
 * register and get no job; a key taken out of the allow file is dropped;
 * stonehouse (no allow file) accepts any client key; usage errors of
 * `zkcar run` and `zkcar worker`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "common/eip712.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/tx.h"
#include "ipc/batch.h"
#include "prover/batch.h"
#include "sidecar/curve.h"
#include "sidecar/dist.h"
#include "sidecar/metrics.h"
#include "tests/ipc/ipc_test_util.h"
#include "tests/sidecar/dist_test_util.h"
#include "tests/promtool_util.h"

/* zmq_curve(7), section "TEST KEY VALUES": the client's and the server's
 * long-term key pairs, in hex and in Z85. */
static const char kat_client_pub[] = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
static const char kat_client_sec[] = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
static const char kat_client_pub_hex[] = "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518";
static const char kat_server_pub[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
static const char kat_server_sec[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
static const char kat_server_sec_hex[] = "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7";

/* ------------------------------------------------------------ helpers */

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", workdir, name);
}

/* Writes `text` to workdir/name with `mode`; the path goes to out. */
static void write_file(char *out, size_t cap, const char *name, const char *text, mode_t mode)
{
    path_of(out, cap, name);
    unlink(out);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* Replaces workdir/name atomically (as an operator should: write, then mv). */
static void replace_file(const char *name, const char *text)
{
    char tmp[512], path[512];
    write_file(tmp, sizeof tmp, "replace.tmp", text, 0644);
    path_of(path, sizeof path, name);
    assert_int_equal(rename(tmp, path), 0);
}

static void hex_decode(uint8_t *out, const char *hex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        char two[3] = { hex[2 * i], hex[2 * i + 1], 0 };
        v = (unsigned)strtoul(two, NULL, 16);
        out[i] = (uint8_t)v;
    }
}

static zk_err parse_text(sc_curve_keypair *kp, const char *text, bool need_secret, zk_error_detail *e)
{
    return sc_curve_key_parse(kp, (const uint8_t *)text, strlen(text), need_secret, e);
}

static zk_err allow_text(sc_curve_allow *a, const char *text, zk_error_detail *e)
{
    return sc_curve_allow_parse(a, (const uint8_t *)text, strlen(text), e);
}

/* ------------------------------------------------------------ tests: key files */

static void test_z85_known_answers(void **state)
{
    (void)state;
    uint8_t bin[32], want[32];
    assert_true(sc_curve_z85_key(bin, kat_client_pub, 40));
    hex_decode(want, kat_client_pub_hex, 32);
    assert_memory_equal(bin, want, 32);
    assert_true(sc_curve_z85_key(bin, kat_server_sec, 40));
    hex_decode(want, kat_server_sec_hex, 32);
    assert_memory_equal(bin, want, 32);
    /* ZeroMQ RFC 32: "HelloWorld" is 86 4F D2 6F B5 59 F7 5B. */
    assert_true(sc_curve_z85_key(bin, "HelloWorldHelloWorldHelloWorldHelloWorld", 40));
    static const uint8_t hello[8] = { 0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B };
    for (int i = 0; i < 4; i++)
        assert_memory_equal(bin + 8 * i, hello, 8);
    /* Lengths, the alphabet, and a group above 2^32 - 1 ("%nSc0" is the largest). */
    assert_false(sc_curve_z85_key(bin, kat_client_pub, 39));
    assert_false(sc_curve_z85_key(bin, "HelloWorldHelloWorldHelloWorldHelloWorl ", 40));
    assert_false(sc_curve_z85_key(bin, "HelloWorldHelloWorldHelloWorldHelloWorl\"", 40));
    assert_false(sc_curve_z85_key(bin, "HelloWorldHelloWorldHelloWorldHelloWorl~", 40));
    assert_true(sc_curve_z85_key(bin, "%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0", 40));
    assert_int_equal(bin[0], 0xff);
    assert_false(sc_curve_z85_key(bin, "%nSc1%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0", 40));
    assert_false(sc_curve_z85_key(bin, "#####HelloWorldHelloWorldHelloWorldHello", 40));
}

static void test_key_parse(void **state)
{
    (void)state;
    sc_curve_keypair kp;
    zk_error_detail e = { 0 };
    char text[512];
    /* A secret file (the zmq_curve(7) client pair: the public key is the secret's). */
    snprintf(text, sizeof text, "# a comment\n\n  public-key =  %s \r\nsecret-key=%s", kat_client_pub, kat_client_sec);
    assert_int_equal(parse_text(&kp, text, true, &e), ZK_OK);
    assert_string_equal(kp.public_z85, kat_client_pub);
    assert_string_equal(kp.secret_z85, kat_client_sec);
    /* A public file serves where no secret is needed, not where one is. */
    snprintf(text, sizeof text, "public-key = %s\n", kat_server_pub);
    assert_int_equal(parse_text(&kp, text, false, &e), ZK_OK);
    assert_string_equal(kp.public_z85, kat_server_pub);
    assert_string_equal(kp.secret_z85, "");
    assert_int_equal(parse_text(&kp, text, true, &e), ZK_ERR_MISSING_FIELD);
    assert_non_null(strstr(e.text, "secret-key"));
    /* The pairs mixed up: the public key is not the secret's. */
    snprintf(text, sizeof text, "public-key = %s\nsecret-key = %s\n", kat_client_pub, kat_server_sec);
    assert_int_equal(parse_text(&kp, text, true, &e), ZK_ERR_BAD_VALUE);
    assert_non_null(strstr(e.text, "not the secret-key's"));
    assert_string_equal(kp.secret_z85, ""); /* nothing left behind on failure */
    /* Wrong lengths: one short, one long. */
    snprintf(text, sizeof text, "public-key = %.39s\n", kat_server_pub);
    assert_int_equal(parse_text(&kp, text, false, &e), ZK_ERR_BAD_LENGTH);
    assert_non_null(strstr(e.text, "line 1"));
    snprintf(text, sizeof text, "# x\npublic-key = %sA\n", kat_server_pub);
    assert_int_equal(parse_text(&kp, text, false, &e), ZK_ERR_BAD_LENGTH);
    assert_non_null(strstr(e.text, "line 2"));
    /* A character outside the alphabet (a space inside, a quote, a tilde). */
    snprintf(text, sizeof text, "public-key = rq:rM>}U?@Lns47E1%%kR.o@n%%FcmmsL/@{H8] f7\n");
    assert_int_equal(parse_text(&kp, text, false, &e), ZK_ERR_BAD_VALUE);
    snprintf(text, sizeof text, "public-key = rq:rM>}U?@Lns47E1%%kR.o@n%%FcmmsL/@{H8]~f7\n");
    assert_int_equal(parse_text(&kp, text, false, &e), ZK_ERR_BAD_VALUE);
    assert_non_null(strstr(e.text, "Z85"));
    /* Unknown, repeated, missing lines; a NUL byte; too large. */
    assert_int_equal(parse_text(&kp, "pubkey = x\n", false, &e), ZK_ERR_BAD_VALUE);
    snprintf(text, sizeof text, "public-key = %s\npublic-key = %s\n", kat_server_pub, kat_server_pub);
    assert_int_equal(parse_text(&kp, text, false, &e), ZK_ERR_BAD_VALUE);
    assert_non_null(strstr(e.text, "second"));
    assert_int_equal(parse_text(&kp, "# nothing\n", false, &e), ZK_ERR_MISSING_FIELD);
    assert_int_equal(parse_text(&kp, "", false, &e), ZK_ERR_MISSING_FIELD);
    assert_int_equal(parse_text(&kp, "public-key\n", false, &e), ZK_ERR_BAD_VALUE);
    static const uint8_t nul[] = { 'p', 'u', 0, '\n' };
    assert_int_equal(sc_curve_key_parse(&kp, nul, sizeof nul, false, &e), ZK_ERR_BAD_VALUE);
    uint8_t *big = calloc(1, SC_CURVE_KEYFILE_MAX + 1);
    assert_non_null(big);
    memset(big, '#', SC_CURVE_KEYFILE_MAX + 1);
    assert_int_equal(sc_curve_key_parse(&kp, big, SC_CURVE_KEYFILE_MAX + 1, false, &e), ZK_ERR_TOO_BIG);
    free(big);
}

static void test_key_files(void **state)
{
    (void)state;
    char path[512], text[512];
    sc_curve_keypair kp, back;
    zk_error_detail e = { 0 };
    /* keygen: FILE 0600 with both keys, FILE.pub 0644; never over an existing file. */
    path_of(path, sizeof path, "gen.key");
    assert_int_equal(sc_curve_keygen(&kp, path, &e), ZK_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sc_curve_key_load(&back, path, true, &e), ZK_OK);
    assert_string_equal(back.public_z85, kp.public_z85);
    assert_string_equal(back.secret_z85, kp.secret_z85);
    char pub[600];
    snprintf(pub, sizeof pub, "%s.pub", path);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(sc_curve_key_load(&back, pub, false, &e), ZK_OK);
    assert_string_equal(back.public_z85, kp.public_z85);
    assert_int_equal(sc_curve_key_load(&back, pub, true, &e), ZK_ERR_USAGE); /* 0644: not a secret file */
    assert_int_equal(sc_curve_keygen(NULL, path, &e), ZK_ERR_USAGE);
    assert_non_null(strstr(e.text, "not overwritten"));
    assert_int_equal(sc_curve_key_load(&back, path, true, &e), ZK_OK); /* untouched */
    assert_string_equal(back.secret_z85, kp.secret_z85);

    /* A secret file readable by the group, or by anyone: refused, naming the file. */
    snprintf(text, sizeof text, "public-key = %s\nsecret-key = %s\n", kat_client_pub, kat_client_sec);
    write_file(path, sizeof path, "group.key", text, 0640);
    assert_int_equal(sc_curve_key_load(&kp, path, true, &e), ZK_ERR_USAGE);
    assert_non_null(strstr(e.text, "group.key"));
    assert_non_null(strstr(e.text, "chmod 600"));
    write_file(path, sizeof path, "world.key", text, 0604);
    assert_int_equal(sc_curve_key_load(&kp, path, true, &e), ZK_ERR_USAGE);
    assert_int_equal(sc_curve_key_load(&kp, path, false, &e), ZK_OK); /* its public key is no secret */
    write_file(path, sizeof path, "ok.key", text, 0600);
    assert_int_equal(sc_curve_key_load(&kp, path, true, &e), ZK_OK);
    /* Missing; a directory; a bad file names itself and the line. */
    path_of(path, sizeof path, "missing.key");
    assert_int_equal(sc_curve_key_load(&kp, path, true, &e), ZK_ERR_IO);
    assert_non_null(strstr(e.text, "missing.key"));
    assert_int_equal(sc_curve_key_load(&kp, workdir, false, &e), ZK_ERR_IO);
    write_file(path, sizeof path, "short.key", "# x\n\npublic-key = abc\n", 0600);
    assert_int_equal(sc_curve_key_load(&kp, path, false, &e), ZK_ERR_BAD_LENGTH);
    assert_non_null(strstr(e.text, "short.key: line 3"));

    /* --server-key: a Z85 key as is, or a key file's public key. */
    char out[SC_CURVE_Z85_LEN + 1];
    assert_int_equal(sc_curve_public_key_arg(out, kat_server_pub, &e), ZK_OK);
    assert_string_equal(out, kat_server_pub);
    path_of(path, sizeof path, "ok.key");
    assert_int_equal(sc_curve_public_key_arg(out, path, &e), ZK_OK);
    assert_string_equal(out, kat_client_pub);
    assert_int_equal(sc_curve_public_key_arg(out, "not-a-key-nor-a-file", &e), ZK_ERR_IO);
    assert_string_equal(out, "");
}

static void test_allow_parse(void **state)
{
    (void)state;
    sc_curve_allow a;
    zk_error_detail e = { 0 };
    char text[1024];
    uint8_t k1[32], k2[32], k3[32];
    assert_true(sc_curve_z85_key(k1, kat_client_pub, 40));
    assert_true(sc_curve_z85_key(k2, kat_server_pub, 40));
    assert_true(sc_curve_z85_key(k3, "HelloWorldHelloWorldHelloWorldHelloWorld", 40));
    /* Bare keys and `public-key =` lines (FILE.pub concatenated), comments, a duplicate. */
    snprintf(text, sizeof text, "# workers\n%s\n\n  # b\npublic-key = %s\n%s", kat_client_pub, kat_server_pub,
             kat_client_pub);
    assert_int_equal(allow_text(&a, text, &e), ZK_OK);
    assert_int_equal(a.n, 2);
    assert_true(sc_curve_allow_has(&a, k1));
    assert_true(sc_curve_allow_has(&a, k2));
    assert_false(sc_curve_allow_has(&a, k3));
    sc_curve_allow_free(&a);
    sc_curve_allow_free(&a); /* twice is fine */
    /* Empty: valid, and refuses everyone. */
    assert_int_equal(allow_text(&a, "# nobody\n", &e), ZK_OK);
    assert_int_equal(a.n, 0);
    assert_false(sc_curve_allow_has(&a, k1));
    /* A bad line anywhere refuses the whole file, naming the line. */
    snprintf(text, sizeof text, "%s\n%.39s\n", kat_client_pub, kat_server_pub);
    assert_int_equal(allow_text(&a, text, &e), ZK_ERR_BAD_LENGTH);
    assert_non_null(strstr(e.text, "line 2"));
    assert_int_equal(a.n, 0);
    assert_null(a.keys);
    snprintf(text, sizeof text, "%s extra\n", kat_client_pub);
    assert_int_equal(allow_text(&a, text, &e), ZK_ERR_BAD_LENGTH);
    snprintf(text, sizeof text, "secret-key = %s\n", kat_client_sec);
    assert_int_equal(allow_text(&a, text, &e), ZK_ERR_BAD_LENGTH); /* not a key line */
    /* Too many keys. */
    size_t n = SC_CURVE_ALLOW_KEYS_MAX + 1, len = n * 41;
    char *many = malloc(len + 1);
    assert_non_null(many);
    for (size_t i = 0; i < n; i++) {
        memcpy(many + i * 41, kat_client_pub, 40);
        many[i * 41 + 40] = '\n';
    }
    many[len] = '\0';
    assert_int_equal(sc_curve_allow_parse(&a, (uint8_t *)many, len, &e), ZK_ERR_TOO_BIG);
    assert_int_equal(sc_curve_allow_parse(&a, (uint8_t *)many, len - 41, &e), ZK_OK); /* exactly the cap */
    assert_int_equal(a.n, 1);
    sc_curve_allow_free(&a);
    free(many);
    char path[512];
    path_of(path, sizeof path, "missing.allow");
    assert_int_equal(sc_curve_allow_load(&a, path, &e), ZK_ERR_IO);
    assert_non_null(strstr(e.text, "missing.allow"));
}

/* ------------------------------------------------------------ workers and peers */

/* `zkcar worker --connect ep --name name --threads 1 --bpf off [a1 a2 a3 a4]`
 * (the extra arguments end at the first NULL). */
static pid_t worker_spawn(const char *ep, const char *name, const char *a1, const char *a2, const char *a3,
                          const char *a4)
{
    const char *const x[] = { "--bpf", "off", a1, a2, a3, a4, NULL };
    return worker_spawn_argv(ep, name, x);
}

static sc_dist *dist_new(const char *ep, source *s, const char *secret, const char *allow_file)
{
    sc_dist_config c;
    sc_dist_config_defaults(&c);
    c.endpoint = ep;
    c.params = params;
    c.heartbeat_ms = 200;
    c.worker_timeout_ms = 5000;
    c.job_timeout_ms = 120000;
    c.curve_secret_z85 = secret;
    c.curve_allow_file = allow_file;
    sc_dist_source src = { .ctx = s, .take = src_take, .give_back = src_give_back, .done = src_done };
    sc_dist *d = NULL;
    zk_error_detail e = { 0 };
    if (sc_dist_create(&d, &c, &src, &e) != ZK_OK)
        fail_msg("sc_dist_create: %s", e.text);
    if (sc_dist_start(d, &e) != ZK_OK)
        fail_msg("sc_dist_start: %s", e.text);
    return d;
}

/* A DEALER written here; CURVE client when server_pub is given. */
typedef struct peer {
    void *ctx, *sock;
} peer;

static peer peer_new(const char *ep, const char *server_pub, const char *pub, const char *sec)
{
    peer p = { zmq_ctx_new(), NULL };
    assert_non_null(p.ctx);
    p.sock = zmq_socket(p.ctx, ZMQ_DEALER);
    assert_non_null(p.sock);
    int zero = 0;
    zmq_setsockopt(p.sock, ZMQ_LINGER, &zero, sizeof zero);
    if (server_pub) {
        assert_int_equal(zmq_setsockopt(p.sock, ZMQ_CURVE_SERVERKEY, server_pub, 41), 0);
        assert_int_equal(zmq_setsockopt(p.sock, ZMQ_CURVE_PUBLICKEY, pub, 41), 0);
        assert_int_equal(zmq_setsockopt(p.sock, ZMQ_CURVE_SECRETKEY, sec, 41), 0);
    }
    assert_int_equal(zmq_connect(p.sock, ep), 0);
    return p;
}

static void peer_free(peer *p)
{
    zmq_close(p->sock);
    zmq_ctx_term(p->ctx);
}

/* Says READY (queued until the handshake is done); true when WELCOME comes within timeout_ms. */
static bool peer_welcomed(peer *p, int timeout_ms)
{
    sc_dist_msg m = { .type = SC_DIST_READY, .version = SC_DIST_VERSION, .capacity = 1 };
    snprintf(m.text, sizeof m.text, "peer");
    uint8_t buf[256];
    size_t len;
    assert_int_equal(sc_dist_msg_encode(buf, sizeof buf, &len, &m), ZK_OK);
    zmq_send(p->sock, buf, len, ZMQ_DONTWAIT);
    int64_t until = now_ms() + timeout_ms;
    while (now_ms() < until) {
        zmq_pollitem_t it = { .socket = p->sock, .events = ZMQ_POLLIN };
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        uint8_t in[1024];
        int n = zmq_recv(p->sock, in, sizeof in, 0);
        zk_error_detail e = { 0 };
        if (n > 0 && (size_t)n <= sizeof in && sc_dist_msg_decode(&m, &e, in, (size_t)n) == ZK_OK
            && m.type == SC_DIST_WELCOME)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ tests: the dispatcher */

/* CURVE with an allow file: a worker with an unknown key, one with the wrong
 * server key and one without CURVE never register (no job is sent); the
 * allowed worker proves both batches; taking its key out of the file drops
 * it. The refusals are counted and exported (promtool clean). */
static void test_ironhouse(void **state)
{
    (void)state;
    source *s = source_new(2, 2);
    set_frozen(s, true);
    char srv[512], good[512], bad[512], allow[512], ep[256], text[512];
    zk_error_detail e = { 0 };
    sc_curve_keypair skp, gkp, bkp;
    path_of(srv, sizeof srv, "iron-server.key");
    path_of(good, sizeof good, "iron-good.key");
    path_of(bad, sizeof bad, "iron-bad.key");
    assert_int_equal(sc_curve_keygen(&skp, srv, &e), ZK_OK);
    assert_int_equal(sc_curve_keygen(&gkp, good, &e), ZK_OK);
    assert_int_equal(sc_curve_keygen(&bkp, bad, &e), ZK_OK);
    snprintf(text, sizeof text, "# the workers\n%s\n", gkp.public_z85);
    write_file(allow, sizeof allow, "iron.allow", text, 0644);
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, skp.secret_z85, allow);
    zk_metrics *reg = NULL;
    assert_int_equal(zk_metrics_create(&reg), ZK_OK);
    assert_int_equal(sc_dist_register_metrics(d, reg), ZK_OK);

    /* Three that must not get in: processes, as an operator would run them. */
    char srvpub[600];
    snprintf(srvpub, sizeof srvpub, "%s.pub", srv);
    pid_t unknown = worker_spawn(ep, "iron-unknown", "--server-key", skp.public_z85, "--key", bad);
    pid_t wrong = worker_spawn(ep, "iron-wrong", "--server-key", bkp.public_z85, "--key", good);
    pid_t plain = worker_spawn(ep, "iron-plain", NULL, NULL, NULL, NULL);
    set_frozen(s, false); /* a job waits: any registered worker would get it */
    WAIT_UNTIL(stats_of(d).refused_key >= 1 && stats_of(d).refused_handshake >= 2, 20000, "three refusals");
    WAIT_UNTIL(log_count("iron-unknown", "refused this worker's key") >= 1, 20000, "the unknown worker's log");
    WAIT_UNTIL(log_count("iron-wrong", "wrong --server-key") >= 1, 20000, "the wrong-key worker's log");
    sleep_ms(500);
    sc_dist_stats st = stats_of(d);
    assert_int_equal(st.workers, 0);
    assert_int_equal(st.jobs_sent, 0);
    assert_int_equal(s->takes, 0);
    assert_int_equal(log_count("iron-unknown", "connected to the dispatcher"), 0);
    assert_int_equal(log_count("iron-wrong", "connected to the dispatcher"), 0);
    assert_int_equal(log_count("iron-plain", "connected to the dispatcher"), 0);
    worker_stop(unknown);
    worker_stop(wrong);
    worker_stop(plain);

    /* The allowed worker (server key given as its .pub file) proves both batches. */
    pid_t w = worker_spawn(ep, "iron-good", "--server-key", srvpub, "--key", good);
    WAIT_UNTIL(source_all_proven(s), 120000, "both batches proven by the allowed worker");
    expect_each_proven_once(s);
    WAIT_UNTIL(stats_of(d).proofs_accepted == 2, 5000, "the counter");
    st = stats_of(d);
    assert_int_equal(st.workers, 1);
    assert_int_equal(st.proofs_rejected, 0);
    assert_int_equal(log_count("iron-good", "msg=\"batch proven\""), 2);

    /* Metrics: the refusals by reason; promtool finds nothing to say. */
    char *mt = NULL;
    size_t mlen = 0;
    assert_int_equal(zk_metrics_render(reg, &mt, &mlen), ZK_OK);
    char want[160];
    snprintf(want, sizeof want, "zkcar_remote_workers_refused_total{reason=\"key\"} %" PRIu64 "\n", st.refused_key);
    assert_non_null(strstr(mt, want));
    snprintf(want, sizeof want, "zkcar_remote_workers_refused_total{reason=\"handshake\"} %" PRIu64 "\n",
             st.refused_handshake);
    assert_non_null(strstr(mt, want));
    char pout[2048];
    if (promtool_check(mt, pout, sizeof pout) != 0)
        fail_msg("promtool check metrics refused (%s):\n%s", pout, mt);
    free(mt);

    /* Its key taken out of the allow file: dropped at its next heartbeat
     * (the file is checked every second), every frame of it refused after;
     * put back, its next READY registers it again. */
    uint64_t refused = st.refused_key;
    replace_file("iron.allow", "# nobody\n");
    WAIT_UNTIL(stats_of(d).workers == 0, 10000, "the revoked worker dropped");
    WAIT_UNTIL(stats_of(d).refused_key > refused, 5000, "the refusal counted");
    snprintf(text, sizeof text, "%s\n", gkp.public_z85);
    replace_file("iron.allow", text);
    WAIT_UNTIL(stats_of(d).workers == 1, 15000, "the worker back once its key is");
    /* A broken allow file fails closed: the worker is dropped again. */
    replace_file("iron.allow", "not a key\n");
    WAIT_UNTIL(stats_of(d).workers == 0, 10000, "every worker refused while the file is broken");
    worker_stop(w);
    sc_dist_destroy(d);
    zk_metrics_destroy(reg);
    source_free(s);
}

/* CURVE without an allow file: any client key that knows the server's public
 * key registers; a wrong server key or no CURVE does not. */
static void test_stonehouse(void **state)
{
    (void)state;
    source *s = source_new(2, 2);
    set_frozen(s, true);
    char ep[256];
    endpoint_new(ep, sizeof ep);
    sc_dist *d = dist_new(ep, s, kat_server_sec, NULL);
    peer wrong = peer_new(ep, kat_client_pub, kat_client_pub, kat_client_sec);
    peer plain = peer_new(ep, NULL, NULL, NULL);
    assert_false(peer_welcomed(&wrong, 1000));
    assert_false(peer_welcomed(&plain, 500));
    assert_int_equal(stats_of(d).workers, 0);
    WAIT_UNTIL(stats_of(d).refused_handshake >= 2, 5000, "two failed handshakes counted");
    assert_int_equal(stats_of(d).refused_key, 0);
    peer_free(&wrong);
    peer_free(&plain);
    peer any = peer_new(ep, kat_server_pub, kat_client_pub, kat_client_sec);
    assert_true(peer_welcomed(&any, 5000));
    assert_int_equal(stats_of(d).workers, 1);
    peer_free(&any);
    sc_dist_destroy(d);
    source_free(s);
}

/* sc_dist_create refuses bad CURVE settings with a reason. */
static void test_create_refused(void **state)
{
    (void)state;
    source *s = source_new(2, 2);
    char ep[256], allow[512], text[256];
    endpoint_new(ep, sizeof ep);
    sc_dist_config c;
    sc_dist_source src = { .ctx = s, .take = src_take, .give_back = src_give_back, .done = src_done };
    sc_dist *d = NULL;
    zk_error_detail e = { 0 };
    snprintf(text, sizeof text, "%s\n", kat_client_pub);
    write_file(allow, sizeof allow, "create.allow", text, 0644);
    sc_dist_config_defaults(&c);
    c.endpoint = ep;
    c.curve_allow_file = allow; /* without a key */
    assert_int_equal(sc_dist_create(&d, &c, &src, &e), ZK_ERR_USAGE);
    assert_non_null(strstr(e.text, "--workers-key"));
    assert_null(d);
    c.curve_secret_z85 = "tooshort";
    assert_int_equal(sc_dist_create(&d, &c, &src, &e), ZK_ERR_USAGE);
    c.curve_secret_z85 = "HelloWorldHelloWorldHelloWorldHelloWorl~";
    assert_int_equal(sc_dist_create(&d, &c, &src, &e), ZK_ERR_USAGE);
    c.curve_secret_z85 = kat_server_sec;
    path_of(allow, sizeof allow, "nonexistent.allow");
    assert_int_equal(sc_dist_create(&d, &c, &src, &e), ZK_ERR_USAGE);
    assert_non_null(strstr(e.text, "nonexistent.allow"));
    write_file(allow, sizeof allow, "broken.allow", "# ok\nnot a key\n", 0644);
    assert_int_equal(sc_dist_create(&d, &c, &src, &e), ZK_ERR_USAGE);
    assert_non_null(strstr(e.text, "broken.allow: line 2"));
    path_of(allow, sizeof allow, "create.allow");
    assert_int_equal(sc_dist_create(&d, &c, &src, &e), ZK_OK); /* and the endpoint is free again */
    sc_dist_destroy(d);

    /* Without a key: a warning when the endpoint is reachable from other
     * machines, none on loopback or ipc. */
    char logpath[512];
    path_of(logpath, sizeof logpath, "create.log");
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    zk_log_set_fd(fd);
    sc_dist_config_defaults(&c);
    const char *eps[] = { ep, "tcp://127.0.0.1:*", "tcp://0.0.0.0:*" };
    for (int i = 0; i < 3; i++) {
        c.endpoint = eps[i];
        assert_int_equal(sc_dist_create(&d, &c, &src, &e), ZK_OK);
        sc_dist_destroy(d);
    }
    zk_log_set_fd(2);
    close(fd);
    FILE *f = fopen(logpath, "r");
    assert_non_null(f);
    char line[1024];
    int warnings = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "remote workers are not authenticated") && strstr(line, "endpoint=tcp://0.0.0.0:*"))
            warnings++;
        else if (strstr(line, "not authenticated"))
            fail_msg("a warning for a local endpoint: %s", line);
    fclose(f);
    assert_int_equal(warnings, 1);
    source_free(s);
}

/* The commands: keygen, and the usage errors of worker and run (exit 2). */
static void test_commands(void **state)
{
    (void)state;
    const char *bin = zkcar_bin();
    char cmd[2048], key[512], out[512];
    path_of(key, sizeof key, "cmd.key");
    path_of(out, sizeof out, "cmd.out");
    snprintf(cmd, sizeof cmd, "%s keygen %s >%s", bin, key, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    sc_curve_keypair kp;
    zk_error_detail e = { 0 };
    assert_int_equal(sc_curve_key_load(&kp, key, true, &e), ZK_OK);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    assert_string_equal(line, kp.public_z85); /* stdout: the public key alone */
    snprintf(cmd, sizeof cmd, "%s keygen %s 2>/dev/null", bin, key);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2); /* exists */
    snprintf(cmd, sizeof cmd, "%s keygen 2>/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s keygen --help >/dev/null", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);

    /* zkcar worker: --server-key and --key go together; keys must load. */
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 --key %s 2>/dev/null", bin, key);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 --server-key '%s' 2>/dev/null", bin,
             kp.public_z85);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 --server-key nonsense --key %s 2>/dev/null", bin,
             key);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 --server-key '%s' --key %s.pub 2>/dev/null", bin,
             kp.public_z85, key);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2); /* a public file is not a secret key */
    chmod(key, 0640);
    snprintf(cmd, sizeof cmd, "%s worker --connect tcp://127.0.0.1:1 --server-key '%s' --key %s 2>%s", bin,
             kp.public_z85, key, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "chmod 600"));
    chmod(key, 0600);

    /* zkcar run: --workers-allow without --workers-key, a bad key file: exit 2
     * (before any L1 connection: the RPC endpoint does not exist). */
    const char *base = "run --l1-rpc http://127.0.0.1:1 --bridge 0x00000000000000000000000000000000000000b1 "
                       "--chain-id 31337 --workers ipc:///nonexistent/w.sock";
    snprintf(cmd, sizeof cmd, "%s %s --workers-allow %s.pub 2>%s", bin, base, key, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "--workers-allow needs --workers-key"));
    snprintf(cmd, sizeof cmd, "%s %s --workers-key %s.pub 2>/dev/null", bin, base, key);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s run --help | grep -q -- --workers-allow", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "%s worker --help | grep -q -- --server-key", bin);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
}

/* ------------------------------------------------------------ main */

static int group_setup(void **state)
{
    (void)state;
    if (!zmq_has("curve") || dist_keys_setup() != 0 || workdir_create("zkcar-auth") != 0)
        return -1;
    zk_log_set_level(ZK_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    workdir_remove();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_z85_known_answers),
        cmocka_unit_test(test_key_parse),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_allow_parse),
        cmocka_unit_test_teardown(test_create_refused, kill_leftovers),
        cmocka_unit_test_teardown(test_stonehouse, kill_leftovers),
        cmocka_unit_test_teardown(test_ironhouse, kill_leftovers),
        cmocka_unit_test_teardown(test_commands, kill_leftovers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
