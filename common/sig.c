#include "common/sig.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "common/keccak.h"

/* The secp256k1 group order n and n/2 (rounded down), big-endian. */
static const uint8_t order_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};
static const uint8_t half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};
static const uint8_t zero32[32];

static pthread_once_t once = PTHREAD_ONCE_INIT;
static secp256k1_context *the_ctx;

static void ctx_create(void)
{
    /* Since libsecp256k1 0.2 every context can sign and verify; NONE is enough. */
    the_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (the_ctx == NULL)
        return;
    /* Blinding for zk_sig_sign against timing side channels; done here, before
     * the context is shared, because randomize is the one call that mutates it. */
    uint8_t seed[32];
    if (getrandom(seed, sizeof seed, 0) == (ssize_t)sizeof seed &&
        !secp256k1_context_randomize(the_ctx, seed))
        ZK_PANIC("secp256k1_context_randomize failed");
}

static secp256k1_context *shared_ctx(void)
{
    pthread_once(&once, ctx_create);
    return the_ctx;
}

zk_err zk_sig_check_form(zk_error_detail *err, const uint8_t sig[65])
{
    uint8_t v = sig[64];
    if (v != 0 && v != 1 && v != 27 && v != 28)
        return zk_error_set(err, ZK_ERR_SIG_BAD_V, "v is %u, expected 27, 28, 0 or 1", v);
    const uint8_t *r = sig, *s = sig + 32;
    if (memcmp(r, zero32, 32) == 0 || memcmp(r, order_n, 32) >= 0)
        return zk_error_set(err, ZK_ERR_SIG_MALFORMED, "r is zero or not below the group order");
    if (memcmp(s, zero32, 32) == 0 || memcmp(s, order_n, 32) >= 0)
        return zk_error_set(err, ZK_ERR_SIG_MALFORMED, "s is zero or not below the group order");
    if (memcmp(s, half_n, 32) > 0)
        return zk_error_set(err, ZK_ERR_SIG_HIGH_S, "s is above n/2 (malleable high-s form)");
    return ZK_OK;
}

void zk_sig_pubkey_to_address(uint8_t addr[20], const uint8_t pub64[64])
{
    uint8_t h[32];
    zk_keccak256(h, pub64, 64);
    memcpy(addr, h + 12, 20);
}

zk_err zk_sig_recover(uint8_t addr[20], zk_error_detail *err, const uint8_t digest[32],
                      const uint8_t sig[65])
{
    zk_err rc = zk_sig_check_form(err, sig);
    if (rc != ZK_OK)
        return rc;
    const secp256k1_context *ctx = shared_ctx();
    if (ctx == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "cannot create the secp256k1 context");
    int recid = sig[64] >= 27 ? sig[64] - 27 : sig[64];
    secp256k1_ecdsa_recoverable_signature rsig;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, sig, recid))
        return zk_error_set(err, ZK_ERR_SIG_MALFORMED, "r or s out of range");
    secp256k1_pubkey pub;
    if (!secp256k1_ecdsa_recover(ctx, &pub, &rsig, digest))
        return zk_error_set(err, ZK_ERR_SIG_NO_RECOVER, "no public key recovers from this signature");
    uint8_t ser[65];
    size_t serlen = sizeof ser;
    if (!secp256k1_ec_pubkey_serialize(ctx, ser, &serlen, &pub, SECP256K1_EC_UNCOMPRESSED) ||
        serlen != 65)
        return zk_error_set(err, ZK_ERR_INTERNAL, "cannot serialize the recovered key");
    zk_sig_pubkey_to_address(addr, ser + 1);
    return ZK_OK;
}

static zk_err public_key(secp256k1_pubkey *pub, zk_error_detail *err, const uint8_t seckey[32])
{
    const secp256k1_context *c = shared_ctx();
    if (c == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "cannot create the secp256k1 context");
    if (!secp256k1_ec_pubkey_create(c, pub, seckey))
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "secret key is zero or not below the group order");
    return ZK_OK;
}

zk_err zk_sig_sign(uint8_t sig[65], zk_error_detail *err, const uint8_t digest[32],
                   const uint8_t seckey[32])
{
    const secp256k1_context *c = shared_ctx();
    if (c == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "cannot create the secp256k1 context");
    secp256k1_ecdsa_recoverable_signature rsig;
    if (!secp256k1_ecdsa_sign_recoverable(c, &rsig, digest, seckey, NULL, NULL))
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "secret key is zero or not below the group order");
    int recid;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(c, sig, &recid, &rsig);
    sig[64] = (uint8_t)(27 + recid);
    return ZK_OK;
}

zk_err zk_sig_seckey_address(uint8_t addr[20], zk_error_detail *err, const uint8_t seckey[32])
{
    secp256k1_pubkey pub;
    zk_err rc = public_key(&pub, err, seckey);
    if (rc != ZK_OK)
        return rc;
    uint8_t ser[65];
    size_t serlen = sizeof ser;
    if (!secp256k1_ec_pubkey_serialize(shared_ctx(), ser, &serlen, &pub, SECP256K1_EC_UNCOMPRESSED))
        return zk_error_set(err, ZK_ERR_INTERNAL, "cannot serialize the public key");
    zk_sig_pubkey_to_address(addr, ser + 1);
    return ZK_OK;
}
