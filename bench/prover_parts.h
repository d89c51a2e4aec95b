/*
 * bench/prover_parts.h — the parts of `zkcar bench prover`, one per prover
 * component, each in its own bench/prover_*.c. To add one, declare it here and
 * list it in zkb_prover_parts (bench/prover_parts.c).
 */
#ifndef ZKCAR_BENCH_PROVER_PARTS_H
#define ZKCAR_BENCH_PROVER_PARTS_H

#include <stddef.h>

#include "bench/bench.h"

typedef int (*zkb_prover_part)(zkb_report *r, int quick);

/* NTT (bench/prover_ntt.c) */
int zkb_prover_ntt(zkb_report *r, int quick);
int zkb_prover_stark(zkb_report *r, int quick);
/* Poseidon2 (bench/prover_hash.c) */
int zkb_prover_hash(zkb_report *r, int quick);

extern const zkb_prover_part zkb_prover_parts[];
extern const size_t zkb_prover_nparts;

#endif
