/*
 * tests/l1-watcher/test_rpc.c — the watcher's parsers and parts without a node:
 * JSON-RPC replies, quantities, blocks and Deposit logs, stream messages, the
 * outbox; then a fake node (a socket server in this test, over a unix socket
 * and over HTTP) that answers garbage, truncated JSON, a huge reply, an error
 * object, HTTP 429/500, silence, a wrong chain id, and a chain whose
 * eth_getLogs refuses wide ranges (the watcher must halve and grow back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <zmq.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "l1-watcher/l1w.h"
#include "l1-watcher/pending.h"

/* ------------------------------------------------------------ replies */

static zk_err parse(const char *s, uint64_t id, json_object **res, int *code)
{
    return l1w_rpc_parse_reply(res, code, NULL, s, strlen(s), id, 0);
}

static void test_parse_reply(void **state)
{
    json_object *res;
    int code = 0;
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x1\"}", 7, &res, &code), ZK_OK);
    assert_string_equal(json_object_get_string(res), "0x1");
    json_object_put(res);
    assert_int_equal(parse(" {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}\n", 1, &res, &code), ZK_OK);
    assert_null(res);
    zk_error_detail e = { 0 };
    const char *er = "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32005,\"message\":\"query returned more than 10000 results\"}}";
    assert_int_equal(l1w_rpc_parse_reply(&res, &code, &e, er, strlen(er), 3, 0), ZK_ERR_L1_RPC);
    assert_int_equal(code, -32005);
    assert_non_null(strstr(e.text, "more than 10000 results"));
    assert_null(res);
    /* Shape errors. */
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":1}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"result\":1}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":1}", UINT64_MAX, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"id\":7,\"result\":1}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"jsonrpc\":\"1.0\",\"id\":7,\"result\":1}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":\"boom\"}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"message\":\"x\"}}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":99999999999}}", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    assert_int_equal(parse("[{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1}]", 7, &res, &code), ZK_ERR_L1_BAD_REPLY);
    /* Not JSON. */
    assert_int_equal(parse("", 7, &res, &code), ZK_ERR_BAD_JSON);
    assert_int_equal(parse("hello", 7, &res, &code), ZK_ERR_BAD_JSON);
    assert_int_equal(l1w_rpc_parse_reply(&res, &code, &e, "{\"jsonrpc\":\"2.0\",\"id\":7,\"res", 27, 7, 0), ZK_ERR_BAD_JSON);
    assert_non_null(strstr(e.text, "truncated"));
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1} x", 7, &res, &code), ZK_ERR_BAD_JSON);
    assert_int_equal(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1}{}", 7, &res, &code), ZK_ERR_BAD_JSON);
    assert_int_equal(parse("{'jsonrpc':'2.0'}", 7, &res, &code), ZK_ERR_BAD_JSON);
    /* Depth cap. */
    char deep[200];
    int n = 0;
    n += snprintf(deep + n, sizeof deep - (size_t)n, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":");
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    assert_int_equal(parse(deep, 1, &res, &code), ZK_ERR_BAD_JSON);
    /* Size cap. */
    const char *ok = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1\"}";
    assert_int_equal(l1w_rpc_parse_reply(&res, &code, &e, ok, strlen(ok), 1, 10), ZK_ERR_TOO_BIG);
}

static void test_quantity(void **state)
{
    uint64_t v;
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0x0", 3), ZK_OK);
    assert_int_equal(v, 0);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0x1a", 4), ZK_OK);
    assert_int_equal(v, 26);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0xFFFFFFFFFFFFFFFF", 18), ZK_OK);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0x1ffffffffffffffff", 19), ZK_ERR_OUT_OF_RANGE);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0x", 2), ZK_ERR_BAD_HEX);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "1a", 2), ZK_ERR_BAD_HEX);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0x01", 4), ZK_ERR_BAD_HEX);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0x1g", 4), ZK_ERR_BAD_HEX);
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0X1", 3), ZK_ERR_BAD_HEX);
    /* The length is honoured: "0x12" read as 3 bytes is 0x1. */
    assert_int_equal(l1w_quantity_parse(&v, NULL, "0x12", 3), ZK_OK);
    assert_int_equal(v, 1);
}

/* keccak256("Deposit(uint64,address,address,uint64)") is the compiled-in topic;
 * tests/contracts/test_bridge.js checks the same constant against ethers. */
static void test_deposit_topic(void **state)
{
    static const char sig[] = "Deposit(uint64,address,address,uint64)";
    uint8_t h[32], want[32];
    zk_keccak256(h, sig, sizeof sig - 1);
    assert_int_equal(zk_hex_decode(want, 32, NULL, "0x" L1W_DEPOSIT_TOPIC_HEX, 66), ZK_OK);
    assert_memory_equal(h, want, 32);
}

static const char *BRIDGE = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
#define HASH_A "0x1111111111111111111111111111111111111111111111111111111111111111"
#define HASH_B "0x2222222222222222222222222222222222222222222222222222222222222222"
#define WORD0 "0x0000000000000000000000000000000000000000000000000000000000000000"
#define ID5 "0x0000000000000000000000000000000000000000000000000000000000000005"
#define ADDR_F "0x000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
#define ADDR_T "0x000000000000000000000000d000000000000000000000000000000000000001"
#define AMT "0x00000000000000000000000000000000000000000000000000000000000003e8"

static json_object *make_log(const char *address, const char *t0, const char *t1, const char *t2,
                             const char *t3, const char *data)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"address\":\"%s\",\"topics\":[\"%s\",\"%s\",\"%s\",\"%s\"],\"data\":\"%s\","
             "\"blockNumber\":\"0x10\",\"blockHash\":\"" HASH_A "\",\"transactionHash\":\"" HASH_B "\","
             "\"logIndex\":\"0x2\",\"removed\":false}",
             address, t0, t1, t2, t3, data);
    json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    return o;
}

static void test_log_decode(void **state)
{
    uint8_t bridge[20];
    assert_int_equal(zk_address_parse(bridge, NULL, BRIDGE, strlen(BRIDGE)), ZK_OK);
    const char *t0 = "0x" L1W_DEPOSIT_TOPIC_HEX;
    l1w_deposit d;
    zk_error_detail e = { 0 };
    json_object *o = make_log(BRIDGE, t0, ID5, ADDR_F, ADDR_T, AMT);
    assert_int_equal(l1w_log_decode(&d, &e, o, bridge), ZK_OK);
    json_object_put(o);
    assert_int_equal(d.deposit_id, 5);
    assert_int_equal(d.amount_gwei, 1000);
    assert_int_equal(d.block_number, 16);
    assert_int_equal(d.log_index, 2);
    assert_int_equal(d.from[0], 0xf3);
    assert_int_equal(d.to[0], 0xd0);
    assert_int_equal(d.to[19], 0x01);
    assert_int_equal(d.block_hash[0], 0x11);
    assert_int_equal(d.tx_hash[31], 0x22);
    struct {
        const char *addr, *t0, *t1, *t2, *t3, *data;
        zk_err want;
    } bad[] = {
        { "0x0000000000000000000000000000000000000001", t0, ID5, ADDR_F, ADDR_T, AMT, ZK_ERR_BAD_VALUE },
        { BRIDGE, HASH_A, ID5, ADDR_F, ADDR_T, AMT, ZK_ERR_BAD_VALUE },
        { BRIDGE, t0, "0x0000000000000000000000000000000000000000000000010000000000000005", ADDR_F, ADDR_T, AMT, ZK_ERR_OUT_OF_RANGE },
        { BRIDGE, t0, ID5, HASH_A, ADDR_T, AMT, ZK_ERR_BAD_VALUE },
        { BRIDGE, t0, ID5, ADDR_F, ADDR_T, WORD0, ZK_ERR_OUT_OF_RANGE },
        { BRIDGE, t0, ID5, ADDR_F, ADDR_T, "0x0000000000000000000000000000000000000000000000008000000000000000", ZK_ERR_OUT_OF_RANGE },
        { BRIDGE, t0, ID5, ADDR_F, ADDR_T, "0x00", ZK_ERR_BAD_LENGTH },
        { BRIDGE, t0, ID5, ADDR_F, ADDR_T, "zz", ZK_ERR_BAD_HEX },
        { BRIDGE, t0, "0x05", ADDR_F, ADDR_T, AMT, ZK_ERR_BAD_LENGTH },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = make_log(bad[i].addr, bad[i].t0, bad[i].t1, bad[i].t2, bad[i].t3, bad[i].data);
        zk_err rc = l1w_log_decode(&d, &e, o, bridge);
        if (rc != bad[i].want)
            fail_msg("case %zu: got %d (%s), want %d", i, rc, e.text, bad[i].want);
        json_object_put(o);
    }
    /* Three topics; a missing field; the wrong type. */
    o = json_tokener_parse("{\"address\":\"0x5fbdb2315678afecb367f032d93f642f64180aa3\",\"topics\":[\"" WORD0 "\"]}");
    assert_int_equal(l1w_log_decode(&d, &e, o, bridge), ZK_ERR_BAD_VALUE);
    json_object_put(o);
    o = json_tokener_parse("{\"topics\":[]}");
    assert_int_equal(l1w_log_decode(&d, &e, o, bridge), ZK_ERR_MISSING_FIELD);
    json_object_put(o);
    o = json_tokener_parse("[1]");
    assert_int_equal(l1w_log_decode(&d, &e, o, bridge), ZK_ERR_WRONG_TYPE);
    json_object_put(o);
    char buf[2048];
    snprintf(buf, sizeof buf, "{\"address\":\"%s\",\"topics\":[\"%s\",\"%s\",\"%s\",\"%s\"],\"data\":\"%s\","
             "\"blockNumber\":16,\"blockHash\":\"" HASH_A "\",\"transactionHash\":\"" HASH_B "\",\"logIndex\":\"0x2\"}",
             BRIDGE, t0, ID5, ADDR_F, ADDR_T, AMT);
    o = json_tokener_parse(buf);
    assert_int_equal(l1w_log_decode(&d, &e, o, bridge), ZK_ERR_WRONG_TYPE);
    assert_non_null(strstr(e.text, "blockNumber"));
    json_object_put(o);
}

static void test_header_decode(void **state)
{
    l1w_header h;
    json_object *o = json_tokener_parse("{\"number\":\"0x2a\",\"hash\":\"" HASH_A "\",\"parentHash\":\"" HASH_B "\"}");
    assert_int_equal(l1w_header_decode(&h, NULL, o), ZK_OK);
    assert_int_equal(h.number, 42);
    assert_int_equal(h.hash[0], 0x11);
    assert_int_equal(h.parent_hash[0], 0x22);
    json_object_put(o);
    o = json_tokener_parse("{\"number\":\"0x2a\",\"hash\":\"0x11\",\"parentHash\":\"" HASH_B "\"}");
    assert_int_equal(l1w_header_decode(&h, NULL, o), ZK_ERR_BAD_LENGTH);
    json_object_put(o);
    o = json_tokener_parse("{\"number\":\"0x2a\",\"hash\":\"" HASH_A "\"}");
    assert_int_equal(l1w_header_decode(&h, NULL, o), ZK_ERR_MISSING_FIELD);
    json_object_put(o);
    assert_int_equal(l1w_header_decode(&h, NULL, NULL), ZK_ERR_WRONG_TYPE);
}

/* ------------------------------------------------------------ messages */

static void roundtrip(const l1w_msg *m)
{
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, m), ZK_OK);
    l1w_msg back;
    zk_error_detail e = { 0 };
    if (l1w_msg_decode(&back, &e, buf, len) != ZK_OK)
        fail_msg("decode type %d: %s", m->type, e.text);
    assert_memory_equal(&back, m, sizeof back);
    /* Every strict prefix is refused, and so is a trailing byte. */
    for (size_t k = 0; k < len; k++)
        assert_int_equal(l1w_msg_decode(&back, NULL, buf, k), ZK_ERR_STREAM_PROTOCOL);
    buf[len] = 0xc0;
    assert_int_equal(l1w_msg_decode(&back, NULL, buf, len + 1), ZK_ERR_STREAM_PROTOCOL);
    /* Too small a buffer to encode into. */
    assert_int_equal(l1w_msg_encode(buf, len - 1, &len, m), ZK_ERR_TOO_BIG);
}

static void test_messages(void **state)
{
    l1w_msg m;
    memset(&m, 0, sizeof m);
    m.type = L1W_MSG_HELLO, m.version = 1, m.stream_id = 0x7fffffffffffffffull, m.seq = 42, m.credit = 64;
    roundtrip(&m);
    memset(&m, 0, sizeof m);
    m.type = L1W_MSG_ACK, m.seq = UINT64_MAX, m.credit = 1;
    roundtrip(&m);
    memset(&m, 0, sizeof m);
    m.type = L1W_MSG_WELCOME, m.version = 1, m.stream_id = 9, m.seq = 1000;
    roundtrip(&m);
    memset(&m, 0, sizeof m);
    m.type = L1W_MSG_STATUS, m.head = 100, m.confirmed = 88, m.seq = 7;
    roundtrip(&m);
    memset(&m, 0, sizeof m);
    m.type = L1W_MSG_ERROR, m.code = ZK_ERR_STREAM_CHANGED;
    snprintf(m.text, sizeof m.text, "stream id changed");
    roundtrip(&m);
    memset(&m, 0, sizeof m);
    m.type = L1W_MSG_DEPOSIT;
    m.record.seq = 5;
    m.record.deposit = (l1w_deposit){ .deposit_id = 4, .amount_gwei = (1ull << 63) - 1, .block_number = 77,
                                      .log_index = 3 };
    for (int i = 0; i < 32; i++)
        m.record.deposit.block_hash[i] = (uint8_t)i, m.record.deposit.tx_hash[i] = (uint8_t)(255 - i);
    for (int i = 0; i < 20; i++)
        m.record.deposit.from[i] = (uint8_t)(i * 3), m.record.deposit.to[i] = (uint8_t)(i * 7);
    roundtrip(&m);

    /* Hand-made frames (msgpack bytes). */
    l1w_msg out;
    zk_error_detail e = { 0 };
    static const uint8_t unknown[] = { 0x91, 0x09 };              /* [9] */
    static const uint8_t wrong_count[] = { 0x92, 0x02, 0x01 };   /* [2, 1]: ACK needs 3 */
    static const uint8_t neg[] = { 0x93, 0x02, 0xff, 0x01 };     /* [2, -1, 1] */
    static const uint8_t not_array[] = { 0x81, 0x01, 0x02 };     /* {1: 2} */
    static const uint8_t empty[] = { 0x90 };                     /* [] */
    static const uint8_t str_type[] = { 0x93, 0xa1, 'x', 0x01, 0x01 };
    static const uint8_t deep[] = { 0x91, 0x91, 0x91, 0x91 };    /* truncated nesting */
    /* Found by fuzz_stream_record: a header announcing 2^32 - 1 elements or
     * bytes must be refused without allocating them. */
    static const uint8_t huge_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x04 };
    static const uint8_t huge_bin[] = { 0x93, 0x06, 0x01, 0xc6, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t nul_text[] = { 0x93, 0x06, 0x01, 0xa2, 'a', 0x00 };
    const struct { const uint8_t *b; size_t n; } cases[] = {
        { unknown, sizeof unknown }, { wrong_count, sizeof wrong_count }, { neg, sizeof neg },
        { not_array, sizeof not_array }, { empty, sizeof empty }, { str_type, sizeof str_type },
        { deep, sizeof deep }, { huge_array, sizeof huge_array }, { huge_bin, sizeof huge_bin },
        { nul_text, sizeof nul_text },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(l1w_msg_decode(&out, &e, cases[i].b, cases[i].n), ZK_ERR_STREAM_PROTOCOL);
    /* A deposit with seq 0 or amount 0 is refused; so is a 19-byte address. */
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    m.record.seq = 0;
    assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, &m), ZK_OK);
    assert_int_equal(l1w_msg_decode(&out, &e, buf, len), ZK_ERR_STREAM_PROTOCOL);
    m.record.seq = 1;
    assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, &m), ZK_OK);
    /* The "from" bin header is at byte 3 (array, type, seq=1, id=4): c4 14 -> c4 13. */
    assert_int_equal(buf[4], 0xc4);
    buf[5] = 0x13;
    assert_int_equal(l1w_msg_decode(&out, &e, buf, len), ZK_ERR_STREAM_PROTOCOL);
    uint8_t big[L1W_MSG_MAX + 1] = { 0 };
    assert_int_equal(l1w_msg_decode(&out, &e, big, sizeof big), ZK_ERR_STREAM_PROTOCOL);

    /* Version 2's SEEN and REORGED: a deposit without a sequence number. */
    for (int t = L1W_MSG_SEEN; t <= L1W_MSG_REORGED; t++) {
        l1w_msg p;
        memset(&p, 0, sizeof p);
        p.type = (l1w_msg_type)t;
        p.record.deposit = m.record.deposit;
        p.record.deposit.amount_gwei = 1;
        roundtrip(&p);
        assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, &p), ZK_OK);
        assert_int_equal(buf[0], 0x99); /* fixarray of 9 */
        assert_int_equal(buf[1], t);
        p.record.deposit.amount_gwei = 0;
        assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, &p), ZK_OK);
        assert_int_equal(l1w_msg_decode(&out, &e, buf, len), ZK_ERR_STREAM_PROTOCOL);
        assert_non_null(strstr(e.text, "amount"));
        p.record.deposit.amount_gwei = 1ull << 63;
        assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, &p), ZK_OK);
        assert_int_equal(l1w_msg_decode(&out, &e, buf, len), ZK_ERR_STREAM_PROTOCOL);
        /* A DEPOSIT's ten elements under this type: refused by count. */
        m.record.seq = 1;
        assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, &m), ZK_OK);
        buf[1] = (uint8_t)t;
        assert_int_equal(l1w_msg_decode(&out, &e, buf, len), ZK_ERR_STREAM_PROTOCOL);
        assert_non_null(strstr(e.text, "elements"));
    }
}

/* ------------------------------------------------------------ outbox */

static void test_outbox(void **state)
{
    char dir[] = "/tmp/zkcar-outbox-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/o.sqlite", dir);
    uint8_t bridge[20] = { 1, 2, 3 }, other[20] = { 9 };
    l1w_outbox *ob;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_outbox_open(&ob, &e, path, 31337, bridge, 10), ZK_OK);
    uint64_t sid = l1w_outbox_stream_id(ob);
    assert_true(sid != 0);
    assert_int_equal(l1w_outbox_last_seq(ob), 0);
    l1w_cursor c;
    l1w_outbox_cursor(ob, &c);
    assert_int_equal(c.next_block, 10);
    assert_false(c.has_prev);
    l1w_deposit d[3];
    memset(d, 0, sizeof d);
    for (int i = 0; i < 3; i++) {
        d[i].deposit_id = (uint64_t)i;
        d[i].amount_gwei = 100 + (uint64_t)i;
        d[i].block_number = 11 + (uint64_t)i;
        d[i].tx_hash[0] = (uint8_t)i;
        d[i].to[19] = (uint8_t)i;
    }
    l1w_cursor nc = { .next_block = 15, .next_deposit_id = 3, .has_prev = true };
    nc.prev_hash[0] = 0xab;
    assert_int_equal(l1w_outbox_commit(ob, &e, d, 3, &nc), ZK_OK);
    l1w_cursor nc2 = { .next_block = 20, .next_deposit_id = 3, .has_prev = true };
    nc2.prev_hash[0] = 0xcd;
    assert_int_equal(l1w_outbox_commit(ob, &e, NULL, 0, &nc2), ZK_OK);
    l1w_outbox_close(ob);
    /* Reopen: same stream, records and cursor survive. */
    assert_int_equal(l1w_outbox_open(&ob, &e, path, 31337, bridge, 10), ZK_OK);
    assert_int_equal(l1w_outbox_stream_id(ob), sid);
    assert_int_equal(l1w_outbox_last_seq(ob), 3);
    l1w_outbox_cursor(ob, &c);
    assert_int_equal(c.next_block, 20);
    assert_int_equal(c.next_deposit_id, 3);
    assert_true(c.has_prev);
    assert_int_equal(c.prev_hash[0], 0xcd);
    l1w_record r[8];
    size_t n;
    assert_int_equal(l1w_outbox_read(ob, &e, r, 8, &n, 2), ZK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].seq, 2);
    assert_int_equal(r[0].deposit.deposit_id, 1);
    assert_int_equal(r[1].deposit.amount_gwei, 102);
    assert_int_equal(r[1].deposit.to[19], 2);
    assert_int_equal(l1w_outbox_read(ob, &e, r, 8, &n, 4), ZK_OK);
    assert_int_equal(n, 0);
    l1w_outbox_close(ob);
    /* Another bridge, chain or start block: refused. */
    assert_int_equal(l1w_outbox_open(&ob, &e, path, 31337, other, 10), ZK_ERR_L1_DATA_DIR);
    assert_int_equal(l1w_outbox_open(&ob, &e, path, 1, bridge, 10), ZK_ERR_L1_DATA_DIR);
    assert_int_equal(l1w_outbox_open(&ob, &e, path, 31337, bridge, 11), ZK_ERR_L1_DATA_DIR);
    /* A chain id learnt later is kept; an outbox without one takes the first it is given. */
    char path2[140];
    snprintf(path2, sizeof path2, "%s/o2.sqlite", dir);
    assert_int_equal(l1w_outbox_open(&ob, &e, path2, 0, bridge, 10), ZK_OK);
    assert_int_equal(l1w_outbox_chain_id(ob), 0);
    assert_int_equal(l1w_outbox_set_chain_id(ob, &e, 5), ZK_OK);
    l1w_outbox_close(ob);
    assert_int_equal(l1w_outbox_open(&ob, &e, path2, 6, bridge, 10), ZK_ERR_L1_DATA_DIR);
    assert_int_equal(l1w_outbox_open(&ob, &e, path2, 0, bridge, 10), ZK_OK);
    assert_int_equal(l1w_outbox_chain_id(ob), 5);
    l1w_outbox_close(ob);
    /* Wiped: a new stream id. */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -f %s/o.sqlite*", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(l1w_outbox_open(&ob, &e, path, 31337, bridge, 10), ZK_OK);
    assert_true(l1w_outbox_stream_id(ob) != sid);
    l1w_outbox_close(ob);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------ fake node */

typedef enum fake_mode {
    FAKE_GARBAGE,
    FAKE_TRUNCATED,
    FAKE_HUGE,
    FAKE_ERROR_OBJECT,
    FAKE_SILENT,
    FAKE_WRONG_CHAIN,
    FAKE_HTTP_429,
    FAKE_HTTP_500,
    FAKE_CHAIN, /* a consistent chain of FAKE_HEAD blocks; eth_getLogs refuses > FAKE_LOGS_MAX blocks */
    FAKE_GAP,   /* FAKE_CHAIN whose block FAKE_GAP_BLOCK holds deposits 0 and 2 */
} fake_mode;

#define FAKE_HEAD 3000
#define FAKE_LOGS_MAX 100
#define FAKE_GAP_BLOCK 5

typedef struct fake {
    bool http;
    fake_mode mode;
    int lfd;
    int port;
    char path[108];
    pthread_t thr;
    atomic_bool quit;
    atomic_int requests;
    atomic_int widest_ok;    /* widest eth_getLogs range answered */
    atomic_int refused;      /* eth_getLogs refused for width */
} fake;

static void fake_hash(char out[67], uint64_t n)
{
    uint8_t h[32] = { 0 };
    h[0] = 0xbb;
    for (int i = 0; i < 8; i++)
        h[24 + i] = (uint8_t)(n >> (56 - 8 * i));
    zk_hex_encode(out, h, 32);
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* The answer (a JSON text) to one request under FAKE_CHAIN / WRONG_CHAIN. */
static void chain_answer(fake *f, json_object *req, char *out, size_t cap)
{
    json_object *m, *idv, *params;
    json_object_object_get_ex(req, "method", &m);
    json_object_object_get_ex(req, "id", &idv);
    json_object_object_get_ex(req, "params", &params);
    long long id = (long long)json_object_get_int64(idv);
    const char *method = json_object_get_string(m);
    if (strcmp(method, "eth_chainId") == 0) {
        snprintf(out, cap, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":\"%s\"}", id,
                 f->mode == FAKE_WRONG_CHAIN ? "0x1" : "0x7a69");
        return;
    }
    if (strcmp(method, "eth_getBlockByNumber") == 0 || strcmp(method, "eth_getBlockByHash") == 0) {
        const char *p0 = json_object_get_string(json_object_array_get_idx(params, 0));
        uint64_t n = FAKE_HEAD;
        if (strcmp(method, "eth_getBlockByHash") == 0) {
            uint8_t h[32];
            assert_int_equal(zk_hex_decode(h, 32, NULL, p0, strlen(p0)), ZK_OK);
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | h[24 + i];
        } else if (strcmp(p0, "latest") != 0 && strcmp(p0, "finalized") != 0) {
            assert_int_equal(l1w_quantity_parse(&n, NULL, p0, strlen(p0)), ZK_OK);
        }
        char h[67], ph[67];
        fake_hash(h, n);
        fake_hash(ph, n ? n - 1 : 0);
        snprintf(out, cap, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"number\":\"0x%llx\",\"hash\":\"%s\","
                 "\"parentHash\":\"%s\"}}", id, (unsigned long long)n, h, ph);
        return;
    }
    if (strcmp(method, "eth_getLogs") == 0) {
        json_object *flt = json_object_array_get_idx(params, 0), *fb, *tb;
        json_object_object_get_ex(flt, "fromBlock", &fb);
        json_object_object_get_ex(flt, "toBlock", &tb);
        uint64_t a = 0, b = 0;
        assert_int_equal(l1w_quantity_parse(&a, NULL, json_object_get_string(fb), (size_t)json_object_get_string_len(fb)), ZK_OK);
        assert_int_equal(l1w_quantity_parse(&b, NULL, json_object_get_string(tb), (size_t)json_object_get_string_len(tb)), ZK_OK);
        if (b - a + 1 > FAKE_LOGS_MAX) {
            atomic_fetch_add(&f->refused, 1);
            snprintf(out, cap, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32005,"
                     "\"message\":\"query returned more than 10000 results\"}}", id);
            return;
        }
        if ((int)(b - a + 1) > atomic_load(&f->widest_ok))
            atomic_store(&f->widest_ok, (int)(b - a + 1));
        if (f->mode == FAKE_GAP && a <= FAKE_GAP_BLOCK && FAKE_GAP_BLOCK <= b) {
            char h[67];
            fake_hash(h, FAKE_GAP_BLOCK);
            int n = snprintf(out, cap, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":[", id);
            for (int k = 0; k < 2; k++)
                n += snprintf(out + n, cap - (size_t)n,
                              "%s{\"address\":\"0x4200000000000000000000000000000000000000\",\"topics\":["
                              "\"0x" L1W_DEPOSIT_TOPIC_HEX "\",\"0x%064x\",\"" ADDR_F "\",\"" ADDR_T "\"],"
                              "\"data\":\"" AMT "\",\"blockNumber\":\"0x%x\",\"blockHash\":\"%s\","
                              "\"transactionHash\":\"" HASH_B "\",\"logIndex\":\"0x%x\"}",
                              k ? "," : "", 2 * k, FAKE_GAP_BLOCK, h, k);
            snprintf(out + n, cap - (size_t)n, "]}");
            return;
        }
        snprintf(out, cap, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":[]}", id);
        return;
    }
    snprintf(out, cap, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32601,\"message\":\"no such method\"}}", id);
}

/* Reads one request: a JSON value (IPC) or an HTTP POST; NULL when the client left. */
static json_object *read_request(fake *f, int fd)
{
    static _Thread_local char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        if (f->http) {
            buf[len] = '\0';
            char *hdr_end = strstr(buf, "\r\n\r\n");
            if (hdr_end) {
                char *cl = strcasestr(buf, "Content-Length:");
                size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
                size_t have = len - (size_t)(hdr_end + 4 - buf);
                if (have >= body)
                    return json_tokener_parse(hdr_end + 4);
            }
        } else if (len > 0) {
            buf[len] = '\0';
            json_object *o = json_tokener_parse(buf);
            if (o)
                return o;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0) {
            if (atomic_load(&f->quit))
                return NULL;
            continue;
        }
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return NULL;
        len += (size_t)n;
    }
}

static void reply(fake *f, int fd, int status, const char *body, size_t n)
{
    if (f->http) {
        char hdr[256];
        int k = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         status, n);
        send_all(fd, hdr, (size_t)k);
    }
    send_all(fd, body, n);
}

static void serve_conn(fake *f, int fd)
{
    for (;;) {
        json_object *req = read_request(f, fd);
        if (req == NULL)
            return;
        atomic_fetch_add(&f->requests, 1);
        json_object *idv = NULL;
        json_object_object_get_ex(req, "id", &idv);
        long long id = (long long)json_object_get_int64(idv);
        char out[4096];
        switch (f->mode) {
        case FAKE_GARBAGE:
            reply(f, fd, 200, "hello, I am not JSON\n", 21);
            break;
        case FAKE_TRUNCATED: {
            int n = snprintf(out, sizeof out, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"res", id);
            if (f->http) {
                /* Promise more than we send, then close. */
                char hdr[128];
                int k = snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n + 50);
                send_all(fd, hdr, (size_t)k);
                send_all(fd, out, (size_t)n);
            } else {
                send_all(fd, out, (size_t)n);
            }
            json_object_put(req);
            return;
        }
        case FAKE_HUGE: {
            /* One endless line: a string that never closes. */
            if (f->http) {
                const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n";
                send_all(fd, h, strlen(h));
            }
            int n = snprintf(out, sizeof out, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":\"", id);
            send_all(fd, out, (size_t)n);
            memset(out, 'a', sizeof out);
            for (int i = 0; i < 100000 && !atomic_load(&f->quit); i++)
                if (!send_all(fd, out, sizeof out))
                    break;
            json_object_put(req);
            return;
        }
        case FAKE_ERROR_OBJECT: {
            int n = snprintf(out, sizeof out, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32000,"
                             "\"message\":\"header not found\"}}", id);
            reply(f, fd, 200, out, (size_t)n);
            break;
        }
        case FAKE_SILENT:
            while (!atomic_load(&f->quit))
                usleep(10000);
            json_object_put(req);
            return;
        case FAKE_HTTP_429:
            reply(f, fd, 429, "rate limited", 12);
            break;
        case FAKE_HTTP_500:
            reply(f, fd, 500, "<html>oops</html>", 17);
            break;
        case FAKE_WRONG_CHAIN:
        case FAKE_CHAIN:
        case FAKE_GAP:
            chain_answer(f, req, out, sizeof out);
            reply(f, fd, 200, out, strlen(out));
            break;
        }
        json_object_put(req);
    }
}

static void *fake_thread(void *p)
{
    fake *f = p;
    while (!atomic_load(&f->quit)) {
        struct pollfd pf = { .fd = f->lfd, .events = POLLIN };
        if (poll(&pf, 1, 50) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (f->http) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        serve_conn(f, fd);
        close(fd);
    }
    return NULL;
}

static void fake_start(fake *f, bool http, fake_mode mode)
{
    memset(f, 0, sizeof *f);
    f->http = http;
    f->mode = mode;
    if (http) {
        f->lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
        socklen_t sl = sizeof sa;
        getsockname(f->lfd, (struct sockaddr *)&sa, &sl);
        f->port = ntohs(sa.sin_port);
    } else {
        snprintf(f->path, sizeof f->path, "/tmp/zkcar-fake-%d-%d.ipc", (int)getpid(), (int)mode);
        unlink(f->path);
        f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    }
    assert_int_equal(listen(f->lfd, 8), 0);
    assert_int_equal(pthread_create(&f->thr, NULL, fake_thread, f), 0);
}

static void fake_url(const fake *f, char *out, size_t cap)
{
    if (f->http)
        snprintf(out, cap, "http://127.0.0.1:%d/", f->port);
    else
        snprintf(out, cap, "ipc://%s", f->path);
}

static void fake_stop(fake *f)
{
    atomic_store(&f->quit, true);
    pthread_join(f->thr, NULL);
    close(f->lfd);
    if (!f->http)
        unlink(f->path);
}

static zk_err fake_call(bool http, fake_mode mode, int timeout_ms, size_t reply_max, zk_error_detail *e, int *code)
{
    fake f;
    fake_start(&f, http, mode);
    char url[200];
    fake_url(&f, url, sizeof url);
    l1w_rpc *r;
    assert_int_equal(l1w_rpc_create(&r, e, url, timeout_ms, reply_max), ZK_OK);
    json_object *res = NULL;
    zk_err rc = l1w_rpc_call(r, &res, code, e, "eth_blockNumber", NULL);
    assert_null(res);
    l1w_rpc_destroy(r);
    fake_stop(&f);
    return rc;
}

static void fake_cases(bool http)
{
    zk_error_detail e = { 0 };
    int code = 0;
    assert_int_equal(fake_call(http, FAKE_GARBAGE, 2000, 0, &e, &code), ZK_ERR_BAD_JSON);
    assert_non_null(strstr(e.text, "eth_blockNumber"));
    assert_int_equal(fake_call(http, FAKE_TRUNCATED, 2000, 0, &e, &code), ZK_ERR_CLOSED);
    assert_non_null(strstr(e.text, "truncated"));
    assert_int_equal(fake_call(http, FAKE_HUGE, 5000, 1 << 20, &e, &code), ZK_ERR_TOO_BIG);
    assert_non_null(strstr(e.text, "cap"));
    assert_int_equal(fake_call(http, FAKE_ERROR_OBJECT, 2000, 0, &e, &code), ZK_ERR_L1_RPC);
    assert_int_equal(code, -32000);
    assert_non_null(strstr(e.text, "header not found"));
    assert_int_equal(fake_call(http, FAKE_SILENT, 300, 0, &e, &code), ZK_ERR_TIMEOUT);
    if (http) {
        assert_int_equal(fake_call(http, FAKE_HTTP_429, 2000, 0, &e, &code), ZK_ERR_L1_RATE_LIMITED);
        assert_int_equal(fake_call(http, FAKE_HTTP_500, 2000, 0, &e, &code), ZK_ERR_L1_HTTP_STATUS);
        assert_non_null(strstr(e.text, "500"));
    }
    /* Nobody listening. */
    l1w_rpc *r;
    json_object *res;
    assert_int_equal(l1w_rpc_create(&r, &e, http ? "http://127.0.0.1:1/" : "/tmp/zkcar-nobody.ipc", 1000, 0), ZK_OK);
    assert_int_equal(l1w_rpc_call(r, &res, &code, &e, "eth_chainId", NULL), ZK_ERR_CLOSED);
    l1w_rpc_destroy(r);
}

static void test_fake_node_ipc(void **state) { fake_cases(false); }
static void test_fake_node_http(void **state) { fake_cases(true); }

static void test_rpc_create(void **state)
{
    l1w_rpc *r;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_rpc_create(&r, &e, "ws://127.0.0.1:8546", 1000, 0), ZK_ERR_USAGE);
    assert_int_equal(l1w_rpc_create(&r, &e, "", 1000, 0), ZK_ERR_USAGE);
    assert_int_equal(l1w_rpc_create(&r, &e, "127.0.0.1:8545", 1000, 0), ZK_ERR_USAGE);
    char longp[200];
    memset(longp, 'a', sizeof longp);
    memcpy(longp, "ipc:///", 7);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(l1w_rpc_create(&r, &e, longp, 1000, 0), ZK_ERR_USAGE);
    assert_int_equal(l1w_rpc_create(&r, &e, "/tmp/x.ipc", 1000, 0), ZK_OK);
    assert_true(l1w_rpc_is_ipc(r));
    l1w_rpc_destroy(r);
    assert_int_equal(l1w_rpc_create(&r, &e, "http://127.0.0.1:8545", 1000, 0), ZK_OK);
    assert_false(l1w_rpc_is_ipc(r));
    l1w_rpc_destroy(r);
}

static void make_watcher(l1w_watcher **w, const char *url, char *dir, size_t dircap, uint32_t conf)
{
    snprintf(dir, dircap, "/tmp/zkcar-fakew-XXXXXX");
    assert_non_null(mkdtemp(dir));
    l1w_config cfg;
    l1w_config_defaults(&cfg);
    cfg.l1_rpc = url;
    cfg.bridge[0] = 0x42;
    cfg.confirmations = conf;
    cfg.chain_id = 31337;
    cfg.data_dir = dir;
    cfg.poll_ms = 20;
    cfg.rpc_timeout_ms = 1000;
    zk_error_detail e = { 0 };
    if (l1w_watcher_create(w, &e, &cfg, NULL, NULL) != ZK_OK)
        fail_msg("watcher_create: %s", e.text);
}

static void rm_dir(const char *dir)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A node on another chain: the watcher refuses to start following it. */
static void test_wrong_chain(void **state)
{
    for (int http = 0; http <= 1; http++) {
        fake f;
        fake_start(&f, http, FAKE_WRONG_CHAIN);
        char url[200], dir[64];
        fake_url(&f, url, sizeof url);
        l1w_watcher *w;
        make_watcher(&w, url, dir, sizeof dir, 12);
        zk_error_detail e = { 0 };
        assert_int_equal(l1w_watcher_run(w, &e), ZK_ERR_L1_CHAIN_ID);
        assert_non_null(strstr(e.text, "chain 1,"));
        l1w_stats s;
        l1w_watcher_stats(w, &s);
        assert_int_equal(s.fatal, ZK_ERR_L1_CHAIN_ID);
        l1w_watcher_destroy(w);
        fake_stop(&f);
        rm_dir(dir);
    }
}

/* A node that refuses wide eth_getLogs ranges: the watcher halves, catches up, and grows back. */
static void test_logs_halving(void **state)
{
    for (int http = 0; http <= 1; http++) {
        fake f;
        fake_start(&f, http, FAKE_CHAIN);
        char url[200], dir[64];
        fake_url(&f, url, sizeof url);
        l1w_watcher *w;
        make_watcher(&w, url, dir, sizeof dir, 1);
        l1w_watcher_thread *t;
        zk_error_detail te = { 0 };
        assert_int_equal(l1w_watcher_start(&t, w, &te), ZK_OK);
        l1w_stats s;
        for (int i = 0; i < 1000; i++) {
            l1w_watcher_stats(w, &s);
            if (s.l1_confirmed == FAKE_HEAD)
                break;
            usleep(10000);
        }
        l1w_watcher_stop(w);
        assert_int_equal(l1w_watcher_join(t, &te), ZK_OK);
        l1w_watcher_stats(w, &s);
        assert_int_equal(s.l1_confirmed, FAKE_HEAD);
        assert_int_equal(s.l1_head, FAKE_HEAD);
        assert_int_equal(s.next_deposit_id, 0);
        assert_true(atomic_load(&f.refused) >= 1);
        /* Halved from 1000 to 62, grown back to the widest the node allows (> 62). */
        assert_true(atomic_load(&f.widest_ok) > 62);
        assert_true(atomic_load(&f.widest_ok) <= FAKE_LOGS_MAX);
        l1w_watcher_destroy(w);
        fake_stop(&f);
        rm_dir(dir);
    }
}

/* Deposit ids 0 then 2: the watcher stops with an alert and delivers neither. */
static void test_deposit_gap(void **state)
{
    fake f;
    fake_start(&f, false, FAKE_GAP);
    char url[200], dir[64];
    fake_url(&f, url, sizeof url);
    l1w_watcher *w;
    make_watcher(&w, url, dir, sizeof dir, 1);
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_watcher_run(w, &e), ZK_ERR_L1_DEPOSIT_GAP);
    assert_non_null(strstr(e.text, "deposit id 2"));
    l1w_stats s;
    l1w_watcher_stats(w, &s);
    assert_int_equal(s.fatal, ZK_ERR_L1_DEPOSIT_GAP);
    assert_int_equal(s.last_seq, 0);
    assert_int_equal(s.next_deposit_id, 0);
    assert_true(s.l1_confirmed < FAKE_GAP_BLOCK);
    l1w_watcher_destroy(w);
    fake_stop(&f);
    rm_dir(dir);
}

/* Garbage (IPC) and HTTP 429 from the node are retried with backoff, never fatal, never a crash. */
static void test_failures_are_retried(void **state)
{
    for (int http = 0; http <= 1; http++) {
        fake f;
        fake_start(&f, http, http ? FAKE_HTTP_429 : FAKE_GARBAGE);
        char url[200], dir[64];
        fake_url(&f, url, sizeof url);
        l1w_watcher *w;
        make_watcher(&w, url, dir, sizeof dir, 12);
        l1w_watcher_thread *t;
        zk_error_detail te = { 0 };
        assert_int_equal(l1w_watcher_start(&t, w, &te), ZK_OK);
        usleep(1000000);
        l1w_watcher_stop(w);
        assert_int_equal(l1w_watcher_join(t, &te), ZK_OK);
        l1w_stats s;
        l1w_watcher_stats(w, &s);
        /* Backoff 100, 200, 400 ms ...: about 4 attempts in a second, not hundreds. */
        assert_true(s.rpc_errors_total >= 2);
        assert_true(s.rpc_errors_total <= 6);
        assert_int_equal(s.fatal, ZK_OK);
        assert_true(atomic_load(&f.requests) >= 2);
        l1w_watcher_destroy(w);
        fake_stop(&f);
        rm_dir(dir);
    }
}

/* ------------------------------------------------- a hand-driven producer */

typedef struct fake_producer {
    void *ctx, *router;
    uint8_t peer[256];
    size_t peerlen;
    char ep[96];
} fake_producer;

static void fp_open(fake_producer *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->ep, sizeof f->ep, "ipc:///tmp/zkcar-fp-%d.sock", (int)getpid());
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int timeout = 5000, zero = 0;
    zmq_setsockopt(f->router, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(f->router, f->ep), 0);
}

static void fp_close(fake_producer *f)
{
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    unlink(f->ep + strlen("ipc://"));
}

/* The next message from the consumer (ACKs skipped unless `type` is ACK). */
static void fp_recv(fake_producer *f, l1w_msg *m, l1w_msg_type type)
{
    for (;;) {
        int n = zmq_recv(f->router, f->peer, sizeof f->peer, 0);
        assert_true(n > 0);
        f->peerlen = (size_t)n;
        uint8_t buf[L1W_MSG_MAX];
        n = zmq_recv(f->router, buf, sizeof buf, 0);
        assert_true(n > 0);
        zk_error_detail e = { 0 };
        assert_int_equal(l1w_msg_decode(m, &e, buf, (size_t)n), ZK_OK);
        if (m->type == type)
            return;
        assert_int_equal(m->type, L1W_MSG_ACK);
    }
}

static void fp_send(fake_producer *f, const l1w_msg *m)
{
    uint8_t buf[L1W_MSG_MAX];
    size_t len;
    assert_int_equal(l1w_msg_encode(buf, sizeof buf, &len, m), ZK_OK);
    assert_true(zmq_send(f->router, f->peer, f->peerlen, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(f->router, buf, len, 0) >= 0);
}

static l1w_deposit fp_deposit(uint64_t id, uint8_t fork)
{
    l1w_deposit d;
    memset(&d, 0, sizeof d);
    d.deposit_id = id;
    d.amount_gwei = 50 + id;
    d.block_number = 10 + id;
    d.block_hash[0] = fork;
    d.tx_hash[0] = (uint8_t)id;
    d.tx_hash[1] = fork;
    return d;
}

/* A consumer meeting a version-1 producer (ERROR ZK_ERR_UNSUPPORTED to its
 * HELLO 2) says HELLO 1 and gets its records; another ERROR still ends it. */
static void test_consumer_version_fallback(void **state)
{
    fake_producer f;
    fp_open(&f);
    l1w_consumer *k = NULL;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, f.ep, 0, 0, 8), ZK_OK);
    l1w_msg m;
    fp_recv(&f, &m, L1W_MSG_HELLO);
    assert_int_equal(m.version, L1W_STREAM_VERSION);
    l1w_msg err = { .type = L1W_MSG_ERROR, .code = ZK_ERR_UNSUPPORTED };
    snprintf(err.text, sizeof err.text, "stream version not supported (this producer speaks 1)");
    fp_send(&f, &err);
    l1w_record r;
    assert_int_equal(l1w_consumer_next(k, &r, &e, 300), ZK_ERR_TIMEOUT);
    fp_recv(&f, &m, L1W_MSG_HELLO);
    assert_int_equal(m.version, 1);
    l1w_msg w = { .type = L1W_MSG_WELCOME, .version = 1, .stream_id = 77, .seq = 1 };
    fp_send(&f, &w);
    l1w_msg dm = { .type = L1W_MSG_DEPOSIT, .record = { .seq = 1, .deposit = fp_deposit(0, 0) } };
    fp_send(&f, &dm);
    assert_int_equal(l1w_consumer_next(k, &r, &e, 3000), ZK_OK);
    assert_int_equal(r.seq, 1);
    assert_int_equal(l1w_consumer_stream_id(k), 77);
    /* an ERROR of another kind is the end of the session */
    err.code = ZK_ERR_STREAM_CHANGED;
    fp_send(&f, &err);
    assert_int_equal(l1w_consumer_next(k, &r, &e, 3000), ZK_ERR_STREAM_CHANGED);
    l1w_consumer_destroy(k);
    fp_close(&f);
}

/* SEEN and REORGED feed the consumer's pending view (not before WELCOME); a
 * delivered record leaves it once acked; a new WELCOME clears what is pending. */
static void test_consumer_pending_view(void **state)
{
    fake_producer f;
    fp_open(&f);
    l1w_consumer *k = NULL;
    zk_error_detail e = { 0 };
    assert_int_equal(l1w_consumer_create(&k, &e, f.ep, 0, 0, 8), ZK_OK);
    l1w_pending *v = l1w_consumer_pending(k);
    assert_non_null(v);
    l1w_msg m;
    fp_recv(&f, &m, L1W_MSG_HELLO);
    l1w_deposit a = fp_deposit(0, 0), b = fp_deposit(1, 0), b2 = fp_deposit(1, 1);
    l1w_msg seen = { .type = L1W_MSG_SEEN, .record = { .deposit = a } };
    fp_send(&f, &seen); /* before the session: ignored */
    l1w_msg w = { .type = L1W_MSG_WELCOME, .version = L1W_STREAM_VERSION, .stream_id = 5, .seq = 0 };
    fp_send(&f, &w);
    fp_send(&f, &seen);
    seen.record.deposit = b;
    fp_send(&f, &seen);
    l1w_record r;
    assert_int_equal(l1w_consumer_next(k, &r, &e, 300), ZK_ERR_TIMEOUT);
    l1w_deposit got;
    bool reorged = true;
    assert_true(l1w_pending_lookup(v, 0, &got, &reorged));
    assert_false(reorged);
    assert_memory_equal(&got, &a, sizeof a);
    /* deposit 1 reorged out, and its id reused */
    l1w_msg gone = { .type = L1W_MSG_REORGED, .record = { .deposit = b } };
    fp_send(&f, &gone);
    assert_int_equal(l1w_consumer_next(k, &r, &e, 300), ZK_ERR_TIMEOUT);
    assert_true(l1w_pending_lookup(v, 1, &got, &reorged));
    assert_true(reorged);
    seen.record.deposit = b2;
    fp_send(&f, &seen);
    assert_int_equal(l1w_consumer_next(k, &r, &e, 300), ZK_ERR_TIMEOUT);
    assert_true(l1w_pending_lookup(v, 1, &got, &reorged));
    assert_false(reorged);
    assert_memory_equal(&got, &b2, sizeof b2);
    /* deposit 0 delivered: still pending until acked (then the caller holds it) */
    l1w_msg dm = { .type = L1W_MSG_DEPOSIT, .record = { .seq = 1, .deposit = a } };
    fp_send(&f, &dm);
    assert_int_equal(l1w_consumer_next(k, &r, &e, 3000), ZK_OK);
    assert_true(l1w_pending_lookup(v, 0, &got, &reorged));
    assert_int_equal(l1w_consumer_ack(k, &e, 1), ZK_OK);
    assert_false(l1w_pending_lookup(v, 0, &got, &reorged));
    /* a view of the caller's: a new WELCOME clears the pending entries, not the reorged */
    l1w_pending *mine = NULL;
    assert_int_equal(l1w_pending_create(&mine, &e, 0, 0), ZK_OK);
    assert_int_equal(l1w_pending_add(mine, &b2), ZK_OK);
    l1w_pending_mark_reorged(mine, &a);
    l1w_consumer_set_pending(k, mine);
    assert_ptr_equal(l1w_consumer_pending(k), mine);
    w.seq = 1;
    fp_send(&f, &w);
    assert_int_equal(l1w_consumer_next(k, &r, &e, 300), ZK_ERR_TIMEOUT);
    assert_true(l1w_pending_lookup(mine, 0, &got, &reorged));
    assert_true(reorged);
    assert_false(l1w_pending_lookup(mine, 1, &got, &reorged));
    /* a malformed SEEN is a protocol error like any other frame */
    uint8_t bad[] = { 0x92, 0x07, 0x01 };
    assert_true(zmq_send(f.router, f.peer, f.peerlen, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(f.router, bad, sizeof bad, 0) >= 0);
    assert_int_equal(l1w_consumer_next(k, &r, &e, 3000), ZK_ERR_STREAM_PROTOCOL);
    l1w_consumer_destroy(k);
    l1w_pending_destroy(mine);
    fp_close(&f);
}

static void test_watcher_config(void **state)
{
    l1w_config cfg;
    l1w_config_defaults(&cfg);
    cfg.l1_rpc = "http://127.0.0.1:1";
    l1w_watcher *w;
    zk_error_detail e = { 0 };
    cfg.confirmations = 0;
    assert_int_equal(l1w_watcher_create(&w, &e, &cfg, NULL, NULL), ZK_ERR_USAGE);
    cfg.confirmations = L1W_CONFIRMATIONS_MAX + 1;
    assert_int_equal(l1w_watcher_create(&w, &e, &cfg, NULL, NULL), ZK_ERR_USAGE);
    cfg.confirmations = 12;
    cfg.l1_rpc = "gopher://x";
    assert_int_equal(l1w_watcher_create(&w, &e, &cfg, NULL, NULL), ZK_ERR_USAGE);
    cfg.l1_rpc = "http://127.0.0.1:1";
    cfg.data_dir = "/proc/zkcar-no/such/dir";
    assert_int_equal(l1w_watcher_create(&w, &e, &cfg, NULL, NULL), ZK_ERR_IO);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reply),
        cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_deposit_topic),
        cmocka_unit_test(test_log_decode),
        cmocka_unit_test(test_header_decode),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_outbox),
        cmocka_unit_test(test_rpc_create),
        cmocka_unit_test(test_fake_node_ipc),
        cmocka_unit_test(test_fake_node_http),
        cmocka_unit_test(test_wrong_chain),
        cmocka_unit_test(test_logs_halving),
        cmocka_unit_test(test_deposit_gap),
        cmocka_unit_test(test_failures_are_retried),
        cmocka_unit_test(test_watcher_config),
        cmocka_unit_test(test_consumer_version_fallback),
        cmocka_unit_test(test_consumer_pending_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
