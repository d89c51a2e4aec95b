/* Tests of common/keccak.h, hex.h, abi.h, eip712.h and sig.h against
 * known answers from outside sources (each named where it is used). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/eip712.h"
#include "common/hex.h"
#include "common/keccak.h"
#include "common/sig.h"

/* Decodes a hex string (with or without 0x) of exactly n bytes; test helper. */
static void unhex(uint8_t *out, size_t n, const char *s)
{
    char buf[1024];
    if (s[0] != '0' || s[1] != 'x') {
        snprintf(buf, sizeof buf, "0x%s", s);
        s = buf;
    }
    assert_int_equal(zk_hex_decode(out, n, NULL, s, strlen(s)), ZK_OK);
}

static void assert_hash(const uint8_t got[32], const char *want_hex)
{
    char got_hex[67];
    zk_hex_encode(got_hex, got, 32);
    assert_string_equal(got_hex + 2, want_hex);
}

/* ---- Keccak-256 ---- */

static void test_keccak_known(void **state)
{
    uint8_t h[32];
    /* REFERENCE.md §2 (the Ethereum yellow paper's empty hash and the ERC-20 Transfer topic). */
    zk_keccak256(h, "", 0);
    assert_hash(h, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    zk_keccak256(h, "Transfer(address,address,uint256)", 33);
    assert_hash(h, "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
    /* ethers 6.17.0 keccak256(toUtf8Bytes("abc")). */
    zk_keccak256(h, "abc", 3);
    assert_hash(h, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

/* Multi-block lengths around the 136-byte rate; input byte i = i & 0xff.
 * Expected values: ethers 6.17.0 keccak256(Uint8Array) run in node 20
 * (node -e 'const b=new Uint8Array(L); for(...) b[i]=i&255; keccak256(b)'). */
static const struct {
    size_t len;
    const char *hash;
} block_vectors[] = {
    { 1, "bc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a" },
    { 135, "cbdfd9dee5faad3818d6b06f95a219fd290b0e1706f6a82e5a595b9ce9faca62" },
    { 136, "7ce759f1ab7f9ce437719970c26b0a66ff11fe3e38e17df89cf5d29c7d7f807e" },
    { 137, "ac73d4fae68b8453f764007c1a20ce95994187861f0c3227a3a8e99a73a3b1db" },
    { 272, "fdf2ec49e749960d3c8521a0219af8d03e30e2b3bf19bd16150ee0eaf133d66e" },
    { 1000, "aca79e4146e30eb1c733f6d6060d72471c36ea4e01ebf45d7f4916249c2bbd82" },
};

static void test_keccak_blocks(void **state)
{
    uint8_t buf[1000], h[32];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)i;
    for (size_t v = 0; v < sizeof block_vectors / sizeof block_vectors[0]; v++) {
        zk_keccak256(h, buf, block_vectors[v].len);
        assert_hash(h, block_vectors[v].hash);
    }
}

/* The incremental interface gives the one-shot answer however the input is
 * split (every split point for 272 bytes, and byte-by-byte). */
static void test_keccak_incremental(void **state)
{
    uint8_t buf[1000], want[32], got[32];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)i;
    zk_keccak256_ctx ctx;
    for (size_t len = 0; len <= 272; len += 17) {
        zk_keccak256(want, buf, len);
        for (size_t cut = 0; cut <= len; cut++) {
            zk_keccak256_init(&ctx);
            zk_keccak256_update(&ctx, buf, cut);
            zk_keccak256_update(&ctx, buf + cut, len - cut);
            zk_keccak256_final(&ctx, got);
            assert_memory_equal(got, want, 32);
        }
    }
    zk_keccak256_init(&ctx);
    for (size_t i = 0; i < 1000; i++)
        zk_keccak256_update(&ctx, buf + i, 1);
    zk_keccak256_final(&ctx, got);
    assert_hash(got, "aca79e4146e30eb1c733f6d6060d72471c36ea4e01ebf45d7f4916249c2bbd82");
    /* final re-initialises: the context is reusable. */
    zk_keccak256_update(&ctx, NULL, 0);
    zk_keccak256_final(&ctx, got);
    assert_hash(got, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
}

/* ---- hex ---- */

static void test_hex_roundtrip(void **state)
{
    uint8_t in[3] = { 0x00, 0xab, 0xff }, out[3];
    char s[9];
    zk_hex_encode(s, in, 3);
    assert_string_equal(s, "0x00abff");
    assert_int_equal(zk_hex_decode(out, 3, NULL, s, 8), ZK_OK);
    assert_memory_equal(in, out, 3);
    assert_int_equal(zk_hex_decode(out, 3, NULL, "0x00ABFF", 8), ZK_OK);
    assert_memory_equal(in, out, 3);
    zk_hex_encode(s, in, 0);
    assert_string_equal(s, "0x");
    assert_int_equal(zk_hex_decode(out, 0, NULL, "0x", 2), ZK_OK);
}

static void test_hex_errors(void **state)
{
    static const struct {
        const char *s;
        size_t outlen;
        zk_err want;
    } cases[] = {
        { "", 1, ZK_ERR_BAD_HEX },
        { "0", 1, ZK_ERR_BAD_HEX },
        { "00ab", 2, ZK_ERR_BAD_HEX },      /* no prefix */
        { "0X00ab", 2, ZK_ERR_BAD_HEX },    /* upper-case prefix */
        { "x00ab", 2, ZK_ERR_BAD_HEX },
        { "0x0g", 1, ZK_ERR_BAD_HEX },
        { "0x 00", 1, ZK_ERR_BAD_HEX },
        { "0x-1", 1, ZK_ERR_BAD_HEX },
        { "0x0", 1, ZK_ERR_BAD_HEX },       /* odd digit count */
        { "0x000", 1, ZK_ERR_BAD_HEX },
        { "0x", 1, ZK_ERR_BAD_LENGTH },
        { "0x0000", 1, ZK_ERR_BAD_LENGTH },
        { "0x00", 2, ZK_ERR_BAD_LENGTH },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[4] = { 0x55, 0x55, 0x55, 0x55 };
        zk_error_detail e = { 0 };
        zk_err rc = zk_hex_decode(out, cases[i].outlen, &e, cases[i].s, strlen(cases[i].s));
        if (rc != cases[i].want)
            fail_msg("case %zu \"%s\": got %d want %d", i, cases[i].s, rc, cases[i].want);
        assert_int_equal(e.code, cases[i].want);
        assert_true(strlen(e.text) > 0);
        assert_int_equal(out[0], 0x55); /* not written on failure */
    }
    /* The length is honoured: a NUL or a valid digit past `hexlen` is not read. */
    uint8_t out[1];
    assert_int_equal(zk_hex_decode(out, 1, NULL, "0x12zz", 4), ZK_OK);
    assert_int_equal(out[0], 0x12);
    assert_int_equal(zk_hex_decode(out, 1, NULL, "0x1\0", 4), ZK_ERR_BAD_HEX);
}

/* ---- addresses: EIP-55 test cases from the EIP-55 specification ---- */

static const char *const eip55_vectors[] = {
    /* All caps */
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    /* All lower */
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    /* Normal */
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
};

static void test_address_eip55(void **state)
{
    for (size_t i = 0; i < sizeof eip55_vectors / sizeof eip55_vectors[0]; i++) {
        const char *s = eip55_vectors[i];
        uint8_t a[20];
        char out[43];
        assert_int_equal(zk_address_parse(a, NULL, s, 42), ZK_OK);
        zk_address_format(out, a);
        /* The all-caps and all-lower vectors are their own checksum form (no
         * letter or all letters above the threshold). */
        assert_string_equal(out, s);
        /* the same address in the other uniform cases parses to the same bytes */
        char low[43], up[43];
        for (size_t k = 0; k < 43; k++) {
            low[k] = (s[k] >= 'A' && s[k] <= 'F') ? (char)(s[k] - 'A' + 'a') : s[k];
            up[k] = (k >= 2 && s[k] >= 'a' && s[k] <= 'f') ? (char)(s[k] - 'a' + 'A') : s[k];
        }
        uint8_t b[20];
        assert_int_equal(zk_address_parse(b, NULL, low, 42), ZK_OK);
        assert_memory_equal(a, b, 20);
        assert_int_equal(zk_address_parse(b, NULL, up, 42), ZK_OK);
        assert_memory_equal(a, b, 20);
    }
}

static void test_address_errors(void **state)
{
    uint8_t a[20];
    zk_error_detail e;
    /* One letter's case flipped in a checksummed address. */
    assert_int_equal(zk_address_parse(a, &e, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", 42),
                     ZK_ERR_BAD_CHECKSUM);
    assert_non_null(strstr(e.text, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
    assert_int_equal(zk_address_parse(a, &e, "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 42),
                     ZK_ERR_BAD_CHECKSUM);
    assert_int_equal(zk_address_parse(a, &e, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", 40),
                     ZK_ERR_BAD_LENGTH);
    assert_int_equal(zk_address_parse(a, &e, "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00", 42),
                     ZK_ERR_BAD_HEX);
    assert_int_equal(zk_address_parse(a, &e, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", 42),
                     ZK_ERR_BAD_HEX);
    assert_int_equal(zk_address_parse(a, &e, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00", 44),
                     ZK_ERR_BAD_LENGTH);
    assert_int_equal(zk_address_parse(a, &e, "", 0), ZK_ERR_BAD_HEX);
}

/* ---- ABI words ---- */

static void test_abi_words(void **state)
{
    uint8_t w[32], a[20], b[32];
    uint64_t u = 0;
    uint32_t u32 = 0;
    zk_abi_put_u64(w, 0x0102030405060708ull);
    for (int i = 0; i < 24; i++)
        assert_int_equal(w[i], 0);
    assert_int_equal(w[24], 1);
    assert_int_equal(w[31], 8);
    assert_int_equal(zk_abi_get_u64(&u, NULL, w), ZK_OK);
    assert_true(u == 0x0102030405060708ull);
    assert_int_equal(zk_abi_get_u32(&u32, NULL, w), ZK_ERR_OUT_OF_RANGE);
    zk_abi_put_u32(w, 0xdeadbeef);
    assert_int_equal(zk_abi_get_u32(&u32, NULL, w), ZK_OK);
    assert_true(u32 == 0xdeadbeef);
    assert_int_equal(zk_abi_get_u64_max(&u, NULL, w, 0xdeadbeef), ZK_OK);
    zk_error_detail e;
    assert_int_equal(zk_abi_get_u64_max(&u, &e, w, 0xdeadbeee), ZK_ERR_OUT_OF_RANGE);
    /* uint64 max reads back; one more (bit 64 set) does not fit */
    zk_abi_put_u64(w, UINT64_MAX);
    assert_int_equal(zk_abi_get_u64(&u, NULL, w), ZK_OK);
    assert_true(u == UINT64_MAX);
    w[23] = 1;
    u = 7;
    assert_int_equal(zk_abi_get_u64(&u, &e, w), ZK_ERR_OUT_OF_RANGE);
    assert_true(u == 7);
    w[23] = 0;
    w[0] = 0x80;
    assert_int_equal(zk_abi_get_u64(&u, &e, w), ZK_ERR_OUT_OF_RANGE);

    unhex(a, 20, "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
    zk_abi_put_address(w, a);
    char hex[67];
    zk_hex_encode(hex, w, 32);
    assert_string_equal(hex, "0x000000000000000000000000cd2a3d9f938e13cd947ec05abc7fe734df8dd826");
    uint8_t a2[20];
    assert_int_equal(zk_abi_get_address(a2, NULL, w), ZK_OK);
    assert_memory_equal(a, a2, 20);
    w[11] = 1;
    assert_int_equal(zk_abi_get_address(a2, NULL, w), ZK_ERR_OUT_OF_RANGE);

    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(0xf0 + i);
    zk_abi_put_bytes32(w, b);
    assert_memory_equal(w, b, 32);
    uint8_t b2[32];
    zk_abi_get_bytes32(b2, w);
    assert_memory_equal(b2, b, 32);
}

/* ---- EIP-712: the "Mail" example of the EIP-712 specification ----
 * Expected values from REFERENCE.md §2 (the figures in EIP-712's Example.js),
 * rechecked with ethers 6.17.0 TypedDataEncoder. */

static const char *const mail_wallet_cow = "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826";
static const char *const mail_wallet_bob = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB";

static void mail_domain(zk_eip712_domain *d)
{
    uint8_t vc[20];
    assert_int_equal(zk_address_parse(vc, NULL, "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", 42),
                     ZK_OK);
    zk_eip712_domain_init(d, "Ether Mail", 10, "1", 1, 1, vc);
}

/* hashStruct(Person{name, wallet}) built from the ABI/keccak helpers. */
static void hash_person(uint8_t out[32], const char *name, const char *wallet)
{
    static const char type[] = "Person(string name,address wallet)";
    uint8_t enc[3 * 32], a[20];
    zk_keccak256(enc, type, sizeof type - 1);
    zk_keccak256(enc + 32, name, strlen(name));
    assert_int_equal(zk_address_parse(a, NULL, wallet, strlen(wallet)), ZK_OK);
    zk_abi_put_address(enc + 64, a);
    zk_keccak256(out, enc, sizeof enc);
}

static void hash_mail(uint8_t out[32])
{
    /* encodeType puts the referenced struct types after the primary one. */
    static const char type[] = "Mail(Person from,Person to,string contents)"
                               "Person(string name,address wallet)";
    static const char contents[] = "Hello, Bob!";
    uint8_t enc[4 * 32];
    zk_keccak256(enc, type, sizeof type - 1);
    hash_person(enc + 32, "Cow", mail_wallet_cow);
    hash_person(enc + 64, "Bob", mail_wallet_bob);
    zk_keccak256(enc + 96, contents, sizeof contents - 1);
    zk_keccak256(out, enc, sizeof enc);
}

static void test_eip712_mail(void **state)
{
    zk_eip712_domain d;
    mail_domain(&d);
    assert_hash(d.separator, "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
    uint8_t sh[32], digest[32];
    hash_mail(sh);
    assert_hash(sh, "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
    zk_eip712_digest(digest, &d, sh);
    assert_hash(digest, "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
}

/* The signature of the Mail example in EIP-712's Example.js (signer: secret key
 * keccak256("cow"), address 0xCD2a…D826): v 28, r 0x4355…1c9d, s 0x0729…1562. */
static void mail_signature(uint8_t sig[65])
{
    unhex(sig, 32, "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d");
    unhex(sig + 32, 32, "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562");
    sig[64] = 28;
}

static void mail_digest(uint8_t digest[32])
{
    unhex(digest, 32, "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
}

static void test_sig_recover_mail(void **state)
{
    uint8_t sig[65], digest[32], addr[20], cow[20];
    mail_signature(sig);
    mail_digest(digest);
    unhex(cow, 20, mail_wallet_cow);
    assert_int_equal(zk_sig_recover(addr, NULL, digest, sig), ZK_OK);
    assert_memory_equal(addr, cow, 20);
    sig[64] = 1; /* the raw recovery id form of v 28 */
    assert_int_equal(zk_sig_recover(addr, NULL, digest, sig), ZK_OK);
    assert_memory_equal(addr, cow, 20);
    /* The other recovery id gives another key, not cow's. */
    sig[64] = 27;
    if (zk_sig_recover(addr, NULL, digest, sig) == ZK_OK)
        assert_memory_not_equal(addr, cow, 20);
    /* The signer's key: keccak256("cow"), as in Example.js. */
    uint8_t sk[32];
    zk_keccak256(sk, "cow", 3);
    assert_int_equal(zk_sig_seckey_address(addr, NULL, sk), ZK_OK);
    assert_memory_equal(addr, cow, 20);
    /* RFC 6979 is deterministic: our signature is the Example's. */
    uint8_t mine[65], want[65];
    assert_int_equal(zk_sig_sign(mine, NULL, digest, sk), ZK_OK);
    mail_signature(want);
    assert_memory_equal(mine, want, 65);
}

/* Several threads recover at once, the first of them racing to create the
 * shared context (this test runs first in the program, before any other use). */
#define RACE_THREADS 4
static void *recover_worker(void *arg)
{
    uint8_t sig[65], digest[32], addr[20], cow[20];
    mail_signature(sig);
    mail_digest(digest);
    unhex(cow, 20, mail_wallet_cow);
    int *ok = arg;
    *ok = 1;
    for (int i = 0; i < 50; i++)
        if (zk_sig_recover(addr, NULL, digest, sig) != ZK_OK || memcmp(addr, cow, 20) != 0)
            *ok = 0;
    return NULL;
}

static void test_sig_threads(void **state)
{
    pthread_t t[RACE_THREADS];
    int ok[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, recover_worker, &ok[i]), 0);
    for (int i = 0; i < RACE_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(ok[i]);
    }
}

/* Well-known key/address pairs: secret key 1 (the generator) and the example
 * key of the web3.js accounts documentation. */
static void test_sig_known_keys(void **state)
{
    uint8_t sk[32], addr[20], want[20];
    memset(sk, 0, 32);
    sk[31] = 1;
    assert_int_equal(zk_sig_seckey_address(addr, NULL, sk), ZK_OK);
    unhex(want, 20, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
    assert_memory_equal(addr, want, 20);
    unhex(sk, 32, "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
    assert_int_equal(zk_sig_seckey_address(addr, NULL, sk), ZK_OK);
    unhex(want, 20, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    assert_memory_equal(addr, want, 20);
    memset(sk, 0, 32);
    zk_error_detail e;
    assert_int_equal(zk_sig_seckey_address(addr, &e, sk), ZK_ERR_BAD_VALUE);
}

/* n - x for 32-byte big-endian x (x < n), n the secp256k1 group order. */
static void order_minus(uint8_t out[32], const uint8_t x[32])
{
    uint8_t n[32];
    unhex(n, 32, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - x[i] - borrow;
        borrow = d < 0;
        out[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

static void test_sig_rules(void **state)
{
    uint8_t sig[65], bad[65], digest[32], addr[20] = { 0 }, before[20];
    zk_error_detail e;
    mail_signature(sig);
    mail_digest(digest);

    /* v outside {0, 1, 27, 28} */
    static const uint8_t bad_v[] = { 2, 3, 26, 29, 30, 35, 36, 255 };
    for (size_t i = 0; i < sizeof bad_v; i++) {
        memcpy(bad, sig, 65);
        bad[64] = bad_v[i];
        memset(e.text, 0, sizeof e.text);
        assert_int_equal(zk_sig_recover(addr, &e, digest, bad), ZK_ERR_SIG_BAD_V);
        assert_int_equal(e.code, ZK_ERR_SIG_BAD_V);
    }
    /* high s: (r, n - s, v flipped) is the same signature's malleable twin */
    memcpy(bad, sig, 65);
    order_minus(bad + 32, sig + 32);
    bad[64] = 27;
    assert_int_equal(zk_sig_recover(addr, &e, digest, bad), ZK_ERR_SIG_HIGH_S);
    bad[64] = 0;
    assert_int_equal(zk_sig_recover(addr, &e, digest, bad), ZK_ERR_SIG_HIGH_S);
    /* s = n/2 is still low; n/2 + 1 is high */
    memcpy(bad, sig, 65);
    unhex(bad + 32, 32, "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");
    assert_int_equal(zk_sig_check_form(&e, bad), ZK_OK);
    unhex(bad + 32, 32, "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1");
    assert_int_equal(zk_sig_check_form(&e, bad), ZK_ERR_SIG_HIGH_S);
    /* r or s zero, equal to n, above n, all ones */
    static const char *const bad_scalars[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    };
    for (size_t i = 0; i < 4; i++) {
        memcpy(bad, sig, 65);
        unhex(bad, 32, bad_scalars[i]);
        assert_int_equal(zk_sig_recover(addr, &e, digest, bad), ZK_ERR_SIG_MALFORMED);
        memcpy(bad, sig, 65);
        unhex(bad + 32, 32, bad_scalars[i]);
        assert_int_equal(zk_sig_recover(addr, &e, digest, bad), ZK_ERR_SIG_MALFORMED);
    }
    /* r = n - 1 is in range; whether it recovers depends on the curve (x = n - 1
     * with its parity may not be on it): ZK_OK or NO_RECOVER, never a crash. */
    memcpy(bad, sig, 65);
    unhex(bad, 32, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140");
    zk_err rc = zk_sig_recover(addr, &e, digest, bad);
    assert_true(rc == ZK_OK || rc == ZK_ERR_SIG_NO_RECOVER);
    /* r = 5: x = 5 is not on secp256k1 (5^3 + 7 = 132 is a non-residue mod p) */
    memcpy(bad, sig, 65);
    memset(bad, 0, 32);
    bad[31] = 5;
    memcpy(before, addr, 20);
    assert_int_equal(zk_sig_recover(addr, &e, digest, bad), ZK_ERR_SIG_NO_RECOVER);
    assert_memory_equal(addr, before, 20); /* not written on failure */
    /* check_form on the good signature */
    assert_int_equal(zk_sig_check_form(NULL, sig), ZK_OK);
}

/* Sign and recover with fresh keys: v is 27/28, s is low, the signer recovers. */
static void test_sig_sign_recover(void **state)
{
    uint8_t sk[32], digest[32], sig[65], addr[20], want[20];
    for (int i = 0; i < 32; i++) {
        zk_keccak256(sk, &i, sizeof i);
        zk_keccak256(digest, sk, 32);
        assert_int_equal(zk_sig_seckey_address(want, NULL, sk), ZK_OK);
        assert_int_equal(zk_sig_sign(sig, NULL, digest, sk), ZK_OK);
        assert_true(sig[64] == 27 || sig[64] == 28);
        assert_int_equal(zk_sig_check_form(NULL, sig), ZK_OK);
        assert_int_equal(zk_sig_recover(addr, NULL, digest, sig), ZK_OK);
        assert_memory_equal(addr, want, 20);
        digest[0] ^= 1;
        if (zk_sig_recover(addr, NULL, digest, sig) == ZK_OK)
            assert_memory_not_equal(addr, want, 20);
    }
}

static void test_strerror(void **state)
{
    assert_string_equal(zk_strerror(ZK_ERR_UNKNOWN_FIELD), "unknown field");
    assert_string_equal(zk_strerror(ZK_ERR_TX_RANGE), "amount or fee out of range");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_threads), /* first: it races the context's creation */
        cmocka_unit_test(test_keccak_known),
        cmocka_unit_test(test_keccak_blocks),
        cmocka_unit_test(test_keccak_incremental),
        cmocka_unit_test(test_hex_roundtrip),
        cmocka_unit_test(test_hex_errors),
        cmocka_unit_test(test_address_eip55),
        cmocka_unit_test(test_address_errors),
        cmocka_unit_test(test_abi_words),
        cmocka_unit_test(test_eip712_mail),
        cmocka_unit_test(test_sig_recover_mail),
        cmocka_unit_test(test_sig_known_keys),
        cmocka_unit_test(test_sig_rules),
        cmocka_unit_test(test_sig_sign_recover),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
