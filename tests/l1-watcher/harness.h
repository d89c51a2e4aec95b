/*
 * tests/l1-watcher/harness.h — l1-watcher/devnet.h with cmocka assertions,
 * for tests: every call must succeed, and a test's files live in a->dir.
 */
#ifndef ZKCAR_TESTS_L1W_HARNESS_H
#define ZKCAR_TESTS_L1W_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "l1-watcher/devnet.h"

typedef l1w_devnet th_anvil;

void th_anvil_start(th_anvil *a, bool state, const char *const *extra);
void th_anvil_restart(th_anvil *a, bool state, const char *const *extra);
void th_anvil_stop(th_anvil *a, bool graceful);
/* Stops anvil and removes a->dir with everything the test put there. */
void th_anvil_destroy(th_anvil *a);
json_object *th_call(th_anvil *a, const char *method, const char *params_json);
uint64_t th_block_number(th_anvil *a);
void th_mine(th_anvil *a, uint64_t blocks);
void th_automine(th_anvil *a, bool on);
uint64_t th_deploy_bridge(th_anvil *a);
void th_deposit(th_anvil *a, char txhash[67], int from_idx, const uint8_t to[20], uint64_t gwei);
void th_reorg(th_anvil *a, int depth, int from_idx);

int64_t th_now_ms(void);
void th_sleep_ms(int ms);

#endif
