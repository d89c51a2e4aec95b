/*
 * common/msgpack.h — a bounded reader for the flat msgpack arrays of our
 * ZeroMQ protocols (the deposit stream, l1-watcher/msg.c; the proving-job
 * protocol, sidecar/dist.c), and a fixed-buffer sink for msgpack-c's packer.
 *
 * Why not msgpack_unpack_next: msgpack-c allocates what a container header
 * declares before it sees the elements, so a 5-byte frame announcing 2^32
 * elements asks for gigabytes (found by fuzz_stream_record). Our messages are
 * flat arrays of scalars — unsigned integers, bin, str — so a reader for
 * exactly that is short, allocates nothing, and checks every length against
 * the bytes that remain. Anything else (maps, nested arrays, negative
 * integers, floats, nil, booleans, ext) is refused.
 *
 * The functions return true on success, or false with *why set to a static
 * reason ("message ends early", …) that the caller wraps into its own
 * protocol error. Pure and thread-safe; items point into the caller's buffer.
 */
#ifndef ZKCAR_COMMON_MSGPACK_H
#define ZKCAR_COMMON_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum zk_mp_kind { ZK_MP_UINT, ZK_MP_BIN, ZK_MP_STR } zk_mp_kind;

typedef struct zk_mp_item {
    zk_mp_kind kind;
    uint64_t u;             /* ZK_MP_UINT */
    const uint8_t *ptr;     /* ZK_MP_BIN, ZK_MP_STR: points into the reader's buffer */
    size_t len;
} zk_mp_item;

typedef struct zk_mp_reader {
    const uint8_t *p;       /* next byte */
    size_t left;            /* bytes that remain */
} zk_mp_reader;

/* Reads an array header (fixarray, array16, array32); *n gets its element count.
 * Does not check n against the bytes left: the caller bounds n first. */
bool zk_mp_read_array(zk_mp_reader *r, uint64_t *n, const char **why);

/* Reads one scalar element: a positive fixint or uint8..uint64, a bin8..bin32,
 * or a fixstr/str8..str32 whose length fits the bytes left. */
bool zk_mp_read_item(zk_mp_reader *r, zk_mp_item *it, const char **why);

/* Reads one array of 1..max_items scalars filling the whole buffer: items[0..*n).
 * Fails on another top-level type, a count outside 1..max_items, an element
 * that is not a scalar, or bytes after the array. */
bool zk_mp_read_flat(const uint8_t *buf, size_t len, zk_mp_item *items, size_t max_items, size_t *n,
                     const char **why);

/* A fixed buffer for msgpack_packer_init(&pk, &sink, zk_mp_sink_write):
 * writes past `cap` set `overflow` instead of writing. */
typedef struct zk_mp_sink {
    uint8_t *p;
    size_t cap, len;
    bool overflow;
} zk_mp_sink;

int zk_mp_sink_write(void *sink, const char *buf, size_t len);

#endif
