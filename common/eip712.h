/*
 * common/eip712.h — EIP-712 typed-data hashing for zkcar transactions (SPEC §3).
 *
 * A wallet signs   digest = keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))
 * where
 *   domainSeparator = hashStruct(EIP712Domain{name, version, chainId, verifyingContract})
 *   hashStruct(s)   = keccak256(typeHash ‖ encodeData(s))
 *   typeHash        = keccak256("Transfer(address from,address to,uint64 amount,uint64 fee,uint32 nonce)")
 * and encodeData is one 32-byte ABI word per member (common/abi.h); strings in
 * the domain are replaced by their keccak256. zkcar's domain is
 * {name "zkcar", version "1", chainId = L1 chain id, verifyingContract = bridge}.
 * The domain here is general enough for other (name, version, chainId,
 * verifyingContract) domains, e.g. the EIP's own "Ether Mail" example.
 *
 * Reentrant and thread-safe; a zk_eip712_domain is immutable after init and may
 * be shared by threads.
 */
#ifndef ZKCAR_COMMON_EIP712_H
#define ZKCAR_COMMON_EIP712_H

#include <stddef.h>
#include <stdint.h>

#define ZK_EIP712_DOMAIN_TYPE \
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
#define ZK_EIP712_TRANSFER_TYPE \
    "Transfer(address from,address to,uint64 amount,uint64 fee,uint32 nonce)"
#define ZK_EIP712_WITHDRAW_TYPE \
    "Withdraw(address from,address to,uint64 amount,uint64 fee,uint32 nonce)"
#define ZK_EIP712_NAME "zkcar"
#define ZK_EIP712_VERSION "1"

/* chainId is a uint256 in EIP-712; zkcar keeps it in 64 bits (every public
 * chain id fits), and encodes it as the full 32-byte word. */
typedef struct zk_eip712_domain {
    uint64_t chain_id;
    uint8_t verifying_contract[20];
    uint8_t separator[32];   /* domainSeparator, computed by the init functions */
} zk_eip712_domain;

/* Fills `d` for the domain {name, version, chainId, verifyingContract};
 * name and version are byte strings of the given lengths (UTF-8, not
 * NUL-terminated necessarily). */
void zk_eip712_domain_init(zk_eip712_domain *d, const char *name, size_t name_len,
                           const char *version, size_t version_len, uint64_t chain_id,
                           const uint8_t verifying_contract[20]);

/* Fills `d` for zkcar's domain: name "zkcar", version "1", the L1 chain id and
 * the bridge address. */
void zk_eip712_domain_zkcar(zk_eip712_domain *d, uint64_t chain_id, const uint8_t bridge[20]);

/* hashStruct of a Transfer / Withdraw message (SPEC §3 types). */
void zk_eip712_hash_transfer(uint8_t out[32], const uint8_t from[20], const uint8_t to[20],
                             uint64_t amount, uint64_t fee, uint32_t nonce);
void zk_eip712_hash_withdraw(uint8_t out[32], const uint8_t from[20], const uint8_t to[20],
                             uint64_t amount, uint64_t fee, uint32_t nonce);

/* out = keccak256(0x19 0x01 ‖ d->separator ‖ struct_hash): what the wallet signs. */
void zk_eip712_digest(uint8_t out[32], const zk_eip712_domain *d, const uint8_t struct_hash[32]);

#endif
