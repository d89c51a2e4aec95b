/* The distributed-proving protocol's messages (sidecar/dist.h): every type
 * round-trips through sc_dist_msg_encode/decode, every proper prefix and one
 * byte more are refused, and hand-made frames that break the shape, the
 * bounds or the version are refused with ZK_ERR_WORKER_PROTOCOL. (The
 * dispatcher with real workers is test_dist.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/dist.h"

static void roundtrip(const sc_dist_msg *m)
{
    size_t cap = sc_dist_msg_encoded_max(m), len;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(sc_dist_msg_encode(buf, cap, &len, m), ZK_OK);
    /* the head is the encoding up to the payload's bytes */
    uint8_t head[SC_DIST_CONTROL_MAX];
    size_t hlen;
    assert_int_equal(sc_dist_msg_encode_head(head, sizeof head, &hlen, m), ZK_OK);
    assert_int_equal(hlen + m->payload_len, len);
    assert_memory_equal(head, buf, hlen);
    sc_dist_msg back;
    zk_error_detail e = { 0 };
    if (sc_dist_msg_decode(&back, &e, buf, len) != ZK_OK)
        fail_msg("type %d does not decode: %s", (int)m->type, e.text);
    assert_int_equal(back.type, m->type);
    assert_int_equal(back.version, m->version);
    assert_int_equal(back.capacity, m->capacity);
    assert_int_equal(back.heartbeat_ms, m->heartbeat_ms);
    assert_int_equal(back.timeout_ms, m->timeout_ms);
    assert_int_equal(back.attempt, m->attempt);
    assert_int_equal(back.batch, m->batch);
    assert_memory_equal(&back.params, &m->params, sizeof back.params);
    assert_int_equal(back.code, m->code);
    assert_int_equal(back.prove_ms, m->prove_ms);
    assert_string_equal(back.text, m->text);
    assert_int_equal(back.payload_len, m->payload_len);
    if (m->payload_len) {
        assert_memory_equal(back.payload, m->payload, m->payload_len);
        assert_true(back.payload >= buf && back.payload + back.payload_len == buf + len);
    }
    /* Every proper prefix is refused, and so is one byte more. */
    for (size_t cut = 0; cut < len; cut += (len > 600 ? 37 : 1))
        assert_int_equal(sc_dist_msg_decode(&back, &e, buf, cut), ZK_ERR_WORKER_PROTOCOL);
    uint8_t *more = malloc(len + 1);
    assert_non_null(more);
    memcpy(more, buf, len);
    more[len] = 0;
    assert_int_equal(sc_dist_msg_decode(&back, &e, more, len + 1), ZK_ERR_WORKER_PROTOCOL);
    free(more);
    free(buf);
}

static void test_msg_roundtrip(void **state)
{
    (void)state;
    uint8_t payload[3000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    sc_dist_msg m = { .type = SC_DIST_READY, .version = SC_DIST_VERSION, .capacity = SC_DIST_CAPACITY_MAX };
    snprintf(m.text, sizeof m.text, "host-a:1234");
    roundtrip(&m);
    memset(m.text, 'n', SC_DIST_TEXT_MAX); /* the longest name */
    m.text[SC_DIST_TEXT_MAX] = '\0';
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_WELCOME, .version = 1, .heartbeat_ms = 1000, .timeout_ms = 5000 };
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_JOB, .attempt = UINT64_MAX, .batch = 7, .params = prv_stark_params_default,
                       .payload = payload, .payload_len = sizeof payload };
    roundtrip(&m);
    m.payload_len = 1;
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_HEARTBEAT, .attempt = 0 };
    roundtrip(&m);
    m.attempt = 1ull << 40;
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_RESULT, .attempt = 3, .batch = 9, .prove_ms = 1234, .payload = payload,
                       .payload_len = 200 };
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_RESULT, .attempt = 3, .batch = 9, .code = ZK_ERR_BATCH_WITNESS };
    snprintf(m.text, sizeof m.text, "operation 4: witness does not chain");
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_PING };
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_BYE };
    roundtrip(&m);
    m = (sc_dist_msg){ .type = SC_DIST_ERROR, .code = ZK_ERR_UNSUPPORTED };
    snprintf(m.text, sizeof m.text, "version");
    roundtrip(&m);

    /* The encoder refuses what the decoder would: an unknown type, a buffer too small. */
    size_t len;
    uint8_t small[8];
    m = (sc_dist_msg){ .type = (sc_dist_msg_type)99 };
    assert_int_equal(sc_dist_msg_encode(small, sizeof small, &len, &m), ZK_ERR_INTERNAL);
    m = (sc_dist_msg){ .type = SC_DIST_JOB, .attempt = 1, .batch = 1, .payload = payload, .payload_len = 100 };
    assert_int_equal(sc_dist_msg_encode(small, sizeof small, &len, &m), ZK_ERR_TOO_BIG);
}

/* Frames written byte by byte (msgpack), each refused with a reason. */
static void expect_refused(const uint8_t *buf, size_t len, const char *why)
{
    sc_dist_msg m;
    zk_error_detail e = { 0 };
    zk_err rc = sc_dist_msg_decode(&m, &e, buf, len);
    if (rc != ZK_ERR_WORKER_PROTOCOL)
        fail_msg("%s: decoded (rc %d)", why, (int)rc);
    assert_true(strlen(e.text) > 0);
    assert_int_equal(m.type, 0); /* nothing half-filled */
}

static void test_msg_refused(void **state)
{
    (void)state;
    expect_refused(NULL, 0, "empty");
    expect_refused((const uint8_t[]){ 0x06 }, 1, "not an array");
    expect_refused((const uint8_t[]){ 0x90 }, 1, "empty array");
    expect_refused((const uint8_t[]){ 0x91, 0x00 }, 2, "type 0");
    expect_refused((const uint8_t[]){ 0x91, 0x09 }, 2, "type 9");
    expect_refused((const uint8_t[]){ 0x91, 0xff }, 2, "negative fixint type");
    expect_refused((const uint8_t[]){ 0x92, 0x06, 0x00 }, 3, "PING with an element");
    expect_refused((const uint8_t[]){ 0x91, 0xc0 }, 2, "nil");
    expect_refused((const uint8_t[]){ 0x91, 0x81, 0x01, 0x01 }, 4, "a map");
    expect_refused((const uint8_t[]){ 0x92, 0x04, 0x91, 0x01 }, 4, "a nested array");
    expect_refused((const uint8_t[]){ 0x92, 0x04, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0 }, 11, "a float");
    expect_refused((const uint8_t[]){ 0xdd, 0xff, 0xff, 0xff, 0xff, 0x04 }, 6, "2^32-1 elements announced");
    expect_refused((const uint8_t[]){ 0xdc, 0x00 }, 2, "array16 cut short");
    expect_refused((const uint8_t[]){ 0x92, 0x04, 0xcf, 0x01 }, 4, "uint64 cut short");
    /* READY: capacity 0 and above the cap, an empty name, a name with NUL, a bin name. */
    expect_refused((const uint8_t[]){ 0x94, 0x01, 0x01, 0x00, 0xa1, 'w' }, 6, "capacity 0");
    expect_refused((const uint8_t[]){ 0x94, 0x01, 0x01, 0x41, 0xa1, 'w' }, 6, "capacity 65");
    expect_refused((const uint8_t[]){ 0x94, 0x01, 0x01, 0x01, 0xa0 }, 5, "empty name");
    expect_refused((const uint8_t[]){ 0x94, 0x01, 0x01, 0x01, 0xa2, 'w', 0 }, 7, "name with NUL");
    expect_refused((const uint8_t[]){ 0x94, 0x01, 0x01, 0x01, 0xc4, 0x01, 'w' }, 7, "bin name");
    expect_refused((const uint8_t[]){ 0x94, 0x01, 0x01, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff, 'w' }, 10,
                   "str32 longer than the frame");
    /* A name of SC_DIST_TEXT_MAX + 1 bytes. */
    uint8_t longname[8 + SC_DIST_TEXT_MAX + 1] = { 0x94, 0x01, 0x01, 0x01, 0xd9, SC_DIST_TEXT_MAX + 1 };
    memset(longname + 6, 'x', SC_DIST_TEXT_MAX + 1);
    expect_refused(longname, 6 + SC_DIST_TEXT_MAX + 1, "name too long");
    /* WELCOME: heartbeat 0; timeout below the heartbeat. */
    expect_refused((const uint8_t[]){ 0x94, 0x02, 0x01, 0x00, 0x10 }, 5, "heartbeat 0");
    expect_refused((const uint8_t[]){ 0x94, 0x02, 0x01, 0x20, 0x10 }, 5, "timeout < heartbeat");
    /* JOB: attempt 0, batch 0, a field above its type, an empty job, a str job. */
    const uint8_t job_ok[] = { 0x9a, 0x03, 0x01, 0x01, 0x01, 0x01, 0x10, 0x14, 0x03, 0x05, 0xc4, 0x01, 0xaa };
    sc_dist_msg m;
    zk_error_detail e = { 0 };
    assert_int_equal(sc_dist_msg_decode(&m, &e, job_ok, sizeof job_ok), ZK_OK);
    uint8_t bad[sizeof job_ok + 2];
    memcpy(bad, job_ok, sizeof job_ok);
    bad[2] = 0x00;
    expect_refused(bad, sizeof job_ok, "attempt 0");
    memcpy(bad, job_ok, sizeof job_ok);
    bad[3] = 0x00;
    expect_refused(bad, sizeof job_ok, "batch 0");
    memcpy(bad, job_ok, sizeof job_ok);
    bad[11] = 0x00;
    expect_refused(bad, sizeof job_ok - 1, "empty job");
    memcpy(bad, job_ok, sizeof job_ok);
    bad[10] = 0xa1;
    bad[11] = 0xaa;
    expect_refused(bad, sizeof job_ok - 1, "a str job");
    const uint8_t job_hash_big[] = { 0x9a, 0x03, 0x01, 0x01, 0xcd, 0x01, 0x00, 0x01, 0x10, 0x14, 0x03, 0x05,
                                     0xc4, 0x01, 0xaa };
    expect_refused(job_hash_big, sizeof job_hash_big, "hash id 256");
    /* RESULT: a proof with a failure code, no proof with code 0. */
    const uint8_t res_ok[] = { 0x97, 0x05, 0x02, 0x03, 0x00, 0x10, 0xa0, 0xc4, 0x02, 0xab, 0xcd };
    assert_int_equal(sc_dist_msg_decode(&m, &e, res_ok, sizeof res_ok), ZK_OK);
    assert_int_equal(m.payload_len, 2);
    memcpy(bad, res_ok, sizeof res_ok);
    bad[4] = 0x07;
    expect_refused(bad, sizeof res_ok, "a proof with code 7");
    const uint8_t res_empty[] = { 0x97, 0x05, 0x02, 0x03, 0x00, 0x10, 0xa0, 0xc4, 0x00 };
    expect_refused(res_empty, sizeof res_empty, "code 0 without a proof");
    /* A control message padded beyond SC_DIST_CONTROL_MAX with a long (but
     * allowed-length) string still fails on the text cap first; a huge
     * announced bin fails on the bytes left. */
    const uint8_t huge[] = { 0x97, 0x05, 0x02, 0x03, 0x00, 0x10, 0xa0, 0xc6, 0x7f, 0xff, 0xff, 0xff };
    expect_refused(huge, sizeof huge, "bin32 of 2 GiB announced");
    /* A proof above SC_DIST_PROOF_MAX, really present. */
    size_t biglen = 12 + SC_DIST_PROOF_MAX + 1;
    uint8_t *big = calloc(1, biglen);
    assert_non_null(big);
    const uint8_t head[] = { 0x97, 0x05, 0x02, 0x03, 0x00, 0x10, 0xa0, 0xc6 };
    memcpy(big, head, sizeof head);
    uint32_t n = (uint32_t)(SC_DIST_PROOF_MAX + 1);
    big[8] = (uint8_t)(n >> 24);
    big[9] = (uint8_t)(n >> 16);
    big[10] = (uint8_t)(n >> 8);
    big[11] = (uint8_t)n;
    expect_refused(big, biglen, "proof above its cap");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_roundtrip),
        cmocka_unit_test(test_msg_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
