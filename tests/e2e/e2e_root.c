/*
 * tests/e2e/e2e_root.c — the account tree's root, computed from scratch.
 *
 * The end-to-end tests compare the daemon's state root with this figure,
 * computed over the balances and nonces the test itself predicted. It uses
 * only the Poseidon2 permutation (prover/poseidon2.h, checked against
 * Plonky3's vectors in tests/prover) and re-implements the tree as documented
 * in ipc/state.h and docs/state.md — not ipc/'s code — so that a mistake in
 * the daemon's incremental tree updates cannot hide behind itself:
 *   leaf  = permute8([0x6c656166 ("leaf"), a0..a4 (address as five
 *           big-endian 32-bit words), balance, nonce])[0..3]
 *   empty = leaf(zero address, 0, 0)
 *   node  = compress(left, right) = permute8(left ‖ right)[0..3]
 *   depth 32, leaf i = account id i; a subtree without accounts hashes as the
 *   empty subtree of its height.
 *
 * Input on stdin, one account per line: "ID 0xADDRESS BALANCE NONCE" (decimal
 * id, balance and nonce); the ids must be exactly 0 .. n-1 (any order).
 * No input gives the genesis root (the empty tree). Output: the root as the
 * API writes it — 0x and four 16-digit big-endian hex elements.
 * Exit 0 on success, 2 on malformed input (with a reason on stderr).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prover/poseidon2.h"

#define E2E_MAX_ACCOUNTS 100000u
#define E2E_LINE_MAX 256u
#define TREE_DEPTH 32u

typedef struct account {
    int present;
    uint8_t address[20];
    uint64_t balance;
    uint32_t nonce;
} account;

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_address(const char *s, size_t len, uint8_t out[20])
{
    if (len != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return -1;
    for (int i = 0; i < 20; i++) {
        int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static void leaf(prv_gl out[4], const uint8_t a[20], uint64_t balance, uint32_t nonce)
{
    prv_gl st[PRV_P2_W8];
    st[0] = 0x6c656166u;
    for (int i = 0; i < 5; i++)
        st[1 + i] = (prv_gl)a[4 * i] << 24 | (prv_gl)a[4 * i + 1] << 16 | (prv_gl)a[4 * i + 2] << 8 | a[4 * i + 3];
    st[6] = balance;
    st[7] = nonce;
    prv_p2_permute8(st);
    memcpy(out, st, 4 * sizeof(prv_gl));
}

static void compress(prv_gl out[4], const prv_gl l[4], const prv_gl r[4])
{
    prv_gl st[PRV_P2_W8];
    memcpy(st, l, 4 * sizeof(prv_gl));
    memcpy(st + 4, r, 4 * sizeof(prv_gl));
    prv_p2_permute8(st);
    memcpy(out, st, 4 * sizeof(prv_gl));
}

/* Splits `line` at spaces into at most `max` fields; returns how many. */
static size_t split(char *line, const char *fields[], size_t lens[], size_t max)
{
    size_t n = 0, i = 0, len = strlen(line);
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n' || line[i] == '\r'))
            i++;
        if (i >= len)
            break;
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && line[i] != '\r')
            i++;
        if (n == max)
            return max + 1;
        fields[n] = line + start;
        lens[n] = i - start;
        n++;
    }
    return n;
}

int main(void)
{
    int rc = 2;
    account *acc = calloc(E2E_MAX_ACCOUNTS, sizeof *acc);
    prv_gl (*level)[4] = calloc(E2E_MAX_ACCOUNTS, sizeof *level);
    if (acc == NULL || level == NULL) {
        fprintf(stderr, "e2e_root: out of memory\n");
        goto cleanup;
    }
    char line[E2E_LINE_MAX];
    uint64_t n = 0, maxid = 0;
    long lineno = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(stdin)) {
            fprintf(stderr, "e2e_root: line %ld longer than %u bytes\n", lineno, E2E_LINE_MAX);
            goto cleanup;
        }
        const char *f[4];
        size_t fl[4];
        size_t nf = split(line, f, fl, 4);
        if (nf == 0)
            continue;
        uint64_t id, balance, nonce;
        uint8_t address[20];
        if (nf != 4 || parse_u64(f[0], fl[0], E2E_MAX_ACCOUNTS - 1, &id) != 0
            || parse_address(f[1], fl[1], address) != 0
            || parse_u64(f[2], fl[2], (UINT64_C(1) << 63) - 1, &balance) != 0
            || parse_u64(f[3], fl[3], UINT32_MAX, &nonce) != 0) {
            fprintf(stderr, "e2e_root: line %ld: want \"ID 0xADDRESS BALANCE NONCE\"\n", lineno);
            goto cleanup;
        }
        if (acc[id].present) {
            fprintf(stderr, "e2e_root: line %ld: id %llu twice\n", lineno, (unsigned long long)id);
            goto cleanup;
        }
        acc[id] = (account){ .present = 1, .balance = balance, .nonce = (uint32_t)nonce };
        memcpy(acc[id].address, address, 20);
        n++;
        if (id + 1 > maxid)
            maxid = id + 1;
    }
    if (maxid != n) {
        fprintf(stderr, "e2e_root: ids are not 0 .. %llu\n", (unsigned long long)n - 1);
        goto cleanup;
    }

    prv_gl empty[4];
    static const uint8_t zero[20];
    leaf(empty, zero, 0, 0);
    for (uint64_t i = 0; i < n; i++)
        leaf(level[i], acc[i].address, acc[i].balance, acc[i].nonce);
    uint64_t size = n;
    for (unsigned l = 0; l < TREE_DEPTH; l++) {
        uint64_t next = (size + 1) / 2;
        for (uint64_t i = 0; i < next; i++) {
            prv_gl left[4], right[4];
            memcpy(left, level[2 * i], sizeof left);
            if (2 * i + 1 < size)
                memcpy(right, level[2 * i + 1], sizeof right);
            else
                memcpy(right, empty, sizeof right);
            compress(level[i], left, right);
        }
        compress(empty, empty, empty);
        size = next;
    }
    /* size == 0 only for the empty tree: its root is the empty subtree of height 32. */
    const prv_gl *root = size == 0 ? empty : level[0];
    printf("0x%016llx%016llx%016llx%016llx\n", (unsigned long long)root[0], (unsigned long long)root[1],
           (unsigned long long)root[2], (unsigned long long)root[3]);
    rc = 0;
cleanup:
    free(acc);
    free(level);
    return rc;
}
