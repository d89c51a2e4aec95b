#include "tests/l1-watcher/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(call)                                                                               \
    do {                                                                                          \
        zk_error_detail e_ = { 0 };                                                               \
        zk_err rc_ = (call);                                                                      \
        if (rc_ != ZK_OK)                                                                         \
            fail_msg("%s: %s (%s)", #call, zk_strerror(rc_), e_.text);                            \
    } while (0)

int64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void th_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void th_anvil_start(th_anvil *a, bool state, const char *const *extra)
{
    CHECK(l1w_devnet_start(a, &e_, state, extra));
}

void th_anvil_restart(th_anvil *a, bool state, const char *const *extra)
{
    CHECK(l1w_devnet_restart(a, &e_, state, extra));
}

void th_anvil_stop(th_anvil *a, bool graceful) { l1w_devnet_stop(a, graceful); }

void th_anvil_destroy(th_anvil *a)
{
    l1w_devnet_stop(a, false);
    if (a->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", a->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", a->dir);
        a->dir[0] = '\0';
    }
    l1w_devnet_destroy(a);
}

json_object *th_call(th_anvil *a, const char *method, const char *params_json)
{
    json_object *r = NULL;
    CHECK(l1w_devnet_call(a, &r, &e_, method, params_json));
    return r;
}

uint64_t th_block_number(th_anvil *a)
{
    uint64_t n = 0;
    CHECK(l1w_devnet_block_number(a, &n, &e_));
    return n;
}

void th_mine(th_anvil *a, uint64_t blocks) { CHECK(l1w_devnet_mine(a, &e_, blocks)); }
void th_automine(th_anvil *a, bool on) { CHECK(l1w_devnet_automine(a, &e_, on)); }

uint64_t th_deploy_bridge(th_anvil *a)
{
    uint64_t b = 0;
    CHECK(l1w_devnet_deploy_bridge(a, &b, &e_, NULL));
    return b;
}

void th_deposit(th_anvil *a, char txhash[67], int from_idx, const uint8_t to[20], uint64_t gwei)
{
    CHECK(l1w_devnet_deposit(a, txhash, &e_, from_idx, to, gwei));
}

void th_reorg(th_anvil *a, int depth, int from_idx) { CHECK(l1w_devnet_reorg(a, &e_, depth, from_idx)); }
