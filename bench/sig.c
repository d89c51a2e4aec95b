/*
 * bench/sig.c — `zkcar bench sig`: signature recovery and Keccak throughput (issue 2).
 *
 * Figures:
 *   recover_per_s_per_core  zk_sig_recover on EIP-712 transaction digests (v, r, s
 *                           checks, libsecp256k1 recovery, keccak of the public key),
 *                           one thread, median of the rounds
 *   tx_verify_per_s_per_core  zk_tx_verify: range check, EIP-712 hashing and recovery
 *   keccak_mb_per_s         zk_keccak256 over a 64 MiB buffer (MB = 10^6 bytes), median
 * Flags: --quick (fewer rounds and a smaller buffer; figures not comparable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "common/keccak.h"
#include "common/sig.h"
#include "common/tx.h"

#define NSIGS 64
#define ROUNDS 7

int zkb_sig(zkb_report *r, int argc, char **argv)
{
    int quick = 0, rc = 1;
    uint8_t *buf = NULL;
    zk_tx *txs = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else {
            fprintf(stderr, "zkcar bench sig: unknown flag %s (flags: --quick, --json)\n", argv[i]);
            return 2;
        }
    }
    const int per_round = quick ? 200 : 4000;
    const size_t buf_len = quick ? (size_t)1 << 20 : (size_t)64 << 20;

    /* Distinct signed transactions, as the API would receive them. */
    txs = calloc(NSIGS, sizeof *txs);
    uint8_t (*digests)[32] = malloc(NSIGS * 32);
    if (txs == NULL || digests == NULL)
        goto cleanup;
    uint8_t bridge[20];
    memset(bridge, 0xbb, sizeof bridge);
    zk_eip712_domain d;
    zk_eip712_domain_zkcar(&d, 31337, bridge);
    for (int i = 0; i < NSIGS; i++) {
        uint8_t sk[32];
        zk_keccak256(sk, &i, sizeof i);
        zk_tx *t = &txs[i];
        t->type = i % 2 ? ZK_TX_WITHDRAW : ZK_TX_TRANSFER;
        t->amount = 1000 + (uint64_t)i;
        t->fee = 1;
        t->nonce = (uint32_t)i;
        memset(t->to, i, sizeof t->to);
        if (zk_sig_seckey_address(t->from, NULL, sk) != ZK_OK)
            goto cleanup;
        zk_tx_hash(digests[i], t, &d);
        if (zk_sig_sign(t->sig, NULL, digests[i], sk) != ZK_OK)
            goto cleanup;
    }

    double rates[ROUNDS], verify_rates[ROUNDS], mbs[ROUNDS];
    const int rounds = quick ? 3 : ROUNDS;
    for (int k = 0; k < rounds; k++) {
        uint8_t addr[20];
        uint64_t t0 = zkb_now_ns();
        for (int i = 0; i < per_round; i++) {
            if (zk_sig_recover(addr, NULL, digests[i % NSIGS], txs[i % NSIGS].sig) != ZK_OK ||
                memcmp(addr, txs[i % NSIGS].from, 20) != 0) {
                fprintf(stderr, "zkcar bench sig: recovery failed\n");
                goto cleanup;
            }
        }
        uint64_t t1 = zkb_now_ns();
        rates[k] = per_round / ((double)(t1 - t0) / 1e9);
        for (int i = 0; i < per_round; i++) {
            if (zk_tx_verify(&txs[i % NSIGS], &d, NULL, NULL) != ZK_OK) {
                fprintf(stderr, "zkcar bench sig: verification failed\n");
                goto cleanup;
            }
        }
        verify_rates[k] = per_round / ((double)(zkb_now_ns() - t1) / 1e9);
    }

    buf = malloc(buf_len);
    if (buf == NULL)
        goto cleanup;
    for (size_t i = 0; i < buf_len; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    uint8_t h[32], sink = 0;
    for (int k = 0; k < rounds; k++) {
        uint64_t t0 = zkb_now_ns();
        zk_keccak256(h, buf, buf_len);
        mbs[k] = (double)buf_len / 1e6 / ((double)(zkb_now_ns() - t0) / 1e9);
        sink ^= h[0];
    }
    (void)sink;

    zkb_report_num(r, "recover_per_s_per_core", zkb_median(rates, rounds));
    zkb_report_num(r, "tx_verify_per_s_per_core", zkb_median(verify_rates, rounds));
    zkb_report_num(r, "keccak_mb_per_s", zkb_median(mbs, rounds));
    zkb_report_num(r, "rounds", rounds);
    rc = 0;
cleanup:
    free(buf);
    free(digests);
    free(txs);
    return rc;
}
