/*
 * bench/prover.c — `zkcar bench prover`: the STARK prover's figures (issue 3).
 *
 * Each part of the prover records its own figures from its own file
 * (bench/prover_*.c); this driver parses the common flags and calls them.
 *   --quick   smaller sizes, for smoke tests (figures not comparable)
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/prover_parts.h"

int zkb_prover(zkb_report *r, int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else {
            fprintf(stderr, "zkcar bench prover: unknown flag %s (flags: --quick, --json)\n", argv[i]);
            return 2;
        }
    }
    for (size_t i = 0; i < zkb_prover_nparts; i++) {
        int rc = zkb_prover_parts[i](r, quick);
        if (rc != 0)
            return rc;
    }
    return 0;
}
