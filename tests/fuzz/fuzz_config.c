/* libFuzzer target: INI config files (outside data an operator hands us). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/config.h"

static const char *const words[] = { "finalized", NULL };
static const zk_opt opts[] = {
    { .name = "bridge", .type = ZK_OPT_STRING },
    { .name = "batch-size", .type = ZK_OPT_U64, .def = "1024", .min = 1, .max = 65536 },
    { .name = "confirmations", .type = ZK_OPT_U64, .def = "12", .words = words },
    { .name = "api", .type = ZK_OPT_HOSTPORT },
    { .name = "on", .type = ZK_OPT_BOOL },
    { .name = "v", .type = ZK_OPT_FLAG },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (path[0] == '\0')
        snprintf(path, sizeof path, "/tmp/zkcar-fuzz-config-%d.ini", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    char *argv[] = { "run", "--config", path, NULL };
    zk_config *c = NULL;
    zk_error_detail e;
    if (zk_config_parse(&c, &e, "run", opts, sizeof opts / sizeof opts[0], 3, argv) == ZK_OK) {
        (void)zk_config_get(c, "bridge");
        if (zk_config_get(c, "batch-size"))
            (void)zk_config_get_u64(c, "batch-size");
        zk_config_destroy(c);
    }
    return 0;
}
