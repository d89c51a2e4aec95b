#include "common/eip712.h"

#include <string.h>

#include "common/abi.h"
#include "common/keccak.h"

void zk_eip712_domain_init(zk_eip712_domain *d, const char *name, size_t name_len,
                           const char *version, size_t version_len, uint64_t chain_id,
                           const uint8_t verifying_contract[20])
{
    uint8_t enc[5 * ZK_ABI_WORD];
    static const char type[] = ZK_EIP712_DOMAIN_TYPE;
    zk_keccak256(enc, type, sizeof type - 1);
    zk_keccak256(enc + 1 * ZK_ABI_WORD, name, name_len);
    zk_keccak256(enc + 2 * ZK_ABI_WORD, version, version_len);
    zk_abi_put_u64(enc + 3 * ZK_ABI_WORD, chain_id);
    zk_abi_put_address(enc + 4 * ZK_ABI_WORD, verifying_contract);
    d->chain_id = chain_id;
    memcpy(d->verifying_contract, verifying_contract, 20);
    zk_keccak256(d->separator, enc, sizeof enc);
}

void zk_eip712_domain_zkcar(zk_eip712_domain *d, uint64_t chain_id, const uint8_t bridge[20])
{
    zk_eip712_domain_init(d, ZK_EIP712_NAME, sizeof ZK_EIP712_NAME - 1, ZK_EIP712_VERSION,
                          sizeof ZK_EIP712_VERSION - 1, chain_id, bridge);
}

static void hash_tx(uint8_t out[32], const char *type, size_t type_len, const uint8_t from[20],
                    const uint8_t to[20], uint64_t amount, uint64_t fee, uint32_t nonce)
{
    uint8_t enc[6 * ZK_ABI_WORD];
    zk_keccak256(enc, type, type_len);
    zk_abi_put_address(enc + 1 * ZK_ABI_WORD, from);
    zk_abi_put_address(enc + 2 * ZK_ABI_WORD, to);
    zk_abi_put_u64(enc + 3 * ZK_ABI_WORD, amount);
    zk_abi_put_u64(enc + 4 * ZK_ABI_WORD, fee);
    zk_abi_put_u32(enc + 5 * ZK_ABI_WORD, nonce);
    zk_keccak256(out, enc, sizeof enc);
}

void zk_eip712_hash_transfer(uint8_t out[32], const uint8_t from[20], const uint8_t to[20],
                             uint64_t amount, uint64_t fee, uint32_t nonce)
{
    static const char type[] = ZK_EIP712_TRANSFER_TYPE;
    hash_tx(out, type, sizeof type - 1, from, to, amount, fee, nonce);
}

void zk_eip712_hash_withdraw(uint8_t out[32], const uint8_t from[20], const uint8_t to[20],
                             uint64_t amount, uint64_t fee, uint32_t nonce)
{
    static const char type[] = ZK_EIP712_WITHDRAW_TYPE;
    hash_tx(out, type, sizeof type - 1, from, to, amount, fee, nonce);
}

void zk_eip712_digest(uint8_t out[32], const zk_eip712_domain *d, const uint8_t struct_hash[32])
{
    uint8_t buf[2 + 32 + 32];
    buf[0] = 0x19;
    buf[1] = 0x01;
    memcpy(buf + 2, d->separator, 32);
    memcpy(buf + 34, struct_hash, 32);
    zk_keccak256(out, buf, sizeof buf);
}
