/*
 * bench/util.c — helpers the benchmarks share (bench/bench.h): a seeded
 * generator, deterministic addresses, flag parsing, CPU clocks, temporary
 * state directories and the random transfer batch of the batch benchmarks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "ipc/state.h"
#include "prover/batch.h"

uint64_t zkb_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

void zkb_address_of(uint8_t a[20], uint64_t k)
{
    uint64_t x = k * UINT64_C(0x9e3779b97f4a7c15) + 1;
    for (int i = 0; i < 20; i++) {
        x ^= x >> 31;
        x *= UINT64_C(0xbf58476d1ce4e5b9);
        a[i] = (uint8_t)(x >> 56);
    }
}

int zkb_parse_u64(const char *s, uint64_t *out, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

double zkb_process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void zkb_remove_state_dir(const char *dir)
{
    char name[64];
    if (ipc_region_name(name, sizeof name, dir) == ZK_OK)
        shm_unlink(name);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    rmdir(dir);
}

void zkb_transfer_batch(prv_batch_public *pub, prv_batch_op *ops, uint32_t *nonces, uint64_t txs,
                        uint64_t accounts, uint64_t seed)
{
    for (uint64_t i = 0; i < txs; i++) {
        uint64_t from = zkb_rng(&seed) % accounts, to = zkb_rng(&seed) % accounts;
        prv_batch_op *op = &ops[i];
        memset(op, 0, sizeof *op);
        op->kind = PRV_OP_TRANSFER;
        zkb_address_of(op->from, from);
        zkb_address_of(op->to, to);
        op->amount = 1 + zkb_rng(&seed) % 1000000;
        op->fee = 1 + zkb_rng(&seed) % 100;
        op->nonce = nonces[from]++;
        memset(op->sig, 0x5a, sizeof op->sig); /* signatures are not part of the proof */
    }
    memset(pub, 0, sizeof *pub);
    pub->chain_id = 31337;
    memset(pub->bridge, 0xb5, sizeof pub->bridge);
    pub->number = 1;
    memset(pub->operator_addr, 0xfe, sizeof pub->operator_addr);
    pub->first_deposit_id = 1;
    pub->nops = (uint32_t)txs;
    pub->ops = ops;
}
