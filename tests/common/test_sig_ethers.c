/* Cross-check of common/ against ethers (the outside oracle): for random
 * wallets, domains and Transfer/Withdraw messages signed by ethers'
 * Wallet.signTypedData (tests/common/sig_vectors.js), the C code must compute
 * ethers' struct hash and digest (TypedDataEncoder), write ethers' EIP-55
 * addresses, recover the signer, accept the v ∈ {0, 1} form, reject the high-s
 * twin, and never return the signer after a one-bit change to any signed field,
 * the domain or the signature.
 *
 * ZKCAR_SIG_VECTORS sets the number of vectors (default 1000). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/hex.h"
#include "common/sig.h"
#include "common/tx.h"

#define LINE_MAX_BYTES 4096

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *field(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("vector has no \"%s\"", key);
    return json_object_get_string(v);
}

static void hex32(uint8_t out[32], const char *s)
{
    assert_int_equal(zk_hex_decode(out, 32, NULL, s, strlen(s)), ZK_OK);
}

/* n - s for 32-byte big-endian s, n the secp256k1 group order. */
static void order_minus(uint8_t out[32], const uint8_t s[32])
{
    static const uint8_t n[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
        0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    };
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - s[i] - borrow;
        borrow = d < 0;
        out[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

/* The signer must not come out of (tx, d): either an error or another address. */
static void assert_not_signer(const zk_tx *tx, const zk_eip712_domain *d, const uint8_t signer[20],
                              const char *what, long line)
{
    uint8_t digest[32], addr[20];
    zk_tx_hash(digest, tx, d);
    if (zk_sig_recover(addr, NULL, digest, tx->sig) == ZK_OK && memcmp(addr, signer, 20) == 0)
        fail_msg("vector %ld: signer still recovers after changing %s", line, what);
    if (zk_tx_verify(tx, d, NULL, NULL) == ZK_OK && memcmp(tx->from, signer, 20) == 0)
        fail_msg("vector %ld: verify passes after changing %s", line, what);
}

static void check_vector(struct json_object *v, long line, long *n_high_s)
{
    /* The domain and ethers' hashes, then the seven params fields as the API gets them. */
    errno = 0;
    char *end;
    const char *cid = field(v, "chainId");
    unsigned long long chain_id = strtoull(cid, &end, 10);
    assert_true(errno == 0 && *end == '\0');
    uint8_t contract[20], want_struct[32], want_digest[32];
    char vc[43];
    snprintf(vc, sizeof vc, "%s", field(v, "verifyingContract")); /* outlives the del below */
    assert_int_equal(zk_address_parse(contract, NULL, vc, strlen(vc)), ZK_OK);
    hex32(want_struct, field(v, "structHash"));
    hex32(want_digest, field(v, "digest"));
    json_object_object_del(v, "chainId");
    json_object_object_del(v, "verifyingContract");
    json_object_object_del(v, "structHash");
    json_object_object_del(v, "digest");

    zk_tx tx;
    zk_error_detail e;
    if (zk_tx_decode_object(&tx, &e, v) != ZK_OK)
        fail_msg("vector %ld: decode: %s", line, e.text);
    /* EIP-55: our formatting equals ethers' getAddress */
    char s[43];
    zk_address_format(s, tx.from);
    assert_string_equal(s, field(v, "from"));
    zk_address_format(s, tx.to);
    assert_string_equal(s, field(v, "to"));
    zk_address_format(s, contract);
    assert_string_equal(s, vc);

    zk_eip712_domain d;
    zk_eip712_domain_zkcar(&d, chain_id, contract);
    uint8_t h[32];
    zk_tx_struct_hash(h, &tx);
    if (memcmp(h, want_struct, 32) != 0)
        fail_msg("vector %ld: struct hash differs from ethers", line);
    zk_tx_hash(h, &tx, &d);
    if (memcmp(h, want_digest, 32) != 0)
        fail_msg("vector %ld: digest differs from ethers", line);
    uint8_t signer[20];
    memcpy(signer, tx.from, 20);
    if (zk_tx_verify(&tx, &d, NULL, &e) != ZK_OK)
        fail_msg("vector %ld: verify: %s", line, e.text);

    /* v as the raw recovery id */
    zk_tx t = tx;
    assert_true(t.sig[64] == 27 || t.sig[64] == 28);
    t.sig[64] -= 27;
    if (zk_tx_verify(&t, &d, NULL, &e) != ZK_OK)
        fail_msg("vector %ld: v %u form: %s", line, t.sig[64], e.text);

    /* the malleable twin (r, n - s, v ^ 1) recovers the same key in ECDSA but must be refused */
    t = tx;
    order_minus(t.sig + 32, tx.sig + 32);
    t.sig[64] = tx.sig[64] == 27 ? 28 : 27;
    assert_int_equal(zk_tx_verify(&t, &d, NULL, &e), ZK_ERR_SIG_HIGH_S);
    t.sig[64] -= 27;
    assert_int_equal(zk_tx_verify(&t, &d, NULL, &e), ZK_ERR_SIG_HIGH_S);
    (*n_high_s)++;

    /* one change to each part of the signed message */
    uint64_t r = rng();
    t = tx;
    t.type = tx.type == ZK_TX_TRANSFER ? ZK_TX_WITHDRAW : ZK_TX_TRANSFER;
    assert_not_signer(&t, &d, signer, "type", line);
    t = tx;
    t.from[r % 20] ^= (uint8_t)(1u << (r >> 8) % 8);
    assert_not_signer(&t, &d, signer, "from", line);
    t = tx;
    t.to[(r >> 16) % 20] ^= (uint8_t)(1u << (r >> 24) % 8);
    assert_not_signer(&t, &d, signer, "to", line);
    t = tx;
    t.amount ^= UINT64_C(1) << ((r >> 32) % 63);
    assert_not_signer(&t, &d, signer, "amount", line);
    t = tx;
    t.fee ^= UINT64_C(1) << ((r >> 40) % 63);
    assert_not_signer(&t, &d, signer, "fee", line);
    t = tx;
    t.nonce ^= 1u << ((r >> 48) % 32);
    assert_not_signer(&t, &d, signer, "nonce", line);
    zk_eip712_domain d2;
    zk_eip712_domain_zkcar(&d2, chain_id ^ (UINT64_C(1) << ((r >> 56) % 64)), contract);
    assert_not_signer(&tx, &d2, signer, "chainId", line);
    uint8_t c2[20];
    memcpy(c2, contract, 20);
    c2[r % 20] ^= 0x80;
    zk_eip712_domain_zkcar(&d2, chain_id, c2);
    assert_not_signer(&tx, &d2, signer, "verifyingContract", line);

    /* one byte of r or s, and v */
    r = rng();
    t = tx;
    t.sig[r % 64] ^= (uint8_t)(1 + (r >> 8) % 255);
    assert_not_signer(&t, &d, signer, "a byte of r or s", line);
    t = tx;
    t.sig[64] = tx.sig[64] == 27 ? 28 : 27;
    assert_not_signer(&t, &d, signer, "v", line);
}

static void test_against_ethers(void **state)
{
    const char *src = getenv("ZKCAR_SOURCE_DIR");
    const char *count_env = getenv("ZKCAR_SIG_VECTORS");
    long count = count_env ? strtol(count_env, NULL, 10) : 1000;
    if (src == NULL)
        fail_msg("ZKCAR_SOURCE_DIR is not set (run through ctest)");
    if (count < 1 || count > 1000000)
        fail_msg("ZKCAR_SIG_VECTORS must be in [1, 1000000]");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "node '%s/tests/common/sig_vectors.js' %ld", src, count);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *line = malloc(LINE_MAX_BYTES);
    assert_non_null(line);
    long n = 0, n_high_s = 0, transfers = 0;
    while (fgets(line, LINE_MAX_BYTES, p) != NULL) {
        size_t len = strlen(line);
        assert_true(len > 0 && line[len - 1] == '\n');
        struct json_object *v = json_tokener_parse(line);
        if (v == NULL)
            fail_msg("line %ld is not JSON: %s", n + 1, line);
        n++;
        transfers += strcmp(field(v, "type"), "transfer") == 0;
        check_vector(v, n, &n_high_s);
        json_object_put(v);
    }
    free(line);
    int status = pclose(p);
    if (status != 0)
        fail_msg("%s exited with status %d", cmd, status);
    assert_int_equal(n, count);
    assert_int_equal(n_high_s, count);
    /* both message types were exercised */
    assert_true(count < 20 || (transfers > 0 && transfers < count));
    print_message("%ld ethers vectors checked (%ld transfers)\n", n, transfers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_ethers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
