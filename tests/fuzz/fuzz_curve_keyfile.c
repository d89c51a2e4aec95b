/* libFuzzer target: CURVE key files and allow files (sidecar/curve.h), read
 * from disk by `zkcar run --workers-key/--workers-allow` and `zkcar worker
 * --key/--server-key`: outside data an operator (or an attacker with write
 * access to a config directory) controls. Whatever the bytes, the parsers
 * stay within them; what they accept is well-formed: keys of 40 Z85
 * characters that decode, a secret that matches its public key, an allow
 * list sorted without duplicates in which each key is found. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "sidecar/curve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_curve_keypair kp;
    zk_error_detail err;
    for (int need = 0; need < 2; need++) {
        if (sc_curve_key_parse(&kp, data, size, need != 0, &err) != ZK_OK)
            continue;
        if (strlen(kp.public_z85) != SC_CURVE_Z85_LEN || !sc_curve_z85_key(NULL, kp.public_z85, SC_CURVE_Z85_LEN))
            __builtin_trap();
        if (need && strlen(kp.secret_z85) != SC_CURVE_Z85_LEN)
            __builtin_trap();
        if (kp.secret_z85[0] != '\0') {
            char derived[SC_CURVE_Z85_LEN + 1];
            if (zmq_curve_public(derived, kp.secret_z85) != 0 || strcmp(derived, kp.public_z85) != 0)
                __builtin_trap();
        }
    }
    sc_curve_allow a;
    if (sc_curve_allow_parse(&a, data, size, &err) == ZK_OK) {
        if (a.n > SC_CURVE_ALLOW_KEYS_MAX || (a.n > 0) != (a.keys != NULL))
            __builtin_trap();
        for (size_t i = 0; i < a.n; i++) {
            if (i > 0 && memcmp(a.keys[i - 1], a.keys[i], SC_CURVE_KEY_BYTES) >= 0)
                __builtin_trap();
            if (!sc_curve_allow_has(&a, a.keys[i]))
                __builtin_trap();
        }
        sc_curve_allow_free(&a);
    } else if (a.n != 0 || a.keys != NULL) {
        __builtin_trap(); /* nothing is handed out on failure */
    }
    return 0;
}
