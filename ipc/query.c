/* ipc/query.c — `zkcar query --data-dir DIR account ADDRESS` (SPEC §1):
 * reads one account straight from the shared-memory region. */
#include <stdio.h>
#include <string.h>

#include "common/hex.h"
#include "ipc/state.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: zkcar query [--data-dir DIR] account ADDRESS\n"
               "\n"
               "Reads an account from the shared-memory state of a running or stopped\n"
               "sidecar (no API needed) and prints the JSON object of zkcar_getAccount:\n"
               "  {\"address\", \"id\", \"balance\", \"nonce\", \"provenBalance\", \"provenNonce\"}\n"
               "\n"
               "  --data-dir DIR   the sidecar's data directory (default ./zkcar-data)\n"
               "\n"
               "Exit 0 on success (an unknown address prints id null and zero balances),\n"
               "1 when the state cannot be read, 2 on bad usage.\n");
}

int ipc_cmd_query(int argc, char **argv)
{
    const char *dir = "./zkcar-data";
    const char *what = NULL, *addr_text = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--data-dir") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "zkcar query: --data-dir needs a directory\n");
                return 2;
            }
            dir = argv[++i];
        } else if (strncmp(argv[i], "--data-dir=", 11) == 0) {
            dir = argv[i] + 11;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "zkcar query: unknown flag %s (see zkcar query --help)\n", argv[i]);
            return 2;
        } else if (what == NULL) {
            what = argv[i];
        } else if (addr_text == NULL) {
            addr_text = argv[i];
        } else {
            fprintf(stderr, "zkcar query: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (dir[0] == '\0') {
        fprintf(stderr, "zkcar query: --data-dir needs a directory\n");
        return 2;
    }
    if (what == NULL || strcmp(what, "account") != 0 || addr_text == NULL) {
        fprintf(stderr, "zkcar query: expected \"account ADDRESS\" (see zkcar query --help)\n");
        return 2;
    }
    uint8_t address[IPC_ADDRESS_SIZE];
    zk_error_detail e = { 0 };
    if (zk_address_parse(address, &e, addr_text, strlen(addr_text)) != ZK_OK) {
        fprintf(stderr, "zkcar query: bad address \"%s\": %s\n", addr_text,
                e.text[0] ? e.text : zk_strerror(e.code));
        return 2;
    }
    ipc_reader *r = NULL;
    if (ipc_reader_open(&r, dir, &e) != ZK_OK) {
        fprintf(stderr, "zkcar query: %s: %s\n", zk_strerror(e.code), e.text);
        return 1;
    }
    ipc_account a;
    uint32_t id;
    bool found = ipc_reader_find(r, &id, address) && ipc_reader_get(r, &a, id);
    ipc_reader_close(r);
    char text[43];
    zk_address_format(text, address);
    if (found)
        printf("{\"address\":\"%s\",\"id\":%u,\"balance\":\"%llu\",\"nonce\":%u,"
               "\"provenBalance\":\"%llu\",\"provenNonce\":%u}\n",
               text, a.id, (unsigned long long)a.balance, a.nonce, (unsigned long long)a.proven_balance,
               a.proven_nonce);
    else
        printf("{\"address\":\"%s\",\"id\":null,\"balance\":\"0\",\"nonce\":0,"
               "\"provenBalance\":\"0\",\"provenNonce\":0}\n",
               text);
    return 0;
}
