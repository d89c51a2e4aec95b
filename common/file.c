/*
 * common/file.c — whole-file reads with a cap, and durable whole-file writes.
 */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

zk_err zk_file_read(const char *path, size_t cap, uint8_t **out, size_t *len, zk_error_detail *err)
{
    *out = NULL;
    *len = 0;
    zk_err rc = ZK_OK;
    uint8_t *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return zk_error_set(err, ZK_ERR_IO, "%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "%s", strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = zk_error_set(err, ZK_ERR_IO, "%s", S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        goto cleanup;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > cap) {
        rc = zk_error_set(err, ZK_ERR_TOO_BIG, "larger than %zu bytes", cap);
        goto cleanup;
    }
    size_t n = (size_t)st.st_size;
    buf = malloc(n + 1);
    if (buf == NULL) {
        rc = zk_error_set(err, ZK_ERR_NOMEM, "out of memory for %zu bytes", n);
        goto cleanup;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t k = read(fd, buf + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = zk_error_set(err, ZK_ERR_IO, "%s", strerror(errno));
            goto cleanup;
        }
        if (k == 0) {
            rc = zk_error_set(err, ZK_ERR_IO, "shorter than its size (changed while read)");
            goto cleanup;
        }
        off += (size_t)k;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    buf = NULL;
cleanup:
    free(buf);
    close(fd);
    return rc;
}

static zk_err fsync_dir(const char *dir, zk_error_detail *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return zk_error_set(err, ZK_ERR_IO, "open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return zk_error_set(err, ZK_ERR_IO, "fsync %s: %s", dir, strerror(e));
    return ZK_OK;
}

zk_err zk_file_replace(const char *dir, const char *name, const uint8_t *data, size_t len,
                       zk_error_detail *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path
        || (size_t)snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name) >= sizeof tmp)
        return zk_error_set(err, ZK_ERR_IO, "path too long under %s", dir);
    zk_err rc = ZK_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return zk_error_set(err, ZK_ERR_IO, "create %s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fd, data + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = zk_error_set(err, ZK_ERR_IO, "write %s: %s", tmp, strerror(errno));
            goto cleanup;
        }
        off += (size_t)k;
    }
    if (fsync(fd) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = zk_error_set(err, ZK_ERR_IO, "close %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = zk_error_set(err, ZK_ERR_IO, "rename %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    rc = fsync_dir(dir, err);
cleanup:
    if (fd >= 0)
        close(fd);
    if (rc != ZK_OK)
        unlink(tmp);
    return rc;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void zk_file_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
