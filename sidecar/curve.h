/*
 * sidecar/curve.h — ZeroMQ CURVE key files for the remote proving workers
 * (`zkcar run --workers-key/--workers-allow`, `zkcar worker --key/--server-key`,
 * `zkcar keygen`; docs/sidecar.md "Remote workers", "Authentication").
 *
 * Keys are Curve25519 keys written in Z85 (ZeroMQ RFC 32): 40 characters of
 * its 85-character alphabet (0-9 a-z A-Z and 23 punctuation characters).
 *
 * A *key file* is text, one item per line; blank lines and lines starting
 * with '#' are comments; blanks (space, tab, CR) around a line and around '='
 * are ignored:
 *     public-key = <40 Z85 characters>
 *     secret-key = <40 Z85 characters>      (the secret file only)
 * Each name at most once, nothing else. `zkcar keygen FILE` writes FILE (both
 * lines, mode 0600) and FILE.pub (the public line, mode 0644). A secret file
 * must hold both keys, the public one must be the secret's, and the file may
 * not be readable or writable by group or others (like ssh, such a file is
 * refused: the key may already be known to someone else).
 *
 * An *allow file* lists the workers' public keys: one per line, either bare
 * (what `zkcar keygen` prints) or as a `public-key = KEY` line (so that
 * FILE.pub files can be concatenated), '#' comments, blank lines. At most
 * SC_CURVE_ALLOW_KEYS_MAX keys; an empty list refuses every worker.
 *
 * Every parser is bounded (the caps below), reads nothing past its length,
 * and says what is wrong with a line number. Nothing here keeps state: all
 * functions are thread-safe.
 */
#ifndef ZKCAR_SIDECAR_CURVE_H
#define ZKCAR_SIDECAR_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SC_CURVE_Z85_LEN 40                     /* a key in Z85 */
#define SC_CURVE_KEY_BYTES 32                   /* a key in binary */
#define SC_CURVE_KEYFILE_MAX 4096               /* largest key file, bytes */
#define SC_CURVE_ALLOW_FILE_MAX ((size_t)1 << 20) /* largest allow file, bytes */
#define SC_CURVE_ALLOW_KEYS_MAX 4096            /* most keys in an allow file */

typedef struct sc_curve_keypair {
    char public_z85[SC_CURVE_Z85_LEN + 1];
    char secret_z85[SC_CURVE_Z85_LEN + 1];      /* "" when read from a public key file */
} sc_curve_keypair;

/* A parsed allow file: binary public keys, sorted, without duplicates. */
typedef struct sc_curve_allow {
    uint8_t (*keys)[SC_CURVE_KEY_BYTES];        /* malloc'd (NULL when n == 0) */
    size_t n;
} sc_curve_allow;

/* True when s[0..len) is a well-formed Z85 key: exactly 40 characters of the
 * Z85 alphabet that decode to 32 bytes (each 5-character group < 2^32). When
 * `bin` is not NULL it receives the 32 bytes. */
bool sc_curve_z85_key(uint8_t bin[SC_CURVE_KEY_BYTES], const char *s, size_t len);

/* Parses a key file's bytes buf[0..len) (at most SC_CURVE_KEYFILE_MAX).
 * need_secret: the secret key must be there (and match the public key);
 * otherwise a secret-key line is accepted too (a secret file may serve as
 * its own public file) but only public_z85 is required. Errors, with
 * "line N: ..." in `err`: ZK_ERR_TOO_BIG, ZK_ERR_BAD_LENGTH (a key not 40
 * characters), ZK_ERR_BAD_VALUE (not Z85, an unknown or repeated line, a NUL
 * byte, a public key that is not the secret's), ZK_ERR_MISSING_FIELD. */
zk_err sc_curve_key_parse(sc_curve_keypair *out, const uint8_t *buf, size_t len, bool need_secret,
                          zk_error_detail *err) ZK_MUST_CHECK;

/* Reads and parses the key file `path` (errors name it). With need_secret,
 * a file that group or others may read or write is refused (ZK_ERR_USAGE,
 * "chmod 600 FILE"). ZK_ERR_IO when it cannot be read. */
zk_err sc_curve_key_load(sc_curve_keypair *out, const char *path, bool need_secret,
                         zk_error_detail *err) ZK_MUST_CHECK;

/* `--server-key Z85_OR_FILE`: a 40-character Z85 key given as is, or else
 * the public key of the key file it names. out gets the Z85 key (NUL-ended). */
zk_err sc_curve_public_key_arg(char out[SC_CURVE_Z85_LEN + 1], const char *z85_or_file,
                               zk_error_detail *err) ZK_MUST_CHECK;

/* Makes a key pair (zmq_curve_keypair) and writes `path` (mode 0600, both
 * keys) and `path`.pub (mode 0644, the public key), each with fsync; refuses
 * (ZK_ERR_USAGE) to overwrite an existing file. ZK_ERR_UNSUPPORTED when
 * libzmq has no CURVE; ZK_ERR_IO. out may be NULL. */
zk_err sc_curve_keygen(sc_curve_keypair *out, const char *path, zk_error_detail *err) ZK_MUST_CHECK;

/* Parses an allow file's bytes buf[0..len) into *out (freed with
 * sc_curve_allow_free; on error *out is empty). Errors as for
 * sc_curve_key_parse, and ZK_ERR_TOO_BIG beyond SC_CURVE_ALLOW_KEYS_MAX keys
 * or SC_CURVE_ALLOW_FILE_MAX bytes; ZK_ERR_NOMEM. */
zk_err sc_curve_allow_parse(sc_curve_allow *out, const uint8_t *buf, size_t len,
                            zk_error_detail *err) ZK_MUST_CHECK;
/* Reads and parses the allow file `path` (errors name it). */
zk_err sc_curve_allow_load(sc_curve_allow *out, const char *path, zk_error_detail *err) ZK_MUST_CHECK;
/* True when `key` (32 bytes) is in the list. */
bool sc_curve_allow_has(const sc_curve_allow *a, const uint8_t key[SC_CURVE_KEY_BYTES]);
/* Frees the list (a zeroed or already freed one is fine). */
void sc_curve_allow_free(sc_curve_allow *a);

/* `zkcar keygen FILE`: writes FILE and FILE.pub (sc_curve_keygen) and prints
 * the public key on stdout. Exit 0, 1 on failure, 2 on bad usage or an
 * existing FILE. */
int sc_curve_keygen_main(int argc, char **argv);

#endif
