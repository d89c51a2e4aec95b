#include "common/hex.h"

#include <string.h>

#include "common/keccak.h"

static const char digits[] = "0123456789abcdef";

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void zk_hex_encode(char *out, const uint8_t *in, size_t n)
{
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = digits[in[i] >> 4];
        out[3 + 2 * i] = digits[in[i] & 15];
    }
    out[2 + 2 * n] = '\0';
}

zk_err zk_hex_decode(uint8_t *out, size_t outlen, zk_error_detail *err, const char *hex,
                     size_t hexlen)
{
    if (hexlen < 2 || hex[0] != '0' || hex[1] != 'x')
        return zk_error_set(err, ZK_ERR_BAD_HEX, "expected 0x-prefixed hex");
    size_t ndigits = hexlen - 2;
    for (size_t i = 0; i < ndigits; i++)
        if (nibble(hex[2 + i]) < 0)
            return zk_error_set(err, ZK_ERR_BAD_HEX, "character %zu is not a hex digit",
                                i + 2);
    if (ndigits % 2 != 0)
        return zk_error_set(err, ZK_ERR_BAD_HEX, "odd number of hex digits (%zu)", ndigits);
    if (ndigits / 2 != outlen)
        return zk_error_set(err, ZK_ERR_BAD_LENGTH, "expected %zu bytes, got %zu", outlen,
                            ndigits / 2);
    for (size_t i = 0; i < outlen; i++)
        out[i] = (uint8_t)(nibble(hex[2 + 2 * i]) << 4 | nibble(hex[3 + 2 * i]));
    return ZK_OK;
}

/* EIP-55: hash the 40 lower-case digits (ASCII, no "0x"); a letter is upper
 * case exactly when the matching nibble of the hash is >= 8. */
static void checksum_case(char digits40[40])
{
    uint8_t h[32];
    zk_keccak256(h, digits40, 40);
    for (size_t i = 0; i < 40; i++) {
        unsigned nib = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 15;
        if (digits40[i] >= 'a' && digits40[i] <= 'f' && nib >= 8)
            digits40[i] = (char)(digits40[i] - 'a' + 'A');
    }
}

zk_err zk_address_parse(uint8_t out[20], zk_error_detail *err, const char *s, size_t len)
{
    uint8_t addr[ZK_ADDRESS_SIZE];
    zk_err rc = zk_hex_decode(addr, sizeof addr, err, s, len);
    if (rc != ZK_OK)
        return rc;
    int lower = 0, upper = 0;
    for (size_t i = 2; i < len; i++) {
        lower |= s[i] >= 'a' && s[i] <= 'f';
        upper |= s[i] >= 'A' && s[i] <= 'F';
    }
    if (lower && upper) {
        char want[ZK_ADDRESS_TEXT_LEN + 1];
        zk_address_format(want, addr);
        if (memcmp(want, s, ZK_ADDRESS_TEXT_LEN) != 0)
            return zk_error_set(err, ZK_ERR_BAD_CHECKSUM,
                                "mixed-case address with a wrong EIP-55 checksum (expected %s)",
                                want);
    }
    memcpy(out, addr, sizeof addr);
    return ZK_OK;
}

void zk_address_format(char out[43], const uint8_t addr[20])
{
    zk_hex_encode(out, addr, ZK_ADDRESS_SIZE);
    checksum_case(out + 2);
}
