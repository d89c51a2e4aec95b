/*
 * sidecar/dist.h — distributed proving: the dispatcher behind
 * `zkcar run --workers ENDPOINT` and the remote `zkcar worker`.
 *
 * The dispatcher binds a ZeroMQ ROUTER socket; each `zkcar worker` connects a
 * DEALER, says READY with its protocol version and capacity (jobs it proves
 * at once) and is WELCOMEd with the heartbeat period it must keep. The
 * dispatcher takes proving jobs from a *job source* (sc_dist_source: the
 * node's sc_node_job_* in `zkcar run`, a test's own queue in the tests) only
 * while some worker has a free slot, and sends each as a JOB with a fresh
 * attempt id to the least-loaded worker (ties: the one idle longest). While
 * proving, a worker sends a HEARTBEAT naming each attempt it holds.
 *
 * An attempt ends in one of these ways, and the job's fate is then decided
 * exactly once:
 *   - RESULT with a proof     -> source.done() verifies it; accepted, or the
 *                                source puts the job back in its queue itself
 *                                (a rejected proof also quarantines the worker:
 *                                no new job for 1 s, doubling to 60 s while its
 *                                proofs keep being rejected);
 *   - RESULT with an error    -> source.give_back() (the worker could not prove it;
 *                                it is quarantined like one whose proof was rejected,
 *                                so a job nobody can prove is not retried in a hot
 *                                loop — except for ZK_ERR_SC_OVERLOADED, a worker
 *                                still busy with an attempt the dispatcher gave up on);
 *   - the worker is gone      -> source.give_back(): silence for
 *                                worker_timeout_ms, a failed send to it, or BYE;
 *   - the attempt is lost     -> source.give_back(): the worker lives but has not
 *                                named the attempt in a heartbeat for worker_timeout_ms;
 *   - the deadline passes     -> source.give_back() after job_timeout_ms;
 *   - the dispatcher stops    -> source.give_back() for everything in flight.
 * A RESULT whose attempt id is not in flight (already ended, from another
 * worker, or from before a dispatcher restart: attempt ids start at a random
 * base) is stale and ignored. Frames are bounded (caps below; ZeroMQ drops a
 * peer that sends a larger frame) and decoded with bounds: a bad frame is
 * answered with ERROR and logged, never trusted. The protocol is versioned
 * and documented in docs/sidecar.md, "Remote workers".
 */
#ifndef ZKCAR_SIDECAR_DIST_H
#define ZKCAR_SIDECAR_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "prover/stark.h"

#define SC_DIST_VERSION 2                        /* protocol version spoken here (2: JOBs carry version-2 jobs) */
#define SC_DIST_JOB_MAX ((size_t)256 << 20)      /* largest job payload (an encoded prv_batch_job) */
#define SC_DIST_PROOF_MAX ((size_t)64 << 20)     /* largest proof payload (= the proof decoder's cap) */
#define SC_DIST_CONTROL_MAX 512                  /* largest message without its payload, bytes */
#define SC_DIST_TEXT_MAX 200                     /* worker names and error texts, bytes (NUL excluded) */
#define SC_DIST_CAPACITY_MAX 64                  /* most jobs one worker may hold */
#define SC_DIST_WORKERS_MAX 1024                 /* most workers one dispatcher serves */

/* ---- messages -------------------------------------------------------------- */

/* Each message is one ZeroMQ frame (after the ROUTER's routing id) holding one
 * msgpack array: [type, elements...]. Integers are unsigned; the payload of
 * JOB and RESULT is a bin and always the last element. */
typedef enum sc_dist_msg_type {
    SC_DIST_READY = 1,     /* worker -> dispatcher [1, version, capacity, name] */
    SC_DIST_WELCOME = 2,   /* dispatcher -> worker [2, version, heartbeat_ms, timeout_ms] */
    SC_DIST_JOB = 3,       /* dispatcher -> worker [3, attempt, batch, hash, log_blowup, num_queries,
                              grinding_bits, fri_log_arity, fri_log_final, job(bin)] */
    SC_DIST_HEARTBEAT = 4, /* worker -> dispatcher [4, attempt] (one per attempt held; 0 when idle) */
    SC_DIST_RESULT = 5,    /* worker -> dispatcher [5, attempt, batch, code, prove_ms, text, proof(bin)] */
    SC_DIST_PING = 6,      /* dispatcher -> worker [6] every heartbeat_ms */
    SC_DIST_BYE = 7,       /* worker -> dispatcher [7]: leaving; re-issue what it holds now */
    SC_DIST_ERROR = 8,     /* either way [8, code, text]: the peer broke the protocol */
} sc_dist_msg_type;

typedef struct sc_dist_msg {
    sc_dist_msg_type type;
    uint64_t version;              /* READY, WELCOME */
    uint64_t capacity;             /* READY: 1..SC_DIST_CAPACITY_MAX */
    uint64_t heartbeat_ms;         /* WELCOME: 1..60000 */
    uint64_t timeout_ms;           /* WELCOME: the dispatcher's silence limit, >= heartbeat_ms */
    uint64_t attempt;              /* JOB, RESULT: >= 1; HEARTBEAT: 0 = idle */
    uint64_t batch;                /* JOB, RESULT: the batch number, >= 1 */
    prv_stark_params params;       /* JOB: the proof parameters to prove with */
    uint64_t code;                 /* RESULT: 0 = proven, else the zk_err of the failure; ERROR */
    uint64_t prove_ms;             /* RESULT */
    const uint8_t *payload;        /* JOB: the job; RESULT: the proof (empty on failure).
                                      After decode it points into the decoded buffer. */
    size_t payload_len;
    char text[SC_DIST_TEXT_MAX + 1]; /* READY: worker name (non-empty); RESULT: failure text; ERROR */
} sc_dist_msg;

/* Bytes sc_dist_msg_encode needs for `m` (an upper bound). */
size_t sc_dist_msg_encoded_max(const sc_dist_msg *m);

/* Encodes `m` into buf[0..cap); *len gets the size. ZK_ERR_TOO_BIG when it
 * does not fit or a payload exceeds its cap; ZK_ERR_INTERNAL for an unknown
 * type. Pure, thread-safe. */
zk_err sc_dist_msg_encode(uint8_t *buf, size_t cap, size_t *len, const sc_dist_msg *m) ZK_MUST_CHECK;
/* The same without the payload's bytes: the message up to them (at most
 * SC_DIST_CONTROL_MAX bytes), for a sender that puts the payload into the
 * frame itself; the encoding is these bytes then the m->payload_len bytes
 * of the payload. Same errors. Pure, thread-safe. */
zk_err sc_dist_msg_encode_head(uint8_t *buf, size_t cap, size_t *len, const sc_dist_msg *m) ZK_MUST_CHECK;

/* Decodes one frame buf[0..len): exactly the array its type defines (count,
 * kinds, ranges above, text without NUL bytes, payload within its cap),
 * nothing after it. ZK_ERR_WORKER_PROTOCOL with a reason otherwise. m->payload
 * points into buf. Never reads past len; allocates nothing. Thread-safe. */
zk_err sc_dist_msg_decode(sc_dist_msg *m, zk_error_detail *err, const uint8_t *buf, size_t len) ZK_MUST_CHECK;

/* ---- the dispatcher --------------------------------------------------------- */

/* Where jobs come from and where their results go. All three are called on
 * the dispatcher's thread only.
 *   take       the next job to prove, without blocking longer than timeout_ms
 *              (the dispatcher passes 0): true and *batch, *job (malloc'd; the
 *              dispatcher frees it), *job_len; false when there is none;
 *   give_back  the job of `batch` was not proven: hand it out again;
 *   done       a proof of `batch`: verify it and accept it (ZK_OK), or reject
 *              it and put the job back in the queue (any error). Either way
 *              the dispatcher no longer holds the job. */
typedef struct sc_dist_source {
    void *ctx;
    bool (*take)(void *ctx, uint64_t *batch, uint8_t **job, size_t *job_len, int timeout_ms);
    void (*give_back)(void *ctx, uint64_t batch);
    zk_err (*done)(void *ctx, uint64_t batch, const uint8_t *proof, size_t proof_len, double prove_seconds,
                   zk_error_detail *err);
} sc_dist_source;

typedef struct sc_dist_config {
    const char *endpoint;          /* ZeroMQ bind endpoint, e.g. tcp://0.0.0.0:3053 (required) */
    prv_stark_params params;       /* sent with each job */
    uint32_t heartbeat_ms;         /* workers heartbeat and the dispatcher pings this often */
    uint32_t worker_timeout_ms;    /* a worker (or an attempt it holds) silent this long is gone */
    uint32_t job_timeout_ms;       /* an attempt's deadline */
    uint32_t max_workers;          /* 1..SC_DIST_WORKERS_MAX */
    /* Authentication and encryption (ZeroMQ CURVE; docs/sidecar.md "Remote
     * workers", "Authentication"). curve_secret_z85: the dispatcher's secret
     * key (40 Z85 characters, copied): the ROUTER is then a CURVE server and
     * only workers that know its public key complete a handshake; every frame
     * is encrypted. NULL: plain ZMTP, no authentication (a warning is logged
     * when the endpoint is not loopback, ipc or inproc).
     * curve_allow_file: the workers' public keys (sidecar/curve.h, allow
     * file), enforced by a ZAP handler on the dispatcher's thread; re-read
     * when its mtime, size or inode changes (checked at each handshake and
     * every second): a key taken out is refused at its next handshake and its
     * worker dropped at its next frame; an unreadable or malformed file
     * refuses every handshake until it is fixed. NULL with a key: every worker
     * that knows the server's public key is accepted ("stonehouse").
     * curve_allow_file without curve_secret_z85 is ZK_ERR_USAGE. */
    const char *curve_secret_z85;
    const char *curve_allow_file;
} sc_dist_config;

/* Defaults: params = prv_stark_params_default, heartbeat 1000 ms, worker
 * timeout 5000 ms, job deadline 30 min, 64 workers; endpoint NULL, no CURVE. */
void sc_dist_config_defaults(sc_dist_config *c);

typedef struct sc_dist_stats {
    uint32_t workers;              /* registered now */
    uint32_t in_flight;            /* attempts in flight now */
    uint64_t jobs_sent;            /* attempts started */
    uint64_t proofs_accepted;
    uint64_t proofs_rejected;      /* done() refused the proof */
    uint64_t jobs_failed;          /* a worker reported it could not prove */
    uint64_t jobs_reissued;        /* given back: worker gone, attempt lost, deadline */
    uint64_t results_stale;        /* results for attempts not in flight, ignored */
    uint64_t frames_bad;           /* frames that did not decode or broke the protocol */
    uint64_t workers_lost;         /* workers dropped for silence or a failed send */
    uint64_t refused_key;          /* CURVE: handshakes (and frames) of keys not in the allow file */
    uint64_t refused_handshake;    /* CURVE: handshakes that failed otherwise (wrong server key, no CURVE) */
} sc_dist_stats;

typedef struct sc_dist sc_dist;

/* Reads one event from a ZeroMQ socket monitor (`mon`, a PAIR connected to
 * zmq_socket_monitor's endpoint) without blocking: its event number and
 * value (0 when the frame is not the 6-byte event header); the endpoint
 * frame that follows is read and dropped. False when nothing is pending.
 * For the CURVE handshake failures of the dispatcher and the worker. */
bool sc_dist_monitor_next(void *mon, uint16_t *event, uint32_t *value);

/* Validates `cfg` (copied) and binds the endpoint. ZK_ERR_USAGE for a bad
 * value (a CURVE key that is not 40 Z85 characters, an allow file without a
 * key or that does not load) or an endpoint that cannot be bound (the reason
 * in `err`), except ZK_ERR_IO for one whose port is in use (a runtime
 * failure: it may free up), ZK_ERR_UNSUPPORTED for CURVE on a libzmq
 * without it, ZK_ERR_IO, ZK_ERR_NOMEM. Nothing runs until sc_dist_start. */
zk_err sc_dist_create(sc_dist **out, const sc_dist_config *cfg, const sc_dist_source *src,
                      zk_error_detail *err) ZK_MUST_CHECK;
/* Starts the dispatcher's thread. */
zk_err sc_dist_start(sc_dist *d, zk_error_detail *err) ZK_MUST_CHECK;
/* Stops the thread (at most ~100 ms) and gives back every job in flight.
 * Idempotent; a stopped dispatcher may not be started again. */
void sc_dist_stop(sc_dist *d);
/* Stops if running, closes the socket, frees. NULL is fine. */
void sc_dist_destroy(sc_dist *d);
/* The endpoint actually bound (a "tcp://host:*" port resolved). Valid until destroy. */
const char *sc_dist_endpoint(const sc_dist *d);
/* A snapshot of the counters. Thread-safe. */
void sc_dist_stats_get(sc_dist *d, sc_dist_stats *out);

/* Registers the dispatcher's series in `m` and keeps them equal to its
 * counters from then on: zkcar_remote_workers and
 * zkcar_remote_jobs_in_flight (gauges), zkcar_remote_jobs_total{event=
 * "sent"|"proof_accepted"|"proof_rejected"|"failed"|"stale_result"|
 * "reissued"}, zkcar_remote_bad_frames_total, zkcar_remote_workers_lost_total,
 * zkcar_remote_workers_refused_total{reason="key"|"handshake"} (refused_key,
 * refused_handshake).
 * Once per dispatcher (ZK_ERR_USAGE after), at any time, from any thread; the
 * series belong to `m`, which must outlive `d` (the registry keeps the last
 * values after sc_dist_destroy). ZK_ERR_NOMEM, or a registry refusal. */
struct zk_metrics;
zk_err sc_dist_register_metrics(sc_dist *d, struct zk_metrics *m) ZK_MUST_CHECK;

/* For `zkcar run --workers ENDPOINT`: a dispatcher configured by `cfg`
 * (start from sc_dist_config_defaults; endpoint, params, CURVE) whose job
 * source is the node (sc_node_job_take / _return / _done), its series
 * registered in `metrics` (NULL: none), bound and started in one call. Stop
 * and free with sc_dist_destroy before sc_node_stop. Defined in
 * sidecar/dist_node.c. */
struct sc_node;
zk_err sc_dist_start_node(sc_dist **out, struct sc_node *node, const sc_dist_config *cfg,
                          struct zk_metrics *metrics, zk_error_detail *err) ZK_MUST_CHECK;

/* ---- the worker ------------------------------------------------------------- */

/* `zkcar worker --connect ENDPOINT [--threads N] [--jobs N] [--name NAME]
 * [--server-key Z85_OR_FILE --key FILE] [--bpf on|off|auto] [--log-format F]`:
 * proves jobs for a dispatcher until SIGINT/SIGTERM (exit 0). Exit 1 on a
 * runtime failure (the dispatcher speaks another version), 2 on bad usage
 * (one of --server-key/--key without the other, a bad key file). Defined in
 * sidecar/worker.c. */
int sc_worker_main(int argc, char **argv);

#endif
