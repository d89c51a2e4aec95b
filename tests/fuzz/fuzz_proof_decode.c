/* libFuzzer target: STARK proof bytes (prover/proof.h), outside data that
 * `zkcar verify` and the L1 path read. A decodable input must re-encode to
 * the same bytes (one encoding per proof), and the verifier must answer any
 * decodable proof without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prover/airs/fib.h"
#include "prover/proof.h"
#include "prover/stark_testing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prv_proof pf;
    zk_error_detail err;
    if (prv_proof_decode(&pf, data, size, &err) != ZK_OK)
        return 0;
    uint8_t *again = NULL;
    size_t len = 0;
    if (prv_proof_encode(&pf, &again, &len) != ZK_OK)
        abort();
    if (len != size || memcmp(again, data, size) != 0)
        abort();
    free(again);
    /* Run the whole verifier on it (any floor: the fuzzer's proofs are small). */
    /* The seed corpus proves fib from (5, 8) over 2^3 rows, which ends at 233. */
    prv_gl pub[PRV_FIB_NPUBLIC] = { pf.shape.log_n, 5, 8, 233 };
    (void)prv_stark_verify_insecure(&prv_fib_air, pub, data, size, 0, &err);
    prv_proof_free(&pf);
    return 0;
}
