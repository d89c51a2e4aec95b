#include "bench/prover_parts.h"

/* Parts run in this order; each records its own figures. */
const zkb_prover_part zkb_prover_parts[] = {
    zkb_prover_ntt,
    zkb_prover_hash,
    zkb_prover_stark, /* after the NTT and Poseidon2 parts */
    NULL, /* keep last */
};
const size_t zkb_prover_nparts = sizeof zkb_prover_parts / sizeof zkb_prover_parts[0] - 1;
