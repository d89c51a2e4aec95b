/*
 * sidecar/run.h — `zkcar run`, the sidecar daemon (SPEC §1; docs/sidecar.md).
 */
#ifndef ZKCAR_SIDECAR_RUN_H
#define ZKCAR_SIDECAR_RUN_H

/* `zkcar run [--config FILE] [flags]`: opens the node on --data-dir, starts
 * the watcher (embedded, or a consumer of `zkcar watch` with --watcher), the
 * JSON-RPC API, /metrics, the prover threads, the remote-worker dispatcher
 * (--workers) and the latency probes (--bpf), and runs until SIGINT/SIGTERM.
 * Returns the exit status: 0 after a clean stop, 1 on a runtime failure
 * (the L1 or the stream went wrong beyond retrying, the store or the state
 * failed, a port is taken), 2 on bad usage or configuration, with a one-line
 * reason on stderr. Call once, from main: it blocks SIGINT and SIGTERM in
 * every thread and waits for them. */
int sc_run_main(int argc, char **argv);

#endif
