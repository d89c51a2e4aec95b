/*
 * sidecar/curve.c — CURVE key files and allow files (sidecar/curve.h).
 */
#include "sidecar/curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "common/config.h"
#include "common/file.h"

/* ZeroMQ RFC 32 (Z85), the encoding table. */
static const char z85_chars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

static int z85_value(char c)
{
    const char *p = c != '\0' ? memchr(z85_chars, c, 85) : NULL;
    return p ? (int)(p - z85_chars) : -1;
}

bool sc_curve_z85_key(uint8_t bin[SC_CURVE_KEY_BYTES], const char *s, size_t len)
{
    if (len != SC_CURVE_Z85_LEN)
        return false;
    for (size_t g = 0; g < SC_CURVE_Z85_LEN / 5; g++) {
        uint64_t v = 0;
        for (size_t i = 0; i < 5; i++) {
            int d = z85_value(s[g * 5 + i]);
            if (d < 0)
                return false;
            v = v * 85 + (uint64_t)d;
        }
        if (v > UINT32_MAX) /* "%%%%%" and the like: not 4 bytes */
            return false;
        if (bin) {
            bin[g * 4] = (uint8_t)(v >> 24);
            bin[g * 4 + 1] = (uint8_t)(v >> 16);
            bin[g * 4 + 2] = (uint8_t)(v >> 8);
            bin[g * 4 + 3] = (uint8_t)v;
        }
    }
    return true;
}

/* ---- lines --------------------------------------------------------------- */

static bool is_blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One line of buf, without its blanks around: [*b, *e). Advances *pos past
 * the '\n'. False at the end of the buffer. */
static bool next_line(const uint8_t *buf, size_t len, size_t *pos, size_t *b, size_t *e)
{
    if (*pos >= len)
        return false;
    const uint8_t *nl = memchr(buf + *pos, '\n', len - *pos);
    size_t end = nl ? (size_t)(nl - buf) : len;
    size_t s = *pos;
    *pos = nl ? end + 1 : len;
    while (s < end && is_blank(buf[s]))
        s++;
    while (end > s && is_blank(buf[end - 1]))
        end--;
    *b = s;
    *e = end;
    return true;
}

/* A key value: checks and copies the 40 characters into out (NUL-ended). */
static zk_err take_key(char out[SC_CURVE_Z85_LEN + 1], uint8_t bin[SC_CURVE_KEY_BYTES], const uint8_t *v, size_t n,
                       size_t line, zk_error_detail *err)
{
    if (n != SC_CURVE_Z85_LEN)
        return zk_error_set(err, ZK_ERR_BAD_LENGTH, "line %zu: a key of %zu characters (Z85 keys have %d)", line, n,
                            SC_CURVE_Z85_LEN);
    if (!sc_curve_z85_key(bin, (const char *)v, n))
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "line %zu: not a Z85 key (characters outside the Z85 alphabet)",
                            line);
    if (out) {
        memcpy(out, v, n);
        out[n] = '\0';
    }
    return ZK_OK;
}

/* "name = value": true and the value's span when the line names `name`. */
static bool named(const uint8_t *buf, size_t b, size_t e, const char *name, size_t *vb)
{
    size_t nl = strlen(name);
    if (e - b < nl || memcmp(buf + b, name, nl) != 0)
        return false;
    size_t p = b + nl;
    while (p < e && is_blank(buf[p]))
        p++;
    if (p >= e || buf[p] != '=')
        return false;
    p++;
    while (p < e && is_blank(buf[p]))
        p++;
    *vb = p;
    return true;
}

zk_err sc_curve_key_parse(sc_curve_keypair *out, const uint8_t *buf, size_t len, bool need_secret, zk_error_detail *err)
{
    memset(out, 0, sizeof *out);
    if (len > SC_CURVE_KEYFILE_MAX)
        return zk_error_set(err, ZK_ERR_TOO_BIG, "larger than %d bytes", SC_CURVE_KEYFILE_MAX);
    if (memchr(buf, '\0', len) != NULL)
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "a NUL byte: not a text key file");
    size_t pos = 0, b, e, line = 0, vb;
    bool have_pub = false, have_sec = false;
    uint8_t sec_bin[SC_CURVE_KEY_BYTES];
    zk_err rc = ZK_OK;
    while (next_line(buf, len, &pos, &b, &e)) {
        line++;
        if (b == e || buf[b] == '#')
            continue;
        if (named(buf, b, e, "public-key", &vb)) {
            if (have_pub) {
                rc = zk_error_set(err, ZK_ERR_BAD_VALUE, "line %zu: a second public-key", line);
                goto cleanup;
            }
            if ((rc = take_key(out->public_z85, NULL, buf + vb, e - vb, line, err)) != ZK_OK)
                goto cleanup;
            have_pub = true;
        } else if (named(buf, b, e, "secret-key", &vb)) {
            if (have_sec) {
                rc = zk_error_set(err, ZK_ERR_BAD_VALUE, "line %zu: a second secret-key", line);
                goto cleanup;
            }
            if ((rc = take_key(out->secret_z85, sec_bin, buf + vb, e - vb, line, err)) != ZK_OK)
                goto cleanup;
            have_sec = true;
        } else {
            rc = zk_error_set(err, ZK_ERR_BAD_VALUE,
                              "line %zu: not \"public-key = KEY\", \"secret-key = KEY\", a comment or blank", line);
            goto cleanup;
        }
    }
    if (!have_pub) {
        rc = zk_error_set(err, ZK_ERR_MISSING_FIELD, "no public-key line");
        goto cleanup;
    }
    if (need_secret && !have_sec) {
        rc = zk_error_set(err, ZK_ERR_MISSING_FIELD, "no secret-key line (this is a public key file)");
        goto cleanup;
    }
    if (have_sec) {
        char derived[SC_CURVE_Z85_LEN + 1];
        if (zmq_curve_public(derived, out->secret_z85) != 0) {
            rc = zk_error_set(err, ZK_ERR_UNSUPPORTED, "this libzmq has no CURVE (zmq_has(\"curve\") is false)");
            goto cleanup;
        }
        if (strcmp(derived, out->public_z85) != 0) {
            rc = zk_error_set(err, ZK_ERR_BAD_VALUE, "the public-key is not the secret-key's public key");
            goto cleanup;
        }
    }
cleanup:
    explicit_bzero(sec_bin, sizeof sec_bin);
    if (rc != ZK_OK)
        explicit_bzero(out, sizeof *out);
    return rc;
}

zk_err sc_curve_key_load(sc_curve_keypair *out, const char *path, bool need_secret, zk_error_detail *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t len = 0;
    zk_error_detail e = { 0 };
    zk_err rc = zk_file_read(path, SC_CURVE_KEYFILE_MAX, &buf, &len, &e);
    if (rc != ZK_OK)
        return zk_error_set(err, rc, "%.150s: %s", path, e.text);
    if (need_secret) {
        struct stat st;
        if (stat(path, &st) != 0) {
            rc = zk_error_set(err, ZK_ERR_IO, "%.150s: %s", path, strerror(errno));
            goto cleanup;
        }
        if ((st.st_mode & 077) != 0) {
            rc = zk_error_set(err, ZK_ERR_USAGE,
                              "%.150s: mode %04o lets other users see the secret key: chmod 600 it (and make a "
                              "new key if others may have read it)",
                              path, (unsigned)(st.st_mode & 07777));
            goto cleanup;
        }
    }
    if ((rc = sc_curve_key_parse(out, buf, len, need_secret, &e)) != ZK_OK)
        rc = zk_error_set(err, rc, "%.150s: %s", path, e.text);
cleanup:
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    return rc;
}

zk_err sc_curve_public_key_arg(char out[SC_CURVE_Z85_LEN + 1], const char *z85_or_file, zk_error_detail *err)
{
    out[0] = '\0';
    size_t n = strlen(z85_or_file);
    struct stat st;
    if (n == SC_CURVE_Z85_LEN && sc_curve_z85_key(NULL, z85_or_file, n) && stat(z85_or_file, &st) != 0) {
        memcpy(out, z85_or_file, n + 1);
        return ZK_OK;
    }
    sc_curve_keypair kp;
    zk_err rc = sc_curve_key_load(&kp, z85_or_file, false, err);
    if (rc == ZK_OK)
        memcpy(out, kp.public_z85, SC_CURVE_Z85_LEN + 1);
    explicit_bzero(&kp, sizeof kp);
    return rc;
}

/* Writes `text` to a new file `path` with `mode`, durably. */
static zk_err write_new(const char *path, const char *text, mode_t mode, zk_error_detail *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return zk_error_set(err, errno == EEXIST ? ZK_ERR_USAGE : ZK_ERR_IO, "%.150s: %s%s", path, strerror(errno),
                            errno == EEXIST ? " (not overwritten)" : "");
    zk_err rc = ZK_OK;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = zk_error_set(err, ZK_ERR_IO, "%.150s: %s", path, strerror(errno));
            goto cleanup;
        }
        off += (size_t)k;
    }
    /* open() applied the umask: set the mode we mean. */
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
        rc = zk_error_set(err, ZK_ERR_IO, "%.150s: %s", path, strerror(errno));
cleanup:
    close(fd);
    if (rc != ZK_OK)
        unlink(path);
    return rc;
}

zk_err sc_curve_keygen(sc_curve_keypair *out, const char *path, zk_error_detail *err)
{
    sc_curve_keypair kp;
    char text[256], pubpath[4096];
    zk_err rc = ZK_OK;
    memset(&kp, 0, sizeof kp);
    if (out)
        memset(out, 0, sizeof *out);
    if (strlen(path) + 5 > sizeof pubpath)
        return zk_error_set(err, ZK_ERR_USAGE, "key file path too long");
    snprintf(pubpath, sizeof pubpath, "%s.pub", path);
    if (!zmq_has("curve") || zmq_curve_keypair(kp.public_z85, kp.secret_z85) != 0)
        return zk_error_set(err, ZK_ERR_UNSUPPORTED, "this libzmq has no CURVE (zmq_has(\"curve\") is false)");
    struct stat st;
    if (lstat(pubpath, &st) == 0) {
        rc = zk_error_set(err, ZK_ERR_USAGE, "%.150s exists (not overwritten)", pubpath);
        goto cleanup;
    }
    snprintf(text, sizeof text,
             "# zkcar CURVE key pair (zkcar keygen). Keep this file secret: mode 0600.\n"
             "public-key = %s\nsecret-key = %s\n",
             kp.public_z85, kp.secret_z85);
    if ((rc = write_new(path, text, 0600, err)) != ZK_OK)
        goto cleanup;
    snprintf(text, sizeof text, "# zkcar CURVE public key (zkcar keygen)\npublic-key = %s\n", kp.public_z85);
    if ((rc = write_new(pubpath, text, 0644, err)) != ZK_OK) {
        unlink(path);
        goto cleanup;
    }
    if (out)
        *out = kp;
cleanup:
    explicit_bzero(text, sizeof text);
    explicit_bzero(&kp, sizeof kp);
    return rc;
}

/* ---- allow files ---------------------------------------------------------- */

static int key_cmp(const void *a, const void *b) { return memcmp(a, b, SC_CURVE_KEY_BYTES); }

zk_err sc_curve_allow_parse(sc_curve_allow *out, const uint8_t *buf, size_t len, zk_error_detail *err)
{
    memset(out, 0, sizeof *out);
    if (len > SC_CURVE_ALLOW_FILE_MAX)
        return zk_error_set(err, ZK_ERR_TOO_BIG, "larger than %zu bytes", SC_CURVE_ALLOW_FILE_MAX);
    if (memchr(buf, '\0', len) != NULL)
        return zk_error_set(err, ZK_ERR_BAD_VALUE, "a NUL byte: not a text allow file");
    /* Count the candidate lines first: one allocation of the right size. */
    size_t pos = 0, b, e, line = 0, cap = 0, vb;
    while (next_line(buf, len, &pos, &b, &e))
        if (b < e && buf[b] != '#')
            cap++;
    if (cap > SC_CURVE_ALLOW_KEYS_MAX)
        return zk_error_set(err, ZK_ERR_TOO_BIG, "more than %d keys", SC_CURVE_ALLOW_KEYS_MAX);
    zk_err rc = ZK_OK;
    sc_curve_allow a = { 0 };
    if (cap > 0 && (a.keys = malloc(cap * sizeof *a.keys)) == NULL)
        return zk_error_set(err, ZK_ERR_NOMEM, "allow file of %zu keys", cap);
    pos = 0;
    while (next_line(buf, len, &pos, &b, &e)) {
        line++;
        if (b == e || buf[b] == '#')
            continue;
        size_t kb = named(buf, b, e, "public-key", &vb) ? vb : b;
        if ((rc = take_key(NULL, a.keys[a.n], buf + kb, e - kb, line, err)) != ZK_OK)
            goto cleanup;
        a.n++;
    }
    if (a.n > 1) {
        qsort(a.keys, a.n, sizeof *a.keys, key_cmp);
        size_t w = 1;
        for (size_t i = 1; i < a.n; i++)
            if (memcmp(a.keys[i], a.keys[w - 1], SC_CURVE_KEY_BYTES) != 0)
                memcpy(a.keys[w++], a.keys[i], SC_CURVE_KEY_BYTES);
        a.n = w;
    }
    *out = a;
    a.keys = NULL;
cleanup:
    free(a.keys);
    return rc;
}

zk_err sc_curve_allow_load(sc_curve_allow *out, const char *path, zk_error_detail *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t len = 0;
    zk_error_detail e = { 0 };
    zk_err rc = zk_file_read(path, SC_CURVE_ALLOW_FILE_MAX, &buf, &len, &e);
    if (rc == ZK_OK)
        rc = sc_curve_allow_parse(out, buf, len, &e);
    if (rc != ZK_OK)
        zk_error_set(err, rc, "%.150s: %s", path, e.text);
    free(buf);
    return rc;
}

bool sc_curve_allow_has(const sc_curve_allow *a, const uint8_t key[SC_CURVE_KEY_BYTES])
{
    return a->n > 0 && bsearch(key, a->keys, a->n, sizeof *a->keys, key_cmp) != NULL;
}

void sc_curve_allow_free(sc_curve_allow *a)
{
    free(a->keys);
    a->keys = NULL;
    a->n = 0;
}

/* ---- zkcar keygen -------------------------------------------------------------- */

int sc_curve_keygen_main(int argc, char **argv)
{
    static const char synopsis[] = "FILE";
    static const zk_opt opts[] = { { NULL, ZK_OPT_FLAG, NULL, NULL, NULL, 0, 0, NULL } };
    zk_config *cfg = NULL;
    zk_error_detail err = { 0 };
    int status = 2;
    if (zk_config_parse(&cfg, &err, "keygen", opts, 0, argc, argv) != ZK_OK) {
        fprintf(stderr, "zkcar keygen: %s\n", err.text);
        goto cleanup;
    }
    if (zk_config_help_requested(cfg)) {
        zk_config_usage(stdout, "keygen", synopsis, opts, 0);
        printf("\nMakes a CURVE key pair for the remote proving workers: FILE (both keys,\n"
               "mode 0600) and FILE.pub (the public key), and prints the public key.\n"
               "The dispatcher's: zkcar run --workers-key FILE; each worker's: zkcar worker\n"
               "--key FILE, its public key a line of the dispatcher's --workers-allow file.\n"
               "Existing files are never overwritten (exit 2). docs/operations.md, \"Remote workers\".\n");
        status = 0;
        goto cleanup;
    }
    if (zk_config_npositional(cfg) != 1) {
        fprintf(stderr, "zkcar keygen: one FILE is needed (usage: zkcar keygen FILE)\n");
        goto cleanup;
    }
    sc_curve_keypair kp;
    zk_err rc = sc_curve_keygen(&kp, zk_config_positional(cfg, 0), &err);
    if (rc != ZK_OK) {
        fprintf(stderr, "zkcar keygen: %s\n", err.text);
        status = rc == ZK_ERR_USAGE ? 2 : 1;
        goto cleanup;
    }
    printf("%s\n", kp.public_z85);
    explicit_bzero(&kp, sizeof kp);
    status = 0;
cleanup:
    zk_config_destroy(cfg);
    return status;
}
